#!/usr/bin/env bash
# No guessed write endpoint (docs/voice.md "Writing 'talking'"): without
# voice.talking_request the Teams -> Voice writer is off. check-config warns;
# B/health says "talking writer not configured" and /readyz carries it as the
# reason of a ready (200) tenant, so a deliberately one-way deployment can be
# ready; teams/<id>/busy is still published; the mapper queues no Voice
# write (fake-voice receives none) and B/sync has nothing pending; Voice ->
# Teams still works.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com
MS_TALKING_REQUEST=null
ms_config
jqe '.tenants[0].voice | has("talking_request") | not' "$T/ps.json" >/dev/null ||
    fail "config has a talking_request"
"$PS_BIN" check-config -c "$T/ps.json" >"$T/check.out" 2>&1 || fail "check-config: $(cat "$T/check.out")"
grep -q '^  talking:  off$' "$T/check.out" || fail "summary: $(cat "$T/check.out")"
grep -q 'warning:  voice.talking_request not configured: the Teams -> Voice writer is off' \
    "$T/check.out" || fail "no warning: $(cat "$T/check.out")"
ms_start
grep -q 'talking writer not configured tenant=contoso' "$T/daemon.log" || fail "not logged"
health_has '.writer.configured == false and .writer.note == "talking writer not configured" and
    .writer.mode == "off"' || fail "B/health: $(health_voice)"
readyz=$(curl -s --max-time 5 "$WEB/readyz")
[ "$(http_status "$WEB/readyz")" = 200 ] || fail "readyz not 200: $readyz"
echo "$readyz" | jqe '.components["voice/contoso"] | .ready == true and
    .reason == "talking writer not configured"' >/dev/null || fail "readyz: $readyz"

# a Teams call: busy is published, Voice is not written
fv_ctl DELETE requests >/dev/null
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true
stays 3 v_talking_is alice@contoso.com false || fail "Voice written without a talking_request"
[ "$(fv_ctl GET requests | jq '[.[] | select(.method != "GET")] | length')" = 0 ] ||
    fail "writes reached fake-voice: $(fv_ctl GET requests | jq -c '[.[] | .method + " " + .path]')"
sync_of alice@contoso.com | jqe '.inputs.teams.real_call == true and (.pending | length == 0)' \
    >/dev/null || fail "B/sync: $(sync_of alice@contoso.com)"
[ "$(metric 'mapper_voice_writes_total{outcome="ok"}')" = 0 ] || fail "mapper wrote to Voice"
[ "$(metric 'mapper_voice_writes_total{outcome="error"}')" = 0 ] || fail "mapper tried Voice"
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_busy 10 alice@contoso.com false

# the other direction is untouched: a Voice call sets Teams Busy/InACall
C=$(call_start '{"email":"bob@contoso.com"}')
wait_g_session 10 bob@contoso.com Busy/InACall
call_end "$C"
wait_g_session 10 bob@contoso.com ""
pass test_voice_writer_off
