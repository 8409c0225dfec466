#!/usr/bin/env bash
# UserStatus as the repair path (docs/voice.md "UserStatus"): the daemon
# subscribes to it and logs its payloads; with a status rule configured it
# is authoritative for the user. A call whose Disconnected is lost
# (fake-voice drop_disconnected) ends as soon as UserStatus says free, long
# before max_call_minutes (480 here). Without a rule the same loss keeps the
# call (only max_call_minutes would end it).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_user bob@contoso.com >/dev/null
VS_VOICE_MORE=', "events": {"status": {"field": "status", "talking": ["Talking"],
    "free": ["Available", "Offline"]}}'
vs_config '["alice@contoso.com", "bob@contoso.com"]'
vs_start_daemon
wait_link 15
health_has '.events.status_rule == true and (.events.subscribed | index("UserStatus")) != null' ||
    fail "health: $(health_voice)"

# the Disconnected is lost; UserStatus (Available) ends the call at once
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
wait_line 5 "$T/daemon.log" 'UserStatus payload tenant=contoso payload=.*"status":"Talking"' ||
    fail "UserStatus payload not logged"
fv_ctl POST settings '{"drop_disconnected":1}' >/dev/null
t0=$(date +%s)
call_end "$C1"
wait_line 5 "$T/fake-voice.log" 'dropped \(setting drop_disconnected\)' || fail "not dropped"
wait_talking 5 alice@contoso.com false 0
[ $(($(date +%s) - t0)) -lt 5 ] || fail "the call did not end at once"
grep -q 'calls ended by UserStatus tenant=contoso user=alice@contoso.com value="Available" calls=1' \
    "$T/daemon.log" || fail "repair not logged"
grep -q 'call dropped after max_call_minutes' "$T/daemon.log" && fail "ended by expiry, not UserStatus"
mqtt_retained "$(talking_topic alice@contoso.com)" | jqe '.source == "rte"' >/dev/null ||
    fail "source not rte"

# bob's ordinary calls are untouched by the rule (Talking while a call runs)
C2=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
C3=$(call_start '{"email":"bob@contoso.com","terminal":"mobile"}')
wait_talking 5 bob@contoso.com true 2
call_end "$C2"
wait_talking 5 bob@contoso.com true 1
call_end "$C3"
wait_talking 5 bob@contoso.com false 0

# without a rule, UserStatus is only logged: the lost Disconnected keeps the call
kill -TERM "$PS_PID"
wait "$PS_PID" || true
VS_VOICE_MORE=''
vs_config '["alice@contoso.com", "bob@contoso.com"]'
: >"$T/daemon.log"
vs_start_daemon
wait_line 15 "$T/daemon.log" 'RTE link live tenant=contoso' || fail "second run: link not live"
C4=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
fv_ctl POST settings '{"drop_disconnected":1}' >/dev/null
call_end "$C4"
sleep 2
talking_is alice@contoso.com true 1 || fail "without a rule the call should stay"
pass test_voice_user_status
