/* Permissions in the probe's tokens; see perms.h. */
#include "probe/perms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/json.h"
#include "core/b64.h"

#define PERMS_TOKEN_MAX 16384

/* What the daemon needs, any one name of each row (Graph's permission
 * tables: presence-setpresence, cloudcommunications-getpresencesbyuserid,
 * user-get, subscription-post-subscriptions for presence: documented). */
struct perms_row {
    bool app;
    const char *add;
    const char *what;
    const char *any[6];
};

static const struct perms_row perms_rows[] = {
    {true,
     "Presence.ReadWrite.All",
     "the daemon cannot set or clear Teams presence (a Voice call never shows as Busy/InACall)",
     {"Presence.ReadWrite.All"}},
    {true,
     "Presence.Read.All",
     "the daemon cannot read presence (resync, basic notifications)",
     {"Presence.Read.All", "Presence.ReadWrite.All"}},
    {true,
     "User.Read.All",
     "the daemon cannot look up the users' object ids",
     {"User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All", "Directory.Read.All",
      "Directory.ReadWrite.All"}},
    {false,
     "Presence.Read.All",
     "the service account cannot create presence subscriptions",
     {"Presence.Read.All"}},
};

static void perms__copy(const cJSON *o, const char *name, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(buf, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int perms__roles(const cJSON *roles, struct probe_claims *out)
{
    int n = cJSON_GetArraySize(roles);
    out->roles = calloc((size_t)n + 1, sizeof(char *));
    if (!out->roles)
        return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, roles)
    {
        if (cJSON_IsString(e) && (out->roles[out->n_roles] = strdup(e->valuestring)))
            out->n_roles++;
    }
    return 0;
}

int probe_perms__decode(const char *token, struct probe_claims *out)
{
    memset(out, 0, sizeof(*out));
    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strlen(token) > PERMS_TOKEN_MAX || dot2 == dot1 + 1)
        return -1;
    unsigned char *raw = NULL;
    size_t n = 0;
    if (b64__decode_url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &n) != 0)
        return -1;
    cJSON *p = json__parse((const char *)raw, n);
    free(raw);
    if (!cJSON_IsObject(p)) {
        cJSON_Delete(p);
        return -1;
    }
    perms__copy(p, "tid", out->tid, sizeof(out->tid));
    perms__copy(p, "aud", out->aud, sizeof(out->aud));
    perms__copy(p, "idtyp", out->idtyp, sizeof(out->idtyp));
    perms__copy(p, "upn", out->upn, sizeof(out->upn));
    const cJSON *scp = cJSON_GetObjectItemCaseSensitive(p, "scp");
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(p, "roles");
    int rc = 0;
    if (cJSON_IsString(scp) && !(out->scp = strdup(scp->valuestring)))
        rc = -1;
    if (rc == 0 && cJSON_IsArray(roles))
        rc = perms__roles(roles, out);
    cJSON_Delete(p);
    if (rc != 0)
        probe_perms__free(out);
    return rc;
}

void probe_perms__free(struct probe_claims *c)
{
    for (size_t i = 0; i < c->n_roles; i++)
        free(c->roles[i]);
    free(c->roles);
    free(c->scp);
    memset(c, 0, sizeof(*c));
}

static bool perms__in_scp(const char *scp, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = scp; p && *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == n && strncasecmp(p, name, n) == 0)
            return true;
        p += len;
    }
    return false;
}

bool probe_perms__has(const struct probe_claims *c, const char *name)
{
    for (size_t i = 0; i < c->n_roles; i++) {
        if (strcasecmp(c->roles[i], name) == 0)
            return true;
    }
    return perms__in_scp(c->scp, name);
}

size_t probe_perms__missing(const struct probe_claims *c, bool app, struct probe_need *out,
                            size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(perms_rows) / sizeof(perms_rows[0]); i++) {
        const struct perms_row *row = &perms_rows[i];
        bool have = false;
        for (size_t k = 0; row->app == app && k < 6 && row->any[k] && !have; k++)
            have = probe_perms__has(c, row->any[k]);
        if (row->app != app || have)
            continue;
        /* reads come with writes: name only what is really missing */
        if (app && strcmp(row->add, "Presence.Read.All") == 0 && n > 0 &&
            strcmp(out[n - 1].add, "Presence.ReadWrite.All") == 0)
            continue;
        if (n < max)
            out[n] = (struct probe_need){row->add, row->what};
        n++;
    }
    return n < max ? n : max;
}

const char *probe_perms__list(const struct probe_claims *c, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n_roles && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", c->roles[i]);
    if (c->scp && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", c->scp);
    if (!buf[0])
        snprintf(buf, len, "(none)");
    return buf;
}
