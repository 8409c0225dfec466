/* Graph change-notification bodies: notification__parse on arbitrary bytes,
 * then what the webhook does with each item (resourceData.id or resource ->
 * user id). Checks the header's promises: valid items carry their required
 * fields, a user id found is a plausible one. */
#include "fuzz_util.h"

#include "graph/notification.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct notification_batch b;
    enum notification_body_status st = notification__parse((const char *)data, size, &b);
    FUZZ_ASSERT(notification__body_status_name(st) != NULL);
    if (st != NOTIFICATION_BODY_OK)
        return 0;
    FUZZ_ASSERT(b.n_items <= NOTIFICATION_MAX_ITEMS);
    FUZZ_ASSERT(b.n_tokens <= NOTIFICATION_MAX_TOKENS);
    for (size_t i = 0; i < b.n_tokens; i++)
        FUZZ_ASSERT(b.tokens[i] && strlen(b.tokens[i]) <= NOTIFICATION_TOKEN_MAX);
    for (size_t i = 0; i < b.n_items; i++) {
        const struct notification_item *it = &b.items[i];
        FUZZ_ASSERT(notification__item_status_name(it->status) != NULL);
        if (it->status != NOTIFICATION_ITEM_OK)
            continue;
        FUZZ_ASSERT(it->subscription_id && it->client_state && it->tenant_id);
        FUZZ_ASSERT(!it->change_type != !it->lifecycle_event);
        FUZZ_ASSERT(notification__is_lifecycle(it) == (it->lifecycle_event != NULL));
        if (it->change_type)
            FUZZ_ASSERT(it->resource != NULL || it->resource_id != NULL);
        if (it->has_encrypted)
            FUZZ_ASSERT(it->encrypted.data && it->encrypted.data_signature &&
                        it->encrypted.data_key && it->encrypted.cert_id &&
                        it->encrypted.thumbprint);
        char id[NOTIFICATION_ID_MAX + 1];
        if (notification__user_id(it, id, sizeof(id)) == NOTIFICATION_USER_OK)
            FUZZ_ASSERT(notification__id_ok(id, strlen(id)));
        if (it->resource) {
            enum notification_user r =
                notification__user_id_from_resource(it->resource, id, sizeof(id));
            FUZZ_ASSERT(r == NOTIFICATION_USER_OK || r == NOTIFICATION_USER_NONE ||
                        r == NOTIFICATION_USER_SEVERAL);
            if (r == NOTIFICATION_USER_OK) {
                size_t n = strlen(id);
                FUZZ_ASSERT(n >= 1 && n <= NOTIFICATION_ID_MAX);
                FUZZ_ASSERT(!strpbrk(id, "/'?(), "));
            }
            char tiny[4];
            notification__user_id_from_resource(it->resource, tiny, sizeof(tiny));
        }
    }
    notification__free(&b);
    return 0;
}
