#!/usr/bin/env bash
# fake-graph: presence writes and reads (setPresence rules, aggregation,
# clearPresence, preferred presence, getPresencesByUserId) and notification
# delivery (basic items, batching window, retries of failed and slow
# deliveries, silenced subscriptions, lifecycle events).
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

start_fake_graph
base_users
ctl POST /users '{"users":[{"upn":"svc2@contoso.com","password":"pw"},{"upn":"svc3@contoso.com","password":"pw"}]}' >/dev/null
start_sink ok --validation echo
start_sink bad --validation echo --notify-status 500
start_sink slow --validation echo --notify-delay-ms 3300
svc=$(svc_token)
tok() {
    token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" username="$1" \
        password=pw scope='https://graph.microsoft.com/Presence.Read.All' | sed -n 1p | jqe -r .access_token
}
app=$(app_token)
presence() { gcall GET "/users/$1/presence" "$app" | cut -d' ' -f2- | jq -r '.availability + "/" + .activity'; }
items() { jq -s '[.[].value[]]' "$T/$1.jsonl" 2>/dev/null || echo '[]'; }

r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/n")")
[ "${r%% *}" = 201 ] || fail "create: $r"
sid=$(jq -r .id <<<"${r#* }")

# setPresence: app token, sessionId = client id, five combinations, PT5M..PT4H
set_p() { gcall POST "/users/$BOB_ID/presence/setPresence" "${3:-$app}" \
    "{\"sessionId\":\"${4:-$CLIENT_ID}\",\"availability\":\"$1\",\"activity\":\"$2\",\"expirationDuration\":\"${5:-PT1H}\"}"; }
[ "$(set_p Busy InAMeeting | cut -d' ' -f1)" = 400 ] || fail "Busy/InAMeeting accepted"
[ "$(set_p Busy Busy | cut -d' ' -f1)" = 400 ] || fail "Busy/Busy accepted"
[ "$(set_p Busy InACall "$app" wrong-session | cut -d' ' -f1)" = 400 ] || fail "foreign sessionId accepted"
[ "$(set_p Busy InACall "$svc" | cut -d' ' -f1)" = 403 ] || fail "delegated token accepted"
# delegated Presence.ReadWrite (consented first: an unconsented scope is
# AADSTS65001): the signed-in user's own presence only
token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc2@contoso.com password=pw \
    scope='https://graph.microsoft.com/Presence.Read.All https://graph.microsoft.com/Presence.ReadWrite' |
    has '"error_codes":\[65001\]' || fail "an unconsented delegated scope was granted"
ctl POST "/apps/$CLIENT_ID/consent" '{"scopes":["Presence.Read.All","Presence.ReadWrite","User.Read"]}' >/dev/null
rw=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc2@contoso.com password=pw \
    scope='https://graph.microsoft.com/Presence.Read.All https://graph.microsoft.com/Presence.ReadWrite' |
    sed -n 1p | jqe -r .access_token) || fail "no Presence.ReadWrite token"
SVC2_ID=$(ctl GET /users/svc2@contoso.com | jq -r .id)
r=$(gcall POST "/users/$SVC2_ID/presence/setPresence" "$rw" \
    "{\"sessionId\":\"$CLIENT_ID\",\"availability\":\"Busy\",\"activity\":\"InACall\",\"expirationDuration\":\"PT5M\"}")
[ "${r%% *}" = 200 ] || fail "delegated setPresence of the own user: $r"
[ "$(set_p Busy InACall "$rw" | cut -d' ' -f1)" = 403 ] || fail "delegated setPresence of another user"
r=$(gcall POST "/users/$SVC2_ID/presence/clearPresence" "$rw" "{\"sessionId\":\"$CLIENT_ID\"}")
[ "${r%% *}" = 200 ] || fail "delegated clearPresence of the own user: $r"
# presence routes take the object id: the UPN form is 404 (also in $batch)
[ "$(set_p Busy InACall | cut -d' ' -f1)" = 200 ] || fail "setPresence by id"
for route in "GET /users/bob@contoso.com/presence" "POST /users/bob@contoso.com/presence/setPresence" \
    "POST /users/bob@contoso.com/presence/clearPresence" "GET /communications/presences/bob@contoso.com"; do
    set -- $route
    r=$(gcall "$1" "$2" "$app" "{\"sessionId\":\"$CLIENT_ID\",\"availability\":\"Busy\",\"activity\":\"InACall\"}")
    [ "${r%% *}" = 404 ] || fail "$route by UPN: $r"
done
r=$(gcall POST '/$batch' "$app" '{"requests":[{"id":"0","method":"GET","url":"/users/bob@contoso.com/presence"},
    {"id":"1","method":"GET","url":"/users/bob@contoso.com?$select=id"}]}')
jqe '[.responses[] | {(.id): .status}] | add == {"0": 404, "1": 200}' <<<"${r#* }" >/dev/null ||
    fail "\$batch presence by UPN: $r"
# setPresence and clearPresence answer 200 with an empty body and no Content-Type
h=$(curl -s -D - -o /dev/null -X POST "$FG/v1.0/users/$BOB_ID/presence/clearPresence" \
    -H "Authorization: Bearer $app" -H 'Content-Type: application/json' \
    --data "{\"sessionId\":\"$CLIENT_ID\"}" | tr -d '\r')
grep -q '^HTTP/1.1 200' <<<"$h" || fail "clearPresence: $h"
grep -qi '^content-type:' <<<"$h" && fail "clearPresence answered with a Content-Type: $h"
grep -qi '^content-length: 0$' <<<"$h" || fail "clearPresence body not empty: $h"
r=$(set_p Busy InACall "$app" "$CLIENT_ID" PT4M)
[ "${r%% *}" = 400 ] && jqe '.error.code == "InvalidArgument" and .error.message == "The provided [ExpirationDuration] is out of range"' \
    <<<"${r#* }" >/dev/null || fail "PT4M: $r"
[ "$(set_p Busy InACall "$app" "$CLIENT_ID" PT4H1S | cut -d' ' -f1)" = 400 ] || fail "PT4H1S accepted"
[ "$(presence "$BOB_ID")" = "Away/Away" ] || fail "bob before: $(presence "$BOB_ID")"
for combo in "Available Available" "Away Away" "DoNotDisturb Presenting" "Busy InAConferenceCall" "Busy InACall"; do
    set -- $combo
    [ "$(set_p "$1" "$2" | cut -d' ' -f1)" = 200 ] || fail "setPresence $combo"
done
# Away Teams client + Busy app session -> Busy/InACall
[ "$(presence "$BOB_ID")" = "Busy/InACall" ] || fail "aggregate: $(presence "$BOB_ID")"
wait_for 5 bash -c "jqe 'select(.value[0].resourceData.id == \"$BOB_ID\")' '$T/ok.jsonl'" || fail "no notification for bob"
# basic items: id only, no encrypted content, no validationTokens
first=$(head -n1 "$T/ok.jsonl")
jqe --arg s "$sid" '(.value[0] | .subscriptionId == $s and .clientState == "cs-123" and
    .changeType == "updated" and (has("encryptedContent") | not) and
    (.resourceData | keys == ["@odata.id", "@odata.type", "id"])) and (has("validationTokens") | not)' \
    <<<"$first" >/dev/null || fail "basic item: $first"
# sequenceNumber grows with every change
s1=$(gcall GET "/communications/presences/$BOB_ID" "$app" | cut -d' ' -f2- | jq -r .sequenceNumber)
r=$(gcall POST "/users/$BOB_ID/presence/clearPresence" "$app" "{\"sessionId\":\"$CLIENT_ID\"}")
[ "${r%% *}" = 200 ] || fail "clearPresence: $r"
[ "$(presence "$BOB_ID")" = "Away/Away" ] || fail "after clear: $(presence "$BOB_ID")"
s2=$(gcall GET "/communications/presences/$BOB_ID" "$app" | cut -d' ' -f2- | jq -r .sequenceNumber)
[[ "$s2" > "$s1" ]] || fail "sequenceNumber $s1 -> $s2"
r=$(gcall POST "/users/$BOB_ID/presence/clearPresence" "$app" "{\"sessionId\":\"$CLIENT_ID\"}")
[ "${r%% *}" = 404 ] || fail "clearPresence without a session: $r"

# aggregation: preferred beats sessions; DND > Busy among sessions; no session -> Offline
ctl POST "/users/alice@contoso.com/start/calendar" >/dev/null
[ "$(presence "$ALICE_ID")" = "Busy/InAMeeting" ] || fail "calendar: $(presence "$ALICE_ID")"
ctl POST "/users/alice@contoso.com/start/screenshare" >/dev/null
[ "$(presence "$ALICE_ID")" = "DoNotDisturb/Presenting" ] || fail "screenshare: $(presence "$ALICE_ID")"
ctl POST "/users/alice@contoso.com/preferred" '{"availability":"Away","activity":"Away"}' >/dev/null
[ "$(presence "$ALICE_ID")" = "Away/Away" ] || fail "preferred: $(presence "$ALICE_ID")"
ctl DELETE "/users/alice@contoso.com/preferred" >/dev/null
for k in screenshare calendar; do ctl POST "/users/alice@contoso.com/end/$k" >/dev/null; done
ctl DELETE "/users/alice@contoso.com/sessions/teams-desktop" >/dev/null
[ "$(presence "$ALICE_ID")" = "Offline/Offline" ] || fail "no session: $(presence "$ALICE_ID")"
u=$(ctl GET "/users/alice@contoso.com")
jqe '.sessions == [] and .availability == "Offline"' <<<"$u" >/dev/null || fail "control user view: $u"

# getPresencesByUserId: up to 650 ids
r=$(gcall POST /communications/getPresencesByUserId "$app" "{\"ids\":[\"$ALICE_ID\",\"$BOB_ID\"]}")
jqe 'length == 1 and (.value | length == 2)' <<<"$(jq '{value}' <<<"${r#* }")" >/dev/null || fail "getPresencesByUserId: $r"
ids=$(jq -nc '[range(651) | tostring]')
[ "$(gcall POST /communications/getPresencesByUserId "$app" "{\"ids\":$ids}" | cut -d' ' -f1)" = 400 ] || fail "651 ids"

# batching window: two changes within the window arrive in one POST
ctl POST /settings '{"batch_window_ms":400}' >/dev/null
lines=$(wc -l <"$T/ok.jsonl")
ctl POST "/users/alice@contoso.com/start/call" >/dev/null
ctl POST "/users/bob@contoso.com/start/call" >/dev/null
wait_for 5 bash -c "[ \$(wc -l <'$T/ok.jsonl') -gt $lines ]" || fail "batched notification missing"
sleep 0.5
last=$(tail -n1 "$T/ok.jsonl")
[ "$(wc -l <"$T/ok.jsonl")" = $((lines + 1)) ] && jqe '.value | length == 2' <<<"$last" >/dev/null ||
    fail "not batched: $(tail -n2 "$T/ok.jsonl")"
ctl POST /settings '{"batch_window_ms":0}' >/dev/null

# a silenced subscription delivers nothing
ctl POST "/subscriptions/$sid/silence" '{"silent":true}' >/dev/null
lines=$(wc -l <"$T/ok.jsonl")
ctl POST "/users/bob@contoso.com/end/call" >/dev/null
sleep 0.7
[ "$(wc -l <"$T/ok.jsonl")" = "$lines" ] || fail "silenced subscription delivered"
ctl POST "/subscriptions/$sid/silence" '{"silent":false}' >/dev/null

# lifecycle reauthorizationRequired on demand
ctl POST "/subscriptions/$sid/lifecycle" '{"event":"reauthorizationRequired"}' >/dev/null
wait_for 5 grep -q reauthorizationRequired "$T/ok.jsonl" || fail "no lifecycle event"
ev=$(grep -m1 reauthorizationRequired "$T/ok.jsonl")
jqe --arg s "$sid" '.value[0] | .subscriptionId == $s and .clientState == "cs-123" and (has("changeType") | not)' \
    <<<"$ev" >/dev/null || fail "lifecycle item: $ev"

# failed (500) and slow (> 3 s) deliveries are retried with backoff and recorded
ctl POST /settings '{"retry_base_ms":200,"retry_max":3}' >/dev/null
r=$(gcall POST /subscriptions "$(tok svc2@contoso.com)" "$(sub_body "$SINK_bad/n")")
[ "${r%% *}" = 201 ] || fail "bad sink subscription: $r"
bad=$(jq -r .id <<<"${r#* }")
r=$(gcall POST /subscriptions "$(tok svc3@contoso.com)" "$(sub_body "$SINK_slow/n")")
[ "${r%% *}" = 201 ] || fail "slow sink subscription: $r"
slow=$(jq -r .id <<<"${r#* }")
ctl POST "/users/bob@contoso.com/start/call" >/dev/null
tries() { ctl GET /deliveries | jq --arg s "$1" '[.[] | select(.kind == "change" and .subscriptionIds == [$s])]'; }
wait_for 5 bash -c "[ \"\$(curl -s '$FG/_sim/deliveries' | jq '[.[] | select(.subscriptionIds == [\"$bad\"])] | length')\" = 3 ]" ||
    fail "500 retries: $(tries "$bad")"
jqe 'map(.status) == [500, 500, 500] and map(.attempt) == [1, 2, 3] and (map(.ok) | any | not)' \
    <<<"$(tries "$bad")" >/dev/null || fail "500 records: $(tries "$bad")"
wait_for 20 bash -c "[ \"\$(curl -s '$FG/_sim/deliveries' | jq '[.[] | select(.subscriptionIds == [\"$slow\"])] | length')\" = 3 ]" ||
    fail "slow retries: $(tries "$slow")"
jqe 'all(.ok | not) and all(.ack_ms >= 2900)' <<<"$(tries "$slow")" >/dev/null || fail "slow records: $(tries "$slow")"
pass
