#!/usr/bin/env bash
# mx-clients.sh - "port 25 accepts mail only from known mail servers"
# (policyd_mx_allowed_clients, policyd_mx_allowed_clients_file, rule
# mx_client_denied) end to end through the reduced private Postfix
# (STACK_REDUCED=1: every refusal below is the daemon's).
#
# Loopback source addresses stand for hosts: 127.0.0.3 is listed in
# policyd_mx_allowed_clients, 127.0.0.4 in the file, 127.0.0.2 and 127.0.0.5
# are listed nowhere, 127.0.0.1 is the relay network (policyd_relay_networks
# = 127.0.0.1/32) but not listed. Checks: listed clients get 250 at RCPT for
# a local recipient and unlisted ones the 554 at RCPT (MAIL still 250), one
# decision line per refusal, the relay network is not implied, an
# authenticated unlisted client on "25" is exempt, 587/465 are untouched,
# the file is re-read on SIGHUP, a bad file is refused on SIGHUP with the
# running list kept, an emptied file shrinks the list to the inline one, and
# a file that is the only list and lists nobody is refused by -t.
#
# Ports: 28150-28199 unless PT_PORT_MIN/PT_PORT_MAX say otherwise.
set -uo pipefail
PT_PORT_MIN=${PT_PORT_MIN:-28150}
PT_PORT_MAX=${PT_PORT_MAX:-28199}
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }

pt_init e2e-mx-clients
# Readable by policyd_user (nobody) for the reload: $PT_TMP is 0755.
CLIENTS=$PT_TMP/mx-clients
printf '# campus mail servers (test)\n127.0.0.4 # relay.example.org\n' >"$CLIENTS"
chmod 0644 "$CLIENTS"
# The configured reply, as the daemon sends it, and as the client gets it:
# Postfix puts "<recipient>: Recipient address rejected: " before the text of
# every policy refusal at RCPT.
ACTION_RE='554 5\.7\.1 Port 25 accepts mail only from registered mail servers; use port 587'
REPLY_RE='554 5\.7\.1 <[^>]*>: Recipient address rejected: Port 25 accepts mail only from registered mail servers; use port 587'
STACK_REDUCED=1 stack_up \
    'policyd_mx_allowed_clients = 127.0.0.3/32' \
    "policyd_mx_allowed_clients_file = $CLIENTS"

AUTH=(--auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")
from() { printf -- '--local-interface\n127.0.0.%s\n' "$1"; }
client_re() { printf 'client=127\\.0\\.0\\.%s\\[[0-9]+\\]' "$1"; }

session() {
    MARK=$(pt_log_size "$PD_LOG")
    smtp_session "$@"
}

# How many decision lines since MARK match ERE.
decisions_since() {
    pd_decisions "$1" | grep -cE -- "$2"
}

# --- listed and unlisted clients on "25" ------------------------------------

session listed_inline "$P25" $(from 3) --to bob@example.org
t_reply "25: client in policyd_mx_allowed_clients gets 250 at RCPT" listed_inline RCPT '^250 '
t_reply "25: its message is queued" listed_inline DOT '^250 2\.0\.0 Ok: queued'
t_decision "25: listed client decided by rule default" "$MARK" \
    "$(client_re 3) server_port=$P25 role=mx state=RCPT .*recipient=<bob@example\.org> rule=default action=\"DUNNO\""

session listed_file "$P25" $(from 4) --to bob@example.org
t_reply "25: client in the file gets 250 at RCPT" listed_file RCPT '^250 '
t_reply "25: its message is queued" listed_file DOT '^250 2\.0\.0 Ok: queued'

session unlisted "$P25" $(from 2) --to bob@example.org
t_reply "25: unlisted client: MAIL FROM still accepted" unlisted MAIL '^250 '
t_reply "25: unlisted client gets the 554 at RCPT, local recipient or not" unlisted RCPT "^$REPLY_RE\$"
t_check "25: unlisted client: nothing queued" "$(smtp_reply unlisted DOT)" '^$'
t_decision "25: refusal logged with rule mx_client_denied and the reply" "$MARK" \
    "$(client_re 2) server_port=$P25 role=mx state=RCPT sasl_username= .*recipient=<bob@example\.org> rule=mx_client_denied action=\"$ACTION_RE\""
t_check "25: one decision line for the one refused RCPT" \
    "$(decisions_since "$MARK" 'rule=mx_client_denied')" '^1$'

session unlisted_relay "$P25" $(from 2) --to someone@remote.example
t_reply "25: unlisted relay attempt: refused by this rule, not relay_denied" unlisted_relay RCPT "^$REPLY_RE\$"

session relaynet "$P25" $(from 1) --to bob@example.org
t_reply "25: the relay network is not implied (127.0.0.1 unlisted)" relaynet RCPT "^$REPLY_RE\$"
t_decision "25: relay-network client refused by rule mx_client_denied" "$MARK" \
    "$(client_re 1) server_port=$P25 role=mx state=RCPT .*rule=mx_client_denied"

session unlisted_auth "$P25" $(from 2) --tls "${AUTH[@]}" --to bob@example.org
t_reply "25: unlisted client authenticated over STARTTLS is exempt" unlisted_auth RCPT '^250 '
t_reply "25: its message is queued" unlisted_auth DOT '^250 2\.0\.0 Ok: queued'
t_decision "25: authenticated unlisted client decided by rule default" "$MARK" \
    "$(client_re 2) server_port=$P25 role=mx state=RCPT sasl_username=$ALICE_USER .*rule=default"

# --- "587" and "465" are not affected -----------------------------------------

session sub_unlisted "$P587" $(from 2) --tls "${AUTH[@]}" --to someone@remote.example
t_reply "587: unlisted authenticated client gets 250" sub_unlisted RCPT '^250 '
t_decision "587: decided by rule default" "$MARK" \
    "$(client_re 2) server_port=$P587 role=submission state=RCPT .*rule=default"

session subs_unlisted "$P465" $(from 5) --tlsc "${AUTH[@]}" --to bob@example.org
t_reply "465: unlisted authenticated client gets 250" subs_unlisted RCPT '^250 '

session sub_unlisted_noauth "$P587" $(from 2) --tls --to bob@example.org
t_reply "587: unlisted client without AUTH: auth_required, not this rule" sub_unlisted_noauth RCPT \
    '^530 5\.7\.0 .*Authentication required'

# --- the file on SIGHUP ---------------------------------------------------------

printf '127.0.0.2\n' >>"$CLIENTS"
MARK=$(pt_log_size "$PD_LOG")
pd_hup
if pt_wait_log "$PD_LOG" 'reloaded ' 10 "$MARK"; then
    t_pass "SIGHUP: configuration and file reloaded"
else
    t_fail "SIGHUP: configuration and file reloaded" "got '$(pt_log_since "$PD_LOG" "$MARK" | grep -v decision: | head -n 2)', want a 'reloaded' line"
fi
session added "$P25" $(from 2) --to bob@example.org
t_reply "SIGHUP: client added to the file now gets 250" added RCPT '^250 '
session still_unlisted "$P25" $(from 5) --to bob@example.org
t_reply "SIGHUP: a client still unlisted still gets the 554" still_unlisted RCPT "^$REPLY_RE\$"

T_EXPECTED_WARNINGS='reload refused'
printf '10.0.0.1/8\n' >>"$CLIENTS"
MARK=$(pt_log_size "$PD_LOG")
pd_hup
pt_wait_log "$PD_LOG" 'reload' 10 "$MARK"
t_check "bad file on SIGHUP: refused, naming the key, file and line" \
    "$(pt_log_since "$PD_LOG" "$MARK")" \
    "reload refused.*policyd_mx_allowed_clients_file = $CLIENTS: line 4: \"10\\.0\\.0\\.1/8\" has host bits"
session after_bad "$P25" $(from 2) --to bob@example.org
t_reply "bad file on SIGHUP: the running list still admits 127.0.0.2" after_bad RCPT '^250 '
session after_bad_unlisted "$P25" $(from 5) --to bob@example.org
t_reply "bad file on SIGHUP: the running list still refuses 127.0.0.5" after_bad_unlisted RCPT "^$REPLY_RE\$"

# Emptied while policyd_mx_allowed_clients still lists 127.0.0.3: the
# list shrinks to that (fail closed), so the reload is accepted.
: >"$CLIENTS"
MARK=$(pt_log_size "$PD_LOG")
pd_hup
pt_wait_log "$PD_LOG" 'reload' 10 "$MARK"
t_check "emptied file with an inline list: reload accepted" \
    "$(pt_log_since "$PD_LOG" "$MARK" | grep -v decision:)" 'reloaded '
session emptied_gone "$P25" $(from 2) --to bob@example.org
t_reply "emptied file: 127.0.0.2 is refused again" emptied_gone RCPT "^$REPLY_RE\$"
session emptied_inline "$P25" $(from 3) --to bob@example.org
t_reply "emptied file: 127.0.0.3 (inline list) still gets 250" emptied_inline RCPT '^250 '

# Without the inline list, an empty file would mean "anyone may use port
# 25": refused, by -t here (start-up and SIGHUP go through the same load).
grep -v '^policyd_mx_allowed_clients = ' "$PT_TMP/portreeve.conf" >"$PT_TMP/file-only.conf"
# -t's message and exit status on one line.
check_conf() {
    { "$PD_BIN" -t -c "$1" 2>&1; echo "exit=$?"; } | tr '\n' ' '
}
t_check "-t refuses a file that lists no client when it is the only list" \
    "$(check_conf "$PT_TMP/file-only.conf")" \
    "policyd_mx_allowed_clients_file = $CLIENTS: no client listed.* exit=1 \$"
printf '127.0.0.4\n' >"$CLIENTS"
t_check "-t accepts it again once the file lists a client" \
    "$(check_conf "$PT_TMP/file-only.conf")" 'configuration OK exit=0 $'

# --- the log as a whole -------------------------------------------------------

t_check "every mx_client_denied line is for an unlisted, unauthenticated mx client" \
    "$(pd_decisions | grep -F 'rule=mx_client_denied' |
        grep -Ev "client=127\.0\.0\.[125]\[[0-9]+\] server_port=$P25 role=mx state=RCPT sasl_username= " | head -n 3)" '^$'
t_check "no mail left the machine: every delivery was discarded" \
    "$(grep -E ' status=' "$PF_LOG" | grep -v 'status=sent (portreeve test sink)' | head -n 3)" '^$'
t_daemon_stops_cleanly

t_done
