/* One SignalR record: signalr__parse (and, for invocations, each argument
 * through events__parse_rte as the RTE client does), plus the handshake
 * response parser. Checks the typed message agrees with the header. */
#include "fuzz_util.h"

#include "core/log.h"
#include "voice/events.h"
#include "voice/signalr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct signalr_msg m;
    char err[128] = "";
    const char *rec = (const char *)data;
    if (signalr__parse(rec, size, &m, err, sizeof(err)) == 0) {
        if (m.type == SIGNALR_INVOCATION) {
            FUZZ_ASSERT(m.target != NULL);
            FUZZ_ASSERT(!m.arguments || cJSON_IsArray(m.arguments));
            const cJSON *a;
            cJSON_ArrayForEach(a, m.arguments)
            {
                struct voice_call_event ev;
                if (events__parse_rte(NULL, a, &ev, err, sizeof(err)) == 0) {
                    FUZZ_ASSERT(events__kind_name(ev.kind) != NULL);
                    FUZZ_ASSERT(memchr(ev.user_id, 0, sizeof(ev.user_id)));
                    FUZZ_ASSERT(memchr(ev.call_id, 0, sizeof(ev.call_id)));
                    FUZZ_ASSERT(memchr(ev.name, 0, sizeof(ev.name)));
                    if (ev.kind == VOICE_CALL_CONNECTED || ev.kind == VOICE_CALL_DISCONNECTED)
                        FUZZ_ASSERT(ev.user_id[0] && ev.call_id[0]);
                    if (ev.kind == VOICE_USER_STATUS)
                        FUZZ_ASSERT(ev.user_id[0]);
                }
            }
        }
        if (m.type == SIGNALR_COMPLETION)
            FUZZ_ASSERT(m.invocation_id != NULL);
    }
    else {
        FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL);
    }
    signalr_msg__free(&m);
    signalr_msg__free(&m); /* "always safe to free", twice too after a free */
    signalr__parse_handshake(rec, size, err, sizeof(err));
    return 0;
}
