#!/usr/bin/env bash
# A Subscribe the hub refuses (docs/voice.md: completion results are checked):
# the error completion is logged, shown in B/health (last_subscribe_error)
# and in /readyz (503, "Voice subscribe failed"); the Voice side retries the
# Subscribe with backoff on the live link and becomes ready once the hub
# accepts it, without a restart.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_ctl POST settings '{"refuse_subscribe":true}' >/dev/null
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_for 20 health_has '.subscribe_errors >= 1 and (.last_subscribe_error | test("refused"))' ||
    fail "no subscribe error in B/health: $(health_voice)"
wait_line 5 "$T/daemon.log" 'error voice Subscribe refused tenant=contoso' || fail "no log line"
voice_ready false || fail "readyz ready although Subscribe was refused"
curl -s "http://127.0.0.1:$HTTP_PORT/readyz" |
    jqe '.components["voice/contoso"].reason | test("subscribe failed")' >/dev/null ||
    fail "readyz reason: $(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")"

# the hub accepts again: the retry subscribes, the tenant becomes ready
fv_ctl POST settings '{"refuse_subscribe":false}' >/dev/null
wait_for 30 voice_ready true || fail "not ready after the hub accepted: $(health_voice)"
[ "$(hub_subs)" != "[]" ] || fail "no subscriptions on the hub"
C=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
wait_talking 10 alice@contoso.com true
call_end "$C"
wait_talking 10 alice@contoso.com false
pass test_voice_subscribe_refused
