/* The start-up listing of one account's subscriptions: ours adopted, the
 * others deleted; see subscription_adopt.h. */
#include "graph/subscription_adopt.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "graph/graph_client.h"
#include "graph/graph_status.h"
#include "graph/notify_crypto.h"
#include "role/role.h"

/* After the listing: an adopted subscription is renewed on its schedule, and
 * everyone is read once, for what changed while no instance was active. */
static void subscription_adopt__adopted(struct subscription *sub)
{
    subscription__next(sub);
    graph_status__changed(sub->env->status);
    if (sub->env->want_resync)
        sub->env->want_resync(sub->env->ctx, "subscription adopted");
}

static void subscription_adopt__deleted(struct subscription *sub, const struct graph_response *res)
{
    if (res->status != 204 && res->status != 200 && res->status != 404)
        subscription__set_error(sub, res, "delete");
    if (--sub->outstanding > 0)
        return;
    sub->busy = false;
    if (sub->id[0]) { /* one was adopted while the others were deleted */
        subscription_adopt__adopted(sub);
        return;
    }
    sub->state = SUBSCRIPTION_IDLE;
    subscription__ensure(sub);
}

void subscription_adopt__delete(struct subscription *sub, const char *id)
{
    char path[GRAPH_ID_MAX + 32];
    snprintf(path, sizeof(path), "/subscriptions/%s", id);
    LOG_INFO("graph", "deleting subscription tenant=%s account=%s id=%s", sub->env->tenant,
             sub->username, id);
    sub->outstanding++;
    subscription__call(sub, "DELETE", path, NULL, subscription_adopt__deleted);
}

/* The listed subscription delivers as ours would: the same lifecycle URL,
 * basic or rich as configured, and with our certificate (a field Graph leaves
 * out is taken as matching; a rotated certificate does not match, so the
 * subscription is replaced). */
static bool subscription_adopt__same_delivery(const struct subscription *sub, const cJSON *it)
{
    const struct subscription_env *env = sub->env;
    const char *life = json__str(it, "lifecycleNotificationUrl");
    if (life && strcmp(life, env->lifecycle_url))
        return false;
    bool rich = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "includeResourceData"));
    if (rich != (env->keys != NULL))
        return false;
    if (!rich)
        return true;
    const char *cert_id = json__str(it, "encryptionCertificateId");
    const char *cert = json__str(it, "encryptionCertificate");
    if (cert_id && strcmp(cert_id, env->cert_id))
        return false;
    if (!cert)
        return true;
    char *ours = notify_crypto__store_cert_base64(env->keys, env->cert_id);
    bool same = ours && !strcmp(ours, cert);
    free(ours);
    return same;
}

/* A listed subscription that another instance with this configuration made
 * (the same notificationUrl and users, hence the same clientState) and that
 * is not about to expire: taken over as it is (docs/ha.md "Subscriptions"). */
static bool subscription_adopt__one(struct subscription *sub, const cJSON *it)
{
    const char *url = json__str(it, "notificationUrl");
    const char *resource = json__str(it, "resource");
    const char *id = json__str(it, "id");
    const char *exp = json__str(it, "expirationDateTime");
    int64_t wall = 0;
    if (sub->state == SUBSCRIPTION_ACTIVE || !sub->derived_state[0] || !url || !resource || !id ||
        !exp || strcmp(url, sub->env->notify_url) || strlen(id) > GRAPH_ID_MAX ||
        clock__parse_iso8601(exp, &wall) != 0 ||
        wall - clock__wall_ms() < 2 * SUBSCRIPTION_MIN_RENEW)
        return false;
    char *want = subscription__resource(sub->ids, sub->n_ids);
    bool same = want && !strcasecmp(want, resource) && subscription_adopt__same_delivery(sub, it);
    free(want);
    if (!same ||
        (sub->env->adoptable && !sub->env->adoptable(sub->env->ctx, id, sub->derived_state)))
        return false;
    snprintf(sub->id, sizeof(sub->id), "%s", id);
    snprintf(sub->client_state, sizeof(sub->client_state), "%s", sub->derived_state);
    sub->expires_wall_ms = wall;
    subscription__active(sub, "adopted", "graph_subscriptions_adopted_total");
    return true;
}

static void subscription_adopt__delete_listed(struct subscription *sub, const cJSON *value)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, value)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "resource");
        if (cJSON_IsString(id) && cJSON_IsString(r) && strlen(id->valuestring) <= GRAPH_ID_MAX &&
            strstr(r->valuestring, "communications/presences") && !subscription_adopt__one(sub, it))
            subscription_adopt__delete(sub, id->valuestring);
    }
}

void subscription_adopt__listed(struct subscription *sub, const struct graph_response *res)
{
    if (!role__writes(sub->env->role, sub->env->tenant)) { /* fenced meanwhile */
        sub->busy = false;
        sub->state = SUBSCRIPTION_IDLE;
        sub->listed = false;
        return;
    }
    cJSON *o = res->status == 200 ? json__parse(res->body, res->body_len) : NULL;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!cJSON_IsArray(value)) {
        cJSON_Delete(o);
        sub->busy = false;
        sub->state = SUBSCRIPTION_IDLE;
        subscription__set_error(sub, res, "list");
        subscription__retry(sub, res);
        return;
    }
    sub->outstanding = 1; /* held while deleting */
    sub->state = SUBSCRIPTION_DELETING;
    subscription_adopt__delete_listed(sub, value);
    if (sub->id[0])
        sub->state = SUBSCRIPTION_ACTIVE; /* adopted; others of ours may be deleted meanwhile */
    /* a delegated list holds one page in practice; a nextLink would hold
     * more subscriptions of this app by this account: noted, not followed */
    if (cJSON_GetObjectItemCaseSensitive(o, "@odata.nextLink"))
        LOG_WARN("graph", "subscription list has more pages tenant=%s account=%s", sub->env->tenant,
                 sub->username);
    cJSON_Delete(o);
    sub->listed = true;
    if (--sub->outstanding == 0) {
        sub->busy = false;
        if (sub->state != SUBSCRIPTION_ACTIVE) {
            sub->state = SUBSCRIPTION_IDLE;
            subscription__ensure(sub);
        }
        else {
            subscription_adopt__adopted(sub);
        }
    }
}
