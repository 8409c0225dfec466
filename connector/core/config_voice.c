/* The Voice keys of the configuration that do not fit the field table of
 * config.c: talking_request (template or availability mode, no default
 * endpoint), events (the event model) and capture. Same rules as config.c:
 * unknown and duplicate keys are errors, and every error names the JSON
 * path of the bad value. docs/voice.md explains the keys.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/jsonconf.h"

#define CV_NAME_MAX     64  /* event names, as the Voice side keeps them */
#define CV_PATH_MAX     128 /* field paths */
#define CV_VALUE_MAX    48  /* status values */
#define CV_MAX_EVENTS   64  /* per meaning */
#define CV_MAX_FIELDS   16  /* field paths per id */
#define CV_NUMBER_MAX   2147483647LL
#define CV_CAPTURE_MAX  10000
#define CV_CAPTURE_DFLT 20

/* An optional string member into *out (copied; def when absent). */
static int config_voice__string(struct jsonconf *c, const cJSON *obj, const char *path,
                                const char *key, const char *def, char **out)
{
    char p[256];
    const cJSON *it = jsonconf__member(obj, key);
    jsonconf__path_key(p, sizeof(p), path, key);
    if (it && (!cJSON_IsString(it) || !it->valuestring[0]))
        return jsonconf__fail(c, p, "must be a non-empty string");
    const char *v = it ? it->valuestring : def;
    if (v && !(*out = strdup(v)))
        return jsonconf__fail(c, p, "out of memory");
    return 0;
}

static void config_voice__strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int config_voice__strv_set(struct jsonconf *c, const char *p, char ***out, size_t *n,
                                  const char *const *src, size_t k)
{
    char **v = calloc(k ? k : 1, sizeof(*v));
    for (size_t i = 0; v && i < k; i++) {
        if (!(v[i] = strdup(src[i]))) {
            config_voice__strings_free(v, i);
            v = NULL;
        }
    }
    if (!v)
        return jsonconf__fail(c, p, "out of memory");
    config_voice__strings_free(*out, *n);
    *out = v;
    *n = k;
    return 0;
}

/* ---- talking_request -------------------------------------------------------- */

static int config_voice__talking_template(struct jsonconf *c, const cJSON *t, const char *p,
                                          struct talking_request *r)
{
    static const char *const keys[] = {"mode", "method", "path", "body", NULL};
    char q[256];
    if (jsonconf__keys(c, t, p, keys) < 0 ||
        config_voice__string(c, t, p, "method", "PUT", &r->method) < 0 ||
        config_voice__string(c, t, p, "path", NULL, &r->path) < 0 ||
        config_voice__string(c, t, p, "body", NULL, &r->body) < 0)
        return -1;
    jsonconf__path_key(q, sizeof(q), p, "method");
    if (strcmp(r->method, "PUT") && strcmp(r->method, "POST") && strcmp(r->method, "PATCH"))
        return jsonconf__fail(c, q, "must be \"PUT\", \"POST\" or \"PATCH\"");
    jsonconf__path_key(q, sizeof(q), p, "path");
    if (!r->path)
        return jsonconf__fail(c, q,
                              "missing; there is no default: Enreach documents no endpoint for "
                              "'talking' (docs/voice.md)");
    if (r->path[0] != '/')
        return jsonconf__fail(c, q, "must start with /");
    return 0;
}

static int config_voice__talking_availability(struct jsonconf *c, const cJSON *t, const char *p,
                                              struct talking_request *r)
{
    static const char *const keys[] = {"mode", "event_type_id", "event_source", "note", NULL};
    char q[256];
    const cJSON *id = jsonconf__member(t, "event_type_id");
    if (jsonconf__keys(c, t, p, keys) < 0)
        return -1;
    jsonconf__path_key(q, sizeof(q), p, "event_type_id");
    if (!id)
        return jsonconf__fail(c, q,
                              "missing; the availability type to create (3 = DND in public "
                              "client code)");
    if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > CV_NUMBER_MAX ||
        id->valuedouble != (double)(long long)id->valuedouble)
        return jsonconf__fail(c, q, "must be an integer >= 0");
    r->event_type_id = (int)id->valuedouble;
    return config_voice__string(c, t, p, "event_source", "presence-sync", &r->event_source) < 0 ||
                   config_voice__string(c, t, p, "note", NULL, &r->note) < 0
               ? -1
               : 0;
}

static int config_voice__talking(struct jsonconf *c, const cJSON *voice, const char *path,
                                 struct talking_request *r)
{
    char p[256], q[256];
    const cJSON *t = jsonconf__member(voice, "talking_request");
    jsonconf__path_key(p, sizeof(p), path, "talking_request");
    r->mode = TALKING_OFF;
    if (!t)
        return 0;
    if (!cJSON_IsObject(t))
        return jsonconf__fail(c, p, "must be an object");
    const cJSON *mode = jsonconf__member(t, "mode");
    jsonconf__path_key(q, sizeof(q), p, "mode");
    if (!mode || (cJSON_IsString(mode) && !strcmp(mode->valuestring, "template"))) {
        r->mode = TALKING_TEMPLATE;
        return config_voice__talking_template(c, t, p, r);
    }
    if (cJSON_IsString(mode) && !strcmp(mode->valuestring, "availability")) {
        r->mode = TALKING_AVAILABILITY;
        return config_voice__talking_availability(c, t, p, r);
    }
    return jsonconf__fail(c, q, "must be \"template\" or \"availability\"");
}

/* ---- events ----------------------------------------------------------------- */

static bool config_voice__name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CV_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

static bool config_voice__path_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CV_PATH_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-@$", *s))
            return false;
    return true;
}

static void config_voice__list_free(struct voice_event_list *l)
{
    for (size_t i = 0; l->items && i < l->n; i++)
        free(l->items[i].name);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* One entry: "Name" or {"name": "Name", "number": 11}. */
static int config_voice__event(struct jsonconf *c, const cJSON *e, const char *p,
                               struct voice_event_name *out)
{
    static const char *const keys[] = {"name", "number", NULL};
    char q[256];
    const cJSON *name = cJSON_IsString(e) ? e : NULL, *num = NULL;
    out->number = -1;
    if (cJSON_IsObject(e)) {
        if (jsonconf__keys(c, e, p, keys) < 0)
            return -1;
        name = jsonconf__member(e, "name");
        num = jsonconf__member(e, "number");
    }
    else if (!name) {
        return jsonconf__fail(c, p, "must be an event name or {\"name\", \"number\"}");
    }
    jsonconf__path_key(q, sizeof(q), p, "name");
    if (!cJSON_IsString(name) || !config_voice__name_ok(name->valuestring))
        return jsonconf__fail(c, cJSON_IsObject(e) ? q : p,
                              "must be an event name of 1 to 63 characters of [A-Za-z0-9_.-]");
    jsonconf__path_key(q, sizeof(q), p, "number");
    if (num && (!cJSON_IsNumber(num) || num->valuedouble < 0 || num->valuedouble > CV_NUMBER_MAX ||
                num->valuedouble != (double)(long long)num->valuedouble))
        return jsonconf__fail(c, q, "must be an integer >= 0");
    out->number = num ? (long long)num->valuedouble : -1;
    return (out->name = strdup(name->valuestring)) ? 0 : jsonconf__fail(c, p, "out of memory");
}

static int config_voice__events_list(struct jsonconf *c, const cJSON *ev, const char *path,
                                     const char *key, struct voice_event_list *l)
{
    char p[256], q[256];
    const cJSON *arr = jsonconf__member(ev, key), *it;
    jsonconf__path_key(p, sizeof(p), path, key);
    if (!arr)
        return 0; /* the default stays */
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CV_MAX_EVENTS)
        return jsonconf__fail(c, p, "must be an array of at most %d events", CV_MAX_EVENTS);
    config_voice__list_free(l);
    l->items = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*l->items));
    if (!l->items)
        return jsonconf__fail(c, p, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        jsonconf__path_index(q, sizeof(q), p, l->n);
        if (config_voice__event(c, it, q, &l->items[l->n]) < 0)
            return -1;
        l->n++;
    }
    return 0;
}

/* An array of strings (field paths or status values), replacing *out. */
static int config_voice__strv(struct jsonconf *c, const cJSON *obj, const char *path,
                              const char *key, bool (*ok)(const char *), const char *what,
                              char ***out, size_t *n)
{
    char p[256], q[256];
    const cJSON *arr = jsonconf__member(obj, key), *it;
    const char *tmp[CV_MAX_FIELDS];
    char num[CV_MAX_FIELDS][32];
    size_t k = 0;
    jsonconf__path_key(p, sizeof(p), path, key);
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CV_MAX_FIELDS)
        return jsonconf__fail(c, p, "must be an array of at most %d %s", CV_MAX_FIELDS, what);
    cJSON_ArrayForEach(it, arr)
    {
        jsonconf__path_index(q, sizeof(q), p, k);
        if (cJSON_IsNumber(it) && !ok) { /* status values may be numbers */
            snprintf(num[k], sizeof(num[k]), "%.15g", it->valuedouble);
            tmp[k] = num[k];
            k++;
            continue;
        }
        if (!cJSON_IsString(it) || !it->valuestring[0] ||
            (ok ? !ok(it->valuestring) : strlen(it->valuestring) >= CV_VALUE_MAX))
            return jsonconf__fail(c, q, "must be %s", what);
        tmp[k++] = it->valuestring;
    }
    return config_voice__strv_set(c, p, out, n, tmp, k);
}

static int config_voice__status(struct jsonconf *c, const cJSON *ev, const char *path,
                                struct voice_events_config *e)
{
    static const char *const keys[] = {"field", "talking", "free", NULL};
    char p[256], q[256];
    const cJSON *st = jsonconf__member(ev, "status");
    jsonconf__path_key(p, sizeof(p), path, "status");
    if (!st)
        return 0;
    if (!cJSON_IsObject(st))
        return jsonconf__fail(c, p, "must be an object {\"field\", \"talking\", \"free\"}");
    if (jsonconf__keys(c, st, p, keys) < 0 ||
        config_voice__string(c, st, p, "field", NULL, &e->status_field) < 0 ||
        config_voice__strv(c, st, p, "talking", NULL, "a status value (string or number)",
                           &e->status_talking, &e->n_status_talking) < 0 ||
        config_voice__strv(c, st, p, "free", NULL, "a status value (string or number)",
                           &e->status_free, &e->n_status_free) < 0)
        return -1;
    jsonconf__path_key(q, sizeof(q), p, "field");
    if (!e->status_field || !config_voice__path_ok(e->status_field))
        return jsonconf__fail(c, q, "missing or not a field path (e.g. \"status\")");
    if (!e->n_status_talking && !e->n_status_free)
        return jsonconf__fail(c, p, "needs \"talking\" or \"free\" values");
    return 0;
}

/* The project's starting model: docs/voice.md "Event model". */
static int config_voice__events_default(struct jsonconf *c, const char *p,
                                        struct voice_events_config *e)
{
    static const struct {
        const char *name;
        long long number;
        int list;
    } defs[] = {{"UserCallInConnected", 11, 0},
                {"UserCallOutConnected", 14, 0},
                {"UserCallInDisconnected", 12, 1},
                {"UserCallOutDisconnected", 15, 1},
                {"UserStatus", 141, 2}};
    static const char *const users[] = {"userId", "entityId"}, *const calls[] = {"callId"};
    struct voice_event_list *lists[] = {&e->connected, &e->disconnected, &e->user_status};
    for (size_t i = 0; i < 3; i++) {
        lists[i]->items = calloc(2, sizeof(*lists[i]->items));
        if (!lists[i]->items)
            return jsonconf__fail(c, p, "out of memory");
    }
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        struct voice_event_list *l = lists[defs[i].list];
        if (!(l->items[l->n].name = strdup(defs[i].name)))
            return jsonconf__fail(c, p, "out of memory");
        l->items[l->n++].number = defs[i].number;
    }
    return config_voice__strv_set(c, p, &e->user_id_fields, &e->n_user_id_fields, users, 2) < 0 ||
                   config_voice__strv_set(c, p, &e->call_id_fields, &e->n_call_id_fields, calls,
                                          1) < 0
               ? -1
               : 0;
}

/* A name or a number used twice (in one meaning or across them). */
static int config_voice__events_unique(struct jsonconf *c, const char *p,
                                       const struct voice_events_config *e)
{
    const struct voice_event_list *lists[] = {&e->connected, &e->disconnected, &e->user_status};
    for (size_t a = 0; a < 3; a++) {
        for (size_t i = 0; i < lists[a]->n; i++) {
            const struct voice_event_name *x = &lists[a]->items[i];
            for (size_t b = a; b < 3; b++) {
                for (size_t j = b == a ? i + 1 : 0; j < lists[b]->n; j++) {
                    const struct voice_event_name *y = &lists[b]->items[j];
                    if (!strcasecmp(x->name, y->name))
                        return jsonconf__fail(c, p, "event \"%s\" is listed twice", x->name);
                    if (x->number >= 0 && x->number == y->number)
                        return jsonconf__fail(c, p, "number %lld is given to \"%s\" and \"%s\"",
                                              x->number, x->name, y->name);
                }
            }
        }
    }
    return 0;
}

static int config_voice__events(struct jsonconf *c, const cJSON *voice, const char *path,
                                struct voice_events_config *e)
{
    static const char *const keys[] = {"call_connected",
                                       "call_disconnected",
                                       "user_status",
                                       "user_id_fields",
                                       "call_id_fields",
                                       "status",
                                       NULL};
    char p[256];
    const cJSON *ev = jsonconf__member(voice, "events");
    jsonconf__path_key(p, sizeof(p), path, "events");
    if (config_voice__events_default(c, p, e) < 0)
        return -1;
    if (!ev)
        return 0;
    if (!cJSON_IsObject(ev))
        return jsonconf__fail(c, p, "must be an object");
    if (jsonconf__keys(c, ev, p, keys) < 0 ||
        config_voice__events_list(c, ev, p, "call_connected", &e->connected) < 0 ||
        config_voice__events_list(c, ev, p, "call_disconnected", &e->disconnected) < 0 ||
        config_voice__events_list(c, ev, p, "user_status", &e->user_status) < 0 ||
        config_voice__strv(c, ev, p, "user_id_fields", config_voice__path_ok,
                           "a field path (e.g. \"data.userId\")", &e->user_id_fields,
                           &e->n_user_id_fields) < 0 ||
        config_voice__strv(c, ev, p, "call_id_fields", config_voice__path_ok,
                           "a field path (e.g. \"callId\")", &e->call_id_fields,
                           &e->n_call_id_fields) < 0 ||
        config_voice__status(c, ev, p, e) < 0 || config_voice__events_unique(c, p, e) < 0)
        return -1;
    if (!e->n_user_id_fields)
        return jsonconf__fail(c, p, "user_id_fields must not be empty");
    if ((!e->connected.n || !e->disconnected.n) && !(e->status_field && e->user_status.n))
        return jsonconf__fail(c, p,
                              "needs call_connected and call_disconnected events, or user_status "
                              "events with a status rule");
    return 0;
}

/* ---- capture ---------------------------------------------------------------- */

static int config_voice__capture(struct jsonconf *c, const cJSON *voice, const char *path,
                                 struct voice_capture_config *cap)
{
    static const char *const keys[] = {"file", "count", NULL};
    char p[256], q[256];
    const cJSON *obj = jsonconf__member(voice, "capture"), *n;
    jsonconf__path_key(p, sizeof(p), path, "capture");
    cap->count = CV_CAPTURE_DFLT;
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj))
        return jsonconf__fail(c, p, "must be an object {\"file\", \"count\"}");
    if (jsonconf__keys(c, obj, p, keys) < 0 ||
        config_voice__string(c, obj, p, "file", NULL, &cap->file) < 0)
        return -1;
    jsonconf__path_key(q, sizeof(q), p, "file");
    if (!cap->file)
        return jsonconf__fail(c, q, "missing");
    if (cap->file[0] != '/' && c->base_dir && c->base_dir[0]) {
        char *abs = NULL;
        if (asprintf(&abs, "%s/%s", c->base_dir, cap->file) < 0)
            return jsonconf__fail(c, q, "out of memory");
        free(cap->file);
        cap->file = abs;
    }
    jsonconf__path_key(q, sizeof(q), p, "count");
    if ((n = jsonconf__member(obj, "count"))) {
        if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > CV_CAPTURE_MAX ||
            n->valuedouble != (double)(int)n->valuedouble)
            return jsonconf__fail(c, q, "must be an integer from 1 to %d", CV_CAPTURE_MAX);
        cap->count = (int)n->valuedouble;
    }
    return 0;
}

/* ---- entry points --------------------------------------------------------------- */

int config_voice__parse(const cJSON *voice, const char *path, const char *base_dir,
                        struct voice_config *v, struct config_error *err)
{
    struct jsonconf c = {base_dir, err};
    if (config_voice__talking(&c, voice, path, &v->talking) < 0 ||
        config_voice__events(&c, voice, path, &v->events) < 0)
        return -1;
    return config_voice__capture(&c, voice, path, &v->capture);
}

void config_voice__free(struct voice_config *v)
{
    struct talking_request *t = &v->talking;
    struct voice_events_config *e = &v->events;
    free(t->method);
    free(t->path);
    free(t->body);
    free(t->event_source);
    free(t->note);
    config_voice__list_free(&e->connected);
    config_voice__list_free(&e->disconnected);
    config_voice__list_free(&e->user_status);
    config_voice__strings_free(e->user_id_fields, e->n_user_id_fields);
    config_voice__strings_free(e->call_id_fields, e->n_call_id_fields);
    config_voice__strings_free(e->status_talking, e->n_status_talking);
    config_voice__strings_free(e->status_free, e->n_status_free);
    free(e->status_field);
    free(v->capture.file);
    memset(t, 0, sizeof(*t));
    memset(e, 0, sizeof(*e));
    memset(&v->capture, 0, sizeof(v->capture));
}

const char *config_voice__warning(const struct voice_config *v)
{
    if (v->talking.mode == TALKING_OFF)
        return "talking_request not configured: the Teams -> Voice writer is off "
               "(teams/<id>/busy is still published; see docs/voice.md)";
    if (v->talking.mode == TALKING_AVAILABILITY)
        return "talking_request.mode is \"availability\": Teams calls create availability "
               "entries in Voice, which is not what Enreach's own product does (docs/voice.md)";
    return NULL;
}
