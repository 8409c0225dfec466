#!/usr/bin/env bash
# The conformance corpus end to end (tests/conformance/graph/, docs/graph.md):
# each published notification shape, with Microsoft's placeholders filled in
# for our subscription and user, is POSTed by fake-graph to the daemon (for
# rich items fake-graph encrypts the corpus' decrypted presence with our
# certificate and signs real validationTokens). A Teams call in -> the
# daemon's teams/<id>/busy -> Voice 'talking' out, and back. fake-graph's own
# notifications are silenced, so only the corpus bodies can do it. The
# corpus lifecycle event makes the daemon reauthorize.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

CORPUS=$PS_SRC/tests/conformance/graph
ms_setup alice@contoso.com bob@contoso.com
make_cert notify
ALICE=$(sim GET /users/alice@contoso.com | jq -r .id)
BOB=$(sim GET /users/bob@contoso.com | jq -r .id)

# fill FILE: the corpus body for our subscription, alice as the user; the
# two ids of the whole-filter capture become alice's and bob's.
fill() {
    sed -e "s/{userId}/$ALICE/g; s/{User Id}/$ALICE/g; s/{id}/$ALICE/g" \
        -e "s/ec12b2fe-4f61-42cf-8b4a-d42174e137db/$ALICE/g" \
        -e "s/2ffaaf66-4421-4776-a294-c48790fc3c3a/$BOB/g" "$CORPUS/$1" |
        jq -c --arg s "$SUB" --arg c "$CS" --arg t "$TENANT_ID" '
            .value |= map(.subscriptionId = $s | .clientState = $c | .tenantId = $t |
                          if has("organizationId") then .organizationId = $t else . end)'
}
# presence AVAILABILITY ACTIVITY: the corpus' decrypted presence for alice.
presence() {
    sed -e "s/{User Id}/$ALICE/g; s/{Availability}/$1/g; s/{Activity}/$2/g" \
        "$CORPUS/notification-rich-decrypted.json" | jq -c .
}
deliver() { # FILE AVAILABILITY ACTIVITY
    sim POST "/subscriptions/$SUB/deliver" "$(jq -nc --argjson n "$(fill "$1")" \
        --argjson p "$(presence "$2" "$3")" '{notification: $n, presence: $p}')" |
        jqe '.error | not' >/dev/null || fail "fake-graph refused to deliver $1"
}

# one corpus file: call in Teams (fake-graph's state), the corpus body tells
# the daemon; then the end of the call, the same way
round() {
    local file=$1 outcome=$2 before
    before=$(metric "notifications_total{tenant=\"contoso\",outcome=\"$outcome\"}")
    sim POST /users/alice@contoso.com/start/call >/dev/null
    deliver "$file" Busy InACall
    wait_busy 10 alice@contoso.com true notification
    wait_v_talking 10 alice@contoso.com true
    sim POST /users/alice@contoso.com/end/call >/dev/null
    deliver "$file" Available Available
    wait_busy 10 alice@contoso.com false notification
    wait_v_talking 10 alice@contoso.com false
    [ "$(metric "notifications_total{tenant=\"contoso\",outcome=\"$outcome\"}")" -ge $((before + 2)) ] ||
        fail "$file: not counted $outcome"
    log "$file: Teams call -> busy -> Voice talking -> idle"
}

for mode in basic rich; do
    if [ "$mode" = rich ]; then MS_CERT=notify; else MS_CERT=; fi
    ms_config
    for id in $(sim_subs | jq -r '.[].id'); do sim POST "/subscriptions/$id/expire" >/dev/null; done
    ms_start
    SUB=$(sim_subs | jq -r '.[0].id')
    CS=$(sim_subs | jq -r '.[0].clientState')
    sim POST "/subscriptions/$SUB/silence" '{"silent":true}' >/dev/null
    if [ "$mode" = basic ]; then
        round notification-basic-bulk-one-id.json basic
        round notification-basic-single.json basic
        round notification-bulk-whole-filter.json basic
    else
        round notification-rich-single.json applied
        round notification-rich-bulk-one-id.json applied
        round notification-rich-bulk-whole-filter.json applied
    fi
    for o in malformed unattributed bad_validation_token wrong_tenant unknown_subscription; do
        [ "$(metric "notifications_total{tenant=\"contoso\",outcome=\"$o\"}")" = 0 ] ||
            fail "$mode: items counted $o"
    done
    kill -TERM "$PS_PID"
    wait "$PS_PID" || fail "$mode: daemon exit code $?"
    pass "$mode corpus bodies"
done

# the corpus lifecycle event: reauthorize (the token is fresh: no new sign-in)
ms_start
SUB=$(sim_subs | jq -r '.[0].id')
CS=$(sim_subs | jq -r '.[0].clientState')
tokens() { sim GET /requests | jq '[.[] | select(.path | endswith("/oauth2/v2.0/token")) |
    select(.auth | test("svc1@contoso.com"))] | length'; }
t0=$(tokens)
sim POST "/subscriptions/$SUB/deliver" "$(jq -nc --argjson n "$(fill lifecycle-reauthorizationRequired.json)" \
    '{notification: $n, to: "lifecycle"}')" >/dev/null
reauth() { sim GET /requests | jqe --arg p "/v1.0/subscriptions/$SUB/reauthorize" \
    '[.[] | select(.path == $p and .status == 204)] | length >= 1' >/dev/null; }
wait_for 10 reauth || fail "the corpus reauthorizationRequired did not reauthorize"
[ "$(tokens)" = "$t0" ] || fail "reauthorization fetched a new token although the current one is fresh"
pass
