#!/usr/bin/env bash
# The Graph webhook end to end, rich (encrypted) notifications, one start-up
# (mosquitto, fake-graph, the daemon) for the scenarios in sequence: what
# needs the real listener (libwebsockets), the decryption workers and
# fake-graph's real keys and validationTokens. The logic under it is proven
# in process too (docs/testing.md "What moved where").
#  1. rich: the validation handshake on both URLs, Teams call / group call /
#     screen share / calendar meeting -> teams/<id>/busy (retained,
#     schema-checked), a user unknown to Azure AD listed in B/health, forged
#     clientState, tampered signature, unknown certificate id, bad token and
#     a late replay dropped and counted without changing anything, 202 acks
#     in well under a second while the decryption workers are busy; the
#     OpenID configuration read and the JWKS fetched once for all of it.
#  2. v2 validationTokens (docs/graph.md, "Validation tokens": iss
#     .../{tid}/v2.0, the publisher in azp, ver 2.0) verify and apply, the
#     daemon says which version it saw; back on v1, the same.
#  3. key rollover: a kid the daemon has not seen makes it fetch the JWKS
#     again on its loop (at most every 10 s; a worker never waits for it);
#     an item it cannot verify meanwhile is read instead, not lost; once the
#     old key leaves the JWKS the new one keeps working.
#  4. a flood of forged tokens with made-up kids (and a stolen clientState)
#     costs at most one JWKS fetch per 10 s, every POST is answered 202 at
#     once, each item is read instead, and a genuine notification applies at
#     once even while the key fetch itself hangs for 5 s.
#  5. the body limit (docs/graph.md, "Webhook"): the notify and lifecycle
#     paths take up to 1000 items x 64 KiB = 65,536,000 bytes, as an item of
#     a 650-id subscription may carry the whole filter (29,288 bytes) in
#     resource and in resourceData.@odata.id: 300 such items (about 17 MB)
#     are accepted and every one is handled; a body over the limit gets 413,
#     and other paths keep http.max_body_bytes (4 MiB).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com carol@contoso.com dave@contoso.com
USERS='["alice@contoso.com","Bob@Contoso.com","carol@contoso.com","dave@contoso.com","ghost@contoso.com"]'
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" "$USERS" '["svc1@contoso.com"]' notify)]"
sub_start all '#'
start_daemon "$T/ps.json"

# === 1. rich notifications
# --- subscription made, both URLs validated by Graph
wait_for 60 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false' " ||
    fail "no subscription: $(sim_subs)"
SUB=$(sim_subs)
printf '%s' "$SUB" | jqe --arg u "$WEB/graph/notify/contoso" --arg l "$WEB/graph/lifecycle/contoso" \
    '.[0].notificationUrl == $u and .[0].lifecycleNotificationUrl == $l and
     .[0].includeResourceData == true and .[0].encryptionCertificateId == "presence-sync-contoso" and
     (.[0].clientState | length) >= 32 and (.[0].clientState | length) <= 128 and .[0].users == 4' \
    >/dev/null || fail "subscription fields wrong: $SUB"
RES=$(printf '%s' "$SUB" | jq -r '.[0].resource')
Q="'"
printf '%s' "$RES" | has -E '^/communications/presences\?\$filter=id in \('"$Q[^$Q,]+$Q(,$Q[^$Q,]+$Q){3}"'\)$' ||
    fail "resource is not a quoted id list: $RES"
VAL=$(sim GET /deliveries | jq '[.[] | select(.kind == "validation")]')
printf '%s' "$VAL" | jqe --arg u "$WEB/graph/notify/contoso" --arg l "$WEB/graph/lifecycle/contoso" \
    '([.[] | select(.ok and (.url | startswith($u)))] | length) >= 1 and
     ([.[] | select(.ok and (.url | startswith($l)))] | length) >= 1' >/dev/null ||
    fail "validation handshakes not both ok: $VAL"

# at start the keys come from the jwks_uri of the tenant's OpenID configuration
wait_line 10 "$T/daemon.log" 'validation-token keys loaded tenant=contoso keys=1 url=http://127.0.0.1:[0-9]+/'"$TENANT_ID"'/discovery/v2.0/keys' ||
    fail "no JWKS fetch from the jwks_uri: $(grep -i 'keys' "$T/daemon.log")"

# --- the handshake by hand: URL-decoded token, text/plain, 200, on both paths
for kind in notify lifecycle; do
    out=$(curl -s -D "$T/h.$kind" -X POST --max-time 5 \
        "$WEB/graph/$kind/contoso?validationToken=Validation%3A%20a%2Bb+c%2F%3D%25" \
        -H "Content-Type: text/plain; charset=utf-8" --data-binary "")
    [ "$out" = 'Validation: a+b c/=%' ] || fail "$kind handshake answered '$out'"
    head -1 "$T/h.$kind" | has ' 200' || fail "$kind handshake status: $(head -1 "$T/h.$kind")"
    grep -qi '^content-type: text/plain' "$T/h.$kind" || fail "$kind handshake content type"
done
[ "$(http_status "$WEB/graph/notify/nosuch?validationToken=x" -X POST --data-binary "")" = 404 ] ||
    fail "unknown tenant path is not 404"
[ "$(http_status "$WEB/graph/notify/contoso" -X GET)" = 405 ] || fail "GET is not 405"

# --- start: everybody read (resync) and published
for u in alice bob carol dave; do wait_busy 10 "$u@contoso.com" false resync; done
check_busy_payload "$(mqtt_retained "$(busy_topic alice@contoso.com)")"
[ -z "$(mqtt_retained "$(busy_topic ghost@contoso.com)")" ] || fail "ghost got a topic"
wait_for 5 bash -c "mosquitto_sub -p $MQTT_PORT -t ps/health -C 1 -W 2 | jqe '.tenants.contoso.graph.users.not_found == [\"ghost@contoso.com\"] and .tenants.contoso.graph.users.resolved == 4'" ||
    fail "B/health does not list ghost: $(mqtt_retained ps/health)"
grep -q 'user not found in Azure AD.*ghost@contoso.com' "$T/daemon.log" || fail "ghost not logged"
[ "$(grep -c 'user not found in Azure AD.*ghost' "$T/daemon.log")" = 1 ] || fail "ghost logged more than once"

# --- Teams activities
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
# alice's "in a call" notification, for the out-of-order replay below
DEL_BUSY=$(sim GET /deliveries | jq -c '[.[] | select(.kind == "change" and .ok)] | last | .body | fromjson')
P=$(mqtt_retained "$(busy_topic alice@contoso.com)")
check_busy_payload "$P"
printf '%s' "$P" | jqe '.availability == "Busy" and .activity == "InACall"' >/dev/null || fail "alice: $P"
sim POST /users/bob@contoso.com/start/meeting >/dev/null
wait_busy 10 bob@contoso.com true notification
[ "$(retained_field "$(busy_topic bob@contoso.com)" .activity)" = InAConferenceCall ] || fail "bob activity"
sim POST /users/carol@contoso.com/start/screenshare >/dev/null
wait_busy 10 carol@contoso.com true notification
[ "$(retained_field "$(busy_topic carol@contoso.com)" .availability)" = DoNotDisturb ] || fail "carol availability"
sim POST /users/dave@contoso.com/start/calendar >/dev/null
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t '$(busy_topic dave@contoso.com)' -C 1 -W 2 | jqe '.activity == \"InAMeeting\" and .busy == false and .source == \"notification\"'" ||
    fail "calendar meeting: $(mqtt_retained "$(busy_topic dave@contoso.com)")"
# the call's busy-since survives an activity change that keeps it busy
SINCE=$(retained_field "$(busy_topic alice@contoso.com)" .since)
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false notification
check_busy_payload "$(mqtt_retained "$(busy_topic alice@contoso.com)")"

# --- forged and tampered notifications change nothing and are counted
DEL=$(sim GET /deliveries | jq -c '[.[] | select(.kind == "change" and .ok)] | last | .body | fromjson')
[ -n "$DEL" ] && [ "$DEL" != null ] || fail "no change delivery recorded"
b0=$(metric 'notifications_total{tenant="contoso",outcome="bad_client_state"}')
b1=$(metric 'notifications_total{tenant="contoso",outcome="decrypt_bad_signature"}')
b2=$(metric 'notifications_total{tenant="contoso",outcome="decrypt_unknown_certificate"}')
b3=$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')
post() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'Content-Type: application/json' \
    --data-binary "$1" "$WEB/graph/notify/contoso"; }
[ "$(post "$(printf '%s' "$DEL" | jq -c '.value[0].clientState = "forged"')")" = 202 ] || fail "forged not 202"
SIG=$(printf '%s' "$DEL" | jq -r '.value[0].encryptedContent.dataSignature')
BAD=$(printf '%s' "$SIG" | sed 's/^./A/; t; s/^/A/')
[ "$BAD" != "$SIG" ] || BAD="B${SIG:1}"
[ "$(post "$(printf '%s' "$DEL" | jq -c --arg s "$BAD" '.value[0].encryptedContent.dataSignature = $s')")" = 202 ] || fail "tampered not 202"
[ "$(post "$(printf '%s' "$DEL" | jq -c '.value[0].encryptedContent.encryptionCertificateId = "someone-else"')")" = 202 ] || fail "unknown cert not 202"
[ "$(post "$(printf '%s' "$DEL" | jq -c '.validationTokens = ["eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln"]')")" = 202 ] || fail "bad token not 202"
[ "$(post 'this is not json')" = 202 ] || fail "junk not 202"
# a genuine but older notification (lower sequenceNumber) arriving late
st0=$(metric 'notifications_total{tenant="contoso",outcome="stale"}')
[ "$(post "$DEL_BUSY")" = 202 ] || fail "late replay not 202"
sleep 1.5
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_client_state"}')" = $((b0 + 1)) ] || fail "forged clientState not counted"
[ "$(metric 'notifications_total{tenant="contoso",outcome="decrypt_bad_signature"}')" = $((b1 + 1)) ] || fail "tampered signature not counted"
[ "$(metric 'notifications_total{tenant="contoso",outcome="decrypt_unknown_certificate"}')" = $((b2 + 1)) ] || fail "unknown certificate not counted"
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')" = $((b3 + 1)) ] || fail "bad validation token not counted"
[ "$(metric 'notifications_total{tenant="contoso",outcome="stale"}')" = $((st0 + 1)) ] || fail "out-of-order notification not dropped as stale"
wait_busy 1 alice@contoso.com false notification

# --- acks: Graph's deliveries all got 202 fast; and while the workers chew
# on thousands of RSA unwraps, a new POST is still answered at once
sim GET /deliveries | jqe '[.[] | select(.kind == "change")] | length > 0 and all(.status == 202 and .ack_ms < 1000)' >/dev/null ||
    fail "slow or non-202 acks: $(sim GET /deliveries | jq -c '[.[] | select(.kind == "change") | {status, ack_ms}]')"
BIG=$(printf '%s' "$DEL" | jq -c '.value = [range(1000) as $i | .value[0]]')
printf '%s' "$BIG" >"$T/big.json"
FLOOD=()
s0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
for i in $(seq 1 12); do
    curl -s -o /dev/null --max-time 10 -X POST -H 'Content-Type: application/json' \
        --data-binary @"$T/big.json" "$WEB/graph/notify/contoso" &
    FLOOD+=($!)
done
sleep 0.5
for i in 1 2 3 4 5; do
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 -X POST \
        -H 'Content-Type: application/json' --data-binary "$DEL" "$WEB/graph/notify/contoso")
    log "ack while busy: $t"
    [ "${t%% *}" = 202 ] || fail "ack while busy: $t"
    awk -v s="${t##* }" 'BEGIN { exit !(s < 0.5) }' || fail "ack took ${t##* } s while busy"
done
wait "${FLOOD[@]}"
# the workers were really busy: the 12000 replayed items are still being
# worked through (each is an RSA unwrap), and they all end up applied (unchanged: published nothing)
s1=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
log "items applied right after the acks: $((s1 - s0)) of 12000"
[ $((s1 - s0)) -lt 12000 ] || log "warning: the workers finished before the acks were timed"
applied_at_least() { [ "$(metric 'notifications_total{tenant="contoso",outcome="applied"}')" -ge "$1" ]; }
wait_for 120 applied_at_least $((s0 + 12000)) ||
    fail "replayed items not all worked through: $(metric 'notifications_total{tenant="contoso",outcome="applied"}')"
wait_busy 1 alice@contoso.com false
# the tenant's OpenID configuration was read once, and the JWKS fetched once
# from its jwks_uri and cached for all the rich notifications since
[ "$(sim GET /requests | jq --arg p "/$TENANT_ID/v2.0/.well-known/openid-configuration" '[.[] | select(.path == $p)] | length')" = 1 ] ||
    fail "OpenID configuration not read exactly once: $(sim GET /requests | jq -c '[.[] | select(.path | test("well-known"))]')"
[ "$(sim GET /requests | jq '[.[] | select(.path | test("discovery"))] | length')" = 1 ] &&
    [ "$(sim GET /requests | jq --arg p "/$TENANT_ID/discovery/v2.0/keys" '[.[] | select(.path == $p)] | length')" = 1 ] ||
    fail "JWKS not fetched exactly once from the jwks_uri: $(sim GET /requests | jq -c '[.[] | select(.path | test("discovery"))]')"
# the others end their activities for the scenarios below
sim POST /users/bob@contoso.com/end/meeting >/dev/null
sim POST /users/carol@contoso.com/end/screenshare >/dev/null
wait_busy 10 bob@contoso.com false notification
wait_busy 10 carol@contoso.com false notification
pass "rich notifications"

# === 2. v2 validationTokens: applied, counted by version
bad0=$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')
pend0=$(metric 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}')
a0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
v1=$(metric 'graph_validation_tokens_total{tenant="contoso",version="1"}')
sim POST /settings '{"validation_token_version":2}' >/dev/null
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
wait_for 5 metric_gt 'graph_validation_tokens_total{tenant="contoso",version="2"}' 0 ||
    fail "no v2 token verified: $(curl -s "$WEB/metrics" | grep validation_tokens)"
grep -q 'validation tokens seen tenant=contoso version=2' "$T/daemon.log" || fail "v2 not logged"
sim GET /deliveries | jqe '[.[] | select(.kind == "change")] | last | .body | fromjson |
    .validationTokens[0] | split(".")[1] | gsub("-"; "+") | gsub("_"; "/") | . + ("=" * ((4 - length % 4) % 4)) |
    @base64d | fromjson | .ver == "2.0" and (.iss | endswith("/v2.0")) and .azp == "0bf30f3b-4a52-48df-9a82-234910c4a086"' \
    >/dev/null || fail "fake-graph did not send a v2 token"
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="applied"}' "$a0" || fail "v2: not applied"
# v1 again: the same daemon verifies both forms
sim POST /settings '{"validation_token_version":1}' >/dev/null
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false notification
wait_for 5 metric_gt 'graph_validation_tokens_total{tenant="contoso",version="1"}' "$v1" || fail "no v1 token verified"
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')" = "$bad0" ] || fail "v1 or v2 refused"
[ "$(metric 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}')" = "$pend0" ] ||
    fail "v1 or v2 items waited for keys"
pass "v2 and v1 validation tokens"

# === 3. key rollover: a new kid signs from now on (the old key is still
# published). The worker never waits for keys: bob's notification cannot be
# verified yet and is read instead (keys pending); the loop fetches the keys,
# at most once per 10 s, by itself.
fetches() { sim GET /requests | jq '[.[] | select(.path | endswith("/discovery/v2.0/keys"))] | length'; }
f0=$(fetches)
applied0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
KID=$(sim POST /keys/rotate '{}' | jq -r .kid)
[ -n "$KID" ] && [ "$KID" != null ] || fail "fake-graph did not rotate"
pend0=$(metric 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}')
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 10 bob@contoso.com true notification
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}' "$pend0" ||
    fail "the unverifiable item was not counted validation_keys_pending"
wait_line 15 "$T/daemon.log" 'validation-token keys loaded tenant=contoso keys=2' ||
    fail "JWKS not fetched again: $(grep 'validation-token keys' "$T/daemon.log")"
[ "$(fetches)" = $((f0 + 1)) ] || fail "the rollover cost $(($(fetches) - f0)) key fetches, not 1"
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_busy 10 bob@contoso.com false notification
applied1=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
[ "$applied1" -gt "$applied0" ] || fail "no rich notification applied after the rollover ($applied0 -> $applied1)"

# the old key leaves the JWKS, a new one signs: past the gap, the first
# unknown kid is fetched at once; its item is read, the next one applied
sim POST /keys/rotate '{"drop_old":true}' >/dev/null
sleep 11 # past the gap
bad0=$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 10 bob@contoso.com true notification
last_keys() { grep 'validation-token keys loaded' "$T/daemon.log" | tail -1 | has 'keys=1'; }
wait_for 5 last_keys ||
    fail "the last JWKS fetch did not see one key: $(grep 'validation-token keys' "$T/daemon.log" | tail -2)"
applied2=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_busy 10 bob@contoso.com false notification
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="applied"}' "$applied2" ||
    fail "rich notifications not applied with the new key"
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')" = "$bad0" ] ||
    fail "a token was rejected as bad while its key was only being fetched"
pass "key rollover"

# === 4. forged validationTokens with made-up kids
SUB=$(sim_subs | jq -r '.[0].id')
CS=$(sim_subs | jq -r '.[0].clientState')
ALICE=$(sim GET /users/alice@contoso.com | jq -r .id)
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
# forged BODY N: alice's item with a token whose kid nobody published
for i in $(seq 1 200); do
    h=$(printf '{"typ":"JWT","alg":"RS256","kid":"forged-%d"}' "$i" | b64url)
    p=$(printf '{"aud":"%s","iss":"https://sts.windows.net/%s/","exp":4102444800}' "$CLIENT_ID" "$TENANT_ID" | b64url)
    jq -nc --arg s "$SUB" --arg c "$CS" --arg t "$TENANT_ID" --arg u "$ALICE" --arg tok "$h.$p.c2ln" '
        {value: [{subscriptionId: $s, clientState: $c, changeType: "updated", tenantId: $t,
                  resource: ("communications/presences?$filter=id+in+(%27" + $u + "%27)"),
                  resourceData: {"@odata.type": "#Microsoft.Graph.presence",
                                 "@odata.id": ("users/" + $u + "/presence"), id: $u},
                  encryptedContent: {data: "QUJD", dataSignature: "c2ln", dataKey: "a2V5",
                                     encryptionCertificateId: "presence-sync-contoso",
                                     encryptionCertificateThumbprint: "AB"}}],
         validationTokens: [$tok]}' >"$T/forged.$i.json"
done

# the key fetch hangs for 5 s from now on (a slow identity platform)
sim POST /faults "{\"path\":\"/$TENANT_ID/discovery/v2.0/keys\",\"delay_ms\":5000,\"count\":10}" >/dev/null
f0=$(fetches)
p0=$(metric 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}')
a0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
start=$(date +%s)
seq 1 200 | xargs -P 4 -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 5 \
    -X POST -H 'Content-Type: application/json' --data-binary "@$T/forged.{}.json" \
    "$WEB/graph/notify/contoso" >"$T/flood.out" &
FLOOD=$!
# meanwhile a genuine rich notification: verified with the key we hold, at once
sleep 0.5
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 3 bob@contoso.com true notification
wait_for 3 metric_gt 'notifications_total{tenant="contoso",outcome="applied"}' "$a0" ||
    fail "the genuine notification waited for the key fetch"
wait "$FLOOD"
dur=$(($(date +%s) - start))
[ "$(wc -l <"$T/flood.out")" = 200 ] || fail "not every forged POST was answered"
[ "$(awk '$1 != 202' "$T/flood.out" | wc -l)" = 0 ] || fail "forged POSTs not all 202: $(sort "$T/flood.out" | uniq -c | sed -n 1,10p)"
slow=$(awk '$2 > 1.0' "$T/flood.out" | wc -l)
[ "$slow" = 0 ] || fail "$slow POSTs took over 1 s to be answered"
wait_for 10 metric_gt 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}' $((p0 + 199)) ||
    fail "only $(($(metric 'notifications_total{tenant="contoso",outcome="validation_keys_pending"}') - p0)) of 200 forged items counted validation_keys_pending"
# let any fetch the flood scheduled run (the gap is 10 s, the fetch 5 s)
sleep 16
n=$(($(fetches) - f0))
window=$(($(date +%s) - start))
[ "$n" -ge 1 ] || fail "an unknown kid never made the daemon fetch the keys"
[ "$n" -le $((window / 10 + 1)) ] || fail "$n key fetches in ${window}s for 200 unknown kids"
log "200 forged POSTs in ${dur}s: $n JWKS fetch(es) in ${window}s, all 202 within 1 s"
# the keys are still good: a genuine change applies
a1=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_busy 10 bob@contoso.com false notification
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="applied"}' "$a1" || fail "not applied after the flood"
pass "forged kids"

# === 5. the webhook body limit
# 300 basic items (no encryptedContent: the worker only takes the user's id,
# the loop reads the presence), each naming one of our users in
# resourceData.id and carrying the filter of a 650-id subscription: our four
# ids and 646 more (the daemon takes the user from resourceData.id, not
# from the filter; the 2021 capture shows the whole filter, for two ids).
IDS=$(sim GET /users | jq -c '[.[] | select(.upn | test("^(alice|bob|carol|dave)@")) | .id]')
[ "$(printf '%s' "$IDS" | jq length)" = 4 ] || fail "user ids: $IDS"
jq -nc --arg s "$SUB" --arg c "$CS" --arg t "$TENANT_ID" --argjson ids "$IDS" '
    ($ids + [range(646) | "00000000-0000-4000-8000-\(100000000000 + . | tostring)"]) as $all |
    ("communications/presences?$filter=id+in+(" + ($all | map("%27" + . + "%27") | join("%2c")) + ")") as $f |
    {value: [range(300) as $i | {subscriptionId: $s, clientState: $c, changeType: "updated",
             resource: $f, subscriptionExpirationDateTime: "2030-01-01T00:00:00.0000000Z",
             resourceData: {"@odata.type": "#Microsoft.Graph.presence", "@odata.id": $f,
                            id: $ids[$i % 4]},
             tenantId: $t}]}' >"$T/limit.json"
size=$(stat -c %s "$T/limit.json")
[ "$size" -gt 16000000 ] || fail "the big POST is only $size bytes"
filter_len=$(jq -r '.value[0].resource | length' "$T/limit.json")
[ "$filter_len" = 29288 ] || fail "the filter is $filter_len bytes, not 29,288"
log "300 items of a 650-id subscription: $size bytes (filter $filter_len bytes)"
b0=$(metric 'notifications_total{tenant="contoso",outcome="basic"}')
m0=$(metric 'notifications_total{tenant="contoso",outcome="malformed"}')
reads() { sim GET /requests | jq '[.[] | select(.path == "/v1.0/communications/getPresencesByUserId" and .status == 200)] | length'; }
r0=$(reads)
st=$(http_status "$WEB/graph/notify/contoso" -X POST -H 'Content-Type: application/json' \
    --data-binary "@$T/limit.json" --max-time 30)
[ "$st" = 202 ] || fail "a $size-byte notification POST answered $st"
wait_for 20 metric_gt 'notifications_total{tenant="contoso",outcome="basic"}' $((b0 + 299)) ||
    fail "$(($(metric 'notifications_total{tenant="contoso",outcome="basic"}') - b0)) of 300 items handled"
[ "$(metric 'notifications_total{tenant="contoso",outcome="malformed"}')" = "$m0" ] || fail "items counted malformed"
# ... and their users' presence was read (getPresencesByUserId)
reads_after() { [ "$(reads)" -gt "$r0" ]; }
wait_for 10 reads_after || fail "the items' users were not read"
rm -f "$T/limit.json"

# over the limit: 413 on both webhook paths, as soon as Content-Length says so
head -c 65536001 /dev/zero | tr '\0' ' ' >"$T/huge.body"
for path in notify lifecycle; do
    st=$(http_status "$WEB/graph/$path/contoso" -X POST -H 'Content-Type: application/json' \
        --data-binary "@$T/huge.body" --max-time 30)
    [ "$st" = 413 ] || fail "a 65,536,001-byte body to /graph/$path answered $st, not 413"
done
rm -f "$T/huge.body"
# other paths keep http.max_body_bytes (4 MiB)
head -c 5000000 /dev/zero | tr '\0' ' ' >"$T/five.body"
st=$(http_status "$WEB/voice/events/contoso" -X POST -H 'Content-Type: application/json' --data-binary "@$T/five.body")
[ "$st" = 413 ] || fail "a 5 MB body elsewhere answered $st, not 413"
rm -f "$T/five.body"
[ "$(http_status "$WEB/healthz")" = 200 ] || fail "healthz after the limit tests"
kill -0 "$PS_PID" || fail "the daemon died"
pass "body limit"

assert_absent "$CLIENT_SECRET" "$T/daemon.log"
assert_absent "$SVC_PASSWORD" "$T/daemon.log"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
