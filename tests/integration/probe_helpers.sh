# Helpers for the probe's integration tests (test_probe.sh), sourced after
# tests/lib/common.sh: mosquitto, fake-graph and fake-voice with two users,
# a config pointing at them, and runs of `presence-sync probe`.

source "$PS_SRC/tests/integration/graph_helpers.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

PR_USERS='["alice@contoso.com","bob@contoso.com"]'
PR_SCHEMA=$PS_SRC/schemas/probe-report.schema.json

# pr_setup: broker, both simulators, the users in both, the secrets.
pr_setup() {
    [ -n "${MQTT_PORT:-}" ] || start_mosquitto
    start_fake_graph --tenant-domain contoso.onmicrosoft.com
    fv_start
    sim_users "$TENANT_ID" alice@contoso.com bob@contoso.com
    sim_account "$TENANT_ID" svc1@contoso.com
    fv_ctl POST users '{"email":"alice@contoso.com"}' >/dev/null
    fv_ctl POST users '{"email":"bob@contoso.com"}' >/dev/null
    fv_ctl POST users '{"email":"zed@contoso.com"}' >/dev/null
    printf '%s\n' "$SVC_PASSWORD" >"$T/svc_password"
    chmod 600 "$T/svc_password"
    HTTP_PORT=${HTTP_PORT:-$(free_port)}
}

# pr_config [USERS_JSON] [JQ_EDIT]: writes $T/probe.json (PR_CFG); the
# webhook's public URL is the listener itself (the simulators call http).
pr_config() {
    local users=${1:-$PR_USERS} edit=${2:-.}
    PR_CFG=$T/probe.json
    jq -n --arg fg "$FG" --arg T "$T" --arg tid "$TENANT_ID" --arg cid "$CLIENT_ID" \
        --arg fv "$FV_API" --arg fvu "$FV_USER" --arg mqtt "mqtt://127.0.0.1:$MQTT_PORT" \
        --arg listen "127.0.0.1:$HTTP_PORT" --argjson users "$users" '{
        instance: "ps-probe", log_level: "info",
        mqtt: {url: $mqtt, bridge_topic: "ps"},
        http: {listen: $listen, public_url: ("http://" + $listen)},
        tenants: [{name: "contoso", users: $users,
          graph: {tenant_id: $tid, client_id: $cid, client_secret_file: ($T + "/client_secret"),
            login_url: $fg, api_url: ($fg + "/v1.0"),
            service_accounts: [{username: "svc1@contoso.com",
                                password_file: ($T + "/svc_password")}]},
          voice: {api_url: $fv, username: $fvu, secret_key_file: ($T + "/voice.key"),
            talking_request: {method: "PUT", path: "/users/{userId}/externalcallstate",
                              body: "{\"InCall\":{talking},\"Source\":\"MSTeams\"}"}}}]}' |
        jq "$edit" >"$PR_CFG"
}

# pr_run NAME [ARGS...]: runs the probe on $PR_CFG; output in $T/NAME.out,
# stderr in $T/NAME.log, exit code in PR_RC.
pr_run() {
    local name=$1
    shift
    PR_RC=0
    timeout 180 "$PS_BIN" probe -c "$PR_CFG" "$@" >"$T/$name.out" 2>"$T/$name.log" || PR_RC=$?
}

# pr_line NAME STATUS REGEX: the output of run NAME has a check line with
# that status (ok, warn, FAIL) matching REGEX.
pr_line() {
    local tag=$2
    [ "$tag" = ok ] && tag='ok  '
    grep -Eq "^  $tag  $3" "$T/$1.out" || fail "no '$2 $3' line in run $1: $(cat "$T/$1.out")"
}

# pr_no_line NAME STATUS: no check line with that status.
pr_no_line() {
    local tag=$2
    [ "$tag" = ok ] && tag='ok  '
    if grep -Eq "^  $tag  " "$T/$1.out"; then
        fail "run $1 has $2 lines: $(grep -E "^  $tag  " "$T/$1.out")"
    fi
}

# pr_rc NAME WANT: the exit code of the last run.
pr_rc() {
    [ "$PR_RC" = "$2" ] || fail "run $1 exited $PR_RC, want $2: $(cat "$T/$1.out" "$T/$1.log")"
}

# pr_schema FILE: the document matches schemas/probe-report.schema.json.
pr_schema() {
    python3 -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is needed (setup.sh)"
    python3 - "$PR_SCHEMA" "$1" <<'PY' || fail "$1 does not match the probe report schema"
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
PY
}

# pr_secrets FILE...: no secret of the test in these files.
pr_secrets() {
    assert_absent "$CLIENT_SECRET" "$@"
    assert_absent "$SVC_PASSWORD" "$@"
    assert_absent "$FV_SECRET" "$@"
}

# pr_call_start JSON: starts a call in fake-voice, prints its id;
# pr_call_end ID ends it.
pr_call_start() { fv_ctl POST calls/start "$1" | jq -r .call_id; }
pr_call_end() { fv_ctl POST calls/end "{\"call_id\":\"$1\"}" >/dev/null; }
