#!/usr/bin/env bash
# 700 users over two service accounts with basic (unencrypted) notifications:
# two subscriptions, each created with its own account's token and holding at
# most 650 quoted ids; user lookups through $batch (<= 20 a request) survive
# per-item 429s with Retry-After; a basic notification is resolved by reading
# presence; SIGHUP with a changed user list re-plans the subscriptions.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/graph_helpers.sh"

N=700
start_mosquitto "user $(id -un)"
start_fake_graph
sim_account "$TENANT_ID" svc1@contoso.com
sim_account "$TENANT_ID" svc2@contoso.com
mapfile -t UPNS < <(for i in $(seq 1 $N); do printf 'user%03d@contoso.com\n' "$i"; done)
sim_users "$TENANT_ID" "${UPNS[@]}"
USERS=$(printf '%s\n' "${UPNS[@]}" | jq -Rsc 'split("\n") | map(select(length > 0))')
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" "$USERS" '["svc1@contoso.com","svc2@contoso.com"]')]"
# Graph throttles some lookups inside the batches: 25 items get 429 + Retry-After: 1
sim POST /faults '{"method":"GET","path":"/v1.0/users/","status":429,"retry_after":1,"count":25}' >/dev/null
start_daemon "$T/ps.json"

two_subs() { sim_subs | jqe 'length == 2 and all(.pending == false)' >/dev/null; }
wait_for 60 two_subs || fail "not two subscriptions: $(sim_subs | jq -c '[.[] | {users, pending}]')"
SUBS=$(sim_subs)
printf '%s' "$SUBS" | jqe 'map(.users) | add == 700 and all(. <= 650)' >/dev/null ||
    fail "users not split right: $(printf '%s' "$SUBS" | jq -c 'map(.users)')"
printf '%s' "$SUBS" | jqe 'map(.creatorId) | unique | length == 2' >/dev/null || fail "not two creators"
Q="'"
for i in 0 1; do
    RES=$(printf '%s' "$SUBS" | jq -r ".[$i].resource")
    n=$(printf '%s' "$RES" | grep -o "$Q[0-9a-f-]\{36\}$Q" | wc -l)
    [ "$n" -le 650 ] && [ "$n" = "$(printf '%s' "$SUBS" | jq ".[$i].users")" ] || fail "subscription $i has $n quoted ids"
done
# each subscription was created with its own account's delegated token
REQ=$(sim GET /requests)
printf '%s' "$REQ" | jqe '[.[] | select(.method == "POST" and .path == "/v1.0/subscriptions" and .status == 201) | .auth] |
    (map(select(test("^delegated user=svc1@contoso.com"))) | length) == 1 and
    (map(select(test("^delegated user=svc2@contoso.com"))) | length) == 1' >/dev/null ||
    fail "creates not one per account token: $(printf '%s' "$REQ" | jq -c '[.[] | select(.path == "/v1.0/subscriptions") | {method, status, auth}]')"
# lookups: batches of at most 20, the throttled items retried, everybody resolved
printf '%s' "$REQ" | jqe '[.[] | select(.path == "/v1.0/$batch") | .body | fromjson | .requests | length] | all(. <= 20)' >/dev/null ||
    fail "a batch holds more than 20 requests"
printf '%s' "$REQ" | jqe '[.[] | select(.batch_item and .status == 429)] | length == 25' >/dev/null ||
    fail "the 429s were not seen: $(printf '%s' "$REQ" | jq -c '[.[] | select(.batch_item and .status == 429)] | length')"
printf '%s' "$REQ" | jqe '[.[] | select(.batch_item and .status == 200) | .path] | unique | length == 700' >/dev/null ||
    fail "not every user looked up: $(printf '%s' "$REQ" | jq -c '[.[] | select(.batch_item and .status == 200)] | length')"
grep -q 'user lookup throttled' "$T/daemon.log" || fail "throttling not logged"
# the resync read everyone, 650 ids at most a request, with the app token
printf '%s' "$REQ" | jqe '[.[] | select(.path == "/v1.0/communications/getPresencesByUserId") |
    (.body | fromjson | .ids | length) as $n | select($n > 650 or (.auth | test("^app") | not))] | length == 0' >/dev/null ||
    fail "a presence read is too big or not with the app token"
# all 700 retained busy topics arrive (generous timeout for sanitizer builds)
all_published() {
    [ "$(mosquitto_sub -p "$MQTT_PORT" -t 'teams/+/busy' -W 1 --retained-only 2>/dev/null | wc -l)" = 700 ]
}
wait_for 90 all_published || fail "not all 700 busy topics retained"
wait_busy 10 user700@contoso.com false resync
wait_busy 10 user001@contoso.com false resync

# basic notifications: the daemon reads the presence itself
sim POST /users/user650@contoso.com/start/call >/dev/null
sim POST /users/user002@contoso.com/start/groupcall >/dev/null
wait_busy 10 user650@contoso.com true notification
wait_busy 10 user002@contoso.com true notification
[ "$(retained_field "$(busy_topic user002@contoso.com)" .activity)" = InAConferenceCall ] || fail "user002 activity"
check_busy_payload "$(mqtt_retained "$(busy_topic user650@contoso.com)")"
# the payload names the user's Graph object id (the mapper reads by it)
gid=$(sim GET /users | jq -r '.[] | select(.upn == "user650@contoso.com") | .id')
[ -n "$gid" ] && [ "$(retained_field "$(busy_topic user650@contoso.com)" .user_id)" = "$gid" ] ||
    fail "user_id is not fake-graph's id $gid: $(mqtt_retained "$(busy_topic user650@contoso.com)")"
[ "$(metric 'notifications_total{tenant="contoso",outcome="basic"}')" -ge 2 ] || fail "basic notifications not counted"

# SIGHUP: drop 100 users -> 600 users, re-planned as 300 + 300
printf '%s\n' "${UPNS[@]:0:600}" | jq -Rsc 'split("\n") | map(select(length > 0))' >"$T/users600.json"
jq --slurpfile u "$T/users600.json" '.tenants[0].users = $u[0]' "$T/ps.json" >"$T/ps2.json"
mv "$T/ps2.json" "$T/ps.json"
kill -HUP "$PS_PID"
replanned() { sim_subs | jqe 'length == 2 and all(.pending == false) and (map(.users) | sort == [300, 300])' >/dev/null; }
wait_for 30 replanned || fail "not re-planned: $(sim_subs | jq -c 'map(.users)')"
wait_for 5 sh -c "[ -z \"\$(mosquitto_sub -p $MQTT_PORT -t '$(busy_topic user650@contoso.com)' -C 1 -W 1 --retained-only 2>/dev/null)\" ]" ||
    fail "a removed user's busy topic is still retained"
wait_busy 5 user002@contoso.com true
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
