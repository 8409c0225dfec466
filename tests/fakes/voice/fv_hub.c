/* The RTE SignalR hub: negotiate, WebSocket connections, handshake,
 * Subscribe, pings, timeouts, token expiry and framing modes. */
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
#include "core/hmap.h"
#include "core/http_server.h"
#include "core/log.h"
#include "fv_internal.h"
#include "ws_server.h"

static void hc__unref(struct hub_conn *hc)
{
    if (atomic_fetch_sub(&hc->refs, 1) == 1) {
        pthread_mutex_destroy(&hc->mu);
        free(hc);
    }
}

static int hc__write(struct hub_conn *hc, const char *data, size_t len)
{
    pthread_mutex_lock(&hc->mu);
    int rc = hc->closed ? -1 : ws_server__send(hc->ws, data, len);
    pthread_mutex_unlock(&hc->mu);
    return rc;
}

static void hc__close(struct hub_conn *hc)
{
    pthread_mutex_lock(&hc->mu);
    if (!hc->closed)
        ws_server__close(hc->ws);
    pthread_mutex_unlock(&hc->mu);
    hc->closing = true;
}

static void hc__flush_merge(struct hub_conn *hc)
{
    if (!hc->merge_buf)
        return;
    hc__write(hc, hc->merge_buf, hc->merge_len);
    free(hc->merge_buf);
    hc->merge_buf = NULL;
    hc->merge_len = 0;
}

/* Sends one record (JSON without 0x1E) in the current framing mode. */
static void hc__send_record(struct hub_conn *hc, const char *json)
{
    size_t n = 0;
    char *f = rte_record__frame(json, &n);
    if (!f)
        return;
    switch (hc->fv->sim.set.framing) {
    case RTE_FRAMING_SPLIT: {
        size_t k = rte_framing__split_at(n);
        hc__write(hc, f, k);
        hc__write(hc, f + k, n - k);
        break;
    }
    case RTE_FRAMING_MERGE:
        if (!hc->merge_buf) {
            /* Hold it: the next record (or the tick) sends it. */
            hc->merge_buf = f;
            hc->merge_len = n;
            hc->merge_since = clock__mono_ms();
            return;
        }
        char *m = realloc(hc->merge_buf, hc->merge_len + n + 1);
        if (!m)
            break;
        memcpy(m + hc->merge_len, f, n + 1);
        hc->merge_buf = m;
        hc->merge_len += n;
        hc__flush_merge(hc);
        break;
    default:
        hc__flush_merge(hc);
        hc__write(hc, f, n);
        break;
    }
    free(f);
}

static void hc__send_close(struct hub_conn *hc, const char *error, bool allow_reconnect)
{
    char *c = rte__close(error, allow_reconnect);
    if (c) {
        hc__send_record(hc, c);
        free(c);
    }
    hc__flush_merge(hc);
    hc__close(hc);
}

static bool hc__subscribed(const struct hub_conn *hc, const char *user_id, const char *name)
{
    if (!hc->sub_ix_cap)
        return false;
    size_t mask = hc->sub_ix_cap - 1;
    for (size_t i = hmap__hash_ci(user_id) & mask; hc->sub_ix[i]; i = (i + 1) & mask) {
        const struct rte_sub *s = &hc->subs[hc->sub_ix[i] - 1];
        if (!strcasecmp(s->entity_id, user_id) && (!name || !strcmp(s->event_name, name)))
            return true;
    }
    return false;
}

static void hc__index_put(struct hub_conn *hc, int i)
{
    size_t mask = hc->sub_ix_cap - 1;
    size_t at = hmap__hash_ci(hc->subs[i].entity_id) & mask;
    while (hc->sub_ix[at])
        at = (at + 1) & mask;
    hc->sub_ix[at] = i + 1;
}

static void hc__forget_subs(struct hub_conn *hc)
{
    free(hc->subs);
    free(hc->sub_ix);
    hc->subs = NULL;
    hc->sub_ix = NULL;
    hc->n_subs = hc->cap_subs = 0;
    hc->sub_ix_cap = 0;
}

/* Appends one entry (the array and its index grow by doubling); -1 when out
 * of memory. */
static int hc__add_sub(struct hub_conn *hc, const struct rte_sub *sub)
{
    if (hc->n_subs == hc->cap_subs) {
        int cap = hc->cap_subs ? hc->cap_subs * 2 : 64;
        struct rte_sub *ns = realloc(hc->subs, (size_t)cap * sizeof(*ns));
        if (!ns)
            return -1;
        hc->subs = ns;
        hc->cap_subs = cap;
    }
    if ((size_t)(hc->n_subs + 1) * 2 > hc->sub_ix_cap) {
        size_t cap = hc->sub_ix_cap ? hc->sub_ix_cap * 2 : 256;
        int *ix = calloc(cap, sizeof(*ix));
        if (!ix)
            return -1;
        free(hc->sub_ix);
        hc->sub_ix = ix;
        hc->sub_ix_cap = cap;
        for (int i = 0; i < hc->n_subs; i++)
            hc__index_put(hc, i);
    }
    hc->subs[hc->n_subs] = *sub;
    hc__index_put(hc, hc->n_subs++);
    return 0;
}

enum hub_ev_type { HUB_OPEN, HUB_MSG, HUB_CLOSE };

struct hub_ev {
    int type;
    struct hub_conn *hc;
    char id[SIM_ID_LEN + 8];
    char token[4096];
    char *data;
    size_t len;
};

static void hub__open(struct hub_conn *hc, struct hub_ev *ev)
{
    struct fake_voice *fv = hc->fv;
    hc->next = fv->conns;
    fv->conns = hc;
    hc->last_rx_mono = hc->last_ping_mono = clock__mono_ms();
    bool known = true;
    if (ev->id[0]) {
        /* accepted by ws_on_upgrade (marked connected) unless expired since */
        known = negotiation__known(fv, ev->id);
        snprintf(hc->conn_token, sizeof(hc->conn_token), "%.36s", ev->id);
    }
    else {
        sim__new_guid(hc->conn_token); /* negotiate skipped */
    }
    if (!known) {
        LOG_INFO("fake-voice", "hub rejected reason=unknown-connection-token");
        hc->conn_token[0] = '\0';
        hc__close(hc);
        return;
    }
    int rc = fv_jwt__verify(fv->key, sizeof(fv->key), ev->token, clock__wall_ms() / 1000,
                            &hc->token_exp, hc->user_id, sizeof(hc->user_id));
    if (rc != FV_JWT_OK) {
        LOG_INFO("fake-voice", "hub rejected reason=%s",
                 rc == FV_JWT_EXPIRED ? "token-expired" : "invalid-token");
        hc__close(hc);
        return;
    }
    hc->authorized = true;
    LOG_INFO("fake-voice", "hub connected conn=%s user=%s", hc->conn_token, hc->user_id);
}

static bool known_user(void *ctx, const char *id)
{
    return sim__user_by_id(ctx, id) != NULL;
}

static bool known_event(void *ctx, const char *name)
{
    return sim__offers(&((struct sim *)ctx)->set, name);
}

/* {"type":1,"target":"SubscribeDetails","arguments":[<entries>]} */
static char *hub__details_record(const char *entries_json)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "type", 1);
    cJSON_AddStringToObject(root, "target", "SubscribeDetails");
    cJSON *args = cJSON_AddArrayToObject(root, "arguments");
    cJSON_AddItemToArray(args, cJSON_Parse(entries_json));
    return print_free(root);
}

static void hub__subscribe(struct hub_conn *hc, struct rte_msg *m)
{
    /* Room for every entry of the (only) argument, up to SIM_MAX_SUBS; the
     * parser refuses more. */
    const cJSON *list = cJSON_GetArrayItem(m->arguments, 0);
    int room = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    room = room < 1 ? 1 : room > SIM_MAX_SUBS ? SIM_MAX_SUBS : room;
    struct rte_sub *subs = calloc((size_t)room, sizeof(*subs));
    char err[160];
    int n = subs ? rte__parse_subscribe(m->arguments, known_user, known_event, &hc->fv->sim, subs,
                                        room, err, sizeof(err))
                 : -1;
    if (!subs)
        snprintf(err, sizeof(err), "out of memory");
    if (n >= 0 && hc->fv->sim.set.refuse_subscribe) {
        n = -1; /* as a hub would for entities the caller may not see */
        snprintf(err, sizeof(err), "Subscription refused: not authorized for these entities");
    }
    char *reply = NULL;
    if (n < 0) {
        LOG_INFO("fake-voice", "hub subscribe refused conn=%s error=%s", hc->conn_token, err);
        if (m->invocation_id[0])
            reply = rte__completion(m->invocation_id, NULL, err);
    }
    else {
        cJSON *res = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            bool kept = hc__subscribed(hc, subs[i].entity_id, subs[i].event_name);
            if (!kept && hc->n_subs < hc->fv->sim.set.max_subs)
                kept = hc__add_sub(hc, &subs[i]) == 0;
            /* beyond max_subs per connection the entry is refused, not dropped silently */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "EntityId", subs[i].entity_id);
            cJSON_AddStringToObject(o, "EventName", subs[i].event_name);
            cJSON_AddBoolToObject(o, "Success", kept);
            cJSON_AddItemToArray(res, o);
        }
        char *rj = print_free(res);
        LOG_INFO("fake-voice", "hub subscribed conn=%s entries=%d total=%d", hc->conn_token, n,
                 hc->n_subs);
        if (hc->fv->sim.set.details_callback) {
            /* the other way a hub reports entries: a callback, then a bare completion */
            char *cb = rj ? hub__details_record(rj) : NULL;
            if (cb)
                hc__send_record(hc, cb);
            free(cb);
            if (m->invocation_id[0])
                reply = rte__completion(m->invocation_id, NULL, NULL);
        }
        else if (m->invocation_id[0])
            reply = rte__completion(m->invocation_id, rj, NULL);
        free(rj);
    }
    free(subs);
    if (reply) {
        hc__send_record(hc, reply);
        free(reply);
    }
}

/* AvailableSubscriptions() (public client code: invoked without
 * arguments, and a callback of the same name registered): the list as the
 * Completion's result and/or a callback, as the setting says. */
static void hub__available(struct hub_conn *hc, struct rte_msg *m)
{
    const struct sim_settings *set = &hc->fv->sim.set;
    char *list = sim__offered_json(set), *reply = NULL;
    if (set->available == SIM_AVAIL_BOTH || set->available == SIM_AVAIL_CALLBACK) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "type", 1);
        cJSON_AddStringToObject(root, "target", "AvailableSubscriptions");
        cJSON *args = cJSON_AddArrayToObject(root, "arguments");
        cJSON_AddItemToArray(args, list ? cJSON_Parse(list) : cJSON_CreateArray());
        char *cb = print_free(root);
        if (cb)
            hc__send_record(hc, cb);
        free(cb);
    }
    if (m->invocation_id[0]) {
        if (set->available == SIM_AVAIL_UNKNOWN)
            reply = rte__completion(m->invocation_id, NULL,
                                    "Unknown hub method 'AvailableSubscriptions'");
        else if (set->available == SIM_AVAIL_BOTH || set->available == SIM_AVAIL_COMPLETION)
            reply = rte__completion(m->invocation_id, list, NULL);
        else
            reply = rte__completion(m->invocation_id, NULL, NULL);
    }
    LOG_INFO("fake-voice", "hub AvailableSubscriptions conn=%s mode=%d", hc->conn_token,
             set->available);
    if (reply)
        hc__send_record(hc, reply);
    free(reply);
    free(list);
}

static void hub__invocation(struct hub_conn *hc, struct rte_msg *m)
{
    char *reply = NULL;
    if (!strcmp(m->target, "Subscribe")) {
        hub__subscribe(hc, m);
        return;
    }
    if (!strcmp(m->target, "AvailableSubscriptions") &&
        hc->fv->sim.set.available != SIM_AVAIL_UNKNOWN) {
        hub__available(hc, m);
        return;
    }
    if (!strcmp(m->target, "UnsubscribeAll")) {
        hc__forget_subs(hc);
        if (m->invocation_id[0])
            reply = rte__completion(m->invocation_id, "true", NULL);
    }
    else if (m->invocation_id[0]) {
        char err[128];
        snprintf(err, sizeof(err), "Unknown hub method '%.60s'", m->target);
        reply = rte__completion(m->invocation_id, NULL, err);
    }
    if (reply) {
        hc__send_record(hc, reply);
        free(reply);
    }
}

static void hub__record(struct hub_conn *hc, const char *rec)
{
    if (!hc->handshaken) {
        char err[160];
        if (rte__parse_handshake(rec, err, sizeof(err)) != 0) {
            LOG_INFO("fake-voice", "hub handshake refused conn=%s error=%s", hc->conn_token, err);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error", err);
            char *s = print_free(o);
            if (s)
                hc__send_record(hc, s);
            free(s);
            hc__flush_merge(hc);
            hc__close(hc);
            return;
        }
        hc->handshaken = true;
        hc->last_ping_mono = clock__mono_ms();
        hc__send_record(hc, RTE_HANDSHAKE_OK);
        return;
    }
    struct rte_msg m;
    if (rte__parse_msg(rec, &m) != 0) {
        LOG_INFO("fake-voice", "hub bad message conn=%s", hc->conn_token);
        hc__send_close(hc, "Connection closed with an error: invalid message.", false);
        return;
    }
    if (m.type == 1) {
        hub__invocation(hc, &m);
    }
    else if (m.type == 4 && m.invocation_id[0]) {
        /* HubProtocol.md: a StreamInvocation of a non-streaming method MUST
         * complete with an error (ASP.NET Core's text) */
        char err[160];
        snprintf(err, sizeof(err),
                 "The client attempted to invoke the non-streaming '%.60s' method with a "
                 "streaming invocation.",
                 m.target);
        char *reply = rte__completion(m.invocation_id, NULL, err);
        if (reply)
            hc__send_record(hc, reply);
        free(reply);
    }
    else if (m.type == 7) {
        hc__close(hc);
    }
    /* 6 (ping) only refreshes last_rx; other types are ignored. */
    rte_msg__free(&m);
}

static void hub__message(struct hub_conn *hc, const char *data, size_t len)
{
    if (hc->closing || !hc->authorized)
        return;
    hc->last_rx_mono = clock__mono_ms();
    if (rte_reader__feed(&hc->rd, data, len) != 0) {
        hc__send_close(hc, "Connection closed with an error: message too large.", false);
        return;
    }
    char *rec;
    size_t rlen;
    while (!hc->closing && rte_reader__next(&hc->rd, &rec, &rlen)) {
        hub__record(hc, rec);
        free(rec);
    }
}

static void hub__closed(struct hub_conn *hc)
{
    struct fake_voice *fv = hc->fv;
    for (struct hub_conn **pp = &fv->conns; *pp; pp = &(*pp)->next) {
        if (*pp == hc) {
            *pp = hc->next;
            break;
        }
    }
    LOG_INFO("fake-voice", "hub disconnected conn=%s", hc->conn_token);
    negotiation__forget(fv, hc->conn_token);
    rte_reader__free(&hc->rd);
    hc__forget_subs(hc);
    free(hc->merge_buf);
    hc__unref(hc); /* the loop's reference */
}

static void hub__run(void *arg)
{
    struct hub_ev *ev = arg;
    switch (ev->type) {
    case HUB_OPEN:
        hub__open(ev->hc, ev);
        break;
    case HUB_MSG:
        hub__message(ev->hc, ev->data, ev->len);
        break;
    case HUB_CLOSE:
        hub__closed(ev->hc);
        break;
    }
    free(ev->data);
    OPENSSL_cleanse(ev->token, sizeof(ev->token));
    free(ev);
}

static void ws_on_open(void *ctx, struct ws_conn *c, const struct http_request *req)
{
    struct hub_conn *hc = calloc(1, sizeof(*hc));
    struct hub_ev *ev = calloc(1, sizeof(*ev));
    if (!hc || !ev) {
        free(hc);
        free(ev);
        ws_server__close(c);
        return;
    }
    pthread_mutex_init(&hc->mu, NULL);
    atomic_init(&hc->refs, 2); /* one for this thread, one for the loop */
    hc->ws = c;
    hc->fv = ctx;
    rte_reader__init(&hc->rd, MAX_RECORD);
    ws_server__set_user(c, hc);
    ev->type = HUB_OPEN;
    ev->hc = hc;
    if (http_request__query(req, "id", ev->id, sizeof(ev->id)) < 0)
        ev->id[0] = '\0';
    if (http_request__query(req, "access_token", ev->token, sizeof(ev->token)) < 0) {
        char auth[sizeof(ev->token) + 7];
        ev->token[0] = '\0';
        int n = http_request__header(req, "Authorization", auth, sizeof(auth));
        if (n > 7 && (size_t)n < sizeof(auth) && !strncasecmp(auth, "Bearer ", 7)) {
            memcpy(ev->token, auth + 7, (size_t)n - 7);
            ev->token[n - 7] = '\0';
        }
        OPENSSL_cleanse(auth, sizeof(auth));
    }
    if (loop__post(hc->fv->loop, hub__run, ev) != 0) {
        free(ev);
        hc__unref(hc); /* the loop will never see it */
        ws_server__close(c);
    }
}

static void ws_on_message(void *ctx, struct ws_conn *c, const char *data, size_t len)
{
    struct fake_voice *fv = ctx;
    struct hub_conn *hc = ws_server__user(c);
    struct hub_ev *ev = hc ? calloc(1, sizeof(*ev)) : NULL;
    if (!ev)
        return;
    ev->type = HUB_MSG;
    ev->hc = hc;
    ev->data = malloc(len + 1);
    if (!ev->data) {
        free(ev);
        return;
    }
    memcpy(ev->data, data, len);
    ev->data[len] = '\0';
    ev->len = len;
    if (loop__post(fv->loop, hub__run, ev) != 0) {
        free(ev->data);
        free(ev);
    }
}

static void ws_on_close(void *ctx, struct ws_conn *c)
{
    struct fake_voice *fv = ctx;
    struct hub_conn *hc = ws_server__user(c);
    if (!hc)
        return;
    ws_server__set_user(c, NULL);
    pthread_mutex_lock(&hc->mu);
    hc->closed = true;
    pthread_mutex_unlock(&hc->mu);
    struct hub_ev *ev = calloc(1, sizeof(*ev));
    if (ev) {
        ev->type = HUB_CLOSE;
        ev->hc = hc;
        if (loop__post(fv->loop, hub__run, ev) != 0)
            free(ev);
    }
    hc__unref(hc); /* this thread's reference */
}

/* Loop thread: pings, client timeouts, token expiry, merge flushes. */
void hub__tick(void *arg)
{
    struct fake_voice *fv = arg;
    int64_t now = clock__mono_ms();
    int64_t now_s = clock__wall_ms() / 1000;
    const struct sim_settings *set = &fv->sim.set;
    for (struct hub_conn *hc = fv->conns; hc; hc = hc->next) {
        if (hc->closing)
            continue;
        if (hc->merge_buf && now - hc->merge_since >= MERGE_HOLD_MS)
            hc__flush_merge(hc);
        /* ASP.NET Core keeps a connection past its token's expiry unless
         * CloseOnAuthenticationExpiration is set (the setting) */
        if (set->close_on_expiry && hc->authorized && now_s >= hc->token_exp) {
            LOG_INFO("fake-voice", "hub token expired conn=%s", hc->conn_token);
            hc__send_close(hc, "Connection closed with an error: the access token expired.", true);
            continue;
        }
        if (set->client_timeout_ms > 0 && now - hc->last_rx_mono >= set->client_timeout_ms) {
            LOG_INFO("fake-voice", "hub client timeout conn=%s", hc->conn_token);
            hc__send_close(
                hc, "Server timeout elapsed without receiving a message from the client.", true);
            continue;
        }
        if (hc->handshaken && set->ping_interval_ms > 0 &&
            now - hc->last_ping_mono >= set->ping_interval_ms) {
            hc->last_ping_mono = now;
            hc__send_record(hc, RTE_PING_JSON);
        }
    }
    negotiation__expire(fv, now);
    fv->tick = loop__timer(fv->loop, TICK_MS, hub__tick, fv);
}

int hub__close_all(struct fake_voice *fv, const char *error, bool allow, bool with_record)
{
    int n = 0;
    for (struct hub_conn *hc = fv->conns; hc; hc = hc->next) {
        if (hc->closing)
            continue;
        if (with_record)
            hc__send_close(hc, error, allow);
        else
            hc__close(hc);
        n++;
    }
    return n;
}

cJSON *hub__json(const struct fake_voice *fv)
{
    cJSON *arr = cJSON_CreateArray();
    for (struct hub_conn *hc = fv->conns; hc; hc = hc->next) {
        if (hc->closing)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "connection_token", hc->conn_token);
        cJSON_AddStringToObject(o, "user_id", hc->user_id);
        cJSON_AddBoolToObject(o, "handshaken", hc->handshaken);
        cJSON_AddNumberToObject(o, "subscriptions", hc->n_subs);
        cJSON_AddNumberToObject(o, "token_exp", (double)hc->token_exp);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* Sends one call event to every connection subscribed to it. */
void hub__broadcast(struct fake_voice *fv, int kind, const char *user_id, const char *call_id,
                    int64_t now)
{
    const struct sim_settings *set = &fv->sim.set;
    const char *name = set->vocab.names[kind];
    for (struct hub_conn *hc = fv->conns; hc; hc = hc->next) {
        if (!hc->handshaken || hc->closing || !hc__subscribed(hc, user_id, NULL))
            continue;
        if (set->unknown_events) {
            /* Event types the client has never heard of, by name and by
             * number: it must skip them and keep going. */
            char *u1 = voice_event__rte_message(&set->vocab, "UserCallInFutureEvent", -1, user_id,
                                                call_id, now);
            char *u2 = voice_event__rte_message(&set->vocab, NULL, 9999, user_id, call_id, now);
            if (u1)
                hc__send_record(hc, u1);
            if (u2)
                hc__send_record(hc, u2);
            free(u1);
            free(u2);
        }
        if (!hc__subscribed(hc, user_id, name))
            continue;
        int number = -1;
        if (set->event_format == VE_FMT_NUMBER ||
            (set->event_format == VE_FMT_MIXED && (fv->event_seq++ & 1)))
            number = set->vocab.numbers[kind];
        char *msg = voice_event__rte_message(&set->vocab, name, number, user_id, call_id, now);
        if (msg)
            hc__send_record(hc, msg);
        free(msg);
    }
}

void hub__broadcast_status(struct fake_voice *fv, const char *user_id, int active, int64_t now)
{
    const struct sim_settings *set = &fv->sim.set;
    const char *name = set->vocab.names[VE_USER_STATUS];
    for (struct hub_conn *hc = fv->conns; hc; hc = hc->next) {
        if (!hc->handshaken || hc->closing || !hc__subscribed(hc, user_id, name))
            continue;
        int number = -1;
        if (set->event_format == VE_FMT_NUMBER ||
            (set->event_format == VE_FMT_MIXED && (fv->event_seq++ & 1)))
            number = set->vocab.numbers[VE_USER_STATUS];
        char *msg = voice_event__rte_status(&set->vocab, name, number, user_id, active, now);
        if (msg)
            hc__send_record(hc, msg);
        free(msg);
    }
}

const struct ws_handler hub_handler = {.on_upgrade = negotiation__upgrade,
                                       .on_open = ws_on_open,
                                       .on_message = ws_on_message,
                                       .on_close = ws_on_close};

/* After the server stopped: connections it never reported closed are ours. */
void hub__free_all(struct fake_voice *fv)
{
    while (fv->conns) {
        struct hub_conn *hc = fv->conns;
        fv->conns = hc->next;
        rte_reader__free(&hc->rd);
        hc__forget_subs(hc);
        free(hc->merge_buf);
        pthread_mutex_destroy(&hc->mu);
        free(hc);
    }
}
