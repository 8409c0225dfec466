#!/usr/bin/env bash
# RTE token refresh (CONTRACT §7 "Refresh the token before its exp"): with a
# 40 s token the daemon fetches a fresh token and reconnects before exp
# (the simulator closes connections whose token expired), re-subscribes,
# and a call running across the refresh stays tracked.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_ctl POST settings '{"token_lifetime_s":40}' >/dev/null
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_link 15
conn() { fv_ctl GET hub | jq -r '.[0].connection_token // empty'; }
FIRST=$(conn)
EXP1=$(fv_ctl GET hub | jq '.[0].token_exp')
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
# refresh is due 30 s before exp: about 10 s from now
new_conn() { local c; c=$(conn); [ -n "$c" ] && [ "$c" != "$FIRST" ]; }
wait_for 25 new_conn || fail "no reconnect with a fresh token: $(fv_ctl GET hub)"
wait_link 10
grep -q 'RTE token near expiry, reconnecting with a fresh one tenant=contoso' "$T/daemon.log" ||
    fail "refresh not logged"
EXP2=$(fv_ctl GET hub | jq '.[0].token_exp')
[ "$EXP2" -gt "$EXP1" ] || fail "token not renewed: $EXP1 -> $EXP2"
[ "$(hub_subs)" = "[4]" ] || fail "not re-subscribed after the refresh: $(fv_ctl GET hub)"
grep -q 'hub token expired' "$T/fake-voice.log" && fail "the hub had to close an expired token"
# a refresh is not a link loss
grep -q 'RTE link lost' "$T/daemon.log" && fail "refresh counted as a loss"
talking_is alice@contoso.com true 1 || fail "call lost across the refresh"
call_end "$C1"
wait_talking 5 alice@contoso.com false 0
pass test_voice_token
