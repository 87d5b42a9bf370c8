# postfix.sh - a private Postfix 3.7 instance built from the shipped
# postfix-conf/ fragments, for the end-to-end tests and the demo.
#
#   pf_create DIR ADDR P25 P587 P465
#       config in DIR/etc, queue in DIR/spool, log in DIR/maillog. Starts
#       from Debian's master.cf.dist with every inet listener removed and
#       the SMTP/LMTP client transports deleted, applies a test base (no
#       DNS, every delivery to discard:, local domain example.org, TLS
#       certificate from tls.sh), then the shipped main.cf.fragment and
#       master.cf.fragment exactly as postconf would apply them, changing
#       only the listener names smtp/submission/submissions into
#       ADDR:P25/ADDR:P587/ADDR:P465. Finally chroot=n on every service.
#   pf_set 'name = value'...       postconf -e on the instance
#   pf_get name                    postconf -h on the instance
#   pf_set_service PORT 'name=value'...
#                                  a -o override on the listener at PORT
#   pf_sasldb USER PASS...         Cyrus sasldb users (auxprop, PLAIN LOGIN)
#   pf_start / pf_stop             postfix -c DIR/etc start / stop
#   PF_NETNS                       when set (before pf_create), Postfix is
#                                  checked and run inside that network
#                                  namespace
#   pf_fragment_settings FILE      main.cf fragment -> one setting per line
#   pf_fragment_entries FILE       master.cf fragment -> one entry per line
#
# No mail can leave: there is no smtp, relay or lmtp client service in
# master.cf and every transport is discard:. The master PID is recorded in
# the run's pid list so that the EXIT trap stops it even if pf_stop is never
# reached. Needs common.sh (and tls.sh for pf_create's certificate).

PT_REPO=${PT_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PF_FRAGMENTS=${PF_FRAGMENTS:-$PT_REPO/postfix-conf}
PF_DIR=
PF_ETC=
PF_SPOOL=
PF_LOG=
PF_ADDR=
PF_LOCAL_DOMAIN=${PF_LOCAL_DOMAIN:-example.org}
PF_HOSTNAME=${PF_HOSTNAME:-mail.example.org}
# What keeps every test instance off the network: no DNS, no client name
# lookups, and every transport delivers to discard(8). One list, used by
# pf_create and by tests/setup/stock.sh, so that no instance can miss one.
PF_OFFLINE=(
    "smtpd_peername_lookup = no"
    "smtp_dns_support_level = disabled"
    "lmtp_dns_support_level = disabled"
    "default_transport = discard:portreeve test sink"
    "relay_transport = discard:portreeve test sink"
    "local_transport = discard:portreeve test sink"
    "virtual_transport = discard:portreeve test sink"
)

# postconf on the instance. Postfix pauses (up to ~1.5 s) when it reads a
# main.cf or master.cf modified within the last second, in case an editor
# is still writing it; postconf writes by rename, so after each call the
# files are complete and get backdated to skip that pause.
pf_postconf() {
    local rc
    postconf -c "$PF_ETC" "$@"
    rc=$?
    touch -d '2 seconds ago' "$PF_ETC/main.cf" "$PF_ETC/master.cf" 2>/dev/null
    return "$rc"
}

# Print each setting of a main.cf-syntax file on one line: comments and
# blank lines dropped, continuation lines (leading white space) joined.
pf_fragment_settings() {
    awk '
        /^[ \t]*#/ || /^[ \t]*$/ { next }
        /^[ \t]/ { sub(/^[ \t]+/, ""); cur = cur " " $0; next }
        { if (cur != "") print cur; cur = $0 }
        END { if (cur != "") print cur }
    ' "$1"
}

# Print each master.cf entry of FILE on one line (service line plus its
# indented continuation lines).
pf_fragment_entries() {
    pf_fragment_settings "$1"
}

pf_set() {
    pf_postconf -e "$@" || pt_die "postconf -e $* failed"
}

pf_get() {
    pf_postconf -h "$@"
}

pf_set_service() {
    local port=$1 kv
    shift
    for kv in "$@"; do
        pf_postconf -P "$PF_ADDR:$port/inet/$kv" || pt_die "postconf -P $kv failed"
    done
}

# Map a shipped service name to the test listener (only these three).
pf_listener_name() {
    case $1 in
    smtp) printf '%s:%s' "$PF_ADDR" "$PF_P25" ;;
    submission) printf '%s:%s' "$PF_ADDR" "$PF_P587" ;;
    submissions) printf '%s:%s' "$PF_ADDR" "$PF_P465" ;;
    *) printf '%s' "$1" ;;
    esac
}

pf_create() {
    local dir=$1 entry name type rest
    PF_ADDR=$2 PF_P25=$3 PF_P587=$4 PF_P465=$5
    PF_DIR=$dir PF_ETC=$dir/etc PF_SPOOL=$dir/spool PF_LOG=$dir/maillog
    mkdir -p "$PF_ETC/sasl" "$PF_SPOOL" "$dir/data" || pt_die "mkdir $dir"
    chown postfix: "$dir/data"
    cp /usr/share/postfix/master.cf.dist "$PF_ETC/master.cf"
    # With myhostname unset every postconf call resolves the host name.
    printf 'myhostname = %s\n' "$PF_HOSTNAME" >"$PF_ETC/main.cf"
    touch -d '2 seconds ago' "$PF_ETC/main.cf" "$PF_ETC/master.cf"
    [ -f "$dir/tls/server.pem" ] || pt_make_certs "$dir/tls" "$PF_HOSTNAME"

    # Remove every listener of the stock file (it listens on port 25 of all
    # interfaces) and every client that could send mail off the machine
    # (SMTP, LMTP, the pipe(8) examples).
    local drop
    mapfile -t drop < <(pf_postconf -M | awk '$2 == "inet" || $8 == "pipe" { print $1 "/" $2 }')
    pf_postconf -MX "${drop[@]}" smtp/unix relay/unix lmtp/unix || pt_die "postconf -MX failed"

    # Test base: paths, no DNS, nothing leaves, one local domain.
    pf_set "compatibility_level = 3.6" \
        "queue_directory = $PF_SPOOL" \
        "data_directory = $dir/data" \
        "maillog_file = $PF_LOG" \
        "maillog_file_prefixes = /var, /dev/stdout, $dir" \
        "myhostname = $PF_HOSTNAME" \
        "mydomain = $PF_LOCAL_DOMAIN" \
        "myorigin = \$mydomain" \
        "mydestination = $PF_LOCAL_DOMAIN" \
        "inet_interfaces = $PF_ADDR" \
        "inet_protocols = ipv4" \
        "mynetworks = 127.0.0.1/32" \
        "${PF_OFFLINE[@]}" \
        "local_recipient_maps =" \
        "alias_maps =" \
        "alias_database =" \
        "notify_classes =" \
        "biff = no" \
        "smtpd_tls_chain_files = $dir/tls/server.pem" \
        "smtpd_sasl_path = smtpd"

    # The shipped fragments, exactly as the setup command applies them.
    local settings
    mapfile -t settings < <(pf_fragment_settings "$PF_FRAGMENTS/main.cf.fragment")
    pf_set "${settings[@]}"
    local entries=()
    while IFS= read -r entry; do
        read -r name type rest <<<"$entry"
        case $type/$name in
        inet/smtp | inet/submission | inet/submissions | [!i]*) ;;
        *) pt_die "master.cf.fragment: inet service '$name' has no test port (it would listen on a real port)" ;;
        esac
        name=$(pf_listener_name "$name")
        entries+=("$name/$type=$name $type $rest")
    done < <(pf_fragment_entries "$PF_FRAGMENTS/master.cf.fragment")
    pf_postconf -M -e "${entries[@]}" || pt_die "postconf -M -e ${entries[*]} failed"

    # Tests run unchrooted: sockets, the SASL config and /etc/services
    # would otherwise have to be copied into the queue directory.
    local chroot
    mapfile -t chroot < <(pf_postconf -F '*/*/chroot' | awk '$3 == "y" { print $1 "=n" }')
    [ "${#chroot[@]}" = 0 ] || pf_postconf -F "${chroot[@]}" || pt_die "postconf -F chroot=n failed"
    # Creates the queue subdirectories, so that a policy daemon can put
    # its socket into private/ before Postfix starts.
    pf_exec postfix -c "$PF_ETC" check >/dev/null 2>&1 ||
        pt_die "postfix check: $(pf_why check)"
}

# Run a command in $PF_NETNS when set.
pf_exec() {
    ${PF_NETNS:+ip netns exec "$PF_NETNS"} "$@"
}

# Without syslog, postfix(1) reports errors only to a terminal: give it one.
pf_why() {
    script -qec "${PF_NETNS:+ip netns exec $PF_NETNS} postfix -c $PF_ETC $1" /dev/null 2>&1 | tr -d '\r'
}

# Cyrus SASL with a sasldb file in the temp dir: the stand-in for the LDAP
# back end until the auth daemon exists. Users live in the realm
# $PF_HOSTNAME, which is what smtpd passes when smtpd_sasl_local_domain is
# empty, so clients log in as plain "alice".
pf_sasldb() {
    local db=$PF_DIR/sasldb2 user pass
    while [ $# -ge 2 ]; do
        user=$1 pass=$2
        shift 2
        printf '%s' "$pass" | saslpasswd2 -p -c -f "$db" -u "$PF_HOSTNAME" "$user" ||
            pt_die "saslpasswd2 $user failed"
    done
    chown root:postfix "$db"
    chmod 640 "$db"
    cat >"$PF_ETC/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $db
mech_list: PLAIN LOGIN
EOF
}

pf_start() {
    local out
    pf_exec postfix -c "$PF_ETC" check >/dev/null 2>&1 || pt_die "postfix check: $(pf_why check)"
    # Armed before the start, so that a half-started instance is stopped too.
    pt_on_exit "${PF_NETNS:+ip netns exec $PF_NETNS} postfix -c '$PF_ETC' stop"
    pf_exec postfix -c "$PF_ETC" start >/dev/null 2>&1 || {
        tail -n 20 "$PF_LOG" >&2 2>/dev/null
        pt_die "postfix start failed: $(pf_why start)"
    }
    pt_wait_file "$PF_SPOOL/pid/master.pid" 15
    printf '%s master\n' "$(tr -d ' ' <"$PF_SPOOL/pid/master.pid")" >>"$PT_TMP/pids"
    PT_NETNS=${PF_NETNS:-} pt_wait_tcp "$PF_ADDR" "$PF_P25" 15
    PT_NETNS=${PF_NETNS:-} pt_wait_tcp "$PF_ADDR" "$PF_P587" 15
    PT_NETNS=${PF_NETNS:-} pt_wait_tcp "$PF_ADDR" "$PF_P465" 15
}

pf_stop() {
    pf_exec postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
}
