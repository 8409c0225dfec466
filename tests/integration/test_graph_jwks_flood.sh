#!/usr/bin/env bash
# Forged validationTokens with made-up kids (docs/graph.md, "Validation
# tokens"): each unknown kid asks for the signing keys, but the daemon fetches
# them at most once per 10 s, on its loop, never on a decryption worker. So a
# flood of such POSTs (with a stolen clientState, so they reach the token
# check) costs at most one JWKS fetch per 10 s, every POST is still answered
# 202 at once, each item is read instead (validation_keys_pending), and a
# genuine rich notification is applied without waiting even while the key
# fetch itself hangs for 5 s.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" '["alice@contoso.com","bob@contoso.com"]' '["svc1@contoso.com"]' notify)]"
start_daemon "$T/ps.json"
wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no subscription: $(sim_subs)"
wait_line 10 "$T/daemon.log" 'validation-token keys loaded tenant=contoso' || fail "no keys at start"
for u in alice bob; do wait_busy 10 $u@contoso.com false; done
fetches() { sim GET /requests | jq '[.[] | select(.path | endswith("/discovery/v2.0/keys"))] | length'; }

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
[ "$(awk '$1 != 202' "$T/flood.out" | wc -l)" = 0 ] || fail "forged POSTs not all 202: $(sort "$T/flood.out" | uniq -c | head)"
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
pass
