#!/usr/bin/env bash
# debs.sh - build the .debs (contrib/build-debs.sh, dpkg-buildpackage -us
# -uc -b from the committed tree; PORTREEVE_DEBS_WORKTREE=1: the working
# tree) and inspect them:
#   - dpkg-deb -c: each package carries what it should (the plugin in
#     libsasl2's directory, units, tmpfiles, fragments, man pages) and not
#     the plugin's private copy;
#   - dpkg-deb -I / -e: /etc/portreeve/portreeve.conf is a conffile, the
#     daemons depend on portreeve-common, no maintainer script mentions
#     Postfix's configuration (they never edit it), the units are neither
#     enabled nor started by postinst;
#   - lintian --pedantic: no error and no warning; the tags are printed;
#   - dpkg -x of every package into one scratch root: the unpacked daemons
#     print their defaults, the unpacked portreeve-setup runs a dry run on
#     a stock Debian main.cf/master.cf with the unpacked fragments.
# A full "dpkg --root" install is not done: the maintainer scripts would
# run chrooted in the scratch root, which has no base system (or, with
# --force-script-chrootless, on this host: adduser, systemd-tmpfiles).
# Slow (a full package build, ~1 min here). Exit 77 without the tools.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PT_REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/../lib/common.sh"
. "$HERE/../lib/assert.sh"
for t in dpkg-buildpackage dpkg-deb lintian dh; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
pt_init setup-debs
OUT=$PT_TMP/debs
mode=()
[ "${PORTREEVE_DEBS_WORKTREE:-0}" = 1 ] && mode=(--worktree)
if ! bash "$PT_REPO/contrib/build-debs.sh" "${mode[@]}" "$OUT" >"$PT_TMP/build.out" 2>&1; then
    cat "$PT_TMP/build.out"
    t_fail "dpkg-buildpackage -us -uc -b" "see above"
    t_done
fi
t_pass "dpkg-buildpackage -us -uc -b built $(ls "$OUT"/*.deb | grep -vc dbgsym) packages"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb() { ls "$OUT/$1"_*.deb; }

contents() { dpkg-deb -c "$(deb "$1")" | awk '{ print $6 }' | sed 's,^\./,/,'; }
has() { # PACKAGE PATH...
    local p=$1 f list
    shift
    list=$(contents "$p")
    for f in "$@"; do
        t_check "$p contains $f" "$(printf '%s\n' "$list" | grep -qxF "$f" && echo yes)" '^yes$'
    done
}
has portreeve-common /etc/portreeve/portreeve.conf /usr/sbin/portreeve-setup \
    /usr/share/man/man8/portreeve-setup.8.gz /usr/share/man/man5/portreeve.conf.5.gz \
    /usr/share/portreeve/postfix-conf/main.cf.fragment \
    /usr/share/portreeve/postfix-conf/master.cf.fragment \
    /usr/share/portreeve/postfix-conf/sasl/smtpd.conf \
    /usr/lib/tmpfiles.d/portreeve.conf /usr/share/doc/portreeve-common/README.Debian
has portreeve-policyd /usr/sbin/portreeve-policyd /lib/systemd/system/portreeve-policyd.service \
    /usr/share/man/man8/portreeve-policyd.8.gz
has portreeve-authd /usr/sbin/portreeve-authd /lib/systemd/system/portreeve-authd.service \
    /usr/share/man/man8/portreeve-authd.8.gz
has libsasl2-modules-portreeve "/usr/lib/$multiarch/sasl2/libportreeve.so" \
    /usr/share/man/man5/portreeve-sasl.5.gz
t_check "no package carries the plugin's private copy" \
    "$(for d in "$OUT"/*.deb; do dpkg-deb -c "$d"; done | grep -c 'portreeve/sasl2/')" '^0$'

t_check "portreeve.conf is a conffile" \
    "$(dpkg-deb -f "$(deb portreeve-common)" Conffiles 2>/dev/null; dpkg-deb -I "$(deb portreeve-common)" conffiles)" \
    '^/etc/portreeve/portreeve.conf$'
for p in portreeve-policyd portreeve-authd; do
    t_check "$p depends on portreeve-common of the same version" \
        "$(dpkg-deb -f "$(deb "$p")" Depends)" 'portreeve-common \(= 0\.1\.0\)'
done
for d in "$OUT"/*.deb; do
    p=$(dpkg-deb -f "$d" Package)
    rm -rf "$PT_TMP/ctrl"
    dpkg-deb -e "$d" "$PT_TMP/ctrl"
    scripts=$(ls "$PT_TMP/ctrl" | grep -E '^(pre|post)(inst|rm)$' | tr '\n' ' ')
    [ -n "$scripts" ] || continue
    t_check "$p maintainer scripts ($scripts) never touch Postfix's configuration" \
        "$(cd "$PT_TMP/ctrl" && grep -nE 'postconf|postfix (reload|restart|start)|/etc/postfix|master\.cf|main\.cf' $scripts)" '^$'
    case $p in portreeve-policyd | portreeve-authd)
        # dh_installsystemd --no-enable: "enable" only re-creates the links
        # of a unit that was installed and enabled before (upgrades), and
        # deb-systemd-invoke starts only enabled units.
        t_check "$p postinst enables its unit only if the admin had" \
            "$(awk '/deb-systemd-helper debian-installed/ { g = 1 } /deb-systemd-helper enable/ { print (g ? "guarded" : "UNGUARDED") }' "$PT_TMP/ctrl/postinst" | sort -u)" '^guarded$' ;;
    esac
done
t_check "portreeve-common postinst creates the portreeve system user" \
    "$(dpkg-deb -e "$(deb portreeve-common)" "$PT_TMP/ctrl-c" && grep -c 'adduser --system' "$PT_TMP/ctrl-c/postinst")" '^1$'

# lintian
lintian --pedantic -I "$OUT"/*.changes >"$PT_TMP/lintian.txt" 2>&1
lrc=$?
printf '# lintian --pedantic -I: %s\n' "$(grep -cE '^[EWIPX]: ' "$PT_TMP/lintian.txt") tags (exit $lrc)"
grep -E '^[EWIPX]: ' "$PT_TMP/lintian.txt" | sed 's/^/#   /'
t_check "lintian: no errors" "$(grep -c '^E: ' "$PT_TMP/lintian.txt")" '^0$'
t_check "lintian: no warnings" "$(grep -c '^W: ' "$PT_TMP/lintian.txt")" '^0$'

# Unpack everything into one scratch root and run what can run from there.
R=$PT_TMP/root
for d in "$OUT"/*.deb; do
    case $d in *dbgsym*) continue ;; esac
    dpkg -x "$d" "$R" || t_fail "dpkg -x $(basename "$d")" "failed"
done
t_check "unpacked portreeve-policyd prints its defaults" \
    "$("$R/usr/sbin/portreeve-policyd" -d 2>&1 | grep -c '^policyd_')" '^[1-9][0-9]*$'
t_check "unpacked portreeve-authd prints its defaults" \
    "$("$R/usr/sbin/portreeve-authd" -d 2>&1 | grep -c '^authd_')" '^[1-9][0-9]*$'
t_check "unpacked plugin exports only sasl_auxprop_plug_init" \
    "$(nm -D --defined-only "$R/usr/lib/$multiarch/sasl2/libportreeve.so" | awk '$2 == "T" { print $3 }')" \
    '^sasl_auxprop_plug_init$'
mkdir -p "$PT_TMP/etc/sasl"
cp /usr/share/postfix/master.cf.dist "$PT_TMP/etc/master.cf"
cp /usr/share/postfix/main.cf.debian "$PT_TMP/etc/main.cf"
t_check "unpacked portreeve-setup: dry run with the unpacked fragments" \
    "$("$R/usr/sbin/portreeve-setup" -c "$PT_TMP/etc" --fragments "$R/usr/share/portreeve/postfix-conf" 2>&1)" \
    'dry run: nothing was changed'
t_check "unpacked portreeve-setup points at /usr/share/portreeve/postfix-conf" \
    "$(grep '^PKG_FRAGMENTS=' "$R/usr/sbin/portreeve-setup")" "'/usr/share/portreeve/postfix-conf'"
printf '# packages:\n'
for d in "$OUT"/*.deb; do
    printf '#   %s %s bytes, %s files\n' "$(basename "$d")" "$(stat -c %s "$d")" "$(dpkg-deb -c "$d" | grep -vc '/$')"
done
t_done
