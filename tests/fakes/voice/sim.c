#include "sim.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/hmap.h"
#include "rte_record.h"
#include "voice_event.h"

#define SIM_MAX_REQUESTS 2000

void sim__init(struct sim *s)
{
    memset(s, 0, sizeof(*s));
    sim__new_guid(s->org_id);
    sim__settings_default(&s->set);
    s->start = s->set;
}

static void requests_clear(struct sim *s)
{
    for (size_t i = 0; i < s->n_reqs; i++) {
        free(s->reqs[i].path);
        free(s->reqs[i].query);
        free(s->reqs[i].body);
    }
    s->n_reqs = 0;
}

static void sim__ix_free(struct sim *s)
{
    free(s->ix_id);
    free(s->ix_email);
    s->ix_id = s->ix_email = NULL;
    s->ix_cap = s->ix_n = 0;
}

void sim__reset(struct sim *s)
{
    struct sim_user account = {0};
    struct sim_user *a = s->account_id[0] ? sim__user_by_id(s, s->account_id) : NULL;
    if (a)
        account = *a;
    free(s->users);
    s->users = NULL;
    s->n_users = 0;
    sim__ix_free(s);
    if (a) {
        account.talking = false;
        account.talking_writes = 0;
        s->users = malloc(sizeof(*s->users));
        if (s->users) {
            s->users[0] = account;
            s->n_users = 1;
        }
    }
    free(s->calls);
    s->calls = NULL;
    s->n_calls = 0;
    s->calls_ended = 0;
    free(s->faults);
    s->faults = NULL;
    s->n_faults = 0;
    requests_clear(s);
    sim__avail_clear(s);
    s->set = s->start;
    free(s->webhook_url);
    free(s->webhook_secret);
    s->webhook_url = s->webhook_secret = NULL;
    s->webhook_sent = s->webhook_failed = 0;
}

void sim__free(struct sim *s)
{
    sim__reset(s);
    sim__ix_free(s);
    free(s->users);
    free(s->reqs);
    if (s->account_secret) {
        OPENSSL_cleanse(s->account_secret, strlen(s->account_secret));
        free(s->account_secret);
    }
    memset(s, 0, sizeof(*s));
}

void sim__new_guid(char out[SIM_ID_LEN])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        abort(); /* no randomness: nothing sensible to do in a simulator */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, SIM_ID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static bool email_valid(const char *e)
{
    size_t n = e ? strlen(e) : 0;
    if (n == 0 || n >= SIM_EMAIL_LEN || !strchr(e, '@'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] < 0x21 || e[i] == 0x7f)
            return false;
    return true;
}

int sim__set_account(struct sim *s, const char *username, const char *secret)
{
    if (!email_valid(username) || !secret || !*secret)
        return -1;
    char *copy = strdup(secret);
    if (!copy)
        return -1;
    if (s->account_secret) {
        OPENSSL_cleanse(s->account_secret, strlen(s->account_secret));
        free(s->account_secret);
    }
    s->account_secret = copy;
    snprintf(s->account_user, sizeof(s->account_user), "%s", username);
    struct sim_user *u = sim__user_by_email(s, username);
    if (!u)
        u = sim__user_add(s, username, NULL, NULL);
    if (!u)
        return -1;
    snprintf(s->account_id, sizeof(s->account_id), "%s", u->id);
    return 0;
}

bool sim__auth_ok(const struct sim *s, const char *authorization)
{
    if (!s->account_secret || !authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return false;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    size_t n = strlen(b64);
    if (n == 0 || n % 4 != 0 || n > 4096)
        return false;
    unsigned char *raw = malloc(n / 4 * 3 + 1);
    if (!raw)
        return false;
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    bool ok = false;
    if (len >= 0) {
        /* EVP_DecodeBlock counts '=' padding as decoded zero bytes. */
        if (b64[n - 1] == '=')
            len--;
        if (b64[n - 2] == '=')
            len--;
        raw[len] = '\0';
        char *colon = memchr(raw, ':', (size_t)len);
        if (colon) {
            *colon = '\0';
            const char *pass = colon + 1;
            size_t plen = (size_t)len - (size_t)(colon + 1 - (char *)raw);
            ok = !strcasecmp((char *)raw, s->account_user) && plen == strlen(s->account_secret) &&
                 CRYPTO_memcmp(pass, s->account_secret, plen) == 0;
        }
    }
    OPENSSL_cleanse(raw, n / 4 * 3 + 1);
    free(raw);
    return ok;
}

static void sim__ix_put(size_t *tab, size_t cap, const char *key, size_t i)
{
    size_t at = hmap__hash_ci(key) & (cap - 1);
    while (tab[at])
        at = (at + 1) & (cap - 1);
    tab[at] = i + 1;
}

/* Brings the index up to n_users (users are only appended, or all dropped
 * by sim__reset, which empties the index); false when out of memory. */
static bool sim__ix_sync(struct sim *s)
{
    if (s->n_users * 2 > s->ix_cap) {
        size_t cap = s->ix_cap ? s->ix_cap : 256;
        while (s->n_users * 2 > cap)
            cap *= 2;
        sim__ix_free(s);
        s->ix_id = calloc(cap, sizeof(size_t));
        s->ix_email = calloc(cap, sizeof(size_t));
        if (!s->ix_id || !s->ix_email) {
            sim__ix_free(s);
            return false;
        }
        s->ix_cap = cap;
    }
    for (; s->ix_n < s->n_users; s->ix_n++) {
        sim__ix_put(s->ix_id, s->ix_cap, s->users[s->ix_n].id, s->ix_n);
        sim__ix_put(s->ix_email, s->ix_cap, s->users[s->ix_n].email, s->ix_n);
    }
    return true;
}

static struct sim_user *sim__ix_find(struct sim *s, bool email, const char *key)
{
    if (!key || !s->n_users)
        return NULL;
    if (!sim__ix_sync(s)) { /* out of memory: a scan */
        for (size_t i = 0; i < s->n_users; i++)
            if (!strcasecmp(email ? s->users[i].email : s->users[i].id, key))
                return &s->users[i];
        return NULL;
    }
    const size_t *tab = email ? s->ix_email : s->ix_id;
    size_t mask = s->ix_cap - 1;
    for (size_t at = hmap__hash_ci(key) & mask; tab[at]; at = (at + 1) & mask) {
        struct sim_user *u = &s->users[tab[at] - 1];
        if (!strcasecmp(email ? u->email : u->id, key))
            return u;
    }
    return NULL;
}

struct sim_user *sim__user_by_id(struct sim *s, const char *id)
{
    return sim__ix_find(s, false, id);
}

struct sim_user *sim__user_by_email(struct sim *s, const char *email)
{
    return sim__ix_find(s, true, email);
}

struct sim_user *sim__user_add(struct sim *s, const char *email, const char *id, bool *conflict)
{
    if (conflict)
        *conflict = false;
    if (!email_valid(email) || (id && (!*id || strlen(id) >= SIM_ID_LEN)))
        return NULL;
    if (sim__user_by_email(s, email) || (id && sim__user_by_id(s, id))) {
        if (conflict)
            *conflict = true;
        return NULL;
    }
    struct sim_user *nu = realloc(s->users, (s->n_users + 1) * sizeof(*nu));
    if (!nu)
        return NULL;
    s->users = nu;
    struct sim_user *u = &s->users[s->n_users++];
    memset(u, 0, sizeof(*u));
    snprintf(u->email, sizeof(u->email), "%s", email);
    snprintf(u->username, sizeof(u->username), "%s", email);
    if (id)
        snprintf(u->id, sizeof(u->id), "%s", id);
    else
        sim__new_guid(u->id);
    return u;
}

int sim__set_talking(struct sim *s, struct sim_user *u, bool talking, int64_t now_ms)
{
    (void)s;
    u->talking_writes++;
    if (u->talking == talking)
        return 0;
    u->talking = talking;
    u->talking_since = now_ms;
    return 1;
}

struct sim_call *sim__call_start(struct sim *s, const struct sim_user *u, const char *terminal,
                                 int dir, const char *call_id, int64_t now_ms)
{
    if (call_id && (!*call_id || strlen(call_id) >= SIM_ID_LEN))
        return NULL;
    for (size_t i = 0; call_id && i < s->n_calls; i++)
        if (!strcasecmp(s->calls[i].call_id, call_id))
            return NULL;
    struct sim_call *nc = realloc(s->calls, (s->n_calls + 1) * sizeof(*nc));
    if (!nc)
        return NULL;
    s->calls = nc;
    struct sim_call *c = &s->calls[s->n_calls++];
    memset(c, 0, sizeof(*c));
    if (call_id)
        snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
    else
        sim__new_guid(c->call_id);
    snprintf(c->user_id, sizeof(c->user_id), "%s", u->id);
    snprintf(c->terminal, sizeof(c->terminal), "%s", terminal && *terminal ? terminal : "desk");
    c->dir = dir;
    c->started = now_ms;
    return c;
}

int sim__call_end(struct sim *s, const char *call_id, struct sim_call *ended)
{
    for (size_t i = 0; call_id && i < s->n_calls; i++) {
        if (strcasecmp(s->calls[i].call_id, call_id) != 0)
            continue;
        if (ended)
            *ended = s->calls[i];
        memmove(&s->calls[i], &s->calls[i + 1], (s->n_calls - i - 1) * sizeof(s->calls[0]));
        s->n_calls--;
        s->calls_ended++;
        return 0;
    }
    return -1;
}

size_t sim__user_calls(const struct sim *s, const char *user_id)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_calls; i++)
        if (!strcasecmp(s->calls[i].user_id, user_id))
            n++;
    return n;
}

int sim__fault_add(struct sim *s, const struct sim_fault *f)
{
    struct sim_fault *nf = realloc(s->faults, (s->n_faults + 1) * sizeof(*nf));
    if (!nf)
        return -1;
    s->faults = nf;
    s->faults[s->n_faults++] = *f;
    return 0;
}

int sim__fault_take(struct sim *s, const char *method, const char *path, struct sim_fault *out)
{
    for (size_t i = 0; i < s->n_faults; i++) {
        struct sim_fault *f = &s->faults[i];
        if (f->method[0] && strcmp(f->method, "*") != 0 && strcasecmp(f->method, method) != 0)
            continue;
        if (strncmp(path, f->path, strlen(f->path)) != 0)
            continue;
        *out = *f;
        if (--f->remaining <= 0) {
            memmove(f, f + 1, (s->n_faults - i - 1) * sizeof(*f));
            s->n_faults--;
        }
        return 1;
    }
    return 0;
}

void sim__record(struct sim *s, const char *method, const char *path, const char *query,
                 const char *body, int status, int64_t now_ms)
{
    if (s->n_reqs == SIM_MAX_REQUESTS) {
        /* Keep the newest: drop the oldest entry. */
        free(s->reqs[0].path);
        free(s->reqs[0].query);
        free(s->reqs[0].body);
        memmove(s->reqs, s->reqs + 1, (s->n_reqs - 1) * sizeof(*s->reqs));
        s->n_reqs--;
    }
    if (s->n_reqs == s->reqs_cap) {
        size_t cap = s->reqs_cap ? s->reqs_cap * 2 : 64;
        struct sim_request *nr = realloc(s->reqs, cap * sizeof(*nr));
        if (!nr)
            return;
        s->reqs = nr;
        s->reqs_cap = cap;
    }
    struct sim_request *r = &s->reqs[s->n_reqs++];
    memset(r, 0, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = strdup(path ? path : "");
    r->query = strdup(query ? query : "");
    bool write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
    r->body = write && body ? strdup(body) : NULL;
    r->status = status;
    r->wall_ms = now_ms;
}

static char *print_free(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char ts[40];
    cJSON_AddStringToObject(o, key, ms ? clock__iso8601_graph(ms, ts, sizeof(ts)) : "");
}

char *sim__state_json(const struct sim *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "account", s->account_user);
    cJSON_AddStringToObject(root, "account_id", s->account_id);
    cJSON_AddStringToObject(root, "organization_id", s->org_id);
    cJSON *users = cJSON_AddArrayToObject(root, "users");
    for (size_t i = 0; i < s->n_users; i++) {
        const struct sim_user *u = &s->users[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", u->id);
        cJSON_AddStringToObject(o, "email", u->email);
        cJSON_AddStringToObject(o, "username", u->username);
        cJSON_AddBoolToObject(o, "talking", u->talking);
        add_time(o, "talking_since", u->talking_since);
        cJSON_AddNumberToObject(o, "talking_writes", u->talking_writes);
        cJSON *calls = cJSON_AddArrayToObject(o, "calls");
        for (size_t j = 0; j < s->n_calls; j++)
            if (!strcasecmp(s->calls[j].user_id, u->id))
                cJSON_AddItemToArray(calls, cJSON_CreateString(s->calls[j].call_id));
        cJSON *av = cJSON_AddArrayToObject(o, "availability");
        for (size_t j = 0; j < s->n_avail; j++) {
            if (strcasecmp(s->avail[j].user_id, u->id))
                continue;
            char *e = sim__avail_json(&s->avail[j]);
            cJSON_AddItemToArray(av, e ? cJSON_Parse(e) : cJSON_CreateNull());
            free(e);
        }
        cJSON_AddItemToArray(users, o);
    }
    cJSON *calls = cJSON_AddArrayToObject(root, "calls");
    for (size_t i = 0; i < s->n_calls; i++) {
        const struct sim_call *c = &s->calls[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "call_id", c->call_id);
        cJSON_AddStringToObject(o, "user_id", c->user_id);
        cJSON_AddStringToObject(o, "terminal", c->terminal);
        cJSON_AddStringToObject(o, "direction", c->dir == SIM_OUTBOUND ? "outbound" : "inbound");
        add_time(o, "started", c->started);
        cJSON_AddItemToArray(calls, o);
    }
    cJSON_AddNumberToObject(root, "calls_ended", (double)s->calls_ended);
    cJSON_AddNumberToObject(root, "faults_pending", (double)s->n_faults);
    cJSON_AddStringToObject(root, "webhook_url", s->webhook_url ? s->webhook_url : "");
    cJSON_AddNumberToObject(root, "webhook_sent", s->webhook_sent);
    cJSON_AddNumberToObject(root, "webhook_failed", s->webhook_failed);
    return print_free(root);
}

char *sim__requests_json(const struct sim *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < s->n_reqs; i++) {
        const struct sim_request *r = &s->reqs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", r->method);
        cJSON_AddStringToObject(o, "path", r->path ? r->path : "");
        cJSON_AddStringToObject(o, "query", r->query ? r->query : "");
        cJSON_AddNumberToObject(o, "status", r->status);
        add_time(o, "time", r->wall_ms);
        if (r->body)
            cJSON_AddStringToObject(o, "body", r->body);
        cJSON_AddItemToArray(arr, o);
    }
    return print_free(arr);
}

char *sim__users_api_json(const struct sim *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < s->n_users; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Id", s->users[i].id);
        cJSON_AddStringToObject(o, "UserName", s->users[i].username);
        cJSON_AddStringToObject(o, "Email", s->users[i].email);
        cJSON_AddStringToObject(o, "OrganizationID", s->org_id);
        cJSON_AddItemToArray(arr, o);
    }
    return print_free(arr);
}
