#!/usr/bin/env bash
# The Graph notification shapes end to end (mosquitto + fake-graph +
# fake-voice + the daemon with the mapper), one start per mode, basic then
# rich:
#  - the forms Microsoft publishes for naming the user of a bulk
#    subscription's item (docs/graph.md, "What Graph sends"), sent by
#    fake-graph itself: resource the URL-encoded filter over one id (the 2024
#    post, fake-graph's default), or the subscription's whole filter
#    (resourceData.@odata.id too), or the old per-user path. A Teams call in
#    each form reaches teams/<id>/busy and Voice 'talking' and back; basic
#    mode is said plainly in the log and B/health, rich mode is not;
#  - the conformance corpus (tests/conformance/graph/): each published
#    notification shape, with Microsoft's placeholders filled in for our
#    subscription and user, is POSTed by fake-graph to the daemon (for rich
#    items fake-graph encrypts the corpus' decrypted presence with our
#    certificate and signs real validationTokens), with fake-graph's own
#    notifications silenced, so only the corpus bodies can do it;
#  - nothing is counted malformed, unattributed, bad token, wrong tenant or
#    unknown subscription.
# Then the corpus lifecycle event makes the daemon reauthorize.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

CORPUS=$PS_SRC/tests/conformance/graph
ms_setup alice@contoso.com bob@contoso.com carol@contoso.com
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

# call_round FORM USER OUTCOME: one Teams call and its end, told by
# fake-graph itself in FORM; both items counted OUTCOME.
call_round() {
    local form=$1 user=$2 mode=$3 before after
    sim POST /settings "{\"resource_form\":\"$form\"}" >/dev/null
    before=$(metric "notifications_total{tenant=\"contoso\",outcome=\"$mode\"}")
    sim POST "/users/$user/start/call" >/dev/null
    wait_busy 10 "$user" true notification
    wait_v_talking 10 "$user" true
    sim POST "/users/$user/end/call" >/dev/null
    wait_busy 10 "$user" false notification
    wait_v_talking 10 "$user" false
    after=$(metric "notifications_total{tenant=\"contoso\",outcome=\"$mode\"}")
    [ "$after" -ge $((before + 2)) ] ||
        fail "$mode/$form: $((after - before)) items counted $mode, want 2"
    # what fake-graph sent was in that form
    local last
    last=$(sim GET /deliveries | jq -c '[.[] | select(.kind == "change")] | last | .body | fromjson | .value[0]')
    case $form in
    one_id) printf '%s' "$last" | jqe '.resource | test("^communications/presences\\?\\$filter=id\\+in\\+\\(%27[^%]+%27\\)$")' >/dev/null ;;
    all_ids) printf '%s' "$last" | jqe '(.resource | test("%2c")) and .resource == .resourceData["@odata.id"]' >/dev/null ;;
    path) printf '%s' "$last" | jqe '.resource | startswith("communications/presences/")' >/dev/null ;;
    esac || fail "$mode/$form: fake-graph sent $last"
    log "$mode/$form: $user Teams call -> busy -> Voice talking and back"
}

for mode in basic rich; do
    if [ "$mode" = rich ]; then MS_CERT=notify; else MS_CERT=; fi
    ms_config
    sim DELETE /deliveries >/dev/null
    # the last run's subscription goes, so the wait below sees this run's
    for id in $(sim_subs | jq -r '.[].id'); do sim POST "/subscriptions/$id/expire" >/dev/null; done
    ms_start
    # the subscription of this run is the only one, and it is rich or basic as configured
    sim_subs | jqe --argjson rich "$([ "$mode" = rich ] && echo true || echo false)" \
        'length == 1 and .[0].includeResourceData == $rich' >/dev/null ||
        fail "$mode: subscriptions $(sim_subs)"
    [ "$mode" = rich ] && outcome=applied || outcome=basic
    # basic: said plainly in the log at start and in B/health; rich: not
    notice='Microsoft recommends rich notifications to see changes during an active meeting call'
    if [ "$mode" = basic ]; then
        grep -q "basic notifications tenant=contoso: .*$notice" "$T/daemon.log" || fail "basic not logged"
        mqtt_retained ps/health | jqe --arg n "$notice" '.tenants.contoso.graph.notifications == "basic" and
            (.tenants.contoso.graph.notifications_notice | contains($n))' >/dev/null ||
            fail "B/health does not say basic: $(mqtt_retained ps/health | jq -c .tenants.contoso.graph)"
    else
        mqtt_retained ps/health | jqe '.tenants.contoso.graph.notifications == "rich" and
            (.tenants.contoso.graph | has("notifications_notice") | not)' >/dev/null ||
            fail "B/health in rich mode: $(mqtt_retained ps/health | jq -c .tenants.contoso.graph)"
    fi
    # fake-graph's own notifications, in each form
    call_round one_id alice@contoso.com "$outcome"
    call_round all_ids bob@contoso.com "$outcome"
    call_round path carol@contoso.com "$outcome"
    sim POST /settings '{"resource_form":"one_id"}' >/dev/null
    # the corpus bodies, fake-graph's own silenced
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
    pass "$mode mode: the three forms and the corpus bodies"
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
