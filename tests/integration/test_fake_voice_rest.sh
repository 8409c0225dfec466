#!/usr/bin/env bash
# fake-voice REST surface: start-up, discovery, Basic auth, users, RTE token,
# the external 'talking' flag, the request log and the control API's errors.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

# --- command line
"$FAKE_VOICE" >/dev/null 2>"$T/noport.err" && fail "no --port accepted"
grep -q -- '--port is required' "$T/noport.err" || fail "no clear error without --port"
"$FAKE_VOICE" --port 0 --user a@x.com --secret-key-file "$T/missing" 2>"$T/nofile.err" &&
    fail "missing secret file accepted"
grep -q 'cannot open secret key file' "$T/nofile.err" || fail "no clear error for missing file"
"$FAKE_VOICE" --port 0 --user a@x.com 2>/dev/null && fail "--user without secret accepted"

fv_start
# The secret never reaches the log.
ps_args=$(tr '\0' ' ' </proc/"$FV_PID"/cmdline)
case $ps_args in *"$FV_SECRET"*) fail "secret in argv" ;; esac

# --- discovery: no auth; an array by default, with a trailing slash
body=$(curl -s "$FV/api/user?user=alice%40contoso.com")
[ "$(jq -r '.[0].apiEndpoint' <<<"$body")" = "$FV/api/" ] || fail "discovery: $body"
[ "$(http_status "$FV/api/user")" = 400 ] || fail "discovery without user"
fv_ctl POST settings '{"discovery_format":"object","discovery_trailing_slash":false}' >/dev/null
body=$(curl -s "$FV/api/user?user=alice@contoso.com")
[ "$(jq -r '.apiEndpoint' <<<"$body")" = "$FV/api" ] || fail "discovery object: $body"

# --- Basic auth on every REST call
[ "$(http_status "$FV_API/users/me")" = 401 ] || fail "no auth must be 401"
[ "$(http_status "$FV_API/users/me" -u "$FV_USER:wrong")" = 401 ] || fail "bad secret"
[ "$(http_status "$FV_API/users/me" -u "other@contoso.com:$FV_SECRET")" = 401 ] || fail "bad user"
[ "$(http_status "$FV_API/users" -H 'Authorization: Bearer x')" = 401 ] || fail "bearer on REST"
[ "$(fv_api GET /users/me)" = 200 ] || fail "good auth"
ME=$(jq -r .Id "$T/api.body")
[[ $ME =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "me id $ME"
[ "$(jq -r .OrganizationID "$T/api.body")" != null ] || fail "no OrganizationID"
fv_ctl POST settings '{"reject_auth":true}' >/dev/null
[ "$(fv_api GET /users/me)" = 401 ] || fail "reject_auth ignored"
fv_ctl POST settings '{"reject_auth":false}' >/dev/null
[ "$(fv_api GET /users/me)" = 200 ] || fail "reject_auth off"

# --- users
ALICE=$(fv_user Alice@Contoso.com)
BOB=$(fv_user bob@contoso.com)
[ "$(fv_ctl_status POST users '{"email":"alice@contoso.com"}')" = 409 ] || fail "duplicate user"
[ "$(fv_ctl_status POST users '{"email":"nobody"}')" = 400 ] || fail "bad e-mail"
[ "$(fv_ctl_status POST users 'not json')" = 400 ] || fail "bad JSON"
[ "$(fv_api GET /users)" = 200 ] || fail "users"
[ "$(jq -r --arg id "$ALICE" '.[] | select(.Id==$id) | .UserName' "$T/api.body")" = Alice@Contoso.com ] ||
    fail "alice not listed: $(cat "$T/api.body")"
[ "$(jq 'length' "$T/api.body")" = 3 ] || fail "users count (account + 2)"
[ "$(fv_api GET "/users/$BOB")" = 200 ] || fail "users/{id}"
[ "$(fv_api GET /users/nope)" = 404 ] || fail "unknown user"

# --- RTE token
EP=$(fv_token)
[ "$EP" = "$FV/rte/hub" ] || fail "WSSEndpoint $EP"
payload=$(cut -d. -f2 "$T/token" | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload+="="; done
exp=$(base64 -d <<<"$payload" | jq .exp)
now=$(date +%s)
[ "$exp" -gt "$now" ] && [ "$exp" -le $((now + 3601)) ] || fail "token exp $exp"
[ "$(fv_api GET "/token/$BOB/rte/")" = 403 ] || fail "token for another user"
[ "$(fv_api GET /token/nope/rte/)" = 404 ] || fail "token for unknown user"
[ "$(fv_api POST "/token/$ME/rte/" -d '')" = 405 ] || fail "POST token"

# --- external 'talking' flag: idempotent, not a call
put_talking() {
    fv_api PUT "/users/$1/externalcallstate" -H 'Content-Type: application/json' -d "$2"
}
[ "$(put_talking "$ALICE" '{"InCall":true,"Source":"MSTeams"}')" = 204 ] || fail "PUT true"
[ "$(put_talking "$ALICE" '{"InCall":true,"Source":"MSTeams"}')" = 204 ] || fail "PUT true twice"
state=$(fv_ctl GET state)
[ "$(jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking' <<<"$state")" = true ] ||
    fail "talking not kept: $state"
[ "$(jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking_writes' <<<"$state")" = 2 ] ||
    fail "writes not counted"
[ "$(jq --arg id "$ALICE" '.users[] | select(.id==$id) | .calls | length' <<<"$state")" = 0 ] ||
    fail "the flag made a call"
[ "$(jq '.calls | length' <<<"$state")" = 0 ] || fail "the flag made a call"
[ "$(put_talking "$ALICE" '{"InCall":false,"Source":"MSTeams"}')" = 204 ] || fail "PUT false"
[ "$(fv_ctl GET state | jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking')" = false ] ||
    fail "talking not cleared"
[ "$(put_talking "$ALICE" '{"InCall":"yes"}')" = 400 ] || fail "bad InCall"
[ "$(put_talking "$ALICE" 'garbage')" = 400 ] || fail "bad body"
[ "$(put_talking nope '{"InCall":true}')" = 404 ] || fail "unknown user PUT"
[ "$(fv_api GET "/users/$ALICE/externalcallstate")" = 405 ] || fail "GET externalcallstate"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"InCall":true}' \
    "$FV_API/users/$ALICE/externalcallstate")" = 401 ] || fail "PUT without auth"
[ "$(fv_ctl GET state | jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking')" = false ] ||
    fail "unauthenticated PUT changed the flag"

# --- request log: method, path, status, time, body for writes
reqs=$(fv_ctl GET requests)
jqe --arg p "/api/users/$ALICE/externalcallstate" \
    '[.[] | select(.method=="PUT" and .path==$p and .status==204)] | length == 3' <<<"$reqs" \
    >/dev/null || fail "PUTs not recorded: $reqs"
jqe '[.[] | select(.method=="PUT" and .status==204)][0].body == "{\"InCall\":true,\"Source\":\"MSTeams\"}"' \
    <<<"$reqs" >/dev/null || fail "PUT body not recorded"
jqe '[.[] | select(.method=="GET")] | all(has("body") | not)' <<<"$reqs" >/dev/null ||
    fail "GET bodies recorded"
jqe '.[0].time | test("^20[0-9-]+T[0-9:.]+Z$")' <<<"$reqs" >/dev/null || fail "no time"
jqe 'map(.path) | all(startswith("/_sim") | not)' <<<"$reqs" >/dev/null ||
    fail "control calls recorded"
fv_ctl DELETE requests >/dev/null
[ "$(fv_ctl GET requests)" = "[]" ] || fail "requests not cleared"

# --- control API errors
[ "$(fv_ctl_status POST settings '{"framing":"zigzag"}')" = 400 ] || fail "bad framing"
[ "$(fv_ctl_status POST settings '{"nope":1}')" = 400 ] || fail "unknown setting"
[ "$(fv_ctl_status POST calls/start '{"email":"ghost@contoso.com"}')" = 404 ] || fail "call ghost"
[ "$(fv_ctl_status POST calls/start "{\"user_id\":\"$BOB\",\"direction\":\"sideways\"}")" = 400 ] ||
    fail "bad direction"
[ "$(fv_ctl_status POST calls/end '{"call_id":"nope"}')" = 404 ] || fail "end unknown call"
[ "$(fv_ctl_status GET nope)" = 404 ] || fail "unknown control path"
[ "$(fv_ctl_status PUT state '{}')" = 405 ] || fail "control wrong method"
[ "$(fv_ctl_status POST webhook '{"url":"ftp://x"}')" = 400 ] || fail "bad webhook url"

# --- calls in the state view: several terminals and calls at once
C1=$(fv_ctl POST calls/start "{\"email\":\"bob@contoso.com\",\"terminal\":\"desk\"}" | jq -r .call_id)
C2=$(fv_ctl POST calls/start "{\"user_id\":\"$BOB\",\"terminal\":\"mobile\",\"direction\":\"outbound\",\"call_id\":\"c-2\"}" | jq -r .call_id)
[ "$C2" = c-2 ] || fail "call_id not taken"
[ "$(fv_ctl_status POST calls/start "{\"user_id\":\"$BOB\",\"call_id\":\"c-2\"}")" = 409 ] ||
    fail "duplicate call id"
state=$(fv_ctl GET state)
[ "$(jq --arg id "$BOB" '.users[] | select(.id==$id) | .calls | length' <<<"$state")" = 2 ] ||
    fail "two calls expected: $state"
[ "$(jq -r '.calls[] | select(.call_id=="c-2") | .terminal + "/" + .direction' <<<"$state")" = mobile/outbound ] ||
    fail "call details"
fv_ctl POST calls/end '{"email":"bob@contoso.com","terminal":"desk"}' | jqe --arg c "$C1" '.ended == [$c]' >/dev/null ||
    fail "end by terminal"
fv_ctl POST calls/end '{"call_id":"c-2"}' >/dev/null
[ "$(fv_ctl GET state | jq '.calls | length')" = 0 ] || fail "calls left"

# --- account via the control API, reset
fv_ctl POST account '{"username":"svc@contoso.com","secret_key":"other-key"}' >/dev/null
[ "$(http_status "$FV_API/users/me" -u 'svc@contoso.com:other-key')" = 200 ] || fail "new account"
[ "$(fv_api GET /users/me)" = 401 ] || fail "old account still valid"
[ "$(fv_ctl_status POST account '{"username":"svc@contoso.com"}')" = 400 ] || fail "account w/o key"
fv_ctl POST reset >/dev/null
state=$(fv_ctl GET state)
[ "$(jq '.users | length' <<<"$state")" = 1 ] || fail "reset left users: $state"
[ "$(jq -r '.users[0].email' <<<"$state")" = svc@contoso.com ] || fail "reset lost the account"

# SIGTERM: a clean stop with status 0.
kill -TERM "$FV_PID"
rc=0
wait "$FV_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"

assert_absent "$FV_SECRET" "$T/fake-voice.log"
assert_absent other-key "$T/fake-voice.log"

# --advertise-host: the name containers reach it by, in both endpoints
fv_start --host 0.0.0.0 --advertise-host fake-voice
curl -s "$FV/api/user?user=$FV_USER" | jqe '.[0].apiEndpoint | startswith("http://fake-voice:")' \
    >/dev/null || fail "apiEndpoint does not use the advertised host"
ME=$(curl -s -u "$FV_USER:$FV_SECRET" "$FV_API/users/me" | jq -r .Id)
curl -s -u "$FV_USER:$FV_SECRET" "$FV_API/token/$ME/rte/" |
    jqe '.WSSEndpoint | startswith("http://fake-voice:")' >/dev/null ||
    fail "WSSEndpoint does not use the advertised host"
pass "fake_voice_rest"
