/* The simulator's settings (GET/POST /_sim/settings): defaults, the JSON
 * view and the all-or-nothing apply. tests/fakes/README.md lists them. */
#include "sim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rte_record.h"
#include "voice_event.h"

void sim__settings_default(struct sim_settings *set)
{
    memset(set, 0, sizeof(*set));
    set->token_lifetime_s = 3600;
    set->ping_interval_ms = 15000;
    set->max_subs = SIM_MAX_SUBS;
    set->client_timeout_ms = 30000;
    set->framing = RTE_FRAMING_NORMAL;
    set->discovery_slash = true;
    set->event_format = VE_FMT_NAME;
    set->endpoint_scheme = SIM_SCHEME_NONE;
    set->negotiate = SIM_NEG_V1;
    set->user_status = true;
    set->available = SIM_AVAIL_BOTH;
    voice_event__vocab_default(&set->vocab);
}

static const char *const scheme_names[] = {"none", "http", NULL};
static const char *const negotiate_names[] = {"v1", "v0", "redirect", "error", NULL};
static const char *const available_names[] = {"both",    "completion", "callback",
                                              "unknown", "silent",     NULL};

static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; s && names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

bool sim__offers(const struct sim_settings *set, const char *name)
{
    if (!set->offered_set)
        return voice_event__subscribable(&set->vocab, name);
    for (int i = 0; name && i < set->n_offered; i++)
        if (!strcmp(set->offered[i], name))
            return true;
    return false;
}

static cJSON *offered_array(const struct sim_settings *set)
{
    cJSON *a = cJSON_CreateArray();
    if (set->offered_set) {
        for (int i = 0; i < set->n_offered; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(set->offered[i]));
        return a;
    }
    for (int k = 0; k < VE_KINDS; k++)
        cJSON_AddItemToArray(a, cJSON_CreateString(set->vocab.names[k]));
    for (const char *const *o = voice_event__others(); *o; o++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*o));
    return a;
}

char *sim__offered_json(const struct sim_settings *set)
{
    cJSON *a = offered_array(set);
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

static cJSON *vocab_json(const struct ve_vocab *v)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < VE_KINDS; k++) {
        cJSON *e = cJSON_AddObjectToObject(o, voice_event__vocab_key_name(k));
        cJSON_AddStringToObject(e, "name", v->names[k]);
        cJSON_AddNumberToObject(e, "number", v->numbers[k]);
    }
    cJSON_AddStringToObject(o, "user_field", v->user_field);
    cJSON_AddStringToObject(o, "call_field", v->call_field);
    return o;
}

char *sim__settings_json(const struct sim_settings *set)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "reject_auth", set->reject_auth);
    cJSON_AddNumberToObject(o, "token_lifetime_s", set->token_lifetime_s);
    cJSON_AddNumberToObject(o, "ping_interval_ms", set->ping_interval_ms);
    cJSON_AddNumberToObject(o, "client_timeout_ms", set->client_timeout_ms);
    cJSON_AddStringToObject(o, "framing", rte_framing__name(set->framing));
    cJSON_AddStringToObject(o, "discovery_format", set->discovery_object ? "object" : "array");
    cJSON_AddBoolToObject(o, "discovery_trailing_slash", set->discovery_slash);
    cJSON_AddStringToObject(o, "event_type_format", voice_event_format__name(set->event_format));
    cJSON_AddBoolToObject(o, "unknown_events", set->unknown_events);
    cJSON_AddBoolToObject(o, "refuse_subscribe", set->refuse_subscribe);
    cJSON_AddNumberToObject(o, "max_subs", set->max_subs);
    cJSON_AddBoolToObject(o, "details_callback", set->details_callback);
    cJSON_AddStringToObject(o, "endpoint_scheme", scheme_names[set->endpoint_scheme]);
    cJSON_AddStringToObject(o, "negotiate", negotiate_names[set->negotiate]);
    cJSON_AddBoolToObject(o, "close_on_token_expiry", set->close_on_expiry);
    cJSON_AddNumberToObject(o, "drop_disconnected", set->drop_disconnected);
    cJSON_AddBoolToObject(o, "user_status", set->user_status);
    cJSON_AddStringToObject(o, "available_subscriptions", available_names[set->available]);
    if (set->offered_set)
        cJSON_AddItemToObject(o, "offered_events", offered_array(set));
    else
        cJSON_AddNullToObject(o, "offered_events");
    cJSON_AddItemToObject(o, "vocabulary", vocab_json(&set->vocab));
    cJSON_AddBoolToObject(o, "webhook_without_user_id", set->webhook_without_user_id);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int want_bool(const cJSON *v, bool *out, char *err, size_t errlen)
{
    if (!cJSON_IsBool(v)) {
        snprintf(err, errlen, "%s: expected true or false", v->string);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static int want_int(const cJSON *v, int min, int max, int *out, char *err, size_t errlen)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max ||
        v->valuedouble != (double)(int)v->valuedouble) {
        snprintf(err, errlen, "%s: expected an integer in [%d, %d]", v->string, min, max);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int want_enum(const cJSON *v, int (*parse)(const char *), int *out, char *err, size_t errlen)
{
    int m = cJSON_IsString(v) ? parse(v->valuestring) : -1;
    if (m < 0) {
        snprintf(err, errlen, "%s: unknown value", v->string);
        return -1;
    }
    *out = m;
    return 0;
}

static int want_name(const cJSON *v, const char *const *names, int *out, char *err, size_t errlen)
{
    int m = cJSON_IsString(v) ? name_index(names, v->valuestring) : -1;
    if (m < 0) {
        snprintf(err, errlen, "%s: unknown value", v->string);
        return -1;
    }
    *out = m;
    return 0;
}

static int parse_disc_format(const char *s)
{
    return !strcmp(s, "array") ? 0 : !strcmp(s, "object") ? 1 : -1;
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n < max && !strpbrk(s, " \t\r\n\"\\");
}

/* "offered_events": [names] or null (every name of the vocabulary). */
static int want_offered(const cJSON *v, struct sim_settings *n, char *err, size_t errlen)
{
    const cJSON *it;
    if (cJSON_IsNull(v)) {
        n->offered_set = false;
        n->n_offered = 0;
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > SIM_MAX_OFFERED) {
        snprintf(err, errlen, "offered_events: expected null or at most %d names", SIM_MAX_OFFERED);
        return -1;
    }
    n->n_offered = 0;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || !name_ok(it->valuestring, VE_NAME_LEN)) {
            snprintf(err, errlen, "offered_events: expected event names");
            return -1;
        }
        snprintf(n->offered[n->n_offered++], VE_NAME_LEN, "%s", it->valuestring);
    }
    n->offered_set = true;
    return 0;
}

/* "vocabulary": {"in_connected": {"name","number"}, ..., "user_field",
 * "call_field"}; keys left out keep their value. */
static int want_vocab(const cJSON *v, struct ve_vocab *voc, char *err, size_t errlen)
{
    const cJSON *it;
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "vocabulary: expected an object");
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        int k = voice_event__vocab_key(it->string);
        bool field = !strcmp(it->string, "user_field") || !strcmp(it->string, "call_field");
        if (field && cJSON_IsString(it) && name_ok(it->valuestring, sizeof(voc->user_field))) {
            snprintf(it->string[0] == 'u' ? voc->user_field : voc->call_field,
                     sizeof(voc->user_field), "%s", it->valuestring);
            continue;
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(it, "number");
        if (k < 0 || !cJSON_IsString(name) || !name_ok(name->valuestring, VE_NAME_LEN) ||
            (num && (!cJSON_IsNumber(num) || num->valuedouble < 0 || num->valuedouble > 1e9))) {
            snprintf(err, errlen, "vocabulary.%s: expected {\"name\", \"number\"} of a known kind",
                     it->string);
            return -1;
        }
        snprintf(voc->names[k], VE_NAME_LEN, "%s", name->valuestring);
        if (num)
            voc->numbers[k] = (int)num->valuedouble;
    }
    return 0;
}

/* The settings added for the event model and the real protocol's variants. */
static int apply_more(const cJSON *v, struct sim_settings *n, char *err, size_t errlen)
{
    const char *k = v->string;
    if (!strcmp(k, "endpoint_scheme"))
        return want_name(v, scheme_names, &n->endpoint_scheme, err, errlen);
    if (!strcmp(k, "negotiate"))
        return want_name(v, negotiate_names, &n->negotiate, err, errlen);
    if (!strcmp(k, "close_on_token_expiry"))
        return want_bool(v, &n->close_on_expiry, err, errlen);
    if (!strcmp(k, "drop_disconnected"))
        return want_int(v, 0, 1000000, &n->drop_disconnected, err, errlen);
    if (!strcmp(k, "user_status"))
        return want_bool(v, &n->user_status, err, errlen);
    if (!strcmp(k, "available_subscriptions"))
        return want_name(v, available_names, &n->available, err, errlen);
    if (!strcmp(k, "offered_events"))
        return want_offered(v, n, err, errlen);
    if (!strcmp(k, "vocabulary"))
        return want_vocab(v, &n->vocab, err, errlen);
    if (!strcmp(k, "webhook_without_user_id"))
        return want_bool(v, &n->webhook_without_user_id, err, errlen);
    snprintf(err, errlen, "%s: unknown setting", k);
    return -1;
}

static int apply_one(const cJSON *v, struct sim_settings *n, char *err, size_t errlen)
{
    const char *k = v->string;
    int disc = 0, rc;
    if (!strcmp(k, "reject_auth"))
        return want_bool(v, &n->reject_auth, err, errlen);
    if (!strcmp(k, "token_lifetime_s"))
        return want_int(v, 1, 86400 * 30, &n->token_lifetime_s, err, errlen);
    if (!strcmp(k, "ping_interval_ms"))
        return want_int(v, 0, 3600000, &n->ping_interval_ms, err, errlen);
    if (!strcmp(k, "client_timeout_ms"))
        return want_int(v, 0, 3600000, &n->client_timeout_ms, err, errlen);
    if (!strcmp(k, "framing"))
        return want_enum(v, rte_framing__parse, &n->framing, err, errlen);
    if (!strcmp(k, "discovery_format")) {
        rc = want_enum(v, parse_disc_format, &disc, err, errlen);
        n->discovery_object = disc == 1;
        return rc;
    }
    if (!strcmp(k, "discovery_trailing_slash"))
        return want_bool(v, &n->discovery_slash, err, errlen);
    if (!strcmp(k, "event_type_format"))
        return want_enum(v, voice_event_format__parse, &n->event_format, err, errlen);
    if (!strcmp(k, "unknown_events"))
        return want_bool(v, &n->unknown_events, err, errlen);
    if (!strcmp(k, "refuse_subscribe"))
        return want_bool(v, &n->refuse_subscribe, err, errlen);
    if (!strcmp(k, "max_subs"))
        return want_int(v, 1, SIM_MAX_SUBS, &n->max_subs, err, errlen);
    if (!strcmp(k, "details_callback"))
        return want_bool(v, &n->details_callback, err, errlen);
    return apply_more(v, n, err, errlen);
}

int sim__settings_apply(struct sim_settings *set, const char *json, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    struct sim_settings n = *set; /* all or nothing */
    int rc = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, root)
    {
        if ((rc = apply_one(v, &n, err, errlen)) != 0)
            break;
    }
    cJSON_Delete(root);
    if (rc == 0)
        *set = n;
    return rc;
}
