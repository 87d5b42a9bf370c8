# assert.sh - checks for the end-to-end tests, reported TAP-style.
#
#   t_check NAME GOT ERE        GOT must match the extended regexp ERE
#   t_check_not NAME GOT ERE    GOT must not match ERE
#   t_reply NAME SESSION STEP ERE
#                               the reply to STEP of an smtp_session
#   t_decision NAME MARK ERE    a decision line logged by the policy daemon
#                               after byte offset MARK matches ERE
#   t_daemon_stops_cleanly     SIGTERM the policy daemon: exit status 0, and
#                               no warning, error or sanitizer report in its
#                               log except lines matching $T_EXPECTED_WARNINGS
#   t_done                      print the summary; exit 1 if anything failed
#
# Failure messages say "got X, want Y". Every check counts; a test script
# that ran no check fails in t_done rather than passing vacuously.

T_RUN=0
T_FAILED=0

t_pass() {
    T_RUN=$((T_RUN + 1))
    printf 'ok %d - %s\n' "$T_RUN" "$1"
}

t_fail() {
    T_RUN=$((T_RUN + 1))
    T_FAILED=$((T_FAILED + 1))
    printf 'not ok %d - %s\n' "$T_RUN" "$1"
    printf '#   %s\n' "$2"
}

t_check() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        t_pass "$1"
    else
        t_fail "$1" "got '${2:-<nothing>}', want /$3/"
    fi
}

t_check_not() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        t_fail "$1" "got '$2', want nothing matching /$3/"
    else
        t_pass "$1"
    fi
}

t_reply() {
    local got
    got=$(smtp_reply "$2" "$3")
    if printf '%s\n' "$got" | grep -Eq -- "$4"; then
        t_pass "$1"
    else
        t_fail "$1" "got reply '${got:-<none>}' to $3, want /$4/ (transcript: $PT_TMP/smtp/$2.txt)"
        sed 's/^/#     /' "$PT_TMP/smtp/$2.txt" | tail -n 25
    fi
}

t_decision() {
    local name=$1 mark=$2 ere=$3
    # The daemon logs before it replies, so by the time swaks has the reply
    # the line is normally there; allow a little time for the write anyway.
    if pd_wait_decision "$ere" "$mark" 5; then
        t_pass "$name"
    else
        t_fail "$name" "got decision lines: $(pd_decisions "$mark" | sed 's/^.*decision: //' | head -n 6 | tr '\n' '|'), want one matching /$ere/"
    fi
}

t_daemon_stops_cleanly() {
    local bad
    pd_stop
    t_check "the daemon exits 0 on SIGTERM" "$PD_EXIT" '^0$'
    bad=$(grep -Ei 'warning|error|fatal|sanitizer|runtime error|leak' "$PD_LOG" |
        grep -Ev -- "${T_EXPECTED_WARNINGS:-^\$}" | head -n 5)
    t_check "the daemon logged no unexpected warning or error" "$bad" '^$'
}

t_done() {
    if [ "$T_RUN" = 0 ]; then
        printf 'FAIL: no checks ran\n'
        exit 1
    fi
    printf '1..%d\n' "$T_RUN"
    if [ "$T_FAILED" != 0 ]; then
        printf 'FAIL: %d of %d checks failed\n' "$T_FAILED" "$T_RUN"
        exit 1
    fi
    printf 'PASS: %d checks\n' "$T_RUN"
}
