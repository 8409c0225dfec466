# Helpers for the Voice-side integration tests (test_voice_*.sh), sourced
# after tests/lib/common.sh: fake-voice (via its it_lib.sh), a daemon config
# pointed at it, and checks of the voice/<id>/talking topics.

source "$PS_SRC/tests/fakes/voice/it_lib.sh"
command -v jq >/dev/null || fail "jq is needed"

grep -q 'voice_component' "$PS_SRC/connector/daemon.c" ||
    fail "connector/daemon.c does not list voice_component"

VS_BRIDGE=psv
VS_WEBHOOK_SECRET='hook+s3cret/=&%x'

# vs_setup: broker, fake-voice, HTTP port, secrets.
vs_setup() {
    start_mosquitto "user $(id -un)"
    fv_start
    HTTP_PORT=$(free_port)
    DEAD_PORT=$(free_port) # nothing listens here: the Graph side goes nowhere
    mkdir -p "$T/etc"
    printf 'graph-client-secret\n' >"$T/etc/client"
    printf 'svc-password\n' >"$T/etc/svc"
    printf '%s\n' "$FV_SECRET" >"$T/etc/voice.key"
    printf '%s\n' "$VS_WEBHOOK_SECRET" >"$T/etc/hook"
    chmod 600 "$T"/etc/*
}

# vs_config USERS_JSON [VOICE_EXTRA_JSON]: writes $T/etc/config.json. The
# voice block points at fake-voice's API (api_url) unless VOICE_EXTRA_JSON
# overrides keys (e.g. "discovery_url": ..., "api_url": null). With FV_TLS=1
# the test CA is the tenant's ca_file. VS_VOICE_MORE adds keys.
vs_config() {
    local users=$1 extra=${2:-}
    local voice="\"api_url\": \"$FV_API\""
    [ -n "$extra" ] && voice=$extra
    [ -n "${FV_CA:-}" ] && voice="$voice, \"ca_file\": \"$FV_CA\""
    cat >"$T/etc/config.json" <<JSON
{
  "instance": "ps-voice-test",
  "log_level": "${VS_LOG_LEVEL:-info}",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "bridge_topic": "$VS_BRIDGE",
           "topic_prefix": "${VS_PREFIX:-}"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso",
    "users": $users,
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
      "client_secret_file": "client",
      "login_url": "http://127.0.0.1:$DEAD_PORT", "api_url": "http://127.0.0.1:$DEAD_PORT/v1.0",
      "service_accounts": [{"username": "svc@contoso.com", "password_file": "svc"}]
    },
    "voice": {
      $voice,
      "username": "$FV_USER", "secret_key_file": "voice.key"${VS_VOICE_MORE:-}
    }
  }],
  "mapper": {"enabled": false}
}
JSON
}

# vs_start_daemon: runs the daemon on $T/etc/config.json.
vs_start_daemon() {
    start_daemon "$T/etc/config.json"
}

# topic_id ADDRESS: topic id of an address (docs/topics.md).
topic_id() {
    python3 -c '
import sys
a = sys.argv[1].lower().encode()
ok = b"abcdefghijklmnopqrstuvwxyz0123456789._@-"
print("".join(chr(c) if c in ok else "%%%02X" % c for c in a))' "$1"
}

talking_topic() { echo "${VS_PREFIX:-}voice/$(topic_id "$1")/talking"; }

# talking_is ADDRESS true|false [CALLS]: the retained state matches.
talking_is() {
    local p
    p=$(mqtt_retained "$(talking_topic "$1")")
    [ -n "$p" ] || return 1
    echo "$p" | jqe --argjson t "$2" '.talking == $t' >/dev/null || return 1
    [ -z "${3:-}" ] || echo "$p" | jqe --argjson c "$3" '.calls == $c' >/dev/null
}

# wait_talking SECS ADDRESS true|false [CALLS]
wait_talking() {
    wait_for "$1" talking_is "$2" "$3" "${4:-}" ||
        fail "$2: expected talking=$3${4:+ calls=$4}, retained: $(mqtt_retained "$(talking_topic "$2")")"
}

# validate_talking FILE: every payload in a sub_start file matches the schema.
validate_talking() {
    python3 - "$PS_SRC/schemas/voice-talking.schema.json" "$1" <<'PY' || fail "payload does not match schemas/voice-talking.schema.json"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
n = 0
for line in open(sys.argv[2]):
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 3 or not parts[2]:
        continue
    doc = json.loads(parts[2])
    jsonschema.validate(doc, schema)
    n += 1
if n == 0:
    sys.exit("no payloads to validate")
PY
}

# health_voice: the tenant's Voice section of B/health.
health_voice() {
    mqtt_retained "$VS_BRIDGE/health" | jq -c '.tenants.contoso.voice'
}

# wait_link SECS: the Voice link is live (B/health and /readyz agree).
link_live() {
    local h
    h=$(health_voice)
    [ -n "$h" ] && echo "$h" | jqe '.link == "live" and .ready == true' >/dev/null
}
# health_has JQ_EXPR: the Voice section of B/health exists and matches.
health_has() {
    local h
    h=$(health_voice)
    [ -n "$h" ] && [ "$h" != null ] && echo "$h" | jqe "$1" >/dev/null
}
wait_link() {
    wait_for "$1" link_live || fail "Voice link not live: $(health_voice)"
}

# voice_ready true|false: the tenant's Voice entry in /readyz (the Graph
# side, when built in, has its own entry; these tests only judge Voice's).
voice_ready() {
    curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/readyz" |
        jqe --argjson r "$1" '.components["voice/contoso"].ready == $r' >/dev/null
}

# hub_subs: subscriptions of the fake's live hub connections.
hub_subs() { fv_ctl GET hub | jq -c '[.[] | .subscriptions]'; }

call_start() { fv_ctl POST calls/start "$1" | jq -r .call_id; }
call_end() { fv_ctl POST calls/end "{\"call_id\":\"$1\"}" >/dev/null; }
