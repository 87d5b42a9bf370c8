#!/usr/bin/env bash
# sentinel.sh - portreeve-authd's lockout counters behind Redis Sentinel:
# a master, a replica and two Sentinels (redis-sentinel, quorum 1) on
# loopback ports in 28200-28249, slapd with tests/authd/authd_stack.sh's
# users, and portreeve-authd with redis_sentinels / redis_master_name,
# driven through its saslauthd socket (mux_client).
#
#   1. Failures are counted on the master that Sentinel names (the first
#      Sentinel in the list does not answer: the next one is asked), they
#      replicate, and the per-user lock holds after the configured number.
#      A Sentinel that names a replica is passed over (ROLE is not master):
#      the lock still holds (it never did before authd checked ROLE).
#   2. SENTINEL FAILOVER: logins keep working during the switch, within the
#      deadline; once Sentinel has made the old master a replica (and so
#      disconnected authd), authd follows to the new master, where the lock
#      holds and new failures are counted.
#   3. The new master is killed by PID: logins keep working on the
#      embedded store meanwhile (portreeve-authd(8): "If Redis fails, the
#      embedded in-memory store ... takes over at once ... Redis is retried
#      once a second"), and authd follows the second failover.
#   4. No Redis at all, then no Sentinel either: the embedded store decides
#      and still locks, every request within the deadline.
#
# One worker (authd_workers = 1): every worker keeps its own connection and
# follows a failover by itself with the same code, and one makes it certain
# which connection a request uses. authd_lockout_mirror_ttl = 0, so every
# lock check reads Redis and shows what the master holds.
#
# usage: sentinel.sh BUILD_DIR      (run by ctest as authd_sentinel)
set -uo pipefail
PT_REPO=$(cd "$(dirname "$0")/../.." && pwd)
AZ_BUILD=$(cd "${1:-$PT_REPO/build-authd}" && pwd)
. "$PT_REPO/tests/lib/common.sh"
. "$PT_REPO/tests/lib/assert.sh"
. "$PT_REPO/tests/authd/authd_stack.sh"
# This test's own ports (authd_stack.sh sets the integration test's range).
PT_PORT_MIN=28200
PT_PORT_MAX=28249
command -v redis-sentinel >/dev/null || { echo "SKIP: no redis-sentinel"; exit 77; }

MUXC=$AZ_BUILD/tests/authd/authd_mux_client
MASTER_NAME=authd-m
DEADLINE_MS=3000 # authd_deadline in az_authd_conf

pt_init authd-sentinel
base=$(pt_ports 7)
AZ_LDAP_PORT=$base
P1=$((base + 1))   # first master
P2=$((base + 2))   # its replica, master after the first failover
S1=$((base + 3))
S2=$((base + 4))
DEAD=$((base + 5)) # reserved, nothing listens: a Sentinel that does not answer
STALE=$((base + 6)) # a stand-in for a Sentinel with stale information
# redis_server points nowhere: only the Sentinel path can reach Redis.
AZ_REDIS_PORT=$DEAD

az_slapd

# redis-server on PORT (extra args after it); prints nothing, sets RPID_<PORT>.
redis_up() {
    local port=$1 i
    shift
    mkdir -p "$PT_TMP/redis-$port"
    pt_spawn "redis-$port" "$PT_TMP/redis-$port/redis.log" redis-server --bind 127.0.0.1 \
        --port "$port" --save '' --appendonly no --dir "$PT_TMP/redis-$port" "$@"
    eval "RPID_$port=$PT_PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    pt_die "redis-server on $port did not answer PING"
}
# Kill the redis-server on PORT by its recorded PID (a crash, not a stop).
redis_crash() {
    local pid
    eval "pid=\$RPID_$1"
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server.*:$1" ||
        pt_die "PID $pid is not the redis-server on $1"
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null # wait: no "Killed" job notice
}
sentinel_up() {
    local port=$1
    cat >"$PT_TMP/sentinel-$port.conf" <<EOC
bind 127.0.0.1
port $port
dir $PT_TMP
sentinel monitor $MASTER_NAME 127.0.0.1 $P1 1
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 5000
sentinel parallel-syncs $MASTER_NAME 1
EOC
    pt_spawn "sentinel-$port" "$PT_TMP/sentinel-$port.log" redis-sentinel "$PT_TMP/sentinel-$port.conf"
    eval "SPID_$port=$PT_PID"
    pt_wait_tcp 127.0.0.1 "$port" 10
}
# The master's port according to Sentinel S1.
sentinel_master() { redis-cli -p "$S1" SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | tail -n 1; }
wait_master() { # PORT SECS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ "$(sentinel_master)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
# Wait until both Sentinels see a replica on PORT whose link is up.
wait_replica_known() { # PORT SECS
    local i s ok
    for ((i = 0; i < $2 * 10; i++)); do
        ok=1
        for s in $S1 $S2; do
            redis-cli -p "$s" SENTINEL replicas "$MASTER_NAME" 2>/dev/null | tr '\n' ' ' |
                grep -Eq "port $1 .*master-link-status ok" || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}
# Wait until KEY on PORT holds VALUE.
wait_value() { # PORT KEY VALUE SECS
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        [ "$(redis-cli -p "$1" GET "$2" 2>/dev/null)" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
# A "Sentinel" that names the replica $P2 as the master, as a real one does
# for a moment when its information is stale (after a partition, or during
# a failover): it answers every command with that address.
stale_sentinel_up() {
    cat >"$PT_TMP/stale-sentinel.py" <<'EOP'
import socket, sys
port, answer = int(sys.argv[1]), sys.argv[2]
reply = b"*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%s\r\n" % (len(answer), answer.encode())
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
while True:
    c, _ = srv.accept()
    c.settimeout(2)
    try:
        if c.recv(4096):
            c.sendall(reply)
        c.recv(4096)  # until the client closes
    except OSError:
        pass
    c.close()
EOP
    pt_spawn stale-sentinel "$PT_TMP/stale-sentinel.log" python3 "$PT_TMP/stale-sentinel.py" "$STALE" "$P2"
    pt_wait_tcp 127.0.0.1 "$STALE" 10
}
# authd's configuration with this Sentinel list.
authd_with_sentinels() {
    [ -z "$AZ_AUTHD_PID" ] || az_stop_authd
    [ ! -f "$AZ_LOG" ] || cat "$AZ_LOG" >>"$PT_TMP/authd-all.log"
    az_authd_conf "authd_workers = 1" "redis_sentinels = $1" "redis_master_name = $MASTER_NAME" \
        "authd_lockout_user_limit = 3" "authd_lockout_user_ip_limit = 0" "authd_lockout_ip_limit = 0" \
        "authd_lockout_mirror_ttl = 0"
    az_authd
}
# One saslauthd request; prints "<reply word> <ms>".
mux() { "$MUXC" "$AZ_MUX" "$@" || true; }
# The last decision line for USER.
last_line() { grep "user=\"$1\"" "$AZ_LOG" | tail -n 1; }
# Logins of alice (right password) every 0.15 s for SECS, results to FILE.
login_loop() { # SECS FILE
    local end=$((SECONDS + $1))
    while [ "$SECONDS" -lt "$end" ]; do
        mux alice s3cret-A >>"$2"
        sleep 0.15
    done
}
# Lines of FILE that are not OK within the deadline ("" when all are).
not_ok_in_time() {
    awk -v d="$DEADLINE_MS" '!($1 == "OK" && $NF + 0 < d)' "$1" | head -n 3 | tr '\n' '|'
}
# The reply line if its time is within the deadline, else "late: LINE".
in_time() { awk -v d="$DEADLINE_MS" '{ print ($NF + 0 < d ? "" : "late: ") $0 }'; }
# Send alice's right password until a decision is made on Redis again (no
# store=embedded), at most SECS; prints how many requests that took.
until_redis() { # SECS
    local i
    for ((i = 1; i <= $1 * 4; i++)); do
        mux alice s3cret-A >/dev/null
        last_line alice | grep -q 'store=embedded' || { echo "$i"; return 0; }
        sleep 0.25
    done
    echo never
}
KEY_BOB='t:v1:af:u:{bob}' KEY_ALICE='t:v1:af:u:{alice}'

# --- master, replica, Sentinels, authd ---------------------------------------
redis_up "$P1"
redis_up "$P2" --replicaof 127.0.0.1 "$P1"
sentinel_up "$S1"
sentinel_up "$S2"
wait_replica_known "$P2" 20 || pt_die "the Sentinels do not see the replica on $P2: $(tail -n 5 "$PT_TMP/sentinel-$S1.log")"
t_check "Sentinel names the first master" "$(sentinel_master)" "^$P1\$"

authd_with_sentinels "127.0.0.1:$DEAD, 127.0.0.1:$S1 127.0.0.1:$S2"

# --- 1. counted on the master found through Sentinel ---------------------------
t_check "alice logs in" "$(mux alice s3cret-A)" '^OK '
t_check "authd reached Redis through the second Sentinel in the list" "$(cat "$AZ_LOG")" \
    'redis: connected to the Sentinel master'
t_check "the decision was made on Redis, not the embedded store" "$(last_line alice)" 'result=ok'
t_check_not "... (no store=embedded)" "$(last_line alice)" 'store=embedded'
for i in 1 2 3; do
    t_check "bob's wrong password $i is NO" "$(mux bob "wrong-$i")" '^NO '
done
t_check "the 3 failures are counted on the master ($P1)" "$(redis-cli -p "$P1" GET "$KEY_BOB")" '^3$'
wait_value "$P2" "$KEY_BOB" 3 5
t_check "and replicated to $P2" "$(redis-cli -p "$P2" GET "$KEY_BOB")" '^3$'
t_check "the counter has a TTL" "$(redis-cli -p "$P1" PTTL "$KEY_BOB")" '^[1-9][0-9]*$'
t_check "after 3 failures bob's right password is a temporary failure (hang-up)" \
    "$(mux bob b0b-Pass)" '^HANGUP '
t_check "the log says the user lock decided, on Redis" "$(last_line bob)" \
    'result=tempfail reason="user locked" ms='

# --- 1b. a Sentinel that names a replica ---------------------------------------
# The client's check (Redis' Sentinel client guidelines): ROLE must say
# "master", else ask the next Sentinel. A replica would answer the reads
# (no failures) and refuse the writes (READONLY): the lock would never hold.
stale_sentinel_up
authd_with_sentinels "127.0.0.1:$STALE, 127.0.0.1:$S1"
t_check "the stale Sentinel names the replica" \
    "$(redis-cli -p "$STALE" SENTINEL get-master-addr-by-name "$MASTER_NAME" | tail -n 1)" "^$P2\$"
for i in 1 2 3; do
    t_check "stale Sentinel first: alice's wrong password $i is NO" "$(mux alice "wrong-$i")" '^NO '
done
t_check "the failures are counted on the real master ($P1)" "$(redis-cli -p "$P1" GET "$KEY_ALICE")" '^3$'
t_check "authd said why it did not use $P2" "$(cat "$AZ_LOG")" "redis: .*$P2.* not a master"
sleep 1.2 # past a reconnect back-off, had there been one
t_check "the lock holds: alice's right password is a temporary failure" "$(mux alice s3cret-A)" '^HANGUP '
t_check "... decided on Redis" "$(last_line alice)" 'result=tempfail reason="user locked" ms='
redis-cli -p "$P1" DEL "$KEY_ALICE" >/dev/null
authd_with_sentinels "127.0.0.1:$DEAD, 127.0.0.1:$S1 127.0.0.1:$S2"

# --- 2. SENTINEL FAILOVER ----------------------------------------------------------
: >"$PT_TMP/during-1"
login_loop 4 "$PT_TMP/during-1" &
loop=$!
sleep 0.5
t_check "SENTINEL FAILOVER is accepted" "$(redis-cli -p "$S1" SENTINEL FAILOVER "$MASTER_NAME")" '^OK$'
wait_master "$P2" 20
t_check "Sentinel promoted $P2" "$(sentinel_master)" "^$P2\$"
wait "$loop"
t_check "logins during the failover: all OK within the ${DEADLINE_MS} ms deadline ($(wc -l <"$PT_TMP/during-1") requests)" \
    "$(not_ok_in_time "$PT_TMP/during-1")" '^$'
# The old master still runs and takes writes until Sentinel reconfigures it
# as a replica and disconnects its clients (CLIENT KILL TYPE normal): only
# then does a client reconnect and ask Sentinel again (portreeve-authd(8)).
t0=$SECONDS
for ((i = 0; i < 300; i++)); do
    [ "$(redis-cli -p "$P1" ROLE 2>/dev/null | head -n 1)" = slave ] && break
    sleep 0.1
done
t_check "Sentinel made the old master a replica (after $((SECONDS - t0)) s)" \
    "$(redis-cli -p "$P1" ROLE | head -n 1)" '^slave$'
n=$(until_redis 10)
t_check "authd follows the failover: decisions are made on Redis again (after $n requests)" "$n" '^[0-9]+$'
t_check "the lock set before the failover holds on the new master" "$(mux bob b0b-Pass)" '^HANGUP '
t_check "... decided on Redis" "$(last_line bob)" 'result=tempfail reason="user locked" ms='
t_check "a failure of alice" "$(mux alice wrong-1)" '^NO '
t_check "is counted on the new master ($P2)" "$(redis-cli -p "$P2" GET "$KEY_ALICE")" '^1$'
wait_value "$P1" "$KEY_ALICE" 1 10
t_check "and replicated to the old master" "$(redis-cli -p "$P1" GET "$KEY_ALICE")" '^1$'

# --- 3. the master is killed ---------------------------------------------------------
wait_replica_known "$P1" 20 || pt_note "the Sentinels do not list $P1 as a good replica yet"
: >"$PT_TMP/during-2"
login_loop 5 "$PT_TMP/during-2" &
loop=$!
sleep 0.5
mark=$(pt_log_size "$AZ_LOG")
redis_crash "$P2"
wait_master "$P1" 30
t_check "Sentinel promoted $P1 after $P2 was killed" "$(sentinel_master)" "^$P1\$"
wait "$loop"
t_check "logins while the master was gone: all OK within the deadline ($(wc -l <"$PT_TMP/during-2") requests)" \
    "$(not_ok_in_time "$PT_TMP/during-2")" '^$'
t_check "meanwhile the embedded store decided (the documented fallback)" \
    "$(pt_log_since "$AZ_LOG" "$mark" | grep 'user="alice"')" 'store=embedded'
t_check "and the log says why" "$(pt_log_since "$AZ_LOG" "$mark")" 'redis: .*(closed|reset|refused|cannot connect)'
n=$(until_redis 10)
t_check "authd follows the second failover (after $n requests)" "$n" '^[0-9]+$'
t_check "bob is still locked, on $P1" "$(mux bob b0b-Pass)" '^HANGUP '
t_check "... decided on Redis" "$(last_line bob)" 'result=tempfail reason="user locked" ms='
t_check "another failure of alice is counted on $P1, on top of the replicated one" \
    "$(mux alice wrong-2 >/dev/null; redis-cli -p "$P1" GET "$KEY_ALICE")" '^2$'

# --- 4. no Redis, then no Sentinel -------------------------------------------------
redis_crash "$P1"
mark=$(pt_log_size "$AZ_LOG")
t_check "no Redis: alice still logs in, within the deadline" "$(mux alice s3cret-A | in_time)" '^OK '
t_check "... on the embedded store" "$(last_line alice)" 'store=embedded'
for i in 1 2 3; do mux alice "guess-$i" >/dev/null; done
t_check "no Redis: the embedded store locks alice after 3 failures there" "$(mux alice s3cret-A | in_time)" '^HANGUP '
t_check "... and says so" "$(last_line alice)" 'reason="user locked".*store=embedded'
for s in $S1 $S2; do eval "pt_stop_pid \$SPID_$s redis-sentinel"; done
# bob's lock lived in Redis, out of reach now: the embedded store starts afresh.
t_check "no Sentinel either: logins work on the embedded store, within the deadline" \
    "$(mux bob b0b-Pass | in_time)" '^OK '
t_check "... store=embedded" "$(last_line bob)" 'result=ok.*store=embedded'
pt_stop_pid "$AZ_AUTHD_PID" portreeve-authd
t_check "no crash or sanitizer report in authd's log" \
    "$(grep -E 'Sanitizer|runtime error|reply .* lost' "$AZ_LOG" || true)" '^$'
t_done
