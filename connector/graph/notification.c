/* Graph change-notification body parser. */
#include "graph/notification.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/json.h"

/* Outcome of reading one string field. */
enum field_rc {
    FIELD_OK = 0,
    FIELD_ABSENT,
    FIELD_BAD, /* item status already set */
};

static void notification__fail(struct notification_item *it, enum notification_item_status s,
                               const char *field)
{
    if (it->status != NOTIFICATION_ITEM_OK)
        return; /* keep the first reason */
    it->status = s;
    it->bad_field = field;
}

/* Copies obj[name] into *dst when it is a string of 1..max bytes. JSON null
 * counts as absent. `path` is what the item reports as bad_field. */
static enum field_rc notification__str(struct notification_item *it, const cJSON *obj,
                                       const char *name, const char *path, size_t max,
                                       bool required, char **dst)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            notification__fail(it, NOTIFICATION_ITEM_MISSING_FIELD, path);
        return required ? FIELD_BAD : FIELD_ABSENT;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        notification__fail(it, NOTIFICATION_ITEM_WRONG_TYPE, path);
        return FIELD_BAD;
    }
    size_t n = strlen(v->valuestring);
    if (n == 0) {
        notification__fail(it, NOTIFICATION_ITEM_EMPTY_FIELD, path);
        return FIELD_BAD;
    }
    if (n > max) {
        notification__fail(it, NOTIFICATION_ITEM_TOO_LONG, path);
        return FIELD_BAD;
    }
    *dst = strdup(v->valuestring);
    if (!*dst) {
        notification__fail(it, NOTIFICATION_ITEM_NO_MEMORY, path);
        return FIELD_BAD;
    }
    return FIELD_OK;
}

static void notification__item_clear(struct notification_item *it)
{
    free(it->subscription_id);
    free(it->client_state);
    free(it->tenant_id);
    free(it->change_type);
    free(it->lifecycle_event);
    free(it->resource);
    free(it->resource_id);
    free(it->subscription_expiration);
    free(it->encrypted.data);
    free(it->encrypted.data_signature);
    free(it->encrypted.data_key);
    free(it->encrypted.cert_id);
    free(it->encrypted.thumbprint);
    memset(it, 0, sizeof(*it));
}

static void notification__parse_encrypted(struct notification_item *it, const cJSON *obj)
{
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(obj, "encryptedContent");
    if (!ec || cJSON_IsNull(ec))
        return;
    if (!cJSON_IsObject(ec)) {
        notification__fail(it, NOTIFICATION_ITEM_WRONG_TYPE, "encryptedContent");
        return;
    }
    struct graph_encrypted_content *e = &it->encrypted;
    int bad = 0;
    bad |= notification__str(it, ec, "data", "encryptedContent.data", NOTIFICATION_DATA_MAX, true,
                             &e->data);
    bad |= notification__str(it, ec, "dataSignature", "encryptedContent.dataSignature",
                             NOTIFICATION_SIGNATURE_MAX, true, &e->data_signature);
    bad |= notification__str(it, ec, "dataKey", "encryptedContent.dataKey",
                             NOTIFICATION_DATA_KEY_MAX, true, &e->data_key);
    bad |= notification__str(it, ec, "encryptionCertificateId",
                             "encryptedContent.encryptionCertificateId", NOTIFICATION_CERT_ID_MAX,
                             true, &e->cert_id);
    bad |= notification__str(it, ec, "encryptionCertificateThumbprint",
                             "encryptedContent.encryptionCertificateThumbprint",
                             NOTIFICATION_THUMBPRINT_MAX, true, &e->thumbprint);
    it->has_encrypted = bad == 0;
}

static void notification__parse_resource_data(struct notification_item *it, const cJSON *obj)
{
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(obj, "resourceData");
    if (!rd || cJSON_IsNull(rd))
        return;
    if (!cJSON_IsObject(rd)) {
        notification__fail(it, NOTIFICATION_ITEM_WRONG_TYPE, "resourceData");
        return;
    }
    notification__str(it, rd, "id", "resourceData.id", NOTIFICATION_ID_MAX, false,
                      &it->resource_id);
}

static void notification__parse_item(struct notification_item *it, const cJSON *obj)
{
    memset(it, 0, sizeof(*it));
    if (!cJSON_IsObject(obj)) {
        notification__fail(it, NOTIFICATION_ITEM_NOT_OBJECT, NULL);
        return;
    }
    notification__str(it, obj, "subscriptionId", "subscriptionId", NOTIFICATION_ID_MAX, true,
                      &it->subscription_id);
    notification__str(it, obj, "clientState", "clientState", NOTIFICATION_CLIENT_STATE_MAX, true,
                      &it->client_state);
    notification__str(it, obj, "tenantId", "tenantId", NOTIFICATION_ID_MAX, true, &it->tenant_id);
    enum field_rc ct = notification__str(it, obj, "changeType", "changeType", NOTIFICATION_KIND_MAX,
                                         false, &it->change_type);
    enum field_rc le = notification__str(it, obj, "lifecycleEvent", "lifecycleEvent",
                                         NOTIFICATION_KIND_MAX, false, &it->lifecycle_event);
    if (ct == FIELD_OK && le == FIELD_OK)
        notification__fail(it, NOTIFICATION_ITEM_BOTH_KINDS, "lifecycleEvent");
    else if (ct == FIELD_ABSENT && le == FIELD_ABSENT)
        notification__fail(it, NOTIFICATION_ITEM_NO_KIND, "changeType");
    notification__str(it, obj, "resource", "resource", NOTIFICATION_RESOURCE_MAX, false,
                      &it->resource);
    notification__str(it, obj, "subscriptionExpirationDateTime", "subscriptionExpirationDateTime",
                      NOTIFICATION_DATE_MAX, false, &it->subscription_expiration);
    notification__parse_resource_data(it, obj);
    notification__parse_encrypted(it, obj);
    /* a change that names nobody cannot be attributed to a user */
    if (ct == FIELD_OK && !it->resource && !it->resource_id)
        notification__fail(it, NOTIFICATION_ITEM_MISSING_FIELD, "resourceData.id");
}

static enum notification_body_status notification__parse_tokens(const cJSON *root,
                                                                struct notification_batch *out)
{
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "validationTokens");
    if (!tokens || cJSON_IsNull(tokens))
        return NOTIFICATION_BODY_OK;
    if (!cJSON_IsArray(tokens))
        return NOTIFICATION_BODY_BAD_TOKENS;
    int n = cJSON_GetArraySize(tokens);
    if (n > NOTIFICATION_MAX_TOKENS)
        return NOTIFICATION_BODY_BAD_TOKENS;
    if (n == 0)
        return NOTIFICATION_BODY_OK;
    out->tokens = calloc((size_t)n, sizeof(char *));
    if (!out->tokens)
        return NOTIFICATION_BODY_NO_MEMORY;
    const cJSON *t;
    cJSON_ArrayForEach(t, tokens)
    {
        if (!cJSON_IsString(t) || !t->valuestring || !t->valuestring[0] ||
            strlen(t->valuestring) > NOTIFICATION_TOKEN_MAX)
            return NOTIFICATION_BODY_BAD_TOKENS;
        out->tokens[out->n_tokens] = strdup(t->valuestring);
        if (!out->tokens[out->n_tokens])
            return NOTIFICATION_BODY_NO_MEMORY;
        out->n_tokens++;
    }
    return NOTIFICATION_BODY_OK;
}

enum notification_body_status notification__parse_json(const cJSON *root,
                                                       struct notification_batch *out)
{
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(root))
        return NOTIFICATION_BODY_NOT_OBJECT;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(root, "value");
    if (!value)
        return NOTIFICATION_BODY_NO_VALUE;
    if (!cJSON_IsArray(value))
        return NOTIFICATION_BODY_VALUE_NOT_ARRAY;
    int n = cJSON_GetArraySize(value);
    if (n > NOTIFICATION_MAX_ITEMS)
        return NOTIFICATION_BODY_TOO_MANY_ITEMS;
    enum notification_body_status rc = notification__parse_tokens(root, out);
    if (rc != NOTIFICATION_BODY_OK) {
        notification__free(out);
        return rc;
    }
    if (n > 0) {
        out->items = calloc((size_t)n, sizeof(*out->items));
        if (!out->items) {
            notification__free(out);
            return NOTIFICATION_BODY_NO_MEMORY;
        }
    }
    const cJSON *obj;
    cJSON_ArrayForEach(obj, value)
    {
        notification__parse_item(&out->items[out->n_items++], obj);
    }
    return NOTIFICATION_BODY_OK;
}

enum notification_body_status notification__parse(const char *body, size_t len,
                                                  struct notification_batch *out)
{
    memset(out, 0, sizeof(*out));
    if (!body)
        return NOTIFICATION_BODY_NOT_JSON;
    cJSON *root = json__parse(body, len);
    if (!root)
        return NOTIFICATION_BODY_NOT_JSON;
    enum notification_body_status rc = notification__parse_json(root, out);
    cJSON_Delete(root);
    return rc;
}

void notification__free(struct notification_batch *batch)
{
    if (!batch)
        return;
    for (size_t i = 0; i < batch->n_items; i++)
        notification__item_clear(&batch->items[i]);
    free(batch->items);
    for (size_t i = 0; i < batch->n_tokens; i++)
        free(batch->tokens[i]);
    free(batch->tokens);
    memset(batch, 0, sizeof(*batch));
}

bool notification__is_lifecycle(const struct notification_item *item)
{
    return item && item->lifecycle_event != NULL;
}

const char *notification__body_status_name(enum notification_body_status s)
{
    switch (s) {
    case NOTIFICATION_BODY_OK:
        return "ok";
    case NOTIFICATION_BODY_NOT_JSON:
        return "not_json";
    case NOTIFICATION_BODY_NOT_OBJECT:
        return "not_object";
    case NOTIFICATION_BODY_NO_VALUE:
        return "no_value_array";
    case NOTIFICATION_BODY_VALUE_NOT_ARRAY:
        return "value_not_array";
    case NOTIFICATION_BODY_TOO_MANY_ITEMS:
        return "too_many_items";
    case NOTIFICATION_BODY_BAD_TOKENS:
        return "bad_validation_tokens";
    case NOTIFICATION_BODY_NO_MEMORY:
        return "no_memory";
    }
    return "unknown";
}

const char *notification__item_status_name(enum notification_item_status s)
{
    switch (s) {
    case NOTIFICATION_ITEM_OK:
        return "ok";
    case NOTIFICATION_ITEM_NOT_OBJECT:
        return "not_object";
    case NOTIFICATION_ITEM_MISSING_FIELD:
        return "missing_field";
    case NOTIFICATION_ITEM_WRONG_TYPE:
        return "wrong_type";
    case NOTIFICATION_ITEM_TOO_LONG:
        return "too_long";
    case NOTIFICATION_ITEM_EMPTY_FIELD:
        return "empty_field";
    case NOTIFICATION_ITEM_BOTH_KINDS:
        return "both_change_type_and_lifecycle_event";
    case NOTIFICATION_ITEM_NO_KIND:
        return "no_change_type_or_lifecycle_event";
    case NOTIFICATION_ITEM_NO_MEMORY:
        return "no_memory";
    }
    return "unknown";
}

bool notification__id_ok(const char *id, size_t len)
{
    if (!id || len == 0 || len > NOTIFICATION_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\'' || c == '?' || c == '(' || c == ')' ||
            c == ',')
            return false;
    }
    return true;
}

static enum notification_user notification__emit(const char *id, size_t n, char *out, size_t outlen)
{
    if (!notification__id_ok(id, n) || n >= outlen)
        return NOTIFICATION_USER_NONE;
    memcpy(out, id, n);
    out[n] = '\0';
    return NOTIFICATION_USER_OK;
}

/* Reads `/{id}`, `('{id}')` or `({id})` at p: sets *id and *n and returns
 * what follows, or NULL. */
static const char *notification__key(const char *p, const char **id, size_t *n)
{
    if (*p == '/') {
        *id = p + 1;
        *n = strcspn(*id, "/?('");
        return *id + *n;
    }
    if (*p != '(')
        return NULL;
    p++;
    bool quoted = *p == '\'';
    if (quoted)
        p++;
    const char *end = strchr(p, quoted ? '\'' : ')');
    if (!end)
        return NULL;
    *id = p;
    *n = (size_t)(end - p);
    if (!quoted)
        return end + 1;
    return end[1] == ')' ? end + 2 : NULL;
}

static const char *notification__ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One quoted id at p ('...'): sets id and n, returns what follows or NULL. */
static const char *notification__quoted(const char *p, const char **id, size_t *n)
{
    if (*p != '\'')
        return NULL;
    const char *end = strchr(p + 1, '\'');
    if (!end)
        return NULL;
    *id = p + 1;
    *n = (size_t)(end - p - 1);
    return end + 1;
}

/* A decoded $filter value: `id in ('a', 'b')` or `id eq 'a'`, nothing after. */
static enum notification_user notification__filter(const char *f, char *out, size_t outlen)
{
    const char *id = NULL;
    size_t n = 0, count = 0;
    f = notification__ws(f);
    if (strncasecmp(f, "id", 2) != 0 || (f[2] != ' ' && f[2] != '\t'))
        return NOTIFICATION_USER_NONE;
    f = notification__ws(f + 2);
    if (strncasecmp(f, "eq", 2) == 0 && (f[2] == ' ' || f[2] == '\t')) {
        f = notification__quoted(notification__ws(f + 2), &id, &n);
        count = f ? 1 : 0;
    }
    else if (strncasecmp(f, "in", 2) == 0) {
        f = notification__ws(f + 2);
        f = *f == '(' ? f + 1 : NULL;
        for (bool more = f != NULL; more;) {
            const char *one = NULL;
            size_t len = 0;
            f = notification__quoted(notification__ws(f), &one, &len);
            if (!f || !notification__id_ok(one, len))
                return NOTIFICATION_USER_NONE;
            if (count++ == 0) {
                id = one;
                n = len;
            }
            f = notification__ws(f);
            more = *f == ',';
            f += more;
        }
        f = f && *f == ')' ? f + 1 : NULL;
    }
    if (!f || count == 0 || *notification__ws(f) != '\0')
        return NOTIFICATION_USER_NONE;
    return count > 1 ? NOTIFICATION_USER_SEVERAL : notification__emit(id, n, out, outlen);
}

/* The query of a decoded `communications/presences?...`: its $filter. */
static enum notification_user notification__query(const char *q, char *out, size_t outlen)
{
    const char *filter = NULL;
    for (const char *p = q; p && *p;) {
        if (strncasecmp(p, "$filter=", 8) == 0)
            filter = p + 8;
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    if (!filter)
        return NOTIFICATION_USER_NONE;
    size_t len = strcspn(filter, "&");
    char *f = strndup(filter, len);
    if (!f)
        return NOTIFICATION_USER_NONE;
    enum notification_user r = notification__filter(f, out, outlen);
    free(f);
    return r;
}

/* URL-decoded copy of s: `+` is a space, then %XX (curl_easy_unescape). */
static char *notification__decode(const char *s)
{
    char *plus = strdup(s);
    if (!plus)
        return NULL;
    for (char *p = plus; *p; p++) {
        if (*p == '+')
            *p = ' ';
    }
    int len = 0;
    char *dec = curl_easy_unescape(NULL, plus, 0, &len);
    free(plus);
    char *copy = dec && memchr(dec, '\0', (size_t)len) == NULL ? strndup(dec, (size_t)len) : NULL;
    curl_free(dec);
    return copy;
}

static enum notification_user notification__path(const char *p, char *out, size_t outlen)
{
    static const char pres[] = "communications/presences";
    static const char users[] = "users";
    const char *id = NULL, *rest = NULL, *want_rest;
    size_t n = 0;
    if (strncasecmp(p, pres, sizeof(pres) - 1) == 0) {
        const char *q = p + sizeof(pres) - 1;
        if (q[0] == '?' || (q[0] == '/' && q[1] == '?'))
            return notification__query(strchr(q, '?') + 1, out, outlen);
        rest = notification__key(q, &id, &n);
        want_rest = "";
    }
    else if (strncasecmp(p, users, sizeof(users) - 1) == 0) {
        rest = notification__key(p + sizeof(users) - 1, &id, &n);
        want_rest = "/presence";
    }
    else {
        return NOTIFICATION_USER_NONE;
    }
    if (!rest || strcasecmp(rest, want_rest) != 0)
        return NOTIFICATION_USER_NONE;
    return notification__emit(id, n, out, outlen);
}

enum notification_user notification__user_id_from_resource(const char *resource, char *out,
                                                           size_t outlen)
{
    if (!resource || !out || outlen == 0)
        return NOTIFICATION_USER_NONE;
    char *dec = notification__decode(resource);
    if (!dec)
        return NOTIFICATION_USER_NONE;
    enum notification_user r = notification__path(dec[0] == '/' ? dec + 1 : dec, out, outlen);
    free(dec);
    return r;
}

enum notification_user notification__user_id(const struct notification_item *it, char *out,
                                             size_t outlen)
{
    if (!it || !out || outlen == 0)
        return NOTIFICATION_USER_NONE;
    if (it->resource_id && notification__emit(it->resource_id, strlen(it->resource_id), out,
                                              outlen) == NOTIFICATION_USER_OK)
        return NOTIFICATION_USER_OK;
    return notification__user_id_from_resource(it->resource, out, outlen);
}
