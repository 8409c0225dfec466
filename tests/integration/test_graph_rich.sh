#!/usr/bin/env bash
# The Graph side against fake-graph + mosquitto, rich (encrypted)
# notifications: the validation handshake on both URLs, Teams call / group
# call / screen share / calendar meeting -> teams/<id>/busy (retained,
# schema-checked), a user unknown to Azure AD listed in B/health, forged
# clientState, tampered signature and unknown certificate id dropped and
# counted without changing anything, and 202 acks in well under a second
# while the decryption workers are busy.
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
assert_absent "$CLIENT_SECRET" "$T/daemon.log"
assert_absent "$SVC_PASSWORD" "$T/daemon.log"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
