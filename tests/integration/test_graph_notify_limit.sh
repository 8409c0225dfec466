#!/usr/bin/env bash
# The body limit of the Graph webhook (docs/graph.md, "Webhook"): an item of
# a 650-id subscription may carry the whole filter (29,288 bytes) in resource
# and in resourceData.@odata.id, so a POST of many such items is far larger
# than http.max_body_bytes (4 MiB). The notify and lifecycle paths take up
# to 1000 items x 64 KiB = 65,536,000 bytes: a 300-item POST of that shape
# (about 17 MB) is accepted and every item is handled; a body over the limit
# gets 413, and other paths keep the 4 MiB limit.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

start_mosquitto "user $(id -un)"
start_fake_graph
sim_account "$TENANT_ID" svc1@contoso.com
USERS=$(for i in $(seq 1 650); do printf 'user%03d@contoso.com\n' "$i"; done)
sim POST /users "$(printf '%s\n' "$USERS" | jq -R --arg t "$TENANT_ID" '{upn: ., tenant: $t, teams: "Available"}' | jq -sc '{users: .}')" >/dev/null
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" "$(printf '%s\n' "$USERS" | jq -R . | jq -sc .)" '["svc1@contoso.com"]')]"
start_daemon "$T/ps.json"
wait_for 60 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false and .[0].users == 650'" ||
    fail "no 650-user subscription: $(sim_subs | jq -c '[.[] | {users, pending}]')"
SUB=$(sim_subs | jq -r '.[0].id')
CS=$(sim_subs | jq -r '.[0].clientState')
IDS=$(sim GET /users | jq -c '[.[] | select(.upn | startswith("user")) | .id]')

# 300 basic items, each naming its user in resourceData.id and carrying the
# subscription's whole filter (as the 2021 capture shows for two ids)
jq -nc --arg s "$SUB" --arg c "$CS" --arg t "$TENANT_ID" --argjson ids "$IDS" '
    ("communications/presences?$filter=id+in+(" + ($ids | map("%27" + . + "%27") | join("%2c")) + ")") as $f |
    {value: [$ids[0:300][] | {subscriptionId: $s, clientState: $c, changeType: "updated",
             resource: $f, subscriptionExpirationDateTime: "2030-01-01T00:00:00.0000000Z",
             resourceData: {"@odata.type": "#Microsoft.Graph.presence", "@odata.id": $f, id: .},
             tenantId: $t}]}' >"$T/big.json"
size=$(stat -c %s "$T/big.json")
[ "$size" -gt 16000000 ] || fail "the big POST is only $size bytes"
filter_len=$(jq -r '.value[0].resource | length' "$T/big.json")
log "300 items of a 650-id subscription: $size bytes (filter $filter_len bytes)"
b0=$(metric 'notifications_total{tenant="contoso",outcome="basic"}')
st=$(http_status "$WEB/graph/notify/contoso" -X POST -H 'Content-Type: application/json' --data-binary "@$T/big.json" --max-time 30)
[ "$st" = 202 ] || fail "a $size-byte notification POST answered $st"
wait_for 20 metric_gt 'notifications_total{tenant="contoso",outcome="basic"}' $((b0 + 299)) ||
    fail "$(($(metric 'notifications_total{tenant="contoso",outcome="basic"}') - b0)) of 300 items handled"
[ "$(metric 'notifications_total{tenant="contoso",outcome="malformed"}')" = 0 ] || fail "items counted malformed"
# ... and their users' presence was read (getPresencesByUserId, 650 ids a request at most)
sim GET /requests | jqe '[.[] | select(.path == "/v1.0/communications/getPresencesByUserId" and .status == 200)] | length >= 2' \
    >/dev/null || fail "the items' users were not read"

# over the limit: 413 on both webhook paths, as soon as Content-Length says so
head -c 65536001 /dev/zero | tr '\0' ' ' >"$T/huge.body"
for path in notify lifecycle; do
    st=$(http_status "$WEB/graph/$path/contoso" -X POST -H 'Content-Type: application/json' --data-binary "@$T/huge.body" --max-time 30)
    [ "$st" = 413 ] || fail "a 65,536,001-byte body to /graph/$path answered $st, not 413"
done
rm -f "$T/huge.body"
# other paths keep http.max_body_bytes (4 MiB)
head -c 5000000 /dev/zero | tr '\0' ' ' >"$T/five.body"
st=$(http_status "$WEB/voice/events/contoso" -X POST -H 'Content-Type: application/json' --data-binary "@$T/five.body")
[ "$st" = 413 ] || fail "a 5 MB body elsewhere answered $st, not 413"
[ "$(http_status "$WEB/healthz")" = 200 ] || fail "healthz after the limit tests"
kill -0 "$PS_PID" || fail "the daemon died"
pass
