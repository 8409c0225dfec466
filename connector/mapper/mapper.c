/* The mapper component; see mapper.h and docs/mapper.md.
 *
 * Everything here runs on the loop thread. One "pump" re-plans the users
 * that changed (a dirty list) or came due (a full pass, when the timer
 * fires), starts their due actions, publishes B/sync and arms one timer for
 * the earliest next due time. It is posted to the loop after an input or a
 * completion, so the inputs already queued share its pass (and its $batch)
 * without a coalescing delay: each hop of a transition is measured in
 * milliseconds (docs/performance.md §3).
 */
#include "mapper/mapper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/backoff.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/http_client.h"
#include "core/ids.h"
#include "graph/paths.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "mapper/ratelimit.h"
#include "mapper/reconcile.h"
#ifdef PS_HAVE_VOICE_WRITER
#include "voice/writer.h"
#endif

#define SUB         "mapper"
#define TOKEN_SCOPE "https://graph.microsoft.com/.default"

struct mtenant;

struct muser {
    struct rc_user rc;
    struct mtenant *t;
    char *address; /* as configured; rc.address points here */
    char *id;      /* topic id */
    char *sync_topic;
    char *path;                     /* /users/{upn} for Graph */
    char guid[MAPPER_GUID_MAX + 1]; /* Graph object id (teams payload), "" unknown */
    bool dirty;
    int64_t began_us[2]; /* per side: when its write began, for the latency */
    struct muser *dnext; /* dirty list */
    bool vwait;          /* its Voice write waits for a slot */
    struct muser *vnext; /* Voice wait list */
    struct muser *hnext; /* id hash chain */
    bool queued;         /* its graph action waits in the tenant queue */
    unsigned voice_gen;
    struct muser *qnext;
};

struct mtenant {
    struct mapper *m;
    char *name;
    struct rc_config rc;
    char **busy;
    size_t n_busy;
    struct muser **users;
    size_t n_users;
    char *token_url;
    char *api_url;
    char *client_id;
    char *client_secret;
    char *expiration; /* "PT15M" */
    /* the app token (client_credentials) */
    char *token;
    int64_t token_expires_mono;
    bool token_in_flight;
    struct backoff token_bo;
    int64_t token_retry_mono;
    /* Graph requests */
    struct ratelimit rl;
    struct muser *q_head, *q_tail;
    size_t q_len;
    int in_flight;
};

struct mapper {
    const struct daemon_env *env;
    struct loop *loop;
    struct bus *bus;
    struct http_client *cli;
    struct mtenant *tenants;
    size_t n_tenants;
    struct muser **htab; /* by topic id, all tenants */
    size_t hsize;        /* power of two */
    struct muser *dirty_head;
    struct muser *vwait_head, *vwait_tail;
    int voice_in_flight;
    bool full_pass;     /* re-plan everyone: timer, start, reload */
    bool reap_due;      /* a retired user may be done */
    char *teams_prefix; /* P teams/ */
    char *voice_prefix; /* P voice/ */
    char *sync_prefix;  /* B/sync/ */
    loop_timer_id timer;
    int64_t timer_at;
    loop_timer_id pump_timer;
    bool pump_queued;
    bool stopping;
    int64_t startup_ms, echo_grace_ms; /* test overrides */
    int64_t rate_limit, rate_window_ms;
    int64_t http_timeout_ms;
    int64_t wall_offset; /* wall - monotonic, for B/sync times */
};

/* One Graph request: a single action, a $batch of up to 20, or a read of
 * up to MAPPER_READ_MAX users in one getPresencesByUserId (read_many). */
struct mreq {
    struct mtenant *t;
    bool read_many;
    size_t n;
    enum rc_action_kind kind[MAPPER_BATCH_MAX];
    struct muser *u[];
};

struct mvoice_ctx {
    struct mapper *m;
    struct muser *u;
    unsigned gen;
};

static void mapper__schedule(struct mapper *m);
static void mapper__flush(struct mtenant *t);

/* ---- helpers ---- */

static char *mapper__join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static char *mapper__trim_slash(const char *s)
{
    char *o = strdup(s ? s : "");
    if (!o)
        return NULL;
    size_t n = strlen(o);
    while (n > 0 && o[n - 1] == '/')
        o[--n] = '\0';
    return o;
}

static int64_t mapper__env_ms(const char *name, int64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end || v < 0 ? dflt : (int64_t)v;
}

/* ---- users ---- */

static void mapper__user_free(struct muser *u);

static struct muser *mapper__user_new(struct mtenant *t, const char *addr, int64_t now)
{
    struct muser *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->t = t;
    char id[IDS_MAX_ID];
    if (ids__encode(addr, id, sizeof(id)) != 0) {
        LOG_WARN(SUB, "user address cannot be a topic id tenant=%s", t->name);
        free(u);
        return NULL;
    }
    u->address = strdup(addr);
    u->id = strdup(id);
    rc__user_init(&u->rc, t->name, u->address, now);
    u->sync_topic = u->id ? mapper__join(t->m->sync_prefix, u->id, "") : NULL;
    u->path = graph__user_path(addr);
    if (!u->address || !u->id || !u->sync_topic || !u->path) {
        mapper__user_free(u);
        return NULL;
    }
    return u;
}

static void mapper__user_free(struct muser *u)
{
    if (!u)
        return;
    free(u->address);
    free(u->id);
    free(u->sync_topic);
    free(u->path);
    free(u);
}

/* FNV-1a: topic ids are short and already canonical. */
static size_t mapper__hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* Rebuilds the id hash over every tenant's users: after the user lists
 * changed (start, reload, users dropped). An input is one lookup, not a scan
 * of 10,000 users. */
static int mapper__rehash(struct mapper *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_tenants; i++)
        n += m->tenants[i].n_users;
    size_t size = 64;
    while (size < 2 * n)
        size *= 2;
    struct muser **tab = calloc(size, sizeof(*tab));
    if (!tab)
        return -1;
    for (size_t i = 0; i < m->n_tenants; i++) {
        struct mtenant *t = &m->tenants[i];
        for (size_t k = 0; k < t->n_users; k++) {
            struct muser *u = t->users[k];
            size_t h = mapper__hash(u->id) & (size - 1);
            u->hnext = tab[h];
            tab[h] = u;
        }
    }
    free(m->htab);
    m->htab = tab;
    m->hsize = size;
    return 0;
}

static struct muser *mapper__find(struct mapper *m, const char *id)
{
    if (!m->htab)
        return NULL;
    for (struct muser *u = m->htab[mapper__hash(id) & (m->hsize - 1)]; u; u = u->hnext) {
        if (!u->rc.retired && strcmp(u->id, id) == 0)
            return u;
    }
    return NULL;
}

/* Marks u for the next pump's pass (its B/sync is published, its plan
 * re-run) and makes sure a pass comes. */
static void mapper__touch(struct muser *u)
{
    struct mapper *m = u->t->m;
    if (u->dirty)
        return;
    u->dirty = true;
    u->dnext = m->dirty_head;
    m->dirty_head = u;
}

static struct muser *mapper__find_any(struct mtenant *t, const char *addr)
{
    for (size_t k = 0; k < t->n_users; k++) {
        if (strcasecmp(t->users[k]->rc.address, addr) == 0)
            return t->users[k];
    }
    return NULL;
}

/* Builds or updates the tenant's users from its config: new users start as
 * "may own a session and a flag" (reconcile.h); users that left are retired
 * (their writes are wound down, then they are dropped). */
static void mapper__count_users(const struct mtenant *t);

static int mapper__sync_users(struct mtenant *t, const struct tenant_config *tc)
{
    int64_t now = clock__mono_ms();
    for (size_t k = 0; k < t->n_users; k++)
        t->users[k]->rc.retired = true;
    for (size_t i = 0; tc && i < tc->n_users; i++) {
        struct muser *u = mapper__find_any(t, tc->users[i]);
        if (u) {
            u->rc.retired = false;
            continue;
        }
        u = mapper__user_new(t, tc->users[i], now);
        if (!u)
            continue;
        struct muser **n = realloc(t->users, (t->n_users + 1) * sizeof(*n));
        if (!n) {
            mapper__user_free(u);
            return -1;
        }
        t->users = n;
        t->users[t->n_users++] = u;
    }
    for (size_t k = 0; k < t->n_users; k++)
        mapper__touch(t->users[k]);
    t->m->full_pass = true;
    mapper__count_users(t);
    return 0;
}

/* mapper_users{tenant}: the users the mapper follows (not retired). */
static void mapper__count_users(const struct mtenant *t)
{
    size_t n = 0;
    for (size_t k = 0; k < t->n_users; k++)
        n += !t->users[k]->rc.retired;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__set("mapper_users", labels, (double)n);
}

/* Drops retired users with nothing left to do (not while one is on the
 * dirty list: the list would point at freed memory). */
static void mapper__reap(struct mtenant *t, int64_t now)
{
    size_t o = 0;
    for (size_t k = 0; k < t->n_users; k++) {
        struct muser *u = t->users[k];
        bool flight =
            u->queued || u->dirty || u->vwait || u->rc.side[0].in_flight || u->rc.side[1].in_flight;
        bool busy = flight || rc__next_due(&u->rc, &t->rc, now) != RC_NEVER;
        /* A side that no longer knows the user (the Voice side drops it from
         * its map too) would fail forever: give up after a few tries. */
        bool hopeless = !flight && (u->rc.side[0].failures >= MAPPER_RETIRE_TRIES ||
                                    u->rc.side[1].failures >= MAPPER_RETIRE_TRIES);
        if (u->rc.retired && (!busy || hopeless)) {
            if (busy)
                LOG_WARN(SUB, "user removed before its writes were undone tenant=%s id=%s error=%s",
                         t->name, u->id, u->rc.last_error);
            LOG_INFO(SUB, "user removed tenant=%s id=%s", t->name, u->id);
            if (t->m->bus)
                bus__clear_state(t->m->bus, u->sync_topic);
            mapper__user_free(u);
            continue;
        }
        t->users[o++] = u;
    }
    if (o != t->n_users) {
        t->n_users = o;
        mapper__rehash(t->m);
    }
    mapper__count_users(t);
}

/* ---- inputs ---- */

static const char *mapper__jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t mapper__jtime(const cJSON *o, const char *key, int64_t dflt)
{
    const char *s = mapper__jstr(o, key);
    int64_t t;
    return s && clock__parse_iso8601(s, &t) == 0 ? t : dflt;
}

/* `<prefix><id><suffix>` -> the user, or NULL (logged). */
static struct muser *mapper__topic_user(struct mapper *m, const char *topic, const char *prefix,
                                        const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), tl = strlen(topic);
    if (tl <= pl + sl || strncmp(topic, prefix, pl) != 0 || strcmp(topic + tl - sl, suffix) != 0)
        return NULL;
    char id[IDS_MAX_ID], addr[IDS_MAX_ADDRESS + 1];
    size_t il = tl - pl - sl;
    if (il >= sizeof(id))
        return NULL;
    memcpy(id, topic + pl, il);
    id[il] = '\0';
    if (ids__decode(id, addr, sizeof(addr)) != 0) {
        LOG_WARN(SUB, "bad user id in topic topic=%s", topic);
        metrics__inc("mapper_input_errors_total", NULL, 1);
        return NULL;
    }
    struct muser *u = mapper__find(m, id);
    if (!u)
        LOG_DEBUG(SUB, "topic for a user not configured topic=%s", topic);
    return u;
}

/* The Graph side adds the user's object id to teams/<id>/busy: with it the
 * user's presence is read in a getPresencesByUserId of up to 650 users. Only
 * GUID characters are taken; anything else keeps the per-user read. */
static void mapper__take_guid(struct muser *u, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > MAPPER_GUID_MAX || strspn(id, "0123456789abcdefABCDEF-") != n)
        return;
    memcpy(u->guid, id, n + 1);
}

static void mapper__on_teams(void *ctx, const char *topic, const char *payload, size_t len,
                             bool retained)
{
    struct mapper *m = ctx;
    (void)retained;
    if (m->stopping || len == 0) /* an empty retained message: the topic was removed */
        return;
    struct muser *u = mapper__topic_user(m, topic, m->teams_prefix, "/busy");
    if (!u)
        return;
    cJSON *o = cJSON_ParseWithLength(payload, len);
    const char *av = mapper__jstr(o, "availability");
    const char *act = mapper__jstr(o, "activity");
    if (!cJSON_IsObject(o) || !av || !act) {
        LOG_WARN(SUB, "bad teams payload, ignored topic=%s", topic);
        metrics__inc("mapper_input_errors_total", NULL, 1);
        cJSON_Delete(o);
        return;
    }
    int64_t now = clock__mono_ms();
    const char *src = mapper__jstr(o, "source");
    rc__teams_report(&u->rc, &u->t->rc, av, act, mapper__jtime(o, "since", clock__wall_ms()),
                     src && strcmp(src, "resync") == 0 ? "resync" : "notification", now);
    LOG_DEBUG(SUB, "teams input id=%s availability=%s activity=%s origin=%d real=%d", u->id, av,
              act, (int)u->rc.origin, (int)u->rc.teams_real);
    mapper__take_guid(u, mapper__jstr(o, "user_id"));
    cJSON_Delete(o);
    mapper__touch(u);
    mapper__schedule(m);
}

static void mapper__on_voice(void *ctx, const char *topic, const char *payload, size_t len,
                             bool retained)
{
    struct mapper *m = ctx;
    (void)retained;
    if (m->stopping || len == 0)
        return;
    struct muser *u = mapper__topic_user(m, topic, m->voice_prefix, "/talking");
    if (!u)
        return;
    cJSON *o = cJSON_ParseWithLength(payload, len);
    const cJSON *talking = cJSON_GetObjectItemCaseSensitive(o, "talking");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(o, "calls");
    if (!cJSON_IsObject(o) || !cJSON_IsBool(talking) || (calls && !cJSON_IsNumber(calls))) {
        LOG_WARN(SUB, "bad voice payload, ignored topic=%s", topic);
        metrics__inc("mapper_input_errors_total", NULL, 1);
        cJSON_Delete(o);
        return;
    }
    int64_t now = clock__mono_ms();
    const char *src = mapper__jstr(o, "source");
    rc__voice_report(&u->rc, cJSON_IsTrue(talking), calls ? calls->valueint : -1,
                     mapper__jtime(o, "since", clock__wall_ms()), src ? src : "rte", now);
    cJSON_Delete(o);
    mapper__touch(u);
    mapper__schedule(m);
}

/* ---- the app token (client_credentials) ---- */

static void mapper__token_done(void *ctx, const struct http_result *res);

static void mapper__token_fetch(struct mtenant *t)
{
    if (t->token_in_flight || t->m->stopping)
        return;
    char *id = http__escape(t->client_id), *sec = http__escape(t->client_secret);
    char *scope = http__escape(TOKEN_SCOPE);
    char *form = NULL;
    if (id && sec && scope) {
        size_t n = strlen(id) + strlen(sec) + strlen(scope) + 96;
        form = malloc(n);
        if (form)
            snprintf(form, n,
                     "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s", id,
                     sec, scope);
    }
    if (sec)
        memset(sec, 0, strlen(sec));
    free(id);
    free(sec);
    free(scope);
    if (!form)
        return;
    struct http_call call = {
        .method = "POST",
        .url = t->token_url,
        .body = form,
        .body_len = strlen(form),
        .content_type = "application/x-www-form-urlencoded",
        .timeout_ms = 15000,
    };
    t->token_in_flight = true;
    if (http_client__send(t->m->cli, &call, mapper__token_done, t) != 0)
        t->token_in_flight = false;
    memset(form, 0, strlen(form)); /* it holds the secret */
    free(form);
}

/* Fails every queued action: they are re-planned with a retry time instead
 * of waiting in the queue for a token that may not come soon. */
static void mapper__fail_queue(struct mtenant *t, const char *error, int64_t retry_ms)
{
    int64_t now = clock__mono_ms();
    while (t->q_head) {
        struct muser *u = t->q_head;
        t->q_head = u->qnext;
        u->qnext = NULL;
        u->queued = false;
        struct rc_result r = {.ok = false, .retry_after_ms = retry_ms, .random = 0, .error = error};
        rc__done(&u->rc, &t->rc, RC_SIDE_GRAPH, &r, now);
        mapper__touch(u);
    }
    t->q_tail = NULL;
    t->q_len = 0;
}

/* Counts one event of the tenant. */
static void mapper__count(const struct mtenant *t, const char *metric)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__inc(metric, labels, 1);
}

static const char *mapper__side_name(enum rc_side side)
{
    return side == RC_SIDE_GRAPH ? "teams" : "voice";
}

/* mapper_write_latency_seconds{side}: from the decision (rc__begin) to the
 * write being acknowledged; reads are not writes. In microseconds: a write
 * on a LAN takes less than the core's millisecond clock can see. */
static void mapper__observe_write(const struct muser *u, enum rc_side side)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "side=\"%s\"", mapper__side_name(side));
    metrics__observe("mapper_write_latency_seconds", labels,
                     (double)(clock__mono_us() - u->began_us[side]) / 1e6);
}

/* mapper_graph_requests_total{kind,status}: one per HTTP answer. */
static void mapper__count_request(const struct mreq *q, int status)
{
    const char *kind = q->read_many ? "read" : q->n > 1 ? "batch" : "single";
    char labels[64];
    if (status > 0)
        snprintf(labels, sizeof(labels), "kind=\"%s\",status=\"%d\"", kind, status);
    else
        snprintf(labels, sizeof(labels), "kind=\"%s\",status=\"error\"", kind);
    metrics__inc("mapper_graph_requests_total", labels, 1);
}

static void mapper__token_done(void *ctx, const struct http_result *res)
{
    struct mtenant *t = ctx;
    t->token_in_flight = false;
    if (t->m->stopping)
        return;
    cJSON *o = res->status == 200 ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "access_token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
    if (cJSON_IsString(at) && at->valuestring[0]) {
        log__redact_replace(t->token, at->valuestring);
        free(t->token);
        t->token = strdup(at->valuestring);
        int64_t life = cJSON_IsNumber(exp) ? (int64_t)exp->valuedouble * 1000 : 3600 * 1000;
        /* Renew early: 5 minutes before expiry, or at half a short life. */
        int64_t ahead = life > 10 * 60 * 1000 ? life - 5 * 60 * 1000 : life / 2;
        t->token_expires_mono = clock__mono_ms() + ahead;
        backoff__reset(&t->token_bo);
        LOG_INFO(SUB, "app token acquired tenant=%s expires_in_s=%lld", t->name,
                 (long long)(life / 1000));
        mapper__count(t, "mapper_token_refreshes_total");
        cJSON_Delete(o);
        mapper__flush(t);
        return;
    }
    cJSON_Delete(o);
    int64_t delay = backoff__next(&t->token_bo);
    if (res->retry_after_ms > delay)
        delay = res->retry_after_ms;
    t->token_retry_mono = clock__mono_ms() + delay;
    char err[96];
    snprintf(err, sizeof(err), "app token: %s%d", res->status ? "HTTP " : "transport ",
             res->status ? res->status : res->transport_error);
    LOG_WARN(SUB, "app token failed tenant=%s status=%d error=%s retry_ms=%lld", t->name,
             res->status, res->error ? res->error : "", (long long)delay);
    mapper__count(t, "mapper_token_failures_total");
    mapper__fail_queue(t, err, delay);
    mapper__schedule(t->m);
}

static bool mapper__token_valid(const struct mtenant *t)
{
    return t->token && clock__mono_ms() < t->token_expires_mono;
}

/* ---- Graph requests ---- */

static char *mapper__action_body(const struct mtenant *t, enum rc_action_kind kind)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "sessionId", t->client_id);
    if (kind == RC_GRAPH_SET_BUSY) {
        cJSON_AddStringToObject(b, "availability", RC_SET_AVAILABILITY);
        cJSON_AddStringToObject(b, "activity", RC_SET_ACTIVITY);
        cJSON_AddStringToObject(b, "expirationDuration", t->expiration);
    }
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return s;
}

static const char *mapper__action_suffix(enum rc_action_kind kind)
{
    switch (kind) {
    case RC_GRAPH_SET_BUSY:
        return "/presence/setPresence";
    case RC_GRAPH_CLEAR:
        return "/presence/clearPresence";
    default:
        return "/presence";
    }
}

/* One action's outcome (single request or $batch item). */
static void mapper__graph_result(struct mtenant *t, struct muser *u, enum rc_action_kind kind,
                                 int status, int64_t retry_after_ms, const cJSON *body,
                                 const char *transport)
{
    int64_t now = clock__mono_ms();
    bool ok = status == 200 || status == 204 || (kind == RC_GRAPH_CLEAR && status == 404);
    char labels[64];
    snprintf(labels, sizeof(labels), "action=\"%s\",outcome=\"%s\"", rc__action_name(kind),
             ok ? "ok" : "error");
    metrics__inc("mapper_graph_writes_total", labels, 1);
    mapper__touch(u);
    if (ok && kind == RC_GRAPH_READ) {
        const char *av = mapper__jstr(body, "availability");
        const char *act = mapper__jstr(body, "activity");
        if (av && act) {
            rc__teams_read(&u->rc, &t->rc, av, act, now);
            LOG_INFO(SUB, "presence read tenant=%s id=%s availability=%s activity=%s real=%d",
                     t->name, u->id, av, act, (int)u->rc.teams_real);
            return;
        }
        ok = false;
        transport = "presence without availability/activity";
    }
    if (ok) {
        struct rc_result r = {.ok = true, .retry_after_ms = -1};
        mapper__observe_write(u, RC_SIDE_GRAPH);
        rc__done(&u->rc, &t->rc, RC_SIDE_GRAPH, &r, now);
        LOG_INFO(SUB, "graph write done tenant=%s id=%s action=%s status=%d", t->name, u->id,
                 rc__action_name(kind), status);
        return;
    }
    if (status == 401) {
        free(t->token); /* expired or revoked: fetch a new one */
        t->token = NULL;
    }
    if (status == 429 || status == 503 || status == 504) {
        int64_t ra = retry_after_ms >= 0 ? retry_after_ms : 1000;
        ratelimit__block(&t->rl, clock__mono_ms() + ra);
        metrics__inc("mapper_graph_throttled_total", NULL, 1);
    }
    char err[160];
    const char *msg = NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
    if (e)
        msg = mapper__jstr(e, "code");
    if (status)
        snprintf(err, sizeof(err), "HTTP %d%s%s", status, msg ? " " : "", msg ? msg : "");
    else
        snprintf(err, sizeof(err), "%s", transport ? transport : "transport error");
    struct rc_result r = {
        .ok = false, .retry_after_ms = retry_after_ms, .random = (uint32_t)rand(), .error = err};
    rc__done(&u->rc, &t->rc, RC_SIDE_GRAPH, &r, now);
    LOG_WARN(SUB, "graph write failed tenant=%s id=%s action=%s error=%s", t->name, u->id,
             rc__action_name(kind), err);
}

/* Every answer: frees the request's slot and counts it. Returns the tenant,
 * or NULL (q freed) when the mapper is stopping. */
static struct mtenant *mapper__answered(struct mreq *q, const struct http_result *res)
{
    struct mtenant *t = q->t;
    t->in_flight--;
    mapper__count_request(q, res->status);
    if (!t->m->stopping)
        return t;
    free(q);
    return NULL;
}

static void mapper__single_done(void *ctx, const struct http_result *res)
{
    struct mreq *q = ctx;
    struct mtenant *t = mapper__answered(q, res);
    if (!t)
        return;
    cJSON *body = res->body_len ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
    mapper__graph_result(t, q->u[0], q->kind[0], res->status, res->retry_after_ms, body,
                         res->error);
    cJSON_Delete(body);
    mapper__schedule(t->m);
    free(q);
}

static int64_t mapper__item_retry_after(const cJSON *item)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(item, "headers");
    const cJSON *v = NULL;
    cJSON_ArrayForEach(v, h)
    {
        if (v->string && strcasecmp(v->string, "Retry-After") == 0 && cJSON_IsString(v))
            return retry_after__parse_ms(v->valuestring, time(NULL));
    }
    return -1;
}

static void mapper__batch_done(void *ctx, const struct http_result *res)
{
    struct mreq *q = ctx;
    struct mtenant *t = mapper__answered(q, res);
    if (!t)
        return;
    cJSON *o = res->status == 200 ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "responses");
    bool done[MAPPER_BATCH_MAX] = {false};
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        const char *id = mapper__jstr(it, "id");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "status");
        int k = id ? atoi(id) - 1 : -1;
        if (k < 0 || (size_t)k >= q->n || done[k] || !cJSON_IsNumber(st))
            continue;
        done[k] = true;
        mapper__graph_result(t, q->u[k], q->kind[k], st->valueint, mapper__item_retry_after(it),
                             cJSON_GetObjectItemCaseSensitive(it, "body"), NULL);
    }
    /* The whole batch failed, or items are missing: each fails with it. */
    cJSON *body = !o && res->body_len ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
    for (size_t k = 0; k < q->n; k++) {
        if (done[k])
            continue;
        int status = res->status == 200 ? 502 : res->status;
        mapper__graph_result(t, q->u[k], q->kind[k], status, res->retry_after_ms, body,
                             res->error ? res->error : "batch item missing");
    }
    cJSON_Delete(body);
    cJSON_Delete(o);
    mapper__schedule(t->m);
    free(q);
}

static int mapper__send_single(struct mtenant *t, struct mreq *q)
{
    enum rc_action_kind kind = q->kind[0];
    char *url = mapper__join(t->api_url, q->u[0]->path, mapper__action_suffix(kind));
    char *body = kind == RC_GRAPH_READ ? NULL : mapper__action_body(t, kind);
    struct http_call call = {
        .method = kind == RC_GRAPH_READ ? "GET" : "POST",
        .url = url,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .content_type = body ? "application/json" : NULL,
        .bearer = t->token,
        .timeout_ms = t->m->http_timeout_ms,
    };
    int rc = url ? http_client__send(t->m->cli, &call, mapper__single_done, q) : -1;
    free(url);
    free(body);
    return rc;
}

/* POSTs the JSON document root (consumed) to {api}path with the app token;
 * done gets q. extra_ms lengthens the timeout (a $batch does 20 things). */
static int mapper__post_json(struct mtenant *t, const char *path, cJSON *root, int64_t extra_ms,
                             http_done_fn done, struct mreq *q)
{
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *url = mapper__join(t->api_url, path, "");
    struct http_call call = {
        .method = "POST",
        .url = url,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .content_type = "application/json",
        .bearer = t->token,
        .timeout_ms = t->m->http_timeout_ms + extra_ms,
    };
    int rc = url && body ? http_client__send(t->m->cli, &call, done, q) : -1;
    free(url);
    free(body);
    return rc;
}

static int mapper__send_batch(struct mtenant *t, struct mreq *q)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *reqs = cJSON_AddArrayToObject(root, "requests");
    for (size_t k = 0; k < q->n; k++) {
        cJSON *it = cJSON_CreateObject();
        char id[24];
        snprintf(id, sizeof(id), "%zu", k + 1);
        cJSON_AddStringToObject(it, "id", id);
        bool read = q->kind[k] == RC_GRAPH_READ;
        cJSON_AddStringToObject(it, "method", read ? "GET" : "POST");
        char *url = mapper__join(q->u[k]->path, mapper__action_suffix(q->kind[k]), "");
        cJSON_AddStringToObject(it, "url", url ? url : "/");
        free(url);
        if (!read) {
            cJSON *h = cJSON_AddObjectToObject(it, "headers");
            cJSON_AddStringToObject(h, "Content-Type", "application/json");
            char *b = mapper__action_body(t, q->kind[k]);
            cJSON_AddItemToObject(it, "body", cJSON_Parse(b ? b : "{}"));
            free(b);
        }
        cJSON_AddItemToArray(reqs, it);
    }
    return mapper__post_json(t, "/$batch", root, 5000, mapper__batch_done, q);
}

/* Answer of a getPresencesByUserId: each presence goes to its user by id;
 * a user the answer leaves out fails (and is read on its own next time). */
static void mapper__read_done(void *ctx, const struct http_result *res)
{
    struct mreq *q = ctx;
    struct mtenant *t = mapper__answered(q, res);
    if (!t)
        return;
    cJSON *o = res->body_len ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
    const cJSON *arr = res->status == 200 ? cJSON_GetObjectItemCaseSensitive(o, "value") : NULL;
    const cJSON *p = NULL;
    cJSON_ArrayForEach(p, arr)
    {
        const char *id = mapper__jstr(p, "id");
        for (size_t k = 0; id && k < q->n; k++) {
            if (q->u[k] && strcasecmp(q->u[k]->guid, id) == 0) {
                mapper__graph_result(t, q->u[k], RC_GRAPH_READ, 200, -1, p, NULL);
                q->u[k] = NULL;
                break;
            }
        }
    }
    bool answered = cJSON_IsArray(arr);
    for (size_t k = 0; k < q->n; k++) {
        if (!q->u[k])
            continue;
        mapper__graph_result(t, q->u[k], RC_GRAPH_READ, answered ? 502 : res->status,
                             res->retry_after_ms, answered ? NULL : o,
                             answered     ? "user missing from getPresencesByUserId"
                             : res->error ? res->error
                                          : "no presence list");
    }
    cJSON_Delete(o);
    mapper__schedule(t->m);
    free(q);
}

static int mapper__send_read(struct mtenant *t, struct mreq *q)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(root, "ids");
    for (size_t k = 0; ids && k < q->n; k++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(q->u[k]->guid));
    return mapper__post_json(t, "/communications/getPresencesByUserId", root, 0, mapper__read_done,
                             q);
}

/* A read that can share a getPresencesByUserId: the user's object id is
 * known and its last read did not fail (a stale id is then read by path). */
static bool mapper__reads_many(const struct muser *u)
{
    return u->rc.side[RC_SIDE_GRAPH].flight.kind == RC_GRAPH_READ && u->guid[0] &&
           u->rc.side[RC_SIDE_GRAPH].failures == 0;
}

/* Takes up to max queued users out of the queue, in order: those that read
 * many (reads) or the others (writes), into q. */
static void mapper__dequeue(struct mtenant *t, struct mreq *q, bool reads, size_t max)
{
    struct muser **pp = &t->q_head, *last = NULL;
    while (*pp && q->n < max) {
        struct muser *u = *pp;
        if (mapper__reads_many(u) != reads) {
            last = u;
            pp = &u->qnext;
            continue;
        }
        *pp = u->qnext;
        u->qnext = NULL;
        u->queued = false;
        if (q->n < MAPPER_BATCH_MAX)
            q->kind[q->n] = u->rc.side[RC_SIDE_GRAPH].flight.kind;
        q->u[q->n++] = u;
        t->q_len--;
    }
    if (!*pp) /* walked to the end: the tail may have moved */
        t->q_tail = last;
    if (!t->q_head)
        t->q_tail = NULL;
}

/* One request from the queue's head: a read of up to 650 users (one unit
 * of the budget), or writes and per-user reads as one action or a $batch (a
 * unit each: Graph counts every item). NULL when nothing fits. */
static struct mreq *mapper__next_request(struct mtenant *t, size_t avail)
{
    bool reads = mapper__reads_many(t->q_head);
    size_t max = reads ? MAPPER_READ_MAX : MAPPER_BATCH_MAX < avail ? MAPPER_BATCH_MAX : avail;
    struct mreq *q = calloc(1, sizeof(*q) + max * sizeof(q->u[0]));
    if (!q)
        return NULL;
    q->t = t;
    q->read_many = reads;
    mapper__dequeue(t, q, reads, max);
    return q;
}

/* Sends what the queue holds, as far as the token, the rate limit and the
 * in-flight cap allow; re-armed by the pump's timer otherwise. */
static void mapper__flush(struct mtenant *t)
{
    while (t->q_head && t->in_flight < MAPPER_MAX_IN_FLIGHT && !t->m->stopping) {
        if (!mapper__token_valid(t)) {
            if (clock__mono_ms() >= t->token_retry_mono)
                mapper__token_fetch(t);
            return;
        }
        int64_t mono = clock__mono_ms();
        size_t avail = ratelimit__available(&t->rl, mono);
        if (avail == 0)
            return; /* the pump's timer comes back at ratelimit__when() */
        struct mreq *q = mapper__next_request(t, avail);
        if (!q)
            return;
        ratelimit__take(&t->rl, q->read_many ? 1 : q->n, mono);
        t->in_flight++;
        int rc = q->read_many ? mapper__send_read(t, q)
                 : q->n > 1   ? mapper__send_batch(t, q)
                              : mapper__send_single(t, q);
        if (rc != 0) {
            t->in_flight--;
            for (size_t k = 0; k < q->n; k++)
                mapper__graph_result(t, q->u[k], q->read_many ? RC_GRAPH_READ : q->kind[k], 0, -1,
                                     NULL, "cannot send");
            free(q);
            mapper__schedule(t->m);
        }
    }
}

static void mapper__enqueue(struct mtenant *t, struct muser *u)
{
    u->queued = true;
    u->qnext = NULL;
    if (t->q_tail)
        t->q_tail->qnext = u;
    else
        t->q_head = u;
    t->q_tail = u;
    t->q_len++;
}

/* ---- Voice writes ---- */

/* Voice writes in flight are capped (MAPPER_VOICE_MAX_IN_FLIGHT): the
 * start-up reconcile writes every user's flag, and 10,000 requests queued at
 * once cost megabytes that the heap does not give back. Waiting users are
 * woken one per finished write, in order. */
static void mapper__voice_wait(struct mapper *m, struct muser *u)
{
    if (u->vwait)
        return;
    u->vwait = true;
    u->vnext = NULL;
    if (m->vwait_tail)
        m->vwait_tail->vnext = u;
    else
        m->vwait_head = u;
    m->vwait_tail = u;
}

static void mapper__voice_release(struct mapper *m)
{
    if (m->voice_in_flight > 0)
        m->voice_in_flight--;
    struct muser *u = m->vwait_head;
    if (!u || m->stopping)
        return;
    m->vwait_head = u->vnext;
    if (!m->vwait_head)
        m->vwait_tail = NULL;
    u->vnext = NULL;
    u->vwait = false;
    mapper__touch(u);
    mapper__schedule(m);
}

#ifdef PS_HAVE_VOICE_WRITER
static void mapper__voice_done(void *ctx, const struct voice_write_result *res)
{
    struct mvoice_ctx *c = ctx;
    struct mapper *m = c->m;
    struct muser *u = c->u;
    mapper__voice_release(m);
    if (m->stopping || res->status == VOICE_WRITE_STOPPED || c->gen != u->voice_gen) {
        free(c);
        return;
    }
    free(c);
    int64_t now = clock__mono_ms();
    bool ok = res->status == VOICE_WRITE_OK;
    char labels[64];
    snprintf(labels, sizeof(labels), "outcome=\"%s\"", ok ? "ok" : "error");
    metrics__inc("mapper_voice_writes_total", labels, 1);
    char err[160];
    snprintf(err, sizeof(err), "%s%s%s", voice_write_status__name(res->status),
             res->error ? ": " : "", res->error ? res->error : "");
    struct rc_result r = {
        .ok = ok, .retry_after_ms = res->retry_after_ms, .random = (uint32_t)rand(), .error = err};
    if (ok)
        mapper__observe_write(u, RC_SIDE_VOICE);
    rc__done(&u->rc, &u->t->rc, RC_SIDE_VOICE, &r, now);
    if (ok)
        LOG_INFO(SUB, "voice talking written tenant=%s id=%s talking=%s", u->t->name, u->id,
                 res->talking ? "true" : "false");
    else
        LOG_WARN(SUB, "voice write failed tenant=%s id=%s error=%s", u->t->name, u->id, err);
    mapper__touch(u);
    mapper__schedule(m);
}

static void mapper__voice_start(struct mapper *m, struct muser *u, bool value)
{
    struct voice_writer *w = voice_writer__default();
    struct mvoice_ctx *c = calloc(1, sizeof(*c));
    int rc = -1;
    if (w && c) {
        c->m = m;
        c->u = u;
        c->gen = ++u->voice_gen;
        m->voice_in_flight++;
        rc = voice_writer__set_talking(w, u->t->name, u->rc.address, value, mapper__voice_done, c);
    }
    if (rc == 0)
        return;
    mapper__voice_release(m);
    free(c);
    struct rc_result r = {.ok = false,
                          .retry_after_ms = -1,
                          .random = (uint32_t)rand(),
                          .error = w ? "voice writer refused" : "voice side not running"};
    rc__done(&u->rc, &u->t->rc, RC_SIDE_VOICE, &r, clock__mono_ms());
}
#else
static void mapper__voice_start(struct mapper *m, struct muser *u, bool value)
{
    (void)m;
    (void)value;
    struct rc_result r = {.ok = false,
                          .retry_after_ms = -1,
                          .random = (uint32_t)rand(),
                          .error = "built without the voice side"};
    rc__done(&u->rc, &u->t->rc, RC_SIDE_VOICE, &r, clock__mono_ms());
}
#endif

/* ---- the pump ---- */

static void mapper__publish(struct mapper *m, struct muser *u, int64_t now)
{
    if (!m->bus)
        return;
    char *js = rc__sync_json(&u->rc, &u->t->rc, now, m->wall_offset);
    if (js)
        bus__publish_state(m->bus, u->sync_topic, js);
    free(js);
}

static void mapper__pump_user(struct mapper *m, struct muser *u, int64_t now)
{
    struct rc_action a[RC_MAX_ACTIONS];
    size_t n = rc__plan(&u->rc, &u->t->rc, now, a);
    for (size_t i = 0; i < n; i++) {
        if (a[i].not_before > now)
            continue;
        if (a[i].kind == RC_VOICE_SET && m->voice_in_flight >= MAPPER_VOICE_MAX_IN_FLIGHT) {
            mapper__voice_wait(m, u);
            continue;
        }
        enum rc_side side = a[i].kind == RC_VOICE_SET ? RC_SIDE_VOICE : RC_SIDE_GRAPH;
        if (u->rc.side[side].failures > 0) {
            char labels[32];
            snprintf(labels, sizeof(labels), "side=\"%s\"", mapper__side_name(side));
            metrics__inc("mapper_retries_total", labels, 1);
        }
        rc__begin(&u->rc, &a[i], now);
        u->began_us[side] = clock__mono_us();
        LOG_DEBUG(SUB, "action tenant=%s id=%s action=%s value=%d why=%s", u->t->name, u->id,
                  rc__action_name(a[i].kind), (int)a[i].value, a[i].why);
        if (a[i].kind == RC_VOICE_SET)
            mapper__voice_start(m, u, a[i].value);
        else
            mapper__enqueue(u->t, u);
    }
    /* Its view changed (an input, a completion, an action begun). */
    mapper__publish(m, u, now);
}

/* The user's next due time; a Voice write waiting for a slot is woken by a
 * completion, not by the timer (which would spin while the queue drains). */
static int64_t mapper__next_due(const struct muser *u, int64_t now)
{
    struct rc_action a[RC_MAX_ACTIONS];
    size_t n = rc__plan(&u->rc, &u->t->rc, now, a);
    int64_t due = RC_NEVER;
    for (size_t i = 0; i < n; i++) {
        if (u->vwait && a[i].kind == RC_VOICE_SET)
            continue;
        if (a[i].not_before < due)
            due = a[i].not_before;
    }
    return due;
}

static void mapper__timer_fired(void *arg)
{
    struct mapper *m = arg;
    m->timer = 0;
    m->timer_at = 0;
    m->full_pass = true;
    mapper__schedule(m);
}

/* Every user: the dirty ones and those that came due. Returns the earliest
 * next due time of all. */
static int64_t mapper__pass_all(struct mapper *m, int64_t now)
{
    int64_t next = RC_NEVER;
    for (size_t i = 0; i < m->n_tenants; i++) {
        struct mtenant *t = &m->tenants[i];
        for (size_t k = 0; k < t->n_users; k++) {
            struct muser *u = t->users[k];
            if (u->dirty)
                continue; /* the dirty pass that follows takes it */
            int64_t due = mapper__next_due(u, now);
            if (due <= now) {
                mapper__pump_user(m, u, now);
                due = mapper__next_due(u, now);
            }
            if (due < next)
                next = due;
        }
    }
    return next;
}

/* The dirty users only (a pass per input or completion costs what changed,
 * not the number of users). A user re-dirtied during the pass (a refused
 * Voice write) comes round again, a bounded number of times. Returns the
 * earliest next due time among them. */
static int64_t mapper__pass_dirty(struct mapper *m, int64_t now)
{
    int64_t next = RC_NEVER;
    for (int round = 0; round < 3 && m->dirty_head; round++) {
        struct muser *list = m->dirty_head;
        m->dirty_head = NULL;
        while (list) {
            struct muser *u = list;
            list = u->dnext;
            u->dnext = NULL;
            u->dirty = false;
            mapper__pump_user(m, u, now);
            int64_t due = mapper__next_due(u, now);
            if (due < next)
                next = due;
            if (u->rc.retired)
                m->reap_due = true;
        }
    }
    return next;
}

/* Earliest next wake-up of a tenant's queue: the rate limit, the token. */
static int64_t mapper__queue_due(struct mtenant *t)
{
    if (!t->q_head || t->in_flight >= MAPPER_MAX_IN_FLIGHT || t->token_in_flight)
        return RC_NEVER;
    int64_t mono = clock__mono_ms();
    return mapper__token_valid(t) ? ratelimit__when(&t->rl, 1, mono) : t->token_retry_mono;
}

static void mapper__arm(struct mapper *m, int64_t next, int64_t now)
{
    if (next >= RC_NEVER - 1)
        return;
    if (m->timer && m->timer_at <= next)
        return;
    if (m->timer)
        loop__timer_cancel(m->loop, m->timer);
    int64_t delay = next > now ? next - now : 0;
    /* Never sleep more than a minute at once (a cheap safety net). */
    if (delay > 60000)
        delay = 60000;
    m->timer_at = now + delay;
    m->timer = loop__timer(m->loop, delay > 0 ? delay : 1, mapper__timer_fired, m);
}

static void mapper__pump(void *arg)
{
    struct mapper *m = arg;
    m->pump_queued = false;
    m->pump_timer = 0;
    if (m->stopping)
        return;
    int64_t now = clock__mono_ms();
    int64_t next = RC_NEVER;
    if (m->full_pass) {
        m->full_pass = false;
        m->reap_due = true;
        next = mapper__pass_all(m, now);
    }
    int64_t d = mapper__pass_dirty(m, now);
    if (d < next)
        next = d;
    for (size_t i = 0; i < m->n_tenants; i++) {
        struct mtenant *t = &m->tenants[i];
        mapper__flush(t);
        d = mapper__queue_due(t);
        if (d < next)
            next = d;
    }
    /* Users made dirty by a failed send above wait for the next pass. */
    if (m->dirty_head)
        mapper__schedule(m);
    if (m->reap_due) {
        m->reap_due = false;
        for (size_t i = 0; i < m->n_tenants; i++)
            mapper__reap(&m->tenants[i], now);
    }
    mapper__arm(m, next, now);
}

static void mapper__schedule(struct mapper *m)
{
    if (m->pump_queued || m->stopping)
        return;
    m->pump_queued = true;
    /* A timer due now runs after the work already posted to the loop, so
     * the inputs of a burst share one pass (and its $batch requests). */
    m->pump_timer = loop__timer(m->loop, 0, mapper__pump, m);
}

/* ---- component ---- */

static void mapper__tenant_free(struct mtenant *t)
{
    for (size_t k = 0; k < t->n_users; k++)
        mapper__user_free(t->users[k]);
    free(t->users);
    for (size_t i = 0; i < t->n_busy; i++)
        free(t->busy[i]);
    free(t->busy);
    free(t->name);
    free(t->token_url);
    free(t->api_url);
    free(t->client_id);
    if (t->client_secret) {
        memset(t->client_secret, 0, strlen(t->client_secret));
        free(t->client_secret);
    }
    free(t->expiration);
    free(t->token);
    ratelimit__free(&t->rl);
}

/* Graph counts a request when it arrives, the limiter when it leaves: a
 * request delayed on the way (a slow $batch) could land in the next window.
 * A margin on the window keeps every arrival window within the limit. One
 * second covers a request's way to Graph many times over (anything slower
 * still has the 100 requests the mapper leaves unused); each second more
 * delays the last write of a burst by as much (docs/performance.md §5). */
static int64_t mapper__window_with_margin(int64_t window_ms)
{
    return window_ms + 1000;
}

static int mapper__tenant_init(struct mapper *m, struct mtenant *t, const struct config *cfg,
                               const struct tenant_config *tc)
{
    const struct graph_config *g = &tc->graph;
    t->m = m;
    t->name = strdup(tc->name);
    char *login = mapper__trim_slash(g->login_url);
    if (login) {
        size_t n = strlen(login) + strlen(g->tenant_id) + 32;
        t->token_url = malloc(n);
        if (t->token_url)
            snprintf(t->token_url, n, "%s/%s/oauth2/v2.0/token", login, g->tenant_id);
    }
    free(login);
    t->api_url = mapper__trim_slash(g->api_url);
    t->client_id = strdup(g->client_id ? g->client_id : "");
    t->client_secret = strdup(g->client_secret.value ? g->client_secret.value : "");
    char dur[32];
    snprintf(dur, sizeof(dur), "PT%dM", g->presence_session_minutes);
    t->expiration = strdup(dur);
    if (!t->name || !t->token_url || !t->api_url || !t->client_id || !t->client_secret ||
        !t->expiration ||
        ratelimit__init(&t->rl, (size_t)m->rate_limit,
                        mapper__window_with_margin(m->rate_window_ms)) != 0)
        return -1;
    backoff__init(&t->token_bo, 1000, 5 * 60 * 1000LL);
    rc__config_default(&t->rc);
    t->rc.session_ms = (int64_t)g->presence_session_minutes * 60 * 1000;
    t->rc.settle_ms = (int64_t)cfg->mapper.settle_seconds * 1000;
    t->rc.startup_ms = m->startup_ms;
    t->rc.echo_grace_ms = m->echo_grace_ms;
#ifdef PS_HAVE_VOICE_WRITER
    /* No talking_request: Teams -> Voice is off for the tenant (docs/voice.md). */
    struct voice_writer *vw = voice_writer__default();
    t->rc.no_voice_writes = vw && !voice_writer__enabled(vw, tc->name);
#endif
    if (g->n_busy_activities) {
        t->busy = calloc(g->n_busy_activities, sizeof(*t->busy));
        if (!t->busy)
            return -1;
        for (size_t i = 0; i < g->n_busy_activities; i++) {
            t->busy[i] = strdup(g->busy_activities[i]);
            if (!t->busy[i])
                return -1;
            t->n_busy++;
        }
        t->rc.busy = (const char *const *)t->busy;
        t->rc.n_busy = t->n_busy;
    }
    return mapper__sync_users(t, tc);
}

static void mapper__free(void *state);

static int mapper__init(const struct daemon_env *env, void **state)
{
    const struct config *cfg = env->cfg;
    *state = NULL;
    if (!cfg->mapper.enabled) {
        LOG_INFO(SUB, "mapper disabled by config");
        return 0;
    }
    struct mapper *m = calloc(1, sizeof(*m));
    if (!m)
        return -1;
    m->env = env;
    m->loop = env->loop;
    m->bus = env->bus;
    m->startup_ms = mapper__env_ms("PS_MAPPER_STARTUP_MS", 30000);
    m->echo_grace_ms = mapper__env_ms("PS_MAPPER_ECHO_GRACE_MS", 60000);
    /* Tests shrink the limit to see it work; never above Graph's. */
    m->wall_offset = clock__wall_ms() - clock__mono_ms();
    m->http_timeout_ms = mapper__env_ms("PS_MAPPER_HTTP_TIMEOUT_MS", 15000);
    m->rate_limit = mapper__env_ms("PS_MAPPER_RATE_LIMIT", MAPPER_RATE_LIMIT);
    m->rate_window_ms = mapper__env_ms("PS_MAPPER_RATE_WINDOW_MS", MAPPER_RATE_WINDOW_MS);
    if (m->rate_limit < 1 || m->rate_window_ms < 1 ||
        m->rate_limit * MAPPER_RATE_WINDOW_MS > MAPPER_RATE_LIMIT * m->rate_window_ms) {
        m->rate_limit = MAPPER_RATE_LIMIT;
        m->rate_window_ms = MAPPER_RATE_WINDOW_MS;
    }
    const char *p = cfg->mqtt.topic_prefix ? cfg->mqtt.topic_prefix : "";
    m->teams_prefix = mapper__join(p, "teams/", "");
    m->voice_prefix = mapper__join(p, "voice/", "");
    m->sync_prefix = mapper__join(cfg->mqtt.bridge_topic, "/sync/", "");
    m->cli = http_client__new(env->loop);
    m->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof(*m->tenants));
    if (!m->teams_prefix || !m->voice_prefix || !m->sync_prefix || !m->cli || !m->tenants)
        goto fail;
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        m->n_tenants++;
        if (mapper__tenant_init(m, &m->tenants[i], cfg, &cfg->tenants[i]) != 0)
            goto fail;
    }
    if (mapper__rehash(m) != 0)
        goto fail;
    metrics__describe("mapper_graph_writes_total", METRIC_COUNTER,
                      "Graph presence actions of the mapper, by action and outcome.");
    metrics__describe("mapper_graph_requests_total", METRIC_COUNTER,
                      "HTTP requests the mapper sent to Graph (single or $batch).");
    metrics__describe("mapper_graph_throttled_total", METRIC_COUNTER,
                      "Graph answers 429/503/504 to the mapper.");
    metrics__describe("mapper_voice_writes_total", METRIC_COUNTER,
                      "Voice 'talking' writes of the mapper, by outcome.");
    metrics__describe("mapper_input_errors_total", METRIC_COUNTER,
                      "Unusable messages on teams/+/busy and voice/+/talking.");
    metrics__describe("mapper_token_refreshes_total", METRIC_COUNTER,
                      "App tokens the mapper acquired.");
    metrics__describe("mapper_token_failures_total", METRIC_COUNTER,
                      "Failed app-token requests of the mapper.");
    metrics__describe("mapper_retries_total", METRIC_COUNTER,
                      "Mapper writes retried after a failure, by side (teams, voice).");
    metrics__describe("mapper_users", METRIC_GAUGE, "Users the mapper follows (users mapped).");
    metrics__describe("mapper_write_latency_seconds", METRIC_HISTOGRAM,
                      "Seconds from the mapper's decision to write to the write being "
                      "acknowledged, by side written (teams, voice).");
    /* created at 0 so rate() and alerts work from the start */
    for (size_t i = 0; i < m->n_tenants; i++) {
        char labels[160];
        snprintf(labels, sizeof(labels), "tenant=\"%s\"", m->tenants[i].name);
        metrics__inc("mapper_token_refreshes_total", labels, 0);
        metrics__inc("mapper_token_failures_total", labels, 0);
    }
    metrics__inc("mapper_retries_total", "side=\"teams\"", 0);
    metrics__inc("mapper_retries_total", "side=\"voice\"", 0);
    if (m->bus) {
        char *tf = mapper__join(m->teams_prefix, "+/busy", "");
        char *vf = mapper__join(m->voice_prefix, "+/talking", "");
        int rc = tf && vf ? 0 : -1;
        if (rc == 0)
            rc = bus__subscribe(m->bus, tf, mapper__on_teams, m);
        if (rc == 0)
            rc = bus__subscribe(m->bus, vf, mapper__on_voice, m);
        free(tf);
        free(vf);
        if (rc != 0)
            goto fail;
    }
    *state = m;
    return 0;
fail:
    LOG_ERROR(SUB, "cannot initialise the mapper");
    mapper__free(m);
    return -1;
}

static int mapper__start(void *state)
{
    struct mapper *m = state;
    if (!m)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < m->n_tenants; i++)
        n += m->tenants[i].n_users;
    LOG_INFO(SUB, "mapper started tenants=%zu users=%zu startup_ms=%lld rate=%lld/%lldms",
             m->n_tenants, n, (long long)m->startup_ms, (long long)m->rate_limit,
             (long long)m->rate_window_ms);
    mapper__schedule(m);
    return 0;
}

static void mapper__reload(void *state)
{
    struct mapper *m = state;
    if (!m)
        return;
    const struct config *cfg = m->env->cfg;
    for (size_t i = 0; i < m->n_tenants; i++) {
        const struct tenant_config *tc = NULL;
        for (size_t k = 0; k < cfg->n_tenants; k++) {
            if (strcmp(cfg->tenants[k].name, m->tenants[i].name) == 0)
                tc = &cfg->tenants[k];
        }
        mapper__sync_users(&m->tenants[i], tc);
    }
    if (mapper__rehash(m) != 0)
        LOG_ERROR(SUB, "out of memory: users changed by the reload may be missed");
    mapper__schedule(m);
}

static void mapper__stop(void *state)
{
    struct mapper *m = state;
    if (!m || m->stopping)
        return;
    m->stopping = true;
    if (m->timer)
        loop__timer_cancel(m->loop, m->timer);
    m->timer = 0;
    if (m->pump_timer)
        loop__timer_cancel(m->loop, m->pump_timer);
    m->pump_timer = 0;
    /* In-flight requests complete (aborted) and see `stopping`. Sessions
     * left in Teams expire by themselves (expirationDuration). */
    if (m->cli) {
        http_client__free(m->cli);
        m->cli = NULL;
    }
}

static void mapper__free(void *state)
{
    struct mapper *m = state;
    if (!m)
        return;
    mapper__stop(m);
    for (size_t i = 0; i < m->n_tenants; i++)
        mapper__tenant_free(&m->tenants[i]);
    free(m->tenants);
    free(m->htab);
    free(m->teams_prefix);
    free(m->voice_prefix);
    free(m->sync_prefix);
    free(m);
}

const struct daemon_component mapper_component = {
    .name = "mapper",
    .init = mapper__init,
    .start = mapper__start,
    .reload = mapper__reload,
    .stop = mapper__stop,
    .free = mapper__free,
};
