#!/usr/bin/env bash
# `presence-sync probe`, Voice with fake-voice: discovery, then
# --listen-seconds with a call made meanwhile (each event printed with its
# name, number and field names, never a value); a refused Subscribe and a
# user Voice does not know (FAIL, exit 1); a wrong secret key; a hub that
# offers none of the configured call events; a hub without
# AvailableSubscriptions (warn).
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

pr_setup

# discovery and listening: a call during the listening time is printed
pr_config "$PR_USERS" '.tenants[0].voice.api_url = null | .tenants[0].voice.discovery_url = "'"$FV"'"'
PR_RC=0
timeout 60 "$PS_BIN" probe -c "$PR_CFG" --listen-seconds 6 --capture "$T/cap" >"$T/listen.out" \
    2>"$T/listen.log" &
PROBE=$!
wait_line 30 "$T/listen.out" '^  ok    listening: subscribed for 6 s' || fail "never listening: $(cat "$T/listen.out")"
CALL=$(pr_call_start '{"email":"alice@contoso.com"}')
[ -n "$CALL" ] && [ "$CALL" != null ] || fail "no call started"
wait_line 5 "$T/listen.out" 'event UserCallInConnected' || fail "no connected event: $(cat "$T/listen.out")"
pr_call_end "$CALL"
wait "$PROBE" || PR_RC=$?
pr_rc listen 0
pr_line listen ok "discovery: $FV_USER is served by $FV_API"
grep -Eq '^        event UserCallInConnected \(no number, connected\) for alice@contoso.com: fields eventType, userId, callId, timestamp$' \
    "$T/listen.out" || fail "connected event line: $(grep event "$T/listen.out")"
grep -Eq '^        event UserCallInDisconnected \(no number, disconnected\) for alice@contoso.com: fields' \
    "$T/listen.out" || fail "disconnected event line: $(grep event "$T/listen.out")"
grep -Eq '^        event UserStatus \(no number, user_status\) for alice@contoso.com: fields .*status' \
    "$T/listen.out" || fail "UserStatus line: $(grep event "$T/listen.out")"
pr_line listen ok 'end of listening: [0-9]+ events in 6 s'
# names and fields, never values: not the call id, not the user's Voice id
grep -qF "$CALL" "$T/listen.out" && fail "a call id in the output"
ALICE_VID=$(fv_ctl GET state | jq -r '.users[] | select(.email == "alice@contoso.com") | .id')
grep -qiF "$ALICE_VID" "$T/listen.out" && fail "a Voice user id in the output"
# ... but the capture has the whole records (minus credentials)
jqe -s --arg c "$CALL" '[.[] | select(.dir == "received" and (.record | contains($c)))] | length >= 2' \
    "$T/cap/signalr.jsonl" >/dev/null || fail "the events are not in the capture"

# a hub that numbers its events (docs/voice.md A14, A15): the number is printed
fv_ctl POST settings '{"event_type_format":"number"}' >/dev/null
timeout 60 "$PS_BIN" probe -c "$PR_CFG" --listen-seconds 4 >"$T/listen-n.out" 2>"$T/listen-n.log" &
PROBE=$!
wait_line 30 "$T/listen-n.out" '^  ok    listening: subscribed for 4 s' ||
    fail "never listening: $(cat "$T/listen-n.out")"
CALL=$(pr_call_start '{"email":"bob@contoso.com"}')
wait_line 5 "$T/listen-n.out" '^        event #11 \(numbered, connected\) for bob@contoso.com: fields eventType, ' ||
    fail "numbered connected event: $(grep event "$T/listen-n.out")"
pr_call_end "$CALL"
wait_line 5 "$T/listen-n.out" '^        event #12 \(numbered, disconnected\) for bob@contoso.com' ||
    fail "numbered disconnected event: $(grep event "$T/listen-n.out")"
PR_RC=0
wait "$PROBE" || PR_RC=$?
pr_rc listen-n 0
fv_ctl POST settings '{"event_type_format":"name"}' >/dev/null

# a refused Subscribe, a user Voice does not know
sim_users "$TENANT_ID" carol@contoso.com
pr_config '["alice@contoso.com","bob@contoso.com","carol@contoso.com"]'
fv_ctl POST settings '{"refuse_subscribe":true}' >/dev/null
pr_run refused
pr_rc refused 1
pr_line refused FAIL 'users: 1 of 3 users are not in Voice: carol@contoso.com.*Fix: give these users in Enreach Voice'
pr_line refused ok 'Voice users not configured: 2 of 4 Voice users are not in the config'
pr_line refused FAIL "Subscribe: the hub refused Subscribe: .*Fix: the integration user needs the right to follow the users' events"
fv_ctl POST settings '{"refuse_subscribe":false}' >/dev/null

# a wrong secret key
printf 'wrong-key\n' >"$T/wrong.key"
chmod 600 "$T/wrong.key"
pr_config "$PR_USERS" '.tenants[0].voice.secret_key_file = "'"$T/wrong.key"'"'
pr_run key
pr_rc key 1
pr_line key FAIL "sign-in: the API refused the credentials of $FV_USER: HTTP 401.*Fix: voice.username is the integration user and secret_key_file its API secret key"
grep -q 'RTE token' "$T/key.out" && fail "the hub was tried without a sign-in"

# a hub that offers none of the configured call events
pr_config
fv_ctl POST settings '{"offered_events":["UserAvailability","QueueStatus"]}' >/dev/null
pr_run offer
pr_rc offer 1
pr_line offer FAIL 'events offered: the hub offers none of the configured call events \(missing: UserCallInConnected, UserCallOutConnected, UserCallInDisconnected, UserCallOutDisconnected, UserStatus\); it offers: UserAvailability, QueueStatus.*Fix: set voice.events'
fv_ctl POST settings '{"offered_events":null,"available_subscriptions":"unknown"}' >/dev/null

# a hub without AvailableSubscriptions: every configured event is tried
pr_run unknown
pr_rc unknown 0
pr_line unknown warn "events offered: the hub did not say which events it offers \\(Unknown hub method 'AvailableSubscriptions'\\)"
pr_line unknown ok 'Subscribe: 2 users x 5 events accepted'
pr_secrets "$T"/*.out "$T"/*.log "$T"/cap/*
pass
