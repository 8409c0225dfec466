#!/usr/bin/env bash
# core/bus.c while the broker is away (docs/mqtt.md, "offline buffer"):
# 1. a state published while the broker is stopped arrives after it restarts;
# 2. with Paho's buffer full, plain publishes are rejected and counted, and
#    states wait in the last-value cache: after the restart every topic holds
#    its newest value (nothing lost);
# 3. a publish in flight when the broker dies (no PUBACK) is sent again.
source "$(dirname "$0")/../lib/common.sh"

PROBE=${BUS_PROBE:-$PS_BUILD/tests/tools/bus_probe}
[ -x "$PROBE" ] || fail "bus_probe not built: $PROBE"

probe_start() {
    local name=$1
    shift
    mkfifo "$T/$name.in"
    "$PROBE" --url "mqtt://127.0.0.1:$MQTT_PORT" "$@" <"$T/$name.in" >"$T/$name.out" \
        2>"$T/$name.log" &
    PROBE_PID=$!
    PIDS+=("$PROBE_PID")
    exec 7>"$T/$name.in"
    PROBE_OUT=$T/$name.out
}
probe_cmd() { printf '%s\n' "$*" >&7; }
count() { grep -c -- "$1" "$2" || true; }
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }
# probe_sync: every command sent so far has been answered. The pong to wait
# for is counted from the output, not kept in a variable: `metric` runs in
# $(...), a subshell, where a counter's increment would be lost and the next
# sync would take an old pong for its own (and read a metric not yet printed).
probe_sync() {
    local want=$(($(count '^pong$' "$PROBE_OUT") + 1))
    probe_cmd ping
    wait_for 10 at_least "$want" '^pong$' "$PROBE_OUT" || fail "probe did not answer"
}
probe_stop() {
    probe_cmd stop
    wait_line 5 "$PROBE_OUT" '^stopped$' || fail "probe did not stop"
    exec 7>&-
    wait "$PROBE_PID" || fail "probe exit code $?"
}
# metric NAME: the probe's current value of a metric.
metric() {
    probe_cmd metric "$1"
    probe_sync
    grep "^metric $1 " "$PROBE_OUT" | tail -1 | cut -d' ' -f3
}
retained_is() { [ "$(mqtt_retained "$1")" = "$2" ]; }

# The broker restarts on the same port: free_port takes one below the
# ephemeral range, so that no outgoing connection can grab it while it is down.
MQTT_PORT=$(free_port)
MOSQ_EXTRA="user $(id -un)" # keep root, so mosquitto can write its persistence in $T
start_mosquitto "$MOSQ_EXTRA"

# 1. published while the broker is stopped ----------------------------------
probe_start p1 --client-id probe-1 --state-topic p1/state
wait_line 10 "$PROBE_OUT" '^connected$' || fail "probe did not connect"
stop_mosquitto
wait_line 10 "$PROBE_OUT" '^disconnected$' || fail "probe did not notice the broker stop"
probe_cmd state p1/x '{"v":"X"}'
probe_sync
grep -q '^state rc=1 topic=p1/x' "$PROBE_OUT" || fail "state not accepted while offline"
start_mosquitto "$MOSQ_EXTRA" # same port, same persistence
sub_start p1 'p1/x'
wait_line 15 "$T/p1.sub" 'p1/x \{"v":"X"\}' || fail "state published while offline never arrived"
wait_for 5 at_least 2 '^connected$' "$PROBE_OUT" || fail "no reconnect"
wait_for 5 retained_is p1/state '{"state":"online"}' || fail "B/state not online after reconnect"
[ "$(metric mqtt_reconnects_total)" = 1 ] || fail "mqtt_reconnects_total not 1"
probe_stop

# 2. buffer full: plain publishes rejected, states deferred, none lost --------
probe_start p2 --client-id probe-2 --state-topic p2/state --max-buffered 3
wait_line 10 "$PROBE_OUT" '^connected$' || fail "probe 2 did not connect"
stop_mosquitto
wait_line 10 "$PROBE_OUT" '^disconnected$' || fail "probe 2 did not notice the broker stop"
for i in $(seq 1 10); do probe_cmd state "p2/s/$i" "v1-$i"; done
probe_cmd state p2/s/1 v2-1 # newest wins, even though v1-1 sits in Paho's buffer
probe_cmd state p2/s/9 v2-9 # newest wins for a deferred one too
probe_cmd publish p2/plain lost-on-purpose
probe_sync
[ "$(count '^state rc=1' "$PROBE_OUT")" = 12 ] || fail "states not all accepted: $(cat "$PROBE_OUT")"
grep -q '^publish rc=-1 topic=p2/plain' "$PROBE_OUT" || fail "plain publish not rejected when full"
full=$(metric mqtt_buffer_full_total)
# 3 fit; s/4..s/10 (7), the second s/1 and s/9 (2) and the plain one (1) did not
[ "$full" = 10 ] || fail "mqtt_buffer_full_total=$full, want 10"
grep -q 'client buffer full' "$T/p2.log" || fail "no buffer-full warning logged"
start_mosquitto "$MOSQ_EXTRA"
wait_for 15 at_least 2 '^connected$' "$PROBE_OUT" || fail "probe 2 did not reconnect"
for i in $(seq 1 10); do
    want="v1-$i"
    [ "$i" = 1 ] || [ "$i" = 9 ] && want="v2-$i"
    wait_for 10 retained_is "p2/s/$i" "$want" || fail "p2/s/$i is '$(mqtt_retained "p2/s/$i")', want $want"
done
deferred=$(metric mqtt_deferred_states || true)
[ "$deferred" = 0 ] || fail "states still deferred after reconnect: mqtt_deferred_states='$deferred'"
probe_stop

# 3. in flight when the broker dies ------------------------------------------
probe_start p3 --client-id probe-3 --state-topic p3/state --log-level debug
wait_line 10 "$PROBE_OUT" '^connected$' || fail "probe 3 did not connect"
kill -STOP "$MOSQ_PID" # the PUBLISH reaches the socket; no PUBACK comes back
probe_cmd state p3/w '{"v":"W"}'
probe_sync
sleep 0.5
kill -KILL "$MOSQ_PID"
wait "$MOSQ_PID" 2>/dev/null || true
start_mosquitto "$MOSQ_EXTRA"
wait_for 15 at_least 2 '^connected$' "$PROBE_OUT" || fail "probe 3 did not reconnect"
wait_for 10 retained_is p3/w '{"v":"W"}' || fail "in-flight state was lost: '$(mqtt_retained p3/w)'"
grep -q 'publish lost, queued again topic=p3/w' "$T/p3.log" || fail "the resend path was not taken"
probe_stop

# a sanitizer build reports into the logs, sometimes after the exit code was set
grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass "bus_offline_buffer"
