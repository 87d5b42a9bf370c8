#!/usr/bin/env bash
# demo.sh - a live demonstration of Portreeve on this machine, on loopback.
#
# Builds portreeve-policyd, starts a private Postfix 3.7 made from the
# shipped postfix-conf/ fragments (as shipped: Postfix's own backstop
# restrictions stay in place) plus portreeve-policyd, drives real SMTP
# sessions at its "25", "587" and "465" listeners from a local client
# (127.0.0.1) and from a client off the local network (127.0.0.2), and
# prints what each port did and which rule decided, read back from the
# daemon's decision log. Everything runs in a temp dir on ports
# 24000-24999 and is stopped at exit; no mail leaves the machine (every
# transport is discard:).
#
# usage (as root, after tests/install-deps.sh):  bash contrib/demo.sh
#   BUILD_DIR=dir         build directory (default: build)
#   PORTREEVE_POLICYD=bin use this binary, do not build
#   PT_KEEP=1             keep the temp dir (logs, configs) for a look
# Exit status: 0 if every session ended as expected, 1 if not, 77 when not
# run as root.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/tests/lib/stack.sh"

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: run as root: it starts a private Postfix (on loopback ports only)" >&2
    exit 77 # "skipped" for ctest
fi

if [ -z "${PORTREEVE_POLICYD:-}" ]; then
    BUILD_DIR=${BUILD_DIR:-$REPO/build}
    echo "== building portreeve-policyd in $BUILD_DIR"
    { cmake -S "$REPO" -B "$BUILD_DIR" >/dev/null &&
        cmake --build "$BUILD_DIR" -j2 --target portreeve-policyd >/dev/null; } ||
        pt_die "build failed (cmake -S $REPO -B $BUILD_DIR)"
    PD_BIN=$BUILD_DIR/policyd/portreeve-policyd
fi

pt_init demo
echo "== starting a private Postfix ($(postconf -dh mail_version)) and portreeve-policyd in $PT_TMP"
stack_up
echo "   \"25\"  = 127.0.0.1:$P25   role mx           (policy_context=mx)"
echo "   \"587\" = 127.0.0.1:$P587  role submission   (STARTTLS required)"
echo "   \"465\" = 127.0.0.1:$P465  role submissions  (implicit TLS)"
echo "   local network (policyd_relay_networks): 127.0.0.1/32; local domain: $PF_LOCAL_DOMAIN"
echo "   off-net client: 127.0.0.2; SASL user: $ALICE_USER"
echo

AUTH=(--auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")
ROWS=()
UNEXPECTED=0

# The last reply of the transaction: the first refusal, else the reply to
# the message. Prints "STEP<TAB>REPLY".
final_reply() {
    local step r
    for step in BANNER EHLO STARTTLS AUTH MAIL RCPT DATA DOT; do
        r=$(smtp_reply "$1" "$step")
        case $r in
        [45]*) printf '%s\t%s\n' "$step" "$r"; return ;;
        esac
    done
    r=$(smtp_reply "$1" DOT)
    printf 'DOT\t%s\n' "${r:-no reply}"
}

# scenario PORTNAME ROLE CLIENT TEXT EXPECT_ERE -- swaks arguments
scenario() {
    local pname=$1 role=$2 client=$3 text=$4 want=$5 port mark id step reply rule line
    shift 6
    case $pname in 25) port=$P25 ;; 587) port=$P587 ;; 465) port=$P465 ;; esac
    id=s${#ROWS[@]}
    mark=$(pt_log_size "$PD_LOG")
    local pfmark
    pfmark=$(pt_log_size "$PF_LOG")
    local ci=()
    [ "$client" = 127.0.0.2 ] && ci=(--local-interface 127.0.0.2)
    smtp_session "$id" "$port" "${ci[@]}" "$@"
    IFS=$'\t' read -r step reply < <(final_reply "$id")
    # Which rule decided: the daemon's RCPT decision, unless Postfix itself
    # refused before the policy was asked or after it said DUNNO.
    line=$(pd_decisions "$mark" | grep ' state=RCPT ' | tail -n 1)
    rule=$(sed -n 's/.* rule=\([a-z_]*\) .*/\1/p' <<<"$line")
    case $step in
    BANNER | EHLO | STARTTLS | AUTH | MAIL)
        rule="postfix: $(grep -q STARTTLS <<<"$reply" && echo smtpd_tls_security_level=encrypt || echo smtpd)" ;;
    DOT)
        if [[ $reply == 5* ]] && pt_log_since "$PF_LOG" "$pfmark" | grep -q 'reject: header'; then
            rule="postfix: mime_header_checks"
        fi ;;
    esac
    [ -n "$rule" ] || rule="-"
    # Shorten Postfix's "<rcpt>: Recipient address rejected: " prefix.
    reply=$(sed -e 's/<[^>]*>: Recipient address rejected: //' -e 's/ as [0-9A-F]*$//' <<<"$reply")
    if grep -Eq -- "$want" <<<"$reply"; then
        ok=ok
    else
        ok="UNEXPECTED (want /$want/)"
        UNEXPECTED=$((UNEXPECTED + 1))
    fi
    ROWS+=("$pname|$role|$client|$text|${reply:0:72}|$rule|$ok")
}

ATTACH=()
smtp_attach setup.exe
EXE=("${ATTACH[@]}")

scenario 25 mx 127.0.0.1 "relay to a remote domain" '^250 ' -- --to someone@remote.example
scenario 25 mx 127.0.0.2 "relay to a remote domain" '^554 5\.7\.1 ' -- --to someone@remote.example
scenario 25 mx 127.0.0.2 "mail to the local domain" '^250 ' -- --to bob@example.org
scenario 25 mx 127.0.0.2 "STARTTLS+AUTH, relay" '^250 ' -- --tls "${AUTH[@]}" --to someone@remote.example
scenario 25 mx 127.0.0.2 ".exe attachment, local domain" '^550 5\.7\.1 ' -- --to bob@example.org "${EXE[@]}"
scenario 587 submission 127.0.0.1 "no STARTTLS" '^530 5\.7\.0 ' -- --to bob@example.org
scenario 587 submission 127.0.0.1 "STARTTLS, no AUTH" '^530 5\.7\.0 ' -- --tls --to bob@example.org
scenario 587 submission 127.0.0.2 "STARTTLS+AUTH, relay" '^250 ' -- --tls "${AUTH[@]}" --to someone@remote.example
scenario 587 submission 127.0.0.2 "STARTTLS+AUTH, .exe attachment" '^250 ' -- --tls "${AUTH[@]}" --to someone@remote.example "${EXE[@]}"
scenario 465 submissions 127.0.0.1 "TLS, no AUTH" '^530 5\.7\.0 ' -- --tlsc --to bob@example.org
scenario 465 submissions 127.0.0.2 "TLS+AUTH, relay" '^250 ' -- --tlsc "${AUTH[@]}" --to someone@remote.example
scenario 465 submissions 127.0.0.2 "TLS+AUTH, .exe attachment" '^250 ' -- --tlsc "${AUTH[@]}" --to someone@remote.example "${EXE[@]}"

{
    printf 'port|role|client|scenario|SMTP reply|rule that decided|\n'
    printf -- '----|----|------|--------|----------|-----------------|\n'
    for r in "${ROWS[@]}"; do
        printf '%s\n' "${r%|*}|"
    done
} | awk -F'|' '
    # A plain-text table; column(1) is not on a minimal Debian.
    { for (i = 1; i < NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF - 1 }
    END {
        for (r = 1; r <= NR; r++) {
            line = ""
            for (i = 1; i <= n; i++) {
                cell = c[r, i]
                if (r == 2) { cell = ""; for (k = 0; k < w[i]; k++) cell = cell "-" }
                line = line sprintf("%-" w[i] "s", cell) (i < n ? "  " : "")
            }
            sub(/ +$/, "", line)
            print line
        }
    }'
echo
echo "Decision lines logged by portreeve-policyd for the refusals above:"
pd_decisions | grep -v 'rule=default' | grep -v 'rule=state_ignored' | sed 's/^[^ ]* [^ ]* //' | head -n 12
echo
if [ "$UNEXPECTED" != 0 ]; then
    for r in "${ROWS[@]}"; do
        case ${r##*|} in ok) ;; *) echo "unexpected: $r" ;; esac
    done
    echo "demo: $UNEXPECTED session(s) did not end as expected" >&2
    exit 1
fi
echo "demo: all ${#ROWS[@]} sessions ended as expected. Logs: $PD_LOG and $PF_LOG (kept only with PT_KEEP=1)."
