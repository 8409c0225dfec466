/* RTE WebSocket transport: see rte.h.
 *
 * Threads: the loop thread calls new/open/send/close/stop/free, which only
 * touch the request fields under `rte_g.mu` and wake the service thread
 * with lws_cancel_service(). The one service thread owns the shared lws
 * context and every link's current wsi; on EVENT_WAIT_CANCELLED it picks
 * up the requests of every link marked `pending`, and it reports open, data
 * and closed by loop__post(). Each wsi points at its link through its
 * opaque user data; a wsi the link gives up (replaced, closed, detached)
 * has it cleared at once, so its late callbacks reach no link, even one
 * already freed. Each connection is reported closed exactly once
 * (`cur_reported`), whatever lws says first (connection error, close,
 * destroy) or when the loop replaces it.
 */
#include "voice/rte.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/str.h"

#define RTE_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

struct rte_out {
    struct rte_out *next;
    unsigned gen;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + payload */
};

struct rte_target {
    unsigned gen;
    char *addr;
    char *path; /* starts with '/', with the query */
    char *host; /* Host header: addr, or addr:port when not the default */
    char *bearer;
    char *ca_file; /* extra CAs to trust (wss only), or NULL */
    int port;
    bool tls;
};

struct rte_link {
    struct loop *loop;
    struct rte_link_callbacks cb;
    void *ctx;
    struct lws_context *lws; /* the shared context, for lws_cancel_service */
    unsigned next_gen;       /* loop thread */
    unsigned loop_gen;       /* loop thread: the connection last opened */
    char *ca_file;           /* loop thread: copied into each open request */

    /* guarded by rte_g.mu */
    struct rte_link *next;   /* in rte_g.links while attached */
    bool pending;            /* has requests for the service thread */
    bool stopped;            /* rte__stop() called: post nothing more */
    bool detach;             /* a detach request */
    bool detached;           /* out of rte_g.links; the service thread is done */
    struct rte_target *want; /* an open request */
    unsigned close_gen;      /* a close request */
    struct rte_out *out_head, *out_tail;

    /* service thread only (the loop thread's once detached) */
    struct lws *wsi;
    unsigned cur_gen;
    bool cur_reported;
    bool connecting; /* inside lws_client_connect_via_info() */
    char *bearer;
};

/* The process-wide context and service thread, shared by all links. */
static struct {
    /* Serialises creating and destroying the context (new/free), so that
     * there is never more than one context, even across a restart. */
    pthread_mutex_t life;
    unsigned refs; /* links alive; under life */

    pthread_mutex_t mu;  /* guards the fields below and the links' requests */
    pthread_cond_t cond; /* a link got detached, or the thread ended */
    struct lws_context *lws;
    pthread_t thread;
    bool running; /* the service thread runs and will pick up requests */
    bool stop;
    struct rte_link *links;
    /* service thread only: the context's client TLS settings, and the CA
     * files added to its store (every wss connection trusts them) */
    SSL_CTX *client_ssl;
    char **cas;
    size_t n_cas;
} rte_g = {
    .life = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

enum rte_ev_type { RTE_EV_OPEN, RTE_EV_DATA, RTE_EV_CLOSED };

struct rte_ev {
    struct rte_link *link;
    int type;
    unsigned gen;
    size_t len;
    char data[]; /* data, or the close reason */
};

/* Frees a copy of a token, wiped first. */
static void rte__wipe(char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

static void rte__target_free(struct rte_target *t)
{
    if (!t)
        return;
    free(t->addr);
    free(t->path);
    free(t->host);
    free(t->ca_file);
    rte__wipe(t->bearer);
    free(t);
}

/* ---- service thread -> loop ------------------------------------------- */

static void rte__deliver(void *arg)
{
    struct rte_ev *ev = arg;
    struct rte_link *l = ev->link;
    switch (ev->type) {
    case RTE_EV_OPEN:
        if (l->cb.on_open)
            l->cb.on_open(l->ctx, ev->gen);
        break;
    case RTE_EV_DATA:
        if (l->cb.on_data)
            l->cb.on_data(l->ctx, ev->gen, ev->data, ev->len);
        break;
    case RTE_EV_CLOSED:
        if (l->cb.on_closed)
            l->cb.on_closed(l->ctx, ev->gen, ev->data);
        break;
    }
    free(ev);
}

/* Service thread. Posts under rte_g.mu, so that once rte__stop() has
 * set `stopped` nothing more can be posted for the link. */
static void rte__post(struct rte_link *l, int type, unsigned gen, const char *data, size_t len)
{
    struct rte_ev *ev = malloc(sizeof(*ev) + len + 1);
    if (!ev) {
        LOG_ERROR("voice", "out of memory; RTE event lost");
        return;
    }
    *ev = (struct rte_ev){.link = l, .type = type, .gen = gen, .len = len};
    if (len)
        memcpy(ev->data, data, len);
    ev->data[len] = '\0';
    pthread_mutex_lock(&rte_g.mu);
    bool posted = !l->stopped && loop__post(l->loop, rte__deliver, ev) == 0;
    pthread_mutex_unlock(&rte_g.mu);
    if (!posted)
        free(ev);
}

/* Forgets wsi (when not NULL) for good: its later callbacks find no link. */
static void rte__forget(struct rte_link *l, struct lws *wsi)
{
    if (wsi)
        lws_set_opaque_user_data(wsi, NULL);
    if (wsi == l->wsi)
        l->wsi = NULL;
}

static void rte__report_closed(struct rte_link *l, struct lws *wsi, const char *reason)
{
    if (l->cur_gen && !l->cur_reported) {
        l->cur_reported = true;
        rte__post(l, RTE_EV_CLOSED, l->cur_gen, reason, strlen(reason));
    }
    rte__forget(l, wsi);
    l->wsi = NULL;
}

/* Kills the current connection (asynchronously: lws frees it later; its
 * remaining callbacks no longer reach the link). */
static void rte__kill_current(struct rte_link *l, const char *reason)
{
    struct lws *wsi = l->wsi;
    if (wsi)
        lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    rte__report_closed(l, wsi, reason);
}

/* Service thread. Adds a CA file to the client store once (the store is
 * the context's, shared by all links: a CA configured for one tenant is
 * trusted for all, on top of the system store). */
static void rte__trust(const char *file)
{
    for (size_t i = 0; i < rte_g.n_cas; i++)
        if (strcmp(rte_g.cas[i], file) == 0)
            return;
    if (!rte_g.client_ssl) {
        LOG_WARN("voice", "no TLS client context: cannot add ca_file file=%s", file);
        return;
    }
    char **v = realloc(rte_g.cas, (rte_g.n_cas + 1) * sizeof(*v));
    if (!v || !(v[rte_g.n_cas] = strdup(file))) {
        if (v)
            rte_g.cas = v;
        return;
    }
    rte_g.cas = v;
    rte_g.n_cas++;
    X509_STORE *store = SSL_CTX_get_cert_store(rte_g.client_ssl);
    if (!store || X509_STORE_load_locations(store, file, NULL) != 1)
        LOG_ERROR("voice", "cannot load the CA file for the RTE hub file=%s", file);
    else
        LOG_INFO("voice", "RTE hub CA file loaded file=%s", file);
    ERR_clear_error();
}

static void rte__connect(struct rte_link *l, struct rte_target *t)
{
    if (t->tls && t->ca_file)
        rte__trust(t->ca_file);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = l->lws;
    ci.address = t->addr;
    ci.port = t->port;
    ci.path = t->path;
    ci.host = t->host;
    ci.origin = t->host;
    ci.ssl_connection = t->tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = "signalr";
    ci.opaque_user_data = l;
    rte__wipe(l->bearer);
    l->bearer = t->bearer;
    t->bearer = NULL;
    l->cur_gen = t->gen;
    l->cur_reported = false;
    l->wsi = NULL;
    l->connecting = true;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    l->connecting = false;
    if (!wsi) {
        rte__report_closed(l, NULL, "cannot start the connection");
        return;
    }
    /* When it failed inside the call, its error callback already reported
     * it and cleared its opaque user data; wsi may be gone: leave it. */
    if (!l->cur_reported)
        l->wsi = wsi;
}

/* Under rte_g.mu: takes l out of rte_g.links for good. */
static void rte__unlink(struct rte_link *l)
{
    for (struct rte_link **pp = &rte_g.links; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    l->next = NULL;
    l->detached = true;
}

/* Service thread. Closes the link's connection without reporting it: the
 * loop thread waits in rte__stop() and posts nothing more. */
static void rte__detach(struct rte_link *l)
{
    if (l->wsi)
        lws_set_timeout(l->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    rte__forget(l, l->wsi);
    pthread_mutex_lock(&rte_g.mu);
    rte__unlink(l);
    pthread_cond_broadcast(&rte_g.cond);
    pthread_mutex_unlock(&rte_g.mu);
    /* l may be freed from here on. */
}

/* Service thread. Picks up one pending link's requests (detach, or close,
 * open, then queued writes); false when no link has any. One at a time, as
 * acting on them runs lws callbacks that take rte_g.mu. */
static bool rte__service_one(void)
{
    pthread_mutex_lock(&rte_g.mu);
    struct rte_link *l = rte_g.links;
    while (l && !l->pending)
        l = l->next;
    if (!l) {
        pthread_mutex_unlock(&rte_g.mu);
        return false;
    }
    l->pending = false;
    bool detach = l->detach;
    struct rte_target *want = l->want;
    unsigned close_gen = l->close_gen;
    bool have_out = l->out_head != NULL;
    l->want = NULL;
    l->close_gen = 0;
    pthread_mutex_unlock(&rte_g.mu);
    if (detach) {
        rte__target_free(want);
        rte__detach(l);
        return true;
    }
    if (close_gen && close_gen == l->cur_gen)
        rte__kill_current(l, "closed by the client");
    if (want) {
        rte__kill_current(l, "replaced by a new connection");
        rte__connect(l, want);
        rte__target_free(want);
    }
    if (have_out && l->wsi)
        lws_callback_on_writable(l->wsi);
    return true;
}

static bool rte__is_current(struct rte_link *l, struct lws *wsi)
{
    return (wsi && wsi == l->wsi) || (l->connecting && !l->cur_reported);
}

/* One queued frame for the current connection; frames of older ones drop. */
static int rte__write_one(struct rte_link *l, struct lws *wsi)
{
    struct rte_out *m;
    bool more;
    for (;;) {
        pthread_mutex_lock(&rte_g.mu);
        m = l->out_head;
        if (m) {
            l->out_head = m->next;
            if (!l->out_head)
                l->out_tail = NULL;
        }
        more = l->out_head != NULL;
        pthread_mutex_unlock(&rte_g.mu);
        if (!m || m->gen == l->cur_gen)
            break;
        free(m);
    }
    if (!m)
        return 0;
    int rc = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(m);
    if (rc < 0)
        return -1;
    if (more)
        lws_callback_on_writable(wsi);
    return 0;
}

/* The token also goes in the query (access_token), as the browser client
 * does; non-browser clients may send the header too. */
static void rte__bearer_header(struct rte_link *l, struct lws *wsi, void *in, size_t len)
{
    char **p = in;
    if (l->bearer && rte__is_current(l, wsi)) {
        size_t need = strlen(l->bearer) + 32;
        if (len > need)
            *p += lws_snprintf(*p, len, "Authorization: Bearer %s\x0d\x0a", l->bearer);
    }
}

static int rte__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    (void)user;
    if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS) {
        /* The context's client TLS settings, kept to add ca_file later. */
        rte_g.client_ssl = user;
        return 0;
    }
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        /* Comes once per vhost protocol, on a wsi of no link. */
        while (rte__service_one())
            ;
        return 0;
    }
    struct rte_link *l = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!l)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        rte__bearer_header(l, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (rte__is_current(l, wsi)) {
            l->wsi = wsi;
            rte__post(l, RTE_EV_OPEN, l->cur_gen, NULL, 0);
            lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (wsi == l->wsi && len)
            rte__post(l, RTE_EV_DATA, l->cur_gen, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (wsi == l->wsi)
            return rte__write_one(l, wsi);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (rte__is_current(l, wsi)) {
            char why[200];
            snprintf(why, sizeof(why), "connection failed: %s", in ? (const char *)in : "unknown");
            rte__report_closed(l, wsi, why);
        }
        rte__forget(l, wsi);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == l->wsi)
            rte__report_closed(l, wsi, "closed by the server");
        rte__forget(l, wsi);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (wsi == l->wsi)
            rte__report_closed(l, wsi, "connection lost");
        rte__forget(l, wsi);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols rte_protocols[] = {
    {"signalr", rte__callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *rte__thread(void *arg)
{
    struct lws_context *lws = arg;
    for (;;) {
        pthread_mutex_lock(&rte_g.mu);
        bool stop = rte_g.stop;
        pthread_mutex_unlock(&rte_g.mu);
        if (stop || lws_service(lws, 0) < 0)
            break;
    }
    pthread_mutex_lock(&rte_g.mu);
    rte_g.running = false; /* rte__stop() no longer waits for it */
    pthread_cond_broadcast(&rte_g.cond);
    pthread_mutex_unlock(&rte_g.mu);
    return NULL;
}

/* Under rte_g.life, first link: the shared context and its thread. One
 * context only, with the global TLS init and the system CA store, so that
 * wss:// works and OpenSSL's global state is set up (and freed) once. */
static int rte__shared_start(void)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = rte_protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (access(RTE_SYSTEM_CA, R_OK) == 0)
        info.client_ssl_ca_filepath = RTE_SYSTEM_CA;
    struct lws_context *lws = lws_create_context(&info);
    if (!lws) {
        LOG_ERROR("voice", "cannot create the RTE WebSocket context");
        return -1;
    }
    pthread_mutex_lock(&rte_g.mu);
    rte_g.lws = lws;
    rte_g.stop = false;
    rte_g.running = true;
    pthread_mutex_unlock(&rte_g.mu);
    if (pthread_create(&rte_g.thread, NULL, rte__thread, lws) != 0) {
        LOG_ERROR("voice", "cannot start the RTE service thread");
        pthread_mutex_lock(&rte_g.mu);
        rte_g.running = false;
        rte_g.lws = NULL;
        pthread_mutex_unlock(&rte_g.mu);
        lws_context_destroy(lws);
        return -1;
    }
    return 0;
}

/* Under rte_g.life, last link gone: stops the thread, then destroys the
 * context (its remaining wsis have no link any more). */
static void rte__shared_stop(void)
{
    pthread_mutex_lock(&rte_g.mu);
    struct lws_context *lws = rte_g.lws;
    rte_g.stop = true;
    pthread_mutex_unlock(&rte_g.mu);
    lws_cancel_service(lws);
    pthread_join(rte_g.thread, NULL);
    lws_context_destroy(lws);
    pthread_mutex_lock(&rte_g.mu);
    rte_g.lws = NULL;
    rte_g.running = false;
    pthread_mutex_unlock(&rte_g.mu);
    for (size_t i = 0; i < rte_g.n_cas; i++)
        free(rte_g.cas[i]);
    free(rte_g.cas);
    rte_g.cas = NULL;
    rte_g.n_cas = 0;
    rte_g.client_ssl = NULL;
}

struct rte_link *rte__new(struct loop *loop, const struct rte_link_callbacks *cb, void *ctx)
{
    struct rte_link *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->loop = loop;
    l->cb = *cb;
    l->ctx = ctx;
    pthread_mutex_lock(&rte_g.life);
    if (rte_g.refs == 0 && rte__shared_start() != 0) {
        pthread_mutex_unlock(&rte_g.life);
        free(l);
        return NULL;
    }
    rte_g.refs++;
    pthread_mutex_lock(&rte_g.mu);
    l->lws = rte_g.lws;
    l->next = rte_g.links;
    rte_g.links = l;
    pthread_mutex_unlock(&rte_g.mu);
    pthread_mutex_unlock(&rte_g.life);
    return l;
}

/* Splits ws[s]://host[:port]/path?query into a target. */
static struct rte_target *rte__target(const char *url, const char *bearer, const char *ca_file)
{
    struct rte_target *t = calloc(1, sizeof(*t));
    char *copy = strdup(url);
    const char *prot = NULL, *addr = NULL, *path = NULL;
    int port = 0;
    if (!t || !copy || lws_parse_uri(copy, &prot, &addr, &port, &path) != 0 || !addr[0] ||
        (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0)) {
        free(copy);
        free(t);
        return NULL;
    }
    t->tls = strcmp(prot, "wss") == 0;
    t->port = port;
    t->addr = strdup(addr);
    size_t plen = strlen(path) + 2;
    t->path = malloc(plen);
    if (t->path)
        snprintf(t->path, plen, "/%s", path);
    size_t hlen = strlen(addr) + 8;
    t->host = malloc(hlen);
    if (t->host) {
        if (port == (t->tls ? 443 : 80))
            snprintf(t->host, hlen, "%s", addr);
        else
            snprintf(t->host, hlen, "%s:%d", addr, port);
    }
    t->bearer = str__dup(bearer);
    t->ca_file = str__dup(ca_file);
    free(copy);
    if (!t->addr || !t->path || !t->host || (bearer && !t->bearer) || (ca_file && !t->ca_file)) {
        rte__target_free(t);
        return NULL;
    }
    return t;
}

unsigned rte__open(struct rte_link *l, const char *url, const char *bearer)
{
    struct rte_target *t = rte__target(url, bearer, l->ca_file);
    if (!t)
        return 0;
    if (++l->next_gen == 0)
        l->next_gen = 1;
    unsigned gen = t->gen = l->next_gen;
    pthread_mutex_lock(&rte_g.mu);
    if (l->stopped) {
        pthread_mutex_unlock(&rte_g.mu);
        rte__target_free(t);
        return 0;
    }
    l->loop_gen = gen;
    rte__target_free(l->want); /* an open not yet picked up is replaced */
    l->want = t;               /* the service thread owns t from here on */
    l->pending = true;
    pthread_mutex_unlock(&rte_g.mu);
    lws_cancel_service(l->lws);
    return gen;
}

int rte__set_ca_file(struct rte_link *l, const char *ca_file)
{
    char *c = str__dup(ca_file);
    if (ca_file && !c)
        return -1;
    free(l->ca_file);
    l->ca_file = c;
    return 0;
}

int rte__send(struct rte_link *l, unsigned gen, const char *data, size_t len)
{
    if (!gen || gen != l->loop_gen)
        return -1;
    struct rte_out *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->gen = gen;
    m->len = len;
    memcpy(m->buf + LWS_PRE, data, len);
    pthread_mutex_lock(&rte_g.mu);
    if (l->stopped) {
        pthread_mutex_unlock(&rte_g.mu);
        free(m);
        return -1;
    }
    if (l->out_tail)
        l->out_tail->next = m;
    else
        l->out_head = m;
    l->out_tail = m;
    l->pending = true;
    pthread_mutex_unlock(&rte_g.mu);
    lws_cancel_service(l->lws);
    return 0;
}

void rte__close(struct rte_link *l, unsigned gen)
{
    if (!gen || gen != l->loop_gen)
        return;
    pthread_mutex_lock(&rte_g.mu);
    bool stopped = l->stopped;
    if (!stopped) {
        l->close_gen = gen;
        l->pending = true;
    }
    pthread_mutex_unlock(&rte_g.mu);
    if (!stopped)
        lws_cancel_service(l->lws);
}

void rte__stop(struct rte_link *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&rte_g.mu);
    l->stopped = true; /* from here on nothing is posted for l */
    if (!l->detached && rte_g.running) {
        /* The service thread closes l's wsi and lets go of l; other links
         * go on. It never blocks, so the wait is short. */
        l->detach = true;
        l->pending = true;
        pthread_mutex_unlock(&rte_g.mu);
        lws_cancel_service(l->lws);
        pthread_mutex_lock(&rte_g.mu);
        while (!l->detached && rte_g.running)
            pthread_cond_wait(&rte_g.cond, &rte_g.mu);
    }
    if (!l->detached) {
        /* No service thread (it failed): nobody else touches the wsis. */
        rte__unlink(l);
        if (l->wsi)
            lws_set_opaque_user_data(l->wsi, NULL);
        l->wsi = NULL;
    }
    pthread_mutex_unlock(&rte_g.mu);
}

void rte__free(struct rte_link *l)
{
    if (!l)
        return;
    rte__stop(l);
    while (l->out_head) {
        struct rte_out *m = l->out_head;
        l->out_head = m->next;
        free(m);
    }
    rte__target_free(l->want);
    free(l->ca_file);
    rte__wipe(l->bearer);
    free(l);
    pthread_mutex_lock(&rte_g.life);
    if (--rte_g.refs == 0)
        rte__shared_stop();
    pthread_mutex_unlock(&rte_g.life);
}
