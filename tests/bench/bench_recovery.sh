#!/usr/bin/env bash
# Benchmark 6 (docs/performance.md): recovery after a broker outage, from the
# broker accepting connections again to every retained teams/<id>/busy and
# voice/<id>/talking topic showing the truth.
# BENCH_RESTARTS (30) times: the broker (persistence on) is stopped; while it
# is down every one of BENCH_REC_USERS (10) users changes one side (a Teams
# call on fake-graph or a Voice call on fake-voice, alternating), so each
# user has a topic whose retained value is stale; after an outage drawn
# uniformly from BENCH_OUTAGE_MS (500-10000, so every phase of the daemon's
# reconnect backoff is sampled) the broker starts again. T_UP is the first
# TCP connect the broker accepts (polled without pause). An observer
# subscribed from then on time-stamps every message (-F %U); the recovery
# is the first moment from which every topic holds its expected value
# (busy = Teams call or Voice call, since a Voice call puts our session on
# Teams; talking = Voice call), counted from T_UP. Also reported: the
# daemon's reconnect ("mqtt connected" in its log) after T_UP.
# PS_KEEP_TMP=1 keeps the records.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/mapper_helpers.sh"
N=${BENCH_REC_USERS:-10}
R=${BENCH_RESTARTS:-30}
OUT=${BENCH_OUTAGE_MS:-500-10000}
OUT_MIN=${OUT%-*}
OUT_MAX=${OUT#*-}
USERS=()
for i in $(seq -w 1 "$N"); do USERS+=("r$i@contoso.com"); done
MS_LOG_LEVEL=${BENCH_LOG_LEVEL:-info} ms_setup "${USERS[@]}"
MS_START_WAIT=60 ms_start

# the model: per user, in a Teams call / the Voice call id ("" when none)
declare -A TCALL VCALL
for u in "${USERS[@]}"; do TCALL[$u]=0 VCALL[$u]=""; done

# expect_file: "topic busy|talking value" lines of the truth.
expect_file() {
    local u b
    for u in "${USERS[@]}"; do
        b=false
        { [ "${TCALL[$u]}" = 1 ] || [ -n "${VCALL[$u]}" ]; } && b=true
        echo "$(busy_topic "$u") busy $b"
        if [ -n "${VCALL[$u]}" ]; then echo "$(talking_topic "$u") talking true"; else
            echo "$(talking_topic "$u") talking false"; fi
    done >"$T/expect"
}

# flip USER SIDE: one change on one side while the broker is down.
flip() {
    local u=$1
    if [ "$2" = teams ]; then
        if [ "${TCALL[$u]}" = 1 ]; then
            sim POST "/users/$u/end/call" >/dev/null
            TCALL[$u]=0
        else
            sim POST "/users/$u/start/call" >/dev/null
            TCALL[$u]=1
        fi
    elif [ -n "${VCALL[$u]}" ]; then
        call_end "${VCALL[$u]}"
        VCALL[$u]=""
    else
        VCALL[$u]=$(call_start "{\"email\":\"$u\"}")
    fi
}

# converged_at OBSERVER_FILE: prints the first time (ns) from which every
# expected topic holds its value; fails when that is not the case yet.
converged_at() {
    python3 - "$T/expect" "$1" <<'PY'
import json, sys
want = {}
for line in open(sys.argv[1]):
    topic, field, value = line.split()
    want[topic] = (field, value == "true")
state, since = {}, None
for line in open(sys.argv[2]):
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 3 or parts[1] not in want:
        continue
    ts, topic, payload = parts
    try:
        v = json.loads(payload).get(want[topic][0])
    except ValueError:
        v = None
    state[topic] = v
    ok = all(state.get(t) == w[1] for t, w in want.items())
    if ok and since is None:
        since = ts
    elif not ok:
        since = None
if since is None:
    sys.exit(1)
s, ns = since.split(".")
print(int(s) * 10**9 + int(ns.ljust(9, "0")[:9]))
PY
}

# broker_start: the broker again on the same port and store; sets T_UP.
broker_start() {
    mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    PIDS+=("$MOSQ_PID")
    local end=$(($(date +%s%N) + 10000000000))
    until port_open "$MQTT_PORT"; do
        [ "$(date +%s%N)" -lt "$end" ] || fail "mosquitto did not start again"
    done
    T_UP=$(date +%s%N)
}

# has_line N: the daemon has logged its Nth "mqtt connected".
has_line() { [ "$(grep -c 'mqtt connected' "$T/daemon.log" || true)" -ge "$1" ]; }

: >"$T/results"
for r in $(seq 1 "$R"); do
    out_ms=$((OUT_MIN + (RANDOM * 32768 + RANDOM) % (OUT_MAX - OUT_MIN + 1)))
    stop_mosquitto
    t_down=$(date +%s%N)
    for i in "${!USERS[@]}"; do
        if [ $(((i + r) % 2)) = 0 ]; then flip "${USERS[$i]}" teams; else flip "${USERS[$i]}" voice; fi
    done
    expect_file
    while [ $(($(date +%s%N) - t_down)) -lt $((out_ms * 1000000)) ]; do sleep 0.01; done
    lines_before=$(grep -c 'mqtt connected' "$T/daemon.log" || true)
    broker_start
    t_up=$T_UP
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -v -F '%U %t %p' -t 'teams/+/busy' \
        -t 'voice/+/talking' >"$T/obs.$r" 2>/dev/null &
    obs=$!
    PIDS+=("$obs")
    wait_for 60 converged_at "$T/obs.$r" || {
        log "round $r: not converged in 60 s"
        echo "$r $out_ms -1 -1" >>"$T/results"
        kill "$obs" 2>/dev/null || true
        continue
    }
    t_conv=$(converged_at "$T/obs.$r")
    kill "$obs" 2>/dev/null || true
    # the daemon's reconnect after T_UP (its log's wall clock, ms)
    wait_for 10 has_line $((lines_before + 1)) || fail "round $r: no reconnect in the daemon's log"
    conn=$(grep 'mqtt connected' "$T/daemon.log" | sed -n "$((lines_before + 1))p" | cut -c1-23)
    t_conn=$(date -u -d "${conn/T/ } UTC" +%s%N)
    echo "$r $out_ms $(((t_conv - t_up) / 1000000)) $(((t_conn - t_up) / 1000000))" >>"$T/results"
    log "round $r: outage ${out_ms} ms, recovered $(((t_conv - t_up) / 1000000)) ms," \
        "reconnect $(((t_conn - t_up) / 1000000)) ms after the broker"
    # settle: both sides quiet before the next outage
    wait_for 30 quiet_count_is "$N" || log "round $r: only $(quiet_count) of $N users quiet"
done

python3 - "$T/results" "$N" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
ok = sorted(int(r[2]) for r in rows if int(r[2]) >= 0)
conn = sorted(int(r[3]) for r in rows if int(r[2]) >= 0)
def q(v, p):
    # nearest rank
    return v[max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))] if v else -1
print("RESULT recovery users=%s restarts=%d converged=%d p50_ms=%d p90_ms=%d p99_ms=%d max_ms=%d"
      % (sys.argv[2], len(rows), len(ok), q(ok, 50), q(ok, 90), q(ok, 99), ok[-1] if ok else -1))
print("RESULT recovery_reconnect p50_ms=%d p99_ms=%d max_ms=%d"
      % (q(conn, 50), q(conn, 99), conn[-1] if conn else -1))
print("RESULT recovery_outages_ms min=%d max=%d"
      % (min(int(r[1]) for r in rows), max(int(r[1]) for r in rows)))
PY
