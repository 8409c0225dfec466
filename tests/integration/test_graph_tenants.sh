#!/usr/bin/env bash
# Two tenants in one process are kept apart: each signs in to its own tenant,
# has its own subscription (rich for one, basic for the other) and webhook
# path; a notification posted to the other tenant's path changes nothing and
# is counted; topics carry mqtt.topic_prefix.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

TENANT2=7c1f0e9a-2b3d-4e5f-8a9b-0c1d2e3f4a5b
start_mosquitto "user $(id -un)"
start_fake_graph --tenant "$TENANT2"
make_cert contoso
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com
sim_account "$TENANT2" svc@fabrikam.com
sim_users "$TENANT2" alice@fabrikam.com
# erin@contoso.com exists, but in the other tenant: not found for contoso
sim_users "$TENANT2" erin@contoso.com
T1=$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com","erin@contoso.com"]' '["svc1@contoso.com"]' contoso)
T2=$(tenant_json fabrikam "$TENANT2" '["alice@fabrikam.com"]' '["svc@fabrikam.com"]')
write_config "$T/ps.json" "[$T1,$T2]"
jq '.mqtt.topic_prefix = "site1/"' "$T/ps.json" >"$T/ps2.json" && mv "$T/ps2.json" "$T/ps.json"
start_daemon "$T/ps.json"

PC=site1/$(busy_topic alice@contoso.com)
PF=site1/$(busy_topic alice@fabrikam.com)
two() { sim_subs | jqe 'map(select(.pending == false)) | length == 2' >/dev/null; }
wait_for 60 two || fail "not two subscriptions: $(sim_subs | jq -c .)"
SUBS=$(sim_subs)
printf '%s' "$SUBS" | jqe --arg c "$TENANT_ID" --arg f "$TENANT2" --arg w "$WEB" '
    (map(select(.tenant == $c))[0] | .notificationUrl == ($w + "/graph/notify/contoso") and .includeResourceData and .users == 1) and
    (map(select(.tenant == $f))[0] | .notificationUrl == ($w + "/graph/notify/fabrikam") and (.includeResourceData | not) and .users == 1)' \
    >/dev/null || fail "subscriptions not per tenant: $SUBS"
health() { mosquitto_sub -p "$MQTT_PORT" -t ps/health -C 1 -W 2 2>/dev/null; }
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t ps/health -C 1 -W 2 | jqe '.tenants.contoso.graph.users.not_found == [\"erin@contoso.com\"] and .tenants.fabrikam.graph.users.not_found == []'" ||
    fail "per-tenant users wrong: $(health)"
wait_for 10 sh -c "[ -n \"\$(mosquitto_sub -p $MQTT_PORT -t '$PC' -C 1 -W 1 --retained-only)\" ] && [ -n \"\$(mosquitto_sub -p $MQTT_PORT -t '$PF' -C 1 -W 1 --retained-only)\" ]" ||
    fail "prefixed topics missing"
[ -z "$(mqtt_retained "$(busy_topic alice@contoso.com)")" ] || fail "topic without the prefix published"

sim POST /users/alice@contoso.com/start/call >/dev/null
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t '$PC' -C 1 -W 2 | jqe '.busy and .source == \"notification\"'" || fail "contoso alice not busy"
sleep 1
[ "$(mqtt_retained "$PF" | jq -r .busy)" = false ] || fail "fabrikam alice changed with contoso's"
sim POST /users/alice@fabrikam.com/start/screenshare >/dev/null
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t '$PF' -C 1 -W 2 | jqe '.busy and .activity == \"Presenting\" and .source == \"notification\"'" || fail "fabrikam alice not busy"
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_for 10 bash -c "mosquitto_sub -p $MQTT_PORT -t '$PC' -C 1 -W 2 | jqe '.busy == false'" || fail "contoso alice still busy"

# contoso's notification posted to fabrikam's path: dropped and counted
DEL=$(sim GET /deliveries | jq -c '[.[] | select(.kind == "change" and .ok and (.url | endswith("/contoso")))] | last | .body | fromjson')
w0=$(metric 'notifications_total{tenant="fabrikam",outcome="wrong_tenant"}')
u0=$(metric 'notifications_total{tenant="fabrikam",outcome="unknown_subscription"}')
post() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'Content-Type: application/json' \
    --data-binary "$1" "$WEB/graph/notify/fabrikam"; }
[ "$(post "$DEL")" = 202 ] || fail "cross-tenant post not 202"
[ "$(post "$(printf '%s' "$DEL" | jq -c --arg t "$TENANT2" '.value[0].tenantId = $t')")" = 202 ] || fail "not 202"
sleep 1
[ "$(metric 'notifications_total{tenant="fabrikam",outcome="wrong_tenant"}')" = $((w0 + 1)) ] || fail "wrong tenant not counted"
[ "$(metric 'notifications_total{tenant="fabrikam",outcome="unknown_subscription"}')" = $((u0 + 1)) ] || fail "foreign subscription not counted"
[ "$(mqtt_retained "$PF" | jq -r .activity)" = Presenting ] || fail "fabrikam changed by a cross-tenant post"
[ "$(mqtt_retained "$PC" | jq -r .busy)" = false ] || fail "contoso changed by a cross-tenant post"
# token requests went to each tenant's own endpoint
sim GET /requests | jqe --arg c "/$TENANT_ID/oauth2/v2.0/token" --arg f "/$TENANT2/oauth2/v2.0/token" '
    ([.[] | select(.path == $c and ((.auth // "") | test("svc@fabrikam")))] | length) == 0 and
    ([.[] | select(.path == $f and ((.auth // "") | test("svc@fabrikam")))] | length) >= 1' >/dev/null ||
    fail "token endpoints mixed up"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
