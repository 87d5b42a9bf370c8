#!/usr/bin/env bash
# run-quota-bench.sh - portreeve-policyd with quotas vs. a Redis baseline.
#
# usage: run-quota-bench.sh [-t SECS] [-r REPEATS] [-c "8 64"] [-p BASE_PORT]
#                           [-g quota|mix] [-B OTHER_BUILD_DIR] [-F] [-S]
#                           BUILD_DIR
#
# Starts, in a temp dir, on loopback ports BASE_PORT..BASE_PORT+5 (default:
# a random base in 27500-27589): a redis-server; the baseline
# policy-redis-baseline (libevent + async hiredis, one INCR round trip per
# request); portreeve-policyd with quotas on all three roles against that
# Redis ("redis"); and portreeve-policyd with the same quotas and no Redis
# ("memory", the embedded store). With -B, the portreeve-policyd of
# OTHER_BUILD_DIR (e.g. a build of the previous commit) runs as "redis0"
# and "memory0" in the same rotation, with its own redis_key_prefix, so
# that before and after are measured in the same run.
#
# The load (-g): "quota" (default) is quota-loadgen: SMTP sessions whose
# RCPT requests and END-OF-MESSAGE request carry the same instance, in
# Postfix's order, varied users and client addresses, every request passing
# the port rules. "mix" is tests/bench's policy-loadgen (RCPT and
# END-OF-MESSAGE requests from unrelated sessions, a quarter refused by the
# port rules), which never pairs a reservation with its commit.
#
# Steady state: before measuring, each Redis-backed daemon is primed (one
# message from every principal the load uses: quota-loadgen -P; with -g
# mix two seconds of load), then
# seed-history.lua fills each of its series with a full window of history
# (61 buckets, 10 units each), as a principal that has been sending all
# along has; -F skips this and measures a fresh Redis (one or two buckets
# per series, which flatters any script that reads whole series).
#
# -S (split): redis-server runs pinned to the last CPU and everything else
# (load generator, baseline, daemons) to the others, as when Redis runs on
# its own host, the usual deployment (one Redis for every mail host). By
# default all share every CPU, so Redis's CPU per request competes with the
# daemon's and the load generator's; both are worth quoting, say which.
#
# For each connection count it runs the load against each server for SECS
# seconds, rotating which server goes first, REPEATS times, and prints the
# medians, the median of the paired ratios to the baseline, the daemon's
# CPU time per request, redis-server's CPU time per request (from /proc;
# steadier than times on a shared machine), and the Lua script's time
# inside Redis per call (INFO commandstats, reset before each redis run). Limits are high
# (nothing is refused) so that every request pays the full check or commit.
# policyd logs one line per decision to a file, as in production. Prints
# figures only; asserts nothing.
set -euo pipefail
secs=2 repeats=3 conns="8 64" base_port= gen=quota other= fresh= split=
while getopts t:r:c:p:g:B:FS o; do
    case $o in
    t) secs=$OPTARG ;; r) repeats=$OPTARG ;; c) conns=$OPTARG ;; p) base_port=$OPTARG ;;
    g) gen=$OPTARG ;; B) other=$OPTARG ;; F) fresh=1 ;; S) split=1 ;;
    *) echo "usage: $0 [-t SECS] [-r REPEATS] [-c CONNS] [-p BASE_PORT] [-g quota|mix] [-B OTHER_BUILD] [-F] [-S] BUILD_DIR" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
B=${1:?usage: $0 [options] BUILD_DIR}
case $gen in
quota) LOADGEN=$B/tests/quota/quota-loadgen ;;
mix) LOADGEN=$B/tests/bench/policy-loadgen ;;
*) echo "-g: quota or mix" >&2; exit 2 ;;
esac
BASE=$B/tests/quota/policy-redis-baseline
PD=$B/policyd/portreeve-policyd
PD0=${other:+$other/policyd/portreeve-policyd}
for f in "$LOADGEN" "$BASE" "$PD" ${PD0:+"$PD0"}; do [ -x "$f" ] || { echo "missing $f" >&2; exit 2; }; done

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
P=${base_port:-$((27500 + RANDOM % 90))}
RP=$P BP=$((P + 1))
declare -A PORT PID
PORT[redis]=$((P + 2)) PORT[memory]=$((P + 3)) PORT[redis0]=$((P + 4)) PORT[memory0]=$((P + 5))

# -S: Redis alone on the last CPU, the rest on the others.
PIN_REDIS=() PIN_REST=()
if [ -n "$split" ]; then
    ncpu=$(nproc)
    [ "$ncpu" -ge 2 ] || { echo "-S needs 2 CPUs or more" >&2; exit 2; }
    PIN_REDIS=(taskset -c $((ncpu - 1))) PIN_REST=(taskset -c "0-$((ncpu - 2))")
    echo "split: redis-server on CPU $((ncpu - 1)), everything else on CPUs 0-$((ncpu - 2))"
fi
"${PIN_REDIS[@]}" redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no --dir "$T" >"$T/redis.log" 2>&1 &
PIDS+=($!)
RPID=$!
HZ=$(getconf CLK_TCK)
rcpu() { awk '{ print $14 + $15 }' "/proc/$RPID/stat"; } # redis-server CPU, in ticks
for i in $(seq 50); do redis-cli -p "$RP" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"${PIN_REST[@]}" "$BASE" -l "inet:127.0.0.1:$BP" -r "$RP" >"$T/baseline.log" 2>&1 &
PIDS+=($!)
PID[baseline]=$!
PORT[baseline]=$BP
conf() { # conf FILE PORT REDIS PREFIX
    cat >"$1" <<EOC
policyd_listen = inet:127.0.0.1:$2
policyd_user =
policyd_pid_file =
policyd_port_roles = 24025:mx 24587:submission 24465:submissions 25:mx 587:submission 465:submissions
policyd_local_domains = example.org
policyd_relay_networks = 127.0.0.0/8 10.0.0.0/8 2001:db8:1::/48
redis_server = $3
redis_key_prefix = $4
policyd_quota_mx_messages = 1000000/1h, 10000000/1d
policyd_quota_mx_recipients = 5000000/1h
policyd_quota_submission_messages = 1000000/1h, 10000000/1d
policyd_quota_submission_recipients = 5000000/1h
policyd_quota_submissions_messages = 1000000/1h
EOC
}
servers="baseline redis memory"
start_pd() { # start_pd NAME BINARY REDIS PREFIX
    conf "$T/$1.conf" "${PORT[$1]}" "$3" "$4"
    "${PIN_REST[@]}" "$2" -c "$T/$1.conf" -f 2>"$T/pd-$1.log" &
    PIDS+=($!)
    PID[$1]=$!
}
start_pd redis "$PD" "127.0.0.1:$RP" pp
start_pd memory "$PD" "" pp
if [ -n "$PD0" ]; then
    start_pd redis0 "$PD0" "127.0.0.1:$RP" pp0
    start_pd memory0 "$PD0" "" pp0
    servers="baseline redis redis0 memory memory0"
fi
sleep 1
for s in $servers; do
    [ -d "/proc/${PID[$s]}" ] || { echo "$s did not start:"; cat "$T"/*.log; exit 1; }
done
echo "load: $gen ($LOADGEN), ${secs}s x $repeats per server and connection count; ports $P-$((P + 5))"
[ -n "$PD0" ] && echo "redis0/memory0: $PD0"
if [ -z "$fresh" ]; then
    SEED=$(dirname "$0")/seed-history.lua
    for s in redis redis0; do
        [ -n "${PID[$s]:-}" ] || continue
        if [ "$gen" = quota ]; then
            "$LOADGEN" -s "inet:127.0.0.1:${PORT[$s]}" -c 8 -P >/dev/null
        else
            "$LOADGEN" -s "inet:127.0.0.1:${PORT[$s]}" -c 8 -t 2 -w 0 -q >/dev/null
        fi
    done
    # Layouts: v3 is this tree's; the other build's daemon (prefix pp0) may be any.
    n0=$(redis-cli -p "$RP" --eval "$SEED" , pp v3 10)
    n1=$(redis-cli -p "$RP" --eval "$SEED" , pp0 v1 10)
    n2=$(redis-cli -p "$RP" --eval "$SEED" , pp0 v2 10)
    n3=$(redis-cli -p "$RP" --eval "$SEED" , pp0 v3 10)
    echo "history: $n0 series (pp, v3), $((n1 + n2 + n3)) series (pp0, v1 $n1, v2 $n2, v3 $n3) filled with 61 buckets"
else
    echo "history: none (-F, a fresh Redis)"
fi

declare -A RPS P99 CPU LUA RCPU
run() { # run NAME CONNS REP
    local out lua=- c0 c1 rc=-
    case $1 in redis*) redis-cli -p "$RP" CONFIG RESETSTAT >/dev/null ;; esac
    c0=$(rcpu)
    out=$("${PIN_REST[@]}" "$LOADGEN" -s "inet:127.0.0.1:${PORT[$1]}" -c "$2" -t "$secs" -w 0.5 -p "${PID[$1]}" -q 2>&1 | tail -1)
    c1=$(rcpu)
    case $1 in
    redis*) lua=$(redis-cli -p "$RP" INFO commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p') ;;
    esac
    for f in "$T"/pd-*.log; do : >"$f"; done
    RPS[$1,$2,$3]=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$out")
    # Redis CPU per request, warm-up included at the measured rate.
    case $1 in memory*) ;; *) rc=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v r="${RPS[$1,$2,$3]}" -v s="$secs" \
        'BEGIN { if (r > 0) printf "%.1f", t * 1e6 / hz / (r * (s + 0.5)); else print "-" }') ;; esac
    RCPU[$1,$2,$3]=$rc
    P99[$1,$2,$3]=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")
    CPU[$1,$2,$3]=$(sed -n 's/.*cpu_us_per_req=\([0-9.-]*\).*/\1/p' <<<"$out")
    LUA[$1,$2,$3]=${lua:--}
    echo "  $1 c=$2 rep=$3 lua_us=${lua:--} redis_cpu_us=$rc: $out"
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
read -r -a order <<<"$servers"
n=${#order[@]}
for c in $conns; do
    for ((r = 1; r <= repeats; r++)); do
        for ((i = 0; i < n; i++)); do
            run "${order[$(((i + r - 1) % n))]}" "$c" "$r"
        done
    done
done
echo
printf '%-6s %-9s %12s %10s %12s %14s %12s %18s\n' conns server "req/s(med)" "p99_us" "cpu_us/req" "redis_cpu/req" "lua_us/call" "ratio_vs_baseline"
for c in $conns; do
    for s in $servers; do
        rps=$(for ((r = 1; r <= repeats; r++)); do echo "${RPS[$s,$c,$r]}"; done | median)
        p99=$(for ((r = 1; r <= repeats; r++)); do echo "${P99[$s,$c,$r]}"; done | median)
        cpu=$(for ((r = 1; r <= repeats; r++)); do echo "${CPU[$s,$c,$r]}"; done | median)
        lua=$(for ((r = 1; r <= repeats; r++)); do echo "${LUA[$s,$c,$r]}"; done | { grep -v '^-$' || true; } | median)
        rcp=$(for ((r = 1; r <= repeats; r++)); do echo "${RCPU[$s,$c,$r]}"; done | { grep -v '^-$' || true; } | median)
        ratio=$(for ((r = 1; r <= repeats; r++)); do
            awk -v a="${RPS[$s,$c,$r]}" -v b="${RPS[baseline,$c,$r]}" 'BEGIN { printf "%.3f\n", a / b }'
        done | median)
        printf '%-6s %-9s %12s %10s %12s %14s %12s %18s\n' "$c" "$s" "$rps" "$p99" "$cpu" "$rcp" "$lua" "$ratio"
    done
done
echo "redis keys after the run: $(redis-cli -p "$RP" DBSIZE)"
