#!/usr/bin/env bash
# Graph may sign validationTokens in the v2 form (docs/graph.md, "Validation
# tokens"): iss https://login.microsoftonline.com/{tid}/v2.0, the publisher in
# azp, ver 2.0. With fake-graph sending v2 tokens, rich notifications verify
# and apply (none is read instead), and the daemon says which version it saw;
# back on v1 tokens, the same. (A v2 token naming another app in azp is
# refused: tests/unit/test_graph_jwt.c.)
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
sim POST /settings '{"validation_token_version":2}' >/dev/null
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com","bob@contoso.com"]' '["svc1@contoso.com"]' notify)]"
start_daemon "$T/ps.json"
wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no subscription: $(sim_subs)"
wait_line 10 "$T/daemon.log" 'validation-token keys loaded tenant=contoso' || fail "no keys"

# v2 tokens: applied, counted by version
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
wait_for 5 metric_gt 'graph_validation_tokens_total{tenant="contoso",version="2"}' 0 ||
    fail "no v2 token verified: $(curl -s "$WEB/metrics" | grep validation_tokens)"
grep -q 'validation tokens seen tenant=contoso version=2' "$T/daemon.log" || fail "v2 not logged"
sim GET /deliveries | jqe '[.[] | select(.kind == "change")] | last | .body | fromjson |
    .validationTokens[0] | split(".")[1] | gsub("-"; "+") | gsub("_"; "/") | . + ("=" * ((4 - length % 4) % 4)) |
    @base64d | fromjson | .ver == "2.0" and (.iss | endswith("/v2.0")) and .azp == "0bf30f3b-4a52-48df-9a82-234910c4a086"' \
    >/dev/null || fail "fake-graph did not send a v2 token"
[ "$(metric 'notifications_total{tenant="contoso",outcome="applied"}')" -ge 1 ] || fail "not applied"
for o in bad_validation_token validation_keys_pending; do
    [ "$(metric "notifications_total{tenant=\"contoso\",outcome=\"$o\"}")" = 0 ] || fail "items counted $o"
done

# v1 again: the same daemon verifies both forms
sim POST /settings '{"validation_token_version":1}' >/dev/null
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false notification
wait_for 5 metric_gt 'graph_validation_tokens_total{tenant="contoso",version="1"}' 0 || fail "no v1 token verified"
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')" = 0 ] || fail "v1 refused"
pass
