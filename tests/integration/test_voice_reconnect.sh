#!/usr/bin/env bash
# RTE link loss (docs/voice.md "Link loss and missed events"): the WebSocket dropped mid-call, a hub Close
# record, and failing token requests while down. The daemon reconnects with
# backoff, a fresh token and a new Subscribe; B/health and /readyz show the
# link state; the call state is kept across the loss (docs/voice.md) and is
# right afterwards. Ends with SIGTERM: exit 0.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
ALICE=$(fv_user alice@contoso.com)
fv_user bob@contoso.com >/dev/null
vs_config '["alice@contoso.com", "bob@contoso.com"]'
sub_start talk 'voice/+/talking'
vs_start_daemon
wait_link 15
[ "$(hub_subs)" = "[10]" ] || fail "subscriptions: $(fv_ctl GET hub)"
tokens() { fv_ctl GET requests | jq '[.[] | select(.path|test("^/api/token/"))] | length'; }
[ "$(tokens)" = 1 ] || fail "expected one token request"

# 1. the WebSocket dropped in the middle of a call
C1=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
wait_talking 5 alice@contoso.com true 1
fv_ctl POST ws/drop >/dev/null
wait_line 5 "$T/daemon.log" 'RTE link lost tenant=contoso' || fail "loss not noticed"
wait_link 15
[ "$(hub_subs)" = "[10]" ] || fail "not re-subscribed: $(fv_ctl GET hub)"
[ "$(tokens)" = 2 ] || fail "no fresh token for the reconnect ($(tokens))"
health_has '.reconnects == 1' || fail "reconnects in B/health: $(health_voice)"
talking_is alice@contoso.com true 1 || fail "call state lost across the reconnect"
# a second call and the end of both, after the reconnect
C2=$(call_start '{"email":"alice@contoso.com","terminal":"mobile"}')
wait_talking 5 alice@contoso.com true 2
call_end "$C1"
call_end "$C2"
wait_talking 5 alice@contoso.com false 0

# 2. the hub sends a Close record with an error
C3=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
fv_ctl POST hub/close '{"error":"Server is shutting down","allow_reconnect":true}' >/dev/null
wait_line 5 "$T/daemon.log" 'server closed the hub: Server is shutting down' ||
    fail "Close record not logged"
wait_link 15
call_end "$C3"
wait_talking 5 bob@contoso.com false 0

# 3. down for a while: token requests fail (503 x3), readiness says so,
# then the link comes back by itself
fv_ctl POST faults '{"path":"/api/token/","status":503,"count":3}' >/dev/null
fv_ctl POST ws/drop >/dev/null
wait_for 5 health_has '.ready == false' || fail "B/health still ready while down"
[ "$(http_status "http://127.0.0.1:$HTTP_PORT/readyz")" = 503 ] || fail "readyz not 503 while down"
voice_ready false || fail "readyz: voice/contoso not false while down"
wait_for 10 health_has '.last_error | test("503")' || fail "503 not in B/health: $(health_voice)"
wait_link 30
voice_ready true || fail "readyz after recovery"
[ "$(fv_ctl GET state | jq .faults_pending)" = 0 ] || fail "faults not all consumed"
C4=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
call_end "$C4"
wait_talking 5 alice@contoso.com false 0
validate_talking "$T/talk.sub"

# graceful stop
kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error' "$T/daemon.log" && fail "sanitizer report"
: "$ALICE"
pass test_voice_reconnect
