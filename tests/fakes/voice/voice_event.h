/* JSON the simulator sends: RTE hub records (MessageReceived invocations,
 * completions, pings, close) and webhook bodies, plus the parsing of what a
 * client sends to the hub (handshake, Subscribe invocations). */
#ifndef FV_VOICE_EVENT_H
#define FV_VOICE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum voice_event_kind {
    VE_CALL_IN_CONNECTED = 0,
    VE_CALL_IN_DISCONNECTED,
    VE_CALL_OUT_CONNECTED,
    VE_CALL_OUT_DISCONNECTED,
    VE_CALL_KINDS
};

/* "UserCallInConnected" ... */
const char *voice_event__name(int kind);
/* The number the simulator uses in "number" mode. Enreach has not published
 * these; they are the simulator's assumption (see tests/fakes/README.md). */
int voice_event__number(int kind);
/* Event name -> kind, or -1 (exact, case-sensitive like SignalR targets). */
int voice_event__kind(const char *name);
/* Names a client may subscribe to: the call events plus the other user
 * events seen in public client code (UserStatus, UserAvailability, ...). */
bool voice_event__subscribable(const char *name);

enum voice_event_format { VE_FMT_NAME = 0, VE_FMT_NUMBER, VE_FMT_MIXED };
int voice_event_format__parse(const char *s); /* -1 when unknown */
const char *voice_event_format__name(int fmt);

/* A MessageReceived invocation record (JSON without 0x1E). eventType is
 * `number` when it is >= 0, else `name`. */
char *voice_event__rte_message(const char *name, int number, const char *user_id,
                               const char *call_id, int64_t wall_ms);
/* Webhook body: {"EventType","UserId","CallId","Timestamp"}. */
char *voice_event__webhook_body(const char *name, const char *user_id, const char *call_id,
                                int64_t wall_ms);

/* Completion: result (JSON text, may be NULL for no result) or error. */
char *rte__completion(const char *invocation_id, const char *result_json, const char *error);
char *rte__close(const char *error, bool allow_reconnect);
#define RTE_PING_JSON    "{\"type\":6}"
#define RTE_HANDSHAKE_OK "{}"

/* Parses a handshake record. Returns 0 for {"protocol":"json","version":1};
 * otherwise -1 with a readable reason in err. */
int rte__parse_handshake(const char *json, char *err, size_t errlen);

/* A parsed hub message from the client. */
struct rte_msg {
    int type;               /* 1 invocation, 6 ping, 7 close, ...; -1 invalid */
    char invocation_id[64]; /* "" when absent */
    char target[64];
    void *arguments; /* cJSON array, owned by the msg, or NULL */
    void *root;
};
int rte__parse_msg(const char *json, struct rte_msg *out); /* 0 or -1 */
void rte_msg__free(struct rte_msg *m);

/* One Subscribe entry after validation. */
struct rte_sub {
    char entity_id[64];
    char event_name[64];
};
/* Validates the single argument of Subscribe: an array of {EntityId,
 * EventName}. known_user(ctx, id) says whether an entity exists. Returns the
 * number of entries (written to subs, up to max) or -1 with err set. */
int rte__parse_subscribe(const void *arguments, bool (*known_user)(void *ctx, const char *id),
                         void *ctx, struct rte_sub *subs, int max, char *err, size_t errlen);

#endif
