// Drives fake-voice with Microsoft's official SignalR client the way the
// public Enreach client does (mokso/benerte-chrome-extension, background.js):
// REST token, "https://" + WSSEndpoint, accessTokenFactory, MessageReceived,
// AvailableSubscriptions (invoked without arguments, and as a callback),
// Subscribe with one array argument. Then what the protocol promises beyond
// that client: a StreamInvocation of a plain method gets an error
// Completion, skipNegotiation over WebSockets works, an unknown connection
// id is refused before the upgrade (404).
// Environment: FV_CTL (control API base), FV_API (API base), FV_USER,
// FV_SECRET, FV_EMAIL (a user to call); NODE_EXTRA_CA_CERTS for TLS.
"use strict";
const signalR = require("@microsoft/signalr");
const WebSocket = require("ws");

const env = (k) => {
    if (!process.env[k]) throw new Error(`${k} is not set`);
    return process.env[k];
};
const CTL = env("FV_CTL"), API = env("FV_API"), EMAIL = env("FV_EMAIL");
const AUTH = "Basic " + Buffer.from(`${env("FV_USER")}:${env("FV_SECRET")}`).toString("base64");

function ok(what) { console.log(`ok ${what}`); }
function check(cond, what) {
    if (!cond) throw new Error(`failed: ${what}`);
    ok(what);
}

async function rest(path) {
    const r = await fetch(API + path, {headers: {Authorization: AUTH, Accept: "application/json"}});
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
}

async function ctl(path, body) {
    const r = await fetch(CTL + "/_sim" + path, {method: "POST", body: JSON.stringify(body),
                                                headers: {"Content-Type": "application/json"}});
    if (!r.ok) throw new Error(`control ${path}: HTTP ${r.status}`);
    return r.json();
}

function waitFor(list, pred, ms, what) {
    return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const tick = () => {
            const hit = list.find(pred);
            if (hit) return resolve(hit);
            if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
            setTimeout(tick, 50);
        };
        tick();
    });
}

// The hub URL as the public client builds it; the simulator's plain-http
// setting gives a WSSEndpoint with its own http:// scheme.
function hubUrl(wss) {
    return /^https?:\/\//.test(wss) ? wss : "https://" + wss;
}

async function main() {
    const me = await rest("/users/me");
    const users = await rest("/users");
    const target = users.find((u) => u.Email.toLowerCase() === EMAIL.toLowerCase());
    check(target && target.Id, "user found in GET /users");
    const rte = await rest(`/token/${me.Id}/rte/`);
    console.log(`WSSEndpoint ${rte.WSSEndpoint}`);
    const url = hubUrl(rte.WSSEndpoint);

    const messages = [], lists = [], details = [];
    const conn = new signalR.HubConnectionBuilder()
        .withUrl(url, {accessTokenFactory: () => rte.Token})
        .configureLogging(signalR.LogLevel.Warning)
        .build();
    conn.on("MessageReceived", (m) => messages.push(m));
    conn.on("SubscribeDetails", (d) => details.push(d));
    conn.on("AvailableSubscriptions", (l) => lists.push(l));
    await conn.start();
    ok(`connected via ${url.split(":")[0]} (negotiate, WebSockets)`);

    const avail = await conn.invoke("AvailableSubscriptions");
    console.log("AvailableSubscriptions " + JSON.stringify(avail));
    check(Array.isArray(avail) && avail.includes("UserCallInConnected") && avail.includes("UserStatus"),
          "AvailableSubscriptions lists the call events and UserStatus");
    await waitFor(lists, (l) => Array.isArray(l), 2000, "the AvailableSubscriptions callback");
    ok("AvailableSubscriptions callback");

    const names = ["UserCallInConnected", "UserCallInDisconnected", "UserStatus"];
    const subs = names.map((n) => ({EntityId: target.Id, EventName: n}));
    const res = await conn.invoke("Subscribe", subs);
    check(Array.isArray(res) && res.length === 3 && res.every((e) => e.Success === true),
          "Subscribe accepted every entry");

    const call = await ctl("/calls/start", {email: EMAIL});
    const conn1 = await waitFor(messages, (m) => m.data && m.data.eventType === "UserCallInConnected",
                                5000, "UserCallInConnected");
    check(conn1.data.callId === call.call_id && conn1.data.userId === target.Id,
          "MessageReceived UserCallInConnected with userId and callId");
    await waitFor(messages, (m) => m.data && m.data.eventType === "UserStatus" &&
                                   m.data.status === "Talking", 5000, "UserStatus Talking");
    ok("MessageReceived UserStatus");
    await ctl("/calls/end", {call_id: call.call_id});
    await waitFor(messages, (m) => m.data && m.data.eventType === "UserCallInDisconnected", 5000,
                  "UserCallInDisconnected");
    ok("MessageReceived UserCallInDisconnected");

    // HubProtocol.md: a StreamInvocation of a non-streaming method is
    // completed with an error
    const err = await new Promise((resolve) => {
        conn.stream("Subscribe", subs).subscribe({
            next: () => resolve(null),
            complete: () => resolve(null),
            error: (e) => resolve(e),
        });
    });
    check(err && /non-streaming/.test(String(err)), "StreamInvocation completed with an error");
    await conn.stop();

    // skipNegotiation: WebSockets straight to the hub, no id
    const direct = new signalR.HubConnectionBuilder()
        .withUrl(url, {accessTokenFactory: () => rte.Token, skipNegotiation: true,
                       transport: signalR.HttpTransportType.WebSockets})
        .configureLogging(signalR.LogLevel.Warning)
        .build();
    await direct.start();
    const again = await direct.invoke("AvailableSubscriptions");
    check(Array.isArray(again), "skipNegotiation over WebSockets");
    await direct.stop();

    // an unknown connection id: refused before the upgrade, with 404
    const wsUrl = url.replace(/^http/, "ws") + "?id=no-such-connection";
    const status = await new Promise((resolve) => {
        const ws = new WebSocket(wsUrl, {headers: {Authorization: "Bearer " + rte.Token}});
        ws.on("unexpected-response", (req, r) => resolve(r.statusCode));
        ws.on("open", () => { ws.close(); resolve(101); });
        ws.on("error", () => resolve(-1));
    });
    check(status === 404, `unknown connection id refused with ${status}`);
    // a bad token: 401 at negotiate, as the hub's authentication answers
    const bad = new signalR.HubConnectionBuilder()
        .withUrl(url, {accessTokenFactory: () => "not-a-token"})
        .configureLogging(signalR.LogLevel.None)
        .build();
    const badErr = await bad.start().then(() => null, (e) => e);
    check(badErr && /401/.test(String(badErr)), "a bad token is refused with 401");
    console.log("ALL OK");
}

main().catch((e) => {
    console.error(String(e && e.stack ? e.stack : e));
    process.exit(1);
});
