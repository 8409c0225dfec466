/* One Voice tenant's RTE session: a SignalR JSON hub connection over the
 * RTE WebSocket transport (rte.h). It opens the connection, sends the
 * handshake and checks the answer, splits the records, pings the hub every
 * ping_ms and takes a hub silent for silence_ms (or a WebSocket not up
 * within 20 s) for a lost link. It knows nothing of events or Subscribe:
 * invocations and completions go to the owner (the tenant, tenant.c).
 *
 * A live session is never closed because its token expires: Enreach checks
 * the token only when a connection is made and lets it stay open
 * indefinitely (docs/voice.md "Token"). The owner fetches a fresh token for
 * every new connection.
 *
 * Loop thread only. Every callback runs on the loop thread, for the current
 * connection only; the owner may call voice_session__drop from any of them.
 */
#ifndef PS_VOICE_VOICE_SESSION_H
#define PS_VOICE_VOICE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct signalr_msg;

struct voice_session_callbacks {
    /* The WebSocket is up and the handshake sent. */
    void (*on_opened)(void *ctx);
    /* The hub accepted the handshake: invocations may be sent. */
    void (*on_ready)(void *ctx);
    /* An invocation or a completion from the hub. */
    void (*on_message)(void *ctx, const struct signalr_msg *m);
    /* The connection is gone (closed, failed, a Close record, silence, a
     * refused handshake, or voice_session__drop): reason says which. The
     * session is idle again; nothing more comes for that connection. */
    void (*on_lost)(void *ctx, const char *reason);
};

struct voice_session;

/* name is the tenant's (for the log); 0 for ping_ms or silence_ms: 15 s and
 * 30 s. NULL when out of memory or the transport cannot start. */
struct voice_session *voice_session__new(struct loop *loop, const char *name,
                                         const struct voice_session_callbacks *cb, void *ctx,
                                         int64_t ping_ms, int64_t silence_ms);
/* CA certificates for wss:// (see rte.h). 0 or -1. */
int voice_session__set_ca_file(struct voice_session *s, const char *ca_file);
/* Opens a connection to the hub at endpoint (http(s) or ws(s)) with the
 * negotiated connection token and the access token (query and bearer); a
 * current one is replaced. 0, or -1 with a reason in err. */
int voice_session__open(struct voice_session *s, const char *endpoint, const char *connection_token,
                        const char *access_token, char *err, size_t errlen);
/* Whether a connection is open or being opened; whether the hub accepted
 * its handshake. */
bool voice_session__connected(const struct voice_session *s);
bool voice_session__ready(const struct voice_session *s);
/* Queues one record for the current connection (dropped, logged at debug,
 * when there is none). */
void voice_session__send(struct voice_session *s, const char *data, size_t len);
/* The next invocation id of this session, for signalr__build_* (which
 * advance it). */
uint64_t *voice_session__ids(struct voice_session *s);
/* Closes the current connection; on_lost(reason) runs before it returns. */
void voice_session__drop(struct voice_session *s, const char *reason);
/* Cancels the timers and detaches from the transport; no callback after. */
void voice_session__stop(struct voice_session *s);
void voice_session__free(struct voice_session *s);

#endif
