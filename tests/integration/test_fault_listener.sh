#!/usr/bin/env bash
# Fault suite, listener limits (docs/security.md), against the daemon's own
# listener with its defaults (connector/core/http_server.h: 256 connections,
# 10 s to send the headers, 8192 header bytes; http.max_body_bytes 4 MiB):
# - 100 slow clients trickling their headers one byte every 0.5 s are held
#   open; meanwhile a Graph-style change notification is answered 202 and the
#   validation handshake 200 (echoing the token) in well under 1 s
#   (BOUND_MS), every time; the slow clients are dropped by the 10 s header
#   timeout (all of them within 20 s);
# - over the connection cap (300 idle sockets): extra connections are closed
#   on accept, the daemon stays up and serves again once they are released;
# - headers over 8192 bytes: connection dropped, no answer; a body over
#   max_body_bytes (outside the Graph webhook): 413.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

BOUND_MS=500 # per webhook answer while the slow clients are held
N_SLOW=100

ms_setup alice@contoso.com
ms_start
NOTIFY=$WEB/graph/notify/contoso

# a Graph-style change notification (basic, wrong clientState: the daemon
# answers 202 before any check, docs/http.md, and then drops it)
ALICE_ID=$(g_user alice@contoso.com | jq -r .id)
SUB_ID=$(sim_subs | jq -r '.[0].id')
jq -nc --arg s "$SUB_ID" --arg u "$ALICE_ID" --arg t "$TENANT_ID" '{value: [{
    subscriptionId: $s, subscriptionExpirationDateTime: "2030-01-01T00:00:00Z",
    changeType: "updated", clientState: "not-the-right-one",
    resource: ("communications/presences/" + $u),
    resourceData: {"@odata.type": "#Microsoft.Graph.presence",
                   "@odata.id": ("users/" + $u + "/presence"), id: $u},
    tenantId: $t, organizationId: $t}]}' >"$T/notification.json"

# timed_post URL [curl args]: prints "STATUS MS BODY".
timed_post() {
    local url=$1
    shift
    curl -s --max-time 5 -o "$T/answer" -w '%{http_code} %{time_total}' -X POST "$@" "$url" |
        awk '{printf "%s %d", $1, $2 * 1000}'
    printf ' %s\n' "$(cat "$T/answer" 2>/dev/null)"
}

# --- 100 slow clients trickling headers -------------------------------------
# One bash process holds them all: each gets a request line, then one header
# byte per socket every 0.5 s; a socket the daemon closed shows EOF on read.
(
    trap "" PIPE
    set +e
    fds=()
    for _ in $(seq 1 $N_SLOW); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$HTTP_PORT" || continue
        printf 'POST /graph/notify/contoso HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&$fd
        fds+=("$fd")
    done
    echo "${#fds[@]}" >"$T/slow.opened"
    start=$(date +%s%N)
    declare -A gone=()
    while [ ${#gone[@]} -lt ${#fds[@]} ] && [ $(($(date +%s%N) - start)) -lt 30000000000 ]; do
        for fd in "${fds[@]}"; do
            [ -n "${gone[$fd]:-}" ] && continue
            # read: 1 = EOF (dropped), >128 = nothing to read (still open)
            read -r -t 0.001 -u "$fd" _ 2>/dev/null
            rc=$?
            if [ $rc -ge 1 ] && [ $rc -le 128 ]; then
                gone[$fd]=1
                continue
            fi
            { printf 'a' >&"$fd"; } 2>/dev/null || gone[$fd]=1
        done
        echo "${#gone[@]} $((($(date +%s%N) - start) / 1000000))" >>"$T/slow.progress"
        sleep 0.5
    done
) &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
wait_for 10 test -s "$T/slow.opened" || fail "slow clients did not open"
[ "$(cat "$T/slow.opened")" = $N_SLOW ] || fail "only $(cat "$T/slow.opened") slow clients opened"
sleep 1 # they are all mid-headers now
worst=0
for _ in 1 2 3 4 5 6; do
    read -r st ms _ < <(timed_post "$NOTIFY" -H 'Content-Type: application/json' \
        --data-binary @"$T/notification.json")
    [ "$st" = 202 ] || fail "notification answered $st while slow clients are held"
    [ "$ms" -gt "$worst" ] && worst=$ms
    read -r st ms body < <(timed_post "$NOTIFY?validationToken=Validation%3A+abc%2B%2F%3D" \
        -H 'Content-Type: text/plain; charset=utf-8' --data-binary '')
    [ "$st" = 200 ] || fail "validation answered $st while slow clients are held"
    [ "$body" = 'Validation: abc+/=' ] || fail "validation echoed '$body'"
    [ "$ms" -gt "$worst" ] && worst=$ms
    sleep 0.3
done
# the slow clients were still held while we measured
read -r gone_now _ < <(tail -1 "$T/slow.progress")
[ "$gone_now" -lt $N_SLOW ] || fail "the slow clients were gone before the measurement ended"
[ "$worst" -lt $BOUND_MS ] || fail "slowest webhook answer ${worst} ms (bound $BOUND_MS ms)"
log "webhook answers with $N_SLOW slow clients held: worst ${worst} ms (bound $BOUND_MS ms), $gone_now dropped so far"
# they are dropped by the header timeout (10 s; all within 20 s)
all_gone() { [ "$(tail -1 "$T/slow.progress" | cut -d' ' -f1)" = $N_SLOW ]; }
wait_for 25 all_gone || fail "slow clients still held: $(tail -1 "$T/slow.progress")"
read -r _ gone_ms < <(tail -1 "$T/slow.progress")
[ "$gone_ms" -lt 20000 ] || fail "slow clients dropped only after $gone_ms ms"
[ "$gone_ms" -ge 8000 ] || fail "slow clients dropped after $gone_ms ms, before the 10 s timeout"
log "all $N_SLOW slow clients dropped after ${gone_ms} ms (header timeout 10 s)"
wait "$SLOW_PID" 2>/dev/null || true
pass "slow clients"

# --- the connection cap (256) ------------------------------------------------
(
    trap "" PIPE
    set +e
    fds=()
    for _ in $(seq 1 300); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$HTTP_PORT" 2>/dev/null && fds+=("$fd")
    done
    sleep 1
    closed=0
    for fd in "${fds[@]}"; do
        read -r -t 0.01 -u "$fd" _ 2>/dev/null
        rc=$?
        [ $rc -ge 1 ] && [ $rc -le 128 ] && closed=$((closed + 1))
    done
    echo "$closed" >"$T/cap.closed"
    http_status "$WEB/healthz" >"$T/cap.status"
    sleep 0.5
) || true
closed=$(cat "$T/cap.closed")
# 300 opened; the cap is 256 live connections (including the daemon's own
# probes, if any), so at least 44 must have been closed on accept
[ "$closed" -ge 44 ] || fail "only $closed of 300 connections closed over the cap"
[ "$closed" -lt 300 ] || fail "every connection was closed (the cap is 256)"
grep -q 'connection refused: limit reached max_connections=256' "$T/daemon.log" ||
    fail "the cap was not logged"
log "connection cap: $closed of 300 idle connections closed on accept; healthz while full: $(cat "$T/cap.status")"
# released: it serves again at once
wait_for 5 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @$T/notification.json $NOTIFY)\" = 202 ]" ||
    fail "the webhook did not recover after the connections were released"
pass "connection cap"

# --- header and body limits ---------------------------------------------------
big=$(head -c 9000 /dev/zero | tr '\0' h)
st=$(http_status "$NOTIFY" -X POST -H "X-Big: $big" -H 'Content-Type: application/json' \
    --data-binary @"$T/notification.json")
[ "$st" = 202 ] && fail "9000 bytes of headers accepted"
[ "$st" = 000 ] || log "oversized headers answered $st (documented: connection dropped)"
# (the Graph webhook paths take up to 65,536,000 bytes: test_graph_notify_limit.sh)
head -c $((4194304 + 1)) /dev/zero | tr '\0' x >"$T/big.body"
st=$(http_status "$WEB/voice/events/contoso" -X POST -H 'Content-Type: application/json' --data-binary @"$T/big.body")
[ "$st" = 413 ] || fail "a body over max_body_bytes answered $st, not 413"
read -r st ms _ < <(timed_post "$NOTIFY" -H 'Content-Type: application/json' \
    --data-binary @"$T/notification.json")
[ "$st" = 202 ] || fail "webhook unwell after the limit tests: $st"
[ "$(http_status "$WEB/healthz")" = 200 ] || fail "healthz after the limit tests"
kill -0 "$PS_PID" || fail "the daemon died"
pass "header and body limits"

# the daemon still syncs (the listener work did not disturb it)
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 10 alice@contoso.com true
pass
