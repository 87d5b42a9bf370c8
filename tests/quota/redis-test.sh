#!/usr/bin/env bash
# redis-test.sh BINARY - start a throwaway redis-server on a loopback port
# (27500-27749), run BINARY against it, stop the server by PID.
set -u
bin=$1
command -v redis-server >/dev/null || { echo "no redis-server: skipped"; exit 77; }
dir=$(mktemp -d /tmp/portreeve-quota-redis.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
for try in 1 2 3 4 5 6 7 8; do
    port=$((27500 + RANDOM % 250))
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
        >"$dir/redis.log" 2>&1 &
    pid=$!
    for i in $(seq 50); do
        redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # Ours, not another test's server on the same port (ours then failed to bind).
    [ "$(redis-cli -p "$port" INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ] && break
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
done
[ -n "$pid" ] || { echo "could not start redis-server"; exit 1; }
QUOTA_TEST_REDIS_PORT=$port "$bin"
