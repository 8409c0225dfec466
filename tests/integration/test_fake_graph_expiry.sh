#!/usr/bin/env bash
# fake-graph: subscriptions really expire (a timer removes them: GET and
# PATCH give 404, no more notifications, a new one can be created), and the
# control API can expire one on demand.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

start_fake_graph
base_users
start_sink ok --validation echo
svc=$(svc_token)

r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/n" | jq -c --arg e "$(in_seconds 3)" '.expirationDateTime = $e')")
[ "${r%% *}" = 201 ] || fail "create: $r"
sid=$(jq -r .id <<<"${r#* }")
ctl POST "/users/alice@contoso.com/start/call" >/dev/null
wait_line 5 "$T/ok.jsonl" "$ALICE_ID" || fail "no notification while alive"
[ "$(gcall GET "/subscriptions/$sid" "$svc" | cut -d' ' -f1)" = 200 ] || fail "alive subscription not found"

sleep 3.5
[ "$(gcall GET "/subscriptions/$sid" "$svc" | cut -d' ' -f1)" = 404 ] || fail "expired subscription still readable"
r=$(gcall PATCH "/subscriptions/$sid" "$svc" "{\"expirationDateTime\":\"$(in_seconds 600)\"}")
[ "${r%% *}" = 404 ] || fail "expired subscription renewed: $r"
[ "$(ctl GET /subscriptions | jq length)" = 0 ] || fail "expired subscription kept"
lines=$(wc -l <"$T/ok.jsonl")
ctl POST "/users/alice@contoso.com/end/call" >/dev/null
ctl POST "/users/bob@contoso.com/start/groupcall" >/dev/null
sleep 1
[ "$(wc -l <"$T/ok.jsonl")" = "$lines" ] || fail "notification after expiry"

# a new one can be made; the control API expires it on demand
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/n")")
[ "${r%% *}" = 201 ] || fail "re-create: $r"
sid=$(jq -r .id <<<"${r#* }")

# app sessions expire and drop out of the aggregate, with a notification
app=$(app_token)
ctl POST "/users/bob@contoso.com/end/groupcall" >/dev/null
ctl POST "/users/bob@contoso.com/sessions" \
    '{"id":"other-app","availability":"DoNotDisturb","activity":"Presenting","app":true,"expires_in_s":1}' >/dev/null
r=$(gcall GET "/users/$BOB_ID/presence" "$app")
jqe '.availability == "DoNotDisturb"' <<<"${r#* }" >/dev/null || fail "app session: $r"
lines=$(wc -l <"$T/ok.jsonl")
sleep 1.5
r=$(gcall GET "/users/$BOB_ID/presence" "$app")
jqe '.availability == "Away" and .activity == "Away"' <<<"${r#* }" >/dev/null || fail "app session did not expire: $r"
ctl GET "/users/$BOB_ID" | jqe '.sessions | map(.id) == ["teams-desktop"]' >/dev/null || fail "expired session kept"
wait_for 3 bash -c "[ \$(wc -l <'$T/ok.jsonl') -gt $lines ]" || fail "no notification for the expiry"

ctl POST "/subscriptions/$sid/expire" >/dev/null
[ "$(gcall GET "/subscriptions/$sid" "$svc" | cut -d' ' -f1)" = 404 ] || fail "control expire"
r=$(gcall POST "/subscriptions/$sid/reauthorize" "$svc")
[ "${r%% *}" = 404 ] || fail "reauthorize after expiry: $r"
pass
