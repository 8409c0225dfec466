/* Voice events: the event model, and RTE and webhook payloads into one
 * struct (see events.h). */
#include "voice/events.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/str.h"

#define EVENTS_MAX_ENTRIES 256
#define EVENTS_MAX_FIELDS  16
#define EVENTS_PATH_MAX    128

struct events_entry {
    char name[EVENTS_NAME_MAX];
    int64_t number; /* < 0: none */
    enum voice_call_kind kind;
};

struct events_model {
    struct events_entry *entries;
    size_t n;
    char **user_fields, **call_fields;
    size_t n_user, n_call;
    char *status_field;
    char **talking, **free_values;
    size_t n_talking, n_free;
};

/* ---- the model ------------------------------------------------------------ */

void events__names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static int events__copy_list(char ***dst, size_t *n_dst, const char *const *src, size_t n,
                             size_t max_len)
{
    if (n > EVENTS_MAX_FIELDS)
        return -1;
    char **v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!src[i] || !src[i][0] || strlen(src[i]) >= max_len || !(v[i] = strdup(src[i]))) {
            events__names_free(v, i);
            return -1;
        }
    }
    events__names_free(*dst, *n_dst);
    *dst = v;
    *n_dst = n;
    return 0;
}

struct events_model *events__model_new(void)
{
    return calloc(1, sizeof(struct events_model));
}

void events__model_free(struct events_model *m)
{
    if (!m)
        return;
    free(m->entries);
    events__names_free(m->user_fields, m->n_user);
    events__names_free(m->call_fields, m->n_call);
    events__names_free(m->talking, m->n_talking);
    events__names_free(m->free_values, m->n_free);
    free(m->status_field);
    free(m);
}

int events__model_add(struct events_model *m, enum voice_call_kind kind, const char *name,
                      int64_t number)
{
    if (!m || kind == VOICE_CALL_OTHER || kind > VOICE_USER_STATUS || !name || !name[0] ||
        strlen(name) >= EVENTS_NAME_MAX || m->n >= EVENTS_MAX_ENTRIES)
        return -1;
    struct events_entry *e = realloc(m->entries, (m->n + 1) * sizeof(*e));
    if (!e)
        return -1;
    m->entries = e;
    e = &m->entries[m->n++];
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->number = number;
    e->kind = kind;
    return 0;
}

int events__model_user_fields(struct events_model *m, const char *const *paths, size_t n)
{
    return events__copy_list(&m->user_fields, &m->n_user, paths, n, EVENTS_PATH_MAX);
}

int events__model_call_fields(struct events_model *m, const char *const *paths, size_t n)
{
    return events__copy_list(&m->call_fields, &m->n_call, paths, n, EVENTS_PATH_MAX);
}

int events__model_status_rule(struct events_model *m, const char *field, const char *const *talking,
                              size_t n_talking, const char *const *free_values, size_t n_free)
{
    char *f = field && field[0] && strlen(field) < EVENTS_PATH_MAX ? strdup(field) : NULL;
    if (!f || events__copy_list(&m->talking, &m->n_talking, talking, n_talking, 48) != 0 ||
        events__copy_list(&m->free_values, &m->n_free, free_values, n_free, 48) != 0) {
        free(f);
        return -1;
    }
    free(m->status_field);
    m->status_field = f;
    return 0;
}

bool events__model_has_status_rule(const struct events_model *m)
{
    return m && m->status_field && (m->n_talking || m->n_free);
}

size_t events__model_count(const struct events_model *m)
{
    return m ? m->n : 0;
}

const char *events__model_name(const struct events_model *m, size_t i)
{
    return m && i < m->n ? m->entries[i].name : NULL;
}

enum voice_call_kind events__model_kind(const struct events_model *m, size_t i)
{
    return m && i < m->n ? m->entries[i].kind : VOICE_CALL_OTHER;
}

struct events_model *events__model_default(void)
{
    static const struct {
        const char *name;
        int64_t number;
        enum voice_call_kind kind;
    } defs[] = {
        /* names: public client code (2021); numbers 11..15: the simulator's */
        {"UserCallInConnected", 11, VOICE_CALL_CONNECTED},
        {"UserCallInDisconnected", 12, VOICE_CALL_DISCONNECTED},
        {"UserCallOutConnected", 14, VOICE_CALL_CONNECTED},
        {"UserCallOutDisconnected", 15, VOICE_CALL_DISCONNECTED},
        /* UserStatus = 141: public client code */
        {"UserStatus", 141, VOICE_USER_STATUS},
    };
    static const char *const user_fields[] = {"userId", "entityId"};
    static const char *const call_fields[] = {"callId"};
    struct events_model *m = events__model_new();
    bool ok = m != NULL;
    for (size_t i = 0; ok && i < sizeof(defs) / sizeof(defs[0]); i++)
        ok = events__model_add(m, defs[i].kind, defs[i].name, defs[i].number) == 0;
    if (!ok || events__model_user_fields(m, user_fields, 2) != 0 ||
        events__model_call_fields(m, call_fields, 1) != 0) {
        events__model_free(m);
        return NULL;
    }
    return m;
}

/* The default model, built once (the parsers take NULL for it; the webhook
 * thread may be the first). */
static struct events_model *events_dflt;
static pthread_once_t events_dflt_once = PTHREAD_ONCE_INIT;

static void events__build_default(void)
{
    events_dflt = events__model_default();
}

static const struct events_model *events__fallback(const struct events_model *m)
{
    if (m)
        return m;
    pthread_once(&events_dflt_once, events__build_default);
    return events_dflt;
}

enum voice_call_kind events__kind_by_name(const struct events_model *m, const char *name)
{
    m = events__fallback(m);
    for (size_t i = 0; m && name && i < m->n; i++)
        if (strcasecmp(name, m->entries[i].name) == 0)
            return m->entries[i].kind;
    return VOICE_CALL_OTHER;
}

enum voice_call_kind events__kind_by_number(const struct events_model *m, int64_t number)
{
    m = events__fallback(m);
    for (size_t i = 0; m && number >= 0 && i < m->n; i++)
        if (m->entries[i].number == number)
            return m->entries[i].kind;
    return VOICE_CALL_OTHER;
}

const char *events__kind_name(enum voice_call_kind kind)
{
    switch (kind) {
    case VOICE_CALL_CONNECTED:
        return "connected";
    case VOICE_CALL_DISCONNECTED:
        return "disconnected";
    case VOICE_USER_STATUS:
        return "user_status";
    default:
        return "other";
    }
}

/* ---- payloads --------------------------------------------------------------- */

const cJSON *events__lookup(const cJSON *obj, const char *path)
{
    char seg[EVENTS_PATH_MAX];
    if (!path || strlen(path) >= sizeof(seg))
        return NULL;
    while (cJSON_IsObject(obj)) {
        size_t n = strcspn(path, ".");
        memcpy(seg, path, n);
        seg[n] = '\0';
        obj = cJSON_GetObjectItem(obj, seg); /* case-insensitive */
        if (!path[n])
            return obj;
        path += n + 1;
    }
    return NULL;
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

static int events__set_type(const struct events_model *m, const cJSON *t,
                            struct voice_call_event *ev, char *err, size_t errlen)
{
    if (cJSON_IsString(t) && t->valuestring[0]) {
        snprintf(ev->name, sizeof(ev->name), "%s", t->valuestring);
        if (events__all_digits(t->valuestring) && strlen(t->valuestring) < 10)
            ev->kind = events__kind_by_number(m, strtoll(t->valuestring, NULL, 10));
        else
            ev->kind = events__kind_by_name(m, t->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(t)) {
        /* a number that is no known integer is just another unknown type */
        double d = t->valuedouble;
        bool integral = d == floor(d) && fabs(d) < 1e9;
        snprintf(ev->name, sizeof(ev->name), "#%.15g", d);
        ev->kind = integral ? events__kind_by_number(m, (int64_t)d) : VOICE_CALL_OTHER;
        return 0;
    }
    str__printf(err, errlen, "event has no eventType");
    return -1;
}

/* Copies a lower-cased id from a string (or an integer). Returns 0, or -1
 * when it is not a non-empty value that fits, or holds control characters. */
static int events__copy_id(const cJSON *it, char *dst)
{
    char num[32];
    const char *s = NULL;
    dst[0] = '\0';
    if (cJSON_IsString(it))
        s = it->valuestring;
    else if (cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) &&
             fabs(it->valuedouble) < 1e15) {
        snprintf(num, sizeof(num), "%.0f", it->valuedouble);
        s = num;
    }
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= VOICE_ID_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            return -1;
        dst[i] = (char)tolower(c);
    }
    dst[n] = '\0';
    return 0;
}

/* An entityId names a user only when the object does not say otherwise. */
static bool events__entity_is_user(const cJSON *obj, const char *path)
{
    const char *last = strrchr(path, '.');
    last = last ? last + 1 : path;
    if (strcasecmp(last, "entityId") != 0)
        return true;
    const cJSON *type = cJSON_GetObjectItem(obj, "entityType");
    return !cJSON_IsString(type) || strcasecmp(type->valuestring, "User") == 0;
}

/* The first usable id along paths; -1 when none. */
static int events__first_id(const cJSON *obj, char *const *paths, size_t n, char *dst)
{
    for (size_t i = 0; i < n; i++) {
        if (!events__entity_is_user(obj, paths[i]))
            continue;
        if (events__copy_id(events__lookup(obj, paths[i]), dst) == 0)
            return 0;
    }
    dst[0] = '\0';
    return -1;
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

static bool events__listed(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], s) == 0)
            return true;
    return false;
}

/* The status field's value as text, and what the rule makes of it. */
static void events__status(const struct events_model *m, const cJSON *obj,
                           struct voice_call_event *ev)
{
    const cJSON *v = m->status_field ? events__lookup(obj, m->status_field) : NULL;
    if (cJSON_IsString(v))
        snprintf(ev->status_value, sizeof(ev->status_value), "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(ev->status_value, sizeof(ev->status_value), "%.15g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(ev->status_value, sizeof(ev->status_value), "%s",
                 cJSON_IsTrue(v) ? "true" : "false");
    if (!ev->status_value[0])
        ev->status = VOICE_STATUS_UNKNOWN;
    else if (events__listed(m->talking, m->n_talking, ev->status_value))
        ev->status = VOICE_STATUS_TALKING;
    else if (events__listed(m->free_values, m->n_free, ev->status_value))
        ev->status = VOICE_STATUS_FREE;
}

/* Shared by both shapes: the event object, its eventType member. */
static int events__fill(const struct events_model *m, const cJSON *obj, const char *k_type,
                        struct voice_call_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    m = events__fallback(m);
    if (!m) {
        str__printf(err, errlen, "out of memory");
        return -1;
    }
    if (events__set_type(m, cJSON_GetObjectItem(obj, k_type), ev, err, errlen) < 0)
        return -1;
    int user_rc = events__first_id(obj, m->user_fields, m->n_user, ev->user_id);
    int call_rc = events__first_id(obj, m->call_fields, m->n_call, ev->call_id);
    ev->timestamp_ms = events__timestamp(cJSON_GetObjectItem(obj, "timestamp"));
    if (ev->kind == VOICE_CALL_OTHER)
        return 0; /* ids do not matter for ignored events */
    if (user_rc < 0) {
        str__printf(err, errlen, "%s event without a usable user id (tried %s%s)", ev->name,
                    m->n_user ? m->user_fields[0] : "no field",
                    m->n_user > 1 ? " and fallbacks" : "");
        return -1;
    }
    if (ev->kind == VOICE_USER_STATUS) {
        events__status(m, obj, ev);
        return 0;
    }
    if (call_rc < 0) {
        str__printf(err, errlen, "%s event without a usable call id (tried %s)", ev->name,
                    m->n_call ? m->call_fields[0] : "no field");
        return -1;
    }
    return 0;
}

int events__parse_rte(const struct events_model *m, const cJSON *argument,
                      struct voice_call_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    if (!cJSON_IsObject(argument)) {
        str__printf(err, errlen, "MessageReceived argument is not an object");
        return -1;
    }
    const cJSON *data = cJSON_GetObjectItem(argument, "data");
    if (!cJSON_IsObject(data)) {
        str__printf(err, errlen, "MessageReceived argument has no data object");
        return -1;
    }
    return events__fill(m, data, "eventType", ev, err, errlen);
}

int events__parse_webhook(const struct events_model *m, const char *body, size_t len,
                          struct voice_call_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    cJSON *root = json__parse(body, len);
    int rc;
    if (!cJSON_IsObject(root)) {
        str__printf(err, errlen, "webhook body is not a JSON object");
        rc = -1;
    }
    else {
        rc = events__fill(m, root, "EventType", ev, err, errlen);
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- AvailableSubscriptions --------------------------------------------------- */

/* The event name an entry of the list stands for, or NULL. */
static const char *events__entry_name(const cJSON *e)
{
    static const char *const keys[] = {"EventName", "Name", "Event"};
    if (cJSON_IsString(e))
        return e->valuestring;
    for (size_t i = 0; cJSON_IsObject(e) && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *v = cJSON_GetObjectItem(e, keys[i]);
        if (cJSON_IsString(v))
            return v->valuestring;
    }
    return NULL;
}

/* The array holding the names: the answer itself, or the first array
 * member of an object that holds one. */
static const cJSON *events__names_array(const cJSON *answer)
{
    if (cJSON_IsArray(answer))
        return answer;
    if (!cJSON_IsObject(answer))
        return NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, answer)
    {
        if (cJSON_IsArray(it))
            return it;
    }
    return NULL;
}

int events__parse_available(const cJSON *answer, char ***names, size_t *n, char *err, size_t errlen)
{
    *names = NULL;
    *n = 0;
    const cJSON *arr = events__names_array(answer);
    int size = arr ? cJSON_GetArraySize(arr) : 0;
    if (!arr) {
        str__printf(err, errlen, "AvailableSubscriptions answer holds no list");
        return -1;
    }
    char **v = calloc(size > 0 ? (size_t)size : 1, sizeof(*v));
    if (!v) {
        str__printf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *s = events__entry_name(e);
        if (!s || !s[0] || strlen(s) >= EVENTS_NAME_MAX)
            continue;
        if (!(v[k] = strdup(s))) {
            events__names_free(v, k);
            str__printf(err, errlen, "out of memory");
            return -1;
        }
        k++;
    }
    if (k == 0) {
        free(v);
        str__printf(err, errlen, "AvailableSubscriptions answer lists no event name");
        return -1;
    }
    *names = v;
    *n = k;
    return 0;
}

static int events__model_list(struct events_model *m, enum voice_call_kind kind,
                              const struct voice_event_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (events__model_add(m, kind, l->items[i].name, l->items[i].number) != 0)
            return -1;
    return 0;
}

struct events_model *events__model_from_config(const struct voice_events_config *e)
{
    struct events_model *m = events__model_new();
    if (!m || events__model_list(m, VOICE_CALL_CONNECTED, &e->connected) != 0 ||
        events__model_list(m, VOICE_CALL_DISCONNECTED, &e->disconnected) != 0 ||
        events__model_list(m, VOICE_USER_STATUS, &e->user_status) != 0 ||
        events__model_user_fields(m, (const char *const *)e->user_id_fields, e->n_user_id_fields) !=
            0 ||
        events__model_call_fields(m, (const char *const *)e->call_id_fields, e->n_call_id_fields) !=
            0 ||
        (e->status_field &&
         events__model_status_rule(m, e->status_field, (const char *const *)e->status_talking,
                                   e->n_status_talking, (const char *const *)e->status_free,
                                   e->n_status_free) != 0)) {
        events__model_free(m);
        return NULL;
    }
    return m;
}
