/* The event loop of the state-owning thread.
 *
 * Exactly one thread runs loop__run(); it owns the daemon's state. Other
 * threads (Paho's, the HTTP client's, the webhook workers, the libwebsockets
 * service thread) never touch that state: they hand work over with
 * loop__post(), which is thread-safe and never blocks for long.
 * Timers and signal handlers run on the loop thread too.
 */
#ifndef PS_LOOP_H
#define PS_LOOP_H

#include <stdint.h>

struct loop;
typedef void (*loop_fn)(void *arg);
typedef uint64_t loop_timer_id; /* 0 is never a valid id */

/* Blocks SIGINT, SIGTERM, SIGHUP and SIGPIPE in the calling thread, so that
 * threads created afterwards inherit the mask. Call first thing in main(). */
void loop__block_signals(void);

struct loop *loop__new(void);
void loop__free(struct loop *loop);

/* Any thread. Queues fn(arg) to run on the loop thread. Returns 0, or -1 if
 * the loop has stopped (then fn is not called and arg is the caller's). */
int loop__post(struct loop *loop, loop_fn fn, void *arg);

/* Loop thread only. Runs fn(arg) once after delay_ms (<= 0: next turn). */
loop_timer_id loop__timer(struct loop *loop, int64_t delay_ms, loop_fn fn, void *arg);
/* Loop thread only. Cancelling an id that fired or is 0 is harmless. */
void loop__timer_cancel(struct loop *loop, loop_timer_id id);

/* Loop thread only. Runs fn(arg) on the loop thread whenever signo arrives.
 * signo must be blocked (loop__block_signals). */
int loop__on_signal(struct loop *loop, int signo, loop_fn fn, void *arg);

/* Runs until loop__stop(); then drains posted work once and returns 0. */
int loop__run(struct loop *loop);
/* Tests: one turn of loop__run(). Waits at most timeout_ms of real time for
 * posted work or a signal (not longer than until the first timer is due),
 * then runs posted work, signals and due timers. Returns the callbacks run,
 * or -1 on a poll error. */
int loop__run_once(struct loop *loop, int timeout_ms);
/* Tests: when the first timer is due (clock__mono_ms), or INT64_MAX. */
int64_t loop__next_due(const struct loop *loop);
/* Any thread. */
void loop__stop(struct loop *loop);

#endif
