#!/usr/bin/env bash
# The Voice side end to end, one start-up (mosquitto, fake-voice over TLS, the
# daemon) for every check that needs the real processes (docs/topics.md,
# docs/voice.md); the rules behind each are proven in process by
# component_voice_link, component_voice_calls, component_voice_inputs and
# component_voice_writer (docs/testing.md "What moved where").
# - discovery (a bare object, apiEndpoint with a trailing slash; WSSEndpoint
#   without a scheme, so REST and the hub run over TLS with the test CA as
#   voice.ca_file); users mapped case-insensitively, by Email too; one
#   unknown address logged once and listed in B/health; subscribed; /readyz
#   ready with "talking writer not configured" (no talking_request), which
#   check-config warns of;
# - voice/<id>/talking follows one and two overlapping calls on any
#   terminal, retained, published on change only; the flag written into
#   Voice is not a call;
# - libwebsockets' frames as the hub may cut them: the handshake answer and
#   every record split across two messages from the first byte, records
#   merged into one, eventType as a number or mixed, unknown events between;
#   the link never drops;
# - webhooks through the daemon's listener: a wrong token 401, good events
#   202 moving the state (source webhook); fake-voice's own sender alongside
#   the RTE link;
# - SIGHUP: a user added is subscribed on the live link; a changed key that
#   only a restart applies is named, nothing else;
# - every payload published is valid against schemas/voice-talking.schema.json.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

FV_TLS=1
vs_setup
ALICE=$(fv_user Alice@Contoso.com)
BOB=$(fv_user bob@contoso.com)
fv_user other@contoso.com >/dev/null
# a login that differs from the e-mail address: matched by Email
fv_ctl POST users '{"email":"dave@contoso.com","username":"dave.login"}' >/dev/null
# Discovery answers a bare object with a trailing slash in apiEndpoint; from
# the first byte (the handshake answer `{}` + 0x1E) every record is split in
# two WebSocket messages.
fv_ctl POST settings '{"discovery_format":"object","discovery_trailing_slash":true,"framing":"split"}' \
    >/dev/null
VS_PREFIX=site1/
VS_VOICE_MORE=', "webhook_secret_file": "hook"'
USERS='["alice@contoso.com", "BOB@contoso.com", "ghost@contoso.com", "dave@contoso.com"'
DISC="\"discovery_url\": \"$FV\""
vs_config "$USERS]" "$DISC"
"$PS_BIN" check-config -c "$T/etc/config.json" >"$T/check.out" 2>&1 ||
    fail "check-config: $(cat "$T/check.out")"
grep -q '^  talking:  off$' "$T/check.out" || fail "summary: $(cat "$T/check.out")"
grep -q 'warning:  voice.talking_request not configured: the Teams -> Voice writer is off' \
    "$T/check.out" || fail "no warning: $(cat "$T/check.out")"
sub_start talk "${VS_PREFIX}voice/+/talking"
vs_start_daemon
wait_link 15
curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/readyz" | jqe '.components["voice/contoso"] |
    .ready == true and .reason == "talking writer not configured"' >/dev/null ||
    fail "readyz: $(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")"
grep -q "discovered tenant=contoso api=$FV_API" "$T/daemon.log" || fail "discovery not used"
fv_ctl GET requests | jqe '[.[] | select(.path=="/api/user")] | length >= 1' >/dev/null ||
    fail "no discovery request"
# users: alice and bob matched by UserName, dave by Email, ghost missing
# (logged once, in B/health)
health_has '.users.matched == 3 and .users.missing == ["ghost@contoso.com"]' ||
    fail "users in B/health: $(health_voice)"
[ "$(grep -c 'user not found in Voice tenant=contoso user=ghost@contoso.com' "$T/daemon.log")" = 1 ] ||
    fail "ghost not logged exactly once"
grep -q 'user matched by Email tenant=contoso user=dave@contoso.com' "$T/daemon.log" ||
    fail "the Email match is not logged"
grep -q 'user map loaded tenant=contoso configured=4 matched=3 by_username=2 by_email=1' \
    "$T/daemon.log" || fail "match summary: $(grep 'user map loaded' "$T/daemon.log")"
# subscribed: 3 users x 5 events (four call events and UserStatus)
[ "$(hub_subs)" = "[15]" ] || fail "hub subscriptions: $(fv_ctl GET hub)"
# over TLS, to the scheme-less WSSEndpoint
grep -q 'RTE hub CA file loaded' "$T/daemon.log" || fail "hub not reached over TLS"
fv_ctl GET requests | jqe '[.[] | select(.path | test("/api/token/"))] | length >= 1' >/dev/null ||
    fail "no token request"
# the first state is published as soon as the link is live
wait_talking 5 alice@contoso.com false 0
wait_talking 5 bob@contoso.com false 0

# one call
C1=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
wait_talking 5 alice@contoso.com true 1
mqtt_retained "$(talking_topic alice@contoso.com)" | jqe '.source == "rte"' >/dev/null ||
    fail "source is not rte"
talking_is bob@contoso.com false || fail "bob changed"
call_end "$C1"
wait_talking 5 alice@contoso.com false 0

# two overlapping calls on two terminals: talking until the last one ends
C2=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
wait_talking 5 alice@contoso.com true 1
C3=$(call_start '{"email":"alice@contoso.com","terminal":"mobile","direction":"outbound"}')
wait_talking 5 alice@contoso.com true 2
call_end "$C2"
wait_talking 5 alice@contoso.com true 1
call_end "$C3"
wait_talking 5 alice@contoso.com false 0
health_has '.talking == 0' || fail "health talking count"

# published on change only: alice went false,true,false,true(1),true(2),true(1),false
sleep 0.5
n=$(grep -c " ${VS_PREFIX}voice/alice@contoso.com/talking " "$T/talk.sub" || true)
[ "$n" = 7 ] || fail "alice: expected 7 publishes, got $n: $(cat "$T/talk.sub")"

# merged records (two in one message) with eventType as a name or a number,
# unknown event types between; then numbers only, records split again
fv_ctl POST settings '{"framing":"merge","event_type_format":"mixed","unknown_events":true}' >/dev/null
C4=$(call_start '{"email":"bob@contoso.com"}')
C5=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
wait_talking 5 alice@contoso.com true 1
call_end "$C4"
call_end "$C5"
wait_talking 5 bob@contoso.com false 0
wait_talking 5 alice@contoso.com false 0
fv_ctl POST settings '{"framing":"split","event_type_format":"number"}' >/dev/null
C6=$(call_start '{"email":"bob@contoso.com"}')
C7=$(call_start '{"email":"bob@contoso.com","terminal":"mobile","direction":"outbound"}')
wait_talking 5 bob@contoso.com true 2
call_end "$C6"
call_end "$C7"
wait_talking 5 bob@contoso.com false 0
health_has '.reconnects == 0 and .link == "live"' || fail "link dropped: $(health_voice)"
grep -q 'bad RTE' "$T/daemon.log" && fail "a record was misread: $(grep 'bad RTE' "$T/daemon.log")"

# webhooks through the daemon's listener
URL=http://127.0.0.1:$HTTP_PORT/voice/events/contoso
hook() { # TOKEN EVENT CALL -> status
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'Content-Type: application/json' \
        -H "X-Benemen-Token: $1" --data-binary \
        "{\"EventType\":\"$2\",\"UserId\":\"$BOB\",\"CallId\":\"$3\"}" "$URL"
}
[ "$(hook wrong UserCallInConnected w-1)" = 401 ] || fail "wrong token not 401"
[ "$(hook "$VS_WEBHOOK_SECRET" UserCallInConnected w-1)" = 202 ] || fail "webhook not accepted"
wait_talking 5 bob@contoso.com true 1
mqtt_retained "$(talking_topic bob@contoso.com)" | jqe '.source == "webhook"' >/dev/null ||
    fail "source not webhook"
[ "$(hook "$VS_WEBHOOK_SECRET" UserCallInDisconnected w-1)" = 202 ] || fail "webhook end"
wait_talking 5 bob@contoso.com false 0
# fake-voice's own sender alongside the RTE link (duplicates are harmless)
fv_ctl POST settings '{"framing":"normal","event_type_format":"name","unknown_events":false}' >/dev/null
fv_ctl POST webhook "$(jq -nc --arg u "$URL" --arg s "$VS_WEBHOOK_SECRET" '{url:$u,secret:$s}')" >/dev/null
C8=$(call_start '{"email":"bob@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
call_end "$C8"
wait_talking 5 bob@contoso.com false 0
sent_is() { [ "$(fv_ctl GET state | jq -c '[.webhook_sent, .webhook_failed]')" = "$1" ]; }
wait_for 5 sent_is '[2,0]' ||
    fail "fake-voice webhooks: $(fv_ctl GET state | jq -c '{webhook_sent,webhook_failed}')"
fv_ctl POST webhook '{"url":null}' >/dev/null

# the 'talking' flag written into Voice is not a call: it never shows here
[ "$(fv_api PUT "/users/$ALICE/externalcallstate" -H 'Content-Type: application/json' \
    --data '{"InCall":true,"Source":"MSTeams"}')" = 204 ] || fail "set external state"
sleep 1
talking_is alice@contoso.com false || fail "external talking flag showed up as a call"

# SIGHUP: carol added (subscribed on the live connection, tracked), a key only
# a restart applies changed (named once); ghost stays missing, logged once
CONN=$(fv_ctl GET hub | jq -r '.[0].connection_token')
fv_user carol@contoso.com >/dev/null
VS_VOICE_MORE="$VS_VOICE_MORE, \"max_call_minutes\": 30" vs_config "$USERS, \"carol@contoso.com\"]" "$DISC"
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'user map loaded tenant=contoso configured=5 matched=4' ||
    fail "user map not reloaded"
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/hub | jq -c '[.[] | .subscriptions]')\" = '[20]' ]" ||
    fail "carol not subscribed: $(fv_ctl GET hub)"
[ "$(fv_ctl GET hub | jq -r '.[0].connection_token')" = "$CONN" ] || fail "the link was dropped"
wait_talking 5 carol@contoso.com false 0
C9=$(call_start '{"email":"carol@contoso.com"}')
wait_talking 5 carol@contoso.com true 1
call_end "$C9"
wait_talking 5 carol@contoso.com false 0
[ "$(grep -c 'takes effect after a restart' "$T/daemon.log")" = 1 ] &&
    grep -q 'changed; takes effect after a restart key=tenants\[contoso\]\.voice\.max_call_minutes$' \
        "$T/daemon.log" || fail "restart warnings: $(grep 'after a restart' "$T/daemon.log")"
[ "$(grep -c 'user not found in Voice tenant=contoso user=ghost@contoso.com' "$T/daemon.log")" = 1 ] ||
    fail "ghost logged again"

validate_talking "$T/talk.sub"
assert_absent "$FV_SECRET" "$T/daemon.log"
assert_absent "$VS_WEBHOOK_SECRET" "$T/daemon.log" "$T/talk.sub"
pass test_voice_call
