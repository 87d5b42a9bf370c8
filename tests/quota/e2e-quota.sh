#!/usr/bin/env bash
# e2e-quota.sh - sending quotas end to end: a private Postfix 3.7 built from
# postfix-conf/, portreeve-policyd with quotas against a real Redis, a second
# policyd instance on the same Redis, Redis killed and restarted, and a
# Sentinel failover. Ports come from 27500-27999.
#
# alice sends on "587" (submission, STARTTLS + AUTH): limit 3 messages/1h.
set -uo pipefail
PT_PORT_MIN=27500 PT_PORT_MAX=27999
. "$(dirname "$0")/../lib/stack.sh"
. "$(dirname "$0")/../lib/redis.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run a private Postfix"; exit 77; }
command -v redis-server >/dev/null || { echo "SKIP: no redis-server"; exit 77; }
CLIENT="python3 $(dirname "$0")/policy-client.py"

pt_init e2e-quota

# Redis comes from tests/lib/redis.sh (rd_start on $RD_PORT, pid $RD_PID).
redis_kill() { # PID; SIGKILL: the server dies as in a crash
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -q redis && kill -KILL "$1"
    while pt_alive "$1"; do sleep 0.1; done
}
# Messages counted for a principal in Redis: the running total of its 1h
# series (a missing key is 0).
redis_count() { rd_quota_count "$1" pp "$2" m 3600000; }

RP=$(pt_ports 1)
METRICS=127.0.0.1:$(pt_ports 1)
RD_PORT=$RP
rd_start
QUOTA_CONF=(
    "redis_server = 127.0.0.1:$RP"
    "policyd_quota_submission_messages = 3/1h"
    "policyd_quota_submission_recipients = 20/1h"
    "policyd_quota_mx_messages = 100/1h"
    "policyd_quota_mx_recipients = 12/1h"
    "policyd_quota_exempt_users = bob"
    "policyd_quota_reservation_ttl = 2s"
    "policyd_quota_metrics_listen = $METRICS"
)
STACK_REDUCED=0 stack_up "${QUOTA_CONF[@]}"
AUTH=(--tls --auth PLAIN --auth-user "$ALICE_USER" --auth-password "$ALICE_PASS")
session() {
    MARK=$(pt_log_size "$PD_LOG")
    smtp_session "$@"
}

# --- limit, and what is not counted ---------------------------------------
session a1 "$P587" "${AUTH[@]}" --to bob@example.org
t_reply "alice's 1st message is queued" a1 DOT '^250 2\.0\.0 Ok: queued'
session a2 "$P587" "${AUTH[@]}" --to bob@example.org --to carol@example.org
t_reply "alice's 2nd message (2 recipients) is queued" a2 DOT '^250 2\.0\.0 Ok: queued'
t_check "Redis counts 2 messages for alice" "$(redis_count "$RP" u:alice)" '^2$'

# Aborted after RCPT (QUIT before DATA): reserved at RCPT, never committed.
session a_abort "$P587" "${AUTH[@]}" --to bob@example.org --quit-after RCPT
t_reply "aborted transaction got past RCPT" a_abort RCPT '^250 '
session a_held "$P587" "${AUTH[@]}" --to bob@example.org --quit-after RCPT
t_reply "its reservation holds (2 sent + 1 reserved + 1 > 3) until it expires" a_held RCPT '^450 4\.7\.1 '
sleep 2.5 # policyd_quota_reservation_ttl
# Rejected after RCPT by Postfix: message_size_limit at end of DATA.
pf_set "message_size_limit = 4000" && postfix -c "$PF_ETC" reload >/dev/null 2>&1; sleep 1
session a_big "$P587" "${AUTH[@]}" --to bob@example.org --body "$(head -c 6000 /dev/zero | tr '\0' x | fold -w 70)"
t_reply "oversized message is refused after RCPT" a_big DOT '^552 '
pf_set "message_size_limit = 10240000" && postfix -c "$PF_ETC" reload >/dev/null 2>&1; sleep 1
t_check "neither the aborted nor the oversized message is counted" "$(redis_count "$RP" u:alice)" '^2$'
# The oversized message's reservation (made at RCPT, never committed)
# holds until policyd_quota_reservation_ttl, as documented: wait it out.
# (The reload above used to take longer than that.)
sleep 2.5

session a3 "$P587" "${AUTH[@]}" --to bob@example.org
t_reply "alice's 3rd message is queued" a3 DOT '^250 2\.0\.0 Ok: queued'
session a4 "$P587" "${AUTH[@]}" --to bob@example.org
t_reply "past the limit: 4xx at RCPT" a4 RCPT '^450 4\.7\.1 .*Sending quota exceeded: 3/1h messages'
t_decision "the exceed is decided by rule quota_exceeded" "$MARK" \
    "role=submission state=RCPT sasl_username=alice .*rule=quota_exceeded action=\"DEFER_IF_PERMIT 4\.7\.1 Sending quota exceeded: 3/1h messages\""
session a5 "$P587" "${AUTH[@]}" --to bob@example.org
t_reply "still deferred" a5 RCPT '^450 4\.7\.1 '
t_check "the exceed is logged once per principal and window" \
    "$(grep -c 'quota: u:alice exceeded 3/1h messages' "$PD_LOG")" '^1$'
session b1 "$P587" --tls --auth PLAIN --auth-user "$BOB_USER" --auth-password "$BOB_PASS" --to alice@example.org
t_reply "exempt user bob is not limited" b1 DOT '^250 2\.0\.0 Ok: queued'

# --- rejected by a header check (cleanup, port 25 only) ------------------
# smtpd sends END-OF-MESSAGE before cleanup's verdict (smtpd.c: the
# end-of-data restrictions run, then the queue file is closed and cleanup
# answers), so the policy daemon cannot know: such a message IS counted.
# This checks the documented behaviour, see portreeve.conf(5), QUOTAS.
session mx_ok "$P25" --to bob@example.org
t_reply "25: a message from 127.0.0.1 is queued" mx_ok DOT '^250 2\.0\.0 Ok: queued'
t_check "25: counted for the client address" "$(redis_count "$RP" a:127.0.0.1/32)" '^1$'
smtp_attach setup.exe
session mx_exe "$P25" --to bob@example.org "${ATTACH[@]}"
t_reply "25: a .exe attachment is refused by the header check" mx_exe DOT '^550 5\.7\.1 '
t_check "25: the header-check rejection is counted (policy protocol limit, documented)" \
    "$(redis_count "$RP" a:127.0.0.1/32)" '^2$'

# --- grants: a message to many recipients, few round trips ---------------
# 127.0.0.1 has 2 recipients counted of 12/1h. A message to 12: RCPTs 1-10
# pass, 11 and 12 are deferred (exactly the limit). Redis is asked at RCPT
# 1, 3, 7, 9, 10 (grants 2, 6, 8, 9, 10: k + half the room, at most 2k)
# and at 11 and 12 (refused); RCPTs 2, 4, 5, 6 and 8 are answered from the
# grant.
grants() { curl -s "http://$METRICS/metrics" | sed -n 's/^portreeve_policyd_quota_checks_total{store="'"$1"'"} //p'; }
G0=$(grants grant) R0=$(grants redis)
MARK=$(pt_log_size "$PD_LOG")
session mx_many "$P25" --to "$(printf 'bob@example.org%.0s,' $(seq 11))bob@example.org"
t_reply "25: a message to 12 recipients is queued for those within the limit" mx_many DOT '^250 2\.0\.0 Ok: queued'
t_check "25: exactly 10 RCPTs pass (2 + 10 = 12/1h)" \
    "$(grep -cE '^ *<[-~] +250 2\.1\.5 ' "$PT_TMP/smtp/mx_many.txt")" '^10$'
t_check "25: RCPTs 11 and 12 are deferred by the quota" \
    "$(pt_log_since "$PD_LOG" "$MARK" | grep -c 'state=RCPT .*rule=quota_exceeded')" '^2$'
t_check "Redis counts the 10 recipients sent (12 in all)" \
    "$(rd_quota_count "$RP" pp a:127.0.0.1/32 r 3600000)" '^12$'
t_check "5 of the 12 RCPTs were answered from grants" "$(($(grants grant) - G0))" '^5$'
t_check "7 went to Redis" "$(($(grants redis) - R0))" '^7$'

# --- a second daemon on the same Redis: one global limit ------------------
PD2_PORT=$(pt_ports 1)
sed -e "s|^policyd_listen = .*|policyd_listen = inet:127.0.0.1:$PD2_PORT|" \
    -e "/^policyd_quota_metrics_listen/d" \
    -e "s|^policyd_pid_file = .*|policyd_pid_file = $PT_TMP/policyd2.pid|" \
    "$PT_TMP/portreeve.conf" >"$PT_TMP/portreeve2.conf"
echo "policyd_quota_recipient_grant = 0" >>"$PT_TMP/portreeve2.conf"
pt_spawn policyd2 "$PT_TMP/policyd2.log" "$PD_BIN" -c "$PT_TMP/portreeve2.conf" -f
pt_wait_tcp 127.0.0.1 "$PD2_PORT" 10
sleep 0.5
t_check "instance 2 defers alice, who used her quota through instance 1" \
    "$($CLIENT 127.0.0.1 "$PD2_PORT" "$P587" alice msg:1)" '^DEFER_IF_PERMIT 4\.7\.1 '
t_check "carol sends 2 messages through instance 2" \
    "$($CLIENT 127.0.0.1 "$PD2_PORT" "$P587" carol msg:1 msg:1 | tr '\n' ' ')" '^DUNNO DUNNO $'
t_check "instance 1 sees carol's 2 messages: 1 more, then deferred" \
    "$($CLIENT 127.0.0.1 "$PD_PORT" "$P587" carol msg:1 msg:1 | tr '\n' ' ')" '^DUNNO DEFER_IF_PERMIT'
# Pipelined: 60 RCPTs of one transaction in one write (~40 KB: more than
# the daemon reads while a Redis decision is pending). Decided one at a
# time, in order: 20 pass (20/1h recipients), the rest are deferred.
t_check "60 pipelined RCPTs: answered in order, 20 pass, 40 deferred" \
    "$($CLIENT 127.0.0.1 "$PD_PORT" "$P587" gina pipe:60)" '^DUNNO\*20 DEFER_IF_PERMIT\*40$'
# A protocol error that arrives while a decision waits for Redis (paused
# here, so the wait is redis_timeout, 100 ms): that decision is answered
# (by the fallback), then the connection is closed without another reply.
kill -STOP "$RD_PID"
OUT=$($CLIENT 127.0.0.1 "$PD_PORT" "$P587" hank badpipe)
kill -CONT "$RD_PID"
t_check "a protocol error during a pending decision: its reply, then the hang-up" "$OUT" '^DUNNO closed$'
# policyd_quota_recipient_grant: 32 on instance 1, 0 on instance 2. A
# message to 4: instance 1 asks Redis at RCPT 1 and 3 (grants 2 and 6),
# instance 2 at every RCPT; both commit once.
evalsha() { redis-cli -p "$RP" INFO commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p'; }
E0=$(evalsha)
t_check "frank sends a message to 4 through instance 1" "$($CLIENT 127.0.0.1 "$PD_PORT" "$P587" frank msg:4)" '^DUNNO$'
E1=$(evalsha)
t_check "instance 1 (grants): 2 checks and the commit" "$((E1 - E0))" '^3$'
t_check "frank sends a message to 4 through instance 2" "$($CLIENT 127.0.0.1 "$PD2_PORT" "$P587" frank msg:4)" '^DUNNO$'
t_check "instance 2 (policyd_quota_recipient_grant = 0): 4 checks and the commit" "$(($(evalsha) - E1))" '^5$'

# --- Redis killed: fallback, no error at the SMTP client ------------------
redis_kill "$RD_PID"
session dave_down "$P587" --tls --auth PLAIN --auth-user "$BOB_USER" --auth-password "$BOB_PASS" --to alice@example.org
t_reply "bob's message is queued while Redis is down" dave_down DOT '^250 2\.0\.0 Ok: queued'
MARK=$(pt_log_size "$PD_LOG")
OUT=$($CLIENT 127.0.0.1 "$PD_PORT" "$P587" erin msg:1 msg:1 msg:1 msg:1 | tr '\n' ' ')
t_check "with Redis down the embedded store limits erin on this host (3/1h)" "$OUT" \
    '^DUNNO DUNNO DUNNO DEFER_IF_PERMIT'
t_check "the fallback is logged once per outage" \
    "$(pt_log_since "$PD_LOG" "$MARK" | grep -c 'Redis unavailable; using the embedded store')" '^1$'
SLOW=$(pt_log_since "$PD_LOG" "$MARK" | grep -F 'decision: ' | sed -n 's/.*time_us=\([0-9]*\).*/\1/p' | sort -n | tail -1)
t_check "every decision during the outage answered well within Postfix's timeout (slowest ${SLOW}us)" \
    "$([ "${SLOW:-999999999}" -lt 1000000 ] && echo yes)" '^yes$'

# --- Redis back: shared limits again --------------------------------------
rd_start # same port, fresh and empty
pt_wait_log "$PD_LOG" 'redis: connected again' 15 || true
t_check "the daemon reconnects to Redis" "$(grep -c 'redis: connected again' "$PD_LOG")" '^[1-9]'
t_check "fresh Redis: erin's count starts again (shared store, not the host's)" \
    "$($CLIENT 127.0.0.1 "$PD_PORT" "$P587" erin msg:1)" '^DUNNO$'
t_check "instance 2 sees erin's message in Redis" "$(redis_count "$RP" u:erin)" '^1$'
t_check "metrics: fallbacks counted, Redis up again" \
    "$(curl -s "http://$METRICS/metrics" | grep -E '^portreeve_policyd_(quota_fallbacks_total [1-9]|redis_up 1)' | wc -l)" '^2$'

pd_stop
t_check "policyd exits 0 on SIGTERM" "$PD_EXIT" '^0$'
t_done
