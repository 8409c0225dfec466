/* One Voice tenant's user directory (voice_directory.h). */
#include "voice/voice_directory.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/hmap.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/str.h"
#include "voice/discovery.h"

#define DIRECTORY_FORMER_MAX 8192 /* address/id pairs kept for removed users */

/* An address of the map or of the former list, in by_address (the strings
 * belong to users and former). */
struct directory_addr {
    struct hmap_node node;
    const char *address;
    const char *id;
    bool former;
};

struct voice_directory {
    char *name, *topic_prefix;
    char **addresses;
    size_t n_addresses;
    struct voice_dir_user *users; /* sorted by id */
    size_t n_users;
    bool loaded;
    char **missing;
    size_t n_missing;
    char **former; /* address/id pairs */
    size_t n_former;
    struct hmap by_address; /* users and former, case-insensitively */
    struct directory_addr *addrs;
};

static void voice_directory__strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void voice_directory__lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int voice_directory__cmp(const void *a, const void *b)
{
    return strcmp(((const struct voice_dir_user *)a)->id, ((const struct voice_dir_user *)b)->id);
}

static void voice_directory__users_free(struct voice_dir_user *u, size_t n)
{
    for (size_t i = 0; u && i < n; i++) {
        free(u[i].address);
        free(u[i].id);
        free(u[i].topic);
    }
    free(u);
}

static void voice_directory__index_free(struct voice_directory *d)
{
    hmap__clear(&d->by_address);
    free(d->addrs);
    d->addrs = NULL;
}

/* Rebuilds by_address from users and former. On out of memory the index
 * stays empty and lookups fail (logged): writes are refused, not wrong. */
static void voice_directory__index(struct voice_directory *d)
{
    voice_directory__index_free(d);
    size_t n = d->n_users + d->n_former / 2;
    d->addrs = calloc(n ? n : 1, sizeof(*d->addrs));
    for (size_t i = 0; d->addrs && i < n; i++) {
        struct directory_addr *a = &d->addrs[i];
        a->former = i >= d->n_users;
        a->address = a->former ? d->former[2 * (i - d->n_users)] : d->users[i].address;
        a->id = a->former ? d->former[2 * (i - d->n_users) + 1] : d->users[i].id;
        if (hmap__insert(&d->by_address, &a->node, hmap__hash_ci(a->address)) < 0) {
            voice_directory__index_free(d);
            break;
        }
    }
    if (!d->addrs)
        LOG_ERROR("voice", "out of memory: the user map cannot be searched tenant=%s", d->name);
}

struct voice_directory *voice_directory__new(const char *name, const char *topic_prefix)
{
    struct voice_directory *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->name = str__dup(name);
    d->topic_prefix = str__dup(topic_prefix ? topic_prefix : "");
    if (!d->name || !d->topic_prefix) {
        voice_directory__free(d);
        return NULL;
    }
    return d;
}

void voice_directory__free(struct voice_directory *d)
{
    if (!d)
        return;
    voice_directory__index_free(d);
    voice_directory__users_free(d->users, d->n_users);
    voice_directory__strv_free(d->missing, d->n_missing);
    voice_directory__strv_free(d->former, d->n_former);
    voice_directory__strv_free(d->addresses, d->n_addresses);
    free(d->name);
    free(d->topic_prefix);
    free(d);
}

int voice_directory__set_addresses(struct voice_directory *d, const char *const *addresses,
                                   size_t n)
{
    char **a = calloc(n ? n : 1, sizeof(*a));
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(a[i] = strdup(addresses[i]))) {
            voice_directory__strv_free(a, i);
            return -1;
        }
    }
    voice_directory__strv_free(d->addresses, d->n_addresses);
    d->addresses = a;
    d->n_addresses = n;
    return 0;
}

size_t voice_directory__n_addresses(const struct voice_directory *d)
{
    return d->n_addresses;
}

static bool voice_directory__has_ci(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], s) == 0)
            return true;
    return false;
}

bool voice_directory__configured(const struct voice_directory *d, const char *address)
{
    return voice_directory__has_ci(d->addresses, d->n_addresses, address);
}

bool voice_directory__loaded(const struct voice_directory *d)
{
    return d->loaded;
}

size_t voice_directory__n_users(const struct voice_directory *d)
{
    return d->n_users;
}

struct voice_dir_user *voice_directory__user(struct voice_directory *d, size_t i)
{
    return i < d->n_users ? &d->users[i] : NULL;
}

struct voice_dir_user *voice_directory__find(struct voice_directory *d, const char *id)
{
    struct voice_dir_user key = {.id = (char *)id};
    return d->n_users ? bsearch(&key, d->users, d->n_users, sizeof(*d->users), voice_directory__cmp)
                      : NULL;
}

const char *voice_directory__by_address(const struct voice_directory *d, const char *address,
                                        bool *current)
{
    const struct directory_addr *found = NULL;
    uint64_t h = hmap__hash_ci(address);
    for (struct hmap_node *n = hmap__first(&d->by_address, h); n; n = hmap__next(n, h)) {
        const struct directory_addr *a = HMAP_ENTRY(n, struct directory_addr, node);
        if (strcasecmp(a->address, address) == 0 && (!found || found->former))
            found = a;
    }
    if (current)
        *current = found && !found->former;
    return found ? found->id : NULL;
}

size_t voice_directory__n_missing(const struct voice_directory *d)
{
    return d->n_missing;
}

const char *voice_directory__missing(const struct voice_directory *d, size_t i)
{
    return i < d->n_missing ? d->missing[i] : NULL;
}

/* ---- rebuilding the map ----------------------------------------------------- */

/* The former list after the map changes from d->users to nu[0..n) (sorted
 * by id): the users that left, and earlier leavers that did not come back
 * (capped). Returns 0, or -1 when out of memory (the old list stays). */
static int voice_directory__keep_former(struct voice_directory *d, const struct voice_dir_user *nu,
                                        size_t n)
{
    size_t cap = 2 * (d->n_users + d->n_former / 2);
    char **f = calloc(cap ? cap : 1, sizeof(*f));
    if (!f)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < d->n_users + d->n_former / 2 && k < 2 * DIRECTORY_FORMER_MAX; i++) {
        const char *addr = i < d->n_users ? d->users[i].address : d->former[2 * (i - d->n_users)];
        const char *id = i < d->n_users ? d->users[i].id : d->former[2 * (i - d->n_users) + 1];
        /* nu is sorted by id; the old users and the old former list are
         * disjoint (a user who came back left the list then). */
        struct voice_dir_user key = {.id = (char *)id};
        if (n && bsearch(&key, nu, n, sizeof(*nu), voice_directory__cmp))
            continue;
        f[k] = strdup(addr);
        f[k + 1] = strdup(id);
        if (!f[k] || !f[k + 1]) {
            free(f[k]);
            voice_directory__strv_free(f, k);
            return -1;
        }
        k += 2;
    }
    voice_directory__strv_free(d->former, d->n_former);
    d->former = f;
    d->n_former = k;
    return 0;
}

static char *voice_directory__topic(const struct voice_directory *d, const char *address)
{
    char id[IDS_MAX_ID];
    if (ids__encode(address, id, sizeof(id)) != 0)
        return NULL;
    return str__cat(d->topic_prefix, "voice/", id, "/talking", NULL);
}

/* Fills u from one match, with the publishing state of the user it was.
 * 1: filled; 0: skipped (the address cannot be a topic id); -1: out of
 * memory. */
static int voice_directory__user_from(struct voice_directory *d, const struct voice_match *m,
                                      struct voice_dir_user *u, int64_t now)
{
    u->id = strdup(m->user_id);
    u->address = strdup(m->address);
    voice_directory__lower(u->id);
    u->topic = u->address ? voice_directory__topic(d, u->address) : NULL;
    if (!u->id || !u->address || !u->topic) {
        bool oom = !u->id || !u->address;
        free(u->id);
        free(u->address);
        free(u->topic);
        if (!oom)
            LOG_WARN("voice", "address cannot be a topic id tenant=%s user=%s", d->name,
                     m->address);
        return oom ? -1 : 0;
    }
    const struct voice_dir_user *old = voice_directory__find(d, u->id);
    u->idle_since_ms = old ? old->idle_since_ms : now;
    u->announced = old ? old->announced : false;
    /* which field matched: worth an info line when it is not the login */
    if (strcmp(m->field, "Email") == 0 && !old)
        LOG_INFO("voice", "user matched by Email tenant=%s user=%s id=%s", d->name, u->address,
                 u->id);
    else if (!old)
        LOG_DEBUG("voice", "user matched by UserName tenant=%s user=%s id=%s", d->name, u->address,
                  u->id);
    return 1;
}

/* Sorts nu by id and keeps the first of two addresses of one Voice user;
 * returns the users kept. */
static size_t voice_directory__dedupe(const struct voice_directory *d, struct voice_dir_user *nu,
                                      size_t n)
{
    qsort(nu, n, sizeof(*nu), voice_directory__cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && strcmp(nu[k - 1].id, nu[i].id) == 0) {
            LOG_WARN("voice",
                     "two configured addresses map to one Voice user tenant=%s user=%s also=%s",
                     d->name, nu[k - 1].address, nu[i].address);
            free(nu[i].address);
            free(nu[i].id);
            free(nu[i].topic);
            continue;
        }
        nu[k++] = nu[i];
    }
    return k;
}

/* Copies the addresses Voice does not know, logging the ones that are new
 * to the list. 0 or -1. */
static int voice_directory__missing_from(const struct voice_directory *d,
                                         const struct voice_mapping *m, char **missing)
{
    for (size_t i = 0; i < m->n_missing; i++) {
        if (!(missing[i] = strdup(m->missing[i])))
            return -1;
        if (!voice_directory__has_ci(d->missing, d->n_missing, missing[i]))
            LOG_WARN("voice", "user not found in Voice tenant=%s user=%s", d->name, missing[i]);
    }
    return 0;
}

/* Takes over the new map and missing list; *fresh gets the new ids. */
static void voice_directory__install(struct voice_directory *d, struct voice_dir_user *nu, size_t n,
                                     char **missing, size_t n_missing, const char **fresh,
                                     size_t *n_fresh)
{
    *n_fresh = 0;
    for (size_t i = 0; i < n; i++)
        if (!voice_directory__find(d, nu[i].id))
            fresh[(*n_fresh)++] = nu[i].id;
    if (voice_directory__keep_former(d, nu, n) != 0)
        LOG_WARN("voice", "out of memory: removed users' flags may stay set tenant=%s", d->name);
    voice_directory__users_free(d->users, d->n_users);
    voice_directory__strv_free(d->missing, d->n_missing);
    d->users = nu;
    d->n_users = n;
    voice_directory__index(d);
    d->missing = missing;
    d->n_missing = n_missing;
    d->loaded = true;
}

int voice_directory__apply(struct voice_directory *d, const struct voice_users *vu,
                           const char ***fresh, size_t *n_fresh)
{
    struct voice_mapping m;
    *fresh = NULL;
    *n_fresh = 0;
    if (discovery__map_users(vu, (const char *const *)d->addresses, d->n_addresses, &m) != 0)
        return -1;
    struct voice_dir_user *nu = calloc(m.n_matched ? m.n_matched : 1, sizeof(*nu));
    char **missing = calloc(m.n_missing ? m.n_missing : 1, sizeof(*missing));
    const char **fr = calloc(m.n_matched ? m.n_matched : 1, sizeof(*fr));
    size_t n = 0, by_email = 0;
    int64_t now = clock__wall_ms();
    bool oom = !nu || !missing || !fr;
    for (size_t i = 0; !oom && i < m.n_matched; i++) {
        int rc = voice_directory__user_from(d, &m.matched[i], &nu[n], now);
        oom = rc < 0;
        by_email += rc > 0 && strcmp(m.matched[i].field, "Email") == 0;
        n += rc > 0;
    }
    size_t raw = n;
    if (!oom) {
        n = voice_directory__dedupe(d, nu, n);
        oom = voice_directory__missing_from(d, &m, missing) != 0;
    }
    if (oom) {
        voice_directory__users_free(nu, n);
        voice_directory__strv_free(missing, m.n_missing);
        free(fr);
        voice_mapping__free(&m);
        return -1;
    }
    voice_directory__install(d, nu, n, missing, m.n_missing, fr, n_fresh);
    LOG_INFO("voice",
             "user map loaded tenant=%s configured=%zu matched=%zu by_username=%zu by_email=%zu "
             "missing=%zu voice_users=%zu",
             d->name, d->n_addresses, n, raw - by_email, by_email, m.n_missing, vu->n);
    voice_mapping__free(&m);
    *fresh = fr;
    return 0;
}
