#!/usr/bin/env bash
# roles.sh - the port roles end to end: real SMTP through a private Postfix
# 3.7 built from postfix-conf/, with Postfix's own relay restrictions
# reduced to the policy check (STACK_REDUCED=1), so every refusal below is
# the daemon's. Checks the SMTP replies and the daemon's decision lines.
#
# "25", "587", "465" are the test listeners $P25 $P587 $P465. 127.0.0.1 is
# the local network (policyd_relay_networks = 127.0.0.1/32); 127.0.0.2 is a
# host off it.
set -uo pipefail
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }

pt_init e2e-roles
STACK_REDUCED=1 stack_up

OFFNET=(--local-interface 127.0.0.2)
AUTH=(--auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")
AUTH_LOGIN=(--auth LOGIN --auth-user "$BOB_USER" --auth-password "$BOB_PASS")
CL='client=127\.0\.0\.1\[[0-9]+\]'
OFF='client=127\.0\.0\.2\[[0-9]+\]'

session() {
    MARK=$(pt_log_size "$PD_LOG")
    smtp_session "$@"
}

# --- "25" (mx) -------------------------------------------------------------

session mx_local_relay "$P25" --to someone@remote.example
t_reply "25: local client may relay" mx_local_relay RCPT '^250 '
t_reply "25: local client's relayed message is queued" mx_local_relay DOT '^250 2\.0\.0 Ok: queued'
t_decision "25: local relay decided by rule default" "$MARK" \
    "$CL server_port=$P25 role=mx state=RCPT .*recipient=<someone@remote\.example> rule=default action=\"DUNNO\""

session mx_offnet_relay "$P25" "${OFFNET[@]}" --to someone@remote.example
t_reply "25: off-net client may not relay" mx_offnet_relay RCPT '^554 5\.7\.1 .*Relay access denied'
t_decision "25: off-net relay refused by rule relay_denied" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT .*recipient=<someone@remote\.example> rule=relay_denied action=\"554 5\.7\.1 Relay access denied\""

session mx_offnet_inbound "$P25" "${OFFNET[@]}" --to bob@example.org
t_reply "25: off-net client may send to a local domain" mx_offnet_inbound RCPT '^250 '
t_reply "25: inbound message is queued" mx_offnet_inbound DOT '^250 2\.0\.0 Ok: queued'
t_decision "25: inbound decided by rule default" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT .*recipient=<bob@example\.org> rule=default"
t_decision "25: END-OF-MESSAGE reaches the daemon" "$MARK" \
    "$OFF server_port=$P25 role=mx state=END-OF-MESSAGE "

session mx_offnet_auth_relay "$P25" "${OFFNET[@]}" --tls "${AUTH[@]}" --to someone@remote.example
t_reply "25: off-net client authenticated over STARTTLS may relay" mx_offnet_auth_relay RCPT '^250 '
t_decision "25: authenticated relay logged with the SASL user" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT sasl_username=$ALICE_USER .*rule=default"

session mx_no_auth_in_plaintext "$P25" "${OFFNET[@]}" "${AUTH[@]}" --to someone@remote.example
t_reply "25: AUTH is not offered before STARTTLS" mx_no_auth_in_plaintext EHLO '^250 '
t_check_not "25: plaintext EHLO does not announce AUTH" \
    "$(grep -E '^<-  250[- ]AUTH' "$PT_TMP/smtp/mx_no_auth_in_plaintext.txt")" 'AUTH'

smtp_attach setup.exe
session mx_exe "$P25" --to bob@example.org "${ATTACH[@]}"
t_reply "25: .exe attachment refused" mx_exe DOT '^550 5\.7\.1 Executable attachments \(\.exe\) are refused'
t_check "25: Postfix logged the header check" \
    "$(grep -E 'reject: header Content-Type: .*setup\.exe' "$PF_LOG")" 'setup\.exe'

smtp_attach notes.txt
session mx_txt "$P25" --to bob@example.org "${ATTACH[@]}"
t_reply "25: .txt attachment accepted" mx_txt DOT '^250 2\.0\.0 Ok: queued'

# --- "587" (submission) ----------------------------------------------------

session sub_no_auth "$P587" --tls --to bob@example.org
t_reply "587: STARTTLS works" sub_no_auth STARTTLS '^220 '
t_reply "587: without AUTH refused" sub_no_auth RCPT '^530 5\.7\.0 .*Authentication required'
t_decision "587: refused by rule auth_required" "$MARK" \
    "$CL server_port=$P587 role=submission state=RCPT sasl_username= .*rule=auth_required action=\"530 5\.7\.0 Authentication required\""

session sub_offnet_no_auth "$P587" "${OFFNET[@]}" --tls --to someone@remote.example
t_reply "587: off-net without AUTH refused" sub_offnet_no_auth RCPT '^530 5\.7\.0 .*Authentication required'
t_decision "587: off-net refused by rule auth_required" "$MARK" \
    "$OFF server_port=$P587 role=submission .*rule=auth_required"

session sub_auth "$P587" "${OFFNET[@]}" --tls "${AUTH[@]}" --to someone@remote.example
t_reply "587: AUTH PLAIN succeeds" sub_auth AUTH '^235 '
t_reply "587: authenticated off-net client may relay" sub_auth RCPT '^250 '
t_reply "587: message queued" sub_auth DOT '^250 2\.0\.0 Ok: queued'
t_decision "587: accepted by rule default with the SASL user" "$MARK" \
    "$OFF server_port=$P587 role=submission state=RCPT sasl_username=$ALICE_USER .*rule=default action=\"DUNNO\""

session sub_auth_login "$P587" --tls "${AUTH_LOGIN[@]}" --to someone@remote.example
t_reply "587: AUTH LOGIN succeeds" sub_auth_login AUTH '^235 '
t_reply "587: AUTH LOGIN user may relay" sub_auth_login RCPT '^250 '

session sub_bad_password "$P587" --tls --auth PLAIN --auth-user "$ALICE_USER" --auth-password wrong --to bob@example.org
t_reply "587: wrong password refused by SASL" sub_bad_password AUTH '^535 '

session sub_plaintext "$P587" --to bob@example.org
t_reply "587: shipped master.cf requires STARTTLS before MAIL" sub_plaintext MAIL '^530 5\.7\.0 Must issue a STARTTLS command first'

smtp_attach setup.exe
session sub_exe "$P587" --tls "${AUTH[@]}" --to someone@remote.example "${ATTACH[@]}"
t_reply "587: .exe accepted (no content checks on submission)" sub_exe DOT '^250 2\.0\.0 Ok: queued'

# --- "465" (submissions, implicit TLS) -------------------------------------

session subs_no_auth "$P465" --tlsc --to bob@example.org
t_reply "465: TLS banner" subs_no_auth BANNER '^220 '
t_reply "465: without AUTH refused" subs_no_auth RCPT '^530 5\.7\.0 .*Authentication required'
t_decision "465: refused by rule auth_required" "$MARK" \
    "$CL server_port=$P465 role=submissions state=RCPT .*rule=auth_required"

session subs_auth "$P465" "${OFFNET[@]}" --tlsc "${AUTH[@]}" --to someone@remote.example
t_reply "465: authenticated off-net client may relay" subs_auth RCPT '^250 '
t_reply "465: message queued" subs_auth DOT '^250 2\.0\.0 Ok: queued'
t_decision "465: accepted by rule default with the SASL user" "$MARK" \
    "$OFF server_port=$P465 role=submissions state=RCPT sasl_username=$ALICE_USER .*rule=default"

smtp_attach setup.exe
session subs_exe "$P465" --tlsc "${AUTH[@]}" --to bob@example.org "${ATTACH[@]}"
t_reply "465: .exe accepted (no content checks on submissions)" subs_exe DOT '^250 2\.0\.0 Ok: queued'

session subs_plaintext "$P465" --timeout 3 --to bob@example.org
t_check "465: a plaintext client gets no SMTP banner" "$(smtp_reply subs_plaintext BANNER)" '^$'

# --- the daemon's process and socket ---------------------------------------

t_check "the unix socket has the configured mode, owner and group" \
    "$(stat -c '%a %U %G' "$PD_SOCK")" '^660 postfix postfix$'
t_check "the daemon dropped to policyd_user (nobody) after binding" \
    "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$PD_PID/status")" "^$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)\$"

# --- the decision log as a whole -------------------------------------------

t_check "every decision line carries queue id, client, port, role, rule, action, time" \
    "$(pd_decisions | grep -Ev 'decision: queue_id=[^ ]+ client=[^ ]+\[[0-9]+\] server_port=[0-9]+ role=[a-z]+ state=[A-Z-]+ sasl_username=[^ ]* sender=<[^>]*> recipient=<[^>]*> rule=[a-z_]+ action="[^"]*" time_us=[0-9]+$' | head -n 3)" '^$'
t_check "no mail left the machine: every delivery was discarded" \
    "$(grep -E ' status=' "$PF_LOG" | grep -v 'status=sent (portreeve test sink)' | head -n 3)" '^$'
t_daemon_stops_cleanly

t_done
