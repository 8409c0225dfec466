#!/usr/bin/env bash
# fake-graph enforces Graph's presence limit over HTTP (docs/graph.md "The
# presence budget": 1,500 requests per 30 s per app per tenant, documented):
# the default limit and window, a 429 TooManyRequests with a Retry-After
# within the window once the limit is spent, per item in a $batch too,
# refused requests not counted, and a fresh budget once the window has slid.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

start_fake_graph
base_users
jqe '.presence_limit == 1500 and .presence_window_ms == 30000' <<<"$(ctl GET /settings)" >/dev/null ||
    fail "default presence limit: $(ctl GET /settings)"

# a small limit so that the test can spend it: 3 per 8 s (the eight
# requests below take a second or two even under load; a short window keeps
# the wait for it to slide short)
ctl POST /settings '{"presence_limit":3,"presence_window_ms":8000}' >/dev/null
ctl DELETE /presence_budget >/dev/null
at=$(app_token)

# presence_get PATH: "STATUS RETRY-AFTER" of a GET
presence_get() {
    curl -s -o /dev/null -D "$T/headers" -w '%{http_code}' -H "Authorization: Bearer $at" "$FG/v1.0$1" \
        >"$T/status"
    printf '%s %s' "$(cat "$T/status")" \
        "$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$T/headers")"
}

for i in 1 2 3; do
    r=$(presence_get "/users/$ALICE_ID/presence")
    [ "${r%% *}" = 200 ] || fail "request $i within the limit: $r"
done
r=$(presence_get "/users/$BOB_ID/presence")
[ "${r%% *}" = 429 ] || fail "request 4 over the limit: $r"
ra=${r#* }
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 8 ] || fail "Retry-After not within the window: '$ra'"
out=$(gcall GET "/users/$BOB_ID/presence" "$at")
[ "${out%% *}" = 429 ] || fail "still over the limit: $out"
jqe '.error.code == "TooManyRequests"' <<<"${out#* }" >/dev/null || fail "429 body: $out"

# getPresencesByUserId counts like any presence request
out=$(gcall POST /communications/getPresencesByUserId "$at" "{\"ids\":[\"$ALICE_ID\"]}")
[ "${out%% *}" = 429 ] || fail "getPresencesByUserId over the limit: $out"

# in a $batch each presence item is judged on its own, with its own Retry-After
batch="{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/users/$ALICE_ID/presence\"},
                     {\"id\":\"2\",\"method\":\"GET\",\"url\":\"/users/$BOB_ID/presence\"}]}"
out=$(gcall POST '/$batch' "$at" "$batch")
[ "${out%% *}" = 200 ] || fail "batch: $out"
jqe '[.responses[] | .status == 429 and ((.headers["Retry-After"] // .headers["retry-after"]) | tostring |
        tonumber >= 1)] | length == 2 and all' <<<"${out#* }" >/dev/null || fail "batch items: $out"

# refused requests are not counted: the window held 3, whatever was refused
b=$(ctl GET /presence_budget)
jqe '.limit == 3 and (.apps | length) == 1 and .apps[0].total == 3 and .apps[0].refused == 5 and
     .apps[0].max_in_window == 3' <<<"$b" >/dev/null || fail "budget count: $b"

# once the first requests leave the window, requests pass again
wait_for 15 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $at' \
    '$FG/v1.0/users/$ALICE_ID/presence')\" = 200 ]" || fail "no request passed after the window"
assert_absent "$CLIENT_SECRET" "$T/fake-graph.log"
pass
