/* The RTE WebSocket transport on the libwebsockets client API.
 *
 * All links share one process-wide lws context and one service thread
 * (created with the first link, destroyed with the last: a context per
 * tenant leaked OpenSSL's global state and loaded the CA store each time).
 * A link carries at most one WebSocket at a time. It knows nothing of
 * SignalR: it opens a ws:// or wss:// URL, sends text frames and hands
 * whatever arrives to the loop thread (loop__post), where the session
 * splits records on 0x1E. Nothing here ever blocks the service thread:
 * the loop thread's requests (open, send, close, stop) are queued under a
 * mutex and picked up after lws_cancel_service() wakes the thread.
 *
 * Every connection gets a generation number; callbacks carry it so that the
 * loop can ignore late news from a connection it has already given up.
 */
#ifndef PS_VOICE_RTE_H
#define PS_VOICE_RTE_H

#include <stddef.h>

struct loop;
struct rte_link;

/* All run on the loop thread. */
struct rte_link_callbacks {
    void (*on_open)(void *ctx, unsigned gen);
    /* A chunk of a WebSocket message, as received (not record-aligned). */
    void (*on_data)(void *ctx, unsigned gen, const char *data, size_t len);
    /* The connection failed or ended; reason is readable (never a token). */
    void (*on_closed)(void *ctx, unsigned gen, const char *reason);
};

/* Loop thread. Creates a link; the first one also creates the shared
 * context and starts the service thread. NULL on failure. */
struct rte_link *rte__new(struct loop *loop, const struct rte_link_callbacks *cb, void *ctx);

/* Loop thread. Closes any current connection (its on_closed follows) and
 * opens url (ws:// or wss://). bearer, when not NULL, is also sent as an
 * Authorization header. Returns the new generation (> 0), or 0 for a bad
 * URL or out of memory. */
unsigned rte__open(struct rte_link *l, const char *url, const char *bearer);
/* Loop thread. CA certificates (PEM file) to trust for wss:// connections
 * opened from now on, on top of the system store (copied; NULL: none). The
 * TLS store is shared by all links of the process. Returns 0 or -1. */
int rte__set_ca_file(struct rte_link *l, const char *ca_file);
/* Loop thread. Queues one text frame for connection gen. Returns 0, or -1
 * when gen is not the live connection. */
int rte__send(struct rte_link *l, unsigned gen, const char *data, size_t len);
/* Loop thread. Closes connection gen (on_closed follows) if it is current. */
void rte__close(struct rte_link *l, unsigned gen);
/* Loop thread. Detaches the link from the service thread and closes its
 * connection without on_closed; other links go on. After it returns no
 * callback is posted any more (those already posted still run). */
void rte__stop(struct rte_link *l);
/* After rte__stop() and after posted callbacks have run. The last
 * link freed stops the service thread and destroys the shared context. */
void rte__free(struct rte_link *l);

#endif
