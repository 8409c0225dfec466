#!/usr/bin/env bash
# Observability (docs/observability.md, docs/http.md): /readyz is 200 when
# MQTT is connected and every tenant has a live subscription and Voice link,
# 503 with a JSON "reason" naming what is missing otherwise (broker down,
# Voice link down); /metrics is Prometheus text with the core metrics
# (build_info, process start time, uptime, mqtt_connected, users_configured)
# and every documented metric of the sides that this run exercises; B/health
# is retained with both sides' sections.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"
PS_BIN=$PS_BUILD/connector/presence-sync

ms_setup alice@contoso.com bob@contoso.com
ms_start
R=http://127.0.0.1:$HTTP_PORT

readyz() { curl -s --max-time 5 "$R/readyz"; }
ready_is() { [ "$(http_status "$R/readyz")" = "$1" ]; }
wait_for 10 ready_is 200 || fail "not ready after start: $(readyz)"
readyz | jqe '.ready == true and .components.mqtt.ready and .components["graph/contoso"].ready and
    .components["voice/contoso"].ready and (has("reason") | not)' >/dev/null || fail "readyz: $(readyz)"

# /metrics: valid exposition text, the core metrics, the content type.
curl -s -D "$T/m.hdr" "$R/metrics" >"$T/m.txt"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/m.hdr" || fail "content type: $(cat "$T/m.hdr")"
bad=$(grep -Ev '^# (HELP|TYPE) presence_sync_[a-z0-9_]+ |^presence_sync_[a-z0-9_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$|^$' "$T/m.txt" || true)
[ -z "$bad" ] || fail "not Prometheus text: $bad"
has() { grep -Eq "$1" "$T/m.txt" || fail "metrics lack /$1/: $(grep -o '^presence_sync_[a-z_]*' "$T/m.txt" | sort -u | tr '\n' ' ')"; }
has '^presence_sync_build_info\{version="[0-9.]+",instance="ps-mapper-test",roles="all"\} 1$'
has '^# TYPE presence_sync_build_info gauge$'
has '^presence_sync_process_start_time_seconds 1[0-9]{9}$'
has '^presence_sync_uptime_seconds [0-9.]+$'
has '^presence_sync_mqtt_connected 1$'
has '^presence_sync_users_configured\{tenant="contoso"\} 2$'
# the sides' metrics that this start-up must have moved (docs/observability.md)
has '^presence_sync_graph_subscriptions_created_total\{tenant="contoso"\} 1$'
has '^presence_sync_voice_rte_connected\{tenant="contoso"\} 1$'
# (the start-up reconcile reads every user's presence: docs/mapper.md "Start-up")
has '^presence_sync_mapper_graph_reads_total\{outcome="ok"\} [1-9]'
s1=$(sed -n 's/^presence_sync_uptime_seconds //p' "$T/m.txt")
sleep 1.1
s2=$(curl -s "$R/metrics" | sed -n 's/^presence_sync_uptime_seconds //p')
awk -v a="$s1" -v b="$s2" 'BEGIN { exit !(b >= a + 1) }' || fail "uptime did not advance: $s1 -> $s2"

# B/health is retained (status.c attached by the daemon) with both sections.
mqtt_retained "$BRIDGE/health" | jqe '.instance == "ps-mapper-test" and
    .tenants.contoso.graph != null and .tenants.contoso.voice != null' >/dev/null ||
    fail "B/health: $(mqtt_retained "$BRIDGE/health")"

# Broker down: 503, the reason names MQTT; back up: 200 again.
stop_mosquitto
wait_for 10 ready_is 503 || fail "still ready without a broker: $(readyz)"
readyz | jqe '.ready == false and .components.mqtt.ready == false and
    (.reason | test("^mqtt: "))' >/dev/null || fail "readyz without broker: $(readyz)"
curl -s "$R/metrics" | grep '^presence_sync_mqtt_connected 0$' >/dev/null || fail "mqtt_connected not 0"
start_mosquitto "user $(id -un)"
wait_for 20 ready_is 200 || fail "not ready after the broker came back: $(readyz)"

# Voice link down (the simulator is gone): 503 naming the Voice tenant.
kill -9 "$FV_PID"
wait_for 60 ready_is 503 || fail "still ready without Voice: $(readyz)"
readyz | jqe '.components["voice/contoso"].ready == false and
    (.reason | test("voice/contoso: "))' >/dev/null || fail "readyz without Voice: $(readyz)"
[ "$(http_status "$R/healthz")" = 200 ] || fail "healthz not 200 while not ready"
pass observability
