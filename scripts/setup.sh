#!/usr/bin/env bash
# Installs the Debian packages presence-sync needs to build, test and run its
# demo: only those missing, after `apt-get update`. Run as root (or via sudo).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git ca-certificates
    libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev libssl-dev
    libwebsockets-dev libcmocka-dev
    mosquitto mosquitto-clients
    curl openssl jq netcat-openbsd procps iproute2 python3 python3-jsonschema
    clang libclang-rt-14-dev clang-format
    docker-compose rabbitmq-server valgrind binutils systemd
)

# Node.js and npm drive fake-voice with Microsoft's own SignalR client
# (the signalr_js scenario of tests/integration/test_fake_voice.sh); Debian's packages, only
# when no node is on the PATH (a newer one installed otherwise is kept).
if ! command -v node >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != 'install ok installed' ]; then
        missing+=("$p")
    fi
done

# tests/integration/test_fake_graph.sh (scenario msal) drives fake-graph with Microsoft's
# MSAL for Node (npm ci from a committed lock file): any node on PATH will do,
# else Debian's
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
