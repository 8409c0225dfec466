#!/usr/bin/env bash
# Fault suite, Graph side (docs/security.md), end to end (mosquitto +
# fake-graph + fake-voice + daemon), with the test knobs PS_GRAPH_RESYNC_MS
# (resync every 3 s) and PS_GRAPH_RENEW_MS (renew every 2 s):
# 1. 429 + Retry-After in bursts on getPresencesByUserId (the resync read)
#    and on the subscription renewal (PATCH), while the subscription is
#    silenced (1d): the Teams call that nobody notified still arrives through
#    the resync; fake-graph's request log shows that no request to a faulted
#    endpoint went out before Retry-After had elapsed;
# 2. 5xx on getPresencesByUserId, on renewals and on the subscription
#    re-create after the subscription vanished (one 500): converges (new subscription,
#    the change made meanwhile published);
# 3. the service account's sign-in revoked (refresh tokens revoked, password
#    refused: AADSTS50126) while running: B/health shows the failure with the
#    code, /readyz 503; restored: recovers without a restart.
# Every step ends with the retained topics, Teams and Voice right within
# BOUND_S (docs/security.md, "Fault suite").
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

BOUND_S=25
RA=2 # Retry-After seconds of the injected 429s

ms_setup alice@contoso.com bob@contoso.com
export PS_GRAPH_RENEW_MS=2000 PS_GRAPH_RESYNC_MS=3000
ms_start
unset PS_GRAPH_RENEW_MS PS_GRAPH_RESYNC_MS
SUB=$(sim_subs | jq -r '.[0].id')

# spacing PATH_PREFIX: fails when a request to PATH_PREFIX followed a 429 on
# it sooner than Retry-After; prints how many 429s were checked.
spacing() {
    sim GET /requests | jq -r --arg p "$1" --argjson ra $((RA * 1000)) '
        [.[] | select(.path | startswith($p))] | sort_by(.seq) as $r |
        [range(0; ($r | length) - 1) | select($r[.].status == 429) |
         {gap: ($r[. + 1].t_ms - $r[.].t_ms), seq: $r[.].seq}] as $g |
        if ($g | map(select(.gap < $ra)) | length) > 0
        then "EARLY " + ($g | map(select(.gap < $ra)) | tostring)
        else "ok \($g | length) min_gap_ms=\($g | map(.gap) | min // 0)" end'
}

# --- 1. 429 bursts while the subscription delivers nothing -------------------
sim POST "/subscriptions/$SUB/silence" '{"silent":true}' >/dev/null
sim POST /faults "$(jq -nc --argjson ra $RA '{method:"POST",
    path:"/v1.0/communications/getPresencesByUserId", status:429, retry_after:$ra, count:3}')" >/dev/null
sim POST /faults "$(jq -nc --argjson ra $RA '{method:"PATCH", path:"/v1.0/subscriptions/",
    status:429, retry_after:$ra, count:3}')" >/dev/null
T0=$(date +%s%N)
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy $BOUND_S alice@contoso.com true resync
wait_v_talking $BOUND_S alice@contoso.com true
log "silenced subscription + 429 bursts: alice busy after $((($(date +%s%N) - T0) / 1000000)) ms"
# all the 429s were served, and then the requests succeeded
faults_used() { [ "$(sim GET /faults | jq length)" = 0 ]; }
wait_for 20 faults_used || fail "faults not all used: $(sim GET /faults)"
wait_for 10 bash -c "curl -s '$FG/_sim/requests' | jqe '[.[] | select(.method == \"PATCH\")] | last | .status == 200'" ||
    fail "renewal did not succeed after the 429s"
for p in /v1.0/communications/getPresencesByUserId /v1.0/subscriptions/; do
    r=$(spacing "$p")
    case $r in ok\ 0\ *) fail "no 429 seen on $p" ;; ok*) log "Retry-After on $p: $r" ;; *) fail "$p: $r" ;; esac
done
sim POST "/subscriptions/$SUB/silence" '{"silent":false}' >/dev/null

# --- 2. 5xx on reads, renewals and the re-create of a vanished subscription --
sim POST /faults '{"method":"POST","path":"/v1.0/communications/getPresencesByUserId","status":503,"count":3}' >/dev/null
sim POST /faults '{"method":"PATCH","path":"/v1.0/subscriptions/","status":500,"count":2}' >/dev/null
sleep 3 # (let the renewal hit its 500s before the subscription goes)
sim POST /faults '{"method":"POST","path":"/v1.0/subscriptions","status":500,"count":1}' >/dev/null
sim POST "/subscriptions/$SUB/expire" '' >/dev/null
sim POST /users/bob@contoso.com/start/call >/dev/null   # while nobody is subscribed
sim POST /users/alice@contoso.com/end/call >/dev/null
new_sub() { sim_subs | jqe --arg s "$SUB" 'length == 1 and .[0].pending == false and .[0].id != $s' >/dev/null; }
# (the subscription backoff is shared by renewals and creates: after three
# failures in a row the next try can be 4-8 s away)
wait_for 35 new_sub || fail "subscription not re-created: $(sim_subs)"
wait_busy $BOUND_S bob@contoso.com true
wait_busy $BOUND_S alice@contoso.com false
wait_v_talking $BOUND_S bob@contoso.com true
wait_v_talking $BOUND_S alice@contoso.com false
wait_for 20 faults_used || fail "5xx faults not all used: $(sim GET /faults)"
sim GET /requests | jqe '[.[] | select(.method == "POST" and .path == "/v1.0/subscriptions") | .status] |
    index(500) != null and .[-1] == 201' >/dev/null ||
    fail "re-create not retried after 500: $(sim GET /requests | jq -c '[.[] | select(.path == "/v1.0/subscriptions") | .status]')"
pass "5xx"

# --- 3. the service account's sign-in revoked, then restored -----------------
health() { mqtt_retained "$BRIDGE/health"; }
sim POST /users/svc1@contoso.com/block '{"code": 50126}' >/dev/null
sim POST /users/svc1@contoso.com/revoke '' >/dev/null
sim POST /tokens/expire '' >/dev/null
broken() { health | jqe '.tenants.contoso.graph.auth.accounts[0] | .state == "error" and .aadsts == 50126' >/dev/null; }
wait_for $BOUND_S broken || fail "revoked sign-in not in B/health: $(health | jq -c .tenants.contoso.graph.auth)"
code=$(curl -s -o "$T/ready.json" -w '%{http_code}' "$WEB/readyz")
[ "$code" = 503 ] || fail "/readyz $code while the sign-in fails"
# the live subscription still delivers meanwhile: a call ending is seen
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_busy $BOUND_S bob@contoso.com false
wait_v_talking $BOUND_S bob@contoso.com false
# restored by the admin: no restart
sim POST /users/svc1@contoso.com/block '{"code": 0}' >/dev/null
T0=$(date +%s%N)
ok_now() { health | jqe '.tenants.contoso.graph.auth.state == "ok" and .tenants.contoso.graph.ready == true' >/dev/null; }
wait_for 40 ok_now || fail "B/health not ok after the account was restored: $(health | jq -c .tenants.contoso.graph)"
log "sign-in restored: B/health ok after $((($(date +%s%N) - T0) / 1000000)) ms"
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $WEB/readyz)\" = 200 ]" || fail "/readyz not 200 after recovery"
# and it syncs
C=$(call_start '{"email":"alice@contoso.com"}')
wait_g_session $BOUND_S alice@contoso.com Busy/InACall
call_end "$C"
wait_g_session $BOUND_S alice@contoso.com ""
for u in alice bob; do
    wait_for $BOUND_S sync_quiet $u@contoso.com || fail "$u not quiet: $(sync_of $u@contoso.com)"
done
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $?"
pass
