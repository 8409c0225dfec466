/* Decryption of Graph rich notifications (docs/graph.md "Basic or
 * rich notifications", "Webhook").
 *
 * Design: a key store holds one entry per (certificate id label, certificate,
 * private key). Several entries may be loaded at once so that keys can be
 * rotated: Graph names the certificate in every item (encryptionCertificateId)
 * plus its SHA-1 thumbprint, and the entry must match both; the same label may
 * even be reused for the new certificate during a rotation.
 *
 * Per item the recipe is: base64-decode the three blobs, RSA-OAEP
 * (SHA-1, MGF1-SHA-1) unwrap the symmetric key, check HMAC-SHA256(key, data)
 * against dataSignature in constant time BEFORE touching the ciphertext, then
 * AES-CBC (key length 16/24/32 picks AES-128/192/256) with IV = key[0..15] and
 * PKCS7 padding. Key material and plaintext are wiped with OPENSSL_cleanse.
 *
 * Threads: decryption takes the store's read lock; the EVP_PKEYs are shared
 * read-only (safe in OpenSSL 3). Adding or removing keys takes the write lock,
 * so rotation may happen while decryption workers run.
 *
 * Cost: one RSA private-key operation per item is the floor, so nothing else
 * may be expensive. The algorithms are fetched once (OpenSSL 3's EVP_sha1()
 * and one-shot HMAC() fetch on every call); each key keeps a prepared
 * RSA-OAEP context that items copy (EVP_PKEY_CTX_dup) instead of setting one
 * up; each thread reuses its AES and HMAC contexts (reset / re-keyed after
 * every item, so no key material stays in them).
 *
 * The HMAC proves integrity only: authenticity comes from the clientState
 * (notify_crypto__client_state_equal) and the validation tokens.
 */
#ifndef PS_GRAPH_NOTIFY_CRYPTO_H
#define PS_GRAPH_NOTIFY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/notification.h"

struct config;
struct config_error;

#define NOTIFY_CRYPTO_MAX_KEYS     8
#define NOTIFY_CRYPTO_THUMB_LEN    40 /* hex chars of a SHA-1 */
#define NOTIFY_CRYPTO_MIN_RSA_BITS 2048
#define NOTIFY_CRYPTO_MAX_RSA_BITS 4096

enum notify_crypto_result {
    NOTIFY_CRYPTO_OK = 0,
    NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE,
    NOTIFY_CRYPTO_THUMBPRINT_MISMATCH,
    NOTIFY_CRYPTO_BAD_BASE64,
    NOTIFY_CRYPTO_KEY_UNWRAP_FAILED,
    NOTIFY_CRYPTO_BAD_SIGNATURE,
    NOTIFY_CRYPTO_DECRYPT_FAILED,
    NOTIFY_CRYPTO_NO_MEMORY,
};

struct notify_key_store;

struct notify_key_store *notify_crypto__store_new(void);
void notify_crypto__store_free(struct notify_key_store *store);

/* Loads a PEM certificate and its PEM private key (unencrypted) under the
 * label cert_id (1..128 bytes). The key must be RSA 2048..4096 bits and match
 * the certificate. Re-adding the same certificate under the same label is a
 * no-op. Returns 0, or -1 with a reason in err (no secret material in it). */
int notify_crypto__store_add_files(struct notify_key_store *store, const char *cert_id,
                                   const char *cert_path, const char *key_path, char *err,
                                   size_t errlen);
/* Drops every entry with this label and thumbprint (thumbprint NULL: all
 * entries with the label). Returns how many were removed. */
int notify_crypto__store_remove(struct notify_key_store *store, const char *cert_id,
                                const char *thumbprint);
size_t notify_crypto__store_count(struct notify_key_store *store);

/* Whether cert_file is a PEM X.509 certificate and key_file the matching
 * unencrypted PEM RSA key of 2048 to 4096 bits. Returns 0, or -1 with what is
 * wrong in msg and *key_at_fault telling which file it is about. Warns (log)
 * about a key file readable by group or others and an expired certificate. */
int notify_crypto__check_files(const char *cert_file, const char *key_file, bool *key_at_fault,
                               char *msg, size_t len);
/* The Graph side's own check of a loaded configuration, run by whoever loads
 * one (start, check-config, probe, SIGHUP): every tenant's encryption
 * certificate and key as notify_crypto__check_files. Returns 0, or -1 with
 * err naming the file's JSON path (tenants[i].graph.encryption_key_file). */
int notify_crypto__check_config(const struct config *cfg, struct config_error *err);

/* Upper-case hex SHA-1 thumbprint of the newest entry with this label into
 * out (>= 41 bytes). Returns 0 or -1 when there is no such entry. */
int notify_crypto__store_thumbprint(struct notify_key_store *store, const char *cert_id, char *out,
                                    size_t outlen);
/* base64(DER) of the newest certificate with this label: the subscription's
 * `encryptionCertificate` value. Returns a malloc'd string or NULL. */
char *notify_crypto__store_cert_base64(struct notify_key_store *store, const char *cert_id);

/* Decrypts one item's encryptedContent. On NOTIFY_CRYPTO_OK *plaintext is a
 * malloc'd NUL-terminated buffer of *len bytes (release it with
 * notify_crypto__plaintext_free); otherwise *plaintext is NULL. */
enum notify_crypto_result notify_crypto__decrypt(struct notify_key_store *store,
                                                 const struct graph_encrypted_content *ec,
                                                 char **plaintext, size_t *len);
/* Wipes and frees a plaintext from notify_crypto__decrypt. NULL is fine. */
void notify_crypto__plaintext_free(char *plaintext, size_t len);

const char *notify_crypto__result_name(enum notify_crypto_result r);

/* Constant-time (for equal lengths) comparison of a received clientState with
 * the stored one. NULL or empty on either side never matches. */
bool notify_crypto__client_state_equal(const char *received, const char *expected);

/* Upper-case hex SHA-1 over a DER blob, out >= 41 bytes. */
void notify_crypto__thumbprint_hex(const unsigned char *der, size_t len, char *out);

#endif
