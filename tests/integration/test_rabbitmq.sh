#!/usr/bin/env bash
# Portability (docs/operations.md "Other brokers: RabbitMQ"): presence-sync in MQTT 3.1.1 mode against
# RabbitMQ's MQTT plugin (Debian rabbitmq-server), with RabbitMQ's default
# retained-message store. A private node runs as this test's own process
# (own node name, ports, epmd, data, log and config under $T) and is stopped
# at the end with nothing left behind. Proves: the daemon logs in with
# username + password_file, B/state online is retained (exact-topic read) and
# schema-valid; SIGHUP does not re-publish it (on change only); kill -9 makes
# RabbitMQ publish the retained will (offline); a restart is online again;
# the bus publishes state topics on change only (bus_probe, 3.1.1).
# It also pins two RabbitMQ behaviours that docs/operations.md warns about:
# '.' in a topic comes back as '/', and a wildcard subscription gets no
# retained messages.
# Skipped (exit 77) when rabbitmq-server is not installed (scripts/setup.sh
# installs it).
source "$(dirname "$0")/../lib/common.sh"

RMQ=/usr/lib/rabbitmq/bin
if [ ! -x "$RMQ/rabbitmq-server" ] || ! command -v epmd >/dev/null; then
    echo "SKIP: rabbitmq-server not installed (Debian package rabbitmq-server): RabbitMQ portability not tested"
    exit 77
fi

# ---- a private RabbitMQ node ----------------------------------------------------
R=$T/rmq
mkdir -p "$R/home" "$R/mnesia" "$R/log"
MQTT_PORT=$(free_port)
AMQP_PORT=$(free_port)
DIST_PORT=$(free_port)
EPMD_PORT=$(free_port)
RMQ_USER=presence-sync
RMQ_PASS="r+/=&%-$RANDOM$RANDOM"
cat >"$R/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
mqtt.listeners.tcp.default = 127.0.0.1:$MQTT_PORT
mqtt.allow_anonymous = false
mqtt.vhost = /
mqtt.exchange = amq.topic
default_user = $RMQ_USER
default_pass = $RMQ_PASS
loopback_users = none
log.console = true
log.console.level = warning
log.file = false
CONF
echo '[rabbitmq_mqtt].' >"$R/enabled_plugins"
: >"$R/rabbitmq-env.conf"
export HOME=$R/home # the Erlang cookie
export RABBITMQ_NODENAME="ps-test-$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_DIST_PORT=$DIST_PORT
export RABBITMQ_MNESIA_BASE=$R/mnesia RABBITMQ_LOG_BASE=$R/log
export RABBITMQ_CONFIG_FILE=$R/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$R/advanced.config
export RABBITMQ_ENABLED_PLUGINS_FILE=$R/enabled_plugins RABBITMQ_CONF_ENV_FILE=$R/rabbitmq-env.conf
export RABBITMQ_PID_FILE=$R/rabbitmq.pid
export ERL_EPMD_PORT=$EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1

# our own epmd on its own port, in the foreground: it dies with the test
epmd -port "$EPMD_PORT" -address 127.0.0.1 >"$T/epmd.log" 2>&1 &
EPMD_PID=$!
PIDS+=("$EPMD_PID")
wait_for 5 port_open "$EPMD_PORT" || fail "epmd did not start"

# the node in its own process group, so that all of it can be killed at once
setsid "$RMQ/rabbitmq-server" >"$T/rabbitmq.log" 2>&1 &
RMQ_PID=$!

rmq_stop() {
    [ -n "${RMQ_PID:-}" ] || return 0
    if kill -0 "$RMQ_PID" 2>/dev/null; then
        timeout 30 "$RMQ/rabbitmqctl" stop >>"$T/rabbitmqctl.log" 2>&1 || true
        wait_for 15 bash -c "! kill -0 $RMQ_PID" || true
        kill -9 -- "-$RMQ_PID" 2>/dev/null || true
    fi
    wait "$RMQ_PID" 2>/dev/null || true
    RMQ_PID=
}
trap 'rmq_stop; ps_cleanup' EXIT
trap 'exit 143' TERM INT # run the EXIT trap on ctest's timeout too

started=$(date +%s)
wait_for 90 port_open "$MQTT_PORT" || fail "RabbitMQ MQTT listener not up after 90 s"
log "RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null) up in $(($(date +%s) - started)) s"

# ---- MQTT 3.1.1 clients ----------------------------------------------------------
C=(-h 127.0.0.1 -p "$MQTT_PORT" -V mqttv311 -u "$RMQ_USER" -P "$RMQ_PASS")
retained() { timeout 10 mosquitto_sub "${C[@]}" -t "$1" -C 1 -W 3 --retained-only 2>/dev/null || true; }
rsub() { # rsub NAME FILTER...: record messages ("r topic payload") to $T/NAME.sub
    local name=$1 args=() f
    shift
    for f in "$@"; do args+=(-t "$f"); done
    mosquitto_sub "${C[@]}" -q 1 -v -F '%r %t %p' "${args[@]}" >"$T/$name.sub" 2>>"$T/clients.log" &
    PIDS+=($!)
}
count() { grep -c -- "$1" "$2" || true; }

# RabbitMQ behaviours the docs warn about (a change here means the docs must change)
rsub wild 'probe/#'
sleep 0.5
timeout 10 mosquitto_pub "${C[@]}" -q 1 -r -t probe/a.b@x.com/busy -m dotted || fail "publish to RabbitMQ"
wait_line 5 "$T/wild.sub" ' probe/' || fail "wildcard subscriber got nothing"
grep -q '^0 probe/a/b@x/com/busy dotted$' "$T/wild.sub" ||
    fail "RabbitMQ no longer turns '.' into '/' ($(cat "$T/wild.sub")): update docs/operations.md"
[ -z "$(timeout 10 mosquitto_sub "${C[@]}" -t 'probe/#' -C 1 -W 2 --retained-only 2>/dev/null)" ] ||
    fail "RabbitMQ now sends retained messages to wildcard subscriptions: update docs/operations.md"
log "known RabbitMQ limits confirmed: '.' in topics becomes '/'; no retained messages on wildcard subscriptions"

# ---- the daemon, MQTT 3.1.1, username + password_file ------------------------------
HTTP_PORT=$(free_port)
secret_files "$T/etc" mqtt="$RMQ_PASS" client=client-secret-rmq svc1=svc-pass-rmq voice=voice-key-rmq
cat >"$T/etc/config.json" <<JSON
{
  "instance": "ps-rmq",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "username": "$RMQ_USER", "password_file": "secrets/mqtt",
           "bridge_topic": "presence-sync", "protocol": "3.1.1"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "tenants": [$(contoso_tenant '["alice@contoso.com"]')]
}
JSON
STATE=presence-sync/state
state_is() { # state_is STATE: retained B/state has it and is schema-valid
    local payload
    payload=$(retained "$STATE")
    [ -n "$payload" ] || return 1
    python3 - "$PS_SRC/schemas/state.schema.json" "$payload" "$1" <<'PY'
import json, sys, jsonschema
doc = json.loads(sys.argv[2])
jsonschema.validate(doc, json.load(open(sys.argv[1])))
assert doc["state"] == sys.argv[3] and doc["instance"] == "ps-rmq", doc
PY
}

rsub live "$STATE"
sleep 0.5
start_daemon "$T/etc/config.json"
wait_for 15 state_is online || fail "B/state not online (retained) on RabbitMQ: '$(retained "$STATE")'"
wait_line 5 "$T/daemon.log" 'mqtt connected .*' || fail "no 'mqtt connected' line"
grep -q 'protocol=3.1.1' "$T/daemon.log" || fail "daemon did not use MQTT 3.1.1"
wait_line 5 "$T/live.sub" "^0 $STATE .*\"online\"" || fail "live subscriber did not see online"

# on change only: a reload with the same config does not re-publish B/state
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'daemon reloaded' || fail "no reload logged after SIGHUP"
sleep 1.5
[ "$(count '"online"' "$T/live.sub")" = 1 ] || fail "B/state re-published unchanged: $(cat "$T/live.sub")"

# kill -9: RabbitMQ publishes the retained will
kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
wait_for 10 state_is offline || fail "will not published by RabbitMQ after kill -9: '$(retained "$STATE")'"
wait_line 5 "$T/live.sub" "^0 $STATE .*\"offline\"" || fail "live subscriber did not see the will"

# restart: online again
start_daemon "$T/etc/config.json" daemon2
wait_for 15 state_is online || fail "B/state not online after restart"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $? after SIGTERM"
state_is offline || fail "B/state not offline after SIGTERM"
assert_absent "$RMQ_PASS" "$T/daemon.log" "$T/daemon2.log"

# ---- on-change publishing through core/bus.c, 3.1.1 --------------------------------
PROBE=$PS_BUILD/tests/tools/bus_probe
[ -x "$PROBE" ] || fail "bus_probe not built: $PROBE"
rsub onchange 'pstest/x' 'pstest/y'
sleep 0.5
mkfifo "$T/probe.in"
RMQ_PW_ENV=$RMQ_PASS "$PROBE" --url "mqtt://127.0.0.1:$MQTT_PORT" --protocol 3.1.1 --client-id ps-rmq-probe \
    --username "$RMQ_USER" --password-env RMQ_PW_ENV --state-topic pstest/state \
    <"$T/probe.in" >"$T/probe.out" 2>"$T/probe.log" &
PROBE_PID=$!
PIDS+=("$PROBE_PID")
exec 7>"$T/probe.in"
wait_line 15 "$T/probe.out" '^connected$' || fail "bus_probe did not connect to RabbitMQ"
printf '%s\n' 'state pstest/x {"busy":true}' 'state pstest/x {"busy":true}' 'state pstest/x {"busy":false}' \
    'state pstest/y {"busy":true}' 'state pstest/y {"busy":true}' ping >&7
wait_line 10 "$T/probe.out" '^pong$' || fail "bus_probe did not answer"
[ "$(grep '^state rc=' "$T/probe.out" | cut -d' ' -f2 | tr '\n' ' ')" = "rc=1 rc=0 rc=1 rc=1 rc=0 " ] ||
    fail "publish_state results: $(grep '^state' "$T/probe.out")"
wait_for 5 grep -q ' pstest/y ' "$T/onchange.sub" || true
sleep 1
[ "$(count ' pstest/x ' "$T/onchange.sub")" = 2 ] || fail "pstest/x: want 2 messages: $(cat "$T/onchange.sub")"
[ "$(count ' pstest/y ' "$T/onchange.sub")" = 1 ] || fail "pstest/y: want 1 message: $(cat "$T/onchange.sub")"
[ "$(retained pstest/x)" = '{"busy":false}' ] || fail "retained pstest/x is not the last value"
echo stop >&7
exec 7>&-
wait "$PROBE_PID" || fail "bus_probe exit code $?"

# ---- mqtt.escape_dots: per-user topics arrive intact (docs/mqtt.md) ----------------
# The Voice side against fake-voice publishes voice/<id>/talking with '.'
# written as %2E, so RabbitMQ has no '.' to turn into '/'. A wildcard
# subscriber sees live messages on the intact topic and decodes the id back
# to the address; the retained value is read back on the exact topic.
source "$PS_SRC/tests/fakes/voice/it_lib.sh"
fv_start
for u in alice@contoso.com first.last@contoso.com; do
    fv_ctl POST users "{\"email\":\"$u\"}" >/dev/null
done
cp "$T/voice.key" "$T/etc/secrets/fv"
jq --arg fv "$FV_API" --arg fvu "$FV_USER" '.instance = "ps-rmq-esc" | .mqtt.escape_dots = true |
    .tenants[0].users = ["alice@contoso.com", "First.Last@contoso.com"] |
    .tenants[0].graph.login_url = "http://127.0.0.1:9" | .tenants[0].graph.api_url = "http://127.0.0.1:9/v1.0" |
    .tenants[0].voice = {api_url: $fv, username: $fvu, secret_key_file: "secrets/fv"} |
    .mapper = {enabled: false}' "$T/etc/config.json" >"$T/etc/esc.json"
rsub esc 'voice/#'
sleep 0.5
start_daemon "$T/etc/esc.json" daemon3
ALICE=voice/alice@contoso%2Ecom/talking
FL=voice/first%2Elast@contoso%2Ecom/talking
talking_is() { retained "$1" | jqe --argjson t "$2" '.talking == $t' >/dev/null; }
wait_for 20 talking_is "$ALICE" false || fail "no retained $ALICE on RabbitMQ: '$(retained "$ALICE")' ($(cat "$T/esc.sub"))"
CALL=$(fv_ctl POST calls/start '{"email":"first.last@contoso.com"}' | jq -r .call_id)
wait_for 10 talking_is "$FL" true || fail "no retained talking=true on $FL: '$(retained "$FL")'"
wait_line 5 "$T/esc.sub" "^0 $FL \\{\"talking\":true" || fail "live subscriber missed $FL: $(cat "$T/esc.sub")"
# nothing arrived split at a '.': every topic is voice/<id>/talking
grep -v "^0 voice/[^/]*/talking " "$T/esc.sub" && fail "a topic was mangled: $(cat "$T/esc.sub")"
id=$(grep -m1 "talking\":true" "$T/esc.sub" | cut -d/ -f2)
[ "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$id")" = first.last@contoso.com ] ||
    fail "id $id does not decode to the address"
fv_ctl POST calls/end "{\"call_id\":\"$CALL\"}" >/dev/null
wait_for 10 talking_is "$FL" false || fail "talking not cleared on $FL"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon exit code $? after SIGTERM"
log "escape_dots: per-user topics round-trip through RabbitMQ intact"

# ---- stop RabbitMQ and leave nothing behind --------------------------------------
rmq_stop
kill "$EPMD_PID" 2>/dev/null || true
wait "$EPMD_PID" 2>/dev/null || true
sleep 0.2
left=$(ps -eo pid=,args= | grep -F -- "$R/" | grep -v grep || true)
[ -z "$left" ] || fail "processes left behind: $left"
pass "rabbitmq"
