# Helpers for the Graph-side integration tests (test_graph_*.sh), sourced
# after tests/lib/common.sh: fake-graph, its control API, certificates and
# daemon configs.

[ -n "${FAKE_GRAPH:-}" ] || FAKE_GRAPH=$PS_BUILD/tests/fakes/graph/fake-graph
[ -x "$FAKE_GRAPH" ] || fail "fake-graph not built: $FAKE_GRAPH"
command -v jq >/dev/null || fail "jq is needed"

TENANT_ID=${TENANT_ID:-0b6c6d2e-1f7a-4c39-9d0e-5b8a3c2d1e0f}
CLIENT_ID=${CLIENT_ID:-5f2d8c1a-3b4e-4f60-8a7b-9c0d1e2f3a4b}
# secrets with every character that breaks naive form encoding
CLIENT_SECRET='s3cr+t/x=y&z%20q~p'
SVC_PASSWORD='p@ss+w/rd=&%41'

# start_fake_graph [extra args]: sets FG (base URL) and FG_PID.
start_fake_graph() {
    printf '%s\n' "$CLIENT_SECRET" >"$T/client_secret"
    chmod 600 "$T/client_secret"
    "$FAKE_GRAPH" --tenant "$TENANT_ID" --client-id "$CLIENT_ID" \
        --client-secret-file "$T/client_secret" "$@" >"$T/fake-graph.out" 2>"$T/fake-graph.log" &
    FG_PID=$!
    PIDS+=("$FG_PID")
    wait_line 10 "$T/fake-graph.out" '^port=[0-9]+' || fail "fake-graph did not start"
    FG_PORT=$(sed -n '/^port=/{s///p;q}' "$T/fake-graph.out")
    FG=http://127.0.0.1:$FG_PORT
}

# sim METHOD PATH [JSON]: the fake's control API; prints the answer.
sim() {
    if [ "$1" = GET ]; then
        curl -sS --max-time 10 "$FG/_sim$2"
    else
        # the listener wants a Content-Length on every POST
        curl -sS --max-time 10 -X "$1" -H 'Content-Type: application/json' \
            --data-binary "${3:-}" "$FG/_sim$2"
    fi
}

# make_cert NAME: self-signed RSA-2048 certificate $T/NAME.crt + $T/NAME.key.
make_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.crt" -days 2 \
        -subj "/CN=presence-notify-$1" >/dev/null 2>&1 || fail "openssl req failed"
    chmod 600 "$T/$1.key"
}

# sim_users TENANT UPN...: users with a Teams client showing Available.
sim_users() {
    local tenant=$1 u json
    shift
    json=$(for u in "$@"; do
        jq -nc --arg u "$u" --arg t "$tenant" '{upn:$u,tenant:$t,teams:"Available"}'
    done | jq -sc '{users:.}')
    sim POST /users "$json" >/dev/null || fail "cannot create users"
}

# sim_account TENANT UPN: a service account with $SVC_PASSWORD.
sim_account() {
    sim POST /users "$(jq -nc --arg u "$2" --arg t "$1" --arg p "$SVC_PASSWORD" \
        '{upn:$u,tenant:$t,password:$p}')" >/dev/null || fail "cannot create account $2"
}

# tenant_json NAME TENANT_ID USERS_JSON ACCOUNTS_JSON [CERT]: one tenants[] entry.
tenant_json() {
    local cert=${5:-}
    jq -nc --arg n "$1" --arg tid "$2" --arg cid "$CLIENT_ID" --argjson users "$3" \
        --argjson accts "$4" --arg fg "$FG" --arg T "$T" --arg cert "$cert" '{
        name: $n, users: $users,
        graph: ({tenant_id: $tid, client_id: $cid, client_secret_file: ($T + "/client_secret"),
                login_url: $fg, api_url: ($fg + "/v1.0"), resync_minutes: 60,
                service_accounts: [$accts[] | {username: ., password_file: ($T + "/svc_password")}]}
               + (if $cert == "" then {} else
                  {encryption_cert_file: ($T + "/" + $cert + ".crt"),
                   encryption_key_file: ($T + "/" + $cert + ".key")} end)),
        voice: {api_url: "http://127.0.0.1:9", username: "integration@example.com",
                secret_key_file: ($T + "/voice_key")}}'
}

# write_config FILE TENANTS_JSON_ARRAY: sets HTTP_PORT (and WEB).
write_config() {
    printf '%s\n' "$SVC_PASSWORD" >"$T/svc_password"
    printf 'voice-key\n' >"$T/voice_key"
    chmod 600 "$T/svc_password" "$T/voice_key"
    HTTP_PORT=${HTTP_PORT:-$(free_port)}
    WEB=http://127.0.0.1:$HTTP_PORT
    jq -n --argjson tenants "$2" --arg mqtt "mqtt://127.0.0.1:$MQTT_PORT" \
        --arg listen "127.0.0.1:$HTTP_PORT" --arg pub "$WEB" '{
        instance: "ps-graph-test", log_level: "info",
        mqtt: {url: $mqtt, bridge_topic: "ps"},
        http: {listen: $listen, public_url: $pub},
        tenants: $tenants,
        mapper: {enabled: false}}' >"$1"
}

# topic_of UPN: teams/<id>/busy for an address (lower-case; the test users
# use only [a-z0-9.@-]).
busy_topic() { printf 'teams/%s/busy' "$(printf '%s' "$1" | tr 'A-Z' 'a-z')"; }

# retained_field TOPIC JQ: a field of the retained payload ("" if none).
retained_field() {
    local p
    p=$(mqtt_retained "$1")
    [ -n "$p" ] && printf '%s' "$p" | jq -r "$2" 2>/dev/null || true
}

# wait_busy SECS UPN true|false [SOURCE]: the retained busy topic says so.
busy_is() {
    local p
    p=$(mqtt_retained "$(busy_topic "$1")")
    [ -n "$p" ] || return 1
    [ "$(printf '%s' "$p" | jq -r .busy)" = "$2" ] || return 1
    [ -z "${3:-}" ] || [ "$(printf '%s' "$p" | jq -r .source)" = "$3" ]
}
wait_busy() {
    wait_for "$1" busy_is "$2" "$3" "${4:-}" ||
        fail "$(busy_topic "$2") is not busy=$3 ${4:-}: '$(mqtt_retained "$(busy_topic "$2")")'"
}

# check_busy_payload JSON: the teams/<id>/busy payload against
# schemas/teams-busy.schema.json (python3-jsonschema when installed) and,
# always, the same rules in jq.
check_busy_payload() {
    printf '%s' "$1" | jqe '
        (keys - ["activity","availability","busy","since","source","user_id"] | length == 0) and
        (.user_id == null or (.user_id | type == "string" and length > 0)) and
        (.busy | type == "boolean") and (.availability | type == "string") and
        (.activity | type == "string") and
        (.since | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")) and
        (.source == "notification" or .source == "resync")' >/dev/null ||
        fail "busy payload does not match the schema: $1"
    if python3 -c 'import jsonschema' 2>/dev/null; then
        python3 - "$PS_SRC/schemas/teams-busy.schema.json" "$1" <<'PY' || fail "busy payload fails schemas/teams-busy.schema.json: $1"
import json, sys, jsonschema
jsonschema.validate(json.loads(sys.argv[2]), json.load(open(sys.argv[1])))
PY
    fi
}

# metric NAME_AND_LABELS: value from /metrics (0 when absent).
metric() {
    curl -s --max-time 5 "$WEB/metrics" | awk -v k="presence_sync_$1" '$1 == k {print $2; f=1} END {if (!f) print 0}'
}

# metric_gt NAME_AND_LABELS N: the metric is above N (for wait_for).
metric_gt() { [ "$(metric "$1")" -gt "$2" ]; }

# sim_subs: the fake's subscriptions as a JSON array.
sim_subs() { sim GET /subscriptions; }
