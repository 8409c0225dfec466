/* The state-thread loop: posted work from other threads, timers in order,
 * cancellation, signals, and stop. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/loop.h"

struct counter {
    struct loop *loop;
    int hits;
    int stop_at;
    pthread_t thread;
    int wrong_thread;
};

static void count_hit(void *arg)
{
    struct counter *c = arg;
    if (!pthread_equal(pthread_self(), c->thread))
        c->wrong_thread++;
    if (++c->hits == c->stop_at)
        loop__stop(c->loop);
}

static void *poster(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(loop__post(c->loop, count_hit, c), 0);
    return NULL;
}

static void test_post_from_threads(void **state)
{
    (void)state;
    struct counter c = {.loop = loop__new(), .stop_at = 4000, .thread = pthread_self()};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, poster, &c);
    loop__run(c.loop);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(c.hits, 4000);
    assert_int_equal(c.wrong_thread, 0);
    /* after the loop stopped, posts are refused and the caller keeps arg */
    assert_int_equal(loop__post(c.loop, count_hit, &c), -1);
    loop__free(c.loop);
}

/* Ping-pong: the thread posts one item, waits until the loop ran it, posts
 * the next. Each post must wake a loop that is blocked in poll. */
struct pingpong {
    struct loop *loop;
    _Atomic int ran;
    _Atomic bool give_up;
};

static void pong(void *arg)
{
    struct pingpong *p = arg;
    p->ran++;
}

static void *pinger(void *arg)
{
    struct pingpong *p = arg;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(loop__post(p->loop, pong, p), 0);
        while (p->ran <= i && !p->give_up)
            usleep(50);
        if (i % 16 == 0) /* now and then, let the loop block in poll first */
            usleep(500);
    }
    return NULL;
}

static void test_post_wakes_blocked_loop(void **state)
{
    (void)state;
    struct pingpong p = {.loop = loop__new()};
    pthread_t t;
    pthread_create(&t, NULL, pinger, &p);
    int64_t start = clock__mono_ms();
    /* a lost wake-up would leave one of these waiting its full 20 s */
    while (p.ran < 300 && clock__mono_ms() - start < 20000)
        loop__run_once(p.loop, 20000);
    int64_t took = clock__mono_ms() - start;
    p.give_up = true;
    pthread_join(t, NULL);
    assert_int_equal(p.ran, 300);
    assert_true(took < 20000);
    loop__free(p.loop);
}

struct order {
    struct loop *loop;
    int seen[8];
    int n;
};

struct order_item {
    struct order *o;
    int value;
};

static void record(void *arg)
{
    struct order_item *it = arg;
    it->o->seen[it->o->n++] = it->value;
    if (it->value == 99)
        loop__stop(it->o->loop);
}

static void test_timers_in_order_and_cancel(void **state)
{
    (void)state;
    struct order o = {.loop = loop__new()};
    struct order_item a = {&o, 3}, b = {&o, 1}, c = {&o, 2}, d = {&o, 7}, end = {&o, 99};
    int64_t start = clock__mono_ms();
    loop__timer(o.loop, 60, record, &a);
    loop__timer(o.loop, 20, record, &b);
    loop__timer(o.loop, 40, record, &c);
    loop_timer_id cancelled = loop__timer(o.loop, 30, record, &d);
    loop__timer(o.loop, 80, record, &end);
    loop__timer_cancel(o.loop, cancelled);
    loop__timer_cancel(o.loop, 0);
    loop__run(o.loop);
    assert_int_equal(o.n, 4);
    assert_int_equal(o.seen[0], 1);
    assert_int_equal(o.seen[1], 2);
    assert_int_equal(o.seen[2], 3);
    assert_int_equal(o.seen[3], 99);
    assert_true(clock__mono_ms() - start >= 80);
    loop__free(o.loop);
}

static void on_hup(void *arg)
{
    struct counter *c = arg;
    c->hits++;
    loop__stop(c->loop);
}

static void send_hup(void *arg)
{
    (void)arg;
    kill(getpid(), SIGHUP);
}

static void test_signal_runs_on_loop(void **state)
{
    (void)state;
    struct counter c = {.loop = loop__new(), .thread = pthread_self()};
    assert_int_equal(loop__on_signal(c.loop, SIGHUP, on_hup, &c), 0);
    loop__timer(c.loop, 10, send_hup, NULL);
    loop__run(c.loop);
    assert_int_equal(c.hits, 1);
    loop__free(c.loop);
}

int main(void)
{
    loop__block_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_from_threads),
        cmocka_unit_test(test_post_wakes_blocked_loop),
        cmocka_unit_test(test_timers_in_order_and_cancel),
        cmocka_unit_test(test_signal_runs_on_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
