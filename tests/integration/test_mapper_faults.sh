#!/usr/bin/env bash
# The mapper under write faults: Graph 429 with Retry-After (honoured), 500s,
# 503s, timeouts where Graph applied the write after
# we gave up (set and clear), and Voice writes failing with 500 - every case
# converges: sessions set while the call lasts, gone after it, Voice flags
# right, nothing pending, the last error shown in B/sync.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

export PS_GRAPH_HTTP_TIMEOUT_MS=1500
ms_setup alice@contoso.com bob@contoso.com carol@contoso.com dave@contoso.com erin@contoso.com
ms_start
seq_now() { sim GET /requests | jq '[.[].seq] | max // 0'; }
fault() { sim POST /faults "$1" | jqe . >/dev/null || fail "fault not accepted: $1"; }
P=/v1.0/users
# presence routes take the object id
ALICE=$(g_id alice@contoso.com) BOB=$(g_id bob@contoso.com)

# --- 429 + Retry-After on setPresence: retried no sooner than asked
S0=$(seq_now)
fault "{\"method\":\"POST\",\"path\":\"$P/$ALICE/presence/setPresence\",\"status\":429,\"retry_after\":2,\"count\":2}"
C=$(call_start '{"email":"alice@contoso.com"}')
wait_g_session 20 alice@contoso.com Busy/InACall
sim GET "/requests?since=$S0" | jqe --arg id "$ALICE" '[.[] | select(.path | endswith("\($id)/presence/setPresence"))] |
    length == 3 and .[0].status == 429 and .[1].status == 429 and .[2].status == 200 and
    (.[1].t_ms - .[0].t_ms) >= 1900 and (.[2].t_ms - .[1].t_ms) >= 1900' >/dev/null ||
    fail "429 retries: $(sim GET "/requests?since=$S0" | jq -c '[.[] | select(.path | endswith("setPresence")) | {t_ms, status}]')"
sync_of alice@contoso.com | jqe '.last_error.error | test("graph_set_busy: HTTP 429")' >/dev/null ||
    fail "B/sync last_error: $(sync_of alice@contoso.com)"
# --- 500 on clearPresence twice: still cleared
fault "{\"method\":\"POST\",\"path\":\"$P/$ALICE/presence/clearPresence\",\"status\":500,\"count\":2}"
call_end "$C"
wait_g_session 20 alice@contoso.com ""
wait_for 20 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"

# --- a timeout after Graph applied the set: the session exists, we retry
fault "{\"method\":\"POST\",\"path\":\"$P/$BOB/presence/setPresence\",\"delay_ms\":3000,\"count\":1}"
C=$(call_start '{"email":"bob@contoso.com"}')
wait_g_session 20 bob@contoso.com Busy/InACall
wait_for 20 bash -c "mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/bob@contoso.com' -C 1 -W 2 |
    jqe '.written.teams.session == \"busy\" and (.pending | length == 0)'" ||
    fail "bob after a timed-out set: $(sync_of bob@contoso.com)"
# ... and a timeout after Graph applied the clear: gone, and stays gone
fault "{\"method\":\"POST\",\"path\":\"$P/$BOB/presence/clearPresence\",\"delay_ms\":3000,\"count\":1}"
call_end "$C"
wait_g_session 20 bob@contoso.com ""
wait_for 20 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"
stays 2 g_session_is bob@contoso.com "" || fail "bob's session came back"
wait_g_shown 10 bob@contoso.com Available/Available

# --- the first Graph POST of a burst answered 503 + Retry-After: retried
# (a whole $batch failing is in test_mapper_scale.sh)
# (the fault hits the first Graph POST, a $batch when the three are sent together)
fault '{"method":"POST","path":"/v1.0/","status":503,"retry_after":1,"count":1}'
S0=$(seq_now)
# three calls start at once: the mapper sends one $batch
BG=()
for u in carol dave erin; do
    (call_start "{\"email\":\"$u@contoso.com\"}" >"$T/call.$u") &
    BG+=($!)
done
wait "${BG[@]}"
for u in carol dave erin; do wait_g_session 20 $u@contoso.com Busy/InACall; done
B=$(sim GET "/requests?since=$S0" | jq -c '[.[] | select(.method == "POST" and (.batch_item | not)) |
    {path, status}]')
printf '%s' "$B" | jqe '.[0].status == 503' >/dev/null || fail "first POST not the 503: $B"
log "Graph POSTs: $B"
[ "$(sim GET /faults | jq length)" = 0 ] || fail "a fault was not hit: $(sim GET /faults)"
for u in carol dave erin; do call_end "$(cat "$T/call.$u")"; done
for u in carol dave erin; do wait_g_session 20 $u@contoso.com ""; done
for u in carol dave erin; do wait_for 20 sync_quiet $u@contoso.com || fail "$u: $(sync_of $u@contoso.com)"; done

# --- Voice write failures (500 twice): the flag still follows
fv_ctl POST faults '{"method":"PUT","path":"/api/users/","status":500,"count":2}' >/dev/null
sim POST /users/dave@contoso.com/start/meeting >/dev/null
wait_v_talking 20 dave@contoso.com true
fv_ctl GET requests | jqe '[.[] | select(.method == "PUT" and .status == 500)] | length == 2' >/dev/null ||
    fail "voice faults not hit: $(fv_ctl GET requests | jq -c '[.[] | select(.method == "PUT") | {path, status}]')"
sim POST /users/dave@contoso.com/end/meeting >/dev/null
wait_v_talking 20 dave@contoso.com false

# --- everything quiet, nothing left anywhere
for u in alice bob carol dave erin; do
    wait_for 20 sync_quiet $u@contoso.com || fail "$u not quiet: $(sync_of $u@contoso.com)"
    g_session_is $u@contoso.com "" || fail "$u: session left"
    v_talking_is $u@contoso.com false || fail "$u: talking left"
done

# --- SIGTERM while a Graph write hangs: a clean, prompt stop
fault "{\"method\":\"POST\",\"path\":\"$P/$ALICE/presence/setPresence\",\"delay_ms\":10000,\"count\":1}"
C=$(call_start '{"email":"alice@contoso.com"}')
wait_for 5 bash -c "mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/alice@contoso.com' -C 1 -W 2 |
    jqe '.pending[0].in_flight == true'" || fail "no write in flight: $(sync_of alice@contoso.com)"
T0=$(date +%s%N)
kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM with a write in flight"
[ $((($(date +%s%N) - T0) / 1000000)) -lt 5000 ] || fail "stop took more than 5 s"
! grep -Eq 'Sanitizer|runtime error' "$T/daemon.log" || fail "sanitizer report in the daemon log"
call_end "$C"
pass
