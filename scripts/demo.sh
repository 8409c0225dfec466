#!/usr/bin/env bash
# The README's first command: presence-sync end to end on one machine.
#
# Installs what is missing (scripts/setup.sh), builds (cmake, ./build), starts
# a private mosquitto (broker-config/mosquitto-dev.conf on a free port), the
# bundled Microsoft Graph and Enreach Voice simulators, creates a tenant with
# three users in both, writes a config from docs/examples/config.demo.json,
# starts the daemon and plays a short story, checking every outcome:
#
#   1. Alice joins a Teams call         -> Voice marks her 'talking'
#   2. Bob takes a Voice call (desk)    -> Teams shows him Busy / In a call
#   3. Carol's calendar meeting starts  -> nothing changes in Voice
#   4. everybody hangs up               -> all idle again, nothing left behind
#
# Then it stops (or, with --stay, keeps running for you to play with). Any
# expected change that does not happen in time ends the demo with a clear
# message and exit status 1, so this is also an end-to-end test
# (tests/integration/test_demo.sh). Ctrl-C stops everything it started.
#
# Secrets are random, live in files in a private temporary directory (0700,
# files 0600) and never appear in a command line.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/demo.sh [options]

  --stay            after the story, keep everything running and show how to
                    watch and drive it (Ctrl-C stops it)
  --no-setup        do not run scripts/setup.sh (packages already installed)
  --no-build        do not build; use the binaries already in the build dir
  --build-dir DIR   build directory (default: build, relative to the repository)
  --mqtt-port N     port for the demo's own mosquitto (default: 1883 when free,
                    otherwise a free port)
  --timeout SECS    how long each step waits for its outcome (default 15)
  --all-topics      show every MQTT message in full (default: the presence
                    topics in full, the daemon's own diagnostics summarised)
  --keep            keep the temporary directory (config, throw-away secrets,
                    logs, topics.out)
  -h, --help        this text

Exit status: 0 when every step did what it should, 1 when one did not (the
message says which), 2 on bad usage, 130 on Ctrl-C.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SETUP=1 BUILD=1 STAY=0 KEEP=0 ALL_TOPICS=0 BUILD_DIR=build MQTT_PORT_OPT="" STEP_TIMEOUT=15
while [ $# -gt 0 ]; do
    case $1 in
    --stay) STAY=1 ;;
    --no-setup) SETUP=0 ;;
    --no-build) BUILD=0 ;;
    --keep) KEEP=1 ;;
    --all-topics) ALL_TOPICS=1 ;;
    --build-dir)
        [ $# -ge 2 ] || { echo "demo: --build-dir needs a directory" >&2; exit 2; }
        BUILD_DIR=$2
        shift
        ;;
    --mqtt-port)
        [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "demo: --mqtt-port needs a port number" >&2; exit 2; }
        MQTT_PORT_OPT=$2
        shift
        ;;
    --timeout)
        [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "demo: --timeout needs whole seconds" >&2; exit 2; }
        STEP_TIMEOUT=$2
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "demo: unknown option '$1'" >&2
        usage >&2
        exit 2
        ;;
    esac
    shift
done
cd "$ROOT"
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac

T0=$(date +%s%N)
if [ -t 1 ]; then
    B=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GRN=$'\e[32m' CYN=$'\e[36m' RST=$'\e[0m'
else
    B="" DIM="" RED="" GRN="" CYN="" RST=""
fi
say() { printf '%s\n' "$*"; }
head1() { printf '\n%s== %s%s\n' "$B" "$*" "$RST"; }
ok() { printf '   %s✓%s %s\n' "$GRN" "$RST" "$*"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- processes: everything started here is stopped on every way out -------

D="" # private temporary directory
declare -A PID=() # name -> pid, in start order in ORDER
ORDER=()
DAEMON_RC=""

# stop_one NAME SECS: SIGTERM, wait up to SECS, then SIGKILL. Sets LAST_RC.
stop_one() {
    local name=$1 secs=$2 pid=${PID[$1]:-} i
    LAST_RC=""
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "   ${RED}$name did not stop within ${secs}s; killing it${RST}" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    LAST_RC=0
    wait "$pid" 2>/dev/null || LAST_RC=$?
    unset "PID[$name]"
}

cleanup() {
    local rc=$? i name
    trap - EXIT
    trap '' INT TERM HUP # a second Ctrl-C must not cut the cleanup short
    # Every step runs whatever the one before returned, and the exit status
    # stays the demo's: with errexit on, one failing step here (an rm racing
    # a process that writes its last file) ended the demo with status 1 and
    # skipped the rest of the cleanup.
    set +e
    # the daemon first, so that it says goodbye (B/state offline) to a live broker
    if [ -n "${PID[daemon]:-}" ]; then
        stop_one daemon 10
        DAEMON_RC=$LAST_RC
        [ "$DAEMON_RC" = 0 ] || say "demo: the daemon exited with status $DAEMON_RC" >&2
    fi
    for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
        name=${ORDER[i]}
        [ -n "${PID[$name]:-}" ] && stop_one "$name" 5
    done
    # safety net for anything started behind our back: when this script leads
    # its own process group (an interactive shell gives it one), end the group
    if [ "$(ps -o pgid= -p $$ | tr -d ' ')" = "$$" ]; then
        kill -TERM -- -$$ 2>/dev/null || true
    fi
    if [ -n "$D" ] && [ -d "$D" ]; then
        if [ "$KEEP" = 1 ]; then
            say "kept $D" >&2
        else
            rm -rf "$D" 2>/dev/null || { sleep 0.2 && rm -rf "$D"; } ||
                say "demo: could not remove $D" >&2
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say ""; say "demo: interrupted; stopping everything"; exit 130' INT
trap 'say "demo: terminated; stopping everything"; exit 143' TERM
trap 'exit 129' HUP

# start_bg NAME CMD...: run CMD in the background, stdout in $D/NAME.out,
# stderr in $D/NAME.log.
start_bg() {
    local name=$1
    shift
    "$@" >"$D/$name.out" 2>"$D/$name.log" </dev/null &
    PID[$name]=$!
    ORDER+=("$name")
}

# ---- failure reporting -------------------------------------------------------

die() {
    local f
    say "" >&2
    say "${RED}${B}demo FAILED: $*${RST}" >&2
    if [ -n "$D" ]; then
        for f in "$D"/daemon.log "$D"/fake-graph.log "$D"/fake-voice.log "$D"/mosquitto.log; do
            [ -s "$f" ] || continue
            say "----- $(basename "$f") (last 25 lines)" >&2
            tail -n 25 "$f" >&2
        done
        # the parts of the daemon the story needs, as its log shows them
        if [ -s "$D/daemon.log" ]; then
            for part in "graph side ready:the Graph side (graph_component)" \
                "voice starting:the Voice side (voice_component)" \
                "mapper started:the mapper (mapper_component, mapper.enabled)"; do
                grep -q "${part%%:*}" "$D/daemon.log" ||
                    say "${RED}note: the daemon log has no '${part%%:*}': ${part#*:} did not start; is it in connector/daemon.c's component table?${RST}" >&2
            done
        fi
    fi
    exit 1
}

# wait_for SECS CMD...: CMD every 50 ms until it succeeds; 1 when time is up.
wait_for() {
    local end=$(($(date +%s%N) + $1 * 1000000000))
    shift
    while [ "$(date +%s%N)" -lt "$end" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
# stays SECS CMD...: CMD holds the whole time.
stays() {
    local end=$(($(date +%s%N) + $1 * 1000000000))
    shift
    while [ "$(date +%s%N)" -lt "$end" ]; do
        "$@" >/dev/null 2>&1 || return 1
        sleep 0.1
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 12700))
        port_open "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# ---- 1. packages and build -----------------------------------------------------

head1 "presence-sync demo"
if [ "$SETUP" = 1 ]; then
    say "installing what is missing (scripts/setup.sh) ..."
    "$ROOT/scripts/setup.sh" || die "scripts/setup.sh failed (run as root, or with sudo available)"
fi
for tool in cmake mosquitto mosquitto_sub curl jq openssl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh (or drop --no-setup)"
done

umask 077
D=$(mktemp -d "${TMPDIR:-/tmp}/presence-sync-demo.XXXXXX")
chmod 700 "$D"

if [ "$BUILD" = 1 ]; then
    say "building in $BUILD_DIR (cmake; its output is shown only if it fails) ..."
    if ! { cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build "$BUILD_DIR" -j"$(nproc)" --target presence-sync fake-graph fake-voice; } \
        >"$D/build.log" 2>&1; then
        tail -n 40 "$D/build.log" >&2
        die "the build failed"
    fi
fi
PS_BIN=$BUILD_DIR/connector/presence-sync
FAKE_GRAPH=$BUILD_DIR/tests/fakes/graph/fake-graph
FAKE_VOICE=$BUILD_DIR/tests/fakes/voice/fake-voice
for bin in "$PS_BIN" "$FAKE_GRAPH" "$FAKE_VOICE"; do
    [ -x "$bin" ] || die "$bin is not built (run without --no-build)"
done

# ---- 2. broker and simulators ----------------------------------------------------

TENANT_ID=0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f
CLIENT_ID=5f2d8c1a-3b4e-4f60-8a7b-9c0d1e2f3a4b
VOICE_ACCOUNT=integration@contoso.com
SVC_ACCOUNT=svc1@contoso.com
USERS=(alice@contoso.com bob@contoso.com carol@contoso.com)
BRIDGE=presence-sync

# Throw-away random secrets, shared by the daemon and the simulators.
for s in graph_client_secret graph_svc1_password voice_secret_key; do
    openssl rand -base64 24 >"$D/$s"
done

if [ -n "$MQTT_PORT_OPT" ]; then
    MQTT_PORT=$MQTT_PORT_OPT
    port_open "$MQTT_PORT" && die "port $MQTT_PORT is taken (--mqtt-port)"
elif port_open 1883; then
    MQTT_PORT=$(free_port) || die "no free port for mosquitto"
    say "port 1883 is taken (a system mosquitto?); the demo broker uses $MQTT_PORT"
else
    MQTT_PORT=1883
fi
# broker-config/mosquitto-dev.conf, on our port; `user` keeps root from
# switching to the mosquitto account (nothing is written to disk anyway).
sed "s/^listener 1883 /listener $MQTT_PORT /" "$ROOT/broker-config/mosquitto-dev.conf" >"$D/mosquitto.conf"
grep -q "^listener $MQTT_PORT " "$D/mosquitto.conf" || die "broker-config/mosquitto-dev.conf has no 'listener 1883' line"
printf 'user %s\n' "$(id -un)" >>"$D/mosquitto.conf"
start_bg mosquitto mosquitto -c "$D/mosquitto.conf"
wait_for 10 port_open "$MQTT_PORT" || die "mosquitto did not start on 127.0.0.1:$MQTT_PORT"
sleep 0.2
kill -0 "${PID[mosquitto]}" 2>/dev/null || die "mosquitto exited (port $MQTT_PORT taken meanwhile?): $(tail -n 3 "$D/mosquitto.log")"
ok "mosquitto          mqtt://127.0.0.1:$MQTT_PORT  (broker-config/mosquitto-dev.conf)"

# Every message on the broker, as `mosquitto_sub -v` shows them.
start_bg topics mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -v -t '#'
TOPICS=$D/topics.out

sim_port() { # NAME: the port=N line a simulator prints once it listens
    wait_for 10 grep -q '^port=[0-9]' "$D/$1.out" || die "$1 did not start: $(tail -n 5 "$D/$1.log")"
    sed -n '/^port=/{s///p;q}' "$D/$1.out"
}
start_bg fake-graph "$FAKE_GRAPH" --port 0
# the simulator has no TLS here: its WSSEndpoint carries http:// (Enreach sends none)
start_bg fake-voice "$FAKE_VOICE" --port 0 --endpoint-scheme http
FG_PORT=$(sim_port fake-graph)
FV_PORT=$(sim_port fake-voice)
FG=http://127.0.0.1:$FG_PORT
FV=http://127.0.0.1:$FV_PORT
ok "fake-graph         $FG  (Microsoft Graph + login simulator)"
ok "fake-voice         $FV  (Enreach Voice simulator)"

# ctl BASE METHOD PATH [JSON | @FILE]: a simulator's control API; prints the
# answer, fails on anything but 2xx.
ctl() {
    local base=$1 m=$2 p=$3 body=${4:-} out code
    local args=(-sS --max-time 10 -X "$m" -w '\n%{http_code}')
    # every write carries a body (maybe {}) so that Content-Length is sent
    [ "$m" = GET ] || args+=(-H 'Content-Type: application/json' --data-binary "${body:-"{}"}")
    out=$(curl "${args[@]}" "$base/_sim$p") || return 1
    code=${out##*$'\n'}
    printf '%s\n' "${out%$'\n'*}"
    [[ $code == 2?? ]]
}
g() { ctl "$FG" "$@"; }
v() { ctl "$FV" "$@"; }

# secret_body FILE JQ_EXPR [jq args]: a JSON request body holding the secret
# in FILE (as $s), written to a 0600 file; prints its name for curl's @FILE.
# The secret travels in the request body, never in a command line.
secret_body() {
    local f=$1 expr=$2
    shift 2
    jq -n --rawfile s "$f" "$@" "($expr)" >"$f.body" || return 1
    echo "@$f.body"
}
trimmed='($s | rtrimstr("\n"))'

# The simulated world, through the simulators' control APIs: in fake-graph
# the tenant, the app registration (client id + secret), three users with
# Teams open (Available) and the service account that holds the presence
# subscription; in fake-voice the integration account and the same users.
g POST /tenants "{\"id\":\"$TENANT_ID\"}" >/dev/null || die "fake-graph: cannot create the tenant"
g POST /apps "$(secret_body "$D/graph_client_secret" "{client_id: \$c, client_secret: $trimmed}" --arg c "$CLIENT_ID")" \
    >/dev/null || die "fake-graph: cannot register the app"
users_json=$(printf '%s\n' "${USERS[@]}" |
    jq -R --arg t "$TENANT_ID" '{upn: ., tenant: $t, teams: "Available"}' | jq -sc '{users: .}')
g POST /users "$users_json" >/dev/null || die "fake-graph: cannot create the users"
g POST /users "$(secret_body "$D/graph_svc1_password" "{upn: \$u, tenant: \$t, password: $trimmed}" \
    --arg u "$SVC_ACCOUNT" --arg t "$TENANT_ID")" >/dev/null || die "fake-graph: cannot create the service account"
v POST /account "$(secret_body "$D/voice_secret_key" "{username: \$u, secret_key: $trimmed}" --arg u "$VOICE_ACCOUNT")" \
    >/dev/null || die "fake-voice: cannot set the integration account"
rm -f "$D"/*.body
for u in "${USERS[@]}"; do
    v POST /users "{\"email\":\"$u\"}" >/dev/null || die "fake-voice: cannot create $u"
done
ok "tenant contoso     users ${USERS[*]}"

# ---- 3. config and daemon ----------------------------------------------------------

HTTP_PORT=$(free_port) || die "no free port for the daemon"
sed -e "s/@MQTT_PORT@/$MQTT_PORT/g" -e "s/@HTTP_PORT@/$HTTP_PORT/g" \
    -e "s/@FAKE_GRAPH_PORT@/$FG_PORT/g" -e "s/@FAKE_VOICE_PORT@/$FV_PORT/g" \
    -e "s/@TENANT_ID@/$TENANT_ID/g" -e "s/@CLIENT_ID@/$CLIENT_ID/g" \
    "$ROOT/docs/examples/config.demo.json" >"$D/config.json"
grep -q '@[A-Z_]*@' "$D/config.json" && die "placeholders left in the config: $(grep -o '@[A-Z_]*@' "$D/config.json" | sort -u | tr '\n' ' ')"
"$PS_BIN" check-config -c "$D/config.json" >"$D/check-config.out" 2>&1 ||
    die "the demo config is invalid: $(cat "$D/check-config.out")"
ok "config             $D/config.json  (from docs/examples/config.demo.json)"

start_bg daemon "$PS_BIN" run -c "$D/config.json"
WEB=http://127.0.0.1:$HTTP_PORT
readyz() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$WEB/readyz")" = 200 ]; }
T_START=$(date +%s%N)
for ((i = 0; i < 600; i++)); do # 60 s
    readyz && break
    kill -0 "${PID[daemon]}" 2>/dev/null || die "the daemon exited during start-up"
    sleep 0.1
done
readyz || die "the daemon is not ready after 60 s: $(curl -s --max-time 2 "$WEB/readyz")"
ok "presence-sync      $WEB  (/readyz 200 after $(ms_since "$T_START") ms)"

# ---- reading the three systems ------------------------------------------------------

# topic_id ADDRESS: topic id (docs/topics.md) (lower-case, bytes outside [a-z0-9._@-] as %XX).
topic_id() {
    local LC_ALL=C a i c out="" # bytes, not characters
    a=$(printf '%s' "$1" | tr 'A-Z' 'a-z') # ASCII only, as connector/core/ids.c
    for ((i = 0; i < ${#a}; i++)); do
        c=${a:i:1}
        case $c in [a-z0-9._@-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
    done
    printf '%s' "$out"
}
# last TOPIC: the newest payload seen on TOPIC (empty if none).
last() { awk -v t="$1" '$1 == t { p = substr($0, length(t) + 2) } END { print p }' "$TOPICS"; }
# topic_is TOPIC JQ_ARGS...: the newest payload on TOPIC satisfies the jq
# filter (false when nothing was seen: jq 1.6 -e says yes to empty input).
topic_is() {
    local p
    p=$(last "$1")
    shift
    [ -n "$p" ] && printf '%s' "$p" | jq -e "$@" >/dev/null
}
busy_is() { topic_is "teams/$(topic_id "$1")/busy" --argjson b "$2" '.busy == $b'; }
busy_activity_is() {
    topic_is "teams/$(topic_id "$1")/busy" --arg a "$2" --argjson b "$3" '.activity == $a and .busy == $b'
}
talking_topic_is() { topic_is "voice/$(topic_id "$1")/talking" --argjson t "$2" '.talking == $t'; }
sync_quiet() {
    topic_is "$BRIDGE/sync/$(topic_id "$1")" '.inputs.teams.known and .inputs.voice.known and (.pending | length == 0)'
}
# Simulator views: Teams aggregate presence, Voice 'talking' flag and calls.
teams_of() { g GET "/users/$1" | jq -r '.availability + "/" + .activity'; }
teams_is() { [ "$(teams_of "$1")" = "$2" ]; }
app_session_of() {
    g GET "/users/$1" | jq -r --arg c "$CLIENT_ID" \
        '[.sessions[] | select(.type == "app" and .id == $c)] | .[0] // empty | .availability + "/" + .activity'
}
no_app_session() {
    local s
    s=$(app_session_of "$1") || return 1
    [ -z "$s" ]
}
idle_topics() { busy_is "$1" false && talking_topic_is "$1" false && sync_quiet "$1"; }
vuser() { v GET /state | jq -c --arg e "$1" '.users[] | select(.email == $e)'; }
vtalk_is() { [ "$(vuser "$1" | jq -r .talking)" = "$2" ]; }
vwrites() { vuser "$1" | jq -r .talking_writes; }

# table: each system's state, side by side.
table() {
    local gs vs
    gs=$(g GET /users) || die "fake-graph does not answer"
    vs=$(v GET /state) || die "fake-voice does not answer"
    printf '   %s%-20s %-28s %-14s %s%s\n' "$DIM" "user" "Teams (fake-graph)" "Voice talking" "Voice calls" "$RST"
    jq -rn --argjson g "$gs" --argjson v "$vs" --argjson users "$(printf '%s\n' "${USERS[@]}" | jq -R . | jq -sc .)" '
        $users[] as $u
        | ($g[] | select(.upn == $u)) as $gu
        | ($v.users[] | select(.email == $u)) as $vu
        | [$u, ($gu.availability + "/" + $gu.activity),
           (if $vu.talking then "talking" else "-" end),
           ([$v.calls[] | select(.user_id == $vu.id) | .terminal] as $t
            | if ($t | length) == 0 then "0" else "\($t | length) (\($t | join(", ")))" end)]
        | @tsv' |
        while IFS=$'\t' read -r u t vt vc; do
            printf '   %-20s %-28s %-14s %s\n' "$u" "$t" "$vt" "$vc"
        done
}

# show_topics: MQTT messages seen since the last call, once the broker has
# been quiet for 0.5 s (at most 3 s). The presence topics and B/state as
# `mosquitto_sub -v` prints them; the daemon's own diagnostics (B/sync/<id>:
# the newest per user, summarised; B/health: counted) unless --all-topics.
SHOWN=0
show_topics() {
    local n prev=-1 end=$(($(date +%s%N) + 3000000000))
    while [ "$(date +%s%N)" -lt "$end" ]; do
        n=$(wc -l <"$TOPICS")
        [ "$n" = "$prev" ] && break
        prev=$n
        sleep 0.5
    done
    n=$(wc -l <"$TOPICS")
    if [ "$n" -le "$SHOWN" ]; then
        say "   ${DIM}(no MQTT messages)${RST}"
        return
    fi
    say "   ${DIM}mosquitto_sub -v -t '#':${RST}"
    if [ "$ALL_TOPICS" = 1 ]; then
        sed -n "$((SHOWN + 1)),${n}p" "$TOPICS" | sed "s/^/   /"
    else
        sed -n "$((SHOWN + 1)),${n}p" "$TOPICS" | topic_digest
    fi
    SHOWN=$n
}
# topic_digest: stdin `topic payload` lines -> the readable form above.
topic_digest() {
    local topic payload syncs="" nsync=0 nhealth=0
    declare -A lastsync=()
    while IFS=' ' read -r topic payload; do
        case $topic in
        "$BRIDGE/health") nhealth=$((nhealth + 1)) ;;
        "$BRIDGE"/sync/*)
            nsync=$((nsync + 1))
            [ -n "${lastsync[$topic]:-}" ] || syncs+="$topic "
            lastsync[$topic]=$payload
            ;;
        *) printf '   %s%s %s%s\n' "$CYN" "$topic" "$payload" "$RST" ;;
        esac
    done
    for topic in $syncs; do
        printf '%s' "${lastsync[$topic]}" | jq -r --arg t "$topic" --arg d "$DIM" --arg r "$RST" '
            def side: if .known then (if .availability then "\(.availability)/\(.activity)"
                + (if .origin and .origin != "none" and .origin != "user" then " (\(.origin))" else "" end)
                else (if .calls == 1 then "1 call" elif .calls == 0 then "no call" else "\(.calls) calls" end) end) else "unknown" end;
            "   \($d)\($t)  teams: \(.inputs.teams | side)  voice: \(.inputs.voice | side)  wrote: teams session \(.written.teams.session), voice talking \(.written.voice.talking)"
            + (if (.pending | length) > 0 then "  pending: \([.pending[] | .why] | join(", "))" else "" end)
            + (if .last_error then "  error: \(.last_error.error // .last_error)" else "" end) + $r' 2>/dev/null ||
            printf '   %s%s (unreadable payload)%s\n' "$DIM" "$topic" "$RST"
    done
    if [ $((nsync + nhealth)) -gt 0 ]; then
        printf '   %s(%d message(s) on %s/sync/#, newest per user summarised above; %d on %s/health; --all-topics shows them in full)%s\n' \
            "$DIM" "$nsync" "$BRIDGE" "$nhealth" "$BRIDGE" "$RST"
    fi
}

# show_new_lines: print messages that arrived since the last look (for --stay).
show_new_lines() {
    local n
    n=$(wc -l <"$TOPICS")
    if [ "$n" -gt "$SHOWN" ]; then
        sed -n "$((SHOWN + 1)),${n}p" "$TOPICS" | cut -c "1-$((${COLUMNS:-160} - 2))"
        SHOWN=$n
    fi
}

STEP=0
step() {
    STEP=$((STEP + 1))
    head1 "$STEP. $1"
    say "   $2"
}
# expect SECS WHAT CMD...: wait for CMD; on time-out the demo fails, naming WHAT.
expect() {
    local secs=$1 what=$2
    shift 2
    wait_for "$secs" "$@" || { table >&2 || true; die "step $STEP: $what did not happen within ${secs}s"; }
    ok "$what"
}
# expect_stays SECS WHAT CMD...: CMD holds for SECS.
expect_stays() {
    local secs=$1 what=$2
    shift 2
    stays "$secs" "$@" || { table >&2 || true; die "step $STEP: $what did not hold for ${secs}s"; }
    ok "$what (checked for ${secs}s)"
}

ALICE=alice@contoso.com BOB=bob@contoso.com CAROL=carol@contoso.com
TO=$STEP_TIMEOUT

# ---- 4. the story ---------------------------------------------------------------------

step "Everybody is idle" \
    "The daemon has read both systems and published what it saw (retained topics)."
for u in "${USERS[@]}"; do
    expect "$TO" "$u: mapper has both inputs, nothing pending ($BRIDGE/sync/$(topic_id "$u"))" sync_quiet "$u"
done
for u in "${USERS[@]}"; do
    busy_is "$u" false || die "step 1: teams/$(topic_id "$u")/busy is not busy=false: $(last "teams/$(topic_id "$u")/busy")"
    talking_topic_is "$u" false || die "step 1: voice/$(topic_id "$u")/talking is not talking=false"
    vtalk_is "$u" false || die "step 1: $u is 'talking' in Voice before anything happened"
done
ok "teams/<id>/busy and voice/<id>/talking say idle for all three"
show_topics
table

step "Alice joins a Teams call" \
    "Teams shows her Busy/InACall; the daemon publishes teams/alice@contoso.com/busy and marks her 'talking' in Voice."
t=$(date +%s%N)
g POST "/users/$ALICE/start/call" >/dev/null || die "fake-graph: cannot start Alice's Teams call"
expect "$TO" "Voice marks Alice 'talking'" vtalk_is "$ALICE" true
LAT_TEAMS_TO_VOICE=$(ms_since "$t")
say "   ${DIM}Teams call -> Voice 'talking': ${LAT_TEAMS_TO_VOICE} ms${RST}"
expect "$TO" "teams/alice@contoso.com/busy says busy (InACall)" busy_activity_is "$ALICE" InACall true
expect_stays 1 "Alice has no Voice call, so nothing is written back to Teams (voice/alice@contoso.com/talking stays false)" \
    talking_topic_is "$ALICE" false
[ -z "$(app_session_of "$ALICE")" ] || die "step $STEP: the daemon set a Teams session for Alice"
show_topics
table

step "Bob takes a call on his Voice desk phone" \
    "voice/bob@contoso.com/talking turns true; the daemon sets Teams Busy/InACall through its own presence session. Teams reports that back, but the daemon knows its own echo and does not mark Bob 'talking' in Voice."
BOB_W0=$(vwrites "$BOB")
t=$(date +%s%N)
BOB_CALL=$(v POST /calls/start "{\"email\":\"$BOB\",\"terminal\":\"desk\"}" | jq -r .call_id) ||
    die "fake-voice: cannot start Bob's call"
expect "$TO" "Teams shows Bob Busy/InACall" teams_is "$BOB" Busy/InACall
LAT_VOICE_TO_TEAMS=$(ms_since "$t")
say "   ${DIM}Voice call -> Teams Busy/InACall: ${LAT_VOICE_TO_TEAMS} ms${RST}"
expect "$TO" "voice/bob@contoso.com/talking says talking (1 call)" talking_topic_is "$BOB" true
[ "$(app_session_of "$BOB")" = Busy/InACall ] || die "step $STEP: Bob's Busy does not come from the daemon's session"
expect "$TO" "the echo arrives: teams/bob@contoso.com/busy says busy" busy_is "$BOB" true
expect_stays 2 "Bob's Voice 'talking' flag stays off (no loop)" vtalk_is "$BOB" false
[ "$(vwrites "$BOB")" = "$BOB_W0" ] || die "step $STEP: Voice was written for Bob during his Voice call"
show_topics
table

step "Carol's calendar meeting starts" \
    "Teams shows Busy/InAMeeting: a calendar entry, not a call. The topic says busy:false and Voice is left alone."
CAROL_W0=$(vwrites "$CAROL")
g POST "/users/$CAROL/start/calendar" >/dev/null || die "fake-graph: cannot start Carol's meeting"
expect "$TO" "Teams shows Carol Busy/InAMeeting" teams_is "$CAROL" Busy/InAMeeting
expect "$TO" "teams/carol@contoso.com/busy says InAMeeting, busy:false" busy_activity_is "$CAROL" InAMeeting false
expect_stays 2 "Carol is not 'talking' in Voice" vtalk_is "$CAROL" false
[ "$(vwrites "$CAROL")" = "$CAROL_W0" ] || die "step $STEP: Voice was written for Carol"
show_topics
table

step "Everybody hangs up" \
    "Alice leaves the Teams call, Bob puts the phone down, Carol's meeting ends: the daemon takes back what it wrote (Voice 'talking', its Teams session) and all three are idle."
g POST "/users/$ALICE/end/call" >/dev/null || die "fake-graph: cannot end Alice's call"
v POST /calls/end "{\"call_id\":\"$BOB_CALL\"}" >/dev/null || die "fake-voice: cannot end Bob's call"
g POST "/users/$CAROL/end/calendar" >/dev/null || die "fake-graph: cannot end Carol's meeting"
expect "$TO" "Voice clears Alice's 'talking'" vtalk_is "$ALICE" false
expect "$TO" "the daemon's Teams session for Bob is gone (clearPresence)" no_app_session "$BOB"
for u in "${USERS[@]}"; do
    expect "$TO" "Teams shows $u Available" teams_is "$u" Available/Available
done
for u in "${USERS[@]}"; do
    expect "$TO" "topics say $u is idle (busy:false, talking:false, nothing pending)" idle_topics "$u"
done
for u in "${USERS[@]}"; do
    vtalk_is "$u" false || die "step $STEP: $u is left 'talking' in Voice"
done
ok "nobody is left 'talking' in Voice or Busy in Teams"
show_topics
table

STORY_MS=$(ms_since "$T_START")
head1 "All steps passed"
say "   daemon start to the end of the story: ${STORY_MS} ms; Teams call -> Voice 'talking' ${LAT_TEAMS_TO_VOICE} ms; Voice call -> Teams Busy ${LAT_VOICE_TO_TEAMS} ms"

if [ "$STAY" = 1 ]; then
    cat <<EOF

${B}Everything keeps running until you press Ctrl-C.${RST}

Watch every topic (new messages also appear below):
    mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -v -t '#'

Drive it (users: ${USERS[*]}):
    # Teams: start / end a call (other kinds: groupcall, meeting, screenshare, calendar)
    curl -s -X POST -H 'Content-Type: application/json' -d '{}' $FG/_sim/users/alice@contoso.com/start/call
    curl -s -X POST -H 'Content-Type: application/json' -d '{}' $FG/_sim/users/alice@contoso.com/end/call
    # Voice: start / end a call on a terminal
    curl -s -H 'Content-Type: application/json' -d '{"email":"bob@contoso.com","terminal":"mobile"}' $FV/_sim/calls/start
    curl -s -H 'Content-Type: application/json' -d '{"email":"bob@contoso.com"}' $FV/_sim/calls/end
    # what each system shows
    curl -s $FG/_sim/users/bob@contoso.com | jq '{availability, activity, sessions}'
    curl -s $FV/_sim/state | jq '.users[] | {email, talking, calls}'
    # the daemon
    curl -s $WEB/readyz; curl -s $WEB/metrics | grep presence_sync_

Config: $D/config.json
Logs:   $D/daemon.log (fake-graph.log, fake-voice.log, mosquitto.log next to it)
EOF
    while kill -0 "${PID[daemon]}" 2>/dev/null; do
        show_new_lines
        sleep 0.5
    done
    rc=0
    wait "${PID[daemon]}" || rc=$?
    unset "PID[daemon]"
    die "the daemon exited by itself (status $rc)"
fi

head1 "Stopping"
stop_one daemon 10
DAEMON_RC=$LAST_RC
[ "$DAEMON_RC" = 0 ] || die "the daemon did not stop cleanly (exit status $DAEMON_RC)"
wait_for 5 grep -q "^$BRIDGE/state .*\"offline\"" "$TOPICS" ||
    die "$BRIDGE/state did not turn offline when the daemon stopped"
ok "SIGTERM: the daemon stopped with status 0 and published $BRIDGE/state offline"
show_topics
say ""
say "Demo done in $(ms_since "$T0") ms. Run it with --stay to keep it running and play with it."
