/* The talking_request template: validation (config-check time) and
 * rendering (run time) with values from the input.
 *
 *   byte 0  bit 0: talking true/false
 *   rest    "userId\nemail\nmethod\npath\nbody" (the body keeps the rest)
 *
 * Property: a template that validates renders, for any non-empty user id and
 * email, to a path without spaces or control bytes and a body that is JSON. */
#include "fuzz_util.h"

#include <cjson/cJSON.h>

#include "core/log.h"
#include "voice/talking.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool talking = fu_byte(&data, &size) & 1;
    char *s = fu_str(data, size), *f[5];
    fu_split(s, '\n', f, 5);
    struct talking_template tpl = {.method = f[2], .path = f[3], .body = f[4]};
    const char *why = talking__validate_template(&tpl);
    struct talking_call req;
    int rc = talking__render(&tpl, f[0], f[1], talking, &req);
    if (rc == 0) {
        if (!why && f[0][0] && f[1][0]) {
            for (const char *p = req.path; *p; p++)
                FUZZ_ASSERT((unsigned char)*p > 0x20 && (unsigned char)*p != 0x7f);
            if (req.body) {
                cJSON *j = cJSON_ParseWithOpts(req.body, NULL, true); /* all of it */
                FUZZ_ASSERT(j != NULL);
                cJSON_Delete(j);
            }
        }
        talking_call__free(&req);
    }
    else if (!why) {
        FUZZ_ASSERT(!f[0][0] || !f[1][0]); /* only empty values may fail */
    }
    free(s);
    return 0;
}
