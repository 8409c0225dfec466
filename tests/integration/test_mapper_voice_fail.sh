#!/usr/bin/env bash
# Voice writes end (docs/mapper.md, docs/voice.md "Writing 'talking'"): the
# writer sends one request per value and reports one result; a write that
# fails with 503 forever is retried by the mapper with growing delays, shows
# its last error in B/sync/<id>, and holds no write slot: another user's
# write goes through meanwhile, at once.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com
ms_start
ALICE=$(fv_ctl GET state | jq -r '.users[] | select(.email == "alice@contoso.com") | .id')
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",
    \"status\":503,\"count\":1000000}" >/dev/null
fv_ctl DELETE requests >/dev/null
puts() { # PUT times of alice's flag, in ms
    fv_ctl GET requests | jq -r --arg p "/api/users/$ALICE/externalcallstate" \
        '.[] | select(.method == "PUT" and .path == $p) | .time'
}
n_puts() { puts | wc -l; }
at_least() { [ "$(n_puts)" -ge "$1" ]; }

sim POST /users/alice@contoso.com/start/call >/dev/null
wait_busy 10 alice@contoso.com true
wait_for 10 at_least 3 || fail "alice's write not retried: $(n_puts) PUTs"
# B/sync shows the failure, the last error and the retry
wait_for 5 bash -c "mosquitto_sub -p $MQTT_PORT -t '$BRIDGE/sync/alice@contoso.com' -C 1 -W 2 |
    jqe '.last_error.error | test(\"voice.*503\")'" ||
    fail "B/sync/alice shows no 503: $(sync_of alice@contoso.com)"

# bob's write is not blocked by alice's failing one
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_v_talking 5 bob@contoso.com true
[ "$(v_talking alice@contoso.com)" = false ] || fail "alice's flag changed"

# the retries back off: the gaps between alice's PUTs grow
wait_for 20 at_least 5 || fail "alice's write stopped being retried: $(n_puts) PUTs"
python3 - "$(puts | tr '\n' ' ')" <<'PY' || fail "no backoff: $(puts | tr '\n' ' ')"
import sys, datetime
def ms(t):
    return datetime.datetime.strptime(t[:23] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
ts = [ms(t) for t in sys.argv[1].split()]
gaps = [b - a for a, b in zip(ts, ts[1:])]
print("gaps ms", [round(g) for g in gaps])
# backoff 1 s doubling (jittered): the later gaps are longer than the first
assert len(gaps) >= 4, gaps
assert max(gaps[2:]) > 1.5 * min(gaps[:2]), gaps
PY
# the failure is reported (mapper retries metric), bob's write was ok
[ "$(metric 'mapper_retries_total{side="voice"}')" -ge 2 ] || fail "no voice retries counted"

# the fault goes away: the next retry lands
fv_ctl DELETE faults >/dev/null
wait_v_talking 70 alice@contoso.com true
sim POST /users/alice@contoso.com/end/call >/dev/null
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_v_talking 10 alice@contoso.com false
wait_v_talking 10 bob@contoso.com false
wait_for 10 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"
pass test_mapper_voice_fail
