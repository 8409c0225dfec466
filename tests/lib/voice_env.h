/* The Voice side in process, for component tests (tests/component/
 * test_voice_*.c): the daemon's Voice component (voice/voice_side.c with its
 * tenant, REST client and talking writer) on the component harness
 * (comp_env.h: real loop, fake bus, fake clock), with
 *
 * - Enreach's REST API as canned HTTP replies (canned_http.h): /users/me,
 *   /users, the RTE token and the SignalR negotiate (and discovery when
 *   asked), over real sockets to the daemon's own HTTP client;
 * - the hub played by the test through the fake RTE transport
 *   (fake_rte.h): the helpers below accept the upgrade, answer the
 *   handshake, AvailableSubscriptions and Subscribe, and send events.
 *
 * One tenant, "contoso", Voice role, the fake clock from init on. Voice knows
 * alice, bob and carol @contoso.com (ids u-alice, u-bob, u-carol) and
 * dave (UserName dave.login, matched by Email dave@contoso.com).
 */
#ifndef PS_TESTS_VOICE_ENV_H
#define PS_TESTS_VOICE_ENV_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "comp_env.h"
#include "component.h"

struct canned_http;
struct http_client;
struct http_server;
struct rte_link;

#define VE_KEY  "voice-key+/=&%x"  /* the tenant's voice.secret_key */
#define VE_ME   "me-1"             /* the service account's Voice id */
#define VE_HOOK "hook-secret-7f3a" /* voice.webhook_secret when opt.webhook */
/* The five default event names, as the hub offers them. */
#define VE_EVENTS                                                                   \
    "[\"UserCallInConnected\",\"UserCallOutConnected\",\"UserCallInDisconnected\"," \
    "\"UserCallOutDisconnected\",\"UserStatus\"]"

struct voice_env_options {
    const char *users;      /* JSON array of configured addresses; NULL: alice and bob */
    const char *voice_more; /* more members of the tenant's voice object: ",..." */
    bool discovery;         /* voice.discovery_url instead of voice.api_url */
    /* voice.webhook_secret VE_HOOK, and the daemon's own HTTP server
     * (core/http_server.c, real sockets) serving the webhook route */
    bool webhook;
    /* the process runs the mapper too (roles voice and mapper, mapper
     * enabled), as a whole daemon does; the mapper itself is not started */
    bool mapper;
};

struct voice_env {
    struct comp_env ce;
    struct canned_http *http;
    struct http_client *client;
    struct daemon_services services;
    void *voice; /* the component's state */
    struct voice_env_options opt;
    char api[96];               /* the canned API base, ".../api" */
    size_t sub_done;            /* Subscribe invocations of this connection answered */
    unsigned sub_gen;           /* the connection sub_done counts */
    struct http_server *server; /* opt.webhook */
    char hook_headers[512];     /* the last webhook answer's headers */
};

/* The canned API with its default answers, the config, the component's
 * init (not start); the fake clock starts. 0 or -1. */
int voice_env__init(struct voice_env *ve, const struct voice_env_options *o);
/* A test's voice_env: calloc'd, the log captured (log_capture.h), init
 * with o and, when start, the component's start; for voice_env__teardown.
 * NULL when a step fails (what was made is freed). */
struct voice_env *voice_env__new(const struct voice_env_options *o, bool start);
/* The component's start: the seed window opens and the link chain begins. */
int voice_env__start(struct voice_env *ve);
/* A SIGHUP with another user list (a JSON array), as the daemon does it:
 * the tenant's users swapped into the running config, then the
 * component's reload. 0 or -1. */
int voice_env__reload(struct voice_env *ve, const char *users);
/* Stops and frees everything in the daemon's order; resets the process-wide
 * health, status, metrics and the fake clock. */
void voice_env__free(struct voice_env *ve);
/* A cmocka teardown for a test whose state is a calloc'd voice_env (or
 * NULL): voice_env__free, free, and the log capture stopped. */
int voice_env__teardown(void **st);

/* ---- the REST side -------------------------------------------------------- */

/* The answer of GET /api/users from now on (a JSON array). */
void voice_env__users(struct voice_env *ve, const char *json);
/* The next `times` requests (0: every one from now on) with method (NULL:
 * any) whose target starts with path get status and body (NULL: none). */
void voice_env__fault(struct voice_env *ve, const char *method, const char *path, int status,
                      const char *body, int times);
/* Requests seen with method (NULL: any) and target prefix. */
size_t voice_env__requests(struct voice_env *ve, const char *method, const char *path);

/* ---- the webhook (opt.webhook) ------------------------------------------ */

/* A request to the daemon's /voice/events/<tenant> with method, the
 * X-Benemen-Token token (NULL: none) and body (NULL: none), from the test
 * thread (the route answers on the server's thread; what it hands to the
 * loop runs at the next settle). The status (0: no answer); the body into
 * out, the headers into ve->hook_headers. */
long voice_env__webhook(struct voice_env *ve, const char *method, const char *tenant,
                        const char *token, const char *body, char *out, size_t len);

/* ---- the hub's side ------------------------------------------------------- */

struct rte_link *voice_env__link(void);
/* Waits (REST replies arrive over real sockets) until a WebSocket is being
 * opened with a generation other than not_gen (0: any). */
bool voice_env__wait_open(struct voice_env *ve, unsigned not_gen);
/* Accepts the upgrade, checks the client's handshake record, answers it. */
void voice_env__handshake(struct voice_env *ve);
/* The invocationId of the n-th (0-based) record of the current connection
 * invoking target, into id; false when there is none. */
bool voice_env__invocation(const char *target, size_t n, char *id, size_t len);
/* Invocations of target sent on the current connection. */
size_t voice_env__invocations(const char *target);
/* Completes invocation id with result (JSON text; NULL: none) or error. */
void voice_env__complete(struct voice_env *ve, const char *id, const char *result,
                         const char *error);
/* Answers the last AvailableSubscriptions invocation (result or error). */
void voice_env__answer_available(struct voice_env *ve, const char *result, const char *error);
/* Completes every Subscribe sent since the last call on this connection
 * with result (NULL: none) or error; returns how many. */
size_t voice_env__answer_subscribes(struct voice_env *ve, const char *result, const char *error);
/* Entries (user x event) in the Subscribe invocations of this connection. */
size_t voice_env__subscribed(void);
/* Pings sent on the current connection. */
size_t voice_env__pings(void);
/* Waits until B/health's link is state: while a REST step is out, for its
 * reply (real time, over the sockets); otherwise moves the fake clock on to
 * the next due timer; at most ms of fake time. Whether it got there. */
bool voice_env__until_link(struct voice_env *ve, const char *state, int64_t ms);
/* The link coming up: open, handshake, VE_EVENTS offered, every Subscribe
 * accepted; true when B/health then says live. */
bool voice_env__go_live(struct voice_env *ve);
/* A MessageReceived record with data {eventType, userId, callId}. */
void voice_env__event(struct voice_env *ve, const char *event_type, const char *user_id,
                      const char *call_id);
/* A MessageReceived record whose argument is the JSON text arg. */
void voice_env__message(struct voice_env *ve, const char *arg);

/* ---- what the daemon shows ------------------------------------------------ */

/* The retained voice/<id>/talking payload of an address, or NULL. */
const char *voice_env__talking(struct voice_env *ve, const char *address);
/* It exists, says talking and, when calls >= 0, has that many calls. */
bool voice_env__talking_is(struct voice_env *ve, const char *address, bool talking, int calls);
/* Publishes on an address's voice/<id>/talking so far. */
size_t voice_env__talking_count(struct voice_env *ve, const char *address);
/* The tenant's Voice section of B/health (a copy; cJSON_Delete it). */
cJSON *voice_env__health(void);
/* Whether the member at a dotted path of that section equals the JSON
 * text expect ("\"live\"", "true", "[\"a\"]", ...). */
bool voice_env__health_is(const char *path, const char *expect);
/* The B/health member at path as text, into buf ("" when absent). */
const char *voice_env__health_str(const char *path, char *buf, size_t len);
/* /readyz's entry voice/contoso: whether ready; its reason into reason. */
bool voice_env__ready(char *reason, size_t len);

#endif
