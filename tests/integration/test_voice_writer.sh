#!/usr/bin/env bash
# The talking writer (connector/voice/writer.h) against fake-voice, through
# tests/tools/voice_writer_probe: the talking_request template with the
# user's id; single attempt: every value is one request and one result
# (429/5xx/4xx reported with status and Retry-After, never retried here:
# the mapper retries, tests/component/test_mapper_calls.c); a newer value replacing a
# queued older one, at most one request per user in flight, unknown users,
# a user matched by Email; each case ends with the right flag in fake-voice.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

PROBE=$PS_BUILD/tests/tools/voice_writer_probe
[ -x "$PROBE" ] || fail "voice_writer_probe not built: $PROBE"
fv_start
ALICE=$(fv_user alice@contoso.com)
BOB=$(fv_user bob+x@contoso.com)

probe() {
    "$PROBE" --api "$FV_API" --user "$FV_USER" --secret-key-file "$T/voice.key" \
        --method PUT --path '/users/{userId}/externalcallstate' \
        --body '{"InCall":{talking},"Source":"MSTeams"}' "$@" 2>>"$T/probe.err"
}
flag() { fv_ctl GET state | jq -r --arg e "$1" '.users[] | select(.email==$e) | .talking'; }
writes() { fv_ctl GET state | jq -r --arg e "$1" '.users[] | select(.email==$e) | .talking_writes'; }
puts() { fv_ctl GET requests | jq --arg p "/api/users/$1/externalcallstate" '[.[] | select(.path==$p)] | length'; }

# 1. plain write, with the simulator's template (PUT /users/{userId}/externalcallstate)
out=$(probe --set alice@contoso.com=true)
echo "$out" | has '^result user=alice@contoso.com talking=true status=ok http=204 attempts=1 retry_after=-1$' ||
    fail "plain write: $out"
[ "$(flag alice@contoso.com)" = true ] || fail "alice not talking in fake-voice"
fv_ctl GET requests | jqe --arg p "/api/users/$ALICE/externalcallstate" \
    '[.[] | select(.path==$p)][-1] | .method=="PUT" and (.body|fromjson) == {"InCall":true,"Source":"MSTeams"}' \
    >/dev/null || fail "request shape: $(fv_ctl GET requests)"
# idempotent: the same value again is harmless
out=$(probe --set alice@contoso.com=true)
echo "$out" | has 'status=ok' || fail "second write: $out"
[ "$(flag alice@contoso.com)" = true ] || fail "alice flag after repeat"

# 2. single attempt: a 429 is reported once, with its Retry-After (the
# caller, the mapper, decides when to try again); nothing is retried here
fv_ctl POST faults '{"path":"/api/users/probe-ra","status":429,"retry_after":1,"count":1}' >/dev/null
HAVE_RA=0
curl -s -D - -o /dev/null -u "$FV_USER:$FV_SECRET" "$FV_API/users/probe-ra" | has -i '^retry-after: 1' &&
    HAVE_RA=1
[ "$HAVE_RA" = 1 ] || fail "fake-voice sends no Retry-After header"
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":429,\"retry_after\":1,\"count\":2}" >/dev/null
out=$(probe --set alice@contoso.com=false)
echo "$out" | has '^result user=alice@contoso.com talking=false status=failed http=429 attempts=1 retry_after=1000 ' ||
    fail "429: $out"
[ "$(puts "$ALICE")" = 1 ] || fail "429: expected 1 PUT, got $(puts "$ALICE")"
[ "$(flag alice@contoso.com)" = true ] || fail "429: alice flag changed"
fv_ctl DELETE faults >/dev/null

# 3. 500 and 503: one request each, reported as failed (no Retry-After: -1)
for st in 500 503; do
    fv_ctl DELETE requests >/dev/null
    fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":$st,\"count\":1}" >/dev/null
    out=$(probe --set alice@contoso.com=false)
    echo "$out" | has "^result user=alice@contoso.com talking=false status=failed http=$st attempts=1 retry_after=-1 " ||
        fail "$st: $out"
    [ "$(puts "$ALICE")" = 1 ] || fail "$st was retried"
done
out=$(probe --set alice@contoso.com=false)
echo "$out" | has 'talking=false status=ok http=204 attempts=1' || fail "after 5xx: $out"
[ "$(flag alice@contoso.com)" = false ] || fail "5xx: alice flag"

# 4. another 4xx: reported with its body; the flag stays
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":400,\"count\":1}" >/dev/null
out=$(probe --set alice@contoso.com=true)
echo "$out" | has '^result user=alice@contoso.com talking=true status=failed http=400 attempts=1 retry_after=-1 error=HTTP 400' ||
    fail "400: $out"
[ "$(puts "$ALICE")" = 1 ] || fail "400 was retried"
[ "$(flag alice@contoso.com)" = false ] || fail "400: alice flag changed"

# 5. one request per user in flight; the newest value wins: true is in
# flight (300 ms) and fails; false, given meanwhile, is sent after it
fv_ctl DELETE requests >/dev/null
fv_ctl POST faults "{\"method\":\"PUT\",\"path\":\"/api/users/$ALICE/externalcallstate\",\"status\":500,\"delay_ms\":300,\"count\":1}" >/dev/null
out=$(probe --set alice@contoso.com=true --set alice@contoso.com=false)
echo "$out" | has '^result user=alice@contoso.com talking=true status=failed http=500 attempts=1' ||
    fail "queue: $out"
echo "$out" | has '^result user=alice@contoso.com talking=false status=ok http=204 attempts=1 ' ||
    fail "queue: $out"
[ "$(flag alice@contoso.com)" = false ] || fail "queue: alice flag"
[ "$(puts "$ALICE")" = 2 ] || fail "queue: expected 2 PUTs, got $(puts "$ALICE")"
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
fv_ctl GET requests | jqe '.[-1].query == "who=bob%2Bx%40contoso.com"' >/dev/null ||
    fail "email not encoded: $(fv_ctl GET requests | jq -c '.[-1]')"
[ "$(flag bob+x@contoso.com)" = false ] || fail "bob flag 2"

# 8. Retry-After from another server (an HTTP date or seconds): the first PUT
# gets 429 with Retry-After: 1, reported as retry_after=1000
RA_PORT=$(free_port)
python3 - "$RA_PORT" >"$T/ra.log" 2>&1 <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send(200, json.dumps([{"Id": "u-1", "UserName": "carol.login", "Email": "carol@contoso.com"}]).encode())
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print("PUT", flush=True)
        self._send(429, b"{}", [("Retry-After", "1")])
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)
wait_for 5 port_open "$RA_PORT" || fail "retry-after server did not start"
out=$("$PROBE" --api "http://127.0.0.1:$RA_PORT" --user "$FV_USER" --secret-key-file "$T/voice.key" \
    --set carol@contoso.com=true 2>>"$T/probe.err")
echo "$out" | has '^result user=carol@contoso.com talking=true status=failed http=429 attempts=1 retry_after=1000 ' ||
    fail "retry-after: $out"
[ "$(grep -c '^PUT' "$T/ra.log")" = 1 ] || fail "retried by the writer"
: "$BOB"
assert_absent "$FV_SECRET" "$T/probe.err"
pass test_voice_writer
