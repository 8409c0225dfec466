#!/usr/bin/env bash
# broker-config/ in action: mosquitto runs with a copy of the committed
# mosquitto.conf (port and /etc, /var paths rewritten by sed, nothing else) and
# the committed acl file itself, with a CA, server certificate and password
# file made here. Over verified TLS (--cafile, never --insecure) it proves:
# the presence-sync account publishes and a consumer reads; a consumer cannot
# publish (its messages never arrive, nothing is retained); anonymous clients,
# wrong passwords, plain MQTT and clients that do not trust the CA are
# refused; and the real daemon connects with mqtts:// + ca_file + username +
# password_file, publishes B/state online retained for a consumer, and its
# will (offline) passes the ACL.
source "$(dirname "$0")/../lib/common.sh"

CONF=$PS_SRC/broker-config/mosquitto.conf
ACL=$PS_SRC/broker-config/acl
[ -f "$CONF" ] && [ -f "$ACL" ] || fail "broker-config/mosquitto.conf or acl missing"

# ---- TLS material: a CA, a server certificate for 127.0.0.1, a foreign CA ----
mkdir -p "$T/etc/ca_certificates" "$T/etc/certs" "$T/other" "$T/mosq"
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
make_ca() { # make_ca KEY CRT CN
    ec_key "$1"
    openssl req -x509 -new -key "$1" -out "$2" -days 2 -subj "/CN=$3" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null || fail "openssl: CA $3"
}
make_ca "$T/ca.key" "$T/etc/ca_certificates/ca.crt" "presence-sync test CA"
make_ca "$T/other/ca.key" "$T/other/ca.crt" "some other CA"
ec_key "$T/etc/certs/server.key"
openssl req -new -key "$T/etc/certs/server.key" -out "$T/server.csr" -subj "/CN=presence-sync test broker" \
    2>/dev/null || fail "openssl: server csr"
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/etc/ca_certificates/ca.crt" -CAkey "$T/ca.key" \
    -CAcreateserial -out "$T/etc/certs/server.crt" -days 2 -extfile "$T/server.ext" 2>/dev/null ||
    fail "openssl: server certificate"
CA=$T/etc/ca_certificates/ca.crt

# ---- accounts (throw-away passwords: -b is fine in a test) -------------------
DAEMON_PW="d+/=&%-$RANDOM$RANDOM"
CONSUMER_PW="c-$RANDOM$RANDOM"
touch "$T/etc/passwd"
mosquitto_passwd -b "$T/etc/passwd" presence-sync "$DAEMON_PW" || fail "mosquitto_passwd"
mosquitto_passwd -b "$T/etc/passwd" consumer "$CONSUMER_PW" || fail "mosquitto_passwd"
grep -qF "$DAEMON_PW" "$T/etc/passwd" && fail "password stored in clear"

# ---- the broker config, derived from the committed one -----------------------
MQTT_PORT=$(free_port)
sed -e "s|^listener 8883\$|listener $MQTT_PORT 127.0.0.1|" \
    -e "s|^acl_file /etc/mosquitto/acl\$|acl_file $ACL|" \
    -e "s|/etc/mosquitto/|$T/etc/|g" \
    -e "s|^persistence_location /var/lib/mosquitto/\$|persistence_location $T/mosq/|" \
    -e '/^#/d' "$CONF" >"$T/mosquitto.conf"
# keep our own user, so mosquitto can read the files under $T
echo "user $(id -un)" >>"$T/mosquitto.conf"
# the rewrite must have hit every line it aims at, and changed nothing else
grep -q "^listener $MQTT_PORT 127.0.0.1\$" "$T/mosquitto.conf" || fail "listener 8883 not found in $CONF"
grep -q "^acl_file $ACL\$" "$T/mosquitto.conf" || fail "acl_file /etc/mosquitto/acl not found in $CONF"
grep -q "^persistence_location $T/mosq/\$" "$T/mosquitto.conf" || fail "persistence_location not rewritten"
grep -Eq ' /(etc|var)/' "$T/mosquitto.conf" && fail "unrewritten path: $(grep -E ' /(etc|var)/' "$T/mosquitto.conf")"
for want in "allow_anonymous false" "persistence true" "password_file $T/etc/passwd" \
    "cafile $CA" "certfile $T/etc/certs/server.crt" "keyfile $T/etc/certs/server.key"; do
    grep -qx "$want" "$T/mosquitto.conf" || fail "derived config lacks '$want'"
done
[ "$(diff <(grep -v '^#' "$CONF") "$T/mosquitto.conf" | grep -c '^>')" -le 8 ] ||
    fail "derived config differs in more than the rewritten lines"

mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.log" 2>&1 &
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
mosquitto_passwd -b "$T/etc/passwd" stranger "$STRANGER_PW" || fail "mosquitto_passwd"
kill -HUP "$MOSQ_PID" # mosquitto re-reads the password file and the ACL
wait_for 5 grep -q 'Reloading config' "$T/mosquitto.log" || fail "mosquitto did not reload"
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
grep -q 'not authori' "$T/mosquitto.log" || fail "broker did not log a refused login"

# ---- the real daemon over mqtts:// --------------------------------------------
if [ ! -x "$PS_BIN" ]; then
    fail "presence-sync binary not built: $PS_BIN"
fi
HTTP_PORT=$(free_port)
mkdir -p "$T/ps/secrets"
printf '%s\n' "$DAEMON_PW" >"$T/ps/secrets/mqtt"
printf 'client-secret-acl\n' >"$T/ps/secrets/client"
printf 'svc-pass-acl\n' >"$T/ps/secrets/svc1"
printf 'voice-key-acl\n' >"$T/ps/secrets/voice"
chmod 600 "$T"/ps/secrets/*
write_config() { # write_config CA_FILE
    cat >"$T/ps/config.json" <<JSON
{
  "instance": "ps-acl",
  "mqtt": {"url": "mqtts://127.0.0.1:$MQTT_PORT", "username": "presence-sync",
           "password_file": "secrets/mqtt", "ca_file": "$1"},
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso",
    "users": ["alice@contoso.com"],
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
      "client_secret_file": "secrets/client",
      "service_accounts": [{"username": "svc1@contoso.com", "password_file": "secrets/svc1"}]
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice"}
  }]
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
start_daemon "$T/ps/config.json"
wait_for 10 state_is online || fail "daemon over mqtts: B/state not online for the consumer"
wait_line 5 "$T/watch.sub" '^[01] presence-sync/state \{"state":"online","instance":"ps-acl"' ||
    fail "consumer subscription did not see B/state online"
kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
wait_for 5 state_is offline || fail "daemon's will (offline) did not pass the ACL"
assert_absent "$DAEMON_PW" "$T/daemon.log" "$T/untrusted.log" "$T/mosquitto.log"
pass "broker_acl"
