# slapd.sh - a throwaway OpenLDAP 2.5 server on loopback for the tests.
#
#   ld_user UID PASSWORD [MAIL]
#       queue a user entry (inetOrgPerson, uid=UID,ou=people,$LD_SUFFIX)
#       whose userPassword is an {SSHA} hash of PASSWORD; call before
#       ld_start
#   ld_start
#       slapd.conf (back_mdb, core/cosine/nis/inetorgperson schemas) and
#       the database in $PT_TMP/slapd, data loaded offline with slapadd,
#       then slapd in the foreground on ldap://127.0.0.1:$LD_PORT/ (stats
#       log in $PT_TMP/slapd/slapd.log). Sets LD_PORT, LD_PID, LD_URI.
#   ld_stop             SIGTERM by recorded PID
#
# Directory: $LD_SUFFIX (default dc=example,dc=org), admin $LD_ROOTDN with
# password $LD_ROOTPW; ou=people holds the users; userPassword can only be
# used to bind (auth), never read; the admin and each user read the rest.
# Needs common.sh.

LD_SUFFIX=${LD_SUFFIX:-dc=example,dc=org}
LD_ROOTDN=${LD_ROOTDN:-cn=admin,$LD_SUFFIX}
LD_ROOTPW=${LD_ROOTPW:-admin-pw-0}
LD_PORT=
LD_PID=
LD_URI=
LD_USERS_LDIF=

ld_user() {
    local uid=$1 pw=$2 mail=${3:-$1@example.org} hash
    [ -n "$LD_USERS_LDIF" ] || LD_USERS_LDIF=$PT_TMP/slapd-users.ldif
    hash=$(slappasswd -h '{SSHA}' -s "$pw") || pt_die "slappasswd failed"
    cat >>"$LD_USERS_LDIF" <<LDIF
dn: uid=$uid,ou=people,$LD_SUFFIX
objectClass: inetOrgPerson
uid: $uid
cn: $uid
sn: $uid
mail: $mail
userPassword: $hash

LDIF
}

ld_start() {
    local d=$PT_TMP/slapd dc out
    [ -n "$LD_PORT" ] || LD_PORT=$(pt_ports 1)
    mkdir -p "$d/db"
    dc=${LD_SUFFIX%%,*}
    dc=${dc#dc=}
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
suffix "$LD_SUFFIX"
rootdn "$LD_ROOTDN"
rootpw $LD_ROOTPW
directory $d/db
index uid eq
access to attrs=userPassword by anonymous auth by * none
access to * by self read by users read by * none
CONF
    {
        printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: %s\ndc: %s\n\n' \
            "$LD_SUFFIX" "$dc" "$dc"
        printf 'dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n' "$LD_SUFFIX"
        [ -z "$LD_USERS_LDIF" ] || cat "$LD_USERS_LDIF"
    } >"$d/data.ldif"
    out=$(slapadd -f "$d/slapd.conf" -l "$d/data.ldif" 2>&1) || pt_die "slapadd: $out"
    LD_URI=ldap://127.0.0.1:$LD_PORT/
    pt_spawn slapd "$d/slapd.log" slapd -f "$d/slapd.conf" -h "$LD_URI" -d 256
    LD_PID=$PT_PID
    pt_wait_tcp 127.0.0.1 "$LD_PORT" 15
}

ld_stop() {
    pt_stop_pid "$LD_PID" slapd
}
