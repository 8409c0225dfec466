#!/usr/bin/env bash
# SIGHUP (docs/cli.md "Signals"): the Voice user map is reloaded without dropping the
# RTE link; a user added to the config (and to Voice) is subscribed on the
# live connection and tracked; a user still missing stays listed in
# B/health and is not logged again. A reload that changes keys only a
# restart applies (voice.max_call_minutes, voice.capture, voice.events)
# says so per key, and a reload of users alone warns of nothing.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
# discovery answers an array, apiEndpoint without a trailing slash
fv_ctl POST settings '{"discovery_format":"array","discovery_trailing_slash":false}' >/dev/null
DISC="\"discovery_url\": \"$FV/\""
vs_config '["alice@contoso.com", "ghost@contoso.com"]' "$DISC"
vs_start_daemon
wait_link 15
[ "$(hub_subs)" = "[5]" ] || fail "subscriptions: $(fv_ctl GET hub)"
grep -q "discovered tenant=contoso api=$FV_API\$" "$T/daemon.log" || fail "discovery (array, no slash)"
CONN=$(fv_ctl GET hub | jq -r '.[0].connection_token')

fv_user Bob@Contoso.com >/dev/null
vs_config '["alice@contoso.com", "bob@contoso.com", "ghost@contoso.com"]' "$DISC"
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'user map loaded tenant=contoso configured=3 matched=2' ||
    fail "user map not reloaded"
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/hub | jq -c '[.[] | .subscriptions]')\" = '[10]' ]" ||
    fail "bob not subscribed: $(fv_ctl GET hub)"
[ "$(fv_ctl GET hub | jq -r '.[0].connection_token')" = "$CONN" ] || fail "the link was dropped"
wait_talking 5 bob@contoso.com false 0
C1=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
call_end "$C1"
wait_talking 5 bob@contoso.com false 0
health_has '.users.matched == 2 and .users.missing == ["ghost@contoso.com"]' ||
    fail "B/health users: $(health_voice)"
[ "$(grep -c 'user not found in Voice tenant=contoso user=ghost@contoso.com' "$T/daemon.log")" = 1 ] ||
    fail "ghost logged more than once"
grep -q 'takes effect after a restart' "$T/daemon.log" &&
    fail "a users-only reload warned: $(grep 'after a restart' "$T/daemon.log")"

# keys that only a restart applies: each named, the others not
VS_VOICE_MORE=", \"max_call_minutes\": 30, \"capture\": {\"file\": \"$T/cap.jsonl\", \"count\": 5},
  \"events\": {\"call_connected\": [\"UserCallInConnected\", \"UserCallOutConnected\", \"QueueCallInUserConnected\"]}" \
    vs_config '["alice@contoso.com", "bob@contoso.com", "ghost@contoso.com"]' "$DISC"
kill -HUP "$PS_PID"
wait_for 5 sh -c "[ \$(grep -c 'reloaded tenants=1 users=3' '$T/daemon.log') = 2 ]" ||
    fail "second reload not done: $(grep -E 'reload' "$T/daemon.log" | tail -n 3)"
for k in voice.max_call_minutes voice.capture voice.events; do
    grep -q "changed; takes effect after a restart key=tenants\[contoso\]\.$k\$" "$T/daemon.log" ||
        fail "no restart warning for $k: $(grep 'after a restart' "$T/daemon.log")"
done
[ "$(grep -c 'takes effect after a restart' "$T/daemon.log")" = 3 ] ||
    fail "warned of unchanged keys: $(grep 'after a restart' "$T/daemon.log")"
pass test_voice_reload
