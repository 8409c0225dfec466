#!/usr/bin/env bash
# fake-voice RTE hub under stress: bad and expired tokens, unknown connection
# ids (refused before the upgrade: 404, 409 while in use, 401 for a bad
# token, as TransportProtocols.md and ASP.NET Core's authentication answer),
# wrong handshake, bad subscriptions, pings, client timeout, token expiry
# (connections stay open past exp unless close_on_token_expiry is set),
# dropped connections and server Close records.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

# upgrade_status URL [TOKEN]: the HTTP status of a WebSocket upgrade request
# (101 is never waited for: only refusals are asked about).
upgrade_status() {
    local auth=()
    [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 --http1.1 -H 'Connection: Upgrade' \
        -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "${auth[@]}" "$1" || true
}

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
jqe '.negotiateVersion==1 and (.connectionId|length)>0 and (.connectionToken|length)>0 and
       .availableTransports[0].transport=="WebSockets" and
       (.availableTransports[0].transferFormats|index("Text"))!=null' <<<"$body" >/dev/null ||
    fail "negotiate body: $body"

# --- the WebSocket upgrade is refused, before the 101, for an unknown
# connection id (404) and a bad access token (401)
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --id unknown-id --seconds 5 >"$T/id.probe" 2>&1
grep -q '^refused' "$T/id.probe" || fail "unknown id not refused: $(cat "$T/id.probe")"
grep -q '^connected' "$T/id.probe" && fail "unknown id was upgraded"
[ "$(upgrade_status "$EP?id=unknown-id" "$(cat "$T/token")")" = 404 ] || fail "unknown id: not 404"
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --ws-token-file "$T/forged" --seconds 5 \
    >"$T/wsbad.probe" 2>&1
grep -qx 'negotiate status=200' "$T/wsbad.probe" || fail "negotiate with the good token"
grep -q '^refused' "$T/wsbad.probe" || fail "bad access_token not refused: $(cat "$T/wsbad.probe")"
grep -q '^record' "$T/wsbad.probe" && fail "bad access_token got records"
[ "$(upgrade_status "$EP?id=x" "$(cat "$T/forged")")" = 401 ] || fail "forged token: not 401"
[ "$(upgrade_status "$EP?id=x")" = 401 ] || fail "no token: not 401"
grep -q 'websocket upgrade refused path=/rte/hub status=404' "$T/fake-voice.log" ||
    fail "refusal not logged"

# --- an expired token: negotiate 401
fv_ctl POST settings '{"token_lifetime_s":1}' >/dev/null
EP=$(fv_token)
cp "$T/token" "$T/short"
sleep 2.1
[ "$(http_status "$EP/negotiate?negotiateVersion=1" -X POST -d '' \
    -H "Authorization: Bearer $(cat "$T/short")")" = 401 ] || fail "expired token accepted"

# --- a connection stays open past its token's exp (ASP.NET Core's default;
# Enreach: the token is checked only at connect) ...
fv_ctl POST settings '{"token_lifetime_s":2}' >/dev/null
EP=$(fv_token)
probe_start keep --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 5
probe_wait_sub keep
wait_line 7 "$T/keep.probe" '^deadline$' || fail "not open past exp: $(cat "$T/keep.probe")"
grep -qx closed "$T/keep.probe" && fail "closed at token expiry by default"
# ... unless told to close on expiry: then with a Close record
fv_ctl POST settings '{"token_lifetime_s":3,"close_on_token_expiry":true}' >/dev/null
EP=$(fv_token)
probe_start exp --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 10
probe_wait_sub exp
wait_line 6 "$T/exp.probe" '^closed$' || fail "not closed at token expiry: $(cat "$T/exp.probe")"
sed -n 's/^record //p' "$T/exp.probe" | jqe 'select(.type==7) | .allowReconnect==true and (.error|test("expired"))' \
    >/dev/null || fail "no Close record on expiry: $(cat "$T/exp.probe")"
fv_ctl POST settings '{"token_lifetime_s":3600,"close_on_token_expiry":false}' >/dev/null

# --- handshake with another protocol: error record, then close
EP=$(fv_token)
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --protocol messagepack --seconds 5 \
    >"$T/proto.probe" 2>&1
sed -n 's/^record //p' "$T/proto.probe" | jqe '.error|test("messagepack")' >/dev/null ||
    fail "no handshake error: $(cat "$T/proto.probe")"
grep -qx closed "$T/proto.probe" || fail "not closed after a bad handshake"

# --- Subscribe errors: unknown entity, unknown event name
probe_start sub1 --endpoint "$EP" --token-file "$T/token" --users "$ALICE,no-such-user" --seconds 10
wait_line 5 "$T/sub1.probe" '"type":3' || fail "no completion for an unknown entity"
sed -n 's/^record //p' "$T/sub1.probe" | jqe 'select(.type==3) | .invocationId=="1" and (.error|test("unknown entity")) and (has("result")|not)' \
    >/dev/null || fail "unknown entity: $(cat "$T/sub1.probe")"
kill "$PROBE_PID" 2>/dev/null || true
EP=$(fv_token)
probe_start sub2 --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --events UserCallInConnected,UserTeleported --seconds 10
wait_line 5 "$T/sub2.probe" '"type":3' || fail "no completion for an unknown event"
sed -n 's/^record //p' "$T/sub2.probe" | jqe 'select(.type==3) | .error|test("unknown event name")' \
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

# --- a connection token is good for one connection only: 409 while it is
# in use, 404 once that connection is gone
body=$(curl -s -X POST -d '' -H "Authorization: Bearer $(cat "$T/token")" "$EP/negotiate?negotiateVersion=1")
ct=$(jq -r .connectionToken <<<"$body")
probe_start once1 --endpoint "$EP" --token-file "$T/token" --id "$ct" --seconds 2
wait_line 5 "$T/once1.probe" '^record \{\}$' || fail "first use of a connection token"
[ "$(upgrade_status "$EP?id=$ct" "$(cat "$T/token")")" = 409 ] || fail "second connection: not 409"
wait_line 5 "$T/once1.probe" '^deadline$' || fail "first connection"
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/hub)\" = '[]' ]" || fail "first connection still listed"
"$HUB_PROBE" --endpoint "$EP" --token-file "$T/token" --id "$ct" --seconds 3 >"$T/once2.probe" 2>&1
grep -q '^refused' "$T/once2.probe" || fail "connection token reused: $(cat "$T/once2.probe")"
[ "$(upgrade_status "$EP?id=$ct" "$(cat "$T/token")")" = 404 ] || fail "used token: not 404"

# --- negotiate without negotiateVersion is version 0 (the spec); the
# setting gives v0, a redirect or an error
v0=$(curl -s -X POST -d '' -H "Authorization: Bearer $(cat "$T/token")" "$EP/negotiate")
jqe 'has("connectionToken") == false and has("negotiateVersion") == false and
       (.connectionId | length) > 0' <<<"$v0" >/dev/null || fail "v0 answer: $v0"
fv_ctl POST settings '{"negotiate":"redirect"}' >/dev/null
rd=$(curl -s -X POST -d '' -H "Authorization: Bearer $(cat "$T/token")" "$EP/negotiate?negotiateVersion=1")
jqe '(.url | test("asrs.redirected=1")) and (.accessToken | length) > 0' <<<"$rd" >/dev/null ||
    fail "redirect answer: $rd"
url=$(jq -r .url <<<"$rd")
at=$(jq -r .accessToken <<<"$rd")
rd2=$(curl -s -X POST -d '' -H "Authorization: Bearer $at" "${url%%\?*}/negotiate?${url#*\?}&negotiateVersion=1")
jqe '.negotiateVersion == 1' <<<"$rd2" >/dev/null || fail "negotiate at the redirect: $rd2"
fv_ctl POST settings '{"negotiate":"error"}' >/dev/null
er=$(curl -s -X POST -d '' -H "Authorization: Bearer $(cat "$T/token")" "$EP/negotiate?negotiateVersion=1")
jqe '.error | length > 0' <<<"$er" >/dev/null || fail "error answer: $er"
fv_ctl POST settings '{"negotiate":"v1"}' >/dev/null
pass "fake_voice_hub_faults"
