#!/usr/bin/env bash
# The capture of a probe run is usable as a fixture: `probe --capture` runs
# against the simulators (with the write test), then tests/tools/probe_replay
# serves the capture back (its HTTP answers, Graph's validation request, the
# hub's records) with both simulators stopped, and a second probe run
# against it gives the same checks with the same results (only MQTT is
# live). The capture holds no secret: not the client secret, the service
# account's password, the Voice key, a bearer token the simulators issued or
# a JWT signature.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

REPLAY=${PROBE_REPLAY:-$PS_BUILD/tests/tools/probe_replay}
[ -x "$REPLAY" ] || fail "probe_replay not built: $REPLAY"

pr_setup
pr_config
pr_run live --write-test alice@contoso.com --capture "$T/cap" --json
pr_rc live 0
pr_schema "$T/live.out"

# ---- no secret in the capture ----
pr_secrets "$T"/cap/*
# the simulators' tokens: fresh ones have the same form, the capture keeps
# no signature of any JWT and no bearer token
APP_TOKEN=$(curl -s --max-time 5 "$FG/$TENANT_ID/oauth2/v2.0/token" \
    --data-urlencode grant_type=client_credentials --data-urlencode client_id="$CLIENT_ID" \
    --data-urlencode client_secret="$CLIENT_SECRET" \
    --data-urlencode scope=https://graph.microsoft.com/.default | jq -r '.access_token // empty')
[ -n "$APP_TOKEN" ] || fail "fake-graph issued no token"
assert_absent "${APP_TOKEN##*.}" "$T"/cap/*
jwts=$(cat "$T"/cap/* | grep -oE 'eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[^",\\ ]*' || true)
[ -n "$jwts" ] || fail "no JWT in the capture (the replay needs the claims)"
while read -r jwt; do
    [ "${jwt##*.}" = '[redacted]' ] || fail "a JWT kept its signature: ${jwt:0:40}..."
done <<<"$jwts"
# every "Bearer X" is a JWT without its signature or [redacted]
bearers=$(cat "$T"/cap/* | grep -Eio 'bearer [^",\\ ]+' || true)
[ -n "$bearers" ] || fail "no Authorization header in the capture"
while read -r _ tok; do
    case $tok in '[redacted]' | eyJ*.*.'[redacted]') ;; *) fail "a bearer token in the capture: ${tok:0:40}" ;; esac
done <<<"$bearers"
if grep -Eiq '"(Token|access_token|refresh_token|password|client_secret)":"[^"[]' "$T"/cap/*; then
    fail "a credential member in the capture"
fi
VOICE_RTE=$(jq -r 'select(.url | test("/token/")) | .response.body' "$T/cap/http.jsonl" |
    jq -r '.Token // empty')
case $VOICE_RTE in '[redacted]' | *.'[redacted]') ;; *) fail "the RTE token is in the capture: ${VOICE_RTE:0:20}" ;; esac

# ---- the replay, with the simulators gone ----
kill -9 "$FG_PID" "$FV_PID" 2>/dev/null || true
wait "$FG_PID" "$FV_PID" 2>/dev/null || true
"$REPLAY" --capture "$T/cap" --listener "http://127.0.0.1:$HTTP_PORT" >"$T/replay.port" \
    2>"$T/probe_replay.log" &
RP_PID=$!
PIDS+=("$RP_PID")
wait_line 10 "$T/replay.port" '^port=[0-9]+$' || fail "probe_replay did not start: $(cat "$T/probe_replay.log")"
RP=http://127.0.0.1:$(sed -n 's/^port=//p' "$T/replay.port")
grep -Eq 'probe_replay: [1-9][0-9]* exchanges, [1-9][0-9]* inbound, [1-9][0-9]* hub records' \
    "$T/probe_replay.log" || fail "the capture did not load: $(cat "$T/probe_replay.log")"
pr_config "$PR_USERS" ".tenants[0].graph.login_url = \"$RP\" |
    .tenants[0].graph.api_url = \"$RP/v1.0\" | .tenants[0].voice.api_url = \"$RP/api\""
pr_run replayed --write-test alice@contoso.com --json
pr_schema "$T/replayed.out"
checks() { jq -c '[.groups[] | {system, checks: [.checks[] | {id, name, status}]}]' "$1"; }
[ "$(checks "$T/replayed.out")" = "$(checks "$T/live.out")" ] ||
    fail "the replay's checks differ: $(diff <(checks "$T/live.out" | jq .) <(checks "$T/replayed.out" | jq .))"
pr_rc replayed 0
grep -q 'nothing recorded for' "$T/probe_replay.log" && fail "the replay was asked for more: $(cat "$T/probe_replay.log")"
grep -q 'probe_replay: inbound /graph/notify/contoso -> 0' "$T/probe_replay.log" ||
    fail "Graph's validation request was not replayed: $(cat "$T/probe_replay.log")"
pass
