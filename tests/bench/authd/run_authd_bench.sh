#!/usr/bin/env bash
# run_authd_bench.sh - one run, same slapd, same load: portreeve-authd
# (with Redis lockout, cache off and on), Debian's saslauthd -a ldap
# (without and with -c), and a bare libldap search+bind client as the
# baseline of what the directory allows. Prints one line of figures per
# contender; asserts nothing (a benchmark, not a test).
#
# usage: run_authd_bench.sh [BUILD_DIR] [THREADS] [SECONDS] [USERS]
# Ports 26500-26999 only; everything runs in a temp dir and is stopped by
# PID at exit.
set -euo pipefail
PT_REPO=$(cd "$(dirname "$0")/../../.." && pwd)
AZ_BUILD=$(cd "${1:-$PT_REPO/build-authd}" && pwd)
THREADS=${2:-16} SECONDS_EACH=${3:-5} AZ_BENCH_USERS=${4:-200}
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
sa_stop() { pt_stop_pid "$(cat "$PT_TMP/$1/saslauthd.pid")" saslauthd; }

run() { "$BENCH/authd_mux_bench" "$@" "$THREADS" "$SECONDS_EACH" "$AZ_BENCH_USERS" || true; }

printf '# %s threads, %ss each, %s users, one request per connection; slapd mdb on loopback; %s CPUs\n' \
    "$THREADS" "$SECONDS_EACH" "$AZ_BENCH_USERS" "$(nproc)"
"$BENCH/authd_ldap_bench" "bare libldap search+bind" "ldap://127.0.0.1:$AZ_LDAP_PORT/" \
    "ou=people,$AZ_SUFFIX" "cn=mailauth,ou=services,$AZ_SUFFIX" svc-pw "$THREADS" "$SECONDS_EACH" \
    "$AZ_BENCH_USERS" || true

AZ_AUTHD_FLAGS=-f # no debug lines
az_authd_conf 'authd_workers = 8' 'authd_allowed_users = root'
az_authd
run "portreeve-authd (redis)" "$AZ_MUX"
az_stop_authd
az_authd_conf 'authd_workers = 8' 'authd_allowed_users = root' 'redis_server ='
az_authd
run "portreeve-authd (embedded)" "$AZ_MUX"
az_stop_authd

sa_start sa5 -n 5
run "saslauthd -a ldap -n 5" "$PT_TMP/sa5/mux"
sa_stop sa5
sa_start sa8 -n 8
run "saslauthd -a ldap -n 8" "$PT_TMP/sa8/mux"
sa_stop sa8

az_authd_conf 'authd_workers = 8' 'authd_allowed_users = root' 'authd_cache_ttl = 60s'
az_authd
run "portreeve-authd (cache, redis)" "$AZ_MUX" >/dev/null # warm the cache
run "portreeve-authd (cache, redis)" "$AZ_MUX"
az_stop_authd
az_authd_conf 'authd_workers = 8' 'authd_allowed_users = root' 'authd_cache_ttl = 60s' 'redis_server ='
az_authd
run "portreeve-authd (cache, embedded)" "$AZ_MUX" >/dev/null
run "portreeve-authd (cache, embedded)" "$AZ_MUX"
az_stop_authd

sa_start sac -n 8 -c
run "saslauthd -a ldap -c -n 8" "$PT_TMP/sac/mux" >/dev/null # warm the cache
run "saslauthd -a ldap -c -n 8" "$PT_TMP/sac/mux"
sa_stop sac
