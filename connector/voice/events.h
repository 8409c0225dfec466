/* Voice call events from either source, in one shape (CONTRACT §7).
 *
 * Design: RTE delivers `MessageReceived` invocations whose argument is
 * {"data":{"eventType","userId","callId","timestamp"}} (camelCase); webhooks
 * POST {"EventType","UserId","CallId","Timestamp"} (PascalCase). Both become
 * a struct voice_call_event so the call tracker does not care where an event
 * came from. Only the four call events matter; every other event type
 * (named or numbered) parses as VOICE_CALL_OTHER and is ignored by callers.
 * eventType may be a string or a number: Enreach says the numbers are going
 * away, and has not published the numbers of the call events; the numbers
 * used here are the bundled simulator's assumption (11, 12, 14, 15). Ids are
 * lower-cased so lookups are case-insensitive.
 */
#ifndef PS_VOICE_EVENTS_H
#define PS_VOICE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define VOICE_ID_MAX 128 /* bytes of a user or call id, with NUL */

enum voice_call_kind {
    VOICE_CALL_OTHER = 0, /* any other event: ignore */
    VOICE_CALL_CONNECTED,
    VOICE_CALL_DISCONNECTED,
};

struct voice_call_event {
    enum voice_call_kind kind;
    bool outbound;              /* UserCallOut*; only meaningful for calls */
    char user_id[VOICE_ID_MAX]; /* lower-cased; "" for OTHER when absent */
    char call_id[VOICE_ID_MAX]; /* lower-cased; "" for OTHER when absent */
    int64_t timestamp_ms;       /* wall ms from the event, 0 when absent/unreadable */
    char name[48];              /* event name as received (or "#<number>") */
};

/* Event name or number -> kind (and *outbound). Names are compared
 * case-insensitively. Unknown -> VOICE_CALL_OTHER. */
enum voice_call_kind events__kind_by_name(const char *name, bool *outbound);
enum voice_call_kind events__kind_by_number(int64_t number, bool *outbound);
/* "connected", "disconnected", "other". */
const char *events__kind_name(enum voice_call_kind kind);

/* Parses the one argument of a MessageReceived invocation. Returns 0 (the
 * kind may be OTHER), or -1 with a reason in err: not an object, no data
 * object, no eventType, or a call event without a usable userId/callId. */
int events__parse_rte(const cJSON *argument, struct voice_call_event *ev, char *err, size_t errlen);
/* Parses a webhook body (same return convention). */
int events__parse_webhook(const char *body, size_t len, struct voice_call_event *ev, char *err,
                          size_t errlen);

#endif
