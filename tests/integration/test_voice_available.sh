#!/usr/bin/env bash
# Asking the hub (docs/voice.md "Event model"): at connect the daemon invokes
# AvailableSubscriptions, logs the answer, subscribes only to configured
# names the hub offers (in the hub's spelling) and shows offered, subscribed
# and missing names in B/health. A hub offering none of the configured call
# events keeps the tenant not ready, and /readyz names the missing events;
# when the hub offers them later the daemon asks again and becomes ready.
# A hub without the method (error completion), one that answers only by the
# callback, and one that never answers (10 s) are handled too.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

readyz() { curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/readyz"; }

vs_setup
fv_user alice@contoso.com >/dev/null
# 1. a hub that offers the inbound call events (spelt its own way: lower
#    case, and sends them so) and UserStatus, not the outbound ones
fv_ctl POST settings '{"vocabulary":{"in_connected":{"name":"usercallinconnected"},
    "in_disconnected":{"name":"usercallindisconnected"}},
    "offered_events":["usercallinconnected","usercallindisconnected","UserStatus","UserAvailability"]}' >/dev/null
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_link 15
wait_line 5 "$T/daemon.log" 'AvailableSubscriptions answer tenant=contoso via=' ||
    fail "answer not logged"
health_has '.events.offered == ["usercallinconnected","usercallindisconnected","UserStatus","UserAvailability"]' ||
    fail "offered: $(health_voice)"
health_has '.events.subscribed == ["usercallinconnected","usercallindisconnected","UserStatus"]' ||
    fail "subscribed: $(health_voice)"
health_has '.events.missing == ["UserCallOutConnected","UserCallOutDisconnected"]' ||
    fail "missing: $(health_voice)"
[ "$(hub_subs)" = "[3]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"
voice_ready true || fail "not ready with the inbound events: $(readyz)"
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
call_end "$C1"
wait_talking 5 alice@contoso.com false 0

# 2. a hub that offers none of the call events: not ready, the reason names
#    them; offered again later: asked again (with backoff), ready
fv_ctl POST settings '{"offered_events":["UserAvailability","QueueStatus"]}' >/dev/null
fv_ctl POST ws/drop >/dev/null
wait_for 15 voice_ready false || fail "ready without call events: $(readyz)"
names_missing() {
    readyz | has -F 'offers none of the configured call events (missing: UserCallInConnected UserCallOutConnected UserCallInDisconnected UserCallOutDisconnected UserStatus)'
}
wait_for 10 names_missing ||
    fail "reason does not name the missing events: $(readyz)"
[ "$(http_status "http://127.0.0.1:$HTTP_PORT/readyz")" = 503 ] || fail "readyz not 503"
grep -q 'the hub offers none of the configured call events' "$T/daemon.log" || fail "not logged"
health_has '.link == "live" and .events.subscribed == []' || fail "health: $(health_voice)"
n_before=$(grep -c 'AvailableSubscriptions answer tenant=contoso' "$T/daemon.log")
fv_ctl POST settings '{"offered_events":null,"vocabulary":{
    "in_connected":{"name":"UserCallInConnected"},"in_disconnected":{"name":"UserCallInDisconnected"}}}' \
    >/dev/null
wait_for 40 voice_ready true || fail "not ready after the hub offered the events: $(readyz)"
[ "$(grep -c 'AvailableSubscriptions answer tenant=contoso' "$T/daemon.log")" -gt "$n_before" ] ||
    fail "not asked again"
[ "$(hub_subs)" = "[5]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"

# 3. a hub without the method: every configured name is tried, the error
#    shows in B/health
fv_ctl POST settings '{"available_subscriptions":"unknown"}' >/dev/null
fv_ctl POST ws/drop >/dev/null
wait_line 15 "$T/daemon.log" 'AvailableSubscriptions refused: subscribing every configured event' ||
    fail "refusal not handled"
wait_link 10
health_has '.events.offered == null and (.events.available_error | test("Unknown hub method"))' ||
    fail "health: $(health_voice)"
[ "$(hub_subs)" = "[5]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"

# 4. the list only as the AvailableSubscriptions callback (the Completion
#    has no result)
cb_count() { grep -c 'AvailableSubscriptions answer tenant=contoso via=callback' "$T/daemon.log"; }
cb_more() { [ "$(cb_count)" -gt "$1" ]; }
n_cb=$(cb_count)
fv_ctl POST settings '{"available_subscriptions":"callback",
    "offered_events":["UserCallInConnected","UserCallInDisconnected"]}' >/dev/null
fv_ctl POST ws/drop >/dev/null
wait_for 15 cb_more "$n_cb" || fail "callback not used"
wait_link 10
[ "$(hub_subs)" = "[2]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"
C2=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
call_end "$C2"
wait_talking 5 alice@contoso.com false 0
# 5. a hub that never lists its events (a Completion without result, no
#    callback): after 10 s every configured name is tried
fv_ctl POST settings '{"available_subscriptions":"silent","offered_events":null}' >/dev/null
n=$(grep -c 'RTE link live tenant=contoso' "$T/daemon.log")
fv_ctl POST ws/drop >/dev/null
wait_line 20 "$T/daemon.log" 'no answer to AvailableSubscriptions within 10000 ms' || fail "no timeout"
wait_for 5 sh -c "[ \$(grep -c 'RTE link live tenant=contoso' '$T/daemon.log') -gt $n ]" ||
    fail "not live after the timeout"
health_has '.events.offered == null and (.events.available_error | test("no answer"))' ||
    fail "health: $(health_voice)"
[ "$(hub_subs)" = "[5]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"
assert_absent "$FV_SECRET" "$T/daemon.log"
pass test_voice_available
