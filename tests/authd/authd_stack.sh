# authd_stack.sh - slapd, Redis and portreeve-authd for the authd tests and
# benchmarks, on top of tests/lib/common.sh (pt_init, pt_spawn, pt_ports).
#
#   az_slapd              slapd on 127.0.0.1:$AZ_LDAP_PORT with {SSHA} users
#                         (see az_users) under ou=people,dc=example,dc=test;
#                         log level $AZ_SLAPD_LOGLEVEL (default 0; 256 = stats)
#   az_redis              redis-server on 127.0.0.1:$AZ_REDIS_PORT
#   az_authd_conf [LINES] write $PT_TMP/authd/portreeve.conf (extra lines last;
#                         another directory with AZ_AUTHD_DIR, for a second
#                         daemon next to the first)
#   az_authd              start portreeve-authd -f with that file; waits for
#                         its sockets ($AZ_MUX, $AZ_GATE); log in $AZ_LOG
#   az_stop_authd / az_stop_slapd / az_stop_redis    stop by recorded PID
#   az_ports              reserve this run's ports (26500-26999 only)
#
# Users: alice/s3cret-A, bob/b0b-Pass, john.doe/john-pw (an entry whose uid
# has a dot), dup/dup-pw (two entries with that uid: ambiguous). The
# service DN cn=mailauth,ou=services,dc=example,dc=test may search;
# userPassword is readable by nobody (auth only).

PT_PORT_MIN=26500
PT_PORT_MAX=26999
AZ_BUILD=${AZ_BUILD:-$PT_REPO/build-authd}
AZ_AUTHD=${AZ_AUTHD:-$AZ_BUILD/saslauthd-ldap/portreeve-authd}
AZ_SUFFIX="dc=example,dc=test"
AZ_LDAP_PORT= AZ_REDIS_PORT= AZ_SPARE_PORT=
AZ_MUX= AZ_GATE= AZ_LOG= AZ_CONF=
AZ_SLAPD_PID= AZ_REDIS_PID= AZ_AUTHD_PID=

az_ports() {
    local base
    base=$(pt_ports 3)
    AZ_LDAP_PORT=$base AZ_REDIS_PORT=$((base + 1)) AZ_SPARE_PORT=$((base + 2))
}

az_user_ldif() {
    local uid=$1 pw=$2 cn=${3:-$1} n=${4:-1000}
    cat <<LDIF
dn: cn=$cn,ou=people,$AZ_SUFFIX
objectClass: inetOrgPerson
objectClass: posixAccount
cn: $cn
sn: $uid
uid: $uid
uidNumber: $n
gidNumber: $n
homeDirectory: /home/$uid
userPassword: $(slappasswd -h '{SSHA}' -s "$pw")

LDIF
}

az_slapd() {
    local d=$PT_TMP/slapd
    if [ -f "$d/slapd.conf" ]; then # restart with the data loaded before
        pt_spawn slapd "$d/slapd.log" slapd -f "$d/slapd.conf" -h "ldap://127.0.0.1:$AZ_LDAP_PORT/" -d "${AZ_SLAPD_LOGLEVEL:-0}"
        AZ_SLAPD_PID=$PT_PID
        pt_wait_tcp 127.0.0.1 "$AZ_LDAP_PORT" 15
        return
    fi
    mkdir -p "$d/db"
    cat >"$d/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $d/slapd.pid
database mdb
maxsize 16777216
suffix "$AZ_SUFFIX"
rootdn "cn=admin,$AZ_SUFFIX"
rootpw adminpw
directory $d/db
index uid eq
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=mailauth,ou=services,$AZ_SUFFIX" read by self read by * none
CONF
    {
        printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n\n' "$AZ_SUFFIX"
        printf 'dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n' "$AZ_SUFFIX"
        printf 'dn: ou=services,%s\nobjectClass: organizationalUnit\nou: services\n\n' "$AZ_SUFFIX"
        printf 'dn: cn=mailauth,ou=services,%s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: mailauth\nuserPassword: %s\n\n' \
            "$AZ_SUFFIX" "$(slappasswd -h '{SSHA}' -s svc-pw)"
        az_user_ldif alice s3cret-A alice 1001
        az_user_ldif bob b0b-Pass bob 1002
        az_user_ldif john.doe john-pw john.doe 1003
        az_user_ldif dup dup-pw dup1 1004
        az_user_ldif dup dup-pw dup2 1005
        local i
        for i in $(seq 1 ${AZ_BENCH_USERS:-0}); do
            az_user_ldif "user$i" "pw-$i" "user$i" $((2000 + i))
        done
    } >"$d/data.ldif"
    slapadd -q -f "$d/slapd.conf" -l "$d/data.ldif" >/dev/null 2>&1 || pt_die "slapadd failed"
    pt_spawn slapd "$d/slapd.log" slapd -f "$d/slapd.conf" -h "ldap://127.0.0.1:$AZ_LDAP_PORT/" -d "${AZ_SLAPD_LOGLEVEL:-0}"
    AZ_SLAPD_PID=$PT_PID
    pt_wait_tcp 127.0.0.1 "$AZ_LDAP_PORT" 15
}

az_redis() {
    mkdir -p "$PT_TMP/redis"
    pt_spawn redis "$PT_TMP/redis/redis.log" redis-server --bind 127.0.0.1 --port "$AZ_REDIS_PORT" \
        --save '' --appendonly no --dir "$PT_TMP/redis"
    AZ_REDIS_PID=$PT_PID
    pt_wait_tcp 127.0.0.1 "$AZ_REDIS_PORT" 15
}

az_authd_conf() {
    local d=${AZ_AUTHD_DIR:-$PT_TMP/authd} line
    mkdir -p "$d"
    chmod 755 "$d"
    printf 'svc-pw\n' >"$d/bind.pw"
    chmod 600 "$d/bind.pw"
    AZ_MUX=$d/mux AZ_GATE=$d/gate AZ_CONF=$d/portreeve.conf AZ_LOG=$d/authd.log
    {
        cat <<CONF
# written by tests/authd/authd_stack.sh
authd_mux_socket = $AZ_MUX
authd_gate_socket = $AZ_GATE
authd_allowed_users = root, postfix
authd_user =
authd_ldap_uri = ldap://127.0.0.1:$AZ_LDAP_PORT/
authd_ldap_search_base = ou=people,$AZ_SUFFIX
authd_ldap_bind_dn = cn=mailauth,ou=services,$AZ_SUFFIX
authd_ldap_bind_password_file = $d/bind.pw
authd_ldap_timeout = 1s
authd_ldap_connect_timeout = 500ms
authd_deadline = 3s
redis_server = 127.0.0.1:$AZ_REDIS_PORT
redis_key_prefix = t
policyd_listen = ignored-by-authd
CONF
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$AZ_CONF"
}

az_authd() {
    rm -f "$AZ_MUX" "$AZ_GATE"
    pt_spawn authd "$AZ_LOG" "$AZ_AUTHD" ${AZ_AUTHD_FLAGS:--f -v} -c "$AZ_CONF"
    AZ_AUTHD_PID=$PT_PID
    # The socket file appears at bind(), before listen(): wait for "ready".
    pt_wait_log "$AZ_LOG" ' ready: ' 10 || pt_die "portreeve-authd did not start: $(cat "$AZ_LOG")"
}

az_stop_authd() { pt_stop_pid "$AZ_AUTHD_PID" portreeve-authd; }
az_stop_slapd() { pt_stop_pid "$AZ_SLAPD_PID" slapd; }
az_stop_redis() { pt_stop_pid "$AZ_REDIS_PID" redis-server; }
