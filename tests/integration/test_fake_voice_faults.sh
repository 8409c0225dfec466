#!/usr/bin/env bash
# fake-voice fault injection: 429 with Retry-After, 500, delays, per method
# and path prefix, for the next N calls only.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

fv_start
fv_ctl POST faults '{"method":"GET","path":"/api/users","status":429,"retry_after":7,"count":2}' >/dev/null

# A different method or path is not affected and does not use the fault up.
[ "$(fv_api GET /user?user=a@b.c)" = 200 ] || fail "discovery hit by /api/users fault"
[ "$(fv_api PUT /users/x/externalcallstate -d '{"InCall":true}')" = 404 ] || fail "PUT hit by GET fault"

code=$(curl -s -D "$T/h1" -o "$T/b1" -w '%{http_code}' -u "$FV_USER:$FV_SECRET" "$FV_API/users/me")
[ "$code" = 429 ] || fail "first call not 429: $code"
[ "$(jq .retry_after "$T/b1")" = 7 ] || fail "retry_after not in body"
grep -qi '^retry-after: 7' "$T/h1" || fail "no Retry-After header: $(cat "$T/h1")"
[ "$(fv_api GET /users)" = 429 ] || fail "second call not 429"
[ "$(fv_api GET /users)" = 200 ] || fail "third call should pass (count 2)"
[ "$(fv_ctl GET state | jq .faults_pending)" = 0 ] || fail "fault not used up"

# Faults apply before auth: a client without credentials sees them too.
fv_ctl POST faults '{"path":"/api/","status":500,"count":1}' >/dev/null
[ "$(http_status "$FV_API/users/me")" = 500 ] || fail "500 for any method"
[ "$(http_status "$FV_API/users/me")" = 401 ] || fail "500 not used up"

# Delay only: the answer is normal but late.
fv_ctl POST faults '{"method":"GET","path":"/api/users/me","delay_ms":700}' >/dev/null
start=$(date +%s%N)
[ "$(fv_api GET /users/me)" = 200 ] || fail "delayed call failed"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 650 ] || fail "delay not applied: ${ms}ms"
# Delay plus status.
fv_ctl POST faults '{"path":"/api/users","status":503,"delay_ms":300}' >/dev/null
start=$(date +%s%N)
[ "$(fv_api GET /users)" = 503 ] || fail "delayed 503"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 250 ] || fail "delay with status not applied: ${ms}ms"
# Other requests are served while one is delayed (the loop is not blocked).
fv_ctl POST faults '{"path":"/api/users/me","delay_ms":2000}' >/dev/null
curl -s -o /dev/null -u "$FV_USER:$FV_SECRET" "$FV_API/users/me" &
slow=$!
sleep 0.2
start=$(date +%s%N)
[ "$(fv_api GET /users)" = 200 ] || fail "request during a delay"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 1000 ] || fail "a delayed request blocked others (${ms}ms)"
wait "$slow"

# Faults are recorded with their status.
fv_ctl GET requests | jqe '[.[] | select(.status==429)] | length == 2' >/dev/null ||
    fail "429s not recorded"

# The hub's negotiate is a REST endpoint too.
fv_token >/dev/null
fv_ctl POST faults '{"method":"POST","path":"/rte/hub/negotiate","status":429,"retry_after":1}' >/dev/null
[ "$(http_status "$FV/rte/hub/negotiate?negotiateVersion=1" -X POST -d '' \
    -H "Authorization: Bearer $(cat "$T/token")")" = 429 ] || fail "negotiate fault"
[ "$(http_status "$FV/rte/hub/negotiate?negotiateVersion=1" -X POST -d '' \
    -H "Authorization: Bearer $(cat "$T/token")")" = 200 ] || fail "negotiate after fault"

# Bad fault definitions are refused; DELETE clears.
[ "$(fv_ctl_status POST faults '{"path":"api","status":500}')" = 400 ] || fail "relative path"
[ "$(fv_ctl_status POST faults '{"path":"/api/","status":999}')" = 400 ] || fail "bad status"
[ "$(fv_ctl_status POST faults '{"path":"/api/"}')" = 400 ] || fail "no status, no delay"
[ "$(fv_ctl_status POST faults '{"path":"/api/","status":500,"count":0}')" = 400 ] || fail "count 0"
fv_ctl POST faults '{"path":"/api/","status":500,"count":5}' >/dev/null
fv_ctl DELETE faults >/dev/null
[ "$(fv_api GET /users/me)" = 200 ] || fail "DELETE faults"
pass "fake_voice_faults"
