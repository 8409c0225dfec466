#!/usr/bin/env bash
# Voice webhooks (docs/voice.md "Webhooks (optional second source)"): POST /voice/events/<tenant> with
# X-Benemen-Token. A wrong or missing token gets 401 and changes nothing; a
# bad body gets 400; a good event gets 202 at once and moves
# voice/<id>/talking with source "webhook"; other event types are accepted
# and ignored; an unknown tenant is 404, GET is 405. The user comes from
# UserId or, for a user entity, EntityId (members in any case). fake-voice's
# own webhook sender (with the RTE link also live: duplicates are harmless)
# drives the same state.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
ALICE=$(fv_user alice@contoso.com)
BOB=$(fv_user bob@contoso.com)
VS_VOICE_MORE=', "webhook_secret_file": "hook"'
vs_config '["alice@contoso.com", "bob@contoso.com"]'
sub_start talk 'voice/+/talking'
# the first REST call (/users/me) takes 3 s: the user map is not loaded yet
fv_ctl POST faults '{"path":"/api/users","delay_ms":3000,"count":1}' >/dev/null
vs_start_daemon
URL=http://127.0.0.1:$HTTP_PORT/voice/events/contoso
wait_for 5 port_open "$HTTP_PORT" || fail "daemon not listening"
# an event that cannot be matched to a user yet is refused with 503 (the
# sender retries), not accepted and dropped
code=$(curl -s -o /dev/null -D "$T/early.hdr" -w '%{http_code}' -X POST \
    -H "X-Benemen-Token: $VS_WEBHOOK_SECRET" --data-binary \
    "{\"EventType\":\"UserCallInConnected\",\"UserId\":\"$ALICE\",\"CallId\":\"c-0\"}" "$URL")
[ "$code" = 503 ] || fail "early webhook: $code"
grep -qi '^retry-after: 5' "$T/early.hdr" || fail "early webhook without Retry-After"
wait_link 15
wait_talking 5 alice@contoso.com false 0
post() { # TOKEN BODY -> status
    curl -s -o "$T/hook.body" -w '%{http_code}' --max-time 5 -X POST \
        -H 'Content-Type: application/json' ${1:+-H "X-Benemen-Token: $1"} --data-binary "$2" "$URL"
}
ev() { # EVENT USER CALL
    printf '{"Id":"e-%s","EventType":"%s","UserId":"%s","CallId":"%s","Timestamp":"2026-11-26T10:00:00Z","EntityType":"User","EntityId":"%s"}' \
        "$RANDOM" "$1" "$2" "$3" "$2"
}
health_has '.webhook == true' || fail "webhook not shown in B/health"

# wrong, missing, longer and shorter tokens: 401, nothing changes
[ "$(post 'wrong' "$(ev UserCallInConnected "$ALICE" c-1)")" = 401 ] || fail "wrong token not 401"
[ "$(post '' "$(ev UserCallInConnected "$ALICE" c-1)")" = 401 ] || fail "missing token not 401"
[ "$(post "${VS_WEBHOOK_SECRET}x" "$(ev UserCallInConnected "$ALICE" c-1)")" = 401 ] ||
    fail "longer token not 401"
[ "$(post "${VS_WEBHOOK_SECRET%?}" "$(ev UserCallInConnected "$ALICE" c-1)")" = 401 ] ||
    fail "shorter token not 401"
sleep 0.5
talking_is alice@contoso.com false 0 || fail "a refused webhook changed the state"
grep -q 'webhook refused: wrong X-Benemen-Token tenant=contoso' "$T/daemon.log" || fail "no log"

# bad bodies: 400 with a reason
[ "$(post "$VS_WEBHOOK_SECRET" 'not json')" = 400 ] || fail "bad JSON not 400"
[ "$(post "$VS_WEBHOOK_SECRET" '{"EventType":"UserCallInConnected"}')" = 400 ] ||
    fail "missing ids not 400"
jqe '.error | length > 0' "$T/hook.body" >/dev/null || fail "400 without a reason"

# good events: 202, state follows with source webhook
start=$(date +%s%N)
[ "$(post "$VS_WEBHOOK_SECRET" "$(ev UserCallInConnected "$ALICE" c-1)")" = 202 ] || fail "good webhook"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 1000 ] || fail "webhook answer took ${ms} ms"
wait_talking 5 alice@contoso.com true 1
mqtt_retained "$(talking_topic alice@contoso.com)" | jqe '.source == "webhook"' >/dev/null ||
    fail "source not webhook"
# a duplicate changes nothing; another event type is accepted and ignored
[ "$(post "$VS_WEBHOOK_SECRET" "$(ev UserCallInConnected "$ALICE" c-1)")" = 202 ] || fail "duplicate"
[ "$(post "$VS_WEBHOOK_SECRET" "$(ev QueueCallInUserAllocated "$ALICE" c-9)")" = 202 ] ||
    fail "other event type not accepted"
[ "$(post "$VS_WEBHOOK_SECRET" "$(ev UserCallOutConnected "$ALICE" c-2)")" = 202 ] || fail "second call"
wait_talking 5 alice@contoso.com true 2
[ "$(post "$VS_WEBHOOK_SECRET" "$(ev UserCallInDisconnected "$ALICE" c-1)")" = 202 ] || fail "end 1"
[ "$(post "$VS_WEBHOOK_SECRET" "$(ev UserCallOutDisconnected "$ALICE" c-2)")" = 202 ] || fail "end 2"
wait_talking 5 alice@contoso.com false 0

# routing: unknown tenant 404, wrong method 405
[ "$(http_status "http://127.0.0.1:$HTTP_PORT/voice/events/fabrikam" -X POST \
    -H "X-Benemen-Token: $VS_WEBHOOK_SECRET" --data '{}')" = 404 ] || fail "unknown tenant not 404"
[ "$(http_status "$URL")" = 405 ] || fail "GET not 405"

# a user event that names its user in EntityId only (EntityType User), the
# members in any case
[ "$(post "$VS_WEBHOOK_SECRET" "{\"EventType\":\"UserCallInConnected\",\"EntityType\":\"User\",
    \"EntityId\":\"$ALICE\",\"CallId\":\"c-e\",\"Timestamp\":\"2026-11-26T10:00:00.123\"}")" = 202 ] ||
    fail "EntityId webhook"
wait_talking 5 alice@contoso.com true 1
[ "$(post "$VS_WEBHOOK_SECRET" "{\"eventType\":\"UserCallInDisconnected\",\"entityType\":\"User\",
    \"entityId\":\"$ALICE\",\"callId\":\"c-e\"}")" = 202 ] || fail "camelCase webhook"
wait_talking 5 alice@contoso.com false 0
# an entity that is not a user is not read as one: 400
[ "$(post "$VS_WEBHOOK_SECRET" "{\"EventType\":\"UserCallInConnected\",\"EntityType\":\"Queue\",
    \"EntityId\":\"$ALICE\",\"CallId\":\"c-q\"}")" = 400 ] || fail "queue entity read as a user"

# fake-voice's webhook sender, alongside the RTE link
fv_ctl POST webhook "$(jq -nc --arg u "$URL" --arg s "$VS_WEBHOOK_SECRET" '{url:$u,secret:$s}')" >/dev/null
C1=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
call_end "$C1"
wait_talking 5 bob@contoso.com false 0
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/state | jq .webhook_sent)\" = 2 ]" ||
    fail "fake-voice webhooks not accepted: $(fv_ctl GET state | jq -c '{webhook_sent,webhook_failed}')"
# the sender with a wrong secret: both calls' webhooks refused (401); the
# state still comes right through RTE
fv_ctl POST webhook "$(jq -nc --arg u "$URL" '{url:$u,secret:"nope"}')" >/dev/null
C2=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
call_end "$C2"
wait_talking 5 bob@contoso.com false 0
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/state | jq .webhook_failed)\" = 2 ]" ||
    fail "wrong-secret webhooks not refused: $(fv_ctl GET state | jq -c '{webhook_sent,webhook_failed}')"
assert_absent "$VS_WEBHOOK_SECRET" "$T/daemon.log" "$T/talk.sub"
validate_talking "$T/talk.sub"
: "$BOB"
pass test_voice_webhook
