/* Internals shared by the fake-voice sources: the simulator object, a
 * request handed to the loop thread, and the hub connection. Everything here
 * is used on the loop thread only, except where a comment says otherwise. */
#ifndef FV_INTERNAL_H
#define FV_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "fake_voice.h"
#include "fv_jwt.h"
#include "rte_record.h"
#include "sim.h"
#include "voice_event.h"

struct http_pending;
struct http_request;
struct http_server;
struct http_client;
struct ws_conn;
struct ws_handler;

#define TICK_MS          100
#define MERGE_HOLD_MS    300 /* merge mode: how long a lone record waits for a partner */
#define NEGOTIATE_TTL_MS 60000
#define MAX_NEGOTIATIONS 256
#define MAX_RECORD       (1024 * 1024)
#define HUB_PATH         "/rte/hub"

/* A connection token from negotiate. The table is shared with the
 * libwebsockets thread (fake_voice.neg_mu): the upgrade is refused there,
 * before the 101, for a token that is unknown (404) or in use (409). */
struct negotiation {
    char token[SIM_ID_LEN];
    int64_t created_mono;
    bool connected; /* a WebSocket uses it; removed when that closes */
};

/* One hub WebSocket. `mu`, `closed` and `refs` are shared with the
 * libwebsockets thread: the loop only calls ws_server__send()/ws_server__close() while
 * holding mu and seeing closed == false, so nothing is sent once on_close
 * ran; the struct is freed when both threads dropped their reference.
 * Everything else is loop-thread only. */
struct hub_conn {
    pthread_mutex_t mu;
    bool closed;
    atomic_int refs;
    struct ws_conn *ws;

    struct fake_voice *fv;
    struct hub_conn *next;
    char conn_token[SIM_ID_LEN];
    char user_id[SIM_ID_LEN];
    bool authorized, handshaken, closing;
    int64_t token_exp; /* seconds since the epoch */
    int64_t last_rx_mono, last_ping_mono;
    struct rte_reader rd;
    struct rte_sub *subs;
    int n_subs, cap_subs;
    /* subs by EntityId (open addressing, index + 1; 0 is empty): a hub of
     * 100,000 users x 5 events checks an entry in O(1) */
    int *sub_ix;
    size_t sub_ix_cap;
    char *merge_buf;
    size_t merge_len;
    int64_t merge_since;
};

struct fake_voice {
    struct loop *loop;
    struct http_server *srv;
    struct http_server *tls_srv; /* NULL: no TLS listener */
    struct http_client *http;
    struct sim sim;
    unsigned char key[FV_JWT_KEY_LEN];
    char host[64];
    char advertise[128]; /* "": derived from host */
    int port_opt;
    struct hub_conn *conns;
    pthread_mutex_t neg_mu; /* guards neg and n_neg (see struct negotiation) */
    struct negotiation neg[MAX_NEGOTIATIONS];
    int n_neg;
    /* /_sim/hub/refuse: the next `count` upgrades get `status` (any thread) */
    atomic_int refuse_status, refuse_count;
    loop_timer_id tick;
    unsigned event_seq;
    struct fv_req *delayed; /* requests held by a delay fault */
};

enum req_kind { RK_API, RK_NEGOTIATE, RK_SIM };

struct fv_req {
    struct fake_voice *fv;
    struct http_pending *pending;
    int kind;
    char method[12];
    char *path;
    char *query;
    char *body;
    char auth[4096];
    char user_q[SIM_EMAIL_LEN];
    char token_q[4096];
    struct sim_fault fault;
    struct fv_req *next_delayed;
};

/* fake_voice.c: answering requests. */
void req__answer(struct fv_req *r, int status, char *body, const char *extra_headers);
void req__error(struct fv_req *r, int status, const char *msg);
char *json_error(const char *msg);
char *print_free(cJSON *o); /* prints compactly and deletes o */

/* fv_rest.c: discovery and the /api/ endpoints. */
void rest__dispatch(struct fv_req *r);
/* "host" as clients reach us (--advertise-host, or the listen address). */
const char *rest__host(const struct fake_voice *fv);
/* The hub's URL: scheme-less host:port/rte/hub (the TLS port when there is
 * a TLS listener), or http://host:port/rte/hub (endpoint_scheme "http"). */
void rest__hub_endpoint(const struct fake_voice *fv, char *out, size_t len);

/* fv_negotiate.c: negotiate and the connection tokens. */
void hub__negotiate(struct fv_req *r);
/* libwebsockets thread: the ws_handler's on_upgrade (401, 404, 409 or 0). */
int negotiation__upgrade(void *ctx, const struct http_request *req);
bool negotiation__known(struct fake_voice *fv, const char *token);
void negotiation__forget(struct fake_voice *fv, const char *token);
void negotiation__expire(struct fake_voice *fv, int64_t now_mono);
void negotiation__clear(struct fake_voice *fv);

/* fv_hub.c: the SignalR hub. */
extern const struct ws_handler hub_handler;
void hub__tick(void *arg);
void hub__broadcast(struct fake_voice *fv, int kind, const char *user_id, const char *call_id,
                    int64_t now);
/* A UserStatus event for the user (active calls after a change). */
void hub__broadcast_status(struct fake_voice *fv, const char *user_id, int active, int64_t now);
int hub__close_all(struct fake_voice *fv, const char *error, bool allow, bool with_record);
cJSON *hub__json(const struct fake_voice *fv);
void hub__free_all(struct fake_voice *fv);

/* fv_events.c: call events to the hub and the webhook. */
void events__emit(struct fake_voice *fv, int kind, const char *user_id, const char *call_id);

/* fv_control.c: the /_sim/ control API. */
void sim_api__dispatch(struct fv_req *r);

#endif
