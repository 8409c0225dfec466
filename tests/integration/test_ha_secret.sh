#!/usr/bin/env bash
# A rotated client secret (docs/ha.md "Client secret rotation"): the active
# instance publishes, retained on B/subscriptions/<tenant>, a fingerprint of
# the clientState of each subscription it holds. Restarted with the same
# secret, it adopts its subscription (nothing created or deleted); restarted
# with a rotated secret, whose derived clientState no longer matches, it
# deletes and recreates it, logs why, and notifications flow again. A broker
# restarted without persistence gets the fingerprints again (the end of the
# fence publishes them).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/ha_helpers.sh"

ha_setup 1 alice@contoso.com bob@contoso.com
creates() { g_count '.method == "POST" and .path == "/v1.0/subscriptions" and .status == 201'; }
deletes() { g_count ".method == \"DELETE\" and .path == \"/v1.0/subscriptions/$1\""; }
live_sub() { sim_subs | jq -r 'map(select(.pending == false)) | if length == 1 then .[0].id else empty end'; }
this_run() { tail -n +"$L0" "$T/a.log"; }
this_run_has() { this_run | has -E "$1"; }
# run_a: instance a, started again; L0 is where this run's log begins
run_a() {
    L0=$(($(wc -l <"$T/a.log" 2>/dev/null || echo 0) + 1))
    ha_start a
    wait_for 30 this_run_has 'role tenant=contoso role=active' ||
        fail "a is not active: $(tail -n +"$L0" "$T/a.log" | grep 'role tenant=' | tail -n 1)"
}
stop_a() {
    kill -TERM "${PID[a]}"
    local rc=0
    wait "${PID[a]}" || rc=$?
    [ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
}
fingerprint() { printf '%s' "$1" | sha256sum | cut -c1-16; }

run_a
has_sub() { [ -n "$(live_sub)" ]; }
wait_for 20 has_sub || fail "no Graph subscription: $(sim_subs)"
SUB=$(live_sub)
STATE=$(sim_subs | jq -r '.[0].clientState // empty')
FP=$(mqtt_retained "$BRIDGE/subscriptions/contoso" | jq -r --arg s "$SUB" '.subscriptions[$s] // empty')
[ -n "$FP" ] || fail "no fingerprint retained: $(mqtt_retained "$BRIDGE/subscriptions/contoso")"
if [ -n "$STATE" ]; then
    [ "$FP" = "$(fingerprint "$STATE")" ] || fail "fingerprint $FP is not SHA-256's first 16 hex digits of the clientState"
    mqtt_retained "$BRIDGE/subscriptions/contoso" | has -F "$STATE" && fail "the clientState itself was published"
fi
stop_a

log "restart with the same secret: adopted"
run_a
wait_for 15 this_run_has "subscription adopted tenant=contoso .*id=$SUB" ||
    fail "not adopted: $(this_run | grep -E 'subscription|adopt' | sed -n 1,5p)"
[ "$(creates)" = 1 ] || fail "subscriptions created: $(creates), expected 1"
[ "$(deletes "$SUB")" = 0 ] || fail "the subscription was deleted"
stop_a

log "restart with a rotated client secret: replaced"
NEW_SECRET='r0tated+secret/2'
sim POST /apps "$(jq -nc --arg c "$CLIENT_ID" --arg s "$NEW_SECRET" '{client_id: $c, client_secret: $s}')" >/dev/null
printf '%s\n' "$NEW_SECRET" >"$T/client_secret"
run_a
replaced() { local s; s=$(live_sub); [ -n "$s" ] && [ "$s" != "$SUB" ]; }
wait_for 20 replaced || fail "the subscription was not replaced: $(sim_subs | jq -c 'map({id, pending})')"
[ "$(creates)" = 2 ] || fail "subscriptions created: $(creates), expected 2"
[ "$(deletes "$SUB")" = 1 ] || fail "the old subscription deleted $(deletes "$SUB") times"
this_run | has "subscription not adopted, replacing it tenant=contoso id=$SUB reason=\"its clientState differs" ||
    fail "the replacement was not logged"
this_run | has 'subscription adopted' && fail "the old subscription was adopted"
NEW=$(live_sub)
fp_published() { mqtt_retained "$BRIDGE/subscriptions/contoso" | jqe --arg s "$NEW" '.subscriptions[$s] != null' >/dev/null; }
wait_for 10 fp_published ||
    fail "the new fingerprint was not published: $(mqtt_retained "$BRIDGE/subscriptions/contoso")"

log "notifications flow on the new subscription"
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true notification
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false notification
this_run | has 'wrong clientState' && fail "notifications were refused: $(this_run | grep 'wrong clientState' | sed -n 1,3p)"

log "the broker restarts without its retained topics: the fingerprints come back"
stop_mosquitto
rm -rf "$T/mosq"
start_mosquitto
wait_for 30 fp_published || fail "the fingerprint was not published again: '$(mqtt_retained "$BRIDGE/subscriptions/contoso")'"
this_run | has 'role tenant=contoso role=fenced' || fail "the broker's loss did not fence a"
assert_absent "$NEW_SECRET" "$T"/a.log
stop_a
! grep -Eq 'Sanitizer|runtime error' "$T"/a.log || fail "sanitizer report in the daemon log"
pass
