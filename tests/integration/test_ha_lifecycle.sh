#!/usr/bin/env bash
# Lifecycle events that the load balancer hands to a standby (docs/ha.md
# "Lifecycle events"): the standby verifies them and forwards them on
# B/lifecycle/<tenant>; the active instance acts on them as on its own.
# reauthorizationRequired: the active one reauthorizes; subscriptionRemoved:
# the active one recreates at once (one create, by the active instance).
# A forwarded event that names another tenant, or a subscription the active
# one does not hold, changes nothing.
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
SUB=$(sim_subs | jq -r '.[0].id')
creates() { g_count '.method == "POST" and .path == "/v1.0/subscriptions" and .status == 201'; }
[ "$(creates)" = 1 ] || fail "subscriptions created: $(creates), expected 1"
lb_prefer "$STANDBY"
LIFE_TOPIC=ps/lifecycle/contoso

log "reauthorizationRequired, delivered to the standby"
sim POST "/subscriptions/$SUB/lifecycle" '{"event":"reauthorizationRequired"}' >/dev/null
reauth() { [ "$(g_count ".method == \"POST\" and .path == \"/v1.0/subscriptions/$SUB/reauthorize\" and .status == 204")" -ge 1 ]; }
wait_for 10 reauth || fail "the active instance did not reauthorize"
wait_line 2 "$T/$STANDBY.log" "lifecycle event forwarded to the active instance tenant=contoso id=$SUB event=reauthorizationRequired" ||
    fail "the standby did not forward the event: $(sim GET /deliveries | jq -c '.[-1]')"
grep -q "forwarded lifecycle event tenant=contoso id=$SUB event=reauthorizationRequired" "$T/$ACTIVE.log" ||
    fail "the active instance did not log the forwarded event"

log "forwarded events for another tenant or an unknown subscription change nothing"
mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -t "$LIFE_TOPIC" \
    -m "{\"tenant\":\"fabrikam\",\"subscriptionId\":\"$SUB\",\"lifecycleEvent\":\"subscriptionRemoved\"}"
mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -t "$LIFE_TOPIC" \
    -m '{"tenant":"contoso","subscriptionId":"00000000-0000-0000-0000-000000000000","lifecycleEvent":"subscriptionRemoved"}'
wait_line 5 "$T/$ACTIVE.log" 'forwarded lifecycle event refused tenant=contoso .*reason=another tenant' ||
    fail "a forwarded event of another tenant was not refused"
sleep 1
[ "$(creates)" = 1 ] || fail "a forged forwarded event made a subscription: $(creates) creates"
[ "$(sim_subs | jq -r '.[0].id')" = "$SUB" ] || fail "the subscription changed: $(sim_subs)"

log "subscriptionRemoved, delivered to the standby"
sim POST "/subscriptions/$SUB/lifecycle" '{"event":"subscriptionRemoved"}' >/dev/null
sim POST "/subscriptions/$SUB/expire" >/dev/null
REMOVED=$(date +%s%N)
recreated() { sim_subs | jqe --arg s "$SUB" 'length == 1 and .[0].pending == false and .[0].id != $s' >/dev/null; }
wait_for 10 recreated || fail "the active instance did not recreate the subscription: $(sim_subs)"
log "recreated after $((($(date +%s%N) - REMOVED) / 1000000)) ms"
[ "$(creates)" = 2 ] || fail "subscriptions created: $(creates), expected 2"
[ "$(grep -c 'subscription created tenant=contoso' "$T/$ACTIVE.log")" = 2 ] ||
    fail "the active instance did not create both: $(grep 'subscription created' "$T"/[ab].log)"
grep -q 'subscription created' "$T/$STANDBY.log" && fail "the standby created a subscription"

log "notifications flow on the new subscription (through the standby)"
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t 'teams/$(topic_id alice@contoso.com)/busy' -C 1 -W 2 | jqe '.busy == true'" ||
    fail "alice not busy: $(mqtt_retained "teams/$(topic_id alice@contoso.com)/busy")"
sim POST /users/alice@contoso.com/end/call >/dev/null
for n in a b; do
    kill -TERM "${PID[$n]}"
    rc=0
    wait "${PID[$n]}" || rc=$?
    [ "$rc" = 0 ] || fail "$n: exit code $rc after SIGTERM"
done
! grep -Eq 'Sanitizer|runtime error' "$T"/[ab].log || fail "sanitizer report in a daemon log"
pass
