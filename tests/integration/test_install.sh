#!/usr/bin/env bash
# `cmake --install` (cmake/install.cmake) into a temporary prefix: the binary,
# the systemd unit (ExecStart= rewritten to that prefix), the schemas and the
# example config land where they should; the installed binary runs; the
# example config passes `check-config` once its credential paths point at
# real files; `systemd-analyze verify` accepts the unit (exit 77, skipped,
# when systemd-analyze is not installed).
source "$(dirname "$0")/../lib/common.sh"

grep -q 'presence-sync.service' "$PS_BUILD/cmake_install.cmake" ||
    fail "no install rule for the systemd unit in $PS_BUILD: add include(cmake/install.cmake) to CMakeLists.txt"

P=$T/prefix
cmake --install "$PS_BUILD" --prefix "$P" >"$T/install.log" 2>&1 || fail "cmake --install: $(cat "$T/install.log")"

for f in bin/presence-sync lib/systemd/system/presence-sync.service \
    share/presence-sync/schemas/config.schema.json share/doc/presence-sync/examples/config.example.json \
    share/doc/presence-sync/broker-config/mosquitto.conf share/doc/presence-sync/broker-config/acl; do
    [ -f "$P/$f" ] || fail "not installed: $f (have: $(cd "$P" && find . -type f | sort | tr '\n' ' '))"
done
[ -x "$P/bin/presence-sync" ] || fail "installed binary not executable"
n_src=$(find "$PS_SRC/schemas" -name '*.json' | wc -l)
n_inst=$(find "$P/share/presence-sync/schemas" -name '*.json' | wc -l)
[ "$n_src" = "$n_inst" ] || fail "schemas: $n_inst installed, $n_src in the repo"
"$P/bin/presence-sync" --version | has -E '[0-9]+\.[0-9]+\.[0-9]+' || fail "installed binary does not run"

# the unit: ExecStart points at the installed binary, the rest is as committed
UNIT=$P/lib/systemd/system/presence-sync.service
grep -qx "ExecStart=$P/bin/presence-sync run -c /etc/presence-sync/config.json" "$UNIT" ||
    fail "ExecStart not rewritten to the prefix: $(grep ExecStart "$UNIT")"
[ "$(diff "$PS_SRC/scripts/presence-sync.service" "$UNIT" | grep -c '^[<>]')" = 2 ] ||
    fail "installed unit differs from scripts/presence-sync.service in more than ExecStart"
for want in "User=presence-sync" "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" \
    "PrivateTmp=yes" "ReadOnlyPaths=/etc/presence-sync" "CapabilityBoundingSet=" \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" 'ExecReload=/bin/kill -HUP $MAINPID' \
    "Restart=on-failure" "LoadCredential=secrets:/etc/presence-sync/secrets"; do
    grep -qxF -- "$want" "$UNIT" || fail "unit lacks '$want'"
done

# the example config is valid: point its credential and /etc paths at files
# made here (the same names an operator puts in /etc/presence-sync/secrets)
CRED=/run/credentials/presence-sync.service
mkdir -p "$T/etc/secrets"
example=$P/share/doc/presence-sync/examples/config.example.json
grep -o "$CRED/secrets_[A-Za-z0-9._-]*" "$example" | sort -u >"$T/creds"
[ -s "$T/creds" ] || fail "example config reads no secret through LoadCredential"
while read -r path; do
    name=${path#"$CRED/secrets_"}
    case $name in
    *.key) openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/etc/secrets/$name" \
        -out "$T/etc/graph-notify.crt" -days 2 -subj "/CN=graph-notify" 2>/dev/null ||
        fail "openssl: notification key" ;;
    *) printf 'secret-%s\n' "$name" >"$T/etc/secrets/$name" ;;
    esac
done <"$T/creds"
chmod 600 "$T"/etc/secrets/*
cp /etc/ssl/certs/ca-certificates.crt "$T/etc/mqtt-ca.crt" 2>/dev/null ||
    openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -out "$T/etc/mqtt-ca.crt" \
        -days 2 -subj "/CN=ca" 2>/dev/null
sed -e "s|$CRED/secrets_|$T/etc/secrets/|g" -e "s|/etc/presence-sync/|$T/etc/|g" "$example" \
    >"$T/etc/config.json"
grep -q '/etc/presence-sync\|/run/credentials' "$T/etc/config.json" && fail "unrewritten path in example"
"$P/bin/presence-sync" check-config -c "$T/etc/config.json" >"$T/check.log" 2>&1 ||
    fail "example config does not pass check-config: $(cat "$T/check.log")"
grep -q 'encryption on' "$T/check.log" || fail "example config: encryption not on"

# systemd-analyze verify: the unit's syntax and the ExecStart binary
if command -v systemd-analyze >/dev/null; then
    # verify resolves User= against this machine; the service user may not
    # exist here, which is not a fault of the unit
    systemd-analyze verify "$UNIT" >"$T/verify.log" 2>&1 || true
    grep -v -e 'presence-sync.service: Failed to resolve user' -e '^$' "$T/verify.log" |
        grep -iE 'unknown|invalid|fail|error|not executable|no such|ignoring' &&
        fail "systemd-analyze verify: $(cat "$T/verify.log")"
    # and it is not just silent: broken copies are reported
    sed 's|^ProtectSystem=strict|ProtectSytem=strict|' "$UNIT" >"$T/typo.service"
    systemd-analyze verify "$T/typo.service" >"$T/verify-typo.log" 2>&1 || true
    grep -q "Unknown key.*'ProtectSytem'" "$T/verify-typo.log" ||
        fail "systemd-analyze verify missed a misspelt key: $(cat "$T/verify-typo.log")"
    sed 's|^ExecStart=.*|ExecStart=relative/path run|' "$UNIT" >"$T/badexec.service"
    systemd-analyze verify "$T/badexec.service" >"$T/verify-badexec.log" 2>&1 &&
        fail "systemd-analyze verify accepted a relative ExecStart"
    log "systemd-analyze verify: unit accepted"
else
    echo "SKIP: systemd-analyze not installed (Debian package systemd): unit syntax not verified"
    exit 77
fi
pass "install"
