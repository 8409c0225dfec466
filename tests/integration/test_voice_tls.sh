#!/usr/bin/env bash
# The real wire forms, end to end (docs/voice.md "RTE"): fake-voice answers
# as Enreach does (WSSEndpoint without a scheme, discovery with https), over
# TLS with a test CA. Without voice.ca_file the daemon refuses the
# certificate (B/health says why); with it the link comes up. Then the
# negotiate answers a real hub may give: version 0 (no connectionToken), a
# redirect (url, accessToken, as Azure SignalR Service answers) and an
# error; and upgrades refused before the 101 (404 unknown connection id, 401
# bad token): the daemon's connection-error path logs the status and
# reconnects with a fresh token.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

FV_TLS=1
vs_setup
fv_user alice@contoso.com >/dev/null
# WSSEndpoint has no scheme
WSS=$(fv_token)
case $WSS in http* | ws*) fail "WSSEndpoint has a scheme: $WSS" ;; esac
[ "$WSS" = "127.0.0.1:$FV_TLS_PORT/rte/hub" ] || fail "WSSEndpoint: $WSS"

# 1. without ca_file: the certificate is refused
CA=$FV_CA
FV_CA=
vs_config '["alice@contoso.com"]' "\"discovery_url\": \"$FV\""
vs_start_daemon
wait_for 15 health_has '.last_error | test("certificate|ssl"; "i")' ||
    fail "no certificate error: $(health_voice)"
voice_ready false || fail "ready without trusting the CA"
kill -TERM "$PS_PID"
wait "$PS_PID" || true

# 2. with it: REST and the hub over TLS
FV_CA=$CA
vs_config '["alice@contoso.com"]' "\"discovery_url\": \"$FV\""
: >"$T/daemon.log"
vs_start_daemon
wait_link 15
grep -q "discovered tenant=contoso api=https://127.0.0.1:$FV_TLS_PORT/api" "$T/daemon.log" ||
    fail "discovery did not give the https API"
link_count() { grep -c 'RTE link live tenant=contoso' "$T/daemon.log"; }
relink() { # waits for one more "link live" than $1
    wait_for 20 sh -c "[ \$(grep -c 'RTE link live tenant=contoso' '$T/daemon.log') -gt $1 ]" ||
        fail "no new live link: $(health_voice)"
}
negotiations() { fv_ctl GET requests | jq -c '[.[] | select(.path == "/rte/hub/negotiate") | .query]'; }
call_works() {
    local c
    c=$(call_start '{"email":"alice@contoso.com"}')
    wait_talking 5 alice@contoso.com true 1
    call_end "$c"
    wait_talking 5 alice@contoso.com false 0
}
call_works

# 3. negotiate version 0: the connectionId is the connection token
fv_ctl DELETE requests >/dev/null
n=$(link_count)
fv_ctl POST settings '{"negotiate":"v0"}' >/dev/null
fv_ctl POST ws/drop >/dev/null
relink "$n"
call_works

# 4. a redirect: negotiate again at the url, with the accessToken
fv_ctl DELETE requests >/dev/null
n=$(link_count)
fv_ctl POST settings '{"negotiate":"redirect"}' >/dev/null
fv_ctl POST ws/drop >/dev/null
relink "$n"
negotiations | jqe 'length == 2 and (.[1] | test("asrs.redirected=1"))' >/dev/null ||
    fail "redirect not followed: $(negotiations)"
call_works

# 5. an error answer: retried with backoff until it goes away
n=$(link_count)
fv_ctl POST settings '{"negotiate":"error"}' >/dev/null
fv_ctl POST ws/drop >/dev/null
wait_line 10 "$T/daemon.log" 'negotiate: server error: Negotiation refused' || fail "error not seen"
fv_ctl POST settings '{"negotiate":"v1"}' >/dev/null
relink "$n"

# 6. upgrades refused before the 101: 404 and 401 reach the daemon's
#    connection-error path; each retry fetches a fresh token
conn_errors() { grep -c 'RTE link lost tenant=contoso reason="connection failed: ' "$T/daemon.log" || true; }
more_errors() { [ "$(conn_errors)" -gt "$1" ]; }
for st in 404 401; do
    n=$(link_count)
    e=$(conn_errors)
    fv_ctl POST hub/refuse "{\"status\":$st,\"count\":1}" >/dev/null
    fv_ctl POST ws/drop >/dev/null
    wait_line 10 "$T/fake-voice.log" "websocket upgrade refused path=/rte/hub status=$st" ||
        fail "upgrade not refused with $st"
    wait_for 10 more_errors "$e" || fail "connection error not seen for $st"
    relink "$n"
done
call_works
assert_absent "$FV_SECRET" "$T/daemon.log"
pass test_voice_tls
