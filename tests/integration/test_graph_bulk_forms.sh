#!/usr/bin/env bash
# Graph names the user of a bulk subscription's item the way Microsoft
# publishes it (docs/graph.md, "What Graph sends"): resource is the
# URL-encoded filter over one id (the 2024 post, fake-graph's default), or
# the subscription's whole filter (resourceData.@odata.id too); the old
# per-user path still works. In basic and in rich mode, a Teams call in each
# form reaches teams/<id>/busy and Voice 'talking' (mosquitto + fake-graph +
# fake-voice + the daemon with the mapper), and nothing is counted malformed.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com
make_cert notify

# form USER MODE: one Teams call and its end, in the current form.
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
    call_round one_id alice@contoso.com "$outcome"
    call_round all_ids bob@contoso.com "$outcome"
    call_round path carol@contoso.com "$outcome"
    for o in malformed unattributed bad_validation_token wrong_tenant; do
        [ "$(metric "notifications_total{tenant=\"contoso\",outcome=\"$o\"}")" = 0 ] ||
            fail "$mode: items counted $o"
    done
    kill -TERM "$PS_PID"
    wait "$PS_PID" || fail "$mode: daemon exit code $?"
    pass "$mode mode, all three forms"
    sim POST /settings '{"resource_form":"one_id"}' >/dev/null
done
pass
