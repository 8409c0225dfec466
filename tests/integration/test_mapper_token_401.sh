#!/usr/bin/env bash
# A 401 in the middle of a 429 backoff: the clear that ends a Voice call is
# answered 429 (Retry-After 2 s) twice; meanwhile the app token expires
# (fake-graph expires every token), so the third attempt gets 401. The Graph
# client drops the token, fetches a new one and sends the clear again at
# once: the 200 follows the 401 within a second, not after the backoff the
# failures had built up (docs/graph.md "The Graph client"). The 401 is never
# a failure of the write: B/sync never shows it, and the retries are the 429s'.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com
ms_start
ALICE=$(g_id alice@contoso.com)
CLEAR=/v1.0/users/$ALICE/presence/clearPresence
seq_now() { sim GET /requests | jq '[.[].seq] | max // 0'; }

C=$(call_start '{"email":"alice@contoso.com"}')
wait_g_session 10 alice@contoso.com Busy/InACall
sim POST /faults "{\"method\":\"POST\",\"path\":\"$CLEAR\",\"status\":429,\"retry_after\":2,\"count\":2}" |
    jqe . >/dev/null || fail "fault not accepted"
S0=$(seq_now)
call_end "$C"
clears() { sim GET "/requests?since=$S0" | jq -c --arg p "$CLEAR" '[.[] | select(.path == $p)]'; }
two_429() { clears | jqe 'length >= 2 and all(.[]; .status == 429)' >/dev/null; }
wait_for 10 two_429 || fail "no two 429s: $(clears)"
# the token expires while the mapper waits out the second Retry-After
sim POST /tokens/expire >/dev/null
wait_g_session 10 alice@contoso.com ""
wait_for 10 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"

sim GET "/requests?since=$S0" >"$T/req.json"
python3 - "$T/req.json" "$CLEAR" <<'PY' || fail "the clear after the 401 was not sent at once"
import json, sys
reqs, clear = json.load(open(sys.argv[1])), sys.argv[2]
c = [r for r in reqs if r["path"] == clear]
print("clears:", [(r["status"], r["t_ms"]) for r in c])
assert [r["status"] for r in c] == [429, 429, 401, 200], "expected 429, 429, 401, 200"
t401, t200 = c[2]["t_ms"], c[3]["t_ms"]
tokens = [r for r in reqs if r["path"].endswith("/oauth2/v2.0/token") and t401 <= r["t_ms"] <= t200
          and "client_credentials" in r.get("auth", "")]
assert tokens, "no new app token between the 401 and the retry"
assert t200 - t401 < 1000, f"the retry came {t200 - t401} ms after the 401"
# the 429s were honoured: no sooner than their Retry-After
assert c[1]["t_ms"] - c[0]["t_ms"] >= 1900 and c[2]["t_ms"] - c[1]["t_ms"] >= 1900
print(f"401 -> new token -> 200 in {t200 - t401} ms")
PY
# the write failed only with the 429s (two failures), never with the 401
! grep -q 'graph write failed.*401' "$T/daemon.log" || fail "the 401 reached the mapper"
[ "$(grep -c 'graph write failed.*action=graph_clear' "$T/daemon.log")" = 2 ] ||
    fail "clear failures: $(grep 'graph write failed' "$T/daemon.log")"
grep -q '401 from Graph, new token and again' "$T/daemon.log" || fail "no 401 retry logged"
pass
