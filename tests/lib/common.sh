#!/usr/bin/env bash
# Shared harness for integration tests: temp dirs, free ports, a private
# mosquitto per test, the daemon and the simulators, and polling asserts.
# Every process started here is killed on exit.
set -euo pipefail

: "${PS_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${PS_BUILD:=$PS_SRC/build}"
: "${PS_BIN:=$PS_BUILD/connector/presence-sync}"

T=$(mktemp -d "${TMPDIR:-/tmp}/ps-test.XXXXXX")
PIDS=()

ps_cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    ports_release
    if [ "${PS_KEEP_TMP:-0}" = 1 ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
}
trap ps_cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
    exit 1
}

pass() { echo "PASS: ${1:-$(basename "$0")}"; }

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now,
# below the kernel's ephemeral range (32768+) so that no outgoing connection
# takes it while a broker or daemon restarts on it. The port is reserved for
# this test (a directory in PS_PORT_DIR, made atomically with mkdir, naming
# the test's PID): tests running at the same time (ctest -j) never get the
# same port between one's check and its bind. A reservation whose test has
# ended is taken over; ps_cleanup releases this test's own.
PS_PORT_DIR=${PS_PORT_DIR:-/tmp/ps-test-ports}
free_port() {
    local p i owner
    mkdir -p "$PS_PORT_DIR"
    for i in $(seq 1 400); do
        p=$((20000 + RANDOM % 12700))
        port_open "$p" && continue
        if ! mkdir "$PS_PORT_DIR/$p" 2>/dev/null; then
            owner=$(cat "$PS_PORT_DIR/$p/pid" 2>/dev/null || true)
            if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
                rm -rf "$PS_PORT_DIR/$p" # its test has ended: try it next time
            fi
            continue
        fi
        echo $$ >"$PS_PORT_DIR/$p/pid"
        echo "$p"
        return 0
    done
    return 1
}

# ports_release: gives up the ports this test reserved.
ports_release() {
    local d
    for d in "$PS_PORT_DIR"/*/; do
        [ "$(cat "$d/pid" 2>/dev/null || true)" = $$ ] && rm -rf "$d"
    done
    return 0
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds.
wait_for() {
    local secs=$1 end
    shift
    end=$(($(date +%s%N) + secs * 1000000000))
    while [ "$(date +%s%N)" -lt "$end" ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# has [GREP OPTIONS] PATTERN: true when standard input has a matching line.
# Use `cmd | has PATTERN` rather than piping into a quiet grep: grep -q
# (like head) exits at its first match, cmd may then die of SIGPIPE, and
# under pipefail the pipeline fails although the line was there. has reads
# all of its input first. tests/lint/check_pipelines.sh keeps such
# pipelines out of the tree.
has() {
    local in
    in=$(cat)
    grep -q "$@" <<<"$in"
}

# jqe [JQ OPTIONS] FILTER [FILE...]: jq -e, but false when jq printed
# nothing. jq 1.6 (Debian 12) exits 0 under -e when its input is empty, so
# `mqtt_retained T | jq -e F` passed when no message came at all
# (it_mapper_only failed so: the first read "passed" on nothing, the next
# read saw the state not reached yet). tests/lint/check_pipelines.sh keeps
# `jq -e` out of tests/. Exported for `wait_for 5 bash -c "... | jqe F"`.
jqe() {
    local out
    out=$(command jq -e "$@") || return
    [ -n "$out" ] || return 1
    printf '%s\n' "$out"
}
export -f jqe

# start_mosquitto [extra config lines]: a private broker with persistence in $T.
# MOSQ_EXTRA_CONF (lines) is appended too, for helpers that start the broker
# themselves; later lines win (e.g. `allow_anonymous false`).
# Sets MQTT_PORT and MOSQ_PID. Call again after stop_mosquitto to restart on
# the same port with the same persistence file.
start_mosquitto() {
    # `user` is set here (as root mosquitto would otherwise switch to its own
    # user and fail to write the persistence file in $T); mosquitto refuses
    # a second `user` line, so one given by the caller is dropped.
    local extra
    extra=$(printf '%s\n' "${1:-}" | grep -v '^user ' || true)
    if [ -z "${MQTT_PORT:-}" ]; then MQTT_PORT=$(free_port); fi
    mkdir -p "$T/mosq"
    cat >"$T/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
user $(id -un)
allow_anonymous true
persistence true
persistence_location $T/mosq/
autosave_interval 1
# Nagle off, as in broker-config/ (docs/performance.md section 3)
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
$extra
${MOSQ_EXTRA_CONF:-}
CONF
    mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    PIDS+=("$MOSQ_PID")
    wait_for 10 port_open "$MQTT_PORT" || fail "mosquitto did not start on $MQTT_PORT"
}

stop_mosquitto() {
    kill -TERM "$MOSQ_PID" 2>/dev/null || true
    wait "$MOSQ_PID" 2>/dev/null || true
}

# mqtt_retained TOPIC: print the retained payload of TOPIC (empty if none).
# The broker sends a subscriber the retained messages of its filters in the
# order they were subscribed, so TOPIC is read together with the broker's own
# retained $SYS/broker/version (not matched by '#') as the end marker: a
# retained TOPIC comes first and ends the read; when the marker comes first,
# TOPIC has none and the answer is known at once. Only a broker too busy to
# answer waits out the 10 s (a flat 2 s wait from the connect on could read
# an existing message as missing under load).
PS_RETAINED_END='$SYS/broker/version'
mqtt_retained() {
    local out
    out=$(mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t "$1" -t "$PS_RETAINED_END" -C 1 -W 10 \
        --retained-only -F '%t\t%p' 2>/dev/null) || true
    [ -n "$out" ] && [ "${out%%$'\t'*}" != "$PS_RETAINED_END" ] || return 0
    printf '%s\n' "${out#*$'\t'}"
}

# sub_start NAME FILTER: record every message on FILTER to $T/NAME.sub
# (one "topic payload" line each, with a "r" prefix for retained ones).
sub_start() {
    mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t "$2" -v -q 1 -F '%r %t %p' >"$T/$1.sub" 2>&1 &
    PIDS+=($!)
    sleep 0.3
}

# wait_line SECONDS FILE REGEX: wait until FILE holds a line matching REGEX.
wait_line() {
    wait_for "$1" grep -Eq -- "$3" "$2"
}

# start_daemon CONFIG [NAME]: run presence-sync; logs to $T/NAME.log. Sets PS_PID.
start_daemon() {
    local cfg=$1 name=${2:-daemon}
    "$PS_BIN" run -c "$cfg" >>"$T/$name.log" 2>&1 &
    PS_PID=$!
    PIDS+=("$PS_PID")
}

# http_status URL [curl args]: print the HTTP status code of a request.
http_status() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}

# assert_absent SECRET FILE...: fail when SECRET appears in any FILE.
assert_absent() {
    local secret=$1 f
    shift
    for f in "$@"; do
        if grep -qF -- "$secret" "$f"; then
            fail "secret value leaked into $f"
        fi
    done
}

# secret_files DIR NAME=VALUE...: each VALUE (with a newline) into
# DIR/secrets/NAME, readable by its owner only, as the daemon wants them.
secret_files() {
    local dir=$1/secrets kv
    shift
    mkdir -p "$dir"
    for kv in "$@"; do
        printf '%s\n' "${kv#*=}" >"$dir/${kv%%=*}"
    done
    chmod 600 "$dir"/*
}

# Graph members that send its requests nowhere (port 9: nothing listens),
# for contoso_tenant's GRAPH_MORE where no fake-graph runs.
NOWHERE_GRAPH=',"login_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9/v1.0"'

# contoso_tenant USERS_JSON [GRAPH_MORE [VOICE_MORE [CLIENT_ID]]]: the
# tenants[] entry "contoso" with its secrets in files (secret_files: client,
# svc1, voice) and one service account; GRAPH_MORE and VOICE_MORE are more
# members (",...") of its graph and voice objects; CLIENT_ID may be empty.
contoso_tenant() {
    cat <<JSON
{
    "name": "contoso", "users": $1,
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "${4-11111111-2222-3333-4444-555555555555}",
      "client_secret_file": "secrets/client",
      "service_accounts": [{"username": "svc1@contoso.com", "password_file": "secrets/svc1"}]${2:-}
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice"${3:-}}
  }
JSON
}
