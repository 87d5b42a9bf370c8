# common.sh - process, temp-dir, port and wait helpers for the end-to-end
# tests and the demo. Source it from bash; it defines functions only and
# changes nothing until pt_init is called.
#
#   pt_init NAME          make the run's temp dir (0755, $PT_TMP) and install
#                         the EXIT trap that stops everything started here
#   pt_on_exit CMD...     run CMD at exit (last registered runs first)
#   pt_spawn NAME LOG CMD...
#                         start CMD in its own session (setsid), stdout and
#                         stderr to LOG; records its PID as $PT_PID and in
#                         $PT_TMP/pids so that the EXIT trap stops it;
#                         stdin is /dev/null, or $PT_SPAWN_STDIN if set
#   pt_stop_pid PID WORD  stop PID if /proc/PID/cmdline contains WORD: TERM,
#                         wait up to 10 s (state field of /proc/PID/stat, as
#                         killed daemons linger <defunct> here), then KILL
#   pt_ports N            print the first of N consecutive free TCP ports in
#                         $PT_PORT_MIN..$PT_PORT_MAX (default 24000..24999),
#                         reserved for this run (a lock serialises callers);
#                         call it as base=$(pt_ports N): see "Failing inside
#                         $(...)" below
#   pt_wait_tcp HOST PORT [SECS]   wait until something listens there (in
#                                  network namespace $PT_NETNS when set)
#   pt_wait_file PATH [SECS]       wait until PATH exists (sockets, pid files)
#   pt_log_size FILE               print FILE's size (a mark for pt_wait_log)
#   pt_wait_log FILE ERE [SECS] [MARK]
#                         wait until a line matching ERE appears in FILE
#                         (after byte offset MARK when given)
#   pt_die MSG / pt_note MSG       fail the script / print progress
#
# Contract: every process is started with setsid and stopped by the PID that
# was recorded, after checking its command line; nothing is ever killed by
# name. The temp dir is removed at exit unless PT_KEEP=1 (or the script
# failed and PT_KEEP_ON_FAIL=1), so that a failing run can be inspected.
#
# Port registry: /tmp/portreeve-ports.reg, one line "PORT TIME OWNER" per
# reserved port, changed only under flock on /tmp/portreeve-ports.lock.
# OWNER is the reserving script's PID ($$, the same inside $(...)). The
# EXIT trap (pt_cleanup) removes this script's lines, and only those, once
# its processes are stopped; lines older than an hour are dropped by the
# next pt_ports, the safety net for a run that was killed (SIGKILL, ctest
# timeout) or never called pt_init. A later process that happens to get a
# dead run's PID releases that run's stale lines too, which is harmless.
#
# Failing inside $(...): pt_die in a command substitution would only end
# the subshell, and the script would go on with an empty value (without
# set -e). So a helper whose output is captured, pt_ports, fails loudly: it
# prints "FAIL: ..." on stderr and, when it runs in a subshell, sends USR1
# to the script ($$), which pt_init traps as exit 1 (EXIT trap and cleanup
# as usual; without pt_init USR1 simply ends the script). Callers need no
# "|| pt_die": base=$(pt_ports 3) never continues with an empty base.

PT_PORT_MIN=${PT_PORT_MIN:-24000}
PT_PORT_MAX=${PT_PORT_MAX:-24999}
PT_TMP=
PT_PID=
PT_EXIT_HOOKS=()

pt_note() { printf '# %s\n' "$*" >&2; }

pt_die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# pt_die for helpers run inside $(...): also end the script that captures
# them (see "Failing inside $(...)" above).
pt_die_loud() {
    printf 'FAIL: %s\n' "$*" >&2
    [ "$BASHPID" = "$$" ] || kill -USR1 "$$" 2>/dev/null
    exit 1
}

# Make the temp dir and arm the EXIT trap. The dir is 0755 because Postfix
# daemons run as the postfix user and must enter it.
pt_init() {
    local name=${1:-run}
    PT_TMP=$(mktemp -d "/tmp/portreeve-${name}.XXXXXX") || pt_die "mktemp failed"
    chmod 755 "$PT_TMP"
    : >"$PT_TMP/pids"
    trap pt_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 1' USR1 # pt_die_loud from a command substitution
}

pt_on_exit() {
    PT_EXIT_HOOKS+=("$*")
}

# EXIT trap: run hooks in reverse order, stop recorded processes (newest
# first), then remove the temp dir.
pt_cleanup() {
    local rc=$? i line pid word
    trap - EXIT
    for ((i = ${#PT_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${PT_EXIT_HOOKS[$i]}" >/dev/null 2>&1 || true
    done
    if [ -n "$PT_TMP" ] && [ -f "$PT_TMP/pids" ]; then
        tac "$PT_TMP/pids" | while read -r pid word; do
            pt_stop_pid "$pid" "$word" || true
        done
    fi
    pt_ports_release || true
    if [ -n "$PT_TMP" ] && [ -d "$PT_TMP" ]; then
        if [ "${PT_KEEP:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "${PT_KEEP_ON_FAIL:-0}" = 1 ]; }; then
            printf '# kept %s\n' "$PT_TMP" >&2
        else
            rm -rf "$PT_TMP"
        fi
    fi
    exit "$rc"
}

# Start a command in its own session. WORD recorded with the PID is the
# basename of the command, checked against /proc/PID/cmdline before any kill.
pt_spawn() {
    local name=$1 log=$2
    shift 2
    # Without job control a background job is not a process-group leader,
    # so setsid(1) calls setsid() and execs: $! is the daemon itself.
    setsid "$@" <"${PT_SPAWN_STDIN:-/dev/null}" >"$log" 2>&1 &
    PT_PID=$!
    printf '%s %s\n' "$PT_PID" "$(basename "$1")" >>"$PT_TMP/pids"
    printf '%s\n' "$PT_PID" >"$PT_TMP/$name.pid"
}

# True while PID exists and is not a zombie.
pt_alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pt_stop_pid() {
    local pid=$1 word=$2 i
    [ -n "$pid" ] || return 0
    pt_alive "$pid" || return 0
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$word"; then
        pt_note "not stopping PID $pid: its command line does not contain '$word'"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        pt_alive "$pid" || return 0
        sleep 0.1
    done
    pt_note "PID $pid ($word) ignored TERM for 10 s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# True if any socket (listening or not) uses local TCP port $1.
pt_port_busy() {
    local hex
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }'
}

# Print the first of N free consecutive ports. A run-wide registry under a
# lock keeps two scripts started at the same moment from picking the same
# block before either has bound it; each line names its owner ($$), whose
# EXIT trap gives it back (pt_ports_release); entries older than an hour
# expire (killed runs).
pt_ports() {
    local n=${1:-1} reg=/tmp/portreeve-ports.reg base span tries p ok now
    span=$((PT_PORT_MAX - PT_PORT_MIN + 1 - n))
    [ "$span" -gt 0 ] || pt_die_loud "pt_ports: range $PT_PORT_MIN-$PT_PORT_MAX too small for $n ports"
    (
        flock -w 30 9 || exit 1
        now=$(date +%s)
        touch "$reg"
        awk -v now="$now" '$2 > now - 3600' "$reg" >"$reg.new" && mv "$reg.new" "$reg"
        for ((tries = 0; tries < 200; tries++)); do
            base=$((PT_PORT_MIN + (RANDOM * 32768 + RANDOM) % span))
            ok=1
            for ((p = base; p < base + n; p++)); do
                if pt_port_busy "$p" || awk -v p="$p" '$1 == p { f = 1 } END { exit !f }' "$reg"; then
                    ok=0
                    break
                fi
            done
            if [ "$ok" = 1 ]; then
                for ((p = base; p < base + n; p++)); do
                    printf '%s %s %s\n' "$p" "$now" "$$" >>"$reg"
                done
                printf '%s\n' "$base"
                exit 0
            fi
        done
        exit 1
    ) 9>/tmp/portreeve-ports.lock ||
        pt_die_loud "pt_ports: no $n free ports in $PT_PORT_MIN-$PT_PORT_MAX (registry /tmp/portreeve-ports.reg)"
}

# Give back the ports this script ($$) reserved: called by pt_cleanup.
# Lines of other owners, and old two-field lines, stay.
pt_ports_release() {
    local reg=/tmp/portreeve-ports.reg
    [ -f "$reg" ] || return 0
    (
        flock -w 30 9 || exit 1
        awk -v o="$$" '$3 != o' "$reg" >"$reg.new" && mv "$reg.new" "$reg"
    ) 9>/tmp/portreeve-ports.lock
}

pt_wait_tcp() {
    local host=$1 port=$2 secs=${3:-15} i
    for ((i = 0; i < secs * 10; i++)); do
        if ${PT_NETNS:+ip netns exec "$PT_NETNS"} ss -Hltn "sport = :$port" 2>/dev/null |
            awk '{ print $4 }' | grep -qxF -- "$host:$port"; then
            return 0
        fi
        sleep 0.1
    done
    pt_die "nothing listens on $host:$port after ${secs}s"
}

pt_wait_file() {
    local path=$1 secs=${2:-15} i
    for ((i = 0; i < secs * 10; i++)); do
        [ -e "$path" ] && return 0
        sleep 0.1
    done
    pt_die "$path did not appear after ${secs}s"
}

pt_log_size() {
    if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi
}

# Print the part of FILE after byte offset MARK.
pt_log_since() {
    tail -c +"$(($2 + 1))" "$1" 2>/dev/null
}

pt_wait_log() {
    local file=$1 ere=$2 secs=${3:-15} mark=${4:-0} i
    for ((i = 0; i < secs * 10; i++)); do
        if pt_log_since "$file" "$mark" | grep -Eq -- "$ere"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}
