#!/usr/bin/env bash
# The mapper end to end (mosquitto + fake-graph + fake-voice + daemon):
# Teams call -> Voice 'talking' -> call ends -> cleared; Voice call -> Teams
# Busy/InACall through our app session (fake-graph's aggregate) -> call ends
# -> clearPresence, back to the user's own state; our own echo is not
# mirrored back to Voice; B/sync/<id> shows both inputs and what was written.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com
sub_start sync "$BRIDGE/sync/+"
ms_start

# --- start-up reconcile: nobody talks, nothing of ours is left anywhere
v_talking_is alice@contoso.com false || fail "alice talking at start"
[ -z "$(g_app_session alice@contoso.com)" ] || fail "app session at start"
sync_of alice@contoso.com | jqe '.user == "alice@contoso.com" and .tenant == "contoso" and
    .written.teams.session == "none" and .written.voice.talking == "false" and
    .inputs.teams.activity == "Available" and .inputs.voice.talking == false' >/dev/null ||
    fail "alice B/sync after start: $(sync_of alice@contoso.com)"

# --- Teams -> Voice
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 10 alice@contoso.com true
sync_of alice@contoso.com | jqe '.written.voice.talking == "true" and
    .inputs.teams.origin == "user" and .inputs.teams.real_call == true' >/dev/null ||
    fail "alice B/sync in a Teams call: $(sync_of alice@contoso.com)"
# no loop: the Voice flag is not a Voice call, so Teams gets no session
stays 2 g_session_is alice@contoso.com "" || fail "a session was set for a Teams call"
v_talking_is bob@contoso.com false || fail "bob changed"
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_v_talking 10 alice@contoso.com false

# --- Voice -> Teams
W0=$(v_writes bob@contoso.com)
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 10 bob@contoso.com Busy/InACall
wait_g_shown 10 bob@contoso.com Busy/InACall
g_user bob@contoso.com | jqe --arg c "$CLIENT_ID" '.sessions[] | select(.id == $c) |
    .expires != null' >/dev/null || fail "session without expiry"
# the echo (Teams busy/InACall from our own session) reaches the mapper ...
wait_busy 10 bob@contoso.com true notification
wait_for 5 bash -c "mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/bob@contoso.com' -C 1 -W 2 |
    jqe '.inputs.teams.origin == \"echo\" and .written.teams.session == \"busy\"'" ||
    fail "bob B/sync does not show the echo: $(sync_of bob@contoso.com)"
sync_of bob@contoso.com | jqe '(.written.teams.at | fromdateiso8601) > (now - 120) and
    (.written.teams.expires | fromdateiso8601) - (.written.teams.at | fromdateiso8601) == 900' \
    >/dev/null || fail "bob's session times in B/sync: $(sync_of bob@contoso.com)"
# ... and is not mirrored back into Voice
stays 2 v_talking_is bob@contoso.com false || fail "our echo was mirrored into Voice"
[ "$(v_writes bob@contoso.com)" = "$W0" ] || fail "Voice was written during bob's call"
call_end "$C"
wait_g_session 10 bob@contoso.com ""
wait_g_shown 10 bob@contoso.com Available/Available
wait_busy 10 bob@contoso.com false
wait_for 10 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"
v_talking_is bob@contoso.com false || fail "bob left talking"
[ "$(v_writes bob@contoso.com)" = "$W0" ] || fail "Voice was written after bob's call"
# the settle read happened after the clear: by bob's object id (from his
# teams/<id>/busy user_id) in a getPresencesByUserId
BOB_ID=$(sim GET /users | jq -r '.[] | select(.upn == "bob@contoso.com") | .id')
sim GET /requests | jqe --arg id "$BOB_ID" '
    ([.[] | select(.path == "/v1.0/users/\($id)/presence/clearPresence")] | last | .seq) as $c |
    $c != null and
    ([.[] | select(.seq > $c and .path == "/v1.0/communications/getPresencesByUserId" and
        (.body | fromjson | .ids | index($id)))] | length >= 1)' >/dev/null ||
    fail "no settle read: $(sim GET /requests | jq -c '[.[] | {method, path, status}] | .[-10:]')"
[ "$(metric 'graph_requests_total{tenant="contoso",kind="presences",status="200"}')" -ge 1 ] ||
    fail "no getPresencesByUserId answered"
[ "$(metric 'mapper_graph_reads_total{outcome="ok"}')" -ge 1 ] ||
    fail "the mapper read no presence"
# presence routes by object id only: nothing of ours was addressed by UPN
sim GET /requests | jqe 'all(.[]; (.path | test("/users/[^/]*@[^/]*/presence")) | not)' >/dev/null ||
    fail "a presence route was addressed by UPN"

# --- every B/sync payload published matches schemas/sync.schema.json
python3 - "$PS_SRC/schemas/sync.schema.json" "$T/sync.sub" <<'PY' || fail "B/sync payload does not match the schema"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
for ex in schema["examples"]:
    jsonschema.validate(ex, schema)
n = 0
for line in open(sys.argv[2]):
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 3 or not parts[2]:
        continue
    jsonschema.validate(json.loads(parts[2]), schema)
    n += 1
assert n >= 10, f"only {n} B/sync payloads"
print(f"{n} B/sync payloads valid")
PY

# --- metrics
curl -s --max-time 5 "$WEB/metrics" >"$T/metrics.txt"
grep -Eq '^presence_sync_mapper_graph_writes_total\{action="graph_set_busy",outcome="ok"\} [1-9]' "$T/metrics.txt" ||
    fail "no set counted: $(grep mapper "$T/metrics.txt")"
grep -Eq '^presence_sync_mapper_voice_writes_total\{outcome="ok"\} [1-9]' "$T/metrics.txt" ||
    fail "no voice write counted: $(grep mapper "$T/metrics.txt")"

# --- a graceful stop is clean (exit 0; under -DPS_SANITIZE=ON also no leak
# or sanitizer report)
kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "daemon exit code $rc after SIGTERM"
! grep -Eq 'Sanitizer|runtime error' "$T/daemon.log" || fail "sanitizer report in the daemon log"
pass
