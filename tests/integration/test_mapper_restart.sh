#!/usr/bin/env bash
# SIGKILL mid-call and restart (docs/guarantees.md):
# - carol's Voice call lasts across the restart: the restarted Voice side
#   carries it over from the retained voice/<id>/talking, so her Teams
#   session stays until the call's Disconnected arrives;
# - bob's Teams meeting ends while the daemon is dead: the start-up reconcile
#   clears the Voice flag the dead run left;
# - alice's Voice call ends while the daemon is dead: its Disconnected is
#   lost for good, so the carried-over call is dropped after
#   max_call_minutes (1 here) and her session is cleared (docs/voice.md);
# - the restarted mapper works normally.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

MS_MAX_CALL_MIN=1
ms_setup alice@contoso.com bob@contoso.com carol@contoso.com
ms_start

CA=$(call_start '{"email":"alice@contoso.com"}')
CC=$(call_start '{"email":"carol@contoso.com"}')
sim POST /users/bob@contoso.com/start/meeting >/dev/null
wait_g_session 10 alice@contoso.com Busy/InACall
wait_g_session 10 carol@contoso.com Busy/InACall
wait_v_talking 10 bob@contoso.com true

kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
call_end "$CA"
sim POST /users/bob@contoso.com/end/meeting >/dev/null
sleep 0.5
# what the dead run left behind
g_session_is alice@contoso.com Busy/InACall || fail "alice's session vanished by itself"
v_talking_is bob@contoso.com true || fail "bob's flag vanished by itself"

S0=$(sim GET /requests | jq '[.[].seq] | max // 0')
ms_start
wait_v_talking 15 bob@contoso.com false
# the Graph side's start-up resync reads all three in one request; the
# mapper's records of the previous run say bob held no session of ours: he
# gets no clearPresence (a blind clear per user would spend Graph's budget)
wait_for 10 bash -c "curl -s '$FG/_sim/requests?since=$S0' | jqe 'any(.[]; .path == \"/v1.0/communications/getPresencesByUserId\" and (.body | fromjson | .ids | length) == 3)'" >/dev/null ||
    fail "no start-up read of the three users: $(sim GET "/requests?since=$S0" | jq -c '[.[] | .path]')"
BOB=$(g_id bob@contoso.com)
sim GET "/requests?since=$S0" | jqe --arg b "$BOB" 'all(.[]; .path != "/v1.0/users/\($b)/presence/clearPresence")' >/dev/null ||
    fail "bob was cleared blindly at start"
stays 3 g_session_is carol@contoso.com Busy/InACall || fail "carol's session dropped during her call"
call_end "$CC"
wait_g_session 10 carol@contoso.com ""
# the restarted mapper works: a new call, its session, its end
CC=$(call_start '{"email":"carol@contoso.com"}')
wait_g_session 10 carol@contoso.com Busy/InACall
call_end "$CC"
wait_g_session 10 carol@contoso.com ""
# alice's call ended unseen: dropped one minute after it began
wait_g_session 90 alice@contoso.com ""
grep -q 'call=(carried-over)' "$T/daemon.log" || fail "no log line for alice's dropped call"
for u in alice bob carol; do
    wait_for 15 sync_quiet $u@contoso.com || fail "$u not quiet: $(sync_of $u@contoso.com)"
    v_talking_is $u@contoso.com false || fail "$u talking"
    g_session_is $u@contoso.com "" || fail "$u session"
done
pass
