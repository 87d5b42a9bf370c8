#!/usr/bin/env bash
# run_authd_bench.sh - portreeve-authd against Debian's saslauthd -a ldap
# and a bare libldap search+bind client, all on the same slapd, measured in
# interleaved rounds so that the noise of a shared machine falls on every
# contender alike. Prints figures; asserts nothing (a benchmark, not a test).
#
# usage: run_authd_bench.sh [BUILD_DIR] [THREADS] [SECONDS] [USERS] [ROUNDS]
#        defaults: build-authd 16 3 200 5
#        AZ_AUTHD_BASELINE=/path/to/an/older/portreeve-authd adds that binary
#        (run with authd_workers = 8, as the first benchmark did) as "old"
#        and "old-c", for a before/after comparison in the same rounds.
#
# Contenders (all started first, idle while the others run):
#   ldap     bare libldap client: search as the service DN, bind as the user
#            (persistent connections; the baseline of what slapd allows)
#   authd    portreeve-authd, shipped defaults, Redis lockout store
#   sasl     saslauthd -a ldap (Debian's default -n 5)
#   authd-dn portreeve-authd with authd_ldap_dn_cache_ttl = 60s (opt-in: one
#            bind per login instead of search + bind; see DN CACHE in
#            portreeve-authd(8) for the trade-off)
#   authd-c  portreeve-authd with authd_cache_ttl = 60s
#   sasl-c   saslauthd -a ldap -c
# Goals (issue 4): authd >= 2x saslauthd's throughput at equal or better
# p99, >= 0.8x the bare client, and with the cache >= saslauthd -c; the
# other ratios are printed for information.
# Each round runs every contender once for SECONDS, in an order rotated by
# one each round (A B C D E, B C D E A, ...). Ratios are computed within a
# round (same minute, same neighbours), then the median over the rounds is
# reported with its range. "cpu/auth" is the CPU time the contender made
# the machine spend per authentication: its own processes plus slapd plus
# Redis (from /proc, so it includes everything that competes for the cores),
# and for the bare client its own CPU plus slapd; "slapd/auth" is slapd's
# share alone (what the directory is asked to do per authentication).
#
# Ports 26500-26999 only; everything runs in a temp dir and is stopped by
# PID at exit.
set -euo pipefail
PT_REPO=$(cd "$(dirname "$0")/../../.." && pwd)
AZ_BUILD=$(cd "${1:-$PT_REPO/build-authd}" && pwd)
THREADS=${2:-16} SECONDS_EACH=${3:-3} AZ_BENCH_USERS=${4:-200} ROUNDS=${5:-5}
. "$PT_REPO/tests/lib/common.sh"
. "$PT_REPO/tests/authd/authd_stack.sh"
BENCH=$AZ_BUILD/tests/authd/bench

pt_init authd-bench
az_ports
az_slapd
az_redis

# saslauthd -a ldap against the same slapd, same service account and filter.
sa_start() { # NAME OPTIONS...
    local name=$1 dir=$PT_TMP/$1
    shift
    mkdir -p "$dir"
    cat >"$dir/saslauthd.conf" <<CONF
ldap_servers: ldap://127.0.0.1:$AZ_LDAP_PORT/
ldap_bind_dn: cn=mailauth,ou=services,$AZ_SUFFIX
ldap_password: svc-pw
ldap_search_base: ou=people,$AZ_SUFFIX
ldap_filter: (&(objectClass=posixAccount)(uid=%u))
ldap_timeout: 2
CONF
    # saslauthd detaches and writes its pid file; its own session (setsid)
    # because it signals its whole process group on TERM.
    setsid saslauthd -a ldap -O "$dir/saslauthd.conf" -m "$dir" "$@" </dev/null >"$dir/out" 2>&1
    pt_wait_file "$dir/saslauthd.pid" 10
    printf '%s saslauthd\n' "$(cat "$dir/saslauthd.pid")" >>"$PT_TMP/pids"
    pt_wait_file "$dir/mux" 10
}

# Every process of a saslauthd instance (it forks its workers).
sa_pids() {
    local pid sid
    pid=$(cat "$PT_TMP/$1/saslauthd.pid")
    sid=$(ps -o sid= -p "$pid" | tr -d ' ')
    ps -o pid= --sid "$sid" | tr -d ' ' | tr '\n' ' '
}

# Sum of user+system clock ticks of the given processes (all their threads).
cpu_ticks() {
    local p t=0 f
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        f=$(sed -e 's/^.*) //' "/proc/$p/stat")
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    printf '%s\n' "$t"
}

TICK_US=$((1000000 / $(getconf CLK_TCK)))

# Two daemons side by side: shipped defaults, and the same with the cache on.
AZ_AUTHD_FLAGS=-f # no debug lines
AZ_AUTHD_DIR=$PT_TMP/authd-plain az_authd_conf 'authd_allowed_users = root'
az_authd
MUX_PLAIN=$AZ_MUX PID_PLAIN=$AZ_AUTHD_PID
AZ_AUTHD_DIR=$PT_TMP/authd-cache az_authd_conf 'authd_allowed_users = root' 'authd_cache_ttl = 60s'
az_authd
MUX_CACHE=$AZ_MUX PID_CACHE=$AZ_AUTHD_PID
AZ_AUTHD_DIR=$PT_TMP/authd-dn az_authd_conf 'authd_allowed_users = root' 'authd_ldap_dn_cache_ttl = 60s'
az_authd
MUX_DN=$AZ_MUX PID_DN=$AZ_AUTHD_PID
NAMES=(ldap authd sasl authd-dn authd-c sasl-c)
if [ -n "${AZ_AUTHD_BASELINE:-}" ]; then
    AZ_AUTHD=$AZ_AUTHD_BASELINE
    AZ_AUTHD_DIR=$PT_TMP/authd-old az_authd_conf 'authd_allowed_users = root' 'authd_workers = 8'
    az_authd
    MUX_OLD=$AZ_MUX PID_OLD=$AZ_AUTHD_PID
    AZ_AUTHD_DIR=$PT_TMP/authd-oldc az_authd_conf 'authd_allowed_users = root' 'authd_workers = 8' \
        'authd_cache_ttl = 60s'
    az_authd
    MUX_OLDC=$AZ_MUX PID_OLDC=$AZ_AUTHD_PID
    NAMES=(ldap authd sasl old authd-dn authd-c sasl-c old-c)
fi
sa_start sa
sa_start sac -c

declare -A LABEL=([ldap]="bare libldap search+bind" [authd]="portreeve-authd" [sasl]="saslauthd -a ldap"
    [authd-c]="portreeve-authd (cache)" [sasl-c]="saslauthd -a ldap -c" [authd-dn]="portreeve-authd (DN cache)"
    [old]="authd before (baseline)" [old-c]="authd before (cache)")

# Run one contender for $1 seconds; prints its line plus "cpu/auth".
run_one() { # NAME SECONDS
    local name=$1 secs=$2 pids out n c0 c1 cl s0 s1
    case $name in
    ldap) pids="" ;;
    authd) pids="$PID_PLAIN $AZ_REDIS_PID" ;;
    authd-c) pids="$PID_CACHE $AZ_REDIS_PID" ;;
    authd-dn) pids="$PID_DN $AZ_REDIS_PID" ;;
    old) pids="$PID_OLD $AZ_REDIS_PID" ;;
    old-c) pids="$PID_OLDC $AZ_REDIS_PID" ;;
    sasl) pids=$(sa_pids sa) ;;
    sasl-c) pids=$(sa_pids sac) ;;
    esac
    # shellcheck disable=SC2086 # word splitting of the pid list is wanted
    c0=$(cpu_ticks $AZ_SLAPD_PID $pids)
    s0=$(cpu_ticks $AZ_SLAPD_PID)
    case $name in
    ldap) out=$("$BENCH/authd_ldap_bench" "${LABEL[$name]}" "ldap://127.0.0.1:$AZ_LDAP_PORT/" \
        "ou=people,$AZ_SUFFIX" "cn=mailauth,ou=services,$AZ_SUFFIX" svc-pw "$THREADS" "$secs" \
        "$AZ_BENCH_USERS" || true) ;;
    authd) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$MUX_PLAIN" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    authd-c) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$MUX_CACHE" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    authd-dn) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$MUX_DN" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    old) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$MUX_OLD" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    old-c) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$MUX_OLDC" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    sasl) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$PT_TMP/sa/mux" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    sasl-c) out=$("$BENCH/authd_mux_bench" "${LABEL[$name]}" "$PT_TMP/sac/mux" "$THREADS" "$secs" "$AZ_BENCH_USERS" || true) ;;
    esac
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $AZ_SLAPD_PID $pids)
    s1=$(cpu_ticks $AZ_SLAPD_PID)
    n=$(printf '%s\n' "$out" | sed -n 's/^.* \([0-9][0-9]*\) auths in .*$/\1/p')
    cl=$(printf '%s\n' "$out" | sed -n 's/^.*client cpu \([0-9.]*\) us\/auth.*$/\1/p')
    [ "$name" = ldap ] || cl=0 # the load generator is not part of a daemon's cost
    awk -v out="$out" -v n="${n:-0}" -v t=$((c1 - c0)) -v s=$((s1 - s0)) -v us="$TICK_US" -v cl="${cl:-0}" \
        'BEGIN { c = n > 0 ? t * us / n + cl : 0; d = n > 0 ? s * us / n : 0
                 printf "%s, slapd/auth %.0f us, cpu/auth %.0f us\n", out, d, c }'
}

# Field of a result line: tput, p50, p99, cpu.
field() {
    case $2 in
    tput) sed -n 's/^.*= *\([0-9.]*\) auths\/s.*$/\1/p' <<<"$1" ;;
    p50) sed -n 's/^.*p50 *\([0-9.]*\) ms.*$/\1/p' <<<"$1" ;;
    p99) sed -n 's/^.*p99 *\([0-9.]*\) ms.*$/\1/p' <<<"$1" ;;
    cpu) sed -n 's/^.*cpu\/auth \([0-9.]*\) us$/\1/p' <<<"$1" ;;
    slapd) sed -n 's/^.*slapd\/auth \([0-9.]*\) us.*$/\1/p' <<<"$1" ;;
    esac
}

printf '# %s rounds of %ss per contender, %s client threads, %s users, one request per connection;\n' \
    "$ROUNDS" "$SECONDS_EACH" "$THREADS" "$AZ_BENCH_USERS"
printf '# slapd mdb on loopback; %s CPUs; load average at start: %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up, not counted: LDAP connections opened, caches filled.
for name in "${NAMES[@]}"; do run_one "$name" 1 >/dev/null; done

RES=$PT_TMP/results
: >"$RES"
for ((r = 1; r <= ROUNDS; r++)); do
    printf '# round %s\n' "$r"
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        name=${NAMES[$(((i + r - 1) % ${#NAMES[@]}))]}
        line=$(run_one "$name" "$SECONDS_EACH")
        printf '%s\n' "$line"
        printf '%s %s %s %s %s %s %s\n' "$r" "$name" "$(field "$line" tput)" "$(field "$line" p50)" \
            "$(field "$line" p99)" "$(field "$line" cpu)" "$(field "$line" slapd)" >>"$RES"
    done
done

# Medians per contender, then ratios computed within each round.
awk -v rounds="$ROUNDS" '
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function stat(name, col,    i, a) { for (i = 1; i <= rounds; i++) a[i] = v[i, name, col]; return median(a, rounds) }
function ratio(x, y, col, label, goal, want,    i, a, lo, hi, m, met) {
    lo = 1e9; hi = 0
    for (i = 1; i <= rounds; i++) {
        a[i] = v[i, y, col] > 0 ? v[i, x, col] / v[i, y, col] : 0
        if (a[i] < lo) lo = a[i]
        if (a[i] > hi) hi = a[i]
    }
    m = median(a, rounds)
    met = want == "ge" ? m >= goal : m <= goal
    if (want == "")
        printf "%-44s median %5.2f  (rounds: %.2f .. %.2f)\n", label, m, lo, hi
    else
        printf "%-44s median %5.2f  (rounds: %.2f .. %.2f)  goal %s %.2f: %s\n", label, m, lo, hi,
            want == "ge" ? ">=" : "<=", goal, met ? "met" : "NOT met"
}
{ v[$1, $2, "tput"] = $3; v[$1, $2, "p50"] = $4; v[$1, $2, "p99"] = $5; v[$1, $2, "cpu"] = $6
  v[$1, $2, "slapd"] = $7; seen[$2] = 1 }
END {
    printf "# medians over %d rounds\n", rounds
    printf "%-28s %10s %9s %9s %10s %11s\n", "contender", "auths/s", "p50 ms", "p99 ms", "cpu/auth",
        "slapd/auth"
    n = split("ldap authd sasl old authd-dn authd-c sasl-c old-c", order, " ")
    for (k = 1; k <= n; k++)
        if (order[k] in seen)
            printf "%-28s %10.0f %9.2f %9.2f %8.0f us %8.0f us\n", order[k], stat(order[k], "tput"),
                stat(order[k], "p50"), stat(order[k], "p99"), stat(order[k], "cpu"),
                stat(order[k], "slapd")
    printf "# ratios, each computed within a round, then the median\n"
    ratio("authd", "sasl", "tput", "throughput authd / saslauthd", 2.0, "ge")
    ratio("authd", "sasl", "p99", "p99 authd / saslauthd", 1.0, "le")
    ratio("authd", "ldap", "tput", "throughput authd / bare libldap", 0.8, "ge")
    ratio("authd-c", "sasl-c", "tput", "throughput authd (cache) / saslauthd -c", 1.0, "ge")
    ratio("authd-c", "sasl-c", "p99", "p99 authd (cache) / saslauthd -c", 0, "")
    ratio("authd", "sasl", "cpu", "cpu/auth authd / saslauthd", 0, "")
    ratio("authd", "ldap", "cpu", "cpu/auth authd / bare libldap", 0, "")
    ratio("authd", "sasl", "slapd", "slapd/auth authd / saslauthd", 0, "")
    ratio("authd-dn", "sasl", "tput", "opt-in DN cache: throughput / saslauthd", 0, "")
    ratio("authd-dn", "sasl", "p99", "opt-in DN cache: p99 / saslauthd", 0, "")
    ratio("authd-dn", "ldap", "tput", "opt-in DN cache: throughput / bare libldap", 0, "")
    if ("old" in seen) {
        ratio("authd", "old", "tput", "throughput authd / authd before", 0, "")
        ratio("authd", "old", "p99", "p99 authd / authd before", 0, "")
        ratio("authd-c", "old-c", "tput", "throughput authd (cache) / before (cache)", 0, "")
        ratio("old", "sasl", "tput", "before: throughput authd / saslauthd", 0, "")
        ratio("old", "ldap", "tput", "before: throughput authd / bare libldap", 0, "")
        ratio("old-c", "sasl-c", "tput", "before: authd (cache) / saslauthd -c", 0, "")
    }
}' "$RES"
