/* The presence writer's user directory; see directory.h.
 *
 * One entry per address asked for: its id when known, or the callers waiting
 * for its lookup. Lookups asked for in one loop turn share $batch requests. */
#include "graph/directory.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/hmap.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "graph/graph_batch.h"
#include "graph/graph_client.h"
#include "graph/paths.h"

struct dwaiter {
    directory_fn fn;
    void *ctx;
    struct dwaiter *next;
};

struct dentry {
    struct hmap_node node; /* in directory.entries */
    char *upn;             /* lower case */
    char id[GRAPH_OBJECT_ID_MAX + 1];
    bool known;
    bool asked; /* its lookup is in a request */
    struct dwaiter *waiters;
    struct dentry *lnext; /* waiting to be looked up */
};

struct directory {
    struct loop *loop;
    struct graph_client_tenant *ct;
    struct hmap entries; /* by upn (lower case) */
    struct dentry *todo; /* waiting for a lookup request */
    loop_timer_id flush_timer;
    bool stopping;
};

/* One lookup request: up to GRAPH_BATCH_MAX entries. */
struct dlookup {
    struct directory *d;
    size_t n;
    char *upn[GRAPH_BATCH_MAX];
};

static struct dentry *directory__find(struct directory *d, const char *upn)
{
    uint64_t h = hmap__hash_ci(upn);
    for (struct hmap_node *n = hmap__first(&d->entries, h); n; n = hmap__next(n, h)) {
        struct dentry *e = HMAP_ENTRY(n, struct dentry, node);
        if (strcasecmp(e->upn, upn) == 0)
            return e;
    }
    return NULL;
}

static struct dentry *directory__add(struct directory *d, const char *upn)
{
    struct dentry *e = calloc(1, sizeof(*e));
    if (!e || !(e->upn = strdup(upn))) {
        free(e);
        return NULL;
    }
    for (char *p = e->upn; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (hmap__insert(&d->entries, &e->node, hmap__hash_ci(e->upn)) < 0) {
        free(e->upn);
        free(e);
        return NULL;
    }
    return e;
}

/* Unlinks and frees e (no waiters left). */
static void directory__remove(struct directory *d, struct dentry *e)
{
    hmap__remove(&d->entries, &e->node);
    free(e->upn);
    free(e);
}

/* Tells e's waiters; a failed entry is dropped (asked again next time). */
static void directory__settle(struct directory *d, struct dentry *e, enum directory_status st,
                              int64_t retry_after_ms, const char *error)
{
    struct dwaiter *w = e->waiters;
    e->waiters = NULL;
    e->asked = false;
    const char *id = st == DIRECTORY_FOUND ? e->id : NULL;
    if (st != DIRECTORY_FOUND)
        directory__remove(d, e);
    while (w) {
        struct dwaiter *next = w->next;
        w->fn(w->ctx, st, id, retry_after_ms, error);
        free(w);
        w = next;
    }
}

static void directory__lookup_free(struct dlookup *l)
{
    for (size_t k = 0; k < l->n; k++)
        free(l->upn[k]);
    free(l);
}

static void directory__answered(void *ctx, const struct graph_response *res)
{
    struct dlookup *l = ctx;
    struct directory *d = l->d;
    cJSON *root = !res->aborted && res->status == 200 && res->body_len
                      ? json__parse(res->body, res->body_len)
                      : NULL;
    struct graph_batch_answer a[GRAPH_BATCH_MAX];
    bool batch = graph_batch__decode(root, a, l->n, time(NULL)) >= 0;
    for (size_t k = 0; k < l->n; k++) {
        struct dentry *e = directory__find(d, l->upn[k]);
        if (!e || !e->asked)
            continue;
        char id[GRAPH_OBJECT_ID_MAX + 1], err[96];
        int found = batch ? graph_batch__lookup_result(&a[k], id, sizeof(id)) : -1;
        if (res->aborted || d->stopping) {
            directory__settle(d, e, DIRECTORY_STOPPED, -1, "stopped");
        }
        else if (found == 1 && paths__is_object_id(id)) {
            memcpy(e->id, id, sizeof(e->id));
            e->known = true;
            LOG_DEBUG("graph", "user looked up user=%s id=%s", e->upn, e->id);
            directory__settle(d, e, DIRECTORY_FOUND, -1, NULL);
        }
        else if (found == 0) {
            LOG_WARN("graph", "user not found in Azure AD user=%s status=%d", e->upn, a[k].status);
            directory__settle(d, e, DIRECTORY_NOT_FOUND, -1, "user not found in Azure AD");
        }
        else {
            int st = batch ? a[k].status : res->status;
            if (st)
                snprintf(err, sizeof(err), "user lookup: HTTP %d", st);
            else
                snprintf(err, sizeof(err), "user lookup: %s",
                         res->error ? res->error : "no answer");
            directory__settle(d, e, DIRECTORY_FAILED,
                              batch ? a[k].retry_after_ms : res->retry_after_ms, err);
        }
    }
    cJSON_Delete(root);
    directory__lookup_free(l);
}

static void directory__send(struct directory *d, struct dlookup *l)
{
    struct graph_batch_item items[GRAPH_BATCH_MAX];
    char *urls[GRAPH_BATCH_MAX] = {NULL};
    bool ok = true;
    for (size_t k = 0; k < l->n; k++) {
        urls[k] = graph_batch__lookup_url(l->upn[k]);
        ok = ok && urls[k];
        items[k] = (struct graph_batch_item){.method = "GET", .url = urls[k] ? urls[k] : "/"};
    }
    char *body = ok ? graph_batch__encode(items, l->n) : NULL;
    for (size_t k = 0; k < l->n; k++)
        free(urls[k]);
    struct graph_request req = {
        .method = "POST", .path = "/$batch", .body = body, .units = 0, .fail_fast = true};
    int rc = body ? graph_client__send(d->ct, &req, directory__answered, l) : -1;
    free(body);
    if (rc == 0)
        return;
    struct graph_response fail = {.status = 0, .retry_after_ms = -1, .error = "cannot send"};
    directory__answered(l, &fail);
}

static void directory__flush(void *arg)
{
    struct directory *d = arg;
    d->flush_timer = 0;
    while (d->todo && !d->stopping) {
        struct dlookup *l = calloc(1, sizeof(*l));
        if (!l)
            return;
        l->d = d;
        while (d->todo && l->n < GRAPH_BATCH_MAX) {
            struct dentry *e = d->todo;
            d->todo = e->lnext;
            e->lnext = NULL;
            if (!(l->upn[l->n] = strdup(e->upn))) {
                directory__settle(d, e, DIRECTORY_FAILED, -1, "out of memory");
                continue;
            }
            l->n++;
        }
        if (l->n)
            directory__send(d, l);
        else
            free(l);
    }
}

int directory__resolve(struct directory *d, const char *upn, const char **id, directory_fn fn,
                       void *ctx)
{
    if (d->stopping || !upn || !*upn)
        return -1;
    struct dentry *e = directory__find(d, upn);
    if (e && e->known) {
        *id = e->id;
        return 1;
    }
    struct dwaiter *w = malloc(sizeof(*w));
    if (!w || (!e && !(e = directory__add(d, upn)))) {
        free(w);
        return -1;
    }
    w->fn = fn;
    w->ctx = ctx;
    w->next = e->waiters;
    e->waiters = w;
    if (!e->asked) {
        e->asked = true;
        e->lnext = d->todo;
        d->todo = e;
        if (!d->flush_timer)
            d->flush_timer = loop__timer(d->loop, 0, directory__flush, d);
    }
    return 0;
}

void directory__forget(struct directory *d, const char *upn)
{
    struct dentry *e = directory__find(d, upn);
    if (e && e->known && !e->waiters && !e->asked)
        directory__remove(d, e);
}

struct directory *directory__new(struct loop *loop, struct graph_client_tenant *ct)
{
    struct directory *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->loop = loop;
    d->ct = ct;
    return d;
}

void directory__stop(struct directory *d)
{
    if (!d || d->stopping)
        return;
    d->stopping = true;
    loop__timer_cancel(d->loop, d->flush_timer);
    d->flush_timer = 0;
    while (d->todo) {
        struct dentry *e = d->todo;
        d->todo = e->lnext;
        e->lnext = NULL;
        directory__settle(d, e, DIRECTORY_STOPPED, -1, "stopped");
    }
}

static void directory__free_entry(struct hmap_node *n, void *ctx)
{
    (void)ctx;
    struct dentry *e = HMAP_ENTRY(n, struct dentry, node);
    for (struct dwaiter *w = e->waiters, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    free(e->upn);
    free(e);
}

void directory__free(struct directory *d)
{
    if (!d)
        return;
    directory__stop(d);
    hmap__each(&d->entries, directory__free_entry, NULL);
    hmap__clear(&d->entries);
    free(d);
}
