#!/usr/bin/env bash
# options.sh - the rules that only show when Postfix's own TLS guards are
# lowered, the opt-in settings, and SIGHUP reload, end to end through the
# reduced private Postfix.
#
#   - 587 with the listener's smtpd_tls_security_level lowered to "may":
#     a plaintext session is refused by the daemon (rule tls_required)
#   - 25 with smtpd_tls_auth_only=no: AUTH in plaintext is refused by the
#     daemon (rule auth_without_tls)
#   - an extra listener with no policy_context and an unmapped port: rule
#     unknown_role, policyd_unknown_role_action, and a warning
#   - after SIGHUP with a new file: policyd_mx_content_filter (FILTER routes
#     the mail to the named transport), policyd_mx_reject_spoofed_sender,
#     policyd_mx_authenticated_relay = no, custom reply texts
#   - a broken file on SIGHUP is refused and the running config kept
set -uo pipefail
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }

pt_init e2e-options
STACK_REDUCED=1
base=$(pt_ports 4)
P25=$base P587=$((base + 1)) P465=$((base + 2)) PX=$((base + 3))
pf_create "$PT_TMP/postfix" 127.0.0.1 "$P25" "$P587" "$P465"
pf_sasldb "$ALICE_USER" "$ALICE_PASS"
stack_reduce
# Lower Postfix's own guards on two listeners (test-only overrides).
pf_set_service "$P587" smtpd_tls_security_level=may
pf_set_service "$P25" smtpd_tls_auth_only=no
# A fourth listener that names no role.
pf_postconf -M -e "127.0.0.1:$PX/inet=127.0.0.1:$PX inet n - n - - smtpd" || pt_die "postconf -M"
pd_write_conf "$PT_TMP/portreeve.conf" 'policyd_unknown_role_action = 450 4.7.1 Unknown port role'
pd_start "$PT_TMP/portreeve.conf"
pf_start
pt_wait_tcp 127.0.0.1 "$PX"

OFFNET=(--local-interface 127.0.0.2)
AUTH=(--auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")
OFF='client=127\.0\.0\.2\[[0-9]+\]'
session() {
    MARK=$(pt_log_size "$PD_LOG")
    smtp_session "$@"
}

# Rule 3: submission must be encrypted; AUTH only over TLS anywhere.
session sub_plain "$P587" "${OFFNET[@]}" --to bob@example.org
t_reply "587 (Postfix TLS lowered): plaintext MAIL passes Postfix" sub_plain MAIL '^250 '
t_reply "587 (Postfix TLS lowered): plaintext refused by the daemon" sub_plain RCPT '^530 5\.7\.0 .*TLS required: issue STARTTLS first'
t_decision "587: refused by rule tls_required" "$MARK" \
    "$OFF server_port=$P587 role=submission state=RCPT .*rule=tls_required action=\"530 5\.7\.0 TLS required: issue STARTTLS first\""

session mx_plain_auth "$P25" "${OFFNET[@]}" "${AUTH[@]}" --to someone@remote.example
t_reply "25 (auth_only off): plaintext AUTH succeeds at the SASL layer" mx_plain_auth AUTH '^235 '
t_reply "25 (auth_only off): authenticated plaintext refused by the daemon" mx_plain_auth RCPT '^530 5\.7\.0 .*TLS required'
t_decision "25: refused by rule auth_without_tls" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT sasl_username=$ALICE_USER .*rule=auth_without_tls"

# Rule 1: a request whose role cannot be determined.
session unknown_role "$PX" --to bob@example.org
t_reply "unmapped port: policyd_unknown_role_action applies" unknown_role RCPT '^450 4\.7\.1 .*Unknown port role'
t_decision "unmapped port: rule unknown_role" "$MARK" \
    "server_port=$PX role=[a-z]+ state=RCPT .*rule=unknown_role action=\"450 4\.7\.1 Unknown port role\""
t_check "unmapped port: the daemon logs a warning naming the port" \
    "$(pt_log_since "$PD_LOG" "$MARK" | grep -i 'warning' | grep -F "$PX")" "$PX"
T_EXPECTED_WARNINGS="$PX"

# Opt-in settings, through SIGHUP.
MARK=$(pt_log_size "$PD_LOG")
pd_write_conf "$PT_TMP/portreeve.conf" \
    'policyd_mx_content_filter = discard:mx-content-filter' \
    'policyd_mx_reject_spoofed_sender = yes' \
    'policyd_mx_authenticated_relay = no' \
    'policyd_relay_reject_reply = 554 5.7.1 No relaying through this campus MX'
pd_hup
if pt_wait_log "$PD_LOG" 'reloaded ' 10 "$MARK"; then
    t_pass "SIGHUP: new configuration loaded"
else
    t_fail "SIGHUP: new configuration loaded" "got '$(pt_log_since "$PD_LOG" "$MARK" | grep -v decision: | head -n 2)', want a 'reloaded' line"
fi

session mx_filtered "$P25" "${OFFNET[@]}" --to bob@example.org
t_reply "25: accepted with a content filter set" mx_filtered DOT '^250 2\.0\.0 Ok: queued as'
t_decision "25: rule content_filter sends FILTER" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT .*rule=content_filter action=\"FILTER discard:mx-content-filter\""
qid=$(smtp_reply mx_filtered DOT | sed -n 's/.*queued as \([0-9A-F]*\).*/\1/p')
pt_wait_log "$PF_LOG" "$qid: .*status=sent \\(mx-content-filter\\)" 10 ||
    true
t_check "25: Postfix routed the message through the filter transport" \
    "$(grep -E "$qid: .*status=sent" "$PF_LOG")" 'status=sent \(mx-content-filter\)'

session sub_unfiltered "$P587" --tls "${AUTH[@]}" --to someone@remote.example
t_reply "587: accepted" sub_unfiltered DOT '^250 2\.0\.0 Ok: queued as'
t_decision "587: no content filter on submission" "$MARK" \
    "server_port=$P587 role=submission state=RCPT .*rule=default action=\"DUNNO\""

session mx_spoof "$P25" "${OFFNET[@]}" --from alice@example.org --to bob@example.org
t_reply "25: off-net sender in a local domain refused (opt-in)" mx_spoof RCPT '^550 5\.7\.1 '
t_decision "25: rule spoofed_sender" "$MARK" \
    "$OFF server_port=$P25 role=mx .*sender=<alice@example\.org> .*rule=spoofed_sender"

session mx_local_sender "$P25" --from alice@example.org --to bob@example.org
t_reply "25: the same sender from the local network is accepted" mx_local_sender RCPT '^250 '

session mx_auth_relay_off "$P25" "${OFFNET[@]}" --tls "${AUTH[@]}" --to someone@remote.example
t_reply "25: authenticated relay off (setting), custom reply text" mx_auth_relay_off RCPT '^554 5\.7\.1 .*No relaying through this campus MX'
t_decision "25: rule relay_denied for the authenticated user" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT sasl_username=$ALICE_USER .*rule=relay_denied"

# A broken file on SIGHUP: refused, the running configuration stays.
MARK=$(pt_log_size "$PD_LOG")
printf 'policyd_relay_networks = 127.0.0.1/33\n' >>"$PT_TMP/portreeve.conf"
pd_hup
pt_wait_log "$PD_LOG" 'reload' 10 "$MARK"
t_check "bad config on SIGHUP: refused with the key and value named" \
    "$(pt_log_since "$PD_LOG" "$MARK")" 'reload refused.*policyd_relay_networks.*127\.0\.0\.1/33'
T_EXPECTED_WARNINGS="$PX|reload refused"
session after_bad_reload "$P25" "${OFFNET[@]}" --to someone@remote.example
t_reply "bad config on SIGHUP: the old rules still answer" after_bad_reload RCPT '^554 5\.7\.1 .*No relaying through this campus MX'

t_daemon_stops_cleanly
t_done
