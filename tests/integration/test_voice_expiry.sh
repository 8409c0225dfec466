#!/usr/bin/env bash
# A disconnect missed while the RTE link is down (docs/voice.md
# "Policy on missed events"): the call state is kept across the loss, so the
# user stays talking; the call is dropped after voice.max_call_minutes (1
# here) with a log line, and voice/<id>/talking goes false (source resync).
# Takes about 80 s.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_user bob@contoso.com >/dev/null
VS_VOICE_MORE=', "max_call_minutes": 1'
vs_config '["alice@contoso.com", "bob@contoso.com"]'
sub_start talk 'voice/+/talking'
vs_start_daemon
wait_link 15
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
STARTED=$(date +%s)

# the link goes down and stays down a few seconds (token requests fail);
# the call ends meanwhile: its Disconnected is never delivered
fv_ctl POST faults '{"path":"/api/token/","status":503,"count":2}' >/dev/null
fv_ctl POST ws/drop >/dev/null
wait_line 5 "$T/daemon.log" 'RTE link lost tenant=contoso' || fail "loss not noticed"
call_end "$C1"
wait_link 20
sleep 1
# kept: still talking after the reconnect (the end was missed)
talking_is alice@contoso.com true 1 || fail "state not kept across the loss"
# bob's calls still work meanwhile
C2=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
call_end "$C2"
wait_talking 5 bob@contoso.com false 0

# dropped after max_call_minutes (checked every 15 s for a 1-minute limit)
left=$((STARTED + 60 + 20 - $(date +%s)))
wait_line "$left" "$T/daemon.log" \
    "call dropped after max_call_minutes tenant=contoso user=alice@contoso.com call=$C1" ||
    fail "call not dropped"
[ $(($(date +%s) - STARTED)) -ge 59 ] || fail "dropped before max_call_minutes"
wait_talking 2 alice@contoso.com false 0
mqtt_retained "$(talking_topic alice@contoso.com)" | jqe '.source == "resync"' >/dev/null ||
    fail "source not resync"
validate_talking "$T/talk.sub"
pass test_voice_expiry
