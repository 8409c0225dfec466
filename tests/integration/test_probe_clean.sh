#!/usr/bin/env bash
# `presence-sync probe` against the simulators when everything is right:
# every check of every group is ok and the exit code 0, in text and in JSON
# (valid against schemas/probe-report.schema.json); the write test puts
# Teams and Voice back; the capture holds every kind of exchange and no
# secret, in 0600 files; the probe leaves no subscription and no retained
# message behind. Bad usage and an invalid config exit 2.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

pr_setup
pr_config

# ---- usage ----
PR_RC=0
"$PS_BIN" probe >"$T/u1.out" 2>&1 || PR_RC=$?
pr_rc no-config 2
grep -q 'missing -c FILE' "$T/u1.out" || fail "no usage message: $(cat "$T/u1.out")"
pr_run bad-option --bogus
pr_rc bad-option 2
pr_run bad-tenant --tenant nowhere
pr_rc bad-tenant 2
grep -q "no tenant of that name" "$T/bad-tenant.log" || fail "unknown tenant: $(cat "$T/bad-tenant.log")"
pr_run bad-user --write-test mallory@contoso.com
pr_rc bad-user 2
grep -q "not a configured user" "$T/bad-user.log" || fail "write test of a stranger: $(cat "$T/bad-user.log")"
pr_run bad-seconds --listen-seconds soon
pr_rc bad-seconds 2
echo '{"tenants": 5}' >"$T/broken.json"
PR_RC=0
"$PS_BIN" probe -c "$T/broken.json" >"$T/broken.out" 2>&1 || PR_RC=$?
pr_rc broken-config 2
"$PS_BIN" --help | has 'presence-sync probe -c FILE' || fail "probe missing from --help"

# ---- a clean run, text ----
pr_run clean --write-test alice@contoso.com --capture "$T/cap"
pr_rc clean 0
for group in 'Graph, tenant contoso' 'Webhook (Graph calls us), tenant contoso' \
    'Voice, tenant contoso' 'Write test, tenant contoso' 'MQTT'; do
    grep -qxF "$group" "$T/clean.out" || fail "no group '$group': $(cat "$T/clean.out")"
done
pr_no_line clean warn
pr_no_line clean FAIL
for check in 'tenant' 'sign-in of the app' 'permissions of the app: application permissions \(roles\): Presence.ReadWrite.All User.Read.All' \
    'sign-in of svc1@contoso.com' 'permissions of svc1@contoso.com: delegated \(scp\): Presence.Read.All' \
    'users: all 2 users found in Azure AD' 'presence read' 'an id Graph does not know: .*PresenceUnknown' \
    'listener' 'validation: Graph reached' 'clean-up' 'sign-in: integration@contoso.com' \
    'users: all 2 users found in Voice' 'Voice users not configured: 2 of 4' 'RTE token' 'negotiate' \
    'WebSocket' 'handshake' 'events offered' 'Subscribe: 2 users x 5 events accepted' \
    'Teams Busy/InACall: setPresence answered HTTP 200' 'Teams shows: Busy/InACall' 'Teams clear' \
    'Teams after the clear' 'Voice talking: talking=true answered HTTP 204' 'Voice clear' \
    'connect' 'publish and subscribe' 'retained message' 'write teams/presence-sync-probe/busy' \
    'write voice/presence-sync-probe/talking' 'write ps/sync/presence-sync-probe' 'write ps/state' \
    'write ps/health'; do
    pr_line clean ok "$check"
done
grep -q '^Summary: [0-9]* ok, 0 warn, 0 FAIL' "$T/clean.out" || fail "summary: $(tail -n1 "$T/clean.out")"

# the write test as the simulators saw it: Busy/InACall set, then cleared,
# for alice only; Voice talking set, then cleared
ALICE_OID=$(sim GET /users/alice@contoso.com | jq -r .id)
sim GET /requests | jq -c --arg u "/v1.0/users/$ALICE_OID/presence/" '[.[] |
    select(.method == "POST" and (.path | startswith("/v1.0/users/")) and (.path | test("/presence/"))) |
    {p: (.path | ltrimstr($u)), s: .status, b: (.body | fromjson? // {} | {availability, activity})}]' \
    >"$T/graph-writes.json"
jqe '. == [{p: "setPresence", s: 200, b: {availability: "Busy", activity: "InACall"}},
    {p: "clearPresence", s: 200, b: {availability: null, activity: null}}]' "$T/graph-writes.json" \
    >/dev/null || fail "Teams writes: $(cat "$T/graph-writes.json")"
ALICE_VID=$(fv_ctl GET state | jq -r '.users[] | select(.email == "alice@contoso.com") | .id')
fv_ctl GET requests | jq -c '[.[] | select(.method == "PUT") | {path, status, body}]' >"$T/voice-writes.json"
jqe --arg p "/api/users/$ALICE_VID/externalcallstate" '. == [
    {path: $p, status: 204, body: "{\"InCall\":true,\"Source\":\"MSTeams\"}"},
    {path: $p, status: 204, body: "{\"InCall\":false,\"Source\":\"MSTeams\"}"}]' \
    "$T/voice-writes.json" >/dev/null || fail "Voice writes: $(cat "$T/voice-writes.json")"

# put back: no session of ours, Voice not talking, the subscription gone,
# nothing retained under the probe's topics
sim GET /users/alice@contoso.com | jqe '[.sessions[] | select(.type == "app")] | length == 0' \
    >/dev/null || fail "the write test left a Teams session: $(sim GET /users/alice@contoso.com)"
fv_ctl GET state | jqe '[.users[] | select(.email == "alice@contoso.com") | .talking] == [false]' \
    >/dev/null || fail "the write test left Voice talking"
[ "$(sim_subs | jq length)" = 0 ] || fail "the probe left a subscription: $(sim_subs)"
retained_probe=$(timeout 5 mosquitto_sub -p "$MQTT_PORT" -t 'ps/probe/#' -t 'teams/#' -t 'voice/#' \
    --retained-only -W 2 -v 2>/dev/null || true)
[ -z "$retained_probe" ] || fail "retained messages left behind: $retained_probe"
[ -z "$(mqtt_retained ps/state)" ] || fail "the probe published ps/state"

# ---- the capture ----
for f in http.jsonl inbound.jsonl signalr.jsonl mqtt.jsonl report.json; do
    [ -s "$T/cap/$f" ] || fail "capture without $f"
    [ "$(stat -c %a "$T/cap/$f")" = 600 ] || fail "$f is not 0600"
done
[ "$(stat -c %a "$T/cap")" = 700 ] || fail "the capture directory is not 0700"
jqe -s 'all(.[]; .kind == "http" and (.seq | type == "number") and (.response.status | type == "number"))' \
    "$T/cap/http.jsonl" >/dev/null || fail "http.jsonl lines"
jqe -s '[.[] | select(.url | test("/oauth2/v2.0/token$"))] | length >= 2' "$T/cap/http.jsonl" >/dev/null ||
    fail "no token requests in the capture"
jqe -s '[.[] | select(.path == "/graph/notify/contoso" and .response.status == 200)] | length == 1' \
    "$T/cap/inbound.jsonl" >/dev/null || fail "Graph's validation request not in the capture"
jqe -s '[.[] | select(.dir == "received" and (.record | test("AvailableSubscriptions")))] | length >= 1' \
    "$T/cap/signalr.jsonl" >/dev/null || fail "hub records not in the capture"
jqe -s '[.[] | select(.dir == "publish" and .result == "ok")] | length >= 5' "$T/cap/mqtt.jsonl" \
    >/dev/null || fail "publishes not in the capture"
# tokens keep their claims (a replay reads the permissions) but lose the signature
jq -sr '.[] | .response.body // empty' "$T/cap/http.jsonl" | jq -r 'objects | .access_token // empty' |
    while read -r tok; do
        case $tok in *'.[redacted]') ;; *) fail "a token kept its signature: ${tok:0:40}..." ;; esac
    done
jqe '.result == "ok" and .exit_code == 0' "$T/cap/report.json" >/dev/null || fail "report.json"
pr_schema "$T/cap/report.json"
pr_secrets "$T"/cap/* "$T/clean.out" "$T/clean.log"

# ---- JSON ----
pr_run json --json
pr_rc json 0
pr_schema "$T/json.out"
jqe '.result == "ok" and .counts.fail == 0 and .counts.warn == 0 and
    ([.groups[].system] == ["graph","webhook","voice","mqtt"]) and
    ([.groups[].checks[] | select(.status != "ok")] | length == 0) and
    ([.groups[].checks[] | select(.fix != null)] | length == 0)' "$T/json.out" >/dev/null ||
    fail "JSON document: $(cat "$T/json.out")"
jqe '.groups[0].checks[] | select(.id == "graph.app_permissions") |
    .details.roles == "Presence.ReadWrite.All User.Read.All"' "$T/json.out" >/dev/null ||
    fail "the app's roles not in the JSON details"
pr_secrets "$T/json.out" "$T/json.log"
pass
