#!/usr/bin/env bash
# fake-voice webhook sender: every call event is POSTed with X-Benemen-Token.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"

# A real HTTP receiver that writes one JSON line per request.
SINK_PORT=$(free_port)
cat >"$T/sink.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
out = open(sys.argv[2], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        out.write(json.dumps({"path": self.path, "token": self.headers.get("X-Benemen-Token"),
                              "event": self.headers.get("X-Benemen-Event"),
                              "ctype": self.headers.get("Content-Type"),
                              "body": json.loads(body)}) + "\n")
        self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$T/sink.py" "$SINK_PORT" "$T/sink.jsonl" 2>>"$T/sink.log" &
PIDS+=($!)
wait_for 10 port_open "$SINK_PORT" || fail "sink did not start"
: >"$T/sink.jsonl"

fv_start
ALICE=$(fv_user alice@contoso.com)
HOOK_SECRET='hook+/=&%secret'
fv_ctl POST webhook "{\"url\":\"http://127.0.0.1:$SINK_PORT/voice/events/contoso\",\"secret\":\"$HOOK_SECRET\"}" >/dev/null
C1=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"desk"}' | jq -r .call_id)
C2=$(fv_ctl POST calls/start '{"email":"alice@contoso.com","terminal":"mobile","direction":"outbound"}' | jq -r .call_id)
fv_ctl POST calls/end "{\"call_id\":\"$C1\"}" >/dev/null
fv_ctl POST calls/end "{\"call_id\":\"$C2\"}" >/dev/null
wait_for 5 sh -c "[ \$(wc -l <'$T/sink.jsonl') -ge 4 ]" || fail "webhooks: $(cat "$T/sink.jsonl")"
check() { # EVENT CALL
    jqe -s --arg e "$1" --arg c "$2" --arg u "$ALICE" --arg s "$HOOK_SECRET" \
        'map(select(.body.EventType==$e and .body.CallId==$c)) | length==1 and
         (.[0] | .token==$s and .event==$e and .path=="/voice/events/contoso" and
          (.ctype|startswith("application/json")) and .body.UserId==$u and
          (.body.Timestamp|test("^20.*Z$")))' "$T/sink.jsonl" >/dev/null ||
        fail "webhook $1 $2: $(cat "$T/sink.jsonl")"
}
check UserCallInConnected "$C1"
check UserCallOutConnected "$C2"
check UserCallInDisconnected "$C1"
check UserCallOutDisconnected "$C2"
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/state | jq .webhook_sent)\" = 4 ]" || fail "webhook_sent"

# A failing receiver is counted, and events still flow.
fv_ctl POST webhook "{\"url\":\"http://127.0.0.1:$SINK_PORT/fail\",\"secret\":\"x\"}" >/dev/null
C3=$(fv_ctl POST calls/start '{"email":"alice@contoso.com"}' | jq -r .call_id)
wait_for 5 sh -c "[ \"\$(curl -s $FV/_sim/state | jq .webhook_failed)\" = 1 ]" || fail "webhook_failed"
# Disabled: nothing more is sent.
fv_ctl POST webhook '{"url":null}' >/dev/null
n=$(wc -l <"$T/sink.jsonl")
fv_ctl POST calls/end "{\"call_id\":\"$C3\"}" >/dev/null
sleep 0.5
[ "$(wc -l <"$T/sink.jsonl")" = "$n" ] || fail "webhook sent while disabled"
assert_absent "$HOOK_SECRET" "$T/fake-voice.log"
pass "fake_voice_webhook"
