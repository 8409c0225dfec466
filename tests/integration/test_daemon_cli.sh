#!/usr/bin/env bash
# The daemon as a process (docs/cli.md "Signals", docs/security.md), end to
# end on one mosquitto that requires a password (the test's own clients use
# an admin account) and both simulators. Three parts, each its own daemon:
#
# signals: SIGTERM and SIGINT stop cleanly (exit 0, B/state offline
# retained, a log line); SIGHUP reloads the user lists without dropping MQTT
# or HTTP; a broken config on SIGHUP is logged with its JSON path and the
# daemon keeps running on the old one. (Graph and Voice point at a closed
# loopback port: this part is about MQTT, signals and logs.)
#
# secrets (fault suite): a busy run at log_level debug: calls both ways,
# Voice webhooks carrying the webhook secret, Graph tokens expired (refresh)
# and refresh tokens revoked (a fresh ROPC sign-in with the password), a
# SIGHUP, REST faults on both sides, a broker restart. Every secret has a
# distinctive value: client secret, service account password, Voice secret
# key, webhook secret, MQTT password. None of them - raw, URL-encoded or
# inside the Voice Basic credentials - may appear in the daemon's log, its
# command line, any MQTT message (a '#' subscriber runs the whole time, plus
# every retained topic at the end) or /metrics, /readyz, /healthz. The
# simulators' logs are checked too (they must not log them either). A secret
# file readable by others is warned about by name, not by value.
#
# wrong password: a wrong MQTT password is refused and logged, /readyz says
# MQTT is not ready, and the wrong value is not logged either.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

# distinctive values with the characters that need encoding
CLIENT_SECRET='Cl13nt-Fs3cr+/=&%-q7'
SVC_PASSWORD='Svc-Fp4ss+/=&%-r8'
FV_SECRET='V01ce-Fk3y+/=&%-s9'
HOOK_SECRET='H00k-Fs3cr+/=&%-t0'
MQTT_PASS='Mq77-Fp4ss+/=&%-u1'
ADMIN_PASS=admin-pass-not-a-daemon-secret
SECRETS=("$CLIENT_SECRET" "$SVC_PASSWORD" "$FV_SECRET" "$HOOK_SECRET" "$MQTT_PASS")
export MS_LOG_LEVEL=debug # (read by ms_config)

# broker with a password file; the test's own clients use the admin account
# (mosquitto_sub/pub read default options from $XDG_CONFIG_HOME)
mosquitto_passwd -c -b "$T/passwd" bridge "$MQTT_PASS" >/dev/null 2>&1 || fail "mosquitto_passwd"
mosquitto_passwd -b "$T/passwd" admin "$ADMIN_PASS" >/dev/null 2>&1 || fail "mosquitto_passwd admin"
chmod 600 "$T/passwd"
export XDG_CONFIG_HOME=$T/xdg
mkdir -p "$XDG_CONFIG_HOME"
printf -- '-u admin\n-P %s\n' "$ADMIN_PASS" >"$XDG_CONFIG_HOME/mosquitto_sub"
cp "$XDG_CONFIG_HOME/mosquitto_sub" "$XDG_CONFIG_HOME/mosquitto_pub"
MOSQ_CONF="allow_anonymous false
password_file $T/passwd"
MOSQ_EXTRA_CONF=$MOSQ_CONF # appended by start_mosquitto (common.sh): later lines win
ms_setup alice@contoso.com bob@contoso.com
# anonymous is refused (so the daemon must use its password)
mosquitto_pub -p "$MQTT_PORT" -u nobody -P x -t t -m x 2>/dev/null && fail "broker accepts anyone"


log "signals"
SIG_PORT=$(free_port)
STATE=psync-sig/state
CFG=$T/etc/config.json

secret_files "$T/etc" mqtt="$MQTT_PASS" client=client-secret-sig svc1=svc-pass-sig voice=voice-key-sig

# write_config USERS_JSON_ARRAY [CLIENT_ID]
write_config() {
    cat >"$CFG" <<JSON
{
  "instance": "ps-sig",
  "log_level": "info",
  "mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "bridge_topic": "psync-sig",
           "username": "bridge", "password_file": "secrets/mqtt"},
  "http": {"listen": "127.0.0.1:$SIG_PORT", "public_url": "https://sync.example.com"},
  "tenants": [$(contoso_tenant "$1" "$NOWHERE_GRAPH" \
    ',"discovery_url": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9"' ${2+"$2"})]
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
start_daemon "$CFG" sig
wait_line 10 "$T/sig.log" 'info mqtt connected' || fail "daemon did not connect"
wait_for 5 state_is online || fail "B/state not online"

write_config '["alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com"]'
kill -HUP "$PS_PID"
wait_line 5 "$T/sig.log" 'info daemon reloaded tenants=1 users=4' || fail "no reload logged"
grep -q 'user added tenant=contoso user=carol@contoso.com' "$T/sig.log" || fail "carol not logged"
grep -q 'user added tenant=contoso user=dave@contoso.com' "$T/sig.log" || fail "dave not logged"
# Bob -> bob is the same user (addresses compare case-insensitively)
grep -qi 'user .* user=bob@contoso.com' "$T/sig.log" && fail "case change reported as a change"
grep -q 'users changed tenant=contoso added=2 removed=0 total=4' "$T/sig.log" ||
    fail "no summary line"

write_config '["carol@contoso.com"]'
kill -HUP "$PS_PID"
wait_for 5 at_least 2 'info daemon reloaded' "$T/sig.log" || fail "second reload not logged"
grep -q 'user removed tenant=contoso user=alice@contoso.com' "$T/sig.log" || fail "alice removal"
grep -q 'users changed tenant=contoso added=0 removed=3 total=1' "$T/sig.log" || fail "summary 2"

# 2. SIGHUP with a broken config: error with the JSON path, still running ------
write_config '["carol@contoso.com"]' ''
kill -HUP "$PS_PID"
wait_line 5 "$T/sig.log" 'reload failed, keeping the running config' || fail "no reload error"
grep 'reload failed' "$T/sig.log" | has -F 'tenants[0].graph.client_id' ||
    fail "reload error lacks the JSON path: $(grep 'reload failed' "$T/sig.log")"
printf '{"instance": "ps-sig", "tenants": [' >"$CFG" # not JSON at all
kill -HUP "$PS_PID"
wait_for 5 at_least 2 'reload failed' "$T/sig.log" || fail "no error for invalid JSON"
sleep 0.5
alive || fail "daemon died on a bad reload"
[ "$(http_status "http://127.0.0.1:$SIG_PORT/healthz")" = 200 ] || fail "healthz after bad reload"
curl -s "http://127.0.0.1:$SIG_PORT/readyz" | has -F '"mqtt":{"ready":true' ||
    fail "mqtt not ready after a bad reload"
curl -s "http://127.0.0.1:$SIG_PORT/metrics" |
    grep '^presence_sync_config_reload_failures_total 2$' >/dev/null || fail "reload failures not counted"

# and a good config again is taken
write_config '["carol@contoso.com", "erin@contoso.com"]'
kill -HUP "$PS_PID"
wait_for 5 at_least 3 'info daemon reloaded' "$T/sig.log" || fail "reload after a bad one"
grep -q 'user added tenant=contoso user=erin@contoso.com' "$T/sig.log" || fail "erin not logged"

# MQTT was never dropped: one connect, one online message, no reconnects
[ "$(count 'info mqtt connected' "$T/sig.log")" = 1 ] || fail "MQTT reconnected on SIGHUP"
[ "$(count '"state":"online"' "$T/st.sub")" = 1 ] || fail "online re-published on SIGHUP"
grep -q 'connection lost' "$T/sig.log" && fail "connection lost during reloads"
curl -s "http://127.0.0.1:$SIG_PORT/metrics" | grep '^presence_sync_mqtt_reconnects_total 0$' >/dev/null ||
    fail "mqtt_reconnects_total not 0"

# 3. SIGTERM: exit 0, offline retained, log lines --------------------------------
kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
grep -q 'info daemon stopping signal=SIGTERM' "$T/sig.log" || fail "no stopping line"
grep -q 'info daemon stopped exit_code=0' "$T/sig.log" || fail "no stopped line"
state_is offline || fail "B/state not offline after SIGTERM: $(mqtt_retained "$STATE")"
mqtt_retained "$STATE" | has '"instance":"ps-sig"' || fail "offline lacks the instance"

# 4. SIGINT: the same -------------------------------------------------------------
start_daemon "$CFG" sig2
wait_for 10 state_is online || fail "B/state not online (second run)"
kill -INT "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGINT"
grep -q 'info daemon stopping signal=SIGINT' "$T/sig2.log" || fail "no SIGINT stopping line"
state_is offline || fail "B/state not offline after SIGINT"

log "secrets"
# the config: MQTT credentials, the Voice webhook secret (file readable by others)
printf '%s\n' "$MQTT_PASS" >"$T/mqtt_password"
printf '%s\n' "$HOOK_SECRET" >"$T/hook_secret"
chmod 600 "$T/mqtt_password"
chmod 644 "$T/hook_secret"
jq --arg T "$T" '.mqtt.username = "bridge" | .mqtt.password_file = ($T + "/mqtt_password") |
    .tenants[0].voice.webhook_secret_file = ($T + "/hook_secret")' "$T/ps.json" >"$T/ps2.json"
mv "$T/ps2.json" "$T/ps.json"

sub_start all '#'
# short Graph tokens and frequent subscription renewals (test knobs,
# core/tunables.h): the delegated token is refreshed during the run
sim POST /settings '{"token_lifetime_s": 8}' >/dev/null
export PS_GRAPH_RENEW_MS=1500 PS_GRAPH_RESYNC_MS=5000
ms_start
unset PS_GRAPH_RENEW_MS PS_GRAPH_RESYNC_MS
tr '\0' ' ' <"/proc/$PS_PID/cmdline" >"$T/cmdline.out"
grep -q "secret file is readable by group or others.*file=$T/hook_secret" "$T/daemon.log" ||
    fail "no warning about the world-readable secret file"
fv_ctl POST webhook "$(jq -nc --arg u "$WEB/voice/events/contoso" --arg s "$HOOK_SECRET" \
    '{url: $u, secret: $s}')" >/dev/null

save_http() {
    local p
    for p in healthz readyz metrics; do
        curl -s --max-time 5 "$WEB/$p" >>"$T/http_$p.body" || true
    done
}
save_http

# --- calls both ways, with webhooks as a second Voice source
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_g_session 10 alice@contoso.com Busy/InACall
sim POST /users/bob@contoso.com/start/call >/dev/null
wait_v_talking 10 bob@contoso.com true
wait_for 10 bash -c "curl -s '$FV/_sim/state' | jqe '.webhook_sent >= 1'" || fail "no Voice webhook sent"
[ "$(fv_ctl GET state | jq .webhook_failed)" = 0 ] || fail "Voice webhooks refused (secret wrong?)"
# a wrong webhook secret is refused, and the wrong value is not logged either
WRONG='Wr0ng-H00k+/=&%-v2'
st=$(http_status "$WEB/voice/events/contoso" -X POST -H "X-Benemen-Token: $WRONG" \
    -H 'Content-Type: application/json' --data-binary '{"EventType":"UserCallInConnected"}')
case $st in 401 | 403) ;; *) fail "wrong webhook secret answered $st" ;; esac
save_http

# --- token refreshes: Graph tokens die early (401 -> refresh), refresh tokens
# revoked (-> ROPC with the password), Voice RTE token short-lived
sim POST /users/svc1@contoso.com/revoke '' >/dev/null
sim POST /tokens/expire '' >/dev/null
# the subscription vanishes: recreating it needs the delegated token again
sim POST "/subscriptions/$(sim_subs | jq -r '.[0].id')/expire" '' >/dev/null
call_end "$C1"
wait_g_session 15 alice@contoso.com ""
password_grants() { sim GET /requests | jq '[.[] | select((.auth // "") | startswith("password"))] | length'; }
wait_for 30 sh -c "[ \$(curl -s '$FG/_sim/requests' | jq '[.[] | select((.auth // \"\") | startswith(\"password\"))] | length') -ge 2 ]" ||
    fail "no second password sign-in after the revoke: $(password_grants)"
wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "subscription not recreated: $(sim_subs)"

# --- faults on both sides while calls go on
sim POST /faults '{"method":"POST","path":"/v1.0/users/","status":500,"count":2}' >/dev/null
fv_ctl POST faults '{"method":"PUT","path":"/api/users/","status":503,"retry_after":1,"count":1}' >/dev/null
C2=$(call_start '{"email":"alice@contoso.com","terminal":"mobile"}')
sim POST /users/bob@contoso.com/end/call >/dev/null
wait_g_session 20 alice@contoso.com Busy/InACall
wait_v_talking 20 bob@contoso.com false

# --- SIGHUP, then a broker restart
kill -HUP "$PS_PID"
wait_line 10 "$T/daemon.log" 'reload' || fail "SIGHUP not logged"
save_http
stop_mosquitto
wait_line 10 "$T/daemon.log" 'connection lost' || fail "loss not noticed"
save_http # the answers while the broker is away
start_mosquitto
sub_start all2 '#'
call_end "$C2"
wait_g_session 40 alice@contoso.com ""
reconnected() { [ "$(grep -c 'mqtt connected' "$T/daemon.log")" -gt 1 ]; }
wait_for 30 reconnected || fail "no MQTT reconnect"
save_http

# --- a wrong MQTT password: refused, logged, not ready; the wrong value is
# not logged either
kill -TERM "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
WRONG_MQTT='Wr0ng-Mq77+/=&%-w3'
printf '%s\n' "$WRONG_MQTT" >"$T/mqtt_password"
start_daemon "$T/ps.json" daemon-wrong
wait_line 10 "$T/daemon-wrong.log" 'connect failed' || fail "refused connect not logged"
wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 '$WEB/readyz')\" = 503 ]" ||
    fail "ready with a wrong password"
curl -s "$WEB/readyz" | has -F '"mqtt":{"ready":false' || fail "mqtt ready with a wrong password"
save_http
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "exit code $? after SIGTERM (wrong password)"

# --- collect: every retained topic, then look for every secret everywhere
mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t '#' -v --retained-only -W 3 >"$T/retained.txt" 2>/dev/null || true
[ -s "$T/retained.txt" ] || fail "no retained topics read"
[ "$(wc -l <"$T/all.sub")" -ge 10 ] || fail "the '#' subscriber saw almost nothing: $(wc -l <"$T/all.sub")"
[ -s "$T/http_metrics.body" ] && [ -s "$T/http_readyz.body" ] || fail "no HTTP bodies saved"

VOICE_BASIC=$(printf '%s:%s' "$FV_USER" "$FV_SECRET" | base64 -w0)
FILES=("$T/daemon.log" "$T/daemon-wrong.log" "$T/sig.log" "$T/sig2.log" "$T/cmdline.out"
       "$T/all.sub" "$T/all2.sub" "$T/retained.txt" "$T/http_healthz.body"
       "$T/http_readyz.body" "$T/http_metrics.body" "$T/fake-graph.log" "$T/fake-voice.log"
       "$T/fake-graph.out" "$T/fv.out")
for f in "${FILES[@]}"; do [ -f "$f" ] || fail "missing $f"; done
# positive control: the same search finds a non-secret value we know is there
grep -qF "svc1@contoso.com" "$T/daemon.log" || fail "control value not found in the daemon log"
for s in "${SECRETS[@]}" "$WRONG" "$WRONG_MQTT"; do
    assert_absent "$s" "${FILES[@]}"
    assert_absent "$(jq -rn --arg s "$s" '$s | @uri')" "${FILES[@]}"
done
assert_absent "$VOICE_BASIC" "${FILES[@]}"
# the run really was at debug level and busy
grep -q ' debug ' "$T/daemon.log" || fail "no debug lines in the log"
log "daemon log: $(wc -l <"$T/daemon.log") lines; MQTT messages seen: $(cat "$T/all.sub" "$T/all2.sub" | wc -l)"
# a sanitizer build reports into the logs, sometimes after the exit code was set
! grep -l -E 'Sanitizer|runtime error' "$T"/*.log || fail "sanitizer report in the logs"
pass
