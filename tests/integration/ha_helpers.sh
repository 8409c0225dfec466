# Helpers for the end-to-end test of several instances (test_ha.sh,
# docs/ha.md), sourced after tests/lib/common.sh: mosquitto, fake-graph,
# fake-voice and N daemons with one configuration but the listen port,
# behind a load balancer (ha_lb.py) that is their shared public_url.
source "$(dirname "${BASH_SOURCE[0]}")/mapper_helpers.sh"

declare -A PID PORT

# ha_setup N USER...: the simulators, the users, N listen ports and the load
# balancer in front of them; $T/ps.json is the shared configuration.
ha_setup() {
    local n=$1 name
    shift
    HA_NAMES=(a b c)
    HA_NAMES=("${HA_NAMES[@]:0:n}")
    for name in "${HA_NAMES[@]}"; do
        PORT[$name]=$(free_port)
    done
    python3 "$PS_SRC/tests/integration/ha_lb.py" "$T/lb.port" "${PORT[@]}" 2>"$T/lb.log" &
    LB_PID=$!
    PIDS+=("$LB_PID")
    wait_line 10 "$T/lb.port" '^port=' || fail "load balancer did not start"
    LB=http://127.0.0.1:$(sed -n 's/^port=//p' "$T/lb.port")
    HA_USERS=("$@")
    MS_LOG_LEVEL=info ms_setup "$@"
}

# ha_scene NAME: the next scenario of a script that runs several on one
# ha_setup (the broker, the simulators and the balancer stay up; each
# scenario starts its own instances). The instances the previous one left
# are killed, their logs kept as $T/<scenario>.<name>.log; the broker starts
# again on its port without retained topics, both simulators are reset and
# their users made again, and the balancer's order is dropped.
ha_scene() {
    local n
    for n in "${!PID[@]}"; do
        kill -KILL "${PID[$n]}" 2>/dev/null || true
        wait "${PID[$n]}" 2>/dev/null || true
        if [ -f "$T/$n.log" ]; then mv "$T/$n.log" "$T/$HA_SCENE.$n.log"; fi
    done
    PID=()
    if [ -n "${HA_SCENE:-}" ]; then
        rm -f "$T/lb.port.order"
        kill -USR1 "$LB_PID"
        stop_mosquitto
        rm -rf "$T/mosq"
        start_mosquitto "user $(id -un)"
        sim POST /reset >/dev/null
        fv_ctl POST reset >/dev/null
        ms_users "${HA_USERS[@]}"
    fi
    HA_SCENE=$1
    log "scenario $1"
}

# ha_clean: no sanitizer report in the log of any instance of any scenario.
ha_clean() {
    local f
    for f in "$T"/*.log; do
        ! grep -Eq 'Sanitizer|runtime error' "$f" || fail "sanitizer report in $f"
    done
}

# lb_prefer NAME: the balancer sends new connections to NAME first, and
# drops the open ones (Graph's kept-alive connection is made again).
lb_prefer() {
    printf '%s\n' "${PORT[$1]}" >"$T/lb.port.order"
    kill -USR1 "$LB_PID"
}

# ha_start NAME [JQ]: one instance of the shared configuration on its own
# port (JQ: a further change, e.g. another instance name).
ha_start() {
    jq --arg l "127.0.0.1:${PORT[$1]}" --arg p "$LB" \
        ".http.listen = \$l | .http.public_url = \$p | ${2:-.}" "$T/ps.json" >"$T/$1.json"
    start_daemon "$T/$1.json" "$1"
    PID[$1]=$PS_PID
}

# role NAME: the role NAME's log said last for contoso.
role() {
    local line
    line=$(grep -E 'role tenant=contoso role=' "$T/$1.log" | tail -n 1)
    line=${line#*role=}
    printf '%s' "${line%% *}"
}
# active_among NAME...: prints the one active instance; fails unless exactly
# one is active and every other is standby.
active_among() {
    local n active=() r
    for n in "$@"; do
        r=$(role "$n")
        case $r in
        active) active+=("$n") ;;
        standby) ;;
        *) return 1 ;;
        esac
    done
    [ "${#active[@]}" -eq 1 ] || return 1
    printf '%s' "${active[0]}"
}
# link_up NAME: NAME's Voice link is live (its own log).
link_up() { grep -q 'RTE link live tenant=contoso' "$T/$1.log"; }

# g_count JQ_SELECT: fake-graph requests matching (e.g. '.method == "DELETE"').
g_count() { sim GET /requests | jq "[.[] | select($1)] | length"; }
g_subs_written() {
    g_count '(.path | test("^/v1.0/subscriptions")) and (.method == "POST" or .method == "DELETE")'
}
g_sets() { g_count ".path == \"/v1.0/users/$(g_id "$1")/presence/setPresence\""; }
g_clears() { g_count ".path == \"/v1.0/users/$(g_id "$1")/presence/clearPresence\""; }
# live_talking ADDRESS: voice/<id>/talking messages recorded live (not
# retained) in $T/vt.sub since sub_start vt.
live_talking() {
    grep -c "^0 voice/$(topic_id "$1")/talking " "$T/vt.sub" || true
}
# wait_sides NAME...: each instance is up: Voice link live, role settled.
wait_sides() {
    local n
    for n in "$@"; do
        wait_for 30 link_up "$n" || fail "$n: Voice link not live"
    done
    wait_for 20 active_among "$@" >/dev/null || fail "no single active instance: $(for n in "$@"; do
        printf '%s=%s ' "$n" "$(role "$n")"
    done)"
}
