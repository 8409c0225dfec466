#!/usr/bin/env bash
# Split deployment (docs/operations.md): three presence-sync processes from
# one config, `--role graph`, `--role voice` and `--role mapper`, each with its
# own --listen port, against one broker (mosquitto + fake-graph + fake-voice),
# give the same results as one process: a Teams call -> Voice 'talking', a
# Voice call -> Teams Busy/InACall and back. Each process has its own client
# id and B/state/<role>, B/health/<role>; none publishes the role-all B/state.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"
PS_BIN=$PS_BUILD/connector/presence-sync

ms_setup alice@contoso.com bob@contoso.com
sub_start states "$BRIDGE/state/#"
# The graph process serves the webhook, so it takes http.listen (= public_url).
start_role() { # ROLE PORT
    "$PS_BIN" run -c "$T/ps.json" --role "$1" --listen "127.0.0.1:$2" >>"$T/$1.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
}
start_role graph "$HTTP_PORT"
VPORT=$(free_port)
start_role voice "$VPORT"
MPORT=$(free_port)
start_role mapper "$MPORT"

for r in graph voice mapper; do
    wait_line 10 "$T/$r.log" "info mqtt connected .*client_id=ps-mapper-test-$r" ||
        fail "$r: not connected with its own client id"
    grep -q "roles=$r\$" "$T/$r.log" || fail "$r: roles not logged"
done
state_online() { mqtt_retained "$BRIDGE/state/$1" | jqe '.state == "online"' >/dev/null; }
for r in graph voice mapper; do
    wait_for 5 state_online "$r" || fail "$BRIDGE/state/$r not online"
done
[ -z "$(mqtt_retained "$BRIDGE/state")" ] || fail "a split process published $BRIDGE/state"

# Each process runs only its own part.
grep -q 'info graph graph side ready' "$T/voice.log" "$T/mapper.log" &&
    fail "Graph side ran outside the graph role"
# The Graph client runs where the Graph side or the mapper does, each with
# its share of the tenant's presence budget (one budget cannot span processes).
grep -q 'graph client ready' "$T/voice.log" && fail "Graph client ran in the voice role"
grep -q 'graph client ready.*presence_budget=1400/30000ms' "$T/mapper.log" ||
    fail "mapper process: no Graph client with its budget share"
grep -q 'graph client ready.*presence_budget=100/30000ms' "$T/graph.log" ||
    fail "graph process: no Graph client with its budget share"
grep -q 'info voice starting' "$T/graph.log" && fail "Voice side ran in the graph role"
grep -q 'mapper started' "$T/graph.log" "$T/voice.log" && fail "mapper ran outside the mapper role"
# The mapper process writes 'talking' but follows no calls: no RTE link.
wait_line 10 "$T/mapper.log" 'writer ready \(no RTE link' || fail "mapper process: Voice writer not ready"
grep -q 'RTE link live' "$T/mapper.log" && fail "mapper process opened an RTE link"
wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no Graph subscription: $(sim_subs)"
voice_live() {
    mqtt_retained "$BRIDGE/health/voice" | jqe '.tenants.contoso.voice.link == "live"' >/dev/null
}
wait_for 20 voice_live || fail "Voice link not live: $(mqtt_retained "$BRIDGE/health/voice")"
mqtt_retained "$BRIDGE/health/graph" | jqe '.tenants.contoso.graph' >/dev/null ||
    fail "no Graph section in $BRIDGE/health/graph"
[ -z "$(mqtt_retained "$BRIDGE/health")" ] || fail "a split process published $BRIDGE/health"

# /readyz per process: graph and voice judge their own side and MQTT.
ready() { [ "$(http_status "http://127.0.0.1:$1/readyz")" = 200 ]; }
wait_for 10 ready "$HTTP_PORT" || fail "graph process not ready: $(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")"
wait_for 10 ready "$VPORT" || fail "voice process not ready: $(curl -s "http://127.0.0.1:$VPORT/readyz")"
wait_for 10 ready "$MPORT" || fail "mapper process not ready: $(curl -s "http://127.0.0.1:$MPORT/readyz")"
curl -s "http://127.0.0.1:$MPORT/metrics" | grep 'presence_sync_build_info{.*roles="mapper"} 1' >/dev/null ||
    fail "build_info of the mapper process"

wait_for 30 quiet_count_is 2 || fail "after start $(quiet_count) of 2 users quiet: $(sync_of alice@contoso.com)"

# --- Teams -> Voice
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 10 alice@contoso.com true
stays 2 g_session_is alice@contoso.com "" || fail "a session was set for a Teams call"
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_v_talking 10 alice@contoso.com false

# --- Voice -> Teams
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_talking 10 bob@contoso.com true
wait_g_session 10 bob@contoso.com Busy/InACall
wait_g_shown 10 bob@contoso.com Busy/InACall
stays 2 v_talking_is bob@contoso.com false || fail "our echo was mirrored into Voice"
call_end "$C"
wait_g_session 10 bob@contoso.com ""
wait_g_shown 10 bob@contoso.com Available/Available
wait_for 10 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"

# Stopping one role marks only its own state offline.
kill -TERM "$PID_voice"
wait "$PID_voice" || fail "voice process did not stop cleanly"
state_offline() { mqtt_retained "$BRIDGE/state/$1" | jqe '.state == "offline"' >/dev/null; }
wait_for 5 state_offline voice || fail "$BRIDGE/state/voice not offline"
state_online graph && state_online mapper || fail "another role went offline"
pass split
