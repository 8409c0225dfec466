#!/usr/bin/env bash
# Home Assistant MQTT discovery (docs/homeassistant.md): with
# homeassistant.enabled the daemon publishes one retained config per user and
# sensor with the right JSON and safe node ids; republishes them all when
# <prefix>/status says "online"; on SIGHUP clears removed users' configs and
# publishes new users'. Disabled (the default): nothing under the prefix.
# Graph and Voice point at a closed loopback port: this test is about MQTT.
source "$(dirname "$0")/../lib/common.sh"

start_mosquitto "user $(id -un)"
HTTP_PORT=$(free_port)
CFG=$T/etc/config.json
HA=ha-disc
mkdir -p "$T/etc/secrets"
printf 'cs\n' >"$T/etc/secrets/client"
printf 'svc\n' >"$T/etc/secrets/svc1"
printf 'vk\n' >"$T/etc/secrets/voice"
chmod 600 "$T"/etc/secrets/*

# write_config USERS_JSON [HASS_ENABLED]
write_config() {
    cat >"$CFG" <<JSON
{
  "instance": "ps-hass", "log_level": "debug",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "bridge_topic": "psh", "topic_prefix": "home/"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "homeassistant": {"enabled": ${2:-true}, "prefix": "$HA"},
  "tenants": [{
    "name": "contoso", "users": $1,
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
      "client_secret_file": "secrets/client",
      "login_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9/v1.0",
      "service_accounts": [{"username": "svc1@contoso.com", "password_file": "secrets/svc1"}]
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice",
              "api_url": "http://127.0.0.1:9"}
  }]
}
JSON
}

# configs: every retained config under the prefix, as "topic payload" lines.
configs() {
    mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t "$HA/#" -v --retained-only -W 1 2>/dev/null || true
}
n_configs() { configs | grep -c . || true; }
n_configs_is() { [ "$(n_configs)" = "$1" ]; }
# config_of ADDRESS OBJECT: the payload of that user's config.
config_of() {
    configs | jq -R --arg a "$1" --arg o "$2" -c 'split(" ") as $f | ($f[1:] | join(" ") | fromjson) as $p |
        select($p.device.name == $a and ($f[0] | endswith("/" + $o + "/config"))) | {topic: $f[0]} + $p'
}

# 0. disabled: nothing published under the prefix ------------------------------
write_config '["alice@contoso.com"]' false
start_daemon "$CFG" off
wait_line 10 "$T/off.log" 'info mqtt connected' || fail "daemon did not connect"
sleep 0.5
[ "$(n_configs)" = 0 ] || fail "discovery configs published while disabled: $(configs)"
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon did not stop cleanly"

# 1. enabled: one config per user and sensor, retained ------------------------------
write_config '["Alice@Contoso.com", "a+b.c@contoso.com"]'
start_daemon "$CFG"
wait_line 10 "$T/daemon.log" 'info mqtt connected' || fail "daemon did not connect"
wait_for 5 n_configs_is 4 || fail "expected 4 retained configs, got: $(configs)"

a=$(config_of Alice@Contoso.com teams_busy)
[ -n "$a" ] || fail "no Teams config for Alice: $(configs)"
node=$(jq -r '.topic | split("/")[2]' <<<"$a")
[[ "$node" =~ ^alice_contoso_com_[0-9a-f]{8}$ ]] || fail "node id '$node'"
jqe --arg n "$node" --arg ha "$HA" '
    .topic == ($ha + "/binary_sensor/" + $n + "/teams_busy/config") and
    .name == "Teams busy" and .unique_id == ("presence_sync_" + $n + "_teams_busy") and
    .state_topic == "home/teams/alice@contoso.com/busy" and
    .value_template == "{{ '"'ON'"' if value_json.busy else '"'OFF'"' }}" and
    .payload_on == "ON" and .payload_off == "OFF" and
    .availability == [{"topic": "psh/state", "value_template": "{{ value_json.state }}",
                       "payload_available": "online", "payload_not_available": "offline"}] and
    .device.identifiers == ["presence-sync_" + $n] and .device.name == "Alice@Contoso.com"' \
    <<<"$a" >/dev/null || fail "Teams config of Alice: $a"
v=$(config_of Alice@Contoso.com voice_talking)
jqe --arg n "$node" '
    .name == "Voice talking" and .unique_id == ("presence_sync_" + $n + "_voice_talking") and
    .state_topic == "home/voice/alice@contoso.com/talking" and
    .value_template == "{{ '"'ON'"' if value_json.talking else '"'OFF'"' }}" and
    .availability[0].topic == "psh/state" and .device.identifiers == ["presence-sync_" + $n]' \
    <<<"$v" >/dev/null || fail "Voice config of Alice: $v"

# The id with '%', '+' and '.' gets a safe node id; the state topic keeps the id.
b=$(config_of a+b.c@contoso.com teams_busy)
bnode=$(jq -r '.topic | split("/")[2]' <<<"$b")
[[ "$bnode" =~ ^a_b_c_contoso_com_[0-9a-f]{8}$ ]] || fail "node id '$bnode'"
jqe '.state_topic == "home/teams/a%2Bb.c@contoso.com/busy"' <<<"$b" >/dev/null ||
    fail "state topic of a+b.c: $b"
# Every node id and object id only uses what HA allows.
configs | awk '{print $1}' | has -Ev "^$HA/binary_sensor/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config$" &&
    fail "unsafe discovery topic: $(configs | awk '{print $1}')"

# Stable: a restart publishes the same node ids (nothing new appears).
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon did not stop cleanly"
start_daemon "$CFG"
wait_for 10 grep -q 'discovery configs published users=2' "$T/daemon.log" || fail "no republish"
n_configs_is 4 || fail "node ids changed across a restart: $(configs)"
[ "$(config_of Alice@Contoso.com teams_busy | jq -r .topic)" = "$(jq -r .topic <<<"$a")" ] ||
    fail "Alice's topic changed"

# 2. HA comes online: every config is sent again -----------------------------------
sub_start live "$HA/binary_sensor/#"
mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -t "$HA/status" -m offline
sleep 0.5
[ "$(grep -c '^0 ' "$T/live.sub" || true)" = 0 ] || fail "republished on offline"
mosquitto_pub -p "$MQTT_PORT" -h 127.0.0.1 -t "$HA/status" -m online
live_count() { [ "$(grep -c '^0 .*/config {' "$T/live.sub" || true)" = "$1" ]; }
wait_for 5 live_count 4 || fail "not republished on online: $(cat "$T/live.sub")"

# 3. SIGHUP: Alice removed, Carol added --------------------------------------------
write_config '["a+b.c@contoso.com", "carol@contoso.com"]'
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'discovery configs updated added=1 removed=1 users=2' ||
    fail "reload not applied"
alice_gone() { ! configs | has "/$node/"; }
wait_for 5 alice_gone ||
    fail "Alice's configs not cleared: $(configs)"
wait_for 5 n_configs_is 4 || fail "expected 4 configs after reload: $(configs)"
[ -n "$(config_of carol@contoso.com voice_talking)" ] || fail "no config for Carol: $(configs)"
[ -n "$(config_of a+b.c@contoso.com teams_busy)" ] || fail "a+b.c lost its config"
# The clears were empty retained messages on exactly Alice's two topics.
grep -Eq "^0 $HA/binary_sensor/$node/teams_busy/config \$" "$T/live.sub" ||
    fail "no empty message for Alice's Teams config: $(grep "$node" "$T/live.sub")"

kill -TERM "$PS_PID"
wait "$PS_PID" || fail "daemon did not stop cleanly"
pass hass
