/* Teams presence evaluation and the teams/<id>/busy payload. */
#include "graph/presence.h"

#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"

const char *const presence__default_busy[] = {"InACall", "InAConferenceCall", "Presenting"};
const size_t presence__default_busy_count =
    sizeof(presence__default_busy) / sizeof(presence__default_busy[0]);

bool presence__is_busy(const char *activity, const char *const *busy, size_t n_busy)
{
    if (!activity || !activity[0])
        return false;
    if (!busy) {
        busy = presence__default_busy;
        n_busy = presence__default_busy_count;
    }
    for (size_t i = 0; i < n_busy; i++) {
        if (busy[i] && strcasecmp(activity, busy[i]) == 0)
            return true;
    }
    return false;
}

bool presence__seq_accept(const char *current, const char *incoming)
{
    if (!current || !current[0] || !incoming || !incoming[0])
        return true;
    return strcmp(incoming, current) >= 0;
}

/* Copies a string member; returns NULL on success or the reason. */
static const char *presence__field(const cJSON *obj, const char *name, bool required, char *dst,
                                   size_t cap, const char *missing, const char *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return required ? missing : NULL;
    if (!cJSON_IsString(v) || !v->valuestring)
        return bad;
    size_t n = strlen(v->valuestring);
    if ((required && n == 0) || n >= cap)
        return bad;
    memcpy(dst, v->valuestring, n + 1);
    return NULL;
}

int presence__parse(const cJSON *obj, struct presence_state *out, const char **reason)
{
    const char *why = NULL;
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(obj))
        why = "presence: not an object";
    if (!why)
        why = presence__field(obj, "id", true, out->id, sizeof(out->id), "id: missing",
                              "id: not a string of 1..128 bytes");
    if (!why)
        why =
            presence__field(obj, "availability", true, out->availability, sizeof(out->availability),
                            "availability: missing", "availability: not a string of 1..64 bytes");
    if (!why)
        why = presence__field(obj, "activity", true, out->activity, sizeof(out->activity),
                              "activity: missing", "activity: not a string of 1..64 bytes");
    if (!why)
        why = presence__field(obj, "sequenceNumber", false, out->sequence, sizeof(out->sequence),
                              NULL, "sequenceNumber: not a string of up to 128 bytes");
    if (reason)
        *reason = why;
    if (why) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

int presence__parse_text(const char *json, size_t len, struct presence_state *out,
                         const char **reason)
{
    cJSON *root = json ? json__parse(json, len) : NULL;
    if (!root) {
        memset(out, 0, sizeof(*out));
        if (reason)
            *reason = "presence: not JSON";
        return -1;
    }
    int rc = presence__parse(root, out, reason);
    cJSON_Delete(root);
    return rc;
}

char *presence__busy_payload(bool busy, const char *availability, const char *activity,
                             int64_t since_wall_ms, const char *source, const char *user_id)
{
    if (!availability || !activity || !source ||
        (strcmp(source, "notification") != 0 && strcmp(source, "resync") != 0))
        return NULL;
    char since[32];
    clock__iso8601(since_wall_ms, since, sizeof(since));
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char *out = NULL;
    if (cJSON_AddBoolToObject(o, "busy", busy) &&
        cJSON_AddStringToObject(o, "availability", availability) &&
        cJSON_AddStringToObject(o, "activity", activity) &&
        cJSON_AddStringToObject(o, "since", since) &&
        cJSON_AddStringToObject(o, "source", source) &&
        (!user_id || !*user_id || cJSON_AddStringToObject(o, "user_id", user_id)))
        out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}
