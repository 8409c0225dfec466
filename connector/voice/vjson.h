/* Strict JSON parsing for the Voice side: cJSON's length-bounded parser
 * stops after the first value and ignores what follows, so `{}garbage`
 * would pass; here anything but whitespace after the value is an error. */
#ifndef PS_VOICE_VJSON_H
#define PS_VOICE_VJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Returns the parsed value (free with cJSON_Delete), or NULL. */
static inline cJSON *vjson__parse(const char *s, size_t len)
{
    if (!s || len == 0)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!root)
        return NULL;
    for (; end && end < s + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

#endif
