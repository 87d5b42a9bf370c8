#!/usr/bin/env bash
# daemon-down.sh - what happens without the daemon, and the control that
# shows the other e2e tests measure the daemon, not Postfix.
#
#   1. with the daemon: an off-net relay attempt on "25" is refused (554)
#   2. daemon stopped: the shipped default_action fails closed: 451 4.3.5,
#      on "25" and on "587" even for an authenticated user
#   3. control: default_action=DUNNO with the daemon still stopped: the
#      reduced Postfix now relays for the off-net client and takes mail on
#      "587" without AUTH. So in the reduced stack nothing but the daemon
#      refuses relay or demands AUTH.
#   4. daemon started again: Postfix reconnects, relay refused again.
set -uo pipefail
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }

pt_init e2e-daemon-down
STACK_REDUCED=1 stack_up

OFFNET=(--local-interface 127.0.0.2)
AUTH=(--auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")

smtp_session up_relay "$P25" "${OFFNET[@]}" --to someone@remote.example
t_reply "daemon up: off-net relay refused" up_relay RCPT '^554 5\.7\.1 .*Relay access denied'

t_daemon_stops_cleanly
smtp_session down_relay "$P25" "${OFFNET[@]}" --to someone@remote.example
t_reply "daemon down: 25 fails closed with the shipped default_action" down_relay RCPT \
    '^451 4\.3\.5 .*Policy service unavailable, try again later'
smtp_session down_sub "$P587" --tls "${AUTH[@]}" --to someone@remote.example
t_reply "daemon down: 587 fails closed for an authenticated user too" down_sub RCPT '^451 4\.3\.5 '
t_check "daemon down: Postfix logged why" \
    "$(grep -E 'warning: connect to private/portreeve' "$PF_LOG" | head -n 1)" 'connect to private/portreeve'

# Control: the same reduced Postfix, policy failures answered DUNNO.
policy=$(pf_policy_element | sed 's/{ default_action = [^}]*}/default_action=DUNNO/')
t_check "control: the policy element now fails open" "$policy" 'default_action=DUNNO'
pf_set "smtpd_relay_restrictions = $policy, reject_unauth_destination"
mark=$(pt_log_size "$PF_LOG")
postfix -c "$PF_ETC" reload >/dev/null 2>&1
pt_wait_log "$PF_LOG" 'reload -- version' 10 "$mark" || pt_die "postfix reload not logged"
sleep 1 # let master(8) restart the listeners with the new configuration

smtp_session open_relay "$P25" "${OFFNET[@]}" --to someone@remote.example
t_reply "control: without the daemon the reduced Postfix relays for off-net clients" open_relay RCPT '^250 '
smtp_session open_sub "$P587" --tls --to bob@example.org
t_reply "control: without the daemon the reduced Postfix takes 587 mail without AUTH" open_sub RCPT '^250 '

# The daemon comes back: Postfix reconnects on the next request.
PD_LOG=$PT_TMP/policyd-2.log
pd_start "$PT_TMP/portreeve.conf"
smtp_session back_relay "$P25" "${OFFNET[@]}" --to someone@remote.example
t_reply "daemon back: off-net relay refused again" back_relay RCPT '^554 5\.7\.1 .*Relay access denied'
t_decision "daemon back: rule relay_denied" 0 'client=127\.0\.0\.2\[[0-9]+\] .*rule=relay_denied'

t_daemon_stops_cleanly
t_done
