#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 packages Portreeve builds and tests with.
#
# Run as root on Debian 12 (bookworm). Idempotent: installs only what is missing.
# System daemons that the packages would start on their standard ports
# (postfix on 25, slapd on 389, redis on 6379, saslauthd) are kept from
# starting while we install, and debconf is preseeded so that postfix and
# slapd create no configuration of their own. The tests start private
# instances on other loopback ports.
set -euo pipefail

PKGS=(
    # build
    build-essential cmake pkg-config git ca-certificates
    libevent-dev libhiredis-dev libldap-dev libsasl2-dev libcmocka-dev nettle-dev
    clang libclang-rt-14-dev llvm clang-format valgrind
    # real peers for end-to-end tests, the demo and the benchmarks
    postfix slapd ldap-utils redis-server redis-sentinel redis-tools
    swaks sasl2-bin libsasl2-modules openssl iproute2 procps psmisc
    # swaks' STARTTLS/implicit TLS and IPv6 (only recommended, not pulled
    # in), the sasldb auxprop plugin for the e2e AUTH users, flock
    libio-socket-ssl-perl libnet-ssleay-perl libsasl2-modules-db util-linux
    libio-socket-inet6-perl
    # packaging (issue 5)
    debhelper dpkg-dev devscripts lintian fakeroot
)

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root (it calls apt-get)" >&2
    exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps.sh: all ${#PKGS[@]} packages present"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
debconf-set-selections <<'SEL'
postfix postfix/main_mailer_type select No configuration
slapd slapd/no_configuration boolean true
SEL

# Keep apt from starting system daemons on standard ports while we install.
# Only remove the guard if we created it.
guard=/usr/sbin/policy-rc.d
made_guard=0
if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$guard"
    chmod 755 "$guard"
    made_guard=1
fi
trap '[ "$made_guard" = 1 ] && rm -f "$guard"' EXIT

echo "install-deps.sh: installing ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
