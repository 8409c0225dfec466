#include "voice_event.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

static const char *const kind_names[VE_CALL_KINDS] = {
    "UserCallInConnected", "UserCallInDisconnected", "UserCallOutConnected",
    "UserCallOutDisconnected"};
/* Assumed numbering, following UserCallInComing = 10 seen in public code. */
static const int kind_numbers[VE_CALL_KINDS] = {11, 12, 14, 15};

/* Other user events seen in public client code: subscribable, never sent
 * by the simulator except as noise. */
static const char *const other_user_events[] = {"UserAvailability",
                                                "UserSetting",
                                                "UserAlert",
                                                "UserQueueAlert",
                                                "UserAction",
                                                "UserCallInComing",
                                                "UserCallOutGoing",
                                                "UserCallInArrived",
                                                "UserCallInUserConnected",
                                                "UserCallInUserCancelled",
                                                "UserWrapUpStarted",
                                                "UserWrapUpTerminated",
                                                NULL};

static const char *const vocab_keys[VE_KINDS] = {"in_connected", "in_disconnected", "out_connected",
                                                 "out_disconnected", "user_status"};

void voice_event__vocab_default(struct ve_vocab *v)
{
    memset(v, 0, sizeof(*v));
    for (int k = 0; k < VE_CALL_KINDS; k++) {
        snprintf(v->names[k], sizeof(v->names[k]), "%s", kind_names[k]);
        v->numbers[k] = kind_numbers[k];
    }
    snprintf(v->names[VE_USER_STATUS], sizeof(v->names[0]), "UserStatus");
    v->numbers[VE_USER_STATUS] = 141;
    snprintf(v->user_field, sizeof(v->user_field), "userId");
    snprintf(v->call_field, sizeof(v->call_field), "callId");
}

int voice_event__vocab_key(const char *key)
{
    for (int k = 0; key && k < VE_KINDS; k++)
        if (!strcmp(key, vocab_keys[k]))
            return k;
    return -1;
}

const char *voice_event__vocab_key_name(int kind)
{
    return kind >= 0 && kind < VE_KINDS ? vocab_keys[kind] : "?";
}

const char *const *voice_event__others(void)
{
    return other_user_events;
}

const char *voice_event__name(int kind)
{
    return kind >= 0 && kind < VE_CALL_KINDS ? kind_names[kind] : NULL;
}

int voice_event__number(int kind)
{
    return kind >= 0 && kind < VE_CALL_KINDS ? kind_numbers[kind] : -1;
}

int voice_event__kind(const char *name)
{
    for (int i = 0; name && i < VE_CALL_KINDS; i++)
        if (!strcmp(name, kind_names[i]))
            return i;
    return -1;
}

bool voice_event__subscribable(const struct ve_vocab *v, const char *name)
{
    struct ve_vocab d;
    if (!v) {
        voice_event__vocab_default(&d);
        v = &d;
    }
    for (int k = 0; name && k < VE_KINDS; k++)
        if (!strcmp(name, v->names[k]))
            return true;
    for (int i = 0; name && other_user_events[i]; i++)
        if (!strcmp(name, other_user_events[i]))
            return true;
    return false;
}

static const char *const fmt_names[] = {"name", "number", "mixed"};

int voice_event_format__parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, fmt_names[i]))
            return i;
    return -1;
}

const char *voice_event_format__name(int fmt)
{
    return fmt >= 0 && fmt < 3 ? fmt_names[fmt] : "?";
}

static char *print_free(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* {"type":1,"target":"MessageReceived","arguments":[{"data":{eventType}}]};
 * *data gets the data object. */
static cJSON *voice_event__message(const char *name, int number, cJSON **data)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "type", 1);
    cJSON_AddStringToObject(root, "target", "MessageReceived");
    cJSON *args = cJSON_AddArrayToObject(root, "arguments");
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddItemToArray(args, msg);
    *data = cJSON_AddObjectToObject(msg, "data");
    if (number >= 0)
        cJSON_AddNumberToObject(*data, "eventType", number);
    else
        cJSON_AddStringToObject(*data, "eventType", name);
    return root;
}

char *voice_event__rte_message(const struct ve_vocab *v, const char *name, int number,
                               const char *user_id, const char *call_id, int64_t wall_ms)
{
    char ts[40];
    cJSON *data;
    clock__iso8601_graph(wall_ms, ts, sizeof(ts));
    cJSON *root = voice_event__message(name, number, &data);
    cJSON_AddStringToObject(data, v ? v->user_field : "userId", user_id);
    cJSON_AddStringToObject(data, v ? v->call_field : "callId", call_id);
    cJSON_AddStringToObject(data, "timestamp", ts);
    return print_free(root);
}

char *voice_event__rte_status(const struct ve_vocab *v, const char *name, int number,
                              const char *user_id, int active_calls, int64_t wall_ms)
{
    char ts[40];
    cJSON *data;
    clock__iso8601_graph(wall_ms, ts, sizeof(ts));
    cJSON *root = voice_event__message(name, number, &data);
    cJSON_AddStringToObject(data, v ? v->user_field : "userId", user_id);
    cJSON_AddStringToObject(data, "status", active_calls > 0 ? "Talking" : "Available");
    cJSON_AddNumberToObject(data, "activeCalls", active_calls);
    cJSON_AddStringToObject(data, "timestamp", ts);
    return print_free(root);
}

char *voice_event__webhook_body(const char *name, const char *user_id, const char *call_id,
                                int64_t wall_ms, bool without_user_id)
{
    static unsigned seq; /* the simulator's loop thread only */
    char ts[40], id[48];
    clock__iso8601_graph(wall_ms, ts, sizeof(ts));
    snprintf(id, sizeof(id), "%016llx-%08x", (unsigned long long)wall_ms, ++seq);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "Id", id);
    cJSON_AddStringToObject(root, "EventType", name);
    cJSON_AddStringToObject(root, "Timestamp", ts);
    cJSON_AddStringToObject(root, "EntityType", "User");
    cJSON_AddStringToObject(root, "EntityId", user_id);
    if (!without_user_id)
        cJSON_AddStringToObject(root, "UserId", user_id);
    cJSON_AddStringToObject(root, "CallId", call_id);
    return print_free(root);
}

char *rte__completion(const char *invocation_id, const char *result_json, const char *error)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "type", 3);
    cJSON_AddStringToObject(root, "invocationId", invocation_id);
    if (error) {
        cJSON_AddStringToObject(root, "error", error);
    }
    else if (result_json) {
        cJSON *r = cJSON_Parse(result_json);
        if (r)
            cJSON_AddItemToObject(root, "result", r);
    }
    return print_free(root);
}

char *rte__close(const char *error, bool allow_reconnect)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "type", 7);
    if (error)
        cJSON_AddStringToObject(root, "error", error);
    cJSON_AddBoolToObject(root, "allowReconnect", allow_reconnect);
    return print_free(root);
}

int rte__parse_handshake(const char *json, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    int rc = -1;
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "handshake is not a JSON object");
        goto out;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "protocol");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsString(p)) {
        snprintf(err, errlen, "handshake has no protocol");
        goto out;
    }
    if (strcmp(p->valuestring, "json") != 0) {
        snprintf(err, errlen, "The protocol '%.40s' is not supported.", p->valuestring);
        goto out;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        snprintf(err, errlen, "The server does not support version %s of the 'json' protocol.",
                 cJSON_IsNumber(v) ? "requested" : "(missing)");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static void copy_str(char *dst, size_t len, const cJSON *s)
{
    dst[0] = '\0';
    if (cJSON_IsString(s) && strlen(s->valuestring) < len)
        strcpy(dst, s->valuestring);
}

int rte__parse_msg(const char *json, struct rte_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->type = -1;
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsNumber(t)) {
        cJSON_Delete(root);
        return -1;
    }
    out->root = root;
    out->type = t->valueint;
    copy_str(out->invocation_id, sizeof(out->invocation_id),
             cJSON_GetObjectItemCaseSensitive(root, "invocationId"));
    copy_str(out->target, sizeof(out->target), cJSON_GetObjectItemCaseSensitive(root, "target"));
    cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "arguments");
    out->arguments = cJSON_IsArray(args) ? args : NULL;
    return 0;
}

void rte_msg__free(struct rte_msg *m)
{
    cJSON_Delete(m->root);
    m->root = NULL;
    m->arguments = NULL;
}

int rte__parse_subscribe(const void *arguments, bool (*known_user)(void *ctx, const char *id),
                         bool (*known_event)(void *ctx, const char *name), void *ctx,
                         struct rte_sub *subs, int max, char *err, size_t errlen)
{
    const cJSON *args = arguments;
    if (!cJSON_IsArray(args) || cJSON_GetArraySize(args) != 1) {
        snprintf(err, errlen, "Subscribe takes exactly one argument");
        return -1;
    }
    const cJSON *list = cJSON_GetArrayItem(args, 0);
    if (!cJSON_IsArray(list)) {
        snprintf(err, errlen, "Subscribe argument must be an array");
        return -1;
    }
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "EntityId");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "EventName");
        if (!cJSON_IsString(e) || !cJSON_IsString(name)) {
            snprintf(err, errlen, "entry %d needs string EntityId and EventName", n);
            return -1;
        }
        if (!(known_event ? known_event(ctx, name->valuestring)
                          : voice_event__subscribable(NULL, name->valuestring))) {
            snprintf(err, errlen, "unknown event name '%.60s'", name->valuestring);
            return -1;
        }
        if (strlen(e->valuestring) >= sizeof(subs[0].entity_id) ||
            !known_user(ctx, e->valuestring)) {
            snprintf(err, errlen, "unknown entity '%.60s'", e->valuestring);
            return -1;
        }
        if (n >= max) {
            snprintf(err, errlen, "too many subscriptions (max %d)", max);
            return -1;
        }
        snprintf(subs[n].entity_id, sizeof(subs[n].entity_id), "%s", e->valuestring);
        snprintf(subs[n].event_name, sizeof(subs[n].event_name), "%s", name->valuestring);
        n++;
    }
    return n;
}
