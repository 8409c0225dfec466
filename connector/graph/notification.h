/* Graph change-notification bodies (docs/graph.md "What Graph
 * sends").
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
#define NOTIFICATION_ID_MAX           128 /* subscriptionId, tenantId, resourceData.id */
#define NOTIFICATION_CLIENT_STATE_MAX 255 /* Graph documents 128 and 255; allow 255 */
#define NOTIFICATION_KIND_MAX         64  /* changeType, lifecycleEvent */
#define NOTIFICATION_DATE_MAX         64  /* subscriptionExpirationDateTime */
/* resource: for a bulk subscription Graph may send the subscription's whole
 * filter, about 29 KB for 650 ids (docs/graph.md, "What Graph sends"); the
 * cap only stops a hostile POST, the body limit bounds the total. */
#define NOTIFICATION_RESOURCE_MAX   (256 * 1024)
#define NOTIFICATION_DATA_MAX       (1024 * 1024) /* encryptedContent.data (base64) */
#define NOTIFICATION_DATA_KEY_MAX   1024          /* base64 of an RSA-4096 block is 684 */
#define NOTIFICATION_SIGNATURE_MAX  128           /* base64 of 32 bytes is 44 */
#define NOTIFICATION_CERT_ID_MAX    128           /* encryptionCertificateId */
#define NOTIFICATION_THUMBPRINT_MAX 128           /* encryptionCertificateThumbprint */
#define NOTIFICATION_TOKEN_MAX      16384         /* one validationTokens entry */

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
     * change items also have resource or resource_id (or both). */
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

/* What notification__user_id_from_resource and notification__user_id found. */
enum notification_user {
    NOTIFICATION_USER_OK = 0,  /* one user, written to out */
    NOTIFICATION_USER_NONE,    /* nothing usable names a user */
    NOTIFICATION_USER_SEVERAL, /* a filter over several users: only the
                                  decrypted content can tell which */
};

/* The user id a presence `resource` names. Accepted (prefixes compare
 * case-insensitively, a leading `/` is optional):
 *   communications/presences/{id}, communications/presences('{id}'),
 *   users/{id}/presence, users('{id}')/presence,
 *   communications/presences?$filter=id in ('{id}',...) in any URL encoding
 *   (`+` for spaces, %27 for quotes, %2c for commas: what Graph sends for a
 *   bulk subscription), and `id eq '{id}'`.
 * Writes the id (1..NOTIFICATION_ID_MAX bytes, no `/`, `'`, `?`, `(`, `)`,
 * space or control character) to out. A filter over more than one id gives
 * NOTIFICATION_USER_SEVERAL; anything else (or out too small) NONE. */
enum notification_user notification__user_id_from_resource(const char *resource, char *out,
                                                           size_t outlen);

/* The user a change item is for, from what it says in clear: resourceData.id
 * when it is a plausible id, else the one user its resource names
 * (docs/graph.md: resourceData.id, then the decrypted id, then resource). */
enum notification_user notification__user_id(const struct notification_item *it, char *out,
                                             size_t outlen);

/* True when id is a plausible user id (the rules above). */
bool notification__id_ok(const char *id, size_t len);

#endif
