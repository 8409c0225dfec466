#!/usr/bin/env bash
# A hub whose event vocabulary differs from the default model (docs/voice.md
# "Event model"): other names and numbers for the call events and the user
# status, numeric eventType, the user id in entityId and the call id in
# callGuid. With the default voice.events the daemon finds none of its call
# events offered: not ready, nothing tracked. With voice.events describing
# that hub (configuration alone, the same binary) calls are tracked, a queue
# event counts as a call start, and UserStatus with a status rule works.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_ctl POST settings '{"event_type_format":"number","vocabulary":{
    "in_connected":{"name":"QueueCallInUserConnected","number":103},
    "in_disconnected":{"name":"CallHangup","number":212},
    "out_connected":{"name":"CallOutAnswered","number":214},
    "out_disconnected":{"name":"CallOutHangup","number":215},
    "user_status":{"name":"AgentState","number":341},
    "user_field":"entityId","call_field":"callGuid"}}' >/dev/null

# 1. the default model: none of its call events is offered
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_for 15 health_has '.link == "live"' || fail "link not up: $(health_voice)"
wait_for 5 voice_ready false || fail "ready against a hub with other names"
health_has '.events.subscribed == [] and (.events.missing | length) == 5' ||
    fail "health: $(health_voice)"
C0=$(call_start '{"email":"alice@contoso.com"}')
sleep 1
talking_is alice@contoso.com true && fail "a call was tracked without the events"
call_end "$C0"
kill -TERM "$PS_PID"
wait "$PS_PID" || true

# 2. the same binary, configured for that hub
VS_VOICE_MORE=', "events": {
    "call_connected": [{"name": "QueueCallInUserConnected", "number": 103},
                       {"name": "CallOutAnswered", "number": 214}],
    "call_disconnected": [{"name": "CallHangup", "number": 212},
                          {"name": "CallOutHangup", "number": 215}],
    "user_status": [{"name": "AgentState", "number": 341}],
    "user_id_fields": ["entityId"],
    "call_id_fields": ["callGuid"],
    "status": {"field": "status", "talking": ["Talking"], "free": ["Available"]}}'
vs_config '["alice@contoso.com"]'
: >"$T/daemon.log"
vs_start_daemon
wait_line 15 "$T/daemon.log" 'RTE link live tenant=contoso' || fail "second run: link not live"
wait_link 15
voice_ready true || fail "not ready with the right model"
health_has '.events.subscribed == ["QueueCallInUserConnected","CallOutAnswered","CallHangup","CallOutHangup","AgentState"] and .events.missing == [] and .events.status_rule' ||
    fail "health: $(health_voice)"
[ "$(hub_subs)" = "[5]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"
# numbers only on the wire (event_type_format number)
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
grep -q "call event tenant=contoso user=alice@contoso.com event=#103 call=$C1" "$T/daemon.log" ||
    fail "queue event not read by number"
C2=$(call_start '{"email":"alice@contoso.com","direction":"outbound"}')
wait_talking 5 alice@contoso.com true 2
call_end "$C1"
wait_talking 5 alice@contoso.com true 1
call_end "$C2"
wait_talking 5 alice@contoso.com false 0
# and the hub's user status went through the rule
grep -q 'UserStatus payload tenant=contoso payload=.*"eventType":341' "$T/daemon.log" ||
    fail "AgentState not logged"
pass test_voice_vocabulary
