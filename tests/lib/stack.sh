# stack.sh - the whole test stack in one call: a private Postfix built from
# postfix-conf/ plus portreeve-policyd, on loopback, in $PT_TMP.
#
#   stack_up [policyd config lines...]
#       three listener ports ($P25 $P587 $P465, standing for 25/587/465),
#       sasldb users alice and bob, the policy daemon (extra config lines
#       appended), then Postfix. With STACK_REDUCED=1 Postfix's own relay
#       and auth restrictions are first reduced to the policy check
#       (stack_reduce), so that whatever is refused was refused by the
#       daemon.
#   stack_reduce
#       smtpd_relay_restrictions = <the shipped check_policy_service>,
#       reject_unauth_destination, with relay_domains = static:all so that
#       reject_unauth_destination refuses nothing. (Postfix will not start
#       an smtpd whose relay and recipient lists both lack one of
#       reject_unauth_destination, defer_unauth_destination, reject, ...;
#       this keeps one that is inert.) Postfix alone is then an open relay
#       towards the discard: sink; tests/e2e/daemon-down.sh proves it.
#   pf_policy_element   print the check_policy_service { ... } element of
#                       the shipped smtpd_relay_restrictions
#
# Users: alice / alice-pw-1, bob / bob-pw-2 (throwaway, sasldb in $PT_TMP).

ALICE_USER=alice ALICE_PASS=alice-pw-1
BOB_USER=bob BOB_PASS=bob-pw-2
P25= P587= P465=

pf_policy_element() {
    pf_get smtpd_relay_restrictions | awk '
        {
            s = $0; out = ""; depth = 0; started = 0
            for (i = 1; i <= length(s); i++) {
                c = substr(s, i, 1)
                out = out c
                if (c == "{") { depth++; started = 1 }
                else if (c == "}") { depth--; if (started && depth == 0) break }
            }
            print out
        }'
}

stack_reduce() {
    local policy
    policy=$(pf_policy_element)
    case $policy in
    check_policy_service*'}') ;;
    *) pt_die "the shipped smtpd_relay_restrictions does not start with check_policy_service { ... }: '$policy'" ;;
    esac
    pf_set "smtpd_relay_restrictions = $policy, reject_unauth_destination" \
        "relay_domains = static:all"
}

stack_up() {
    local base
    base=$(pt_ports 3)
    P25=$base P587=$((base + 1)) P465=$((base + 2))
    pf_create "$PT_TMP/postfix" 127.0.0.1 "$P25" "$P587" "$P465"
    pf_sasldb "$ALICE_USER" "$ALICE_PASS" "$BOB_USER" "$BOB_PASS"
    if [ "${STACK_REDUCED:-0}" = 1 ]; then
        stack_reduce
    fi
    pd_write_conf "$PT_TMP/portreeve.conf" "$@"
    pd_start "$PT_TMP/portreeve.conf"
    pf_start
}

# Source everything a stack user needs.
_stack_dir=$(dirname "${BASH_SOURCE[0]}")
. "$_stack_dir/common.sh"
. "$_stack_dir/tls.sh"
. "$_stack_dir/postfix.sh"
. "$_stack_dir/policyd.sh"
. "$_stack_dir/smtp.sh"
. "$_stack_dir/assert.sh"
