#!/usr/bin/env bash
# `presence-sync probe`, Graph failures produced with fake-graph, each with
# its line, its fix and exit code 1: a service account that needs MFA
# (AADSTS50076), a wrong client secret (AADSTS7000215), an app without
# User.Read.All (admin consent missing: read from the token's roles, and the
# lookups refused with 403), an app without any presence permission, a
# delegated scope without consent (AADSTS65001), a user Azure AD does not
# know, a tenant that does not exist (AADSTS90002). Never a secret in the
# output.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/integration/probe_helpers.sh"

pr_setup
pr_config
consent() { sim POST "/apps/$CLIENT_ID/consent" "$1" >/dev/null || fail "consent $1"; }

# MFA on the service account: its sign-in fails, the webhook is not tried
sim POST /users/svc1@contoso.com/block '{"code":50076}' >/dev/null
pr_run mfa --tenant contoso
pr_rc mfa 1
pr_line mfa FAIL 'sign-in of svc1@contoso.com: refused: AADSTS50076 \(invalid_grant\): multi-factor authentication is required.*Fix: exclude the service account from MFA'
pr_line mfa ok 'sign-in of the app'
pr_line mfa warn 'validation: not checked'

# an expired password, a locked account: each its own fix
sim POST /users/svc1@contoso.com/block '{"code":50055}' >/dev/null
pr_run expired --tenant contoso
pr_rc expired 1
pr_line expired FAIL 'sign-in of svc1@contoso.com: refused: AADSTS50055 \(invalid_grant\): .*Fix: set a new password that never expires'
sim POST /users/svc1@contoso.com/block '{"code":50053}' >/dev/null
pr_run locked --tenant contoso
pr_rc locked 1
pr_line locked FAIL 'sign-in of svc1@contoso.com: refused: AADSTS50053 \(invalid_grant\): .*Fix: unlock the account in Entra'
sim POST /users/svc1@contoso.com/block '{"code":0}' >/dev/null

# a federated account (ADFS): ROPC fails with 50126, the user realm says
# why, and the fix is not "check the password"
sim POST /users/svc1@contoso.com/federated '{"federated":true}' >/dev/null
pr_run federated --tenant contoso
pr_rc federated 1
pr_line federated FAIL "sign-in of svc1@contoso.com: refused: AADSTS50126 \\(invalid_grant\\): .*; the account's domain contoso.com is federated .*Fix: ROPC needs an account whose password Entra checks itself"
grep -q 'Fix: check the account' "$T/federated.out" && fail "the federated account got the password fix"
sim POST /users/svc1@contoso.com/federated '{"federated":false}' >/dev/null
# a wrong password of a cloud account: the realm is Managed, the fix is the password
printf 'not-the-password\n' >"$T/svc_password"
pr_run badpw --tenant contoso
pr_rc badpw 1
pr_line badpw FAIL 'sign-in of svc1@contoso.com: refused: AADSTS50126 \(invalid_grant\): .*Fix: check the account'"'"'s username and the password in its password_file'
grep -q 'is federated' "$T/badpw.out" && fail "a cloud account called federated"
printf '%s\n' "$SVC_PASSWORD" >"$T/svc_password"

# a wrong client secret: the app's sign-in fails, users are not looked up
printf 'not-the-secret\n' >"$T/wrong_secret"
chmod 600 "$T/wrong_secret"
pr_config "$PR_USERS" '.tenants[0].graph.client_secret_file = "'"$T/wrong_secret"'"'
pr_run secret
pr_rc secret 1
pr_line secret FAIL "sign-in of the app: refused: AADSTS7000215 \\(invalid_client\\).*Fix: client_secret_file must hold the secret's Value"
pr_line secret FAIL 'sign-in of svc1@contoso.com: refused: AADSTS7000215'
pr_line secret warn 'users: not checked'
pr_config

# admin consent without User.Read.All: the token's roles say so, the lookup
# is refused (403), with the consent-url command to fix it
consent '{"roles":["Presence.ReadWrite.All"]}'
pr_run no-users-role
pr_rc no-users-role 1
pr_line no-users-role FAIL "permissions of the app: missing User.Read.All: the daemon cannot look up the users' object ids; the token has Presence.ReadWrite.All.*Fix: add the application permission User.Read.All .*presence-sync consent-url --tenant $TENANT_ID --client-id $CLIENT_ID"
pr_line no-users-role FAIL 'users: 2 of 2 lookups failed \(user lookup: HTTP 403\): the app may not read users.*User.Read.All'

# no presence permission at all: both named, reads refused
consent '{"roles":["User.Read.All"]}'
pr_run no-presence --json
pr_rc no-presence 1
pr_schema "$T/no-presence.out"
jqe '.groups[] | select(.system == "graph") | .checks[] | select(.id == "graph.app_permissions") |
    .status == "fail" and (.reason | test("missing Presence.ReadWrite.All")) and
    (.fix | test("Presence.ReadWrite.All"))' "$T/no-presence.out" >/dev/null ||
    fail "no presence permission: $(cat "$T/no-presence.out")"
jqe '.groups[] | select(.system == "graph") | .checks[] | select(.id == "graph.presence_read") |
    .status == "fail" and (.reason | test("HTTP 403"))' "$T/no-presence.out" >/dev/null ||
    fail "presence read without the permission"
jqe '.groups[] | select(.system == "write")' "$T/no-presence.out" >/dev/null &&
    fail "a write test without --write-test"
consent '{"roles":["Presence.ReadWrite.All","User.Read.All"]}'

# the delegated Presence.Read.All without consent: ROPC cannot ask, 65001
consent '{"scopes":["User.Read"]}'
pr_run no-consent
pr_rc no-consent 1
pr_line no-consent FAIL "sign-in of svc1@contoso.com: refused: AADSTS65001 \\(invalid_grant\\): admin consent is missing.*Fix: grant admin consent.*presence-sync consent-url --tenant $TENANT_ID --client-id $CLIENT_ID"
consent '{"scopes":["Presence.Read.All","User.Read"]}'

# a user Azure AD does not know (and Voice neither): listed, the others go on
pr_config '["alice@contoso.com","carol@contoso.com","bob@contoso.com"]'
pr_run missing-user
pr_rc missing-user 1
pr_line missing-user FAIL 'users: 1 of 3 users are not in Azure AD: carol@contoso.com.*Fix: use each user'"'"'s sign-in name'
pr_line missing-user ok 'presence read: getPresencesByUserId answered for 2 users'
pr_line missing-user FAIL 'users: 1 of 3 users are not in Voice: carol@contoso.com'
pr_line missing-user ok 'validation: Graph reached'

# a tenant that does not exist
pr_config "$PR_USERS" '.tenants[0].graph.tenant_id = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"'
pr_run no-tenant
pr_rc no-tenant 1
pr_line no-tenant FAIL "tenant: the tenant's OpenID configuration at .* could not be read: HTTP 400 invalid_tenant.*AADSTS90002.*Fix: graph.tenant_id must be the Directory \\(tenant\\) ID"
pr_line no-tenant FAIL 'sign-in of the app: refused: AADSTS90002'

pr_secrets "$T"/*.out "$T"/*.log
pass
