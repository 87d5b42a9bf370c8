#!/usr/bin/env bash
# netns.sh - a real host off the local network: Postfix runs in a server
# network namespace, the off-net client in a client namespace, joined by a
# veth pair (10.200.X.1 <-> 10.200.X.2, used only between the two). The
# policy daemon stays in the host namespace and Postfix reaches it through
# its unix socket (the file system is shared). Relay networks: 127.0.0.1
# and the server's own address, so a client inside the server namespace is
# "local" and the client namespace is not.
#
# Skips (77) when network namespaces cannot be created here.
set -uo pipefail
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }

pt_init e2e-netns
NS_SRV=pt-srv-$$ NS_CLI=pt-cli-$$
if ! ip netns add "$NS_SRV" 2>/dev/null; then
    echo "SKIP: ip netns add does not work here"
    exit 77
fi
pt_on_exit "ip netns del $NS_SRV"
ip netns add "$NS_CLI" || pt_die "ip netns add $NS_CLI"
pt_on_exit "ip netns del $NS_CLI"

# One /30 per run, picked from the PID, so parallel runs do not collide.
NET=10.200.$(($$ % 250))
SRV=$NET.1 CLI=$NET.2
VS=ptv$$s VC=ptv$$c
ip link add "$VS" type veth peer name "$VC" || pt_die "veth"
ip link set "$VS" netns "$NS_SRV" && ip link set "$VC" netns "$NS_CLI" || pt_die "veth into namespaces"
ip -n "$NS_SRV" addr add "$SRV/30" dev "$VS" && ip -n "$NS_SRV" link set "$VS" up &&
    ip -n "$NS_SRV" link set lo up || pt_die "server side of the veth"
ip -n "$NS_CLI" addr add "$CLI/30" dev "$VC" && ip -n "$NS_CLI" link set "$VC" up &&
    ip -n "$NS_CLI" link set lo up || pt_die "client side of the veth"

base=$(pt_ports 3)
P25=$base P587=$((base + 1)) P465=$((base + 2))
PF_NETNS=$NS_SRV
pf_create "$PT_TMP/postfix" "$SRV" "$P25" "$P587" "$P465"
pf_sasldb "$ALICE_USER" "$ALICE_PASS"
stack_reduce
pd_write_conf "$PT_TMP/portreeve.conf" "policyd_relay_networks = 127.0.0.1/32, $SRV/32"
pd_start "$PT_TMP/portreeve.conf"
pf_start

SMTP_SERVER=$SRV
AUTH=(--auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")
OFF="client=${CLI//./\\.}\\[[0-9]+\\]"
session() {
    MARK=$(pt_log_size "$PD_LOG")
    smtp_session "$@"
}

SMTP_NETNS=$NS_CLI session ns_relay "$P25" --to someone@remote.example
t_reply "netns client on 25: relay refused" ns_relay RCPT '^554 5\.7\.1 .*Relay access denied'
t_decision "netns client on 25: rule relay_denied, client address $CLI" "$MARK" \
    "$OFF server_port=$P25 role=mx state=RCPT .*rule=relay_denied"

SMTP_NETNS=$NS_CLI session ns_inbound "$P25" --to bob@example.org
t_reply "netns client on 25: mail to the local domain accepted" ns_inbound DOT '^250 2\.0\.0 Ok: queued'

SMTP_NETNS=$NS_CLI session ns_sub_noauth "$P587" --tls --to someone@remote.example
t_reply "netns client on 587 without AUTH: refused" ns_sub_noauth RCPT '^530 5\.7\.0 .*Authentication required'

SMTP_NETNS=$NS_CLI session ns_sub_auth "$P587" --tls "${AUTH[@]}" --to someone@remote.example
t_reply "netns client on 587 with STARTTLS+AUTH: relays" ns_sub_auth DOT '^250 2\.0\.0 Ok: queued'
t_decision "netns client on 587: rule default, user $ALICE_USER" "$MARK" \
    "$OFF server_port=$P587 role=submission state=RCPT sasl_username=$ALICE_USER .*rule=default"

SMTP_NETNS=$NS_CLI session ns_subs_auth "$P465" --tlsc "${AUTH[@]}" --to someone@remote.example
t_reply "netns client on 465 with AUTH: relays" ns_subs_auth DOT '^250 2\.0\.0 Ok: queued'

SMTP_NETNS=$NS_SRV session srv_local_relay "$P25" --to someone@remote.example
t_reply "client on the server's own network: relay allowed" srv_local_relay RCPT '^250 '
t_decision "server-side client: rule default, client address $SRV" "$MARK" \
    "client=${SRV//./\\.}\\[[0-9]+\\] server_port=$P25 role=mx state=RCPT .*rule=default"

t_daemon_stops_cleanly
t_done
