#!/usr/bin/env bash
# lib-selftest.sh - the stack helpers in tests/lib do what the other tests
# rely on: ports are free, in range and not handed out twice; processes are
# stopped by recorded PID at exit and never by a PID whose command line
# does not match; the temp dir goes away; Redis and slapd come up with the
# data they were given.
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
