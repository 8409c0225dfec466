#!/usr/bin/env bash
# fake-graph: subscription create with the validation handshake (right and
# wrong answers), the create rules (delegated only, filter quoting, 650 ids,
# 60 minutes, clientState, Conflict), list/get/renew/reauthorize/delete.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

start_fake_graph
base_users
start_sink ok --validation echo
start_sink wrong --validation wrong
start_sink encoded --validation encoded
start_sink err --validation status500
svc=$(svc_token)
app=$(app_token)

expect_400() { # name status+body
    [ "${2%% *}" = 400 ] || fail "$1: $2"
}

# a wrong echo, the still-encoded token, and a 500 are all refused with 400
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_wrong/graph/notify/t")")
expect_400 "wrong echo" "$r"
jqe '.error.code == "ValidationError" and (.error.message | contains("must exactly match validationToken"))' \
    <<<"${r#* }" >/dev/null || fail "wrong echo message: $r"
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_encoded/graph/notify/t")")
expect_400 "encoded echo" "$r"
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_err/graph/notify/t")")
expect_400 "500 echo" "$r"
jqe '.error.message | contains("must respond with 200 OK")' <<<"${r#* }" >/dev/null || fail "500 message: $r"
# no answer within the validation timeout (10 s at Graph; 1 s here) -> 400
start_sink slow --validation slow
ctl POST /settings '{"validation_timeout_ms":1000}' >/dev/null
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_slow/graph/notify/t")")
expect_400 "slow echo" "$r"
jqe '.error.message | contains("timed out")' <<<"${r#* }" >/dev/null || fail "timeout message: $r"
ctl POST /settings '{"validation_timeout_ms":10000}' >/dev/null
# validation failed: nothing was kept, so no Conflict later
[ "$(ctl GET /subscriptions | jq length)" = 0 ] || fail "failed subscription kept"

# the right answer -> 201; both URLs were validated with an encoded token
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/graph/notify/t?acct=1")")
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
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/graph/notify/t")")
[ "${r%% *}" = 409 ] || fail "conflict: $r"
jqe '.error.code == "ExtensionError" and (.error.message | contains("A subscripton already exists"))' \
    <<<"${r#* }" >/dev/null || fail "conflict text: $r"

# app token -> 403
r=$(gcall POST /subscriptions "$app" "$(sub_body "$SINK_ok/graph/notify/t")")
[ "${r%% *}" = 403 ] || fail "app token: $r"

# the rules, checked with a second service account (no Conflict in the way)
ctl POST /users '{"upn":"svc2@contoso.com","password":"pw2"}' >/dev/null
svc2=$(token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
    username=svc2@contoso.com password=pw2 scope='https://graph.microsoft.com/Presence.Read.All' |
    sed -n 1p | jqe -r .access_token)
good=$(sub_body "$SINK_ok/graph/notify/t")
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
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/graph/notify/t")")
[ "${r%% *}" = 201 ] || fail "re-create after delete: $r"
pass
