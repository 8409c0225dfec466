/* The process's one JSON parsing policy: strict. cJSON's own parsers stop
 * after the first value and ignore what follows (`{}garbage` passes
 * cJSON_Parse and cJSON_ParseWithLength); here the input must be exactly one
 * JSON value with nothing but whitespace around it. Every JSON document the
 * daemon reads (HTTP bodies, MQTT payloads, tokens) goes through json__parse;
 * the config file has its own strict parse that reports line and column
 * (core/config.c).
 *
 * And a few typed accessors for members, so call sites stop spelling out
 * cJSON_GetObjectItemCaseSensitive + cJSON_IsX. */
#ifndef PS_CORE_JSON_H
#define PS_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* The value of s[0..len) (free with cJSON_Delete), or NULL when s is NULL or
 * empty, is not JSON, or has anything but whitespace after the value
 * (a NUL byte too). */
cJSON *json__parse(const char *s, size_t len);
/* json__parse of a NUL-terminated string. */
cJSON *json__parse_str(const char *s);

/* Members by exact name (NULL-safe on obj): the string, or NULL when absent
 * or not a string. */
const char *json__str(const cJSON *obj, const char *key);
/* The number in *out, or false (out untouched) when absent or not a number. */
bool json__num(const cJSON *obj, const char *key, double *out);
/* true or false, or dflt when absent or not a boolean. */
bool json__bool(const cJSON *obj, const char *key, bool dflt);

#endif
