/* Voice 'talking' writer: see writer.h.
 *
 * One slot per (tenant, user) while it has something to do or keeps an
 * availability entry it created; an idle slot is freed on the next loop turn
 * (the start-up reconcile writes every user once: 100,000 slots kept for
 * good were 19 MB, docs/performance.md section 7). Found in a hash map
 * (core/hmap.h) by the
 * lower-cased address: a write is one lookup, not a scan. A slot is idle, waiting for the user map,
 * or has a request in flight; it holds the value being written and at most one queued newer value.
 * Callbacks may call back into the writer, so every state change is made before any callback runs
 * (completions are collected, then fired).
 */
#include "voice/writer.h"
#include "role/role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/hmap.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/str.h"
#include "voice/events.h"
#include "voice/rest.h"
#include "voice/talking.h"

#define WRITER_MAP_POLL_MS 200
#define WRITER_AVAIL_ID    96

struct wtenant {
    struct wtenant *next;
    struct voice_writer *w;
    char *name;
    struct voice_rest *rest;
    enum voice_talking_mode mode;
    char *method, *path, *body;
    int event_type_id;
    char *source, *note;
    voice_writer_lookup_fn lookup;
    voice_write_fn report;
    void *ctx;
};

struct wvalue {
    bool talking;
    voice_write_fn cb;
    void *ctx;
};

/* What the request in flight is (availability takes two for a false). */
enum wstep { WSTEP_WRITE, WSTEP_CURRENT, WSTEP_DELETE };

struct wslot {
    struct hmap_node node; /* in voice_writer.slots */
    struct wtenant *t;
    char *email;
    bool active;    /* cur is being written (in flight or waiting for the map) */
    bool in_flight; /* a request is out */
    struct wvalue cur;
    int attempts;
    int64_t waited_ms;
    bool has_queued;
    struct wvalue queued;
    loop_timer_id timer;
    enum wstep step;
    /* Heap, exactly sized: a slot per user lives as long as the daemon, and
     * fixed arrays of the longest id were most of it (docs/performance.md). */
    char *user_id;       /* Voice's id of the user, from the map at the last send */
    char *avail_id;      /* availability: the entry we created, NULL none */
    struct wslot *inext; /* in voice_writer.idle */
    bool idle_listed;
};

struct voice_writer {
    struct loop *loop;
    struct wtenant *tenants;
    struct hmap slots;  /* by address, case-insensitively; tenants told apart by t */
    struct wslot *idle; /* slots that went idle: freed by writer__sweep if still so */
    loop_timer_id sweep_timer;
    int64_t map_wait_ms;
    bool stopping;
    const struct role *role;
};

/* A completion to fire once the slot's state is settled. */
struct wdone {
    struct wvalue v;
    enum voice_write_status status;
    int http_status;
    int attempts;
    int64_t retry_after_ms;
    char error[256];
};

/* Completions of one turn: the value written, a superseded queued one. */
struct wdones {
    struct wdone d[3];
    size_t n;
};

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

struct voice_writer *voice_writer__new(struct loop *loop)
{
    struct voice_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->map_wait_ms = 10000;
    metrics__describe("voice_talking_writes_total", METRIC_COUNTER,
                      "Talking writes to Voice by final result");
    metrics__describe("voice_talking_requests_total", METRIC_COUNTER,
                      "Talking requests sent to Voice by HTTP status");
    return w;
}

void voice_writer__set_role(struct voice_writer *w, const struct role *role)
{
    w->role = role;
}

void voice_writer__set_map_wait(struct voice_writer *w, int64_t ms)
{
    w->map_wait_ms = ms;
}

static void wtenant__free(struct wtenant *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->method);
    free(t->path);
    free(t->body);
    free(t->source);
    free(t->note);
    free(t);
}

/* strdup that keeps NULL; *ok turns false on out of memory. */
static char *writer__dup(const char *s, bool *ok)
{
    char *d = str__dup(s);
    if (s && !d)
        *ok = false;
    return d;
}

int voice_writer__add_tenant(struct voice_writer *w, const char *tenant, struct voice_rest *rest,
                             const struct voice_talking_config *cfg, voice_writer_lookup_fn lookup,
                             voice_write_fn report, void *ctx)
{
    struct wtenant *t = calloc(1, sizeof(*t));
    bool ok = t != NULL;
    if (!ok)
        return -1;
    t->w = w;
    t->name = writer__dup(tenant, &ok);
    t->mode = cfg ? cfg->mode : VOICE_TALKING_OFF;
    if (t->mode == VOICE_TALKING_TEMPLATE && (!cfg->method || !cfg->path))
        t->mode = VOICE_TALKING_OFF;
    if (cfg) {
        t->method = writer__dup(cfg->method, &ok);
        t->path = writer__dup(cfg->path, &ok);
        t->body = writer__dup(cfg->body, &ok);
        t->event_type_id = cfg->event_type_id;
        t->source = writer__dup(cfg->event_source ? cfg->event_source : "presence-sync", &ok);
        t->note = writer__dup(cfg->note, &ok);
    }
    t->rest = rest;
    t->lookup = lookup;
    t->report = report;
    t->ctx = ctx;
    /* the writer is where a tenant's REST client meets its name: label the
     * client's voice_requests_total with it */
    if (!ok || !tenant || (rest && voice_rest__set_tenant(rest, tenant) != 0)) {
        wtenant__free(t);
        return -1;
    }
    t->next = w->tenants;
    w->tenants = t;
    return 0;
}

static struct wtenant *writer__tenant(const struct voice_writer *w, const char *name)
{
    for (struct wtenant *t = w ? w->tenants : NULL; t && name; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

bool voice_writer__enabled(const struct voice_writer *w, const char *tenant)
{
    const struct wtenant *t = writer__tenant(w, tenant);
    return t && t->mode != VOICE_TALKING_OFF;
}

/* *dst = a copy of src (NULL: none). -1, *dst unchanged, when out of memory. */
static int writer__set_id(char **dst, const char *src)
{
    char *copy = src ? strdup(src) : NULL;
    if (src && !copy)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

static struct wslot *writer__slot(struct voice_writer *w, struct wtenant *t, const char *email)
{
    uint64_t h = hmap__hash_ci(email);
    for (struct hmap_node *n = hmap__first(&w->slots, h); n; n = hmap__next(n, h)) {
        struct wslot *s = HMAP_ENTRY(n, struct wslot, node);
        if (s->t == t && strcasecmp(s->email, email) == 0)
            return s;
    }
    struct wslot *s = calloc(1, sizeof(*s));
    if (!s || !(s->email = strdup(email)) || hmap__insert(&w->slots, &s->node, h) < 0) {
        if (s)
            free(s->email);
        free(s);
        return NULL;
    }
    s->t = t;
    return s;
}

/* ---- completions ---------------------------------------------------------- */

static void wdone__add(struct wdones *ds, const struct wvalue *v, enum voice_write_status status,
                       int http_status, int attempts, int64_t retry_after_ms, const char *error)
{
    struct wdone *d = &ds->d[ds->n++];
    d->v = *v;
    d->status = status;
    d->http_status = http_status;
    d->attempts = attempts;
    d->retry_after_ms = retry_after_ms;
    /* truncated on purpose: a reason, not a document */
    size_t n = error ? strnlen(error, sizeof(d->error) - 1) : 0;
    if (n)
        memcpy(d->error, error, n);
    d->error[n] = '\0';
}

static void writer__fire(struct wslot *s, struct wdones *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        const struct wdone *d = &ds->d[i];
        struct voice_write_result r = {
            .tenant = s->t->name,
            .email = s->email,
            .talking = d->v.talking,
            .status = d->status,
            .http_status = d->http_status,
            .attempts = d->attempts,
            .error = d->error[0] ? d->error : NULL,
            .retry_after_ms = d->retry_after_ms,
        };
        char labels[160];
        snprintf(labels, sizeof(labels), "tenant=\"%s\",result=\"%s\"", s->t->name,
                 voice_write_status__name(r.status));
        metrics__inc("voice_talking_writes_total", labels, 1);
        if (s->t->report)
            s->t->report(s->t->ctx, &r);
        if (d->v.cb)
            d->v.cb(d->v.ctx, &r);
    }
    ds->n = 0;
}

/* ---- sending ----------------------------------------------------------------- */

static void writer__send(struct wslot *s, struct wdones *ds);

/* The value in hand is done: report it, go on with the queued one. */
static void writer__finish(struct wslot *s, struct wdones *ds, enum voice_write_status status,
                           int http_status, int64_t retry_after_ms, const char *error)
{
    wdone__add(ds, &s->cur, status, http_status, s->attempts, retry_after_ms, error);
    s->in_flight = false;
    if (!s->has_queued) {
        s->active = false;
        return;
    }
    s->cur = s->queued;
    s->has_queued = false;
    s->attempts = 0;
    s->waited_ms = 0;
    writer__send(s, ds);
}

static void writer__slot_free(struct wslot *s)
{
    free(s->email);
    free(s->user_id);
    free(s->avail_id);
    free(s);
}

/* Nothing to do and nothing to remember: the slot can go. */
static bool writer__slot_idle(const struct wslot *s)
{
    return !s->active && !s->in_flight && !s->has_queued && !s->timer && !s->avail_id;
}

/* Frees the listed slots that are still idle. From the loop, never inside
 * a completion or a callback, which may still use the slot. */
static void writer__sweep(void *arg)
{
    struct voice_writer *w = arg;
    w->sweep_timer = 0;
    while (w->idle) {
        struct wslot *s = w->idle;
        w->idle = s->inext;
        s->inext = NULL;
        s->idle_listed = false;
        if (writer__slot_idle(s) && !w->stopping) {
            hmap__remove(&w->slots, &s->node);
            writer__slot_free(s);
        }
    }
}

static void writer__note_idle(struct voice_writer *w, struct wslot *s)
{
    if (w->stopping || s->idle_listed || !writer__slot_idle(s))
        return;
    s->idle_listed = true;
    s->inext = w->idle;
    w->idle = s;
    if (!w->sweep_timer)
        w->sweep_timer = loop__timer(w->loop, 0, writer__sweep, w);
}

static void writer__map_poll(void *arg)
{
    struct wslot *s = arg;
    struct wdones ds = {.n = 0};
    s->timer = 0;
    writer__send(s, &ds);
    writer__fire(s, &ds);
    writer__note_idle(s->t->w, s);
}

static void writer__done(void *ctx, const struct http_result *res);

/* Sends one request of the slot's current step; 0, or -1 when it could not
 * be queued (then the value fails). */
static int writer__request(struct wslot *s, const char *method, const char *path, const char *body)
{
    if (voice_rest__call(s->t->rest, method, path, body, writer__done, s) != 0)
        return -1;
    LOG_DEBUG("voice", "talking write sent tenant=%s user=%s talking=%s method=%s path=%s",
              s->t->name, s->email, s->cur.talking ? "true" : "false", method, path);
    s->in_flight = true;
    s->attempts++;
    return 0;
}

/* `/users/{id}/availability[/suffix]` with the id percent-encoded. */
static char *writer__avail_path(const char *user_id, const char *suffix)
{
    char *u = http__escape(user_id), *e = suffix ? http__escape(suffix) : NULL;
    size_t n = (u ? strlen(u) : 0) + (e ? strlen(e) : 0) + 40;
    char *p = u && (!suffix || e) ? malloc(n) : NULL;
    if (p)
        snprintf(p, n, "/users/%s/availability%s%s", u, suffix ? "/" : "", e ? e : "");
    free(u);
    free(e);
    return p;
}

/* The availability mode's step for the current value; 1 when the value is
 * already done without a request, 0 sent, -1 failed to send. */
static int writer__send_availability(struct wslot *s)
{
    struct wtenant *t = s->t;
    char *path = NULL, *body = NULL;
    int rc;
    if (s->cur.talking && s->avail_id)
        return 1; /* our entry is there already */
    if (s->cur.talking) {
        s->step = WSTEP_WRITE;
        path = writer__avail_path(s->user_id, NULL);
        body = talking__availability_body(s->user_id, t->event_type_id, t->source, t->note);
        rc = path && body ? writer__request(s, "POST", path, body) : -1;
    }
    else if (s->avail_id) {
        s->step = WSTEP_DELETE;
        path = writer__avail_path(s->user_id, s->avail_id);
        rc = path ? writer__request(s, "DELETE", path, NULL) : -1;
    }
    else {
        /* not created by this process: find out whether the current entry
         * is ours (a restart) before deleting anything */
        s->step = WSTEP_CURRENT;
        path = writer__avail_path(s->user_id, "current");
        rc = path ? writer__request(s, "GET", path, NULL) : -1;
    }
    free(path);
    free(body);
    return rc;
}

static int writer__send_template(struct wslot *s)
{
    struct wtenant *t = s->t;
    struct talking_template tpl = {.method = t->method, .path = t->path, .body = t->body};
    struct talking_call req;
    s->step = WSTEP_WRITE;
    if (talking__render(&tpl, s->user_id, s->email, s->cur.talking, &req) != 0)
        return -1;
    int rc = writer__request(s, req.method, req.path, req.body);
    talking_call__free(&req);
    return rc;
}

static void writer__send(struct wslot *s, struct wdones *ds)
{
    struct wtenant *t = s->t;
    struct voice_writer *w = t->w;
    const char *user_id = NULL;
    int found = t->lookup ? t->lookup(t->ctx, s->email, &user_id) : -1;
    if (found == 0) {
        LOG_WARN("voice", "talking write for a user Voice does not know tenant=%s user=%s", t->name,
                 s->email);
        writer__finish(s, ds, VOICE_WRITE_UNKNOWN_USER, 0, -1, "no such user in Voice");
        return;
    }
    if (found < 0 || !voice_rest__api(t->rest)) {
        if (s->waited_ms < w->map_wait_ms) {
            s->waited_ms += WRITER_MAP_POLL_MS;
            s->timer = loop__timer(w->loop, WRITER_MAP_POLL_MS, writer__map_poll, s);
            return;
        }
        LOG_WARN("voice", "talking write failed: Voice user map not loaded tenant=%s user=%s",
                 t->name, s->email);
        writer__finish(s, ds, VOICE_WRITE_FAILED, 0, -1, "Voice user map not loaded yet");
        return;
    }
    if (!role__writes(w->role, t->name)) { /* fenced or standby since submit */
        writer__finish(s, ds, VOICE_WRITE_FAILED, 0, -1, "not the active instance");
        return;
    }
    if (writer__set_id(&s->user_id, user_id) != 0) {
        writer__finish(s, ds, VOICE_WRITE_FAILED, 0, -1, "out of memory");
        return;
    }
    int rc = t->mode == VOICE_TALKING_AVAILABILITY ? writer__send_availability(s)
                                                   : writer__send_template(s);
    if (rc == 1)
        writer__finish(s, ds, VOICE_WRITE_OK, 0, -1, NULL);
    else if (rc < 0)
        writer__finish(s, ds, VOICE_WRITE_FAILED, 0, -1, "cannot build or queue the request");
}

/* The availability mode's answers; true when handled here (the value is
 * finished, or its next request is out), false for a failure. */
static bool writer__avail_done(struct wslot *s, const struct http_result *res, struct wdones *ds)
{
    char id[WRITER_AVAIL_ID], source[128];
    bool ok2xx = res->status >= 200 && res->status < 300;
    if (s->step == WSTEP_CURRENT && (ok2xx || res->status == 404)) {
        if (ok2xx &&
            talking__parse_availability(res->body, res->body_len, id, sizeof(id), source,
                                        sizeof(source)) == 0 &&
            strcmp(source, s->t->source) == 0) {
            if (writer__set_id(&s->avail_id, id) != 0) {
                writer__finish(s, ds, VOICE_WRITE_FAILED, 0, -1, "out of memory");
                return true;
            }
            LOG_INFO("voice", "availability entry of an earlier run found tenant=%s user=%s id=%s",
                     s->t->name, s->email, id);
            s->in_flight = false;
            if (writer__send_availability(s) >= 0)
                return true; /* handled: the DELETE is on its way */
            writer__finish(s, ds, VOICE_WRITE_FAILED, 0, -1, "cannot queue the DELETE");
            return true;
        }
        writer__finish(s, ds, VOICE_WRITE_OK, res->status, -1, NULL); /* nothing of ours */
        return true;
    }
    if (s->step == WSTEP_DELETE && (ok2xx || res->status == 404)) {
        writer__set_id(&s->avail_id, NULL);
        writer__finish(s, ds, VOICE_WRITE_OK, res->status, -1, NULL);
        return true;
    }
    if (s->step == WSTEP_WRITE && ok2xx) {
        if (talking__parse_availability(res->body, res->body_len, id, sizeof(id), source,
                                        sizeof(source)) == 0) {
            if (writer__set_id(&s->avail_id, id) != 0)
                LOG_ERROR("voice", "out of memory for an availability id tenant=%s user=%s",
                          s->t->name, s->email);
        }
        else
            LOG_WARN("voice", "availability created without an Id tenant=%s user=%s", s->t->name,
                     s->email);
        writer__finish(s, ds, VOICE_WRITE_OK, res->status, -1, NULL);
        return true;
    }
    return false;
}

static void writer__done(void *ctx, const struct http_result *res)
{
    struct wslot *s = ctx;
    struct voice_writer *w = s->t->w;
    struct wdones ds = {.n = 0};
    char why[320], reason[96];
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",status=\"%d\"", s->t->name, res->status);
    metrics__inc("voice_talking_requests_total", labels, 1);
    voice_rest__reason(res, reason, sizeof(reason));
    bool ok2xx = res->status >= 200 && res->status < 300;
    if (w->stopping) {
        s->in_flight = false;
        wdone__add(&ds, &s->cur, VOICE_WRITE_STOPPED, res->status, s->attempts, -1, "stopped");
        if (s->has_queued)
            wdone__add(&ds, &s->queued, VOICE_WRITE_STOPPED, 0, 0, -1, "stopped");
        s->has_queued = false;
        s->active = false;
    }
    else if (s->t->mode == VOICE_TALKING_AVAILABILITY && writer__avail_done(s, res, &ds)) {
        /* finished there */
    }
    else if (s->in_flight && ok2xx) {
        LOG_INFO("voice", "talking written tenant=%s user=%s talking=%s status=%d", s->t->name,
                 s->email, s->cur.talking ? "true" : "false", res->status);
        writer__finish(s, &ds, VOICE_WRITE_OK, res->status, -1, NULL);
    }
    else if (s->in_flight) {
        snprintf(why, sizeof(why), "%s: %.200s", reason, res->body ? res->body : "");
        LOG_WARN("voice",
                 "talking write failed tenant=%s user=%s talking=%s status=%d body=\"%.200s\"",
                 s->t->name, s->email, s->cur.talking ? "true" : "false", res->status,
                 res->body ? res->body : "");
        writer__finish(s, &ds, VOICE_WRITE_FAILED, res->status, res->retry_after_ms, why);
    }
    writer__fire(s, &ds);
    writer__note_idle(w, s);
}

/* ---- API ---------------------------------------------------------------------- */

int voice_writer__set_talking(struct voice_writer *w, const char *tenant, const char *email,
                              bool talking, voice_write_fn cb, void *ctx)
{
    struct wtenant *t = email && email[0] ? writer__tenant(w, tenant) : NULL;
    struct wslot *s = t && t->mode != VOICE_TALKING_OFF ? writer__slot(w, t, email) : NULL;
    if (!s)
        return -1;
    struct wvalue v = {.talking = talking, .cb = cb, .ctx = ctx};
    struct wdones ds = {.n = 0};
    if (w->stopping) {
        wdone__add(&ds, &v, VOICE_WRITE_STOPPED, 0, 0, -1, "stopped");
    }
    else if (!s->active) {
        s->active = true;
        s->cur = v;
        s->attempts = 0;
        s->waited_ms = 0;
        writer__send(s, &ds);
    }
    else if (!s->in_flight) {
        /* still waiting for the user map: the newest value takes its place */
        wdone__add(&ds, &s->cur, VOICE_WRITE_SUPERSEDED, 0, s->attempts, -1,
                   "replaced by a newer value");
        s->cur = v;
    }
    else {
        /* one request per user: the newest value waits for the one in hand */
        if (s->has_queued)
            wdone__add(&ds, &s->queued, VOICE_WRITE_SUPERSEDED, 0, 0, -1,
                       "replaced by a newer value");
        s->queued = v;
        s->has_queued = true;
    }
    writer__fire(s, &ds);
    writer__note_idle(w, s);
    return 0;
}

size_t voice_writer__slots(const struct voice_writer *w)
{
    return w->slots.count;
}

static void writer__count_active(struct hmap_node *n, void *ctx)
{
    *(size_t *)ctx += HMAP_ENTRY(n, struct wslot, node)->active;
}

size_t voice_writer__pending(const struct voice_writer *w)
{
    size_t n = 0;
    hmap__each((struct hmap *)&w->slots, writer__count_active, &n);
    return n;
}

static void writer__stop_slot(struct voice_writer *w, struct wslot *s)
{
    struct wdones ds = {.n = 0};
    loop__timer_cancel(w->loop, s->timer);
    s->timer = 0;
    if (s->in_flight)
        return; /* its completion reports both */
    if (s->active)
        wdone__add(&ds, &s->cur, VOICE_WRITE_STOPPED, 0, s->attempts, -1, "stopped");
    if (s->has_queued)
        wdone__add(&ds, &s->queued, VOICE_WRITE_STOPPED, 0, 0, -1, "stopped");
    s->active = s->has_queued = false;
    writer__fire(s, &ds);
}

struct writer_list {
    struct wslot **v;
    size_t n;
};

static void writer__collect(struct hmap_node *n, void *ctx)
{
    struct writer_list *l = ctx;
    l->v[l->n++] = HMAP_ENTRY(n, struct wslot, node);
}

void voice_writer__stop(struct voice_writer *w)
{
    if (!w || w->stopping)
        return;
    w->stopping = true;
    loop__timer_cancel(w->loop, w->sweep_timer);
    w->sweep_timer = 0;
    /* A callback may ask for a write of a user not seen yet, which adds a
     * slot and may grow the map: walk a copy of the list, not the map. */
    struct writer_list l = {malloc((w->slots.count ? w->slots.count : 1) * sizeof(*l.v)), 0};
    if (!l.v) {
        LOG_ERROR("voice", "out of memory: pending 'talking' writes not reported as stopped");
        return;
    }
    hmap__each(&w->slots, writer__collect, &l);
    for (size_t i = 0; i < l.n; i++)
        writer__stop_slot(w, l.v[i]);
    free(l.v);
}

static void writer__free_slot(struct hmap_node *n, void *ctx)
{
    (void)ctx;
    writer__slot_free(HMAP_ENTRY(n, struct wslot, node));
}

void voice_writer__free(struct voice_writer *w)
{
    if (!w)
        return;
    loop__timer_cancel(w->loop, w->sweep_timer);
    hmap__each(&w->slots, writer__free_slot, NULL);
    hmap__clear(&w->slots);
    while (w->tenants) {
        struct wtenant *t = w->tenants;
        w->tenants = t->next;
        wtenant__free(t);
    }
    free(w);
}

struct voice_talking_config voice_writer__talking_config(const struct talking_request *r)
{
    struct voice_talking_config c = {
        .mode = r->mode == TALKING_TEMPLATE       ? VOICE_TALKING_TEMPLATE
                : r->mode == TALKING_AVAILABILITY ? VOICE_TALKING_AVAILABILITY
                                                  : VOICE_TALKING_OFF,
        .method = r->method,
        .path = r->path,
        .body = r->body,
        .event_type_id = r->event_type_id,
        .event_source = r->event_source,
        .note = r->note,
    };
    return c;
}
