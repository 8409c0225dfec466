#!/usr/bin/env bash
# TLS and the broker's ACL, end to end, on one test CA (and a foreign one)
# and one server certificate for 127.0.0.1, made once. Three parts:
#
# voice: the real wire forms (docs/voice.md "RTE"): fake-voice answers as
# Enreach does (WSSEndpoint without a scheme, discovery with https), over TLS
# with the test certificate. Without voice.ca_file the daemon refuses the
# certificate (B/health says why); with it the link comes up. Then the
# negotiate answers a real hub may give: version 0 (no connectionToken), a
# redirect (url, accessToken, as Azure SignalR Service answers) and an
# error; and upgrades refused before the 101 (404 unknown connection id, 401
# bad token): the daemon's connection-error path logs the status and
# reconnects with a fresh token.
#
# acl: broker-config/ in action: mosquitto runs with a copy of the committed
# mosquitto.conf (port and /etc, /var paths rewritten by sed, nothing else)
# and the committed acl file itself, with the CA, the server certificate and
# a password file made here. Over verified TLS (--cafile, never --insecure)
# it proves: the presence-sync account publishes and a consumer reads; a
# consumer cannot publish (its messages never arrive, nothing is retained);
# anonymous clients, wrong passwords, plain MQTT and clients that do not
# trust the CA are refused; and the real daemon connects with mqtts:// +
# ca_file + username + password_file, publishes B/state online retained for
# a consumer, and its will (offline) passes the ACL.
#
# bus: core/bus.c over mqtts:// (docs/mqtt.md), against the same broker:
# with mqtt.ca_file naming the CA that signed the broker's certificate it
# connects; with another CA, or by a host name the certificate does not
# hold, it must not connect.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

CONF=$PS_SRC/broker-config/mosquitto.conf
ACL=$PS_SRC/broker-config/acl
[ -f "$CONF" ] && [ -f "$ACL" ] || fail "broker-config/mosquitto.conf or acl missing"
PROBE=${BUS_PROBE:-$PS_BUILD/tests/tools/bus_probe}
[ -x "$PROBE" ] || fail "bus_probe not built: $PROBE"

# ---- TLS material: a CA, a server certificate for 127.0.0.1, a foreign CA ----
mkdir -p "$T/acl/ca_certificates" "$T/acl/certs" "$T/other" "$T/acl-mosq"
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
make_ca() { # make_ca KEY CRT CN
    ec_key "$1"
    openssl req -x509 -new -key "$1" -out "$2" -days 2 -subj "/CN=$3" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null || fail "openssl: CA $3"
}
make_ca "$T/ca.key" "$T/acl/ca_certificates/ca.crt" "presence-sync test CA"
make_ca "$T/other/ca.key" "$T/other/ca.crt" "some other CA"
ec_key "$T/acl/certs/server.key"
openssl req -new -key "$T/acl/certs/server.key" -out "$T/server.csr" -subj "/CN=presence-sync test broker" \
    2>/dev/null || fail "openssl: server csr"
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/acl/ca_certificates/ca.crt" -CAkey "$T/ca.key" \
    -CAcreateserial -out "$T/acl/certs/server.crt" -days 2 -extfile "$T/server.ext" 2>/dev/null ||
    fail "openssl: server certificate"
CA=$T/acl/ca_certificates/ca.crt

# ---- fake-voice over TLS -------------------------------------------------------
log "voice"
# fake-voice serves the shared server certificate (fv_cert keeps one that
# is there); the daemon is given the CA that signed it
cp "$T/acl/certs/server.crt" "$T/fv-ca.pem"
cp "$T/acl/certs/server.key" "$T/fv-key.pem"
chmod 600 "$T/fv-key.pem"
FV_TLS=1
vs_setup
fv_user alice@contoso.com >/dev/null
# WSSEndpoint has no scheme
WSS=$(fv_token)
case $WSS in http* | ws*) fail "WSSEndpoint has a scheme: $WSS" ;; esac
[ "$WSS" = "127.0.0.1:$FV_TLS_PORT/rte/hub" ] || fail "WSSEndpoint: $WSS"

# 1. without ca_file: the certificate is refused
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
kill -TERM "$PS_PID"
wait "$PS_PID" || fail "exit code $? after SIGTERM (voice)"

# ---- broker-config/ over TLS --------------------------------------------------
log "acl"
# ---- accounts (throw-away passwords: -b is fine in a test) -------------------
DAEMON_PW="d+/=&%-$RANDOM$RANDOM"
CONSUMER_PW="c-$RANDOM$RANDOM"
touch "$T/acl/passwd"
mosquitto_passwd -b "$T/acl/passwd" presence-sync "$DAEMON_PW" || fail "mosquitto_passwd"
mosquitto_passwd -b "$T/acl/passwd" consumer "$CONSUMER_PW" || fail "mosquitto_passwd"
grep -qF "$DAEMON_PW" "$T/acl/passwd" && fail "password stored in clear"

# ---- the broker config, derived from the committed one -----------------------
MQTT_PORT=$(free_port)
sed -e "s|^listener 8883\$|listener $MQTT_PORT 127.0.0.1|" \
    -e "s|^acl_file /etc/mosquitto/acl\$|acl_file $ACL|" \
    -e "s|/etc/mosquitto/|$T/acl/|g" \
    -e "s|^persistence_location /var/lib/mosquitto/\$|persistence_location $T/acl-mosq/|" \
    -e '/^#/d' "$CONF" >"$T/acl-mosquitto.conf"
# keep our own user, so mosquitto can read the files under $T
echo "user $(id -un)" >>"$T/acl-mosquitto.conf"
# the rewrite must have hit every line it aims at, and changed nothing else
grep -q "^listener $MQTT_PORT 127.0.0.1\$" "$T/acl-mosquitto.conf" || fail "listener 8883 not found in $CONF"
grep -q "^acl_file $ACL\$" "$T/acl-mosquitto.conf" || fail "acl_file /etc/mosquitto/acl not found in $CONF"
grep -q "^persistence_location $T/acl-mosq/\$" "$T/acl-mosquitto.conf" || fail "persistence_location not rewritten"
grep -Eq ' /(etc|var)/' "$T/acl-mosquitto.conf" && fail "unrewritten path: $(grep -E ' /(etc|var)/' "$T/acl-mosquitto.conf")"
for want in "allow_anonymous false" "persistence true" "password_file $T/acl/passwd" \
    "cafile $CA" "certfile $T/acl/certs/server.crt" "keyfile $T/acl/certs/server.key"; do
    grep -qx "$want" "$T/acl-mosquitto.conf" || fail "derived config lacks '$want'"
done
[ "$(diff <(grep -v '^#' "$CONF") "$T/acl-mosquitto.conf" | grep -c '^>')" -le 8 ] ||
    fail "derived config differs in more than the rewritten lines"

mosquitto -c "$T/acl-mosquitto.conf" >>"$T/acl-mosquitto.log" 2>&1 &
MOSQ_PID=$!
PIDS+=("$MOSQ_PID")
wait_for 10 port_open "$MQTT_PORT" || fail "mosquitto did not start with the production config"

# ---- clients ---------------------------------------------------------------
TLS=(-h 127.0.0.1 -p "$MQTT_PORT" --cafile "$CA")
AS_DAEMON=(-u presence-sync -P "$DAEMON_PW")
AS_CONSUMER=(-u consumer -P "$CONSUMER_PW")
pub() { timeout 10 mosquitto_pub "$@" -q 1 >>"$T/clients.log" 2>&1; }
retained() { # retained TOPIC CLIENT-ARGS...: the retained payload, empty if none
    local topic=$1
    shift
    timeout 10 mosquitto_sub "${TLS[@]}" "$@" -t "$topic" -C 1 -W 2 --retained-only 2>/dev/null || true
}
consumer_sub() { # consumer_sub NAME: record teams/, voice/ and bridge topics as the consumer
    mosquitto_sub "${TLS[@]}" "${AS_CONSUMER[@]}" -q 1 -v -F '%r %t %p' -t 'teams/#' -t 'voice/#' \
        -t 'presence-sync/#' >"$T/$1.sub" 2>>"$T/clients.log" &
    PIDS+=($!)
}

consumer_sub watch
# the daemon account writes, the consumer reads (retry until the subscription is up)
n=0
until grep -q ' teams/ready@x.com/busy hello' "$T/watch.sub" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -le 50 ] || fail "consumer never received the daemon account's message: $(cat "$T/clients.log")"
    pub "${TLS[@]}" "${AS_DAEMON[@]}" -t teams/ready@x.com/busy -m hello || fail "daemon account cannot publish"
    sleep 0.2
done

# a consumer may not publish, in either protocol, retained or not
for v in mqttv311 mqttv5; do
    pub "${TLS[@]}" "${AS_CONSUMER[@]}" -V "$v" -t teams/alice@x.com/busy -m "forged-$v" || true
    pub "${TLS[@]}" "${AS_CONSUMER[@]}" -V "$v" -r -t voice/alice@x.com/talking -m "forged-$v" || true
    pub "${TLS[@]}" "${AS_CONSUMER[@]}" -V "$v" -r -t presence-sync/state -m "forged-$v" || true
done
# then the daemon account: once its message is in, the consumer's would be too
pub "${TLS[@]}" "${AS_DAEMON[@]}" -r -t teams/alice@x.com/busy -m '{"busy":true}' || fail "daemon publish"
pub "${TLS[@]}" "${AS_DAEMON[@]}" -r -t voice/alice@x.com/talking -m '{"talking":false}' || fail "daemon publish"
wait_line 5 "$T/watch.sub" '^1 voice/alice@x.com/talking \{"talking":false\}$|^0 voice/alice@x.com/talking \{"talking":false\}$' ||
    fail "daemon account's voice message did not arrive"
grep -q forged "$T/watch.sub" && fail "a consumer's publish was delivered: $(grep forged "$T/watch.sub")"
grep -q ' teams/alice@x.com/busy {"busy":true}$' "$T/watch.sub" || fail "daemon's teams message missing"
[ "$(retained voice/alice@x.com/talking "${AS_CONSUMER[@]}")" = '{"talking":false}' ] ||
    fail "consumer does not read the daemon's retained value"
[ -z "$(retained presence-sync/state "${AS_DAEMON[@]}")" ] || fail "consumer's retained publish was stored"

# an account without a block in the acl reads nothing
STRANGER_PW="s-$RANDOM$RANDOM"
mosquitto_passwd -b "$T/acl/passwd" stranger "$STRANGER_PW" || fail "mosquitto_passwd"
kill -HUP "$MOSQ_PID" # mosquitto re-reads the password file and the ACL
wait_for 5 grep -q 'Reloading config' "$T/acl-mosquitto.log" || fail "mosquitto did not reload"
sleep 0.3
[ -z "$(retained voice/alice@x.com/talking -u stranger -P "$STRANGER_PW")" ] ||
    fail "an account without an ACL block read a state topic"
# anonymous, wrong password, no TLS, untrusted CA: refused, nothing delivered
pub "${TLS[@]}" -t teams/alice@x.com/busy -m forged-anonymous && fail "anonymous client was accepted"
pub "${TLS[@]}" -u presence-sync -P "wrong-$DAEMON_PW" -t teams/alice@x.com/busy -m forged-badpw &&
    fail "wrong password was accepted"
pub -h 127.0.0.1 -p "$MQTT_PORT" "${AS_DAEMON[@]}" -t teams/alice@x.com/busy -m forged-plain &&
    fail "plain MQTT was accepted on the TLS listener"
pub -h 127.0.0.1 -p "$MQTT_PORT" --cafile "$T/other/ca.crt" "${AS_DAEMON[@]}" \
    -t teams/alice@x.com/busy -m forged-untrusted && fail "a client that does not trust the CA connected"
# host name verification is on: the certificate names IP 127.0.0.1, not "localhost"
if getent ahostsv4 localhost | has '^127\.0\.0\.1 '; then
    timeout 10 mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" "${AS_DAEMON[@]}" -q 1 \
        -t teams/alice@x.com/busy -m forged-hostname >"$T/hostname.out" 2>&1 &&
        fail "certificate accepted for a name it does not hold"
    grep -q TLS "$T/hostname.out" || fail "host name check: not a TLS error: $(cat "$T/hostname.out")"
else
    log "skipped the host name check: localhost does not resolve to 127.0.0.1 here"
fi
pub "${TLS[@]}" "${AS_DAEMON[@]}" -t teams/alice@x.com/busy -m marker2 || fail "daemon publish"
wait_line 5 "$T/watch.sub" ' teams/alice@x.com/busy marker2$' || fail "marker2 missing"
grep -q forged "$T/watch.sub" && fail "a refused client's publish was delivered: $(grep forged "$T/watch.sub")"
grep -q 'not authori' "$T/acl-mosquitto.log" || fail "broker did not log a refused login"

# ---- the real daemon over mqtts:// --------------------------------------------
if [ ! -x "$PS_BIN" ]; then
    fail "presence-sync binary not built: $PS_BIN"
fi
ACL_HTTP=$(free_port)
secret_files "$T/ps" mqtt="$DAEMON_PW" client=client-secret-acl svc1=svc-pass-acl voice=voice-key-acl
write_config() { # write_config CA_FILE
    cat >"$T/ps/config.json" <<JSON
{
  "instance": "ps-acl",
  "mqtt": {"url": "mqtts://127.0.0.1:$MQTT_PORT", "username": "presence-sync",
           "password_file": "secrets/mqtt", "ca_file": "$1"},
  "http": {"listen": "127.0.0.1:$ACL_HTTP", "public_url": "https://sync.example.com"},
  "tenants": [$(contoso_tenant '["alice@contoso.com"]')]
}
JSON
}
state_is() { retained presence-sync/state "${AS_CONSUMER[@]}" | has "\"state\":\"$1\""; }

# a daemon that does not trust the broker's CA never connects
write_config "$T/other/ca.crt"
start_daemon "$T/ps/config.json" untrusted
sleep 3
grep -q 'mqtt connected' "$T/untrusted.log" && fail "daemon connected although it does not trust the CA"
state_is online && fail "B/state online from a daemon that does not trust the CA"
kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true

write_config "$CA"
start_daemon "$T/ps/config.json" acl
wait_for 10 state_is online || fail "daemon over mqtts: B/state not online for the consumer"
wait_line 5 "$T/watch.sub" '^[01] presence-sync/state \{"state":"online","instance":"ps-acl"' ||
    fail "consumer subscription did not see B/state online"
kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
wait_for 5 state_is offline || fail "daemon's will (offline) did not pass the ACL"
assert_absent "$DAEMON_PW" "$T/acl.log" "$T/untrusted.log" "$T/acl-mosquitto.log"

# ---- core/bus.c over mqtts:// -------------------------------------------------
log "bus"
export PROBE_PW=$DAEMON_PW
# probe NAME CA [HOST]: bus_probe for 4 s as the presence-sync account
# against mqtts://HOST:$MQTT_PORT (127.0.0.1 by default).
probe() {
    (
        sleep 4
        echo stop
    ) | "$PROBE" --url "mqtts://${3:-127.0.0.1}:$MQTT_PORT" --client-id "tls-$1" --ca-file "$2" \
        --username presence-sync --password-env PROBE_PW \
        --state-topic "presence-sync/tls-$1/state" >"$T/$1.out" 2>"$T/$1.log" || true
}
# the three at once: each is its own client
probe ok "$CA" &
PROBES=($!)
probe badca "$T/other/ca.crt" &
PROBES+=($!)
NAME_CHECK=0
if getent ahostsv4 localhost | has '^127\.0\.0\.1 '; then
    NAME_CHECK=1
    probe badname "$CA" localhost &
    PROBES+=($!)
fi
wait "${PROBES[@]}"
grep -q '^connected$' "$T/ok.out" || fail "no TLS connection with the right CA: $(cat "$T/ok.log")"
[ "$(retained presence-sync/tls-ok/state "${AS_CONSUMER[@]}")" = '{"state":"offline"}' ] ||
    fail "state over TLS: '$(retained presence-sync/tls-ok/state "${AS_CONSUMER[@]}")'"
grep -q '^connected$' "$T/badca.out" && fail "connected although the CA does not match"
grep -q 'connect failed' "$T/badca.log" || fail "refused TLS connect not logged"
grep -q 'tls error=.*certificate verify failed' "$T/badca.log" || fail "TLS reason not logged"
if [ "$NAME_CHECK" = 1 ]; then
    grep -q '^connected$' "$T/badname.out" && fail "connected by a host name the certificate does not hold"
    # (Paho checks the host name after the handshake: no OpenSSL reason here)
    grep -q 'connect failed' "$T/badname.log" || fail "host name mismatch not logged"
else
    log "skipped the bus's host name check: localhost does not resolve to 127.0.0.1 here"
fi

grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass
