/* Worker pool: see workqueue.h. One mutex and one condition variable; the
 * queue is a singly linked FIFO. */
#include "core/workqueue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"

struct wq_job {
    workqueue_fn fn;
    void *arg;
    struct wq_job *next;
};

struct workqueue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct wq_job *head, *tail;
    size_t n_jobs, max_jobs;
    bool stopping;
    workqueue_fn drop;
    pthread_t *threads;
    size_t n_threads;
};

static void *workqueue__main(void *arg)
{
    struct workqueue *wq = arg;
    pthread_setname_np(pthread_self(), "ps-worker"); /* for top -H and perf */
    pthread_mutex_lock(&wq->lock);
    for (;;) {
        while (!wq->head && !wq->stopping)
            pthread_cond_wait(&wq->cond, &wq->lock);
        if (wq->stopping)
            break;
        struct wq_job *j = wq->head;
        wq->head = j->next;
        if (!wq->head)
            wq->tail = NULL;
        wq->n_jobs--;
        pthread_mutex_unlock(&wq->lock);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&wq->lock);
    }
    pthread_mutex_unlock(&wq->lock);
    return NULL;
}

struct workqueue *workqueue__new(size_t n_threads, size_t max_jobs, workqueue_fn drop)
{
    if (n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n < 2 ? 2 : (size_t)n;
    }
    struct workqueue *wq = calloc(1, sizeof(*wq));
    if (!wq)
        return NULL;
    wq->threads = calloc(n_threads, sizeof(*wq->threads));
    if (!wq->threads) {
        free(wq);
        return NULL;
    }
    pthread_mutex_init(&wq->lock, NULL);
    pthread_cond_init(&wq->cond, NULL);
    wq->max_jobs = max_jobs ? max_jobs : 10000;
    wq->drop = drop;
    for (size_t i = 0; i < n_threads; i++) {
        if (pthread_create(&wq->threads[i], NULL, workqueue__main, wq) != 0) {
            LOG_ERROR("workqueue", "cannot start a worker thread started=%zu", i);
            break;
        }
        wq->n_threads++;
    }
    if (wq->n_threads == 0) {
        workqueue__free(wq);
        return NULL;
    }
    return wq;
}

int workqueue__push(struct workqueue *wq, workqueue_fn fn, void *arg)
{
    struct wq_job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&wq->lock);
    if (wq->stopping || wq->n_jobs >= wq->max_jobs) {
        pthread_mutex_unlock(&wq->lock);
        free(j);
        return -1;
    }
    if (wq->tail)
        wq->tail->next = j;
    else
        wq->head = j;
    wq->tail = j;
    wq->n_jobs++;
    pthread_cond_signal(&wq->cond);
    pthread_mutex_unlock(&wq->lock);
    return 0;
}

size_t workqueue__pending(struct workqueue *wq)
{
    pthread_mutex_lock(&wq->lock);
    size_t n = wq->n_jobs;
    pthread_mutex_unlock(&wq->lock);
    return n;
}

size_t workqueue__threads(const struct workqueue *wq)
{
    return wq->n_threads;
}

void workqueue__free(struct workqueue *wq)
{
    if (!wq)
        return;
    pthread_mutex_lock(&wq->lock);
    wq->stopping = true;
    pthread_cond_broadcast(&wq->cond);
    pthread_mutex_unlock(&wq->lock);
    for (size_t i = 0; i < wq->n_threads; i++)
        pthread_join(wq->threads[i], NULL);
    struct wq_job *j = wq->head;
    while (j) {
        struct wq_job *next = j->next;
        if (wq->drop)
            wq->drop(j->arg);
        free(j);
        j = next;
    }
    pthread_cond_destroy(&wq->cond);
    pthread_mutex_destroy(&wq->lock);
    free(wq->threads);
    free(wq);
}
