#!/usr/bin/env bash
# postfix_e2e.sh - SMTP AUTH through a private Postfix 3.7 with
# portreeve-authd and libportreeve.so against real slapd ({SSHA} users) and
# Redis, driven by swaks.
#
# Postfix comes from tests/lib/postfix.sh (the shipped postfix-conf/
# fragments, listeners on three loopback ports standing for 25/587/465,
# chroot=n, nothing can leave); slapd, Redis and authd from
# tests/authd/authd_stack.sh. usage: postfix_e2e.sh BUILD_DIR
set -euo pipefail
PT_REPO=$(cd "$(dirname "$0")/../.." && pwd)
AZ_BUILD=$(cd "${1:-$PT_REPO/build-authd}" && pwd)
. "$PT_REPO/tests/lib/common.sh"
. "$PT_REPO/tests/lib/assert.sh"
. "$PT_REPO/tests/lib/tls.sh"
. "$PT_REPO/tests/lib/postfix.sh"
. "$PT_REPO/tests/authd/authd_stack.sh"

pt_init authd-e2e
az_ports
az_slapd
az_redis
az_authd_conf 'authd_deadline = 3s'
az_authd
base=$(pt_ports 3)
pf_create "$PT_TMP/postfix" 127.0.0.1 "$base" $((base + 1)) $((base + 2))
P587=$((base + 1)) P465=$((base + 2))
cat >"$PF_ETC/sasl/smtpd.conf" <<CONF
pwcheck_method: saslauthd
saslauthd_path: $AZ_MUX
mech_list: PLAIN LOGIN
auxprop_plugin: portreeve
portreeve_gate_socket: $AZ_GATE
CONF
pf_set "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME SASL_PATH=$AZ_BUILD/saslauthd-ldap/plugins:/usr/lib/x86_64-linux-gnu/sasl2"
pf_start

# One AUTH; prints the server's last reply line and the seconds taken.
auth() {
    local port=$1 mech=$2 user=$3 pass=$4 src=${5:-127.0.0.1} tls=--tls t0 out
    [ "$port" = "$P465" ] && tls=--tlsc
    t0=$(date +%s.%N)
    out=$(swaks --server 127.0.0.1 --port "$port" --local-interface "$src" $tls --timeout 15 \
        --quit-after AUTH --auth "$mech" --auth-user "$user" --auth-password "$pass" 2>&1 || true)
    printf '%s %.1fs\n' "$(printf '%s\n' "$out" | grep -E '^ *<~\*? +[245][0-9][0-9] ' |
        grep -Ev '<~\*? +(220|221|250) ' | tail -n 1 |
        sed -E 's/^ *<~\*? +//')" "$(echo "$(date +%s.%N) - $t0" | bc)"
}

for port in "$P587" "$P465"; do
    for mech in PLAIN LOGIN; do
        t_check "$mech on port $port: 235" "$(auth "$port" "$mech" alice s3cret-A)" '^235 '
    done
done
t_check "wrong password: 535" "$(auth "$P587" PLAIN alice wrong-pw)" '^535 '
t_check "al* with alice's password: 535" "$(auth "$P587" PLAIN 'al*' s3cret-A)" '^535 '
for u in john.doe a.lice alice@example.org alice@other.example; do
    t_check "$u is refused (535)" "$(auth "$P587" LOGIN "$u" s3cret-A)" '^535 '
done
t_check "the refusal tells the user to use the login name (log)" \
    "$(grep 'use your login name' "$PF_LOG" | head -n 1)" 'use your login name, not your e-mail address'
empty=$(python3 - "$P587" <<'PY'
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.starttls(context=ssl._create_unverified_context())
s.ehlo()
code, msg = s.docmd("AUTH", "PLAIN AGFsaWNlAA==")  # \0alice\0: empty password
print(code, msg.decode())
PY
)
t_check "empty password is refused (535)" "$empty" '^535 '

# Lockout: 5 failures from 127.0.0.3, then the right password is held back
# from there (454) and still works from 127.0.0.4.
for i in 1 2 3 4 5; do auth "$P587" PLAIN bob wrong 127.0.0.3 >/dev/null; done
t_check "after 5 failures from one IP: 454" "$(auth "$P587" PLAIN bob b0b-Pass 127.0.0.3)" '^454 '
t_check "the same user from another IP: 235" "$(auth "$P587" PLAIN bob b0b-Pass 127.0.0.4)" '^235 '

# Redis stopped: AUTH still works.
az_stop_redis
t_check "Redis stopped: 235" "$(auth "$P587" PLAIN alice s3cret-A)" '^235 '
az_redis

# LDAP stopped: 454 within the deadline.
az_stop_slapd
t_check "LDAP stopped: 454 well within the deadline" "$(auth "$P587" PLAIN alice s3cret-A)" '^454 .* [0-3]\.[0-9]s$'
az_slapd
t_check "LDAP back: 235" "$(auth "$P587" PLAIN alice s3cret-A)" '^235 '

# LDAP black-holed (SIGSTOP): 454 within the deadline, smtpd not stalled.
kill -STOP "$AZ_SLAPD_PID"
pt_on_exit "kill -CONT $AZ_SLAPD_PID"
auth "$P587" PLAIN alice s3cret-A >"$PT_TMP/bh" &
bh=$!
sleep 0.3
t_check "LDAP black-holed: another client's session goes on meanwhile" \
    "$(swaks --server 127.0.0.1 --port "$P587" --tls --quit-after EHLO --timeout 5 2>&1 | grep -c '250 ' || true)" '^[1-9]'
wait "$bh" || true
t_check "LDAP black-holed: 454 within the deadline (3 s + margin)" "$(cat "$PT_TMP/bh")" '^454 .* [0-3]\.[0-9]s$'
kill -CONT "$AZ_SLAPD_PID"

t_check "smtpd logged no panic or fatal" "$(grep -E 'panic|fatal' "$PF_LOG" || true)" '^$'
t_done
