# redis.sh - a throwaway redis-server on loopback for the tests.
#
#   rd_start [EXTRA_ARGS...]
#       redis-server in the foreground on 127.0.0.1:$RD_PORT (allocated with
#       pt_ports unless set), no persistence (--save '' --appendonly no),
#       working dir $PT_TMP/redis-PORT, log there; waits until it answers
#       PING. Sets RD_PORT and RD_PID (save them to run several).
#   rd_cli ARGS...      redis-cli against it
#   rd_stop             SIGTERM by recorded PID
#   rd_quota_count PORT PREFIX PRINCIPAL KIND LEN_MS
#                       units a principal's quota series (KIND m or r,
#                       window LEN_MS) counts in the Redis on PORT: its
#                       running total in the v3 state (policyd/quota.lua);
#                       0 when there is none
#
# Never the default port 6379, never any address but 127.0.0.1. Needs
# common.sh.

RD_PORT=
RD_PID=

rd_start() {
    local dir i
    [ -n "$RD_PORT" ] || RD_PORT=$(pt_ports 1)
    dir=$PT_TMP/redis-$RD_PORT
    mkdir -p "$dir"
    pt_spawn "redis-$RD_PORT" "$dir/redis.log" redis-server --bind 127.0.0.1 --port "$RD_PORT" \
        --save '' --appendonly no --dir "$dir" --daemonize no "$@"
    RD_PID=$PT_PID
    for ((i = 0; i < 100; i++)); do
        [ "$(redis-cli -h 127.0.0.1 -p "$RD_PORT" ping 2>/dev/null)" = PONG ] && return 0
        pt_alive "$RD_PID" || break
        sleep 0.1
    done
    pt_die "redis-server on 127.0.0.1:$RD_PORT did not answer PING: $(tail -n 3 "$dir/redis.log")"
}

rd_cli() {
    redis-cli -h 127.0.0.1 -p "$RD_PORT" "$@"
}

rd_stop() {
    pt_stop_pid "$RD_PID" redis-server
}

rd_quota_count() {
    redis-cli -h 127.0.0.1 -p "$1" EVAL "
local b = redis.call('GET', KEYS[1])
if not b then return 0 end
local _, ns = struct.unpack('<BBB', b)
local pos, k, l, g, t = 4
for i = 1, ns do
  k, l, g, t, _, _, _, pos = struct.unpack('<Bdddddd', b, pos)
  if k == tonumber(ARGV[1]) and l == tonumber(ARGV[2]) then return t end
end
return 0" 1 "$2:v3:q:p:{$3}" "$([ "$4" = r ] && echo 1 || echo 0)" "$5"
}
