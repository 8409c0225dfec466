#!/usr/bin/env bash
# fake-voice checked from outside: Microsoft's official SignalR client
# (@microsoft/signalr, pinned in tests/fakes/voice/signalr-js/package-lock.json,
# installed with `npm ci` into the build directory) drives the simulator the
# way the public Enreach client does (tests/fakes/voice/signalr-js/check.js):
# once against the real form (WSSEndpoint without a scheme, "https://" +
# WSSEndpoint, TLS with the test CA) and once against the plain-http setting.
# Skipped (77) when node or npm is missing (scripts/setup.sh installs them).
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

command -v node >/dev/null || skip "node is not installed (scripts/setup.sh installs nodejs)"
command -v npm >/dev/null || skip "npm is not installed (scripts/setup.sh installs npm)"
command -v jq >/dev/null || fail "jq is needed"

# npm ci into the build directory, once per lock file
JS_SRC=$PS_SRC/tests/fakes/voice/signalr-js
JS_DIR=$PS_BUILD/tests/signalr-js
mkdir -p "$JS_DIR"
if ! cmp -s "$JS_SRC/package-lock.json" "$JS_DIR/package-lock.json" ||
    [ ! -d "$JS_DIR/node_modules/@microsoft/signalr" ]; then
    cp "$JS_SRC/package.json" "$JS_SRC/package-lock.json" "$JS_DIR/"
    (cd "$JS_DIR" && npm ci --no-audit --no-fund --cache "$JS_DIR/.npm-cache" \
        >"$T/npm.log" 2>&1) || fail "npm ci failed: $(tail -20 "$T/npm.log")"
fi
cp "$JS_SRC/check.js" "$JS_DIR/check.js"

run_check() { # NAME [env...]
    local name=$1
    shift
    env FV_CTL="$FV" FV_API="$FV_API" FV_USER="$FV_USER" FV_SECRET="$FV_SECRET" \
        FV_EMAIL=alice@contoso.com "$@" node "$JS_DIR/check.js" >"$T/$name.out" 2>&1 ||
        fail "$name: $(cat "$T/$name.out")"
    has '^ALL OK$' <"$T/$name.out" || fail "$name: $(cat "$T/$name.out")"
}

# 1. the real form, over TLS
FV_TLS=1
fv_start
fv_user alice@contoso.com >/dev/null
run_check tls NODE_EXTRA_CA_CERTS="$FV_CA"
has "^WSSEndpoint 127.0.0.1:$FV_TLS_PORT/rte/hub$" <"$T/tls.out" || fail "endpoint: $(cat "$T/tls.out")"
has '^ok connected via https' <"$T/tls.out" || fail "not over https"
has '^ok StreamInvocation completed with an error$' <"$T/tls.out" || fail "stream"
has '^ok unknown connection id refused with 404$' <"$T/tls.out" || fail "404"
kill "$FV_PID"
wait "$FV_PID" 2>/dev/null || true

# 2. the simulator told to answer http:// (no TLS)
FV_TLS=0
FV_CA=
fv_start
fv_user alice@contoso.com >/dev/null
run_check http
has "^WSSEndpoint http://127.0.0.1:$FV_PORT/rte/hub$" <"$T/http.out" || fail "endpoint: $(cat "$T/http.out")"
has '^ok connected via http ' <"$T/http.out" || fail "not over http"
assert_absent "$FV_SECRET" "$T/tls.out" "$T/http.out"
pass test_fake_voice_signalr_js
