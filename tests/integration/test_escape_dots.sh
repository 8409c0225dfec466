#!/usr/bin/env bash
# mqtt.escape_dots end to end on mosquitto (docs/mqtt.md): every side writes
# ids with '.' as %2E (teams/..., voice/..., B/sync/...), no topic holds a
# literal '.' in its id, and the mapper, which decodes the ids it reads,
# still maps a Teams call -> Voice talking and a Voice call -> Teams busy.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"
PS_BIN=$PS_BUILD/connector/presence-sync

ms_setup alice@contoso.com first.last@contoso.com
jq '.mqtt.escape_dots = true' "$T/ps.json" >"$T/ps2.json" && mv "$T/ps2.json" "$T/ps.json"
sub_start all '#'
ms_start

A=alice@contoso%2Ecom
F=first%2Elast@contoso%2Ecom
for t in "teams/$A/busy" "voice/$A/talking" "$BRIDGE/sync/$A" "teams/$F/busy" "voice/$F/talking"; do
    [ -n "$(mqtt_retained "$t")" ] || fail "nothing retained on $t: $(awk '{print $2}' "$T/all.sub" | sort -u)"
done
awk '$2 ~ /^(teams|voice|ps\/sync)\// {print $2}' "$T/all.sub" | grep -F '.' &&
    fail "a per-user topic holds a literal '.'"
mqtt_retained "$BRIDGE/sync/$F" | jqe '.user == "first.last@contoso.com"' >/dev/null ||
    fail "B/sync of first.last: $(mqtt_retained "$BRIDGE/sync/$F")"

# Teams -> Voice, Voice -> Teams, through the decoded ids
sim POST /users/first.last@contoso.com/start/call >/dev/null
wait_v_talking 10 first.last@contoso.com true
sim POST /users/first.last@contoso.com/end/call >/dev/null
wait_v_talking 10 first.last@contoso.com false
C=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
wait_g_session 10 alice@contoso.com Busy/InACall
mqtt_retained "voice/$A/talking" | jqe '.talking == true' >/dev/null || fail "voice/$A/talking not true"
call_end "$C"
wait_g_session 10 alice@contoso.com ""
# no message was refused (the counter has no sample until the first error)
errs=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | sed -n 's/^presence_sync_mapper_input_errors_total //p')
[ "${errs:-0}" = 0 ] || fail "mapper input errors: $errs"
pass escape_dots
