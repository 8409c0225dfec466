#!/usr/bin/env bash
# fake-graph checked over HTTP, one simulator for every scenario: between two
# scenarios its state is reset (users, tokens, subscriptions, deliveries,
# records, faults, the presence budget) and its settings put back. Each
# scenario starts its own webhook sinks (tests/fakes/graph/webhook_sink).
#
# tokens: token grants (ROPC, refresh rotation, client credentials, Basic
#   client auth), AADSTS errors and faults, token expiry, users, $batch,
#   faults with Retry-After, request recording.
# handshake: subscription create with the validation handshake (right and
#   wrong answers, a timeout), the create rules (delegated only, filter
#   quoting, 650 ids, 60 minutes, clientState, Conflict),
#   list/get/renew/reauthorize/delete.
# expiry: subscriptions really expire (a timer removes them: GET and PATCH
#   give 404, no more notifications, a new one can be created), app sessions
#   expire out of the aggregate, and the control API expires one on demand.
# presence_limit: Graph's presence limit over HTTP (docs/graph.md "The
#   presence budget"): the default limit and window, 429 TooManyRequests with
#   a Retry-After within the window, per item in a $batch too, refused
#   requests not counted. The window sliding on is unit_fake_graph_budget's.
# rich: a rich notification decrypts with the openssl command line (an
#   implementation independent of ours), its HMAC and thumbprint check out,
#   its validationToken (v1, then v2) verifies against the published JWKS,
#   whose x5c/x5t match the key.
# notify: presence writes and reads (setPresence rules, aggregation,
#   clearPresence, preferred presence, getPresencesByUserId) and
#   notification delivery (basic items, batching window, retries of failed
#   and slow deliveries (a 1 s delivery timeout instead of Graph's 3 s, the
#   default checked), silenced subscriptions, lifecycle events).
# msal: the identity platform checked by Microsoft's own MSAL for Node
#   (@azure/msal-node, pinned in tests/fakes/graph/msal/): tenant discovery
#   by domain, client credentials, ROPC with id_token and client_info (an
#   account in MSAL's cache, a silent refresh), an MFA error MSAL classifies
#   as interaction required, correlation ids. The pin (3.8.9, engines node
#   >= 16) runs on Debian 12's node 18 as well as on node 20. Without
#   node/npm (or with a node older than the package needs) this scenario is
#   not run and, once every other scenario passed, the script exits 77
#   (skipped).
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

b64url_d() { # base64url -> bytes
    local s
    s=$(tr '_-' '/+' <<<"$1")
    while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
    base64 -d <<<"$s"
}
hex() { od -An -v -tx1 | tr -d ' \n'; }

scenario_tokens() {
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
}

scenario_handshake() {
    base_users
    start_sink hand_ok --validation echo
    start_sink hand_wrong --validation wrong
    start_sink hand_encoded --validation encoded
    start_sink hand_err --validation status500
    svc=$(svc_token)
    app=$(app_token)

    expect_400() { # name status+body
        [ "${2%% *}" = 400 ] || fail "$1: $2"
    }

    # a wrong echo, the still-encoded token, and a 500 are all refused with 400
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_wrong/graph/notify/t")")
    expect_400 "wrong echo" "$r"
    jqe '.error.code == "ValidationError" and (.error.message | contains("must exactly match validationToken"))' \
        <<<"${r#* }" >/dev/null || fail "wrong echo message: $r"
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_encoded/graph/notify/t")")
    expect_400 "encoded echo" "$r"
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_err/graph/notify/t")")
    expect_400 "500 echo" "$r"
    jqe '.error.message | contains("must respond with 200 OK")' <<<"${r#* }" >/dev/null || fail "500 message: $r"
    # no answer within the validation timeout (10 s at Graph; 1 s here) -> 400
    start_sink hand_slow --validation slow
    ctl POST /settings '{"validation_timeout_ms":1000}' >/dev/null
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_slow/graph/notify/t")")
    expect_400 "slow echo" "$r"
    jqe '.error.message | contains("timed out")' <<<"${r#* }" >/dev/null || fail "timeout message: $r"
    ctl POST /settings '{"validation_timeout_ms":10000}' >/dev/null
    # validation failed: nothing was kept, so no Conflict later
    [ "$(ctl GET /subscriptions | jq length)" = 0 ] || fail "failed subscription kept"

    # the right answer -> 201; both URLs were validated with an encoded token
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_ok/graph/notify/t?acct=1")")
    [ "${r%% *}" = 201 ] || fail "create: $r"
    sub=${r#* }
    sid=$(jqe -r .id <<<"$sub")
    jqe --arg c "$CLIENT_ID" --arg s "$SVC_ID" '.applicationId == $c and .creatorId == $s and
        .changeType == "updated" and .clientState == "cs-123" and (.expirationDateTime | endswith("Z"))' \
        <<<"$sub" >/dev/null || fail "create body: $sub"
    vals=$(ctl GET /deliveries | jq '[.[] | select(.kind == "validation" and .subscriptionId == "'"$sid"'")]')
    jqe 'length == 2 and all(.ok) and all(.url | contains("?acct=1&validationToken=Validation%3A%20Testing"))' \
        <<<"$vals" >/dev/null || fail "validation requests: $vals"
    jqe 'all(.url | contains("%2B%2F%3D"))' <<<"$vals" >/dev/null || fail "token not URL-encoded: $vals"

    # one presence subscription per user per app -> 409 ExtensionError Conflict
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_ok/graph/notify/t")")
    [ "${r%% *}" = 409 ] || fail "conflict: $r"
    jqe '.error.code == "ExtensionError" and (.error.message | contains("A subscripton already exists"))' \
        <<<"${r#* }" >/dev/null || fail "conflict text: $r"

    # app token -> 403
    r=$(gcall POST /subscriptions "$app" "$(sub_body "$SINK_hand_ok/graph/notify/t")")
    [ "${r%% *}" = 403 ] || fail "app token: $r"

    # the rules, checked with a second service account (no Conflict in the way)
    ctl POST /users '{"upn":"svc2@contoso.com","password":"pw2"}' >/dev/null
    svc2=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
        username=svc2@contoso.com password=pw2 scope='https://graph.microsoft.com/Presence.Read.All' |
        sed -n 1p | jqe -r .access_token)
    good=$(sub_body "$SINK_hand_ok/graph/notify/t")
    r=$(gcall POST /subscriptions "$svc2" "$(sed "s/'//g" <<<"$good")")
    expect_400 "unquoted ids" "$r"
    jqe '.error.message == "Invalid filter clause"' <<<"${r#* }" >/dev/null || fail "filter text: $r"
    many=$(seq 1 651 | sed "s/.*/'id&'/" | paste -sd, -)
    r=$(gcall POST /subscriptions "$svc2" "$(jq -c --arg r "/communications/presences?\$filter=id in ($many)" '.resource = $r' <<<"$good")")
    expect_400 "651 ids" "$r"
    r=$(gcall POST /subscriptions "$svc2" "$(jq -c --arg e "$(in_seconds 3700)" '.expirationDateTime = $e' <<<"$good")")
    expect_400 "61 minutes" "$r"
    r=$(gcall POST /subscriptions "$svc2" "$(jq -c --arg c "$(printf 'c%.0s' $(seq 129))" '.clientState = $c' <<<"$good")")
    expect_400 "clientState 129" "$r"
    r=$(gcall POST /subscriptions "$svc2" "$(jq -c '.changeType = "created"' <<<"$good")")
    expect_400 "changeType" "$r"
    r=$(gcall POST /subscriptions "$svc2" "$(jq -c '.includeResourceData = true' <<<"$good")")
    expect_400 "rich without certificate" "$r"
    r=$(gcall POST /subscriptions "$svc2" "$(jq -c '.includeResourceData = true | .encryptionCertificate = "bm90IGEgY2VydA==" | .encryptionCertificateId = "k1"' <<<"$good")")
    expect_400 "rich with a bad certificate" "$r"
    r=$(gcall POST /subscriptions "$svc2" "$good")
    [ "${r%% *}" = 201 ] || fail "svc2 create: $r"
    sid2=$(jq -r .id <<<"${r#* }")

    # list: only the caller's own; clientState not returned
    r=$(gcall GET /subscriptions "$svc")
    jqe --arg id "$sid" '.value | length == 1 and .[0].id == $id and .[0].clientState == null' <<<"${r#* }" >/dev/null ||
        fail "list: $r"
    r=$(gcall GET "/subscriptions/$sid" "$svc2")
    [ "${r%% *}" = 404 ] || fail "another user's subscription visible: $r"

    # renew (60-minute limit), reauthorize, delete
    r=$(gcall PATCH "/subscriptions/$sid" "$svc" "{\"expirationDateTime\":\"$(in_seconds 3700)\"}")
    expect_400 "renew 61 minutes" "$r"
    new=$(in_seconds 3500)
    r=$(gcall PATCH "/subscriptions/$sid" "$svc" "{\"expirationDateTime\":\"$new\"}")
    [ "${r%% *}" = 200 ] && jqe --arg e "${new%.*}" '.expirationDateTime | startswith($e)' <<<"${r#* }" >/dev/null ||
        fail "renew: $r (wanted $new)"
    r=$(gcall POST "/subscriptions/$sid/reauthorize" "$svc")
    [ "${r%% *}" = 204 ] || fail "reauthorize: $r"
    r=$(gcall DELETE "/subscriptions/$sid" "$svc")
    [ "${r%% *}" = 204 ] || fail "delete: $r"
    r=$(gcall GET "/subscriptions/$sid" "$svc")
    [ "${r%% *}" = 404 ] || fail "deleted still there: $r"
    # after the delete a new one can be made
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_hand_ok/graph/notify/t")")
    [ "${r%% *}" = 201 ] || fail "re-create after delete: $r"
}

scenario_expiry() {
    base_users
    start_sink expi_ok --validation echo
    svc=$(svc_token)

    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_expi_ok/n" | jq -c --arg e "$(in_seconds 3)" '.expirationDateTime = $e')")
    [ "${r%% *}" = 201 ] || fail "create: $r"
    sid=$(jq -r .id <<<"${r#* }")
    ctl POST "/users/alice@contoso.com/start/call" >/dev/null
    wait_line 5 "$T/expi_ok.jsonl" "$ALICE_ID" || fail "no notification while alive"
    [ "$(gcall GET "/subscriptions/$sid" "$svc" | cut -d' ' -f1)" = 200 ] || fail "alive subscription not found"

    sleep 3.5
    [ "$(gcall GET "/subscriptions/$sid" "$svc" | cut -d' ' -f1)" = 404 ] || fail "expired subscription still readable"
    r=$(gcall PATCH "/subscriptions/$sid" "$svc" "{\"expirationDateTime\":\"$(in_seconds 600)\"}")
    [ "${r%% *}" = 404 ] || fail "expired subscription renewed: $r"
    [ "$(ctl GET /subscriptions | jq length)" = 0 ] || fail "expired subscription kept"
    lines=$(wc -l <"$T/expi_ok.jsonl")
    ctl POST "/users/alice@contoso.com/end/call" >/dev/null
    ctl POST "/users/bob@contoso.com/start/groupcall" >/dev/null
    sleep 1
    [ "$(wc -l <"$T/expi_ok.jsonl")" = "$lines" ] || fail "notification after expiry"

    # a new one can be made; the control API expires it on demand
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_expi_ok/n")")
    [ "${r%% *}" = 201 ] || fail "re-create: $r"
    sid=$(jq -r .id <<<"${r#* }")

    # app sessions expire and drop out of the aggregate, with a notification
    app=$(app_token)
    ctl POST "/users/bob@contoso.com/end/groupcall" >/dev/null
    ctl POST "/users/bob@contoso.com/sessions" \
        '{"id":"other-app","availability":"DoNotDisturb","activity":"Presenting","app":true,"expires_in_s":1}' >/dev/null
    r=$(gcall GET "/users/$BOB_ID/presence" "$app")
    jqe '.availability == "DoNotDisturb"' <<<"${r#* }" >/dev/null || fail "app session: $r"
    lines=$(wc -l <"$T/expi_ok.jsonl")
    sleep 1.5
    r=$(gcall GET "/users/$BOB_ID/presence" "$app")
    jqe '.availability == "Away" and .activity == "Away"' <<<"${r#* }" >/dev/null || fail "app session did not expire: $r"
    ctl GET "/users/$BOB_ID" | jqe '.sessions | map(.id) == ["teams-desktop"]' >/dev/null || fail "expired session kept"
    wait_for 3 bash -c "[ \$(wc -l <'$T/expi_ok.jsonl') -gt $lines ]" || fail "no notification for the expiry"

    ctl POST "/subscriptions/$sid/expire" >/dev/null
    [ "$(gcall GET "/subscriptions/$sid" "$svc" | cut -d' ' -f1)" = 404 ] || fail "control expire"
    r=$(gcall POST "/subscriptions/$sid/reauthorize" "$svc")
    [ "${r%% *}" = 404 ] || fail "reauthorize after expiry: $r"
}

scenario_presence_limit() {
    base_users
    jqe '.presence_limit == 1500 and .presence_window_ms == 30000' <<<"$(ctl GET /settings)" >/dev/null ||
        fail "default presence limit: $(ctl GET /settings)"

    # a small limit so that the test can spend it: 3 per 60 s (the eight
    # requests below all fall within the window, even under load)
    ctl POST /settings '{"presence_limit":3,"presence_window_ms":60000}' >/dev/null
    ctl DELETE /presence_budget >/dev/null
    at=$(app_token)

    # presence_get PATH: "STATUS RETRY-AFTER" of a GET
    presence_get() {
        curl -s -o /dev/null -D "$T/headers" -w '%{http_code}' -H "Authorization: Bearer $at" "$FG/v1.0$1" \
            >"$T/status"
        printf '%s %s' "$(cat "$T/status")" \
            "$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$T/headers")"
    }

    for i in 1 2 3; do
        r=$(presence_get "/users/$ALICE_ID/presence")
        [ "${r%% *}" = 200 ] || fail "request $i within the limit: $r"
    done
    r=$(presence_get "/users/$BOB_ID/presence")
    [ "${r%% *}" = 429 ] || fail "request 4 over the limit: $r"
    ra=${r#* }
    [ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ] || fail "Retry-After not within the window: '$ra'"
    out=$(gcall GET "/users/$BOB_ID/presence" "$at")
    [ "${out%% *}" = 429 ] || fail "still over the limit: $out"
    jqe '.error.code == "TooManyRequests"' <<<"${out#* }" >/dev/null || fail "429 body: $out"

    # getPresencesByUserId counts like any presence request
    out=$(gcall POST /communications/getPresencesByUserId "$at" "{\"ids\":[\"$ALICE_ID\"]}")
    [ "${out%% *}" = 429 ] || fail "getPresencesByUserId over the limit: $out"

    # in a $batch each presence item is judged on its own, with its own Retry-After
    batch="{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/users/$ALICE_ID/presence\"},
                         {\"id\":\"2\",\"method\":\"GET\",\"url\":\"/users/$BOB_ID/presence\"}]}"
    out=$(gcall POST '/$batch' "$at" "$batch")
    [ "${out%% *}" = 200 ] || fail "batch: $out"
    jqe '[.responses[] | .status == 429 and ((.headers["Retry-After"] // .headers["retry-after"]) | tostring |
            tonumber >= 1)] | length == 2 and all' <<<"${out#* }" >/dev/null || fail "batch items: $out"

    # refused requests are not counted: the window held 3, whatever was refused
    b=$(ctl GET /presence_budget)
    jqe '.limit == 3 and (.apps | length) == 1 and .apps[0].total == 3 and .apps[0].refused == 5 and
         .apps[0].max_in_window == 3' <<<"$b" >/dev/null || fail "budget count: $b"

    # the window sliding on (requests pass again once the first leave it) is
    # the budget's own rule: unit_fake_graph_budget test_limit_per_app
    assert_absent "$CLIENT_SECRET" "$T/fake-graph.log"
}

scenario_rich() {
    base_users
    start_sink rich_ok --validation echo
    svc=$(svc_token)

    # a throw-away certificate (never committed)
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/notify.key" -out "$T/notify.crt" \
        -days 1 -subj "/CN=presence-notify" 2>/dev/null || fail "openssl req"
    cert=$(openssl x509 -in "$T/notify.crt" -outform der | base64 -w0)
    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_rich_ok/graph/notify/t" \
        ",\"includeResourceData\":true,\"encryptionCertificate\":\"$cert\",\"encryptionCertificateId\":\"key-1\"")")
    [ "${r%% *}" = 201 ] || fail "rich create: $r"
    sid=$(jq -r .id <<<"${r#* }")

    # alice starts a Teams call -> Busy/InACall -> one rich notification
    ctl POST "/users/alice@contoso.com/start/call" >/dev/null
    wait_line 10 "$T/rich_ok.jsonl" '"value"' || fail "no notification"
    body=$(head -n1 "$T/rich_ok.jsonl")
    item=$(jq -c '.value[0]' <<<"$body")
    jqe --arg s "$sid" --arg a "$ALICE_ID" --arg t "$TENANT" '
        .subscriptionId == $s and .changeType == "updated" and .clientState == "cs-123" and
        .tenantId == $t and
        .resource == ("communications/presences?$filter=id+in+(%27" + $a + "%27)") and
        .resourceData == {"@odata.type": "#Microsoft.Graph.presence",
                          "@odata.id": ("users/" + $a + "/presence"), "id": $a} and
        (.subscriptionExpirationDateTime | length) > 0 and
        .encryptedContent.encryptionCertificateId == "key-1"' <<<"$item" >/dev/null ||
        fail "item fields: $item"

    # thumbprint = upper-case hex SHA-1 of the DER
    want_thumb=$(openssl x509 -in "$T/notify.crt" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
    [ "$(jq -r .encryptedContent.encryptionCertificateThumbprint <<<"$item")" = "$want_thumb" ] ||
        fail "thumbprint: $item vs $want_thumb"

    # unwrap the key: RSA-OAEP with SHA-1 and MGF1-SHA-1
    jq -r .encryptedContent.dataKey <<<"$item" | base64 -d >"$T/dk.bin"
    openssl pkeyutl -decrypt -inkey "$T/notify.key" -in "$T/dk.bin" -out "$T/key.bin" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 ||
        fail "RSA-OAEP unwrap"
    [ "$(stat -c %s "$T/key.bin")" = 32 ] || fail "key is not 32 bytes"
    key=$(hex <"$T/key.bin")

    # HMAC-SHA256 over the ciphertext bytes
    jq -r .encryptedContent.data <<<"$item" | base64 -d >"$T/data.bin"
    mac=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary "$T/data.bin" | base64 -w0)
    [ "$mac" = "$(jq -r .encryptedContent.dataSignature <<<"$item")" ] || fail "HMAC mismatch"

    # AES-256-CBC, IV = first 16 bytes of the key, PKCS7
    plain=$(openssl enc -d -aes-256-cbc -K "$key" -iv "${key:0:32}" -in "$T/data.bin") || fail "AES decrypt"
    jqe --arg a "$ALICE_ID" '. == {"@odata.type": "#Microsoft.Graph.presence",
        "@odata.id": ("users/" + $a + "/presence"), "id": $a, "availability": "Busy",
        "activity": "InACall", "sequenceNumber": .sequenceNumber} and (.sequenceNumber | length) > 0' \
        <<<"$plain" >/dev/null || fail "plaintext: $plain"

    # validationTokens: one RS256 JWT with the documented claims ...
    jwt=$(jq -r '.validationTokens[0]' <<<"$body")
    [ "$(jq '.validationTokens | length' <<<"$body")" = 1 ] || fail "validationTokens: $body"
    IFS=. read -r h p s <<<"$jwt"
    hdr=$(b64url_d "$h")
    claims=$(b64url_d "$p")
    now=$(date +%s)
    jqe '.alg == "RS256"' <<<"$hdr" >/dev/null || fail "jwt header: $hdr"
    jqe --arg c "$CLIENT_ID" --arg t "$TENANT" --argjson now "$now" '
        .aud == $c and .iss == ("https://sts.windows.net/" + $t + "/") and
        .appid == "0bf30f3b-4a52-48df-9a82-234910c4a086" and .tid == $t and .ver == "1.0" and
        .idp == ("https://sts.windows.net/" + $t + "/") and (has("azp") | not) and
        .exp > $now and .nbf <= $now' <<<"$claims" >/dev/null || fail "jwt claims: $claims"

    # ... signed by the key published as JWKS, selected by kid
    jwks=$(curl -s "$FG/common/discovery/v2.0/keys")
    kid=$(jq -r .kid <<<"$hdr")
    jwk=$(jqe -c --arg k "$kid" '.keys[] | select(.kid == $k)' <<<"$jwks") || fail "kid $kid not in $jwks"
    n=$(b64url_d "$(jq -r .n <<<"$jwk")" | hex)
    e=$(b64url_d "$(jq -r .e <<<"$jwk")" | hex)
    printf 'asn1=SEQUENCE:pk\n[pk]\nn=INTEGER:0x%s\ne=INTEGER:0x%s\n' "$n" "$e" >"$T/pk.cnf"
    openssl asn1parse -genconf "$T/pk.cnf" -out "$T/pk.der" >/dev/null || fail "asn1parse"
    openssl rsa -RSAPublicKey_in -inform DER -in "$T/pk.der" -pubout -out "$T/pk.pem" 2>/dev/null || fail "jwk to pem"
    printf '%s.%s' "$h" "$p" >"$T/signed.txt"
    b64url_d "$s" >"$T/sig.bin"
    openssl dgst -sha256 -verify "$T/pk.pem" -signature "$T/sig.bin" "$T/signed.txt" >/dev/null ||
        fail "JWT signature does not verify"
    # a tampered payload does not verify
    printf '%s.%sx' "$h" "$p" >"$T/signed.txt"
    ! openssl dgst -sha256 -verify "$T/pk.pem" -signature "$T/sig.bin" "$T/signed.txt" >/dev/null 2>&1 ||
        fail "tampered JWT verified"

    # the key's certificate (x5c) holds the same public key, x5t is its thumbprint
    printf '%s' "$(jq -r '.x5c[0]' <<<"$jwk")" | base64 -d >"$T/x5c.der" || fail "x5c not base64"
    openssl x509 -inform DER -in "$T/x5c.der" -pubkey -noout >"$T/x5c.pem" || fail "x5c is no certificate"
    cmp -s <(openssl pkey -pubin -in "$T/x5c.pem" -outform DER) <(openssl pkey -pubin -in "$T/pk.pem" -outform DER) ||
        fail "x5c and n/e differ"
    x5t=$(openssl dgst -sha1 -binary "$T/x5c.der" | base64 -w0 | tr '+/' '-_' | tr -d '=')
    [ "$(jq -r .x5t <<<"$jwk")" = "$x5t" ] || fail "x5t is not the certificate's SHA-1"

    # v2 validation tokens and the subscription's whole filter, as settings
    ctl POST /settings '{"validation_token_version":2,"resource_form":"all_ids"}' >/dev/null
    ctl POST "/users/alice@contoso.com/end/call" >/dev/null
    wait_for 10 bash -c "[ \$(wc -l <'$T/rich_ok.jsonl') -ge 2 ]" || fail "no second notification"
    body=$(sed -n 2p "$T/rich_ok.jsonl")
    filter=$(jq -r --arg a "$ALICE_ID" --arg b "$BOB_ID" -n '"communications/presences?$filter=id+in+(" +
        ([$a, $b] | map("%27" + . + "%27") | join("%2c")) + ")"')
    jqe --arg f "$filter" --arg a "$ALICE_ID" '.value[0] | .resource == $f and
        .resourceData["@odata.id"] == $f and .resourceData.id == $a' <<<"$body" >/dev/null ||
        fail "whole-filter item: $(jq -c '.value[0] | {resource, resourceData}' <<<"$body") want $filter"
    IFS=. read -r h p s <<<"$(jq -r '.validationTokens[0]' <<<"$body")"
    claims=$(b64url_d "$p")
    jqe --arg c "$CLIENT_ID" --arg t "$TENANT" '.aud == $c and
        .iss == ("https://login.microsoftonline.com/" + $t + "/v2.0") and
        .azp == "0bf30f3b-4a52-48df-9a82-234910c4a086" and (has("appid") | not) and .ver == "2.0" and
        .tid == $t' <<<"$claims" >/dev/null || fail "v2 claims: $claims"
    printf '%s.%s' "$h" "$p" >"$T/signed.txt"
    b64url_d "$s" >"$T/sig.bin"
    openssl dgst -sha256 -verify "$T/pk.pem" -signature "$T/sig.bin" "$T/signed.txt" >/dev/null ||
        fail "v2 JWT signature does not verify"

    # the delivery was recorded with its status and ack time
    d=$(ctl GET /deliveries | jq -c '[.[] | select(.kind == "change")][0]')
    jqe '.status == 202 and .ok and .ack_ms >= 0 and .attempt == 1' <<<"$d" >/dev/null || fail "delivery: $d"
}

scenario_notify() {
    base_users
    ctl POST /users '{"users":[{"upn":"svc2@contoso.com","password":"pw"},{"upn":"svc3@contoso.com","password":"pw"}]}' >/dev/null
    start_sink noti_ok --validation echo
    start_sink noti_bad --validation echo --notify-status 500
    start_sink noti_slow --validation echo --notify-delay-ms 1500
    svc=$(svc_token)
    tok() {
        token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" username="$1" \
            password=pw scope='https://graph.microsoft.com/Presence.Read.All' | sed -n 1p | jqe -r .access_token
    }
    app=$(app_token)
    presence() { gcall GET "/users/$1/presence" "$app" | cut -d' ' -f2- | jq -r '.availability + "/" + .activity'; }
    items() { jq -s '[.[].value[]]' "$T/$1.jsonl" 2>/dev/null || echo '[]'; }

    r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_noti_ok/n")")
    [ "${r%% *}" = 201 ] || fail "create: $r"
    sid=$(jq -r .id <<<"${r#* }")

    # setPresence: app token, sessionId = client id, five combinations, PT5M..PT4H
    set_p() { gcall POST "/users/$BOB_ID/presence/setPresence" "${3:-$app}" \
        "{\"sessionId\":\"${4:-$CLIENT_ID}\",\"availability\":\"$1\",\"activity\":\"$2\",\"expirationDuration\":\"${5:-PT1H}\"}"; }
    [ "$(set_p Busy InAMeeting | cut -d' ' -f1)" = 400 ] || fail "Busy/InAMeeting accepted"
    [ "$(set_p Busy Busy | cut -d' ' -f1)" = 400 ] || fail "Busy/Busy accepted"
    [ "$(set_p Busy InACall "$app" wrong-session | cut -d' ' -f1)" = 400 ] || fail "foreign sessionId accepted"
    [ "$(set_p Busy InACall "$svc" | cut -d' ' -f1)" = 403 ] || fail "delegated token accepted"
    # delegated Presence.ReadWrite (consented first: an unconsented scope is
    # AADSTS65001): the signed-in user's own presence only
    token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
        username=svc2@contoso.com password=pw \
        scope='https://graph.microsoft.com/Presence.Read.All https://graph.microsoft.com/Presence.ReadWrite' |
        has '"error_codes":\[65001\]' || fail "an unconsented delegated scope was granted"
    ctl POST "/apps/$CLIENT_ID/consent" '{"scopes":["Presence.Read.All","Presence.ReadWrite","User.Read"]}' >/dev/null
    rw=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
        username=svc2@contoso.com password=pw \
        scope='https://graph.microsoft.com/Presence.Read.All https://graph.microsoft.com/Presence.ReadWrite' |
        sed -n 1p | jqe -r .access_token) || fail "no Presence.ReadWrite token"
    SVC2_ID=$(ctl GET /users/svc2@contoso.com | jq -r .id)
    r=$(gcall POST "/users/$SVC2_ID/presence/setPresence" "$rw" \
        "{\"sessionId\":\"$CLIENT_ID\",\"availability\":\"Busy\",\"activity\":\"InACall\",\"expirationDuration\":\"PT5M\"}")
    [ "${r%% *}" = 200 ] || fail "delegated setPresence of the own user: $r"
    [ "$(set_p Busy InACall "$rw" | cut -d' ' -f1)" = 403 ] || fail "delegated setPresence of another user"
    r=$(gcall POST "/users/$SVC2_ID/presence/clearPresence" "$rw" "{\"sessionId\":\"$CLIENT_ID\"}")
    [ "${r%% *}" = 200 ] || fail "delegated clearPresence of the own user: $r"
    # presence routes take the object id: the UPN form is 404 (also in $batch)
    [ "$(set_p Busy InACall | cut -d' ' -f1)" = 200 ] || fail "setPresence by id"
    for route in "GET /users/bob@contoso.com/presence" "POST /users/bob@contoso.com/presence/setPresence" \
        "POST /users/bob@contoso.com/presence/clearPresence" "GET /communications/presences/bob@contoso.com"; do
        set -- $route
        r=$(gcall "$1" "$2" "$app" "{\"sessionId\":\"$CLIENT_ID\",\"availability\":\"Busy\",\"activity\":\"InACall\"}")
        [ "${r%% *}" = 404 ] || fail "$route by UPN: $r"
    done
    r=$(gcall POST '/$batch' "$app" '{"requests":[{"id":"0","method":"GET","url":"/users/bob@contoso.com/presence"},
        {"id":"1","method":"GET","url":"/users/bob@contoso.com?$select=id"}]}')
    jqe '[.responses[] | {(.id): .status}] | add == {"0": 404, "1": 200}' <<<"${r#* }" >/dev/null ||
        fail "\$batch presence by UPN: $r"
    # setPresence and clearPresence answer 200 with an empty body and no Content-Type
    h=$(curl -s -D - -o /dev/null -X POST "$FG/v1.0/users/$BOB_ID/presence/clearPresence" \
        -H "Authorization: Bearer $app" -H 'Content-Type: application/json' \
        --data "{\"sessionId\":\"$CLIENT_ID\"}" | tr -d '\r')
    grep -q '^HTTP/1.1 200' <<<"$h" || fail "clearPresence: $h"
    grep -qi '^content-type:' <<<"$h" && fail "clearPresence answered with a Content-Type: $h"
    grep -qi '^content-length: 0$' <<<"$h" || fail "clearPresence body not empty: $h"
    r=$(set_p Busy InACall "$app" "$CLIENT_ID" PT4M)
    [ "${r%% *}" = 400 ] && jqe '.error.code == "InvalidArgument" and .error.message == "The provided [ExpirationDuration] is out of range"' \
        <<<"${r#* }" >/dev/null || fail "PT4M: $r"
    [ "$(set_p Busy InACall "$app" "$CLIENT_ID" PT4H1S | cut -d' ' -f1)" = 400 ] || fail "PT4H1S accepted"
    [ "$(presence "$BOB_ID")" = "Away/Away" ] || fail "bob before: $(presence "$BOB_ID")"
    for combo in "Available Available" "Away Away" "DoNotDisturb Presenting" "Busy InAConferenceCall" "Busy InACall"; do
        set -- $combo
        [ "$(set_p "$1" "$2" | cut -d' ' -f1)" = 200 ] || fail "setPresence $combo"
    done
    # Away Teams client + Busy app session -> Busy/InACall
    [ "$(presence "$BOB_ID")" = "Busy/InACall" ] || fail "aggregate: $(presence "$BOB_ID")"
    wait_for 5 bash -c "jqe 'select(.value[0].resourceData.id == \"$BOB_ID\")' '$T/noti_ok.jsonl'" || fail "no notification for bob"
    # basic items: id only, no encrypted content, no validationTokens
    first=$(head -n1 "$T/noti_ok.jsonl")
    jqe --arg s "$sid" '(.value[0] | .subscriptionId == $s and .clientState == "cs-123" and
        .changeType == "updated" and (has("encryptedContent") | not) and
        (.resourceData | keys == ["@odata.id", "@odata.type", "id"])) and (has("validationTokens") | not)' \
        <<<"$first" >/dev/null || fail "basic item: $first"
    # sequenceNumber grows with every change
    s1=$(gcall GET "/communications/presences/$BOB_ID" "$app" | cut -d' ' -f2- | jq -r .sequenceNumber)
    r=$(gcall POST "/users/$BOB_ID/presence/clearPresence" "$app" "{\"sessionId\":\"$CLIENT_ID\"}")
    [ "${r%% *}" = 200 ] || fail "clearPresence: $r"
    [ "$(presence "$BOB_ID")" = "Away/Away" ] || fail "after clear: $(presence "$BOB_ID")"
    s2=$(gcall GET "/communications/presences/$BOB_ID" "$app" | cut -d' ' -f2- | jq -r .sequenceNumber)
    [[ "$s2" > "$s1" ]] || fail "sequenceNumber $s1 -> $s2"
    r=$(gcall POST "/users/$BOB_ID/presence/clearPresence" "$app" "{\"sessionId\":\"$CLIENT_ID\"}")
    [ "${r%% *}" = 404 ] || fail "clearPresence without a session: $r"

    # aggregation: preferred beats sessions; DND > Busy among sessions; no session -> Offline
    ctl POST "/users/alice@contoso.com/start/calendar" >/dev/null
    [ "$(presence "$ALICE_ID")" = "Busy/InAMeeting" ] || fail "calendar: $(presence "$ALICE_ID")"
    ctl POST "/users/alice@contoso.com/start/screenshare" >/dev/null
    [ "$(presence "$ALICE_ID")" = "DoNotDisturb/Presenting" ] || fail "screenshare: $(presence "$ALICE_ID")"
    ctl POST "/users/alice@contoso.com/preferred" '{"availability":"Away","activity":"Away"}' >/dev/null
    [ "$(presence "$ALICE_ID")" = "Away/Away" ] || fail "preferred: $(presence "$ALICE_ID")"
    ctl DELETE "/users/alice@contoso.com/preferred" >/dev/null
    for k in screenshare calendar; do ctl POST "/users/alice@contoso.com/end/$k" >/dev/null; done
    ctl DELETE "/users/alice@contoso.com/sessions/teams-desktop" >/dev/null
    [ "$(presence "$ALICE_ID")" = "Offline/Offline" ] || fail "no session: $(presence "$ALICE_ID")"
    u=$(ctl GET "/users/alice@contoso.com")
    jqe '.sessions == [] and .availability == "Offline"' <<<"$u" >/dev/null || fail "control user view: $u"

    # getPresencesByUserId: up to 650 ids
    r=$(gcall POST /communications/getPresencesByUserId "$app" "{\"ids\":[\"$ALICE_ID\",\"$BOB_ID\"]}")
    jqe 'length == 1 and (.value | length == 2)' <<<"$(jq '{value}' <<<"${r#* }")" >/dev/null || fail "getPresencesByUserId: $r"
    ids=$(jq -nc '[range(651) | tostring]')
    [ "$(gcall POST /communications/getPresencesByUserId "$app" "{\"ids\":$ids}" | cut -d' ' -f1)" = 400 ] || fail "651 ids"

    # batching window: two changes within the window arrive in one POST
    ctl POST /settings '{"batch_window_ms":400}' >/dev/null
    lines=$(wc -l <"$T/noti_ok.jsonl")
    ctl POST "/users/alice@contoso.com/start/call" >/dev/null
    ctl POST "/users/bob@contoso.com/start/call" >/dev/null
    wait_for 5 bash -c "[ \$(wc -l <'$T/noti_ok.jsonl') -gt $lines ]" || fail "batched notification missing"
    sleep 0.5
    last=$(tail -n1 "$T/noti_ok.jsonl")
    [ "$(wc -l <"$T/noti_ok.jsonl")" = $((lines + 1)) ] && jqe '.value | length == 2' <<<"$last" >/dev/null ||
        fail "not batched: $(tail -n2 "$T/noti_ok.jsonl")"
    ctl POST /settings '{"batch_window_ms":0}' >/dev/null

    # a silenced subscription delivers nothing
    ctl POST "/subscriptions/$sid/silence" '{"silent":true}' >/dev/null
    lines=$(wc -l <"$T/noti_ok.jsonl")
    ctl POST "/users/bob@contoso.com/end/call" >/dev/null
    sleep 0.7
    [ "$(wc -l <"$T/noti_ok.jsonl")" = "$lines" ] || fail "silenced subscription delivered"
    ctl POST "/subscriptions/$sid/silence" '{"silent":false}' >/dev/null

    # lifecycle reauthorizationRequired on demand
    ctl POST "/subscriptions/$sid/lifecycle" '{"event":"reauthorizationRequired"}' >/dev/null
    wait_for 5 grep -q reauthorizationRequired "$T/noti_ok.jsonl" || fail "no lifecycle event"
    ev=$(grep -m1 reauthorizationRequired "$T/noti_ok.jsonl")
    jqe --arg s "$sid" '.value[0] | .subscriptionId == $s and .clientState == "cs-123" and (has("changeType") | not)' \
        <<<"$ev" >/dev/null || fail "lifecycle item: $ev"

    # failed (500) and slow deliveries are retried with backoff and recorded;
    # slow is over 3 s at Graph (the default), 1 s here so that three tries
    # of a sink answering in 1.5 s take seconds, not ten
    jqe '.delivery_timeout_ms == 3000' <<<"$SETTINGS" >/dev/null || fail "default delivery timeout: $SETTINGS"
    ctl POST /settings '{"retry_base_ms":200,"retry_max":3,"delivery_timeout_ms":1000}' >/dev/null
    r=$(gcall POST /subscriptions "$(tok svc2@contoso.com)" "$(sub_body "$SINK_noti_bad/n")")
    [ "${r%% *}" = 201 ] || fail "bad sink subscription: $r"
    bad=$(jq -r .id <<<"${r#* }")
    r=$(gcall POST /subscriptions "$(tok svc3@contoso.com)" "$(sub_body "$SINK_noti_slow/n")")
    [ "${r%% *}" = 201 ] || fail "slow sink subscription: $r"
    slow=$(jq -r .id <<<"${r#* }")
    ctl POST "/users/bob@contoso.com/start/call" >/dev/null
    tries() { ctl GET /deliveries | jq --arg s "$1" '[.[] | select(.kind == "change" and .subscriptionIds == [$s])]'; }
    wait_for 5 bash -c "[ \"\$(curl -s '$FG/_sim/deliveries' | jq '[.[] | select(.subscriptionIds == [\"$bad\"])] | length')\" = 3 ]" ||
        fail "500 retries: $(tries "$bad")"
    jqe 'map(.status) == [500, 500, 500] and map(.attempt) == [1, 2, 3] and (map(.ok) | any | not)' \
        <<<"$(tries "$bad")" >/dev/null || fail "500 records: $(tries "$bad")"
    wait_for 20 bash -c "[ \"\$(curl -s '$FG/_sim/deliveries' | jq '[.[] | select(.subscriptionIds == [\"$slow\"])] | length')\" = 3 ]" ||
        fail "slow retries: $(tries "$slow")"
    jqe 'all(.ok | not) and all(.ack_ms >= 950)' <<<"$(tries "$slow")" >/dev/null || fail "slow records: $(tries "$slow")"
}

# msal_prepare: npm ci of the pinned msal-node into the build directory;
# sets MSAL_SKIP when the scenario cannot run here.
msal_prepare() {
    MSAL_SKIP=
    command -v node >/dev/null && command -v npm >/dev/null || {
        MSAL_SKIP="node/npm not installed"
        return 0
    }
    SRC=$PS_SRC/tests/fakes/graph/msal
    DIR=$PS_BUILD/tests/fakes/graph/msal
    mkdir -p "$DIR"
    if ! cmp -s "$SRC/package-lock.json" "$DIR/package-lock.json" || [ ! -d "$DIR/node_modules/@azure/msal-node" ]; then
        cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
        (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 || {
            MSAL_SKIP="npm ci failed (registry unreachable?): $(tail -3 "$T/npm.log")"
            return 0
        }
    fi
    cp "$SRC/msal_check.js" "$DIR/"
    need=$(node -e 'console.log(require(process.argv[1]).engines.node.replace(/[^0-9.]/g, "").split(".")[0])' \
        "$DIR/node_modules/@azure/msal-node/package.json")
    have=$(node -e 'console.log(process.versions.node.split(".")[0])')
    [ "$have" -ge "$need" ] || MSAL_SKIP="node $have is older than @azure/msal-node needs ($need)"
}

scenario_msal() {
    msal_prepare
    [ -z "$MSAL_SKIP" ] || return 0
    DOMAIN=contoso.onmicrosoft.com
    ctl POST /tenants "{\"id\":\"$TENANT\",\"domains\":[\"$DOMAIN\"]}" >/dev/null
    ctl POST /users "{\"users\":[
        {\"upn\":\"alice@contoso.com\",\"id\":\"$ALICE_ID\",\"password\":\"al1ce pw+&\",\"display_name\":\"Alice\"},
        {\"upn\":\"mfa@contoso.com\",\"password\":\"mfa pw\"}]}" >/dev/null
    ctl POST /users/mfa@contoso.com/block '{"code":50076}' >/dev/null
    printf 'al1ce pw+&\n' >"$T/alice_pw"
    printf 'mfa pw\n' >"$T/mfa_pw"
    FG_PORT=${FG##*:} TENANT_ID=$TENANT TENANT_DOMAIN=$DOMAIN CLIENT_ID=$CLIENT_ID \
        CLIENT_SECRET_FILE=$T/client_secret USER_UPN=alice@contoso.com USER_ID=$ALICE_ID \
        USER_PASSWORD_FILE=$T/alice_pw MFA_UPN=mfa@contoso.com MFA_PASSWORD_FILE=$T/mfa_pw \
        node "$DIR/msal_check.js" >"$T/msal.out" 2>&1 || fail "MSAL check: $(cat "$T/msal.out")"
    cat "$T/msal.out" >&2
    # what MSAL asked for, fake-graph answered
    ctl GET /requests | jqe '[.[] | select(.path | endswith("/oauth2/v2.0/token"))] | length >= 5' >/dev/null ||
        fail "fake-graph saw too few token requests"
    assert_absent 'al1ce pw+&' "$T/msal.out" "$T/fake-graph.log"
}

start_fake_graph
SETTINGS=$(ctl GET /settings)
for s in tokens handshake expiry presence_limit rich notify msal; do
    log "scenario $s"
    "scenario_$s"
    ctl POST /reset >/dev/null
    ctl POST /settings "$SETTINGS" >/dev/null
    [ "$(ctl GET /settings)" = "$SETTINGS" ] || fail "settings not put back after $s: $(ctl GET /settings)"
done
if [ -n "$MSAL_SKIP" ]; then
    echo "SKIP: the msal scenario: $MSAL_SKIP (every other scenario passed)"
    exit 77
fi
pass
