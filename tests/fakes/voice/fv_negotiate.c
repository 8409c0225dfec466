/* SignalR negotiate (TransportProtocols.md): version 1, version 0, a
 * redirect or an error as the `negotiate` setting says, and the connection
 * tokens it hands out, which the WebSocket upgrade checks before the 101
 * (on the libwebsockets thread: the table is shared under fv->neg_mu). */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "fv_internal.h"

/* The negotiation table: loop thread and libwebsockets thread, under
 * fv->neg_mu. */
static struct negotiation *negotiation__find(struct fake_voice *fv, const char *token)
{
    for (int i = 0; i < fv->n_neg; i++)
        if (!strcmp(fv->neg[i].token, token))
            return &fv->neg[i];
    return NULL;
}

static void negotiation__remove(struct fake_voice *fv, struct negotiation *n)
{
    int i = (int)(n - fv->neg);
    memmove(&fv->neg[i], &fv->neg[i + 1], (size_t)(fv->n_neg - i - 1) * sizeof(fv->neg[0]));
    fv->n_neg--;
}

/* A new connection token (loop thread). */
static void negotiation__add(struct fake_voice *fv, const char *token)
{
    pthread_mutex_lock(&fv->neg_mu);
    if (fv->n_neg == MAX_NEGOTIATIONS)
        negotiation__remove(fv, &fv->neg[0]); /* oldest */
    struct negotiation *n = &fv->neg[fv->n_neg++];
    snprintf(n->token, sizeof(n->token), "%s", token);
    n->created_mono = clock__mono_ms();
    n->connected = false;
    pthread_mutex_unlock(&fv->neg_mu);
}

bool negotiation__known(struct fake_voice *fv, const char *token)
{
    pthread_mutex_lock(&fv->neg_mu);
    bool known = negotiation__find(fv, token) != NULL;
    pthread_mutex_unlock(&fv->neg_mu);
    return known;
}

/* Loop thread: a connection with this token closed; the token is gone. */
void negotiation__forget(struct fake_voice *fv, const char *token)
{
    pthread_mutex_lock(&fv->neg_mu);
    struct negotiation *n = token[0] ? negotiation__find(fv, token) : NULL;
    if (n)
        negotiation__remove(fv, n);
    pthread_mutex_unlock(&fv->neg_mu);
}

/* Loop thread: tokens never used within NEGOTIATE_TTL_MS expire. */
void negotiation__expire(struct fake_voice *fv, int64_t now)
{
    pthread_mutex_lock(&fv->neg_mu);
    for (int i = 0; i < fv->n_neg;) {
        if (!fv->neg[i].connected && now - fv->neg[i].created_mono > NEGOTIATE_TTL_MS)
            negotiation__remove(fv, &fv->neg[i]);
        else
            i++;
    }
    pthread_mutex_unlock(&fv->neg_mu);
}

void negotiation__clear(struct fake_voice *fv)
{
    pthread_mutex_lock(&fv->neg_mu);
    fv->n_neg = 0;
    pthread_mutex_unlock(&fv->neg_mu);
}

static const char *bearer_of(const struct fv_req *r)
{
    if (!strncasecmp(r->auth, "Bearer ", 7))
        return r->auth + 7;
    return r->token_q[0] ? r->token_q : NULL;
}

static cJSON *negotiate__transports(void)
{
    cJSON *tr = cJSON_CreateArray();
    cJSON *ws = cJSON_CreateObject();
    cJSON_AddStringToObject(ws, "transport", "WebSockets");
    cJSON *fmts = cJSON_AddArrayToObject(ws, "transferFormats");
    cJSON_AddItemToArray(fmts, cJSON_CreateString("Text"));
    cJSON_AddItemToArray(fmts, cJSON_CreateString("Binary"));
    cJSON_AddItemToArray(tr, ws);
    return tr;
}

/* A redirect as Azure SignalR Service answers it: another URL (here our own
 * hub with a marker) and a token for it. */
static void negotiate__redirect(struct fv_req *r)
{
    struct fake_voice *fv = r->fv;
    char ep[200], url[260];
    int64_t now = clock__wall_ms() / 1000;
    rest__hub_endpoint(fv, ep, sizeof(ep));
    snprintf(url, sizeof(url), "%s%s?asrs.redirected=1", strstr(ep, "://") ? "" : "https://", ep);
    char *tok = fv_jwt__sign(fv->key, sizeof(fv->key), fv->sim.account_id, now,
                             now + fv->sim.set.token_lifetime_s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", url);
    cJSON_AddStringToObject(o, "accessToken", tok ? tok : "");
    free(tok);
    req__answer(r, 200, print_free(o), NULL);
}

void hub__negotiate(struct fv_req *r)
{
    struct fake_voice *fv = r->fv;
    const char *tok = bearer_of(r);
    int64_t exp = 0;
    int rc =
        tok ? fv_jwt__verify(fv->key, sizeof(fv->key), tok, clock__wall_ms() / 1000, &exp, NULL, 0)
            : FV_JWT_BAD;
    if (rc != FV_JWT_OK) {
        req__error(r, 401, rc == FV_JWT_EXPIRED ? "token expired" : "invalid token");
        return;
    }
    int mode = fv->sim.set.negotiate;
    if (mode == SIM_NEG_ERROR) {
        req__answer(r, 200, json_error("Negotiation refused (fake-voice setting negotiate=error)"),
                    NULL);
        return;
    }
    if (mode == SIM_NEG_REDIRECT && !strstr(r->query, "asrs.redirected=1")) {
        negotiate__redirect(r);
        return;
    }
    /* Without negotiateVersion the server answers version 0 (the spec):
     * no connectionToken, the connectionId is the token. */
    bool v0 = mode == SIM_NEG_V0 || !strstr(r->query, "negotiateVersion=");
    char conn_id[SIM_ID_LEN], token[SIM_ID_LEN];
    sim__new_guid(conn_id);
    sim__new_guid(token);
    negotiation__add(fv, v0 ? conn_id : token);
    cJSON *o = cJSON_CreateObject();
    if (!v0)
        cJSON_AddNumberToObject(o, "negotiateVersion", 1);
    cJSON_AddStringToObject(o, "connectionId", conn_id);
    if (!v0)
        cJSON_AddStringToObject(o, "connectionToken", token);
    cJSON_AddItemToObject(o, "availableTransports", negotiate__transports());
    req__answer(r, 200, print_free(o), NULL);
}

/* The access token of an upgrade request (query, else the header). */
static void upgrade__token(const struct http_request *req, char *out, size_t len)
{
    if (http_request__query(req, "access_token", out, len) >= 0)
        return;
    char auth[4200];
    out[0] = '\0';
    int n = http_request__header(req, "Authorization", auth, sizeof(auth));
    if (n > 7 && (size_t)n - 7 < len && !strncasecmp(auth, "Bearer ", 7)) {
        memcpy(out, auth + 7, (size_t)n - 7);
        out[n - 7] = '\0';
    }
    OPENSSL_cleanse(auth, sizeof(auth));
}

/* libwebsockets thread, before the 101 (TransportProtocols.md: an unknown
 * id is a 404, a second connection on one id a 409; a bad bearer is the
 * authentication middleware's 401). */
int negotiation__upgrade(void *ctx, const struct http_request *req)
{
    struct fake_voice *fv = ctx;
    char token[4096], id[SIM_ID_LEN + 8];
    int left = atomic_load(&fv->refuse_count);
    while (left > 0 && !atomic_compare_exchange_weak(&fv->refuse_count, &left, left - 1))
        ;
    if (left > 0)
        return atomic_load(&fv->refuse_status);
    int64_t exp = 0;
    upgrade__token(req, token, sizeof(token));
    int rc =
        fv_jwt__verify(fv->key, sizeof(fv->key), token, clock__wall_ms() / 1000, &exp, NULL, 0);
    OPENSSL_cleanse(token, sizeof(token));
    if (rc != FV_JWT_OK)
        return 401;
    if (http_request__query(req, "id", id, sizeof(id)) < 0)
        return 0; /* no id: a new connection (negotiate skipped) */
    pthread_mutex_lock(&fv->neg_mu);
    struct negotiation *n = negotiation__find(fv, id);
    int status = !n ? 404 : n->connected ? 409 : 0;
    if (n)
        n->connected = true;
    pthread_mutex_unlock(&fv->neg_mu);
    return status;
}
