# Helpers for the mapper's end-to-end tests (test_mapper_*.sh), sourced after
# tests/lib/common.sh: mosquitto + fake-graph + fake-voice + the daemon with
# the Graph side, the Voice side and the mapper.
source "$(dirname "${BASH_SOURCE[0]}")/graph_helpers.sh"
source "$(dirname "${BASH_SOURCE[0]}")/voice_helpers.sh"

BRIDGE=ps
VS_BRIDGE=ps

# fake-voice's endpoint for 'talking' (the simulator's, not Enreach's).
MS_SIM_TALKING='{"method":"PUT","path":"/users/{userId}/externalcallstate","body":"{\"InCall\":{talking},\"Source\":\"MSTeams\"}"}'

# ms_setup USER...: broker, both simulators, the users in both, config
# $T/ps.json (mapper settle 1 s). Users are lower-case addresses.
ms_setup() {
    start_mosquitto "user $(id -un)"
    start_fake_graph
    fv_start
    ms_users "$@"
    ms_config
}

# ms_users USER...: the service account and the users in both simulators
# (again after a reset of both), MS_USERS for ms_config.
ms_users() {
    sim_account "$TENANT_ID" svc1@contoso.com
    sim_users "$TENANT_ID" "$@"
    local u
    printf '%s\n' "$@" | xargs -P 8 -I{} curl -s -o /dev/null --max-time 10 -X POST \
        -H 'Content-Type: application/json' --data-binary '{"email":"{}"}' "$FV/_sim/users"
    # (the integration account is a user of fake-voice too)
    [ "$(fv_ctl GET state | jq '.users | length')" -gt $# ] || fail "fake-voice users not created"
    MS_USERS=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
}

# ms_config: writes $T/ps.json for MS_USERS (MS_SETTLE, MS_SESSION_MIN,
# MS_MAX_CALL_MIN; MS_CERT: a make_cert name for rich notifications;
# MS_GRAPH_TENANT: graph.tenant_id, default $TENANT_ID). The talking writer
# uses fake-voice's own endpoint, set explicitly (there is no default:
# docs/voice.md); MS_TALKING_REQUEST (JSON, "null" for none) overrides it.
ms_config() {
    printf '%s\n' "$SVC_PASSWORD" >"$T/svc_password"
    chmod 600 "$T/svc_password"
    HTTP_PORT=${HTTP_PORT:-$(free_port)}
    WEB=http://127.0.0.1:$HTTP_PORT
    jq -n --argjson users "$MS_USERS" --arg mqtt "mqtt://127.0.0.1:$MQTT_PORT" \
        --arg listen "127.0.0.1:$HTTP_PORT" --arg pub "$WEB" --arg fg "$FG" --arg T "$T" \
        --arg tid "${MS_GRAPH_TENANT:-$TENANT_ID}" --arg cid "$CLIENT_ID" --arg fv "$FV_API" --arg fvu "$FV_USER" \
        --argjson settle "${MS_SETTLE:-1}" --argjson sess "${MS_SESSION_MIN:-15}" \
        --argjson maxcall "${MS_MAX_CALL_MIN:-480}" --arg cert "${MS_CERT:-}" \
        --argjson talking "${MS_TALKING_REQUEST:-$MS_SIM_TALKING}" '{
        instance: "ps-mapper-test", log_level: "'"${MS_LOG_LEVEL:-info}"'",
        mqtt: {url: $mqtt, bridge_topic: "ps"},
        http: {listen: $listen, public_url: $pub},
        tenants: [{name: "contoso", users: $users,
            graph: ({tenant_id: $tid, client_id: $cid, client_secret_file: ($T + "/client_secret"),
                    login_url: $fg, api_url: ($fg + "/v1.0"), resync_minutes: 60,
                    presence_session_minutes: $sess,
                    service_accounts: [{username: "svc1@contoso.com",
                                        password_file: ($T + "/svc_password")}]}
                   + (if $cert == "" then {} else
                      {encryption_cert_file: ($T + "/" + $cert + ".crt"),
                       encryption_key_file: ($T + "/" + $cert + ".key")} end)),
            voice: ({api_url: $fv, username: $fvu, secret_key_file: ($T + "/voice.key"),
                    max_call_minutes: $maxcall} +
                    (if $talking == null then {} else {talking_request: $talking} end))}],
        mapper: {enabled: true, settle_seconds: $settle}}' >"$T/ps.json"
}

# ms_start: the daemon; waits until both sides are up and the mapper has
# done its start-up reconcile for every user.
ms_start() {
    start_daemon "$T/ps.json"
    wait_for 20 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
        fail "no Graph subscription: $(sim_subs)"
    # this process holds it (one left by a previous run is adopted, docs/ha.md)
    wait_for 20 bash -c "curl -s --max-time 5 '$WEB/readyz' | jqe '.components[\"graph/contoso\"].ready'" ||
        fail "the Graph side is not ready: $(curl -s --max-time 5 "$WEB/readyz")"
    # and writes for the tenant: a lifecycle event that comes before any
    # instance is active is forwarded to nobody (docs/ha.md "Lifecycle events")
    wait_for 20 bash -c "curl -s --max-time 5 '$WEB/readyz' | jqe '.components[\"role/contoso\"].reason // \"\" | startswith(\"active\")'" ||
        fail "this instance is not active: $(curl -s --max-time 5 "$WEB/readyz")"
    wait_link 20
    local n
    n=$(printf '%s' "$MS_USERS" | jq length)
    wait_for "${MS_START_WAIT:-20}" quiet_count_is "$n" ||
        fail "after start $(quiet_count) of $n users quiet; B/sync: $(mosquitto_sub -p "$MQTT_PORT" \
            -t "$BRIDGE/sync/+" --retained-only -W 1 2>/dev/null | sed -n 1,3p)"
}

# quiet_count: users whose retained B/sync shows both inputs, nothing pending.
quiet_count() {
    mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t "$BRIDGE/sync/+" --retained-only -W 1 \
        2>/dev/null | jq -s '[.[] | select(.inputs.teams.known and .inputs.voice.known and
                                          (.pending | length == 0))] | length'
}
quiet_count_is() { [ "$(quiet_count)" = "$1" ]; }

# sync_of ADDRESS: the retained B/sync/<id>.
sync_of() { mqtt_retained "$BRIDGE/sync/$(topic_id "$1")"; }
# sync_quiet ADDRESS: B/sync shows both inputs and nothing pending.
sync_quiet() {
    sync_of "$1" | jqe '.inputs.teams.known and .inputs.voice.known and (.pending | length == 0)' >/dev/null
}

# Fake-graph state of a user.
g_user() { sim GET "/users/$1"; }
# g_id ADDRESS: the user's Azure AD object id (presence routes take only it).
g_id() { g_user "$1" | jq -r .id; }
g_shown() { g_user "$1" | jq -r '.availability + "/" + .activity'; }
# g_app_session ADDRESS: our app session ("" when none).
g_app_session() {
    g_user "$1" | jq -r --arg c "$CLIENT_ID" \
        '[.sessions[] | select(.type == "app" and .id == $c)] | .[0] // empty |
         .availability + "/" + .activity'
}
g_shown_is() { [ "$(g_shown "$1")" = "$2" ]; }
g_session_is() { [ "$(g_app_session "$1")" = "$2" ]; }

# Fake-voice state of a user.
v_talking() {
    fv_ctl GET state | jq -r --arg e "$1" '.users[] | select(.email == $e) | .talking'
}
v_writes() {
    fv_ctl GET state | jq -r --arg e "$1" '.users[] | select(.email == $e) | .talking_writes'
}
v_talking_is() { [ "$(v_talking "$1")" = "$2" ]; }

wait_g_shown() {
    wait_for "$1" g_shown_is "$2" "$3" || fail "$2: Teams shows $(g_shown "$2"), expected $3"
}
wait_g_session() {
    wait_for "$1" g_session_is "$2" "$3" ||
        fail "$2: app session '$(g_app_session "$2")', expected '$3'"
}
wait_v_talking() {
    wait_for "$1" v_talking_is "$2" "$3" || fail "$2: Voice talking $(v_talking "$2"), expected $3"
}

# stays SECS CMD...: CMD holds the whole time (checked every 0.2 s).
stays() {
    local secs=$1 end
    shift
    end=$(($(date +%s%N) + secs * 1000000000))
    while [ "$(date +%s%N)" -lt "$end" ]; do
        "$@" >/dev/null 2>&1 || return 1
        sleep 0.2
    done
}
