#!/usr/bin/env bash
# ldap_tls.sh - portreeve-authd's LDAP TLS paths against a real TLS slapd:
# ldaps://, StartTLS, certificate verification (wrong CA, wrong name, the
# system store), the escape hatch authd_ldap_tls_require_cert = no, no
# cleartext fall-back when StartTLS is refused, and a directory that
# requires TLS for every operation (security tls=1).
#
# The slapd is tests/authd/authd_stack.sh's (same users, same data), started
# again from a copy of its slapd.conf with TLS settings added, listening
# with ldap:// and ldaps:// on 127.0.0.1 (in the certificate, from
# tests/lib/tls.sh) and on 127.0.0.2 (not in it). Requests go through
# authd's saslauthd socket (mux_client); slapd's stats log (loglevel 256)
# shows what reached it, and with which ssf.
#
# usage: ldap_tls.sh BUILD_DIR      (run by ctest as authd_ldap_tls)
set -euo pipefail
PT_REPO=$(cd "$(dirname "$0")/../.." && pwd)
AZ_BUILD=$(cd "${1:-$PT_REPO/build-authd}" && pwd)
. "$PT_REPO/tests/lib/common.sh"
. "$PT_REPO/tests/lib/assert.sh"
. "$PT_REPO/tests/lib/tls.sh"
. "$PT_REPO/tests/authd/authd_stack.sh"
# This test's own ports (authd_stack.sh sets the integration test's range).
PT_PORT_MIN=28100
PT_PORT_MAX=28149

MUXC=$AZ_BUILD/tests/authd/authd_mux_client
ALICE_DN="cn=alice,ou=people,$AZ_SUFFIX"
STARTTLS_OID=1.3.6.1.4.1.1466.20037

pt_init authd-tls
base=$(pt_ports 3) # given back at exit by pt_cleanup
# The listeners on 127.0.0.2 reuse the port numbers: another address.
AZ_LDAP_PORT=$base             # ldap:// on 127.0.0.1 and 127.0.0.2
AZ_REDIS_PORT=$((base + 1))
LDAPS_PORT=$((base + 2))       # ldaps:// on 127.0.0.1 and 127.0.0.2
TLS=$PT_TMP/tls
pt_make_certs "$TLS/ok" ldap.example.test    # the CA that signed slapd's certificate
pt_make_certs "$TLS/other" ldap.example.test # an unrelated CA, same subject names

# Plain slapd first (no TLS configured at all): the "no cleartext
# fall-back" case needs a listener that refuses StartTLS.
AZ_SLAPD_LOGLEVEL=256
az_slapd
az_redis
SLAPD_LOG=$PT_TMP/slapd/slapd.log

# One saslauthd request; prints "<reply word> <ms>".
mux() { "$MUXC" "$AZ_MUX" "$@" || true; }
# Each daemon's log is kept in authd-all.log before the next one overwrites it.
restart_authd() {
    az_stop_authd
    cat "$AZ_LOG" >>"$PT_TMP/authd-all.log"
    az_authd_conf "$@"
    az_authd
}
# The decision line of the last request for alice.
last_alice() { grep 'user="alice"' "$AZ_LOG" | tail -n 1; }
# slapd's log after MARK.
slapd_since() { pt_log_since "$SLAPD_LOG" "$1"; }
# Milliseconds printed by mux, for the report.
ms() { printf '%s\n' "$1" | awk '{ print $2 }'; }

# slapd with TLS from the same data: $1 = extra global lines (may be empty).
# Each start logs to a file of its own.
TLS_SLAPD_RUNS=0
tls_slapd() {
    local extra=$1 d=$PT_TMP/slapd
    az_stop_slapd
    TLS_SLAPD_RUNS=$((TLS_SLAPD_RUNS + 1))
    {
        printf 'TLSCACertificateFile %s\n' "$TLS/ok/ca.crt"
        printf 'TLSCertificateFile %s\n' "$TLS/ok/server.crt"
        printf 'TLSCertificateKeyFile %s\n' "$TLS/ok/server.key"
        printf '%s\n' "$extra"
        cat "$d/slapd.conf"
    } >"$d/slapd-tls.conf"
    SLAPD_LOG=$d/slapd-tls-$TLS_SLAPD_RUNS.log
    pt_spawn slapd "$SLAPD_LOG" slapd -f "$d/slapd-tls.conf" -d 256 \
        -h "ldap://127.0.0.1:$AZ_LDAP_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/ ldaps://127.0.0.2:$LDAPS_PORT/ ldap://127.0.0.2:$AZ_LDAP_PORT/"
    AZ_SLAPD_PID=$PT_PID
    pt_wait_tcp 127.0.0.1 "$AZ_LDAP_PORT" 15
    pt_wait_tcp 127.0.0.1 "$LDAPS_PORT" 15
    pt_wait_tcp 127.0.0.2 "$LDAPS_PORT" 15
    pt_wait_tcp 127.0.0.2 "$AZ_LDAP_PORT" 15
}

# --- no cleartext fall-back: StartTLS against a listener without TLS ----------
az_authd_conf 'authd_ldap_starttls = yes' "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
az_authd
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
t_check "StartTLS refused by the server: temporary failure (hang-up), not OK or NO" "$out" '^HANGUP '
t_check "StartTLS refused: the log says the server refused StartTLS" "$(last_alice)" 'result=tempfail reason="StartTLS refused by the server'
sleep 0.3 # let slapd flush its stats lines
t_check "StartTLS refused: slapd saw the StartTLS request" "$(slapd_since "$mark")" "EXT oid=$STARTTLS_OID"
t_check_not "StartTLS refused: no BIND reached slapd (no user DN, no service DN)" "$(slapd_since "$mark")" ' BIND '
t_check_not "StartTLS refused: no SRCH reached slapd" "$(slapd_since "$mark")" ' SRCH '
nocleartext_ms=$(ms "$out")

# --- slapd with TLS -------------------------------------------------------------
tls_slapd ''

# 1. ldaps:// with the right CA.
restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
t_check "ldaps://, right CA: right password is OK" "$(mux alice s3cret-A)" '^OK '
t_check "ldaps://, right CA: wrong password is NO" "$(mux alice wrong)" '^NO authentication failed'
t_check "ldaps://, right CA: no such user is NO" "$(mux nosuchuser wrong)" '^NO authentication failed'
t_check "ldaps://, right CA: the pooled connections serve again" "$(mux alice s3cret-A)" '^OK '
sleep 0.3
t_check "ldaps://: slapd established TLS on the ldaps listener" "$(slapd_since "$mark")" 'TLS established tls_ssf=[1-9]'
t_check "ldaps://: alice's BIND arrived over TLS (ssf > 0)" \
    "$(slapd_since "$mark" | grep "BIND dn=\"$ALICE_DN\"")" 'ssf=[1-9]'
t_check_not "ldaps://: no BIND without TLS" "$(slapd_since "$mark" | grep ' BIND ')" ' ssf=0$'

# StartTLS on a connection that is TLS already (ldaps://): nothing to add.
restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/" 'authd_ldap_starttls = yes' \
    "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
t_check "ldaps:// with authd_ldap_starttls = yes: right password is OK" "$(mux alice s3cret-A)" '^OK '
sleep 0.3
t_check_not "ldaps:// with authd_ldap_starttls = yes: no StartTLS inside TLS" "$(slapd_since "$mark")" "EXT oid=$STARTTLS_OID"

# 2. ldap:// + StartTLS with the right CA.
restart_authd 'authd_ldap_starttls = yes' "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
t_check "StartTLS, right CA: right password is OK" "$(mux alice s3cret-A)" '^OK '
t_check "StartTLS, right CA: wrong password is NO" "$(mux alice wrong)" '^NO authentication failed'
t_check "StartTLS, right CA: again OK on the pooled connections" "$(mux alice s3cret-A)" '^OK '
sleep 0.3
t_check "StartTLS: slapd saw the StartTLS request" "$(slapd_since "$mark")" "EXT oid=$STARTTLS_OID"
t_check "StartTLS: alice's BIND arrived over TLS (ssf > 0)" \
    "$(slapd_since "$mark" | grep "BIND dn=\"$ALICE_DN\"")" 'ssf=[1-9]'
t_check_not "StartTLS: no BIND without TLS" "$(slapd_since "$mark" | grep ' BIND ')" ' ssf=0$'

# 3. Certificate verification: each case fails as a temporary failure, with
# a TLS reason in authd's log, and no BIND or SRCH reaches slapd.
# check_refused NAME: after "mark" and "out" are set.
check_refused() {
    local name=$1 since
    t_check "$name: temporary failure (hang-up), not OK or NO" "$out" '^HANGUP '
    t_check_not "$name: not the request deadline" "$(last_alice)" 'reason="deadline"'
    t_check "$name: the log gives a TLS reason" "$(last_alice)" "result=tempfail reason=\".*$2"
    sleep 0.3
    since=$(slapd_since "$mark")
    t_check_not "$name: no BIND reached slapd" "$since" ' BIND '
    t_check_not "$name: no SRCH reached slapd" "$since" ' SRCH '
    printf '# %s: answered in %s ms\n' "$name" "$(ms "$out")"
}
restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/other/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "ldaps://, another CA" 'connect: TLS handshake failed \(certificate from a CA in authd_ldap_tls_ca_file'

restart_authd 'authd_ldap_starttls = yes' "authd_ldap_tls_ca_file = $TLS/other/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "StartTLS, another CA" 'StartTLS failed: TLS handshake failed \(certificate'
t_check "StartTLS, another CA: slapd saw the StartTLS request" "$(slapd_since "$mark")" "EXT oid=$STARTTLS_OID"

restart_authd "authd_ldap_uri = ldaps://127.0.0.2:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "ldaps://, right CA, address not in the certificate" 'connect: TLS handshake failed \(.*for the host in authd_ldap_uri'

restart_authd "authd_ldap_uri = ldap://127.0.0.2:$AZ_LDAP_PORT/" 'authd_ldap_starttls = yes' \
    "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "StartTLS, right CA, address not in the certificate" 'StartTLS failed: TLS handshake failed \(.*for the host in authd_ldap_uri'

# libldap checks a URI's "localhost" against this machine's host name
# (portreeve-authd(8) warns): the certificate names localhost, not the host.
if [ "$(hostname -f 2>/dev/null || hostname)" != localhost ]; then
    restart_authd "authd_ldap_uri = ldaps://localhost:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
    mark=$(pt_log_size "$SLAPD_LOG")
    out=$(mux alice s3cret-A)
    check_refused "ldaps://localhost, certificate for localhost but not for the host name" 'for the host in authd_ldap_uri'
fi

restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/"
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "ldaps://, system CA store (test CA not in it)" 'connect: TLS handshake failed \(certificate'

# A CA file that cannot be read: no TLS context, so no connection at all.
restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/no-such-ca.crt"
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "ldaps://, CA file missing" 'authd_ldap_tls_ca_file'

# The CA file is read when a connection opens, by authd_user: one that
# only root can read fails like a missing one (authd still starts).
cp "$TLS/ok/ca.crt" "$TLS/root-only-ca.crt"
chmod 600 "$TLS/root-only-ca.crt"
restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/root-only-ca.crt" \
    'authd_user = nobody'
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
check_refused "ldaps://, CA file not readable by authd_user" 'cannot create the LDAP TLS context \(authd_ldap_tls_ca_file'
chmod 644 "$TLS/root-only-ca.crt"
t_check "ldaps://, the same CA file made readable: OK (read again by the next connection)" "$(mux alice s3cret-A)" '^OK '

# The escape hatch: verification off accepts the unrelated CA's view.
restart_authd "authd_ldap_uri = ldaps://127.0.0.2:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/other/ca.crt" \
    'authd_ldap_tls_require_cert = no'
t_check "authd_ldap_tls_require_cert = no: wrong CA and wrong name are accepted" "$(mux alice s3cret-A)" '^OK '

# 4. A directory that requires TLS for every operation.
tls_slapd 'security tls=1'
restart_authd 'authd_ldap_starttls = yes' "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
t_check "security tls=1, StartTLS: right password is OK" "$(mux alice s3cret-A)" '^OK '
t_check "security tls=1, StartTLS: wrong password is NO" "$(mux alice wrong)" '^NO authentication failed'
restart_authd
mark=$(pt_log_size "$SLAPD_LOG")
out=$(mux alice s3cret-A)
t_check "security tls=1, no TLS configured in authd: temporary failure, not NO" "$out" '^HANGUP '
t_check "security tls=1, no TLS: the log names the refused service bind" "$(last_alice)" 'service bind.*Confidentiality required'

# A server that is down is not reported as a TLS problem.
restart_authd "authd_ldap_uri = ldaps://127.0.0.1:$LDAPS_PORT/" "authd_ldap_tls_ca_file = $TLS/ok/ca.crt"
az_stop_slapd
t_check "ldaps://, slapd stopped: temporary failure (hang-up)" "$(mux alice s3cret-A)" '^HANGUP '
t_check "ldaps://, slapd stopped: the log says the server cannot be reached" "$(last_alice)" \
    "reason=\"connect: Can't contact LDAP server\""
t_check_not "ldaps://, slapd stopped: TLS is not blamed" "$(last_alice)" 'TLS'

az_stop_authd
cat "$AZ_LOG" >>"$PT_TMP/authd-all.log"
t_check "no password in authd's logs" "$(grep -c 's3cret-A' "$PT_TMP/authd-all.log" || true)" '^0$'
t_check "no crash or sanitizer report" "$(grep -E 'Sanitizer|runtime error' "$PT_TMP/authd-all.log" || true)" '^$'
printf '# StartTLS refused: answered in %s ms\n' "$nocleartext_ms"
# What an admin sees for each temporary failure.
grep -o 'result=tempfail reason="[^"]*"' "$PT_TMP/authd-all.log" | sort | uniq -c | sed 's/^/# /'

t_done
