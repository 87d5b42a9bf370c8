# stock.sh - Debian 12's stock Postfix configuration in a private instance,
# for the portreeve-setup tests.
#
#   stock_create DIR ADDR P25
#       DIR/etc/main.cf and master.cf exactly as the postfix package's
#       postinst makes them for an "Internet Site" (main.cf.debian, the TLS
#       block of main.cf.tls, the relay restrictions and the debconf
#       answers below, applied with postconf -e as postinst does), then
#       adapted for a private instance and nothing else:
#         - queue_directory DIR/spool, data_directory DIR/data,
#           maillog_file DIR/maillog (there is no syslog here);
#         - the smtp/inet listener renamed ADDR:P25, inet_interfaces ADDR;
#         - no DNS (smtpd_peername_lookup, *_dns_support_level);
#         - nothing leaves: every transport is discard:, the smtp, relay
#           and lmtp client services are deleted, no alias database;
#         - the TLS certificate is a throwaway one instead of ssl-cert's
#           snakeoil pair (same two settings, other paths);
#         - import_environment adds SASL_PATH (the build's plugin dir, then
#           the system one): libportreeve.so is not installed system-wide
#           by a test.
#       smtpd keeps chroot = y. The chroot is then filled as Debian's
#       postfix.service does before every start
#       (/usr/lib/postfix/configure-instance.sh, with MAIL_CONFIG).
#       Sets STOCK_ETC, STOCK_SPOOL, STOCK_LOG.
#   stock_debconf_answers  the answers used (for the report)
#
# Needs tests/lib/common.sh, tls.sh and postfix.sh (PF_OFFLINE).

STOCK_ETC= STOCK_SPOOL= STOCK_LOG=
STOCK_HOSTNAME=mail.example.org
STOCK_DOMAIN=example.org
# What an admin might answer to the postfix debconf questions. mynetworks
# is the loopback host only, so that 127.0.0.2 is a client off the local
# network.
STOCK_MYNETWORKS='127.0.0.1/32 [::1]/128'

stock_debconf_answers() {
    printf 'main_mailer_type=Internet Site myhostname=%s destinations=%s relayhost= mynetworks=%s mailbox_limit=0 recipient_delim=+ protocols=all\n' \
        "$STOCK_HOSTNAME" "\$myhostname, $STOCK_DOMAIN, localhost" "$STOCK_MYNETWORKS"
}

stock_postconf() {
    postconf -c "$STOCK_ETC" "$@" || pt_die "postconf $* failed"
}

# The postinst part (postfix 3.7.11-0+deb12u1, "Internet Site", new main.cf).
stock_postinst() {
    cp /usr/share/postfix/master.cf.dist "$STOCK_ETC/master.cf"
    cp /usr/share/postfix/main.cf.debian "$STOCK_ETC/main.cf"
    # postinst appends main.cf.tls when ssl-cert's snakeoil key exists.
    cat /usr/share/postfix/main.cf.tls >>"$STOCK_ETC/main.cf"
    stock_postconf -e "smtpd_relay_restrictions=permit_mynetworks permit_sasl_authenticated defer_unauth_destination"
    stock_postconf -e "myhostname=$STOCK_HOSTNAME"
    stock_postconf -e "alias_maps=hash:/etc/aliases"
    stock_postconf -e "alias_database=hash:/etc/aliases"
    stock_postconf -e "mydestination=\$myhostname, $STOCK_DOMAIN, localhost"
    stock_postconf -e "relayhost="
    stock_postconf -e "mynetworks=$STOCK_MYNETWORKS"
    stock_postconf -e "mailbox_size_limit=0"
    stock_postconf -e "recipient_delimiter=+"
    stock_postconf -e "inet_interfaces=all"
    stock_postconf -e "inet_protocols=all"
}

stock_create() {
    local dir=$1 addr=$2 p25=$3 svc
    STOCK_ETC=$dir/etc STOCK_SPOOL=$dir/spool STOCK_LOG=$dir/maillog
    # The package ships /etc/postfix/sasl (empty).
    mkdir -p "$STOCK_ETC/sasl" "$STOCK_SPOOL" "$dir/data" || pt_die "mkdir $dir"
    chown postfix: "$dir/data"
    stock_postinst

    # --- private-instance adaptations ---
    [ -f "$dir/tls/server.pem" ] || pt_make_certs "$dir/tls" "$STOCK_HOSTNAME"
    sed -i -e "s,^smtpd_tls_cert_file=.*,smtpd_tls_cert_file=$dir/tls/server.crt," \
        -e "s,^smtpd_tls_key_file=.*,smtpd_tls_key_file=$dir/tls/server.key," "$STOCK_ETC/main.cf"
    sed -i -e "s,^smtp      inet ,$addr:$p25 inet ," "$STOCK_ETC/master.cf"
    for svc in smtp/unix relay/unix lmtp/unix; do
        stock_postconf -MX "$svc"
    done
    stock_postconf -e "queue_directory = $STOCK_SPOOL" \
        "data_directory = $dir/data" \
        "maillog_file = $STOCK_LOG" \
        "maillog_file_prefixes = /var, /dev/stdout, $dir" \
        "inet_interfaces = $addr" \
        "${PF_OFFLINE[@]}" \
        "alias_maps =" \
        "alias_database =" \
        "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME SASL_PATH=${STOCK_SASL_PATH:-/usr/lib/x86_64-linux-gnu/sasl2}"
    [ "$(stock_postconf -Fh "$addr:$p25/inet/chroot")" = y ] || pt_die "stock smtpd is not chrooted"
    # Creates the queue subdirectories.
    postfix -c "$STOCK_ETC" check >/dev/null 2>&1 || pt_die "postfix check on the stock config failed"
}

# What Debian's postfix.service runs before each start.
stock_fill_chroot() {
    MAIL_CONFIG=$STOCK_ETC /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 ||
        pt_die "configure-instance.sh failed"
}
