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
    VE_CALL_KINDS,
    VE_USER_STATUS = VE_CALL_KINDS, /* the user's state after every call change */
    VE_KINDS
};

#define VE_NAME_LEN 64

/* The hub's vocabulary (a setting): what each kind is called and numbered,
 * and the data members that carry the user and call ids. */
struct ve_vocab {
    char names[VE_KINDS][VE_NAME_LEN];
    int numbers[VE_KINDS];
    char user_field[32], call_field[32];
};

/* The default vocabulary: the names of the 2021 public client, the
 * simulator's numbers 11/12/14/15, UserStatus = 141 (public client code),
 * userId/callId. */
void voice_event__vocab_default(struct ve_vocab *v);
/* "calls.in_connected" style keys of the vocabulary setting:
 * in_connected, in_disconnected, out_connected, out_disconnected,
 * user_status; -1 when unknown. */
int voice_event__vocab_key(const char *key);
const char *voice_event__vocab_key_name(int kind);

/* "UserCallInConnected" ... (the default vocabulary) */
const char *voice_event__name(int kind);
/* The default vocabulary's numbers. Enreach has not published those of the
 * call events; they are the simulator's assumption (tests/fakes/README.md). */
int voice_event__number(int kind);
/* Event name -> kind in the default vocabulary, or -1 (exact). */
int voice_event__kind(const char *name);
/* Names a client may subscribe to: the vocabulary's (v NULL: the default)
 * plus the other user events seen in public client code. */
bool voice_event__subscribable(const struct ve_vocab *v, const char *name);
/* The other user events (NULL-terminated), for AvailableSubscriptions. */
const char *const *voice_event__others(void);

enum voice_event_format { VE_FMT_NAME = 0, VE_FMT_NUMBER, VE_FMT_MIXED };
int voice_event_format__parse(const char *s); /* -1 when unknown */
const char *voice_event_format__name(int fmt);

/* A MessageReceived invocation record (JSON without 0x1E). eventType is
 * `number` when it is >= 0, else `name`; the ids go in the vocabulary's
 * fields (v NULL: userId, callId). */
char *voice_event__rte_message(const struct ve_vocab *v, const char *name, int number,
                               const char *user_id, const char *call_id, int64_t wall_ms);
/* A user-status MessageReceived (the simulator's own shape: Enreach has not
 * published UserStatus's fields): data {eventType, <user field>, status
 * "Talking"|"Available", activeCalls, timestamp}. */
char *voice_event__rte_status(const struct ve_vocab *v, const char *name, int number,
                              const char *user_id, int active_calls, int64_t wall_ms);
/* Webhook body: {"Id","EventType","Timestamp","EntityType":"User","EntityId",
 * "UserId","CallId"}; without_user_id leaves UserId out (the user is then
 * named by EntityId only, as a user event may do). */
char *voice_event__webhook_body(const char *name, const char *user_id, const char *call_id,
                                int64_t wall_ms, bool without_user_id);

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
 * EventName}. known_user(ctx, id) says whether an entity exists,
 * known_event(ctx, name) whether the hub offers the event. Returns the
 * number of entries (written to subs, up to max) or -1 with err set. */
int rte__parse_subscribe(const void *arguments, bool (*known_user)(void *ctx, const char *id),
                         bool (*known_event)(void *ctx, const char *name), void *ctx,
                         struct rte_sub *subs, int max, char *err, size_t errlen);

#endif
