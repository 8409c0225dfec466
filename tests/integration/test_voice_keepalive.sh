#!/usr/bin/env bash
# RTE keep-alive (docs/voice.md "Assumptions", A9): the daemon pings about every
# 15 s, so the hub's 20 s client timeout never closes it; when the hub goes
# silent (no pings, no events) for 30 s the daemon treats the link as dead
# and reconnects, re-subscribed. Takes about 45 s.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
# server pings off; the hub drops a client silent for 20 s
fv_ctl POST settings '{"ping_interval_ms":0,"client_timeout_ms":20000}' >/dev/null
vs_config '["alice@contoso.com"]'
vs_start_daemon
wait_link 15
CONN=$(fv_ctl GET hub | jq -r '.[0].connection_token')
sleep 24
# still the same connection: our pings kept the hub's client timeout away
grep -q 'hub client timeout' "$T/fake-voice.log" && fail "the hub timed the daemon out"
[ "$(fv_ctl GET hub | jq -r '.[0].connection_token')" = "$CONN" ] || fail "connection changed early"
# the hub said nothing for 30 s: reconnect
wait_line 15 "$T/daemon.log" 'RTE link lost tenant=contoso reason="no message from the server for' ||
    fail "silence not detected"
wait_link 15
[ "$(fv_ctl GET hub | jq -r '.[0].connection_token')" != "$CONN" ] || fail "no new connection"
[ "$(hub_subs)" = "[5]" ] || fail "not re-subscribed: $(fv_ctl GET hub)"
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
call_end "$C1"
wait_talking 5 alice@contoso.com false 0
pass test_voice_keepalive
