/* Call tracker: per-user sets of connected callIds in a hash map
 * (core/hmap.h) by lower-cased user id. */
#include "voice/calls.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"

struct calls_call {
    char id[VOICE_ID_MAX]; /* "" for a carried-over call (see calls__seed) */
    int64_t started_ms;
};

struct calls_user {
    struct hmap_node node;
    char id[VOICE_ID_MAX];
    struct calls_call *calls;
    size_t n, cap;
};

struct calls {
    struct hmap users; /* by lower-cased id */
};

static size_t calls__drop_where(struct calls *t, struct calls_user *u, int64_t cutoff, bool all,
                                calls_drop_cb cb, void *ctx);

/* Lower-cases src into dst. Returns -1 when it is empty or too long. */
static int calls__norm(const char *src, char dst[VOICE_ID_MAX])
{
    if (!src)
        return -1;
    size_t n = strlen(src);
    if (n == 0 || n >= VOICE_ID_MAX)
        return -1;
    for (size_t i = 0; i <= n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    return 0;
}

struct calls *calls__new(void)
{
    return calloc(1, sizeof(struct calls));
}

static void calls__user_free(struct calls_user *u)
{
    free(u->calls);
    free(u);
}

static void calls__free_node(struct hmap_node *n, void *ctx)
{
    (void)ctx;
    calls__user_free(HMAP_ENTRY(n, struct calls_user, node));
}

void calls__free(struct calls *t)
{
    if (!t)
        return;
    hmap__each(&t->users, calls__free_node, NULL);
    hmap__clear(&t->users);
    free(t);
}

static struct calls_user *calls__find(const struct calls *t, const char *norm_id)
{
    uint64_t h = hmap__hash(norm_id);
    for (struct hmap_node *n = hmap__first(&t->users, h); n; n = hmap__next(n, h)) {
        struct calls_user *u = HMAP_ENTRY(n, struct calls_user, node);
        if (strcmp(u->id, norm_id) == 0)
            return u;
    }
    return NULL;
}

static struct calls_user *calls__add_user(struct calls *t, const char *norm_id)
{
    struct calls_user *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    memcpy(u->id, norm_id, strlen(norm_id) + 1);
    if (hmap__insert(&t->users, &u->node, hmap__hash(norm_id)) < 0) {
        free(u);
        return NULL;
    }
    return u;
}

static void calls__unlink(struct calls *t, struct calls_user *u)
{
    hmap__remove(&t->users, &u->node);
    calls__user_free(u);
}

static long calls__index(const struct calls_user *u, const char *norm_call)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->calls[i].id, norm_call) == 0)
            return (long)i;
    return -1;
}

/* Appends a call to the user (created when needed). Returns the user or
 * NULL (out of memory; a user created here is removed again). */
static struct calls_user *calls__append(struct calls *t, const char *user, const char *call,
                                        int64_t now_ms)
{
    struct calls_user *u = calls__find(t, user);
    bool created = false;
    if (!u) {
        u = calls__add_user(t, user);
        if (!u)
            return NULL;
        created = true;
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 2;
        struct calls_call *c = realloc(u->calls, cap * sizeof(*c));
        if (!c) {
            if (created)
                calls__unlink(t, u);
            return NULL;
        }
        u->calls = c;
        u->cap = cap;
    }
    memcpy(u->calls[u->n].id, call, strlen(call) + 1);
    u->calls[u->n].started_ms = now_ms;
    u->n++;
    return u;
}

static int calls__connect(struct calls *t, const char *user, const char *call, int64_t now_ms)
{
    struct calls_user *u = calls__find(t, user);
    if (u && calls__index(u, call) >= 0)
        return 0; /* duplicate Connected */
    long st = u ? calls__index(u, CALLS_STATUS_ID) : -1;
    if (st >= 0) {
        /* the real call takes the place of the one UserStatus stood for */
        u->calls[st].started_ms =
            u->calls[st].started_ms < now_ms ? u->calls[st].started_ms : now_ms;
        memcpy(u->calls[st].id, call, strlen(call) + 1);
        return 0;
    }
    if (u && u->n >= CALLS_MAX_PER_USER)
        return -1;
    u = calls__append(t, user, call, now_ms);
    if (!u)
        return -1;
    return u->n == 1 ? 1 : 0;
}

int calls__seed(struct calls *t, const char *user_id, size_t n, int64_t started_ms)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return -1;
    size_t before = calls__count(t, user);
    if (n > CALLS_MAX_PER_USER - before)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!calls__append(t, user, "", started_ms))
            return -1; /* the calls added so far stay: each is a valid one */
    return before == 0 && n > 0 ? 1 : 0;
}

int calls__seed_call(struct calls *t, const char *user_id, const char *call_id, int64_t started_ms)
{
    char user[VOICE_ID_MAX], call[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0 || calls__norm(call_id, call) < 0)
        return -1;
    struct calls_user *u = calls__find(t, user);
    if (u && calls__index(u, call) >= 0)
        return 0;
    if (u && u->n >= CALLS_MAX_PER_USER)
        return -1;
    u = calls__append(t, user, call, started_ms);
    if (!u)
        return -1;
    return u->n == 1 ? 1 : 0;
}

size_t calls__ids(const struct calls *t, const char *user_id, const char **ids, size_t max)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return 0;
    const struct calls_user *u = calls__find(t, user);
    size_t n = 0;
    for (size_t i = 0; u && i < u->n && n < max; i++)
        if (u->calls[i].id[0] && strcmp(u->calls[i].id, CALLS_STATUS_ID) != 0)
            ids[n++] = u->calls[i].id;
    return n;
}

size_t calls__carried(const struct calls *t, const char *user_id)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return 0;
    const struct calls_user *u = calls__find(t, user);
    size_t n = 0;
    for (size_t i = 0; u && i < u->n; i++)
        n += u->calls[i].id[0] == '\0';
    return n;
}

static int calls__disconnect(struct calls *t, const char *user, const char *call)
{
    struct calls_user *u = calls__find(t, user);
    if (!u)
        return 0; /* user not talking: a stray or repeated Disconnected */
    long i = calls__index(u, call);
    /* A callId never seen may be a call carried over from the previous run
     * (started before this process): it ends one of those. */
    if (i < 0)
        i = calls__index(u, "");
    if (i < 0)
        return 0;
    u->calls[i] = u->calls[u->n - 1];
    u->n--;
    if (u->n > 0)
        return 0;
    calls__unlink(t, u);
    return 1;
}

int calls__event(struct calls *t, const struct voice_call_event *ev, int64_t now_ms)
{
    if (ev->kind != VOICE_CALL_CONNECTED && ev->kind != VOICE_CALL_DISCONNECTED)
        return 0;
    char user[VOICE_ID_MAX], call[VOICE_ID_MAX];
    if (calls__norm(ev->user_id, user) < 0 || calls__norm(ev->call_id, call) < 0)
        return -1;
    if (ev->kind == VOICE_CALL_CONNECTED)
        return calls__connect(t, user, call, now_ms);
    return calls__disconnect(t, user, call);
}

int calls__status(struct calls *t, const char *user_id, bool talking, int64_t now_ms,
                  calls_drop_cb cb, void *ctx)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return -1;
    struct calls_user *u = calls__find(t, user);
    if (talking) {
        if (u)
            return 0; /* already talking: the calls we know stand */
        return calls__append(t, user, CALLS_STATUS_ID, now_ms) ? 1 : -1;
    }
    if (!u)
        return 0;
    calls__drop_where(t, u, 0, true, cb, ctx);
    return 1;
}

static const struct calls_user *calls__get(const struct calls *t, const char *user_id)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return NULL;
    return calls__find(t, user);
}

size_t calls__count(const struct calls *t, const char *user_id)
{
    const struct calls_user *u = calls__get(t, user_id);
    return u ? u->n : 0;
}

int64_t calls__since(const struct calls *t, const char *user_id)
{
    const struct calls_user *u = calls__get(t, user_id);
    int64_t since = 0;
    for (size_t i = 0; u && i < u->n; i++)
        if (i == 0 || u->calls[i].started_ms < since)
            since = u->calls[i].started_ms;
    return since;
}

size_t calls__users_talking(const struct calls *t)
{
    return t->users.count;
}

/* Drops the user's calls for which drop(call) holds, reporting each. Returns
 * how many; unlinks the user when none is left. */
static size_t calls__drop_where(struct calls *t, struct calls_user *u, int64_t cutoff, bool all,
                                calls_drop_cb cb, void *ctx)
{
    size_t dropped = 0;
    for (size_t i = 0; i < u->n;) {
        if (!all && u->calls[i].started_ms >= cutoff) {
            i++;
            continue;
        }
        struct calls_call gone = u->calls[i];
        u->calls[i] = u->calls[u->n - 1];
        u->n--;
        dropped++;
        if (cb)
            cb(ctx, u->id, gone.id, gone.started_ms, u->n == 0);
    }
    if (u->n == 0)
        calls__unlink(t, u);
    return dropped;
}

struct calls_sweep {
    struct calls *t;
    int64_t cutoff;
    bool all;
    calls_drop_cb cb;
    void *ctx;
    size_t dropped;
};

static void calls__sweep_one(struct hmap_node *n, void *ctx)
{
    struct calls_sweep *w = ctx;
    w->dropped += calls__drop_where(w->t, HMAP_ENTRY(n, struct calls_user, node), w->cutoff, w->all,
                                    w->cb, w->ctx);
}

static size_t calls__sweep(struct calls *t, int64_t cutoff, bool all, calls_drop_cb cb, void *ctx)
{
    struct calls_sweep w = {t, cutoff, all, cb, ctx, 0};
    hmap__each(&t->users, calls__sweep_one, &w);
    return w.dropped;
}

size_t calls__expire(struct calls *t, int64_t now_ms, int max_call_minutes, calls_drop_cb cb,
                     void *ctx)
{
    if (max_call_minutes <= 0)
        return 0;
    /* strictly older than the limit: started < now - limit */
    return calls__sweep(t, now_ms - (int64_t)max_call_minutes * 60000, false, cb, ctx);
}

size_t calls__clear_all(struct calls *t, calls_drop_cb cb, void *ctx)
{
    return calls__sweep(t, 0, true, cb, ctx);
}
