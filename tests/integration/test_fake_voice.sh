#!/usr/bin/env bash
# fake-voice checked over HTTP and WebSocket, one simulator for every
# scenario: between two scenarios its state is reset (users, calls, faults,
# requests, settings, webhook, hub connections; the account is kept). Two
# scenarios need an option of their own and start their own instance: the
# TLS listener (signalr_js) and --advertise-host (the end).
#
# faults: 429 with Retry-After, 500, delays, per method and path prefix,
#   for the next N calls only; another method or path is not affected and
#   does not use the fault up.
# hub: negotiate, WebSocket, handshake, Subscribe, and the call events a
#   SignalR client sees, in normal, merge and split framing; numbered and
#   unknown event types; the connection state visible to tests.
# hub_faults: bad and expired tokens, unknown connection ids (refused before
#   the upgrade: 404, 409 while in use, 401 for a bad token), wrong
#   handshake, bad subscriptions, pings, client timeout, token expiry
#   (connections stay open past exp unless close_on_token_expiry is set),
#   dropped connections and server Close records.
# webhook: every call event is POSTed with X-Benemen-Token to a real HTTP
#   receiver.
# signalr_js: Microsoft's official SignalR client (@microsoft/signalr,
#   pinned in tests/fakes/voice/signalr-js/package-lock.json, `npm ci` into
#   the build directory) drives the simulator the way the public Enreach
#   client does (tests/fakes/voice/signalr-js/check.js): against the real
#   form (WSSEndpoint without a scheme, "https://" + WSSEndpoint, TLS with
#   the test CA; its own instance) and against the plain-http setting.
#   Without node or npm this scenario is not run and, once every other
#   scenario passed, the script exits 77 (skipped).
# rest: start-up errors, discovery, Basic auth, users, RTE token, the
#   external 'talking' flag, the request log, calls in the state view, the
#   account and reset through the control API, the control API's errors.
# shutdown: SIGTERM with a live hub connection and a call: exit 0, the
#   client sees the close (under ASan this also checks that nothing leaks);
#   no secret in the simulator's log. Then --advertise-host: the name
#   containers reach it by, in both endpoints.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

scenario_faults() {
    fv_ctl POST faults '{"method":"GET","path":"/api/users","status":429,"retry_after":7,"count":2}' >/dev/null

    # A different method or path is not affected and does not use the fault up.
    [ "$(fv_api GET /user?user=a@b.c)" = 200 ] || fail "discovery hit by /api/users fault"
    [ "$(fv_api PUT /users/x/externalcallstate -d '{"InCall":true}')" = 404 ] || fail "PUT hit by GET fault"

    code=$(curl -s -D "$T/h1" -o "$T/b1" -w '%{http_code}' -u "$FV_USER:$FV_SECRET" "$FV_API/users/me")
    [ "$code" = 429 ] || fail "first call not 429: $code"
    [ "$(jq .retry_after "$T/b1")" = 7 ] || fail "retry_after not in body"
    grep -qi '^retry-after: 7' "$T/h1" || fail "no Retry-After header: $(cat "$T/h1")"
    [ "$(fv_api GET /users)" = 429 ] || fail "second call not 429"
    [ "$(fv_api GET /users)" = 200 ] || fail "third call should pass (count 2)"
    [ "$(fv_ctl GET state | jq .faults_pending)" = 0 ] || fail "fault not used up"

    # Faults apply before auth: a client without credentials sees them too.
    fv_ctl POST faults '{"path":"/api/","status":500,"count":1}' >/dev/null
    [ "$(http_status "$FV_API/users/me")" = 500 ] || fail "500 for any method"
    [ "$(http_status "$FV_API/users/me")" = 401 ] || fail "500 not used up"

    # Delay only: the answer is normal but late.
    fv_ctl POST faults '{"method":"GET","path":"/api/users/me","delay_ms":700}' >/dev/null
    start=$(date +%s%N)
    [ "$(fv_api GET /users/me)" = 200 ] || fail "delayed call failed"
    ms=$((($(date +%s%N) - start) / 1000000))
    [ "$ms" -ge 650 ] || fail "delay not applied: ${ms}ms"
    # Delay plus status.
    fv_ctl POST faults '{"path":"/api/users","status":503,"delay_ms":300}' >/dev/null
    start=$(date +%s%N)
    [ "$(fv_api GET /users)" = 503 ] || fail "delayed 503"
    ms=$((($(date +%s%N) - start) / 1000000))
    [ "$ms" -ge 250 ] || fail "delay with status not applied: ${ms}ms"
    # Other requests are served while one is delayed (the loop is not blocked).
    fv_ctl POST faults '{"path":"/api/users/me","delay_ms":2000}' >/dev/null
    curl -s -o /dev/null -u "$FV_USER:$FV_SECRET" "$FV_API/users/me" &
    slow=$!
    sleep 0.2
    start=$(date +%s%N)
    [ "$(fv_api GET /users)" = 200 ] || fail "request during a delay"
    ms=$((($(date +%s%N) - start) / 1000000))
    [ "$ms" -lt 1000 ] || fail "a delayed request blocked others (${ms}ms)"
    wait "$slow"

    # Faults are recorded with their status.
    fv_ctl GET requests | jqe '[.[] | select(.status==429)] | length == 2' >/dev/null ||
        fail "429s not recorded"

    # The hub's negotiate is a REST endpoint too.
    fv_token >/dev/null
    fv_ctl POST faults '{"method":"POST","path":"/rte/hub/negotiate","status":429,"retry_after":1}' >/dev/null
    [ "$(http_status "$FV/rte/hub/negotiate?negotiateVersion=1" -X POST -d '' \
        -H "Authorization: Bearer $(cat "$T/token")")" = 429 ] || fail "negotiate fault"
    [ "$(http_status "$FV/rte/hub/negotiate?negotiateVersion=1" -X POST -d '' \
        -H "Authorization: Bearer $(cat "$T/token")")" = 200 ] || fail "negotiate after fault"

    # Bad fault definitions are refused; DELETE clears.
    [ "$(fv_ctl_status POST faults '{"path":"api","status":500}')" = 400 ] || fail "relative path"
    [ "$(fv_ctl_status POST faults '{"path":"/api/","status":999}')" = 400 ] || fail "bad status"
    [ "$(fv_ctl_status POST faults '{"path":"/api/"}')" = 400 ] || fail "no status, no delay"
    [ "$(fv_ctl_status POST faults '{"path":"/api/","status":500,"count":0}')" = 400 ] || fail "count 0"
    fv_ctl POST faults '{"path":"/api/","status":500,"count":5}' >/dev/null
    fv_ctl DELETE faults >/dev/null
    [ "$(fv_api GET /users/me)" = 200 ] || fail "DELETE faults"
}

scenario_hub() {
    ALICE=$(fv_user alice@contoso.com)
    BOB=$(fv_user bob@contoso.com)
    EP=$(fv_token)

    # records NAME EVENT: the callIds of EVENT records the probe printed.
    records() {
        sed -n 's/^record //p' "$T/$1.probe" | jq -r --arg e "$2" \
            'select(.type==1 and .target=="MessageReceived") | .arguments[0].data
             | select(.eventType==$e) | .callId'
    }

    # --- normal framing: two calls at once on two terminals, one record a frame
    probe_start normal --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 20
    probe_wait_sub normal
    grep -q '^negotiate status=200$' "$T/normal.probe" || fail "negotiate"
    grep -q '^record {}$' "$T/normal.probe" || fail "handshake answer"
    sed -n 's/^record //p' "$T/normal.probe" | jqe 'select(.type==3) | .result | length == 4' \
        >/dev/null || fail "Subscribe completion: $(cat "$T/normal.probe")"
    C1=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"desk"}' | jq -r .call_id)
    C2=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"mobile","direction":"outbound"}' | jq -r .call_id)
    CB=$(fv_ctl POST calls/start '{"email":"bob@contoso.com"}' | jq -r .call_id)
    fv_ctl POST calls/end "{\"call_id\":\"$C1\"}" >/dev/null
    fv_ctl POST calls/end "{\"call_id\":\"$C2\"}" >/dev/null
    fv_ctl POST calls/end "{\"call_id\":\"$CB\"}" >/dev/null
    wait_line 5 "$T/normal.probe" "UserCallOutDisconnected.*$C2" || fail "no OutDisconnected"
    [ "$(records normal UserCallInConnected)" = "$C1" ] || fail "InConnected"
    [ "$(records normal UserCallOutConnected)" = "$C2" ] || fail "OutConnected"
    [ "$(records normal UserCallInDisconnected)" = "$C1" ] || fail "InDisconnected"
    grep -q "$CB" "$T/normal.probe" && fail "bob's call reached a connection not subscribed to bob"
    sed -n 's/^record //p' "$T/normal.probe" | jqe --arg u "$ALICE" \
        'select(.type==1) | .arguments[0].data | (.userId==$u) and (.timestamp|test("Z$"))' \
        >/dev/null || fail "event fields"
    grep -q 'records=2' "$T/normal.probe" && fail "normal framing merged records"
    grep -Eq 'records=0 partial=[1-9]' "$T/normal.probe" && fail "normal framing split a record"
    kill "$PROBE_PID" 2>/dev/null || true

    # --- merge: two records in one WebSocket frame. The hub holds a lone record
    # for MERGE_HOLD_MS waiting for a partner, so records emitted by two separate
    # control requests share a frame only if the second request comes in time
    # (under load it often does not). Ending two calls in one request emits both
    # Disconnected records back to back with nothing held before them (both
    # Connected records have arrived, pings are off), so they always share one.
    fv_ctl POST settings '{"framing":"merge","ping_interval_ms":0}' >/dev/null
    EP=$(fv_token)
    probe_start merge --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 20
    probe_wait_sub merge
    C3=$(fv_ctl POST calls/start '{"email":"alice@contoso.com"}' | jq -r .call_id)
    C3B=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"mobile"}' | jq -r .call_id)
    wait_line 5 "$T/merge.probe" "UserCallInConnected.*$C3\"" || fail "merge: no Connected"
    wait_line 5 "$T/merge.probe" "UserCallInConnected.*$C3B" || fail "merge: no second Connected"
    fv_ctl POST calls/end '{"email":"alice@contoso.com"}' >/dev/null
    wait_line 5 "$T/merge.probe" "UserCallInDisconnected.*$C3\"" || fail "merge: no Disconnected"
    wait_line 5 "$T/merge.probe" "UserCallInDisconnected.*$C3B" || fail "merge: no second Disconnected"
    # The frame line each Disconnected record came in: one line, saying both.
    frames=$(awk '/^frame /{f=NR": "$0} /^record .*"eventType":"UserCallInDisconnected"/{print f}' "$T/merge.probe" | sort -u)
    has -E '^[0-9]+: frame bytes=[0-9]+ records=2 partial=0$' <<<"$frames" && [ "$(wc -l <<<"$frames")" = 1 ] ||
        fail "merge: the two Disconnected records not in one frame: $(cat "$T/merge.probe")"
    [ "$(records merge UserCallInConnected | sort)" = "$(printf '%s\n' "$C3" "$C3B" | sort)" ] ||
        fail "merge: Connected records"
    [ "$(records merge UserCallInDisconnected | sort)" = "$(printf '%s\n' "$C3" "$C3B" | sort)" ] ||
        fail "merge: Disconnected records"
    kill "$PROBE_PID" 2>/dev/null || true

    # --- split: one record across two frames (two separate text messages)
    fv_ctl POST settings '{"framing":"split","ping_interval_ms":15000}' >/dev/null
    EP=$(fv_token)
    probe_start split --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 20
    probe_wait_sub split
    C4=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","direction":"outbound"}' | jq -r .call_id)
    fv_ctl POST calls/end "{\"call_id\":\"$C4\"}" >/dev/null
    wait_line 5 "$T/split.probe" "UserCallOutDisconnected.*$C4" || fail "split: no Disconnected"
    grep -B2 "UserCallOutConnected.*$C4" "$T/split.probe" | sed -n 1p | has -E 'records=0 partial=[1-9]' ||
        fail "split: the record did not start in an earlier frame: $(cat "$T/split.probe")"
    grep -q '^frame bytes=1 records=0 partial=1$' "$T/split.probe" ||
        fail "split: the handshake answer was not split"
    [ "$(records split UserCallOutConnected)" = "$C4" ] || fail "split: Connected record"
    [ "$(records split UserCallOutDisconnected)" = "$C4" ] || fail "split: Disconnected record"
    kill "$PROBE_PID" 2>/dev/null || true

    # --- eventType as a number, and unknown event types
    fv_ctl POST settings '{"framing":"normal","event_type_format":"number","unknown_events":true}' >/dev/null
    EP=$(fv_token)
    probe_start num --endpoint "$EP" --token-file "$T/token" --users "$ALICE" --seconds 20
    probe_wait_sub num
    C5=$(fv_ctl POST calls/start '{"email":"alice@contoso.com"}' | jq -r .call_id)
    wait_line 5 "$T/num.probe" "\"eventType\":11,.*$C5" || fail "numeric eventType: $(cat "$T/num.probe")"
    grep -q "\"eventType\":9999,.*$C5" "$T/num.probe" || fail "no unknown numeric event"
    grep -q "\"eventType\":\"UserCallInFutureEvent\".*$C5" "$T/num.probe" || fail "no unknown named event"
    fv_ctl POST settings '{"event_type_format":"mixed","unknown_events":false}' >/dev/null
    fv_ctl POST calls/end "{\"call_id\":\"$C5\"}" >/dev/null
    C6=$(fv_ctl POST calls/start '{"email":"alice@contoso.com"}' | jq -r .call_id)
    wait_line 5 "$T/num.probe" "$C6" || fail "mixed: no event"
    # mixed alternates: the two events sent in mixed mode (C5's Disconnected and
    # C6's Connected) are one name and one number.
    types=$(sed -n 's/^record //p' "$T/num.probe" | jq -r 'select(.type==1) | .arguments[0].data.eventType | type' |
        tail -n 2 | sort | tr '\n' ' ')
    [ "$types" = "number string " ] || fail "mixed format: $types"
    kill "$PROBE_PID" 2>/dev/null || true

    # --- connection state is visible to tests
    fv_ctl POST settings '{"event_type_format":"name"}' >/dev/null
    EP=$(fv_token)
    probe_start view --endpoint "$EP" --token-file "$T/token" --users "$ALICE,$BOB" --seconds 20
    probe_wait_sub view
    fv_ctl GET hub | jqe 'map(select(.handshaken and .subscriptions==8)) | length == 1' >/dev/null ||
        fail "hub view: $(fv_ctl GET hub)"
    kill "$PROBE_PID" 2>/dev/null || true
}

scenario_hub_faults() {
    upgrade_status() {
        local auth=()
        [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
        curl -s -o /dev/null -w '%{http_code}' --max-time 3 --http1.1 -H 'Connection: Upgrade' \
            -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
            -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "${auth[@]}" "$1" || true
    }

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
}

scenario_webhook() {
    # A real HTTP receiver that writes one JSON line per request.
    SINK_PORT=$(free_port)
    cat >"$T/sink.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
out = open(sys.argv[2], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        out.write(json.dumps({"path": self.path, "token": self.headers.get("X-Benemen-Token"),
                              "event": self.headers.get("X-Benemen-Event"),
                              "ctype": self.headers.get("Content-Type"),
                              "body": json.loads(body)}) + "\n")
        self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
    python3 "$T/sink.py" "$SINK_PORT" "$T/sink.jsonl" 2>>"$T/sink.log" &
    PIDS+=($!)
    wait_for 10 port_open "$SINK_PORT" || fail "sink did not start"
    : >"$T/sink.jsonl"

    ALICE=$(fv_user alice@contoso.com)
    HOOK_SECRET='hook+/=&%secret'
    fv_ctl POST webhook "{\"url\":\"http://127.0.0.1:$SINK_PORT/voice/events/contoso\",\"secret\":\"$HOOK_SECRET\"}" >/dev/null
    C1=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"desk"}' | jq -r .call_id)
    C2=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"mobile","direction":"outbound"}' | jq -r .call_id)
    fv_ctl POST calls/end "{\"call_id\":\"$C1\"}" >/dev/null
    fv_ctl POST calls/end "{\"call_id\":\"$C2\"}" >/dev/null
    wait_for 5 sh -c "[ \$(wc -l <'$T/sink.jsonl') -ge 4 ]" || fail "webhooks: $(cat "$T/sink.jsonl")"
    check() { # EVENT CALL
        jqe -s --arg e "$1" --arg c "$2" --arg u "$ALICE" --arg s "$HOOK_SECRET" \
            'map(select(.body.EventType==$e and .body.CallId==$c)) | length==1 and
             (.[0] | .token==$s and .event==$e and .path=="/voice/events/contoso" and
              (.ctype|startswith("application/json")) and .body.UserId==$u and
              (.body.Timestamp|test("^20.*Z$")))' "$T/sink.jsonl" >/dev/null ||
            fail "webhook $1 $2: $(cat "$T/sink.jsonl")"
    }
    check UserCallInConnected "$C1"
    check UserCallOutConnected "$C2"
    check UserCallInDisconnected "$C1"
    check UserCallOutDisconnected "$C2"
    wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/state | jq .webhook_sent)\" = 4 ]" || fail "webhook_sent"

    # A failing receiver is counted, and events still flow.
    fv_ctl POST webhook "{\"url\":\"http://127.0.0.1:$SINK_PORT/fail\",\"secret\":\"x\"}" >/dev/null
    C3=$(fv_ctl POST calls/start '{"email":"alice@contoso.com"}' | jq -r .call_id)
    wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/state | jq .webhook_failed)\" = 1 ]" || fail "webhook_failed"
    # Disabled: nothing more is sent.
    fv_ctl POST webhook '{"url":null}' >/dev/null
    n=$(wc -l <"$T/sink.jsonl")
    fv_ctl POST calls/end "{\"call_id\":\"$C3\"}" >/dev/null
    sleep 0.5
    [ "$(wc -l <"$T/sink.jsonl")" = "$n" ] || fail "webhook sent while disabled"
    assert_absent "$HOOK_SECRET" "$T/fake-voice.log"
}

# js_prepare: npm ci of the pinned client into the build directory; sets
# JS_SKIP when node or npm is missing.
js_prepare() {
    JS_SKIP=
    command -v node >/dev/null || JS_SKIP="node is not installed (scripts/setup.sh installs nodejs)"
    command -v npm >/dev/null || JS_SKIP="npm is not installed (scripts/setup.sh installs npm)"
    [ -z "$JS_SKIP" ] || return 0
    # npm ci into the build directory, once per lock file
    JS_SRC=$PS_SRC/tests/fakes/voice/signalr-js
    JS_DIR=$PS_BUILD/tests/signalr-js
    mkdir -p "$JS_DIR"
    if ! cmp -s "$JS_SRC/package-lock.json" "$JS_DIR/package-lock.json" ||
        [ ! -d "$JS_DIR/node_modules/@microsoft/signalr" ]; then
        cp "$JS_SRC/package.json" "$JS_SRC/package-lock.json" "$JS_DIR/"
        (cd "$JS_DIR" && npm ci --no-audit --no-fund --cache "$JS_DIR/.npm-cache" \
            >"$T/npm.log" 2>&1) || fail "npm ci failed: $(tail -20 "$T/npm.log")"
    fi
    cp "$JS_SRC/check.js" "$JS_DIR/check.js"
}

run_check() { # NAME [env...]
    local name=$1
    shift
    env FV_CTL="$FV" FV_API="$FV_API" FV_USER="$FV_USER" FV_SECRET="$FV_SECRET" \
        FV_EMAIL=alice@contoso.com "$@" node "$JS_DIR/check.js" >"$T/$name.out" 2>&1 ||
        fail "$name: $(cat "$T/$name.out")"
    has '^ALL OK$' <"$T/$name.out" || fail "$name: $(cat "$T/$name.out")"
}

scenario_signalr_js() {
    js_prepare
    [ -z "$JS_SKIP" ] || return 0
    # 1. the real form, over TLS
    local shared=("$FV" "$FV_PORT" "$FV_PID" "$FV_API")
    FV_TLS=1
    fv_start
    fv_user alice@contoso.com >/dev/null
    run_check tls NODE_EXTRA_CA_CERTS="$FV_CA"
    has "^WSSEndpoint 127.0.0.1:$FV_TLS_PORT/rte/hub$" <"$T/tls.out" || fail "endpoint: $(cat "$T/tls.out")"
    has '^ok connected via https' <"$T/tls.out" || fail "not over https"
    has '^ok StreamInvocation completed with an error$' <"$T/tls.out" || fail "stream"
    has '^ok unknown connection id refused with 404$' <"$T/tls.out" || fail "404"
    kill "$FV_PID"
    wait "$FV_PID" 2>/dev/null || true
    FV=${shared[0]} FV_PORT=${shared[1]} FV_PID=${shared[2]} FV_API=${shared[3]}
    # 2. the shared simulator, which answers http:// (no TLS)
    FV_TLS=0
    FV_CA=
    fv_user alice@contoso.com >/dev/null
    run_check http
    has "^WSSEndpoint http://127.0.0.1:$FV_PORT/rte/hub$" <"$T/http.out" || fail "endpoint: $(cat "$T/http.out")"
    has '^ok connected via http ' <"$T/http.out" || fail "not over http"
    assert_absent "$FV_SECRET" "$T/tls.out" "$T/http.out"
}

scenario_rest() {
    # --- command line
    "$FAKE_VOICE" >/dev/null 2>"$T/noport.err" && fail "no --port accepted"
    grep -q -- '--port is required' "$T/noport.err" || fail "no clear error without --port"
    "$FAKE_VOICE" --port 0 --user a@x.com --secret-key-file "$T/missing" 2>"$T/nofile.err" &&
        fail "missing secret file accepted"
    grep -q 'cannot open secret key file' "$T/nofile.err" || fail "no clear error for missing file"
    "$FAKE_VOICE" --port 0 --user a@x.com 2>/dev/null && fail "--user without secret accepted"

    # The secret never reaches the log.
    ps_args=$(tr '\0' ' ' </proc/"$FV_PID"/cmdline)
    case $ps_args in *"$FV_SECRET"*) fail "secret in argv" ;; esac

    # --- discovery: no auth; an array by default, with a trailing slash
    body=$(curl -s "$FV/api/user?user=alice%40contoso.com")
    [ "$(jq -r '.[0].apiEndpoint' <<<"$body")" = "$FV/api/" ] || fail "discovery: $body"
    [ "$(http_status "$FV/api/user")" = 400 ] || fail "discovery without user"
    fv_ctl POST settings '{"discovery_format":"object","discovery_trailing_slash":false}' >/dev/null
    body=$(curl -s "$FV/api/user?user=alice@contoso.com")
    [ "$(jq -r '.apiEndpoint' <<<"$body")" = "$FV/api" ] || fail "discovery object: $body"

    # --- Basic auth on every REST call
    [ "$(http_status "$FV_API/users/me")" = 401 ] || fail "no auth must be 401"
    [ "$(http_status "$FV_API/users/me" -u "$FV_USER:wrong")" = 401 ] || fail "bad secret"
    [ "$(http_status "$FV_API/users/me" -u "other@contoso.com:$FV_SECRET")" = 401 ] || fail "bad user"
    [ "$(http_status "$FV_API/users" -H 'Authorization: Bearer x')" = 401 ] || fail "bearer on REST"
    [ "$(fv_api GET /users/me)" = 200 ] || fail "good auth"
    ME=$(jq -r .Id "$T/api.body")
    [[ $ME =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "me id $ME"
    [ "$(jq -r .OrganizationID "$T/api.body")" != null ] || fail "no OrganizationID"
    fv_ctl POST settings '{"reject_auth":true}' >/dev/null
    [ "$(fv_api GET /users/me)" = 401 ] || fail "reject_auth ignored"
    fv_ctl POST settings '{"reject_auth":false}' >/dev/null
    [ "$(fv_api GET /users/me)" = 200 ] || fail "reject_auth off"

    # --- users
    ALICE=$(fv_user Alice@Contoso.com)
    BOB=$(fv_user bob@contoso.com)
    [ "$(fv_ctl_status POST users '{"email":"alice@contoso.com"}')" = 409 ] || fail "duplicate user"
    [ "$(fv_ctl_status POST users '{"email":"nobody"}')" = 400 ] || fail "bad e-mail"
    [ "$(fv_ctl_status POST users 'not json')" = 400 ] || fail "bad JSON"
    [ "$(fv_api GET /users)" = 200 ] || fail "users"
    [ "$(jq -r --arg id "$ALICE" '.[] | select(.Id==$id) | .UserName' "$T/api.body")" = Alice@Contoso.com ] ||
        fail "alice not listed: $(cat "$T/api.body")"
    [ "$(jq 'length' "$T/api.body")" = 3 ] || fail "users count (account + 2)"
    [ "$(fv_api GET "/users/$BOB")" = 200 ] || fail "users/{id}"
    [ "$(fv_api GET /users/nope)" = 404 ] || fail "unknown user"

    # --- RTE token
    EP=$(fv_token)
    [ "$EP" = "$FV/rte/hub" ] || fail "WSSEndpoint $EP"
    payload=$(cut -d. -f2 "$T/token" | tr '_-' '/+')
    while [ $((${#payload} % 4)) -ne 0 ]; do payload+="="; done
    exp=$(base64 -d <<<"$payload" | jq .exp)
    now=$(date +%s)
    [ "$exp" -gt "$now" ] && [ "$exp" -le $((now + 3601)) ] || fail "token exp $exp"
    [ "$(fv_api GET "/token/$BOB/rte/")" = 403 ] || fail "token for another user"
    [ "$(fv_api GET /token/nope/rte/)" = 404 ] || fail "token for unknown user"
    [ "$(fv_api POST "/token/$ME/rte/" -d '')" = 405 ] || fail "POST token"

    # --- external 'talking' flag: idempotent, not a call
    put_talking() {
        fv_api PUT "/users/$1/externalcallstate" -H 'Content-Type: application/json' -d "$2"
    }
    [ "$(put_talking "$ALICE" '{"InCall":true,"Source":"MSTeams"}')" = 204 ] || fail "PUT true"
    [ "$(put_talking "$ALICE" '{"InCall":true,"Source":"MSTeams"}')" = 204 ] || fail "PUT true twice"
    state=$(fv_ctl GET state)
    [ "$(jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking' <<<"$state")" = true ] ||
        fail "talking not kept: $state"
    [ "$(jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking_writes' <<<"$state")" = 2 ] ||
        fail "writes not counted"
    [ "$(jq --arg id "$ALICE" '.users[] | select(.id==$id) | .calls | length' <<<"$state")" = 0 ] ||
        fail "the flag made a call"
    [ "$(jq '.calls | length' <<<"$state")" = 0 ] || fail "the flag made a call"
    [ "$(put_talking "$ALICE" '{"InCall":false,"Source":"MSTeams"}')" = 204 ] || fail "PUT false"
    [ "$(fv_ctl GET state | jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking')" = false ] ||
        fail "talking not cleared"
    [ "$(put_talking "$ALICE" '{"InCall":"yes"}')" = 400 ] || fail "bad InCall"
    [ "$(put_talking "$ALICE" 'garbage')" = 400 ] || fail "bad body"
    [ "$(put_talking nope '{"InCall":true}')" = 404 ] || fail "unknown user PUT"
    [ "$(fv_api GET "/users/$ALICE/externalcallstate")" = 405 ] || fail "GET externalcallstate"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"InCall":true}' \
        "$FV_API/users/$ALICE/externalcallstate")" = 401 ] || fail "PUT without auth"
    [ "$(fv_ctl GET state | jq --arg id "$ALICE" '.users[] | select(.id==$id) | .talking')" = false ] ||
        fail "unauthenticated PUT changed the flag"

    # --- request log: method, path, status, time, body for writes
    reqs=$(fv_ctl GET requests)
    jqe --arg p "/api/users/$ALICE/externalcallstate" \
        '[.[] | select(.method=="PUT" and .path==$p and .status==204)] | length == 3' <<<"$reqs" \
        >/dev/null || fail "PUTs not recorded: $reqs"
    jqe '[.[] | select(.method=="PUT" and .status==204)][0].body == "{\"InCall\":true,\"Source\":\"MSTeams\"}"' \
        <<<"$reqs" >/dev/null || fail "PUT body not recorded"
    jqe '[.[] | select(.method=="GET")] | all(has("body") | not)' <<<"$reqs" >/dev/null ||
        fail "GET bodies recorded"
    jqe '.[0].time | test("^20[0-9-]+T[0-9:.]+Z$")' <<<"$reqs" >/dev/null || fail "no time"
    jqe 'map(.path) | all(startswith("/_sim") | not)' <<<"$reqs" >/dev/null ||
        fail "control calls recorded"
    fv_ctl DELETE requests >/dev/null
    [ "$(fv_ctl GET requests)" = "[]" ] || fail "requests not cleared"

    # --- control API errors
    [ "$(fv_ctl_status POST settings '{"framing":"zigzag"}')" = 400 ] || fail "bad framing"
    [ "$(fv_ctl_status POST settings '{"nope":1}')" = 400 ] || fail "unknown setting"
    [ "$(fv_ctl_status POST calls/start '{"email":"ghost@contoso.com"}')" = 404 ] || fail "call ghost"
    [ "$(fv_ctl_status POST calls/start "{\"user_id\":\"$BOB\",\"direction\":\"sideways\"}")" = 400 ] ||
        fail "bad direction"
    [ "$(fv_ctl_status POST calls/end '{"call_id":"nope"}')" = 404 ] || fail "end unknown call"
    [ "$(fv_ctl_status GET nope)" = 404 ] || fail "unknown control path"
    [ "$(fv_ctl_status PUT state '{}')" = 405 ] || fail "control wrong method"
    [ "$(fv_ctl_status POST webhook '{"url":"ftp://x"}')" = 400 ] || fail "bad webhook url"

    # --- calls in the state view: several terminals and calls at once
    C1=$(fv_ctl POST calls/start "{\"email\":\"bob@contoso.com\",\"terminal\":\"desk\"}" | jq -r .call_id)
    C2=$(fv_ctl POST calls/start "{\"user_id\":\"$BOB\",\"terminal\":\"mobile\",\"direction\":\"outbound\",\"call_id\":\"c-2\"}" | jq -r .call_id)
    [ "$C2" = c-2 ] || fail "call_id not taken"
    [ "$(fv_ctl_status POST calls/start "{\"user_id\":\"$BOB\",\"call_id\":\"c-2\"}")" = 409 ] ||
        fail "duplicate call id"
    state=$(fv_ctl GET state)
    [ "$(jq --arg id "$BOB" '.users[] | select(.id==$id) | .calls | length' <<<"$state")" = 2 ] ||
        fail "two calls expected: $state"
    [ "$(jq -r '.calls[] | select(.call_id=="c-2") | .terminal + "/" + .direction' <<<"$state")" = mobile/outbound ] ||
        fail "call details"
    fv_ctl POST calls/end '{"email":"bob@contoso.com","terminal":"desk"}' | jqe --arg c "$C1" '.ended == [$c]' >/dev/null ||
        fail "end by terminal"
    fv_ctl POST calls/end '{"call_id":"c-2"}' >/dev/null
    [ "$(fv_ctl GET state | jq '.calls | length')" = 0 ] || fail "calls left"

    # --- account via the control API, reset
    fv_ctl POST account '{"username":"svc@contoso.com","secret_key":"other-key"}' >/dev/null
    [ "$(http_status "$FV_API/users/me" -u 'svc@contoso.com:other-key')" = 200 ] || fail "new account"
    [ "$(fv_api GET /users/me)" = 401 ] || fail "old account still valid"
    [ "$(fv_ctl_status POST account '{"username":"svc@contoso.com"}')" = 400 ] || fail "account w/o key"
    fv_ctl POST reset >/dev/null
    state=$(fv_ctl GET state)
    [ "$(jq '.users | length' <<<"$state")" = 1 ] || fail "reset left users: $state"
    [ "$(jq -r '.users[0].email' <<<"$state")" = svc@contoso.com ] || fail "reset lost the account"
    # the account put back for what follows
    fv_ctl POST account "$(jq -nc --arg u "$FV_USER" --arg k "$FV_SECRET" '{username: $u, secret_key: $k}')" >/dev/null
    [ "$(fv_api GET /users/me)" = 200 ] || fail "account not put back"
}

scenario_shutdown() {
    ALICE=$(fv_user alice@contoso.com)
    BOB=$(fv_user bob@contoso.com)
    EP=$(fv_token)
    probe_start down --endpoint "$EP" --token-file "$T/token" --users "$ALICE,$BOB" --seconds 20
    probe_wait_sub down
    # SIGTERM with a live hub connection and a call: a clean stop (under ASan
    # this also checks that nothing leaks).
    fv_ctl POST calls/start '{"email":"bob@contoso.com"}' >/dev/null
    kill -TERM "$FV_PID"
    rc=0
    wait "$FV_PID" || rc=$?
    [ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
    wait_line 5 "$T/down.probe" '^closed$' || fail "probe not closed at shutdown"
    assert_absent "$FV_SECRET" "$T/fake-voice.log"
    assert_absent other-key "$T/fake-voice.log"

    # --advertise-host: the name containers reach it by, in both endpoints
    fv_start --host 0.0.0.0 --advertise-host fake-voice
    curl -s "$FV/api/user?user=$FV_USER" | jqe '.[0].apiEndpoint | startswith("http://fake-voice:")' \
        >/dev/null || fail "apiEndpoint does not use the advertised host"
    ME=$(curl -s -u "$FV_USER:$FV_SECRET" "$FV_API/users/me" | jq -r .Id)
    curl -s -u "$FV_USER:$FV_SECRET" "$FV_API/token/$ME/rte/" |
        jqe '.WSSEndpoint | startswith("http://fake-voice:")' >/dev/null ||
        fail "WSSEndpoint does not use the advertised host"
}

command -v jq >/dev/null || fail "jq is needed"
fv_start
for s in faults hub hub_faults webhook signalr_js rest shutdown; do
    log "scenario $s"
    "scenario_$s"
    [ "$s" = shutdown ] || fv_ctl POST reset >/dev/null
done
if [ -n "$JS_SKIP" ]; then
    echo "SKIP: the signalr_js scenario: $JS_SKIP (every other scenario passed)"
    exit 77
fi
pass
