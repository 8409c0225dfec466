#!/usr/bin/env bash
# B/state and the MQTT will (docs/mqtt.md): the daemon publishes
# {"state":"online",...} retained on connect and again after a broker
# restart; /readyz follows the MQTT link; kill -9 makes the broker publish the
# retained will {"state":"offline",...}; a restart is online again. Every
# payload seen is validated against schemas/state.schema.json.
source "$(dirname "$0")/../lib/common.sh"
# Graph and Voice URLs point at a closed loopback port: this test is about MQTT,
# signals and logs, and must never reach the real services (loopback only).

# The broker restarts on the same port: free_port takes one below the
# ephemeral range, so that no outgoing connection can grab it while it is down.
MQTT_PORT=$(free_port)
MOSQ_EXTRA="user $(id -un)" # keep root, so mosquitto can write its persistence in $T
start_mosquitto "$MOSQ_EXTRA"
HTTP_PORT=$(free_port)
STATE=psync-it/state

mkdir -p "$T/etc/secrets"
printf 'client-secret-lwt\n' >"$T/etc/secrets/client"
printf 'svc-pass-lwt\n' >"$T/etc/secrets/svc1"
printf 'voice-key-lwt\n' >"$T/etc/secrets/voice"
chmod 600 "$T"/etc/secrets/*

# write_config PROTOCOL
write_config() {
    cat >"$T/etc/config.json" <<JSON
{
  "instance": "ps-lwt",
  "log_level": "info",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "bridge_topic": "psync-it", "protocol": "$1"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso",
    "users": ["alice@contoso.com"],
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
      "client_secret_file": "secrets/client",
      "login_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9/v1.0",
      "service_accounts": [{"username": "svc1@contoso.com", "password_file": "secrets/svc1"}]
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice",
              "discovery_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9"}
  }]
}
JSON
}

# state_is STATE: B/state is retained with that state, valid against the schema.
state_is() {
    local payload
    payload=$(mqtt_retained "$STATE")
    [ -n "$payload" ] || return 1
    python3 - "$PS_SRC/schemas/state.schema.json" "$payload" "$1" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.loads(sys.argv[2])
jsonschema.validate(doc, schema)
assert doc["state"] == sys.argv[3], doc
assert doc["instance"] == "ps-lwt", doc
PY
}
count() { grep -c -- "$1" "$2" || true; }
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }
# mqtt_ready_is true|false: the "mqtt" component of /readyz. (The whole answer
# is 503 here anyway once the Graph side is in: no Graph to subscribe at.)
mqtt_ready_is() {
    curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/readyz" |
        python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["components"]["mqtt"]["ready"] == (sys.argv[1] == "true") else 1)' "$1"
}

for proto in 5 3.1.1; do
    log "protocol $proto"
    write_config "$proto"
    rm -f "$T/daemon.log"
    start_daemon "$T/etc/config.json"

    # online, retained, with instance and version
    wait_for 10 state_is online || fail "B/state not online ($proto): '$(mqtt_retained $STATE)'"
    ver=$(mqtt_retained "$STATE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    [ "$ver" = "$("$PS_BIN" --version | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | sed -n 1p)" ] ||
        fail "B/state version $ver differs from --version"
    wait_line 5 "$T/daemon.log" "info daemon starting version=$ver instance=ps-lwt mqtt=mqtt://127.0.0.1:$MQTT_PORT listen=127.0.0.1:$HTTP_PORT" ||
        fail "no startup line"
    [ "$(http_status "http://127.0.0.1:$HTTP_PORT/healthz")" = 200 ] || fail "healthz not 200"
    wait_for 5 mqtt_ready_is true || fail "readyz: mqtt not ready while connected ($proto)"

    # broker restart, losing its retained store: not ready meanwhile, and
    # online is published again after the reconnect
    stop_mosquitto
    rm -f "$T"/mosq/*.db
    wait_for 10 mqtt_ready_is false || fail "readyz: mqtt still ready without broker ($proto)"
    [ "$(http_status "http://127.0.0.1:$HTTP_PORT/readyz")" = 503 ] || fail "readyz not 503 ($proto)"
    start_mosquitto "$MOSQ_EXTRA"
    wait_for 15 at_least 2 'info mqtt connected' "$T/daemon.log" || fail "no reconnect ($proto)"
    wait_for 5 state_is online || fail "online not re-published after reconnect ($proto)"
    wait_for 5 mqtt_ready_is true || fail "readyz: mqtt not ready after reconnect ($proto)"
    curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep '^presence_sync_mqtt_reconnects_total 1$' >/dev/null ||
        fail "mqtt_reconnects_total not 1"

    # kill -9: the broker publishes the will at once (socket closed)
    kill -9 "$PS_PID"
    wait "$PS_PID" 2>/dev/null || true
    wait_for 5 state_is offline || fail "will not published after kill -9 ($proto): '$(mqtt_retained $STATE)'"

    # restart: online again (on a fresh HTTP port: the old one may have been
    # taken meanwhile as some other connection's ephemeral port)
    HTTP_PORT=$(free_port)
    write_config "$proto"
    start_daemon "$T/etc/config.json"
    wait_for 10 state_is online || fail "B/state not online after restart ($proto)"
    kill -TERM "$PS_PID"
    wait "$PS_PID" || fail "daemon exit code $? after SIGTERM"
    state_is offline || fail "B/state not offline after SIGTERM ($proto)"
done
# a sanitizer build reports into the logs, sometimes after the exit code was set
grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass "daemon_lwt"
