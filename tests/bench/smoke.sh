#!/usr/bin/env bash
# smoke.sh - 2-second smoke run of the benchmark tools (ctest bench_tools_smoke).
#
# Starts policy-baseline on a unix socket in a temp dir, drives it with
# policy-loadgen for one second over 4 connections, then opens 50 idle
# connections, and checks that the tools worked: replies were counted, there
# were no errors, the daemon's RSS was read. It asserts no speed: the
# figures are printed for the log only.
set -euo pipefail
baseline=$1
loadgen=$2

tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && grep -q policy-baseline "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$baseline" -l "unix:$tmp/policy.sock" 2>"$tmp/baseline.log" &
pid=$!
for _ in $(seq 50); do
    [ -S "$tmp/policy.sock" ] && break
    sleep 0.1
done
[ -S "$tmp/policy.sock" ] || { echo "FAIL: baseline did not create its socket"; cat "$tmp/baseline.log"; exit 1; }

fail=0
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

out=$("$loadgen" -s "unix:$tmp/policy.sock" -c 4 -t 1 -w 0.2 -p "$pid")
echo "$out"
res=$(grep '^RESULT ' <<<"$out")
requests=$(field requests "$res"); errors=$(field errors "$res"); rss=$(field rss_kb "$res")
[ "${requests:-0}" -gt 0 ] || { echo "FAIL: load run: got requests=${requests:-none}, want > 0"; fail=1; }
[ "${errors:-x}" = 0 ] || { echo "FAIL: load run: got errors=${errors:-none}, want 0"; fail=1; }
[ "${rss:-0}" -gt 0 ] || { echo "FAIL: load run: got rss_kb=${rss:-none}, want > 0"; fail=1; }
grep -q '^actions .*DUNNO 100.0%' <<<"$out" || { echo "FAIL: load run: want every action DUNNO"; fail=1; }

out=$("$loadgen" -s "unix:$tmp/policy.sock" -i 50 -t 0.2 -p "$pid")
echo "$out"
res=$(grep '^RESULT ' <<<"$out")
open=$(field open "$res"); answered=$(field answered "$res"); rss=$(field rss_kb "$res")
[ "${open:-0}" = 50 ] || { echo "FAIL: idle run: got open=${open:-none}, want 50"; fail=1; }
[ "${answered:-0}" = 50 ] || { echo "FAIL: idle run: got answered=${answered:-none}, want 50"; fail=1; }
[ "${rss:-0}" -gt 0 ] || { echo "FAIL: idle run: got rss_kb=${rss:-none}, want > 0"; fail=1; }

# The baseline must still be alive and must not have warned.
grep -q policy-baseline "/proc/$pid/cmdline" || { echo "FAIL: baseline died"; fail=1; }
if grep -q warning "$tmp/baseline.log"; then
    echo "FAIL: baseline warned:"; cat "$tmp/baseline.log"; fail=1
fi
exit "$fail"
