#!/usr/bin/env bash
# hostile.sh - hostile clients against the live portreeve-policyd while
# well-behaved clients keep being answered, correctly.
#
# With 1,000 idle connections held open the whole time:
#   - a request dripped one byte at a time (TCP) is answered correctly
#   - a 100 KB line, a NUL byte, 5,000 attributes, a half-closed socket in
#     the middle of a request: each connection is closed without a reply
#     and logged with exactly one (bounded) warning line
#   - a complete request followed by a half-close is still answered
#   - 200 pipelined requests in one write are answered in order
#   - a client that writes for 2 s and never reads does not make the
#     daemon buffer without bound (RSS growth < 32 MB), and others are
#     answered meanwhile
#   - a persistent well-behaved client on the unix socket and another on
#     TCP get every answer, and every answer is the right one
#   - real SMTP through Postfix gets the daemon's decisions
# and afterwards all 1,000 idle connections are still open and the daemon
# stops cleanly. Nothing here is timed: "answered" means answered at all,
# within the clients' generous 15 s read timeout.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }

CLIENT=(perl "$HERE/policy-client.pl")
IDLE=${HOSTILE_IDLE:-1000}

# 1,000 connections need more descriptors than the usual soft limit of
# 1024, in this client and in the daemon (which inherits the limit).
want_fds=$((IDLE + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -Sn "$want_fds" 2>/dev/null ||
        { echo "FAIL: cannot raise the open-file limit to $want_fds (hard limit $(ulimit -Hn))"; exit 1; }
fi

pt_init e2e-hostile
STACK_REDUCED=1 stack_up
TCP=127.0.0.1:$PD_PORT

# Runs one hostile client; checks its verdict and that the daemon logged
# exactly one warning for it, no longer than 1 KiB.
hostile() {
    local name=$1 mark out warns longest
    shift
    mark=$(pt_log_size "$PD_LOG")
    out=$("${CLIENT[@]}" "$@" 2>&1)
    t_check "$name: $out" "$?" '^0$'
    pt_wait_log "$PD_LOG" 'warning' 5 "$mark"
    sleep 0.2 # a second warning for the same connection would come now
    warns=$(pt_log_since "$PD_LOG" "$mark" | grep -c 'warning')
    t_check "$name: exactly one warning logged" "$warns" '^1$'
    longest=$(pt_log_since "$PD_LOG" "$mark" | grep 'warning' | awk '{ if (length > m) m = length } END { print m + 0 }')
    t_check "$name: the warning is truncated (got $longest bytes, want <= 1024)" \
        "$([ "$longest" -le 1024 ] && echo short)" '^short$'
}

# 1,000 idle connections, held by one process until we write to its fifo.
mkfifo "$PT_TMP/idle.in"
PT_SPAWN_STDIN=$PT_TMP/idle.in pt_spawn idle "$PT_TMP/idle.out" \
    "${CLIENT[@]}" idle "$TCP" "$IDLE" "$PT_TMP/idle.ready"
IDLE_PID=$PT_PID
exec 7>"$PT_TMP/idle.in"
for ((i = 0; i < 600; i++)); do
    [ -s "$PT_TMP/idle.ready" ] || ! pt_alive "$IDLE_PID" && break
    sleep 0.1
done
[ -s "$PT_TMP/idle.ready" ] || pt_die "idle holder: $(cat "$PT_TMP/idle.out")"
t_check "$IDLE idle connections opened" "$(cat "$PT_TMP/idle.ready")" "^opened $IDLE\$"

# Well-behaved and dripping clients run in the background throughout.
"${CLIENT[@]}" good "$PD_SOCK" 400 "$P25" "$P587" 10 >"$PT_TMP/good-unix.out" 2>&1 &
GOOD_PID=$!
"${CLIENT[@]}" drip "$TCP" "$P25" 5 >"$PT_TMP/drip.out" 2>&1 &
DRIP_PID=$!

hostile "100 KB line" longline "$TCP" 102400
hostile "NUL byte" nul "$TCP"
hostile "5000 attributes" attrs "$TCP" 5000
hostile "half-close mid-request" halfclose-partial "$TCP"
hostile "100 KB line on the unix socket" longline "$PD_SOCK" 102400

out=$("${CLIENT[@]}" pipeline "$TCP" 200 "$P25" "$P587" 2>&1)
t_check "$out" "$?" '^0$'

# A client that writes and never reads: the daemon must stop reading from
# it (its replies cannot go anywhere) rather than buffer without bound.
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PD_PID/status")
"${CLIENT[@]}" flood "$TCP" 2 "$P25" >"$PT_TMP/flood.out" 2>&1 &
FLOOD_PID=$!
out=$("${CLIENT[@]}" good "$TCP" 100 "$P25" "$P587" 2>&1)
t_check "TCP client during a flood: $(tail -n 1 <<<"$out")" "$?" '^0$'
wait "$FLOOD_PID"
rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PD_PID/status")
t_check "$(cat "$PT_TMP/flood.out"); daemon RSS $rss_before -> $rss_after kB, want growth < 32 MB" \
    "$([ $((rss_after - rss_before)) -lt 32768 ] && echo bounded)" '^bounded$'

out=$("${CLIENT[@]}" halfclose-complete "$TCP" "$P25" 2>&1)
t_check "half-close after a complete request: $out" "$?" '^0$'

# Real SMTP through Postfix while all of this is going on.
smtp_session smtp_relay "$P25" --local-interface 127.0.0.2 --to someone@remote.example
t_reply "SMTP meanwhile: off-net relay refused by the daemon" smtp_relay RCPT '^554 5\.7\.1 .*Relay access denied'
smtp_session smtp_sub "$P587" --tls --auth PLAIN --auth-user "$ALICE_USER" \
    --auth-password "$ALICE_PASS" --to someone@remote.example
t_reply "SMTP meanwhile: authenticated submission accepted" smtp_sub DOT '^250 2\.0\.0 Ok: queued'

wait "$GOOD_PID"
rc=$?
t_check "unix-socket client: $(tail -n 1 "$PT_TMP/good-unix.out")" "$rc" '^0$'
wait "$DRIP_PID"
rc=$?
t_check "$(tail -n 1 "$PT_TMP/drip.out")" "$rc" '^0$'
out=$("${CLIENT[@]}" good "$TCP" 200 "$P25" "$P587" 2>&1)
t_check "TCP client after the attacks: $(tail -n 1 <<<"$out")" "$?" '^0$'

# Release the idle holder: it reports how many connections are still open.
echo done >&7
exec 7>&-
wait "$IDLE_PID"
rc=$?
t_check "idle connections all still open: $(cat "$PT_TMP/idle.out")" "$rc" '^0$'

T_EXPECTED_WARNINGS='connection fd [0-9]+: .*clos|peer closed'
t_daemon_stops_cleanly
t_done
