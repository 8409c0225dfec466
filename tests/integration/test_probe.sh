#!/usr/bin/env bash
# `presence-sync probe` end to end: one mosquitto, fake-graph and fake-voice
# with two users, started once; each scenario runs the probe against them
# and puts the simulators back as it found them. The scenarios, in order:
#
# clean: every check of every group ok, exit 0, in text and in JSON (valid
#   against schemas/probe-report.schema.json); the write test puts Teams and
#   Voice back; the capture holds every kind of exchange and no secret, in
#   0600 files; no subscription and no retained message left behind. Bad
#   usage and an invalid config exit 2.
# graph: Graph failures made with fake-graph, each with its line, its fix
#   and exit 1: MFA (AADSTS50076; the fixes of an expired password and a
#   locked account: unit_probe), a federated account, a wrong password, a
#   wrong client secret
#   (AADSTS7000215), an app without User.Read.All (roles, lookups 403), an
#   app without any presence permission, a delegated scope without consent
#   (AADSTS65001), a user Azure AD does not know, a tenant that does not
#   exist (AADSTS90002).
# voice: discovery, then --listen-seconds with a call made meanwhile (each
#   event printed with its name, number and field names, never a value),
#   numbered events; a refused Subscribe and a user Voice does not know
#   (FAIL, exit 1); a wrong secret key; a hub that offers none of the
#   configured call events; a hub without AvailableSubscriptions (warn).
# mqtt: a second mosquitto with a password file and an acl_file without
#   voice/#: the Voice side's line FAILs with the broker's answer (MQTT 5:
#   0x87; MQTT 3.1.1: the publish never comes back), every other topic
#   passes; a wrong password fails the connect with its fix.
# replay: the capture of a run is a fixture: tests/tools/probe_replay serves
#   it back and a second run gives the same checks with the same results,
#   asking neither simulator anything; the capture holds no secret, no
#   bearer token, no JWT signature.
# webhook (last: it starts the daemon): a public URL Graph cannot reach, a
#   listen address not of this host, a proxy that adds a path, a
#   subscription held by a daemon killed a moment ago (warn, left alone), a
#   running daemon (its port: warn, exit 0, nothing of it touched).
#
# Never a secret in any output, log or capture.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

REPLAY=${PROBE_REPLAY:-$PS_BUILD/tests/tools/probe_replay}
[ -x "$REPLAY" ] || fail "probe_replay not built: $REPLAY"
command -v mosquitto_passwd >/dev/null || fail "mosquitto_passwd is needed (mosquitto)"

scenario_clean() {
    # ---- usage ----
    PR_RC=0
    "$PS_BIN" probe >"$T/u1.out" 2>&1 || PR_RC=$?
    pr_rc no-config 2
    grep -q 'missing -c FILE' "$T/u1.out" || fail "no usage message: $(cat "$T/u1.out")"
    pr_run bad-option --bogus
    pr_rc bad-option 2
    pr_run bad-tenant --tenant nowhere
    pr_rc bad-tenant 2
    grep -q "no tenant of that name" "$T/bad-tenant.log" || fail "unknown tenant: $(cat "$T/bad-tenant.log")"
    pr_run bad-user --write-test mallory@contoso.com
    pr_rc bad-user 2
    grep -q "not a configured user" "$T/bad-user.log" || fail "write test of a stranger: $(cat "$T/bad-user.log")"
    pr_run bad-seconds --listen-seconds soon
    pr_rc bad-seconds 2
    echo '{"tenants": 5}' >"$T/broken.json"
    PR_RC=0
    "$PS_BIN" probe -c "$T/broken.json" >"$T/broken.out" 2>&1 || PR_RC=$?
    pr_rc broken-config 2
    "$PS_BIN" --help | has 'presence-sync probe -c FILE' || fail "probe missing from --help"

    # ---- a clean run, text ----
    pr_run clean --write-test alice@contoso.com --capture "$T/cap-clean"
    pr_rc clean 0
    for group in 'Graph, tenant contoso' 'Webhook (Graph calls us), tenant contoso' \
        'Voice, tenant contoso' 'Write test, tenant contoso' 'MQTT'; do
        grep -qxF "$group" "$T/clean.out" || fail "no group '$group': $(cat "$T/clean.out")"
    done
    pr_no_line clean warn
    pr_no_line clean FAIL
    for check in 'tenant' 'sign-in of the app' 'permissions of the app: application permissions \(roles\): Presence.ReadWrite.All User.Read.All' \
        'sign-in of svc1@contoso.com' 'permissions of svc1@contoso.com: delegated \(scp\): Presence.Read.All' \
        'users: all 2 users found in Azure AD' 'presence read' 'an id Graph does not know: .*PresenceUnknown' \
        'listener' 'validation: Graph reached' 'clean-up' 'sign-in: integration@contoso.com' \
        'users: all 2 users found in Voice' 'Voice users not configured: 2 of 4' 'RTE token' 'negotiate' \
        'WebSocket' 'handshake' 'events offered' 'Subscribe: 2 users x 5 events accepted' \
        'Teams Busy/InACall: setPresence answered HTTP 200' 'Teams shows: Busy/InACall' 'Teams clear' \
        'Teams after the clear' 'Voice talking: talking=true answered HTTP 204' 'Voice clear' \
        'connect' 'publish and subscribe' 'retained message' 'write teams/presence-sync-probe/busy' \
        'write voice/presence-sync-probe/talking' 'write ps/sync/presence-sync-probe' 'write ps/state' \
        'write ps/health'; do
        pr_line clean ok "$check"
    done
    grep -q '^Summary: [0-9]* ok, 0 warn, 0 FAIL' "$T/clean.out" || fail "summary: $(tail -n1 "$T/clean.out")"

    # the write test as the simulators saw it: Busy/InACall set, then cleared,
    # for alice only; Voice talking set, then cleared
    ALICE_OID=$(sim GET /users/alice@contoso.com | jq -r .id)
    sim GET /requests | jq -c --arg u "/v1.0/users/$ALICE_OID/presence/" '[.[] |
        select(.method == "POST" and (.path | startswith("/v1.0/users/")) and (.path | test("/presence/"))) |
        {p: (.path | ltrimstr($u)), s: .status, b: (.body | fromjson? // {} | {availability, activity})}]' \
        >"$T/graph-writes.json"
    jqe '. == [{p: "setPresence", s: 200, b: {availability: "Busy", activity: "InACall"}},
        {p: "clearPresence", s: 200, b: {availability: null, activity: null}}]' "$T/graph-writes.json" \
        >/dev/null || fail "Teams writes: $(cat "$T/graph-writes.json")"
    ALICE_VID=$(fv_ctl GET state | jq -r '.users[] | select(.email == "alice@contoso.com") | .id')
    fv_ctl GET requests | jq -c '[.[] | select(.method == "PUT") | {path, status, body}]' >"$T/voice-writes.json"
    jqe --arg p "/api/users/$ALICE_VID/externalcallstate" '. == [
        {path: $p, status: 204, body: "{\"InCall\":true,\"Source\":\"MSTeams\"}"},
        {path: $p, status: 204, body: "{\"InCall\":false,\"Source\":\"MSTeams\"}"}]' \
        "$T/voice-writes.json" >/dev/null || fail "Voice writes: $(cat "$T/voice-writes.json")"

    # put back: no session of ours, Voice not talking, the subscription gone,
    # nothing retained under the probe's topics
    sim GET /users/alice@contoso.com | jqe '[.sessions[] | select(.type == "app")] | length == 0' \
        >/dev/null || fail "the write test left a Teams session: $(sim GET /users/alice@contoso.com)"
    fv_ctl GET state | jqe '[.users[] | select(.email == "alice@contoso.com") | .talking] == [false]' \
        >/dev/null || fail "the write test left Voice talking"
    [ "$(sim_subs | jq length)" = 0 ] || fail "the probe left a subscription: $(sim_subs)"
    retained_probe=$(timeout 5 mosquitto_sub -p "$MQTT_PORT" -t 'ps/probe/#' -t 'teams/#' -t 'voice/#' \
        --retained-only -W 2 -v 2>/dev/null || true)
    [ -z "$retained_probe" ] || fail "retained messages left behind: $retained_probe"
    [ -z "$(mqtt_retained ps/state)" ] || fail "the probe published ps/state"

    # ---- the capture ----
    for f in http.jsonl inbound.jsonl signalr.jsonl mqtt.jsonl report.json; do
        [ -s "$T/cap-clean/$f" ] || fail "capture without $f"
        [ "$(stat -c %a "$T/cap-clean/$f")" = 600 ] || fail "$f is not 0600"
    done
    [ "$(stat -c %a "$T/cap-clean")" = 700 ] || fail "the capture directory is not 0700"
    jqe -s 'all(.[]; .kind == "http" and (.seq | type == "number") and (.response.status | type == "number"))' \
        "$T/cap-clean/http.jsonl" >/dev/null || fail "http.jsonl lines"
    jqe -s '[.[] | select(.url | test("/oauth2/v2.0/token$"))] | length >= 2' "$T/cap-clean/http.jsonl" >/dev/null ||
        fail "no token requests in the capture"
    jqe -s '[.[] | select(.path == "/graph/notify/contoso" and .response.status == 200)] | length == 1' \
        "$T/cap-clean/inbound.jsonl" >/dev/null || fail "Graph's validation request not in the capture"
    jqe -s '[.[] | select(.dir == "received" and (.record | test("AvailableSubscriptions")))] | length >= 1' \
        "$T/cap-clean/signalr.jsonl" >/dev/null || fail "hub records not in the capture"
    jqe -s '[.[] | select(.dir == "publish" and .result == "ok")] | length >= 5' "$T/cap-clean/mqtt.jsonl" \
        >/dev/null || fail "publishes not in the capture"
    # tokens keep their claims (a replay reads the permissions) but lose the signature
    jq -sr '.[] | .response.body // empty' "$T/cap-clean/http.jsonl" | jq -r 'objects | .access_token // empty' |
        while read -r tok; do
            case $tok in *'.[redacted]') ;; *) fail "a token kept its signature: ${tok:0:40}..." ;; esac
        done
    jqe '.result == "ok" and .exit_code == 0' "$T/cap-clean/report.json" >/dev/null || fail "report.json"
    pr_schema "$T/cap-clean/report.json"
    pr_secrets "$T"/cap-clean/* "$T/clean.out" "$T/clean.log"

    # ---- JSON ----
    pr_run json --json
    pr_rc json 0
    pr_schema "$T/json.out"
    jqe '.result == "ok" and .counts.fail == 0 and .counts.warn == 0 and
        ([.groups[].system] == ["graph","webhook","voice","mqtt"]) and
        ([.groups[].checks[] | select(.status != "ok")] | length == 0) and
        ([.groups[].checks[] | select(.fix != null)] | length == 0)' "$T/json.out" >/dev/null ||
        fail "JSON document: $(cat "$T/json.out")"
    jqe '.groups[0].checks[] | select(.id == "graph.app_permissions") |
        .details.roles == "Presence.ReadWrite.All User.Read.All"' "$T/json.out" >/dev/null ||
        fail "the app's roles not in the JSON details"
    pr_secrets "$T/json.out" "$T/json.log"
}

scenario_graph() {
    consent() { sim POST "/apps/$CLIENT_ID/consent" "$1" >/dev/null || fail "consent $1"; }

    # MFA on the service account: its sign-in fails, the webhook is not tried
    sim POST /users/svc1@contoso.com/block '{"code":50076}' >/dev/null
    pr_run mfa --tenant contoso
    pr_rc mfa 1
    pr_line mfa FAIL 'sign-in of svc1@contoso.com: refused: AADSTS50076 \(invalid_grant\): multi-factor authentication is required.*Fix: exclude the service account from MFA'
    pr_line mfa ok 'sign-in of the app'
    pr_line mfa warn 'validation: not checked'

    # an expired password (50055) and a locked account (50053) take the same
    # path with their own fix: unit_probe test_graph_fixes
    sim POST /users/svc1@contoso.com/block '{"code":0}' >/dev/null

    # a federated account (ADFS): ROPC fails with 50126, the user realm says
    # why, and the fix is not "check the password"
    sim POST /users/svc1@contoso.com/federated '{"federated":true}' >/dev/null
    pr_run federated --tenant contoso
    pr_rc federated 1
    pr_line federated FAIL "sign-in of svc1@contoso.com: refused: AADSTS50126 \\(invalid_grant\\): .*; the account's domain contoso.com is federated .*Fix: ROPC needs an account whose password Entra checks itself"
    grep -q 'Fix: check the account' "$T/federated.out" && fail "the federated account got the password fix"
    sim POST /users/svc1@contoso.com/federated '{"federated":false}' >/dev/null
    # a wrong password of a cloud account: the realm is Managed, the fix is the password
    printf 'not-the-password\n' >"$T/svc_password"
    pr_run badpw --tenant contoso
    pr_rc badpw 1
    pr_line badpw FAIL 'sign-in of svc1@contoso.com: refused: AADSTS50126 \(invalid_grant\): .*Fix: check the account'"'"'s username and the password in its password_file'
    grep -q 'is federated' "$T/badpw.out" && fail "a cloud account called federated"
    printf '%s\n' "$SVC_PASSWORD" >"$T/svc_password"

    # a wrong client secret: the app's sign-in fails, users are not looked up
    printf 'not-the-secret\n' >"$T/wrong_secret"
    chmod 600 "$T/wrong_secret"
    pr_config "$PR_USERS" '.tenants[0].graph.client_secret_file = "'"$T/wrong_secret"'"'
    pr_run secret
    pr_rc secret 1
    pr_line secret FAIL "sign-in of the app: refused: AADSTS7000215 \\(invalid_client\\).*Fix: client_secret_file must hold the secret's Value"
    pr_line secret FAIL 'sign-in of svc1@contoso.com: refused: AADSTS7000215'
    pr_line secret warn 'users: not checked'
    pr_config

    # admin consent without User.Read.All: the token's roles say so, the lookup
    # is refused (403), with the consent-url command to fix it
    consent '{"roles":["Presence.ReadWrite.All"]}'
    pr_run no-users-role
    pr_rc no-users-role 1
    pr_line no-users-role FAIL "permissions of the app: missing User.Read.All: the daemon cannot look up the users' object ids; the token has Presence.ReadWrite.All.*Fix: add the application permission User.Read.All .*presence-sync consent-url --tenant $TENANT_ID --client-id $CLIENT_ID"
    pr_line no-users-role FAIL 'users: 2 of 2 lookups failed \(user lookup: HTTP 403\): the app may not read users.*User.Read.All'

    # no presence permission at all: both named, reads refused
    consent '{"roles":["User.Read.All"]}'
    pr_run no-presence --json
    pr_rc no-presence 1
    pr_schema "$T/no-presence.out"
    jqe '.groups[] | select(.system == "graph") | .checks[] | select(.id == "graph.app_permissions") |
        .status == "fail" and (.reason | test("missing Presence.ReadWrite.All")) and
        (.fix | test("Presence.ReadWrite.All"))' "$T/no-presence.out" >/dev/null ||
        fail "no presence permission: $(cat "$T/no-presence.out")"
    jqe '.groups[] | select(.system == "graph") | .checks[] | select(.id == "graph.presence_read") |
        .status == "fail" and (.reason | test("HTTP 403"))' "$T/no-presence.out" >/dev/null ||
        fail "presence read without the permission"
    jqe '.groups[] | select(.system == "write")' "$T/no-presence.out" >/dev/null &&
        fail "a write test without --write-test"
    consent '{"roles":["Presence.ReadWrite.All","User.Read.All"]}'

    # the delegated Presence.Read.All without consent: ROPC cannot ask, 65001
    consent '{"scopes":["User.Read"]}'
    pr_run no-consent
    pr_rc no-consent 1
    pr_line no-consent FAIL "sign-in of svc1@contoso.com: refused: AADSTS65001 \\(invalid_grant\\): admin consent is missing.*Fix: grant admin consent.*presence-sync consent-url --tenant $TENANT_ID --client-id $CLIENT_ID"
    consent '{"scopes":["Presence.Read.All","User.Read"]}'

    # a user Azure AD does not know (and Voice neither): listed, the others go on
    pr_config '["alice@contoso.com","carol@contoso.com","bob@contoso.com"]'
    pr_run missing-user
    pr_rc missing-user 1
    pr_line missing-user FAIL 'users: 1 of 3 users are not in Azure AD: carol@contoso.com.*Fix: use each user'"'"'s sign-in name'
    pr_line missing-user ok 'presence read: getPresencesByUserId answered for 2 users'
    pr_line missing-user FAIL 'users: 1 of 3 users are not in Voice: carol@contoso.com'
    pr_line missing-user ok 'validation: Graph reached'

    # a tenant that does not exist
    pr_config "$PR_USERS" '.tenants[0].graph.tenant_id = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"'
    pr_run no-tenant
    pr_rc no-tenant 1
    pr_line no-tenant FAIL "tenant: the tenant's OpenID configuration at .* could not be read: HTTP 400 invalid_tenant.*AADSTS90002.*Fix: graph.tenant_id must be the Directory \\(tenant\\) ID"
    pr_line no-tenant FAIL 'sign-in of the app: refused: AADSTS90002'

    pr_secrets "$T"/*.out "$T"/*.log
}

scenario_voice() {
    # discovery and listening: a call during the listening time is printed
    pr_config "$PR_USERS" '.tenants[0].voice.api_url = null | .tenants[0].voice.discovery_url = "'"$FV"'"'
    PR_RC=0
    timeout 60 "$PS_BIN" probe -c "$PR_CFG" --listen-seconds 6 --capture "$T/cap-voice" >"$T/listen.out" \
        2>"$T/listen.log" &
    PROBE=$!
    wait_line 30 "$T/listen.out" '^  ok    listening: subscribed for 6 s' || fail "never listening: $(cat "$T/listen.out")"
    CALL=$(pr_call_start '{"email":"alice@contoso.com"}')
    [ -n "$CALL" ] && [ "$CALL" != null ] || fail "no call started"
    wait_line 5 "$T/listen.out" 'event UserCallInConnected' || fail "no connected event: $(cat "$T/listen.out")"
    pr_call_end "$CALL"
    wait "$PROBE" || PR_RC=$?
    pr_rc listen 0
    pr_line listen ok "discovery: $FV_USER is served by $FV_API"
    grep -Eq '^        event UserCallInConnected \(no number, connected\) for alice@contoso.com: fields eventType, userId, callId, timestamp$' \
        "$T/listen.out" || fail "connected event line: $(grep event "$T/listen.out")"
    grep -Eq '^        event UserCallInDisconnected \(no number, disconnected\) for alice@contoso.com: fields' \
        "$T/listen.out" || fail "disconnected event line: $(grep event "$T/listen.out")"
    grep -Eq '^        event UserStatus \(no number, user_status\) for alice@contoso.com: fields .*status' \
        "$T/listen.out" || fail "UserStatus line: $(grep event "$T/listen.out")"
    pr_line listen ok 'end of listening: [0-9]+ events in 6 s'
    # names and fields, never values: not the call id, not the user's Voice id
    grep -qF "$CALL" "$T/listen.out" && fail "a call id in the output"
    ALICE_VID=$(fv_ctl GET state | jq -r '.users[] | select(.email == "alice@contoso.com") | .id')
    grep -qiF "$ALICE_VID" "$T/listen.out" && fail "a Voice user id in the output"
    # ... but the capture has the whole records (minus credentials)
    jqe -s --arg c "$CALL" '[.[] | select(.dir == "received" and (.record | contains($c)))] | length >= 2' \
        "$T/cap-voice/signalr.jsonl" >/dev/null || fail "the events are not in the capture"

    # a hub that numbers its events (docs/voice.md A14, A15): the number is printed
    fv_ctl POST settings '{"event_type_format":"number"}' >/dev/null
    timeout 60 "$PS_BIN" probe -c "$PR_CFG" --listen-seconds 4 >"$T/listen-n.out" 2>"$T/listen-n.log" &
    PROBE=$!
    wait_line 30 "$T/listen-n.out" '^  ok    listening: subscribed for 4 s' ||
        fail "never listening: $(cat "$T/listen-n.out")"
    CALL=$(pr_call_start '{"email":"bob@contoso.com"}')
    wait_line 5 "$T/listen-n.out" '^        event #11 \(numbered, connected\) for bob@contoso.com: fields eventType, ' ||
        fail "numbered connected event: $(grep event "$T/listen-n.out")"
    pr_call_end "$CALL"
    wait_line 5 "$T/listen-n.out" '^        event #12 \(numbered, disconnected\) for bob@contoso.com' ||
        fail "numbered disconnected event: $(grep event "$T/listen-n.out")"
    PR_RC=0
    wait "$PROBE" || PR_RC=$?
    pr_rc listen-n 0
    fv_ctl POST settings '{"event_type_format":"name"}' >/dev/null

    # a refused Subscribe, a user Voice does not know
    sim_users "$TENANT_ID" carol@contoso.com
    pr_config '["alice@contoso.com","bob@contoso.com","carol@contoso.com"]'
    fv_ctl POST settings '{"refuse_subscribe":true}' >/dev/null
    pr_run refused
    pr_rc refused 1
    pr_line refused FAIL 'users: 1 of 3 users are not in Voice: carol@contoso.com.*Fix: give these users in Enreach Voice'
    pr_line refused ok 'Voice users not configured: 2 of 4 Voice users are not in the config'
    pr_line refused FAIL "Subscribe: the hub refused Subscribe: .*Fix: the integration user needs the right to follow the users' events"
    fv_ctl POST settings '{"refuse_subscribe":false}' >/dev/null

    # a wrong secret key
    printf 'wrong-key\n' >"$T/wrong.key"
    chmod 600 "$T/wrong.key"
    pr_config "$PR_USERS" '.tenants[0].voice.secret_key_file = "'"$T/wrong.key"'"'
    pr_run key
    pr_rc key 1
    pr_line key FAIL "sign-in: the API refused the credentials of $FV_USER: HTTP 401.*Fix: voice.username is the integration user and secret_key_file its API secret key"
    grep -q 'RTE token' "$T/key.out" && fail "the hub was tried without a sign-in"

    # a hub that offers none of the configured call events
    pr_config
    fv_ctl POST settings '{"offered_events":["UserAvailability","QueueStatus"]}' >/dev/null
    pr_run offer
    pr_rc offer 1
    pr_line offer FAIL 'events offered: the hub offers none of the configured call events \(missing: UserCallInConnected, UserCallOutConnected, UserCallInDisconnected, UserCallOutDisconnected, UserStatus\); it offers: UserAvailability, QueueStatus.*Fix: set voice.events'
    fv_ctl POST settings '{"offered_events":null,"available_subscriptions":"unknown"}' >/dev/null

    # a hub without AvailableSubscriptions: every configured event is tried
    pr_run unknown
    pr_rc unknown 0
    pr_line unknown warn "events offered: the hub did not say which events it offers \\(Unknown hub method 'AvailableSubscriptions'\\)"
    pr_line unknown ok 'Subscribe: 2 users x 5 events accepted'
    pr_secrets "$T"/*.out "$T"/*.log "$T"/cap-voice/*
    fv_ctl POST settings '{"available_subscriptions":"both"}' >/dev/null
}

# acl_broker: a second mosquitto with a password file and the committed ACL
# without the Voice side's topics; sets ACL_PORT and MQ_PW.
acl_broker() {
    MQ_PW="mq+/=&%-$RANDOM$RANDOM"
    touch "$T/passwd"
    mosquitto_passwd -b "$T/passwd" presence-sync "$MQ_PW" || fail "mosquitto_passwd"
    grep -v '^topic readwrite voice/#$' "$PS_SRC/broker-config/acl" |
        sed 's|presence-sync/#|ps/#|' >"$T/acl"
    grep -q '^topic readwrite voice/#' "$T/acl" && fail "the ACL still allows voice/#"
    ACL_PORT=$(free_port)
    cat >"$T/mosquitto-acl.conf" <<CONF
listener $ACL_PORT 127.0.0.1
user $(id -un)
allow_anonymous false
password_file $T/passwd
acl_file $T/acl
log_dest stderr
log_type error
log_type warning
CONF
    mosquitto -c "$T/mosquitto-acl.conf" >>"$T/mosquitto-acl.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 port_open "$ACL_PORT" || fail "the ACL mosquitto did not start on $ACL_PORT"
    printf '%s\n' "$MQ_PW" >"$T/mqtt_password"
    chmod 600 "$T/mqtt_password"
}

scenario_mqtt() {
    acl_broker
    local shared_port=$MQTT_PORT
    MQTT_PORT=$ACL_PORT
    MQ_EDIT='.mqtt.username = "presence-sync" | .mqtt.password_file = "'"$T/mqtt_password"'"'
    # MQTT 5: the broker refuses the publish with 0x87
    pr_config "$PR_USERS" "$MQ_EDIT"
    pr_run acl5 --capture "$T/cap-mqtt"
    pr_rc acl5 1
    pr_line acl5 ok "connect: mqtt://127.0.0.1:$MQTT_PORT as presence-sync, MQTT 5, no TLS"
    pr_line acl5 ok 'publish and subscribe'
    pr_line acl5 ok 'retained message'
    pr_line acl5 FAIL 'write voice/presence-sync-probe/talking: refused \(the Voice side\): not authorized \(MQTT 5 reason code 0x87\)\. Fix: let the account write voice/presence-sync-probe/talking in the broker'"'"'s ACL'
    pr_line acl5 ok 'write teams/presence-sync-probe/busy: allowed'
    pr_line acl5 ok 'write ps/state: allowed'
    pr_line acl5 ok 'write ps/health: allowed'
    [ "$(grep -c '^  FAIL  ' "$T/acl5.out")" = 1 ] || fail "more than one FAIL: $(grep FAIL "$T/acl5.out")"
    grep -q '^Summary: [0-9]* ok, 0 warn, 1 FAIL' "$T/acl5.out" || fail "summary: $(tail -n1 "$T/acl5.out")"
    jqe -s '[.[] | select(.dir == "publish" and .topic == "voice/presence-sync-probe/talking")] |
        length == 1 and (.[0].result | test("refused .*reason_code=135"))' "$T/cap-mqtt/mqtt.jsonl" \
        >/dev/null || fail "the refused publish is not in the capture: $(cat "$T/cap-mqtt/mqtt.jsonl")"

    # MQTT 3.1.1: no answer for a refused publish; the probe reads it back
    pr_config "$PR_USERS" "$MQ_EDIT"' | .mqtt.protocol = "3.1.1"'
    pr_run acl4 --json
    pr_rc acl4 1
    pr_schema "$T/acl4.out"
    jqe '[.groups[] | select(.system == "mqtt") | .checks[] | select(.status == "fail")] |
        length == 1 and (.[0] | .id == "mqtt.acl" and .name == "write voice/presence-sync-probe/talking"
        and (.reason | test("not delivered \\(the Voice side\\): with MQTT 3.1.1"))
        and (.fix | test("broker-config/acl")))' "$T/acl4.out" >/dev/null ||
        fail "MQTT 3.1.1 ACL: $(jq -c '.groups[] | select(.system == "mqtt")' "$T/acl4.out")"
    jqe '.result == "fail" and .exit_code == 1 and .counts.fail == 1' "$T/acl4.out" >/dev/null ||
        fail "counts: $(jq -c '{result, exit_code, counts}' "$T/acl4.out")"

    # a wrong password: the connect fails, nothing else of MQTT is tried
    printf 'wrong-password\n' >"$T/wrong_password"
    chmod 600 "$T/wrong_password"
    pr_config "$PR_USERS" "$MQ_EDIT"' | .mqtt.password_file = "'"$T/wrong_password"'"'
    pr_run mq-badpw
    pr_rc mq-badpw 1
    pr_line mq-badpw FAIL "connect: mqtt://127.0.0.1:$MQTT_PORT as presence-sync: .*Fix: check mqtt.username and the password in mqtt.password_file"
    grep -q 'publish and subscribe' "$T/mq-badpw.out" && fail "round trip tried without a connection"

    pr_secrets "$T"/*.out "$T"/*.log "$T"/cap-mqtt/*
    assert_absent "$MQ_PW" "$T"/*.out "$T"/*.log "$T"/cap-mqtt/*
    MQTT_PORT=$shared_port
}

scenario_replay() {
    pr_config
    pr_run live --write-test alice@contoso.com --capture "$T/cap-replay" --json
    pr_rc live 0
    pr_schema "$T/live.out"

    # ---- no secret in the capture ----
    pr_secrets "$T"/cap-replay/*
    # the simulators' tokens: fresh ones have the same form, the capture keeps
    # no signature of any JWT and no bearer token
    APP_TOKEN=$(curl -s --max-time 5 "$FG/$TENANT_ID/oauth2/v2.0/token" \
        --data-urlencode grant_type=client_credentials --data-urlencode client_id="$CLIENT_ID" \
        --data-urlencode client_secret="$CLIENT_SECRET" \
        --data-urlencode scope=https://graph.microsoft.com/.default | jq -r '.access_token // empty')
    [ -n "$APP_TOKEN" ] || fail "fake-graph issued no token"
    assert_absent "${APP_TOKEN##*.}" "$T"/cap-replay/*
    jwts=$(cat "$T"/cap-replay/* | grep -oE 'eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[^",\\ ]*' || true)
    [ -n "$jwts" ] || fail "no JWT in the capture (the replay needs the claims)"
    while read -r jwt; do
        [ "${jwt##*.}" = '[redacted]' ] || fail "a JWT kept its signature: ${jwt:0:40}..."
    done <<<"$jwts"
    # every "Bearer X" is a JWT without its signature or [redacted]
    bearers=$(cat "$T"/cap-replay/* | grep -Eio 'bearer [^",\\ ]+' || true)
    [ -n "$bearers" ] || fail "no Authorization header in the capture"
    while read -r _ tok; do
        case $tok in '[redacted]' | eyJ*.*.'[redacted]') ;; *) fail "a bearer token in the capture: ${tok:0:40}" ;; esac
    done <<<"$bearers"
    if grep -Eiq '"(Token|access_token|refresh_token|password|client_secret)":"[^"[]' "$T"/cap-replay/*; then
        fail "a credential member in the capture"
    fi
    VOICE_RTE=$(jq -r 'select(.url | test("/token/")) | .response.body' "$T/cap-replay/http.jsonl" |
        jq -r '.Token // empty')
    case $VOICE_RTE in '[redacted]' | *.'[redacted]') ;; *) fail "the RTE token is in the capture: ${VOICE_RTE:0:20}" ;; esac

    # ---- the replay, the simulators out of the loop ----
    # they keep running for the next scenario, but their request logs are
    # emptied now and must stay empty: the replayed run reached neither
    sim DELETE /requests >/dev/null || fail "emptying fake-graph's request log"
    fv_ctl DELETE requests >/dev/null || fail "emptying fake-voice's request log"
    "$REPLAY" --capture "$T/cap-replay" --listener "http://127.0.0.1:$HTTP_PORT" >"$T/replay.port" \
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
    [ "$(sim GET /requests | jq length)" = 0 ] || fail "the replayed run asked fake-graph: $(sim GET /requests)"
    [ "$(fv_ctl GET requests | jq length)" = 0 ] || fail "the replayed run asked fake-voice: $(fv_ctl GET requests)"
    kill "$RP_PID" 2>/dev/null || true
    wait "$RP_PID" 2>/dev/null || true
    grep -q 'nothing recorded for' "$T/probe_replay.log" && fail "the replay was asked for more: $(cat "$T/probe_replay.log")"
    grep -q 'probe_replay: inbound /graph/notify/contoso -> 0' "$T/probe_replay.log" ||
        fail "Graph's validation request was not replayed: $(cat "$T/probe_replay.log")"
}

scenario_webhook() {
    DEAD_PORT=$(free_port)

    # Graph cannot reach the public URL
    pr_config "$PR_USERS" '.http.public_url = "http://127.0.0.1:'"$DEAD_PORT"'"'
    pr_run unreachable
    pr_rc unreachable 1
    pr_line unreachable ok 'listener: listening on 127.0.0.1:'"$HTTP_PORT"
    pr_line unreachable FAIL "validation: Graph's validation request never reached the listener; Graph refused the subscription: HTTP 400 ValidationError.*Fix: make http://127.0.0.1:$DEAD_PORT reachable from the internet.*curl -X POST 'http://127.0.0.1:$DEAD_PORT/graph/notify/contoso\\?validationToken=abc'"
    [ "$(sim_subs | jq length)" = 0 ] || fail "a subscription was kept: $(sim_subs)"

    # a listen address that is not this host's: FAIL with the system's reason
    pr_config "$PR_USERS" '.http.listen = "192.0.2.1:'"$HTTP_PORT"'"'
    pr_run badlisten
    pr_rc badlisten 1
    pr_line badlisten FAIL "listener: cannot listen on 192.0.2.1:$HTTP_PORT \\(http.listen\\): Cannot assign requested address; the webhook was not checked. Fix: http.listen must be an address of this host"

    # a proxy that adds a path: Graph reaches the listener, at the wrong path
    pr_config "$PR_USERS" '.http.public_url = "http://127.0.0.1:'"$HTTP_PORT"'/sync"'
    pr_run prefix
    pr_rc prefix 1
    pr_line prefix FAIL "validation: Graph's validation request never reached the listener \\(a request reached it at POST /sync/graph/notify/contoso\\)"

    # a daemon killed a moment ago left its subscription: the probe says so
    # and leaves it alone (Graph allows one per account and app)
    pr_config
    start_daemon "$PR_CFG"
    subs_are() { sim_subs | jqe "$1" >/dev/null; }
    wait_for 20 subs_are 'length == 1' ||
        fail "the daemon made no subscription: $(tail -n 20 "$T/daemon.log")"
    kill -9 "$PS_PID"
    wait "$PS_PID" 2>/dev/null || true
    SUB_ID=$(sim_subs | jq -r '.[0].id')
    pr_run held
    pr_rc held 0
    pr_line held warn "subscriptions of svc1@contoso.com: it already holds a presence subscription \\(expires .*, notifications to http://127.0.0.1:$HTTP_PORT/graph/notify/contoso\\).*the probe leaves it alone.*Fix: nothing is wrong"
    [ "$(sim_subs | jq -r '[.[].id] | join(",")')" = "$SUB_ID" ] ||
        fail "the probe touched the daemon's subscription: $(sim_subs)"

    # a running daemon: its port is taken; nothing of it is touched
    start_daemon "$PR_CFG"
    state_online() { mqtt_retained ps/state | has '"state":"online"'; }
    wait_for 20 state_online || fail "daemon not online"
    # the killed one's subscription is ours (same configuration): adopted, not
    # replaced (docs/ha.md)
    wait_line 20 "$T/daemon.log" "subscription adopted tenant=contoso account=svc1@contoso.com id=$SUB_ID " ||
        fail "the daemon did not adopt its subscription: $(sim_subs)"
    subs_are "length == 1 and .[0].id == \"$SUB_ID\"" || fail "subscriptions: $(sim_subs)"
    SUB_ID=$(sim_subs | jq -r '.[0].id')
    pr_run running --json
    pr_rc running 0
    pr_schema "$T/running.out"
    jqe '.groups[] | select(.system == "webhook") | .checks == [.checks[0]] and
        (.checks[0] | .id == "webhook.listener" and .status == "warn" and
         (.reason | test("in use, probably by a running presence-sync")) and
         (.fix | test("systemctl stop presence-sync")))' "$T/running.out" >/dev/null ||
        fail "running daemon: $(jq -c '.groups[] | select(.system == "webhook")' "$T/running.out")"
    [ "$(sim_subs | jq -r '[.[].id] | join(",")')" = "$SUB_ID" ] ||
        fail "the probe touched the running daemon's subscription: $(sim_subs)"
    state_online || fail "B/state is not online after the probe"
    kill -0 "$PS_PID" || fail "the daemon died"
    pr_secrets "$T"/*.out "$T"/*.log
}

pr_setup
for s in clean graph voice mqtt replay webhook; do
    log "scenario $s"
    pr_config
    "scenario_$s"
done
pass
