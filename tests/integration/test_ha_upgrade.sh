#!/usr/bin/env bash
# Rolling upgrade, fencing and B/state with several instances of one
# configuration (docs/ha.md). Two run; B/health is the active one's, /readyz
# and the log of each say its role and the active one. A third is started
# (under another instance name: the same rule) and the active one gets
# SIGTERM while bob is in a Voice call: the handover gap is under 5 s,
# fake-graph sees no subscription created or deleted and no clearPresence
# (no write flap). Then the active one is paused (SIGSTOP)
# beyond its lease: a standby takes over and writes; resumed (SIGCONT), the
# paused one writes nothing and both settle with one active. B/state stays
# online while any instance lives, and says offline once the last is killed.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/ha_helpers.sh"

ha_setup 3 alice@contoso.com bob@contoso.com
ha_start a
ha_start b
wait_sides a b
ACTIVE=$(active_among a b)
STANDBY=$([ "$ACTIVE" = a ] && echo b || echo a)
wait_for 20 quiet_count_is 2 || fail "B/sync not quiet: $(quiet_count)"

node_of() { sed -n 's/.*lease node=\([^ ]*\).*/\1/p' "$T/$1.log" | tail -n 1; }
state_is() { mqtt_retained "$BRIDGE/state" | jqe --arg s "$1" '.state == $s' >/dev/null; }
readyz_role() {
    curl -s --max-time 5 "http://127.0.0.1:${PORT[$1]}/readyz" | jq -r '.components["role/contoso"].reason'
}
health_holder_is() {
    mqtt_retained "$BRIDGE/health" | jqe --arg n "$(node_of "$1")" \
        '.tenants.contoso.role.role == "active" and .tenants.contoso.role.node == $n and
         .tenants.contoso.role.holder == $n' >/dev/null
}

log "who says what: active=$ACTIVE standby=$STANDBY"
wait_for 10 health_holder_is "$ACTIVE" || fail "B/health is not the active's: $(mqtt_retained "$BRIDGE/health" | jq -c .tenants.contoso.role)"
readyz_role "$STANDBY" | has "^standby, active: $(node_of "$ACTIVE") (ps-mapper-test)" ||
    fail "standby /readyz: $(readyz_role "$STANDBY")"
readyz_role "$ACTIVE" | has "^active, active: $(node_of "$ACTIVE")" || fail "active /readyz: $(readyz_role "$ACTIVE")"
grep -E 'role tenant=contoso role=standby' "$T/$STANDBY.log" | tail -n 1 | has "holder=$(node_of "$ACTIVE") " ||
    fail "the standby's log does not name the active"
state_is online || fail "B/state: $(mqtt_retained "$BRIDGE/state")"

log "rolling upgrade: c starts, SIGTERM of $ACTIVE while bob is in a Voice call"
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 10 bob@contoso.com Busy/InACall
wait_for 10 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"
ha_start c '.instance = "ps-renamed"' # another instance name: the same rule
wait_for 30 link_up c || fail "c: Voice link not live"
wait_for 20 active_among "$ACTIVE" "$STANDBY" c >/dev/null || fail "c did not settle as standby: $(role c)"
SEQ=$(sim GET /requests | jq '[.[].seq] | max')
kill -TERM "${PID[$ACTIVE]}"
TERMED=$(date +%s%N)
wait_for 5 active_among "$STANDBY" c >/dev/null || fail "no handover within 5 s: $STANDBY=$(role "$STANDBY") c=$(role c)"
GAP=$((($(date +%s%N) - TERMED) / 1000000))
log "handover gap $GAP ms"
wait "${PID[$ACTIVE]}" 2>/dev/null || true
NEW=$(active_among "$STANDBY" c)
OTHER=$([ "$NEW" = c ] && echo "$STANDBY" || echo c)
wait_line 10 "$T/$NEW.log" 'subscription adopted tenant=contoso' || fail "subscription not adopted by $NEW"
wait_for 20 quiet_count_is 2 || fail "B/sync not quiet after the handover: $(quiet_count)"
wait_for 10 health_holder_is "$NEW" || fail "B/health not the new active's"
wait_for 5 state_is online || fail "B/state after the old active's clean stop: $(mqtt_retained "$BRIDGE/state")"
sim GET /requests | jqe --argjson s "$SEQ" '[.[] | select(.seq > $s and
    (.path | test("^/v1.0/subscriptions")) and (.method == "POST" or .method == "DELETE"))] |
    length == 0' >/dev/null || fail "subscriptions created or deleted during the handover"
sim GET /requests | jqe --argjson s "$SEQ" '[.[] | select(.seq > $s and
    (.path | test("clearPresence")))] | length == 0' >/dev/null || fail "a write flap: clearPresence during the handover"
g_session_is bob@contoso.com Busy/InACall || fail "bob's session lost in the handover: $(g_app_session bob@contoso.com)"
call_end "$C"
wait_g_session 10 bob@contoso.com ""

log "fencing: SIGSTOP of $NEW beyond its lease"
lb_prefer "$OTHER"
kill -STOP "${PID[$NEW]}"
role_is() { [ "$(role "$1")" = "$2" ]; }
wait_for 15 role_is "$OTHER" active ||
    fail "no takeover by $OTHER while $NEW was paused: $(role "$OTHER")"
C=$(call_start '{"email":"alice@contoso.com","terminal":"desk"}')
wait_g_session 10 alice@contoso.com Busy/InACall
LINES=$(wc -l <"$T/$NEW.log")
kill -CONT "${PID[$NEW]}"
wait_for 10 active_among "$NEW" "$OTHER" >/dev/null || fail "not settled: $NEW=$(role "$NEW") $OTHER=$(role "$OTHER")"
[ "$(active_among "$NEW" "$OTHER")" = "$OTHER" ] || fail "the resumed instance is active again"
call_end "$C"
wait_g_session 10 alice@contoso.com ""
wait_for 10 sync_quiet alice@contoso.com || fail "alice not quiet: $(sync_of alice@contoso.com)"
# what the resumed one logged after SIGCONT: no write of any kind
tail -n +"$((LINES + 1))" "$T/$NEW.log" >"$T/resumed.log"
grep -E 'graph write done|voice talking written|creating subscription|deleting subscription|subscription (created|adopted|reauthorized)' "$T/resumed.log" &&
    fail "the resumed instance wrote"
grep -q 'role tenant=contoso role=standby' "$T/resumed.log" || fail "the resumed instance did not log standby"
# every write fake-graph saw for alice is accounted for by the active one's log
SETS=$(g_sets alice@contoso.com)
DONE=$(grep -c "graph write done tenant=contoso id=alice@contoso.com action=graph_set_busy" "$T/$OTHER.log" || true)
[ "$SETS" = "$DONE" ] || fail "alice: $SETS setPresence in fake-graph, $DONE by $OTHER"

log "B/state: online while any instance lives, offline after the last"
sub_start st "$BRIDGE/state"
kill -KILL "${PID[$NEW]}"
# the will's offline comes, and is answered with an online
answered() { sed -n '/"offline"/,$p' "$T/st.sub" | sed 1d | has '"online"'; }
wait_for 10 answered || fail "the will was not answered: $(cat "$T/st.sub")"
state_is online || fail "B/state after a kill with one left: $(mqtt_retained "$BRIDGE/state")"
kill -KILL "${PID[$OTHER]}"
wait_for 10 state_is offline || fail "B/state after the last kill: $(mqtt_retained "$BRIDGE/state")"
! grep -Eq 'Sanitizer|runtime error' "$T"/[abc].log || fail "sanitizer report in a daemon log"
pass
