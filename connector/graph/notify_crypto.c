/* Key store and decryption for Graph rich notifications. */
#include "graph/notify_crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/b64.h"
#include "core/config.h"
#include "core/log.h"

#define NOTIFY_CRYPTO_HMAC_LEN 32
#define NOTIFY_CRYPTO_IV_LEN   16

struct notify_key {
    char cert_id[NOTIFICATION_CERT_ID_MAX + 1];
    char thumbprint[NOTIFY_CRYPTO_THUMB_LEN + 1];
    X509 *cert;
    EVP_PKEY *pkey;
    /* Decrypt-initialised RSA-OAEP(SHA-1) context, never used directly:
     * each item works on an EVP_PKEY_CTX_dup of it, which costs no provider
     * fetch, unlike new_from_pkey + init + set_rsa_oaep_md per item. */
    EVP_PKEY_CTX *oaep;
};

struct notify_key_store {
    pthread_rwlock_t lock;
    /* Newest last: lookups scan from the end so a re-used label finds the
     * newest certificate first. */
    struct notify_key keys[NOTIFY_CRYPTO_MAX_KEYS];
    size_t n;
};

/* The algorithms, fetched once. OpenSSL 3's EVP_sha1() & co. and the one-shot
 * HMAC() fetch their implementation on every use (a method-store lookup under
 * a global lock), which showed up per item. When a fetch fails the implicit
 * form is used instead. They live until exit. */
static struct {
    EVP_MD *sha1, *sha256;
    EVP_CIPHER *aes128, *aes192, *aes256;
    EVP_MAC *hmac;
} notify_algs;
static pthread_once_t notify_algs_once = PTHREAD_ONCE_INIT;

/* Per worker thread: contexts reused from item to item. */
struct notify_tls {
    EVP_CIPHER_CTX *cipher;
    EVP_MAC_CTX *mac; /* HMAC-SHA256, digest set once; re-keyed per item */
};
static pthread_key_t notify_tls_key;
static bool notify_tls_ok;

static void notify_crypto__tls_free(void *arg)
{
    struct notify_tls *tls = arg;
    EVP_CIPHER_CTX_free(tls->cipher);
    EVP_MAC_CTX_free(tls->mac);
    free(tls);
}

static void notify_crypto__algs_init(void)
{
    notify_algs.sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    notify_algs.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    notify_algs.aes128 = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    notify_algs.aes192 = EVP_CIPHER_fetch(NULL, "AES-192-CBC", NULL);
    notify_algs.aes256 = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    notify_algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    notify_tls_ok = pthread_key_create(&notify_tls_key, notify_crypto__tls_free) == 0;
    ERR_clear_error();
}

static void notify_crypto__algs(void)
{
    pthread_once(&notify_algs_once, notify_crypto__algs_init);
}

static const EVP_MD *notify_crypto__sha1(void)
{
    notify_crypto__algs();
    return notify_algs.sha1 ? notify_algs.sha1 : EVP_sha1();
}

static const EVP_MD *notify_crypto__sha256(void)
{
    notify_crypto__algs();
    return notify_algs.sha256 ? notify_algs.sha256 : EVP_sha256();
}

/* This thread's contexts (created on first use), or NULL. */
static struct notify_tls *notify_crypto__tls(void)
{
    notify_crypto__algs();
    if (!notify_tls_ok || !notify_algs.hmac)
        return NULL;
    struct notify_tls *tls = pthread_getspecific(notify_tls_key);
    if (tls)
        return tls;
    tls = calloc(1, sizeof(*tls));
    if (!tls)
        return NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    tls->cipher = EVP_CIPHER_CTX_new();
    tls->mac = EVP_MAC_CTX_new(notify_algs.hmac);
    if (!tls->cipher || !tls->mac || EVP_MAC_CTX_set_params(tls->mac, params) != 1 ||
        pthread_setspecific(notify_tls_key, tls) != 0) {
        notify_crypto__tls_free(tls);
        ERR_clear_error();
        return NULL;
    }
    return tls;
}

struct notify_key_store *notify_crypto__store_new(void)
{
    struct notify_key_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (pthread_rwlock_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void notify_crypto__key_clear(struct notify_key *k)
{
    EVP_PKEY_CTX_free(k->oaep);
    X509_free(k->cert);
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof(*k));
}

void notify_crypto__store_free(struct notify_key_store *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->n; i++)
        notify_crypto__key_clear(&store->keys[i]);
    pthread_rwlock_destroy(&store->lock);
    free(store);
}

void notify_crypto__thumbprint_hex(const unsigned char *der, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(der, len, md, &mdlen, notify_crypto__sha1(), NULL))
        mdlen = 0;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[2 * mdlen] = '\0';
}

/* Thumbprint of a certificate over its DER encoding; 0 or -1. */
static int notify_crypto__cert_thumbprint(X509 *cert, char *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0)
        return -1;
    notify_crypto__thumbprint_hex(der, (size_t)n, out);
    OPENSSL_free(der);
    return out[0] ? 0 : -1;
}

static void notify_crypto__err(char *err, size_t errlen, const char *what, const char *path)
{
    if (!err || errlen == 0)
        return;
    unsigned long e = ERR_peek_last_error();
    char ossl[160] = "";
    if (e)
        ERR_error_string_n(e, ossl, sizeof(ossl));
    snprintf(err, errlen, "%s path=%s%s%s", what, path ? path : "-", e ? " openssl=" : "", ossl);
    ERR_clear_error();
}

static X509 *notify_crypto__read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return cert;
}

static EVP_PKEY *notify_crypto__read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    /* An empty passphrase callback result: encrypted keys fail cleanly
     * instead of prompting on a terminal. */
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
    fclose(f);
    return pkey;
}

/* Checks the key is RSA of an accepted size and matches the certificate. */
static int notify_crypto__check_pair(X509 *cert, EVP_PKEY *pkey, char *err, size_t errlen,
                                     const char *key_path)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        notify_crypto__err(err, errlen, "private key is not RSA", key_path);
        return -1;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < NOTIFY_CRYPTO_MIN_RSA_BITS || bits > NOTIFY_CRYPTO_MAX_RSA_BITS) {
        notify_crypto__err(err, errlen, "RSA key must have 2048..4096 bits", key_path);
        return -1;
    }
    if (X509_check_private_key(cert, pkey) != 1) {
        notify_crypto__err(err, errlen, "private key does not match certificate", key_path);
        return -1;
    }
    return 0;
}

/* RSA-OAEP(SHA-1, MGF1-SHA-1) decryption context for pkey, or NULL. */
static EVP_PKEY_CTX *notify_crypto__oaep_ctx(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, notify_crypto__sha1()) == 1 &&
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, notify_crypto__sha1()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

int notify_crypto__store_add_files(struct notify_key_store *store, const char *cert_id,
                                   const char *cert_path, const char *key_path, char *err,
                                   size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!store || !cert_id || !cert_path || !key_path) {
        notify_crypto__err(err, errlen, "missing argument", NULL);
        return -1;
    }
    size_t idlen = strlen(cert_id);
    if (idlen == 0 || idlen > NOTIFICATION_CERT_ID_MAX) {
        notify_crypto__err(err, errlen, "certificate id must have 1..128 bytes", NULL);
        return -1;
    }
    struct notify_key k = {0};
    memcpy(k.cert_id, cert_id, idlen + 1);
    k.cert = notify_crypto__read_cert(cert_path);
    if (!k.cert) {
        notify_crypto__err(err, errlen, "cannot read PEM certificate", cert_path);
        return -1;
    }
    k.pkey = notify_crypto__read_key(key_path);
    if (!k.pkey) {
        notify_crypto__err(err, errlen, "cannot read PEM private key", key_path);
        notify_crypto__key_clear(&k);
        return -1;
    }
    if (notify_crypto__check_pair(k.cert, k.pkey, err, errlen, key_path) != 0 ||
        notify_crypto__cert_thumbprint(k.cert, k.thumbprint) != 0) {
        if (err && errlen && !err[0])
            notify_crypto__err(err, errlen, "cannot hash certificate", cert_path);
        notify_crypto__key_clear(&k);
        return -1;
    }
    k.oaep = notify_crypto__oaep_ctx(k.pkey);
    if (!k.oaep) {
        notify_crypto__err(err, errlen, "cannot set up RSA-OAEP with this key", key_path);
        notify_crypto__key_clear(&k);
        return -1;
    }

    int rc = 0;
    pthread_rwlock_wrlock(&store->lock);
    for (size_t i = 0; i < store->n; i++) {
        if (strcmp(store->keys[i].cert_id, k.cert_id) == 0 &&
            strcmp(store->keys[i].thumbprint, k.thumbprint) == 0) {
            rc = 1; /* already loaded */
            break;
        }
    }
    if (rc == 0 && store->n == NOTIFY_CRYPTO_MAX_KEYS) {
        notify_crypto__err(err, errlen, "too many keys loaded; remove an old one first", NULL);
        rc = -1;
    }
    if (rc == 0)
        store->keys[store->n++] = k;
    pthread_rwlock_unlock(&store->lock);
    if (rc != 0)
        notify_crypto__key_clear(&k);
    return rc < 0 ? -1 : 0;
}

int notify_crypto__store_remove(struct notify_key_store *store, const char *cert_id,
                                const char *thumbprint)
{
    if (!store || !cert_id)
        return 0;
    int removed = 0;
    pthread_rwlock_wrlock(&store->lock);
    size_t w = 0;
    for (size_t i = 0; i < store->n; i++) {
        struct notify_key *k = &store->keys[i];
        if (strcmp(k->cert_id, cert_id) == 0 &&
            (!thumbprint || strcasecmp(k->thumbprint, thumbprint) == 0)) {
            notify_crypto__key_clear(k);
            removed++;
            continue;
        }
        if (w != i) {
            store->keys[w] = *k;
            memset(k, 0, sizeof(*k));
        }
        w++;
    }
    store->n = w;
    pthread_rwlock_unlock(&store->lock);
    return removed;
}

size_t notify_crypto__store_count(struct notify_key_store *store)
{
    if (!store)
        return 0;
    pthread_rwlock_rdlock(&store->lock);
    size_t n = store->n;
    pthread_rwlock_unlock(&store->lock);
    return n;
}

/* Newest entry with this label; caller holds the lock. */
static const struct notify_key *notify_crypto__newest(const struct notify_key_store *store,
                                                      const char *cert_id)
{
    for (size_t i = store->n; i-- > 0;) {
        if (strcmp(store->keys[i].cert_id, cert_id) == 0)
            return &store->keys[i];
    }
    return NULL;
}

int notify_crypto__store_thumbprint(struct notify_key_store *store, const char *cert_id, char *out,
                                    size_t outlen)
{
    if (!store || !cert_id || !out || outlen <= NOTIFY_CRYPTO_THUMB_LEN)
        return -1;
    pthread_rwlock_rdlock(&store->lock);
    const struct notify_key *k = notify_crypto__newest(store, cert_id);
    if (k)
        memcpy(out, k->thumbprint, sizeof(k->thumbprint));
    pthread_rwlock_unlock(&store->lock);
    return k ? 0 : -1;
}

char *notify_crypto__store_cert_base64(struct notify_key_store *store, const char *cert_id)
{
    if (!store || !cert_id)
        return NULL;
    char *out = NULL;
    pthread_rwlock_rdlock(&store->lock);
    const struct notify_key *k = notify_crypto__newest(store, cert_id);
    unsigned char *der = NULL;
    int n = k ? i2d_X509(k->cert, &der) : -1;
    if (n > 0)
        out = b64__encode(der, (size_t)n);
    OPENSSL_free(der);
    pthread_rwlock_unlock(&store->lock);
    return out;
}

/* Finds the entry for (label, thumbprint); caller holds the lock. */
static enum notify_crypto_result notify_crypto__find(const struct notify_key_store *store,
                                                     const struct graph_encrypted_content *ec,
                                                     const struct notify_key **out)
{
    bool label_seen = false;
    for (size_t i = store->n; i-- > 0;) {
        const struct notify_key *k = &store->keys[i];
        if (strcmp(k->cert_id, ec->cert_id) != 0)
            continue;
        label_seen = true;
        if (ec->thumbprint && strcasecmp(k->thumbprint, ec->thumbprint) == 0) {
            *out = k;
            return NOTIFY_CRYPTO_OK;
        }
    }
    return label_seen ? NOTIFY_CRYPTO_THUMBPRINT_MISMATCH : NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE;
}

/* RSA-OAEP(SHA-1, MGF1-SHA-1) unwrap into key (capacity keycap), on a copy
 * of the key's prepared context (a context is not shared between threads). */
static enum notify_crypto_result notify_crypto__unwrap(const struct notify_key *k,
                                                       const unsigned char *wrapped,
                                                       size_t wrapped_len, unsigned char *key,
                                                       size_t keycap, size_t *keylen)
{
    enum notify_crypto_result rc = NOTIFY_CRYPTO_KEY_UNWRAP_FAILED;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(k->oaep);
    if (!ctx) {
        ERR_clear_error();
        return NOTIFY_CRYPTO_NO_MEMORY;
    }
    size_t outlen = keycap;
    if (EVP_PKEY_decrypt(ctx, key, &outlen, wrapped, wrapped_len) == 1) {
        *keylen = outlen;
        rc = (outlen == 16 || outlen == 24 || outlen == 32) ? NOTIFY_CRYPTO_OK
                                                            : NOTIFY_CRYPTO_KEY_UNWRAP_FAILED;
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error(); /* per-thread queue; a forged key must not leave noise */
    return rc;
}

static enum notify_crypto_result notify_crypto__check_hmac(struct notify_tls *tls,
                                                           const unsigned char *key, size_t keylen,
                                                           const unsigned char *data,
                                                           size_t datalen, const unsigned char *sig,
                                                           size_t siglen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    /* init with the key only: the digest was set when the context was made */
    if (EVP_MAC_init(tls->mac, key, keylen, NULL) != 1 ||
        EVP_MAC_update(tls->mac, data, datalen) != 1 ||
        EVP_MAC_final(tls->mac, md, &mdlen, sizeof(md)) != 1) {
        ERR_clear_error();
        return NOTIFY_CRYPTO_NO_MEMORY;
    }
    /* re-key with zeros: the reused context must not keep this item's key */
    static const unsigned char zero[NOTIFY_CRYPTO_HMAC_LEN];
    (void)EVP_MAC_init(tls->mac, zero, sizeof(zero), NULL);
    bool ok = siglen == NOTIFY_CRYPTO_HMAC_LEN && mdlen == NOTIFY_CRYPTO_HMAC_LEN &&
              CRYPTO_memcmp(md, sig, NOTIFY_CRYPTO_HMAC_LEN) == 0;
    OPENSSL_cleanse(md, sizeof(md));
    return ok ? NOTIFY_CRYPTO_OK : NOTIFY_CRYPTO_BAD_SIGNATURE;
}

static const EVP_CIPHER *notify_crypto__cipher(size_t keylen)
{
    notify_crypto__algs();
    switch (keylen) {
    case 16:
        return notify_algs.aes128 ? notify_algs.aes128 : EVP_aes_128_cbc();
    case 24:
        return notify_algs.aes192 ? notify_algs.aes192 : EVP_aes_192_cbc();
    default:
        return notify_algs.aes256 ? notify_algs.aes256 : EVP_aes_256_cbc();
    }
}

/* AES-CBC, IV = key[0..15], PKCS7. On success *out is malloc'd, NUL-terminated. */
static enum notify_crypto_result notify_crypto__aes(struct notify_tls *tls,
                                                    const unsigned char *key, size_t keylen,
                                                    const unsigned char *ct, size_t ctlen,
                                                    char **out, size_t *outlen)
{
    if (ctlen == 0 || ctlen % 16 != 0 || ctlen > (size_t)INT_MAX - 32)
        return NOTIFY_CRYPTO_DECRYPT_FAILED;
    size_t cap = ctlen + 16 + 1;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return NOTIFY_CRYPTO_NO_MEMORY;
    EVP_CIPHER_CTX *ctx = tls->cipher;
    int n1 = 0, n2 = 0;
    bool ok = EVP_DecryptInit_ex2(ctx, notify_crypto__cipher(keylen), key, key, NULL) == 1 &&
              EVP_DecryptUpdate(ctx, buf, &n1, ct, (int)ctlen) == 1 &&
              EVP_DecryptFinal_ex(ctx, buf + n1, &n2) == 1;
    EVP_CIPHER_CTX_reset(ctx); /* wipes the key schedule */
    ERR_clear_error();
    if (!ok) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
        return NOTIFY_CRYPTO_DECRYPT_FAILED;
    }
    *outlen = (size_t)n1 + (size_t)n2;
    buf[*outlen] = '\0';
    *out = (char *)buf;
    return NOTIFY_CRYPTO_OK;
}

struct notify_blobs {
    unsigned char *data, *sig, *wrapped;
    size_t data_len, sig_len, wrapped_len;
};

static void notify_crypto__blobs_free(struct notify_blobs *b)
{
    free(b->data);
    free(b->sig);
    free(b->wrapped);
}

static enum notify_crypto_result notify_crypto__decode(const struct graph_encrypted_content *ec,
                                                       struct notify_blobs *b)
{
    if (b64__decode(ec->data, strlen(ec->data), &b->data, &b->data_len) != 0 ||
        b64__decode(ec->data_signature, strlen(ec->data_signature), &b->sig, &b->sig_len) != 0 ||
        b64__decode(ec->data_key, strlen(ec->data_key), &b->wrapped, &b->wrapped_len) != 0)
        return NOTIFY_CRYPTO_BAD_BASE64;
    return NOTIFY_CRYPTO_OK;
}

enum notify_crypto_result notify_crypto__decrypt(struct notify_key_store *store,
                                                 const struct graph_encrypted_content *ec,
                                                 char **plaintext, size_t *len)
{
    *plaintext = NULL;
    *len = 0;
    if (!store || !ec || !ec->cert_id)
        return NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE;
    if (!ec->data || !ec->data_signature || !ec->data_key)
        return NOTIFY_CRYPTO_BAD_BASE64;
    struct notify_tls *tls = notify_crypto__tls();
    if (!tls)
        return NOTIFY_CRYPTO_NO_MEMORY;

    pthread_rwlock_rdlock(&store->lock);
    const struct notify_key *k = NULL;
    enum notify_crypto_result rc = notify_crypto__find(store, ec, &k);
    struct notify_blobs b = {0};
    unsigned char key[NOTIFY_CRYPTO_MAX_RSA_BITS / 8];
    size_t keylen = 0;
    if (rc == NOTIFY_CRYPTO_OK)
        rc = notify_crypto__decode(ec, &b);
    if (rc == NOTIFY_CRYPTO_OK)
        rc = notify_crypto__unwrap(k, b.wrapped, b.wrapped_len, key, sizeof(key), &keylen);
    pthread_rwlock_unlock(&store->lock);

    /* Integrity first: never feed unauthenticated ciphertext to CBC. */
    if (rc == NOTIFY_CRYPTO_OK)
        rc = notify_crypto__check_hmac(tls, key, keylen, b.data, b.data_len, b.sig, b.sig_len);
    if (rc == NOTIFY_CRYPTO_OK)
        rc = notify_crypto__aes(tls, key, keylen, b.data, b.data_len, plaintext, len);
    OPENSSL_cleanse(key, sizeof(key));
    notify_crypto__blobs_free(&b);
    return rc;
}

void notify_crypto__plaintext_free(char *plaintext, size_t len)
{
    if (!plaintext)
        return;
    OPENSSL_cleanse(plaintext, len);
    free(plaintext);
}

const char *notify_crypto__result_name(enum notify_crypto_result r)
{
    switch (r) {
    case NOTIFY_CRYPTO_OK:
        return "ok";
    case NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE:
        return "unknown_certificate";
    case NOTIFY_CRYPTO_THUMBPRINT_MISMATCH:
        return "thumbprint_mismatch";
    case NOTIFY_CRYPTO_BAD_BASE64:
        return "bad_base64";
    case NOTIFY_CRYPTO_KEY_UNWRAP_FAILED:
        return "key_unwrap_failed";
    case NOTIFY_CRYPTO_BAD_SIGNATURE:
        return "bad_signature";
    case NOTIFY_CRYPTO_DECRYPT_FAILED:
        return "decrypt_failed";
    case NOTIFY_CRYPTO_NO_MEMORY:
        return "no_memory";
    }
    return "unknown";
}

bool notify_crypto__client_state_equal(const char *received, const char *expected)
{
    if (!received || !expected || !received[0] || !expected[0])
        return false;
    /* Hashing first makes the comparison independent of where the strings
     * differ and of their lengths. */
    unsigned char a[32], b[32];
    unsigned int alen = 0, blen = 0;
    const EVP_MD *sha256 = notify_crypto__sha256();
    if (!EVP_Digest(received, strlen(received), a, &alen, sha256, NULL) ||
        !EVP_Digest(expected, strlen(expected), b, &blen, sha256, NULL))
        return false;
    return alen == sizeof(a) && blen == sizeof(b) && CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

/* ---- the configuration's check of the pair ------------------------------ */

static int notify_crypto__no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0; /* never prompt on a terminal */
}

static int notify_crypto__check_rsa_key(const char *file, EVP_PKEY *k, char *msg, size_t len)
{
    int bits;

    if (!k)
        return snprintf(msg, len, "%s is not an unencrypted PEM private key", file), -1;
    if (!EVP_PKEY_is_a(k, "RSA"))
        return snprintf(msg, len, "%s is not an RSA key", file), -1;
    bits = EVP_PKEY_get_bits(k);
    if (bits < 2048 || bits > 4096)
        return snprintf(msg, len, "%s: RSA key has %d bits; 2048 to 4096 are accepted", file, bits),
               -1;
    return 0;
}

/* Graph encrypts resource data to this certificate; a wrong pair would only
 * show up at the first notification, so check it now. */
static X509 *notify_crypto__load_cert(const char *file)
{
    FILE *f = fopen(file, "r");
    X509 *x = NULL;

    if (f) {
        x = PEM_read_X509(f, NULL, notify_crypto__no_passphrase, NULL);
        fclose(f);
    }
    return x;
}

static EVP_PKEY *notify_crypto__load_key(const char *file)
{
    FILE *f = fopen(file, "r");
    EVP_PKEY *k = NULL;
    struct stat st;

    if (f) {
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
            LOG_WARN("config", "private key file is readable by group or others file=%s", file);
        k = PEM_read_PrivateKey(f, NULL, notify_crypto__no_passphrase, NULL);
        fclose(f);
    }
    return k;
}

int notify_crypto__check_files(const char *cert_file, const char *key_file, bool *key_at_fault,
                               char *msg, size_t len)
{
    X509 *x = notify_crypto__load_cert(cert_file);
    EVP_PKEY *k = notify_crypto__load_key(key_file);
    int rc = -1;

    *key_at_fault = x != NULL;
    if (!x)
        snprintf(msg, len, "%s is not a PEM X.509 certificate", cert_file);
    else if (notify_crypto__check_rsa_key(key_file, k, msg, len) == 0) {
        if (X509_check_private_key(x, k) != 1)
            snprintf(msg, len, "does not match the certificate in encryption_cert_file");
        else
            rc = 0;
        if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
            LOG_WARN("config", "encryption certificate has expired file=%s", cert_file);
    }
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int notify_crypto__check_config(const struct config *cfg, struct config_error *err)
{
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        const struct graph_config *g = &cfg->tenants[i].graph;
        bool key_at_fault;

        if (!g->encryption_cert_file || !g->encryption_key_file ||
            notify_crypto__check_files(g->encryption_cert_file, g->encryption_key_file,
                                       &key_at_fault, err->msg, sizeof(err->msg)) == 0)
            continue;
        snprintf(err->path, sizeof(err->path), "tenants[%zu].graph.%s", i,
                 key_at_fault ? "encryption_key_file" : "encryption_cert_file");
        return -1;
    }
    return 0;
}
