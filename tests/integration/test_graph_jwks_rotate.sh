#!/usr/bin/env bash
# Graph rolls its signing keys: validationTokens of rich notifications come
# with a kid the daemon has not seen. The daemon fetches the JWKS again (at
# most every 10 s) and verifies with the new key; a notification it cannot
# verify meanwhile is not lost: the user's presence is read instead. Once the
# old key is dropped from the JWKS, the new one keeps working.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com","bob@contoso.com"]' '["svc1@contoso.com"]' notify)]"
start_daemon "$T/ps.json"
wait_for 60 sh -c "curl -s '$FG/_sim/subscriptions' | jq -e 'length == 1 and .[0].pending == false'" >/dev/null ||
    fail "no subscription: $(sim_subs)"
for u in alice bob; do wait_busy 10 $u@contoso.com false resync; done

# the first rich notification: the JWKS is fetched (one key)
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
wait_line 10 "$T/daemon.log" 'JWKS loaded tenant=contoso keys=1' || fail "no JWKS fetch"
applied0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')

# rollover: a new kid signs from now on (the old key is still published)
KID=$(sim POST /keys/rotate '{}' | jq -r .kid)
[ -n "$KID" ] && [ "$KID" != null ] || fail "fake-graph did not rotate"
# within 10 s of the last fetch the daemon may not fetch again: bob's
# notification cannot be verified yet, yet his change arrives (read)
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 10 bob@contoso.com true
# past the 10 s gap, a notification makes the daemon fetch both keys and verify
wait_for 30 sh -c "
    curl -s -X POST --data-binary '' '$FG/_sim/users/alice@contoso.com/end/call' >/dev/null; sleep 1
    curl -s -X POST --data-binary '' '$FG/_sim/users/alice@contoso.com/start/call' >/dev/null; sleep 1
    grep -q 'JWKS loaded tenant=contoso keys=2' '$T/daemon.log'" || fail "JWKS not fetched again: $(grep JWKS "$T/daemon.log")"
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_busy 10 bob@contoso.com false notification
applied1=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
[ "$applied1" -gt "$applied0" ] || fail "no rich notification applied after the rollover ($applied0 -> $applied1)"

# the old key leaves the JWKS: nothing changes for the daemon
sim POST /keys/rotate '{"drop_old":true}' >/dev/null
sleep 11 # past the gap, so the next unknown kid is fetched at once
bad0=$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 10 bob@contoso.com true notification
[ "$(metric 'notifications_total{tenant="contoso",outcome="bad_validation_token"}')" = "$bad0" ] ||
    fail "a token was rejected although the JWKS was fetched at once"
grep -q 'JWKS loaded tenant=contoso keys=1' <(grep JWKS "$T/daemon.log" | tail -1) ||
    fail "the last JWKS fetch did not see one key: $(grep JWKS "$T/daemon.log" | tail -2)"
pass test_graph_jwks_rotate
