#!/usr/bin/env bash
# run-quota-bench.sh - portreeve-policyd with quotas vs. a Redis baseline.
#
# usage: run-quota-bench.sh [-t SECS] [-r REPEATS] [-c "8 64"] BUILD_DIR
#
# Starts, in a temp dir, on loopback ports 27300-27399: a redis-server; the
# baseline policy-redis-baseline (libevent + async hiredis, one INCR round
# trip per request); portreeve-policyd with quotas on all three roles against
# that Redis ("redis"); and portreeve-policyd with the same quotas and no
# Redis ("memory", the embedded store). For each connection count it runs
# policy-loadgen (varied users, addresses, roles; RCPT and END-OF-MESSAGE
# from the Postfix 3.7 captures) against each server for SECS seconds,
# rotating which server goes first, REPEATS times, and prints the medians
# and the median of the paired ratios redis/baseline and memory/baseline.
# Limits are high (nothing is refused) so that every request pays the full
# check or commit. policyd logs one line per decision to a file, as in
# production. Prints figures only; asserts nothing.
set -euo pipefail
secs=2 repeats=3 conns="8 64"
while getopts t:r:c: o; do
    case $o in
    t) secs=$OPTARG ;; r) repeats=$OPTARG ;; c) conns=$OPTARG ;;
    *) echo "usage: $0 [-t SECS] [-r REPEATS] [-c CONNS] BUILD_DIR" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
B=${1:?usage: $0 [-t SECS] [-r REPEATS] [-c CONNS] BUILD_DIR}
LOADGEN=$B/tests/bench/policy-loadgen
BASE=$B/tests/quota/policy-redis-baseline
PD=$B/policyd/portreeve-policyd
for f in "$LOADGEN" "$BASE" "$PD"; do [ -x "$f" ] || { echo "missing $f" >&2; exit 2; }; done

T=$(mktemp -d /tmp/portreeve-quota-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -Eq 'redis|policy'; then
            kill "$p" 2>/dev/null || true
        fi
    done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
P=$((27300 + RANDOM % 90))
RP=$P BP=$((P + 1)) QP=$((P + 2)) MP=$((P + 3))

redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no --dir "$T" >"$T/redis.log" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do redis-cli -p "$RP" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$BASE" -l "inet:127.0.0.1:$BP" -r "$RP" >"$T/baseline.log" 2>&1 &
PIDS+=($!)
BPID=$!
conf() { # conf FILE PORT [REDIS]
    cat >"$1" <<EOC
policyd_listen = inet:127.0.0.1:$2
policyd_user =
policyd_pid_file =
policyd_port_roles = 24025:mx 24587:submission 24465:submissions 25:mx 587:submission 465:submissions
policyd_local_domains = example.org
policyd_relay_networks = 127.0.0.0/8 10.0.0.0/8 2001:db8:1::/48
redis_server = ${3:-}
policyd_quota_mx_messages = 1000000/1h, 10000000/1d
policyd_quota_mx_recipients = 5000000/1h
policyd_quota_submission_messages = 1000000/1h, 10000000/1d
policyd_quota_submission_recipients = 5000000/1h
policyd_quota_submissions_messages = 1000000/1h
EOC
}
conf "$T/redis.conf" "$QP" "127.0.0.1:$RP"
conf "$T/mem.conf" "$MP"
"$PD" -c "$T/redis.conf" -f 2>"$T/pd-redis.log" &
PIDS+=($!)
QPID=$!
"$PD" -c "$T/mem.conf" -f 2>"$T/pd-mem.log" &
PIDS+=($!)
MPID=$!
sleep 1

declare -A RPS P99
run() { # run NAME PORT PID CONNS REP
    local out
    out=$("$LOADGEN" -s "inet:127.0.0.1:$2" -c "$4" -t "$secs" -w 0.5 -p "$3" -q 2>&1 | tail -1)
    : >"$T/pd-redis.log"
    : >"$T/pd-mem.log"
    RPS[$1,$4,$5]=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$out")
    P99[$1,$4,$5]=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")
    echo "  $1 c=$4 rep=$5: $out"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for c in $conns; do
    for ((r = 1; r <= repeats; r++)); do
        case $((r % 3)) in
        1) order="baseline redis memory" ;; 2) order="redis memory baseline" ;; 0) order="memory baseline redis" ;;
        esac
        for s in $order; do
            case $s in
            baseline) run baseline "$BP" "$BPID" "$c" "$r" ;;
            redis) run redis "$QP" "$QPID" "$c" "$r" ;;
            memory) run memory "$MP" "$MPID" "$c" "$r" ;;
            esac
        done
    done
done
echo
printf '%-6s %-9s %12s %10s %18s\n' conns server "req/s(med)" "p99_us" "ratio_vs_baseline"
for c in $conns; do
    for s in baseline redis memory; do
        rps=$(for ((r = 1; r <= repeats; r++)); do echo "${RPS[$s,$c,$r]}"; done | median)
        p99=$(for ((r = 1; r <= repeats; r++)); do echo "${P99[$s,$c,$r]}"; done | median)
        ratio=$(for ((r = 1; r <= repeats; r++)); do
            awk -v a="${RPS[$s,$c,$r]}" -v b="${RPS[baseline,$c,$r]}" 'BEGIN { printf "%.3f\n", a / b }'
        done | median)
        printf '%-6s %-9s %12s %10s %18s\n' "$c" "$s" "$rps" "$p99" "$ratio"
    done
done
echo "redis keys after the run: $(redis-cli -p "$RP" DBSIZE)"
