#!/usr/bin/env bash
# Subscription and token lifecycles against fake-graph: renewals well before
# expiry; delegated tokens refreshed with refresh_token ahead of expiry and,
# when the refresh token is revoked, a fresh ROPC sign-in; a 401 from Graph
# refreshes the token once and retries; an expired subscription is recreated
# and followed by a resync that publishes what changed meanwhile;
# reauthorizationRequired leads to POST /subscriptions/{id}/reauthorize.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
make_cert notify
sim POST /settings '{"token_lifetime_s": 8}' >/dev/null
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com","bob@contoso.com"]' '["svc1@contoso.com"]' notify)]"
# the first two creates fail (Graph's 500 after a delete, §2.2): retried with backoff
sim POST /faults '{"method":"POST","path":"/v1.0/subscriptions","status":500,"count":2}' >/dev/null
export PS_GRAPH_RENEW_MS=1500 PS_GRAPH_RESYNC_MS=3000
start_daemon "$T/ps.json"
unset PS_GRAPH_RENEW_MS PS_GRAPH_RESYNC_MS

sub_id() { sim_subs | jq -r 'map(select(.pending == false)) | .[0].id // empty'; }
wait_for 60 sh -c "[ -n \"\$(curl -s $FG/_sim/subscriptions | jq -r '.[0].id // empty')\" ]" || fail "no subscription"
SUB1=$(sub_id)
wait_busy 10 alice@contoso.com false resync
sim GET /requests | jqe '[.[] | select(.method == "POST" and .path == "/v1.0/subscriptions") | .status] == [500, 500, 201]' >/dev/null ||
    fail "create not retried: $(sim GET /requests | jq -c '[.[] | select(.path == "/v1.0/subscriptions") | {method, status}]')"
[ "$(grep -c 'subscription request failed.*create: 500' "$T/daemon.log")" = 2 ] || fail "failed creates not reported"

reqs() { sim GET /requests; }
count_req() { reqs | jq "[.[] | select($1)] | length"; }
renewed() { [ "$(count_req ".method == \"PATCH\" and .path == \"/v1.0/subscriptions/$SUB1\" and .status == 200")" -ge 2 ]; }
wait_for 10 renewed || fail "no renewals: $(reqs | jq -c '[.[] | select(.method == "PATCH")]')"
refreshed() { [ "$(count_req '.path | endswith("/oauth2/v2.0/token")' | tr -d ' ')" -ge 1 ] &&
    [ "$(count_req '(.auth // "") | test("^refresh_token user=svc1@contoso.com")')" -ge 1 ]; }
wait_for 15 refreshed || fail "delegated token not refreshed with refresh_token: $(reqs | jq -c '[.[] | select(.path | endswith("/token")) | {status, auth}]')"

# revoked refresh tokens (password change elsewhere): refresh fails, ROPC again
MARK=$(reqs | jq 'map(.seq) | max')
sim POST /users/svc1@contoso.com/revoke >/dev/null
after() { sim GET "/requests?since=$MARK"; }
fallback() { after | jqe '[.[] | select(.path | endswith("/token")) | {status, auth}] |
    (map(select(.status == 400 and (.auth | test("^refresh_token")))) | length) >= 1 and
    (map(select(.status == 200 and (.auth | test("^password user=svc1")))) | length) >= 1' >/dev/null; }
wait_for 20 fallback || fail "no ROPC fallback after a failed refresh: $(after | jq -c '[.[] | select(.path | endswith("/token")) | {status, auth}]')"
grep -q 'token refresh failed, signing in again.*aadsts=50173' "$T/daemon.log" || fail "refresh failure not logged"

# tokens die early on Graph's side: one 401, one refresh, the retry succeeds
MARK=$(reqs | jq 'map(.seq) | max')
sim POST /tokens/expire >/dev/null
retried() { after | jqe --arg p "/v1.0/subscriptions/$SUB1" '[.[] | select(.path == $p) | .status] |
    (index(401) != null) and (.[index(401) + 1:] | index(200) != null)' >/dev/null; }
wait_for 15 retried || fail "no 401 -> refresh -> retry: $(after | jq -c '[.[] | {path, status}]')"

# the subscription expires (renewal impossible): recreated, then a resync
# publishes the call that started while nobody was subscribed
sim POST "/subscriptions/$SUB1/expire" >/dev/null
sim POST /users/alice@contoso.com/start/call >/dev/null
new_sub() { local s; s=$(sub_id); [ -n "$s" ] && [ "$s" != "$SUB1" ]; }
wait_for 15 new_sub || fail "subscription not recreated: $(sim_subs | jq -c .)"
SUB2=$(sub_id)
wait_busy 10 alice@contoso.com true resync
grep -q 'subscription is gone, recreating' "$T/daemon.log" || fail "recreation not logged"

# reauthorizationRequired: a fresh token, then POST .../reauthorize
sim POST "/subscriptions/$SUB2/lifecycle" '{"event":"reauthorizationRequired"}' >/dev/null
reauth() { [ "$(count_req ".method == \"POST\" and .path == \"/v1.0/subscriptions/$SUB2/reauthorize\" and .status == 204")" -ge 1 ]; }
wait_for 10 reauth || fail "not reauthorized: $(reqs | jq -c '[.[] | select(.path | test("reauthorize"))]')"
[ "$(metric 'notifications_total{tenant="contoso",outcome="lifecycle"}')" -ge 1 ] || fail "lifecycle not counted"
# a forged lifecycle event (wrong clientState) does nothing
FORGED=$(jq -nc --arg s "$SUB2" --arg t "$TENANT_ID" '{value:[{subscriptionId:$s, tenantId:$t,
    clientState:"guess", lifecycleEvent:"subscriptionRemoved", subscriptionExpirationDateTime:"2030-01-01T00:00:00Z"}]}')
curl -s -o /dev/null --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "$FORGED" "$WEB/graph/lifecycle/contoso"
sleep 1
[ "$(sub_id)" = "$SUB2" ] || fail "a forged lifecycle event changed the subscription"
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_client_state"}')" -ge 1 ] || fail "forged lifecycle not counted"

# a live but silent subscription (docs/graph.md "Resync"): the periodic
# resync still brings the change
sim POST "/subscriptions/$SUB2/silence" '{"silent": true}' >/dev/null
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 10 bob@contoso.com true resync
sim POST "/subscriptions/$SUB2/silence" '{"silent": false}' >/dev/null

# notifications still flow on the new subscription
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false notification
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
