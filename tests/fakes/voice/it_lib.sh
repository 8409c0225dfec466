# Helpers for tests/integration/test_fake_voice.sh and the scripts that start
# fake-voice (source after tests/lib/common.sh). Starts fake-voice on a free
# port and wraps its APIs.

: "${FAKE_VOICE:=$PS_BUILD/tests/fakes/voice/fake-voice}"
: "${HUB_PROBE:=$(dirname "$FAKE_VOICE")/hub_probe}"
[ -x "$FAKE_VOICE" ] || fail "fake-voice not built: $FAKE_VOICE"

# skip REASON: this test cannot run here (ctest reports 77 as skipped).
skip() {
    echo "SKIP: $*" >&2
    exit 77
}

FV_USER=integration@contoso.com
# Printable characters that need encoding, as docs/configuration.md
# "Secrets" promises.
FV_SECRET='s3cret+/=&%key'

# fv_cert: a test CA certificate and key for 127.0.0.1 (self-signed, one
# day) in $T/fv-ca.pem and $T/fv-key.pem; openssl is needed (setup.sh).
fv_cert() {
    command -v openssl >/dev/null || skip "openssl is needed for the TLS listener"
    [ -s "$T/fv-ca.pem" ] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=fake-voice test CA" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:127.0.0.1" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -keyout "$T/fv-key.pem" -out "$T/fv-ca.pem" >>"$T/openssl.log" 2>&1 ||
        fail "openssl could not make the test certificate: $(cat "$T/openssl.log")"
    chmod 600 "$T/fv-key.pem"
}

# fv_start [extra args]: sets FV (base URL of the plain listener, for the
# control API), FV_PORT, FV_PID, FV_API. The hub's WSSEndpoint is told to
# carry http:// (the simulator has no TLS by default) unless FV_TLS=1: then
# fake-voice also listens with TLS (certificate from fv_cert; FV_TLS_PORT,
# FV_CA) and answers WSSEndpoint without a scheme, as Enreach does, and
# discovery with an https:// apiEndpoint (FV_API is then the https one).
fv_start() {
    local tls=()
    printf '%s\n' "$FV_SECRET" >"$T/voice.key"
    chmod 600 "$T/voice.key"
    if [ "${FV_TLS:-0}" = 1 ]; then
        fv_cert
        tls=(--tls-cert "$T/fv-ca.pem" --tls-key "$T/fv-key.pem")
    else
        tls=(--endpoint-scheme http)
    fi
    : >"$T/fv.out"
    "$FAKE_VOICE" --port 0 --user "$FV_USER" --secret-key-file "$T/voice.key" "${tls[@]}" "$@" \
        >"$T/fv.out" 2>>"$T/fake-voice.log" &
    FV_PID=$!
    PIDS+=("$FV_PID")
    wait_line 10 "$T/fv.out" '^port=[0-9]+$' || fail "fake-voice printed no port"
    [ "$(head -n1 "$T/fv.out" | cut -c1-5)" = "port=" ] || fail "port= is not the first line"
    FV_PORT=$(sed -n '1s/^port=//p' "$T/fv.out")
    FV=http://127.0.0.1:$FV_PORT
    FV_API=$FV/api
    if [ "${FV_TLS:-0}" = 1 ]; then
        wait_line 5 "$T/fv.out" '^tls_port=[0-9]+$' || fail "fake-voice printed no tls_port"
        FV_TLS_PORT=$(sed -n 's/^tls_port=//p' "$T/fv.out")
        FV_CA=$T/fv-ca.pem
        FV_API=https://127.0.0.1:$FV_TLS_PORT/api
    fi
}

# fv_ctl METHOD PATH [JSON]: control API call; prints the body, fails on non-2xx.
fv_ctl() {
    local out code data=()
    # Writes always carry a body (maybe empty) so Content-Length is sent.
    [ "$1" = GET ] || data=(--data-binary "${3:-}")
    out=$(curl -s --max-time 10 -X "$1" -H 'Content-Type: application/json' \
        "${data[@]}" -w '\n%{http_code}' "$FV/_sim/$2") || fail "curl $1 $2"
    code=${out##*$'\n'}
    case $code in 2??) ;; *) fail "control $1 $2 -> $code: ${out%$'\n'*}" ;; esac
    printf '%s\n' "${out%$'\n'*}"
}

# fv_ctl_status METHOD PATH [JSON]: prints only the status code.
fv_ctl_status() {
    local data=()
    [ "$1" = GET ] || data=(--data-binary "${3:-}")
    curl -s -o /dev/null --max-time 10 -X "$1" -H 'Content-Type: application/json' \
        "${data[@]}" -w '%{http_code}' "$FV/_sim/$2" || true
}

# fv_api METHOD PATH [curl args]: authenticated REST call; writes the body to
# $T/api.body and prints the status code.
fv_api() {
    local m=$1 p=$2 ca=()
    shift 2
    [ -n "${FV_CA:-}" ] && ca=(--cacert "$FV_CA")
    curl -s --max-time 10 -X "$m" -u "$FV_USER:$FV_SECRET" -o "$T/api.body" -w '%{http_code}' \
        "${ca[@]}" "$@" "$FV_API$p" || true
}

# fv_user EMAIL: creates a user, prints its id.
fv_user() {
    fv_ctl POST users "{\"email\":\"$1\"}" | jq -r .id
}

# fv_token: fetches an RTE token into $T/token, prints the WSSEndpoint.
fv_token() {
    local me
    [ "$(fv_api GET /users/me)" = 200 ] || fail "users/me"
    me=$(jq -r .Id "$T/api.body")
    [ "$(fv_api GET "/token/$me/rte/")" = 200 ] || fail "token: $(cat "$T/api.body")"
    jq -r .Token "$T/api.body" >"$T/token"
    jq -r .WSSEndpoint "$T/api.body"
}

# probe_start NAME ARGS...: runs hub_probe in the background, output in $T/NAME.probe.
probe_start() {
    local name=$1
    shift
    "$HUB_PROBE" "$@" >"$T/$name.probe" 2>>"$T/$name.probe.err" &
    PROBE_PID=$!
    PIDS+=("$PROBE_PID")
}

# probe_wait_sub NAME: waits until the probe's Subscribe completion arrived.
probe_wait_sub() {
    wait_line 10 "$T/$1.probe" '^record \{"type":3,"invocationId":"1"' ||
        fail "probe $1 got no Subscribe completion"
}
