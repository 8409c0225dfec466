#!/usr/bin/env bash
# Fault suite, Graph side timeouts (docs/security.md): fake-graph holds the
# answer to getPresencesByUserId (the resync read) and to the subscription
# renewal (PATCH) for 60 s, far beyond the Graph client's 30 s timeout, while the
# subscription is silenced so that only the resync can bring a Teams call.
# The daemon gives up on the hung requests, retries, and converges: busy
# published (source resync) and mirrored into Voice within BOUND_S of the
# call's start; the subscription is renewed. (Timeouts on setPresence and
# clearPresence: it_mapper_faults.)
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

BOUND_S=50 # 30 s client timeout + resync period (3 s) + retry

ms_setup alice@contoso.com
export PS_GRAPH_RENEW_MS=2000 PS_GRAPH_RESYNC_MS=3000
ms_start
unset PS_GRAPH_RENEW_MS PS_GRAPH_RESYNC_MS
SUB=$(sim_subs | jq -r '.[0].id')
sim POST "/subscriptions/$SUB/silence" '{"silent":true}' >/dev/null
sim DELETE /requests >/dev/null
sim POST /faults '{"method":"POST","path":"/v1.0/communications/getPresencesByUserId","delay_ms":60000,"count":1}' >/dev/null
sim POST /faults '{"method":"PATCH","path":"/v1.0/subscriptions/","delay_ms":60000,"count":1}' >/dev/null
T0=$(date +%s%N)
sim POST /users/alice@contoso.com/start/call >/dev/null
# the hung read was taken (so the convergence below needed a retry)
wait_for 10 bash -c "curl -s '$FG/_sim/faults' | jqe 'map(select(.path | test(\"getPresences\"))) | length == 0'" ||
    fail "the delayed read was never sent: $(sim GET /faults)"
wait_busy $BOUND_S alice@contoso.com true resync
wait_v_talking 10 alice@contoso.com true
EL=$((($(date +%s%N) - T0) / 1000000))
log "converged ${EL} ms after the call started (bound ${BOUND_S} s)"
# the first read would be answered only after 60 s, so the busy state came from a retry
[ "$EL" -ge 25000 ] || fail "converged after ${EL} ms: before the timeout (the fault was not hit?)"
grep -q 'presence read failed tenant=contoso status=0 .*retry=yes' "$T/daemon.log" ||
    fail "the read timeout was not logged"
grep -q 'subscription request failed .*renew: 0' "$T/daemon.log" || fail "the renewal timeout was not logged"
renewed() {
    sim GET /requests | jqe --arg s "/v1.0/subscriptions/$SUB" \
        '[.[] | select(.method == "PATCH" and .path == $s and .status == 200 and .ms < 5000)] | length >= 1' >/dev/null
}
wait_for 20 renewed || fail "subscription not renewed after the hung PATCH"
sim POST "/subscriptions/$SUB/silence" '{"silent":false}' >/dev/null
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false
wait_v_talking 10 alice@contoso.com false
wait_for 10 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"
pass
