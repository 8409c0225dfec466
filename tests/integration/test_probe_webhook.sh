#!/usr/bin/env bash
# `presence-sync probe`, the webhook from Graph's side with fake-graph:
# a public URL Graph cannot reach (nothing listens there: FAIL, exit 1); a
# listen address that is not this host's (FAIL, the system's reason); a
# public URL whose path the proxy does not pass as is (Graph reaches the
# listener at another path: named in the line); a service account that
# still holds the subscription of a daemon killed a moment ago (warn, the
# subscription is left alone); a running daemon (its port: warn, exit 0,
# its subscription and its B/state untouched).
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

pr_setup
DEAD_PORT=$(free_port)

# Graph cannot reach the public URL
pr_config "$PR_USERS" '.http.public_url = "http://127.0.0.1:'"$DEAD_PORT"'"'
pr_run unreachable
pr_rc unreachable 1
pr_line unreachable ok 'listener: listening on 127.0.0.1:'"$HTTP_PORT"
pr_line unreachable FAIL "validation: Graph's validation request never reached the listener; Graph refused the subscription: HTTP 400 ValidationError.*Fix: make http://127.0.0.1:$DEAD_PORT reachable from the internet.*curl -X POST 'http://127.0.0.1:$DEAD_PORT/graph/notify/contoso\\?validationToken=abc'"
[ "$(sim_subs | jq length)" = 0 ] || fail "a subscription was kept: $(sim_subs)"

# a listen address that is not this host's: FAIL with the system's reason
pr_config "$PR_USERS" '.http.listen = "192.0.2.1:'"$HTTP_PORT"'"'
pr_run badlisten
pr_rc badlisten 1
pr_line badlisten FAIL "listener: cannot listen on 192.0.2.1:$HTTP_PORT \\(http.listen\\): Cannot assign requested address; the webhook was not checked. Fix: http.listen must be an address of this host"

# a proxy that adds a path: Graph reaches the listener, at the wrong path
pr_config "$PR_USERS" '.http.public_url = "http://127.0.0.1:'"$HTTP_PORT"'/sync"'
pr_run prefix
pr_rc prefix 1
pr_line prefix FAIL "validation: Graph's validation request never reached the listener \\(a request reached it at POST /sync/graph/notify/contoso\\)"

# a daemon killed a moment ago left its subscription: the probe says so
# and leaves it alone (Graph allows one per account and app)
pr_config
start_daemon "$PR_CFG"
subs_are() { sim_subs | jqe "$1" >/dev/null; }
wait_for 20 subs_are 'length == 1' ||
    fail "the daemon made no subscription: $(tail -n 20 "$T/daemon.log")"
kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
SUB_ID=$(sim_subs | jq -r '.[0].id')
pr_run held
pr_rc held 0
pr_line held warn "subscriptions of svc1@contoso.com: it already holds a presence subscription \\(expires .*, notifications to http://127.0.0.1:$HTTP_PORT/graph/notify/contoso\\).*the probe leaves it alone.*Fix: nothing is wrong"
[ "$(sim_subs | jq -r '[.[].id] | join(",")')" = "$SUB_ID" ] ||
    fail "the probe touched the daemon's subscription: $(sim_subs)"

# a running daemon: its port is taken; nothing of it is touched
start_daemon "$PR_CFG"
state_online() { mqtt_retained ps/state | has '"state":"online"'; }
wait_for 20 state_online || fail "daemon not online"
# the killed one's subscription is ours (same configuration): adopted, not
# replaced (docs/ha.md)
wait_line 20 "$T/daemon.log" "subscription adopted tenant=contoso account=svc1@contoso.com id=$SUB_ID " ||
    fail "the daemon did not adopt its subscription: $(sim_subs)"
subs_are "length == 1 and .[0].id == \"$SUB_ID\"" || fail "subscriptions: $(sim_subs)"
SUB_ID=$(sim_subs | jq -r '.[0].id')
pr_run running --json
pr_rc running 0
pr_schema "$T/running.out"
jqe '.groups[] | select(.system == "webhook") | .checks == [.checks[0]] and
    (.checks[0] | .id == "webhook.listener" and .status == "warn" and
     (.reason | test("in use, probably by a running presence-sync")) and
     (.fix | test("systemctl stop presence-sync")))' "$T/running.out" >/dev/null ||
    fail "running daemon: $(jq -c '.groups[] | select(.system == "webhook")' "$T/running.out")"
[ "$(sim_subs | jq -r '[.[].id] | join(",")')" = "$SUB_ID" ] ||
    fail "the probe touched the running daemon's subscription: $(sim_subs)"
state_online || fail "B/state is not online after the probe"
kill -0 "$PS_PID" || fail "the daemon died"
pr_secrets "$T"/*.out "$T"/*.log
pass
