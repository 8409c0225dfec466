#!/usr/bin/env bash
# Two instances with one configuration, the sides gated on the role
# (docs/ha.md): only the active instance creates the Graph subscription and
# writes; a standby answers the notifications the load balancer gives it.
# One Voice call: one setPresence, one clearPresence, two voice/<id>/talking
# messages; one Teams call: Voice 'talking' written once each way; the
# standby deletes no subscription. Then kill -9 of the active one while a
# Voice call ends: the standby takes over within 15 s, runs the start-up
# reconcile, adopts the subscription (nothing created or deleted), carries
# no call over, and transitions made right after reach the other side.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/ha_helpers.sh"

ha_setup 2 alice@contoso.com bob@contoso.com
ha_start a
ha_start b
wait_sides a b
ACTIVE=$(active_among a b)
STANDBY=$([ "$ACTIVE" = a ] && echo b || echo a)
log "active=$ACTIVE standby=$STANDBY"
wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no Graph subscription: $(sim_subs)"
wait_for 20 quiet_count_is 2 || fail "B/sync not quiet: $(quiet_count)"
[ "$(g_subs_written)" = 1 ] || fail "subscriptions created/deleted: $(g_subs_written), expected 1"
grep -q 'subscription created' "$T/$STANDBY.log" && fail "the standby created a subscription"

# Graph's notifications go to the standby (reads everywhere, docs/ha.md)
lb_prefer "$STANDBY"
log "one Voice call, one Teams call: no duplicate writes"
sub_start vt "voice/+/talking"
S0=$(g_sets bob@contoso.com)
K0=$(g_clears bob@contoso.com)
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 10 bob@contoso.com Busy/InACall
call_end "$C"
wait_g_session 10 bob@contoso.com ""
wait_for 10 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"
W0=$(v_writes alice@contoso.com)
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 10 alice@contoso.com true
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_v_talking 10 alice@contoso.com false
wait_for 10 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"
[ "$(($(g_sets bob@contoso.com) - S0))" = 1 ] || fail "setPresence $(($(g_sets bob@contoso.com) - S0)) times"
[ "$(($(g_clears bob@contoso.com) - K0))" = 1 ] || fail "clearPresence $(($(g_clears bob@contoso.com) - K0)) times"
[ "$(live_talking bob@contoso.com)" = 2 ] || fail "voice/bob/talking published $(live_talking bob@contoso.com) times: $(cat "$T/vt.sub")"
[ "$(($(v_writes alice@contoso.com) - W0))" = 2 ] || fail "Voice talking written $(($(v_writes alice@contoso.com) - W0)) times for alice"
[ "$(g_count '.method == "DELETE"')" = 0 ] || fail "a subscription was deleted"
# reads everywhere: the standby applied notifications the balancer gave it
curl -s --max-time 5 "http://127.0.0.1:${PORT[$STANDBY]}/metrics" >"$T/standby.metrics"
grep -Eq '^presence_sync_notifications_total\{tenant="contoso",outcome="(applied|basic)"\} [1-9]' "$T/standby.metrics" ||
    fail "the standby applied no notification: $(grep notifications_total "$T/standby.metrics")"
grep -q 'notification for an unknown subscription dropped' "$T/$STANDBY.log" &&
    fail "the standby dropped a notification"
sim GET /deliveries | jqe 'all(.[]; .ok)' >/dev/null || fail "a delivery failed: $(sim GET /deliveries | jq -c '[.[] | select(.ok | not)]')"

log "kill -9 of the active instance ($ACTIVE) while bob's Voice call ends"
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 10 bob@contoso.com Busy/InACall
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t 'voice/$(topic_id bob@contoso.com)/talking' -C 1 -W 2 | jqe '.talking == true'" ||
    fail "bob not talking in voice/"
SUBS0=$(g_subs_written)
kill -KILL "${PID[$ACTIVE]}"
KILLED=$(date +%s%N)
call_end "$C"
wait_for 15 active_among "$STANDBY" >/dev/null || fail "no takeover within 15 s: $(role "$STANDBY")"
log "takeover after $((($(date +%s%N) - KILLED) / 1000000)) ms"
wait_line 5 "$T/$STANDBY.log" 'mapper writing: start-up reconcile tenant=contoso' ||
    fail "no start-up reconcile at the takeover"
wait_line 10 "$T/$STANDBY.log" 'subscription adopted tenant=contoso' || fail "subscription not adopted"
# the call that ended while the active died is not carried over
wait_g_session 20 bob@contoso.com ""
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t 'voice/$(topic_id bob@contoso.com)/talking' -C 1 -W 2 | jqe '.talking == false'" ||
    fail "bob still talking in voice/: $(mqtt_retained "voice/$(topic_id bob@contoso.com)/talking")"

log "transitions right after the takeover"
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 10 alice@contoso.com true
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_v_talking 10 alice@contoso.com false
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 10 bob@contoso.com Busy/InACall
call_end "$C"
wait_g_session 10 bob@contoso.com ""
[ "$(g_subs_written)" = "$SUBS0" ] || fail "the takeover created or deleted subscriptions: $(g_subs_written) != $SUBS0"
kill -TERM "${PID[$STANDBY]}"
rc=0
wait "${PID[$STANDBY]}" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
! grep -Eq 'Sanitizer|runtime error' "$T"/[ab].log || fail "sanitizer report in a daemon log"
pass
