/* Voice call events: the webhook body parser on arbitrary bytes, and the
 * same bytes as the argument of an RTE MessageReceived invocation. */
#include "fuzz_util.h"

#include "core/log.h"
#include "voice/events.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

static void check(int rc, const struct voice_call_event *ev)
{
    if (rc != 0)
        return;
    FUZZ_ASSERT(memchr(ev->user_id, 0, sizeof(ev->user_id)));
    FUZZ_ASSERT(memchr(ev->call_id, 0, sizeof(ev->call_id)));
    FUZZ_ASSERT(memchr(ev->name, 0, sizeof(ev->name)));
    FUZZ_ASSERT(events__kind_name(ev->kind) != NULL);
    if (ev->kind != VOICE_CALL_OTHER)
        FUZZ_ASSERT(ev->user_id[0] && ev->call_id[0]);
    for (const char *p = ev->user_id; *p; p++)
        FUZZ_ASSERT(!(*p >= 'A' && *p <= 'Z')); /* ids are lower-cased */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct voice_call_event ev;
    char err[128];
    check(events__parse_webhook((const char *)data, size, &ev, err, sizeof(err)), &ev);

    cJSON *arg = cJSON_ParseWithLength((const char *)data, size);
    check(events__parse_rte(arg, &ev, err, sizeof(err)), &ev);
    cJSON_Delete(arg);
    return 0;
}
