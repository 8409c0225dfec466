#!/usr/bin/env bash
# Graph rolls its signing keys: validationTokens of rich notifications come
# with a kid the daemon has not seen. The daemon fetches the JWKS again on its
# loop (at most every 10 s; a decryption worker never waits for it) and
# verifies with the new key; a notification it cannot verify meanwhile is not
# lost: the user's presence is read instead. Once the old key is dropped from
# the JWKS, the new one keeps working.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com","bob@contoso.com"]' '["svc1@contoso.com"]' notify)]"
start_daemon "$T/ps.json"
wait_for 60 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" >/dev/null ||
    fail "no subscription: $(sim_subs)"
for u in alice bob; do wait_busy 10 $u@contoso.com false resync; done

# at start the keys come from the jwks_uri of the tenant's OpenID configuration
wait_line 10 "$T/daemon.log" 'validation-token keys loaded tenant=contoso keys=1 url=http://127.0.0.1:[0-9]+/'"$TENANT_ID"'/discovery/v2.0/keys' ||
    fail "no JWKS fetch from the jwks_uri: $(grep -i 'keys' "$T/daemon.log")"
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
applied0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
[ "$applied0" -ge 1 ] || fail "the first rich notification was not applied"
fetches() { sim GET /requests | jq '[.[] | select(.path | endswith("/discovery/v2.0/keys"))] | length'; }
f0=$(fetches)

# rollover: a new kid signs from now on (the old key is still published).
# The worker never waits for keys: bob's notification cannot be verified
# yet and is read instead (keys pending); the loop fetches the keys, at most
# once per 10 s, by itself.
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
pass test_graph_jwks_rotate
