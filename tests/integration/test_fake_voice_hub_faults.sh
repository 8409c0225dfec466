#!/usr/bin/env bash
# fake-voice RTE hub under stress: bad and expired tokens, unknown connection
# ids, wrong handshake, bad subscriptions, pings, client timeout, token
# expiry, dropped connections and server Close records.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

fv_start
ALICE=$(fv_user alice@contoso.com)
EP=$(fv_token)

# --- negotiate refuses a bad token
echo 'not.a.jwt' >"$T/bad"
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/bad" --seconds 5 >"$T/bad.probe" 2>&1 &&
    fail "probe succeeded with a bad token"
grep -qx 'negotiate status=401' "$T/bad.probe" || fail "bad token: $(cat "$T/bad.probe")"
grep -q connected "$T/bad.probe" && fail "connected with a bad token"
# A token signed by someone else (valid shape, wrong signature).
sed 's/\.[^.]*$/.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/' "$T/token" >"$T/forged"
[ "$(http_status "$EP/negotiate?negotiateVersion=1" -X POST -d '' \
    -H "Authorization: Bearer $(cat "$T/forged")")" = 401 ] || fail "forged token accepted"
[ "$(http_status "$EP/negotiate?negotiateVersion=1" -X POST -d '')" = 401 ] || fail "no token"
[ "$(http_status "$EP/negotiate?negotiateVersion=1" -X GET)" = 405 ] || fail "GET negotiate"
body=$(curl -s -X POST -d '' -H "Authorization: Bearer $(cat "$T/token")" "$EP/negotiate?negotiateVersion=1")
jq -e '.negotiateVersion==1 and (.connectionId|length)>0 and (.connectionToken|length)>0 and
       .availableTransports[0].transport=="WebSockets" and
       (.availableTransports[0].transferFormats|index("Text"))!=null' <<<"$body" >/dev/null ||
    fail "negotiate body: $body"

# --- the WebSocket refuses an unknown connection id and a bad access_token
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --id unknown-id --seconds 5 >"$T/id.probe" 2>&1
grep -qx closed "$T/id.probe" || fail "unknown id not closed: $(cat "$T/id.probe")"
grep -q '^record' "$T/id.probe" && fail "unknown id got records"
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --ws-token-file "$T/forged" --seconds 5 \
    >"$T/wsbad.probe" 2>&1
grep -qx 'negotiate status=200' "$T/wsbad.probe" || fail "negotiate with the good token"
grep -qx closed "$T/wsbad.probe" || fail "bad access_token not closed: $(cat "$T/wsbad.probe")"
grep -q '^record' "$T/wsbad.probe" && fail "bad access_token got records"

# --- an expired token: negotiate 401
fv_ctl POST settings '{"token_lifetime_s":1}' >/dev/null
EP=$(fv_token)
cp "$T/token" "$T/short"
sleep 2.1
[ "$(http_status "$EP/negotiate?negotiateVersion=1" -X POST -d '' \
    -H "Authorization: Bearer $(cat "$T/short")")" = 401 ] || fail "expired token accepted"

# --- the hub closes a connection when its token expires, with a Close record
fv_ctl POST settings '{"token_lifetime_s":3}' >/dev/null
EP=$(fv_token)
probe_start exp --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 10
probe_wait_sub exp
wait_line 6 "$T/exp.probe" '^closed$' || fail "not closed at token expiry: $(cat "$T/exp.probe")"
sed -n 's/^record //p' "$T/exp.probe" | jq -e 'select(.type==7) | .allowReconnect==true and (.error|test("expired"))' \
    >/dev/null || fail "no Close record on expiry: $(cat "$T/exp.probe")"
fv_ctl POST settings '{"token_lifetime_s":3600}' >/dev/null

# --- handshake with another protocol: error record, then close
EP=$(fv_token)
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --protocol messagepack --seconds 5 \
    >"$T/proto.probe" 2>&1
sed -n 's/^record //p' "$T/proto.probe" | jq -e '.error|test("messagepack")' >/dev/null ||
    fail "no handshake error: $(cat "$T/proto.probe")"
grep -qx closed "$T/proto.probe" || fail "not closed after a bad handshake"

# --- Subscribe errors: unknown entity, unknown event name
probe_start sub1 --endpoint "$EP" --token-file "$T/token" --users "$ALICE,no-such-user" --seconds 10
wait_line 5 "$T/sub1.probe" '"type":3' || fail "no completion for an unknown entity"
sed -n 's/^record //p' "$T/sub1.probe" | jq -e 'select(.type==3) | .invocationId=="1" and (.error|test("unknown entity")) and (has("result")|not)' \
    >/dev/null || fail "unknown entity: $(cat "$T/sub1.probe")"
kill "$PROBE_PID" 2>/dev/null || true
EP=$(fv_token)
probe_start sub2 --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --events UserCallInConnected,UserTeleported --seconds 10
wait_line 5 "$T/sub2.probe" '"type":3' || fail "no completion for an unknown event"
sed -n 's/^record //p' "$T/sub2.probe" | jq -e 'select(.type==3) | .error|test("unknown event name")' \
    >/dev/null || fail "unknown event: $(cat "$T/sub2.probe")"
kill "$PROBE_PID" 2>/dev/null || true

# --- pings every ping_interval_ms
fv_ctl POST settings '{"ping_interval_ms":300}' >/dev/null
EP=$(fv_token)
probe_start ping --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 10
probe_wait_sub ping
sleep 1.5
n=$(grep -cx 'record {"type":6}' "$T/ping.probe" || true)
[ "$n" -ge 3 ] && [ "$n" -le 7 ] || fail "expected ~5 pings in 1.5 s, got $n"
kill "$PROBE_PID" 2>/dev/null || true

# --- a silent client is closed after client_timeout_ms; a pinging one is not
fv_ctl POST settings '{"ping_interval_ms":15000,"client_timeout_ms":1000}' >/dev/null
EP=$(fv_token)
probe_start quiet --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --ping-ms 0 --seconds 10
EP=$(fv_token)
probe_start chatty --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --ping-ms 200 --seconds 3
wait_line 5 "$T/quiet.probe" '^closed$' || fail "silent client not closed"
grep -q '"type":7' "$T/quiet.probe" || fail "no Close record for the silent client"
wait_line 5 "$T/chatty.probe" '^deadline$' || fail "pinging client: $(cat "$T/chatty.probe")"
grep -qx closed "$T/chatty.probe" && fail "pinging client was closed"
fv_ctl POST settings '{"client_timeout_ms":30000}' >/dev/null

# --- drop all connections (no Close record), and a server Close record
EP=$(fv_token)
probe_start drop --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 10
probe_wait_sub drop
[ "$(fv_ctl POST ws/drop | jq .dropped)" = 1 ] || fail "drop count"
wait_line 5 "$T/drop.probe" '^closed$' || fail "not dropped"
grep -q '"type":7' "$T/drop.probe" && fail "drop sent a Close record"
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/hub)\" = '[]' ]" || fail "dropped connection still listed"
EP=$(fv_token)
probe_start hclose --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 10
probe_wait_sub hclose
fv_ctl POST hub/close '{"error":"maintenance","allow_reconnect":false}' >/dev/null
wait_line 5 "$T/hclose.probe" '^closed$' || fail "hub/close did not close"
grep -qx 'record {"type":7,"error":"maintenance","allowReconnect":false}' "$T/hclose.probe" ||
    fail "hub/close record: $(cat "$T/hclose.probe")"

# --- a connection token is good for one connection only
body=$(curl -s -X POST -d '' -H "Authorization: Bearer $(cat "$T/token")" "$EP/negotiate?negotiateVersion=1")
ct=$(jq -r .connectionToken <<<"$body")
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --id "$ct" --seconds 1 >"$T/once1.probe" 2>&1
grep -qx 'record {}' "$T/once1.probe" || fail "first use of a connection token"
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --id "$ct" --seconds 3 >"$T/once2.probe" 2>&1
grep -qx closed "$T/once2.probe" || fail "connection token reused: $(cat "$T/once2.probe")"
pass "fake_voice_hub_faults"
