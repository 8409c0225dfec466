#!/usr/bin/env bash
# fake-graph: token grants (ROPC, refresh rotation, client credentials, Basic
# client auth), AADSTS errors and faults, token expiry, users, $batch, faults
# with Retry-After, request recording.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

start_fake_graph
base_users

# ROPC with offline_access -> access + refresh token
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password='pa ss+&=%' \
    scope='https://graph.microsoft.com/Presence.Read.All offline_access')
[ "${out##*$'\n'}" = 200 ] || fail "ROPC: $out"
body=${out%$'\n'*}
rt1=$(jqe -r .refresh_token <<<"$body") || fail "ROPC without refresh_token: $body"
at1=$(jqe -r .access_token <<<"$body")
[ "$(jq -r .expires_in <<<"$body")" = 3600 ] || fail "default lifetime: $body"

# without offline_access: no refresh token
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password='pa ss+&=%' scope='https://graph.microsoft.com/Presence.Read.All')
jqe 'has("refresh_token") | not' <<<"${out%$'\n'*}" >/dev/null || fail "refresh token without offline_access"

# scope without Presence.Read.All -> 400 invalid_scope
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password='pa ss+&=%' scope='offline_access')
[ "${out##*$'\n'}" = 400 ] || fail "scope check: $out"

# bad password -> 400 invalid_grant AADSTS50126, in Microsoft's error shape
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password=nope scope='https://graph.microsoft.com/Presence.Read.All')
[ "${out##*$'\n'}" = 400 ] || fail "bad password status: $out"
jqe '.error == "invalid_grant" and .error_codes == [50126] and
       (.error_description | startswith("AADSTS50126: ")) and
       (.trace_id | length) == 36 and (.correlation_id | length) == 36 and
       (.timestamp | length) > 0 and (.error_uri | contains("code=50126"))' \
    <<<"${out%$'\n'*}" >/dev/null || fail "bad password body: $out"

# wrong client secret -> 401 invalid_client AADSTS7000215
out=$(token_req grant_type=client_credentials client_id="$CLIENT_ID" client_secret="${CLIENT_SECRET}x" \
    scope=https://graph.microsoft.com/.default)
[ "${out##*$'\n'}" = 401 ] || fail "wrong secret: $out"
jqe '.error == "invalid_client" and .error_codes == [7000215]' <<<"${out%$'\n'*}" >/dev/null ||
    fail "wrong secret body: $out"

# HTTP Basic client auth (RFC 6749 form-encoded parts) works
enc=$(jq -rn --arg s "$CLIENT_SECRET" '$s|@uri')
out=$(curl -s -w '\n%{http_code}' -u "$CLIENT_ID:$enc" "$FG/$TENANT/oauth2/v2.0/token" \
    --data-urlencode grant_type=client_credentials --data-urlencode scope=https://graph.microsoft.com/.default)
[ "${out##*$'\n'}" = 200 ] || fail "basic auth: $out"
# client_credentials needs .default
out=$(token_req grant_type=client_credentials client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    scope=https://graph.microsoft.com/Presence.Read.All)
[ "${out##*$'\n'}" = 400 ] || fail ".default check: $out"
# unknown tenant
[ "$(http_status "$FG/nope/oauth2/v2.0/token" -d grant_type=client_credentials)" = 400 ] || fail "unknown tenant"

# refresh rotates; the old refresh token still works until revoked
out=$(token_req grant_type=refresh_token client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" refresh_token="$rt1")
rt2=$(jqe -r .refresh_token <<<"${out%$'\n'*}") || fail "refresh: $out"
[ "$rt2" != "$rt1" ] || fail "refresh token not rotated"
out=$(token_req grant_type=refresh_token client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" refresh_token="$rt1")
[ "${out##*$'\n'}" = 200 ] || fail "old refresh token refused before revocation: $out"
ctl POST "/users/svc@contoso.com/revoke" >/dev/null
out=$(token_req grant_type=refresh_token client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" refresh_token="$rt2")
[ "${out##*$'\n'}" = 400 ] || fail "revoked refresh: $out"
jqe '.error == "invalid_grant" and .error_codes == [50173]' <<<"${out%$'\n'*}" >/dev/null || fail "50173: $out"

# AADSTS fault on demand: next token call -> 50076 (MFA), then normal again
ctl POST /faults "{\"method\":\"POST\",\"path\":\"/$TENANT/oauth2/\",\"aadsts\":50076,\"count\":1}" >/dev/null
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password='pa ss+&=%' scope='https://graph.microsoft.com/Presence.Read.All')
[ "${out##*$'\n'}" = 400 ] || fail "50076 fault status: $out"
jqe '.error == "invalid_grant" and .error_codes == [50076] and (.error_description|startswith("AADSTS50076: "))' \
    <<<"${out%$'\n'*}" >/dev/null || fail "50076 body: $out"
svc_token >/dev/null
# per-user block: expired password
ctl POST "/users/svc@contoso.com/block" '{"code":50055}' >/dev/null
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password='pa ss+&=%' scope='https://graph.microsoft.com/Presence.Read.All')
jqe '.error_codes == [50055]' <<<"${out%$'\n'*}" >/dev/null || fail "50055: $out"
ctl POST "/users/svc@contoso.com/block" '{"code":0}' >/dev/null

# users: $select, 404 Request_ResourceNotFound
app=$(app_token)
r=$(gcall GET "/users/alice@contoso.com?\$select=id,userPrincipalName" "$app")
[ "${r%% *}" = 200 ] || fail "get user: $r"
jqe --arg id "$ALICE_ID" '.id == $id and .userPrincipalName == "alice@contoso.com" and (has("displayName")|not)' \
    <<<"${r#* }" >/dev/null || fail "select: $r"
r=$(gcall GET "/users/nobody@contoso.com" "$app")
[ "${r%% *}" = 404 ] && jqe '.error.code == "Request_ResourceNotFound"' <<<"${r#* }" >/dev/null || fail "404: $r"

# token lifetime and expiry -> 401 InvalidAuthenticationToken
ctl POST /settings '{"token_lifetime_s":1}' >/dev/null
short=$(app_token)
sleep 1.3
r=$(gcall GET "/users/$ALICE_ID" "$short")
[ "${r%% *}" = 401 ] && jqe '.error.code == "InvalidAuthenticationToken"' <<<"${r#* }" >/dev/null || fail "expired token: $r"
ctl POST /settings '{"token_lifetime_s":3600}' >/dev/null
r=$(gcall GET "/users/$ALICE_ID" "garbage")
[ "${r%% *}" = 401 ] || fail "unknown token: $r"

# 429 fault with a Retry-After header, for the next 2 calls only
ctl POST /faults '{"method":"GET","path":"/v1.0/users/","status":429,"retry_after":7,"count":2}' >/dev/null
hdr=$(curl -s -D - -o /dev/null "$FG/v1.0/users/$ALICE_ID" -H "Authorization: Bearer $app")
grep -q '^HTTP/1.1 429' <<<"$hdr" || fail "429 fault: $hdr"
grep -qi '^Retry-After: 7' <<<"$hdr" || fail "Retry-After header: $hdr"
[ "$(http_status "$FG/v1.0/users/$ALICE_ID" -H "Authorization: Bearer $app")" = 429 ] || fail "2nd 429"
[ "$(http_status "$FG/v1.0/users/$ALICE_ID" -H "Authorization: Bearer $app")" = 200 ] || fail "fault count"
# 500 and a delay
ctl POST /faults '{"path":"/v1.0/users/","status":500}' >/dev/null
[ "$(http_status "$FG/v1.0/users/$ALICE_ID" -H "Authorization: Bearer $app")" = 500 ] || fail "500 fault"
ctl POST /faults '{"path":"/v1.0/users/","delay_ms":600}' >/dev/null
t0=$(date +%s%N)
[ "$(http_status "$FG/v1.0/users/$ALICE_ID" -H "Authorization: Bearer $app")" = 200 ] || fail "delay fault"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 550 ] || fail "delay not applied"

# $batch: more than 20 -> 400; duplicate ids -> 400; shuffled per-item answers
reqs=$(jq -nc '[range(21) | {id: (.|tostring), method: "GET", url: "/users/alice@contoso.com"}]')
r=$(gcall POST /\$batch "$app" "{\"requests\":$reqs}")
[ "${r%% *}" = 400 ] || fail "21 requests: $r"
r=$(gcall POST /\$batch "$app" '{"requests":[{"id":"1","method":"GET","url":"/users/a"},{"id":"1","method":"GET","url":"/users/b"}]}')
[ "${r%% *}" = 400 ] || fail "duplicate ids: $r"
ctl POST /faults '{"method":"GET","path":"/v1.0/users/bob@","status":429,"retry_after":3}' >/dev/null
reqs=$(jq -nc '[range(20) | {id: (.|tostring), method: "GET",
    url: (if . == 5 then "/users/bob@contoso.com" elif . == 6 then "/users/ghost@contoso.com"
          else "/users/alice@contoso.com?$select=id" end)}]')
r=$(gcall POST /\$batch "$app" "{\"requests\":$reqs}")
[ "${r%% *}" = 200 ] || fail "batch: $r"
b=${r#* }
jqe '.responses | length == 20' <<<"$b" >/dev/null || fail "batch size: $b"
jqe '.responses[] | select(.id == "5") | .status == 429 and .headers["Retry-After"] == "3"' <<<"$b" >/dev/null ||
    fail "per-item 429: $b"
jqe '.responses[] | select(.id == "6") | .status == 404' <<<"$b" >/dev/null || fail "per-item 404: $b"
jqe --arg id "$ALICE_ID" '[.responses[] | select(.status == 200) | .body.id == $id] | length == 18 and all' \
    <<<"$b" >/dev/null || fail "per-item 200: $b"
# the order is shuffled: over a few batches at least one is not in id order
shuffled=0
for _ in 1 2 3 4 5; do
    r=$(gcall POST /\$batch "$app" "{\"requests\":$reqs}")
    if ! jqe '[.responses[].id | tonumber] == [range(20)]' <<<"${r#* }" >/dev/null; then shuffled=1; fi
done
[ "$shuffled" = 1 ] || fail "batch answers never shuffled"

# access tokens are v1.0 JWTs for Graph: app tokens carry the consented
# application permissions in roles, user tokens the delegated ones in scp
app=$(app_token)
jwt_claims "$app" | jqe --arg t "$TENANT" --arg c "$CLIENT_ID" '.aud == "https://graph.microsoft.com" and
    .iss == "https://sts.windows.net/\($t)/" and .tid == $t and .appid == $c and .ver == "1.0" and
    .idtyp == "app" and .roles == ["Presence.ReadWrite.All","User.Read.All"] and (has("scp") | not)' \
    >/dev/null || fail "app token claims: $(jwt_claims "$app")"
jwt_claims "$(svc_token)" | jqe '.scp == "Presence.Read.All User.Read" and .upn == "svc@contoso.com" and
    .idtyp == "user" and (has("roles") | not)' >/dev/null || fail "user token claims: $(jwt_claims "$(svc_token)")"
# an app without User.Read.All (admin consent missing): no lookups; without any
# role the token has no roles claim and presence calls are refused
ctl POST "/apps/$CLIENT_ID/consent" '{"roles":["Presence.ReadWrite.All"]}' >/dev/null
app=$(app_token)
jwt_claims "$app" | jqe '.roles == ["Presence.ReadWrite.All"]' >/dev/null || fail "roles after consent change"
r=$(gcall GET "/users/alice@contoso.com" "$app")
[ "${r%% *}" = 403 ] && jqe '.error.code == "Authorization_RequestDenied"' <<<"${r#* }" >/dev/null ||
    fail "lookup without User.Read.All: $r"
ctl POST "/apps/$CLIENT_ID/consent" '{"roles":[]}' >/dev/null
app=$(app_token)
jwt_claims "$app" | jqe 'has("roles") | not' >/dev/null || fail "roles claim without roles"
r=$(gcall POST /communications/getPresencesByUserId "$app" "{\"ids\":[\"$ALICE_ID\"]}")
[ "${r%% *}" = 403 ] || fail "presence read without Presence.Read.All: $r"
r=$(gcall POST "/users/$ALICE_ID/presence/setPresence" "$app" \
    "{\"sessionId\":\"$CLIENT_ID\",\"availability\":\"Busy\",\"activity\":\"InACall\"}")
[ "${r%% *}" = 403 ] || fail "setPresence without Presence.ReadWrite.All: $r"
# a delegated permission without consent: ROPC cannot prompt, AADSTS65001
ctl POST "/apps/$CLIENT_ID/consent" '{"roles":["Presence.ReadWrite.All","User.Read.All"],"scopes":["User.Read"]}' >/dev/null
out=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc@contoso.com password='pa ss+&=%' scope='https://graph.microsoft.com/Presence.Read.All')
jqe '.error_codes == [65001] and .suberror == "consent_required"' <<<"${out%$'\n'*}" >/dev/null ||
    fail "ROPC without consent: $out"
ctl POST "/apps/$CLIENT_ID/consent" '{"scopes":["Presence.Read.All","User.Read"]}' >/dev/null

# recorded requests: method, path, status, time; no secrets in them or the log
recs=$(ctl GET /requests)
jqe '[.[] | select(.path | endswith("/oauth2/v2.0/token"))] | length > 5' <<<"$recs" >/dev/null || fail "token records"
jqe '[.[] | select(.status == 429 and .path == "/v1.0/users/'"$ALICE_ID"'")] | length == 2' <<<"$recs" >/dev/null ||
    fail "fault records: $recs"
jqe '[.[] | select(.batch_item and .status == 429)] | length >= 1' <<<"$recs" >/dev/null || fail "batch item records"
jqe 'all(.[]; has("time") and has("method") and has("status"))' <<<"$recs" >/dev/null || fail "record fields"
printf '%s' "$recs" >"$T/records.json"
assert_absent "$CLIENT_SECRET" "$T/records.json" "$T/fake-graph.log"
assert_absent 'pa ss+&=%' "$T/records.json" "$T/fake-graph.log"
pass
