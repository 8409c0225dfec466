#!/usr/bin/env bash
# core/bus.c against a real mosquitto, for MQTT 5 and 3.1.1: state topics are
# retained and published on change only (docs/mqtt.md), clearing removes the
# retained value, subscriptions with wildcards deliver (and stop after an
# unsubscribe), and B/state is online
# while connected and offline (retained) after a graceful stop.
source "$(dirname "$0")/../lib/common.sh"

PROBE=${BUS_PROBE:-$PS_BUILD/tests/tools/bus_probe}
[ -x "$PROBE" ] || fail "bus_probe not built: $PROBE"

# probe_start NAME ARGS...: bus_probe reading commands from $T/NAME.in (fd 7).
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
    PINGS=0
}
probe_cmd() { printf '%s\n' "$*" >&7; }
# probe_sync: every command sent so far has been answered.
probe_sync() {
    PINGS=$((PINGS + 1))
    probe_cmd ping
    wait_for 10 at_least "$PINGS" '^pong$' "$PROBE_OUT" || fail "probe did not answer"
}
count() { grep -c -- "$1" "$2" || true; }
# at_least N REGEX FILE
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }

# expect_count N REGEX FILE: exactly N lines match, now and 1 s later.
expect_count() {
    wait_for 5 at_least "$1" "$2" "$3" || true
    sleep 1
    local n
    n=$(count "$2" "$3")
    [ "$n" = "$1" ] || fail "$3: $n lines match '$2', want $1: $(cat "$3")"
}

# mosquitto drops root privileges to its own user unless told otherwise, and
# then cannot write its persistence file under $T.
start_mosquitto "user $(id -un)"

run_protocol() {
    local proto=$1 p="t$2"
    log "protocol $proto, topics under $p/"
    sub_start "$p" "$p/#"
    probe_start "probe$2" --protocol "$proto" --client-id "probe-$2" --state-topic "$p/bridge/state"
    wait_line 10 "$PROBE_OUT" '^connected$' || fail "probe did not connect ($proto)"
    wait_line 5 "$T/$p.sub" "$p/bridge/state \{\"state\":\"online\"\}" || fail "no online state ($proto)"

    # twice unchanged, then changed: two messages, and rc says which were sent
    probe_cmd state "$p/x" '{"busy":true}'
    probe_cmd state "$p/x" '{"busy":true}'
    probe_cmd state "$p/x" '{"busy":false}'
    probe_sync
    [ "$(grep '^state rc=' "$PROBE_OUT" | cut -d' ' -f2 | tr '\n' ' ')" = "rc=1 rc=0 rc=1 " ] ||
        fail "publish_state results: $(grep '^state' "$PROBE_OUT")"
    expect_count 2 " $p/x " "$T/$p.sub"
    grep -m1 " $p/x " "$T/$p.sub" | has -F '{"busy":true}' || fail "first value wrong"
    grep " $p/x " "$T/$p.sub" | tail -1 | has -F '{"busy":false}' || fail "second value wrong"
    [ "$(mqtt_retained "$p/x")" = '{"busy":false}' ] || fail "retained value of $p/x wrong ($proto)"

    # back to an earlier value is a change; other topics are independent
    probe_cmd state "$p/x" '{"busy":true}'
    probe_cmd state "$p/y" '{"busy":true}'
    probe_sync
    expect_count 3 " $p/x " "$T/$p.sub"
    expect_count 1 " $p/y " "$T/$p.sub"

    # once the broker acknowledged a value the bus keeps only its digest:
    # the same value is still no change, another one is
    probe_cmd state "$p/y" '{"busy":true}'
    probe_cmd state "$p/y" '{"busy":false}'
    probe_sync
    [ "$(grep '^state rc=' "$PROBE_OUT" | tail -2 | cut -d' ' -f2 | tr '\n' ' ')" = "rc=0 rc=1 " ] ||
        fail "publish_state after acknowledgement: $(grep '^state' "$PROBE_OUT" | tail -2)"
    expect_count 2 " $p/y " "$T/$p.sub"
    grep " $p/y " "$T/$p.sub" | tail -1 | has -F '{"busy":false}' || fail "y value wrong ($proto)"

    # clear: the retained value goes away, once
    probe_cmd clear "$p/x"
    probe_cmd clear "$p/x"
    probe_sync
    expect_count 4 " $p/x " "$T/$p.sub"
    [ -z "$(mqtt_retained "$p/x")" ] || fail "$p/x still retained after clear ($proto)"
    # and publishing after a clear is a change again
    probe_cmd state "$p/x" '{"busy":true}'
    probe_sync
    expect_count 5 " $p/x " "$T/$p.sub"

    # invalid topics are refused, nothing is sent
    probe_cmd state "$p/+/x" 'bad'
    probe_cmd state "" 'bad'
    probe_sync
    [ "$(grep -c '^state rc=-1' "$PROBE_OUT")" = 2 ] || fail "invalid topics accepted ($proto)"

    # wildcard subscription: delivered on the loop thread to the probe
    probe_cmd subscribe "$p/in/+/busy"
    probe_sync
    sleep 0.3
    mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -t "$p/in/a%2Bb@x.com/busy" -m 'yes'
    mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -t "$p/in/a/deeper/busy" -m 'no'
    wait_line 5 "$PROBE_OUT" "^message retained=0 topic=$p/in/a%2Bb@x.com/busy payload=yes$" ||
        fail "subscribed message not delivered ($proto)"
    # retained messages arrive flagged on a later subscription
    mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -r -t "$p/ret/one" -m 'kept'
    probe_cmd subscribe "$p/ret/#"
    wait_line 5 "$PROBE_OUT" "^message retained=1 topic=$p/ret/one payload=kept$" ||
        fail "retained message not delivered ($proto)"
    grep -q "topic=$p/in/a/deeper/busy" "$PROBE_OUT" && fail "'+' matched two levels ($proto)"

    # unsubscribe: nothing more arrives on that filter; an unknown one is -1
    probe_cmd unsubscribe "$p/in/+/busy"
    probe_cmd unsubscribe "$p/in/+/busy"
    probe_sync
    [ "$(grep '^unsubscribe rc=' "$PROBE_OUT" | cut -d' ' -f2 | tr '\n' ' ')" = "rc=0 rc=-1 " ] ||
        fail "unsubscribe results: $(grep '^unsubscribe' "$PROBE_OUT")"
    sleep 0.3
    mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -t "$p/in/after/busy" -m 'late'
    mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -q 1 -r -t "$p/ret/two" -m 'still'
    wait_line 5 "$PROBE_OUT" "^message retained=0 topic=$p/ret/two payload=still$" ||
        fail "the other subscription stopped delivering ($proto)"
    grep -q "topic=$p/in/after/busy" "$PROBE_OUT" && fail "delivered after unsubscribe ($proto)"

    # graceful stop right after a burst: the states still queued behind the
    # flow-control window go out before offline; offline is retained
    for i in $(seq 1 50); do probe_cmd state "$p/burst/$i" "b$i"; done
    probe_cmd stop
    wait_line 5 "$PROBE_OUT" '^stopped$' || fail "probe did not stop"
    exec 7>&-
    wait "$PROBE_PID" || fail "probe exit code $?"
    [ "$(mqtt_retained "$p/bridge/state")" = '{"state":"offline"}' ] ||
        fail "B/state not offline after stop ($proto)"
    grep -q 'offline_published=yes' "$T/probe$2.log" || fail "offline not acknowledged ($proto)"
    n=$(mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t "$p/burst/#" --retained-only -W 2 2>/dev/null |
        wc -l || true)
    [ "$n" = 50 ] || fail "$n of 50 states queued at stop were published ($proto)"
}

run_protocol 5 5
run_protocol 3.1.1 4
# a sanitizer build reports into the logs, sometimes after the exit code was set
grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass "bus_on_change"
