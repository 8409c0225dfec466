#!/usr/bin/env bash
# `presence-sync probe`, MQTT with a mosquitto that has a password file and
# an acl_file: an ACL that does not let the account write voice/# gives the
# Voice side's line FAIL with the broker's answer (MQTT 5: reason code 0x87;
# MQTT 3.1.1: the publish never comes back) and exit 1, while every other
# topic passes; a wrong password fails the connect with its fix. The
# password never appears in the output or the capture.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

command -v mosquitto_passwd >/dev/null || fail "mosquitto_passwd is needed (mosquitto)"
MQ_PW="mq+/=&%-$RANDOM$RANDOM"
touch "$T/passwd"
mosquitto_passwd -b "$T/passwd" presence-sync "$MQ_PW" || fail "mosquitto_passwd"
# the committed ACL without the Voice side's topics
grep -v '^topic readwrite voice/#$' "$PS_SRC/broker-config/acl" |
    sed 's|presence-sync/#|ps/#|' >"$T/acl"
grep -q '^topic readwrite voice/#' "$T/acl" && fail "the ACL still allows voice/#"
start_mosquitto "allow_anonymous false
password_file $T/passwd
acl_file $T/acl"
printf '%s\n' "$MQ_PW" >"$T/mqtt_password"
chmod 600 "$T/mqtt_password"
pr_setup
MQ_EDIT='.mqtt.username = "presence-sync" | .mqtt.password_file = "'"$T/mqtt_password"'"'

# MQTT 5: the broker refuses the publish with 0x87
pr_config "$PR_USERS" "$MQ_EDIT"
pr_run acl5 --capture "$T/cap"
pr_rc acl5 1
pr_line acl5 ok "connect: mqtt://127.0.0.1:$MQTT_PORT as presence-sync, MQTT 5, no TLS"
pr_line acl5 ok 'publish and subscribe'
pr_line acl5 ok 'retained message'
pr_line acl5 FAIL 'write voice/presence-sync-probe/talking: refused \(the Voice side\): not authorized \(MQTT 5 reason code 0x87\)\. Fix: let the account write voice/presence-sync-probe/talking in the broker'"'"'s ACL'
pr_line acl5 ok 'write teams/presence-sync-probe/busy: allowed'
pr_line acl5 ok 'write ps/state: allowed'
pr_line acl5 ok 'write ps/health: allowed'
[ "$(grep -c '^  FAIL  ' "$T/acl5.out")" = 1 ] || fail "more than one FAIL: $(grep FAIL "$T/acl5.out")"
grep -q '^Summary: [0-9]* ok, 0 warn, 1 FAIL' "$T/acl5.out" || fail "summary: $(tail -n1 "$T/acl5.out")"
jqe -s '[.[] | select(.dir == "publish" and .topic == "voice/presence-sync-probe/talking")] |
    length == 1 and (.[0].result | test("refused .*reason_code=135"))' "$T/cap/mqtt.jsonl" \
    >/dev/null || fail "the refused publish is not in the capture: $(cat "$T/cap/mqtt.jsonl")"

# MQTT 3.1.1: no answer for a refused publish; the probe reads it back
pr_config "$PR_USERS" "$MQ_EDIT"' | .mqtt.protocol = "3.1.1"'
pr_run acl4 --json
pr_rc acl4 1
pr_schema "$T/acl4.out"
jqe '[.groups[] | select(.system == "mqtt") | .checks[] | select(.status == "fail")] |
    length == 1 and (.[0] | .id == "mqtt.acl" and .name == "write voice/presence-sync-probe/talking"
    and (.reason | test("not delivered \\(the Voice side\\): with MQTT 3.1.1"))
    and (.fix | test("broker-config/acl")))' "$T/acl4.out" >/dev/null ||
    fail "MQTT 3.1.1 ACL: $(jq -c '.groups[] | select(.system == "mqtt")' "$T/acl4.out")"
jqe '.result == "fail" and .exit_code == 1 and .counts.fail == 1' "$T/acl4.out" >/dev/null ||
    fail "counts: $(jq -c '{result, exit_code, counts}' "$T/acl4.out")"

# a wrong password: the connect fails, nothing else of MQTT is tried
printf 'wrong-password\n' >"$T/wrong_password"
chmod 600 "$T/wrong_password"
pr_config "$PR_USERS" "$MQ_EDIT"' | .mqtt.password_file = "'"$T/wrong_password"'"'
pr_run badpw
pr_rc badpw 1
pr_line badpw FAIL "connect: mqtt://127.0.0.1:$MQTT_PORT as presence-sync: .*Fix: check mqtt.username and the password in mqtt.password_file"
grep -q 'publish and subscribe' "$T/badpw.out" && fail "round trip tried without a connection"

pr_secrets "$T"/*.out "$T"/*.log "$T"/cap/*
assert_absent "$MQ_PW" "$T"/*.out "$T"/*.log "$T"/cap/*
pass
