# policyd.sh - start and stop portreeve-policyd for the end-to-end tests.
#
#   pd_write_conf FILE [LINE...]
#       the test configuration: listens on unix:$PF_SPOOL/private/portreeve
#       (where the shipped check_policy_service finds it) and on
#       inet:127.0.0.1:$PD_PORT, port roles for the instance's test ports,
#       local domain example.org, relay network 127.0.0.1/32 (so that
#       127.0.0.2 is a host off the local network), drops to nobody.
#       Extra LINEs ("name = value") are appended and win.
#   pd_start CONF     run "$PD_BIN -c CONF -f" in its own session, stderr to
#                     $PD_LOG; wait for its sockets
#   pd_stop           SIGTERM by recorded PID; exit status in $PD_EXIT
#   pd_hup            SIGHUP (reload)
#   pd_decisions [MARK]      the decision: lines logged after MARK
#   pd_wait_decision ERE [MARK] [SECS]
#                     wait for a decision line matching ERE
#
# $PD_BIN defaults to $PORTREEVE_POLICYD, else build-e2e/ in the checkout.
# Needs common.sh and, for the unix socket path, pf_create from postfix.sh.

PD_BIN=${PD_BIN:-${PORTREEVE_POLICYD:-$PT_REPO/build-e2e/policyd/portreeve-policyd}}
PD_PORT=
PD_LOG=
PD_PID=
PD_SOCK=

pd_write_conf() {
    local file=$1 line
    shift
    [ -n "$PD_PORT" ] || PD_PORT=$(pt_ports 1)
    PD_SOCK=$PF_SPOOL/private/portreeve
    {
        printf '# portreeve-policyd test configuration (generated)\n'
        printf 'policyd_listen = unix:%s, inet:127.0.0.1:%s\n' "$PD_SOCK" "$PD_PORT"
        printf 'policyd_socket_mode = 0660\n'
        printf 'policyd_socket_owner = postfix\n'
        printf 'policyd_socket_group = postfix\n'
        printf 'policyd_user = nobody\n'
        printf 'policyd_pid_file = %s/policyd.pid\n' "$PT_TMP"
        printf 'policyd_port_roles = %s:mx %s:submission %s:submissions\n' \
            "$PF_P25" "$PF_P587" "$PF_P465"
        printf 'policyd_local_domains = %s\n' "$PF_LOCAL_DOMAIN"
        printf 'policyd_relay_networks = 127.0.0.1/32\n'
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$file"
}

pd_start() {
    local conf=$1 out
    [ -x "$PD_BIN" ] || pt_die "no policy daemon at $PD_BIN (build it, or set PORTREEVE_POLICYD)"
    out=$("$PD_BIN" -c "$conf" -t 2>&1) || pt_die "portreeve-policyd -t: $out"
    PD_LOG=${PD_LOG:-$PT_TMP/policyd.log}
    pt_spawn policyd "$PD_LOG" "$PD_BIN" -c "$conf" -f
    PD_PID=$PT_PID
    pt_wait_tcp 127.0.0.1 "$PD_PORT" 10
    pt_wait_file "$PD_SOCK" 10
}

# Stop the daemon and collect its exit status in $PD_EXIT (it is a child
# of this shell: setsid execs in place).
pd_stop() {
    pt_stop_pid "$PD_PID" portreeve-policyd
    wait "$PD_PID" 2>/dev/null
    PD_EXIT=$?
}

pd_hup() {
    kill -HUP "$PD_PID"
}

pd_decisions() {
    pt_log_since "$PD_LOG" "${1:-0}" | grep -F 'decision: ' || true
}

pd_wait_decision() {
    pt_wait_log "$PD_LOG" "decision: .*$1" "${3:-10}" "${2:-0}"
}
