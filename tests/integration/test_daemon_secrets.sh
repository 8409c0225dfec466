#!/usr/bin/env bash
# Secrets never leak (docs/security.md): the daemon runs at log_level debug against
# a mosquitto that requires a password, with distinctive secret values; it
# connects (so the password was used), reloads, loses and regains the broker,
# is refused with a wrong password, and stops. None of the values may appear
# in its logs, its HTTP answers or any retained topic.
source "$(dirname "$0")/../lib/common.sh"
# Graph and Voice URLs point at a closed loopback port: this test is about MQTT,
# signals and logs, and must never reach the real services (loopback only).

MQTT_USER=bridge
# printable characters that need care: + / = & % and a space-free quote mix
SECRETS=("Mq77-S3cr3t+/=&%pw-a1" "Cl13nt-S3cr3t+/=&%-b2" "Svc-S3cr3t+/=&%-c3"
         "V01ce-S3cr3t+/=&%-d4" "W3bh00k-S3cr3t+/=&%-e5")
MQTT_PASS=${SECRETS[0]}
ADMIN_PASS="admin-pass-not-a-daemon-secret"

mosquitto_passwd -c -b "$T/passwd" "$MQTT_USER" "$MQTT_PASS" >/dev/null 2>&1 ||
    fail "mosquitto_passwd failed"
mosquitto_passwd -b "$T/passwd" admin "$ADMIN_PASS" >/dev/null 2>&1 || fail "mosquitto_passwd admin"
chmod 600 "$T/passwd"
# The broker restarts on the same port: free_port takes one below the
# ephemeral range, so that no outgoing connection can grab it while it is down.
MQTT_PORT=$(free_port)
MOSQ_EXTRA="user $(id -un)
allow_anonymous false
password_file $T/passwd"
start_mosquitto "$MOSQ_EXTRA"
HTTP_PORT=$(free_port)

mkdir -p "$T/etc/secrets"
printf '%s\n' "$MQTT_PASS" >"$T/etc/secrets/mqtt"
printf '%s\n' "${SECRETS[1]}" >"$T/etc/secrets/client"
printf '%s\n' "${SECRETS[2]}" >"$T/etc/secrets/svc1"
printf '%s\n' "${SECRETS[3]}" >"$T/etc/secrets/voice"
chmod 600 "$T"/etc/secrets/*
export PS_IT_WEBHOOK=${SECRETS[4]}

write_config() {
    cat >"$T/etc/config.json" <<JSON
{
  "instance": "ps-sec",
  "log_level": "debug",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "username": "$MQTT_USER",
           "password_file": "secrets/mqtt", "bridge_topic": "psync-sec"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso",
    "users": ["alice@contoso.com"$1],
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
      "client_secret_file": "secrets/client",
      "login_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9/v1.0",
      "service_accounts": [{"username": "svc1@contoso.com", "password_file": "secrets/svc1"}]
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice",
              "discovery_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9",
              "webhook_secret_env": "PS_IT_WEBHOOK"}
  }]
}
JSON
}
retained() {
    mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -u admin -P "$ADMIN_PASS" -t "$1" -C 1 -W 2 \
        --retained-only 2>/dev/null || true
}
state_is() { retained psync-sec/state | has "\"state\":\"$1\""; }
count() { grep -c -- "$1" "$2" || true; }
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }
save_http() {
    local p
    for p in healthz readyz metrics; do
        curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/$p" >>"$T/http.out" || true
    done
}

write_config ''
start_daemon "$T/etc/config.json"
wait_line 10 "$T/daemon.log" 'info mqtt connected' || fail "daemon did not connect with its password"
wait_for 5 state_is online || fail "B/state not online"
grep -q ' debug ' "$T/daemon.log" || fail "not running at debug level"
tr '\0' ' ' <"/proc/$PS_PID/cmdline" >"$T/cmdline.out"
save_http

# reload at debug level, lose the broker and get it back
write_config ', "bob@contoso.com"'
kill -HUP "$PS_PID"
wait_line 5 "$T/daemon.log" 'info daemon reloaded' || fail "no reload"
stop_mosquitto
wait_line 10 "$T/daemon.log" 'connection lost' || fail "loss not noticed"
save_http
start_mosquitto "$MOSQ_EXTRA"
wait_for 15 at_least 2 'info mqtt connected' "$T/daemon.log" || fail "no reconnect"
save_http
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "exit code $? after SIGTERM"

# a wrong password: refused, logged, retried; the wrong value is not logged
printf '%s\n' "Wr0ng-S3cr3t+/=&%-f6" >"$T/etc/secrets/mqtt"
SECRETS+=("Wr0ng-S3cr3t+/=&%-f6")
start_daemon "$T/etc/config.json" daemon-wrong
wait_line 10 "$T/daemon-wrong.log" 'connect failed' || fail "refused connect not logged"
[ "$(http_status "http://127.0.0.1:$HTTP_PORT/readyz")" = 503 ] || fail "ready with a wrong password"
curl -s "http://127.0.0.1:$HTTP_PORT/readyz" | has -F '"mqtt":{"ready":false' ||
    fail "mqtt ready with a wrong password"
save_http
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "exit code $? after SIGTERM (wrong password)"

# everything retained on the broker
mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -u admin -P "$ADMIN_PASS" -t '#' -v --retained-only \
    -W 2 >"$T/retained.out" 2>/dev/null || true
grep -q 'psync-sec/state' "$T/retained.out" || fail "retained dump is empty: $(cat "$T/retained.out")"

for s in "${SECRETS[@]}"; do
    assert_absent "$s" "$T/daemon.log" "$T/daemon-wrong.log" "$T/http.out" "$T/retained.out" \
        "$T/cmdline.out"
done
# a sanitizer build reports into the logs, sometimes after the exit code was set
grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass "daemon_secrets"
