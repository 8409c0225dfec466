/* The RTE WebSocket links against a real libwebsockets echo server on
 * loopback: several links share one service thread, each gets only its own
 * frames, stopping and freeing one leaves the others running, generations
 * drop stale requests, and the shared context goes away with the last link
 * and comes back with the next one. */
#include <arpa/inet.h>
#include <dirent.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/loop.h"
#include "voice/rte.h"

/* ---- echo server (its own lws context and thread, no TLS) -------------- */

struct echo_session {
    char path[64];
    size_t len;
    unsigned char buf[LWS_PRE + 4096];
};

static struct {
    struct lws_context *lws;
    pthread_t thread;
    int port;
    pthread_mutex_t mu;
    bool stop;
    int opened_a, closed_a; /* connections on path /a */
} echo = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int echo__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    struct echo_session *s = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        s->path[0] = '\0';
        lws_hdr_copy(wsi, s->path, sizeof(s->path), WSI_TOKEN_GET_URI);
        if (strncmp(s->path, "/a", 2) == 0) {
            pthread_mutex_lock(&echo.mu);
            echo.opened_a++;
            pthread_mutex_unlock(&echo.mu);
        }
        break;
    case LWS_CALLBACK_RECEIVE:
        if (len > sizeof(s->buf) - LWS_PRE)
            return -1;
        memcpy(s->buf + LWS_PRE, in, len);
        s->len = len;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s->len) {
            size_t n = s->len;
            s->len = 0;
            if (lws_write(wsi, s->buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
                return -1;
        }
        break;
    case LWS_CALLBACK_CLOSED:
        if (strncmp(s->path, "/a", 2) == 0) {
            pthread_mutex_lock(&echo.mu);
            echo.closed_a++;
            pthread_mutex_unlock(&echo.mu);
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols echo_protocols[] = {
    {"echo", echo__callback, sizeof(struct echo_session), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *echo__thread(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&echo.mu);
        bool stop = echo.stop;
        pthread_mutex_unlock(&echo.mu);
        if (stop || lws_service(echo.lws, 0) < 0)
            break;
    }
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void echo__start(void)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    echo.port = free_port();
    info.port = echo.port;
    info.iface = "127.0.0.1";
    info.protocols = echo_protocols;
    echo.lws = lws_create_context(&info);
    assert_non_null(echo.lws);
    echo.stop = false;
    assert_int_equal(pthread_create(&echo.thread, NULL, echo__thread, NULL), 0);
}

static void echo__stop(void)
{
    pthread_mutex_lock(&echo.mu);
    echo.stop = true;
    pthread_mutex_unlock(&echo.mu);
    lws_cancel_service(echo.lws);
    pthread_join(echo.thread, NULL);
    lws_context_destroy(echo.lws);
}

static int echo__count(const int *field)
{
    pthread_mutex_lock(&echo.mu);
    int n = *field;
    pthread_mutex_unlock(&echo.mu);
    return n;
}

/* ---- links, driven from the loop thread -------------------------------- */

struct side {
    struct rte_link *link;
    unsigned gen;
    int opened, closed;
    unsigned closed_gen;
    char reason[200];
    char data[256];
    size_t n_data;
    pthread_t loop_thread;
    int wrong_thread;
};

static void side__on_open(void *ctx, unsigned gen)
{
    struct side *s = ctx;
    if (!pthread_equal(pthread_self(), s->loop_thread))
        s->wrong_thread++;
    if (gen == s->gen)
        s->opened++;
}

static void side__on_data(void *ctx, unsigned gen, const char *data, size_t len)
{
    struct side *s = ctx;
    if (!pthread_equal(pthread_self(), s->loop_thread))
        s->wrong_thread++;
    if (gen == s->gen && s->n_data + len < sizeof(s->data)) {
        memcpy(s->data + s->n_data, data, len);
        s->n_data += len;
        s->data[s->n_data] = '\0';
    }
}

static void side__on_closed(void *ctx, unsigned gen, const char *reason)
{
    struct side *s = ctx;
    if (!pthread_equal(pthread_self(), s->loop_thread))
        s->wrong_thread++;
    s->closed++;
    s->closed_gen = gen;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static const struct rte_link_callbacks side_cb = {side__on_open, side__on_data, side__on_closed};

static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

struct script {
    struct loop *loop;
    struct side a, b, c;
    int step;
    int64_t deadline;
    int threads_before, threads_two;
    int a_events_at_stop;
    unsigned b_old_gen;
    int dead_port;
    const char *failed; /* the step that timed out */
};

static unsigned open_path(struct side *s, const char *path)
{
    char url[96];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d%s", echo.port, path);
    s->gen = rte__open(s->link, url, "secret-token");
    return s->gen;
}

static void send_text(struct side *s, const char *text)
{
    assert_int_equal(rte__send(s->link, s->gen, text, strlen(text)), 0);
}

static void next(struct script *sc)
{
    sc->step++;
    sc->deadline = clock__mono_ms() + 10000;
}

/* Runs every 10 ms on the loop thread; each step waits for its condition. */
static void tick(void *arg)
{
    struct script *sc = arg;
    struct side *a = &sc->a, *b = &sc->b, *c = &sc->c;
    bool done = false;
    switch (sc->step) {
    case 0:
        sc->threads_before = threads_now();
        a->link = rte__new(sc->loop, &side_cb, a);
        b->link = rte__new(sc->loop, &side_cb, b);
        assert_non_null(a->link);
        assert_non_null(b->link);
        sc->threads_two = threads_now();
        assert_int_not_equal(open_path(a, "/a"), 0);
        assert_int_not_equal(open_path(b, "/b"), 0);
        /* not a ws URL, or no host: refused at once */
        assert_int_equal(rte__open(b->link, "http://127.0.0.1/", NULL), 0);
        next(sc);
        break;
    case 1: /* both open on the one service thread */
        if (a->opened == 1 && b->opened == 1) {
            send_text(a, "hello-a");
            send_text(b, "hello-b");
            next(sc);
        }
        break;
    case 2: /* each link gets its own echo only */
        if (strcmp(a->data, "hello-a") == 0 && strcmp(b->data, "hello-b") == 0) {
            rte__stop(a->link);
            sc->a_events_at_stop = a->opened + a->closed;
            /* stopped: requests are refused */
            assert_int_equal(rte__send(a->link, a->gen, "x", 1), -1);
            next(sc);
        }
        break;
    case 3: /* posted callbacks have run: free a while b goes on */
        rte__free(a->link);
        a->link = NULL;
        send_text(b, "+again-b");
        next(sc);
        break;
    case 4: /* a's connection is closed, b's still works */
        if (echo__count(&echo.closed_a) == 1 && strcmp(b->data, "hello-b+again-b") == 0) {
            assert_int_equal(b->closed, 0);
            sc->b_old_gen = b->gen;
            rte__close(b->link, b->gen);
            next(sc);
        }
        break;
    case 5: /* closed by the client, reported once */
        if (b->closed == 1) {
            assert_int_equal(b->closed_gen, sc->b_old_gen);
            assert_string_equal(b->reason, "closed by the client");
            char url[64];
            snprintf(url, sizeof(url), "ws://127.0.0.1:%d/b", sc->dead_port);
            b->gen = rte__open(b->link, url, NULL);
            assert_true(b->gen > sc->b_old_gen);
            /* the replaced connection takes no more frames */
            assert_int_equal(rte__send(b->link, sc->b_old_gen, "x", 1), -1);
            next(sc);
        }
        break;
    case 6: /* nobody listens there: a connection failure, for the new gen */
        if (b->closed == 2) {
            assert_int_equal(b->closed_gen, b->gen);
            assert_non_null(strstr(b->reason, "connection failed"));
            rte__stop(b->link);
            next(sc);
        }
        break;
    case 7: /* the last link: the service thread and context go */
        rte__free(b->link);
        b->link = NULL;
        assert_int_equal(threads_now(), sc->threads_before);
        /* and come back with the next link */
        c->link = rte__new(sc->loop, &side_cb, c);
        assert_non_null(c->link);
        assert_int_not_equal(open_path(c, "/c"), 0);
        next(sc);
        break;
    case 8:
        if (c->opened == 1) {
            send_text(c, "hello-c");
            next(sc);
        }
        break;
    case 9:
        if (strcmp(c->data, "hello-c") == 0) {
            rte__stop(c->link);
            next(sc);
        }
        break;
    case 10:
        rte__free(c->link);
        c->link = NULL;
        done = true;
        break;
    }
    if (!done && clock__mono_ms() > sc->deadline) {
        static char why[64];
        snprintf(why, sizeof(why), "timed out in step %d", sc->step);
        sc->failed = why;
        done = true;
    }
    if (done)
        loop__stop(sc->loop);
    else
        loop__timer(sc->loop, 10, tick, sc);
}

static void test_links_share_one_thread(void **state)
{
    (void)state;
    echo__start();
    struct script sc;
    memset(&sc, 0, sizeof(sc));
    sc.loop = loop__new();
    assert_non_null(sc.loop);
    sc.a.loop_thread = sc.b.loop_thread = sc.c.loop_thread = pthread_self();
    sc.dead_port = free_port();
    sc.deadline = clock__mono_ms() + 10000;
    loop__timer(sc.loop, 0, tick, &sc);
    loop__run(sc.loop);
    /* on failure, free what is left so that the report is the failure */
    rte__free(sc.a.link);
    rte__free(sc.b.link);
    rte__free(sc.c.link);
    loop__free(sc.loop);
    echo__stop();
    if (sc.failed)
        fail_msg("%s", sc.failed);
    /* two links, one service thread */
    assert_int_equal(sc.threads_two, sc.threads_before + 1);
    /* nothing reached a after it was stopped, and it was never "closed" */
    assert_int_equal(sc.a.opened + sc.a.closed, sc.a_events_at_stop);
    assert_int_equal(sc.a.closed, 0);
    assert_int_equal(echo.opened_a, 1);
    assert_int_equal(sc.a.wrong_thread + sc.b.wrong_thread + sc.c.wrong_thread, 0);
}

/* Freeing a link whose connection is still opening or open, without a stop
 * first, neither crashes nor reaches the freed link (ASan checks). */
struct quick {
    struct loop *loop;
    struct side s[4];
    int ticks;
};

static void quick_tick(void *arg)
{
    struct quick *q = arg;
    if (q->ticks == 0) {
        for (int i = 0; i < 4; i++) {
            q->s[i].loop_thread = pthread_self();
            q->s[i].link = rte__new(q->loop, &side_cb, &q->s[i]);
            assert_non_null(q->s[i].link);
            open_path(&q->s[i], "/q");
            send_text(&q->s[i], "early");
        }
        /* one freed at once, while its open request may still be queued */
        rte__stop(q->s[0].link);
    }
    else if (q->ticks == 1) {
        rte__free(q->s[0].link);
        q->s[0].link = NULL;
    }
    else if (q->s[1].opened && q->s[2].opened && q->s[3].opened) {
        rte__stop(q->s[2].link);
        loop__stop(q->loop);
        return;
    }
    else if (q->ticks > 1000) {
        loop__stop(q->loop);
        return;
    }
    q->ticks++;
    loop__timer(q->loop, 10, quick_tick, q);
}

static void test_free_while_open(void **state)
{
    (void)state;
    echo__start();
    struct quick q;
    memset(&q, 0, sizeof(q));
    q.loop = loop__new();
    loop__timer(q.loop, 0, quick_tick, &q);
    loop__run(q.loop);
    /* the loop drained what was posted; free the rest (two not stopped) */
    for (int i = 0; i < 4; i++)
        rte__free(q.s[i].link);
    loop__free(q.loop);
    echo__stop();
    assert_true(q.ticks <= 1000);
    assert_int_equal(q.s[0].closed, 0);
}

int main(void)
{
    lws_set_log_level(LLL_ERR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_share_one_thread),
        cmocka_unit_test(test_free_while_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
