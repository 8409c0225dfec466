/* Event loop of the state thread: posted work, timers and signals, all run
 * on the one thread that calls loop__run(). Waits in poll() on an eventfd
 * (posted work, stop) and a signalfd. */
#include "core/loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define LOOP_MAX_SIGNALS 8

struct work {
    loop_fn fn;
    void *arg;
    struct work *next;
};

struct timer {
    int64_t due;
    loop_timer_id id;
    loop_fn fn;
    void *arg;
};

struct sig_handler {
    int signo;
    loop_fn fn;
    void *arg;
};

struct loop {
    pthread_mutex_t lock; /* guards head, tail, closed */
    struct work *head, *tail;
    bool closed;
    int efd;
    int sfd;
    sigset_t sigs;
    struct sig_handler handlers[LOOP_MAX_SIGNALS];
    int n_handlers;
    struct timer *heap; /* min-heap on (due, id) */
    size_t n_timers, cap_timers;
    loop_timer_id next_id;
    _Atomic bool stop;
};

void loop__block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

struct loop *loop__new(void)
{
    struct loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    pthread_mutex_init(&loop->lock, NULL);
    loop->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->sfd = -1;
    sigemptyset(&loop->sigs);
    loop->next_id = 1;
    if (loop->efd < 0) {
        free(loop);
        return NULL;
    }
    return loop;
}

static void loop__wake(struct loop *loop)
{
    uint64_t one = 1;
    ssize_t r = write(loop->efd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: awake anyway */
}

int loop__post(struct loop *loop, loop_fn fn, void *arg)
{
    struct work *w = malloc(sizeof(*w));
    if (!w)
        return -1;
    w->fn = fn;
    w->arg = arg;
    w->next = NULL;
    pthread_mutex_lock(&loop->lock);
    if (loop->closed) {
        pthread_mutex_unlock(&loop->lock);
        free(w);
        return -1;
    }
    if (loop->tail)
        loop->tail->next = w;
    else
        loop->head = w;
    loop->tail = w;
    pthread_mutex_unlock(&loop->lock);
    loop__wake(loop);
    return 0;
}

static bool timer_before(const struct timer *a, const struct timer *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static void heap_swap(struct loop *loop, size_t a, size_t b)
{
    struct timer t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
}

static void heap_up(struct loop *loop, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(&loop->heap[i], &loop->heap[parent]))
            break;
        heap_swap(loop, i, parent);
        i = parent;
    }
}

static void heap_down(struct loop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->n_timers && timer_before(&loop->heap[l], &loop->heap[m]))
            m = l;
        if (r < loop->n_timers && timer_before(&loop->heap[r], &loop->heap[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

static void heap_remove(struct loop *loop, size_t i)
{
    loop->n_timers--;
    if (i == loop->n_timers)
        return;
    loop->heap[i] = loop->heap[loop->n_timers];
    heap_down(loop, i);
    heap_up(loop, i);
}

loop_timer_id loop__timer(struct loop *loop, int64_t delay_ms, loop_fn fn, void *arg)
{
    if (loop->n_timers == loop->cap_timers) {
        size_t cap = loop->cap_timers ? loop->cap_timers * 2 : 64;
        struct timer *h = realloc(loop->heap, cap * sizeof(*h));
        if (!h)
            return 0;
        loop->heap = h;
        loop->cap_timers = cap;
    }
    struct timer *t = &loop->heap[loop->n_timers];
    t->due = clock__mono_ms() + (delay_ms > 0 ? delay_ms : 0);
    loop_timer_id id = loop->next_id++;
    t->id = id;
    t->fn = fn;
    t->arg = arg;
    loop->n_timers++;
    heap_up(loop, loop->n_timers - 1); /* moves entries: t is stale after this */
    return id;
}

void loop__timer_cancel(struct loop *loop, loop_timer_id id)
{
    if (id == 0)
        return;
    for (size_t i = 0; i < loop->n_timers; i++) {
        if (loop->heap[i].id == id) {
            heap_remove(loop, i);
            return;
        }
    }
}

int loop__on_signal(struct loop *loop, int signo, loop_fn fn, void *arg)
{
    if (loop->n_handlers >= LOOP_MAX_SIGNALS)
        return -1;
    loop->handlers[loop->n_handlers++] = (struct sig_handler){signo, fn, arg};
    sigaddset(&loop->sigs, signo);
    int fd = signalfd(loop->sfd, &loop->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        LOG_ERROR("loop", "signalfd failed errno=%d", errno);
        return -1;
    }
    loop->sfd = fd;
    return 0;
}

/* Runs all work posted so far; work posted meanwhile waits for the next
 * turn. Returns how many ran. */
static int loop__run_posted(struct loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    struct work *w = loop->head;
    loop->head = loop->tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    int n = 0;
    while (w) {
        struct work *next = w->next;
        w->fn(w->arg);
        free(w);
        w = next;
        n++;
    }
    return n;
}

static int loop__run_timers(struct loop *loop)
{
    int64_t now = clock__mono_ms();
    int n = 0;
    while (loop->n_timers > 0 && loop->heap[0].due <= now && !loop->stop) {
        struct timer t = loop->heap[0];
        heap_remove(loop, 0);
        t.fn(t.arg);
        n++;
    }
    return n;
}

static int loop__run_signals(struct loop *loop)
{
    struct signalfd_siginfo si;
    int n = 0;
    while (read(loop->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        for (int i = 0; i < loop->n_handlers; i++) {
            if ((int)si.ssi_signo == loop->handlers[i].signo) {
                loop->handlers[i].fn(loop->handlers[i].arg);
                n++;
            }
        }
    }
    return n;
}

static int loop__timeout(const struct loop *loop, int max_ms)
{
    if (loop->n_timers == 0)
        return max_ms;
    int64_t wait = loop->heap[0].due - clock__mono_ms();
    if (wait < 0)
        return 0;
    return wait > max_ms ? max_ms : (int)wait;
}

int64_t loop__next_due(const struct loop *loop)
{
    return loop->n_timers ? loop->heap[0].due : INT64_MAX;
}

int loop__run_once(struct loop *loop, int timeout_ms)
{
    struct pollfd fds[2] = {{loop->efd, POLLIN, 0}, {loop->sfd, POLLIN, 0}};
    int n = poll(fds, loop->sfd >= 0 ? 2 : 1, loop__timeout(loop, timeout_ms));
    if (n < 0 && errno != EINTR) {
        LOG_ERROR("loop", "poll failed errno=%d", errno);
        return -1;
    }
    uint64_t count;
    if (read(loop->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        LOG_WARN("loop", "eventfd read failed errno=%d", errno);
    int ran = loop__run_posted(loop);
    if (loop->sfd >= 0)
        ran += loop__run_signals(loop);
    return ran + loop__run_timers(loop);
}

int loop__run(struct loop *loop)
{
    while (!loop->stop) {
        if (loop__run_once(loop, 1000) < 0)
            return -1;
    }
    pthread_mutex_lock(&loop->lock);
    loop->closed = true;
    pthread_mutex_unlock(&loop->lock);
    loop__run_posted(loop);
    return 0;
}

void loop__stop(struct loop *loop)
{
    loop->stop = true;
    loop__wake(loop);
}

void loop__free(struct loop *loop)
{
    if (!loop)
        return;
    pthread_mutex_lock(&loop->lock);
    loop->closed = true;
    struct work *w = loop->head;
    loop->head = loop->tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    while (w) { /* never run: free the envelopes only */
        struct work *next = w->next;
        free(w);
        w = next;
    }
    close(loop->efd);
    if (loop->sfd >= 0)
        close(loop->sfd);
    free(loop->heap);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}
