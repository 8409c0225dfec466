/* Graph change-notification bodies (graph-presence.md §3.2, §5).
 *
 * Design: a webhook POST body (changeNotificationCollection) is parsed once,
 * on a worker thread, into a flat array of items that own copies of their
 * strings, so the cJSON tree and the HTTP buffer can be freed at once and the
 * items handed around freely. Validation is per item: a malformed item gets a
 * reason and the name of the offending field, while the other items in the
 * same POST still count (one bad item must not lose the others). Only a body
 * that is not JSON, not an object, has no `value` array, holds too many items
 * or a broken `validationTokens` array is rejected as a whole. Unknown fields
 * are ignored: Graph adds fields over time. Every string has a length cap so
 * a hostile POST cannot make us hold arbitrary amounts of memory per field.
 *
 * Nothing here checks authenticity: clientState (notify_crypto.h), the
 * validationTokens (jwt.h) and decryption are the caller's next steps.
 */
#ifndef PS_GRAPH_NOTIFICATION_H
#define PS_GRAPH_NOTIFICATION_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define NOTIFICATION_MAX_ITEMS  1000
#define NOTIFICATION_MAX_TOKENS 100

/* Field length caps (bytes, excluding the NUL). */
#define NOTIFICATION_ID_MAX           128           /* subscriptionId, tenantId, resourceData.id */
#define NOTIFICATION_CLIENT_STATE_MAX 255           /* Graph documents 128 and 255; allow 255 */
#define NOTIFICATION_KIND_MAX         64            /* changeType, lifecycleEvent */
#define NOTIFICATION_DATE_MAX         64            /* subscriptionExpirationDateTime */
#define NOTIFICATION_RESOURCE_MAX     1024          /* resource */
#define NOTIFICATION_DATA_MAX         (1024 * 1024) /* encryptedContent.data (base64) */
#define NOTIFICATION_DATA_KEY_MAX     1024          /* base64 of an RSA-4096 block is 684 */
#define NOTIFICATION_SIGNATURE_MAX    128           /* base64 of 32 bytes is 44 */
#define NOTIFICATION_CERT_ID_MAX      128           /* encryptionCertificateId */
#define NOTIFICATION_THUMBPRINT_MAX   128           /* encryptionCertificateThumbprint */
#define NOTIFICATION_TOKEN_MAX        16384         /* one validationTokens entry */

enum notification_body_status {
    NOTIFICATION_BODY_OK = 0,
    NOTIFICATION_BODY_NOT_JSON,
    NOTIFICATION_BODY_NOT_OBJECT,
    NOTIFICATION_BODY_NO_VALUE,
    NOTIFICATION_BODY_VALUE_NOT_ARRAY,
    NOTIFICATION_BODY_TOO_MANY_ITEMS,
    NOTIFICATION_BODY_BAD_TOKENS,
    NOTIFICATION_BODY_NO_MEMORY,
};

enum notification_item_status {
    NOTIFICATION_ITEM_OK = 0,
    NOTIFICATION_ITEM_NOT_OBJECT,
    NOTIFICATION_ITEM_MISSING_FIELD,
    NOTIFICATION_ITEM_WRONG_TYPE,
    NOTIFICATION_ITEM_TOO_LONG,
    NOTIFICATION_ITEM_EMPTY_FIELD,
    NOTIFICATION_ITEM_BOTH_KINDS, /* changeType and lifecycleEvent together */
    NOTIFICATION_ITEM_NO_KIND,    /* neither changeType nor lifecycleEvent */
    NOTIFICATION_ITEM_NO_MEMORY,
};

/* The five strings of encryptedContent, as received (base64 / labels). */
struct graph_encrypted_content {
    char *data;
    char *data_signature;
    char *data_key;
    char *cert_id;    /* encryptionCertificateId */
    char *thumbprint; /* encryptionCertificateThumbprint */
};

struct notification_item {
    enum notification_item_status status;
    const char *bad_field; /* static JSON path of the offending field, or NULL */

    /* Owned copies; NULL when absent. Valid items always have subscription_id,
     * client_state, tenant_id and exactly one of change_type/lifecycle_event;
     * change items also have resource. */
    char *subscription_id;
    char *client_state;
    char *tenant_id;
    char *change_type;
    char *lifecycle_event;
    char *resource;
    char *resource_id; /* resourceData.id */
    char *subscription_expiration;
    bool has_encrypted; /* all five encrypted_content fields are set */
    struct graph_encrypted_content encrypted;
};

struct notification_batch {
    struct notification_item *items;
    size_t n_items;
    char **tokens; /* validationTokens, owned */
    size_t n_tokens;
};

/* Parses a POST body. On NOTIFICATION_BODY_OK fills *out (free it with
 * notification__free); otherwise *out is empty. Per-item problems are in
 * out->items[i].status, never in the return value. */
enum notification_body_status notification__parse(const char *body, size_t len,
                                                  struct notification_batch *out);
/* Same, from an already parsed tree (not modified, not kept). */
enum notification_body_status notification__parse_json(const cJSON *root,
                                                       struct notification_batch *out);
void notification__free(struct notification_batch *batch);

bool notification__is_lifecycle(const struct notification_item *item);

const char *notification__body_status_name(enum notification_body_status s);
const char *notification__item_status_name(enum notification_item_status s);

/* Extracts the user id from a presence resource path:
 * `communications/presences/{id}`, `users/{id}/presence`, optionally with a
 * leading `/` and the `('{id}')` key form; prefixes compare case-insensitively.
 * Writes the id (1..NOTIFICATION_ID_MAX bytes, no `/`, `'`, `?`) to out.
 * Returns 0, or -1 for anything else (including out too small). */
int graph__user_id_from_resource(const char *resource, char *out, size_t outlen);

#endif
