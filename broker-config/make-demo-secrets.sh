#!/usr/bin/env bash
# make-demo-secrets.sh [DIR]: throw-away secrets for the docker-compose demo
# (default DIR: ./secrets, which .gitignore and .dockerignore exclude).
#
#   DIR/broker/ca.crt, server.crt, server.key   a private CA and a server
#                  certificate for the names "mosquitto" (the compose service),
#                  "localhost" and 127.0.0.1
#   DIR/broker/passwd                           mosquitto password file with the
#                  accounts presence-sync and consumer
#   DIR/mqtt_password, DIR/consumer_password     their passwords
#   DIR/graph_client_secret, DIR/graph_svc1_password, DIR/voice_secret_key
#                  random values shared by the daemon and the simulators
#
# Every value is random and new on each run; an existing DIR is refused, so
# nothing is overwritten. For a real deployment make your own certificate and
# passwords (broker-config/README.md, docs/security.md).
set -euo pipefail

dir=${1:-./secrets}
if [ -e "$dir" ]; then
    echo "make-demo-secrets: $dir exists; remove it or name another directory" >&2
    exit 2
fi
for tool in openssl mosquitto_passwd; do
    command -v "$tool" >/dev/null || {
        echo "make-demo-secrets: $tool not found (Debian packages openssl, mosquitto)" >&2
        exit 2
    }
done

umask 077
mkdir -p "$dir/broker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 32 random bytes, base64: printable, and with + / = in it on purpose.
random_secret() { openssl rand -base64 32; }

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca.key" -out "$dir/broker/ca.crt" -days 825 \
    -subj "/CN=presence-sync demo CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/broker/server.key" 2>/dev/null
openssl req -new -key "$dir/broker/server.key" -out "$work/server.csr" -subj "/CN=mosquitto"
printf '%s\n' "subjectAltName=DNS:mosquitto,DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$dir/broker/ca.crt" -CAkey "$work/ca.key" \
    -CAserial "$work/ca.srl" -CAcreateserial -out "$dir/broker/server.crt" -days 825 -extfile "$work/server.ext" 2>/dev/null

random_secret >"$dir/mqtt_password"
random_secret >"$dir/consumer_password"
random_secret >"$dir/graph_client_secret"
random_secret >"$dir/graph_svc1_password"
random_secret >"$dir/voice_secret_key"

# mosquitto_passwd -b takes the password in argv: acceptable for a throw-away
# demo on your own machine only. The file keeps salted hashes.
touch "$dir/broker/passwd"
mosquitto_passwd -b "$dir/broker/passwd" presence-sync "$(cat "$dir/mqtt_password")"
mosquitto_passwd -b "$dir/broker/passwd" consumer "$(cat "$dir/consumer_password")"

# The containers run as their own users (mosquitto 1883, presence-sync 10001,
# see Dockerfile) and compose bind-mounts these files as they are: let them
# read. For real secrets chown the files to those UIDs and keep mode 0600.
chmod 0755 "$dir" "$dir/broker"
chmod 0644 "$dir"/* "$dir"/broker/* 2>/dev/null || true
chmod 0755 "$dir/broker"
echo "make-demo-secrets: wrote $dir (demo only: world-readable, random values)"
