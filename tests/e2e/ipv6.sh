#!/usr/bin/env bash
# ipv6.sh - an IPv6 client end to end: a "25" listener on [::1] (role mx
# from policy_context), relay networks given as IPv6 CIDR. With
# policyd_relay_networks = 127.0.0.1/32 the client ::1 is off the local
# network; after SIGHUP with [::1]/128 added it may relay.
# Skips (77) when ::1 is not configured here (IPv6 disabled).
set -uo pipefail
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }
ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' || { echo "SKIP: no ::1 on lo"; exit 77; }

pt_init e2e-ipv6
base=$(pt_ports 4)
P25=$base P587=$((base + 1)) P465=$((base + 2)) P6=$((base + 3))
pf_create "$PT_TMP/postfix" 127.0.0.1 "$P25" "$P587" "$P465"
pf_sasldb "$ALICE_USER" "$ALICE_PASS"
stack_reduce
pf_set "inet_protocols = all" "inet_interfaces = 127.0.0.1, [::1]"
# The shipped smtp entry again, on [::1] (same options, other name).
entry=$(pf_postconf -M "127.0.0.1:$P25/inet" | sed "s/^127\\.0\\.0\\.1:$P25 /[::1]:$P6 /")
pf_postconf -M -e "[::1]:$P6/inet=$entry" || pt_die "postconf -M [::1]:$P6"
pd_write_conf "$PT_TMP/portreeve.conf"
pd_start "$PT_TMP/portreeve.conf"
pf_start
pt_wait_tcp '[::1]' "$P6"

V6='client=::1\[[0-9]+\]'
session() {
    MARK=$(pt_log_size "$PD_LOG")
    smtp_session "$@"
}

SMTP_SERVER=::1 session v6_relay "$P6" --to someone@remote.example
t_reply "::1 on 25, relay networks 127.0.0.1/32: relay refused" v6_relay RCPT '^554 5\.7\.1 .*Relay access denied'
t_decision "::1: rule relay_denied, role mx from policy_context" "$MARK" \
    "$V6 server_port=$P6 role=mx state=RCPT .*rule=relay_denied"
SMTP_SERVER=::1 session v6_inbound "$P6" --to bob@example.org
t_reply "::1 on 25: mail to the local domain accepted" v6_inbound DOT '^250 2\.0\.0 Ok: queued'

MARK=$(pt_log_size "$PD_LOG")
pd_write_conf "$PT_TMP/portreeve.conf" 'policyd_relay_networks = 127.0.0.1/32, [::1]/128'
pd_hup
pt_wait_log "$PD_LOG" 'reloaded ' 10 "$MARK" || t_fail "SIGHUP" "no 'reloaded' line"
SMTP_SERVER=::1 session v6_relay_ok "$P6" --to someone@remote.example
t_reply "::1 with [::1]/128 in the relay networks: relay allowed" v6_relay_ok RCPT '^250 '
t_decision "::1: rule default" "$MARK" "$V6 server_port=$P6 role=mx state=RCPT .*rule=default"
session v4_still_refused "$P25" --local-interface 127.0.0.2 --to someone@remote.example
t_reply "127.0.0.2 is still off the local network" v4_still_refused RCPT '^554 5\.7\.1 '

t_daemon_stops_cleanly
t_done
