#!/usr/bin/env bash
# --role and --listen (docs/configuration.md "Roles"): the command line
# overrides "roles" and http.listen of the file; bad values are usage errors
# (exit 2) that say what is wrong; check-config shows the result.
source "$(dirname "$0")/../lib/common.sh"

secret_files "$T/etc" client=cs svc1=svc voice=vk
CFG=$T/etc/config.json
cat >"$CFG" <<JSON
{
  "roles": ["graph", "voice"],
  "mqtt": {"escape_dots": true},
  "http": {"listen": "127.0.0.1:8080", "public_url": "https://sync.example.com"},
  "tenants": [$(contoso_tenant '["alice@contoso.com"]')]
}
JSON

run_cli() { # NAME ARGS...
    local name=$1
    shift
    RC=0
    "$PS_BIN" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}
expect() { # NAME RC TEXT (in stdout or stderr)
    [ "$RC" = "$2" ] || fail "$1: exit code $RC, want $2: $(cat "$T/$1.err")"
    cat "$T/$1.out" "$T/$1.err" | has -F -- "$3" || fail "$1 lacks '$3': $(cat "$T/$1.out" "$T/$1.err")"
}

run_cli file check-config -c "$CFG"
expect file 0 "roles:    graph,voice; mqtt escape_dots on; homeassistant off"
grep -q "listen 127.0.0.1:8080," "$T/file.out" || fail "listen: $(cat "$T/file.out")"

run_cli cli check-config -c "$CFG" --role mapper --listen '[::1]:9443'
expect cli 0 "roles:    mapper;"
grep -q 'listen \[::1\]:9443,' "$T/cli.out" || fail "--listen not applied: $(cat "$T/cli.out")"

run_cli many check-config --role voice -c "$CFG" --role graph,mapper
expect many 0 "roles:    all;"

run_cli bad_role check-config -c "$CFG" --role voice,mappr
expect bad_role 2 "--role 'voice,mappr': roles are graph, voice, mapper or all"
run_cli empty_role check-config -c "$CFG" --role ''
expect empty_role 2 "--role '': roles are"
run_cli no_value run -c "$CFG" --role
expect no_value 2 "option --role needs a value"
run_cli bad_listen run -c "$CFG" --listen 127.0.0.1
expect bad_listen 2 "--listen '127.0.0.1': must be \"host:port\""
run_cli bad_port check-config -c "$CFG" --listen 127.0.0.1:70000
expect bad_port 2 "port 1-65535"
run_cli help --help
expect help 0 "--role R"

# The config's own roles are checked too.
sed -i 's/"roles": \["graph", "voice"\]/"roles": ["graph", "both"]/' "$CFG"
run_cli bad_cfg check-config -c "$CFG"
expect bad_cfg 2 'roles[1]: must be "graph", "voice", "mapper" or "all"'
pass roles_cli
