#!/usr/bin/env bash
# core/bus.c over mqtts:// (docs/mqtt.md): with mqtt.ca_file naming the CA
# that signed the broker's certificate it connects; with another CA, or with
# a certificate for a different host name, it must not connect.
source "$(dirname "$0")/../lib/common.sh"

PROBE=${BUS_PROBE:-$PS_BUILD/tests/tools/bus_probe}
[ -x "$PROBE" ] || fail "bus_probe not built: $PROBE"

# make_ca NAME; make_cert CA NAME DNS: a CA, and a server certificate it signs.
make_ca() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1 test CA" \
        -keyout "$T/$1.key" -out "$T/$1.pem" >/dev/null 2>&1 || fail "openssl CA $1"
}
make_cert() {
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$T/$2.key" -out "$T/$2.csr" \
        >/dev/null 2>&1 || fail "openssl csr $2"
    printf 'subjectAltName=DNS:%s\n' "$3" >"$T/$2.ext"
    openssl x509 -req -in "$T/$2.csr" -CA "$T/$1.pem" -CAkey "$T/$1.key" -CAcreateserial \
        -days 2 -extfile "$T/$2.ext" -out "$T/$2.pem" >/dev/null 2>&1 || fail "openssl sign $2"
}
make_ca good
make_ca other
make_cert good server localhost
make_cert good wrongname other.example.com

# tls_broker NAME CERT: a TLS-only mosquitto; sets MQTT_PORT.
tls_broker() {
    MQTT_PORT=$(free_port)
    mkdir -p "$T/$1"
    cat >"$T/$1.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
cafile $T/good.pem
certfile $T/$2.pem
keyfile $T/$2.key
user $(id -un)
CONF
    mosquitto -c "$T/$1.conf" >>"$T/mosquitto-$1.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 port_open "$MQTT_PORT" || fail "TLS mosquitto did not start"
}

# probe NAME CA: run bus_probe for 4 s against mqtts://localhost:$MQTT_PORT.
probe() {
    (
        sleep 4
        echo stop
    ) | "$PROBE" --url "mqtts://localhost:$MQTT_PORT" --client-id "tls-$1" --ca-file "$2" \
        --state-topic "tls/$1/state" >"$T/$1.out" 2>"$T/$1.log" || true
}

tls_broker b1 server
probe ok "$T/good.pem"
grep -q '^connected$' "$T/ok.out" || fail "no TLS connection with the right CA: $(cat "$T/ok.log")"
sub=$(mosquitto_sub -p "$MQTT_PORT" -h localhost --cafile "$T/good.pem" -t tls/ok/state -C 1 \
    -W 3 --retained-only 2>/dev/null || true)
[ "$sub" = '{"state":"offline"}' ] || fail "state over TLS: '$sub'"

probe badca "$T/other.pem"
grep -q '^connected$' "$T/badca.out" && fail "connected although the CA does not match"
grep -q 'connect failed' "$T/badca.log" || fail "refused TLS connect not logged"
grep -q 'tls error=.*certificate verify failed' "$T/badca.log" || fail "TLS reason not logged"

tls_broker b2 wrongname
probe badname "$T/good.pem"
grep -q '^connected$' "$T/badname.out" && fail "connected to a certificate for another host name"
# (Paho checks the host name after the handshake: no OpenSSL reason here)
grep -q 'connect failed' "$T/badname.log" || fail "host name mismatch not logged"

grep -l -E 'Sanitizer|runtime error' "$T"/*.log && fail "sanitizer report in the logs"
pass "bus_tls"
