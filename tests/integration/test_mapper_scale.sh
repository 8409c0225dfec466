#!/usr/bin/env bash
# 200 users toggle at once, both ways, while the Graph side re-reads
# everyone's presence every 2 s. Every presence request of the process (the
# mapper's writes and reads, the Graph side's resyncs) goes through one
# budget per tenant (shrunk here to 200 per 10 s so that it must act; in
# production Graph's 1,500 per 30 s) and $batch (20 per request). Checked
# twice: fake-graph counts presence requests per window as Graph does (each
# $batch item one, a getPresencesByUserId one) and refuses any over the same
# limit, and its request log shows no 10-second window with more than 200;
# batches were used, a whole $batch answered 503 was retried, and every user
# ends right.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

N=200
LIMIT=200
WINDOW_MS=10000
export PS_GRAPH_RATE_LIMIT=$LIMIT PS_GRAPH_RATE_WINDOW_MS=$WINDOW_MS PS_GRAPH_RESYNC_MS=2000
USERS=()
for i in $(seq -w 1 $N); do USERS+=("u$i@contoso.com"); done
ms_setup "${USERS[@]}"
MS_START_WAIT=90 ms_start
grep -q "graph client ready.*presence_budget=$LIMIT/${WINDOW_MS}ms" "$T/daemon.log" ||
    fail "limit override not used"
# fake-graph enforces the same limit from here on, and counts
sim POST /settings "{\"presence_limit\":$LIMIT,\"presence_window_ms\":$WINDOW_MS}" >/dev/null
sim DELETE /presence_budget >/dev/null

app_sessions() {
    sim GET /users | jq --arg c "$CLIENT_ID" '[.[] | select(any(.sessions[]; .type == "app" and .id == $c))] | length'
}
shown_count() { sim GET /users | jq --arg s "$1" '[.[] | select(.availability + "/" + .activity == $s)] | length'; }
talking_count() { fv_ctl GET state | jq '[.users[] | select(.talking)] | length'; }
count_is() { [ "$("$1")" = "$2" ]; }
shown_is() { [ "$(shown_count "$1")" = "$2" ]; }

SEQ0=$(sim GET /requests | jq '[.[].seq] | max // 0')

# --- Voice -> Teams: 200 calls at once; the first $batch is answered 503
sim POST /faults '{"method":"POST","path":"/v1.0/$batch","status":503,"retry_after":1,"count":1}' >/dev/null
T0=$(date +%s)
printf '%s\n' "${USERS[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --max-time 10 -X POST \
    -H 'Content-Type: application/json' --data-binary '{"email":"{}"}' "$FV/_sim/calls/start"
wait_for 60 count_is app_sessions $N || fail "app sessions: $(app_sessions) of $N"
wait_for 30 shown_is Busy/InACall $N || fail "Busy/InACall shown: $(shown_count Busy/InACall)"
log "200 sessions set in $(($(date +%s) - T0)) s"
[ "$(talking_count)" = 0 ] || fail "echo mirrored into Voice"
# all calls end
T0=$(date +%s)
fv_ctl GET state | jq -r '.calls[].call_id' | xargs -P 16 -I{} curl -s -o /dev/null --max-time 10 \
    -X POST -H 'Content-Type: application/json' --data-binary '{"call_id":"{}"}' "$FV/_sim/calls/end"
wait_for 90 count_is app_sessions 0 || fail "app sessions left: $(app_sessions)"
wait_for 30 shown_is Available/Available $N || fail "Available: $(shown_count Available/Available)"
log "200 sessions cleared in $(($(date +%s) - T0)) s"

# --- Teams -> Voice: 200 Teams calls at once
printf '%s\n' "${USERS[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --max-time 10 -X POST \
    --data-binary '' "$FG/_sim/users/{}/start/call"
wait_for 60 count_is talking_count $N || fail "Voice talking: $(talking_count) of $N"
printf '%s\n' "${USERS[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --max-time 10 -X POST \
    --data-binary '' "$FG/_sim/users/{}/end/call"
wait_for 60 count_is talking_count 0 || fail "Voice still talking: $(talking_count)"
[ "$(app_sessions)" = 0 ] || fail "a Teams call made a session"
# everybody quiet: nothing pending, no error left behind
wait_for 30 quiet_count_is $N || fail "only $(quiet_count) of $N users quiet"
log "all $N users quiet"


# --- the rate: fake-graph's own count, then its request log
sim GET /presence_budget | jqe --argjson l "$LIMIT" \
    '.apps | length == 1 and .[0].refused == 0 and .[0].max_in_window <= $l and .[0].total >= 400' \
    >/dev/null || fail "presence budget exceeded: $(sim GET /presence_budget)"
log "fake-graph presence count: $(sim GET /presence_budget | jq -c '.apps[0]')"
sim GET "/requests?since=$SEQ0" >"$T/requests.json"
python3 - "$T/requests.json" "$LIMIT" "$WINDOW_MS" <<'PY' || fail "rate check failed"
import json, re, sys
reqs = json.load(open(sys.argv[1]))
limit, window = int(sys.argv[2]), int(sys.argv[3])
pres = re.compile(r"^/v1\.0/users/[0-9a-f-]+/presence(/setPresence|/clearPresence)?$")
many = "/v1.0/communications/getPresencesByUserId"
# every presence request Graph counts: batch items one by one, each
# getPresencesByUserId (the mapper's reads and the Graph side's resyncs) one
counted = [r for r in reqs if pres.match(r["path"]) or r["path"] == many]
t = sorted(r["t_ms"] for r in counted if r["status"] != 429)
writes = [r for r in reqs if pres.match(r["path"]) and not r["path"].endswith("/presence")]
batches = [r for r in reqs if r["path"] == "/v1.0/$batch"]
items = sum(1 for r in reqs if r.get("batch_item") and pres.match(r["path"]))
reads = [r for r in reqs if r["path"] == many]
read_ids = [len(json.loads(r["body"])["ids"]) for r in reads if r.get("body", "").endswith("}")]
lo, worst = 0, 0
for hi in range(len(t)):
    while t[lo] <= t[hi] - window:
        lo += 1
    worst = max(worst, hi - lo + 1)
print(f"presence requests={len(t)} writes={len(writes)} batch_items={items} batches={len(batches)} "
      f"reads={len(reads)} ids_per_read={read_ids[:12]} max_in_{window}ms={worst} limit={limit}")
assert len(writes) >= 400, "expected >= 400 presence writes (set, clear per user)"
assert worst <= limit, f"{worst} requests in one window"
assert len(reads) >= 10, "the resyncs and settle reads did not run alongside"
assert not any(r["status"] == 429 for r in counted), "fake-graph refused a request"
assert len(batches) >= 10 and items >= len(writes) // 2, "batching not used"
assert batches[0]["status"] == 503, "the whole-batch fault was not hit first"
assert all(r["status"] == 200 for r in batches[1:]), "a batch failed"
# the settle read after each clear: many users per getPresencesByUserId
assert read_ids and max(read_ids) > 20, "reads were not merged"
PY
[ "$(metric 'mapper_graph_reads_total{outcome="ok"}')" -ge 1 ] ||
    fail "no read of the mapper answered"
pass
