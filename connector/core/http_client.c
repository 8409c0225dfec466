/* HTTP client: libcurl's multi interface on one thread of its own.
 *
 * Callers on any thread queue a copy of their request; the client thread
 * owns the CURLM and every easy handle, so libcurl is never touched from two
 * threads (curl_multi_wakeup is the one call made from outside, which is what
 * it is for). Finished easy handles are cleaned up, but their connections stay
 * in the multi handle's pool, so the next request to the same host reuses
 * them. Results are posted to the loop and the callback runs there.
 *
 * A request gets its easy handle only when one of its host's
 * HTTP_MAX_HOST_CONNS slots is free; until then it waits in a per-host FIFO
 * of ours. curl would hold it back the same way (CURLMOPT_MAX_HOST_CONNECTIONS),
 * but an added easy handle costs ~22 KiB (the handle and its 16 KiB receive
 * buffer) even while it waits: 10,000 queued writes held 150+ MiB. The
 * timeout still counts from the send, so a request that waits too long for a
 * slot ends with CURLE_OPERATION_TIMEDOUT, as it did inside curl.
 */
#include "core/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/http_req.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/str.h"

#define HTTP_MAX_HOST_CONNS 8L
#define HTTP_MAX_POOLED     32L
#define HTTP_POLL_MS        1000
#define HTTP_EXPIRE_MS      50 /* how often waiting requests are checked for timeouts */

/* Client thread only. One per scheme://host:port, kept for the client's life
 * (the hosts are the configured APIs: a handful). */
struct http_host {
    struct http_host *next;
    char *key;
    long active;                            /* requests holding an easy handle */
    struct http_req *wait_head, *wait_tail; /* oldest first */
};

struct http_client {
    struct loop *loop;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock;     /* guards queue, stopping and orphans */
    struct http_req *queue;   /* sent, not yet started; newest first */
    struct http_req *orphans; /* finished, but the loop no longer takes posts */
    bool stopping;
    struct http_req *active;    /* client thread only */
    struct http_host *hosts;    /* client thread only */
    size_t n_waiting;           /* client thread only */
    double expired_ms;          /* last scan for waiting requests past their timeout */
    http_observe_fn observe_fn; /* set before the first request */
    void *observe_ctx;
    atomic_size_t unanswered; /* sent, completion not yet posted (http_client__unanswered) */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void http_client__global_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void http_client__list_push(struct http_req **head, struct http_req *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void http_client__list_remove(struct http_req **head, struct http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Oldest first, so requests start in the order they were sent. */
static struct http_req *http_client__list_reverse(struct http_req *head)
{
    struct http_req *out = NULL;
    while (head) {
        struct http_req *next = head->next;
        http_client__list_push(&out, head);
        head = next;
    }
    return out;
}

/* Runs on the loop thread. */
static void http_client__deliver(void *arg)
{
    struct http_req *r = arg;
    http_req__show(r);
    r->fn(r->ctx, &r->res);
    http_req__free(r);
}

/* Hands a finished request to the loop, or keeps it for http_client__free
 * when the loop no longer runs posted work. */
static void http_client__post(struct http_client *cli, struct http_req *r)
{
    if (loop__post(cli->loop, http_client__deliver, r) != 0) {
        pthread_mutex_lock(&cli->lock);
        http_client__list_push(&cli->orphans, r);
        pthread_mutex_unlock(&cli->lock);
    }
    atomic_fetch_sub(&cli->unanswered, 1); /* after the post: see http_client__unanswered */
}

/* Fills r->res from the transfer's outcome and releases the transfer. */
static void http_client__finish(struct http_client *cli, struct http_req *r, CURLcode rc,
                                const char *error)
{
    http_req__outcome(r, rc, error);
    http_req__keep_seen(r);
    if (r->easy) {
        curl_multi_remove_handle(cli->multi, r->easy);
        curl_easy_cleanup(r->easy); /* the connection stays in the multi's pool */
        r->easy = NULL;
    }
    http_req__complete(r);
    http_client__post(cli, r);
}

/* Client thread: creates r's easy handle and adds it to the multi, with
 * what is left of its timeout. */
static void http_client__start(struct http_client *cli, struct http_req *r)
{
    long left = r->timeout_ms - (long)(http_req__now_ms() - r->started_ms);
    if (left <= 0) {
        http_client__finish(cli, r, CURLE_OPERATION_TIMEDOUT, "timed out waiting for a connection");
        return;
    }
    r->timeout_ms = left;
    r->easy = curl_easy_init();
    if (!r->easy) {
        http_client__finish(cli, r, CURLE_OUT_OF_MEMORY, NULL);
        return;
    }
    CURLcode rc = http_req__setup(r);
    if (rc != CURLE_OK) {
        http_client__finish(cli, r, rc, NULL);
        return;
    }
    if (curl_multi_add_handle(cli->multi, r->easy) != CURLM_OK) {
        http_client__finish(cli, r, CURLE_FAILED_INIT, "cannot add transfer");
        return;
    }
    r->host->active++;
    http_client__list_push(&cli->active, r);
}

/* "scheme://host:port" of url (malloc'd), "" when curl cannot parse it (the
 * transfer then fails with curl's own error). */
static char *http_client__host_key(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t len = strlen(scheme) + strlen(host) + strlen(port) + 5;
        key = malloc(len);
        if (key)
            snprintf(key, len, "%s://%s:%s", scheme, host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return key ? key : strdup("");
}

static struct http_host *http_client__host(struct http_client *cli, const char *url)
{
    char *key = http_client__host_key(url);
    if (!key)
        return NULL;
    for (struct http_host *h = cli->hosts; h; h = h->next) {
        if (strcmp(h->key, key) == 0) {
            free(key);
            return h;
        }
    }
    struct http_host *h = calloc(1, sizeof(*h));
    if (!h) {
        free(key);
        return NULL;
    }
    h->key = key;
    h->next = cli->hosts;
    cli->hosts = h;
    return h;
}

/* Client thread: queues a fresh request behind the others to its host. */
static void http_client__enqueue(struct http_client *cli, struct http_req *r)
{
    if (r->invalid) {
        http_client__finish(cli, r, CURLE_BAD_FUNCTION_ARGUMENT, r->invalid);
        return;
    }
    struct http_host *h = http_client__host(cli, r->url);
    if (!h) {
        http_client__finish(cli, r, CURLE_OUT_OF_MEMORY, NULL);
        return;
    }
    r->host = h;
    r->next = NULL;
    r->prev = h->wait_tail;
    if (h->wait_tail)
        h->wait_tail->next = r;
    else
        h->wait_head = r;
    h->wait_tail = r;
    cli->n_waiting++;
}

static void http_client__unwait(struct http_client *cli, struct http_host *h, struct http_req *r)
{
    if (r == h->wait_tail)
        h->wait_tail = r->prev;
    http_client__list_remove(&h->wait_head, r);
    cli->n_waiting--;
}

/* Starts waiting requests while their hosts have free slots. */
static void http_client__dispatch(struct http_client *cli)
{
    for (struct http_host *h = cli->hosts; h; h = h->next) {
        while (h->wait_head && h->active < HTTP_MAX_HOST_CONNS) {
            struct http_req *r = h->wait_head;
            http_client__unwait(cli, h, r);
            http_client__start(cli, r);
        }
    }
}

/* Ends waiting requests whose timeout has passed (every HTTP_EXPIRE_MS). */
static void http_client__expire(struct http_client *cli)
{
    double now = http_req__now_ms();
    if (!cli->n_waiting || now - cli->expired_ms < HTTP_EXPIRE_MS)
        return;
    cli->expired_ms = now;
    for (struct http_host *h = cli->hosts; h; h = h->next) {
        struct http_req *r = h->wait_head;
        while (r) {
            struct http_req *next = r->next;
            if (now - r->started_ms >= (double)r->timeout_ms) {
                http_client__unwait(cli, h, r);
                http_client__finish(cli, r, CURLE_OPERATION_TIMEDOUT,
                                    "timed out waiting for a connection");
            }
            r = next;
        }
    }
}

/* Returns how many transfers finished. */
static int http_client__collect(struct http_client *cli)
{
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(cli->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct http_req *r = NULL;
        CURLcode rc = msg->data.result; /* msg is invalid after remove_handle */
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        http_client__list_remove(&cli->active, r);
        r->host->active--;
        http_client__finish(cli, r, rc, NULL);
        finished++;
    }
    return finished;
}

static void http_client__abort(struct http_client *cli, struct http_req *list)
{
    while (list) {
        struct http_req *next = list->next;
        http_client__finish(cli, list, CURLE_ABORTED_BY_CALLBACK, "http client stopped");
        list = next;
    }
}

static void *http_client__main(void *arg)
{
    struct http_client *cli = arg;
    pthread_setname_np(pthread_self(), "ps-httpc"); /* for top -H and perf */
    for (;;) {
        pthread_mutex_lock(&cli->lock);
        struct http_req *fresh = http_client__list_reverse(cli->queue);
        cli->queue = NULL;
        bool stop = cli->stopping;
        pthread_mutex_unlock(&cli->lock);

        if (stop) {
            http_client__abort(cli, fresh);
            struct http_req *active = cli->active;
            cli->active = NULL;
            http_client__abort(cli, active);
            for (struct http_host *h = cli->hosts; h; h = h->next) {
                http_client__abort(cli, h->wait_head);
                h->wait_head = h->wait_tail = NULL;
            }
            cli->n_waiting = 0;
            return NULL;
        }
        while (fresh) {
            struct http_req *next = fresh->next;
            http_client__enqueue(cli, fresh);
            fresh = next;
        }
        http_client__expire(cli);
        http_client__dispatch(cli);
        int running = 0;
        CURLMcode mc = curl_multi_perform(cli->multi, &running);
        if (mc != CURLM_OK)
            LOG_ERROR("http", "curl_multi_perform failed error=\"%s\"", curl_multi_strerror(mc));
        /* Removing a finished handle frees a connection slot and moves a
         * transfer waiting for one (CURLMOPT_MAX_HOST_CONNECTIONS) to the
         * connect state; curl 7.88 does not always leave a timer for it, so
         * it would sit until the poll times out. Perform again first. */
        if (http_client__collect(cli) > 0)
            continue;
        curl_multi_poll(cli->multi, NULL, 0, cli->n_waiting ? HTTP_EXPIRE_MS : HTTP_POLL_MS, NULL);
    }
}

struct http_client *http_client__new(struct loop *deliver_to)
{
    pthread_once(&curl_once, http_client__global_init);
    if (curl_init_rc != CURLE_OK) {
        LOG_ERROR("http", "curl_global_init failed error=\"%s\"", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    struct http_client *cli = calloc(1, sizeof(*cli));
    if (!cli)
        return NULL;
    cli->loop = deliver_to;
    cli->multi = curl_multi_init();
    if (!cli->multi) {
        free(cli);
        return NULL;
    }
    curl_multi_setopt(cli->multi, CURLMOPT_MAX_HOST_CONNECTIONS, HTTP_MAX_HOST_CONNS);
    curl_multi_setopt(cli->multi, CURLMOPT_MAXCONNECTS, HTTP_MAX_POOLED);
    http_req__describe_metrics();
    pthread_mutex_init(&cli->lock, NULL);
    if (pthread_create(&cli->thread, NULL, http_client__main, cli) != 0) {
        LOG_ERROR("http", "cannot start the client thread");
        pthread_mutex_destroy(&cli->lock);
        curl_multi_cleanup(cli->multi);
        free(cli);
        return NULL;
    }
    return cli;
}

int http_client__send(struct http_client *cli, const struct http_call *call, http_done_fn fn,
                      void *ctx)
{
    if (!cli || !call || !fn)
        return -1;
    struct http_req *r = http_req__new(call, fn, ctx);
    if (!r) {
        LOG_ERROR("http", "out of memory queueing a request");
        return -1;
    }
    r->observe_fn = cli->observe_fn;
    r->observe_ctx = cli->observe_ctx;
    pthread_mutex_lock(&cli->lock);
    if (cli->stopping) {
        pthread_mutex_unlock(&cli->lock);
        http_req__free(r);
        return -1;
    }
    http_client__list_push(&cli->queue, r);
    atomic_fetch_add(&cli->unanswered, 1);
    /* Under the lock: free() cannot clean up the multi handle meanwhile. */
    curl_multi_wakeup(cli->multi);
    pthread_mutex_unlock(&cli->lock);
    return 0;
}

size_t http_client__unanswered(struct http_client *cli)
{
    return cli ? atomic_load(&cli->unanswered) : 0;
}

void http_client__free(struct http_client *cli)
{
    if (!cli)
        return;
    pthread_mutex_lock(&cli->lock);
    cli->stopping = true;
    curl_multi_wakeup(cli->multi);
    pthread_mutex_unlock(&cli->lock);
    pthread_join(cli->thread, NULL);

    /* Completions the loop refused (it has stopped): the caller owns the
     * loop's thread, so run them here rather than leak their contexts. */
    pthread_mutex_lock(&cli->lock);
    struct http_req *orphans = http_client__list_reverse(cli->orphans);
    cli->orphans = NULL;
    pthread_mutex_unlock(&cli->lock);
    while (orphans) {
        struct http_req *next = orphans->next;
        http_client__deliver(orphans);
        orphans = next;
    }
    curl_multi_cleanup(cli->multi);
    while (cli->hosts) {
        struct http_host *next = cli->hosts->next;
        free(cli->hosts->key);
        free(cli->hosts);
        cli->hosts = next;
    }
    pthread_mutex_destroy(&cli->lock);
    free(cli);
}

char *http__escape(const char *s)
{
    if (!s)
        return NULL;
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (!e)
        return NULL;
    char *out = strdup(e);
    curl_free(e);
    return out;
}

/* libcurl's URL parser takes any scheme with CURLU_NON_SUPPORT_SCHEME. */
void http__url_for_log(const char *url, char *buf, size_t len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL, *port = NULL, *path = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_USER, &user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        snprintf(buf, len, "%s://%s%s%s%s%s", scheme, user || pass ? "***@" : "", host,
                 port ? ":" : "", port ? port : "", path && strcmp(path, "/") ? path : "");
    }
    else {
        snprintf(buf, len, "(not a URL)");
    }
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
}

void http_client__observe(struct http_client *cli, http_observe_fn fn, void *ctx)
{
    if (!cli)
        return;
    cli->observe_fn = fn;
    cli->observe_ctx = ctx;
}
