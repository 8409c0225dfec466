/* Teams presence writes; see graph_writer.h and docs/graph.md "Presence writes".
 *
 * An operation first gets its user's object id (given, cached, or looked
 * up), then waits in its tenant's read or write queue. A flush, posted to
 * the loop once per turn in which something was queued, turns the queues
 * into requests: the older head first, reads by the 650, writes by the 20,
 * while fewer than GRAPH_WRITER_MAX_IN_FLIGHT requests of the tenant are
 * out. Each answer gives every operation in it exactly one result. */
#include "graph/graph_writer.h"
#include "role/role.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "graph/graph_batch.h"
#include "graph/graph_client.h"
#include "graph/directory.h"
#include "graph/paths.h"

#define WRITER_TIMEOUT_MS     15000
#define WRITER_BATCH_EXTRA_MS 5000 /* a $batch does 20 things */

struct wtenant;

struct wop {
    struct wtenant *t;
    enum graph_op op;
    char *upn;
    char id[GRAPH_OBJECT_ID_MAX + 1];
    int64_t session_ms;
    graph_write_fn cb;
    void *ctx;
    uint64_t seq;
    int64_t queued_ms; /* when it joined its queue */
    struct wop *next;
};

struct wqueue {
    struct wop *head, *tail;
    size_t n;
};

struct wtenant {
    struct graph_writer *w;
    struct graph_client_tenant *ct;
    const char *name;
    struct directory *dir;
    struct wqueue reads, writes;
    int in_flight;
    loop_timer_id gather_timer; /* reads gathering while the budget is tight */
};

struct graph_writer {
    struct loop *loop;
    struct graph_client *gc;
    struct wtenant **tenants;
    size_t n_tenants;
    loop_timer_id flush_timer;
    bool stopping;
    int64_t timeout_ms;
    uint64_t seq;
    const struct role *role;
};

/* A request in flight. */
struct wreq {
    struct wtenant *t;
    bool reads;
    size_t n;
    struct wop *ops[];
};

const char *graph_writer__status_name(enum graph_write_status s)
{
    switch (s) {
    case GRAPH_WRITE_OK:
        return "ok";
    case GRAPH_WRITE_FAILED:
        return "failed";
    case GRAPH_WRITE_THROTTLED:
        return "throttled";
    case GRAPH_WRITE_NOT_FOUND:
        return "not_found";
    case GRAPH_WRITE_STOPPED:
        return "stopped";
    }
    return "?";
}

const char *graph_writer__op_name(enum graph_op op)
{
    switch (op) {
    case GRAPH_OP_SET_BUSY:
        return "set_busy";
    case GRAPH_OP_CLEAR:
        return "clear";
    case GRAPH_OP_READ:
        return "read";
    }
    return "?";
}

/* ---- the pure parts ---- */

char *graph_writer__body(enum graph_op op, const char *client_id, int64_t session_ms)
{
    if (op == GRAPH_OP_READ || !client_id)
        return NULL;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "sessionId", client_id);
    if (op == GRAPH_OP_SET_BUSY) {
        char dur[40];
        if (session_ms > 0 && session_ms % 60000 == 0)
            snprintf(dur, sizeof(dur), "PT%lldM", (long long)(session_ms / 60000));
        else
            snprintf(dur, sizeof(dur), "PT%lldS",
                     (long long)((session_ms > 0 ? session_ms : 300000) + 999) / 1000);
        cJSON_AddStringToObject(b, "availability", GRAPH_BUSY_AVAILABILITY);
        cJSON_AddStringToObject(b, "activity", GRAPH_BUSY_ACTIVITY);
        cJSON_AddStringToObject(b, "expirationDuration", dur);
    }
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return s;
}

static const char *graph_writer__suffix(enum graph_op op)
{
    return op == GRAPH_OP_SET_BUSY ? "/setPresence" : op == GRAPH_OP_CLEAR ? "/clearPresence" : "";
}

static unsigned graph_writer__encode_reads(const struct graph_writer_item *items, size_t n,
                                           const char **path, char **body)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *ids = root ? cJSON_AddArrayToObject(root, "ids") : NULL;
    for (size_t k = 0; ids && k < n; k++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(items[k].id));
    *path = "/communications/getPresencesByUserId";
    *body = ids ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return *body ? 1 : 0;
}

static unsigned graph_writer__encode_writes(const struct graph_writer_item *items, size_t n,
                                            const char *client_id, const char **path, char **body)
{
    static char single_path[96];
    struct graph_batch_item bi[GRAPH_BATCH_MAX];
    char *paths[GRAPH_BATCH_MAX] = {NULL}, *bodies[GRAPH_BATCH_MAX] = {NULL};
    bool ok = true;
    for (size_t k = 0; k < n; k++) {
        paths[k] = paths__presence_path(items[k].id, graph_writer__suffix(items[k].op));
        bodies[k] = graph_writer__body(items[k].op, client_id, items[k].session_ms);
        ok = ok && paths[k] && bodies[k];
        bi[k] = (struct graph_batch_item){.method = "POST", .url = paths[k], .body = bodies[k]};
    }
    *body = NULL;
    if (ok && n == 1 && strlen(paths[0]) < sizeof(single_path)) {
        snprintf(single_path, sizeof(single_path), "%s", paths[0]);
        *path = single_path;
        *body = bodies[0];
        bodies[0] = NULL;
    }
    else if (ok && n > 1) {
        *path = "/$batch";
        *body = graph_batch__encode(bi, n);
    }
    for (size_t k = 0; k < n; k++) {
        free(paths[k]);
        free(bodies[k]);
    }
    return *body ? (unsigned)n : 0;
}

unsigned graph_writer__encode(const struct graph_writer_item *items, size_t n,
                              const char *client_id, const char **path, char **body)
{
    *path = NULL;
    *body = NULL;
    if (!items || n == 0)
        return 0;
    bool reads = items[0].op == GRAPH_OP_READ;
    for (size_t k = 0; k < n; k++) {
        if ((items[k].op == GRAPH_OP_READ) != reads || !paths__is_object_id(items[k].id))
            return 0;
    }
    if (reads)
        return n <= GRAPH_WRITER_READ_MAX ? graph_writer__encode_reads(items, n, path, body) : 0;
    return n <= GRAPH_BATCH_MAX ? graph_writer__encode_writes(items, n, client_id, path, body) : 0;
}

enum graph_write_status graph_writer__status(enum graph_op op, int http_status, bool per_user)
{
    if (http_status == 200 || http_status == 204)
        return GRAPH_WRITE_OK;
    if (http_status == 404 && per_user)
        return op == GRAPH_OP_CLEAR ? GRAPH_WRITE_OK : GRAPH_WRITE_NOT_FOUND;
    if (http_status == 429 || http_status == 503 || http_status == 504)
        return GRAPH_WRITE_THROTTLED;
    return GRAPH_WRITE_FAILED;
}

/* ---- results ---- */

static void graph_writer__op_free(struct wop *o)
{
    free(o->upn);
    free(o);
}

static void graph_writer__op_finish(struct wop *o, const struct graph_write_result *r)
{
    char labels[200];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",op=\"%s\",result=\"%s\"", o->t->name,
             graph_writer__op_name(o->op), graph_writer__status_name(r->status));
    if (r->status != GRAPH_WRITE_STOPPED)
        metrics__inc("graph_presence_writes_total", labels, 1);
    if (r->status == GRAPH_WRITE_NOT_FOUND)
        directory__forget(o->t->dir, o->upn);
    o->cb(o->ctx, r);
    graph_writer__op_free(o);
}

/* Ends o with status (and the HTTP facts when there were any). */
static void graph_writer__op_end(struct wop *o, enum graph_write_status st, int http_status,
                                 int64_t ra, const char *error)
{
    struct graph_write_result r = {
        .tenant = o->t->name,
        .upn = o->upn,
        .op = o->op,
        .status = st,
        .http_status = http_status,
        .retry_after_ms = ra,
        .error = st == GRAPH_WRITE_OK ? NULL
                 : error              ? error
                                      : graph_writer__status_name(st),
    };
    graph_writer__op_finish(o, &r);
}

/* The outcome of o from an HTTP answer (a single request or a $batch item). */
static void graph_writer__op_answer(struct wop *o, int status, int64_t ra, const cJSON *body,
                                    const char *transport, bool per_user)
{
    enum graph_write_status st = graph_writer__status(o->op, status, per_user);
    char err[160];
    const char *code = graph_batch__error_code(body);
    if (!status)
        snprintf(err, sizeof(err), "%s", transport ? transport : "no answer");
    else
        snprintf(err, sizeof(err), "HTTP %d%s%s", status, code ? " " : "", code ? code : "");
    graph_writer__op_end(o, st, status, ra, err);
}

static void graph_writer__schedule(struct graph_writer *w);

static void graph_writer__req_done(struct wreq *q)
{
    struct wtenant *t = q->t;
    t->in_flight--;
    free(q);
    graph_writer__schedule(t->w);
}

static void graph_writer__req_fail_all(struct wreq *q, const struct graph_response *res)
{
    for (size_t k = 0; k < q->n; k++) {
        if (!q->ops[k])
            continue;
        if (res->aborted)
            graph_writer__op_end(q->ops[k], GRAPH_WRITE_STOPPED, 0, -1, "stopped");
        else
            graph_writer__op_answer(q->ops[k], res->status, res->retry_after_ms, NULL, res->error,
                                    q->n == 1 && !q->reads);
        q->ops[k] = NULL;
    }
}

/* A getPresencesByUserId answer: each presence to its user by id. */
static void graph_writer__req_reads_done(void *ctx, const struct graph_response *res)
{
    struct wreq *q = ctx;
    cJSON *o = !res->aborted && res->status == 200 && res->body_len
                   ? json__parse(res->body, res->body_len)
                   : NULL;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "value"), *p = NULL;
    cJSON_ArrayForEach(p, arr)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "id");
        const cJSON *av = cJSON_GetObjectItemCaseSensitive(p, "availability");
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(p, "activity");
        for (size_t k = 0; cJSON_IsString(id) && k < q->n; k++) {
            struct wop *op = q->ops[k];
            if (!op || strcasecmp(op->id, id->valuestring) != 0)
                continue;
            q->ops[k] = NULL;
            if (!cJSON_IsString(av) || !cJSON_IsString(act)) {
                graph_writer__op_end(op, GRAPH_WRITE_FAILED, 200, -1,
                                     "presence without availability/activity");
                break;
            }
            struct graph_write_result r = {.tenant = op->t->name,
                                           .upn = op->upn,
                                           .op = op->op,
                                           .status = GRAPH_WRITE_OK,
                                           .http_status = 200,
                                           .retry_after_ms = -1,
                                           .availability = av->valuestring,
                                           .activity = act->valuestring};
            graph_writer__op_finish(op, &r);
            break;
        }
    }
    if (cJSON_IsArray(arr)) {
        for (size_t k = 0; k < q->n; k++) {
            if (q->ops[k])
                graph_writer__op_end(q->ops[k], GRAPH_WRITE_NOT_FOUND, 200, -1,
                                     "user missing from getPresencesByUserId");
            q->ops[k] = NULL;
        }
    }
    else if (!res->aborted && res->status == 200) {
        struct graph_response bad = *res;
        bad.status = 0;
        bad.error = "no presence list in the answer";
        graph_writer__req_fail_all(q, &bad);
    }
    else {
        graph_writer__req_fail_all(q, res);
    }
    cJSON_Delete(o);
    graph_writer__req_done(q);
}

/* A write answer: a single request, or a $batch whose items carry their own
 * status and Retry-After. */
static void graph_writer__req_writes_done(void *ctx, const struct graph_response *res)
{
    struct wreq *q = ctx;
    struct wtenant *t = q->t;
    if (q->n == 1 || res->aborted || res->status != 200) {
        cJSON *body = !res->aborted && res->body_len ? json__parse(res->body, res->body_len) : NULL;
        if (q->n == 1 && !res->aborted)
            graph_writer__op_answer(q->ops[0], res->status, res->retry_after_ms, body, res->error,
                                    true);
        else
            graph_writer__req_fail_all(q, res);
        q->ops[0] = NULL;
        cJSON_Delete(body);
        graph_writer__req_done(q);
        return;
    }
    cJSON *root = json__parse(res->body, res->body_len);
    struct graph_batch_answer a[GRAPH_BATCH_MAX];
    int answered = graph_batch__decode(root, a, q->n, time(NULL));
    int64_t throttle = -2; /* the longest Retry-After of a throttled item */
    for (size_t k = 0; k < q->n; k++) {
        struct wop *op = q->ops[k];
        q->ops[k] = NULL;
        if (answered < 0 || !a[k].status) {
            graph_writer__op_end(op, GRAPH_WRITE_FAILED, 0, -1,
                                 answered < 0 ? "not a $batch answer" : "$batch item missing");
            continue;
        }
        if (a[k].status == 429 || a[k].status == 503 || a[k].status == 504)
            throttle = a[k].retry_after_ms > throttle ? a[k].retry_after_ms : throttle;
        graph_writer__op_answer(op, a[k].status, a[k].retry_after_ms, a[k].body, NULL, true);
    }
    if (throttle > -2)
        graph_client__throttled(t->ct, throttle);
    cJSON_Delete(root);
    graph_writer__req_done(q);
}

/* ---- queues and flushing ---- */

static void graph_writer__queue_push(struct wqueue *q, struct wop *o)
{
    o->next = NULL;
    if (q->tail)
        q->tail->next = o;
    else
        q->head = o;
    q->tail = o;
    q->n++;
}

static struct wop *graph_writer__queue_pop(struct wqueue *q)
{
    struct wop *o = q->head;
    if (!o)
        return NULL;
    q->head = o->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    o->next = NULL;
    return o;
}

/* Sends one request from queue (reads or writes) of t. */
static void graph_writer__send(struct wtenant *t, bool reads)
{
    struct wqueue *src = reads ? &t->reads : &t->writes;
    size_t max = reads ? GRAPH_WRITER_READ_MAX : GRAPH_BATCH_MAX;
    size_t n = src->n < max ? src->n : max;
    if (!reads && !role__writes(t->w->role, t->name)) { /* fenced or standby since submit */
        while (n-- > 0)
            graph_writer__op_end(graph_writer__queue_pop(src), GRAPH_WRITE_FAILED, 0, -1,
                                 "not the active instance");
        return;
    }
    struct wreq *q = calloc(1, sizeof(*q) + n * sizeof(q->ops[0]));
    struct graph_writer_item *items = calloc(n, sizeof(*items));
    if (!q || !items) {
        free(q);
        free(items);
        while (n-- > 0)
            graph_writer__op_end(graph_writer__queue_pop(src), GRAPH_WRITE_FAILED, 0, -1,
                                 "out of memory");
        return;
    }
    q->t = t;
    q->reads = reads;
    for (; q->n < n; q->n++) {
        struct wop *o = graph_writer__queue_pop(src);
        q->ops[q->n] = o;
        items[q->n] =
            (struct graph_writer_item){.op = o->op, .id = o->id, .session_ms = o->session_ms};
    }
    const char *path;
    char *body = NULL;
    unsigned units = graph_writer__encode(items, n, graph_client__client_id(t->ct), &path, &body);
    free(items);
    struct graph_request req = {
        .method = "POST",
        .path = path,
        .body = body,
        .units = units,
        .timeout_ms = t->w->timeout_ms + (!reads && n > 1 ? WRITER_BATCH_EXTRA_MS : 0),
        .fail_fast = true,
    };
    t->in_flight++;
    int rc = units ? graph_client__send(
                         t->ct, &req,
                         reads ? graph_writer__req_reads_done : graph_writer__req_writes_done, q)
                   : -1;
    free(body);
    if (rc == 0)
        return;
    struct graph_response fail = {.status = 0, .retry_after_ms = -1, .error = "cannot send"};
    graph_writer__req_fail_all(q, &fail);
    graph_writer__req_done(q);
}

static void graph_writer__gathered(void *arg)
{
    struct wtenant *t = arg;
    t->gather_timer = 0;
    graph_writer__schedule(t->w);
}

/* Reads go at once, unless the budget is tight: then they wait until
 * GRAPH_READ_GATHER_MS after the oldest one joined (or 650 are waiting), so
 * that many users share one getPresencesByUserId. */
static bool graph_writer__reads_ready(struct wtenant *t, int64_t now)
{
    const struct wop *r = t->reads.head;
    if (!r)
        return false;
    if (t->reads.n >= GRAPH_WRITER_READ_MAX || now - r->queued_ms >= GRAPH_READ_GATHER_MS ||
        !graph_client__budget_tight(t->ct))
        return true;
    if (!t->gather_timer)
        t->gather_timer = loop__timer(t->w->loop, r->queued_ms + GRAPH_READ_GATHER_MS - now,
                                      graph_writer__gathered, t);
    return false;
}

static void graph_writer__flush_tenant(struct wtenant *t)
{
    int64_t now = clock__mono_ms();
    while (t->in_flight < GRAPH_WRITER_MAX_IN_FLIGHT && !t->w->stopping) {
        struct wop *r = graph_writer__reads_ready(t, now) ? t->reads.head : NULL;
        struct wop *x = t->writes.head;
        if (!r && !x)
            return;
        graph_writer__send(t, r && (!x || r->seq < x->seq));
    }
}

static void graph_writer__flush(void *arg)
{
    struct graph_writer *w = arg;
    w->flush_timer = 0;
    for (size_t i = 0; i < w->n_tenants; i++)
        graph_writer__flush_tenant(w->tenants[i]);
}

/* Once per loop turn: what this turn queued goes out together. */
static void graph_writer__schedule(struct graph_writer *w)
{
    if (!w->flush_timer && !w->stopping)
        w->flush_timer = loop__timer(w->loop, 0, graph_writer__flush, w);
}

static void graph_writer__op_queue(struct wop *o)
{
    o->queued_ms = clock__mono_ms();
    graph_writer__queue_push(o->op == GRAPH_OP_READ ? &o->t->reads : &o->t->writes, o);
    graph_writer__schedule(o->t->w);
}

static void graph_writer__op_resolved(void *ctx, enum directory_status st, const char *id,
                                      int64_t ra, const char *error)
{
    struct wop *o = ctx;
    if (st == DIRECTORY_FOUND) {
        snprintf(o->id, sizeof(o->id), "%s", id);
        graph_writer__op_queue(o);
        return;
    }
    enum graph_write_status ws = st == DIRECTORY_NOT_FOUND ? GRAPH_WRITE_NOT_FOUND
                                 : st == DIRECTORY_STOPPED ? GRAPH_WRITE_STOPPED
                                                           : GRAPH_WRITE_FAILED;
    graph_writer__op_end(o, ws, 0, ra, error);
}

/* ---- API ---- */

static struct wtenant *graph_writer__tenant(struct graph_writer *w, const char *name)
{
    for (size_t i = 0; i < w->n_tenants; i++) {
        if (strcmp(w->tenants[i]->name, name) == 0)
            return w->tenants[i];
    }
    struct graph_client_tenant *ct = graph_client__tenant(w->gc, name);
    if (!ct)
        return NULL;
    struct wtenant *t = calloc(1, sizeof(*t));
    struct wtenant **grown = realloc(w->tenants, (w->n_tenants + 1) * sizeof(*grown));
    if (grown)
        w->tenants = grown;
    if (!t || !grown || !(t->dir = directory__new(w->loop, ct))) {
        free(t);
        return NULL;
    }
    t->w = w;
    t->ct = ct;
    t->name = graph_client__name(ct);
    w->tenants[w->n_tenants++] = t;
    return t;
}

int graph_writer__submit(struct graph_writer *w, const struct graph_write *op, graph_write_fn cb,
                         void *ctx)
{
    if (!w || w->stopping || !op || !op->tenant || !op->upn || !cb)
        return -1;
    struct wtenant *t = graph_writer__tenant(w, op->tenant);
    struct wop *o = t ? calloc(1, sizeof(*o)) : NULL;
    if (!o || !(o->upn = strdup(op->upn))) {
        free(o);
        return -1;
    }
    o->t = t;
    o->op = op->op;
    o->session_ms = op->session_ms;
    o->cb = cb;
    o->ctx = ctx;
    o->seq = ++w->seq;
    if (paths__is_object_id(op->user_id)) {
        /* The caller has the id (the Graph side names it in teams/<id>/busy):
         * a directory entry would copy it for every user, 120 bytes each
         * (docs/performance.md section 7). */
        snprintf(o->id, sizeof(o->id), "%s", op->user_id);
        graph_writer__op_queue(o);
        return 0;
    }
    const char *id = NULL;
    int rc = directory__resolve(t->dir, op->upn, &id, graph_writer__op_resolved, o);
    if (rc < 0) {
        graph_writer__op_free(o);
        return -1;
    }
    if (rc == 1) {
        snprintf(o->id, sizeof(o->id), "%s", id);
        graph_writer__op_queue(o);
    }
    return 0;
}

struct graph_writer *graph_writer__new(struct loop *loop, struct graph_client *gc)
{
    struct graph_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->gc = gc;
    w->timeout_ms = WRITER_TIMEOUT_MS;
    metrics__describe("graph_presence_writes_total", METRIC_COUNTER,
                      "Presence operations of the writer (set_busy, clear, read) by result");
    return w;
}

void graph_writer__set_role(struct graph_writer *w, const struct role *role)
{
    w->role = role;
}

void graph_writer__set_timeout(struct graph_writer *w, int64_t ms)
{
    if (ms > 0)
        w->timeout_ms = ms;
}

void graph_writer__stop(struct graph_writer *w)
{
    if (!w || w->stopping)
        return;
    w->stopping = true;
    loop__timer_cancel(w->loop, w->flush_timer);
    w->flush_timer = 0;
    for (size_t i = 0; i < w->n_tenants; i++) {
        struct wtenant *t = w->tenants[i];
        loop__timer_cancel(w->loop, t->gather_timer);
        t->gather_timer = 0;
        directory__stop(t->dir); /* its waiters end as stopped */
        struct wop *o;
        while ((o = graph_writer__queue_pop(&t->reads)))
            graph_writer__op_end(o, GRAPH_WRITE_STOPPED, 0, -1, "stopped");
        while ((o = graph_writer__queue_pop(&t->writes)))
            graph_writer__op_end(o, GRAPH_WRITE_STOPPED, 0, -1, "stopped");
    }
}

void graph_writer__free(struct graph_writer *w)
{
    if (!w)
        return;
    graph_writer__stop(w);
    for (size_t i = 0; i < w->n_tenants; i++) {
        directory__free(w->tenants[i]->dir);
        free(w->tenants[i]);
    }
    free(w->tenants);
    free(w);
}
