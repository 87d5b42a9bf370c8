#!/usr/bin/env bash
# lib-selftest.sh - the stack helpers in tests/lib do what the other tests
# rely on: ports are free, in range and not handed out twice, given back
# when the script that reserved them exits (its own only, not a concurrent
# run's), expired after an hour, and a failed reservation inside $(...)
# ends the calling script; processes are stopped by recorded PID at exit
# and never by a PID whose command line does not match; the temp dir goes
# away; Redis and slapd come up with the data they were given.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/common.sh"
. "$HERE/../lib/redis.sh"
. "$HERE/../lib/slapd.sh"
. "$HERE/../lib/assert.sh"

pt_init lib-selftest

# Ports.
a=$(pt_ports 3)
b=$(pt_ports 3)
t_check "pt_ports: a block in 24000-24999 (got $a)" "$([ "$a" -ge 24000 ] && [ $((a + 2)) -le 24999 ] && echo in)" '^in$'
t_check "pt_ports: two blocks do not overlap (got $a and $b)" \
    "$([ $((a + 3)) -le "$b" ] || [ $((b + 3)) -le "$a" ] && echo apart)" '^apart$'

# The registry: each reservation names its owner; a script gives back its
# own ports at exit, and only those; entries older than an hour expire.
REG=/tmp/portreeve-ports.reg
# Registry lines owned by PID, as "port port ..." (sorted).
reg_owned() { awk -v o="$1" '$3 == o { print $1 }' "$REG" | sort -n | tr '\n' ' ' | sed 's/ $//'; }
# "port port ..." of blocks BASE:N..., sorted like reg_owned.
ports_of() {
    local x
    for x in "$@"; do seq "${x%:*}" $((${x%:*} + ${x#*:} - 1)); done | sort -n | tr '\n' ' ' | sed 's/ $//'
}
t_check "registry: this script's ports are recorded with its PID" "$(reg_owned $$)" "^$(ports_of "$a:3" "$b:3")\$"
# A concurrent run (child 2) holds a block while child 1 reserves two blocks
# and fails; child 1's ports go, child 2's and ours stay until their owners exit.
cat >"$PT_TMP/ports-child.sh" <<EOF
. "$HERE/../lib/common.sh"
pt_init lib-ports-child
x=\$(pt_ports 2)
y=\$(pt_ports 1)
echo "\$\$ \$x \$y" >"$PT_TMP/ports-\$1.out"
[ "\$1" = 1 ] && exit 3 # a failing run gives its ports back too
touch "$PT_TMP/ports-2.ready"
for ((i = 0; i < 300; i++)); do [ -e "$PT_TMP/ports-2.go" ] && exit 0; sleep 0.1; done
exit 0
EOF
bash "$PT_TMP/ports-child.sh" 2 &
child2=$!
for ((i = 0; i < 100; i++)); do [ -e "$PT_TMP/ports-2.ready" ] && break; sleep 0.1; done
read -r c2pid c2x c2y <"$PT_TMP/ports-2.out"
t_check "registry: a concurrent run's ports are recorded with its PID" "$(reg_owned "$c2pid")" \
    "^$(ports_of "$c2x:2" "$c2y:1")\$"
bash "$PT_TMP/ports-child.sh" 1
read -r c1pid c1x c1y <"$PT_TMP/ports-1.out"
t_check "pt_ports: a run that exits (rc 3) gives its ports back" "$(reg_owned "$c1pid")" '^$'
t_check "pt_ports: ... all of them" \
    "$(awk -v a="$c1x" -v b="$c1y" '$1 == a || $1 == a + 1 || $1 == b' "$REG")" '^$'
t_check "pt_ports: ... and not a concurrent run's reservation" "$(reg_owned "$c2pid")" \
    "^$(ports_of "$c2x:2" "$c2y:1")\$"
t_check "pt_ports: ... nor this script's" "$(reg_owned $$)" "^$(ports_of "$a:3" "$b:3")\$"
touch "$PT_TMP/ports-2.go"
wait "$child2"
t_check "pt_ports: the concurrent run gives its ports back when it exits" "$(reg_owned "$c2pid")" '^$'
t_check "pt_ports: this script's ports are still reserved" "$(reg_owned $$)" "^$(ports_of "$a:3" "$b:3")\$"
# The safety net for killed runs: a line over an hour old is dropped by the
# next reservation (port 1, owner 0: nobody's).
(
    flock -w 30 9 || exit 1
    printf '1 %s 0\n' "$(($(date +%s) - 3601))" >>"$REG"
) 9>/tmp/portreeve-ports.lock
c=$(pt_ports 1)
t_check "pt_ports: an entry older than an hour expires" "$(awk '$1 == 1 && $3 == 0' "$REG")" '^$'

# A failed pt_ports in $(...) ends the calling script (no set -e there):
# a range too small, then a range whose only candidate port is ours.
for range in "$a $a 1" "$a $((a + 1)) 1"; do
    set -- $range
    cat >"$PT_TMP/ports-fail.sh" <<EOF
PT_PORT_MIN=$1 PT_PORT_MAX=$2
. "$HERE/../lib/common.sh"
pt_init lib-ports-fail
x=\$(pt_ports $3)
echo "went on with x='\$x'" >"$PT_TMP/ports-fail.out"
EOF
    rm -f "$PT_TMP/ports-fail.out"
    out=$(bash "$PT_TMP/ports-fail.sh" 2>&1)
    rc=$?
    t_check "pt_ports failing in $1-$2: the caller exits 1" "$rc" '^1$'
    t_check "pt_ports failing in $1-$2: ... with FAIL on stderr" "$out" '^FAIL: pt_ports: '
    t_check "pt_ports failing in $1-$2: ... and goes no further" "$(cat "$PT_TMP/ports-fail.out" 2>/dev/null)" '^$'
done
t_check "pt_ports: the failed runs took no port and left ours" "$(reg_owned $$)" "^$(ports_of "$a:3" "$b:3" "$c:1")\$"

# A child run's EXIT trap stops what it started and removes its temp dir.
cat >"$PT_TMP/child.sh" <<EOF
. "$HERE/../lib/common.sh"
pt_init lib-child
echo "\$PT_TMP" >"$PT_TMP/child.tmp"
pt_spawn sleeper "\$PT_TMP/sleep.log" sleep 300
echo "\$PT_PID" >"$PT_TMP/child.pid"
exit 0
EOF
bash "$PT_TMP/child.sh"
t_check "EXIT trap: the temp dir is removed" "$([ -d "$(cat "$PT_TMP/child.tmp")" ] && echo exists)" '^$'
t_check "EXIT trap: the spawned process is stopped" "$(pt_alive "$(cat "$PT_TMP/child.pid")" && echo alive)" '^$'

# pt_stop_pid refuses a PID whose command line does not name the program.
setsid sleep 300 </dev/null >/dev/null 2>&1 &
victim=$!
printf '%s sleep\n' "$victim" >>"$PT_TMP/pids"
pt_stop_pid "$victim" redis-server 2>/dev/null
t_check "pt_stop_pid: a mismatched command line is not killed" "$(pt_alive "$victim" && echo alive)" '^alive$'
pt_stop_pid "$victim" sleep
t_check "pt_stop_pid: the matching process is stopped" "$(pt_alive "$victim" && echo alive)" '^$'

# Redis.
rd_start
t_check "redis: answers on its loopback port" "$(rd_cli set portreeve ok >/dev/null; rd_cli get portreeve)" '^ok$'
t_check "redis: bound to 127.0.0.1 only" "$(ss -Hltn "sport = :$RD_PORT" | awk '{ print $4 }' | sort -u | tr '\n' ' ')" "^127\\.0\\.0\\.1:$RD_PORT \$"
rd_stop
t_check "redis: stopped by PID" "$(pt_alive "$RD_PID" && echo alive)" '^$'

# slapd with {SSHA} users.
ld_user alice 'alice pw 1'
ld_start
t_check "slapd: the user binds with her password" \
    "$(ldapwhoami -x -H "$LD_URI" -D "uid=alice,ou=people,$LD_SUFFIX" -w 'alice pw 1' 2>&1)" "^dn:uid=alice,ou=people,$LD_SUFFIX\$"
t_check "slapd: a wrong password is refused" \
    "$(ldapwhoami -x -H "$LD_URI" -D "uid=alice,ou=people,$LD_SUFFIX" -w wrong 2>&1)" 'Invalid credentials \(49\)'
t_check "slapd: the password is stored as {SSHA}" \
    "$(slapcat -f "$PT_TMP/slapd/slapd.conf" -a '(uid=alice)' 2>/dev/null | grep '^userPassword::' | cut -d' ' -f2 | base64 -d)" '^\{SSHA\}'
ld_stop
t_check "slapd: stopped by PID" "$(pt_alive "$LD_PID" && echo alive)" '^$'

t_done
