#!/usr/bin/env bash
# The command line (docs/cli.md) and check-config: summary, exit codes,
# config errors naming their JSON path, and secrets never printed; --role and
# --listen (the part at the end).
source "$(dirname "$0")/../lib/common.sh"

CLIENT=11111111-2222-3333-4444-555555555555
SECRETS=(S3CRET-client-9f8e7d S3CRET-svc1-a1b2c3 S3CRET-svc2-d4e5f6 S3CRET-voice-778899
         S3CRET-webhook-0a0b0c S3CRET-mqtt-ffeedd)

# run_cli NAME ARGS...: run the binary; stdout/stderr in $T/NAME.out/.err, exit code in $RC.
run_cli() {
    local name=$1
    shift
    RC=0
    "$PS_BIN" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}

expect_rc() {
    [ "$RC" = "$1" ] || fail "$2: exit code $RC, want $1 (stderr: $(cat "$T/$2.err"))"
}

expect_in() {
    grep -qF -- "$2" "$T/$1" || fail "$1 lacks '$2': $(cat "$T/$1")"
}

mkdir -p "$T/etc/secrets"
printf '%s\n' "${SECRETS[0]}" >"$T/etc/secrets/client"
printf '%s\n' "${SECRETS[1]}" >"$T/etc/secrets/svc1"
printf '%s' "${SECRETS[2]}" >"$T/etc/secrets/svc2"
printf '%s\n' "${SECRETS[3]}" >"$T/etc/secrets/voice"
printf '%s\n' "${SECRETS[5]}" >"$T/etc/secrets/mqtt"
chmod 600 "$T"/etc/secrets/*
export PS_IT_WEBHOOK=${SECRETS[4]}
{
    echo "# 1300 users: exactly two service accounts' worth"
    echo
    for i in $(seq 1 1300); do echo "user$i@contoso.com"; done
} >"$T/etc/users.txt"

# write_config FILE LOG_LEVEL [extra graph members]
write_config() {
    cat >"$1" <<JSON
{
  "instance": "ps-it",
  "log_level": "$2",
  "mqtt": {"url": "mqtt://127.0.0.1:1883", "username": "bridge",
           "password_file": "secrets/mqtt", "protocol": "3.1.1"},
  "http": {"listen": "[::1]:8080", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso",
    "users_file": "users.txt",
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "$CLIENT",
      "client_secret_file": "secrets/client",
      "service_accounts": [
        {"username": "svc1@contoso.com", "password_file": "secrets/svc1"},
        {"username": "svc2@contoso.com", "password_file": "secrets/svc2"}
      ]${3:-}
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice",
              "webhook_secret_env": "PS_IT_WEBHOOK"}
  }],
  "mapper": {"enabled": true, "settle_seconds": 5}
}
JSON
}

# 1. a good config, at debug level, from another working directory
write_config "$T/etc/good.json" debug
cd / || fail "cd /"
run_cli good check-config -c "$T/etc/good.json"
cd - >/dev/null || fail "cd back"
expect_rc 0 good
expect_in good.out "tenant contoso: 1300 users"
expect_in good.out "accounts: 2 (svc1@contoso.com, svc2@contoso.com), capacity 1300 users"
expect_in good.out "secrets: 6 read"
expect_in good.out "listen [::1]:8080"
expect_in good.out "webhook:  on"
expect_in good.out "protocol 3.1.1"
# a domain tenant_id: where its GUID will come from (nothing is fetched here)
expect_in good.out "tenant:   contoso.onmicrosoft.com is a domain: its GUID is resolved at start from the issuer of https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
# no certificate: basic notifications, said plainly
expect_in good.out "warning:  basic notifications (no certificate): since June 2024 Microsoft recommends rich notifications to see changes during an active meeting call; set graph.encryption_cert_file and graph.encryption_key_file"
! grep -q 'public_url is http://' "$T/good.out" || fail "https public_url warned about"
# public_url over plain http: Graph requires https, unless clearly a test setup
sed 's|"public_url": "https://sync.example.com"|"public_url": "http://sync.example.com"|' \
    "$T/etc/good.json" >"$T/etc/plain.json"
run_cli plain check-config -c "$T/etc/plain.json"
expect_rc 0 plain
expect_in plain.out "warning:  http.public_url is http://: Graph accepts only https:// notification URLs"
sed 's|"public_url": "https://sync.example.com"|"public_url": "http://127.0.0.1:8080"|' \
    "$T/etc/good.json" >"$T/etc/loop.json"
run_cli loop check-config -c "$T/etc/loop.json"
expect_rc 0 loop
! grep -q 'public_url is http://' "$T/loop.out" || fail "a loopback test setup warned about http"
# debug lines name where each secret came from (proves debug was on), never the value
expect_in good.err "secret read key=tenants[0].graph.client_secret source=file $T/etc/secrets/client"
expect_in good.err "source=env PS_IT_WEBHOOK"
for s in "${SECRETS[@]}"; do assert_absent "$s" "$T/good.out" "$T/good.err"; done
# long option form, and the default verb
run_cli good2 check-config --config="$T/etc/good.json"
expect_rc 0 good2

# 2. a secret file readable by others is warned about by name, not by value
chmod 644 "$T/etc/secrets/voice"
run_cli mode check-config -c "$T/etc/good.json"
expect_rc 0 mode
expect_in mode.err "readable by group or others"
expect_in mode.err "$T/etc/secrets/voice"
for s in "${SECRETS[@]}"; do assert_absent "$s" "$T/mode.out" "$T/mode.err"; done
chmod 600 "$T/etc/secrets/voice"

# 3. bad configs exit 2 naming the JSON path
sed 's/, "client_id": "[^"]*"//' "$T/etc/good.json" >"$T/etc/bad1.json"
run_cli bad1 check-config -c "$T/etc/bad1.json"
expect_rc 2 bad1
expect_in bad1.err "presence-sync: $T/etc/bad1.json: tenants[0].graph.client_id: missing"

head -n 653 "$T/etc/users.txt" >"$T/etc/users651.txt"
sed 's/users.txt/users651.txt/; /svc2@/d; s/"secrets\/svc1"}, *$/"secrets\/svc1"}/' \
    "$T/etc/good.json" >"$T/etc/bad2.json"
run_cli bad2 check-config -c "$T/etc/bad2.json"
expect_rc 2 bad2
expect_in bad2.err \
    "tenants[0].graph.service_accounts: 651 users need 2 service accounts (650 each); 1 configured"

sed 's/"secret_key_file": "secrets\/voice"/"secret_key": "inline"/' "$T/etc/good.json" \
    >"$T/etc/bad3.json"
run_cli bad3 check-config -c "$T/etc/bad3.json"
expect_rc 2 bad3
expect_in bad3.err "tenants[0].voice.secret_key: secrets are not accepted inline; use secret_key_file or secret_key_env"

env -u PS_IT_WEBHOOK "$PS_BIN" check-config -c "$T/etc/good.json" >"$T/bad4.out" 2>"$T/bad4.err" &&
    fail "check-config passed without PS_IT_WEBHOOK" || RC=$?
expect_rc 2 bad4
expect_in bad4.err "tenants[0].voice.webhook_secret_env: environment variable PS_IT_WEBHOOK is not set"

printf '{"tenants": [}' >"$T/etc/bad5.json"
run_cli bad5 check-config -c "$T/etc/bad5.json"
expect_rc 2 bad5
expect_in bad5.err "invalid JSON at line 1"

run_cli bad6 run -c "$T/etc/missing.json"
expect_rc 2 bad6
expect_in bad6.err "$T/etc/missing.json: cannot read: No such file or directory"
# run (explicit and default verb) checks the config before starting anything
run_cli bad7 run -c "$T/etc/bad1.json"
expect_rc 2 bad7
expect_in bad7.err "tenants[0].graph.client_id: missing"
run_cli bad8 --config "$T/etc/bad2.json"
expect_rc 2 bad8
expect_in bad8.err "651 users need 2 service accounts"
# a tuning knob that is not a number in range stops run before anything starts
# (docs/configuration.md "Tuning and test knobs")
PS_GRAPH_RESYNC_MS=3s "$PS_BIN" run -c "$T/etc/good.json" >"$T/bad9.out" 2>"$T/bad9.err" &&
    fail "run started with PS_GRAPH_RESYNC_MS=3s" || RC=$?
expect_rc 2 bad9
expect_in bad9.err "PS_GRAPH_RESYNC_MS='3s': a whole number from 1000 to 86400000 is needed"
PS_GRAPH_RATE_LIMIT=5000 "$PS_BIN" run -c "$T/etc/good.json" >"$T/bad10.out" 2>"$T/bad10.err" &&
    fail "run started with PS_GRAPH_RATE_LIMIT=5000" || RC=$?
expect_rc 2 bad10
expect_in bad10.err "PS_GRAPH_RATE_LIMIT='5000'"
# an encryption key that does not match its certificate: the Graph side's check
# of the files, run before anything starts, names the key's JSON path
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=ps-it \
    -keyout "$T/etc/k1.pem" -out "$T/etc/cert.pem" 2>/dev/null || fail "openssl req"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/etc/k2.pem" 2>/dev/null ||
    fail "openssl genpkey"
chmod 600 "$T"/etc/k*.pem
write_config "$T/etc/bad11.json" info \
    ', "encryption_cert_file": "cert.pem", "encryption_key_file": "k2.pem"'
run_cli bad11 check-config -c "$T/etc/bad11.json"
expect_rc 2 bad11
expect_in bad11.err "tenants[0].graph.encryption_key_file: does not match the certificate"
run_cli bad12 run -c "$T/etc/bad11.json"
expect_rc 2 bad12
expect_in bad12.err "tenants[0].graph.encryption_key_file: does not match the certificate"
sed 's/k2.pem/k1.pem/' "$T/etc/bad11.json" >"$T/etc/good2.json"
run_cli good2 check-config -c "$T/etc/good2.json"
expect_rc 0 good2
for s in "${SECRETS[@]}"; do assert_absent "$s" "$T"/bad*.out "$T"/bad*.err; done

# 4. consent-url
run_cli consent consent-url --tenant contoso.onmicrosoft.com --client-id "$CLIENT" \
    --redirect-uri 'https://sync.example.com/consent?x=1&y=a b'
expect_rc 0 consent
[ "$(cat "$T/consent.out")" = "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=$CLIENT&redirect_uri=https%3A%2F%2Fsync.example.com%2Fconsent%3Fx%3D1%26y%3Da%20b" ] ||
    fail "consent-url printed $(cat "$T/consent.out")"
run_cli consent2 consent-url --client-id "$CLIENT" --tenant 9a8b7c6d-1111-2222-3333-444455556666
expect_rc 0 consent2
[ "$(cat "$T/consent2.out")" = "https://login.microsoftonline.com/9a8b7c6d-1111-2222-3333-444455556666/adminconsent?client_id=$CLIENT" ] ||
    fail "consent-url printed $(cat "$T/consent2.out")"
run_cli consent3 consent-url --tenant contoso.com --client-id not-a-guid
expect_rc 2 consent3
expect_in consent3.err "--client-id 'not-a-guid' is not a GUID"
run_cli consent4 consent-url --tenant 'a/b?c' --client-id "$CLIENT"
expect_rc 2 consent4
expect_in consent4.err "is not a tenant GUID or domain"
run_cli consent5 consent-url --tenant contoso.com
expect_rc 2 consent5

# 5. --version, --help, usage errors
run_cli version --version
expect_rc 0 version
grep -Eq '^presence-sync [0-9]+\.[0-9]+\.[0-9]+$' "$T/version.out" || fail "version: $(cat "$T/version.out")"
run_cli help --help
expect_rc 0 help
expect_in help.out "check-config -c FILE"
run_cli verb frobnicate -c "$T/etc/good.json"
expect_rc 2 verb
expect_in verb.err "unknown command 'frobnicate'"
run_cli noc check-config
expect_rc 2 noc
run_cli opt check-config -c "$T/etc/good.json" --bogus
expect_rc 2 opt
expect_in opt.err "unknown option --bogus"

# 6. the JSON Schema accepts the good config and rejects a bad one
python3 - "$PS_SRC/schemas/config.schema.json" "$T/etc/good.json" "$T/etc/bad3.json" <<'PY' ||
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
v.validate(json.load(open(sys.argv[2])))
bad = json.load(open(sys.argv[3]))
if v.is_valid(bad):
    sys.exit("schema accepted an inline secret")
PY
    fail "schema check"

# ---- --role and --listen (docs/configuration.md "Roles"): the command line
# overrides "roles" and http.listen of the file; bad values are usage errors
# (exit 2) that say what is wrong; check-config shows the result.
mkdir -p "$T/roles/etc/secrets"
printf 'cs\n' >"$T/roles/etc/secrets/client"
printf 'svc\n' >"$T/roles/etc/secrets/svc1"
printf 'vk\n' >"$T/roles/etc/secrets/voice"
chmod 600 "$T"/roles/etc/secrets/*
CFG=$T/roles/etc/config.json
cat >"$CFG" <<'JSON'
{
  "roles": ["graph", "voice"],
  "mqtt": {"escape_dots": true},
  "http": {"listen": "127.0.0.1:8080", "public_url": "https://sync.example.com"},
  "tenants": [{
    "name": "contoso", "users": ["alice@contoso.com"],
    "graph": {
      "tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
      "client_secret_file": "secrets/client",
      "service_accounts": [{"username": "svc1@contoso.com", "password_file": "secrets/svc1"}]
    },
    "voice": {"username": "integration@contoso.com", "secret_key_file": "secrets/voice"}
  }]
}
JSON

expect_roles() { # NAME RC TEXT (in stdout or stderr)
    [ "$RC" = "$2" ] || fail "$1: exit code $RC, want $2: $(cat "$T/$1.err")"
    cat "$T/$1.out" "$T/$1.err" | has -F -- "$3" || fail "$1 lacks '$3': $(cat "$T/$1.out" "$T/$1.err")"
}

run_cli roles_file check-config -c "$CFG"
expect_roles roles_file 0 "roles:    graph,voice; mqtt escape_dots on; homeassistant off"
grep -q "listen 127.0.0.1:8080," "$T/roles_file.out" || fail "listen: $(cat "$T/roles_file.out")"

run_cli roles_cli check-config -c "$CFG" --role mapper --listen '[::1]:9443'
expect_roles roles_cli 0 "roles:    mapper;"
grep -q 'listen \[::1\]:9443,' "$T/roles_cli.out" || fail "--listen not applied: $(cat "$T/roles_cli.out")"

run_cli roles_many check-config --role voice -c "$CFG" --role graph,mapper
expect_roles roles_many 0 "roles:    all;"

run_cli roles_bad_role check-config -c "$CFG" --role voice,mappr
expect_roles roles_bad_role 2 "--role 'voice,mappr': roles are graph, voice, mapper or all"
run_cli roles_empty_role check-config -c "$CFG" --role ''
expect_roles roles_empty_role 2 "--role '': roles are"
run_cli roles_no_value run -c "$CFG" --role
expect_roles roles_no_value 2 "option --role needs a value"
run_cli roles_bad_listen run -c "$CFG" --listen 127.0.0.1
expect_roles roles_bad_listen 2 "--listen '127.0.0.1': must be \"host:port\""
run_cli roles_bad_port check-config -c "$CFG" --listen 127.0.0.1:70000
expect_roles roles_bad_port 2 "port 1-65535"
run_cli roles_help --help
expect_roles roles_help 0 "--role R"

# The config's own roles are checked too.
sed -i 's/"roles": \["graph", "voice"\]/"roles": ["graph", "both"]/' "$CFG"
run_cli roles_bad_cfg check-config -c "$CFG"
expect_roles roles_bad_cfg 2 'roles[1]: must be "graph", "voice", "mapper" or "all"'
pass config_cli
