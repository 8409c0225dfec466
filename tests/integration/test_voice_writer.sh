#!/usr/bin/env bash
# The talking writer (connector/voice/writer.h) against fake-voice, through
# tests/tools/voice_writer_probe: the talking_request template with the
# user's id, retries with backoff on 429 (honouring Retry-After) and 5xx,
# no retry on other 4xx, a newer value replacing a queued older one, at most
# one request per user in flight, unknown users; each case ends with the
# right 'talking' flag in fake-voice.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

PROBE=$PS_BUILD/connector/voice/voice_writer_probe
[ -x "$PROBE" ] || fail "voice_writer_probe not built: $PROBE"
fv_start
ALICE=$(fv_user alice@contoso.com)
BOB=$(fv_user bob+x@contoso.com)

probe() {
    "$PROBE" --api "$FV_API" --user "$FV_USER" --secret-key-file "$T/voice.key" \
        --backoff-ms 200 "$@" 2>>"$T/probe.err"
}
flag() { fv_ctl GET state | jq -r --arg e "$1" '.users[] | select(.email==$e) | .talking'; }
writes() { fv_ctl GET state | jq -r --arg e "$1" '.users[] | select(.email==$e) | .talking_writes'; }
puts() { fv_ctl GET requests | jq --arg p "/api/users/$1/externalcallstate" '[.[] | select(.path==$p)] | length'; }

# 1. plain write, with the default template (PUT /users/{userId}/externalcallstate)
out=$(probe --set alice@contoso.com=true)
echo "$out" | has '^result user=alice@contoso.com talking=true status=ok http=204 attempts=1$' ||
    fail "plain write: $out"
[ "$(flag alice@contoso.com)" = true ] || fail "alice not talking in fake-voice"
fv_ctl GET requests | jq -e --arg p "/api/users/$ALICE/externalcallstate" \
    '[.[] | select(.path==$p)][-1] | .method=="PUT" and (.body|fromjson) == {"InCall":true,"Source":"MSTeams"}' \
    >/dev/null || fail "request shape: $(fv_ctl GET requests)"
# idempotent: the same value again is harmless
out=$(probe --set alice@contoso.com=true)
echo "$out" | has 'status=ok' || fail "second write: $out"
[ "$(flag alice@contoso.com)" = true ] || fail "alice flag after repeat"

# 2. 429 with Retry-After: 1, twice; then success (retried, not before 1 s
# each). fake-voice can only send Retry-After when core/http_server offers
# deferred answers with headers; check what it sends.
fv_ctl POST faults '{"path":"/api/users/probe-ra","status":429,"retry_after":1,"count":1}' >/dev/null
HAVE_RA=0
curl -s -D - -o /dev/null -u "$FV_USER:$FV_SECRET" "$FV_API/users/probe-ra" | has -i '^retry-after: 1' &&
    HAVE_RA=1
[ "$HAVE_RA" = 1 ] || log "NOTE: fake-voice sends no Retry-After header; only the 429 retry is checked"
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":429,\"retry_after\":1,\"count\":2}" >/dev/null
start=$(date +%s%N)
out=$(probe --set alice@contoso.com=false)
ms=$((($(date +%s%N) - start) / 1000000))
echo "$out" | has '^result user=alice@contoso.com talking=false status=ok http=204 attempts=3$' ||
    fail "429: $out"
[ "$HAVE_RA" = 0 ] || [ "$ms" -ge 2000 ] || fail "429: Retry-After not honoured (took ${ms} ms)"
[ "$(flag alice@contoso.com)" = false ] || fail "429: alice flag"
[ "$(puts "$ALICE")" = 3 ] || fail "429: expected 3 PUTs, got $(puts "$ALICE")"

# 3. 500 and 503: retried with backoff, ends right
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":500,\"count\":1}" >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":503,\"count\":1}" >/dev/null
out=$(probe --set alice@contoso.com=true)
echo "$out" | has '^result user=alice@contoso.com talking=true status=ok http=204 attempts=3$' ||
    fail "5xx: $out"
[ "$(flag alice@contoso.com)" = true ] || fail "5xx: alice flag"

# 4. another 4xx is not retried; the flag stays; the error is reported
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":400,\"count\":1}" >/dev/null
out=$(probe --set alice@contoso.com=false)
echo "$out" | has '^result user=alice@contoso.com talking=false status=failed http=400 attempts=1 error=HTTP 400' ||
    fail "400: $out"
[ "$(puts "$ALICE")" = 1 ] || fail "400 was retried"
[ "$(flag alice@contoso.com)" = true ] || fail "400: alice flag changed"

# 5. a newer value replaces an older one: true is in flight and fails with
# 500; false, given meanwhile, replaces it; the retry writes false.
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":500,\"delay_ms\":300,\"count\":1}" >/dev/null
out=$(probe --set alice@contoso.com=true --set alice@contoso.com=false)
echo "$out" | has '^result user=alice@contoso.com talking=true status=superseded' ||
    fail "supersede: $out"
echo "$out" | has '^result user=alice@contoso.com talking=false status=ok http=204 attempts=1$' ||
    fail "supersede: $out"
[ "$(flag alice@contoso.com)" = false ] || fail "supersede: alice flag"
[ "$(puts "$ALICE")" = 2 ] || fail "supersede: expected 2 PUTs, got $(puts "$ALICE")"
# three values while one is in flight: the middle one is replaced unsent,
# the last one is written; never two requests at once (the first takes 300 ms)
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"delay_ms\":300,\"count\":1}" >/dev/null
out=$(probe --set alice@contoso.com=true --set alice@contoso.com=false --set alice@contoso.com=true)
[ "$(echo "$out" | grep -c 'status=ok')" = 2 ] || fail "queue: $out"
echo "$out" | has 'talking=false status=superseded' || fail "queue: middle value: $out"
[ "$(puts "$ALICE")" = 2 ] || fail "queue: expected 2 PUTs, got $(puts "$ALICE")"
[ "$(flag alice@contoso.com)" = true ] || fail "queue: alice flag"

# 6. two users at once are independent; an address with '+' works; an
# address Voice does not know is reported as such
out=$(probe --set bob+x@contoso.com=true --set alice@contoso.com=false --set nobody@contoso.com=true)
echo "$out" | has '^result user=bob+x@contoso.com talking=true status=ok' || fail "bob: $out"
echo "$out" | has '^result user=alice@contoso.com talking=false status=ok' || fail "alice: $out"
echo "$out" | has '^result user=nobody@contoso.com talking=true status=unknown_user' ||
    fail "unknown user: $out"
[ "$(flag bob+x@contoso.com)" = true ] || fail "bob flag"
[ "$(flag alice@contoso.com)" = false ] || fail "alice final flag"

# 7. a template with {email} in the path is percent-encoded there
fv_ctl DELETE requests >/dev/null
out=$(probe --path '/users/{userId}/externalcallstate?who={email}' --set bob+x@contoso.com=false)
echo "$out" | has 'status=ok' || fail "email template: $out"
fv_ctl GET requests | jq -e '.[-1].query == "who=bob%2Bx%40contoso.com"' >/dev/null ||
    fail "email not encoded: $(fv_ctl GET requests | jq -c '.[-1]')"
[ "$(flag bob+x@contoso.com)" = false ] || fail "bob flag 2"

# 8. Retry-After is honoured: a small loopback server answers the first PUT
# with 429 and Retry-After: 1 (fake-voice may not send the header, see 2.)
RA_PORT=$(free_port)
python3 - "$RA_PORT" >"$T/ra.log" 2>&1 <<'PY' &
import http.server, json, sys, time
state = {"puts": []}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send(200, json.dumps([{"Id": "u-1", "UserName": "carol@contoso.com"}]).encode())
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state["puts"].append(time.time())
        print("PUT %.3f" % time.time(), flush=True)
        if len(state["puts"]) == 1:
            self._send(429, b"{}", [("Retry-After", "1")])
        else:
            self._send(204)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)
wait_for 5 port_open "$RA_PORT" || fail "retry-after server did not start"
out=$("$PROBE" --api "http://127.0.0.1:$RA_PORT" --user "$FV_USER" --secret-key-file "$T/voice.key" \
    --backoff-ms 50 --set carol@contoso.com=true 2>>"$T/probe.err")
echo "$out" | has '^result user=carol@contoso.com talking=true status=ok http=204 attempts=2$' ||
    fail "retry-after: $out"
gap=$(awk '/^PUT/ {t[n++]=$2} END {printf "%d", (t[1]-t[0])*1000}' "$T/ra.log")
[ "$gap" -ge 950 ] || fail "Retry-After: 1 not honoured: retried after ${gap} ms (backoff alone is 50 ms)"
: "$BOB"
assert_absent "$FV_SECRET" "$T/probe.err"
pass test_voice_writer
