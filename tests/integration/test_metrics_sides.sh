#!/usr/bin/env bash
# The sides' metrics (docs/observability.md) end to end:
# mosquitto + fake-graph + fake-voice + the daemon with both sides and the
# mapper. A Teams call and a Voice call (one Graph write failing once, so the
# mapper retries), subscription renewals (PS_GRAPH_RENEW_MS); then /metrics
# must be strict Prometheus text (every sample's family has # TYPE and # HELP,
# histogram buckets cumulative and ending in +Inf == _count) and carry every
# catalogued metric with a value this scenario explains.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

export PS_GRAPH_RENEW_MS=1500
ms_setup alice@contoso.com bob@contoso.com
ms_start
R=http://127.0.0.1:$HTTP_PORT

# --- Teams call -> Voice 'talking' and back
sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 10 alice@contoso.com true
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_v_talking 10 alice@contoso.com false

# --- Voice call -> Teams session; the first setPresence fails (a retry)
sim POST /faults "{\"method\":\"POST\",\"path\":\"/v1.0/users/$(g_id bob@contoso.com)/presence/setPresence\",\"status\":500,\"count\":1}" |
    jqe . >/dev/null || fail "fault not accepted"
C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 20 bob@contoso.com Busy/InACall
call_end "$C"
wait_g_session 20 bob@contoso.com ""
wait_for 20 sync_quiet bob@contoso.com || fail "bob not quiet: $(sync_of bob@contoso.com)"
# at least one renewal has happened (every 1.5 s)
renewed() { curl -s "$R/metrics" | has -E '^presence_sync_graph_subscriptions_renewed_total\{tenant="contoso"\} [1-9]'; }
wait_for 10 renewed ||
    fail "no renewal counted"

curl -s "$R/metrics" >"$T/m.txt"

# --- strict exposition check
python3 - "$T/m.txt" <<'PY' || fail "exposition check failed"
import math, re, sys
text = open(sys.argv[1]).read()
types, helps, samples = {}, set(), []
for n, line in enumerate(text.splitlines(), 1):
    if not line:
        continue
    m = re.fullmatch(r'# TYPE (\w+) (counter|gauge|histogram|summary|untyped)', line)
    if m:
        assert m[1] not in types, f"line {n}: second # TYPE for {m[1]}"
        types[m[1]] = m[2]
        continue
    m = re.fullmatch(r'# HELP (\w+) (.+)', line)
    if m:
        helps.add(m[1])
        continue
    assert not line.startswith('#'), f"line {n}: stray comment {line!r}"
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
    assert m, f"line {n}: not a sample: {line!r}"
    labels = m[3] or ''
    assert re.fullmatch(r'([a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*"(,|$))*', labels), f"line {n}: labels {labels!r}"
    v = float(m[4])
    assert not math.isnan(v), f"line {n}: NaN"
    samples.append((m[1], labels, v, n))
fam_of = {}
for name, labels, v, n in samples:
    fam = name
    if name not in types:
        for suf in ('_bucket', '_sum', '_count'):
            base = name[:-len(suf)] if name.endswith(suf) else None
            if base and types.get(base) == 'histogram':
                fam = base
    assert fam in types, f"line {n}: {name} has no # TYPE"
    assert fam in helps, f"line {n}: {fam} has no # HELP"
    assert fam.startswith('presence_sync_'), f"line {n}: {fam} lacks the prefix"
    if types[fam] == 'counter':
        assert v >= 0, f"line {n}: negative counter"
    fam_of.setdefault(fam, []).append((name, labels, v, n))
# histograms: per series, buckets ascending in le and cumulative, +Inf == _count
hist = 0
for fam, rows in fam_of.items():
    if types[fam] != 'histogram':
        continue
    series = {}
    for name, labels, v, n in rows:
        if name.endswith('_bucket'):
            le = re.search(r'(?:^|,)le="([^"]*)"', labels)[1]
            key = re.sub(r',?le="[^"]*"', '', labels)
            series.setdefault(key, {'b': [], 'count': None})['b'].append((float(le), v))
        elif name.endswith('_count'):
            series.setdefault(labels, {'b': [], 'count': None})['count'] = v
    for key, s in series.items():
        b = s['b']
        assert b and b[-1][0] == math.inf, f"{fam}{{{key}}}: no +Inf bucket"
        for (l1, c1), (l2, c2) in zip(b, b[1:]):
            assert l2 > l1 and c2 >= c1, f"{fam}{{{key}}}: buckets not monotonic"
        assert s['count'] == b[-1][1], f"{fam}{{{key}}}: _count != +Inf bucket"
        hist += 1
assert hist >= 4, f"only {hist} histogram series"
print(f"{len(samples)} samples, {len(types)} families, {hist} histogram series: valid")
PY

# --- the catalogue, with values this run explains
val() { awk -v k="presence_sync_$1" '$1 == k {print $2; f=1} END {if (!f) print "absent"}' "$T/m.txt"; }
names() { grep -o '^presence_sync_[a-z_]*' "$T/m.txt" | sort -u | tr '\n' ' '; }
# expect SERIES OP NUMBER (awk comparison)
expect() {
    local v
    v=$(val "$1")
    [ "$v" != absent ] || fail "no $1 in /metrics; have: $(names)"
    awk -v v="$v" -v n="$3" "BEGIN { exit !(v $2 n) }" || fail "$1 = $v, expected $2 $3"
}
# sum PREFIX_REGEX: the sum of the samples whose series matches (ERE)
sum() { awk -v re="^presence_sync_$1" '$1 ~ re {s += $2} END {print s + 0}' "$T/m.txt"; }
typed() { grep -q "^# TYPE presence_sync_$1 $2\$" "$T/m.txt" || fail "$1 is not a $2"; }
tc='tenant="contoso"'
now=$(date +%s)

# Graph side
typed notification_latency_seconds histogram
expect "notification_latency_seconds_count{$tc}" '>' 0
expect "notification_latency_seconds_bucket{$tc,le=\"+Inf\"}" '>' 0
expect "notifications_total{$tc,outcome=\"basic\"}" '>' 0
expect "graph_subscriptions{$tc}" '==' 1
typed graph_subscription_expiry_timestamp_seconds gauge
exp=$(val "graph_subscription_expiry_timestamp_seconds{$tc,account=\"svc1@contoso.com\"}")
[ "$exp" != absent ] || fail "no subscription expiry; have: $(names)"
# asked for 55 min; fake-graph grants what was asked (Graph caps presence at 60 min)
awk -v e="$exp" -v n="$now" 'BEGIN { exit !(e > n + 50*60 && e <= n + 61*60) }' ||
    fail "subscription expiry $exp is not ~55 min after $now"
# The metric is the expiry Graph returned. The subscription is renewed every
# 1.5 s here, so compare live values read with no renewal in between: the
# metric before and after fake-graph's answer are the same.
sim_expiry() { sim GET /subscriptions | jq -r '.[0].expirationDateTime | sub("\\.[0-9]+"; "") | fromdateiso8601'; }
live_expiry() { curl -s "$R/metrics" | awk -v k="presence_sync_graph_subscription_expiry_timestamp_seconds{$tc,account=\"svc1@contoso.com\"}" '$1 == k {print $2}'; }
same_expiry() {
    local a s b
    a=$(live_expiry) s=$(sim_expiry) b=$(live_expiry)
    [ -n "$a" ] && [ "$a" = "$s" ] && [ "$s" = "$b" ]
}
wait_for 10 same_expiry || fail "expiry metric $(live_expiry), fake-graph says $(sim_expiry)"
expect "graph_subscriptions_created_total{$tc}" '==' 1
expect "graph_subscriptions_renewed_total{$tc}" '>=' 1
typed graph_subscriptions_reauthorized_total counter
typed graph_subscription_failures_total counter
expect "graph_token_refreshes_total{$tc,account=\"app\"}" '>=' 1
expect "graph_token_refreshes_total{$tc,account=\"svc1@contoso.com\"}" '>=' 1
typed graph_token_failures_total counter
expect "graph_requests_total{$tc,kind=\"subscriptions\",status=\"201\"}" '>=' 1
expect "graph_requests_total{$tc,kind=\"batch\",status=\"200\"}" '>=' 1
expect "graph_requests_total{$tc,kind=\"presences\",status=\"200\"}" '>=' 1
expect "graph_requests_total{$tc,kind=\"presence\",status=\"500\"}" '>=' 1
expect "graph_requests_total{$tc,kind=\"presence\",status=\"200\"}" '>=' 1
expect "graph_presence_requests_total{$tc}" '>=' 3
expect "graph_throttled_total{$tc}" '==' 0
expect "graph_presence_writes_total{$tc,op=\"set_busy\",result=\"failed\"}" '>=' 1
expect "graph_presence_writes_total{$tc,op=\"set_busy\",result=\"ok\"}" '>=' 1
expect "graph_users_resolved{$tc}" '==' 2
typed graph_resyncs_total counter
typed graph_validations_total counter

# Mapper
expect 'mapper_graph_writes_total{action="graph_set_busy",outcome="ok"}' '>=' 1
expect 'mapper_graph_writes_total{action="graph_set_busy",outcome="error"}' '>=' 1
expect 'mapper_graph_writes_total{action="graph_clear",outcome="ok"}' '>=' 1
expect 'mapper_voice_writes_total{outcome="ok"}' '>=' 2
expect 'mapper_retries_total{side="teams"}' '>=' 1
expect 'mapper_retries_total{side="voice"}' '==' 0
# one Graph client: one app token for the Graph side and the mapper
expect "graph_token_refreshes_total{$tc,account=\"app\"}" '==' 1
[ "$(val "mapper_token_refreshes_total{$tc}")" = absent ] || fail "the mapper has its own token again"
expect "mapper_users{$tc}" '==' 2
typed mapper_write_latency_seconds histogram
expect 'mapper_write_latency_seconds_count{side="teams"}' '>=' 2
expect 'mapper_write_latency_seconds_count{side="voice"}' '>=' 2
# a write that needed a retry took > 1 ms; a sum of 0 would be a stuck clock
expect 'mapper_write_latency_seconds_sum{side="teams"}' '>' 0

# Voice side
expect "voice_requests_total{$tc,status=\"200\"}" '>=' 3
expect "voice_users_matched{$tc}" '==' 2
expect "voice_token_refreshes_total{$tc}" '>=' 1
expect "voice_token_failures_total{$tc}" '==' 0
n=$(sum "voice_talking_requests_total\\{$tc,status=\"2[0-9][0-9]\"\\}")
[ "$n" -ge 2 ] || fail "voice_talking_requests_total 2xx = $n, expected >= 2"
expect "voice_rte_connected{$tc}" '==' 1

# http_client
typed http_client_request_duration_seconds histogram
expect 'http_client_request_duration_seconds_count{status="2xx"}' '>' 0
expect 'http_client_request_duration_seconds_count{status="5xx"}' '>=' 1
c2=$(val 'http_client_requests_total{status="2xx"}')
h2=$(val 'http_client_request_duration_seconds_count{status="2xx"}')
[ "$c2" = "$h2" ] || fail "http_client: $c2 requests but $h2 observed"

# bounded labels: no user address or id in any label value
if grep -E '^presence_sync_' "$T/m.txt" | has -E 'alice|bob'; then
    fail "a user in a label: $(grep -m3 -E 'alice|bob' "$T/m.txt")"
fi
pass metrics_sides
