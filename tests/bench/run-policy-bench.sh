#!/usr/bin/env bash
# run-policy-bench.sh - portreeve-policyd vs. the baseline policy server.
#
# usage: run-policy-bench.sh [-t SECS] [-r REPEATS] [-c "1 8 64"] [-i IDLE]
#                            [-p BASE_PORT] [-l LOGFILE_MODE] [-B BASELINE_FLAGS] BUILD_DIR
#
# Builds nothing: takes the binaries from BUILD_DIR (policy-loadgen and
# policy-baseline from tests/bench/, portreeve-policyd from policyd/). Starts
# both servers in a temp dir (unix sockets there, TCP on 127.0.0.1:BASE_PORT+1
# and +2; default BASE_PORT 25100), then for each transport (unix, tcp) and
# each connection count runs policy-loadgen for SECS seconds (default 2, plus
# 0.5 s warm-up) against baseline and policyd, interleaved (odd repeats
# baseline first, even repeats policyd first), REPEATS times (default 3).
# Prints medians of the absolute figures and the median of the paired
# ratios policyd/baseline, then opens IDLE (default 1000) idle connections to
# each server and prints their RSS.
#
# policyd runs with the port rules enabled (local domains, relay networks,
# mx content filter), in the foreground, logging one line per decision to
# stderr; LOGFILE_MODE "file" (default) sends that to a file in the temp dir
# (truncated after each run, so the disk write is paid but the file stays
# small), "null" to /dev/null.
#
# -B passes flags to policy-baseline, e.g. -B -W for its send-at-once
# variant (see policy_baseline.c).
#
# If BUILD_DIR/policyd/portreeve-policyd does not exist, a second baseline
# instance stands in for it (the table says so): useful only to check this
# script. Total time: about 2 x 3 x 2 x REPEATS x (SECS + 0.7) seconds.
set -euo pipefail

secs=2 repeats=3 conns="1 8 64" idle=1000 base_port=25100 logmode=file bflags=
usage() {
    sed -n '3,5p' "$0" >&2
    exit 2
}
while getopts "t:r:c:i:p:l:B:" opt; do
    case $opt in
    t) secs=$OPTARG ;;
    r) repeats=$OPTARG ;;
    c) conns=$OPTARG ;;
    i) idle=$OPTARG ;;
    p) base_port=$OPTARG ;;
    l) logmode=$OPTARG ;;
    B) bflags=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
build=$(cd "$1" && pwd)
loadgen=$build/tests/bench/policy-loadgen
baseline=$build/tests/bench/policy-baseline
policyd=$build/policyd/portreeve-policyd
for f in "$loadgen" "$baseline"; do
    [ -x "$f" ] || { echo "run-policy-bench: $f missing: build it first" >&2; exit 2; }
done
case $logmode in file | null) ;; *) usage ;; esac

ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d /tmp/policy-bench.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        if grep -qaE 'policy-baseline|portreeve-policyd' "/proc/$p/cmdline" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
        fi
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

b_port=$((base_port + 1)) p_port=$((base_port + 2))
# shellcheck disable=SC2086 # bflags is a list of flags
"$baseline" $bflags -l "unix:$tmp/baseline.sock" -l "inet:127.0.0.1:$b_port" 2>"$tmp/baseline.log" &
b_pid=$!
pids+=("$b_pid")

policyd_log=$tmp/policyd.log
[ "$logmode" = null ] && policyd_log=/dev/null
if [ -x "$policyd" ]; then
    p_name=policyd
    cat >"$tmp/portreeve.conf" <<EOF
# written by run-policy-bench.sh
policyd_listen = unix:$tmp/policyd.sock inet:127.0.0.1:$p_port
policyd_user =
policyd_pid_file = $tmp/policyd.pid
policyd_socket_owner =
policyd_socket_group =
policyd_socket_mode = 0666
policyd_port_roles = 25:mx 587:submission 465:submissions
policyd_local_domains = example.edu .example.edu
policyd_relay_networks = 127.0.0.0/8 10.0.0.0/8 2001:db8:1::/48
policyd_mx_content_filter = smtp-amavis:[127.0.0.1]:10024
EOF
    "$policyd" -c "$tmp/portreeve.conf" -f >>"$policyd_log" 2>&1 &
else
    p_name="baseline#2 (no policyd binary)"
    "$baseline" -l "unix:$tmp/policyd.sock" -l "inet:127.0.0.1:$p_port" >>"$policyd_log" 2>&1 &
fi
p_pid=$!
pids+=("$p_pid")

for _ in $(seq 100); do
    [ -S "$tmp/baseline.sock" ] && [ -S "$tmp/policyd.sock" ] && break
    sleep 0.05
done
for s in baseline policyd; do
    if [ ! -S "$tmp/$s.sock" ]; then
        echo "run-policy-bench: $s did not create $tmp/$s.sock" >&2
        cat "$tmp/$s.log" >&2 2>/dev/null || true
        exit 1
    fi
done
sleep 0.2 # TCP listeners are set up with the unix ones; give them a moment

endpoint() { # server transport
    local port=$b_port
    [ "$1" = policyd ] && port=$p_port
    if [ "$2" = unix ]; then echo "unix:$tmp/$1.sock"; else echo "inet:127.0.0.1:$port"; fi
}
pid_of() { if [ "$1" = policyd ]; then echo "$p_pid"; else echo "$b_pid"; fi; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "run-policy-bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); ${secs}s per run (+0.5s warm-up), $repeats repeats, interleaved"
echo "run-policy-bench: baseline pid $b_pid, $p_name pid $p_pid, temp dir $tmp"

results=$tmp/results
: >"$results"
actions_line=
for transport in unix tcp; do
    for c in $conns; do
        for r in $(seq "$repeats"); do
            order="baseline policyd"
            [ $((r % 2)) -eq 0 ] && order="policyd baseline"
            for s in $order; do
                out=$("$loadgen" -s "$(endpoint "$s" "$transport")" -c "$c" -t "$secs" -w 0.5 \
                    -p "$(pid_of "$s")" -S "$r") || {
                    echo "run-policy-bench: loadgen failed against $s ($transport, $c conns):" >&2
                    echo "$out" >&2
                    exit 1
                }
                [ "$s" = policyd ] && [ -z "$actions_line" ] && actions_line=$(grep '^actions' <<<"$out")
                res=$(grep '^RESULT ' <<<"$out")
                echo "$s $transport $c $r $(field rps "$res") $(field p50_us "$res") $(field p99_us "$res") $(field p999_us "$res") $(field cpu_us_per_req "$res") $(field errors "$res")" >>"$results"
                [ "$policyd_log" != /dev/null ] && : >"$policyd_log"
            done
        done
        printf '.' >&2
    done
done
echo >&2

idle_res() { # server
    "$loadgen" -q -s "$(endpoint "$1" unix)" -i "$idle" -t 1 -p "$(pid_of "$1")" | grep '^RESULT '
}
b_idle=$(idle_res baseline)
p_idle=$(idle_res policyd)

# median of the numbers on stdin
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
col() { # server transport conns column
    awk -v s="$1" -v t="$2" -v c="$3" -v k="$4" '$1==s && $2==t && $3==c {print $k}' "$results" | median
}
ratios() { # transport conns column: per repeat, policyd/baseline
    awk -v t="$1" -v c="$2" -v k="$3" '$2==t && $3==c {v[$1" "$4]=$k; r[$4]=1}
        END {for (i in r) if (v["baseline "i] > 0) printf "%.3f\n", v["policyd "i]/v["baseline "i]}' "$results"
}
ratio() { ratios "$@" | median; }
range() { ratios "$@" | sort -g | sed -n '1p;$p' | paste -sd- -; }

echo
echo "baseline = policy-baseline${bflags:+ $bflags}; policyd = $p_name; medians of $repeats interleaved runs of ${secs}s; ratio = median of paired policyd/baseline"
printf '%-6s %5s | %9s %8s %8s %6s | %9s %8s %8s %6s | %6s %6s %6s\n' \
    "" "" "baseline" "" "" "" "policyd" "" "" "" "ratio" "ratio" "ratio"
printf '%-6s %5s | %9s %8s %8s %6s | %9s %8s %8s %6s | %6s %6s %6s\n' \
    transp conns "req/s" "p50 us" "p99 us" "cpu us" "req/s" "p50 us" "p99 us" "cpu us" "req/s" "p99" "cpu"
for transport in unix tcp; do
    for c in $conns; do
        printf '%-6s %5s | %9.0f %8.1f %8.1f %6.2f | %9.0f %8.1f %8.1f %6.2f | %6.3f %6.2f %6.2f\n' \
            "$transport" "$c" \
            "$(col baseline "$transport" "$c" 5)" "$(col baseline "$transport" "$c" 6)" \
            "$(col baseline "$transport" "$c" 7)" "$(col baseline "$transport" "$c" 9)" \
            "$(col policyd "$transport" "$c" 5)" "$(col policyd "$transport" "$c" 6)" \
            "$(col policyd "$transport" "$c" 7)" "$(col policyd "$transport" "$c" 9)" \
            "$(ratio "$transport" "$c" 5)" "$(ratio "$transport" "$c" 7)" "$(ratio "$transport" "$c" 9)"
    done
done
echo "spread of the paired req/s ratios (min-max): $(for transport in unix tcp; do for c in $conns; do
    printf '%s/%s %s; ' "$transport" "$c" "$(range "$transport" "$c" 5)"
done; done)"
errs=$(awk '{e+=$10} END {print e+0}' "$results")
echo "errors over all runs: $errs; cpu us = daemon CPU time (user+sys) per request"
echo "p999 (median, us): $(for transport in unix tcp; do for c in $conns; do
    printf '%s/%s b %.0f p %.0f; ' "$transport" "$c" "$(col baseline "$transport" "$c" 8)" "$(col policyd "$transport" "$c" 8)"
done; done)"
echo "policyd reply $actions_line"
echo
printf '%-9s %8s %8s %10s %10s %10s\n' server idle open "RSS before" "RSS idle" "VmHWM"
for s in baseline policyd; do
    res=$b_idle
    [ "$s" = policyd ] && res=$p_idle
    printf '%-9s %8s %8s %7s kB %7s kB %7s kB\n' "$s" "$(field conns "$res")" "$(field open "$res")" \
        "$(field rss_before_kb "$res")" "$(field rss_kb "$res")" "$(field hwm_kb "$res")"
done
echo "(RSS before = after the load runs, before opening the idle connections)"
