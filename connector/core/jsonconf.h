/* A reader of JSON configuration objects by tables of fields: the strict
 * rules of the configuration (core/config.c, core/config_voice.c) in one
 * place. Each JSON object is described by a table of fields (key, type,
 * offset into its struct, default, range, extra check); jsonconf__parse()
 * applies a table: it rejects unknown and duplicate keys, type-checks,
 * applies defaults and range checks. Every error names the JSON path of the
 * bad value (struct config_error). Also the value checks the tables use.
 */
#ifndef PS_JSONCONF_H
#define PS_JSONCONF_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/config.h"

struct jsonconf {
    const char *base_dir;
    struct config_error *err;
};

typedef const char *(*jsonconf_check_fn)(const char *value);

enum jsonconf_type {
    FT_STRING, /* char *; NULL when absent and no default */
    FT_PATH,   /* char *, resolved against the config directory, must be readable */
    FT_INT,    /* int within [min, max] */
    FT_SIZE,   /* size_t within [min, max] */
    FT_BOOL,   /* bool */
    FT_SECRET, /* struct secret from KEY_file / KEY_env */
    FT_CUSTOM, /* allowed here, parsed by the caller */
};

#define F_REQUIRED 1u

struct jsonconf_field {
    const char *key;
    enum jsonconf_type type;
    size_t off;
    unsigned flags;
    const char *def; /* FT_STRING default */
    long long num;   /* FT_INT/FT_SIZE/FT_BOOL default */
    long long min, max;
    jsonconf_check_fn check; /* FT_STRING extra validation; returns an error or NULL */
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Fills c->err (path and message); returns -1. */
int jsonconf__fail(struct jsonconf *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* path.key (key alone at the top level), path[i]. */
void jsonconf__path_key(char *out, size_t n, const char *path, const char *key);
void jsonconf__path_index(char *out, size_t n, const char *path, size_t i);
/* obj's member key; absent and null are the same. */
const cJSON *jsonconf__member(const cJSON *obj, const char *key);

/* Unknown or duplicate keys of obj (keys: NULL-terminated). */
int jsonconf__keys(struct jsonconf *c, const cJSON *obj, const char *path, const char *const *keys);
/* obj may be NULL (the whole object absent): then every default applies. */
int jsonconf__parse(struct jsonconf *c, const struct jsonconf_field *fs, size_t nf,
                    const cJSON *obj, const char *path, void *base);
void jsonconf__free(const struct jsonconf_field *fs, size_t nf, void *base);

/* Value checks: NULL when v is fine, else what is wrong with it. */
bool jsonconf__is_guid(const char *s);
const char *jsonconf__check_instance(const char *v);
const char *jsonconf__check_tenant_name(const char *v);
const char *jsonconf__check_guid(const char *v);
const char *jsonconf__check_tenant_id(const char *v);
const char *jsonconf__check_http_url(const char *v);
const char *jsonconf__check_mqtt_url(const char *v);
const char *jsonconf__check_prefix(const char *v);
const char *jsonconf__check_bridge_topic(const char *v);
const char *jsonconf__check_nonempty(const char *v);
const char *jsonconf__check_email(const char *v);

#endif
