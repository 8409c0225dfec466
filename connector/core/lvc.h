/* The last-value cache of the MQTT bus: for every retained state topic, the
 * value last asked for and the value last handed to the MQTT client, plus
 * the queue of topics whose value still has to go out. Pure: no I/O, no
 * clock, one thread (the bus's loop thread).
 *
 * What it guarantees (docs/mqtt.md "State topics"):
 * - a value equal to the one already asked for is not sent again;
 * - the newest value wins: a topic is queued once, and what goes out when
 *   its turn comes is its latest value;
 * - a hand-over the broker never acknowledged (lost) is queued again, a
 *   stale completion (the topic was handed over again since) is ignored;
 * - once the broker holds a value, only its digest is kept (SHA-256,
 *   truncated to 128 bits: payloads carry remote text, so an adversarial
 *   collision must not be cheap).
 */
#ifndef PS_LVC_H
#define PS_LVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lvc;
struct lvc_entry;

struct lvc *lvc__new(void);
void lvc__free(struct lvc *c);

/* Records payload as topic's wanted value. 1: queued to be sent, 0: no
 * change to send (same as asked before, or back to what was handed over),
 * -1: out of memory. */
int lvc__want(struct lvc *c, const char *topic, const char *payload);
/* Like lvc__want, but sends the value again even when unchanged, ahead of
 * everything queued unless it is queued already (after a reconnect: the
 * broker may have published the will on the state topic meanwhile). */
int lvc__want_first(struct lvc *c, const char *topic, const char *payload);

/* The entry whose value goes out next, or NULL when nothing is queued
 * (entries that no longer need sending are dropped from the queue). */
struct lvc_entry *lvc__next(struct lvc *c);
const char *lvc_entry__topic(const struct lvc_entry *e);
const char *lvc_entry__payload(const struct lvc_entry *e);
/* The entry of lvc__next() was handed over: dequeued; returns the
 * generation its completion must quote. */
uint64_t lvc__handed(struct lvc *c, struct lvc_entry *e);
/* The entry of lvc__next() was refused for good: dequeued, not sent. */
void lvc__drop(struct lvc *c, struct lvc_entry *e);

/* Whether gen is the entry's latest hand-over. */
bool lvc__current(const struct lvc_entry *e, uint64_t gen);
/* Completion of hand-over gen (ignored unless current): the broker has the
 * value (its text is freed), or it was lost (queued again). */
void lvc__acked(struct lvc *c, struct lvc_entry *e, uint64_t gen);
void lvc__lost(struct lvc *c, struct lvc_entry *e, uint64_t gen);

size_t lvc__queued(const struct lvc *c);
size_t lvc__topics(const struct lvc *c);
/* Topics whose value text is held (not yet acknowledged); for tests. */
size_t lvc__texts(const struct lvc *c);

#endif
