#!/usr/bin/env bash
# fake-graph's identity platform checked from outside, by Microsoft's own
# MSAL for Node (@azure/msal-node, pinned in tests/fakes/graph/msal/): tenant
# discovery by domain (the OpenID configuration on the simulator itself),
# client credentials, ROPC with id_token and client_info (an account in
# MSAL's cache, a silent refresh), an MFA error that MSAL classifies as
# interaction required (suberror, claims), correlation ids, and the metadata
# handed over as strings. No request leaves 127.0.0.1. Skips (77) without
# node/npm, or with a node older than the package needs. The pin (3.8.9,
# engines node >= 16) runs on Debian 12's node 18 as well as on node 20: a
# newer msal-node (5 and later need node 20) would skip on a fresh Debian
# machine, where CI runs. Checked with node 18.20.8 and 20.20.2.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node/npm not installed"; exit 77; }
SRC=$PS_SRC/tests/fakes/graph/msal
DIR=$PS_BUILD/tests/fakes/graph/msal
mkdir -p "$DIR"
if ! cmp -s "$SRC/package-lock.json" "$DIR/package-lock.json" || [ ! -d "$DIR/node_modules/@azure/msal-node" ]; then
    cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 || {
        echo "SKIP: npm ci failed (registry unreachable?): $(tail -3 "$T/npm.log")"
        exit 77
    }
fi
cp "$SRC/msal_check.js" "$DIR/"
need=$(node -e 'console.log(require(process.argv[1]).engines.node.replace(/[^0-9.]/g, "").split(".")[0])' \
    "$DIR/node_modules/@azure/msal-node/package.json")
have=$(node -e 'console.log(process.versions.node.split(".")[0])')
[ "$have" -ge "$need" ] || { echo "SKIP: node $have is older than @azure/msal-node needs ($need)"; exit 77; }

DOMAIN=contoso.onmicrosoft.com
start_fake_graph
ctl POST /tenants "{\"id\":\"$TENANT\",\"domains\":[\"$DOMAIN\"]}" >/dev/null
ctl POST /users "{\"users\":[
    {\"upn\":\"alice@contoso.com\",\"id\":\"$ALICE_ID\",\"password\":\"al1ce pw+&\",\"display_name\":\"Alice\"},
    {\"upn\":\"mfa@contoso.com\",\"password\":\"mfa pw\"}]}" >/dev/null
ctl POST /users/mfa@contoso.com/block '{"code":50076}' >/dev/null
printf 'al1ce pw+&\n' >"$T/alice_pw"
printf 'mfa pw\n' >"$T/mfa_pw"
FG_PORT=${FG##*:} TENANT_ID=$TENANT TENANT_DOMAIN=$DOMAIN CLIENT_ID=$CLIENT_ID \
    CLIENT_SECRET_FILE=$T/client_secret USER_UPN=alice@contoso.com USER_ID=$ALICE_ID \
    USER_PASSWORD_FILE=$T/alice_pw MFA_UPN=mfa@contoso.com MFA_PASSWORD_FILE=$T/mfa_pw \
    node "$DIR/msal_check.js" >"$T/msal.out" 2>&1 || fail "MSAL check: $(cat "$T/msal.out")"
cat "$T/msal.out" >&2
# what MSAL asked for, fake-graph answered
ctl GET /requests | jqe '[.[] | select(.path | endswith("/oauth2/v2.0/token"))] | length >= 5' >/dev/null ||
    fail "fake-graph saw too few token requests"
assert_absent 'al1ce pw+&' "$T/msal.out" "$T/fake-graph.log"
pass
