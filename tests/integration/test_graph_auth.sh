#!/usr/bin/env bash
# Sign-in failures: an MFA-required service account (AADSTS50076) and a wrong
# client secret (AADSTS7000215) show in B/health with the code and a plain
# explanation, /readyz says 503, the token endpoint is retried with backoff
# (never in a tight loop), and once the account is fixed the subscription is
# made without a restart. Secrets (with + / = & %) are form-encoded properly
# (the fake decodes and compares them) and never logged.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

TENANT2=7c1f0e9a-2b3d-4e5f-8a9b-0c1d2e3f4a5b
start_mosquitto "user $(id -un)"
start_fake_graph --tenant "$TENANT2"
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com
sim_account "$TENANT2" svc@fabrikam.com
sim_users "$TENANT2" erin@fabrikam.com
sim POST /users/svc1@contoso.com/block '{"code": 50076}' >/dev/null
T1=$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com"]' '["svc1@contoso.com"]')
T2=$(tenant_json fabrikam "$TENANT2" '["erin@fabrikam.com"]' '["svc@fabrikam.com"]' |
    jq -c --arg f "$T/wrong_secret" '.graph.client_secret_file = $f')
printf 'not+the/secret=\n' >"$T/wrong_secret"
chmod 600 "$T/wrong_secret"
write_config "$T/ps.json" "[$T1,$T2]"
START=$(date +%s)
start_daemon "$T/ps.json"

health() { mosquitto_sub -p "$MQTT_PORT" -t ps/health -C 1 -W 2 2>/dev/null; }
mfa_shown() { health | jqe '.tenants.contoso.graph.auth.accounts[0] |
    .state == "error" and .aadsts == 50076 and .error == "invalid_grant" and
    (.explanation | test("multi-factor"))' >/dev/null; }
wait_for 60 mfa_shown || fail "MFA error not in B/health: $(health)"
secret_shown() { health | jqe '.tenants.fabrikam.graph.auth.app |
    .state == "error" and .aadsts == 7000215 and (.explanation | test("client secret"))' >/dev/null; }
wait_for 30 secret_shown || fail "bad secret not in B/health: $(health)"
health | jqe '.tenants.contoso.graph.auth.state == "error" and .tenants.contoso.graph.ready == false' >/dev/null ||
    fail "contoso not marked broken"
# the app token of contoso is fine, so its users were looked up and read
wait_busy 10 alice@contoso.com false resync
code=$(curl -s -o "$T/ready.json" -w '%{http_code}' "$WEB/readyz")
[ "$code" = 503 ] || fail "/readyz is $code while sign-in fails"
grep -q 'graph/contoso' "$T/ready.json" || fail "/readyz does not name graph/contoso: $(cat "$T/ready.json")"
grep -q 'sign-in failed tenant=contoso account=svc1@contoso.com .*aadsts=50076' "$T/daemon.log" ||
    fail "MFA failure not logged"

# no tight loop: over ~8 s only a handful of attempts per failing identity
sleep 6
ELAPSED=$(($(date +%s) - START))
N=$(sim GET /requests | jq '[.[] | select((.auth // "") | test("^password user=svc1@contoso.com"))] | length')
log "ROPC attempts for the MFA account in ${ELAPSED}s: $N"
[ "$N" -ge 2 ] && [ "$N" -le 6 ] || fail "$N ROPC attempts in ${ELAPSED}s (want backoff: 2..6)"
N2=$(sim GET /requests | jq '[.[] | select((.auth // "") | test("bad_secret"))] | length')
[ "$N2" -le 12 ] || fail "$N2 attempts with the bad secret in ${ELAPSED}s"

# fixed by the admin: recovers on the next retry, no restart
sim POST /users/svc1@contoso.com/block '{"code": 0}' >/dev/null
subscribed() { sim_subs | jqe 'map(select(.tenant == "'"$TENANT_ID"'" and .pending == false)) | length == 1' >/dev/null; }
wait_for 40 subscribed || fail "no subscription after the account was fixed"
ok_now() { health | jqe '.tenants.contoso.graph.auth.state == "ok" and .tenants.contoso.graph.ready == true and
    .tenants.contoso.graph.subscriptions[0].state == "active"' >/dev/null; }
wait_for 10 ok_now || fail "B/health not ok after recovery: $(health)"
grep -q 'signed in tenant=contoso account=svc1@contoso.com' "$T/daemon.log" || fail "recovery not logged"

# the right secret with + / = & % was accepted: the encoding is right
sim GET /requests | jqe '[.[] | select((.auth // "") | test("^client_credentials client='"$CLIENT_ID"'$"))] |
    length >= 1' >/dev/null || fail "no client_credentials sign-in with the real secret"
assert_absent "$CLIENT_SECRET" "$T/daemon.log"
assert_absent "$SVC_PASSWORD" "$T/daemon.log"
assert_absent 'not+the/secret=' "$T/daemon.log"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
