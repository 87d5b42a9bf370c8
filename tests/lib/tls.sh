# tls.sh - a throwaway CA and server certificate for test servers.
#
#   pt_make_certs DIR [CN]
#       writes DIR/ca.key DIR/ca.crt (self-signed CA), DIR/server.key,
#       DIR/server.crt (signed by the CA, SAN: CN, localhost, 127.0.0.1, ::1)
#       and DIR/server.pem (key then certificate, the form Postfix's
#       smtpd_tls_chain_files takes). Keys are EC P-256: fast to make, and
#       every client in Debian 12 speaks it. Valid for 2 days.
#
# Requires openssl(1). Nothing here is trusted outside the test: the CA key
# lives in the temp dir and dies with it.

pt_make_certs() {
    local dir=$1 cn=${2:-mail.example.org}
    mkdir -p "$dir"
    (
        set -e
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca.key -out ca.crt -days 2 -subj "/CN=Portreeve test CA" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout server.key -out server.csr -subj "/CN=$cn" 2>/dev/null
        printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1\n' "$cn" >server.ext
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >>server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out server.crt -days 2 -extfile server.ext 2>/dev/null
        cat server.key server.crt >server.pem
        chmod 644 ca.crt server.crt
        chmod 600 ca.key server.key server.pem
        rm -f server.csr server.ext ca.srl
    ) || pt_die "pt_make_certs: openssl failed in $dir"
}
