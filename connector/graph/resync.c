/* Presence reads and the per-user busy state; see resync.h. */
#include "graph/resync.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "graph/graph_client.h"
#include "graph/presence.h"
#include "graph/graph_status.h"
#include "graph/users.h"

#define RESYNC_RETRY_BASE 2000
#define RESYNC_RETRY_MAX  (2 * 60 * 1000)
/* A periodic resync sends its chunks this far apart: at most 50 of them
 * (3 % of the 1,500 per 30 s) in any 30 s window, 154 chunks of a
 * 100,000-user tenant over 92 s of the 15 min period (docs/scaling.md). The
 * resyncs that follow a start or a (re)subscription are not spread. */
#define RESYNC_SPACING_MS 600

struct resync_chunk;

struct graph_resync {
    struct graph_resync_options o;
    bool running; /* a full resync is out */
    bool pending; /* another was asked for meanwhile */
    int outstanding;
    loop_timer_id timer; /* periodic */
    int64_t last_wall_ms;
    const char *last_reason;
    struct resync_chunk *waiting; /* chunks whose retry timer runs */
    /* reads for basic notifications: ids gathered while reads are out */
    char **read_ids;
    int64_t *read_recv; /* webhook arrival per id */
    size_t n_read, cap_read;
    int reads_out;
    loop_timer_id read_timer;
    bool read_gathered; /* the gathering moment of a tight budget has passed */
    bool standby;       /* another instance is active: full resyncs wait (docs/ha.md) */
    bool stopping;
};

struct resync_chunk {
    struct graph_resync *r;
    char **ids;
    size_t n;
    bool full; /* part of a full resync */
    int tries;
    int64_t *recv_mono; /* per id: webhook arrival (basic notifications); NULL for a resync */
    struct backoff bo;
    loop_timer_id timer;
    struct resync_chunk *next; /* in r->waiting while its retry timer runs */
};

struct graph_resync *resync__new(const struct graph_resync_options *o)
{
    struct graph_resync *r = calloc(1, sizeof(*r));
    if (r)
        r->o = *o;
    return r;
}

/* *dst = a copy of src unless it already holds it; -1 when out of memory. */
static int resync__set(char **dst, const char *src)
{
    if (*dst && strcmp(*dst, src) == 0)
        return 0;
    char *copy = strdup(src);
    if (!copy) {
        LOG_ERROR("graph", "out of memory for a presence value");
        return -1;
    }
    free(*dst);
    *dst = copy;
    return 0;
}

int resync__apply(struct graph_resync *r, const struct presence_state *p, const char *source)
{
    struct graph_user *u = users__by_id(r->o.users, p->id);
    const struct graph_config *g = r->o.graph;
    if (!u)
        return -1;
    struct graph_user_seen *s = &u->seen;
    const char *have_seq = s->seq ? s->seq : "";
    if (s->have && !presence__seq_accept(have_seq, p->sequence)) {
        LOG_DEBUG("graph", "out-of-order presence dropped tenant=%s user=%s have=%s got=%s",
                  r->o.tenant, u->upn, have_seq, p->sequence);
        metrics__inc("graph_presence_stale_total", NULL, 1);
        return -1;
    }
    if (p->sequence[0] && resync__set(&s->seq, p->sequence) != 0)
        return -1;
    bool busy = presence__is_busy(p->activity, (const char *const *)g->busy_activities,
                                  g->n_busy_activities);
    if (s->have && s->busy == busy && strcmp(s->availability, p->availability) == 0 &&
        strcmp(s->activity, p->activity) == 0)
        return 0;
    if (resync__set(&s->availability, p->availability) != 0 ||
        resync__set(&s->activity, p->activity) != 0) {
        s->have = false; /* compare nothing with a half-written value */
        return -1;
    }
    if (!s->have || s->busy != busy)
        s->since_wall_ms = clock__wall_ms();
    s->have = true;
    s->busy = busy;
    char *payload =
        presence__busy_payload(busy, s->availability, s->activity, s->since_wall_ms, source, u->id);
    if (payload) {
        bus__publish_state(r->o.bus, u->topic, payload);
        LOG_INFO(
            "graph", "presence tenant=%s user=%s busy=%s availability=%s activity=%s source=%s",
            r->o.tenant, u->upn, busy ? "true" : "false", s->availability, s->activity, source);
    }
    free(payload);
    return 1;
}

void resync__observe_latency(struct graph_resync *r, int64_t recv_mono, size_t n)
{
    if (!recv_mono)
        return;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", r->o.tenant);
    double s = (double)(clock__mono_ms() - recv_mono) / 1000.0;
    for (size_t i = 0; i < n; i++)
        metrics__observe("notification_latency_seconds", labels, s);
}

/* ---- getPresencesByUserId ------------------------------------------------------------ */

static void resync__chunk_send(struct resync_chunk *k);
static void resync__run(struct graph_resync *r);
static void resync__reads_flush(void *arg);

static void resync__chunk_free(struct resync_chunk *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->ids[i]);
    free(k->ids);
    free(k->recv_mono);
    free(k);
}

static struct resync_chunk *resync__chunk_new(struct graph_resync *r, size_t cap, bool full)
{
    struct resync_chunk *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->ids = calloc(cap ? cap : 1, sizeof(*k->ids));
    if (!k->ids) {
        free(k);
        return NULL;
    }
    k->r = r;
    k->full = full;
    backoff__init(&k->bo, RESYNC_RETRY_BASE, RESYNC_RETRY_MAX);
    return k;
}

/* A full resync's last chunk finished (or none could be sent). */
static void resync__full_done(struct graph_resync *r)
{
    r->running = false;
    r->last_wall_ms = clock__wall_ms();
    graph_status__changed(r->o.status);
    if (r->pending) {
        r->pending = false;
        resync__run(r);
    }
}

static void resync__chunk_finished(struct resync_chunk *k)
{
    struct graph_resync *r = k->r;
    bool full = k->full;
    resync__chunk_free(k);
    if (!full) {
        r->reads_out--;
        if (r->n_read && !r->read_timer && !r->stopping)
            r->read_timer = loop__timer(r->o.loop, 0, resync__reads_flush, r);
        return;
    }
    if (--r->outstanding == 0)
        resync__full_done(r);
}

static void resync__chunk_timer(void *arg)
{
    struct resync_chunk *k = arg;
    struct resync_chunk **pp = &k->r->waiting;
    while (*pp && *pp != k)
        pp = &(*pp)->next;
    if (*pp)
        *pp = k->next;
    k->timer = 0;
    resync__chunk_send(k);
}

/* A failed read: again after a backoff (at least its Retry-After), or
 * given up. */
static void resync__chunk_failed(struct resync_chunk *k, const struct graph_response *res)
{
    struct graph_resync *r = k->r;
    int st = res->status;
    bool retry = ++k->tries < RESYNC_MAX_TRIES &&
                 (st == 0 || st == 429 || st >= 500 || st == 401 || st == 200);
    LOG_WARN("graph", "presence read failed tenant=%s status=%d ids=%zu retry=%s", r->o.tenant, st,
             k->n, retry ? "yes" : "no");
    metrics__inc("graph_presence_read_failures_total", NULL, 1);
    if (!retry) {
        resync__chunk_finished(k);
        return;
    }
    int64_t d = backoff__next(&k->bo);
    if (res->retry_after_ms > d)
        d = res->retry_after_ms;
    k->timer = loop__timer(r->o.loop, d, resync__chunk_timer, k);
    k->next = r->waiting;
    r->waiting = k;
}

static void resync__chunk_done(void *ctx, const struct graph_response *res)
{
    struct resync_chunk *k = ctx;
    struct graph_resync *r = k->r;
    if (res->aborted || r->stopping) {
        resync__chunk_free(k);
        return;
    }
    cJSON *o = res->status == 200 ? json__parse(res->body, res->body_len) : NULL;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!cJSON_IsArray(value)) {
        cJSON_Delete(o);
        resync__chunk_failed(k, res);
        return;
    }
    const char *source = k->full ? "resync" : "notification";
    const cJSON *it;
    size_t changed = 0;
    cJSON_ArrayForEach(it, value)
    {
        struct presence_state p;
        const char *why = NULL;
        if (presence__parse(it, &p, &why) != 0) {
            LOG_DEBUG("graph", "presence item skipped tenant=%s reason=%s", r->o.tenant, why);
            continue;
        }
        changed += resync__apply(r, &p, source) > 0;
    }
    cJSON_Delete(o);
    for (size_t i = 0; k->recv_mono && i < k->n; i++)
        resync__observe_latency(r, k->recv_mono[i], 1);
    if (k->full)
        LOG_INFO("graph", "resync chunk read tenant=%s ids=%zu changed=%zu", r->o.tenant, k->n,
                 changed);
    resync__chunk_finished(k);
}

static char *resync__body(const struct resync_chunk *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; arr && i < k->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(k->ids[i]));
    char *body = arr ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return body;
}

static void resync__chunk_send(struct resync_chunk *k)
{
    struct graph_resync *r = k->r;
    if (r->stopping) {
        resync__chunk_free(k);
        return;
    }
    char *body = resync__body(k);
    /* one presence request of the tenant's budget, however many ids */
    struct graph_request req = {
        .method = "POST", .path = "/communications/getPresencesByUserId", .body = body, .units = 1};
    int rc = body ? graph_client__send(r->o.client, &req, resync__chunk_done, k) : -1;
    free(body);
    if (rc == 0)
        return;
    if (r->stopping) {
        resync__chunk_free(k);
        return;
    }
    struct graph_response none = {.status = 0, .retry_after_ms = -1, .error = "cannot send"};
    resync__chunk_failed(k, &none);
}

static void resync__run(struct graph_resync *r)
{
    struct graph_user *const *by_id;
    size_t total = users__resolved(r->o.users, &by_id);
    if (total == 0 || r->stopping)
        return;
    r->running = true;
    r->outstanding = 1; /* held while sending */
    LOG_INFO("graph", "resync tenant=%s users=%zu reason=%s", r->o.tenant, total,
             r->last_reason ? r->last_reason : "-");
    metrics__inc("graph_resyncs_total", NULL, 1);
    bool spread = r->last_reason && strcmp(r->last_reason, "periodic") == 0;
    for (size_t off = 0; off < total; off += RESYNC_CHUNK) {
        size_t n = total - off < RESYNC_CHUNK ? total - off : RESYNC_CHUNK;
        struct resync_chunk *k = resync__chunk_new(r, n, true);
        if (!k)
            break;
        for (size_t i = 0; i < n; i++) {
            k->ids[i] = strdup(by_id[off + i]->id);
            k->n += k->ids[i] != NULL;
        }
        r->outstanding++;
        int64_t delay = spread ? (int64_t)(off / RESYNC_CHUNK) * RESYNC_SPACING_MS : 0;
        if (delay > 0) {
            k->timer = loop__timer(r->o.loop, delay, resync__chunk_timer, k);
            k->next = r->waiting;
            r->waiting = k;
        }
        else {
            resync__chunk_send(k);
        }
    }
    if (--r->outstanding == 0)
        resync__full_done(r);
}

void resync__request(struct graph_resync *r, const char *reason)
{
    if (r->standby) {
        LOG_DEBUG("graph", "resync left to the active instance tenant=%s reason=%s", r->o.tenant,
                  reason);
        return;
    }
    r->last_reason = reason;
    if (r->running) {
        r->pending = true;
        return;
    }
    resync__run(r);
}

void resync__set_standby(struct graph_resync *r, bool standby)
{
    bool takeover = r->standby && !standby;
    r->standby = standby;
    if (takeover)
        resync__request(r, "takeover");
}

/* ---- reads for basic notifications --------------------------------------------------- */

/* Takes up to RESYNC_CHUNK gathered ids into one read. */
static struct resync_chunk *resync__reads_take(struct graph_resync *r)
{
    size_t m = r->n_read < RESYNC_CHUNK ? r->n_read : RESYNC_CHUNK;
    struct resync_chunk *k = resync__chunk_new(r, m, false);
    int64_t *recv = k ? malloc(m * sizeof(*recv)) : NULL;
    if (!recv) {
        free(k ? k->ids : NULL);
        free(k);
        return NULL;
    }
    memcpy(k->ids, r->read_ids, m * sizeof(*k->ids));
    memcpy(recv, r->read_recv, m * sizeof(*recv));
    k->recv_mono = recv;
    k->n = m;
    r->n_read -= m;
    memmove(r->read_ids, r->read_ids + m, r->n_read * sizeof(*r->read_ids));
    memmove(r->read_recv, r->read_recv + m, r->n_read * sizeof(*r->read_recv));
    return k;
}

/* Sends gathered ids while fewer than RESYNC_READS_OUT reads are out; the
 * rest waits for one to finish. */
static void resync__reads_flush(void *arg)
{
    struct graph_resync *r = arg;
    r->read_timer = 0;
    if (!r->read_gathered && r->n_read && r->n_read < RESYNC_CHUNK &&
        r->reads_out < RESYNC_READS_OUT && graph_client__budget_tight(r->o.client)) {
        /* a tight budget: a moment for more ids to share this read */
        r->read_gathered = true;
        r->read_timer = loop__timer(r->o.loop, GRAPH_READ_GATHER_MS, resync__reads_flush, r);
        return;
    }
    r->read_gathered = false;
    while (r->n_read && r->reads_out < RESYNC_READS_OUT && !r->stopping) {
        struct resync_chunk *k = resync__reads_take(r);
        if (!k)
            return;
        r->reads_out++;
        resync__chunk_send(k);
    }
}

static int resync__reads_grow(struct graph_resync *r, size_t need)
{
    if (need <= r->cap_read)
        return 0;
    size_t cap = r->cap_read ? r->cap_read : 64;
    while (cap < need)
        cap *= 2;
    char **ids = realloc(r->read_ids, cap * sizeof(*ids));
    if (ids)
        r->read_ids = ids;
    int64_t *recv = realloc(r->read_recv, cap * sizeof(*recv));
    if (recv)
        r->read_recv = recv;
    if (!ids || !recv)
        return -1;
    r->cap_read = cap;
    return 0;
}

void resync__read_ids(struct graph_resync *r, char *const *ids, size_t n, int64_t recv_mono)
{
    if (r->stopping || resync__reads_grow(r, r->n_read + n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char *id = strdup(ids[i]);
        if (!id)
            break;
        r->read_ids[r->n_read] = id;
        r->read_recv[r->n_read++] = recv_mono;
    }
    /* this turn's ids go together; later ones join while reads are out */
    if (!r->read_timer)
        r->read_timer = loop__timer(r->o.loop, 0, resync__reads_flush, r);
}

/* ---- the periodic resync, status, stop ----------------------------------------------- */

static void resync__tick(void *arg)
{
    struct graph_resync *r = arg;
    r->timer = 0;
    if (r->stopping)
        return;
    resync__request(r, "periodic");
    resync__start(r);
}

void resync__start(struct graph_resync *r)
{
    int64_t ms = (int64_t)r->o.graph->resync_minutes * 60000;
    if (r->o.period_ms > 0)
        ms = r->o.period_ms;
    loop__timer_cancel(r->o.loop, r->timer);
    r->timer = loop__timer(r->o.loop, ms, resync__tick, r);
}

void resync__status(void *ctx, cJSON *section, struct graph_ready *ready)
{
    (void)ready;
    struct graph_resync *r = ctx;
    char ts[32];
    if (r->last_wall_ms)
        cJSON_AddStringToObject(section, "last_resync",
                                clock__iso8601(r->last_wall_ms, ts, sizeof(ts)));
    else
        cJSON_AddNullToObject(section, "last_resync");
}

void resync__stop(struct graph_resync *r)
{
    r->stopping = true;
    loop__timer_cancel(r->o.loop, r->timer);
    r->timer = 0;
    loop__timer_cancel(r->o.loop, r->read_timer);
    r->read_timer = 0;
    for (size_t i = 0; i < r->n_read; i++)
        free(r->read_ids[i]);
    r->n_read = 0;
    while (r->waiting) {
        struct resync_chunk *k = r->waiting;
        r->waiting = k->next;
        loop__timer_cancel(r->o.loop, k->timer);
        resync__chunk_free(k);
    }
}

void resync__free(struct graph_resync *r)
{
    if (!r)
        return;
    resync__stop(r);
    free(r->read_ids);
    free(r->read_recv);
    free(r);
}
