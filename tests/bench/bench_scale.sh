#!/usr/bin/env bash
# Benchmark 4 (docs/performance.md): start to ready, memory and idle CPU.
#   bench_scale.sh TENANTS USERS_PER_TENANT ACCOUNTS_PER_TENANT [MAPPER true|false]
# Real parts: mosquitto, fake-graph (all tenants, users, service accounts),
# fake-voice (one integration account that sees every user), the full daemon
# (Graph side with rich notifications, Voice side, mapper). Measures the time
# from exec to the first /readyz 200, VmRSS/VmHWM from /proc/PID/status,
# and CPU (utime+stime from /proc/PID/stat) over BENCH_IDLE_SECONDS of idle
# after a settle time, extrapolated to an hour. Prints RESULT lines.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/graph_helpers.sh"
source "$PS_SRC/tests/fakes/voice/it_lib.sh"
NT=$1 NU=$2 NA=$3 MAPPER=${4:-true}
IDLE=${BENCH_IDLE_SECONDS:-20}
SETTLE=${BENCH_SETTLE_SECONDS:-5}
LABEL="${NT}x${NU}"
[ "$MAPPER" = true ] || LABEL="${LABEL}_nomapper"

start_mosquitto "user $(id -un)"
start_fake_graph --log-level warn
fv_start --log-level warn
make_cert notify
printf '%s\n' "$SVC_PASSWORD" >"$T/svc_password"
chmod 600 "$T/svc_password"

tid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
# fake-graph: tenants, accounts, then users in requests of 5,000 (its
# control listener takes bodies of a few MiB)
fg_users() { curl -fsS -o /dev/null --max-time 120 -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/users.json" "$FG/_sim/users" || fail "fake-graph users"; }
for t in $(seq 1 "$NT"); do
    [ "$t" = 1 ] && [ "$(tid 1)" = "$TENANT_ID" ] || sim POST /tenants "{\"id\":\"$(tid "$t")\"}" >/dev/null
    jq -nc --arg t "$(tid "$t")" --argjson t0 "$t" --argjson na "$NA" --arg p "$SVC_PASSWORD" '
        {users: [range(1; $na + 1) | {upn: "svc\(.)@t\($t0).example.com", tenant: $t, password: $p}]}' \
        >"$T/users.json"
    fg_users
    for c in $(seq 0 5000 $((NU - 1))); do
        jq -nc --arg t "$(tid "$t")" --argjson t0 "$t" --argjson c "$c" --argjson nu "$NU" '
            {users: [range($c + 1; ([$c + 5000, $nu] | min) + 1) |
                     {upn: "u\(.)@t\($t0).example.com", tenant: $t, teams: "Available"}]}' >"$T/users.json"
        fg_users
    done
done
[ "$(sim GET /users | jq length)" = $((NT * (NU + NA))) ] || fail "fake-graph users not all created"
# fake-voice: one request per user over one keep-alive connection
for t in $(seq 1 "$NT"); do
    for u in $(seq 1 "$NU"); do
        printf 'url = "%s/_sim/users"\ndata-binary = "{\\"email\\":\\"u%d@t%d.example.com\\"}"\nheader = "Content-Type: application/json"\noutput = "/dev/null"\nnext\n' "$FV" "$u" "$t"
    done
done | sed '$ d' >"$T/fv.curl"
curl -sS -K "$T/fv.curl" || fail "fake-voice users"
[ "$(fv_ctl GET state | jq '.users | length')" -gt $((NT * NU)) ] || fail "fake-voice users not all created"

HTTP_PORT=$(free_port)
WEB=http://127.0.0.1:$HTTP_PORT
jq -n --argjson nt "$NT" --argjson nu "$NU" --argjson na "$NA" --arg mqtt "mqtt://127.0.0.1:$MQTT_PORT" \
    --arg listen "127.0.0.1:$HTTP_PORT" --arg pub "$WEB" --arg fg "$FG" --arg T "$T" \
    --arg cid "$CLIENT_ID" --arg fv "$FV_API" --arg fvu "$FV_USER" --argjson mapper "$MAPPER" --arg ll "${BENCH_LOG_LEVEL:-warn}" '{
    instance: "ps-bench", log_level: $ll,
    mqtt: {url: $mqtt, bridge_topic: "ps"},
    http: {listen: $listen, public_url: $pub},
    tenants: [range(1; $nt + 1) as $t | {
        name: "t\($t)", users: [range(1; $nu + 1) | "u\(.)@t\($t).example.com"],
        graph: {tenant_id: ("00000000-0000-4000-8000-" + ("000000000000" + ($t | tostring) | .[-12:])),
                client_id: $cid, client_secret_file: ($T + "/client_secret"),
                login_url: $fg, api_url: ($fg + "/v1.0"),
                encryption_cert_file: ($T + "/notify.crt"), encryption_key_file: ($T + "/notify.key"),
                service_accounts: [range(1; $na + 1) | {username: "svc\(.)@t\($t).example.com",
                                                         password_file: ($T + "/svc_password")}]},
        voice: {api_url: $fv, username: $fvu, secret_key_file: ($T + "/voice.key"),
                talking_request: {method: "PUT", path: "/users/{userId}/externalcallstate",
                                  body: "{\"InCall\":{talking},\"Source\":\"MSTeams\"}"}}}],
    mapper: {enabled: $mapper}}' >"$T/ps.json"

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$WEB/readyz")" = 200 ]; }
# presence requests fake-graph counted (all tenants), refused with 429, and
# the fullest 30 s window of any one tenant
budget() { sim GET /presence_budget | jq -r '[([.apps[].total] | add // 0), ([.apps[].refused] | add // 0),
    ([.apps[].max_in_window] | max // 0)] | @tsv'; }
READY_LIMIT_S=${BENCH_READY_TIMEOUT_S:-60}
sim DELETE /presence_budget >/dev/null
T0=$(date +%s%N)
start_daemon "$T/ps.json"
# BENCH_PERF=FILE: a perf profile (call graphs) from exec to the end of the
# idle window into FILE
if [ -n "${BENCH_PERF:-}" ]; then
    perf record -q -F 499 -g -p "$PS_PID" -o "$BENCH_PERF" >/dev/null 2>&1 &
    PERF_PID=$!
fi
ok=0
while [ $((($(date +%s%N) - T0) / 1000000000)) -lt "$READY_LIMIT_S" ]; do
    if ready; then ok=1; break; fi
    kill -0 "$PS_PID" 2>/dev/null || fail "daemon died"
    sleep 0.05
done
T1=$(date +%s%N)
[ "$ok" = 1 ] || { curl -s "$WEB/readyz" >&2; fail "not ready in $READY_LIMIT_S s"; }
READY_MS=$(((T1 - T0) / 1000000))
# the daemon's CPU from exec to ready (utime + stime)
CPU_READY=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$PS_PID/stat")

read -r PRES_READY REFUSED_READY _ <<<"$(budget)"
# ready does not wait for the subscriptions: also the time until fake-graph
# holds one per service account, and until the start-up Graph work is done
# (no request in the last 2 s)
nsubs() { sim GET /subscriptions | jq 'length'; }
SUBS=$(nsubs)
while [ "$(nsubs)" -lt $((NT * NA)) ] && [ $((($(date +%s%N) - T0) / 1000000000)) -lt $((READY_LIMIT_S * 3)) ]; do
    sleep 0.5
done
SUBSCRIBED_MS=$((($(date +%s%N) - T0) / 1000000))
lastseq() { sim GET /requests | jq '[.[].seq] | max // 0'; }
q0=$(lastseq)
while sleep 2; do
    q1=$(lastseq)
    [ "$q1" != "$q0" ] && [ $((($(date +%s%N) - T0) / 1000000000)) -lt $((READY_LIMIT_S * 5)) ] || break
    q0=$q1
done
QUIET_MS=$((($(date +%s%N) - T0) / 1000000))
CPU_QUIET=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$PS_PID/stat")
echo "RESULT scale_${LABEL}_startup ready_ms=$READY_MS subscriptions_at_ready=$SUBS all_subscribed_ms=$SUBSCRIBED_MS graph_quiet_ms=$QUIET_MS cpu_to_quiet_s=$CPU_QUIET"
TCK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$PS_PID/stat"; }
# after a short settle; the window is idle only if fake-graph saw no request
# in it (graph_requests_during_idle): with the mapper on, its start-up
# reconcile of 10,000 users (a clearPresence per user, within Graph's budget)
# is still running then, so bench.sh also runs the sides without the mapper
sleep "$SETTLE"
# per thread too, to say where idle CPU goes
threads_cpu() { for f in /proc/"$PS_PID"/task/*/stat; do
    awk -v c="$(cat "${f%stat}comm")" '{print c, $14 + $15}' "$f"; done | awk '{a[$1] += $NF} END {for (k in a) print k, a[k]}' | sort; }
threads_cpu >"$T/threads0"
R0=$(sim GET /requests | jq '[.[].seq] | max // 0')
C0=$(cpu_s)
sleep "$IDLE"
C1=$(cpu_s)
threads_cpu >"$T/threads1"
R1=$(sim GET /requests | jq '[.[].seq] | max // 0')
echo "RESULT scale_${LABEL}_idle_threads $(join "$T/threads0" "$T/threads1" | awk '{d = $3 - $2; if (d > 0) printf "%s=%d ", $1, d}')ticks graph_requests_during_idle=$((R1 - R0)) $(sim GET "/requests?since=$R0" | jq -r '[.[] | (.method + " " + (.path | sub("/users/[^/]+"; "/users/ID")))] | group_by(.) | map("\"\(.[0])\"=\(length)") | join(" ")')"
if [ -n "${PERF_PID:-}" ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
fi
read -r PRES_END REFUSED_END MAXWIN_END <<<"$(budget)"
echo "RESULT scale_${LABEL}_graph presence_requests_to_ready=$PRES_READY presence_requests_to_end=$PRES_END refused_429=$REFUSED_END max_per_30s_window=$MAXWIN_END limit_per_30s=1500"
# Graph requests per user per hour in steady state, from the periods the
# daemon runs with (docs/scaling.md): a resync every resync_minutes (15) reads
# 650 users a request; each subscription is renewed at half its remaining
# lifetime (about every 27 min); a periodic resync sends its reads 600 ms
# apart, so any 30 s window holds at most 50 of them. Reads count against the
# presence limit, renewals against the subscription API's.
awk -v nt="$NT" -v nu="$NU" -v na="$NA" -v lbl="$LABEL" 'BEGIN {
    chunks = int((nu + 649) / 650); reads = chunks * 60 / 15; renew = na * 60 / 27
    win = chunks < 50 ? chunks : 50
    printf "RESULT scale_%s_steady_graph_per_user_hour presence_reads=%.5f renewals=%.5f total=%.5f " \
        "per_tenant_per_hour=%.0f resync_reads_max_per_30s=%d of 1500 (model: resync 15 min, renew 27 min)\n",
        lbl, reads / nu, renew / nu, (reads + renew) / nu, reads + renew, win }'
RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$PS_PID/status")
HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$PS_PID/status")
THREADS=$(awk '/^Threads/ {print $2}' "/proc/$PS_PID/status")
echo "RESULT scale_$LABEL tenants=$NT users=$((NT * NU)) accounts=$((NT * NA)) subscriptions=$SUBS ready_ms=$READY_MS cpu_to_ready_s=$CPU_READY vmrss_kib=$RSS vmhwm_kib=$HWM threads=$THREADS idle_cpu_s=$(awk -v a="$C0" -v b="$C1" 'BEGIN {printf "%.2f", b - a}') over_s=$IDLE idle_cpu_s_per_hour=$(awk -v a="$C0" -v b="$C1" -v s="$IDLE" 'BEGIN {printf "%.1f", (b - a) * 3600 / s}')"
grep -E ' (E|W) ' "$T/daemon.log" | cut -c1-160 | sort | uniq -c | sort -rn | sed -n 1,5p >&2 || true
kill -TERM "$PS_PID"
wait "$PS_PID" || true
