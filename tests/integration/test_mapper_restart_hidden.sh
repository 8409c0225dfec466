#!/usr/bin/env bash
# A session of ours hidden by a user-preferred state survives a restart no
# more (docs/mapper.md "Start-up"). alice and carol are in Voice calls (our
# Busy/InACall sessions); the daemon is killed; both calls end while it is
# down; alice sets Away by hand, carol Available: Graph shows the preferred
# state above every session, so a start-up read sees no session of ours. The
# restarted mapper reads back its retained B/sync/<id> records, which say
# both may hold one, and clears exactly those two: bob (no session, DND by
# hand) gets no clearPresence. Their preferred states stay as they are.
# dave's Voice call lasts across the SIGKILL: the restarted Voice side carries
# it over from the retained voice/<id>/talking (docs/voice.md "Daemon
# restarts"), his session stays, and goes when the call ends. (The same
# rules in process, minute-long cases included: component_mapper_restart,
# component_voice_calls.) Last, SIGTERM while a Graph write hangs: exit 0
# within 5 s.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com dave@contoso.com
ms_start
CA=$(call_start '{"email":"alice@contoso.com"}')
CC=$(call_start '{"email":"carol@contoso.com"}')
CD=$(call_start '{"email":"dave@contoso.com"}')
wait_g_session 10 alice@contoso.com Busy/InACall
wait_g_session 10 carol@contoso.com Busy/InACall
wait_g_session 10 dave@contoso.com Busy/InACall
session_recorded() { sync_of "$1" | jqe '.written.teams.session == "busy"' >/dev/null; }
wait_for 10 session_recorded alice@contoso.com || fail "alice's record: $(sync_of alice@contoso.com)"
wait_for 10 session_recorded carol@contoso.com || fail "carol's record: $(sync_of carol@contoso.com)"

kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
call_end "$CA"
call_end "$CC"
# the calls' ends are lost with the daemon; their retained talking topics go
# too, so the Voice side carries nothing over and both are simply not talking
for u in alice carol; do
    mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -r -n -t "voice/$(topic_id $u@contoso.com)/talking"
done
sim POST /users/alice@contoso.com/preferred '{"availability":"Away","activity":"Away"}' >/dev/null
sim POST /users/carol@contoso.com/preferred '{"availability":"Available","activity":"Available"}' >/dev/null
sim POST /users/bob@contoso.com/preferred '{"availability":"DoNotDisturb","activity":"DoNotDisturb"}' >/dev/null
g_shown_is alice@contoso.com Away/Away || fail "alice shows $(g_shown alice@contoso.com)"
g_shown_is carol@contoso.com Available/Available || fail "carol shows $(g_shown carol@contoso.com)"
g_session_is alice@contoso.com Busy/InACall || fail "alice's session vanished by itself"
g_session_is carol@contoso.com Busy/InACall || fail "carol's session vanished by itself"

S0=$(sim GET /requests | jq '[.[].seq] | max // 0')
ms_start
wait_g_session 10 alice@contoso.com ""
wait_g_session 10 carol@contoso.com ""
grep -q 'previous run.s records read records=4' "$T/daemon.log" || fail "records not read back"
wait_line 10 "$T/daemon.log" \
    'call state carried over from the previous run tenant=contoso user=dave@contoso.com calls=1' ||
    fail "dave's call not carried over"
stays 3 g_session_is dave@contoso.com Busy/InACall || fail "dave's session dropped during his call"
call_end "$CD"
wait_g_session 10 dave@contoso.com ""
BOB=$(g_id bob@contoso.com)
sim GET "/requests?since=$S0" | jqe --arg b "$BOB" \
    'all(.[]; .path != "/v1.0/users/\($b)/presence/clearPresence")' >/dev/null ||
    fail "bob was cleared blindly"
g_shown_is alice@contoso.com Away/Away || fail "alice's Away changed: $(g_shown alice@contoso.com)"
g_shown_is carol@contoso.com Available/Available || fail "carol shows $(g_shown carol@contoso.com)"
g_shown_is bob@contoso.com DoNotDisturb/DoNotDisturb || fail "bob shows $(g_shown bob@contoso.com)"
for u in alice bob carol dave; do
    wait_for 15 sync_quiet $u@contoso.com || fail "$u not quiet: $(sync_of $u@contoso.com)"
    v_talking_is $u@contoso.com false || fail "$u talking"
done
# resetting the preferred state shows no leftover InACall (nothing to mirror)
sim DELETE /users/alice@contoso.com/preferred >/dev/null
stays 2 v_talking_is alice@contoso.com false || fail "a stale InACall reached Voice"

# SIGTERM while a Graph write hangs (the signal needs the real process): a
# clean, prompt stop
ALICE=$(g_id alice@contoso.com)
sim POST /faults "{\"method\":\"POST\",\"path\":\"/v1.0/users/$ALICE/presence/setPresence\",\"delay_ms\":10000,\"count\":1}" >/dev/null
CA=$(call_start '{"email":"alice@contoso.com"}')
wait_for 5 bash -c "mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/alice@contoso.com' -C 1 -W 2 |
    jqe '.pending[0].in_flight == true'" || fail "no write in flight: $(sync_of alice@contoso.com)"
T0=$(date +%s%N)
kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM with a write in flight"
[ $((($(date +%s%N) - T0) / 1000000)) -lt 5000 ] || fail "stop took more than 5 s"
! grep -Eq 'Sanitizer|runtime error' "$T/daemon.log" || fail "sanitizer report in the daemon log"
call_end "$CA"
pass
