#!/usr/bin/env bash
# A Voice call that lasts across a daemon restart (docs/guarantees.md "No lost
# transitions", docs/voice.md "Daemon restarts"): RTE has no "current calls"
# query, so the restarted Voice side carries the calls over from its own
# retained voice/<id>/talking topics.
# - alice's call lasts across a SIGKILL + restart: her topic never goes
#   false while the call lasts, and goes false on the Disconnected with the
#   old callId (which the new process never saw Connected);
# - bob's call ends while the daemon is dead (the Disconnected is missed):
#   he stays talking until max_call_minutes (1 here) after the call began,
#   then the call is dropped with a log line and his topic goes false.
# Takes about 80 s.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_user bob@contoso.com >/dev/null
fv_user carol@contoso.com >/dev/null
VS_VOICE_MORE=', "max_call_minutes": 1'
vs_config '["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]'
sub_start talk 'voice/+/talking'
vs_start_daemon
wait_link 15
wait_talking 5 carol@contoso.com false 0
CA=$(call_start '{"email":"alice@contoso.com"}')
CB=$(call_start '{"email":"bob@contoso.com"}')
STARTED=$(date +%s)
wait_talking 5 alice@contoso.com true 1
wait_talking 5 bob@contoso.com true 1
A_SINCE=$(mqtt_retained "$(talking_topic alice@contoso.com)" | jq -r .since)
B_SINCE=$(mqtt_retained "$(talking_topic bob@contoso.com)" | jq -r .since)

kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
call_end "$CB" # missed: nobody listens
sleep 0.5
MARK=$(wc -l <"$T/talk.sub")
vs_start_daemon
wait_line 10 "$T/daemon.log" \
    'call state carried over from the previous run tenant=contoso user=alice@contoso.com calls=1' ||
    fail "alice's call not carried over"
wait_line 10 "$T/daemon.log" 'user=bob@contoso.com calls=1' || fail "bob's call not carried over"
wait_link 15
wait_line 10 "$T/daemon.log" 'seed window closed tenant=contoso' || fail "seed window not closed"
sleep 2 # let any (wrong) announce arrive

# alice: never false since the restart; since kept from the first run
ATOP=$(talking_topic alice@contoso.com)
tail -n +"$((MARK + 1))" "$T/talk.sub" | awk -v t="$ATOP" '$2 == t' >"$T/alice.after"
if jq -R 'fromjson? // empty | select(.talking != true)' <(cut -d' ' -f3- "$T/alice.after") |
    has .; then
    fail "alice went not-talking while her call lasted: $(cat "$T/alice.after")"
fi
talking_is alice@contoso.com true 1 || fail "alice: $(mqtt_retained "$ATOP")"
[ "$(mqtt_retained "$ATOP" | jq -r .since)" = "$A_SINCE" ] || fail "alice's since not kept"
talking_is bob@contoso.com true 1 || fail "bob not carried over"
[ "$(mqtt_retained "$(talking_topic bob@contoso.com)" | jq -r .since)" = "$B_SINCE" ] ||
    fail "bob's since not kept"
talking_is carol@contoso.com false 0 || fail "carol"

# a new call works as usual after the restart
CC=$(call_start '{"email":"carol@contoso.com"}')
wait_talking 5 carol@contoso.com true 1
call_end "$CC"
wait_talking 5 carol@contoso.com false 0

# alice's call ends: the Disconnected carries the old callId
call_end "$CA"
wait_talking 5 alice@contoso.com false 0
grep -q "user=alice@contoso.com event=.*call=$CA .*calls=0 (ends a carried-over call)" \
    "$T/daemon.log" || fail "no log of the carried-over call's end"
# bob is still (wrongly, but bounded) talking; not dropped early
talking_is bob@contoso.com true 1 || fail "bob cleared before max_call_minutes"

# bob's missed end: dropped max_call_minutes after the call began (the
# expiry check runs every 15 s for a 1-minute limit)
left=$((STARTED + 60 + 20 - $(date +%s)))
wait_line "$left" "$T/daemon.log" \
    'call dropped after max_call_minutes tenant=contoso user=bob@contoso.com call=\(carried-over\)' ||
    fail "bob's carried-over call not dropped"
[ $(($(date +%s) - STARTED)) -ge 59 ] || fail "dropped before max_call_minutes"
wait_talking 2 bob@contoso.com false 0
mqtt_retained "$(talking_topic bob@contoso.com)" | jqe '.source == "resync"' >/dev/null ||
    fail "source not resync"
# the restarted process never re-seeded from its own publishes
[ "$(grep -c 'call state carried over' "$T/daemon.log")" = 2 ] || fail "seeded more than twice"
validate_talking "$T/talk.sub"
pass test_voice_restart
