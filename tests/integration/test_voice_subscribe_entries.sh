#!/usr/bin/env bash
# A Subscribe the hub accepts as a call but refuses entry by entry (a hub
# that caps subscriptions per connection; an entity the caller may not see):
# the refused entries are found in the result (or in a SubscribeDetails
# callback), logged, shown in B/health, and the tenant is not ready, since
# those users would get no call events. The Subscribe is retried with
# backoff on the live link; once the hub keeps every entry the tenant is
# ready and every user's calls arrive.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
for u in alice bob carol; do fv_user $u@contoso.com >/dev/null; done
# 3 users x 5 events (four call events, UserStatus); the hub keeps 6 per connection
fv_ctl POST settings '{"max_subs":6,"details_callback":true}' >/dev/null
vs_config '["alice@contoso.com","bob@contoso.com","carol@contoso.com"]'
vs_start_daemon
wait_line 20 "$T/daemon.log" 'error voice SubscribeDetails: entries refused tenant=contoso refused=9' ||
    fail "no log line for the refused entries: $(grep -i subscri "$T/daemon.log" | tail -3)"
wait_for 10 health_has '.subscribe_errors >= 1 and (.last_subscribe_error | test("entries refused"))' ||
    fail "refused entries not in B/health: $(health_voice)"
voice_ready false || fail "ready although 9 of 15 subscriptions were refused"

# the same answer in the completion's result
fv_ctl POST settings '{"details_callback":false}' >/dev/null
wait_line 30 "$T/daemon.log" 'error voice Subscribe entries refused tenant=contoso invocation=[^ ]* refused=9' ||
    fail "refused entries in the result not seen: $(grep -i subscri "$T/daemon.log" | tail -3)"
voice_ready false || fail "ready although entries are still refused"

# the hub keeps them all now: the retry subscribes the rest, ready, events flow
fv_ctl POST settings '{"max_subs":65536}' >/dev/null
wait_for 40 voice_ready true || fail "not ready after the hub kept every entry: $(health_voice)"
[ "$(fv_ctl GET hub | jq '[.[].subscriptions] | add')" -ge 15 ] || fail "hub subscriptions: $(hub_subs)"
for u in alice bob carol; do
    C=$(call_start "{\"email\":\"$u@contoso.com\",\"terminal\":\"desk\"}")
    wait_talking 10 $u@contoso.com true
    call_end "$C"
    wait_talking 10 $u@contoso.com false
done
pass test_voice_subscribe_entries
