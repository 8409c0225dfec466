#!/usr/bin/env bash
# Voice side, one call and two overlapping calls (docs/topics.md, docs/voice.md): the
# daemon discovers the API, maps users case-insensitively, opens the RTE
# link and subscribes; voice/<id>/talking follows the calls on any terminal,
# is retained, published on change only and valid against its schema. A
# configured address Voice does not know is logged once and listed in
# B/health; /readyz reports the link. fake-voice answers as Enreach does:
# discovery with an https apiEndpoint and WSSEndpoint without a scheme, so
# the daemon runs REST and the hub over TLS (the test CA as voice.ca_file).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

FV_TLS=1
vs_setup
ALICE=$(fv_user Alice@Contoso.com)
BOB=$(fv_user bob@contoso.com)
fv_user other@contoso.com >/dev/null
# a login that differs from the e-mail address: matched by Email
fv_ctl POST users '{"email":"dave@contoso.com","username":"dave.login"}' >/dev/null
# Discovery answers a bare object with a trailing slash in apiEndpoint.
fv_ctl POST settings '{"discovery_format":"object","discovery_trailing_slash":true}' >/dev/null
VS_PREFIX=site1/
vs_config '["alice@contoso.com", "BOB@contoso.com", "ghost@contoso.com", "dave@contoso.com"]' \
    "\"discovery_url\": \"$FV\""
sub_start talk "${VS_PREFIX}voice/+/talking"
vs_start_daemon
wait_link 15
voice_ready true || fail "readyz: $(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")"
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
validate_talking "$T/talk.sub"

# the 'talking' flag written into Voice is not a call: it never shows here
[ "$(fv_api PUT "/users/$ALICE/externalcallstate" -H 'Content-Type: application/json' \
    --data '{"InCall":true,"Source":"MSTeams"}')" = 204 ] || fail "set external state"
sleep 1
talking_is alice@contoso.com false || fail "external talking flag showed up as a call"
assert_absent "$FV_SECRET" "$T/daemon.log"
: "$BOB"
pass test_voice_call
