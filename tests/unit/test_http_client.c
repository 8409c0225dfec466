/* HTTP client against a real server on 127.0.0.1.
 *
 * The server is a thread with a plain listening socket that answers with
 * canned response bytes (the pattern of curl's own test suite) and records
 * the raw request bytes for assertions. It only finds where a request ends;
 * the client under test is libcurl, driven through http_client.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"

/* ---------------------------------------------------------------- server */

enum reply_mode {
    REPLY_CANNED, /* server.reply, verbatim */
    REPLY_ECHO,   /* 200 with the request target as body */
    REPLY_NEVER,  /* read the request, never answer */
    REPLY_STREAM, /* 200, no length, 16 MiB + 1 bytes, then close */
};

#define MAX_CONNS 160

struct conn {
    int fd;
    char buf[16384];
    size_t len;
};

struct server {
    int lfd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    enum reply_mode mode;
    const char *reply;
    pthread_mutex_t lock;
    int accepts;
    int open, max_open; /* connections open now, and at most */
    int requests;
    char *log; /* every request's bytes, concatenated */
    size_t log_len;
    struct conn conns[MAX_CONNS];
};

static void server__record(struct server *s, const char *req, size_t len)
{
    pthread_mutex_lock(&s->lock);
    char *p = realloc(s->log, s->log_len + len + 1);
    assert_non_null(p);
    s->log = p;
    memcpy(s->log + s->log_len, req, len);
    s->log_len += len;
    s->log[s->log_len] = '\0';
    s->requests++;
    pthread_mutex_unlock(&s->lock);
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the client gave up: fine for the tests that do that */
        data += n;
        len -= (size_t)n;
    }
}

static void conn__close(struct server *s, struct conn *c)
{
    pthread_mutex_lock(&s->lock);
    s->open--;
    pthread_mutex_unlock(&s->lock);
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

/* Answers one complete request; returns false when the connection closed. */
static bool server__answer(struct server *s, struct conn *c, const char *req)
{
    char out[1024];
    switch (s->mode) {
    case REPLY_CANNED:
        send_all(c->fd, s->reply, strlen(s->reply));
        if (strstr(s->reply, "Connection: close")) {
            conn__close(s, c);
            return false;
        }
        return true;
    case REPLY_ECHO: {
        const char *sp = strchr(req, ' ');
        const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
        int tlen = sp2 ? (int)(sp2 - sp - 1) : 0;
        int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%.*s",
                         tlen, tlen, sp ? sp + 1 : "");
        send_all(c->fd, out, (size_t)n);
        return true;
    }
    case REPLY_NEVER:
        return true;
    case REPLY_STREAM: {
        const char *head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        send_all(c->fd, head, strlen(head));
        static char chunk[65536];
        memset(chunk, 'x', sizeof(chunk));
        size_t left = 16u * 1024 * 1024 + 1;
        while (left > 0) {
            size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
            ssize_t w = send(c->fd, chunk, n, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            left -= (size_t)w;
        }
        conn__close(s, c);
        return false;
    }
    }
    return true;
}

/* Takes every complete request out of c's buffer. A request ends after the
 * blank line plus Content-Length bytes (test requests are never chunked). */
static void server__drain(struct server *s, struct conn *c)
{
    for (;;) {
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end)
            return;
        size_t head = (size_t)(end - c->buf) + 4;
        size_t body = 0;
        char *cl = strcasestr(c->buf, "\r\nContent-Length:");
        if (cl && cl < end)
            body = strtoul(cl + 17, NULL, 10);
        if (c->len < head + body)
            return;
        size_t total = head + body;
        char req[sizeof(c->buf)];
        memcpy(req, c->buf, total);
        req[total] = '\0';
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
        server__record(s, req, total);
        if (!server__answer(s, c, req))
            return;
    }
}

static void *server__main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct pollfd fds[MAX_CONNS + 2];
        int map[MAX_CONNS + 2];
        int n = 0;
        fds[n++] = (struct pollfd){s->stop_pipe[0], POLLIN, 0};
        fds[n++] = (struct pollfd){s->lfd, POLLIN, 0};
        for (int i = 0; i < MAX_CONNS; i++) {
            if (s->conns[i].fd >= 0) {
                map[n] = i;
                fds[n++] = (struct pollfd){s->conns[i].fd, POLLIN, 0};
            }
        }
        if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (fds[1].revents & POLLIN) {
            int fd = accept(s->lfd, NULL, NULL);
            if (fd >= 0) {
                int i = 0;
                while (i < MAX_CONNS && s->conns[i].fd >= 0)
                    i++;
                if (i == MAX_CONNS) {
                    close(fd);
                }
                else {
                    s->conns[i].fd = fd;
                    s->conns[i].len = 0;
                    pthread_mutex_lock(&s->lock);
                    s->accepts++;
                    if (++s->open > s->max_open)
                        s->max_open = s->open;
                    pthread_mutex_unlock(&s->lock);
                }
            }
        }
        for (int k = 2; k < n; k++) {
            if (!fds[k].revents)
                continue;
            struct conn *c = &s->conns[map[k]];
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
            if (r <= 0) {
                conn__close(s, c);
                continue;
            }
            c->len += (size_t)r;
            server__drain(s, c);
        }
    }
    for (int i = 0; i < MAX_CONNS; i++) {
        if (s->conns[i].fd >= 0)
            conn__close(s, &s->conns[i]);
    }
    return NULL;
}

static struct server *server__start(enum reply_mode mode, const char *reply)
{
    struct server *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->mode = mode;
    s->reply = reply;
    for (int i = 0; i < MAX_CONNS; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 256), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->stop_pipe), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, server__main, s), 0);
    return s;
}

static void server__stop(struct server *s)
{
    assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    close(s->lfd);
    pthread_mutex_destroy(&s->lock);
    free(s->log);
    free(s);
}

static int server__requests(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int server__max_open(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->max_open;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int server__accepts(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->accepts;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* A copy of everything the server received, for assertions. */
static char *server__log(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    char *copy = strdup(s->log ? s->log : "");
    pthread_mutex_unlock(&s->lock);
    return copy;
}

/* ---------------------------------------------------------------- harness */

#define MAX_CALLS 128

struct slot {
    struct harness *h;
    int idx;
    bool done;
    int status;
    int transport_error;
    char error[256];
    char *body;
    size_t body_len;
    int64_t retry_after_ms;
    double elapsed_ms;
    bool on_loop_thread;
};

struct harness {
    struct loop *loop;
    struct http_client *cli;
    struct server *srv;
    pthread_t loop_thread;
    int expected;
    int done;
    bool deadline_hit;
    char url[256];
    struct slot slots[MAX_CALLS];
    void (*after_each)(struct harness *h, struct slot *s); /* optional */
    int64_t free_when_requests;                            /* optional */
};

static void on_done(void *ctx, const struct http_result *res)
{
    struct slot *s = ctx;
    struct harness *h = s->h;
    assert_false(s->done);
    s->done = true;
    s->status = res->status;
    s->transport_error = res->transport_error;
    if (res->error)
        snprintf(s->error, sizeof(s->error), "%s", res->error);
    assert_non_null(res->body);
    assert_int_equal(res->body[res->body_len], '\0');
    s->body = malloc(res->body_len + 1);
    memcpy(s->body, res->body, res->body_len + 1);
    s->body_len = res->body_len;
    s->retry_after_ms = res->retry_after_ms;
    s->elapsed_ms = res->elapsed_ms;
    s->on_loop_thread = pthread_equal(pthread_self(), h->loop_thread);
    h->done++;
    if (h->after_each)
        h->after_each(h, s);
    if (h->done == h->expected)
        loop__stop(h->loop);
}

static void on_deadline(void *arg)
{
    struct harness *h = arg;
    h->deadline_hit = true;
    loop__stop(h->loop);
}

static struct harness *harness__new(enum reply_mode mode, const char *reply)
{
    struct harness *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->loop = loop__new();
    assert_non_null(h->loop);
    h->loop_thread = pthread_self(); /* the test thread runs the loop */
    h->cli = http_client__new(h->loop);
    assert_non_null(h->cli);
    h->srv = server__start(mode, reply);
    snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%d", h->srv->port);
    for (int i = 0; i < MAX_CALLS; i++) {
        h->slots[i].h = h;
        h->slots[i].idx = i;
    }
    return h;
}

static void harness__send(struct harness *h, int idx, const struct http_call *call)
{
    assert_int_equal(http_client__send(h->cli, call, on_done, &h->slots[idx]), 0);
}

/* Runs the loop until `expected` completions arrived or deadline_ms passed. */
static void harness__run(struct harness *h, int expected, int64_t deadline_ms)
{
    h->expected = expected;
    loop_timer_id t = loop__timer(h->loop, deadline_ms, on_deadline, h);
    loop__run(h->loop);
    loop__timer_cancel(h->loop, t);
    assert_false(h->deadline_hit);
    assert_int_equal(h->done, expected);
}

static void harness__free(struct harness *h)
{
    http_client__free(h->cli);
    loop__free(h->loop);
    server__stop(h->srv);
    for (int i = 0; i < MAX_CALLS; i++)
        free(h->slots[i].body);
    free(h);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ tests */

static void test_get_200_on_loop_thread(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_CANNED, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
                                                   "Content-Type: text/plain\r\n\r\nhello world");
    double before = metrics__get("http_client_requests_total", "status=\"2xx\"");
    char url[300];
    snprintf(url, sizeof(url), "%s/v1.0/users?$top=1", h->url);
    struct http_call call = {.method = "GET", .url = url};
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);

    struct slot *s = &h->slots[0];
    assert_int_equal(s->status, 200);
    assert_int_equal(s->transport_error, 0);
    assert_string_equal(s->error, "");
    assert_string_equal(s->body, "hello world");
    assert_int_equal(s->body_len, 11);
    assert_int_equal(s->retry_after_ms, -1);
    assert_true(s->on_loop_thread);
    assert_true(s->elapsed_ms > 0 && s->elapsed_ms < 5000);
    assert_true(metrics__get("http_client_requests_total", "status=\"2xx\"") == before + 1);

    char *log = server__log(h->srv);
    assert_non_null(strstr(log, "GET /v1.0/users?$top=1 HTTP/1.1\r\n"));
    assert_null(strstr(log, "Authorization"));
    assert_null(strstr(log, "Content-Length")); /* a GET has no body */
    free(log);
    harness__free(h);
}

static void test_post_body_content_type_bearer(void **state)
{
    (void)state;
    struct harness *h =
        harness__new(REPLY_CANNED, "HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{\"ok\":1}\n");
    char url[300];
    snprintf(url, sizeof(url), "%s/subscriptions", h->url);
    const char *body = "{\"changeType\":\"updated\"}";
    const char *headers[] = {"X-Custom: one", "Prefer: return=minimal", NULL};
    struct http_call call = {.method = "POST",
                             .url = url,
                             .headers = headers,
                             .body = body,
                             .body_len = strlen(body),
                             .content_type = "application/json",
                             .bearer = "eyJ0eXAi.tok+/=en"};
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);

    assert_int_equal(h->slots[0].status, 201);
    assert_string_equal(h->slots[0].body, "{\"ok\":1}\n");
    char *log = server__log(h->srv);
    assert_non_null(strstr(log, "POST /subscriptions HTTP/1.1\r\n"));
    assert_non_null(strstr(log, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(log, "\r\nAuthorization: Bearer eyJ0eXAi.tok+/=en\r\n"));
    assert_non_null(strstr(log, "\r\nX-Custom: one\r\n"));
    assert_non_null(strstr(log, "\r\nPrefer: return=minimal\r\n"));
    assert_non_null(strstr(log, "\r\nContent-Length: 24\r\n"));
    assert_null(strstr(log, "Expect:"));
    size_t n = strlen(log);
    assert_true(n > strlen(body));
    assert_string_equal(log + n - strlen(body), body);
    free(log);
    harness__free(h);
}

/* PUT/PATCH/DELETE, with and without a body: the method is sent as given,
 * and bodiless PUT/PATCH still say Content-Length: 0. */
static void test_other_methods(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_ECHO, NULL);
    char u1[300], u2[300], u3[300];
    snprintf(u1, sizeof(u1), "%s/put", h->url);
    snprintf(u2, sizeof(u2), "%s/patch", h->url);
    snprintf(u3, sizeof(u3), "%s/delete", h->url);
    struct http_call put = {.method = "PUT",
                            .url = u1,
                            .body = "{\"InCall\":true}",
                            .body_len = 15,
                            .content_type = "application/json"};
    struct http_call patch = {.method = "PATCH", .url = u2};
    struct http_call del = {.method = "DELETE", .url = u3};
    harness__send(h, 0, &put);
    harness__run(h, 1, 10000);
    char *log = server__log(h->srv);
    assert_non_null(strstr(log, "PUT /put HTTP/1.1\r\n"));
    assert_non_null(strstr(log, "\r\nContent-Length: 15\r\n"));
    assert_non_null(strstr(log, "{\"InCall\":true}"));
    free(log);
    harness__free(h);

    h = harness__new(REPLY_ECHO, NULL);
    snprintf(u2, sizeof(u2), "%s/patch", h->url);
    snprintf(u3, sizeof(u3), "%s/delete", h->url);
    harness__send(h, 0, &patch);
    harness__send(h, 1, &del);
    harness__run(h, 2, 10000);
    assert_string_equal(h->slots[0].body, "/patch");
    assert_string_equal(h->slots[1].body, "/delete");
    log = server__log(h->srv);
    char *p = strstr(log, "PATCH /patch HTTP/1.1\r\n");
    assert_non_null(p);
    char *pend = strstr(p, "\r\n\r\n");
    char *cl = strstr(p, "\r\nContent-Length: 0\r\n");
    assert_true(cl && cl < pend);
    char *d = strstr(log, "DELETE /delete HTTP/1.1\r\n");
    assert_non_null(d);
    char *dend = strstr(d, "\r\n\r\n");
    cl = strstr(d, "Content-Length");
    assert_true(!cl || cl > dend);
    free(log);
    harness__free(h);
}

static void test_basic_auth_special_password(void **state)
{
    (void)state;
    struct harness *h =
        harness__new(REPLY_CANNED, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]");
    char url[300];
    snprintf(url, sizeof(url), "%s/users/me", h->url);
    const char *user = "integration@contoso.com";
    const char *pass = "p:+/=&%x y\"\\";
    struct http_call call = {.method = "GET", .url = url, .basic_user = user, .basic_pass = pass};
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    assert_int_equal(h->slots[0].status, 200);

    char *log = server__log(h->srv);
    char *a = strstr(log, "\r\nAuthorization: Basic ");
    assert_non_null(a);
    a += strlen("\r\nAuthorization: Basic ");
    char *end = strstr(a, "\r\n");
    assert_non_null(end);
    *end = '\0';
    size_t b64len = strlen(a);
    unsigned char decoded[256];
    assert_true(b64len < sizeof(decoded));
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)a, (int)b64len);
    assert_true(n > 0);
    /* EVP_DecodeBlock counts the padding as zero bytes */
    for (size_t i = b64len; i > 0 && a[i - 1] == '='; i--)
        n--;
    decoded[n] = '\0';
    char want[128];
    snprintf(want, sizeof(want), "%s:%s", user, pass);
    assert_string_equal((char *)decoded, want);
    free(log);
    harness__free(h);
}

static void test_retry_after_parsed(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_CANNED, "HTTP/1.1 429 Too Many Requests\r\n"
                                                   "Retry-After: 7\r\nContent-Length: 0\r\n\r\n");
    double before = metrics__get("http_client_requests_total", "status=\"4xx\"");
    struct http_call call = {.method = "GET", .url = h->url};
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    assert_int_equal(h->slots[0].status, 429);
    assert_int_equal(h->slots[0].transport_error, 0);
    assert_int_equal(h->slots[0].retry_after_ms, 7000);
    assert_int_equal(h->slots[0].body_len, 0);
    assert_string_equal(h->slots[0].body, "");
    assert_true(metrics__get("http_client_requests_total", "status=\"4xx\"") == before + 1);
    harness__free(h);

    h = harness__new(REPLY_CANNED, "HTTP/1.1 503 Service Unavailable\r\n"
                                   "retry-after: Thu, 01 Jan 1970 00:00:01 GMT\r\n"
                                   "Content-Length: 4\r\n\r\nbusy");
    call.url = h->url;
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    assert_int_equal(h->slots[0].status, 503);
    assert_int_equal(h->slots[0].retry_after_ms, 0); /* a date in the past */
    assert_string_equal(h->slots[0].body, "busy");
    harness__free(h);
}

static void test_timeout(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_NEVER, NULL);
    double before = metrics__get("http_client_requests_total", "status=\"error\"");
    struct http_call call = {.method = "GET", .url = h->url, .timeout_ms = 500};
    double t0 = now_ms();
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    double took = now_ms() - t0;
    struct slot *s = &h->slots[0];
    assert_int_equal(s->status, 0);
    assert_int_equal(s->transport_error, CURLE_OPERATION_TIMEDOUT);
    assert_true(s->error[0] != '\0');
    assert_true(s->on_loop_thread);
    assert_true(took >= 450 && took < 2000);
    assert_true(s->elapsed_ms >= 450 && s->elapsed_ms < 2000);
    assert_int_equal(server__requests(h->srv), 1); /* it did reach the server */
    assert_true(metrics__get("http_client_requests_total", "status=\"error\"") == before + 1);
    harness__free(h);
}

/* More requests than connection slots to a host that never answers: the
 * ones waiting for a slot still end, instead of queueing forever. */
static void test_timeout_while_waiting_for_a_slot(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_NEVER, NULL);
    struct http_call call = {.method = "GET", .url = h->url, .timeout_ms = 400};
    double t0 = now_ms();
    for (int i = 0; i < 12; i++)
        harness__send(h, i, &call);
    harness__run(h, 12, 10000);
    double took = now_ms() - t0;
    /* (No count of open connections here: the server may see a new
     * connection before the EOF of the timed-out one it replaces.) */
    for (int i = 0; i < 12; i++)
        assert_int_equal(h->slots[i].transport_error, CURLE_OPERATION_TIMEDOUT);
    print_message("12 requests, 8 slots, 400 ms timeout: all done in %.0f ms\n", took);
    assert_true(took < 2000);
    harness__free(h);
}

/* Requests waiting for one host's slots hold no easy handle (the client
 * queues them itself) but still end at their own timeout, and a request to
 * another host does not wait behind them. */
static void test_waiting_host_does_not_hold_back_another(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_NEVER, NULL);
    struct server *other =
        server__start(REPLY_CANNED, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    char other_url[64];
    snprintf(other_url, sizeof(other_url), "http://127.0.0.1:%d/", other->port);
    struct http_call stuck = {.method = "GET", .url = h->url, .timeout_ms = 1000};
    for (int i = 0; i < 20; i++)
        harness__send(h, i, &stuck);
    struct http_call quick = {.method = "GET", .url = other_url};
    harness__send(h, 20, &quick);
    harness__run(h, 21, 10000);
    assert_int_equal(h->slots[20].status, 200);
    assert_true(h->slots[20].elapsed_ms < 500);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(h->slots[i].transport_error, CURLE_OPERATION_TIMEDOUT);
        assert_true(h->slots[i].elapsed_ms >= 950 && h->slots[i].elapsed_ms < 1800);
    }
    server__stop(other);
    harness__free(h);
}

static void test_connection_refused(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_NEVER, NULL);
    /* a port nothing listens on: bind one, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct http_call call = {.method = "GET", .url = url};
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    assert_int_equal(h->slots[0].status, 0);
    assert_int_equal(h->slots[0].transport_error, CURLE_COULDNT_CONNECT);
    assert_true(h->slots[0].error[0] != '\0');
    harness__free(h);
}

/* Second request sent from the first one's callback, on the loop thread. */
static void send_second(struct harness *h, struct slot *s)
{
    if (s->idx == 0) {
        struct http_call call = {.method = "GET", .url = h->url};
        harness__send(h, 1, &call);
    }
}

static void test_connection_reuse(void **state)
{
    (void)state;
    struct harness *h =
        harness__new(REPLY_CANNED, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    h->after_each = send_second;
    struct http_call call = {.method = "GET", .url = h->url};
    harness__send(h, 0, &call);
    harness__run(h, 2, 10000);
    assert_int_equal(h->slots[0].status, 200);
    assert_int_equal(h->slots[1].status, 200);
    assert_int_equal(server__requests(h->srv), 2);
    assert_int_equal(server__accepts(h->srv), 1);
    harness__free(h);

    /* Control: a server that closes each time costs a connection each. */
    h = harness__new(REPLY_CANNED,
                     "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    h->after_each = send_second;
    call.url = h->url;
    harness__send(h, 0, &call);
    harness__run(h, 2, 10000);
    assert_int_equal(h->slots[1].status, 200);
    assert_int_equal(server__accepts(h->srv), 2);
    harness__free(h);
}

struct sender_arg {
    struct harness *h;
    int first, count;
};

static void *sender__main(void *arg)
{
    struct sender_arg *a = arg;
    for (int i = a->first; i < a->first + a->count; i++) {
        char url[300];
        snprintf(url, sizeof(url), "%s/req/%d", a->h->url, i);
        struct http_call call = {.method = "GET", .url = url}; /* copied by send */
        harness__send(a->h, i, &call);
    }
    return NULL;
}

/* 100 requests queued at once from four threads. */
static void test_100_concurrent(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_ECHO, NULL);
    pthread_t th[4];
    struct sender_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (struct sender_arg){.h = h, .first = t * 25, .count = 25};
        assert_int_equal(pthread_create(&th[t], NULL, sender__main, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    double t0 = now_ms();
    harness__run(h, 100, 20000);
    double took = now_ms() - t0;
    for (int i = 0; i < 100; i++) {
        char want[32];
        snprintf(want, sizeof(want), "/req/%d", i);
        assert_true(h->slots[i].done);
        assert_int_equal(h->slots[i].status, 200);
        assert_string_equal(h->slots[i].body, want);
        assert_true(h->slots[i].on_loop_thread);
    }
    assert_int_equal(server__requests(h->srv), 100);
    /* at most 8 connections to one host, reused for the rest */
    assert_true(server__accepts(h->srv) <= 8);
    assert_true(server__max_open(h->srv) <= 8);
    double slowest = 0;
    for (int i = 0; i < 100; i++)
        slowest = h->slots[i].elapsed_ms > slowest ? h->slots[i].elapsed_ms : slowest;
    print_message("100 concurrent requests: %.0f ms, slowest %.0f ms, %d connections\n", took,
                  slowest, server__accepts(h->srv));
    /* A transfer left waiting for a free connection slot only moves on when
     * the client thread's 1 s poll expires: that stall must not happen. */
    assert_true(slowest < 900);
    harness__free(h);
}

/* Polls from the loop until the server holds n requests, then frees the
 * client while they are in flight (loop still running). */
static void free_when_in_flight(void *arg)
{
    struct harness *h = arg;
    if (server__requests(h->srv) < h->free_when_requests) {
        loop__timer(h->loop, 10, free_when_in_flight, h);
        return;
    }
    /* and a few that were never started */
    for (int i = 5; i < 8; i++) {
        struct http_call call = {.method = "POST", .url = h->url, .body = "x", .body_len = 1};
        harness__send(h, i, &call);
    }
    double t0 = now_ms();
    http_client__free(h->cli);
    h->cli = NULL;
    assert_true(now_ms() - t0 < 1000);
}

static void test_free_with_requests_in_flight(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_NEVER, NULL);
    for (int i = 0; i < 5; i++) {
        struct http_call call = {.method = "GET", .url = h->url, .bearer = "secret-token"};
        harness__send(h, i, &call);
    }
    h->free_when_requests = 5;
    loop__timer(h->loop, 10, free_when_in_flight, h);
    harness__run(h, 8, 10000);
    for (int i = 0; i < 8; i++) {
        assert_true(h->slots[i].done);
        assert_int_equal(h->slots[i].status, 0);
        assert_int_equal(h->slots[i].transport_error, CURLE_ABORTED_BY_CALLBACK);
        assert_string_equal(h->slots[i].error, "http client stopped");
        assert_true(h->slots[i].on_loop_thread);
    }
    harness__free(h); /* cli already NULL */
}

/* The loop has stopped (no more posts) when the client is freed: the
 * callbacks still run, on the freeing thread, which owns the loop. */
static void stop_when_in_flight(void *arg)
{
    struct harness *h = arg;
    if (server__requests(h->srv) < 3) {
        loop__timer(h->loop, 10, stop_when_in_flight, h);
        return;
    }
    loop__stop(h->loop);
}

static void test_free_after_loop_stopped(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_NEVER, NULL);
    for (int i = 0; i < 3; i++) {
        struct http_call call = {.method = "GET", .url = h->url};
        harness__send(h, i, &call);
    }
    h->expected = 100; /* never reached: stop_when_in_flight stops the loop */
    loop__timer(h->loop, 10, stop_when_in_flight, h);
    loop_timer_id t = loop__timer(h->loop, 10000, on_deadline, h);
    loop__run(h->loop);
    loop__timer_cancel(h->loop, t);
    assert_false(h->deadline_hit);
    assert_int_equal(h->done, 0);
    http_client__free(h->cli);
    h->cli = NULL;
    assert_int_equal(h->done, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h->slots[i].transport_error, CURLE_ABORTED_BY_CALLBACK);
        assert_true(h->slots[i].on_loop_thread);
    }
    harness__free(h);
}

static void test_body_cap(void **state)
{
    (void)state;
    /* announced too big: refused before reading it */
    struct harness *h = harness__new(REPLY_CANNED, "HTTP/1.1 200 OK\r\n"
                                                   "Content-Length: 16777217\r\n\r\nxx");
    struct http_call call = {.method = "GET", .url = h->url};
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    assert_int_equal(h->slots[0].status, 0);
    assert_int_equal(h->slots[0].transport_error, CURLE_FILESIZE_EXCEEDED);
    assert_string_equal(h->slots[0].error, "response body over 16 MiB");
    assert_int_equal(h->slots[0].body_len, 0);
    harness__free(h);

    /* not announced: cut off while reading */
    h = harness__new(REPLY_STREAM, NULL);
    call.url = h->url;
    harness__send(h, 0, &call);
    harness__run(h, 1, 20000);
    assert_int_equal(h->slots[0].status, 0);
    assert_int_equal(h->slots[0].transport_error, CURLE_FILESIZE_EXCEEDED);
    assert_string_equal(h->slots[0].error, "response body over 16 MiB");
    harness__free(h);

    /* a call's own max_body: the same 16 MiB + 1 taken whole under 32 MiB */
    h = harness__new(REPLY_STREAM, NULL);
    call.url = h->url;
    call.max_body = 32u * 1024 * 1024;
    harness__send(h, 0, &call);
    harness__run(h, 1, 20000);
    assert_int_equal(h->slots[0].status, 200);
    assert_int_equal(h->slots[0].body_len, 16u * 1024 * 1024 + 1);
    harness__free(h);

    /* and a smaller one refuses a body the default would take */
    h = harness__new(REPLY_CANNED, "HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n");
    call.url = h->url;
    call.max_body = 1024;
    harness__send(h, 0, &call);
    harness__run(h, 1, 10000);
    assert_int_equal(h->slots[0].transport_error, CURLE_FILESIZE_EXCEEDED);
    assert_string_equal(h->slots[0].error, "response body over its size limit");
    harness__free(h);
}

static void test_header_injection_refused(void **state)
{
    (void)state;
    struct harness *h = harness__new(REPLY_ECHO, NULL);
    struct http_call c1 = {.method = "GET", .url = h->url, .bearer = "tok\r\nX-Evil: 1"};
    const char *hdrs[] = {"X-Ok: 1\r\nX-Evil: 1", NULL};
    struct http_call c2 = {.method = "GET", .url = h->url, .headers = hdrs};
    struct http_call c3 = {.method = "GET", .url = h->url, .content_type = "a\nb"};
    struct http_call c4 = {.method = "GET", .url = NULL};
    harness__send(h, 0, &c1);
    harness__send(h, 1, &c2);
    harness__send(h, 2, &c3);
    harness__send(h, 3, &c4);
    harness__run(h, 4, 10000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(h->slots[i].status, 0);
        assert_int_equal(h->slots[i].transport_error, CURLE_BAD_FUNCTION_ARGUMENT);
        assert_true(h->slots[i].error[0] != '\0');
    }
    assert_int_equal(server__requests(h->srv), 0);
    harness__free(h);
}

/* Debug logging names method, URL path and status, and nothing secret. */
static void test_log_has_no_secrets(void **state)
{
    (void)state;
    struct harness *h =
        harness__new(REPLY_CANNED, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    char url[300];
    snprintf(url, sizeof(url), "http://someuser:URLPASSWORD@127.0.0.1:%d/logpath?code=QUERYSECRET",
             h->srv->port);
    struct http_call c1 = {.method = "POST",
                           .url = url,
                           .bearer = "BEARERSECRET",
                           .body = "BODYSECRET",
                           .body_len = 10};
    struct http_call c2 = {
        .method = "GET", .url = url, .basic_user = "u", .basic_pass = "BASICSECRET"};

    char path[] = "/tmp/test_http_client_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    enum ps_log_level old = log__level();
    log__set_level(PS_LOG_DEBUG);
    harness__send(h, 0, &c1);
    harness__send(h, 1, &c2);
    harness__run(h, 2, 10000);
    log__set_level(old);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    char text[8192] = {0};
    assert_true(pread(fd, text, sizeof(text) - 1, 0) > 0);
    close(fd);
    unlink(path);
    assert_non_null(strstr(text, "method=POST"));
    assert_non_null(strstr(text, "/logpath"));
    assert_non_null(strstr(text, "status=200"));
    const char *secrets[] = {"URLPASSWORD", "QUERYSECRET", "BEARERSECRET", "BODYSECRET",
                             "BASICSECRET"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (strstr(text, secrets[i]))
            fail_msg("log contains %s:\n%s", secrets[i], text);
    }
    harness__free(h);
}

static void test_escape(void **state)
{
    (void)state;
    char *e = http__escape("a b&c=d/e+f%\xC3\xA9~._-");
    assert_string_equal(e, "a%20b%26c%3Dd%2Fe%2Bf%25%C3%A9~._-");
    free(e);
    e = http__escape("");
    assert_string_equal(e, "");
    free(e);
    assert_null(http__escape(NULL));
}

static void assert_log_url(const char *url, const char *want)
{
    char buf[256];
    http__url_for_log(url, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_url_for_log(void **state)
{
    (void)state;
    assert_log_url("mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1883");
    assert_log_url("mqtt://bridge:S3cret@broker:1883", "mqtt://***@broker:1883");
    assert_log_url("mqtts://bridge@broker.example.com", "mqtts://***@broker.example.com");
    assert_log_url("mqtt://:p%40ss@h", "mqtt://***@h");
    assert_log_url("wss://u:p@broker.example.com:443/mqtt?x=1",
                   "wss://***@broker.example.com:443/mqtt");
    assert_log_url("https://h/hub?id=abc&access_token=SECRET#f", "https://h/hub");
    assert_log_url("tcp://[::1]:1883/", "tcp://[::1]:1883");
    assert_log_url("ssl://u:p@[2001:db8::1]:8883", "ssl://***@[2001:db8::1]:8883");
    /* an '@' in the path is not a password */
    assert_log_url("ws://h:8080/a@b", "ws://h:8080/a@b");
    assert_log_url("not a url", "(not a URL)");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_200_on_loop_thread),
        cmocka_unit_test(test_post_body_content_type_bearer),
        cmocka_unit_test(test_other_methods),
        cmocka_unit_test(test_basic_auth_special_password),
        cmocka_unit_test(test_retry_after_parsed),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_timeout_while_waiting_for_a_slot),
        cmocka_unit_test(test_waiting_host_does_not_hold_back_another),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_100_concurrent),
        cmocka_unit_test(test_free_with_requests_in_flight),
        cmocka_unit_test(test_free_after_loop_stopped),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_header_injection_refused),
        cmocka_unit_test(test_log_has_no_secrets),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_url_for_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
