# smtp.sh - drive real SMTP sessions with swaks and read the replies back.
#
#   smtp_session NAME PORT [SWAKS_ARGS...]
#       one session against $SMTP_SERVER:PORT (default 127.0.0.1), run in
#       network namespace $SMTP_NETNS when that is set; the transcript goes to
#       $PT_TMP/smtp/NAME.txt. Defaults: --timeout 5, helo client.example.test,
#       from sender@remote.example; SWAKS_ARGS add to or override them
#       (e.g. --local-interface 127.0.0.2, --tls, --tlsc, --auth PLAIN ...).
#       Returns swaks' exit status (0 = the whole transaction was accepted).
#   smtp_reply NAME STEP
#       print the final line of the server's reply to STEP of session NAME:
#       STEP is an SMTP verb (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT),
#       DOT for the reply after the message body, or BANNER. Prints nothing
#       when the session never got there.
#   smtp_attach FILENAME
#       set the array ATTACH to swaks arguments that attach a small file
#       named FILENAME
#
# The server certificate is not verified: the client is a stand-in for a
# mail client, the point is the server's policy, not PKI.

SMTP_FROM=${SMTP_FROM:-sender@remote.example}

smtp_session() {
    local name=$1 port=$2 rc
    shift 2
    mkdir -p "$PT_TMP/smtp"
    ${SMTP_NETNS:+ip netns exec "$SMTP_NETNS"} \
        swaks --server "${SMTP_SERVER:-127.0.0.1}" --port "$port" --timeout 5 \
        --helo client.example.test --from "$SMTP_FROM" \
        --header 'Subject: portreeve e2e' --body 'portreeve end-to-end test' \
        "$@" >"$PT_TMP/smtp/$name.txt" 2>&1
    rc=$?
    return "$rc"
}

# swaks marks client lines with "->" (plaintext) or "~>" (TLS) and server
# lines with "<-", "<~", or "<**"/"<~*" for errors. A multi-line reply ends
# at the line whose code is followed by a space. Client lines that are not
# SMTP commands (AUTH LOGIN's base64 steps, message text) continue the
# command before them: the reply to AUTH is the last one of the exchange.
smtp_reply() {
    local name=$1 step=$2
    awk -v step="$step" '
        function text(line) { sub(/^(<-|<~|<\*\*|<~\*) +/, "", line); return line }
        BEGIN {
            want = (step == "BANNER")
            split("EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT QUIT RSET NOOP VRFY ETRN XCLIENT", v, " ")
            for (i in v) verbs[v[i]] = 1
        }
        /^ *(->|~>) / {
            cmd = $0
            sub(/^ *(->|~>) +/, "", cmd)
            verb = toupper(cmd)
            sub(/[ :].*/, "", verb)
            if (cmd == ".") verb = "DOT"
            if (!(verb in verbs) && verb != "DOT") next
            if (got != "") exit
            want = (verb == step)
            next
        }
        /^(<-|<~|<\*\*|<~\*) / && want {
            t = text($0)
            if (t ~ /^[0-9][0-9][0-9]( |$)/) got = t
        }
        END { if (got != "") print got }
    ' "$PT_TMP/smtp/$name.txt"
}

smtp_attach() {
    ATTACH=(--attach-name "$1" --attach "portreeve test attachment")
}
