/* Voice events from either source, in one shape, read through a
 * configurable event model (docs/voice.md "Event model").
 *
 * Design: RTE delivers `MessageReceived` invocations whose argument is
 * {"data": {...}}; webhooks POST a flat object. Both become a struct
 * voice_call_event so the call tracker does not care where an event came
 * from. No public source names the call events, their numbers or their
 * id fields for sure, so all of it is data (struct events_model), filled
 * from `voice.events` in the config; events__model_default() is the model
 * the project started with (four call events numbered 11, 12, 14, 15 by
 * the simulator, plus UserStatus = 141 seen in public client code).
 * - eventType may be a name or a number; a name is compared
 *   case-insensitively, a number by value.
 * - Ids are read from a list of field paths, first usable wins (default
 *   userId, then entityId); member names are looked up case-insensitively
 *   at every level, so `UserId`/`userId`/`EntityId` all match. An
 *   `entityId` path is skipped when the object says its entity is not a
 *   user (entityType other than "User").
 * - A user-status event carries the user's state; the status rule (field,
 *   talking values, free values) turns it into TALKING / FREE, or UNKNOWN
 *   when no rule is configured or the value is not listed.
 * Ids are lower-cased so lookups are case-insensitive.
 */
#ifndef PS_VOICE_EVENTS_H
#define PS_VOICE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define VOICE_ID_MAX    128 /* bytes of a user or call id, with NUL */
#define EVENTS_NAME_MAX 64

enum voice_call_kind {
    VOICE_CALL_OTHER = 0, /* any other event: ignore */
    VOICE_CALL_CONNECTED,
    VOICE_CALL_DISCONNECTED,
    VOICE_USER_STATUS,
};

enum voice_status {
    VOICE_STATUS_UNKNOWN = 0, /* no rule, or a value the rule does not list */
    VOICE_STATUS_TALKING,
    VOICE_STATUS_FREE,
};

struct voice_call_event {
    enum voice_call_kind kind;
    char user_id[VOICE_ID_MAX]; /* lower-cased; "" when absent (OTHER) */
    char call_id[VOICE_ID_MAX]; /* lower-cased; "" when absent (OTHER, status) */
    int64_t timestamp_ms;       /* wall ms from the event, 0 when absent/unreadable */
    char name[48];              /* event name as received (or "#<number>") */
    enum voice_status status;   /* VOICE_USER_STATUS only */
    char status_value[48];      /* the status field's value as text, "" when absent */
};

struct events_model;

/* The default model (see above); NULL on out of memory. */
struct events_model *events__model_default(void);
/* An empty model: no events, no id fields. */
struct events_model *events__model_new(void);
void events__model_free(struct events_model *m);
/* Adds an event name (and number, < 0: none) with its meaning (CONNECTED,
 * DISCONNECTED or USER_STATUS). Returns 0, or -1 for a bad kind, an empty
 * or too long name, or out of memory. */
int events__model_add(struct events_model *m, enum voice_call_kind kind, const char *name,
                      int64_t number);
/* Field paths ("userId", "data.user.id") tried in order; replace the
 * current lists. Return 0 or -1. */
int events__model_user_fields(struct events_model *m, const char *const *paths, size_t n);
int events__model_call_fields(struct events_model *m, const char *const *paths, size_t n);
/* The status rule: field path and the values (compared case-insensitively
 * as text; numbers are written as integers) meaning talking and free. */
int events__model_status_rule(struct events_model *m, const char *field, const char *const *talking,
                              size_t n_talking, const char *const *free_values, size_t n_free);
bool events__model_has_status_rule(const struct events_model *m);

/* The model's event names, in order of addition. */
size_t events__model_count(const struct events_model *m);
const char *events__model_name(const struct events_model *m, size_t i);
enum voice_call_kind events__model_kind(const struct events_model *m, size_t i);

/* The model of a tenant's voice.events (core/config.h, defaults already
 * applied); NULL on out of memory or a bad entry. */
struct voice_events_config;
struct events_model *events__model_from_config(const struct voice_events_config *e);

/* Event name or number -> kind (m NULL: the default model). Unknown ->
 * VOICE_CALL_OTHER. */
enum voice_call_kind events__kind_by_name(const struct events_model *m, const char *name);
enum voice_call_kind events__kind_by_number(const struct events_model *m, int64_t number);
/* "connected", "disconnected", "user_status", "other". */
const char *events__kind_name(enum voice_call_kind kind);

/* A case-insensitive member lookup along a dotted path; NULL when absent. */
const cJSON *events__lookup(const cJSON *obj, const char *path);

/* Parses the one argument of a MessageReceived invocation (m NULL: the
 * default model). Returns 0 (the kind may be OTHER), or -1 with a reason in
 * err: not an object, no data object, no eventType, a call event without a
 * usable user/call id, a status event without a user id. */
int events__parse_rte(const struct events_model *m, const cJSON *argument,
                      struct voice_call_event *ev, char *err, size_t errlen);
/* Parses a webhook body (same return convention). */
int events__parse_webhook(const struct events_model *m, const char *body, size_t len,
                          struct voice_call_event *ev, char *err, size_t errlen);

/* The hub's answer to AvailableSubscriptions (a Completion result or the
 * argument of the callback of that name): the event names it offers.
 * Accepted: an array of names; an array of objects naming the event in
 * EventName, Name or Event (any case); an object holding such an array.
 * Returns 0 with *names (malloc'd array of malloc'd strings) and *n, or -1
 * with a reason when no name can be found. */
int events__parse_available(const cJSON *answer, char ***names, size_t *n, char *err,
                            size_t errlen);
void events__names_free(char **names, size_t n);

#endif
