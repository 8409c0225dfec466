#!/usr/bin/env bash
# Several instances with one configuration (docs/ha.md): distinct MQTT client
# ids (the broker never takes one's connection over for another), exactly one
# active per tenant after the settle window and the others standby, all
# agreeing on the holder that the retained lease names; kill -9 of the active
# one: a standby takes over within 15 s; SIGTERM of the active one: it
# releases and a standby takes over within 5 s. What the role gates is
# tested with the sides; this is the election over a real broker.
source "$(dirname "$0")/../lib/common.sh"
# role, active_among (the simulators it can start are not used here)
source "$(dirname "$0")/ha_helpers.sh"
# Graph and Voice point at a closed loopback port: this test is about the
# lease, and must never reach the real services (loopback only).

MOSQ_EXTRA_CONF="log_type notice" # "already connected, closing old connection"
start_mosquitto
LEASE=psync-ha/lease/contoso

mkdir -p "$T/etc/secrets"
printf 'client-secret-ha\n' >"$T/etc/secrets/client"
printf 'svc-pass-ha\n' >"$T/etc/secrets/svc1"
printf 'voice-key-ha\n' >"$T/etc/secrets/voice"
chmod 600 "$T"/etc/secrets/*

# write_config NAME: the same configuration but for the HTTP port.
write_config() {
    cat >"$T/etc/$1.json" <<JSON
{
  "instance": "ps-ha",
  "log_level": "info",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "bridge_topic": "psync-ha"},
  "http": {"listen": "127.0.0.1:$(free_port)", "public_url": "https://sync.example.com"},
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

start() {
    write_config "$1"
    start_daemon "$T/etc/$1.json" "$1"
    PID[$1]=$PS_PID
}

# node NAME: NAME's node id (its MQTT client id).
node() {
    local line
    line=$(grep -E 'lease node=' "$T/$1.log" | tail -n 1)
    line=${line#*lease node=}
    printf '%s' "${line%% *}"
}
lease_holder() { mqtt_retained "$LEASE" | jq -r '.holder // empty'; }
# holder_is NAME: the retained lease and every log name NAME's node.
holder_is() {
    local want n
    want=$(node "$1")
    [ -n "$want" ] && [ "$(lease_holder)" = "$want" ] || return 1
    for n in "${@:2}"; do
        grep -E 'role tenant=contoso role=' "$T/$n.log" | tail -n 1 | has "holder=$want " ||
            return 1
    done
}

log "three instances, one configuration"
start a
start b
start c
wait_for 20 active_among a b c || fail "not exactly one active: a=$(role a) b=$(role b) c=$(role c)"
ACTIVE=$(active_among a b c)
OTHERS=()
for n in a b c; do [ "$n" = "$ACTIVE" ] || OTHERS+=("$n"); done
wait_for 10 holder_is "$ACTIVE" "${OTHERS[@]}" ||
    fail "holder not agreed: lease=$(lease_holder) active=$(node "$ACTIVE")"
[ "$(node a)" != "$(node b)" ] && [ "$(node b)" != "$(node c)" ] && [ "$(node a)" != "$(node c)" ] ||
    fail "two instances share a node id"
# stays so: no flapping over a few renewals
sleep 5
[ "$(active_among a b c)" = "$ACTIVE" ] || fail "the active instance changed without a fault"
grep -q 'already connected' "$T/mosquitto.log" && fail "the broker took a connection over"
mqtt_retained "$LEASE" | jqe '.state == "held" and .instance == "ps-ha" and .epoch >= 1' >/dev/null ||
    fail "retained lease: $(mqtt_retained "$LEASE")"

log "kill -9 of the active instance ($ACTIVE)"
kill -KILL "${PID[$ACTIVE]}"
KILLED=$(date +%s%N)
wait_for 15 active_among "${OTHERS[@]}" || fail "no takeover within 15 s: $(role "${OTHERS[0]}") $(role "${OTHERS[1]}")"
log "takeover after $((($(date +%s%N) - KILLED) / 1000000)) ms"
ACTIVE=$(active_among "${OTHERS[@]}")
for n in "${OTHERS[@]}"; do [ "$n" = "$ACTIVE" ] || STANDBY=$n; done
wait_line 5 "$T/$ACTIVE.log" 'role tenant=contoso role=active .*epoch=2' ||
    fail "the takeover is not epoch 2"

log "SIGTERM of the active instance ($ACTIVE): a rolling upgrade"
kill -TERM "${PID[$ACTIVE]}"
TERMED=$(date +%s%N)
wait_for 5 active_among "$STANDBY" || fail "no handover within 5 s: $(role "$STANDBY")"
log "handover after $((($(date +%s%N) - TERMED) / 1000000)) ms"
wait "${PID[$ACTIVE]}" 2>/dev/null || true
grep -q 'lease released tenant=contoso' "$T/$ACTIVE.log" || fail "no release logged"
wait_for 5 holder_is "$STANDBY" || fail "lease not held by $STANDBY: $(lease_holder)"
grep -q 'already connected' "$T/mosquitto.log" && fail "the broker took a connection over"
pass test_ha_roles
