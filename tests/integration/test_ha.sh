#!/usr/bin/env bash
# Several instances with one configuration (docs/ha.md), end to end: four
# scenarios on one broker, one fake-graph, one fake-voice and one load
# balancer (their shared public_url); each scenario starts its own instances
# on a clean broker and reset simulators (ha_scene).
#
# sides, with three instances: the election: distinct MQTT client ids (the
# broker never takes one's connection over for another), exactly one active
# per tenant after the settle window and the others standby, all agreeing on
# the holder that the retained lease names, no flapping while calls go on.
# The sides gated on the role: only the active instance creates the Graph
# subscription and writes; a standby answers the notifications the load
# balancer gives it. One Voice call: one setPresence, one clearPresence, two
# voice/<id>/talking messages; one Teams call: Voice 'talking' written once
# each way; the standbys delete no subscription. Then kill -9 of the active
# one while a Voice call ends: a standby takes over within 15 s (epoch 2),
# runs the start-up reconcile, adopts the subscription (nothing created or
# deleted), carries no call over, and transitions made right after reach the
# other side. SIGTERM of the new active one: it releases (logged) and the
# last one takes over within 5 s.
#
# lifecycle: lifecycle events that the load balancer hands to a standby
# ("Lifecycle events"): the standby verifies them and forwards them on
# B/lifecycle/<tenant>; the active instance acts on them as on its own.
# reauthorizationRequired: the active one reauthorizes; subscriptionRemoved:
# the active one recreates at once (one create, by the active instance). A
# forwarded event that names another tenant, or a subscription the active
# one does not hold, changes nothing.
#
# upgrade: rolling upgrade, fencing and B/state. Two run; B/health is the
# active one's, /readyz and the log of each say its role and the active one.
# A third is started (under another instance name: the same rule) and the
# active one gets SIGTERM while bob is in a Voice call: the handover gap is
# under 5 s, fake-graph sees no subscription created or deleted and no
# clearPresence (no write flap). Then the active one is paused (SIGSTOP)
# beyond its lease: a standby takes over and writes; resumed (SIGCONT), the
# paused one writes nothing and both settle with one active. B/state stays
# online while any instance lives, and says offline once the last is killed.
#
# secret: a rotated client secret ("Client secret rotation"): the active
# instance publishes, retained on B/subscriptions/<tenant>, a fingerprint of
# the clientState of each subscription it holds. Restarted with the same
# secret, it adopts its subscription (nothing created or deleted); restarted
# with a rotated secret, whose derived clientState no longer matches, it
# deletes and recreates it, logs why, and notifications flow again. A broker
# restarted without persistence gets the fingerprints again (the end of the
# fence publishes them). It changes fake-graph's app secret: it runs last.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/ha_helpers.sh"

MOSQ_EXTRA_CONF="log_type notice" # "already connected, closing old connection"
ha_setup 3 alice@contoso.com bob@contoso.com

LEASE=$BRIDGE/lease/contoso
creates() { g_count '.method == "POST" and .path == "/v1.0/subscriptions" and .status == 201'; }
node_of() { sed -n 's/.*lease node=\([^ ]*\).*/\1/p' "$T/$1.log" | tail -n 1; }
lease_holder() { mqtt_retained "$LEASE" | jq -r '.holder // empty'; }
# holder_is NAME [OTHER...]: the retained lease and every OTHER's log name
# NAME's node.
holder_is() {
    local want n
    want=$(node_of "$1")
    [ -n "$want" ] && [ "$(lease_holder)" = "$want" ] || return 1
    for n in "${@:2}"; do
        grep -E 'role tenant=contoso role=' "$T/$n.log" | tail -n 1 | has "holder=$want " ||
            return 1
    done
}
# ha_pair: instances a and b up, one active: ACTIVE, STANDBY; and the one
# Graph subscription made.
ha_pair() {
    ha_start a
    ha_start b
    wait_sides a b
    ACTIVE=$(active_among a b)
    STANDBY=$([ "$ACTIVE" = a ] && echo b || echo a)
    log "active=$ACTIVE standby=$STANDBY"
    wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
        fail "no Graph subscription: $(sim_subs)"
}

scene_sides() {
    log "three instances, one configuration"
    ha_start a
    ha_start b
    ha_start c
    wait_sides a b c
    ACTIVE=$(active_among a b c)
    OTHERS=()
    for n in a b c; do [ "$n" = "$ACTIVE" ] || OTHERS+=("$n"); done
    STANDBY=${OTHERS[0]}
    log "active=$ACTIVE standby=${OTHERS[*]}"
    # the election: every instance agrees on the holder the retained lease
    # names; distinct node ids (MQTT client ids)
    wait_for 10 holder_is "$ACTIVE" "${OTHERS[@]}" ||
        fail "holder not agreed: lease=$(lease_holder) active=$(node_of "$ACTIVE")"
    [ "$(node_of a)" != "$(node_of b)" ] && [ "$(node_of b)" != "$(node_of c)" ] && [ "$(node_of a)" != "$(node_of c)" ] ||
        fail "two instances share a node id"
    mqtt_retained "$LEASE" | jqe '.state == "held" and .instance == "ps-mapper-test" and .epoch >= 1' >/dev/null ||
        fail "retained lease: $(mqtt_retained "$LEASE")"
    wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
        fail "no Graph subscription: $(sim_subs)"
    wait_for 20 quiet_count_is 2 || fail "B/sync not quiet: $(quiet_count)"
    [ "$(g_subs_written)" = 1 ] || fail "subscriptions created/deleted: $(g_subs_written), expected 1"
    for n in "${OTHERS[@]}"; do
        grep -q 'subscription created' "$T/$n.log" && fail "the standby $n created a subscription"
    done

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

    # no flapping meanwhile (the calls above took seconds: several renewals)
    [ "$(active_among a b c)" = "$ACTIVE" ] || fail "the active instance changed without a fault"
    for n in a b c; do
        [ "$(grep -c 'role tenant=contoso role=active' "$T/$n.log")" -le 1 ] || fail "$n was active twice"
    done

    log "kill -9 of the active instance ($ACTIVE) while bob's Voice call ends"
    C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
    wait_g_session 10 bob@contoso.com Busy/InACall
    wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t 'voice/$(topic_id bob@contoso.com)/talking' -C 1 -W 2 | jqe '.talking == true'" ||
        fail "bob not talking in voice/"
    SUBS0=$(g_subs_written)
    kill -KILL "${PID[$ACTIVE]}"
    KILLED=$(date +%s%N)
    call_end "$C"
    wait_for 15 active_among "${OTHERS[@]}" >/dev/null ||
        fail "no takeover within 15 s: $(role "${OTHERS[0]}") $(role "${OTHERS[1]}")"
    log "takeover after $((($(date +%s%N) - KILLED) / 1000000)) ms"
    NEW=$(active_among "${OTHERS[@]}")
    LAST=$([ "$NEW" = "${OTHERS[0]}" ] && echo "${OTHERS[1]}" || echo "${OTHERS[0]}")
    wait_line 5 "$T/$NEW.log" 'role tenant=contoso role=active .*epoch=2' || fail "the takeover is not epoch 2"
    wait_line 5 "$T/$NEW.log" 'mapper writing: start-up reconcile tenant=contoso' ||
        fail "no start-up reconcile at the takeover"
    wait_line 10 "$T/$NEW.log" 'subscription adopted tenant=contoso' || fail "subscription not adopted"
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

    log "SIGTERM of the active instance ($NEW): it releases, $LAST takes over"
    kill -TERM "${PID[$NEW]}"
    TERMED=$(date +%s%N)
    wait_for 5 active_among "$LAST" >/dev/null || fail "no handover within 5 s: $(role "$LAST")"
    log "handover after $((($(date +%s%N) - TERMED) / 1000000)) ms"
    rc=0
    wait "${PID[$NEW]}" || rc=$?
    [ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
    grep -q 'lease released tenant=contoso' "$T/$NEW.log" || fail "no release logged"
    wait_for 5 holder_is "$LAST" || fail "lease not held by $LAST: $(lease_holder)"
    ! grep -q 'already connected' "$T/mosquitto.log" || fail "the broker took a connection over"
}

scene_lifecycle() {
    ha_pair
    SUB=$(sim_subs | jq -r '.[0].id')
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
}

scene_upgrade() {
    ha_pair
    wait_for 20 quiet_count_is 2 || fail "B/sync not quiet: $(quiet_count)"

    state_is() { mqtt_retained "$BRIDGE/state" | jqe --arg s "$1" '.state == $s' >/dev/null; }
    readyz_role() {
        curl -s --max-time 5 "http://127.0.0.1:${PORT[$1]}/readyz" | jq -r '.components["role/contoso"].reason'
    }
    health_holder_is() {
        mqtt_retained "$BRIDGE/health" | jqe --arg n "$(node_of "$1")" \
            '.tenants.contoso.role.role == "active" and .tenants.contoso.role.node == $n and
             .tenants.contoso.role.holder == $n' >/dev/null
    }

    log "who says what: active=$ACTIVE standby=$STANDBY"
    wait_for 10 health_holder_is "$ACTIVE" || fail "B/health is not the active's: $(mqtt_retained "$BRIDGE/health" | jq -c .tenants.contoso.role)"
    readyz_role "$STANDBY" | has "^standby, active: $(node_of "$ACTIVE") (ps-mapper-test)" ||
        fail "standby /readyz: $(readyz_role "$STANDBY")"
    readyz_role "$ACTIVE" | has "^active, active: $(node_of "$ACTIVE")" || fail "active /readyz: $(readyz_role "$ACTIVE")"
    grep -E 'role tenant=contoso role=standby' "$T/$STANDBY.log" | tail -n 1 | has "holder=$(node_of "$ACTIVE") " ||
        fail "the standby's log does not name the active"
    state_is online || fail "B/state: $(mqtt_retained "$BRIDGE/state")"

    log "rolling upgrade: c starts, SIGTERM of $ACTIVE while bob is in a Voice call"
    C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
    wait_g_session 10 bob@contoso.com Busy/InACall
    wait_for 10 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"
    ha_start c '.instance = "ps-renamed"' # another instance name: the same rule
    wait_for 30 link_up c || fail "c: Voice link not live"
    wait_for 20 active_among "$ACTIVE" "$STANDBY" c >/dev/null || fail "c did not settle as standby: $(role c)"
    SEQ=$(sim GET /requests | jq '[.[].seq] | max')
    kill -TERM "${PID[$ACTIVE]}"
    TERMED=$(date +%s%N)
    wait_for 5 active_among "$STANDBY" c >/dev/null || fail "no handover within 5 s: $STANDBY=$(role "$STANDBY") c=$(role c)"
    GAP=$((($(date +%s%N) - TERMED) / 1000000))
    log "handover gap $GAP ms"
    wait "${PID[$ACTIVE]}" 2>/dev/null || true
    NEW=$(active_among "$STANDBY" c)
    OTHER=$([ "$NEW" = c ] && echo "$STANDBY" || echo c)
    wait_line 10 "$T/$NEW.log" 'subscription adopted tenant=contoso' || fail "subscription not adopted by $NEW"
    wait_for 20 quiet_count_is 2 || fail "B/sync not quiet after the handover: $(quiet_count)"
    wait_for 10 health_holder_is "$NEW" || fail "B/health not the new active's"
    wait_for 5 state_is online || fail "B/state after the old active's clean stop: $(mqtt_retained "$BRIDGE/state")"
    sim GET /requests | jqe --argjson s "$SEQ" '[.[] | select(.seq > $s and
        (.path | test("^/v1.0/subscriptions")) and (.method == "POST" or .method == "DELETE"))] |
        length == 0' >/dev/null || fail "subscriptions created or deleted during the handover"
    sim GET /requests | jqe --argjson s "$SEQ" '[.[] | select(.seq > $s and
        (.path | test("clearPresence")))] | length == 0' >/dev/null || fail "a write flap: clearPresence during the handover"
    g_session_is bob@contoso.com Busy/InACall || fail "bob's session lost in the handover: $(g_app_session bob@contoso.com)"
    call_end "$C"
    wait_g_session 10 bob@contoso.com ""

    log "fencing: SIGSTOP of $NEW beyond its lease"
    lb_prefer "$OTHER"
    kill -STOP "${PID[$NEW]}"
    role_is() { [ "$(role "$1")" = "$2" ]; }
    wait_for 15 role_is "$OTHER" active ||
        fail "no takeover by $OTHER while $NEW was paused: $(role "$OTHER")"
    C=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
    wait_g_session 10 alice@contoso.com Busy/InACall
    LINES=$(wc -l <"$T/$NEW.log")
    kill -CONT "${PID[$NEW]}"
    wait_for 10 active_among "$NEW" "$OTHER" >/dev/null || fail "not settled: $NEW=$(role "$NEW") $OTHER=$(role "$OTHER")"
    [ "$(active_among "$NEW" "$OTHER")" = "$OTHER" ] || fail "the resumed instance is active again"
    call_end "$C"
    wait_g_session 10 alice@contoso.com ""
    wait_for 10 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"
    # what the resumed one logged after SIGCONT: no write of any kind
    tail -n +"$((LINES + 1))" "$T/$NEW.log" >"$T/resumed.log"
    grep -E 'graph write done|voice talking written|creating subscription|deleting subscription|subscription (created|adopted|reauthorized)' "$T/resumed.log" &&
        fail "the resumed instance wrote"
    grep -q 'role tenant=contoso role=standby' "$T/resumed.log" || fail "the resumed instance did not log standby"
    # every write fake-graph saw for alice is accounted for by the active one's log
    SETS=$(g_sets alice@contoso.com)
    DONE=$(grep -c "graph write done tenant=contoso id=alice@contoso.com action=graph_set_busy" "$T/$OTHER.log" || true)
    [ "$SETS" = "$DONE" ] || fail "alice: $SETS setPresence in fake-graph, $DONE by $OTHER"

    log "B/state: online while any instance lives, offline after the last"
    sub_start st "$BRIDGE/state"
    kill -KILL "${PID[$NEW]}"
    # the will's offline comes, and is answered with an online
    answered() { sed -n '/"offline"/,$p' "$T/st.sub" | sed 1d | has '"online"'; }
    wait_for 10 answered || fail "the will was not answered: $(cat "$T/st.sub")"
    state_is online || fail "B/state after a kill with one left: $(mqtt_retained "$BRIDGE/state")"
    kill -KILL "${PID[$OTHER]}"
    wait_for 10 state_is offline || fail "B/state after the last kill: $(mqtt_retained "$BRIDGE/state")"
}

scene_secret() {
    deletes() { g_count ".method == \"DELETE\" and .path == \"/v1.0/subscriptions/$1\""; }
    live_sub() { sim_subs | jq -r 'map(select(.pending == false)) | if length == 1 then .[0].id else empty end'; }
    this_run() { tail -n +"$L0" "$T/a.log"; }
    this_run_has() { this_run | has -E "$1"; }
    # run_a: instance a, started again; L0 is where this run's log begins
    run_a() {
        L0=$(($(wc -l 2>/dev/null <"$T/a.log" || echo 0) + 1))
        ha_start a
        wait_for 30 this_run_has 'role tenant=contoso role=active' ||
            fail "a is not active: $(tail -n +"$L0" "$T/a.log" | grep 'role tenant=' | tail -n 1)"
    }
    stop_a() {
        kill -TERM "${PID[a]}"
        local rc=0
        wait "${PID[a]}" || rc=$?
        [ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
    }
    fingerprint() { printf '%s' "$1" | sha256sum | cut -c1-16; }

    run_a
    has_sub() { [ -n "$(live_sub)" ]; }
    wait_for 20 has_sub || fail "no Graph subscription: $(sim_subs)"
    SUB=$(live_sub)
    STATE=$(sim_subs | jq -r '.[0].clientState // empty')
    FP=$(mqtt_retained "$BRIDGE/subscriptions/contoso" | jq -r --arg s "$SUB" '.subscriptions[$s] // empty')
    [ -n "$FP" ] || fail "no fingerprint retained: $(mqtt_retained "$BRIDGE/subscriptions/contoso")"
    if [ -n "$STATE" ]; then
        [ "$FP" = "$(fingerprint "$STATE")" ] || fail "fingerprint $FP is not SHA-256's first 16 hex digits of the clientState"
        mqtt_retained "$BRIDGE/subscriptions/contoso" | has -F "$STATE" && fail "the clientState itself was published"
    fi
    stop_a

    log "restart with the same secret: adopted"
    run_a
    wait_for 15 this_run_has "subscription adopted tenant=contoso .*id=$SUB" ||
        fail "not adopted: $(this_run | grep -E 'subscription|adopt' | sed -n 1,5p)"
    [ "$(creates)" = 1 ] || fail "subscriptions created: $(creates), expected 1"
    [ "$(deletes "$SUB")" = 0 ] || fail "the subscription was deleted"
    stop_a

    log "restart with a rotated client secret: replaced"
    NEW_SECRET='r0tated+secret/2'
    sim POST /apps "$(jq -nc --arg c "$CLIENT_ID" --arg s "$NEW_SECRET" '{client_id: $c, client_secret: $s}')" >/dev/null
    printf '%s\n' "$NEW_SECRET" >"$T/client_secret"
    run_a
    replaced() { local s; s=$(live_sub); [ -n "$s" ] && [ "$s" != "$SUB" ]; }
    wait_for 20 replaced || fail "the subscription was not replaced: $(sim_subs | jq -c 'map({id, pending})')"
    [ "$(creates)" = 2 ] || fail "subscriptions created: $(creates), expected 2"
    [ "$(deletes "$SUB")" = 1 ] || fail "the old subscription deleted $(deletes "$SUB") times"
    this_run | has "subscription not adopted, replacing it tenant=contoso id=$SUB reason=\"its clientState differs" ||
        fail "the replacement was not logged"
    this_run | has 'subscription adopted' && fail "the old subscription was adopted"
    NEW=$(live_sub)
    fp_published() { mqtt_retained "$BRIDGE/subscriptions/contoso" | jqe --arg s "$NEW" '.subscriptions[$s] != null' >/dev/null; }
    wait_for 10 fp_published ||
        fail "the new fingerprint was not published: $(mqtt_retained "$BRIDGE/subscriptions/contoso")"

    log "notifications flow on the new subscription"
    sim POST /users/alice@contoso.com/start/call >/dev/null
    wait_busy 10 alice@contoso.com true notification
    sim POST /users/alice@contoso.com/end/call >/dev/null
    wait_busy 10 alice@contoso.com false notification
    this_run | has 'wrong clientState' && fail "notifications were refused: $(this_run | grep 'wrong clientState' | sed -n 1,3p)"

    log "the broker restarts without its retained topics: the fingerprints come back"
    stop_mosquitto
    rm -rf "$T/mosq"
    start_mosquitto
    wait_for 30 fp_published || fail "the fingerprint was not published again: '$(mqtt_retained "$BRIDGE/subscriptions/contoso")'"
    this_run | has 'role tenant=contoso role=fenced' || fail "the broker's loss did not fence a"
    assert_absent "$NEW_SECRET" "$T"/a.log
    stop_a
}

for scene in sides lifecycle upgrade secret; do
    ha_scene "$scene"
    "scene_$scene"
done
ha_clean
pass
