#!/usr/bin/env bash
# SIGHUP changes the user lists: a user removed while the mapper holds a
# session for it (a Voice call) gets the session cleared; one removed while
# its Voice flag is set gets the flag written false (the Voice side keeps the
# ids of users that left its map for that); their B/sync topics are removed.
# A user added is reconciled like at start-up.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com
# carol is known to both systems but not configured yet
MS_USERS='["alice@contoso.com","bob@contoso.com"]'
ms_config
ms_start
[ -z "$(sync_of carol@contoso.com)" ] || fail "carol has a B/sync before she is configured"

C=$(call_start '{"email":"alice@contoso.com"}')
sim POST /users/bob@contoso.com/start/meeting >/dev/null
wait_g_session 10 alice@contoso.com Busy/InACall
wait_v_talking 10 bob@contoso.com true

MS_USERS='["carol@contoso.com"]'
ms_config
kill -HUP "$PS_PID"
wait_line 10 "$T/daemon.log" 'reload' || fail "no reload logged"
wait_g_session 15 alice@contoso.com ""
wait_for 20 sh -c "[ -z \"\$(mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/alice@contoso.com' \
    --retained-only -C 1 -W 1 2>/dev/null)\" ]" || fail "alice's B/sync not removed: $(sync_of alice@contoso.com)"
# bob: his flag is written false although he left the Voice side's map too
# (it keeps the ids of users that left for that)
wait_v_talking 20 bob@contoso.com false
wait_for 40 sh -c "[ -z \"\$(mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/bob@contoso.com' \
    --retained-only -C 1 -W 1 2>/dev/null)\" ]" || fail "bob's B/sync not removed: $(sync_of bob@contoso.com)"
! grep -q 'user removed before its writes were undone' "$T/daemon.log" ||
    fail "a removed user was given up: $(grep 'user removed before' "$T/daemon.log")"
wait_for 20 sync_quiet carol@contoso.com || fail "carol not reconciled: $(sync_of carol@contoso.com)"
# the daemon keeps working for carol
C2=$(call_start '{"email":"carol@contoso.com"}')
wait_g_session 10 carol@contoso.com Busy/InACall
call_end "$C2"
wait_g_session 10 carol@contoso.com ""
call_end "$C"
pass
