/* Voice REST responses: discovery, users, RTE token. */
#include "voice/discovery.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/str.h"

/* A non-empty string member (name in any case), or NULL. */
static const char *discovery__str(const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItem(obj, name);
    return cJSON_IsString(it) && it->valuestring[0] ? it->valuestring : NULL;
}

static bool discovery__is_http_url(const char *s)
{
    const char *host = NULL;
    if (strncasecmp(s, "https://", 8) == 0)
        host = s + 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        host = s + 7;
    if (!host || !*host || *host == '/')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7F)
            return false;
    return true;
}

int discovery__parse_endpoint(const char *body, size_t len, char **api_url, char *err,
                              size_t errlen)
{
    *api_url = NULL;
    cJSON *root = json__parse(body, len);
    const cJSON *first = cJSON_IsArray(root) ? cJSON_GetArrayItem(root, 0) : root;
    const char *ep = cJSON_IsObject(first) ? discovery__str(first, "apiEndpoint") : NULL;
    int rc = -1;
    if (!root)
        str__printf(err, errlen, "discovery response is not JSON");
    else if (cJSON_IsArray(root) && !first)
        str__printf(err, errlen, "discovery response is an empty array (unknown user?)");
    else if (!ep)
        str__printf(err, errlen, "discovery response has no apiEndpoint");
    else if (!discovery__is_http_url(ep))
        str__printf(err, errlen, "discovery apiEndpoint is not an http(s) URL");
    else if (!(*api_url = strdup(ep)))
        str__printf(err, errlen, "out of memory");
    else
        rc = 0;
    if (rc == 0) {
        size_t n = strlen(*api_url);
        while (n > 0 && (*api_url)[n - 1] == '/')
            (*api_url)[--n] = '\0';
    }
    cJSON_Delete(root);
    return rc;
}

int discovery__parse_me(const char *body, size_t len, char **me_id, char *err, size_t errlen)
{
    *me_id = NULL;
    cJSON *root = json__parse(body, len);
    const char *id = cJSON_IsObject(root) ? discovery__str(root, "Id") : NULL;
    int rc = -1;
    if (!cJSON_IsObject(root))
        str__printf(err, errlen, "users/me response is not a JSON object");
    else if (!id)
        str__printf(err, errlen, "users/me response has no Id");
    else if (!(*me_id = strdup(id)))
        str__printf(err, errlen, "out of memory");
    else
        rc = 0;
    cJSON_Delete(root);
    return rc;
}

void voice_users__free(struct voice_users *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->items[i].id);
        free(u->items[i].username);
        free(u->items[i].email);
    }
    free(u->items);
    memset(u, 0, sizeof(*u));
}

int discovery__parse_users(const char *body, size_t len, struct voice_users *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = json__parse(body, len);
    if (!cJSON_IsArray(root)) {
        str__printf(err, errlen, "users response is not a JSON array");
        cJSON_Delete(root);
        return -1;
    }
    int n = cJSON_GetArraySize(root);
    out->items = calloc(n > 0 ? (size_t)n : 1, sizeof(*out->items));
    if (!out->items) {
        str__printf(err, errlen, "out of memory");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *el;
    cJSON_ArrayForEach(el, root)
    {
        const char *id = discovery__str(el, "Id");
        const char *name = discovery__str(el, "UserName");
        const char *email = discovery__str(el, "Email");
        if (!cJSON_IsObject(el) || !id || (!name && !email)) {
            out->skipped++;
            continue;
        }
        struct voice_user *u = &out->items[out->n];
        u->id = strdup(id);
        u->username = name ? strdup(name) : NULL;
        u->email = email ? strdup(email) : NULL;
        out->n++;
        if (!u->id || (name && !u->username) || (email && !u->email)) {
            str__printf(err, errlen, "out of memory");
            voice_users__free(out);
            cJSON_Delete(root);
            return -1;
        }
    }
    cJSON_Delete(root);
    return 0;
}

/* An index of users by one field (UserName or Email), sorted by it,
 * case-insensitively; users without the field are left out. */
struct discovery_index {
    const struct voice_user **v;
    size_t n;
    bool email;
};

static const char *discovery__key(const struct voice_user *u, bool email)
{
    return email ? u->email : u->username;
}

static int discovery__cmp_name(const void *a, const void *b)
{
    const struct voice_user *const *x = a, *const *y = b;
    int c = strcasecmp((*x)->username, (*y)->username);
    /* stable on input order so that "the first one wins" holds */
    return c ? c : (*x < *y) ? -1 : (*x > *y);
}

static int discovery__cmp_email(const void *a, const void *b)
{
    const struct voice_user *const *x = a, *const *y = b;
    int c = strcasecmp((*x)->email, (*y)->email);
    return c ? c : (*x < *y) ? -1 : (*x > *y);
}

static int discovery__index(const struct voice_users *users, bool email, struct discovery_index *ix)
{
    ix->email = email;
    ix->n = 0;
    ix->v = calloc(users->n ? users->n : 1, sizeof(*ix->v));
    if (!ix->v)
        return -1;
    for (size_t i = 0; i < users->n; i++)
        if (discovery__key(&users->items[i], email))
            ix->v[ix->n++] = &users->items[i];
    qsort(ix->v, ix->n, sizeof(*ix->v), email ? discovery__cmp_email : discovery__cmp_name);
    return 0;
}

/* First user (in input order) whose field equals addr, case-insensitively. */
static const struct voice_user *discovery__lookup(const struct discovery_index *ix,
                                                  const char *addr)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) { /* lower bound */
        size_t mid = lo + (hi - lo) / 2;
        if (strcasecmp(discovery__key(ix->v[mid], ix->email), addr) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && strcasecmp(discovery__key(ix->v[lo], ix->email), addr) == 0 ? ix->v[lo]
                                                                                     : NULL;
}

void voice_mapping__free(struct voice_mapping *m)
{
    for (size_t i = 0; i < m->n_matched; i++)
        free(m->matched[i].user_id);
    free(m->matched);
    free(m->missing);
    memset(m, 0, sizeof(*m));
}

int discovery__map_users(const struct voice_users *users, const char *const *addresses,
                         size_t n_addresses, struct voice_mapping *out)
{
    memset(out, 0, sizeof(*out));
    struct discovery_index by_name = {0}, by_email = {0};
    out->matched = calloc(n_addresses ? n_addresses : 1, sizeof(*out->matched));
    out->missing = calloc(n_addresses ? n_addresses : 1, sizeof(*out->missing));
    if (!out->matched || !out->missing || discovery__index(users, false, &by_name) != 0 ||
        discovery__index(users, true, &by_email) != 0)
        goto oom;
    for (size_t i = 0; i < n_addresses; i++) {
        const char *field = "UserName";
        const struct voice_user *u = discovery__lookup(&by_name, addresses[i]);
        if (!u) {
            u = discovery__lookup(&by_email, addresses[i]);
            field = "Email";
        }
        if (!u) {
            out->missing[out->n_missing++] = addresses[i];
            continue;
        }
        struct voice_match *m = &out->matched[out->n_matched];
        m->address = addresses[i];
        m->field = field;
        if (!(m->user_id = strdup(u->id)))
            goto oom;
        out->n_matched++;
    }
    free(by_name.v);
    free(by_email.v);
    return 0;
oom:
    free(by_name.v);
    free(by_email.v);
    voice_mapping__free(out);
    return -1;
}

int discovery__parse_rte_token(const char *body, size_t len, char **token, char **wss_endpoint,
                               char *err, size_t errlen)
{
    *token = NULL;
    *wss_endpoint = NULL;
    cJSON *root = json__parse(body, len);
    const char *t = cJSON_IsObject(root) ? discovery__str(root, "Token") : NULL;
    const char *w = cJSON_IsObject(root) ? discovery__str(root, "WSSEndpoint") : NULL;
    int rc = -1;
    if (!cJSON_IsObject(root))
        str__printf(err, errlen, "rte token response is not a JSON object");
    else if (!t)
        str__printf(err, errlen, "rte token response has no Token");
    else if (!w)
        str__printf(err, errlen, "rte token response has no WSSEndpoint");
    else if (!(*token = strdup(t)) || !(*wss_endpoint = strdup(w)))
        str__printf(err, errlen, "out of memory");
    else
        rc = 0;
    if (rc < 0) {
        free(*token);
        *token = NULL;
    }
    cJSON_Delete(root);
    return rc;
}
