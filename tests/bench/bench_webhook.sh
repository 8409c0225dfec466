#!/usr/bin/env bash
# Benchmarks 1 and 2 (docs/performance.md): webhook ack times at a paced
# 1,000 notifications/s, against a bare 202 handler on the same listener
# code; and sustained rich-notification ingest (POST -> decrypted ->
# published on MQTT, counted by a subscriber) against 0.8 x the RSA-2048
# private-key rate openssl measures in the same run.
# Real parts: mosquitto, fake-graph (makes the subscription with the
# daemon; its delivered body is the template), the daemon. Prints RESULT lines.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/graph_helpers.sh"
B=$PS_BUILD/tests/bench
NUSERS=${BENCH_USERS:-500}
ACK_RATE=${BENCH_ACK_RATE:-1000}
ACK_SECONDS=${BENCH_ACK_SECONDS:-10}
INGEST_ITEMS=${BENCH_INGEST_ITEMS:-15000}

# a subscriber counting thousands of QoS 1 messages a second must not be cut
# off at mosquitto's default queue of 1,000 messages
start_mosquitto "user $(id -un)
max_queued_messages 1000000"
start_fake_graph --log-level warn
make_cert notify
sim_account "$TENANT_ID" svc1@contoso.com
UPNS=()
for i in $(seq -w 1 "$NUSERS"); do UPNS+=("u$i@contoso.com"); done
sim_users "$TENANT_ID" "${UPNS[@]}"
write_config "$T/ps.json" "[$(tenant_json contoso "$TENANT_ID" "$(printf '%s\n' "${UPNS[@]}" | jq -R . | jq -sc .)" '["svc1@contoso.com"]' notify)]"
sed -i 's/"log_level": "info"/"log_level": "warn"/' "$T/ps.json"
start_daemon "$T/ps.json"
wait_for 60 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no subscription: $(sim_subs)"
# the start-up resync has published every user
wait_for 60 sh -c "[ \$(mosquitto_sub -p $MQTT_PORT -t 'teams/+/busy' --retained-only -W 2 2>/dev/null | wc -l) -ge $NUSERS ]" ||
    fail "start-up resync not published"

# one real change: its delivered body is the template
sim POST /users/u001@contoso.com/start/call >/dev/null 2>&1 || sim POST "/users/${UPNS[0]}/start/call" >/dev/null
wait_for 10 bash -c "curl -s '$FG/_sim/deliveries' | jqe '[.[] | select(.kind == \"change\" and .ok)] | length >= 1'" ||
    fail "no delivery"
sim GET /deliveries | jq -c '[.[] | select(.kind == "change" and .ok)] | last | .body | fromjson' >"$T/template.json"
sim GET /users | jq -r '.[] | select(.upn | startswith("u")) | .id' >"$T/users.txt"
openssl x509 -in "$T/notify.crt" -outform DER | base64 -w0 >"$T/cert.b64"
N1=$((ACK_RATE * ACK_SECONDS))
"$B/bench_bodies" "$T/template.json" "$T/cert.b64" "$T/users.txt" "$N1" 1000000000000000 >"$T/ack.bodies" ||
    fail "bench_bodies failed"
"$B/bench_bodies" "$T/template.json" "$T/cert.b64" "$T/users.txt" "$INGEST_ITEMS" 2000000000000000 >"$T/ingest.bodies" ||
    fail "bench_bodies failed"
log "bodies: $N1 + $INGEST_ITEMS, $(sed -n '1{p;q}' "$T/ack.bodies" | wc -c) bytes each"

outcomes() { # every notifications_total outcome -> "outcome=value ..." (sorted)
    curl -s "$WEB/metrics" | awk 'index($1, "presence_sync_notifications_total") == 1 {
        match($1, /outcome="[^"]*"/); o = substr($1, RSTART + 9, RLENGTH - 10); s[o] += $2 }
        index($1, "presence_sync_graph_presence_stale_total") == 1 {s["stale_presence"] += $2}
        END {for (o in s) printf "%s=%d\n", o, s[o]}' | sort
}

metric_sum() { # outcome -> value
    curl -s "$WEB/metrics" | awk -v o="outcome=\"$1\"" 'index($1, "presence_sync_notifications_total") == 1 && index($1, o) {s += $2} END {print s + 0}'
}

# --- 1. acks at ACK_RATE/s: the daemon (every item valid: it decrypts and publishes them all)
sub_start ack 'teams/+/busy'
ACKSUB=${PIDS[-1]}
A0=$(metric_sum applied)
R1=$("$B/bench_load" --port "$HTTP_PORT" --path /graph/notify/contoso --bodies "$T/ack.bodies" \
    --rate "$ACK_RATE" --seconds "$ACK_SECONDS" --conns 8)
echo "RESULT ack_daemon $R1"
wait_for 60 sh -c "[ \$(metric_sum applied) -ge $((A0 + N1)) ]" 2>/dev/null || true
echo "RESULT ack_daemon_applied $(( $(metric_sum applied) - A0 )) of $N1"
# done with it: left running, it would be a second subscriber mosquitto
# delivers every ingest publication to, on the same two cores
kill "$ACKSUB" 2>/dev/null || true

# baseline: the bare 202 handler on core/http_server, same bodies, same pacing
"$B/bench_ack_server" >"$T/bare.out" 2>"$T/bare.log" &
PIDS+=($!)
wait_line 5 "$T/bare.out" '^port=' || fail "bench_ack_server did not start"
BP=$(sed -n 's/^port=//p' "$T/bare.out")
R1B=$("$B/bench_load" --port "$BP" --path /graph/notify/contoso --bodies "$T/ack.bodies" \
    --rate "$ACK_RATE" --seconds "$ACK_SECONDS" --conns 8)
echo "RESULT ack_bare $R1B"

# --- 2. sustained ingest: posted at 1.5 x the RSA rate (faster than the
# workers can go, slower than filling the 10,000-body queue within the run)
sleep 1
RSA=$(openssl speed -multi "$(nproc)" -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}' | tail -1)
echo "RESULT openssl_rsa2048_sign_per_s $RSA"
: >"$T/ingest.sub"
# one line per publication: the subscriber's receive time (%U, ns), so the
# end of the run is read from the last line, not from a polling loop's clock
# (TZ set: with -F, mosquitto_sub calls localtime twice per message, and
# without TZ glibc stats /etc/localtime each time)
TZ=UTC mosquitto_sub -p "$MQTT_PORT" -h 127.0.0.1 -t 'teams/+/busy' -q 1 -R -F '%U' >"$T/ingest.sub" 2>&1 &
SUBPID=$!
PIDS+=($SUBPID)
sleep 0.5
A0=$(metric_sum applied)
Q0=$(metric_sum queue_full)
D0=$(outcomes)
# CPU of each part of the pipeline, for where the time per item goes
# (utime + stime of every thread, in clock ticks)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
C0_D=$(cpu_ticks "$PS_PID") C0_M=$(cpu_ticks "$MOSQ_PID") C0_S=$(cpu_ticks "$SUBPID")
# and of each of the daemon's threads, by name ("tid name ticks" lines)
thread_ticks() {
    local f
    for f in /proc/"$1"/task/*/stat; do
        sed 's/^\([0-9]*\) (\(.*\)) [A-Za-z] \(.*\)/\1 \2 \3/' "$f" 2>/dev/null |
            awk '{print $1, $2, $13 + $14}'
    done
}
thread_ticks "$PS_PID" >"$T/threads0"
# BENCH_PERF=FILE: a system-wide `perf record -g` of the ingest phase only
# (for finding where the time goes; it costs a few per cent itself)
PERFPID=
if [ -n "${BENCH_PERF:-}" ]; then
    perf record -a -g -o "$BENCH_PERF" >/dev/null 2>&1 &
    PERFPID=$!
    sleep 0.5
fi
TS=$(date +%s.%N)
TIMER=()
[ -x /usr/bin/time ] && TIMER=(/usr/bin/time -f '%U %S' -o "$T/load.time")
R2=$("${TIMER[@]}" "$B/bench_load" --port "$HTTP_PORT" \
    --path /graph/notify/contoso --bodies "$T/ingest.bodies" \
    --rate "$(awk -v r="$RSA" 'BEGIN {printf "%.0f", 1.5 * r}')" --count "$INGEST_ITEMS" --conns 8)
TP=$(date +%s.%N)
echo "RESULT ingest_post $R2"
ok=$(echo "$R2" | sed -n 's/.* 2xx=\([0-9]*\).*/\1/p')
# wait until the published count reaches the number of accepted items, or
# stops growing for 3 s; polled slowly (the timing comes from the
# subscriber's time stamps, and a busy poll would take CPU from the run)
last=-1
still=0
for i in $(seq 1 480); do
    n=$(wc -l <"$T/ingest.sub")
    [ "$n" -ge "$ok" ] && break
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
    [ "$still" -ge 12 ] && break
    sleep 0.25
done
n=$(wc -l <"$T/ingest.sub")
C1_D=$(cpu_ticks "$PS_PID") C1_M=$(cpu_ticks "$MOSQ_PID") C1_S=$(cpu_ticks "$SUBPID")
thread_ticks "$PS_PID" >"$T/threads1"
TE=$(tail -n 1 "$T/ingest.sub" | awk -v d="$TS" '$1 ~ /^[0-9]+\.[0-9]+$/ {d = $1} END {print d}')
if [ -n "$PERFPID" ]; then
    kill -INT "$PERFPID"
    wait "$PERFPID" || true
    echo "daemon pid=$PS_PID subscriber pid=$SUBPID mosquitto pid=$MOSQ_PID" >"$BENCH_PERF.pids"
fi
RATE=$(awk -v n="$n" -v a="$TS" -v b="$TE" 'BEGIN {printf "%.0f", n / (b - a)}')
echo "RESULT ingest items_posted=$INGEST_ITEMS accepted=$ok published=$n seconds=$(awk -v a="$TS" -v b="$TE" 'BEGIN {printf "%.2f", b - a}') post_seconds=$(awk -v a="$TS" -v b="$TP" 'BEGIN {printf "%.2f", b - a}') rate=$RATE applied=$(( $(metric_sum applied) - A0 )) queue_full=$(( $(metric_sum queue_full) - Q0 ))"
# microseconds of CPU per published item, by process (the daemon alone
# against openssl_sign = nproc x 1e6 / the openssl rate, i.e. one RSA sign
# with every core to itself: how close the daemon is to the floor, apart
# from the broker, subscriber and generator that share the cores; busy
# machines inflate openssl_sign)
TCK=$(getconf CLK_TCK)
us_item() { awk -v t="$1" -v k="$TCK" -v n="$n" 'BEGIN {printf "%.0f", n ? t / k * 1e6 / n : 0}'; }
LOAD_US=$(awk -v n="$n" '{printf "%.0f", n ? ($1 + $2) * 1e6 / n : 0}' "$T/load.time" 2>/dev/null || echo "?")
# the daemon's CPU per item by thread: the loop ("presence-sync"), the
# decryption workers (ps-worker), the listener (ps-http), Paho's threads
echo "RESULT ingest_cpu_threads_us_per_item $(awk -v k="$TCK" -v n="$n" 'NR == FNR {a[$1] = $3; next}
    {c[$2] += $3 - a[$1]} END {for (t in c) printf "%s=%.0f ", t, n ? c[t] / k * 1e6 / n : 0}' \
    "$T/threads0" "$T/threads1")"
# the RSA step alone, as the workers do it (OAEP decryption of a data key
# with the daemon's key), one process per core, CPU time per operation
RSA_US=$(for i in $(seq 1 "$(nproc)"); do "$B/bench_rsa" "$T/notify.key" 2 & done | awk -F'[= ]' '{s += $2; n++} END {printf "%.0f", s / n}')
echo "RESULT rsa_oaep_cpu_us_per_op $RSA_US"
echo "RESULT ingest_cpu_us_per_item daemon=$(us_item $((C1_D - C0_D))) mosquitto=$(us_item $((C1_M - C0_M))) subscriber=$(us_item $((C1_S - C0_S))) load_generator=$LOAD_US openssl_sign=$(awk -v r="$RSA" -v c="$(nproc)" 'BEGIN {printf "%.0f", c * 1e6 / r}')"
# outcomes other than "applied" during the run (dropped, ...), if any
OTHER=$(awk -F= 'NR == FNR {a[$1] = $2; next} $1 != "applied" && $2 - a[$1] > 0 {printf "%s=%d ", $1, $2 - a[$1]}' <(echo "$D0") <(outcomes))
[ -z "$OTHER" ] || echo "RESULT ingest_other_outcomes $OTHER"
echo "RESULT ingest_cpu_ratio daemon_per_item_vs_rsa_oaep=$(awk -v d="$(us_item $((C1_D - C0_D)))" -v r="$RSA_US" 'BEGIN {printf "%.2f", d / r}') target=1.15"
echo "RESULT ingest_ratio rate=$RATE target=$(awk -v r="$RSA" 'BEGIN {printf "%.0f", 0.8 * r}') ratio_vs_rsa=$(awk -v a="$RATE" -v r="$RSA" 'BEGIN {printf "%.2f", a / r}')"
grep -E ' (E|W) ' "$T/daemon.log" | sort | uniq -c | sort -rn | sed -n 1,5p >&2 || true
kill -TERM "$PS_PID"
wait "$PS_PID" || true
