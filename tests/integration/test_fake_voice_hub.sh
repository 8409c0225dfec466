#!/usr/bin/env bash
# fake-voice RTE hub: negotiate, WebSocket, handshake, Subscribe, and the
# call events a SignalR client sees, in normal, merge and split framing.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

fv_start
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

# SIGTERM with a live hub connection and a call: a clean stop (under ASan
# this also checks that nothing leaks).
fv_ctl POST calls/start '{"email":"bob@contoso.com"}' >/dev/null
kill -TERM "$FV_PID"
rc=0
wait "$FV_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
wait_line 5 "$T/view.probe" '^closed$' || fail "probe not closed at shutdown"
pass "fake_voice_hub"
