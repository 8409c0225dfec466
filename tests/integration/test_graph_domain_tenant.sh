#!/usr/bin/env bash
# graph.tenant_id given as a domain (docs/graph.md, "Tenant id and signing
# keys"): notifications and validation tokens carry the tenant GUID, so the
# daemon resolves it at start from the issuer of
# {login_url}/{domain}/v2.0/.well-known/openid-configuration, compares with
# it and shows it in B/health; check-config says how it will be resolved.
# While the document is slow to come, items that are ours are read instead
# (tenant_pending); afterwards rich items verify and apply; an item naming
# the tenant by its domain is not ours.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

DOMAIN=contoso.onmicrosoft.com
start_mosquitto "user $(id -un)"
start_fake_graph --tenant-domain "$DOMAIN"
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
write_config "$T/ps.json" "[$(tenant_json contoso "$DOMAIN" '["alice@contoso.com","bob@contoso.com"]' '["svc1@contoso.com"]' notify)]"

"$PS_BIN" check-config -c "$T/ps.json" >"$T/check.out" 2>&1 || fail "check-config failed: $(cat "$T/check.out")"
grep -qF "tenant:   $DOMAIN is a domain: its GUID is resolved at start from the issuer of $FG/$DOMAIN/v2.0/.well-known/openid-configuration" "$T/check.out" ||
    fail "check-config does not say how the GUID is resolved: $(cat "$T/check.out")"

# the first read of the document is slow: 8 s without the GUID
sim POST /faults "{\"path\":\"/$DOMAIN/v2.0/.well-known/openid-configuration\",\"delay_ms\":8000}" >/dev/null
start_daemon "$T/ps.json"
wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no subscription: $(sim_subs)"
tenant_is() { mqtt_retained ps/health | jqe --arg c "$DOMAIN" "$1 and .tenants.contoso.graph.tenant.configured == \$c" >/dev/null; }
# B/health is published after the change that caused it: wait for the
# document, which must still show the GUID pending (the read takes 8 s)
wait_for 5 tenant_is '.tenants.contoso.graph.tenant.id == null and .tenants.contoso.graph.tenant.source == "pending"' ||
    fail "B/health before the document: $(mqtt_retained ps/health | jq -c .tenants.contoso.graph.tenant)"
# a change meanwhile still arrives: the item is ours (clientState), read instead
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="tenant_pending"}' 0 ||
    fail "the item was not counted tenant_pending"

# resolved: the GUID in B/health, from the OpenID configuration
wait_for 15 tenant_is ".tenants.contoso.graph.tenant.id == \"$TENANT_ID\" and .tenants.contoso.graph.tenant.source == \"openid-configuration\"" ||
    fail "GUID not resolved: $(mqtt_retained ps/health | jq -c .tenants.contoso.graph.tenant)"
grep -q "tenant id resolved tenant=contoso domain=$DOMAIN id=$TENANT_ID" "$T/daemon.log" || fail "resolution not logged"
# rich items now verify (issuer and tenantId are the GUID) and apply
a0=$(metric 'notifications_total{tenant="contoso",outcome="applied"}')
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_busy 10 bob@contoso.com true notification
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="applied"}' "$a0" ||
    fail "rich items not applied after the GUID was resolved"
sim GET /deliveries | jqe --arg t "$TENANT_ID" \
    '[.[] | select(.kind == "change") | .body | fromjson | .value[].tenantId] | all(. == $t)' >/dev/null ||
    fail "fake-graph sent a tenantId that is not the GUID"
# sign-in went to the domain's token endpoint (Entra accepts a domain there)
sim GET /requests | jqe --arg p "/$DOMAIN/oauth2/v2.0/token" '[.[] | select(.path == $p and .status == 200)] | length >= 2' >/dev/null ||
    fail "no sign-in at /$DOMAIN/oauth2/v2.0/token"

# an item naming the tenant by its domain is not Graph's: dropped
SUB=$(sim_subs | jq -r '.[0].id')
CS=$(sim_subs | jq -r '.[0].clientState')
w0=$(metric 'notifications_total{tenant="contoso",outcome="wrong_tenant"}')
BODY=$(jq -nc --arg s "$SUB" --arg c "$CS" --arg t "$DOMAIN" --arg u "$(sim GET /users/alice@contoso.com | jq -r .id)" \
    '{value: [{subscriptionId: $s, clientState: $c, changeType: "updated", tenantId: $t,
               resource: ("communications/presences?$filter=id+in+(%27" + $u + "%27)"),
               resourceData: {"@odata.type": "#Microsoft.Graph.presence", "@odata.id": ("users/" + $u + "/presence"), id: $u}}]}')
[ "$(http_status "$WEB/graph/notify/contoso" -X POST -H 'Content-Type: application/json' --data-binary "$BODY")" = 202 ] ||
    fail "not 202"
wait_for 5 metric_gt 'notifications_total{tenant="contoso",outcome="wrong_tenant"}' "$w0" ||
    fail "an item with the domain as tenantId was not dropped as wrong_tenant"
pass
