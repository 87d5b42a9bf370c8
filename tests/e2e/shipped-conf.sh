#!/usr/bin/env bash
# shipped-conf.sh - the shipped configuration files cannot rot.
#
#   postfix-conf/portreeve.conf: every "#policyd_/#redis_ name = value" line
#     shows the real default (as "portreeve-policyd -d" prints it), every policyd_* key
#     the daemon knows is in the sample, and the file with every line
#     uncommented passes "portreeve-policyd -t"; the same for "#authd_"
#     lines against "portreeve-authd -d" (with the one key that has no
#     default, authd_ldap_search_base, set).
#   postfix-conf/main.cf.fragment and master.cf.fragment: applied with
#     postconf -e / postconf -M -e to an empty Postfix config directory
#     (what the setup command does), every setting reads back unchanged,
#     and "postconf" reports no unknown parameter.
# Needs no root and starts no server.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/common.sh"
. "$HERE/../lib/postfix.sh"
. "$HERE/../lib/assert.sh"
PD_BIN=${PORTREEVE_POLICYD:-$PT_REPO/build-e2e/policyd/portreeve-policyd}
AD_BIN=${PORTREEVE_AUTHD:-$(dirname "$PD_BIN")/../saslauthd-ldap/portreeve-authd}
SAMPLE=$PT_REPO/postfix-conf/portreeve.conf

pt_init shipped-conf
[ -x "$PD_BIN" ] || pt_die "no policy daemon at $PD_BIN"

# --- portreeve.conf --------------------------------------------------------
"$PD_BIN" -d >"$PT_TMP/defaults" 2>&1 || pt_die "portreeve-policyd -d failed"
grep -E '^#(policyd|redis)_[a-z0-9_]+ =' "$SAMPLE" | sed -e 's/^#//' -e 's/ *$//' >"$PT_TMP/sample"
sed -e 's/ *$//' "$PT_TMP/defaults" >"$PT_TMP/defaults.trim"
t_check "sample: shows policyd defaults" "$(wc -l <"$PT_TMP/sample")" '^[1-9][0-9]*$'
t_check "sample: every default shown is the real one" \
    "$(grep -vxF -f "$PT_TMP/defaults.trim" "$PT_TMP/sample" | head -n 3)" '^$'
t_check "sample: every policyd_* key is in the sample" \
    "$(grep -E '^policyd_' "$PT_TMP/defaults.trim" | cut -d' ' -f1 |
        grep -vxF -f <(cut -d' ' -f1 "$PT_TMP/sample") | head -n 3)" '^$'
sed -e 's/^#\(\(policyd\|redis\)_[a-z0-9_]* =\)/\1/' "$SAMPLE" >"$PT_TMP/uncommented.conf"
t_check "sample: uncommented, it passes -t" \
    "$("$PD_BIN" -t -c "$PT_TMP/uncommented.conf" 2>&1; echo "exit=$?")" 'exit=0$'
t_check "sample: uncommented, -n finds nothing that differs from the defaults" \
    "$("$PD_BIN" -n -c "$PT_TMP/uncommented.conf" 2>&1 | grep -E '^(policyd|redis)_' | head -n 3)" '^$'

# --- portreeve.conf, the authd part ---------------------------------------
[ -x "$AD_BIN" ] || pt_die "no auth daemon at $AD_BIN"
"$AD_BIN" -d 2>&1 | sed -e 's/ *$//' | grep -E '^authd_' >"$PT_TMP/authd.defaults" ||
    pt_die "portreeve-authd -d failed"
grep -E '^#authd_[a-z0-9_]+ =' "$SAMPLE" | sed -e 's/^#//' -e 's/ *$//' >"$PT_TMP/authd.sample"
t_check "sample: every authd default shown is the real one" \
    "$(grep -vxF -f "$PT_TMP/authd.defaults" "$PT_TMP/authd.sample" | head -n 3)" '^$'
t_check "sample: every authd_* key is in the sample" \
    "$(cut -d' ' -f1 "$PT_TMP/authd.defaults" |
        grep -vxF -f <(cut -d' ' -f1 "$PT_TMP/authd.sample") | head -n 3)" '^$'
sed -e 's/^#\(\(authd\|redis\)_[a-z0-9_]* =\)/\1/' \
    -e 's/^authd_ldap_search_base =.*/authd_ldap_search_base = dc=example,dc=org/' \
    -e 's/^authd_user = .*/authd_user =/' "$SAMPLE" >"$PT_TMP/authd.conf"
t_check "sample: uncommented (with a search base), portreeve-authd -t passes" \
    "$("$AD_BIN" -t -c "$PT_TMP/authd.conf" 2>&1; echo "exit=$?")" 'exit=0$'

# --- the Postfix fragments -------------------------------------------------
PF_ETC=$PT_TMP/etc
mkdir -p "$PF_ETC"
# myhostname set: without it every postconf call looks up the host name.
printf 'myhostname = mail.example.org\nmydomain = example.org\n' >"$PF_ETC/main.cf"
cp /usr/share/postfix/master.cf.dist "$PF_ETC/master.cf"
# One postconf call for all settings (Postfix re-reads a file modified in
# the last second after a pause, so one edit per setting is slow).
mapfile -t settings < <(pf_fragment_settings "$PT_REPO/postfix-conf/main.cf.fragment")
pf_postconf -e "${settings[@]}" 2>"$PT_TMP/err" || t_fail "main.cf fragment: postconf -e" "$(cat "$PT_TMP/err")"
for setting in "${settings[@]}"; do
    name=${setting%% =*}
    want=${setting#*= }
    got=$(pf_postconf -h "$name" 2>&1)
    t_check "main.cf fragment: $name reads back unchanged" "$([ "$got" = "$want" ] && echo same || echo "'$got'")" '^same$'
done
t_check "main.cf fragment: has the policy check and the end-of-data hook" \
    "$(pf_postconf -h smtpd_relay_restrictions smtpd_end_of_data_restrictions | grep -c 'check_policy_service { unix:private/portreeve')" '^2$'
while IFS= read -r entry; do
    read -r name type _ <<<"$entry"
    pf_postconf -M -e "$name/$type=$entry" 2>"$PT_TMP/err" || t_fail "master.cf: postconf -M $name/$type" "$(cat "$PT_TMP/err")"
done < <(pf_fragment_entries "$PT_REPO/postfix-conf/master.cf.fragment")
for svc in smtp submission submissions; do
    t_check "master.cf fragment: $svc names its role" \
        "$(pf_postconf -P "$svc/inet/smtpd_policy_service_policy_context" 2>&1)" \
        "= $( [ $svc = smtp ] && echo mx || echo $svc)\$"
done
for svc in submission submissions; do
    t_check "master.cf fragment: $svc has no content filter and no header checks" \
        "$(pf_postconf -P "$svc/inet/content_filter" "$svc/inet/receive_override_options" 2>&1 | tr '\n' ' ')" \
        'content_filter = +.*receive_override_options = no_header_body_checks'
done
t_check "master.cf fragment: 587 requires TLS, 465 is implicit TLS" \
    "$(pf_postconf -P submission/inet/smtpd_tls_security_level submissions/inet/smtpd_tls_wrappermode 2>&1 | tr '\n' ' ')" \
    'smtpd_tls_security_level = encrypt .*smtpd_tls_wrappermode = yes'
t_check "fragments: postconf warns about nothing" "$(pf_postconf -n 2>&1 >/dev/null; pf_postconf -M 2>&1 >/dev/null)" '^$'

t_done
