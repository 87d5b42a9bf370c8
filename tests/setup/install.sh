#!/usr/bin/env bash
# install.sh - "cmake --install" of a build tree into a scratch DESTDIR.
#
# Checks that every file the kit promises lands where GNUInstallDirs and
# Debian put it (the plugin in libsasl2's plugin directory, the setup
# command with the installed fragment path, man pages, units, tmpfiles),
# that an existing /etc/portreeve/portreeve.conf survives a second
# install, that the installed portreeve-setup finds its fragments, and that
# systemd-analyze accepts the units.
# usage: install.sh BUILD_DIR (configured with CMAKE_INSTALL_PREFIX=/usr
# for the Debian paths; another prefix is reported and skipped)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/common.sh"
. "$HERE/../lib/assert.sh"
BUILD=$(cd "${1:?usage: install.sh BUILD_DIR}" && pwd)
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
[ "$prefix" = /usr ] || { echo "SKIP: $BUILD has CMAKE_INSTALL_PREFIX=$prefix, not /usr"; exit 77; }
pt_init setup-install
D=$PT_TMP/root
multiarch=$(gcc -print-multiarch)

out=$(DESTDIR=$D cmake --install "$BUILD" 2>&1)
t_check "cmake --install succeeds" "$?" '^0$'
for f in usr/sbin/portreeve-policyd usr/sbin/portreeve-authd usr/sbin/portreeve-setup \
    "usr/lib/$multiarch/sasl2/libportreeve.so" \
    usr/share/man/man8/portreeve-policyd.8 usr/share/man/man8/portreeve-authd.8 \
    usr/share/man/man8/portreeve-setup.8 usr/share/man/man5/portreeve.conf.5 \
    usr/share/man/man5/portreeve-sasl.5 \
    usr/share/portreeve/postfix-conf/main.cf.fragment \
    usr/share/portreeve/postfix-conf/master.cf.fragment \
    usr/share/portreeve/postfix-conf/sasl/smtpd.conf \
    etc/portreeve/portreeve.conf \
    lib/systemd/system/portreeve-policyd.service lib/systemd/system/portreeve-authd.service \
    usr/lib/tmpfiles.d/portreeve.conf; do
    t_check "installed: /$f" "$([ -e "$D/$f" ] && echo present)" '^present$'
done
t_check "setup command knows the installed fragments" \
    "$(grep '^PKG_FRAGMENTS=' "$D/usr/sbin/portreeve-setup")" "^PKG_FRAGMENTS='/usr/share/portreeve/postfix-conf'\$"
t_check "units run the installed binaries" \
    "$(grep -h '^ExecStart=' "$D"/lib/systemd/system/portreeve-*.service | tr '\n' ' ')" \
    '^ExecStart=/usr/sbin/portreeve-(authd|policyd) -f ExecStart=/usr/sbin/portreeve-(authd|policyd) -f $'
t_check "the plugin exports only its entry point" \
    "$(nm -D --defined-only "$D/usr/lib/$multiarch/sasl2/libportreeve.so" | awk '$2 == "T" { print $3 }')" \
    '^sasl_auxprop_plug_init$'
t_check "man page portreeve-setup(8) formats without warnings" \
    "$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$D/usr/share/man/man8/portreeve-setup.8" 2>&1 >/dev/null)" '^$'

printf '# the admin'"'"'s own\n' >"$D/etc/portreeve/portreeve.conf"
out=$(DESTDIR=$D cmake --install "$BUILD" 2>&1)
t_check "second install keeps /etc/portreeve/portreeve.conf" \
    "$(cat "$D/etc/portreeve/portreeve.conf")" "^# the admin's own\$"
t_check "second install says so" "$out" 'Kept: .*/etc/portreeve/portreeve.conf'

# The installed command, with the installed fragments, on an empty config.
mkdir -p "$PT_TMP/etc"
cp /usr/share/postfix/master.cf.dist "$PT_TMP/etc/master.cf"
cp /usr/share/postfix/main.cf.debian "$PT_TMP/etc/main.cf"
out=$("$D/usr/sbin/portreeve-setup" -c "$PT_TMP/etc" --fragments "$D/usr/share/portreeve/postfix-conf" 2>&1)
t_check "installed portreeve-setup runs a dry run" "$out" 'dry run: nothing was changed'

# systemd-analyze verify. The binaries and man pages are only in the
# scratch root, not on this host: those two complaints are expected.
if command -v systemd-analyze >/dev/null; then
    out=$(systemd-analyze verify "$D"/lib/systemd/system/portreeve-policyd.service \
        "$D"/lib/systemd/system/portreeve-authd.service 2>&1 |
        grep -Ev "Command 'man |Command /usr/sbin/portreeve-(policyd|authd) is not executable" || true)
    t_check "systemd-analyze verify: no complaint" "$out" '^$'
    out=$(systemd-tmpfiles --root="$D" --create "$D/usr/lib/tmpfiles.d/portreeve.conf" 2>&1)
    t_check "systemd-tmpfiles creates the socket directory inside the chroot" \
        "$(stat -c '%a %U' "$D/var/spool/postfix/var/run/portreeve" 2>&1)" '^755 root$'
fi
t_done
