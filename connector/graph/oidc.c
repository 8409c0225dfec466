/* The tenant's OpenID configuration document (oidc.h). */
#include "graph/oidc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/json.h"

static void oidc__err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

bool oidc__is_guid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < OIDC_GUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return s[OIDC_GUID_LEN] == '\0';
}

static bool oidc__is_url(const char *s)
{
    return (!strncasecmp(s, "https://", 8) && s[8]) || (!strncasecmp(s, "http://", 7) && s[7]);
}

/* The first path segment of an http(s) URL: start and length. */
static const char *oidc__first_segment(const char *url, size_t *len)
{
    if (!url || !oidc__is_url(url))
        return NULL;
    const char *host = strstr(url, "://") + 3;
    const char *seg = strchr(host, '/');
    if (!seg)
        return NULL;
    seg++;
    *len = strcspn(seg, "/?#");
    return seg;
}

int oidc__issuer_guid(const char *issuer, char out[OIDC_GUID_LEN + 1])
{
    size_t len = 0;
    const char *seg = oidc__first_segment(issuer, &len);
    if (!seg || len != OIDC_GUID_LEN)
        return -1;
    char guid[OIDC_GUID_LEN + 1];
    memcpy(guid, seg, OIDC_GUID_LEN);
    guid[OIDC_GUID_LEN] = '\0';
    if (!oidc__is_guid(guid))
        return -1;
    for (int i = 0; i < OIDC_GUID_LEN; i++)
        out[i] = (char)tolower((unsigned char)guid[i]);
    out[OIDC_GUID_LEN] = '\0';
    return 0;
}

char *oidc__issuer_template(const char *issuer)
{
    char guid[OIDC_GUID_LEN + 1];
    size_t len = 0;
    const char *seg = oidc__first_segment(issuer, &len);
    if (!seg || oidc__issuer_guid(issuer, guid) != 0)
        return NULL;
    size_t head = (size_t)(seg - issuer);
    size_t n = strlen(issuer) - OIDC_GUID_LEN + strlen(OIDC_TENANT_SLOT) + 1;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "%.*s%s%s", (int)head, issuer, OIDC_TENANT_SLOT, seg + OIDC_GUID_LEN);
    return t;
}

static int oidc__url_field(const cJSON *root, const char *name, bool required, char *dst,
                           size_t dstlen, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    dst[0] = '\0';
    if (!v && !required)
        return 0;
    if (!cJSON_IsString(v) || !oidc__is_url(v->valuestring) || strlen(v->valuestring) >= dstlen) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s: missing or not an http(s) URL", name);
        oidc__err(err, errlen, msg);
        return -1;
    }
    snprintf(dst, dstlen, "%s", v->valuestring);
    return 0;
}

int oidc__parse(const char *body, size_t len, struct oidc_doc *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!body || len == 0 || len > OIDC_DOC_MAX) {
        oidc__err(err, errlen, "document empty or too large");
        return -1;
    }
    cJSON *root = json__parse(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        oidc__err(err, errlen, "not a JSON object");
        return -1;
    }
    int rc = oidc__url_field(root, "issuer", true, out->issuer, sizeof(out->issuer), err, errlen);
    if (rc == 0)
        rc = oidc__url_field(root, "jwks_uri", true, out->jwks_uri, sizeof(out->jwks_uri), err,
                             errlen);
    if (rc == 0)
        rc = oidc__url_field(root, "token_endpoint", false, out->token_endpoint,
                             sizeof(out->token_endpoint), err, errlen);
    cJSON_Delete(root);
    if (rc == 0 && oidc__issuer_guid(out->issuer, out->tenant_guid) != 0)
        out->tenant_guid[0] = '\0'; /* "common": {tenantid} */
    return rc;
}

char *oidc__config_url(const char *login_url, const char *tenant)
{
    size_t n = strlen(login_url);
    while (n && login_url[n - 1] == '/')
        n--;
    static const char tail[] = "/v2.0/.well-known/openid-configuration";
    size_t len = n + 1 + strlen(tenant) + sizeof(tail);
    char *url = malloc(len);
    if (url)
        snprintf(url, len, "%.*s/%s%s", (int)n, login_url, tenant, tail);
    return url;
}
