#!/usr/bin/env bash
# Signals (docs/cli.md "Signals"): SIGTERM and SIGINT stop cleanly (exit 0, B/state
# offline retained, a log line); SIGHUP reloads the user lists without
# dropping MQTT or HTTP; a broken config on SIGHUP is logged with its JSON
# path and the daemon keeps running on the old one.
source "$(dirname "$0")/../lib/common.sh"
# Graph and Voice URLs point at a closed loopback port: this test is about MQTT,
# signals and logs, and must never reach the real services (loopback only).

start_mosquitto "user $(id -un)"
HTTP_PORT=$(free_port)
STATE=psync-sig/state
CFG=$T/etc/config.json

mkdir -p "$T/etc/secrets"
printf 'client-secret-sig\n' >"$T/etc/secrets/client"
printf 'svc-pass-sig\n' >"$T/etc/secrets/svc1"
printf 'voice-key-sig\n' >"$T/etc/secrets/voice"
chmod 600 "$T"/etc/secrets/*

# write_config USERS_JSON_ARRAY [CLIENT_ID]
write_config() {
    cat >"$CFG" <<JSON
{
  "instance": "ps-sig",
  "log_level": "info",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "bridge_topic": "psync-sig"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso",
    "users": $1,
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "${2-11111111-2222-3333-4444-555555555555}",
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
count() { grep -c -- "$1" "$2" || true; }
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }
state_is() { mqtt_retained "$STATE" | has "\"state\":\"$1\""; }
alive() { kill -0 "$PS_PID" 2>/dev/null; }

# 1. SIGHUP with an edited user list ------------------------------------------
write_config '["alice@contoso.com", "Bob@Contoso.com"]'
sub_start st "$STATE"
start_daemon "$CFG"
wait_line 10 "$T/daemon.log" 'info mqtt connected' || fail "daemon did not connect"
wait_for 5 state_is online || fail "B/state not online"

write_config '["alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com"]'
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'info daemon reloaded tenants=1 users=4' || fail "no reload logged"
grep -q 'user added tenant=contoso user=carol@contoso.com' "$T/daemon.log" || fail "carol not logged"
grep -q 'user added tenant=contoso user=dave@contoso.com' "$T/daemon.log" || fail "dave not logged"
# Bob -> bob is the same user (addresses compare case-insensitively)
grep -qi 'user .* user=bob@contoso.com' "$T/daemon.log" && fail "case change reported as a change"
grep -q 'users changed tenant=contoso added=2 removed=0 total=4' "$T/daemon.log" ||
    fail "no summary line"

write_config '["carol@contoso.com"]'
kill -HUP "$PS_PID"
wait_for 5 at_least 2 'info daemon reloaded' "$T/daemon.log" || fail "second reload not logged"
grep -q 'user removed tenant=contoso user=alice@contoso.com' "$T/daemon.log" || fail "alice removal"
grep -q 'users changed tenant=contoso added=0 removed=3 total=1' "$T/daemon.log" || fail "summary 2"

# 2. SIGHUP with a broken config: error with the JSON path, still running ------
write_config '["carol@contoso.com"]' ''
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'reload failed, keeping the running config' || fail "no reload error"
grep 'reload failed' "$T/daemon.log" | has -F 'tenants[0].graph.client_id' ||
    fail "reload error lacks the JSON path: $(grep 'reload failed' "$T/daemon.log")"
printf '{"instance": "ps-sig", "tenants": [' >"$CFG" # not JSON at all
kill -HUP "$PS_PID"
wait_for 5 at_least 2 'reload failed' "$T/daemon.log" || fail "no error for invalid JSON"
sleep 0.5
alive || fail "daemon died on a bad reload"
[ "$(http_status "http://127.0.0.1:$HTTP_PORT/healthz")" = 200 ] || fail "healthz after bad reload"
curl -s "http://127.0.0.1:$HTTP_PORT/readyz" | has -F '"mqtt":{"ready":true' ||
    fail "mqtt not ready after a bad reload"
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
    grep '^presence_sync_config_reload_failures_total 2$' >/dev/null || fail "reload failures not counted"

# and a good config again is taken
write_config '["carol@contoso.com", "erin@contoso.com"]'
kill -HUP "$PS_PID"
wait_for 5 at_least 3 'info daemon reloaded' "$T/daemon.log" || fail "reload after a bad one"
grep -q 'user added tenant=contoso user=erin@contoso.com' "$T/daemon.log" || fail "erin not logged"

# MQTT was never dropped: one connect, one online message, no reconnects
[ "$(count 'info mqtt connected' "$T/daemon.log")" = 1 ] || fail "MQTT reconnected on SIGHUP"
[ "$(count '"state":"online"' "$T/st.sub")" = 1 ] || fail "online re-published on SIGHUP"
grep -q 'connection lost' "$T/daemon.log" && fail "connection lost during reloads"
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep '^presence_sync_mqtt_reconnects_total 0$' >/dev/null ||
    fail "mqtt_reconnects_total not 0"

# 3. SIGTERM: exit 0, offline retained, log lines --------------------------------
kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
grep -q 'info daemon stopping signal=SIGTERM' "$T/daemon.log" || fail "no stopping line"
grep -q 'info daemon stopped exit_code=0' "$T/daemon.log" || fail "no stopped line"
state_is offline || fail "B/state not offline after SIGTERM: $(mqtt_retained "$STATE")"
mqtt_retained "$STATE" | has '"instance":"ps-sig"' || fail "offline lacks the instance"

# 4. SIGINT: the same -------------------------------------------------------------
start_daemon "$CFG" daemon2
wait_for 10 state_is online || fail "B/state not online (second run)"
kill -INT "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGINT"
grep -q 'info daemon stopping signal=SIGINT' "$T/daemon2.log" || fail "no SIGINT stopping line"
state_is offline || fail "B/state not offline after SIGINT"

# a sanitizer build reports into the logs, sometimes after the exit code was set
grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass "daemon_signals"
