#!/usr/bin/env bash
# chroot.sh - the shipped policy endpoint "unix:private/portreeve" from a
# chrooted smtpd, as Debian runs it (chroot = y in master.cf): the daemon's
# socket inside the queue directory is reachable from the jail. Only the
# "25" listener is chrooted (no AUTH here: the test's sasldb lives outside
# the jail).
set -uo pipefail
. "$(dirname "$0")/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }

pt_init e2e-chroot
base=$(pt_ports 3)
P25=$base P587=$((base + 1)) P465=$((base + 2))
pf_create "$PT_TMP/postfix" 127.0.0.1 "$P25" "$P587" "$P465"
stack_reduce
pf_postconf -F "127.0.0.1:$P25/inet/chroot=y" || pt_die "postconf -F chroot=y"
pd_write_conf "$PT_TMP/portreeve.conf"
pd_start "$PT_TMP/portreeve.conf"
pf_start

t_check "the \"25\" listener is configured chroot = y" "$(pf_postconf -F "127.0.0.1:$P25/inet/chroot")" '= y$'
# Hold a connection open and look at the smtpd that master(8) started.
exec 8<>"/dev/tcp/127.0.0.1/$P25"
read -r -t 10 banner <&8
root=
for ((i = 0; i < 50; i++)); do
    for p in $(pgrep -f "smtpd -n 127.0.0.1:$P25 " 2>/dev/null); do
        root=$(readlink "/proc/$p/root")
    done
    [ -n "$root" ] && break
    sleep 0.1
done
exec 8>&-
t_check "the \"25\" smtpd runs with its root in the queue directory (banner: ${banner%$'\r'})" "$root" "^$PF_SPOOL\$"
MARK=$(pt_log_size "$PD_LOG")
smtp_session offnet "$P25" --local-interface 127.0.0.2 --to someone@remote.example
t_reply "chrooted smtpd: off-net relay refused by the daemon" offnet RCPT '^554 5\.7\.1 .*Relay access denied'
t_decision "chrooted smtpd reached the daemon: rule relay_denied" "$MARK" \
    "client=127\\.0\\.0\\.2\\[[0-9]+\\] server_port=$P25 role=mx state=RCPT .*rule=relay_denied"
smtp_session local "$P25" --to someone@remote.example
t_reply "chrooted smtpd: local relay accepted" local DOT '^250 2\.0\.0 Ok: queued'
t_check "smtpd logged no policy connection problem" \
    "$(grep -E 'connect to private/portreeve|problem talking to server' "$PF_LOG" | head -n 2)" '^$'

t_daemon_stops_cleanly
t_done
