/* Voice call events: RTE and webhook payloads into one struct. */
#include "voice/events.h"
#include "voice/vjson.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"

struct events_known {
    const char *name;
    int64_t number; /* assumed, see events.h */
    enum voice_call_kind kind;
    bool outbound;
};

static const struct events_known events_known[] = {
    {"UserCallInConnected", 11, VOICE_CALL_CONNECTED, false},
    {"UserCallInDisconnected", 12, VOICE_CALL_DISCONNECTED, false},
    {"UserCallOutConnected", 14, VOICE_CALL_CONNECTED, true},
    {"UserCallOutDisconnected", 15, VOICE_CALL_DISCONNECTED, true},
};
#define EVENTS_N_KNOWN (sizeof(events_known) / sizeof(events_known[0]))

static void events__err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void events__err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

enum voice_call_kind events__kind_by_name(const char *name, bool *outbound)
{
    for (size_t i = 0; name && i < EVENTS_N_KNOWN; i++) {
        if (strcasecmp(name, events_known[i].name) == 0) {
            if (outbound)
                *outbound = events_known[i].outbound;
            return events_known[i].kind;
        }
    }
    return VOICE_CALL_OTHER;
}

enum voice_call_kind events__kind_by_number(int64_t number, bool *outbound)
{
    for (size_t i = 0; i < EVENTS_N_KNOWN; i++) {
        if (number == events_known[i].number) {
            if (outbound)
                *outbound = events_known[i].outbound;
            return events_known[i].kind;
        }
    }
    return VOICE_CALL_OTHER;
}

const char *events__kind_name(enum voice_call_kind kind)
{
    switch (kind) {
    case VOICE_CALL_CONNECTED:
        return "connected";
    case VOICE_CALL_DISCONNECTED:
        return "disconnected";
    default:
        return "other";
    }
}

/* True when s is a non-empty run of decimal digits (a number sent as text). */
static bool events__all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int events__set_type(const cJSON *t, struct voice_call_event *ev, char *err, size_t errlen)
{
    if (cJSON_IsString(t) && t->valuestring[0]) {
        snprintf(ev->name, sizeof(ev->name), "%s", t->valuestring);
        if (events__all_digits(t->valuestring) && strlen(t->valuestring) < 10)
            ev->kind = events__kind_by_number(strtoll(t->valuestring, NULL, 10), &ev->outbound);
        else
            ev->kind = events__kind_by_name(t->valuestring, &ev->outbound);
        return 0;
    }
    if (cJSON_IsNumber(t)) {
        /* a number that is no known integer is just another unknown type */
        double d = t->valuedouble;
        bool integral = d == floor(d) && fabs(d) < 1e9;
        snprintf(ev->name, sizeof(ev->name), "#%.15g", d);
        ev->kind = integral ? events__kind_by_number((int64_t)d, &ev->outbound) : VOICE_CALL_OTHER;
        return 0;
    }
    events__err(err, errlen, "event has no eventType");
    return -1;
}

/* Copies a lower-cased id. Returns 0, or -1 when it is not a non-empty
 * string that fits, or holds control characters. */
static int events__copy_id(const cJSON *it, char *dst)
{
    dst[0] = '\0';
    if (!cJSON_IsString(it))
        return -1;
    size_t n = strlen(it->valuestring);
    if (n == 0 || n >= VOICE_ID_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)it->valuestring[i];
        if (c < 0x20 || c == 0x7F)
            return -1;
        dst[i] = (char)tolower(c);
    }
    dst[n] = '\0';
    return 0;
}

/* ISO 8601 (with or without a zone: Enreach's times are UTC even without a
 * trailing Z) or a number (ms when large, else seconds). 0 when unreadable:
 * the caller then uses its own clock. */
static int64_t events__timestamp(const cJSON *it)
{
    int64_t ms = 0;
    if (cJSON_IsNumber(it) && it->valuedouble > 0 && it->valuedouble < 1e15)
        return it->valuedouble > 1e11 ? (int64_t)it->valuedouble
                                      : (int64_t)(it->valuedouble * 1000.0);
    if (!cJSON_IsString(it) || strlen(it->valuestring) > 64)
        return 0;
    if (clock__parse_iso8601(it->valuestring, &ms) == 0)
        return ms;
    char zoned[70];
    snprintf(zoned, sizeof(zoned), "%sZ", it->valuestring);
    return clock__parse_iso8601(zoned, &ms) == 0 ? ms : 0;
}

/* Shared by both shapes: the member names differ only in case. */
static int events__fill(const cJSON *obj, const char *k_type, const char *k_user,
                        const char *k_call, const char *k_time, struct voice_call_event *ev,
                        char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    if (events__set_type(cJSON_GetObjectItemCaseSensitive(obj, k_type), ev, err, errlen) < 0)
        return -1;
    int user_rc = events__copy_id(cJSON_GetObjectItemCaseSensitive(obj, k_user), ev->user_id);
    int call_rc = events__copy_id(cJSON_GetObjectItemCaseSensitive(obj, k_call), ev->call_id);
    ev->timestamp_ms = events__timestamp(cJSON_GetObjectItemCaseSensitive(obj, k_time));
    if (ev->kind == VOICE_CALL_OTHER)
        return 0; /* ids do not matter for ignored events */
    if (user_rc < 0) {
        events__err(err, errlen, "%s event without a usable %s", ev->name, k_user);
        return -1;
    }
    if (call_rc < 0) {
        events__err(err, errlen, "%s event without a usable %s", ev->name, k_call);
        return -1;
    }
    return 0;
}

int events__parse_rte(const cJSON *argument, struct voice_call_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    if (!cJSON_IsObject(argument)) {
        events__err(err, errlen, "MessageReceived argument is not an object");
        return -1;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(argument, "data");
    if (!cJSON_IsObject(data)) {
        events__err(err, errlen, "MessageReceived argument has no data object");
        return -1;
    }
    return events__fill(data, "eventType", "userId", "callId", "timestamp", ev, err, errlen);
}

int events__parse_webhook(const char *body, size_t len, struct voice_call_event *ev, char *err,
                          size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    cJSON *root = vjson__parse(body, len);
    int rc;
    if (!cJSON_IsObject(root)) {
        events__err(err, errlen, "webhook body is not a JSON object");
        rc = -1;
    }
    else {
        rc = events__fill(root, "EventType", "UserId", "CallId", "Timestamp", ev, err, errlen);
    }
    cJSON_Delete(root);
    return rc;
}
