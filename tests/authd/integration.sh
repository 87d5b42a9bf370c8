#!/usr/bin/env bash
# integration.sh - portreeve-authd and libportreeve.so against a real slapd
# ({SSHA} users) and a real Redis, driven through the saslauthd protocol
# (mux_client) and through libsasl2 the way smtpd drives it
# (sasl_harness: sasl_server_new with ipremoteport, PLAIN and LOGIN).
#
# usage: integration.sh BUILD_DIR      (run by ctest as authd_integration)
set -euo pipefail
PT_REPO=$(cd "$(dirname "$0")/../.." && pwd)
AZ_BUILD=$(cd "${1:-$PT_REPO/build-authd}" && pwd)
. "$PT_REPO/tests/lib/common.sh"
. "$PT_REPO/tests/lib/assert.sh"
. "$PT_REPO/tests/authd/authd_stack.sh"

MUXC=$AZ_BUILD/tests/authd/authd_mux_client
HARNESS=$AZ_BUILD/tests/authd/authd_sasl_harness
PLUGDIRS=$AZ_BUILD/saslauthd-ldap/plugins:/usr/lib/x86_64-linux-gnu/sasl2

pt_init authd-int
az_ports
AZ_SLAPD_LOGLEVEL=256 # stats: shows the binds authd makes
az_slapd
az_redis

# One saslauthd request; prints "<reply word> <ms>".
mux() { "$MUXC" "$AZ_MUX" "$@" || true; }
# smtpd.conf for the harness: the gate on unless told otherwise.
sasl_conf() {
    mkdir -p "$PT_TMP/sasl"
    {
        printf 'pwcheck_method: saslauthd\nsaslauthd_path: %s\nmech_list: PLAIN LOGIN\nauxprop_plugin: portreeve\n' "$AZ_MUX"
        for l in "$@"; do printf '%s\n' "$l"; done
    } >"$PT_TMP/sasl/smtpd.conf"
}
# One libsasl2 authentication: prints "RESULT <name> <code> <detail>".
sasl() { "$HARNESS" "$PT_TMP/sasl" "$PLUGDIRS" "$@" 2>/dev/null || true; }
restart_authd() { az_stop_authd; az_authd_conf "$@"; az_authd; }

# --- configuration handling ------------------------------------------------
az_authd_conf 'authd_no_such_key = 1'
out=$("$AZ_AUTHD" -t -c "$AZ_CONF" 2>&1 || true)
t_check "-t names an unknown key" "$out" 'unknown parameter "authd_no_such_key"'
az_authd_conf 'authd_ldap_scope = everywhere'
out=$("$AZ_AUTHD" -t -c "$AZ_CONF" 2>&1 || true)
t_check "-t names a bad value" "$out" 'authd_ldap_scope = everywhere: want base, one or sub'
az_authd_conf
chmod 644 "$PT_TMP/authd/bind.pw"
out=$("$AZ_AUTHD" -t -c "$AZ_CONF" 2>&1 || true)
t_check "a bind password file readable by others is refused" "$out" 'must not be readable by group or others'
chmod 600 "$PT_TMP/authd/bind.pw"
out=$("$AZ_AUTHD" -n -c "$AZ_CONF")
t_check "-n prints settings that differ" "$out" '^authd_ldap_timeout = 1s'
t_check_not "-n skips the other daemon's keys" "$out" 'policyd_'

az_authd
want=$(($(nproc) * 4)); [ "$want" -lt 4 ] && want=4; [ "$want" -gt 32 ] && want=32
t_check "authd_workers = 0 (default) starts 4 per CPU" "$(grep ' ready: ' "$AZ_LOG")" "ready: $want workers,"

# --- the saslauthd protocol --------------------------------------------------
t_check "right password is OK" "$(mux alice s3cret-A)" '^OK '
t_check "wrong password is NO" "$(mux alice wrong)" '^NO '
t_check "two entries with one uid are NO (ambiguous)" "$(mux dup dup-pw)" '^NO '
t_check "a login with a dot is refused" "$(mux john.doe john-pw)" '^NO '
t_check "a realm that is not accepted is refused" "$(mux alice s3cret-A smtp example.org)" '^NO '
t_check "an empty password is refused" "$(mux alice '')" '^NO '
t_check "an empty login is refused" "$(mux '' s3cret-A)" '^NO '
t_check "a NUL byte in the password is refused" "$(mux alice hex:73336372657400)" '^NO '
t_check "an over-long password is refused, not hung up on" "$(mux alice long:5000)" '^NO '
t_check "no password in the log" "$(grep -c 's3cret-A' "$AZ_LOG" || true)" '^0$'
t_check "one decision line per request" "$(grep -c 'auth: user=' "$AZ_LOG")" '^9$'

# --- user enumeration: one reply text for every verification failure -------
# (The reply text is what a client sees; timing is covered by making the same
# LDAP round trips, checked below in slapd's log, not by a clock.)
nosuch=$(mux nosuchuser wrong | cut -d' ' -f1-3)
wrongpw=$(mux alice wrong | cut -d' ' -f1-3)
ambiguous=$(mux dup wrong | cut -d' ' -f1-3)
t_check "no such user and wrong password get the same reply text" "$nosuch" "^${wrongpw}\$"
t_check "several entries and wrong password get the same reply text" "$ambiguous" "^${wrongpw}\$"
t_check "the reply text is NO authentication failed" "$wrongpw" '^NO authentication failed$'
t_check "the log still tells the admin why" "$(grep 'user="nosuchuser"' "$AZ_LOG")" 'reason="no such user"'
t_check "no such user: authd made the dummy bind (second round trip)" \
    "$(grep -c 'BIND dn="cn=portreeve-authd-no-such-user,ou=people,dc=example,dc=test"' "$PT_TMP/slapd/slapd.log")" '^[1-9]'
t_check "wrong password: no dummy bind, the real one" \
    "$(grep -c 'BIND dn="cn=alice,ou=people,dc=example,dc=test"' "$PT_TMP/slapd/slapd.log")" '^[1-9]'

# With '*' allowed in logins, escaping is what stops "al*" matching alice.
restart_authd 'authd_login_chars = A-Za-z0-9_*()\-'
t_check "al* with alice's password is NO (RFC 4515 escaping)" "$(mux 'al*' s3cret-A)" '^NO '
t_check "*)(uid=* is NO" "$(mux '*)(uid=*' s3cret-A)" '^NO '
t_check "the escaped search found nothing" "$(grep 'user="al\*"' "$AZ_LOG")" 'no such user'

# --- libsasl2 with the gate plugin ---------------------------------------------
restart_authd
sasl_conf "portreeve_gate_socket: $AZ_GATE"
t_check "PLAIN succeeds" "$(sasl PLAIN alice s3cret-A)" '^RESULT SASL_OK'
t_check "LOGIN succeeds" "$(sasl LOGIN alice s3cret-A)" '^RESULT SASL_OK'
t_check "PLAIN wrong password fails (535)" "$(sasl PLAIN alice nope)" '^RESULT SASL_BADAUTH'
t_check "LOGIN wrong password fails (535)" "$(sasl LOGIN alice nope)" '^RESULT SASL_BADAUTH'
t_check "alice@example.org gets the login-name message" "$(sasl PLAIN alice@example.org s3cret-A)" \
    'SASL_BADPARAM.*use your login name'
t_check "alice@other.example gets the login-name message" "$(sasl LOGIN alice@other.example s3cret-A)" \
    'SASL_BADPARAM.*use your login name'
t_check "a.lice gets the login-name message" "$(sasl PLAIN a.lice s3cret-A)" 'SASL_BADPARAM.*use your login name'
t_check "the gate told authd the client address" "$(grep 'user="alice"' "$AZ_LOG" | tail -n 1)" \
    'client=192\.0\.2\.7 '

# --- lockout ------------------------------------------------------------------
for i in 1 2 3 4 5; do sasl PLAIN bob wrong 192.0.2.99 >/dev/null; done
t_check "after 5 failures from one IP the right password gets 454" \
    "$(sasl PLAIN bob b0b-Pass 192.0.2.99)" '^RESULT SASL_UNAVAIL'
t_check "the same user from another IP still succeeds" "$(sasl PLAIN bob b0b-Pass 192.0.2.100)" '^RESULT SASL_OK'
t_check "the counters live in Redis with a TTL" \
    "$(redis-cli -p "$AZ_REDIS_PORT" ttl 't:v1:af:uip:{bob}:192.0.2.99')" '^[1-9][0-9]*$'
mark=$(pt_log_size "$AZ_LOG")
t_check "a locked pair is refused even without the gate (no LDAP)" \
    "$("$HARNESS" /nonexistent "$PLUGDIRS" PLAIN bob b0b-Pass 2>/dev/null || true)" 'RESULT'
# Without the gate the address is unknown: only the per-user scope applies, so
# check the lock through the saslauthd path with the address known instead.
restart_authd 'authd_lockout_user_limit = 3' 'authd_lockout_user_ip_limit = 0' 'authd_lockout_ip_limit = 0'
redis-cli -p "$AZ_REDIS_PORT" flushall >/dev/null # alice failed above: start her counters afresh
sasl PLAIN alice s3cret-A 198.51.100.1 >/dev/null # alice's usual address: now "known good"
for ip in 203.0.113.1 203.0.113.2 203.0.113.3; do sasl PLAIN alice guess "$ip" >/dev/null; done
t_check "per-user lock: a new address gets 454 (never 535)" "$(sasl PLAIN alice s3cret-A 203.0.113.9)" \
    '^RESULT SASL_UNAVAIL'
t_check "per-user lock does not lock alice out of her usual address" \
    "$(sasl PLAIN alice s3cret-A 198.51.100.1)" '^RESULT SASL_OK'
restart_authd 'authd_lockout_exempt_networks = 192.0.2.0/24' 'authd_lockout_user_ip_limit = 2'
for i in 1 2 3; do sasl PLAIN bob wrong 192.0.2.50 >/dev/null; done
t_check "exempt networks are never locked" "$(sasl PLAIN bob b0b-Pass 192.0.2.50)" '^RESULT SASL_OK'

# --- Redis down: authentication keeps working, counting goes on embedded ------
restart_authd 'authd_lockout_user_ip_limit = 2'
az_stop_redis
t_check "Redis stopped: PLAIN still succeeds" "$(sasl PLAIN alice s3cret-A 192.0.2.7)" '^RESULT SASL_OK'
sasl PLAIN bob wrong 192.0.2.77 >/dev/null
sasl PLAIN bob wrong 192.0.2.77 >/dev/null
t_check "Redis stopped: the embedded store still locks" "$(sasl PLAIN bob b0b-Pass 192.0.2.77)" '^RESULT SASL_UNAVAIL'
t_check "Redis stopped: the log says the embedded store decided" "$(cat "$AZ_LOG")" 'store=embedded'
az_redis
sleep 1.2
t_check "Redis back: used again" "$(sasl PLAIN alice s3cret-A 192.0.2.7; grep -c 'redis: connected' "$AZ_LOG")" '[1-9]'

# --- gate failure modes -----------------------------------------------------
sasl_conf "portreeve_gate_socket: $PT_TMP/no-such-gate"
t_check "gate unreachable: fail open" "$(sasl PLAIN alice s3cret-A)" '^RESULT SASL_OK'
sasl_conf "portreeve_gate_socket: $PT_TMP/no-such-gate" "portreeve_gate_failure: tempfail"
t_check "gate unreachable with portreeve_gate_failure=tempfail: 454" "$(sasl PLAIN alice s3cret-A)" '^RESULT SASL_UNAVAIL'
sasl_conf
t_check "dormant without portreeve_* keys" "$(sasl PLAIN alice s3cret-A)" '^RESULT SASL_OK'
sasl_conf "portreeve_gate_socket: relative/path"
t_check "a broken portreeve_* setting fails closed" "$(sasl PLAIN alice s3cret-A)" '^RESULT SASL_UNAVAIL'
sasl_conf "portreeve_gate_socket: $AZ_GATE"

# --- DN cache -------------------------------------------------------------------
set_uid() { # NEW-UID: rename alice's login (her DN stays cn=alice)
    printf 'dn: cn=alice,ou=people,%s\nchangetype: modify\nreplace: uid\nuid: %s\n' "$AZ_SUFFIX" "$1" |
        ldapmodify -x -H "ldap://127.0.0.1:$AZ_LDAP_PORT/" -D "cn=admin,$AZ_SUFFIX" -w adminpw >/dev/null
}
redis-cli -p "$AZ_REDIS_PORT" flushall >/dev/null
restart_authd 'authd_ldap_dn_cache_ttl = 60s'
mux alice s3cret-A >/dev/null
t_check "DN cache: the second login binds as the cached DN (no search)" \
    "$(mux alice s3cret-A; grep 'user="alice"' "$AZ_LOG" | tail -n 1)" 'result=ok reason="bind as the cached DN"'
t_check "DN cache: a wrong password is still NO, same text" "$(mux alice wrong | cut -d' ' -f1-3)" '^NO authentication failed$'
mux alice s3cret-A >/dev/null # cached again by the confirming search
set_uid alice2
t_check "DN cache: within the TTL a login that no longer matches still binds (the documented trade-off)" \
    "$(mux alice s3cret-A; grep 'user="alice"' "$AZ_LOG" | tail -n 1)" 'result=ok reason="bind as the cached DN"'
t_check "DN cache: a refused bind is confirmed by a fresh search (NO)" "$(mux alice wrong | cut -d' ' -f1-3)" '^NO authentication failed$'
t_check "DN cache: ... which dropped the stale entry: the right password is NO now" \
    "$(mux alice s3cret-A | cut -d' ' -f1-3)" '^NO authentication failed$'
t_check "DN cache: the renamed login works" "$(mux alice2 s3cret-A)" '^OK '
set_uid alice
t_check "DN cache: renamed back" "$(mux alice s3cret-A)" '^OK '

# --- positive cache -----------------------------------------------------------
restart_authd 'authd_cache_ttl = 60s'
mux alice s3cret-A >/dev/null
t_check "cache: the second success is answered from the cache" "$(mux alice s3cret-A; grep 'user="alice"' "$AZ_LOG" | tail -n 1)" ' cached '
t_check "cache: the hit was answered by the event loop (no worker hop)" \
    "$(grep 'user="alice"' "$AZ_LOG" | tail -n 1)" ' cached loop '
# A lock holds against the right password: set by this daemon (seen at once;
# the failures also drop alice's cache entry), and set in Redis by another
# host while bob's password is cached (seen within the mirror TTL).
# test_fastpath covers a cached password against this daemon's own lock.
restart_authd 'authd_cache_ttl = 60s' 'authd_lockout_user_limit = 3' 'authd_lockout_mirror_ttl = 1s'
redis-cli -p "$AZ_REDIS_PORT" flushall >/dev/null
mux alice s3cret-A >/dev/null
t_check "cache+lock: a clean user is answered from the cache" "$(mux alice s3cret-A; grep 'user="alice"' "$AZ_LOG" | tail -n 1)" ' cached loop '
for i in 1 2 3; do mux alice "guess$i" >/dev/null; done
t_check "cache+lock: locked here, the right password gets 454 (hang-up), at once" "$(mux alice s3cret-A)" '^HANGUP '
t_check "cache+lock: the log says the lock decided, not the cache" "$(grep 'user="alice"' "$AZ_LOG" | tail -n 1)" 'result=tempfail reason="user locked"'
mux bob b0b-Pass >/dev/null
t_check "cache+lock: bob is cached" "$(mux bob b0b-Pass)" '^OK '
redis-cli -p "$AZ_REDIS_PORT" set 't:v1:af:u:{bob}' 100 px 60000 >/dev/null # another host locked bob
sleep 1.2 # the mirror TTL
t_check "cache+lock: locked by another host, the cached password gets 454 after the mirror TTL" \
    "$(mux bob b0b-Pass)" '^HANGUP '
restart_authd 'authd_cache_ttl = 60s' 'authd_lockout_user_limit = 3' 'authd_lockout_mirror_ttl = 0'
t_check "mirror off: Redis' lock is honoured on the first request" "$(mux bob b0b-Pass)" '^HANGUP '
redis-cli -p "$AZ_REDIS_PORT" flushall >/dev/null
restart_authd 'authd_cache_ttl = 60s'
mux alice s3cret-A >/dev/null
az_stop_slapd
t_check "cache: LDAP down, a cached login still succeeds" "$(mux alice s3cret-A)" '^OK '
t_check "cache: LDAP down, another password is never answered from the cache" "$(mux alice other-pw)" '^HANGUP '

# --- LDAP down and black-holed: 454 within the deadline ------------------------
restart_authd
out=$(sasl PLAIN alice s3cret-A)
t_check "LDAP stopped: temporary failure (454)" "$out" '^RESULT SASL_FAIL'
az_slapd
t_check "LDAP back: success" "$(mux alice s3cret-A)" '^OK '
kill -STOP "$AZ_SLAPD_PID"
pt_on_exit "kill -CONT $AZ_SLAPD_PID"
t_check "LDAP black-holed: LDAP timeouts end it as a temporary failure before the deadline" \
    "$(mux alice s3cret-A)" '^HANGUP (9[0-9][0-9]|[12][0-9][0-9][0-9]|30[0-9][0-9])$'
# LDAP timeouts longer than the deadline: the loop's deadline must cut in.
restart_authd 'authd_ldap_timeout = 20s' 'authd_ldap_connect_timeout = 20s'
"$MUXC" "$AZ_MUX" bob b0b-Pass >"$PT_TMP/bh1" 2>&1 &
bh=$!
out=$(mux alice s3cret-A)
wait "$bh" || true
t_check "LDAP black-holed, slow LDAP timeouts: hang-up (454) at the 3 s deadline" "$out" '^HANGUP (29[0-9][0-9]|3[0-4][0-9][0-9])$'
t_check "LDAP black-holed: a concurrent request is not stalled past the deadline" "$(cat "$PT_TMP/bh1")" '^HANGUP (29[0-9][0-9]|3[0-4][0-9][0-9])$'
t_check "the gate still answers while LDAP hangs" "$(sasl_conf "portreeve_gate_socket: $AZ_GATE" "portreeve_gate_failure: tempfail"; sasl PLAIN 'a.lice' x)" 'SASL_BADPARAM'
t_check "the deadline is logged as the decision" "$(cat "$AZ_LOG")" 'result=tempfail reason="deadline"'
kill -CONT "$AZ_SLAPD_PID"
restart_authd
t_check "LDAP resumed: success again" "$(mux alice s3cret-A)" '^OK '

# --- peer credentials and reload -----------------------------------------------
restart_authd 'authd_allowed_users = postfix'
t_check "a peer outside authd_allowed_users is hung up on" "$("$MUXC" "$AZ_MUX" alice s3cret-A 2>&1 || true)" '^HANGUP '
t_check "the refusal is logged with the uid" "$(cat "$AZ_LOG")" 'refused connection from uid 0'
if command -v setpriv >/dev/null; then
    t_check "the postfix user is served" \
        "$(setpriv --reuid postfix --regid postfix --clear-groups "$MUXC" "$AZ_MUX" alice s3cret-A || true)" '^OK '
fi
restart_authd
printf 'authd_bogus = 1\n' >>"$AZ_CONF"
kill -HUP "$AZ_AUTHD_PID"
pt_wait_log "$AZ_LOG" 'reload failed, keeping the running configuration' 5 || true
t_check "SIGHUP with a bad file keeps the old configuration" "$(cat "$AZ_LOG")" 'reload failed.*authd_bogus'
t_check "still serving after the failed reload" "$(mux alice s3cret-A)" '^OK '
az_authd_conf 'authd_login_realms = example.org'
kill -HUP "$AZ_AUTHD_PID"
pt_wait_log "$AZ_LOG" 'configuration reloaded' 5 || true
t_check "SIGHUP applies a good file (realm now accepted)" "$(mux alice s3cret-A smtp example.org)" '^OK '
pt_stop_pid "$AZ_AUTHD_PID" portreeve-authd
t_check "no warning about a lost reply or a crash" "$(grep -E 'reply .* lost|Sanitizer|runtime error' "$AZ_LOG" || true)" '^$'

t_done
