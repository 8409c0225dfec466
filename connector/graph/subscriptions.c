/* Presence subscriptions (docs/graph.md "Subscriptions"): one per service
 * account (Graph allows one per user and app), at most 650 users each.
 *
 * Per account: on the first run the account's existing subscriptions of this
 * app are listed and deleted (GET does not return clientState, so an adopted
 * subscription could not be authenticated: we never adopt, see docs/graph.md),
 * then one is created with a fresh random clientState. It is renewed well
 * before the expirationDateTime Graph returned, recreated when Graph says 404,
 * reauthorized on `reauthorizationRequired`, and every (re)creation is
 * followed by a resync since Graph never reports missed presence changes. */
#include "graph/gside.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "graph/notify_crypto.h"

#define SUBS_RETRY_BASE 2000
#define SUBS_RETRY_MAX  (5 * 60 * 1000)
#define SUBS_MIN_RENEW  1000
/* reauthorizationRequired refreshes the token only when it expires sooner */
#define SUBS_REAUTH_REFRESH_MS (10 * 60 * 1000)

static void subs__ensure(struct gsub *s);
static void subs__create(struct gsub *s);

void subs__split(size_t n, size_t n_accounts, size_t a, size_t *first, size_t *count)
{
    if (n_accounts == 0 || a >= n_accounts) {
        *first = *count = 0;
        return;
    }
    size_t base = n / n_accounts, extra = n % n_accounts;
    *first = a * base + (a < extra ? a : extra);
    *count = base + (a < extra ? 1 : 0);
}

char *subs__resource(char *const *ids, size_t n)
{
    static const char head[] = "/communications/presences?$filter=id in (";
    size_t cap = sizeof(head) + 2;
    for (size_t i = 0; i < n; i++)
        cap += strlen(ids[i]) + 3;
    char *r = malloc(cap);
    if (!r)
        return NULL;
    size_t o = (size_t)snprintf(r, cap, "%s", head);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(r + o, cap - o, "%s'%s'", i ? "," : "", ids[i]);
    snprintf(r + o, cap - o, ")");
    return r;
}

/* ---- registry for the workers ------------------------------------------------- */

void subs__reg_set(struct gtenant *t, int account, const char *sub_id, const char *client_state)
{
    pthread_mutex_lock(&t->reg_lock);
    snprintf(t->reg[account].sub_id, sizeof(t->reg[account].sub_id), "%s", sub_id ? sub_id : "");
    snprintf(t->reg[account].client_state, sizeof(t->reg[account].client_state), "%s",
             client_state ? client_state : "");
    pthread_mutex_unlock(&t->reg_lock);
}

int subs__reg_check(struct gtenant *t, const char *sub_id, const char *client_state)
{
    int rc = -1;
    pthread_mutex_lock(&t->reg_lock);
    for (size_t i = 0; i < t->n_accounts && rc < 0; i++) {
        if (t->reg[i].sub_id[0] && strcasecmp(t->reg[i].sub_id, sub_id) == 0)
            rc = notify_crypto__client_state_equal(client_state, t->reg[i].client_state) ? 1 : 0;
    }
    pthread_mutex_unlock(&t->reg_lock);
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------ */

static const char *subs__account(const struct gsub *s)
{
    return s->t->cfg->graph.accounts[s->account].username;
}

static char *subs__url(const struct gtenant *t, const char *suffix)
{
    size_t n = strlen(t->cfg->graph.api_url) + strlen(suffix) + 32;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s/subscriptions%s", t->cfg->graph.api_url, suffix);
    return u;
}

static void subs__set_error(struct gsub *s, const struct http_result *res, const char *what)
{
    char code[64] = "";
    cJSON *o = res && res->body ? json__parse_str(res->body) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(c))
        snprintf(code, sizeof(code), "%s", c->valuestring);
    snprintf(s->last_error, sizeof(s->last_error), "%s: %d %s%s%.160s", what, res ? res->status : 0,
             code, cJSON_IsString(m) ? " " : "", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(o);
    LOG_WARN("graph", "subscription request failed tenant=%s account=%s error=\"%s\"", s->t->name,
             subs__account(s), s->last_error);
}

/* Counts one subscription event for the tenant (created, renewed, ...). */
static void subs__count(const struct gsub *s, const char *metric)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", s->t->name);
    metrics__inc(metric, labels, 1);
}

void subs__metrics(struct gtenant *t)
{
    char labels[400];
    size_t live = 0;
    for (size_t a = 0; a < t->n_accounts; a++) {
        const struct gsub *s = &t->subs[a];
        bool active = s->state == SUB_ACTIVE && s->expires_wall_ms > 0;
        live += active;
        metrics__labels(labels, sizeof(labels), "tenant", t->name, "account", subs__account(s),
                        NULL);
        metrics__set("graph_subscription_expiry_timestamp_seconds", labels,
                     active ? (double)(s->expires_wall_ms / 1000) : 0);
    }
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->name);
    metrics__set("graph_subscriptions", labels, (double)live);
}

static void subs__on_timer(void *arg)
{
    struct gsub *s = arg;
    s->timer = 0;
    subs__ensure(s);
}

static void subs__schedule(struct gsub *s, int64_t delay_ms)
{
    struct loop *loop = s->t->side->loop;
    loop__timer_cancel(loop, s->timer);
    s->timer = loop__timer(loop, delay_ms < 0 ? 0 : delay_ms, subs__on_timer, s);
}

static void subs__retry(struct gsub *s, const struct http_result *res)
{
    int64_t d = backoff__next(&s->bo);
    if (res && res->retry_after_ms > d)
        d = res->retry_after_ms;
    subs__schedule(s, d);
    gside__status(s->t);
}

static void subs__forget(struct gsub *s)
{
    s->id[0] = '\0';
    s->client_state[0] = '\0';
    s->expires_wall_ms = 0;
    s->state = SUB_IDLE;
    subs__reg_set(s->t, s->account, NULL, NULL);
    subs__metrics(s->t);
}

static int64_t subs__renew_delay(const struct gsub *s)
{
    /* half of what is left, so a failed renewal has the other half to retry */
    int64_t left = s->expires_wall_ms - clock__wall_ms();
    int64_t d = left / 2;
    int64_t ov = s->t->side->renew_override_ms;
    if (ov > 0 && ov < d)
        d = ov;
    return d < SUBS_MIN_RENEW ? SUBS_MIN_RENEW : d;
}

static int subs__read(struct gsub *s, const char *body)
{
    cJSON *o = json__parse_str(body);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expirationDateTime");
    int64_t wall = 0;
    int rc = -1;
    if (cJSON_IsString(exp) && clock__parse_iso8601(exp->valuestring, &wall) == 0) {
        if (cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) <= GSIDE_ID_MAX)
            snprintf(s->id, sizeof(s->id), "%s", id->valuestring);
        s->expires_wall_ms = wall;
        rc = s->id[0] ? 0 : -1;
    }
    cJSON_Delete(o);
    return rc;
}

/* ---- create -------------------------------------------------------------------------- */

static char *subs__create_body(struct gsub *s)
{
    struct gtenant *t = s->t;
    char exp[40];
    unsigned char rnd[GSIDE_CLIENT_STATE_LEN / 2];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return NULL;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(s->client_state + 2 * i, 3, "%02x", rnd[i]);
    char *resource = subs__resource(s->ids, s->n_ids);
    cJSON *o = cJSON_CreateObject();
    if (!resource || !o) {
        free(resource);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "changeType", "updated");
    cJSON_AddStringToObject(o, "notificationUrl", t->notify_url);
    cJSON_AddStringToObject(o, "lifecycleNotificationUrl", t->lifecycle_url);
    cJSON_AddStringToObject(o, "resource", resource);
    cJSON_AddStringToObject(
        o, "expirationDateTime",
        clock__iso8601_graph(clock__wall_ms() + GSIDE_SUB_LIFETIME_MS, exp, sizeof(exp)));
    cJSON_AddStringToObject(o, "clientState", s->client_state);
    if (t->keys) {
        char *cert = notify_crypto__store_cert_base64(t->keys, t->cert_id);
        cJSON_AddBoolToObject(o, "includeResourceData", true);
        cJSON_AddStringToObject(o, "encryptionCertificate", cert ? cert : "");
        cJSON_AddStringToObject(o, "encryptionCertificateId", t->cert_id);
        free(cert);
    }
    free(resource);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

static void subs__renew(struct gsub *s);

static void subs__created(struct gcall *c, const struct http_result *res)
{
    struct gsub *s = c->ctx;
    s->busy = false;
    if (!res)
        return;
    if (res->status == 201 || res->status == 200) {
        if (subs__read(s, res->body) == 0) {
            s->state = SUB_ACTIVE;
            s->creates++;
            s->last_error[0] = '\0';
            backoff__reset(&s->bo);
            subs__reg_set(s->t, s->account, s->id, s->client_state);
            char exp[32];
            LOG_INFO("graph",
                     "subscription created tenant=%s account=%s id=%s users=%zu "
                     "expires=%s",
                     s->t->name, subs__account(s), s->id, s->n_ids,
                     clock__iso8601(s->expires_wall_ms, exp, sizeof(exp)));
            subs__count(s, "graph_subscriptions_created_total");
            if (s->replan) {
                s->replan = false;
                subs__ensure(s);
            }
            else {
                subs__schedule(s, subs__renew_delay(s));
            }
            gside__status(s->t);
            /* notifications before this moment are lost: read everyone */
            resync__request(s->t, "subscription created");
            return;
        }
        snprintf(s->last_error, sizeof(s->last_error), "create: unreadable answer");
    }
    else {
        subs__set_error(s, res, "create");
    }
    s->state = SUB_IDLE;
    s->client_state[0] = '\0';
    s->id[0] = '\0';
    if (res->status == 409)
        s->listed = false; /* an old one is in the way: list and delete first */
    subs__count(s, "graph_subscription_failures_total");
    subs__retry(s, res);
}

static void subs__create(struct gsub *s)
{
    char *body = subs__create_body(s);
    if (!body) {
        subs__retry(s, NULL);
        return;
    }
    s->state = SUB_CREATING;
    s->busy = true;
    LOG_INFO("graph", "creating subscription tenant=%s account=%s users=%zu", s->t->name,
             subs__account(s), s->n_ids);
    gcall__start(s->t, gside__account(s->t, s->account), "POST", subs__url(s->t, ""), body,
                 subs__created, s, 0);
}

/* ---- startup cleanup: list, delete ---------------------------------------------------- */

static void subs__deleted(struct gcall *c, const struct http_result *res)
{
    struct gsub *s = c->ctx;
    if (!res)
        return;
    if (res->status != 204 && res->status != 200 && res->status != 404)
        subs__set_error(s, res, "delete");
    if (--s->outstanding > 0)
        return;
    s->busy = false;
    s->state = SUB_IDLE;
    subs__ensure(s);
}

static void subs__delete_id(struct gsub *s, const char *id)
{
    char suffix[GSIDE_ID_MAX + 2];
    snprintf(suffix, sizeof(suffix), "/%s", id);
    LOG_INFO("graph", "deleting subscription tenant=%s account=%s id=%s", s->t->name,
             subs__account(s), id);
    s->outstanding++;
    gcall__start(s->t, gside__account(s->t, s->account), "DELETE", subs__url(s->t, suffix), NULL,
                 subs__deleted, s, 0);
}

static void subs__listed(struct gcall *c, const struct http_result *res)
{
    struct gsub *s = c->ctx;
    if (!res)
        return;
    cJSON *o = res->status == 200 ? json__parse_str(res->body) : NULL;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!cJSON_IsArray(value)) {
        cJSON_Delete(o);
        s->busy = false;
        s->state = SUB_IDLE;
        subs__set_error(s, res, "list");
        subs__retry(s, res);
        return;
    }
    s->outstanding = 1;
    const cJSON *it;
    cJSON_ArrayForEach(it, value)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "resource");
        if (cJSON_IsString(id) && cJSON_IsString(r) && strlen(id->valuestring) <= GSIDE_ID_MAX &&
            strstr(r->valuestring, "communications/presences"))
            subs__delete_id(s, id->valuestring);
    }
    /* a delegated list holds one page in practice; a nextLink would hold
     * more subscriptions of this app by this account: noted, not followed */
    if (cJSON_GetObjectItemCaseSensitive(o, "@odata.nextLink"))
        LOG_WARN("graph", "subscription list has more pages tenant=%s account=%s", s->t->name,
                 subs__account(s));
    cJSON_Delete(o);
    s->listed = true;
    s->state = SUB_DELETING;
    if (--s->outstanding == 0) {
        s->busy = false;
        s->state = SUB_IDLE;
        subs__ensure(s);
    }
}

/* ---- renew and reauthorize ------------------------------------------------------------ */

static void subs__renewed(struct gcall *c, const struct http_result *res)
{
    struct gsub *s = c->ctx;
    s->busy = false;
    if (!res)
        return;
    if (res->status == 200 && subs__read(s, res->body) == 0) {
        backoff__reset(&s->bo);
        s->last_error[0] = '\0';
        LOG_DEBUG("graph", "subscription renewed tenant=%s id=%s", s->t->name, s->id);
        subs__count(s, "graph_subscriptions_renewed_total");
        gside__status(s->t);
        if (s->replan) /* the user list changed meanwhile */
            subs__ensure(s);
        else
            subs__schedule(s, subs__renew_delay(s));
        return;
    }
    if (res->status == 404) {
        LOG_WARN("graph", "subscription is gone, recreating tenant=%s account=%s id=%s", s->t->name,
                 subs__account(s), s->id);
        subs__forget(s);
        s->listed = true;
        subs__ensure(s);
        return;
    }
    subs__set_error(s, res, "renew");
    subs__count(s, "graph_subscription_failures_total");
    if (clock__wall_ms() >= s->expires_wall_ms) {
        subs__forget(s); /* too late to renew: it has expired */
        s->listed = false;
    }
    subs__retry(s, res);
}

static void subs__renew(struct gsub *s)
{
    char exp[40], suffix[GSIDE_ID_MAX + 2];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(
        o, "expirationDateTime",
        clock__iso8601_graph(clock__wall_ms() + GSIDE_SUB_LIFETIME_MS, exp, sizeof(exp)));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(suffix, sizeof(suffix), "/%s", s->id);
    s->busy = true;
    gcall__start(s->t, gside__account(s->t, s->account), "PATCH", subs__url(s->t, suffix), body,
                 subs__renewed, s, 0);
}

static void subs__reauthorized(struct gcall *c, const struct http_result *res)
{
    struct gsub *s = c->ctx;
    s->busy = false;
    if (!res)
        return;
    if (res->status == 204 || res->status == 200) {
        LOG_INFO("graph", "subscription reauthorized tenant=%s account=%s id=%s", s->t->name,
                 subs__account(s), s->id);
        subs__count(s, "graph_subscriptions_reauthorized_total");
        if (s->replan)
            subs__ensure(s);
        else
            subs__schedule(s, subs__renew_delay(s));
        return;
    }
    if (res->status == 404) {
        subs__forget(s);
        s->listed = true;
        subs__ensure(s);
        return;
    }
    subs__set_error(s, res, "reauthorize");
    subs__count(s, "graph_subscription_failures_total");
    subs__retry(s, res); /* the renewal (PATCH) reauthorizes too */
}

/* ---- the per-account state machine ---------------------------------------------------- */

static void subs__ensure(struct gsub *s)
{
    struct gtenant *t = s->t;
    if (t->side->stopping || s->busy)
        return;
    loop__timer_cancel(t->side->loop, s->timer);
    s->timer = 0;
    if (s->state == SUB_ACTIVE && s->replan) {
        /* the user list changed: Graph cannot change a resource, so replace */
        s->replan = false;
        char id[GSIDE_ID_MAX + 1];
        snprintf(id, sizeof(id), "%s", s->id);
        subs__forget(s);
        s->busy = true;
        s->state = SUB_DELETING;
        s->outstanding = 0;
        subs__delete_id(s, id);
        return;
    }
    s->replan = false;
    if (s->state == SUB_ACTIVE) {
        subs__renew(s);
        return;
    }
    if (s->n_ids == 0) {
        s->state = SUB_IDLE;
        gside__status(t);
        return;
    }
    if (!s->listed) {
        s->state = SUB_LISTING;
        s->busy = true;
        gcall__start(t, gside__account(t, s->account), "GET", subs__url(t, ""), NULL, subs__listed,
                     s, 0);
        return;
    }
    subs__create(s);
}

static int subs__cmp_str(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void subs__free_ids(struct gsub *s)
{
    for (size_t i = 0; i < s->n_ids; i++)
        free(s->ids[i]);
    free(s->ids);
    s->ids = NULL;
    s->n_ids = 0;
}

void subs__plan(struct gtenant *t)
{
    size_t n = 0;
    char **all = malloc((t->n_users ? t->n_users : 1) * sizeof(*all));
    if (!all)
        return;
    for (size_t i = 0; i < t->n_users; i++) {
        if (t->users[i].rs == USER_OK)
            all[n++] = t->users[i].id;
    }
    qsort(all, n, sizeof(*all), subs__cmp_str);
    for (size_t a = 0; a < t->n_accounts; a++) {
        struct gsub *s = &t->subs[a];
        size_t first, count;
        subs__split(n, t->n_accounts, a, &first, &count);
        bool same = count == s->n_ids;
        for (size_t i = 0; same && i < count; i++)
            same = strcasecmp(s->ids[i], all[first + i]) == 0;
        if (same && (s->state != SUB_IDLE || count == 0))
            continue; /* unchanged and alive (or busy getting there) */
        if (!same) {
            subs__free_ids(s);
            s->ids = calloc(count ? count : 1, sizeof(*s->ids));
            for (size_t i = 0; s->ids && i < count; i++) {
                s->ids[i] = strdup(all[first + i]);
                if (s->ids[i])
                    s->n_ids++;
            }
            if (s->state != SUB_IDLE)
                s->replan = true;
        }
        if (s->n_ids == 0 && s->state == SUB_ACTIVE) {
            s->replan = false;
            char id[GSIDE_ID_MAX + 1];
            snprintf(id, sizeof(id), "%s", s->id);
            subs__forget(s);
            if (!s->busy) {
                s->busy = true;
                s->outstanding = 0;
                subs__delete_id(s, id);
            }
            continue;
        }
        subs__ensure(s);
    }
    free(all);
    gside__status(t);
}

void subs__lifecycle(struct gtenant *t, const char *sub_id, const char *event)
{
    struct gsub *s = NULL;
    for (size_t a = 0; a < t->n_accounts && !s; a++) {
        if (t->subs[a].state == SUB_ACTIVE && strcasecmp(t->subs[a].id, sub_id) == 0)
            s = &t->subs[a];
    }
    if (!s) {
        LOG_INFO("graph", "lifecycle event for an unknown subscription tenant=%s id=%s event=%s",
                 t->name, sub_id, event);
        return;
    }
    LOG_INFO("graph", "lifecycle event tenant=%s account=%s id=%s event=%s", t->name,
             subs__account(s), s->id, event);
    if (strcasecmp(event, "reauthorizationRequired") == 0) {
        if (s->busy)
            return; /* a renewal or recreation in flight reauthorizes anyway */
        char suffix[GSIDE_ID_MAX + 16];
        snprintf(suffix, sizeof(suffix), "/%s/reauthorize", s->id);
        /* Graph asks for "a valid access token", and may ask every few
         * minutes: a fresh one only when ours is about to expire
         * (docs/graph.md, "Subscriptions") */
        struct gtoken *tok = gside__account(t, s->account);
        if (!tok->access || tok->expires_mono - clock__mono_ms() < SUBS_REAUTH_REFRESH_MS)
            tokens__invalidate(tok, NULL);
        loop__timer_cancel(t->side->loop, s->timer);
        s->timer = 0;
        s->busy = true;
        gcall__start(t, gside__account(t, s->account), "POST", subs__url(t, suffix), NULL,
                     subs__reauthorized, s, 0);
    }
    else if (strcasecmp(event, "subscriptionRemoved") == 0) {
        subs__forget(s);
        s->listed = true;
        subs__ensure(s);
    }
    else if (strcasecmp(event, "missed") == 0) {
        resync__request(t, "missed");
    }
}

void subs__stop(struct gtenant *t)
{
    for (size_t a = 0; a < t->n_accounts; a++) {
        loop__timer_cancel(t->side->loop, t->subs[a].timer);
        t->subs[a].timer = 0;
    }
}

void subs__free(struct gtenant *t)
{
    for (size_t a = 0; t->subs && a < t->n_accounts; a++)
        subs__free_ids(&t->subs[a]);
}

static const char *subs__state_name(enum gsub_state st)
{
    switch (st) {
    case SUB_LISTING:
        return "listing";
    case SUB_DELETING:
        return "deleting";
    case SUB_CREATING:
        return "creating";
    case SUB_ACTIVE:
        return "active";
    default:
        return "none";
    }
}

cJSON *subs__status_json(struct gtenant *t)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t a = 0; arr && a < t->n_accounts; a++) {
        const struct gsub *s = &t->subs[a];
        cJSON *o = cJSON_CreateObject();
        char ts[32];
        cJSON_AddStringToObject(o, "account", subs__account(s));
        cJSON_AddStringToObject(
            o, "state", s->n_ids || s->state != SUB_IDLE ? subs__state_name(s->state) : "unused");
        cJSON_AddNumberToObject(o, "users", (double)s->n_ids);
        if (s->state == SUB_ACTIVE) {
            cJSON_AddStringToObject(o, "id", s->id);
            cJSON_AddStringToObject(o, "expires",
                                    clock__iso8601(s->expires_wall_ms, ts, sizeof(ts)));
        }
        if (s->last_error[0])
            cJSON_AddStringToObject(o, "error", s->last_error);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
