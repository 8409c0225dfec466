/* core/workqueue: every job runs once, on several threads at once; a full
 * queue refuses without blocking; free drops what never ran. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/workqueue.h"

static atomic_int ran, dropped, running, max_running;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void job(void *arg)
{
    (void)arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int m = atomic_load(&max_running);
    while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now))
        ;
    usleep(2000);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&ran, 1);
}

static void blocked_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    atomic_fetch_add(&ran, 1);
}

static void drop(void *arg)
{
    (void)arg;
    atomic_fetch_add(&dropped, 1);
}

static void test_runs_all_in_parallel(void **state)
{
    (void)state;
    atomic_store(&ran, 0);
    atomic_store(&max_running, 0);
    struct workqueue *wq = workqueue__new(4, 0, drop);
    assert_non_null(wq);
    assert_int_equal(workqueue__threads(wq), 4);
    for (int i = 0; i < 200; i++)
        assert_int_equal(workqueue__push(wq, job, NULL), 0);
    for (int i = 0; i < 500 && atomic_load(&ran) < 200; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&ran), 200);
    assert_true(atomic_load(&max_running) > 1);
    workqueue__free(wq);
}

static void test_full_queue_refuses_fast(void **state)
{
    (void)state;
    atomic_store(&ran, 0);
    atomic_store(&dropped, 0);
    pthread_mutex_lock(&gate);
    struct workqueue *wq = workqueue__new(1, 5, drop);
    assert_non_null(wq);
    assert_int_equal(workqueue__push(wq, blocked_job, NULL), 0);
    while (workqueue__pending(wq) != 0) /* the worker took it and waits */
        usleep(1000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(workqueue__push(wq, blocked_job, NULL), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(workqueue__push(wq, blocked_job, NULL), -1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 50000000L);
    assert_int_equal(workqueue__pending(wq), 5);
    pthread_mutex_unlock(&gate);
    /* stop while jobs may still be queued: each runs or is dropped, once */
    workqueue__free(wq);
    assert_int_equal(atomic_load(&ran) + atomic_load(&dropped), 6);
}

static void test_default_threads(void **state)
{
    (void)state;
    struct workqueue *wq = workqueue__new(0, 0, NULL);
    assert_non_null(wq);
    assert_true(workqueue__threads(wq) >= 2);
    workqueue__free(wq);
    workqueue__free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_all_in_parallel),
        cmocka_unit_test(test_full_queue_refuses_fast),
        cmocka_unit_test(test_default_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
