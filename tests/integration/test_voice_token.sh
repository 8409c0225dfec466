#!/usr/bin/env bash
# RTE token expiry (docs/voice.md "Token"): Enreach checks the token only
# when a connection is made and lets it stay open, so a live link is never
# dropped because its token expires. With a 4 s token, fake-voice keeping
# connections past exp (its default, as ASP.NET Core does), the same
# connection stays live well past exp and events keep flowing. With the
# simulator told to close on expiry (close_on_token_expiry), the daemon
# reconnects with a fresh token and re-subscribes; a call running across
# it stays tracked.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_ctl POST settings '{"token_lifetime_s":4}' >/dev/null
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_link 15
conn() { fv_ctl GET hub | jq -r '.[0].connection_token // empty'; }
FIRST=$(conn)
EXP1=$(fv_ctl GET hub | jq '.[0].token_exp')
[ -n "$FIRST" ] || fail "no hub connection"
health_has ".token_expires != null" || fail "token_expires not in B/health: $(health_voice)"

# past exp: the same connection, no reconnect, no token fetched again
while [ "$(date +%s)" -le $((EXP1 + 3)) ]; do sleep 0.5; done
[ "$(conn)" = "$FIRST" ] || fail "the link was replaced at token expiry: $(fv_ctl GET hub)"
grep -q 'RTE link lost' "$T/daemon.log" && fail "a link loss at token expiry"
[ "$(fv_ctl GET requests | jq '[.[] | select(.path | test("/api/token/"))] | length')" = 1 ] ||
    fail "token fetched again: $(fv_ctl GET requests | jq -c '[.[] | .path]')"
link_live || fail "link not live past exp: $(health_voice)"
# events still flow on the old connection
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1

# a hub that does close on expiry: reconnect with a fresh token (every
# reconnect fetches one), re-subscribe, the call stays tracked
fv_ctl POST settings '{"close_on_token_expiry":true,"token_lifetime_s":3600}' >/dev/null
wait_line 5 "$T/fake-voice.log" 'hub token expired' || fail "the hub did not close"
wait_line 10 "$T/daemon.log" 'RTE link lost tenant=contoso reason="server closed the hub: .*expired' ||
    fail "close not seen"
new_conn() { local c; c=$(conn); [ -n "$c" ] && [ "$c" != "$FIRST" ]; }
wait_for 15 new_conn || fail "no reconnect: $(fv_ctl GET hub)"
wait_link 10
EXP2=$(fv_ctl GET hub | jq '.[0].token_exp')
[ "$EXP2" -gt "$EXP1" ] || fail "token not renewed: $EXP1 -> $EXP2"
[ "$(fv_ctl GET requests | jq '[.[] | select(.path | test("/api/token/"))] | length')" = 2 ] ||
    fail "expected a second token request"
[ "$(hub_subs)" = "[5]" ] || fail "not re-subscribed: $(fv_ctl GET hub)"
talking_is alice@contoso.com true 1 || fail "call lost across the reconnect"
call_end "$C1"
wait_talking 5 alice@contoso.com false 0
pass test_voice_token
