#!/usr/bin/env bash
# run-postfix-bench.sh - what a policy check costs a real Postfix.
#
# usage: run-postfix-bench.sh [-t SECS] [-r REPEATS] [-s SESSIONS] [-n "1 5"]
#                             [-l SIZE] [-p BASE_PORT] [-d PARENT_DIR] [-F] [-k] BUILD_DIR
#
# Builds nothing: takes policy-baseline from BUILD_DIR/tests/bench/ and
# portreeve-policyd from BUILD_DIR/policyd/ (without it, the policyd column
# is skipped). Starts, in a temp dir under PARENT_DIR (default /dev/shm, so
# that the queue's fsyncs do not turn the figures into a disk benchmark;
# use -d /tmp for a disk-backed queue):
#
#   - a private Postfix 3.7 (chroot=n, maillog_file, no DNS, no SMTP/LMTP
#     client at all: every transport, including the content filter named by
#     policyd's FILTER action, is discard:) with three smtpd listeners on
#     127.0.0.1 that differ only in smtpd_recipient_restrictions:
#        BASE_PORT+1  none:     permit_mynetworks, reject_unauth_destination
#        BASE_PORT+2  baseline: check_policy_service unix:baseline.sock, ...
#        BASE_PORT+3  policyd:  check_policy_service unix:policyd.sock, ...
#     (default BASE_PORT 25200);
#   - policy-baseline and portreeve-policyd (port rules on, BASE_PORT+3
#     mapped to the mx role, mx content filter set, logging to a file).
#
# Then drives each listener with smtp-source (SESSIONS parallel sessions,
# default 8; a new SMTP session per message, as MX traffic) for about SECS
# seconds (default 3; the message count is calibrated once on the
# no-policy listener), with 1 and with 5 recipients per message (-n),
# REPEATS times (default 3) in rotating order, waiting for the queue to
# drain between runs. Prints medians of messages/s and of the mean time per
# message (SESSIONS x elapsed / messages), and the median of the paired
# ratios against the baseline-server configuration. Each configuration
# first gets an unrecorded warm-up run (smtpd processes, policy
# connections). -F runs policyd without the mx content filter (its FILTER
# reply makes smtpd log one more line per message; -F leaves only the cost of
# the daemon itself). -k keeps the temp dir (maillog, policyd.log) for inspection.
set -euo pipefail

secs=3 repeats=3 sessions=8 rcpts="1 5" size=4096 base_port=25200 parent=/dev/shm keep=0 filter=1
usage() {
    sed -n '3,5p' "$0" >&2
    exit 2
}
while getopts "t:r:s:n:l:p:d:Fk" opt; do
    case $opt in
    t) secs=$OPTARG ;;
    r) repeats=$OPTARG ;;
    s) sessions=$OPTARG ;;
    n) rcpts=$OPTARG ;;
    l) size=$OPTARG ;;
    p) base_port=$OPTARG ;;
    d) parent=$OPTARG ;;
    k) keep=1 ;;
    F) filter=0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
build=$(cd "$1" && pwd)
baseline=$build/tests/bench/policy-baseline
policyd=$build/policyd/portreeve-policyd
[ -x "$baseline" ] || { echo "run-postfix-bench: $baseline missing: build it first" >&2; exit 2; }
smtp_source=
for f in /usr/sbin/smtp-source /usr/lib/postfix/sbin/smtp-source "$(command -v smtp-source || true)"; do
    if [ -n "$f" ] && [ -x "$f" ]; then smtp_source=$f; break; fi
done
[ -n "$smtp_source" ] || { echo "run-postfix-bench: smtp-source not found (Debian package postfix)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run-postfix-bench: must run as root (private Postfix instance)" >&2; exit 2; }

configs="none baseline"
[ -x "$policyd" ] && configs="none baseline policyd"

ulimit -n 8192 2>/dev/null || true
tmp=$(mktemp -d "$parent/postfix-bench.XXXXXX")
chmod 755 "$tmp"
etc=$tmp/etc spool=$tmp/spool maillog=$tmp/maillog
pids=()
started_postfix=0
cleanup() {
    local p master
    if [ "$started_postfix" = 1 ]; then
        master=$(tr -d ' ' <"$spool/pid/master.pid" 2>/dev/null || true)
        postfix -c "$etc" stop >/dev/null 2>&1 || true
        for _ in $(seq 50); do
            [ -n "$master" ] && [ -e "/proc/$master" ] || break
            sleep 0.1
        done
        if [ -n "$master" ] && grep -qa master "/proc/$master/cmdline" 2>/dev/null; then
            kill "$master" 2>/dev/null || true
        fi
    fi
    for p in "${pids[@]}"; do
        if grep -qaE 'policy-baseline|portreeve-policyd' "/proc/$p/cmdline" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    if [ "$keep" = 1 ]; then echo "run-postfix-bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

port_of() {
    case $1 in none) echo $((base_port + 1)) ;; baseline) echo $((base_port + 2)) ;; policyd) echo $((base_port + 3)) ;; esac
}

# --- policy servers -------------------------------------------------------
"$baseline" -l "unix:$tmp/baseline.sock" 2>"$tmp/baseline.log" &
pids+=($!)
b_pid=$!
p_pid=
if [ -x "$policyd" ]; then
    cat >"$tmp/portreeve.conf" <<EOF
# written by run-postfix-bench.sh
policyd_listen = unix:$tmp/policyd.sock
policyd_user =
policyd_pid_file = $tmp/policyd.pid
policyd_socket_owner =
policyd_socket_group =
policyd_socket_mode = 0666
policyd_port_roles = 25:mx 587:submission 465:submissions $(port_of policyd):mx
policyd_local_domains = example.edu .example.edu
policyd_relay_networks = 127.0.0.0/8 10.0.0.0/8 2001:db8:1::/48
EOF
    [ "$filter" = 0 ] || echo "policyd_mx_content_filter = smtp-amavis:[127.0.0.1]:10024" >>"$tmp/portreeve.conf"
    "$policyd" -c "$tmp/portreeve.conf" -f >>"$tmp/policyd.log" 2>&1 &
    pids+=($!)
    p_pid=$!
fi

# --- private Postfix ------------------------------------------------------
mkdir -p "$etc" "$spool" "$tmp/data"
chown postfix: "$tmp/data"
cp /usr/share/postfix/master.cf.dist "$etc/master.cf"
: >"$etc/main.cf"
pc() { postconf -c "$etc" "$@"; }
# No listener of the stock file, and no client that could send mail anywhere.
for svc in $(pc -M | awk '$2 == "inet" || $8 == "pipe" { print $1 "/" $2 }') smtp/unix relay/unix lmtp/unix; do
    pc -MX "$svc"
done
rr_tail="permit_mynetworks, reject_unauth_destination"
pc -e "compatibility_level = 3.6" \
    "queue_directory = $spool" \
    "data_directory = $tmp/data" \
    "maillog_file = $maillog" \
    "maillog_file_prefixes = /var, /dev/stdout, $tmp" \
    "myhostname = mail.example.edu" \
    "mydomain = example.edu" \
    "myorigin = \$mydomain" \
    "mydestination = example.edu" \
    "inet_interfaces = 127.0.0.1" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" \
    "smtpd_peername_lookup = no" \
    "smtp_dns_support_level = disabled" \
    "lmtp_dns_support_level = disabled" \
    "default_transport = discard:bench sink" \
    "relay_transport = discard:bench sink" \
    "local_transport = discard:bench sink" \
    "virtual_transport = discard:bench sink" \
    "local_recipient_maps =" \
    "alias_maps =" \
    "alias_database =" \
    "notify_classes =" \
    "biff = no" \
    "bench_rr_none = $rr_tail" \
    "bench_rr_baseline = check_policy_service unix:$tmp/baseline.sock, $rr_tail" \
    "bench_rr_policyd = check_policy_service unix:$tmp/policyd.sock, $rr_tail"
# policyd's FILTER smtp-amavis:[127.0.0.1]:10024 lands in discard too.
pc -M -e "smtp-amavis/unix=smtp-amavis unix - - n - - discard"
for c in none baseline policyd; do
    pc -M -e "127.0.0.1:$(port_of "$c")/inet=127.0.0.1:$(port_of "$c") inet n - n - - smtpd -o smtpd_recipient_restrictions=\$bench_rr_$c -o syslog_name=postfix/$c"
done
pc -F '*/*/chroot' | awk '$3 == "y" { print $1 }' | sed 's,/chroot$,,' | while read -r svc; do
    pc -F "$svc/chroot=n"
done
out=$(postfix -c "$etc" check 2>&1) || { echo "run-postfix-bench: postfix check: $out" >&2; exit 1; }
out=$(postfix -c "$etc" start 2>&1) || { echo "run-postfix-bench: postfix start: $out" >&2; cat "$maillog" >&2 2>/dev/null; exit 1; }
started_postfix=1

wait_for() { # description test-command...
    local what=$1
    shift
    for _ in $(seq 150); do
        "$@" && return 0
        sleep 0.1
    done
    echo "run-postfix-bench: timed out waiting for $what" >&2
    exit 1
}
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1"; }
for c in $configs; do wait_for "smtpd on port $(port_of "$c")" listening "$(port_of "$c")"; done
wait_for "baseline socket" test -S "$tmp/baseline.sock"
[ -z "$p_pid" ] || wait_for "policyd socket" test -S "$tmp/policyd.sock"

queued() { find "$spool/incoming" "$spool/active" "$spool/deferred" "$spool/maildrop" -type f 2>/dev/null | wc -l; }
drained() { [ "$(queued)" -eq 0 ]; }

# CPU time (user+sys, microseconds) of the policy server behind config $1.
server_cpu_us() {
    local pid=
    case $1 in baseline) pid=$b_pid ;; policyd) pid=$p_pid ;; esac
    [ -n "$pid" ] || { echo 0; return; }
    if [ -r "/proc/$pid/schedstat" ]; then # nanoseconds on a CPU
        awk '{ printf "%.0f\n", $1 / 1000 }' "/proc/$pid/schedstat"
        return
    fi
    sed -e 's/^.*) //' "/proc/$pid/stat" |
        awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($12 + $13) * 1000000 / hz }'
}

# One smtp-source run: config rcpts messages -> "elapsed_seconds server_cpu_us"
run_source() {
    local c=$1 n=$2 m=$3 t0 t1 cpu0 cpu1
    cpu0=$(server_cpu_us "$c")
    t0=$(date +%s.%N)
    if ! "$smtp_source" -s "$sessions" -m "$m" -r "$n" -l "$size" -M bench.example \
        -f sender@example.net -t rcpt@example.edu "127.0.0.1:$(port_of "$c")" >"$tmp/source.out" 2>&1; then
        echo "run-postfix-bench: smtp-source failed against $c:" >&2
        tail -5 "$tmp/source.out" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    wait_for "the queue to drain" drained
    cpu1=$(server_cpu_us "$c")
    awk -v a="$t0" -v b="$t1" -v u=$((cpu1 - cpu0)) 'BEGIN { printf "%.3f %d\n", b - a, u }' 
    [ -z "$p_pid" ] || : >"$tmp/policyd.log"
}

# Calibrate: messages that take about SECS seconds without a policy check.
cal_m=$((sessions * 25))
cal_t=$(run_source none 1 "$cal_m" | cut -d' ' -f1)
msgs=$(awk -v m="$cal_m" -v t="$cal_t" -v s="$secs" -v k="$sessions" \
    'BEGIN { n = int(m / t * s / k) * k; if (n < 4 * k) n = 4 * k; print n }')

echo "run-postfix-bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); Postfix $(postconf -d -h mail_version), queue in $tmp"
echo "run-postfix-bench: policyd mx content filter: $([ "$filter" = 1 ] && echo 'smtp-amavis:[127.0.0.1]:10024 (discard)' || echo none)"
echo "run-postfix-bench: $smtp_source -s $sessions -m $msgs -r {$rcpts} -l $size (calibrated: $cal_m msgs in ${cal_t}s), $repeats repeats, rotating order"

for c in $configs; do # warm-up, not recorded
    run_source "$c" 1 $((sessions * 10)) >/dev/null
done

results=$tmp/results
: >"$results"
set -- $configs
for n in $rcpts; do
    for r in $(seq "$repeats"); do
        # rotate the order so that no configuration always runs first
        order=$(for ((i = 0; i < $#; i++)); do
            j=$(((i + r - 1) % $#))
            k=("$@")
            printf '%s ' "${k[$j]}"
        done)
        for c in $order; do
            t=$(run_source "$c" "$n" "$msgs")
            echo "$c $n $r $t $msgs" >>"$results" # config rcpts repeat secs cpu_us msgs
        done
        printf '.' >&2
    done
done
echo >&2

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
mps() { awk -v c="$1" -v n="$2" '$1==c && $2==n {print $6/$4}' "$results" | median; }
ms_per_msg() { awk -v c="$1" -v n="$2" -v s="$sessions" '$1==c && $2==n {print 1000*s*$4/$6}' "$results" | median; }
cpu_per_msg() { awk -v c="$1" -v n="$2" '$1==c && $2==n {print $5/$6}' "$results" | median; }
ratios() { # config rcpts: per repeat, (msgs/s config)/(msgs/s baseline)
    awk -v c="$1" -v n="$2" '$2==n {v[$1" "$3]=$6/$4; r[$3]=1}
        END {for (i in r) if (v["baseline "i] > 0 && v[c" "i] > 0) printf "%.3f\n", v[c" "i]/v["baseline "i]}' "$results"
}
ratio() { ratios "$@" | median; }

echo
echo "messages/s: median of $repeats runs of $msgs messages, $sessions parallel sessions, ${size}-byte bodies"
echo "ms/msg: mean time per message per session (sessions x elapsed / messages)"
echo "ratio: median of the paired ratios messages/s(config) / messages/s(baseline server)"
echo "server cpu: the policy server's CPU time (user+sys) per message, including the queue drain"
printf '%-6s | %-10s %9s %8s %12s %8s  %s\n' rcpts config "msgs/s" "ms/msg" "server cpu" "ratio" "(min-max of paired ratios)"
for n in $rcpts; do
    for c in $configs; do
        printf '%-6s | %-10s %9.1f %8.2f %9.1f us %8.3f  (%s)\n' "$n" "$c" "$(mps "$c" "$n")" "$(ms_per_msg "$c" "$n")" "$(cpu_per_msg "$c" "$n")" \
            "$(ratio "$c" "$n")" "$(ratios "$c" "$n" | sort -g | sed -n '1p;$p' | paste -sd- -)"
    done
done
delivered=$(grep -c 'status=sent' "$maillog" || true)
bad=$(grep -cE 'status=(deferred|bounced)|reject:|warning: problem talking' "$maillog" || true)
filtered=$(grep -c 'status=sent (\[127.0.0.1\]:10024)' "$maillog" || true)
echo "maillog: $delivered deliveries to discard ($filtered via policyd's FILTER smtp-amavis), $bad deferred/bounced/rejected/policy-trouble lines"
