#!/usr/bin/env bash
# Graph may grant a subscription less time than asked: the expiry in its
# answer is the one that counts. fake-graph grants 6 s (the daemon asks for
# 55 min): the daemon renews by what was granted (at half of what is left),
# so the subscription never lapses and notifications keep coming.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
sim POST /settings '{"grant_expiry_s":6}' >/dev/null
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com"]' '["svc1@contoso.com"]')]"
start_daemon "$T/ps.json"
wait_for 60 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" >/dev/null ||
    fail "no subscription: $(sim_subs)"
SID=$(sim_subs | jq -r '.[0].id')
# what the daemon believes is what Graph granted, not what it asked
exp=$(curl -s "$WEB/metrics" | awk '/^presence_sync_graph_subscription_expiry_timestamp_seconds/ {print $2}')
now=$(date +%s)
awk -v e="$exp" -v n="$now" 'BEGIN { exit !(e > n && e <= n + 7) }' ||
    fail "expiry metric $exp is not the granted ~6 s after $now"
# 15 s = two and a half granted lifetimes: still the same subscription
sleep 15
[ "$(sim_subs | jq -r '[.[] | select(.id == "'"$SID"'")] | length')" = 1 ] ||
    fail "the subscription lapsed: $(sim_subs)"
[ "$(metric 'graph_subscriptions_renewed_total{tenant="contoso"}')" -ge 3 ] ||
    fail "renewed only $(metric 'graph_subscriptions_renewed_total{tenant="contoso"}') times"
[ "$(metric 'graph_subscriptions_created_total{tenant="contoso"}')" = 1 ] ||
    fail "recreated instead of renewed: $(metric 'graph_subscriptions_created_total{tenant="contoso"}')"
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
pass test_graph_renew_expiry
