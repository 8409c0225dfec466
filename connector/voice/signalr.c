/* SignalR JSON hub protocol pieces; see signalr.h for the design. */
#include "voice/signalr.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/b64.h"
#include "core/json.h"
#include "core/str.h"

/* ---- record reader ---------------------------------------------------- */

/* Bytes after the last 0x1E of the buffer are tracked separately (tail) so
 * that neither feed() nor next() rescans them: byte-by-byte feeding of a big
 * record stays linear, which matters for fuzzing. */
void signalr_reader__init(struct signalr_reader *r, size_t max_record)
{
    memset(r, 0, sizeof(*r));
    r->max_record = max_record ? max_record : SIGNALR_MAX_RECORD_DEFAULT;
}

void signalr_reader__free(struct signalr_reader *r)
{
    free(r->buf);
    size_t max = r->max_record;
    memset(r, 0, sizeof(*r));
    r->max_record = max;
}

void signalr_reader__reset(struct signalr_reader *r)
{
    r->len = 0;
    r->pos = 0;
    r->tail = 0;
    r->failed = false;
}

static int signalr_reader__fail(struct signalr_reader *r)
{
    r->failed = true;
    r->len = 0;
    r->pos = 0;
    r->tail = 0;
    return -1;
}

/* Moves unconsumed bytes to the front so the buffer does not creep. */
static void signalr_reader__compact(struct signalr_reader *r)
{
    if (r->pos == 0)
        return;
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
}

static int signalr_reader__reserve(struct signalr_reader *r, size_t extra)
{
    if (extra > SIZE_MAX - r->len - 1)
        return -1;
    size_t need = r->len + extra + 1; /* room for a NUL after a record */
    if (need <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *nb = realloc(r->buf, cap);
    if (!nb)
        return -1;
    r->buf = nb;
    r->cap = cap;
    return 0;
}

int signalr_reader__feed(struct signalr_reader *r, const uint8_t *data, size_t len)
{
    if (r->failed)
        return -1;
    if (len == 0)
        return 0;
    const uint8_t *last = memrchr(data, SIGNALR_RS, len);
    size_t new_tail = last ? len - (size_t)(last - data) - 1 : r->tail + len;
    if (new_tail > r->max_record)
        return signalr_reader__fail(r);
    signalr_reader__compact(r);
    if (signalr_reader__reserve(r, len) < 0)
        return signalr_reader__fail(r);
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    r->tail = new_tail;
    return 0;
}

int signalr_reader__next(struct signalr_reader *r, const char **rec, size_t *len)
{
    if (r->failed)
        return -1;
    size_t end = r->len - r->tail; /* everything before end is terminated */
    while (r->pos < end) {
        char *start = r->buf + r->pos;
        char *rs = memchr(start, SIGNALR_RS, end - r->pos);
        if (!rs) /* cannot happen: end follows a separator */
            return signalr_reader__fail(r);
        size_t n = (size_t)(rs - start);
        if (n > r->max_record)
            return signalr_reader__fail(r);
        *rs = '\0';
        r->pos += n + 1;
        if (n == 0)
            continue; /* empty record: nothing to say */
        *rec = start;
        *len = n;
        return 1;
    }
    return 0;
}

size_t signalr_reader__pending(const struct signalr_reader *r)
{
    return r->tail;
}

/* ---- messages ----------------------------------------------------------- */

/* An optional string member: 0 when absent or a string, -1 otherwise. */
static int signalr__opt_string(const cJSON *obj, const char *name, const char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!it || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsString(it))
        return -1;
    *out = it->valuestring;
    return 0;
}

static int signalr__parse_invocation(struct signalr_msg *m, char *err, size_t errlen)
{
    if (signalr__opt_string(m->root, "target", &m->target) < 0 || !m->target) {
        str__printf(err, errlen, "invocation without a string target");
        return -1;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(m->root, "arguments");
    if (args && !cJSON_IsArray(args)) {
        str__printf(err, errlen, "invocation arguments are not an array");
        return -1;
    }
    m->arguments = args;
    return 0;
}

static int signalr__parse_completion(struct signalr_msg *m, char *err, size_t errlen)
{
    if (!m->invocation_id) {
        str__printf(err, errlen, "completion without invocationId");
        return -1;
    }
    if (signalr__opt_string(m->root, "error", &m->error) < 0) {
        str__printf(err, errlen, "completion error is not a string");
        return -1;
    }
    m->result = cJSON_GetObjectItemCaseSensitive(m->root, "result");
    return 0;
}

static int signalr__parse_close(struct signalr_msg *m, char *err, size_t errlen)
{
    if (signalr__opt_string(m->root, "error", &m->error) < 0) {
        str__printf(err, errlen, "close error is not a string");
        return -1;
    }
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(m->root, "allowReconnect");
    m->allow_reconnect = cJSON_IsTrue(ar);
    return 0;
}

int signalr__parse(const char *rec, size_t len, struct signalr_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->type = -1;
    m->root = json__parse(rec, len);
    if (!m->root || !cJSON_IsObject(m->root)) {
        str__printf(err, errlen, "record is not a JSON object");
        signalr_msg__free(m);
        return -1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->root, "type");
    if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 ||
        t->valuedouble > 1000000) {
        str__printf(err, errlen, "record has no integer type");
        signalr_msg__free(m);
        return -1;
    }
    m->type = (int)t->valuedouble;
    if (signalr__opt_string(m->root, "invocationId", &m->invocation_id) < 0) {
        str__printf(err, errlen, "invocationId is not a string");
        signalr_msg__free(m);
        return -1;
    }
    int rc = 0;
    if (m->type == SIGNALR_INVOCATION)
        rc = signalr__parse_invocation(m, err, errlen);
    else if (m->type == SIGNALR_COMPLETION)
        rc = signalr__parse_completion(m, err, errlen);
    else if (m->type == SIGNALR_CLOSE)
        rc = signalr__parse_close(m, err, errlen);
    if (rc < 0)
        signalr_msg__free(m);
    return rc;
}

void signalr_msg__free(struct signalr_msg *m)
{
    cJSON_Delete(m->root);
    int type = m->type;
    memset(m, 0, sizeof(*m));
    m->type = type;
}

int signalr__parse_handshake(const char *rec, size_t len, char *err, size_t errlen)
{
    cJSON *root = json__parse(rec, len);
    int rc = -1;
    if (!root || !cJSON_IsObject(root)) {
        str__printf(err, errlen, "handshake response is not a JSON object");
        goto out;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e && !cJSON_IsNull(e)) {
        str__printf(err, errlen, "%s",
                    cJSON_IsString(e) ? e->valuestring : "handshake refused (non-string error)");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "type")) {
        str__printf(err, errlen, "hub message before the handshake response");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- builders ------------------------------------------------------------ */

static const char handshake_record[] = "{\"protocol\":\"json\",\"version\":1}\x1e";
static const char ping_record[] = "{\"type\":6}\x1e";

const char *signalr__handshake_record(size_t *len)
{
    if (len)
        *len = sizeof(handshake_record) - 1;
    return handshake_record;
}

const char *signalr__ping_record(size_t *len)
{
    if (len)
        *len = sizeof(ping_record) - 1;
    return ping_record;
}

const char *const signalr_call_events[4] = {"UserCallInConnected", "UserCallInDisconnected",
                                            "UserCallOutConnected", "UserCallOutDisconnected"};

/* Serialises an invocation and appends the separator. */
static int signalr__finish_record(cJSON *root, const char *id, struct signalr_record *out)
{
    char *json = cJSON_PrintUnformatted(root);
    if (!json)
        return -1;
    size_t n = strlen(json);
    out->data = malloc(n + 2);
    if (!out->data) {
        cJSON_free(json);
        return -1;
    }
    memcpy(out->data, json, n);
    cJSON_free(json);
    out->data[n] = SIGNALR_RS;
    out->data[n + 1] = '\0';
    out->len = n + 1;
    snprintf(out->invocation_id, sizeof(out->invocation_id), "%s", id);
    return 0;
}

/* {"type":1,"invocationId":id,"target":target,"arguments":[]}; *args gets
 * the arguments array. NULL on out of memory. */
static cJSON *signalr__invocation(const char *id, const char *target, cJSON **args)
{
    cJSON *root = cJSON_CreateObject();
    if (!root || !cJSON_AddNumberToObject(root, "type", SIGNALR_INVOCATION) ||
        !cJSON_AddStringToObject(root, "invocationId", id) ||
        !cJSON_AddStringToObject(root, "target", target) ||
        !(*args = cJSON_AddArrayToObject(root, "arguments"))) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int signalr__build_invocation(const char *target, uint64_t *next_id, struct signalr_record *out)
{
    char idbuf[24];
    cJSON *args = NULL;
    memset(out, 0, sizeof(*out));
    snprintf(idbuf, sizeof(idbuf), "%" PRIu64, *next_id);
    cJSON *root = target && target[0] ? signalr__invocation(idbuf, target, &args) : NULL;
    int rc = root ? signalr__finish_record(root, idbuf, out) : -1;
    cJSON_Delete(root);
    if (rc == 0)
        (*next_id)++;
    return rc;
}

/* Builds the invocation holding subscriptions [first, first + count) of the
 * user x event product. */
static int signalr__subscribe_chunk(const char *const *user_ids, const char *const *events,
                                    size_t n_events, size_t first, size_t count, uint64_t id,
                                    struct signalr_record *out)
{
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
    cJSON *args = NULL, *subs = NULL;
    cJSON *root = signalr__invocation(idbuf, "Subscribe", &args);
    if (!root || !(subs = cJSON_CreateArray()))
        goto fail;
    cJSON_AddItemToArray(args, subs);
    for (size_t i = first; i < first + count; i++) {
        cJSON *s = cJSON_CreateObject();
        if (!s)
            goto fail;
        cJSON_AddItemToArray(subs, s);
        if (!cJSON_AddStringToObject(s, "EntityId", user_ids[i / n_events]) ||
            !cJSON_AddStringToObject(s, "EventName", events[i % n_events]))
            goto fail;
    }
    int rc = signalr__finish_record(root, idbuf, out);
    cJSON_Delete(root);
    return rc;
fail:
    cJSON_Delete(root);
    return -1;
}

int signalr__build_subscribe(const char *const *user_ids, size_t n_users, const char *const *events,
                             size_t n_events, size_t max_per_invocation, uint64_t *next_id,
                             struct signalr_records *out)
{
    out->items = NULL;
    out->n = 0;
    if (!events) {
        events = signalr_call_events;
        n_events = 4;
    }
    if (n_users == 0 || n_events == 0)
        return 0;
    for (size_t i = 0; i < n_users; i++)
        if (!user_ids[i] || !user_ids[i][0])
            return -1;
    for (size_t i = 0; i < n_events; i++)
        if (!events[i] || !events[i][0])
            return -1;
    size_t per = max_per_invocation ? max_per_invocation : SIGNALR_SUBSCRIBE_CHUNK;
    if (n_users > SIZE_MAX / n_events)
        return -1;
    size_t total = n_users * n_events;
    size_t n_rec = (total + per - 1) / per;
    out->items = calloc(n_rec, sizeof(*out->items));
    if (!out->items)
        return -1;
    for (size_t r = 0; r < n_rec; r++) {
        size_t first = r * per;
        size_t count = total - first < per ? total - first : per;
        if (signalr__subscribe_chunk(user_ids, events, n_events, first, count, *next_id,
                                     &out->items[r]) < 0) {
            signalr_records__free(out);
            return -1;
        }
        out->n++;
        (*next_id)++;
    }
    return 0;
}

void signalr_records__free(struct signalr_records *recs)
{
    for (size_t i = 0; i < recs->n; i++)
        free(recs->items[i].data);
    free(recs->items);
    recs->items = NULL;
    recs->n = 0;
}

/* ---- negotiate -------------------------------------------------------- */

static char *signalr__dup_member(const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(it) && it->valuestring[0] ? strdup(it->valuestring) : NULL;
}

/* True when availableTransports lists WebSockets with the Text format. */
static bool signalr__has_websockets_text(const cJSON *root)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "availableTransports");
    const cJSON *t;
    cJSON_ArrayForEach(t, ts)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "transport");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, "WebSockets") != 0)
            continue;
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(t, "transferFormats"))
        {
            if (cJSON_IsString(f) && strcmp(f->valuestring, "Text") == 0)
                return true;
        }
    }
    return false;
}

static int signalr__negotiate_fields(const cJSON *root, struct signalr_negotiate *out, char *err,
                                     size_t errlen)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(e)) {
        out->error = strdup(e->valuestring);
        return out->error ? SIGNALR_NEG_ERROR : -1;
    }
    out->url = signalr__dup_member(root, "url");
    if (out->url) {
        out->access_token = signalr__dup_member(root, "accessToken");
        return SIGNALR_NEG_REDIRECT;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "negotiateVersion");
    out->version = cJSON_IsNumber(v) ? v->valueint : 0;
    out->connection_id = signalr__dup_member(root, "connectionId");
    /* Version 0 has no connectionToken: the connectionId is the id. */
    out->connection_token = signalr__dup_member(root, "connectionToken");
    if (!out->connection_token && out->version == 0 && out->connection_id)
        out->connection_token = strdup(out->connection_id);
    if (!out->connection_token) {
        str__printf(err, errlen, "negotiate response has no connectionToken");
        return -1;
    }
    if (!signalr__has_websockets_text(root)) {
        str__printf(err, errlen, "negotiate response offers no WebSockets transport with Text");
        return -1;
    }
    return SIGNALR_NEG_CONNECT;
}

int signalr__parse_negotiate(const char *body, size_t len, struct signalr_negotiate *out, char *err,
                             size_t errlen)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = json__parse(body, len);
    int rc;
    if (!root || !cJSON_IsObject(root)) {
        str__printf(err, errlen, "negotiate response is not a JSON object");
        rc = -1;
    }
    else {
        rc = signalr__negotiate_fields(root, out, err, errlen);
    }
    cJSON_Delete(root);
    if (rc < 0)
        signalr_negotiate__free(out);
    return rc;
}

void signalr_negotiate__free(struct signalr_negotiate *n)
{
    free(n->connection_token);
    free(n->connection_id);
    free(n->url);
    free(n->access_token);
    free(n->error);
    memset(n, 0, sizeof(*n));
}

/* ---- URLs --------------------------------------------------------------- */

/* The endpoint as a URL handle (libcurl's URL API): its own scheme (http,
 * https, ws, wss, any case) or https when it has none, the fragment dropped;
 * *tls tells https/wss from http/ws. NULL for an empty endpoint, a byte that
 * would break the request line, another scheme, no host, or out of memory. */
static CURLU *signalr__endpoint(const char *endpoint, bool *tls)
{
    if (!endpoint || !*endpoint)
        return NULL;
    for (const char *p = endpoint; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7F)
            return NULL;
    const char *rest = endpoint, *sep = strstr(endpoint, "://");
    *tls = true;
    if (sep) {
        size_t n = (size_t)(sep - endpoint);
        if ((n == 4 && !strncasecmp(endpoint, "http", 4)) ||
            (n == 2 && !strncasecmp(endpoint, "ws", 2)))
            *tls = false;
        else if (!(n == 5 && !strncasecmp(endpoint, "https", 5)) &&
                 !(n == 3 && !strncasecmp(endpoint, "wss", 3)))
            return NULL;
        rest = sep + 3;
    }
    if (!*rest || strchr("/?#", *rest))
        return NULL; /* no host */
    /* parsed as http(s); the WebSocket scheme is set when asked for */
    char *url = str__cat(*tls ? "https://" : "http://", rest, NULL);
    CURLU *u = curl_url();
    if (!url || !u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK) {
        free(url);
        curl_url_cleanup(u);
        return NULL;
    }
    free(url);
    return u;
}

/* Appends &name=value to b, value percent-encoded (every byte outside the
 * unreserved set, upper-case hex, as curl_easy_escape does). */
static void signalr__param(struct strbuf *b, const char *name, const char *value)
{
    size_t n = strlen(value);
    char *esc = n > INT32_MAX ? NULL : curl_easy_escape(NULL, value, (int)n);
    if (!esc) {
        strbuf__fail(b);
        return;
    }
    strbuf__printf(b, "%s%s=%s", b->len ? "&" : "", name, esc);
    curl_free(esc);
}

/* u's URL with the endpoint's own query (kept as written) and then params
 * ("a=b&c=d", encoded) as its query, or NULL; frees u. The query is joined
 * here rather than by CURLUPART_QUERY, which would rewrite the case of the
 * escapes. */
static char *signalr__url_take(CURLU *u, bool ok, const char *params)
{
    char *query = NULL, *base = NULL, *out = NULL;
    if (ok && params && curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_NO_QUERY)
        query = NULL;
    if (ok && params && curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &base, 0) == CURLUE_OK)
        out = str__cat(base, "?", query && *query ? query : "", query && *query ? "&" : "", params,
                       NULL);
    curl_free(query);
    curl_free(base);
    curl_url_cleanup(u);
    return out;
}

char *signalr__negotiate_url(const char *endpoint)
{
    bool tls;
    CURLU *u = signalr__endpoint(endpoint, &tls);
    if (!u)
        return NULL;
    char *path = NULL, *neg = NULL;
    bool ok = curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
    if (ok) {
        size_t n = strlen(path);
        while (n > 0 && path[n - 1] == '/')
            path[--n] = '\0'; /* "hub/" + "/negotiate" must not give "hub//negotiate" */
        neg = str__cat(path, "/negotiate", NULL);
    }
    ok = neg && curl_url_set(u, CURLUPART_PATH, neg, 0) == CURLUE_OK;
    curl_free(path);
    free(neg);
    return signalr__url_take(u, ok, "negotiateVersion=1");
}

char *signalr__ws_url(const char *endpoint, const char *connection_token, const char *access_token)
{
    bool tls;
    CURLU *u = connection_token ? signalr__endpoint(endpoint, &tls) : NULL;
    if (!u)
        return NULL;
    struct strbuf params = {0};
    signalr__param(&params, "id", connection_token);
    if (access_token)
        signalr__param(&params, "access_token", access_token);
    char *p = strbuf__take(&params);
    bool ok = p && curl_url_set(u, CURLUPART_SCHEME, tls ? "wss" : "ws",
                                CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK;
    char *url = signalr__url_take(u, ok, p);
    free(p);
    return url;
}

/* ---- token --------------------------------------------------------------- */

/* An RTE token is a few hundred bytes; a longer payload is not ours. */
#define SIGNALR_JWT_MAX_PAYLOAD (64 * 1024)

int signalr__jwt_exp(const char *token, int64_t *exp_s)
{
    if (!token)
        return -1;
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || dot1 == token || strchr(dot2 + 1, '.'))
        return -1;
    size_t n = (size_t)(dot2 - dot1 - 1), plen;
    unsigned char *payload;
    if (n > SIGNALR_JWT_MAX_PAYLOAD || b64__decode_url(dot1 + 1, n, &payload, &plen) < 0)
        return -1;
    cJSON *root = json__parse((const char *)payload, plen);
    free(payload);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "exp");
    int rc = -1;
    if (cJSON_IsObject(root) && cJSON_IsNumber(exp) && exp->valuedouble > 0 &&
        exp->valuedouble < 1e13) {
        *exp_s = (int64_t)floor(exp->valuedouble);
        rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

int64_t signalr__refresh_delay_ms(int64_t exp_s, int64_t now_wall_ms)
{
    /* Clamp to wall times that exist so the arithmetic cannot overflow
     * (signalr__jwt_exp gives < 1e13 s, but this function is public). */
    if (exp_s < 0)
        exp_s = 0;
    if (exp_s > INT64_C(10000000000000))
        exp_s = INT64_C(10000000000000);
    if (now_wall_ms < 0)
        now_wall_ms = 0;
    int64_t remaining = exp_s * 1000 - now_wall_ms;
    if (remaining <= 0)
        return 0;
    int64_t margin = remaining / 10;
    if (margin < 30000)
        margin = 30000;
    if (margin > 300000)
        margin = 300000;
    return remaining > margin ? remaining - margin : 0;
}
