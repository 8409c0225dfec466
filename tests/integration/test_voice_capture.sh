#!/usr/bin/env bash
# voice.capture (docs/voice.md "Learning a real tenant"): the first N raw
# MessageReceived payloads per event name and the AvailableSubscriptions
# answer, as JSON lines (mode 0600), with credentials redacted; webhook
# bodies too. Every line parses and can be fed back as a fixture.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
CAP=$T/capture.jsonl
VS_VOICE_MORE=", \"capture\": {\"file\": \"$CAP\", \"count\": 2},
    \"webhook_secret_file\": \"hook\""
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_link 15
for i in 1 2 3; do
    C=$(call_start '{"email":"alice@contoso.com"}')
    wait_talking 5 alice@contoso.com true 1
    call_end "$C"
    wait_talking 5 alice@contoso.com false 0
done
# a webhook body that carries credentials of its own
hook() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
        -H "X-Benemen-Token: $VS_WEBHOOK_SECRET" -H 'Content-Type: application/json' \
        --data "$1" "http://127.0.0.1:$HTTP_PORT/voice/events/contoso"
}
JWT='eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
[ "$(hook "{\"EventType\":\"UserCallInConnected\",\"UserId\":\"nobody\",\"CallId\":\"c1\",
    \"AccessToken\":\"plain-secret-1\",\"Extra\":{\"note\":\"Bearer plain-secret-2\",\"raw\":\"$JWT\"}}")" = 202 ] ||
    fail "webhook refused"
wait_for 5 sh -c "grep -q '\"kind\":\"webhook\"' '$CAP'" || fail "webhook not captured"

[ "$(stat -c %a "$CAP")" = 600 ] || fail "capture file mode $(stat -c %a "$CAP")"
jqe . "$CAP" >/dev/null || fail "capture is not JSON lines"
count() { jq -s --arg k "$1" --arg e "$2" '[.[] | select(.kind == $k and .event == $e)] | length' "$CAP"; }
# 3 calls, 2 kept per event name
[ "$(count message_received UserCallInConnected)" = 2 ] || fail "connected: $(cat "$CAP")"
[ "$(count message_received UserCallInDisconnected)" = 2 ] || fail "disconnected"
[ "$(count message_received UserStatus)" = 2 ] || fail "UserStatus"
jqe -s '[.[] | select(.kind == "available_subscriptions")] | length >= 1' "$CAP" >/dev/null ||
    fail "AvailableSubscriptions answer not captured"
# a line is the raw argument: the data object as the hub sent it
jqe -s '[.[] | select(.event == "UserCallInConnected")][0] |
    .tenant == "contoso" and (.payload.data.userId | length) > 0 and (.payload.data.callId | length) > 0
    and (.at | test("Z$"))' "$CAP" >/dev/null || fail "line shape: $(sed -n 1,3p "$CAP")"
jqe -s '[.[] | select(.kind == "webhook")][0].payload |
    .AccessToken == "[redacted]" and .Extra.note == "[redacted]" and .Extra.raw == "[redacted]"
    and .UserId == "nobody"' "$CAP" >/dev/null || fail "not redacted: $(grep webhook "$CAP")"
assert_absent plain-secret-1 "$CAP" "$T/daemon.log"
assert_absent plain-secret-2 "$CAP"
assert_absent "$JWT" "$CAP"
assert_absent "$FV_SECRET" "$CAP" "$T/daemon.log"
pass test_voice_capture
