/* A fixed pool of worker threads with a bounded job queue.
 *
 * Used where work must leave a thread that may not block (the libwebsockets
 * service thread) and is too heavy for the loop thread (RSA/AES decryption of
 * Graph notifications). Jobs run in FIFO order on any worker; results go back
 * to the state-owning thread with loop__post(). Pushing never blocks: a full
 * queue is refused, so the caller can answer "try again later" at once.
 */
#ifndef PS_WORKQUEUE_H
#define PS_WORKQUEUE_H

#include <stddef.h>

struct workqueue;
typedef void (*workqueue_fn)(void *arg);

/* n_threads 0: one per online CPU (at least 2). max_jobs: queued, not yet
 * running (0: 10000). drop is called instead of fn for jobs still queued at
 * workqueue__free (may be NULL). Returns NULL on failure. */
struct workqueue *workqueue__new(size_t n_threads, size_t max_jobs, workqueue_fn drop);
/* Any thread. Returns 0, or -1 when full or stopping (then arg is the
 * caller's). */
int workqueue__push(struct workqueue *wq, workqueue_fn fn, void *arg);
/* Jobs queued and not yet started. */
size_t workqueue__pending(struct workqueue *wq);
size_t workqueue__threads(const struct workqueue *wq);
/* Stops: running jobs finish, queued ones are dropped, threads joined. Not
 * from a worker. NULL is fine. */
void workqueue__free(struct workqueue *wq);

#endif
