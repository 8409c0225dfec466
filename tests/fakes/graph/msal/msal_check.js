// Drives fake-graph's identity platform with Microsoft's MSAL for Node, the
// way an outsider would (tests/integration/test_fake_graph.sh, scenario msal). MSAL
// refuses http authorities, so the authority is https://127.0.0.1:PORT and a
// network client maps it to the simulator's plain-http port, telling it the
// scheme with X-Forwarded-Proto (a TLS-terminating front). Every request MSAL
// makes is checked to stay on 127.0.0.1:PORT: the network client refuses any
// other host, and the test fails if MSAL tried one.
//
// env: FG_PORT, TENANT_ID, TENANT_DOMAIN, CLIENT_ID, CLIENT_SECRET_FILE,
//      USER_UPN, USER_ID, USER_PASSWORD_FILE, MFA_UPN, MFA_PASSWORD_FILE
"use strict";
const fs = require("fs");
const msal = require("@azure/msal-node");

const env = (k) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} not set`);
    return v;
};
const secret = (k) => fs.readFileSync(env(k), "utf8").replace(/\n$/, "");
const port = env("FG_PORT");
const origin = `https://127.0.0.1:${port}`;
const tenantId = env("TENANT_ID");
const domain = env("TENANT_DOMAIN");
const clientId = env("CLIENT_ID");
const clientSecret = secret("CLIENT_SECRET_FILE");

const seen = []; // every request MSAL made: {method, url, crid, status, headers}
const refused = [];

async function send(method, url, options) {
    const u = new URL(url);
    if (u.origin !== origin) {
        refused.push(url);
        throw new Error(`refused to leave ${origin}: ${url}`);
    }
    const headers = Object.assign({}, (options && options.headers) || {});
    headers["X-Forwarded-Proto"] = "https";
    const res = await fetch(`http://127.0.0.1:${port}${u.pathname}${u.search}`, {
        method,
        headers,
        body: method === "POST" ? (options && options.body) || "" : undefined,
    });
    const text = await res.text();
    const out = {};
    res.headers.forEach((v, k) => (out[k] = v));
    seen.push({
        method,
        url,
        // MSAL sends it as a header or, for token requests, in the query
        crid: headers["client-request-id"] || u.searchParams.get("client-request-id"),
        status: res.status,
        headers: out,
    });
    let body;
    try {
        body = JSON.parse(text);
    } catch (e) {
        body = {};
    }
    return { headers: out, body, status: res.status };
}
const networkClient = {
    sendGetRequestAsync: (url, options) => send("GET", url, options),
    sendPostRequestAsync: (url, options) => send("POST", url, options),
};

function check(cond, what) {
    if (!cond) throw new Error(`check failed: ${what}`);
    console.log(`ok: ${what}`);
}

function app(authority, extra) {
    return new msal.ConfidentialClientApplication({
        auth: Object.assign(
            { clientId, clientSecret, authority, knownAuthorities: [`127.0.0.1:${port}`] },
            extra || {}
        ),
        system: { networkClient },
    });
}

async function expectError(p, what) {
    try {
        await p;
    } catch (e) {
        return e;
    }
    throw new Error(`${what}: no error`);
}

// The simulator's own discovery, used by MSAL as it would use Entra's.
async function viaDiscovery() {
    const cca = app(`${origin}/${domain}`);
    const app1 = await cca.acquireTokenByClientCredential({
        scopes: ["https://graph.microsoft.com/.default"],
    });
    check(app1 && /^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/.test(app1.accessToken), "client credentials through discovery");
    const cfg = seen.find((s) => s.url.endsWith("/v2.0/.well-known/openid-configuration"));
    check(cfg && cfg.status === 200, "MSAL read the tenant's OpenID configuration");

    const user = await cca.acquireTokenByUsernamePassword({
        scopes: ["https://graph.microsoft.com/Presence.Read.All"],
        username: env("USER_UPN"),
        password: secret("USER_PASSWORD_FILE"),
    });
    check(user.account, "ROPC builds an account (id_token and client_info)");
    check(user.account.homeAccountId === `${env("USER_ID")}.${tenantId}`,
        `home account id from client_info: ${user.account.homeAccountId}`);
    check(user.idTokenClaims.preferred_username === env("USER_UPN"), "id_token names the user");
    check(user.tenantId === tenantId, "the tenant GUID although the authority named the domain");
    const accounts = await cca.getTokenCache().getAllAccounts();
    check(accounts.length === 1, "one account in MSAL's cache");
    const silent = await cca.acquireTokenSilent({
        account: accounts[0],
        scopes: ["https://graph.microsoft.com/Presence.Read.All"],
        forceRefresh: true,
    });
    check(silent.accessToken && silent.accessToken !== user.accessToken,
        "acquireTokenSilent with forceRefresh redeems the refresh token");
    const tok = seen.filter((s) => s.method === "POST" && s.url.includes("/oauth2/v2.0/token"));
    check(tok.length >= 3 && tok.every((s) => s.crid && s.headers["client-request-id"] === s.crid),
        "token answers echo client-request-id");
    // MSAL puts the authority's tenant (here the domain) into the document's endpoints
    const path = (s) => new URL(s.url).pathname;
    check(tok.every((s) => path(s) === `/${domain}/oauth2/v2.0/token` ||
        path(s) === `/${tenantId}/oauth2/v2.0/token`),
        "MSAL posted to the token endpoint of the document");

    const mfa = await expectError(cca.acquireTokenByUsernamePassword({
        scopes: ["https://graph.microsoft.com/Presence.Read.All"],
        username: env("MFA_UPN"),
        password: secret("MFA_PASSWORD_FILE"),
    }), "MFA user");
    check(mfa instanceof msal.InteractionRequiredAuthError,
        `MFA is interaction required (${mfa.name} ${mfa.errorCode}/${mfa.subError})`);
    check(mfa.subError === "basic_action" && /AADSTS50076/.test(mfa.errorMessage),
        "suberror basic_action, AADSTS50076");
    check(typeof mfa.claims === "string" && JSON.parse(mfa.claims).access_token,
        "a claims challenge");
    const last = seen[seen.length - 1];
    check(mfa.correlationId === last.crid, "correlation_id is the caller's client-request-id");

    const bad = await expectError(cca.acquireTokenByUsernamePassword({
        scopes: ["https://graph.microsoft.com/Presence.Read.All"],
        username: env("USER_UPN"),
        password: "wrong",
    }), "wrong password");
    check(!(bad instanceof msal.InteractionRequiredAuthError) && /AADSTS50126/.test(bad.errorMessage),
        `a wrong password is a plain server error (${bad.name})`);
}

// The metadata handed to MSAL as strings, as a locked-down deployment does.
async function viaMetadata() {
    const res = await fetch(`http://127.0.0.1:${port}/${tenantId}/v2.0/.well-known/openid-configuration`,
        { headers: { "X-Forwarded-Proto": "https" } });
    const doc = await res.json();
    for (const k of ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"])
        check(doc[k].startsWith(`${origin}/`), `${k} is on the simulator: ${doc[k]}`);
    for (const k of ["response_types_supported", "subject_types_supported",
        "id_token_signing_alg_values_supported"])
        check(Array.isArray(doc[k]) && doc[k].length > 0, `${k} present`);
    const cloud = JSON.stringify({
        tenant_discovery_endpoint: `${origin}/${tenantId}/v2.0/.well-known/openid-configuration`,
        "api-version": "1.1",
        metadata: [{ preferred_network: `127.0.0.1:${port}`, preferred_cache: `127.0.0.1:${port}`,
            aliases: [`127.0.0.1:${port}`] }],
    });
    const before = seen.length;
    const cca = app(`${origin}/${tenantId}`, {
        authorityMetadata: JSON.stringify(doc),
        cloudDiscoveryMetadata: cloud,
    });
    const r = await cca.acquireTokenByClientCredential({
        scopes: ["https://graph.microsoft.com/.default"],
    });
    check(r && /^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/.test(r.accessToken), "client credentials with authorityMetadata");
    check(seen.slice(before).every((s) => !s.url.includes("well-known")),
        "no discovery request when the metadata is given");
}

(async () => {
    await viaDiscovery();
    await viaMetadata();
    check(refused.length === 0, `no request left ${origin} (${refused.join(", ")})`);
    console.log(`requests: ${seen.length}`);
})().catch((e) => {
    console.error(`FAIL: ${e && e.stack ? e.stack : e}`);
    if (refused.length) console.error(`refused: ${refused.join(", ")}`);
    process.exit(1);
});
