/* fake-graph: simulator state, see fg_store.h. */
#include "fg_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "core/hmap.h"

int fg_vec__push(struct fg_vec *v, void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void **grown = realloc(v->items, cap * sizeof(void *));
        if (!grown) {
            return -1;
        }
        v->items = grown;
        v->cap = cap;
    }
    v->items[v->n++] = item;
    return 0;
}

void *fg_vec__remove_at(struct fg_vec *v, size_t i)
{
    void *item = v->items[i];
    memmove(&v->items[i], &v->items[i + 1], (v->n - i - 1) * sizeof(void *));
    v->n--;
    return item;
}

static void fg_copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

void fg_store__guid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        abort(); /* no randomness: nothing sensible to do in a test fake */
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void fg_store__random_token(const char *prefix, char *out, size_t len)
{
    unsigned char b[24];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        abort();
    }
    int n = snprintf(out, len, "%s", prefix);
    for (size_t i = 0; i < sizeof(b) && (size_t)n + 2 < len; i++) {
        n += snprintf(out + n, len - (size_t)n, "%02x", b[i]);
    }
}

void fg_store__init(struct fg_store *s)
{
    memset(s, 0, sizeof(*s));
    s->token_lifetime_ms = 3600 * 1000LL;
}

static void fg_user__free(struct fg_user *u)
{
    free(u->upn);
    free(u->display_name);
    free(u->password);
    free(u);
}

void fg_sub__free(struct fg_sub *sub)
{
    if (!sub) {
        return;
    }
    free(sub->resource);
    free(sub->notification_url);
    free(sub->lifecycle_url);
    free(sub->client_state);
    for (size_t i = 0; i < sub->n_users; i++) {
        free(sub->user_ids[i]);
    }
    free(sub->user_ids);
    free(sub->cert_b64);
    free(sub->cert_id);
    free(sub->latest_tls);
    EVP_PKEY_free(sub->cert_key);
    free(sub);
}

static void fg_vec__free_all(struct fg_vec *v, void (*fn)(void *))
{
    for (size_t i = 0; i < v->n; i++) {
        fn(v->items[i]);
    }
    free(v->items);
    memset(v, 0, sizeof(*v));
}

static void fg_free_user_v(void *p)
{
    fg_user__free(p);
}

static void fg_free_sub_v(void *p)
{
    fg_sub__free(p);
}

static void fg_free_app_v(void *p)
{
    struct fg_app *a = p;
    free(a->secret);
    free(a->roles);
    free(a->scopes);
    free(a);
}

static void fg_free_token_v(void *p)
{
    struct fg_token *t = p;
    free(t->value);
    free(t->perms);
    free(t);
}

bool fg_perm__has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == n && strncasecmp(p, name, n) == 0)
            return true;
        p += len;
    }
    return false;
}

int fg_store__consent(struct fg_app *a, const char *roles, const char *scopes)
{
    char *r = roles ? strdup(roles) : NULL, *sc = scopes ? strdup(scopes) : NULL;
    if ((roles && !r) || (scopes && !sc)) {
        free(r);
        free(sc);
        return -1;
    }
    if (r) {
        free(a->roles);
        a->roles = r;
    }
    if (sc) {
        free(a->scopes);
        a->scopes = sc;
    }
    return 0;
}

int fg_token__set(struct fg_token *t, char *jwt, const char *perms)
{
    char *p = strdup(perms ? perms : "");
    if (!jwt || !p) {
        free(jwt);
        free(p);
        return -1;
    }
    free(t->value);
    free(t->perms);
    t->value = jwt;
    t->perms = p;
    return 0;
}

void fg_store__clear(struct fg_store *s)
{
    hmap__clear(&s->user_ids);
    hmap__clear(&s->user_upns);
    fg_vec__free_all(&s->users, fg_free_user_v);
    fg_vec__free_all(&s->tokens, fg_free_token_v);
    fg_vec__free_all(&s->refresh, free);
    fg_vec__free_all(&s->subs, fg_free_sub_v);
}

void fg_store__free(struct fg_store *s)
{
    fg_store__clear(s);
    fg_vec__free_all(&s->tenants, free);
    fg_vec__free_all(&s->domains, free);
    fg_vec__free_all(&s->apps, fg_free_app_v);
}

int fg_store__add_tenant(struct fg_store *s, const char *id)
{
    if (!id || !*id || strlen(id) >= FG_ID_LEN) {
        return -1;
    }
    if (fg_store__has_tenant(s, id)) {
        return 0;
    }
    char *copy = strdup(id);
    if (!copy || fg_vec__push(&s->tenants, copy) != 0) {
        free(copy);
        return -1;
    }
    return 0;
}

bool fg_store__has_tenant(const struct fg_store *s, const char *id)
{
    for (size_t i = 0; i < s->tenants.n; i++) {
        if (strcasecmp(s->tenants.items[i], id) == 0) {
            return true;
        }
    }
    return false;
}

/* A domain is kept as "domain\0tenant-id": one allocation. */
int fg_store__add_domain(struct fg_store *s, const char *tenant, const char *domain)
{
    if (!domain || !*domain || strlen(domain) >= 256 || !fg_store__has_tenant(s, tenant) ||
        fg_store__tenant_id(s, domain)) {
        return -1;
    }
    size_t dl = strlen(domain), tl = strlen(tenant);
    char *e = malloc(dl + tl + 2);
    if (!e) {
        return -1;
    }
    memcpy(e, domain, dl + 1);
    memcpy(e + dl + 1, tenant, tl + 1);
    if (fg_vec__push(&s->domains, e) != 0) {
        free(e);
        return -1;
    }
    return 0;
}

const char *fg_store__tenant_id(const struct fg_store *s, const char *id_or_domain)
{
    if (!id_or_domain) {
        return NULL;
    }
    for (size_t i = 0; i < s->tenants.n; i++) {
        if (strcasecmp(s->tenants.items[i], id_or_domain) == 0) {
            return s->tenants.items[i];
        }
    }
    for (size_t i = 0; i < s->domains.n; i++) {
        const char *e = s->domains.items[i];
        if (strcasecmp(e, id_or_domain) == 0) {
            return e + strlen(e) + 1;
        }
    }
    return NULL;
}

const char *fg_store__tenant_domain(const struct fg_store *s, const char *tenant)
{
    for (size_t i = 0; i < s->domains.n; i++) {
        const char *e = s->domains.items[i];
        if (strcasecmp(e + strlen(e) + 1, tenant) == 0) {
            return e;
        }
    }
    return NULL;
}

struct fg_app *fg_store__app(struct fg_store *s, const char *client_id)
{
    for (size_t i = 0; client_id && i < s->apps.n; i++) {
        struct fg_app *a = s->apps.items[i];
        if (strcasecmp(a->client_id, client_id) == 0) {
            return a;
        }
    }
    return NULL;
}

int fg_store__add_app(struct fg_store *s, const char *client_id, const char *secret)
{
    if (!client_id || !*client_id || strlen(client_id) >= FG_ID_LEN || !secret) {
        return -1;
    }
    struct fg_app *a = fg_store__app(s, client_id);
    if (a) {
        char *copy = strdup(secret);
        if (!copy) {
            return -1;
        }
        free(a->secret);
        a->secret = copy;
        return 0;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        return -1;
    }
    fg_copy(a->client_id, sizeof(a->client_id), client_id);
    a->secret = strdup(secret);
    a->roles = strdup(FG_DEFAULT_ROLES);
    a->scopes = strdup(FG_DEFAULT_SCOPES);
    if (!a->secret || !a->roles || !a->scopes || fg_vec__push(&s->apps, a) != 0) {
        fg_free_app_v(a);
        return -1;
    }
    return 0;
}

static struct fg_user *fg_store__find(const struct hmap *m, bool upn, const char *key)
{
    uint64_t h = hmap__hash_ci(key);
    for (struct hmap_node *n = hmap__first(m, h); n; n = hmap__next(n, h)) {
        struct fg_user *u =
            upn ? HMAP_ENTRY(n, struct fg_user, by_upn) : HMAP_ENTRY(n, struct fg_user, by_id);
        if (strcasecmp(upn ? u->upn : u->id, key) == 0) {
            return u;
        }
    }
    return NULL;
}

struct fg_user *fg_store__user(struct fg_store *s, const char *tenant, const char *id_or_upn)
{
    if (!id_or_upn) {
        return NULL;
    }
    struct fg_user *u = fg_store__find(&s->user_ids, false, id_or_upn);
    if (u && (!tenant || strcasecmp(u->tenant, tenant) == 0)) {
        return u;
    }
    u = fg_store__find(&s->user_upns, true, id_or_upn);
    return u && (!tenant || strcasecmp(u->tenant, tenant) == 0) ? u : NULL;
}

static void fg_store__bump(struct fg_store *s, struct fg_user *u)
{
    /* zero-padded decimal: lexicographic order == numeric order */
    snprintf(u->sequence, sizeof(u->sequence), "%020" PRIu64, ++s->sequence);
}

struct fg_user *fg_store__add_user(struct fg_store *s, const char *tenant, const char *id,
                                   const char *upn, const char *password, int64_t now)
{
    char guid[37];
    if (!id) {
        fg_store__guid(guid);
        id = guid;
    }
    if (!tenant || !upn || !*upn || !*id || strlen(id) >= FG_ID_LEN ||
        strlen(tenant) >= FG_ID_LEN) {
        return NULL;
    }
    if (fg_store__user(s, NULL, id) || fg_store__user(s, NULL, upn)) {
        return NULL;
    }
    struct fg_user *u = calloc(1, sizeof(*u));
    if (!u) {
        return NULL;
    }
    fg_copy(u->id, sizeof(u->id), id);
    fg_copy(u->tenant, sizeof(u->tenant), tenant);
    u->upn = strdup(upn);
    u->display_name = strdup(upn);
    u->password = password ? strdup(password) : NULL;
    if (!u->upn || !u->display_name || (password && !u->password) ||
        hmap__insert(&s->user_ids, &u->by_id, hmap__hash_ci(u->id)) != 0) {
        fg_user__free(u);
        return NULL;
    }
    if (hmap__insert(&s->user_upns, &u->by_upn, hmap__hash_ci(u->upn)) != 0) {
        hmap__remove(&s->user_ids, &u->by_id);
        fg_user__free(u);
        return NULL;
    }
    if (fg_vec__push(&s->users, u) != 0) {
        hmap__remove(&s->user_ids, &u->by_id);
        hmap__remove(&s->user_upns, &u->by_upn);
        fg_user__free(u);
        return NULL;
    }
    fg_store__refresh_user(s, u, now);
    fg_store__bump(s, u);
    return u;
}

struct fg_session *fg_user__session(struct fg_user *u, const char *id)
{
    for (size_t i = 0; i < u->n_sessions; i++) {
        if (strcmp(u->sessions[i].id, id) == 0) {
            return &u->sessions[i];
        }
    }
    return NULL;
}

int fg_user__set_session(struct fg_user *u, const char *id, const char *av, const char *act,
                         bool app, int64_t expires_ms, int64_t now)
{
    if (!id || !*id || strlen(id) >= FG_SESSION_ID_LEN || !av || !act ||
        strlen(av) >= FG_STATE_LEN || strlen(act) >= FG_STATE_LEN) {
        return -1;
    }
    struct fg_session *ses = fg_user__session(u, id);
    if (!ses) {
        if (u->n_sessions == FG_MAX_SESSIONS) {
            return -1;
        }
        ses = &u->sessions[u->n_sessions++];
        memset(ses, 0, sizeof(*ses));
        fg_copy(ses->id, sizeof(ses->id), id);
    }
    fg_copy(ses->p.availability, sizeof(ses->p.availability), av);
    fg_copy(ses->p.activity, sizeof(ses->p.activity), act);
    ses->app = app;
    ses->expires_ms = expires_ms;
    ses->updated_ms = now;
    return 0;
}

int fg_user__clear_session(struct fg_user *u, const char *id)
{
    for (size_t i = 0; i < u->n_sessions; i++) {
        if (strcmp(u->sessions[i].id, id) == 0) {
            memmove(&u->sessions[i], &u->sessions[i + 1],
                    (u->n_sessions - i - 1) * sizeof(u->sessions[0]));
            u->n_sessions--;
            return 0;
        }
    }
    return -1;
}

bool fg_store__refresh_user(struct fg_store *s, struct fg_user *u, int64_t now)
{
    for (size_t i = 0; i < u->n_sessions;) {
        if (u->sessions[i].expires_ms && u->sessions[i].expires_ms <= now) {
            fg_user__clear_session(u, u->sessions[i].id);
        }
        else {
            i++;
        }
    }
    if (u->has_preferred && u->preferred_expires_ms && u->preferred_expires_ms <= now) {
        u->has_preferred = false;
    }
    struct fg_presence p;
    fg_presence__aggregate(u->sessions, u->n_sessions, u->has_preferred ? &u->preferred : NULL, &p);
    if (strcmp(p.availability, u->shown.availability) == 0 &&
        strcmp(p.activity, u->shown.activity) == 0) {
        return false;
    }
    u->shown = p;
    fg_store__bump(s, u);
    return true;
}

struct fg_token *fg_store__issue_token(struct fg_store *s, enum fg_token_kind kind,
                                       const char *tenant, const char *client_id,
                                       const char *user_id, int64_t now)
{
    struct fg_token *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    char opaque[72];
    fg_store__random_token("fg-at-", opaque, sizeof(opaque));
    t->value = strdup(opaque);
    if (!t->value) {
        free(t);
        return NULL;
    }
    t->kind = kind;
    fg_copy(t->tenant, sizeof(t->tenant), tenant);
    fg_copy(t->client_id, sizeof(t->client_id), client_id);
    fg_copy(t->user_id, sizeof(t->user_id), user_id);
    t->expires_ms = now + s->token_lifetime_ms;
    if (fg_vec__push(&s->tokens, t) != 0) {
        free(t->value);
        free(t);
        return NULL;
    }
    return t;
}

struct fg_token *fg_store__token(struct fg_store *s, const char *value)
{
    for (size_t i = 0; value && i < s->tokens.n; i++) {
        struct fg_token *t = s->tokens.items[i];
        if (strcmp(t->value, value) == 0) {
            return t;
        }
    }
    return NULL;
}

struct fg_refresh *fg_store__issue_refresh(struct fg_store *s, const char *tenant,
                                           const char *client_id, const char *user_id)
{
    struct fg_refresh *r = calloc(1, sizeof(*r));
    if (!r) {
        return NULL;
    }
    fg_store__random_token("fg-rt-", r->value, sizeof(r->value));
    fg_copy(r->tenant, sizeof(r->tenant), tenant);
    fg_copy(r->client_id, sizeof(r->client_id), client_id);
    fg_copy(r->user_id, sizeof(r->user_id), user_id);
    if (fg_vec__push(&s->refresh, r) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

struct fg_refresh *fg_store__refresh_token(struct fg_store *s, const char *value)
{
    for (size_t i = 0; value && i < s->refresh.n; i++) {
        struct fg_refresh *r = s->refresh.items[i];
        if (strcmp(r->value, value) == 0) {
            return r;
        }
    }
    return NULL;
}

void fg_store__revoke_user(struct fg_store *s, const char *user_id)
{
    for (size_t i = 0; i < s->refresh.n; i++) {
        struct fg_refresh *r = s->refresh.items[i];
        if (strcmp(r->user_id, user_id) == 0) {
            r->revoked = true;
        }
    }
}

struct fg_sub *fg_store__sub(struct fg_store *s, const char *id)
{
    for (size_t i = 0; id && i < s->subs.n; i++) {
        struct fg_sub *sub = s->subs.items[i];
        if (strcasecmp(sub->id, id) == 0) {
            return sub;
        }
    }
    return NULL;
}

struct fg_sub *fg_store__conflict(struct fg_store *s, const char *tenant, const char *client_id,
                                  const char *creator_id)
{
    for (size_t i = 0; i < s->subs.n; i++) {
        struct fg_sub *sub = s->subs.items[i];
        if (strcasecmp(sub->tenant, tenant) == 0 && strcasecmp(sub->client_id, client_id) == 0 &&
            strcasecmp(sub->creator_id, creator_id) == 0) {
            return sub;
        }
    }
    return NULL;
}

int fg_store__add_sub(struct fg_store *s, struct fg_sub *sub)
{
    return fg_vec__push(&s->subs, sub);
}

void fg_store__remove_sub(struct fg_store *s, const char *id)
{
    for (size_t i = 0; i < s->subs.n; i++) {
        struct fg_sub *sub = s->subs.items[i];
        if (strcasecmp(sub->id, id) == 0) {
            fg_vec__remove_at(&s->subs, i);
            fg_sub__free(sub);
            return;
        }
    }
}

bool fg_sub__covers(const struct fg_sub *sub, const char *user_id)
{
    for (size_t i = 0; i < sub->n_users; i++) {
        if (strcasecmp(sub->user_ids[i], user_id) == 0) {
            return true;
        }
    }
    return false;
}

void fg_store__sweep(struct fg_store *s, int64_t now, struct fg_vec *changed, size_t *removed_subs)
{
    size_t removed = 0;
    for (size_t i = 0; i < s->subs.n;) {
        struct fg_sub *sub = s->subs.items[i];
        if (!sub->pending && sub->expires_ms <= now) {
            fg_vec__remove_at(&s->subs, i);
            fg_sub__free(sub);
            removed++;
        }
        else {
            i++;
        }
    }
    for (size_t i = 0; i < s->users.n; i++) {
        struct fg_user *u = s->users.items[i];
        if (fg_store__refresh_user(s, u, now) && changed) {
            fg_vec__push(changed, u);
        }
    }
    if (removed_subs) {
        *removed_subs = removed;
    }
}
