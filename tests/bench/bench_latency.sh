#!/usr/bin/env bash
# Benchmark 3 (docs/performance.md): latency the daemon adds, at
# BENCH_RATE (100) transitions/s, read from the simulators' own records:
#  Teams -> Voice: fake-graph's delivery of the notification (the moment its
#    POST started: recorded completion time - ack_ms) to fake-voice's record
#    of the PUT .../externalcallstate for that user and value;
#  Voice -> Teams: the moment the control request that makes fake-voice send
#    the call event was sent (bench_load's log; so the simulator's own work
#    is included) to fake-graph's record of setPresence / clearPresence.
# Each of BENCH_LAT_USERS users starts a call and ends it (2 transitions).
# RESULT latency_teams_hop_* split Teams -> Voice per hop (see below);
# BENCH_LOG_LEVEL=debug (default warn) splits it further with the daemon's
# log, at some cost in speed. PS_KEEP_TMP=1 keeps the records.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/mapper_helpers.sh"
B=$PS_BUILD/tests/bench
N=${BENCH_LAT_USERS:-250}
RATE=${BENCH_RATE:-100}
USERS=()
for i in $(seq -w 1 "$N"); do USERS+=("u$i@contoso.com"); done
MS_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn} ms_setup "${USERS[@]}"
MS_START_WAIT=90 ms_start

# --- Teams -> Voice
D0=$(sim GET /deliveries | jq '[.[].seq] | max // 0')
G0=$(sim GET /requests | jq '[.[].seq] | max // 0')
# Per-hop records: when each teams/<id>/busy passed the broker (an observer
# with Nagle off on its side; live messages only, not retained ones).
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" --nodelay -q 1 -R -t "teams/+/busy" \
    -F '%U %t %p' >"$T/busy.sub" 2>/dev/null &
OBS_PID=$!
PIDS+=("$OBS_PID")
sleep 0.5
{ for u in "${USERS[@]}"; do printf '/_sim/users/%s/start/call\t\n' "$u"; done
  for u in "${USERS[@]}"; do printf '/_sim/users/%s/end/call\t\n' "$u"; done; } >"$T/g.lines"
fv_ctl DELETE requests >/dev/null
R=$("$B/bench_load" --port "$FG_PORT" --bodies "$T/g.lines" --rate "$RATE" --count $((2 * N)) --conns 4)
echo "RESULT latency_trigger_teams $R"
puts() { fv_ctl GET requests | jq '[.[] | select(.method == "PUT")] | length'; }
wait_for 60 sh -c "[ \$(curl -s '$FV/_sim/requests' | jq '[.[] | select(.method == \"PUT\")] | length') -ge $((2 * N)) ]" ||
    log "only $(puts) Voice writes of $((2 * N))"
sim GET "/deliveries?since=$D0" >"$T/deliveries.json"
sim GET "/requests?since=$G0" >"$T/gread.json"
kill -TERM "$OBS_PID" 2>/dev/null || true
sim GET /users >"$T/gusers.json"
fv_ctl GET requests >"$T/vreq.json"
fv_ctl GET state >"$T/vstate.json"

# --- Voice -> Teams
S0=$(sim GET /requests | jq '[.[].seq] | max // 0')
{ for u in "${USERS[@]}"; do printf '/_sim/calls/start\t{"email":"%s"}\n' "$u"; done
  for u in "${USERS[@]}"; do printf '/_sim/calls/end\t{"email":"%s"}\n' "$u"; done; } >"$T/v.lines"
R=$("$B/bench_load" --port "$FV_PORT" --bodies "$T/v.lines" --rate "$RATE" --count $((2 * N)) --conns 4 --log "$T/v.log")
echo "RESULT latency_trigger_voice $R"
writes() { sim GET "/requests?since=$S0" | jq '[.[] | select(.path | test("/presence/(set|clear)Presence$"))] | length'; }
wait_for 60 sh -c "[ \$(curl -s '$FG/_sim/requests?since=$S0' | jq '[.[] | select(.path | test(\"/presence/(set|clear)Presence\$\"))] | length') -ge $((2 * N)) ]" ||
    log "only $(writes) Teams writes of $((2 * N))"
sim GET "/requests?since=$S0" >"$T/greq.json"

python3 - "$T" "$N" <<'PY'
import json, sys, datetime, re
T, n = sys.argv[1], int(sys.argv[2])
def ms(iso):  # 2026-11-26T10:00:00.1230000Z
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d+))?Z", iso)
    y, mo, d, h, mi, s = map(int, m.groups()[:6])
    frac = float("0." + (m.group(7) or "0"))
    return datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp() * 1000 + frac * 1000
def pct(v):
    v = sorted(v)
    if not v: return "n=0"
    return "n=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f" % (len(v), v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))], v[-1])
gid2upn = {u["id"]: u["upn"].lower() for u in json.load(open(T + "/gusers.json"))}
vid2mail = {u["id"]: u["email"].lower() for u in json.load(open(T + "/vstate.json"))["users"]}
# Teams -> Voice
deliv = {}
for d in json.load(open(T + "/deliveries.json")):
    if d.get("kind") != "change" or not d.get("ok"): continue
    t0 = ms(d["time"]) - float(d.get("ack_ms", 0))
    for it in json.loads(d["body"])["value"]:
        gid = it["resource"].rsplit("/", 1)[-1]
        deliv.setdefault(gid2upn.get(gid), []).append(t0)
puts = {}
for r in json.load(open(T + "/vreq.json")):
    if r["method"] != "PUT": continue
    vid = r["path"].split("/")[3] if r["path"].startswith("/api/users/") else None
    puts.setdefault(vid2mail.get(vid), []).append(ms(r["time"]))
lat = []
for u, ts in deliv.items():
    ws = sorted(puts.get(u, []))
    for a, b in zip(sorted(ts), ws):
        lat.append(b - a)
print("RESULT latency_teams_to_voice", pct(lat), "deliveries=%d voice_writes=%d" % (sum(map(len, deliv.values())), sum(map(len, puts.values()))))
# Teams -> Voice per hop, from the k-th event of each kind for a user:
# delivery -> Graph read (fake-graph's record of getPresencesByUserId: the
# bench uses basic notifications) -> teams/<id>/busy at the observer -> PUT
# (fake-voice's record). With BENCH_LOG_LEVEL=debug the daemon's own log
# (ms stamps) splits the hops further: state handed to Paho, mapper input,
# Voice request queued. A user whose counts differ is left out.
ev = {"0deliv": {}, "1read": {}, "4busy_seen": {}, "7put": {}}
def add(k, u, t): ev.setdefault(k, {}).setdefault(u, []).append(t)
for u, ts in deliv.items():
    for t in ts: add("0deliv", u, t)
for u, ts in puts.items():
    for t in ts: add("7put", u, t)
for r in json.load(open(T + "/gread.json")):
    if r["path"].endswith("/getPresencesByUserId"):
        for gid in json.loads(r["body"]).get("ids", []): add("1read", gid2upn.get(gid), float(r["t_ms"]))
for l in open(T + "/busy.sub"):
    f = l.split(" ", 2)
    if len(f) == 3: add("4busy_seen", f[1].split("/")[-2].lower(), float(f[0]) * 1000)
if puts and deliv:
    t_lo = min(min(v) for v in deliv.values()) - 5
    t_hi = max(max(v) for v in puts.values()) + 50
    pats = [("2presence", re.compile(r" graph presence tenant=\S+ user=(\S+) .*source=notification")),
            ("3handed", re.compile(r" mqtt publish state topic=(?:.*/)?teams/(\S+)/busy")),
            ("5mapper_in", re.compile(r" mapper teams input id=(\S+) ")),
            ("6queued", re.compile(r" voice talking write sent tenant=\S+ user=(\S+) "))]
    for l in open(T + "/daemon.log", errors="replace"):
        if not l.startswith("20") or " debug " not in l and " info " not in l: continue
        t = ms(l.split(" ", 1)[0])
        if t_lo <= t <= t_hi:
            for k, p in pats:
                m = p.search(l)
                if m: add(k, m.group(1).lower(), t)
keys = sorted(k for k in ev if sum(map(len, ev[k].values())))
hop = {}
for u in deliv:
    seqs = [sorted(ev[k].get(u, [])) for k in keys]
    if len(set(map(len, seqs))) != 1: continue
    for i in range(len(seqs[0])):
        for a in range(len(keys) - 1):
            hop.setdefault(keys[a][1:] + "_to_" + keys[a + 1][1:], []).append(seqs[a + 1][i] - seqs[a][i])
for k, v in hop.items():
    print("RESULT latency_teams_hop_%s" % k, pct(v))
# Voice -> Teams
lines = [l.rstrip("\n") for l in open(T + "/v.lines")]
sent = {}
for l in open(T + "/v.log"):
    i, w, st = l.split()
    path, body = lines[int(i)].split("\t", 1)
    sent.setdefault((json.loads(body)["email"].lower(), path.endswith("start")), float(w))
lat_s, lat_c = [], []
for r in json.load(open(T + "/greq.json")):
    m = re.match(r"^/v1\.0/users/([^/]+)/presence/(set|clear)Presence$", r["path"])
    if not m or r["status"] >= 300: continue
    u = gid2upn.get(m.group(1), m.group(1).lower())
    k = (u, m.group(2) == "set")
    if k in sent:
        (lat_s if k[1] else lat_c).append(float(r["t_ms"]) - sent.pop(k))
print("RESULT latency_voice_to_teams_set", pct(lat_s))
print("RESULT latency_voice_to_teams_clear", pct(lat_c))
print("RESULT latency_voice_to_teams_all", pct(lat_s + lat_c))
PY
kill -TERM "$PS_PID"
wait "$PS_PID" || true
