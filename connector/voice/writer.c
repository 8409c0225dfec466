/* Voice 'talking' writer: see writer.h.
 *
 * One slot per (tenant, user), kept for the life of the writer (bounded by
 * the configured users). A slot is idle, in flight, or waiting for a retry
 * timer; it holds the current value and at most one queued newer value.
 * Callbacks may call back into the writer, so every state change is made
 * before any callback runs (completions are collected, then fired).
 */
#include "voice/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/backoff.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "voice/rest.h"
#include "voice/talking.h"

#define WRITER_BUCKETS 1024

struct wtenant {
    struct wtenant *next;
    struct voice_writer *w;
    char *name;
    struct voice_rest *rest;
    char *method, *path, *body;
    voice_writer_lookup_fn lookup;
    voice_write_fn report;
    void *ctx;
};

struct wvalue {
    bool talking;
    voice_write_fn cb;
    void *ctx;
};

struct wslot {
    struct wslot *next;
    struct wtenant *t;
    char *email;
    bool active;    /* cur is being written (in flight or waiting) */
    bool in_flight; /* a request is out */
    struct wvalue cur;
    int attempts;
    int last_status;
    bool has_queued;
    struct wvalue queued;
    struct backoff bo;
    loop_timer_id timer;
};

struct voice_writer {
    struct loop *loop;
    struct wtenant *tenants;
    struct wslot *buckets[WRITER_BUCKETS];
    int64_t base_ms, max_ms;
    bool stopping;
};

/* A completion to fire once the slot's state is settled. */
struct wdone {
    struct wvalue v;
    enum voice_write_status status;
    int http_status;
    int attempts;
    char error[256];
};

static struct voice_writer *writer_default;

const char *voice_write_status__name(enum voice_write_status s)
{
    switch (s) {
    case VOICE_WRITE_OK:
        return "ok";
    case VOICE_WRITE_SUPERSEDED:
        return "superseded";
    case VOICE_WRITE_FAILED:
        return "failed";
    case VOICE_WRITE_UNKNOWN_USER:
        return "unknown_user";
    case VOICE_WRITE_STOPPED:
        return "stopped";
    }
    return "?";
}

struct voice_writer *voice_writer__default(void)
{
    return writer_default;
}

void voice_writer__set_default(struct voice_writer *w)
{
    writer_default = w;
}

struct voice_writer *voice_writer__new(struct loop *loop)
{
    struct voice_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->base_ms = 1000;
    w->max_ms = 60000;
    metrics__describe("voice_talking_writes_total", METRIC_COUNTER,
                      "Talking writes to Voice by final result");
    metrics__describe("voice_talking_requests_total", METRIC_COUNTER,
                      "Talking requests sent to Voice by HTTP status");
    return w;
}

void voice_writer__set_backoff(struct voice_writer *w, int64_t base_ms, int64_t max_ms)
{
    w->base_ms = base_ms;
    w->max_ms = max_ms;
}

int voice_writer__add_tenant(struct voice_writer *w, const char *tenant, struct voice_rest *rest,
                             const char *method, const char *path, const char *body,
                             voice_writer_lookup_fn lookup, voice_write_fn report, void *ctx)
{
    struct wtenant *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->w = w;
    t->name = strdup(tenant);
    t->method = strdup(method ? method : TALKING_DEFAULT_METHOD);
    t->path = strdup(path ? path : TALKING_DEFAULT_PATH);
    t->body = body ? strdup(body) : NULL;
    t->rest = rest;
    t->lookup = lookup;
    t->report = report;
    t->ctx = ctx;
    /* the writer is where a tenant's REST client meets its name: label the
     * client's voice_requests_total with it */
    if (!t->name || !t->method || !t->path || (body && !t->body) ||
        (rest && voice_rest__set_tenant(rest, tenant) != 0)) {
        free(t->name);
        free(t->method);
        free(t->path);
        free(t->body);
        free(t);
        return -1;
    }
    t->next = w->tenants;
    w->tenants = t;
    return 0;
}

static struct wtenant *writer__tenant(struct voice_writer *w, const char *name)
{
    for (struct wtenant *t = w->tenants; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static unsigned writer__hash(const struct wtenant *t, const char *email)
{
    unsigned h = 2166136261u ^ (unsigned)(uintptr_t)t;
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        h = (h ^ (unsigned)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p)) * 16777619u;
    return h % WRITER_BUCKETS;
}

static struct wslot *writer__slot(struct voice_writer *w, struct wtenant *t, const char *email)
{
    unsigned h = writer__hash(t, email);
    for (struct wslot *s = w->buckets[h]; s; s = s->next)
        if (s->t == t && strcasecmp(s->email, email) == 0)
            return s;
    struct wslot *s = calloc(1, sizeof(*s));
    if (!s || !(s->email = strdup(email))) {
        free(s);
        return NULL;
    }
    s->t = t;
    backoff__init(&s->bo, w->base_ms, w->max_ms);
    s->next = w->buckets[h];
    w->buckets[h] = s;
    return s;
}

/* ---- completions ---------------------------------------------------------- */

static void wdone__set(struct wdone *d, const struct wvalue *v, enum voice_write_status status,
                       int http_status, int attempts, const char *error)
{
    d->v = *v;
    d->status = status;
    d->http_status = http_status;
    d->attempts = attempts;
    /* truncated on purpose: a reason, not a document */
    size_t n = error ? strnlen(error, sizeof(d->error) - 1) : 0;
    if (n)
        memcpy(d->error, error, n);
    d->error[n] = '\0';
}

static void writer__fire(struct wslot *s, struct wdone *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct voice_write_result r = {
            .tenant = s->t->name,
            .email = s->email,
            .talking = d[i].v.talking,
            .status = d[i].status,
            .http_status = d[i].http_status,
            .attempts = d[i].attempts,
            .error = d[i].error[0] ? d[i].error : NULL,
        };
        char labels[160];
        snprintf(labels, sizeof(labels), "tenant=\"%s\",result=\"%s\"", s->t->name,
                 voice_write_status__name(r.status));
        metrics__inc("voice_talking_writes_total", labels, 1);
        if (s->t->report)
            s->t->report(s->t->ctx, &r);
        if (d[i].v.cb)
            d[i].v.cb(d[i].v.ctx, &r);
    }
}

/* ---- sending ----------------------------------------------------------------- */

static void writer__send(struct wslot *s, struct wdone *done, size_t *n_done);

static void writer__retry(void *arg)
{
    struct wslot *s = arg;
    struct wdone done[2];
    size_t n = 0;
    s->timer = 0;
    writer__send(s, done, &n);
    writer__fire(s, done, n);
}

static void writer__schedule(struct wslot *s, int64_t at_least_ms, const char *why)
{
    struct voice_writer *w = s->t->w;
    int64_t delay = backoff__next(&s->bo);
    if (at_least_ms > delay)
        delay = at_least_ms;
    LOG_INFO("voice",
             "talking write will be retried tenant=%s user=%s talking=%s delay_ms=%lld "
             "reason=\"%s\"",
             s->t->name, s->email, s->cur.talking ? "true" : "false", (long long)delay, why);
    s->timer = loop__timer(w->loop, delay, writer__retry, s);
}

/* Moves on to the queued value, or goes idle. */
static void writer__next(struct wslot *s, struct wdone *done, size_t *n_done)
{
    if (!s->has_queued) {
        s->active = false;
        return;
    }
    s->cur = s->queued;
    s->has_queued = false;
    s->attempts = 0;
    s->last_status = 0;
    writer__send(s, done, n_done);
}

static void writer__done(void *ctx, const struct http_result *res);

static void writer__send(struct wslot *s, struct wdone *done, size_t *n_done)
{
    struct wtenant *t = s->t;
    const char *user_id = NULL;
    int found = t->lookup ? t->lookup(t->ctx, s->email, &user_id) : -1;
    if (found == 0) {
        LOG_WARN("voice", "talking write for a user Voice does not know tenant=%s user=%s", t->name,
                 s->email);
        wdone__set(&done[(*n_done)++], &s->cur, VOICE_WRITE_UNKNOWN_USER, 0, s->attempts,
                   "no such user in Voice");
        writer__next(s, done, n_done);
        return;
    }
    if (found < 0 || !voice_rest__api(t->rest)) {
        writer__schedule(s, 0, "Voice user map not loaded yet");
        return;
    }
    struct talking_template tpl = {.method = t->method, .path = t->path, .body = t->body};
    struct talking_call req;
    if (talking__render(&tpl, user_id, s->email, s->cur.talking, &req) != 0) {
        wdone__set(&done[(*n_done)++], &s->cur, VOICE_WRITE_FAILED, 0, s->attempts,
                   "cannot render talking_request");
        writer__next(s, done, n_done);
        return;
    }
    if (voice_rest__call(t->rest, req.method, req.path, req.body, writer__done, s) != 0) {
        talking_call__free(&req);
        writer__schedule(s, 0, "cannot queue the request");
        return;
    }
    LOG_DEBUG("voice", "talking write sent tenant=%s user=%s talking=%s method=%s path=%s", t->name,
              s->email, s->cur.talking ? "true" : "false", req.method, req.path);
    talking_call__free(&req);
    s->in_flight = true;
    s->attempts++;
}

static void writer__done(void *ctx, const struct http_result *res)
{
    struct wslot *s = ctx;
    struct voice_writer *w = s->t->w;
    struct wdone done[3];
    size_t n = 0;
    char why[320], reason[96];
    s->in_flight = false;
    s->last_status = res->status;
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",status=\"%d\"", s->t->name, res->status);
    metrics__inc("voice_talking_requests_total", labels, 1);
    voice_rest__reason(res, reason, sizeof(reason));
    if (w->stopping) {
        wdone__set(&done[n++], &s->cur, VOICE_WRITE_STOPPED, res->status, s->attempts, "stopped");
        if (s->has_queued)
            wdone__set(&done[n++], &s->queued, VOICE_WRITE_STOPPED, 0, 0, "stopped");
        s->has_queued = false;
        s->active = false;
    }
    else if (res->status >= 200 && res->status < 300) {
        LOG_INFO("voice", "talking written tenant=%s user=%s talking=%s status=%d attempts=%d",
                 s->t->name, s->email, s->cur.talking ? "true" : "false", res->status, s->attempts);
        wdone__set(&done[n++], &s->cur, VOICE_WRITE_OK, res->status, s->attempts, NULL);
        backoff__reset(&s->bo);
        writer__next(s, done, &n);
    }
    else if (voice_rest__retryable(res)) {
        if (s->has_queued) { /* retry with the newest value */
            wdone__set(&done[n++], &s->cur, VOICE_WRITE_SUPERSEDED, res->status, s->attempts,
                       "replaced by a newer value");
            s->cur = s->queued;
            s->has_queued = false;
            s->attempts = 0;
        }
        writer__schedule(s, res->retry_after_ms, reason);
    }
    else {
        snprintf(why, sizeof(why), "%s: %.200s", reason, res->body ? res->body : "");
        LOG_WARN("voice",
                 "talking write refused tenant=%s user=%s talking=%s status=%d body=\"%.200s\"",
                 s->t->name, s->email, s->cur.talking ? "true" : "false", res->status,
                 res->body ? res->body : "");
        wdone__set(&done[n++], &s->cur, VOICE_WRITE_FAILED, res->status, s->attempts, why);
        backoff__reset(&s->bo);
        writer__next(s, done, &n);
    }
    writer__fire(s, done, n);
}

/* ---- API ---------------------------------------------------------------------- */

int voice_writer__set_talking(struct voice_writer *w, const char *tenant, const char *email,
                              bool talking, voice_write_fn cb, void *ctx)
{
    struct wtenant *t = w && tenant && email && email[0] ? writer__tenant(w, tenant) : NULL;
    struct wslot *s = t ? writer__slot(w, t, email) : NULL;
    if (!s)
        return -1;
    struct wvalue v = {.talking = talking, .cb = cb, .ctx = ctx};
    struct wdone done[3];
    size_t n = 0;
    if (w->stopping) {
        wdone__set(&done[n++], &v, VOICE_WRITE_STOPPED, 0, 0, "stopped");
    }
    else if (!s->active) {
        s->active = true;
        s->cur = v;
        s->attempts = 0;
        s->last_status = 0;
        backoff__reset(&s->bo);
        writer__send(s, done, &n);
    }
    else if (s->in_flight) {
        if (s->has_queued)
            wdone__set(&done[n++], &s->queued, VOICE_WRITE_SUPERSEDED, 0, 0,
                       "replaced by a newer value");
        s->queued = v;
        s->has_queued = true;
    }
    else { /* waiting for a retry: the new value takes the old one's place */
        wdone__set(&done[n++], &s->cur, VOICE_WRITE_SUPERSEDED, s->last_status, s->attempts,
                   "replaced by a newer value");
        s->cur = v;
        s->attempts = 0;
    }
    writer__fire(s, done, n);
    return 0;
}

size_t voice_writer__pending(const struct voice_writer *w)
{
    size_t n = 0;
    for (size_t i = 0; i < WRITER_BUCKETS; i++)
        for (const struct wslot *s = w->buckets[i]; s; s = s->next)
            n += s->active;
    return n;
}

void voice_writer__stop(struct voice_writer *w)
{
    if (!w || w->stopping)
        return;
    w->stopping = true;
    for (size_t i = 0; i < WRITER_BUCKETS; i++) {
        for (struct wslot *s = w->buckets[i]; s; s = s->next) {
            struct wdone done[2];
            size_t n = 0;
            loop__timer_cancel(w->loop, s->timer);
            s->timer = 0;
            if (s->active && !s->in_flight) {
                wdone__set(&done[n++], &s->cur, VOICE_WRITE_STOPPED, s->last_status, s->attempts,
                           "stopped");
                s->active = false;
            }
            if (s->has_queued && !s->in_flight) {
                wdone__set(&done[n++], &s->queued, VOICE_WRITE_STOPPED, 0, 0, "stopped");
                s->has_queued = false;
            }
            writer__fire(s, done, n);
        }
    }
}

void voice_writer__free(struct voice_writer *w)
{
    if (!w)
        return;
    if (writer_default == w)
        writer_default = NULL;
    for (size_t i = 0; i < WRITER_BUCKETS; i++) {
        while (w->buckets[i]) {
            struct wslot *s = w->buckets[i];
            w->buckets[i] = s->next;
            free(s->email);
            free(s);
        }
    }
    while (w->tenants) {
        struct wtenant *t = w->tenants;
        w->tenants = t->next;
        free(t->name);
        free(t->method);
        free(t->path);
        free(t->body);
        free(t);
    }
    free(w);
}
