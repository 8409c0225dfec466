/* Voice events: the webhook body parser on arbitrary bytes, the same bytes
 * as the argument of an RTE MessageReceived invocation (with the default
 * event model and with a configured one: nested id paths and a status
 * rule), as an AvailableSubscriptions answer, and through the capture's
 * redaction. */
#include "fuzz_util.h"

#include "core/log.h"
#include "voice/capture.h"
#include "voice/events.h"

static struct events_model *custom;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    static const char *const users[] = {"data.user.id", "entityId", "UserId"};
    static const char *const calls[] = {"call.id", "callId"};
    static const char *const talking[] = {"Talking", "2"}, *const free_v[] = {"Available", "0"};
    custom = events__model_new();
    if (!custom ||
        events__model_add(custom, VOICE_CALL_CONNECTED, "QueueCallInUserConnected", 103) ||
        events__model_add(custom, VOICE_CALL_DISCONNECTED, "QueueCallInDisconnected", 109) ||
        events__model_add(custom, VOICE_USER_STATUS, "UserStatus", 141) ||
        events__model_user_fields(custom, users, 3) ||
        events__model_call_fields(custom, calls, 2) ||
        events__model_status_rule(custom, "status.value", talking, 2, free_v, 2))
        abort();
    return 0;
}

static void check(int rc, const struct voice_call_event *ev)
{
    if (rc != 0)
        return;
    FUZZ_ASSERT(memchr(ev->user_id, 0, sizeof(ev->user_id)));
    FUZZ_ASSERT(memchr(ev->call_id, 0, sizeof(ev->call_id)));
    FUZZ_ASSERT(memchr(ev->name, 0, sizeof(ev->name)));
    FUZZ_ASSERT(memchr(ev->status_value, 0, sizeof(ev->status_value)));
    FUZZ_ASSERT(events__kind_name(ev->kind) != NULL);
    if (ev->kind == VOICE_CALL_CONNECTED || ev->kind == VOICE_CALL_DISCONNECTED)
        FUZZ_ASSERT(ev->user_id[0] && ev->call_id[0]);
    if (ev->kind == VOICE_USER_STATUS)
        FUZZ_ASSERT(ev->user_id[0]);
    if (ev->kind != VOICE_USER_STATUS)
        FUZZ_ASSERT(ev->status == VOICE_STATUS_UNKNOWN);
    for (const char *p = ev->user_id; *p; p++)
        FUZZ_ASSERT(!(*p >= 'A' && *p <= 'Z')); /* ids are lower-cased */
}

static void check_available(const cJSON *v)
{
    char **names = NULL, err[128];
    size_t n = 0;
    if (events__parse_available(v, &names, &n, err, sizeof(err)) == 0) {
        FUZZ_ASSERT(n > 0 && names);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(names[i] && names[i][0] && strlen(names[i]) < EVENTS_NAME_MAX);
    }
    events__names_free(names, n);
}

/* Redaction never leaves a JWT-looking string behind. */
static void check_redacted(const cJSON *v)
{
    const cJSON *it;
    if (cJSON_IsString(v))
        FUZZ_ASSERT(!capture__is_secret_value(v->valuestring));
    cJSON_ArrayForEach(it, v)
    {
        check_redacted(it);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct voice_call_event ev;
    char err[128];
    check(events__parse_webhook(NULL, (const char *)data, size, &ev, err, sizeof(err)), &ev);
    check(events__parse_webhook(custom, (const char *)data, size, &ev, err, sizeof(err)), &ev);

    cJSON *arg = cJSON_ParseWithLength((const char *)data, size);
    check(events__parse_rte(NULL, arg, &ev, err, sizeof(err)), &ev);
    check(events__parse_rte(custom, arg, &ev, err, sizeof(err)), &ev);
    check_available(arg);
    cJSON *red = capture__redact(arg);
    check_redacted(red);
    cJSON_Delete(red);
    cJSON_Delete(arg);
    return 0;
}
