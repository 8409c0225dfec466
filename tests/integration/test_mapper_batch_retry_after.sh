#!/usr/bin/env bash
# A $batch item's own Retry-After, given as a number ({"Retry-After": 3}, as
# fake-graph sends it with batch_retry_after_number), is honoured: three
# users show Busy when the daemon starts (a calendar meeting), so the
# start-up reconcile reads them and clears them, the clears asked for in
# one loop turn sharing a $batch (which users share one depends on when
# their reads came back: not asserted); bob's clear is answered 429 with
# Retry-After 3. Bob's clear comes again no sooner than 3 s later, and
# nothing presence-related goes to Graph meanwhile (the item blocks the
# tenant's budget too). Whether bob's clear shares a $batch depends on when
# the reads came back (seen both ways under load), so this end-to-end test
# accepts a single request too and says which it saw; the item form is
# proven deterministically by tests/component/test_graph_writer.c (an item's
# numeric Retry-After through the real writer and client) and the codec's
# forms (string, number, date) by tests/unit/test_graph_batch.c.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com
for u in alice bob carol; do sim POST "/users/$u@contoso.com/start/calendar" >/dev/null; done
BOB=$(g_id bob@contoso.com)
sim POST /settings '{"batch_retry_after_number":true}' | jqe '.batch_retry_after_number' >/dev/null ||
    fail "setting not taken"
sim POST /faults "{\"method\":\"POST\",\"path\":\"/v1.0/users/$BOB/presence/clearPresence\",\"status\":429,\"retry_after\":3,\"count\":1}" |
    jqe . >/dev/null || fail "fault not accepted"
S0=$(sim GET /requests | jq '[.[].seq] | max // 0')
ms_start

sim GET "/requests?since=$S0" >"$T/req.json"
python3 - "$T/req.json" "$BOB" <<'PY' || fail "Retry-After of the batch item not honoured"
import json, sys
reqs, bob = json.load(open(sys.argv[1])), sys.argv[2]
clears = [r for r in reqs if r["path"].endswith("/presence/clearPresence")]
print("clears:", [(r["path"].split("/")[3][:8], r["status"], r["batch_item"], r["t_ms"]) for r in clears])
b = [r for r in clears if f"/users/{bob}/" in r["path"]]
assert len(b) >= 2 and b[0]["status"] == 429, "bob's first clear: a 429"
print("bob's 429 came", "in a $batch item" if b[0]["batch_item"] else "as a single request")
assert b[1]["t_ms"] - b[0]["t_ms"] >= 2900, f"bob retried after {b[1]['t_ms'] - b[0]['t_ms']} ms"
assert b[-1]["status"] in (200, 404)
# the budget waited too: no presence request sent inside the Retry-After. A
# request is dated by when it was sent (t_ms - ms: the items of one $batch
# share their request's start, and fake-graph records bob's siblings a
# millisecond after his 429, which is not a request sent during the wait)
def sent(r):
    return r["t_ms"] - r["ms"]
b0 = sent(b[0])
pres = [r for r in reqs if b0 < sent(r) < b0 + 2900 and
        not (r["batch_item"] and b[0]["batch_item"] and abs(sent(r) - b0) <= 2) and
        ("/presence" in r["path"] or r["path"].endswith("getPresencesByUserId"))]
assert not pres, f"presence requests during the Retry-After: {[(r['path'], r['t_ms']) for r in pres]}"
print(f"bob's clear again after {b[1]['t_ms'] - b[0]['t_ms']} ms")
PY
[ "$(metric 'graph_throttled_total{tenant="contoso"}')" -ge 1 ] || fail "throttled item not counted"
pass
