#!/usr/bin/env bash
# Wrong Voice credentials (docs/voice.md "Discovery, authentication and users"): /users/me is
# refused; B/health shows link auth_failed with the 401, /readyz is 503 with
# the reason; retried with backoff, never in a tight loop; the key never
# appears in the log or on MQTT. Fixing the key on the Voice side (the same
# key becomes valid) brings the link up without a restart. The secret holds
# characters that need encoding (+ / = & %), sent correctly by Basic auth.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
# the daemon's key differs from the account's
printf '%s\n' 'wrong+key/=&%' >"$T/etc/voice.key"
vs_config '["alice@contoso.com"]'
sub_start health "$VS_BRIDGE/health"
vs_start_daemon
wait_for 10 health_has '.link == "auth_failed"' || fail "no auth_failed: $(health_voice)"
health_has '.ready == false and (.last_error | test("401")) and (.last_error | test("credentials refused"))' ||
    fail "B/health error: $(health_voice)"
[ "$(http_status "http://127.0.0.1:$HTTP_PORT/readyz")" = 503 ] || fail "readyz not 503"
curl -s "http://127.0.0.1:$HTTP_PORT/readyz" | jqe '.components["voice/contoso"].reason | test("auth_failed")' \
    >/dev/null || fail "readyz reason: $(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")"
grep -q 'link step failed tenant=contoso step=authenticating error="GET /users/me: HTTP 401' \
    "$T/daemon.log" || fail "no log line"
# backoff: a few tries in 4 s, not hundreds
sleep 4
n=$(fv_ctl GET requests | jq '[.[] | select(.path=="/api/users/me")] | length')
[ "$n" -ge 2 ] && [ "$n" -le 6 ] || fail "unexpected retry count in 4 s: $n"
# the secret never shows
assert_absent 'wrong+key/=&%' "$T/daemon.log" "$T/health.sub"

# the same key now valid: the link comes up by itself (backoff <= 60 s; the
# next try is due within ~8 s here)
fv_ctl POST account "{\"username\":\"$FV_USER\",\"secret_key\":\"wrong+key/=&%\"}" >/dev/null
fv_user alice2@contoso.com >/dev/null # the account change resets nothing else
wait_link 30
voice_ready true || fail "readyz after the fix"
assert_absent 'wrong+key/=&%' "$T/daemon.log" "$T/health.sub"
pass test_voice_auth
