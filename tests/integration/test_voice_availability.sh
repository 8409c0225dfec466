#!/usr/bin/env bash
# talking_request.mode "availability" (opt-in, a deviation from the
# product's behaviour: docs/voice.md "Writing 'talking'"): 'talking' true
# creates an availability entry with our EventSource (POST
# /users/{id}/availability, as public client code does) and remembers its
# Id; false deletes exactly that entry. An entry the user made is never
# deleted; a process that did not create the entry (a restart) reads the
# current one and deletes it only when its EventSource is ours. End to end
# through the mapper too.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

PROBE=$PS_BUILD/tests/tools/voice_writer_probe
[ -x "$PROBE" ] || fail "voice_writer_probe not built: $PROBE"
ms_setup alice@contoso.com bob@contoso.com
ALICE=$(fv_ctl GET state | jq -r '.users[] | select(.email == "alice@contoso.com") | .id')
probe() {
    "$PROBE" --api "$FV_API" --user "$FV_USER" --secret-key-file "$T/voice.key" \
        --mode availability --event-type-id 3 --event-source presence-sync "$@" 2>>"$T/probe.err"
}
entries() { fv_ctl GET state | jq -c --arg e "$1" '[.users[] | select(.email == $e) | .availability[] | {s: .EventSource, t: .EventTypeID, id: .Id}]'; }
n_entries() { entries "$1" | jq length; }

# the user's own entry (made in the Voice app)
OWN=$(fv_ctl POST availability '{"email":"alice@contoso.com","event_type_id":2,"source":"Voice app","note":"lunch"}' | jq -r .Id)

posts() { fv_ctl GET requests | jq --arg p "/api/users/$ALICE/availability" '[.[] | select(.method == "POST" and .path == $p)] | length'; }
deletes() { fv_ctl GET requests | jq '[.[] | select(.method == "DELETE")] | length'; }

# 1. true, and true again: one entry of ours (the second value sends nothing)
fv_ctl DELETE requests >/dev/null
out=$(probe --set alice@contoso.com=true --set alice@contoso.com=true)
[ "$(echo "$out" | grep -c '^result user=alice@contoso.com talking=true status=ok')" = 2 ] ||
    fail "true, true: $out"
[ "$(posts)" = 1 ] || fail "expected one POST, got $(posts)"
entries alice@contoso.com | jqe 'length == 2 and .[1].s == "presence-sync" and .[1].t == 3' \
    >/dev/null || fail "not created: $(entries alice@contoso.com)"
fv_ctl GET requests | jqe --arg p "/api/users/$ALICE/availability" '[.[] | select(.method == "POST" and
    .path == $p)][-1].body | fromjson | .EventTypeID == 3 and .EventSource == "presence-sync" and
    .UserID != null' >/dev/null || fail "POST body: $(fv_ctl GET requests | jq -c '.[-1]')"

# 2. a restart: a new process did not create the entry; it reads the
#    current one and deletes it because it is ours
fv_ctl DELETE requests >/dev/null
out=$(probe --set alice@contoso.com=false)
echo "$out" | has 'talking=false status=ok' || fail "restart false: $out"
fv_ctl GET requests | jqe '[.[] | select(.path | endswith("/availability/current"))] | length == 1' \
    >/dev/null || fail "current not read: $(fv_ctl GET requests | jq -c '[.[] | .method + " " + .path]')"
[ "$(deletes)" = 1 ] || fail "ours not deleted"
entries alice@contoso.com | jqe --arg id "$OWN" 'length == 1 and .[0].id == $id' >/dev/null ||
    fail "after the restart: $(entries alice@contoso.com)"

# 3. now the current entry is the user's: nothing is deleted
fv_ctl DELETE requests >/dev/null
out=$(probe --set alice@contoso.com=false)
echo "$out" | has 'talking=false status=ok' || fail "false with the user's entry: $out"
[ "$(deletes)" = 0 ] || fail "a DELETE was sent for the user's entry"
entries alice@contoso.com | jqe --arg id "$OWN" 'length == 1 and .[0].id == $id' >/dev/null ||
    fail "the user's entry did not survive: $(entries alice@contoso.com)"

# 4. true then false in one process: exactly our entry is deleted (by Id)
fv_ctl DELETE requests >/dev/null
out=$(probe --set alice@contoso.com=true --set alice@contoso.com=false)
echo "$out" | has 'talking=false status=ok' || fail "true, false: $out"
[ "$(posts)" = 1 ] && [ "$(deletes)" = 1 ] || fail "expected one POST and one DELETE"
fv_ctl GET requests | jqe '[.[] | select(.path | endswith("/current"))] | length == 0' >/dev/null ||
    fail "the entry's Id was not remembered"
entries alice@contoso.com | jqe --arg id "$OWN" 'length == 1 and .[0].id == $id' >/dev/null ||
    fail "after true, false: $(entries alice@contoso.com)"

# 3. end to end through the mapper: a Teams call makes our entry, its end
#    removes it, the user's own entry stays
MS_TALKING_REQUEST='{"mode":"availability","event_type_id":3,"note":"In a Teams call"}'
ms_config
"$PS_BIN" check-config -c "$T/ps.json" >"$T/check.out" 2>&1 || fail "check-config"
grep -q 'warning:  voice.talking_request.mode is "availability"' "$T/check.out" ||
    fail "no deviation warning: $(cat "$T/check.out")"
ms_start
sim POST /users/alice@contoso.com/start/call >/dev/null
n_entries_is() { [ "$(n_entries "$1")" = "$2" ]; }
wait_for 10 n_entries_is alice@contoso.com 2 ||
    fail "no entry for the Teams call: $(entries alice@contoso.com)"
entries alice@contoso.com | jqe '.[1].s == "presence-sync"' >/dev/null || fail "not ours"
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_for 10 n_entries_is alice@contoso.com 1 ||
    fail "our entry not removed: $(entries alice@contoso.com)"
entries alice@contoso.com | jqe --arg id "$OWN" '.[0].id == $id' >/dev/null ||
    fail "the user's entry did not survive the mapper: $(entries alice@contoso.com)"
[ "$(n_entries bob@contoso.com)" = 0 ] || fail "bob got an entry"
assert_absent "$FV_SECRET" "$T/probe.err" "$T/daemon.log"
pass test_voice_availability
