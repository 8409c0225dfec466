/* The probe's Voice checks, RTE part (docs/voice.md, "RTE" and "Event
 * model"): the RTE token, negotiate, the WebSocket, the SignalR handshake,
 * AvailableSubscriptions against the configured event model, Subscribe for
 * the configured users, and with --listen-seconds the events that arrive
 * (name, number, field names; never values). Every record goes to the
 * capture. Same modules as the daemon: rest.h, signalr.h, rte.h, events.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/loop.h"
#include "probe/probe_int.h"
#include "probe/recorder.h"
#include "voice/discovery.h"
#include "voice/events.h"
#include "voice/rest.h"
#include "voice/rte.h"
#include "voice/signalr.h"

#define HUB_CALL_MS     30000
#define HUB_CONNECT_MS  20000
#define HUB_ANSWER_MS   10000 /* AvailableSubscriptions, Subscribe (as the daemon) */
#define HUB_PING_MS     15000
#define HUB_REDIRECTS   5
#define HUB_ID_LEN      24
#define HUB_FIELDS_MAX  24
#define HUB_EVENT_LINES 200 /* events printed; more are counted */

struct hub {
    struct probe *p;
    struct probe_tenant *t;
    struct rte_link *link;
    unsigned gen;
    bool opened, closed, handshaken, hs_answered;
    char reason[256];
    struct signalr_reader rd;
    uint64_t next_id;
    struct events_model *model;
    /* AvailableSubscriptions */
    char avail_id[HUB_ID_LEN];
    bool avail_done;
    char **offered;
    size_t n_offered;
    const char *avail_via;
    char avail_error[256];
    /* Subscribe */
    char (*sub_ids)[HUB_ID_LEN];
    size_t n_sub_ids, sub_left;
    bool subs_done;
    size_t refused;
    char sub_error[300];
    /* listening */
    loop_timer_id ping_timer;
    size_t n_events;
};

static void hub__send(struct hub *h, const char *data, size_t len)
{
    recorder__signalr(h->p->rec, h->t->tc->name, "sent", data, len);
    rte__send(h->link, h->gen, data, len);
}

/* ---- records in -------------------------------------------------------------------- */

static void hub__available(struct hub *h, const cJSON *answer, const char *via)
{
    char **names = NULL;
    size_t n = 0;
    char err[200];
    if (h->avail_done)
        return;
    if (events__parse_available(answer, &names, &n, err, sizeof(err)) != 0) {
        snprintf(h->avail_error, sizeof(h->avail_error), "answer without event names: %s", err);
        h->avail_done = true;
        return;
    }
    h->offered = names;
    h->n_offered = n;
    h->avail_via = via;
    h->avail_done = true;
}

/* Counts the entries of a Subscribe result or SubscribeDetails with
 * Success false; the first is described in sub_error. */
static void hub__refused(struct hub *h, const cJSON *entries)
{
    const cJSON *e;
    if (!cJSON_IsArray(entries))
        return;
    cJSON_ArrayForEach(e, entries)
    {
        if (!cJSON_IsFalse(cJSON_GetObjectItem(e, "Success")))
            continue;
        if (h->refused++ == 0) {
            const cJSON *id = cJSON_GetObjectItem(e, "EntityId");
            const cJSON *ev = cJSON_GetObjectItem(e, "EventName");
            snprintf(h->sub_error, sizeof(h->sub_error), "entries refused (first: %.64s %.64s)",
                     cJSON_IsString(id) ? id->valuestring : "?",
                     cJSON_IsString(ev) ? ev->valuestring : "?");
        }
    }
}

static void hub__completion(struct hub *h, const struct signalr_msg *m)
{
    if (h->avail_id[0] && strcmp(m->invocation_id, h->avail_id) == 0) {
        if (m->error) {
            snprintf(h->avail_error, sizeof(h->avail_error), "%.200s", m->error);
            h->avail_done = true;
        }
        else if (m->result && !cJSON_IsNull(m->result)) {
            hub__available(h, m->result, "completion");
        }
        return; /* without a result the callback may still come */
    }
    for (size_t i = 0; i < h->n_sub_ids; i++) {
        if (h->sub_ids[i][0] && strcmp(h->sub_ids[i], m->invocation_id) == 0) {
            h->sub_ids[i][0] = '\0';
            if (m->error && !h->sub_error[0])
                snprintf(h->sub_error, sizeof(h->sub_error), "%.250s", m->error);
            if (m->error)
                h->refused++;
            else
                hub__refused(h, m->result);
            if (--h->sub_left == 0)
                h->subs_done = true;
            return;
        }
    }
}

static void hub__event(struct hub *h, const cJSON *arg);

static void hub__message(struct hub *h, const char *rec, size_t len)
{
    struct signalr_msg m;
    char err[200];
    if (signalr__parse(rec, len, &m, err, sizeof(err)) != 0) {
        signalr_msg__free(&m);
        return;
    }
    const cJSON *arg = cJSON_GetArrayItem(m.arguments, 0);
    if (m.type == SIGNALR_COMPLETION) {
        hub__completion(h, &m);
    }
    else if (m.type == SIGNALR_INVOCATION && strcmp(m.target, "AvailableSubscriptions") == 0) {
        hub__available(h, arg, "callback");
    }
    else if (m.type == SIGNALR_INVOCATION && strcmp(m.target, "SubscribeDetails") == 0) {
        hub__refused(h, arg);
    }
    else if (m.type == SIGNALR_INVOCATION && strcmp(m.target, "MessageReceived") == 0) {
        hub__event(h, arg);
    }
    else if (m.type == SIGNALR_CLOSE) {
        h->closed = true;
        snprintf(h->reason, sizeof(h->reason), "the hub closed the connection%s%.200s",
                 m.error ? ": " : "", m.error ? m.error : "");
    }
    signalr_msg__free(&m);
}

static void hub__record(struct hub *h, const char *rec, size_t len)
{
    recorder__signalr(h->p->rec, h->t->tc->name, "received", rec, len);
    if (h->handshaken) {
        hub__message(h, rec, len);
        return;
    }
    h->hs_answered = true;
    if (signalr__parse_handshake(rec, len, h->reason, sizeof(h->reason)) == 0)
        h->handshaken = true;
}

/* ---- link callbacks (loop thread) ------------------------------------------------------ */

static void hub__on_open(void *ctx, unsigned gen)
{
    struct hub *h = ctx;
    if (gen == h->gen)
        h->opened = true;
}

static void hub__on_data(void *ctx, unsigned gen, const char *data, size_t len)
{
    struct hub *h = ctx;
    const char *rec;
    size_t rlen;
    if (gen != h->gen)
        return;
    if (signalr_reader__feed(&h->rd, (const uint8_t *)data, len) != 0) {
        h->closed = true;
        snprintf(h->reason, sizeof(h->reason), "a record over 1 MiB");
        return;
    }
    while (gen == h->gen && signalr_reader__next(&h->rd, &rec, &rlen) == 1)
        hub__record(h, rec, rlen);
}

static void hub__on_closed(void *ctx, unsigned gen, const char *reason)
{
    struct hub *h = ctx;
    if (gen != h->gen)
        return;
    recorder__signalr(h->p->rec, h->t->tc->name, "closed", reason, reason ? strlen(reason) : 0);
    if (!h->closed)
        snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "closed");
    h->closed = true;
}

static const struct rte_link_callbacks hub_callbacks = {
    .on_open = hub__on_open,
    .on_data = hub__on_data,
    .on_closed = hub__on_closed,
};

/* ---- listening ------------------------------------------------------------------------- */

/* The member names of data, dotted for nested objects, into names. */
static size_t hub__fields(const cJSON *o, const char *prefix, char names[][64], size_t n,
                          size_t max, int depth)
{
    const cJSON *it;
    if (!cJSON_IsObject(o))
        return n;
    /* prefix may be one of names: a copy, so no write overlaps it (gcc -O3
     * refuses the overlap under -Werror=restrict) */
    char pre[64];
    snprintf(pre, sizeof(pre), "%s", prefix);
    cJSON_ArrayForEach(it, o)
    {
        if (n >= max || !it->string)
            break;
        /* "prefix.name", cut short at 63 bytes */
        char *dst = names[n++];
        size_t o = strnlen(pre, 63);
        memcpy(dst, pre, o);
        if (o && o < 63)
            dst[o++] = '.';
        size_t sl = strnlen(it->string, 63 - o);
        memcpy(dst + o, it->string, sl);
        dst[o + sl] = '\0';
        if (cJSON_IsObject(it) && depth < 3)
            n = hub__fields(it, names[n - 1], names, n, max, depth + 1);
    }
    return n;
}

/* The configured address of a Voice user id, or NULL. */
static const char *hub__address(const struct hub *h, const char *user_id)
{
    for (size_t i = 0; user_id[0] && i < h->t->tc->n_users; i++) {
        if (h->t->voice_ids[i] && strcasecmp(h->t->voice_ids[i], user_id) == 0)
            return h->t->tc->users[i];
    }
    return NULL;
}

static void hub__event(struct hub *h, const cJSON *arg)
{
    struct voice_call_event ev;
    char err[200], line[1600], names[HUB_FIELDS_MAX][64];
    h->n_events++;
    if (h->n_events > HUB_EVENT_LINES)
        return;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(arg, "data");
    const cJSON *type = events__lookup(data, "eventType");
    int rc = events__parse_rte(h->model, arg, &ev, err, sizeof(err));
    size_t nf = hub__fields(data, "", names, 0, HUB_FIELDS_MAX, 0);
    char number[32] = "no number";
    if (cJSON_IsNumber(type))
        snprintf(number, sizeof(number), "#%" PRId64, (int64_t)type->valuedouble);
    const char *name = rc == 0 ? ev.name : cJSON_IsString(type) ? type->valuestring : number;
    if (strcmp(name, number) == 0) /* a numbered event the model names by its number */
        snprintf(number, sizeof(number), "numbered");
    const char *who = rc == 0 ? hub__address(h, ev.user_id) : NULL;
    int k = snprintf(line, sizeof(line), "event %s (%s, %s) %s%s: fields", name, number,
                     rc == 0 ? events__kind_name(ev.kind) : err, who ? "for " : "",
                     who ? who : (rc == 0 && ev.user_id[0] ? "for a user not in the config" : ""));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "event", rc == 0 ? ev.name : "");
    cJSON_AddStringToObject(j, "kind", rc == 0 ? events__kind_name(ev.kind) : "unparsed");
    if (who)
        cJSON_AddStringToObject(j, "user", who);
    cJSON *fields = cJSON_AddArrayToObject(j, "fields");
    for (size_t i = 0; i < nf && k > 0 && (size_t)k < sizeof(line); i++) {
        k += snprintf(line + k, sizeof(line) - (size_t)k, "%s %s", i ? "," : "", names[i]);
        cJSON_AddItemToArray(fields, cJSON_CreateString(names[i]));
    }
    probe_report__event(h->p->report, line, j);
}

static void hub__ping(void *arg)
{
    struct hub *h = arg;
    size_t len = 0;
    const char *rec = signalr__ping_record(&len);
    h->ping_timer = 0;
    if (h->closed)
        return;
    hub__send(h, rec, len);
    h->ping_timer = loop__timer(h->p->loop, HUB_PING_MS, hub__ping, h);
}

static void hub__listen(struct hub *h, int seconds)
{
    struct probe *p = h->p;
    probe_report__check(p->report, "voice.listen", "listening", PROBE_OK, NULL,
                        "subscribed for %d s; each event is printed as it comes (make a test "
                        "call now)",
                        seconds);
    h->ping_timer = loop__timer(p->loop, HUB_PING_MS, hub__ping, h);
    probe__wait(p, &h->closed, (int64_t)seconds * 1000);
    loop__timer_cancel(p->loop, h->ping_timer);
    h->ping_timer = 0;
    if (h->closed && !p->interrupted)
        probe_report__check(p->report, "voice.listen_end", "end of listening", PROBE_FAIL,
                            "run the probe again; if it repeats, see docs/voice.md (Link loss)",
                            "the link was lost after %zu events: %s", h->n_events, h->reason);
    else if (h->n_events)
        probe_report__check(p->report, "voice.listen_end", "end of listening", PROBE_OK, NULL,
                            "%zu event%s in %d s", h->n_events, h->n_events == 1 ? "" : "s",
                            seconds);
    else
        probe_report__check(p->report, "voice.listen_end", "end of listening", PROBE_WARN,
                            "make a call to or from a configured user while listening; if still "
                            "nothing comes, compare the offered events with voice.events "
                            "(docs/voice.md, Learning a real tenant)",
                            "no event in %d s", seconds);
}

/* ---- the chain ---------------------------------------------------------------------- */

/* The RTE token: Token and WSSEndpoint (malloc'd). */
static bool hub__token(struct hub *h, const char *me, char **token, char **endpoint)
{
    struct probe *p = h->p;
    char path[300], why[600], err[200], until[32] = "?";
    struct probe_answer a;
    snprintf(path, sizeof(path), "/token/%s/rte/", me);
    probe__voice(p, h->t->rest, "GET", path, HUB_CALL_MS, &a);
    bool ok = a.status == 200 && discovery__parse_rte_token(a.body, a.body_len, token, endpoint,
                                                            err, sizeof(err)) == 0;
    if (ok) {
        int64_t exp = 0;
        recorder__secret(p->rec, *token);
        if (signalr__jwt_exp(*token, &exp) == 0)
            clock__iso8601(exp * 1000, until, sizeof(until));
        probe_report__check(p->report, "voice.rte_token", "RTE token", PROBE_OK, NULL,
                            "valid until %s, hub at %s", until, *endpoint);
    }
    else {
        probe_report__check(p->report, "voice.rte_token", "RTE token", PROBE_FAIL,
                            "the integration user must be allowed to use real-time events (ask "
                            "Enreach)",
                            "GET /token/{id}/rte/ failed: %s",
                            a.status == 200 ? err : probe__reason(&a, why, sizeof(why)));
    }
    probe_answer__free(&a);
    return ok;
}

/* Negotiate (following redirects): the connection token (malloc'd), and
 * the endpoint and access token to connect with (replaced on a redirect). */
static char *hub__negotiate(struct hub *h, char **endpoint, char **token)
{
    struct probe *p = h->p;
    char why[600], err[200];
    for (int hop = 0; hop <= HUB_REDIRECTS; hop++) {
        char *url = signalr__negotiate_url(*endpoint);
        struct probe_pending *w = probe_pending__new();
        struct probe_answer a;
        struct signalr_negotiate n = {0};
        if (!url || !w ||
            voice_rest__post_bearer(h->t->rest, url, *token, probe_pending__http, w) != 0)
            probe_pending__not_sent(w, &a);
        else
            probe_pending__wait(p, w, HUB_CALL_MS, &a);
        free(url);
        int rc = a.status == 200
                     ? signalr__parse_negotiate(a.body, a.body_len, &n, err, sizeof(err))
                     : -2;
        if (rc == SIGNALR_NEG_REDIRECT && n.url) {
            free(*endpoint);
            *endpoint = n.url;
            n.url = NULL;
            if (n.access_token) {
                free(*token);
                *token = n.access_token;
                n.access_token = NULL;
                recorder__secret(p->rec, *token);
            }
            signalr_negotiate__free(&n);
            probe_answer__free(&a);
            continue;
        }
        char *conn = rc == SIGNALR_NEG_CONNECT ? n.connection_token : NULL;
        n.connection_token = conn ? NULL : n.connection_token;
        if (conn) {
            recorder__secret(p->rec, conn);
            probe_report__check(p->report, "voice.negotiate", "negotiate", PROBE_OK, NULL,
                                "version %d, WebSockets offered%s", n.version,
                                hop ? " (after a redirect)" : "");
        }
        else {
            probe_report__check(p->report, "voice.negotiate", "negotiate", PROBE_FAIL,
                                a.status == 401
                                    ? "the hub refused the RTE token: ask Enreach whether the "
                                      "integration user may use real-time events"
                                    : "check the network to the hub (the WSSEndpoint above)",
                                "the hub's negotiate failed: %s",
                                rc == SIGNALR_NEG_ERROR ? (n.error ? n.error : "error")
                                : rc == -1              ? err
                                                        : probe__reason(&a, why, sizeof(why)));
        }
        signalr_negotiate__free(&n);
        probe_answer__free(&a);
        return conn;
    }
    probe_report__check(p->report, "voice.negotiate", "negotiate", PROBE_FAIL,
                        "report this to Enreach: the hub redirects in a loop",
                        "more than %d redirects", HUB_REDIRECTS);
    return NULL;
}

static bool hub__connect(struct hub *h, const char *endpoint, const char *conn, const char *token)
{
    struct probe *p = h->p;
    char *url = signalr__ws_url(endpoint, conn, token);
    if (!url || rte__set_ca_file(h->link, h->t->tc->voice.ca_file) != 0 ||
        !(h->gen = rte__open(h->link, url, token))) {
        probe_report__check(p->report, "voice.websocket", "WebSocket", PROBE_FAIL,
                            "check the WSSEndpoint above", "no usable WebSocket URL");
        free(url);
        return false;
    }
    recorder__signalr(p->rec, h->t->tc->name, "open", url, strlen(url));
    free(url);
    bool ok = false;
    int64_t end = clock__mono_ms() + HUB_CONNECT_MS;
    while (!h->opened && !h->closed && clock__mono_ms() < end && !p->interrupted)
        probe__wait(p, &h->opened, 100);
    if (h->opened && !h->closed) {
        ok = true;
        probe_report__check(p->report, "voice.websocket", "WebSocket", PROBE_OK, NULL, "connected");
    }
    else {
        probe_report__check(p->report, "voice.websocket", "WebSocket", PROBE_FAIL,
                            "let this host reach the hub over wss:// (port 443, proxies that "
                            "allow WebSockets); a TLS error may need voice.ca_file",
                            "the connection failed: %s",
                            h->closed ? h->reason : "no answer within 20 s");
    }
    return ok;
}

static bool hub__handshake(struct hub *h)
{
    struct probe *p = h->p;
    size_t len = 0;
    const char *rec = signalr__handshake_record(&len);
    hub__send(h, rec, len);
    int64_t end = clock__mono_ms() + HUB_ANSWER_MS;
    while (!h->hs_answered && !h->closed && clock__mono_ms() < end && !p->interrupted)
        probe__wait(p, &h->hs_answered, 100);
    if (h->handshaken) {
        probe_report__check(p->report, "voice.handshake", "handshake", PROBE_OK, NULL,
                            "the hub speaks SignalR's JSON protocol, version 1");
        return true;
    }
    probe_report__check(p->report, "voice.handshake", "handshake", PROBE_FAIL,
                        "report this to Enreach with the capture (--capture)",
                        "the hub did not accept the handshake: %s",
                        h->reason[0] ? h->reason : "no answer within 10 s");
    return false;
}

/* The model's names the hub offers (its spelling), in used; the others in
 * missing. Returns true when enough is offered to follow calls. */
static bool hub__choose(const struct hub *h, const char **used, size_t *n_used,
                        const char **missing, size_t *n_missing)
{
    size_t by_kind[VOICE_USER_STATUS + 1] = {0};
    *n_used = *n_missing = 0;
    for (size_t i = 0; i < events__model_count(h->model); i++) {
        const char *name = events__model_name(h->model, i), *have = h->offered ? NULL : name;
        for (size_t k = 0; h->offered && k < h->n_offered && !have; k++) {
            if (strcasecmp(h->offered[k], name) == 0)
                have = h->offered[k];
        }
        if (have)
            used[(*n_used)++] = have;
        else
            missing[(*n_missing)++] = name;
        by_kind[events__model_kind(h->model, i)] += have != NULL;
    }
    return (by_kind[VOICE_CALL_CONNECTED] && by_kind[VOICE_CALL_DISCONNECTED]) ||
           (by_kind[VOICE_USER_STATUS] && events__model_has_status_rule(h->model));
}

static void hub__join(const char *const *v, size_t n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", v[i]);
    if (!n)
        snprintf(buf, len, "none");
}

/* Asks AvailableSubscriptions and reports; the names to subscribe go to
 * used (pointers into the model or the offer). false: too few offered. */
static bool hub__events(struct hub *h, const char **used, size_t *n_used)
{
    struct probe *p = h->p;
    struct signalr_record rec = {0};
    if (signalr__build_invocation("AvailableSubscriptions", &h->next_id, &rec) == 0) {
        snprintf(h->avail_id, sizeof(h->avail_id), "%s", rec.invocation_id);
        hub__send(h, rec.data, rec.len);
        probe__wait(p, &h->avail_done, HUB_ANSWER_MS);
    }
    free(rec.data);
    size_t n = events__model_count(h->model), n_missing = 0;
    const char **missing = calloc(n + 1, sizeof(*missing));
    char a[1024], b[1024], c[2048];
    bool enough = missing && hub__choose(h, used, n_used, missing, &n_missing);
    hub__join(used, *n_used, a, sizeof(a));
    hub__join(missing, n_missing, b, sizeof(b));
    hub__join((const char *const *)h->offered, h->n_offered, c, sizeof(c));
    if (!h->offered)
        probe_report__check(p->report, "voice.events", "events offered", PROBE_WARN,
                            "nothing to do unless Subscribe fails below; the daemon does the same",
                            "the hub did not say which events it offers (%s): every configured "
                            "event is subscribed (%s)",
                            h->avail_error[0] ? h->avail_error : "no answer within 10 s", a);
    else if (!enough)
        probe_report__check(p->report, "voice.events", "events offered", PROBE_FAIL,
                            "set voice.events to the hub's names for call start and end "
                            "(docs/voice.md, Event model); --listen-seconds and --capture show "
                            "what a call sends",
                            "the hub offers none of the configured call events (missing: %s); it "
                            "offers: %s",
                            b, c);
    else
        probe_report__check(p->report, "voice.events", "events offered",
                            n_missing ? PROBE_WARN : PROBE_OK,
                            "remove the missing names from voice.events, or find their names in "
                            "the hub's offer (docs/voice.md, Event model)",
                            "the hub offers %zu events (via %s); used: %s; missing: %s",
                            h->n_offered, h->avail_via, a, b);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "offered", h->offered ? c : "");
    cJSON_AddStringToObject(d, "used", a);
    cJSON_AddStringToObject(d, "missing", b);
    probe_report__details(p->report, d);
    free(missing);
    return enough;
}

static void hub__subscribe(struct hub *h, const char *const *events, size_t n_events)
{
    struct probe *p = h->p;
    const char **ids = calloc(h->t->tc->n_users + 1, sizeof(*ids));
    size_t n = 0;
    struct signalr_records recs = {0};
    for (size_t i = 0; ids && i < h->t->tc->n_users; i++) {
        if (h->t->voice_ids[i])
            ids[n++] = h->t->voice_ids[i];
    }
    if (!n || !n_events ||
        signalr__build_subscribe(ids, n, events, n_events, 0, &h->next_id, &recs) != 0 ||
        !(h->sub_ids = calloc(recs.n + 1, sizeof(*h->sub_ids)))) {
        probe_report__check(p->report, "voice.subscribe", "Subscribe", PROBE_WARN,
                            "fix the user or event lines above",
                            "not checked: no configured user is in Voice, or no event to use");
        signalr_records__free(&recs);
        free(ids);
        return;
    }
    for (size_t i = 0; i < recs.n; i++) {
        memcpy(h->sub_ids[i], recs.items[i].invocation_id, HUB_ID_LEN);
        hub__send(h, recs.items[i].data, recs.items[i].len);
    }
    h->n_sub_ids = h->sub_left = recs.n;
    bool answered = probe__wait(p, &h->subs_done, HUB_ANSWER_MS);
    bool never = false;
    probe__wait(p, &never, 300); /* a SubscribeDetails callback may follow */
    if (answered && !h->refused)
        probe_report__check(p->report, "voice.subscribe", "Subscribe", PROBE_OK, NULL,
                            "%zu users x %zu events accepted (%zu invocation%s): the integration "
                            "user may follow other users' events",
                            n, n_events, recs.n, recs.n == 1 ? "" : "s");
    else
        probe_report__check(p->report, "voice.subscribe", "Subscribe", PROBE_FAIL,
                            "the integration user needs the right to follow the users' events "
                            "(ask Enreach), and voice.events must use names the hub offers",
                            "the hub refused Subscribe: %s",
                            h->refused ? h->sub_error : "no answer within 10 s");
    signalr_records__free(&recs);
    free(ids);
}

static void hub__chain(struct hub *h, const char *me)
{
    struct probe *p = h->p;
    char *token = NULL, *endpoint = NULL, *conn = NULL;
    const char **used = calloc(events__model_count(h->model) + 1, sizeof(*used));
    size_t n_used = 0;
    if (used && hub__token(h, me, &token, &endpoint) && !p->interrupted &&
        (conn = hub__negotiate(h, &endpoint, &token)) && !p->interrupted &&
        hub__connect(h, endpoint, conn, token) && !p->interrupted && hub__handshake(h) &&
        !p->interrupted) {
        hub__events(h, used, &n_used);
        if (!p->interrupted && !h->closed)
            hub__subscribe(h, used, n_used);
        if (!p->interrupted && !h->closed && p->opt->listen_seconds > 0)
            hub__listen(h, p->opt->listen_seconds);
    }
    free(used);
    free(token);
    free(endpoint);
    free(conn);
}

void probe_hub__run(struct probe *p, struct probe_tenant *t, const char *me)
{
    struct hub *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    h->p = p;
    h->t = t;
    h->next_id = 1;
    signalr_reader__init(&h->rd, SIGNALR_MAX_RECORD_DEFAULT);
    h->model = events__model_from_config(&t->tc->voice.events);
    h->link = h->model ? rte__new(p->loop, &hub_callbacks, h) : NULL;
    if (h->link)
        hub__chain(h, me);
    if (h->link) {
        rte__stop(h->link);
        bool never = false;
        probe__wait_cleanup(p, &never, 50); /* the callbacks already posted */
        rte__free(h->link);
    }
    loop__timer_cancel(p->loop, h->ping_timer);
    signalr_reader__free(&h->rd);
    events__model_free(h->model);
    events__names_free(h->offered, h->n_offered);
    free(h->sub_ids);
    free(h);
}
