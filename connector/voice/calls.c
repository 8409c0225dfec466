/* Call tracker: per-user sets of connected callIds in a chained hash map. */
#include "voice/calls.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct calls_call {
    char id[VOICE_ID_MAX]; /* "" for a carried-over call (see calls__seed) */
    int64_t started_ms;
};

struct calls_user {
    struct calls_user *next;
    uint64_t hash;
    char id[VOICE_ID_MAX];
    struct calls_call *calls;
    size_t n, cap;
};

struct calls {
    struct calls_user **buckets;
    size_t n_buckets; /* power of two */
    size_t n_users;
};

#define CALLS_INITIAL_BUCKETS 64

static size_t calls__drop_where(struct calls *t, struct calls_user **link, int64_t cutoff, bool all,
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

/* FNV-1a: ids are GUIDs or addresses, short and well spread. */
static uint64_t calls__hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct calls *calls__new(void)
{
    struct calls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->buckets = calloc(CALLS_INITIAL_BUCKETS, sizeof(*t->buckets));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->n_buckets = CALLS_INITIAL_BUCKETS;
    return t;
}

static void calls__user_free(struct calls_user *u)
{
    free(u->calls);
    free(u);
}

void calls__free(struct calls *t)
{
    if (!t)
        return;
    for (size_t b = 0; b < t->n_buckets; b++) {
        struct calls_user *u = t->buckets[b];
        while (u) {
            struct calls_user *next = u->next;
            calls__user_free(u);
            u = next;
        }
    }
    free(t->buckets);
    free(t);
}

/* Returns the link that points at the user (for unlinking), or NULL. */
static struct calls_user **calls__find(const struct calls *t, const char *norm_id)
{
    uint64_t h = calls__hash(norm_id);
    struct calls_user **link = &t->buckets[h & (t->n_buckets - 1)];
    for (; *link; link = &(*link)->next)
        if ((*link)->hash == h && strcmp((*link)->id, norm_id) == 0)
            return link;
    return NULL;
}

/* Doubles the table at a load of 1; a failed grow just keeps chains longer. */
static void calls__grow(struct calls *t)
{
    if (t->n_users < t->n_buckets)
        return;
    size_t nb = t->n_buckets * 2;
    struct calls_user **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct calls_user *u = t->buckets[i];
        while (u) {
            struct calls_user *next = u->next;
            u->next = b[u->hash & (nb - 1)];
            b[u->hash & (nb - 1)] = u;
            u = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = nb;
}

static struct calls_user *calls__add_user(struct calls *t, const char *norm_id)
{
    calls__grow(t);
    struct calls_user *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    memcpy(u->id, norm_id, strlen(norm_id) + 1);
    u->hash = calls__hash(norm_id);
    struct calls_user **head = &t->buckets[u->hash & (t->n_buckets - 1)];
    u->next = *head;
    *head = u;
    t->n_users++;
    return u;
}

static void calls__unlink(struct calls *t, struct calls_user **link)
{
    struct calls_user *u = *link;
    *link = u->next;
    calls__user_free(u);
    t->n_users--;
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
    struct calls_user **link = calls__find(t, user);
    struct calls_user *u = link ? *link : NULL;
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
                calls__unlink(t, calls__find(t, user));
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
    struct calls_user **link = calls__find(t, user);
    struct calls_user *u = link ? *link : NULL;
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

size_t calls__carried(const struct calls *t, const char *user_id)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return 0;
    struct calls_user **link = calls__find(t, user);
    size_t n = 0;
    for (size_t i = 0; link && i < (*link)->n; i++)
        n += (*link)->calls[i].id[0] == '\0';
    return n;
}

static int calls__disconnect(struct calls *t, const char *user, const char *call)
{
    struct calls_user **link = calls__find(t, user);
    if (!link)
        return 0; /* user not talking: a stray or repeated Disconnected */
    struct calls_user *u = *link;
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
    calls__unlink(t, link);
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
    struct calls_user **link = calls__find(t, user);
    if (talking) {
        if (link)
            return 0; /* already talking: the calls we know stand */
        return calls__append(t, user, CALLS_STATUS_ID, now_ms) ? 1 : -1;
    }
    if (!link)
        return 0;
    calls__drop_where(t, link, 0, true, cb, ctx);
    return 1;
}

static const struct calls_user *calls__get(const struct calls *t, const char *user_id)
{
    char user[VOICE_ID_MAX];
    if (calls__norm(user_id, user) < 0)
        return NULL;
    struct calls_user **link = calls__find(t, user);
    return link ? *link : NULL;
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
    return t->n_users;
}

/* Drops the user's calls for which drop(call) holds, reporting each. Returns
 * how many; unlinks the user when none is left. */
static size_t calls__drop_where(struct calls *t, struct calls_user **link, int64_t cutoff, bool all,
                                calls_drop_cb cb, void *ctx)
{
    struct calls_user *u = *link;
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
        calls__unlink(t, link);
    return dropped;
}

static size_t calls__sweep(struct calls *t, int64_t cutoff, bool all, calls_drop_cb cb, void *ctx)
{
    size_t dropped = 0;
    for (size_t b = 0; b < t->n_buckets; b++) {
        struct calls_user **link = &t->buckets[b];
        while (*link) {
            struct calls_user *u = *link;
            dropped += calls__drop_where(t, link, cutoff, all, cb, ctx);
            if (*link == u) /* still there: step past it */
                link = &u->next;
        }
    }
    return dropped;
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
