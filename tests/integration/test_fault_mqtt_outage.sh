#!/usr/bin/env bash
# Fault suite (docs/security.md), end to end (mosquitto + fake-graph +
# fake-voice + daemon): the broker is stopped for 10 s in the middle of
# traffic. While it is down, calls start and end on both sides and a burst of
# Graph change notifications arrives (several users toggling their Teams
# call). After the broker restarts, within BOUND_S seconds, the retained
# teams/<id>/busy and voice/<id>/talking topics, Teams (fake-graph) and Voice
# (fake-voice) all show the truth: no lost transition (docs/guarantees.md).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

# Bound, counted from the broker's return (docs/security.md, "Fault suite"):
# generous on purpose (tests do not time things; tests/bench/bench_recovery.sh
# measures the recovery). The bus retries at most 1 s apart while the broker
# is away (docs/mqtt.md "Reconnect and backoff"); a loaded machine stretches
# the rest.
BOUND_S=40
OUTAGE_S=10
BURST=(e1@contoso.com e2@contoso.com e3@contoso.com e4@contoso.com e5@contoso.com e6@contoso.com)

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com dave@contoso.com "${BURST[@]}"
ms_start

# before the outage: carol in a Voice call, dave in a Teams call
CC=$(call_start '{"email":"carol@contoso.com"}')
sim POST /users/dave@contoso.com/start/call >/dev/null
wait_g_session 10 carol@contoso.com Busy/InACall
wait_v_talking 10 dave@contoso.com true
wait_busy 10 dave@contoso.com true
wait_talking 10 carol@contoso.com true

# --- the broker goes away for 10 s; traffic goes on on both sides
sim DELETE /deliveries >/dev/null
stop_mosquitto
T_DOWN=$(date +%s%N)
CA=$(call_start '{"email":"alice@contoso.com"}')     # Voice call starts (lasts)
sim POST /users/bob@contoso.com/start/call >/dev/null # Teams call starts (lasts)
call_end "$CC"                                       # Voice call ends
sim POST /users/dave@contoso.com/end/call >/dev/null # Teams call ends
# the webhook burst: each burst user toggles its Teams call three times;
# e1, e3, e5 end up in a call, e2, e4, e6 not
for round in 1 2 3; do
    for i in "${!BURST[@]}"; do
        sim POST "/users/${BURST[$i]}/start/call" >/dev/null
        if [ "$round" -lt 3 ] || [ $((i % 2)) = 1 ]; then
            sim POST "/users/${BURST[$i]}/end/call" >/dev/null
        fi
    done
done
# the daemon took every notification while MQTT was down (answered 2xx)
wait_for 10 bash -c "curl -s '$FG/_sim/deliveries' | jqe '[.[] | select(.kind == \"change\")] | length >= 30'" ||
    fail "notifications not delivered: $(sim GET /deliveries | jq -c '[.[] | {status, ok}]')"
NOTIF=$(sim GET /deliveries | jq '[.[] | select(.kind == "change")] | length')
sim GET /deliveries | jqe '[.[] | select(.kind == "change" and .ok != true)] | length == 0' >/dev/null ||
    fail "a notification was refused while MQTT was down: $(sim GET /deliveries | jq -c '[.[] | select(.ok != true)]')"
log "$NOTIF notifications accepted while the broker was down"
# the rest of the 10 s
while [ $(($(date +%s%N) - T_DOWN)) -lt $((OUTAGE_S * 1000000000)) ]; do sleep 0.2; done
start_mosquitto "user $(id -un)"
T_UP=$(date +%s%N)

# --- the truth, everywhere
# why MSG: note what is not right yet (shown when the bound is missed).
why() {
    echo "$*" >"$T/why"
    return 1
}
converged() {
    # alice: Voice call -> our Teams session; Voice topic true
    g_session_is alice@contoso.com Busy/InACall || { why "alice session"; return 1; }
    talking_is alice@contoso.com true && busy_is alice@contoso.com true || { why "alice topics"; return 1; }
    v_talking_is alice@contoso.com false || { why "alice flag"; return 1; }
    # bob: Teams call -> Voice flag; Teams topic true, no session of ours
    v_talking_is bob@contoso.com true && g_session_is bob@contoso.com "" || { why "bob systems"; return 1; }
    busy_is bob@contoso.com true && talking_is bob@contoso.com false || { why "bob topics"; return 1; }
    # carol: her Voice call ended while the broker was down
    g_session_is carol@contoso.com "" && v_talking_is carol@contoso.com false || { why "carol systems"; return 1; }
    talking_is carol@contoso.com false && busy_is carol@contoso.com false || { why "carol topics"; return 1; }
    # dave: his Teams call ended while the broker was down
    v_talking_is dave@contoso.com false && busy_is dave@contoso.com false || { why "dave"; return 1; }
    local i want u
    for i in "${!BURST[@]}"; do
        want=false
        [ $((i % 2)) = 0 ] && want=true
        busy_is "${BURST[$i]}" $want || { why "${BURST[$i]} topic"; return 1; }
        v_talking_is "${BURST[$i]}" $want || { why "${BURST[$i]} flag"; return 1; }
    done
    for u in alice bob carol dave; do sync_quiet $u@contoso.com || { why "$u B/sync not quiet"; return 1; }; done
}
report() {
    local u
    for u in alice bob carol dave "${BURST[@]%@contoso.com}"; do
        u=$u@contoso.com
        echo "$u: teams=$(g_shown "$u") session='$(g_app_session "$u")' vflag=$(v_talking "$u")" \
            "busy=$(mqtt_retained "$(busy_topic "$u")" | jq -c .busy)" \
            "talking=$(mqtt_retained "$(talking_topic "$u")" | jq -c .talking)" >&2
    done
    for u in alice bob carol dave; do echo "$u sync: $(sync_of $u@contoso.com)" >&2; done
}
wait_for $BOUND_S converged || {
    report
    echo "not right: $(cat "$T/why" 2>/dev/null)" >&2
    fail "not converged within ${BOUND_S}s of the broker's return"
}
EL=$((($(date +%s%N) - T_UP) / 1000000))
# how much of it was Paho's reconnect backoff
T_CONN=$(grep 'mqtt connected' "$T/daemon.log" | tail -1 | cut -c12-23)
log "converged ${EL} ms after the broker came back (bound ${BOUND_S} s); reconnect at $T_CONN" \
    "(broker back at $(date -u -d @$((T_UP / 1000000000)) +%H:%M:%S))"
# B/state is online again and the burst users' B/sync is consistent
mqtt_retained "$BRIDGE/state" | jqe '.state == "online"' >/dev/null || fail "B/state not online"
# it stays right (no late flapping from stale buffered publishes)
stays 2 converged || {
    report
    fail "state changed after convergence"
}

# --- and the daemon still works normally afterwards
call_end "$CA"
wait_g_session 10 alice@contoso.com ""
wait_talking 10 alice@contoso.com false
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_v_talking 10 bob@contoso.com false
wait_busy 10 bob@contoso.com false
echo "converged_ms=$EL" >"$T/result"
pass
