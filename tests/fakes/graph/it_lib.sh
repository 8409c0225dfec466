# Helpers for tests/integration/test_fake_graph.sh and the scripts that start
# fake-graph (source after common.sh).
# FAKE_GRAPH is the fake-graph binary; webhook_sink is built next to it.

: "${FAKE_GRAPH:=$PS_BUILD/tests/fakes/graph/fake-graph}"
: "${WEBHOOK_SINK:=$(dirname "$FAKE_GRAPH")/webhook_sink}"
[ -x "$FAKE_GRAPH" ] || fail "fake-graph not built: $FAKE_GRAPH"
[ -x "$WEBHOOK_SINK" ] || fail "webhook_sink not built: $WEBHOOK_SINK"

TENANT=11111111-2222-3333-4444-555555555555
CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
CLIENT_SECRET='s3cr+t/=&%x y'
SVC_ID=00000000-0000-0000-0000-00000000000f
ALICE_ID=00000000-0000-0000-0000-00000000000a
BOB_ID=00000000-0000-0000-0000-00000000000b

# wait_port_line FILE: wait for "port=N" in FILE, print N.
wait_port_line() {
    wait_for 10 grep -q '^port=' "$1" || fail "no port line in $1"
    sed -n '/^port=/{s///p;q}' "$1"
}

# start_fake_graph: sets FG (base URL) and FG_PID. The secret goes in a file.
start_fake_graph() {
    printf '%s\n' "$CLIENT_SECRET" >"$T/client_secret"
    "$FAKE_GRAPH" --port 0 --tenant "$TENANT" --client-id "$CLIENT_ID" \
        --client-secret-file "$T/client_secret" >"$T/fg.out" 2>"$T/fake-graph.log" &
    FG_PID=$!
    PIDS+=("$FG_PID")
    FG="http://127.0.0.1:$(wait_port_line "$T/fg.out")"
}

# start_sink NAME [args]: sets SINK_<NAME> base URL; records to $T/NAME.jsonl
start_sink() {
    local name=$1
    shift
    "$WEBHOOK_SINK" --port 0 --out "$T/$name.jsonl" "$@" >"$T/$name.out" 2>"$T/$name.log" &
    PIDS+=($!)
    printf -v "SINK_$name" 'http://127.0.0.1:%s' "$(wait_port_line "$T/$name.out")"
}

# ctl METHOD PATH [JSON]: control API call; prints the body, fails on >= 400.
ctl() {
    local out code
    local data=()
    [ "$1" = GET ] || data=(-H 'Content-Type: application/json' --data "${3:-}")
    out=$(curl -s -w '\n%{http_code}' -X "$1" "$FG/_sim$2" "${data[@]}")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "$code" -lt 400 ] || fail "control $1 $2 -> $code $out"
    printf '%s' "$out"
}

# gcall METHOD PATH TOKEN [JSON]: Graph call; prints "STATUS BODY".
gcall() {
    local out
    local data=()
    [ "$1" = GET ] || data=(-H 'Content-Type: application/json' --data "${4:-}")
    out=$(curl -s -w '\n%{http_code}' -X "$1" "$FG/v1.0$2" -H "Authorization: Bearer $3" "${data[@]}")
    printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}

# token GRANT-ARGS...: POST the token endpoint with --data-urlencode args.
token_req() {
    local a args=()
    for a in "$@"; do args+=(--data-urlencode "$a"); done
    curl -s -w '\n%{http_code}' "$FG/$TENANT/oauth2/v2.0/token" "${args[@]}"
}

app_token() {
    token_req grant_type=client_credentials client_id="$CLIENT_ID" \
        client_secret="$CLIENT_SECRET" scope=https://graph.microsoft.com/.default |
        sed -n 1p | jqe -r .access_token || fail "no app token"
}

svc_token() {
    token_req grant_type=password client_id="$CLIENT_ID" client_secret="$CLIENT_SECRET" \
        username=svc@contoso.com password='pa ss+&=%' \
        scope='https://graph.microsoft.com/Presence.Read.All offline_access' |
        sed -n 1p | jqe -r .access_token || fail "no delegated token"
}

# jwt_claims TOKEN: the payload of a JWT as JSON (not verified).
jwt_claims() {
    local p
    p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
    while [ $((${#p} % 4)) != 0 ]; do p="$p="; done
    base64 -d <<<"$p"
}

# base_users: a service account and two users with a Teams client each.
base_users() {
    ctl POST /users "{\"users\":[
        {\"upn\":\"svc@contoso.com\",\"id\":\"$SVC_ID\",\"password\":\"pa ss+&=%\"},
        {\"upn\":\"alice@contoso.com\",\"id\":\"$ALICE_ID\",\"teams\":\"Available\"},
        {\"upn\":\"bob@contoso.com\",\"id\":\"$BOB_ID\",\"teams\":\"Away\"}]}" >/dev/null
}

# in_minutes N: an ISO 8601 UTC time N minutes (may be fractional) from now.
in_seconds() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%S.0000000Z; }

# sub_body URL [extra json members]: a presence subscription body for alice+bob.
sub_body() {
    local url=$1 extra=${2:-}
    printf '{"changeType":"updated","notificationUrl":"%s","lifecycleNotificationUrl":"%s",
      "resource":"/communications/presences?$filter=id in (%s,%s)",
      "expirationDateTime":"%s","clientState":"cs-123"%s}' \
        "$url" "$url" "'$ALICE_ID'" "'$BOB_ID'" "$(in_seconds 3000)" "$extra"
}
