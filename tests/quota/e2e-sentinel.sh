#!/usr/bin/env bash
# e2e-sentinel.sh - portreeve-policyd follows a Redis Sentinel failover:
# master + replica + one Sentinel (redis-sentinel, quorum 1) on loopback
# ports in 27500-27999; the master is killed, Sentinel promotes the
# replica, and the daemon's quota checks go to the new master.
set -uo pipefail
PT_PORT_MIN=27500 PT_PORT_MAX=27999
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/redis.sh"
command -v redis-sentinel >/dev/null || { echo "SKIP: no redis-sentinel"; exit 77; }
PD_BIN=${PORTREEVE_POLICYD:?set PORTREEVE_POLICYD}
CLIENT="python3 $(dirname "$0")/policy-client.py"

pt_init e2e-sentinel
base=$(pt_ports 5)
M=$base R=$((base + 1)) S=$((base + 2)) PD=$((base + 3))

RD_PORT=$M
rd_start
M_PID=$RD_PID
RD_PORT=$R
rd_start --replicaof 127.0.0.1 "$M"
cat >"$PT_TMP/sentinel.conf" <<EOC
bind 127.0.0.1
port $S
dir $PT_TMP
sentinel monitor pq 127.0.0.1 $M 1
sentinel down-after-milliseconds pq 1000
sentinel failover-timeout pq 5000
sentinel parallel-syncs pq 1
EOC
pt_spawn sentinel "$PT_TMP/sentinel.log" redis-sentinel "$PT_TMP/sentinel.conf"
pt_wait_tcp 127.0.0.1 "$S" 10
cat >"$PT_TMP/portreeve.conf" <<EOC
policyd_listen = inet:127.0.0.1:$PD
policyd_user =
policyd_pid_file =
policyd_port_roles = 25:mx 587:submission 465:submissions
redis_sentinels = 127.0.0.1:$S
redis_master_name = pq
redis_connect_timeout = 500ms
policyd_quota_submission_messages = 2/1h
EOC
pt_spawn policyd "$PT_TMP/policyd.log" "$PD_BIN" -c "$PT_TMP/portreeve.conf" -f
pt_wait_tcp 127.0.0.1 "$PD" 10
sleep 1
count() { rd_quota_count "$1" pp "u:$2" m 3600000; }

t_check "through Sentinel: alice sends 1 message" "$($CLIENT 127.0.0.1 "$PD" 587 alice msg:1)" '^DUNNO$'
t_check "it is counted on the master found through Sentinel" "$(count "$M" alice)" '^1$'
for ((i = 0; i < 50; i++)); do [ "$(count "$R" alice)" = 1 ] && break; sleep 0.1; done
t_check "and replicated" "$(count "$R" alice)" '^1$'

pid=$M_PID
tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q redis-server && kill -KILL "$pid"
for ((i = 0; i < 200; i++)); do
    redis-cli -p "$S" SENTINEL get-master-addr-by-name pq 2>/dev/null | grep -qx "$R" && break
    sleep 0.1
done
t_check "Sentinel promoted the replica" \
    "$(redis-cli -p "$S" SENTINEL get-master-addr-by-name pq | tail -1)" "^$R\$"
pt_wait_log "$PT_TMP/policyd.log" "redis: connected again to 127.0.0.1:$R" 20 || true
t_check "the daemon follows the failover to the new master" \
    "$(grep -c "connected again to 127.0.0.1:$R" "$PT_TMP/policyd.log")" '^[1-9]'
t_check "alice's count survived on the new master: 1 more, then deferred" \
    "$($CLIENT 127.0.0.1 "$PD" 587 alice msg:1 msg:1 | tr '\n' ' ')" '^DUNNO DEFER_IF_PERMIT'
t_check "the new master holds the count" "$(count "$R" alice)" '^2$'
t_done
