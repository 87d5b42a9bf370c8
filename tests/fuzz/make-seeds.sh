#!/bin/bash
# make-seeds.sh - (re)write the seed corpus of fuzz_proto in corpus/proto/:
# every Postfix 3.7 capture in tests/data/postfix-3.7 without its comment
# lines, all of them pipelined on one connection, a CRLF copy, and hostile
# inputs that reach each limit and each protocol error. A maintainer tool:
# the corpus is committed, CI does not run this.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data/postfix-3.7
out=$here/corpus/proto
mkdir -p "$out"
REQ='request=smtpd_access_policy\n'

rep() { # rep STRING COUNT: STRING repeated COUNT times (printf escapes kept)
    local s=$1 n=$2 r=''
    for ((i = 0; i < n; i++)); do r+=$s; done
    printf '%s' "$r"
}
seed() { # seed NAME FORMAT: write printf FORMAT to corpus/proto/NAME
    printf "$2" > "$out/$1"
}

: > "$out/capture-all-pipelined"
for f in "$data"/*.txt; do
    grep -q '^request=' "$f" || continue
    name=$(basename "$f" .txt)
    grep -v '^#' "$f" > "$out/capture-$name"
    cat "$out/capture-$name" >> "$out/capture-all-pipelined"
done
sed 's/$/\r/' "$out/capture-s587_auth_plain_ok" > "$out/capture-crlf"

a50=$(rep a 50)
seed hostile-long-line "${REQ}client_name=$(rep "$a50" 340)\n\n"
seed hostile-line-at-tiny-limit "${REQ}client_name=${a50}aa\n\n"
seed hostile-line-over-tiny-limit "${REQ}client_name=${a50}aaa\n\n"
seed hostile-line-at-tiny-limit-crlf "${REQ}client_name=${a50}aa\r\n\r\n"
seed hostile-unterminated-line "${REQ}client_name=$(rep "$a50" 2)"
seed hostile-nul "${REQ}client_name=a\0b\n\n"
seed hostile-nul-arriving "${REQ}client_na\0"
seed hostile-many-attributes "${REQ}$(rep 'x=y\n' 300)\n"
seed hostile-attributes-at-tiny-limit "${REQ}$(rep 'x=y\n' 7)\n"
seed hostile-big-request "${REQ}$(rep "stress=$(rep "$a50" 19)\n" 70)\n"
seed hostile-duplicate-names "${REQ}sender=first@example.org\nsender=second@example.org\nrequest=junk\n\n"
seed hostile-name-without-equals "${REQ}sender\n\n"
seed hostile-empty-name "${REQ}=value\n\n"
seed hostile-empty-request "\n${REQ}\n"
seed hostile-empty-request-crlf "\r\n"
seed hostile-missing-request "protocol_state=RCPT\n\n"
seed hostile-wrong-request-type "request=junk\n\n"
seed hostile-wrong-type-after-good "${REQ}\nrequest=junk\x01\"\n\n"
seed hostile-unknown-attributes "${REQ}x_future=1\nprotocol_state=RCPT\nodd name!=2\n\n"
seed postfix-3.8-3.12-attributes "${REQ}protocol_state=RCPT\npolicy_context=submission\ncompatibility_level=3.6\nmail_version=3.8.1\ntls_sni=mx.example.org\n\n"
seed value-with-equals "${REQ}ccert_subject=CN=mx.example.org,O=Example\n\n"
seed lone-cr "${REQ}sender=a\r\r\nrecipient=\rb\n\n"
seed two-requests-then-partial "${REQ}sender=a@x\n\n${REQ}sender=b@y\n\n${REQ}send"
ls "$out" | wc -l
