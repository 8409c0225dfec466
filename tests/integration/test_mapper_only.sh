#!/usr/bin/env bash
# A split deployment without the Graph side (`--role voice` and `--role
# mapper`, docs/operations.md): nothing publishes teams/<id>/busy, so nothing
# names the users' object ids. The mapper process looks them up itself
# (users lookup in $batch through its Graph client, cached), writes presence
# by object id only, looks a user up again when a presence route answers 404
# for its id, and shows its Graph sign-in in its own B/health: a failing
# sign-in with its AADSTS explanation (and in B/sync, as the reason a write
# failed), then the recovery.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"
PS_BIN=$PS_BUILD/connector/presence-sync

export PS_MAPPER_STARTUP_MS=2000
ms_setup alice@contoso.com bob@contoso.com
BOB=$(g_id bob@contoso.com)
# the mapper's first two app-token requests fail: the client secret is wrong
sim POST /faults "{\"path\":\"/$TENANT_ID/oauth2/v2.0/token\",\"aadsts\":7000215,\"count\":2}" |
    jqe . >/dev/null || fail "fault not accepted"
start_role() { # ROLE PORT
    "$PS_BIN" run -c "$T/ps.json" --role "$1" --listen "127.0.0.1:$2" >>"$T/$1.log" 2>&1 &
    PIDS+=($!)
}
start_role voice "$HTTP_PORT"
MPORT=$(free_port)
start_role mapper "$MPORT"
wait_line 10 "$T/mapper.log" 'graph client ready' || fail "no Graph client in the mapper process"
grep -q 'graph side ready' "$T/mapper.log" && fail "the Graph side runs in the mapper process"
# the test knob is said at warn level (docs/configuration.md "Tuning and test knobs")
grep -q ' warn tunables test/tuning knob set: PS_MAPPER_STARTUP_MS=2000' "$T/mapper.log" ||
    fail "the knob was not logged: $(sed -n 1,5p "$T/mapper.log")"

# the sign-in failure, explained, in the mapper process's own B/health
auth_is() {
    mqtt_retained "$BRIDGE/health/mapper" | jqe --arg s "$1" '.tenants.contoso.graph.auth.app.state == $s' >/dev/null
}
wait_for 15 auth_is error || fail "no sign-in failure in B/health: $(mqtt_retained "$BRIDGE/health/mapper")"
mqtt_retained "$BRIDGE/health/mapper" | jqe '.tenants.contoso.graph.auth.app |
    .aadsts == 7000215 and (.explanation | test("client secret is invalid"))' >/dev/null ||
    fail "no explanation: $(mqtt_retained "$BRIDGE/health/mapper")"
wait_for 20 auth_is ok || fail "sign-in did not recover: $(mqtt_retained "$BRIDGE/health/mapper")"
grep -q 'sign-in failing: invalid_client AADSTS7000215' "$T/mapper.log" ||
    fail "the failed writes did not say why"

# --- Voice -> Teams with ids the mapper looked up itself
C=$(call_start '{"email":"bob@contoso.com"}')
wait_g_session 20 bob@contoso.com Busy/InACall
call_end "$C"
wait_g_session 20 bob@contoso.com ""
lookups() {
    sim GET /requests | jq '[.[] | select(.batch_item and .method == "GET" and
        .path == "/v1.0/users/bob@contoso.com" and (.query | test("select=id")))] | length'
}
[ "$(lookups)" -ge 1 ] || fail "bob was not looked up: $(sim GET /requests | jq -c '[.[] | .path] | .[-12:]')"
sim GET /requests | jqe --arg id "$BOB" '
    any(.[]; .path == "/v1.0/users/\($id)/presence/setPresence" and .status == 200) and
    all(.[]; (.path | test("/users/[^/]*@[^/]*/presence")) | not)' >/dev/null ||
    fail "presence not written by object id: $(sim GET /requests | jq -c '[.[] | {path, status}] | .[-12:]')"
L1=$(lookups)

# --- the id goes stale (a 404 for it): looked up again, then written
sim POST /faults "{\"method\":\"POST\",\"path\":\"/v1.0/users/$BOB/presence/setPresence\",\"status\":404,\"count\":1}" |
    jqe . >/dev/null || fail "fault not accepted"
C=$(call_start '{"email":"bob@contoso.com"}')
wait_g_session 20 bob@contoso.com Busy/InACall
[ "$(lookups)" -gt "$L1" ] || fail "bob not looked up again after the 404"
call_end "$C"
wait_g_session 20 bob@contoso.com ""

# the failed sign-ins counted with their code, in the mapper process
curl -s "http://127.0.0.1:$MPORT/metrics" |
    has -E '^presence_sync_graph_token_failures_total\{tenant="contoso",account="app",code="AADSTS7000215"\} 2$' ||
    fail "token failures not counted: $(curl -s "http://127.0.0.1:$MPORT/metrics" | grep graph_token)"
pass
