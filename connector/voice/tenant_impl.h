/* Internals of one Voice tenant (tenant.h), shared by its source files:
 *   tenant.c         lifecycle, the REST link chain, expiry, writer hooks
 *   tenant_health.c  B/health and readiness
 *   tenant_talking.c voice/<id>/talking (the user map is voice_directory.h)
 *   tenant_seed.c    calls carried over from the previous run
 *   tenant_hub.c     the tenant's side of its RTE session (the session
 *                    itself, SignalR over the WebSocket with pings and the
 *                    watchdog, is voice_session.h)
 *   tenant_events.c  which events to subscribe (AvailableSubscriptions),
 *                    Subscribe, and applying events to the call state
 * Loop thread only, except where a field says otherwise.
 */
#ifndef PS_VOICE_TENANT_IMPL_H
#define PS_VOICE_TENANT_IMPL_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/loop.h"
#include "voice/voice_directory.h"
#include "voice/events.h"
#include "voice/signalr.h"
#include "voice/voice_session.h"
#include "voice/tenant.h"
#include "voice/writer.h"

struct capture;
struct http_result;
struct voice_session;
struct voice_session_callbacks;
struct voice_rest;
struct voice_users;
struct role;

#define MAX_REDIRECTS        5
#define HEALTH_MAX_MISSING   100
#define AVAILABLE_TIMEOUT_MS 10000

enum vlink {
    VL_IDLE,
    VL_DISCOVERING,
    VL_AUTHENTICATING,
    VL_LOADING_USERS,
    VL_TOKEN,
    VL_NEGOTIATING,
    VL_CONNECTING,
    VL_HANDSHAKE,
    VL_SUBSCRIBING,
    VL_LIVE,
    VL_WAITING,     /* backoff before the next attempt */
    VL_AUTH_FAILED, /* waiting too, but the credentials were refused */
    VL_STOPPED,
    VL_WRITER, /* writer_only: REST session and user map ready, no link */
};

extern const char *const vlink_names[];

struct vseed {
    char *address;
    size_t calls;
    int64_t since_ms;
    char **ids; /* the calls' ids the payload named (call_ids), at most calls */
    size_t n_ids;
    bool applied; /* kept while the window is open: one seed per user */
};

/* A call event seen while the seed window is open (tenant_seed__note): a
 * Disconnected that comes before the user's seed ends one of its calls. */
struct vseen {
    char user[VOICE_ID_MAX]; /* lower-cased Voice ids, as in the event */
    char call[VOICE_ID_MAX];
    bool connected; /* a Connected (else a Disconnected) */
};

struct vtenant {
    struct loop *loop;
    struct bus *bus;
    struct http_client *http;
    struct voice_writer *writer;
    struct vtenant_options o; /* strings below are our copies */
    char *name, *discovery_url, *api_url_cfg, *username, *health_name;
    struct voice_rest *rest;
    char *me_id;
    struct events_model *model; /* read by the webhook thread too: never changed */
    struct capture *capture;

    /* configured addresses <-> Voice ids (voice_directory.h) */
    struct voice_directory *dir;
    atomic_bool users_ready; /* the map is loaded, for the webhook thread */

    enum vlink state;
    unsigned chain;
    struct backoff bo;
    loop_timer_id retry_timer, users_timer, expire_timer;
    loop_timer_id resub_timer; /* retry of a refused Subscribe on the live link */
    loop_timer_id avail_timer; /* waiting for the AvailableSubscriptions answer */
    bool stopping;
    bool refreshing_users;

    /* the current session */
    char *token;
    char *endpoint;
    int64_t token_exp_s;
    int redirects;
    struct voice_session *session; /* NULL in a writer-only process */
    char (*pending_subs)[24];
    size_t n_pending_subs;
    bool sub_failed_round;
    unsigned status_logged; /* UserStatus payloads logged at info on this link */

    /* what the hub offers (AvailableSubscriptions) and what we use */
    char avail_inv[24]; /* the invocation waiting for its answer, "" none */
    bool offered_known; /* false: the hub did not say; every configured name is used */
    char **offered;
    size_t n_offered;
    char **used; /* event names subscribed (the hub's spelling) */
    size_t n_used;
    char **missing_events; /* configured call/status events the hub does not offer */
    size_t n_missing_events;
    bool events_short; /* too few offered to follow calls: not ready */
    char available_error[200];

    /* reporting */
    char last_error[256];
    int64_t last_error_ms;
    int64_t live_since_ms;
    unsigned reconnects;
    unsigned subscribe_errors;
    char last_subscribe_error[256];
    unsigned write_failures;
    cJSON *last_write_failure;

    struct calls *calls;

    /* Carried-over calls: while `seeding`, states are not published;
     * seeds wait in `seeds` until the user map can turn them into calls. */
    bool seeding;
    struct vseed *seeds;
    size_t n_seeds;
    struct vseen *seen; /* call events while seeding, until every seed is applied */
    size_t n_seen;

    /* Another instance writes for the tenant (docs/ha.md): the call state is
     * kept from our own link, voice/<id>/talking is not published. */
    bool standby;
    const struct role *role; /* checked again at each publish; NULL: alone */
};

/* tenant.c */
int64_t tenant__opt_or(int64_t v, int64_t dflt);
void tenant__set_state(struct vtenant *t, enum vlink s);
void tenant__fail(struct vtenant *t, enum vlink state, int64_t at_least_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tenant__error(struct vtenant *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tenant__dropped(void *ctx, const char *user_id, const char *call_id, int64_t started_ms,
                     bool stopped_talking);
void tenant__strv_free(char **v, size_t n);

/* tenant_health.c */
void tenant_health__report(struct vtenant *t);

/* tenant_talking.c */
void tenant_talking__publish(struct vtenant *t, struct voice_dir_user *u, const char *source);
void tenant_talking__announce(struct vtenant *t);

/* tenant_seed.c */
void tenant_seed__apply(struct vtenant *t);
void tenant_seed__free_all(struct vseed *s, size_t n);
void tenant_seed__note(struct vtenant *t, const struct voice_call_event *ev);

/* tenant_hub.c */
extern const struct voice_session_callbacks tenant_hub_callbacks;
void tenant_hub__open(struct vtenant *t, const char *connection_token);

/* tenant_events.c */
void tenant_events__ask(struct vtenant *t);
bool tenant_events__completion(struct vtenant *t, const struct signalr_msg *m);
void tenant_events__available_callback(struct vtenant *t, const cJSON *arg);
void tenant_events__subscribe(struct vtenant *t, const char *const *ids, size_t n);
void tenant_events__subscribe_details(struct vtenant *t, const cJSON *details);
void tenant_events__message(struct vtenant *t, const cJSON *argument);
void tenant_events__apply(struct vtenant *t, const struct voice_call_event *ev, const char *source);
void tenant_events__reset(struct vtenant *t);
cJSON *tenant_events__health(const struct vtenant *t);

#endif
