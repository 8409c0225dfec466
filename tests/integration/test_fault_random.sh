#!/usr/bin/env bash
# Randomized end-to-end fault test (docs/security.md "Randomized fault
# test", docs/testing.md): mosquitto + fake-graph + fake-voice + N daemons
# with one configuration (FAULT_INSTANCES, default 2; docs/ha.md). A seeded
# sequence of steps drives six users (Teams calls, meetings and screen shares
# in fake-graph; Voice calls on any terminal in fake-voice, overlapping) and
# injects faults between them: broker restart (same port, persistence),
# SIGKILL and SIGTERM of the active instance with a fresh one started in its
# place, 429 and 5xx bursts from both simulators, Graph token expiry and
# refresh-token revocation, RTE link drops and hub closes, Graph lifecycle
# events (subscriptionRemoved, reauthorizationRequired, missed). After every
# few steps a quiet point stops injecting and waits (bounded) until both
# systems and the retained topics show the truth the test drove:
# - Teams: our Busy/InACall session exactly while the user has a Voice call;
#   the aggregate Busy (DoNotDisturb/Presenting during a screen share) while
#   the user is in a Teams call, meeting, screen share or a Voice call,
#   Available otherwise;
# - Voice 'talking' flag: true exactly while the user is in a Teams call,
#   meeting or screen share. While a Voice call holds our InACall session,
#   Teams cannot tell the user's own InACall or InAConferenceCall from ours
#   (docs/mapper.md "A real Teams 1:1 call and a Voice call at the same
#   time"), so the flag is checked then only during a screen share (which
#   outranks our session); it is checked in full once the Voice calls end;
# - retained teams/<id>/busy (busy and activity as Teams shows them) and
#   voice/<id>/talking (calls = the calls the test has open);
# - exactly one running instance active, the others standby.
# The end: everyone idle, all of it checked once more, and one RESULT line.
#
# Knobs: FAULT_SEED (default: random, printed; in CI the commit's), FAULT_INSTANCES (2),
# FAULT_SECONDS (150: no new phase starts after that), FAULT_CONVERGE_S (60:
# the bound of one quiet point). The same seed drives the same sequence of
# actions. scripts/soak.sh runs it for longer.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

# In CI (CI set) without FAULT_SEED the seed is the commit's: each change gets
# other actions, and a run on the same commit replays them exactly.
if [ -z "${FAULT_SEED:-}" ] && [ -n "${CI:-}" ] && head=$(git -C "$(dirname "$0")" rev-parse HEAD 2>/dev/null); then
    FAULT_SEED=$((16#${head:0:7}))
fi
SEED=${FAULT_SEED:-$(($(date +%s%N) % 1000000000))}
NI=${FAULT_INSTANCES:-2}
RUN_S=${FAULT_SECONDS:-150}
CONVERGE_S=${FAULT_CONVERGE_S:-60}
USERS=(u1@contoso.com u2@contoso.com u3@contoso.com u4@contoso.com u5@contoso.com u6@contoso.com)
KINDS=(call meeting screenshare)
TERMINALS=(desk mobile softphone)
log "fault_random seed=$SEED instances=$NI seconds=$RUN_S (replay with FAULT_SEED=$SEED)"

# --- the seeded generator: a 64-bit LCG (Knuth's MMIX constants); rnd N sets
# R to a number in [0, N). Bash's RANDOM is not used: free_port draws from it.
RNG=$SEED
rnd() {
    RNG=$((RNG * 6364136223846793005 + 1442695040888963407))
    R=$((((RNG >> 33) & 0x7fffffff) % $1))
}

STEP=0
# fault_fail MSG: fail with the seed and the step; the logs are kept in $T
# (common.sh prints "kept DIR").
fault_fail() {
    PS_KEEP_TMP=1 # (read by common.sh's cleanup)
    echo "fault_random: seed=$SEED step=$STEP: replay with FAULT_SEED=$SEED FAULT_INSTANCES=$NI" >&2
    fail "$*"
}

# --- the truth the test drove
declare -A OWN   # OWN[user,kind]=1 while the user's Teams client has it
declare -A CALLS # CALLS[user]="callid callid ..." open Voice calls
declare -A COUNT # faults by kind
TRANSITIONS=0
FAULTS=0

# model_json: the truth as {user: {"own": [kinds], "calls": n}}.
model_json() {
    local u k own
    for u in "${USERS[@]}"; do
        own=()
        for k in "${KINDS[@]}"; do [ -z "${OWN[$u,$k]:-}" ] || own+=("$k"); done
        jq -nc --arg u "$u" --argjson n "$(wc -w <<<"${CALLS[$u]:-}")" \
            --args '{($u): {own: $ARGS.positional, calls: $n}}' "${own[@]}"
    done | jq -sc 'add'
}

# --- the instances: slot i has its own HTTP port, kept across restarts
declare -A SLOT_PID SLOT_LOG SLOT_GEN
setup_slots() {
    local i port
    for i in $(seq 1 "$NI"); do
        port=$(free_port)
        jq --arg l "127.0.0.1:$port" --arg p "http://127.0.0.1:$port" \
            '.http.listen = $l | .http.public_url = $p' "$T/ps.json" >"$T/ps-$i.json"
        SLOT_GEN[$i]=0
    done
}
slot_start() {
    local i=$1
    SLOT_GEN[$i]=$((SLOT_GEN[$i] + 1))
    SLOT_LOG[$i]=i$i-g${SLOT_GEN[$i]}
    start_daemon "$T/ps-$i.json" "${SLOT_LOG[$i]}"
    SLOT_PID[$i]=$PS_PID
}
# slot_role I: the role slot I's current process logged last.
slot_role() {
    local line
    line=$(grep -E 'role tenant=contoso role=' "$T/${SLOT_LOG[$1]}.log" | tail -n 1)
    line=${line#*role=}
    printf '%s' "${line%% *}"
}
# roles_ok: exactly one slot active, the others standby; prints the active.
roles_ok() {
    local i r active=()
    for i in $(seq 1 "$NI"); do
        r=$(slot_role "$i")
        case $r in
        active) active+=("$i") ;;
        standby) ;;
        *) return 1 ;;
        esac
    done
    [ "${#active[@]}" = 1 ] && printf '%s' "${active[0]}"
}
# victim: the active slot when the roles say so, else one drawn.
victim() {
    wait_for 20 roles_ok || true # (a broker restart just before: roles settle)
    V=$(roles_ok) || V=""
    rnd "$NI"
    [ -n "$V" ] || V=$((R + 1))
}
# slot_link I: "live" or "lost", what slot I's current process logged last
# about its RTE link.
slot_link() {
    local line
    line=$(grep -E 'RTE link (live|lost) ' "$T/${SLOT_LOG[$1]}.log" | tail -n 1)
    line=${line#*RTE link }
    printf '%s' "${line%% *}"
}
# links_live: every instance says its link is live, and the hub has them all.
links_live() {
    local i
    for i in $(seq 1 "$NI"); do [ "$(slot_link "$i")" = live ] || return 1; done
    [ "$(fv_ctl GET hub | jq '[.[] | select(.handshaken and (.subscriptions | length) > 0)] | length')" -ge "$NI" ]
}
links_lost() {
    local i
    for i in $(seq 1 "$NI"); do [ "$(slot_link "$i")" = lost ] || return 1; done
}
wait_links() {
    wait_for 60 links_live || fault_fail "RTE links not back: $(fv_ctl GET hub | jq -c '[.[] | {handshaken, n: (.subscriptions | length)}]')"
}

# --- the checker: everything the quiet point compares, expected vs seen
snapshot() {
    model_json >"$T/q.model"
    sim GET /users >"$T/q.graph"
    fv_ctl GET state >"$T/q.voice"
    mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t 'teams/+/busy' -t 'voice/+/talking' -v \
        --retained-only -W 2 -C $((2 * ${#USERS[@]})) >"$T/q.topics" 2>/dev/null || true
}
check_truth() {
    python3 - "$T/q.model" "$T/q.graph" "$T/q.voice" "$T/q.topics" "$CLIENT_ID" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
graph = {u["upn"].lower(): u for u in json.load(open(sys.argv[2]))}
vstate = json.load(open(sys.argv[3]))
voice = {u["email"]: u for u in vstate["users"]}
topics = {}
for line in open(sys.argv[4]):
    t, _, p = line.rstrip("\n").partition(" ")
    try:
        topics[t] = json.loads(p)
    except ValueError:
        topics[t] = {"unreadable": p}
client = sys.argv[5]
CALL_ACTS = {"InACall", "InAConferenceCall", "Presenting"}
bad = []
def differ(user, what, want, seen):
    bad.append("%s %s: expected %s, seen %s" % (user, what, want, seen))
for user, m in sorted(model.items()):
    own, calls = set(m["own"]), m["calls"]
    g = graph.get(user)
    if g is None:
        differ(user, "fake-graph user", "present", "absent"); continue
    ours = [s for s in g.get("sessions", []) if s.get("type") == "app" and s.get("id") == client]
    ours = "/".join([ours[0]["availability"], ours[0]["activity"]]) if ours else ""
    want = "Busy/InACall" if calls else ""
    if ours != want:
        differ(user, "our Teams session", want or "none", ours or "none")
    agg = g.get("availability", "?") + "/" + g.get("activity", "?")
    if "screenshare" in own:
        ok_agg = {"DoNotDisturb/Presenting"}
    elif own or calls:
        ok_agg = {"Busy/" + a for a in (["InACall"] if calls or "call" in own else []) +
                  (["InAConferenceCall"] if "meeting" in own else [])}
    else:
        ok_agg = {"Available/Available"}
    if agg not in ok_agg:
        differ(user, "Teams aggregate", " or ".join(sorted(ok_agg)), agg)
    v = voice.get(user)
    flag = v.get("talking") if v else None
    if calls == 0 or "screenshare" in own:
        want = bool(own)
        if flag is not want:
            differ(user, "Voice talking flag", want, flag)
    tid = user.lower()
    busy = topics.get("teams/%s/busy" % tid)
    want_busy = agg.split("/")[1] in CALL_ACTS
    if busy is None or busy.get("busy") is not want_busy or \
            busy.get("availability", "") + "/" + busy.get("activity", "") != agg:
        differ(user, "teams/busy topic", "busy=%s %s" % (want_busy, agg), json.dumps(busy))
    talk = topics.get("voice/%s/talking" % tid)
    if talk is None or talk.get("talking") is not (calls > 0) or talk.get("calls", -1) != calls:
        differ(user, "voice/talking topic", "talking=%s calls=%d" % (calls > 0, calls),
               json.dumps(talk))
    vcalls = [c for c in vstate["calls"] if c["user_id"] == (v or {}).get("id")]
    if len(vcalls) != calls:
        differ(user, "fake-voice calls", calls, len(vcalls))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}
# converged: the truth everywhere and the roles right; what differs in $T/why.
converged() {
    snapshot
    check_truth >"$T/why" 2>&1 || return 1
    roles_ok >/dev/null || {
        local i
        for i in $(seq 1 "$NI"); do echo "instance $i (${SLOT_LOG[$i]}): role '$(slot_role "$i")'"; done >"$T/why"
        return 1
    }
}

# --- quiet points
QUIET=0
WORST_MS=0
CONVERGED=() # ms each quiet point took
BLIND=0 # an RTE link or an instance went away since the links were last seen live
quiet_point() {
    local t0 ms
    QUIET=$((QUIET + 1))
    sim DELETE /faults >/dev/null
    fv_ctl DELETE faults >/dev/null
    t0=$(date +%s%N)
    wait_links
    BLIND=0
    wait_for "$CONVERGE_S" converged || {
        echo "----- quiet point $QUIET after step $STEP: expected vs seen" >&2
        cat "$T/why" >&2
        echo "----- model: $(cat "$T/q.model")" >&2
        fault_fail "quiet point $QUIET not converged within ${CONVERGE_S}s"
    }
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -le "$WORST_MS" ] || WORST_MS=$ms
    CONVERGED+=("$ms")
    log "quiet point $QUIET (step $STEP): converged in $ms ms"
}

# --- transitions
teams_toggle() {
    local u=$1 k=$2
    if [ -n "${OWN[$u,$k]:-}" ]; then
        sim POST "/users/$u/end/$k" >/dev/null || fault_fail "end $k $u"
        unset "OWN[$u,$k]"
        log "step $STEP: $u ends Teams $k"
    else
        sim POST "/users/$u/start/$k" >/dev/null || fault_fail "start $k $u"
        OWN[$u,$k]=1
        log "step $STEP: $u starts Teams $k"
    fi
}
voice_toggle() {
    local u=$1 calls n id
    # events a process misses while its RTE link is down are lost by design
    # (docs/voice.md "Link loss and missed events"): Voice changes wait for
    # every link after a drop or a restart.
    if [ "$BLIND" = 1 ]; then
        wait_links
        BLIND=0
    fi
    read -r -a calls <<<"${CALLS[$u]:-}"
    n=${#calls[@]}
    rnd 2
    if [ "$n" -ge 2 ] || { [ "$n" -ge 1 ] && [ "$R" = 0 ]; }; then
        rnd "$n"
        id=${calls[$R]}
        call_end "$id"
        CALLS[$u]=$(printf '%s\n' "${calls[@]}" | grep -vxF "$id" | tr '\n' ' ' || true)
        log "step $STEP: $u ends Voice call $id"
    else
        rnd ${#TERMINALS[@]}
        id=$(call_start "$(jq -nc --arg e "$u" --arg t "${TERMINALS[$R]}" '{email: $e, terminal: $t}')")
        [ -n "$id" ] && [ "$id" != null ] || fault_fail "Voice call for $u not started"
        CALLS[$u]="${CALLS[$u]:-} $id"
        log "step $STEP: $u starts a Voice call on ${TERMINALS[$R]} ($id)"
    fi
}
transition() {
    local u
    rnd ${#USERS[@]}
    u=${USERS[$R]}
    rnd 2
    if [ "$R" = 0 ]; then
        rnd ${#KINDS[@]}
        teams_toggle "$u" "${KINDS[$R]}"
    else
        voice_toggle "$u"
    fi
    TRANSITIONS=$((TRANSITIONS + 1))
}

# --- faults
counted() {
    COUNT[$1]=$((${COUNT[$1]:-0} + 1))
    FAULTS=$((FAULTS + 1))
}
# voice_published: the retained voice topics show the calls the test opened
# (a restart before that would lose a call no process had published: RTE
# has no "current calls" query, docs/voice.md "Daemon restarts").
voice_published() {
    local u p
    for u in "${USERS[@]}"; do
        p=$(mqtt_retained "$(talking_topic "$u")")
        [ "$(jq -r '.calls // 0' <<<"${p:-{\}}")" = "$(wc -w <<<"${CALLS[$u]:-}")" ] || return 1
    done
}
fault_broker() {
    local n i
    log "step $STEP: broker restart"
    stop_mosquitto
    rnd 3
    n=$R
    for i in $(seq 1 "$n"); do transition; done
    rnd 2500
    sleep "$(printf '0.%04d' $((R * 4)))" # up to 1 s more
    start_mosquitto
    counted broker_restart
}
fault_kill() {
    local sig=$1 i
    wait_for 30 voice_published || fault_fail "Voice calls not published before the $sig"
    victim
    i=$V
    log "step $STEP: SIG$sig to instance $i (${SLOT_LOG[$i]}, role '$(slot_role "$i")')"
    kill -"$sig" "${SLOT_PID[$i]}"
    if [ "$sig" = TERM ]; then
        wait_for 20 sh -c "! kill -0 ${SLOT_PID[$i]} 2>/dev/null" || fault_fail "instance $i ignored SIGTERM for 20 s"
    fi
    wait "${SLOT_PID[$i]}" 2>/dev/null || true
    slot_start "$i"
    BLIND=1
    counted "sig${sig,,}"
}
fault_http() {
    local side=$1 status=$2 n ra
    rnd 5
    n=$((R + 2))
    rnd 3
    ra=$((R + 1))
    if [ "$side" = graph ]; then
        sim POST /faults "$(jq -nc --argjson s "$status" --argjson n "$n" --argjson ra "$ra" \
            '{path: "/v1.0/", status: $s, count: $n} + (if $s == 429 then {retry_after: $ra} else {} end)')" >/dev/null
    else
        fv_ctl POST faults "$(jq -nc --argjson s "$status" --argjson n "$n" --argjson ra "$ra" \
            '{path: "/api/", status: $s, count: $n} + (if $s == 429 then {retry_after: $ra} else {} end)')" >/dev/null
    fi
    log "step $STEP: $side answers $status to the next $n requests"
    counted "${side}_$status"
}
fault_token() {
    rnd 2
    if [ "$R" = 0 ]; then
        sim POST /tokens/expire '' >/dev/null
        log "step $STEP: every Graph access token expires"
        counted token_expiry
    else
        sim POST /users/svc1@contoso.com/revoke '' >/dev/null
        sim POST /tokens/expire '' >/dev/null
        log "step $STEP: the service account's refresh tokens revoked, access tokens expired"
        counted token_revocation
    fi
}
fault_rte() {
    rnd 2
    if [ "$R" = 0 ]; then
        fv_ctl POST ws/drop '' >/dev/null
        log "step $STEP: every RTE WebSocket dropped"
        counted rte_drop
    else
        fv_ctl POST hub/close '{"error":"fault test"}' >/dev/null
        log "step $STEP: the hub closes every connection"
        counted rte_close
    fi
    wait_for 10 links_lost || log "step $STEP: not every instance noticed the loss within 10 s"
    BLIND=1
}
LIFECYCLE=(subscriptionRemoved reauthorizationRequired missed)
fault_lifecycle() {
    local ev s
    rnd ${#LIFECYCLE[@]}
    ev=${LIFECYCLE[$R]}
    for s in $(sim_subs | jq -r '.[] | select(.pending == false) | .id'); do
        sim POST "/subscriptions/$s/lifecycle" "{\"event\":\"$ev\"}" >/dev/null || true
    done
    log "step $STEP: lifecycle $ev"
    counted "lifecycle_$ev"
}
fault() {
    rnd 10
    case $R in
    0) fault_broker ;;
    1) fault_kill KILL ;;
    2) fault_kill TERM ;;
    3) fault_http graph 429 ;;
    4)
        rnd 2
        fault_http graph $((R ? 503 : 500))
        ;;
    5) fault_http voice 429 ;;
    6)
        rnd 2
        fault_http voice $((R ? 503 : 500))
        ;;
    7) fault_token ;;
    8) fault_rte ;;
    9) fault_lifecycle ;;
    esac
}

# --- start: users idle, every instance up, one active
ms_setup "${USERS[@]}"
setup_slots
for i in $(seq 1 "$NI"); do slot_start "$i"; done
wait_for 30 bash -c "curl -s '$FG/_sim/subscriptions' | jqe '[.[] | select(.pending == false)] | length >= 1'" ||
    fault_fail "no Graph subscription: $(sim_subs)"
wait_links
quiet_point

T_START=$(date +%s)
while [ $(($(date +%s) - T_START)) -lt "$RUN_S" ]; do
    rnd 4
    for _ in $(seq 0 $((R + 2))); do
        STEP=$((STEP + 1))
        rnd 100
        if [ "$R" -lt 35 ]; then fault; else transition; fi
    done
    quiet_point
done

# --- the end: everyone idle
STEP=$((STEP + 1))
log "step $STEP: everyone hangs up"
for u in "${USERS[@]}"; do
    for k in "${KINDS[@]}"; do
        [ -n "${OWN[$u,$k]:-}" ] || continue
        teams_toggle "$u" "$k"
        TRANSITIONS=$((TRANSITIONS + 1))
    done
    for id in ${CALLS[$u]:-}; do
        call_end "$id"
        TRANSITIONS=$((TRANSITIONS + 1))
    done
    CALLS[$u]=""
done
quiet_point
for u in "${USERS[@]}"; do
    g_session_is "$u" "" && v_talking_is "$u" false || fault_fail "$u not idle at the end"
done

MEDIAN_MS=$(printf '%s\n' "${CONVERGED[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
BY=$(for k in $(printf '%s\n' "${!COUNT[@]}" | sort); do printf '%s=%s,' "$k" "${COUNT[$k]}"; done)
echo "RESULT fault_random seed=$SEED instances=$NI steps=$STEP transitions=$TRANSITIONS" \
    "faults=$FAULTS (${BY%,}) quiet_points=$QUIET worst_converge_ms=$WORST_MS median_converge_ms=$MEDIAN_MS" \
    "seconds=$(($(date +%s) - T_START))"
pass
