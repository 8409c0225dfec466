/* Presence objects (a decrypted rich notification, or one element of
 * getPresencesByUserId): presence__parse_text on arbitrary bytes, then the
 * busy check and the payload built from what was parsed. */
#include "fuzz_util.h"

#include <cjson/cJSON.h>

#include "graph/presence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct presence_state ps;
    const char *reason = NULL;
    if (presence__parse_text((const char *)data, size, &ps, &reason) != 0) {
        FUZZ_ASSERT(reason != NULL);
        return 0;
    }
    FUZZ_ASSERT(ps.id[0] && ps.availability[0] && ps.activity[0]);
    FUZZ_ASSERT(strlen(ps.id) <= PRESENCE_ID_MAX);
    bool busy = presence__is_busy(ps.activity, NULL, 0);
    FUZZ_ASSERT(presence__seq_accept(ps.sequence, ps.sequence));
    FUZZ_ASSERT(presence__seq_accept("", ps.sequence));
    char *payload = presence__busy_payload(busy, ps.availability, ps.activity, 1795687200000,
                                           "notification", ps.id);
    FUZZ_ASSERT(payload != NULL);
    /* what the mapper reads back: valid JSON carrying the same id */
    cJSON *o = cJSON_Parse(payload);
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(o, "user_id");
    FUZZ_ASSERT(cJSON_IsString(uid) && strcmp(uid->valuestring, ps.id) == 0);
    cJSON_Delete(o);
    free(payload);
    return 0;
}
