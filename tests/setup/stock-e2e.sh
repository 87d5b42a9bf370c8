#!/usr/bin/env bash
# stock-e2e.sh - portreeve-setup on Debian 12's stock, chrooted Postfix, end
# to end.
#
# Starts from the configuration the postfix package's postinst writes for an
# "Internet Site" (tests/setup/stock.sh: main.cf.debian + main.cf.tls +
# debconf answers, smtpd chroot = y), adapted only for a private instance.
# Then:
#   1. refusals: a main.cf and a master.cf that postconf cannot parse, a
#      Postfix that says it is 3.1, postscreen on port 25: exit 2, and not
#      one byte changed;
#   2. the dry run changes nothing; --apply; a second --apply finds nothing
#      to do and changes nothing;
#   3. slapd ({SSHA} users) and Redis (tests/authd/authd_stack.sh),
#      portreeve-authd with its sockets inside the chroot, portreeve-policyd
#      on unix:private/portreeve, the chroot filled by Debian's own
#      configure-instance.sh, Postfix started; the campus-page scenarios
#      through the chrooted smtpd (port 25/587/465 stand-ins on
#      127.0.0.1:28xxx, 127.0.0.2 is a client off the local network);
#   4. --undo --reload: main.cf, master.cf and the whole config directory
#      are byte for byte what they were, and Postfix no longer listens on
#      the submission ports.
# usage: stock-e2e.sh (env PORTREEVE_POLICYD, PORTREEVE_AUTHD,
# PORTREEVE_PLUGIN_DIR; defaults: build-kit/). Needs root; exit 77 without.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PT_REPO=$(cd "$HERE/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (Postfix, slapd)"; exit 77; }
. "$PT_REPO/tests/lib/common.sh"
. "$PT_REPO/tests/lib/tls.sh"
. "$PT_REPO/tests/lib/postfix.sh"
. "$PT_REPO/tests/lib/policyd.sh"
. "$PT_REPO/tests/lib/smtp.sh"
. "$PT_REPO/tests/lib/assert.sh"
. "$PT_REPO/tests/authd/authd_stack.sh"
. "$HERE/stock.sh"
# This test's ports (authd_stack.sh sets its own range when sourced).
PT_PORT_MIN=28000 PT_PORT_MAX=28499
BUILD=${PORTREEVE_BUILD:-$PT_REPO/build-kit}
PD_BIN=${PORTREEVE_POLICYD:-$BUILD/policyd/portreeve-policyd}
AZ_AUTHD=${PORTREEVE_AUTHD:-$BUILD/saslauthd-ldap/portreeve-authd}
PLUGIN_DIR=${PORTREEVE_PLUGIN_DIR:-$BUILD/saslauthd-ldap/plugins}
SETUP=$PT_REPO/contrib/portreeve-setup
for f in "$PD_BIN" "$AZ_AUTHD" "$PLUGIN_DIR/libportreeve.so"; do
    [ -e "$f" ] || { echo "FAIL: $f missing (build first)"; exit 1; }
done

pt_init setup-e2e
base=$(pt_ports 6)
P25=$base P587=$((base + 1)) P465=$((base + 2)) PD_PORT=$((base + 3))
AZ_LDAP_PORT=$((base + 4)) AZ_REDIS_PORT=$((base + 5))
ADDR=127.0.0.1
SVC=(--smtp-service "$ADDR:$P25" --submission-service "$ADDR:$P587"
    --submissions-service "$ADDR:$P465")
pt_note "ports: 25->$P25 587->$P587 465->$P465 policyd $PD_PORT ldap $AZ_LDAP_PORT redis $AZ_REDIS_PORT"

STOCK_SASL_PATH=$PLUGIN_DIR:/usr/lib/x86_64-linux-gnu/sasl2
stock_create "$PT_TMP/postfix" "$ADDR" "$P25"
ETC=$STOCK_ETC
cp -a "$ETC" "$PT_TMP/etc.orig"
t_check "stock: smtpd listener is chrooted" "$(postconf -c "$ETC" -Fh "$ADDR:$P25/inet/chroot")" '^y$'

setup() { "$SETUP" -c "$1" "${SVC[@]}" "${@:2}"; }
# Same bytes, modes, owners, and no extra file (the backup directory).
same_tree() { diff -r "$1" "$2" >/dev/null && [ "$(cd "$1" && find . -printf '%p %m %u %g %s\n' | sort)" = "$(cd "$2" && find . -printf '%p %m %u %g %s\n' | sort)" ]; }

# --- 1. refusals -----------------------------------------------------------
refusal() {
    local name=$1 dir=$PT_TMP/refuse-$1 out rc
    shift
    rm -rf "$dir"
    cp -a "$PT_TMP/etc.orig" "$dir"
    "$@" "$dir" # break the copy
    cp -a "$dir" "$dir.before"
    out=$(setup "$dir" --apply 2>&1)
    rc=$?
    t_check "refuses $name: exit 2" "$rc" '^2$'
    t_check "refuses $name: says it refuses" "$out" '^portreeve-setup: refusing: '
    t_check "refuses $name: says why" "$out" "$REFUSE_ERE"
    t_check "refuses $name: changes nothing" "$(same_tree "$dir.before" "$dir" && echo unchanged)" '^unchanged$'
}
break_main() { printf 'this line is not a setting\n' >>"$1/main.cf"; }
break_main_ws() { sed -i '1i\ leading = whitespace' "$1/main.cf"; }
break_master() { printf 'smtpd inet n - y\n' >>"$1/master.cf"; }
break_postscreen() {
    postconf -c "$1" -M -e "$ADDR:$P25/inet=$ADDR:$P25 inet n - y - 1 postscreen"
    postconf -c "$1" -M -e "smtpd/pass=smtpd pass - - y - - smtpd"
}
REFUSE_ERE="missing '=' after attribute name" refusal "a main.cf line without =" break_main
REFUSE_ERE="must not start with whitespace" refusal "a main.cf starting with white space" break_main_ws
REFUSE_ERE="master.cf: line [0-9]+: bad field count" refusal "a master.cf entry with 4 fields" break_master
REFUSE_ERE="runs 'postscreen', not smtpd" refusal "postscreen on port 25" break_postscreen
mkdir -p "$PT_TMP/oldpf"
cat >"$PT_TMP/oldpf/postconf" <<'EOF'
#!/bin/sh
# Postfix 3.1 as far as the version goes.
for a in "$@"; do [ "$a" = mail_version ] && { echo 3.1.4; exit 0; }; done
exec /usr/sbin/postconf "$@"
EOF
chmod 755 "$PT_TMP/oldpf/postconf"
old_pf() { :; }
PATH=$PT_TMP/oldpf:$PATH REFUSE_ERE='Postfix 3.1.4 is older than 3.2' refusal "Postfix 3.1" old_pf

# --- 2. dry run, apply, apply again ----------------------------------------
out=$(setup "$ETC" 2>&1)
t_check "dry run: exit 0" "$?" '^0$'
t_check "dry run: shows the postconf commands" "$out" "postconf -c '$ETC' -e 'smtpd_relay_restrictions = check_policy_service"
t_check "dry run: shows a diff" "$out" '^\+smtpd_relay_restrictions = check_policy_service \{ unix:private/portreeve'
t_check "dry run: changes nothing" "$(same_tree "$PT_TMP/etc.orig" "$ETC" && echo unchanged)" '^unchanged$'

out=$(setup "$ETC" --apply 2>&1)
t_check "apply: exit 0" "$?" '^0$'
t_check "apply: names the backup" "$out" "applied. Backup: $ETC/portreeve-backup/0001"
t_check "apply: keeps the admin's relay restrictions after Portreeve's check" \
    "$(postconf -c "$ETC" -h smtpd_relay_restrictions)" \
    '^check_policy_service \{ unix:private/portreeve, .*\}, permit_mynetworks permit_sasl_authenticated defer_unauth_destination$'
t_check "apply: smtpd stays chrooted, new listeners are chrooted" \
    "$(for p in $P25 $P587 $P465; do postconf -c "$ETC" -Fh "$ADDR:$p/inet/chroot"; done | tr -d '\n')" '^yyy$'
t_check "apply: SASL file is the shipped one" \
    "$(cmp "$ETC/sasl/smtpd.conf" "$PT_REPO/postfix-conf/sasl/smtpd.conf" && echo same)" '^same$'
t_check "apply: postconf warns about nothing" \
    "$(postconf -c "$ETC" -n 2>&1 >/dev/null; postconf -c "$ETC" -M 2>&1 >/dev/null)" '^$'
cp -a "$ETC" "$PT_TMP/etc.applied"
out=$(setup "$ETC" --apply 2>&1)
t_check "second apply: exit 0" "$?" '^0$'
t_check "second apply: nothing to change" "$out" 'nothing to change'
t_check "second apply: not one byte changed, no second backup" \
    "$(same_tree "$PT_TMP/etc.applied" "$ETC" && echo unchanged)" '^unchanged$'

# --- 3. the stack and the campus scenarios ---------------------------------
az_slapd
az_redis
SOCKDIR=$STOCK_SPOOL/var/run/portreeve # what the tmpfiles snippet creates
mkdir -p "$SOCKDIR"
az_authd_conf "authd_mux_socket = $SOCKDIR/mux" "authd_gate_socket = $SOCKDIR/gate" \
    "authd_allowed_users = postfix"
AZ_MUX=$SOCKDIR/mux AZ_GATE=$SOCKDIR/gate
az_authd
PF_SPOOL=$STOCK_SPOOL PF_ETC=$ETC PF_LOG=$STOCK_LOG PF_ADDR=$ADDR
PF_P25=$P25 PF_P587=$P587 PF_P465=$P465 PF_LOCAL_DOMAIN=$STOCK_DOMAIN
pd_write_conf "$PT_TMP/portreeve.conf"
pd_start "$PT_TMP/portreeve.conf"
stock_fill_chroot
pf_start

OFFNET=(--local-interface 127.0.0.2)
TLS_AUTH=(--tls --auth PLAIN --auth-user alice --auth-password s3cret-A)
REMOTE=someone@remote.example.net
LOCAL=root@$STOCK_DOMAIN

# Port 25: relay only for local or authenticated clients.
smtp_session mx-local "$P25" --to "$REMOTE"
t_reply "25: local client relays" mx-local DOT '^250 '
smtp_session mx-offnet "$P25" "${OFFNET[@]}" --to "$REMOTE"
t_reply "25: client off the local network may not relay" mx-offnet RCPT '^554 5\.7\.1 '
smtp_session mx-offnet-in "$P25" "${OFFNET[@]}" --to "$LOCAL"
t_reply "25: client off the local network may send to the local domain" mx-offnet-in DOT '^250 '
smtp_session mx-auth "$P25" "${OFFNET[@]}" "${TLS_AUTH[@]}" --to "$REMOTE"
t_reply "25: authenticated client relays" mx-auth DOT '^250 '
smtp_session mx-ehlo "$P25" --quit-after EHLO
t_check "25: STARTTLS offered, AUTH not before TLS" \
    "$(grep -E '^<-  250[ -]' "$PT_TMP/smtp/mx-ehlo.txt" | tr '\n' ' ')" 'STARTTLS'
t_check_not "25: no AUTH in plaintext EHLO" "$(cat "$PT_TMP/smtp/mx-ehlo.txt")" '250[ -]AUTH'

# 587: TLS and AUTH against LDAP.
smtp_session sub-plain "$P587" --to "$REMOTE"
t_reply "587: no mail without STARTTLS" sub-plain MAIL '^530 '
smtp_session sub-tls-noauth "$P587" --tls --to "$REMOTE"
t_reply "587: TLS without AUTH may not send" sub-tls-noauth RCPT '^5[35][04] 5\.7\.'
smtp_session sub-auth "$P587" "${TLS_AUTH[@]}" --to "$REMOTE"
t_reply "587: AUTH PLAIN against LDAP" sub-auth AUTH '^235 '
t_reply "587: authenticated mail accepted" sub-auth DOT '^250 '
smtp_session sub-login "$P587" --tls --auth LOGIN --auth-user alice --auth-password s3cret-A --to "$REMOTE"
t_reply "587: AUTH LOGIN against LDAP" sub-login AUTH '^235 '
smtp_session sub-badpw "$P587" --tls --auth PLAIN --auth-user alice --auth-password wrong --to "$REMOTE"
t_reply "587: wrong password refused" sub-badpw AUTH '^535 '
smtp_session sub-ehlo "$P587" --tls --quit-after EHLO
t_check "587: AUTH PLAIN LOGIN offered after TLS" "$(cat "$PT_TMP/smtp/sub-ehlo.txt")" '250[ -]AUTH PLAIN LOGIN$'
t_check_not "587: CRAM-MD5 not offered" "$(grep AUTH "$PT_TMP/smtp/sub-ehlo.txt")" 'CRAM-MD5|DIGEST-MD5|SCRAM|NTLM'
# swaks will not even try a mechanism that is not announced: ask by hand.
cram=$(python3 - "$P587" <<'PY'
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.starttls(context=ssl._create_unverified_context())
s.ehlo()
code, msg = s.docmd("AUTH", "CRAM-MD5")
print(code, msg.decode())
PY
)
t_check "587: AUTH CRAM-MD5 is refused" "$cram" '^5[0-9][0-9] '

# 465: implicit TLS and AUTH.
smtp_session subs-auth "$P465" --tlsc --auth PLAIN --auth-user alice --auth-password s3cret-A --to "$REMOTE"
t_reply "465: AUTH over implicit TLS" subs-auth AUTH '^235 '
t_reply "465: authenticated mail accepted" subs-auth DOT '^250 '
smtp_session subs-noauth "$P465" --tlsc --to "$REMOTE"
t_reply "465: no AUTH, no relay" subs-noauth RCPT '^5[35][04] 5\.7\.'
smtp_session subs-plain "$P465" --timeout 3 --to "$REMOTE"
t_check "465: no plaintext SMTP" "$(smtp_reply subs-plain BANNER)" '^$'

# The .exe rule: port 25 only.
smtp_attach invoice.exe
smtp_session exe-25 "$P25" --to "$LOCAL" "${ATTACH[@]}"
t_reply "25: .exe attachment refused" exe-25 DOT '^550 5\.7\.1 Executable attachments'
smtp_session exe-587 "$P587" "${TLS_AUTH[@]}" --to "$REMOTE" "${ATTACH[@]}"
t_reply "587: .exe attachment accepted" exe-587 DOT '^250 '
smtp_session exe-465 "$P465" --tlsc --auth PLAIN --auth-user alice --auth-password s3cret-A --to "$REMOTE" "${ATTACH[@]}"
t_reply "465: .exe attachment accepted" exe-465 DOT '^250 '
smtp_attach report.pdf
smtp_session pdf-25 "$P25" --to "$LOCAL" "${ATTACH[@]}"
t_reply "25: other attachments accepted" pdf-25 DOT '^250 '

# The smtpd processes that did all this ran chrooted into the queue dir.
roots=$(for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "^smtpd -n $ADDR:$P587 " &&
        readlink "$p/root"
done | sort -u)
t_check "587's smtpd ran chrooted into the queue directory" "$roots" "^$STOCK_SPOOL\$"
t_check "policyd saw the roles from policy_context" \
    "$(grep -c 'decision: ' "$PD_LOG")" '^[1-9]'

# --- 4. undo ---------------------------------------------------------------
out=$(setup "$ETC" --undo --reload 2>&1)
t_check "undo: exit 0" "$?" '^0$'
t_check "undo: reloaded the running Postfix" "$out" 'Postfix reloaded'
t_check "undo: main.cf byte for byte" "$(cmp "$PT_TMP/etc.orig/main.cf" "$ETC/main.cf" 2>&1 && echo same)" '^same$'
t_check "undo: master.cf byte for byte" "$(cmp "$PT_TMP/etc.orig/master.cf" "$ETC/master.cf" 2>&1 && echo same)" '^same$'
t_check "undo: the whole config directory as before (modes, owners, no backup left)" \
    "$(same_tree "$PT_TMP/etc.orig" "$ETC" && echo same)" '^same$'
gone=no
for ((i = 0; i < 100; i++)); do
    ss -Hltn "sport = :$P587" | grep -q . || { gone=yes; break; }
    sleep 0.1
done
t_check "undo: after the reload nothing listens on the 587 stand-in" "$gone" '^yes$'
smtp_session after-undo "$P25" --quit-after EHLO
t_reply "undo: port 25 still answers" after-undo EHLO '^250 '
t_check "undo: a second --undo has nothing to undo (exit 2)" \
    "$(setup "$ETC" --undo >/dev/null 2>&1; echo $?)" '^2$'

t_done
