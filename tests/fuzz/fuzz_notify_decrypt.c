/* Rich-notification decryption. Raw bytes would almost never get past
 * base64 and the RSA unwrap, so this target mostly *builds* encryptedContent
 * from the input the way Graph does (AES-CBC, HMAC-SHA256, RSA-OAEP-SHA1 to
 * a certificate made at init), with flag bits that break one step at a time:
 *
 *   byte 0  flags: bits 0-1 key length (16/24/32, or byte 1 % 48 when 3),
 *           bit 2 corrupt the HMAC, bit 3 use the rest as raw ciphertext
 *           (valid HMAC, arbitrary padding), bit 4 lower-case thumbprint,
 *           bit 5 unknown certificate label, bit 6 raw mode: the rest is
 *           "data\nsignature\nkey\ncert_id\nthumbprint" taken verbatim,
 *           bit 7 wrap the key with PKCS#1 v1.5 instead of OAEP
 *   byte 1  key length for the odd case
 *   2..33   the AES key (zero padded)
 *   rest    the plaintext
 *
 * Property: an untouched construction decrypts to exactly its plaintext.
 * Every plaintext is then parsed as presence, as the webhook does. */
#include "fuzz_util.h"

#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/log.h"
#include "graph/notify_crypto.h"
#include "graph/presence.h"

#define CERT_ID "fuzz-cert"

static struct notify_key_store *store;
static EVP_PKEY *pub;
static char thumb[NOTIFY_CRYPTO_THUMB_LEN + 1];

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    if (!x)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ps-fuzz", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256()))
        abort();
    return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    EVP_PKEY *key = EVP_RSA_gen(2048);
    if (!key)
        abort();
    X509 *cert = self_signed(key);
    char cert_path[512], key_path[512];
    snprintf(cert_path, sizeof(cert_path), "%s/fuzz.crt", fu_tmpdir());
    snprintf(key_path, sizeof(key_path), "%s/fuzz.key", fu_tmpdir());
    FILE *f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, cert) || fclose(f))
        abort();
    f = fopen(key_path, "w");
    if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) || fclose(f))
        abort();
    store = notify_crypto__store_new();
    char err[256];
    if (!store ||
        notify_crypto__store_add_files(store, CERT_ID, cert_path, key_path, err, sizeof(err)) ||
        notify_crypto__store_thumbprint(store, CERT_ID, thumb, sizeof(thumb)))
        abort();
    unlink(key_path); /* the key lives on in the store only */
    pub = key;
    X509_free(cert);
    return 0;
}

static char *wrap(const unsigned char *key, size_t keylen, int padding)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
    unsigned char out[512];
    size_t outlen = sizeof(out);
    if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, padding) != 1 ||
        (padding == RSA_PKCS1_OAEP_PADDING && EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) != 1) ||
        EVP_PKEY_encrypt(ctx, out, &outlen, key, keylen) != 1)
        abort();
    EVP_PKEY_CTX_free(ctx);
    return fu_b64(out, outlen);
}

static unsigned char *aes(const unsigned char *key, size_t keylen, const uint8_t *pt, size_t n,
                          size_t *ctlen)
{
    const EVP_CIPHER *c = keylen == 16   ? EVP_aes_128_cbc()
                          : keylen == 24 ? EVP_aes_192_cbc()
                                         : EVP_aes_256_cbc();
    unsigned char *ct = malloc(n + 32);
    int l1 = 0, l2 = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ct || !ctx || !EVP_EncryptInit_ex(ctx, c, NULL, key, key) ||
        !EVP_EncryptUpdate(ctx, ct, &l1, pt, (int)n) || !EVP_EncryptFinal_ex(ctx, ct + l1, &l2))
        abort();
    EVP_CIPHER_CTX_free(ctx);
    *ctlen = (size_t)(l1 + l2);
    return ct;
}

static void check_plaintext(const char *pt, size_t len)
{
    struct presence_state ps;
    const char *reason;
    presence__parse_text(pt, len, &ps, &reason);
}

static void run_raw(const uint8_t *data, size_t size)
{
    char *s = fu_str(data, size), *f[5];
    fu_split(s, '\n', f, 5);
    struct graph_encrypted_content ec = {
        .data = f[0],
        .data_signature = f[1],
        .data_key = f[2],
        .cert_id = f[3][0] ? f[3] : (char *)CERT_ID,
        .thumbprint = f[4][0] ? f[4] : thumb,
    };
    char *pt = NULL;
    size_t len = 0;
    if (notify_crypto__decrypt(store, &ec, &pt, &len) == NOTIFY_CRYPTO_OK)
        check_plaintext(pt, len);
    notify_crypto__plaintext_free(pt, len);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags = fu_byte(&data, &size), odd = fu_byte(&data, &size);
    if (flags & 0x40) {
        run_raw(data, size);
        return 0;
    }
    static const size_t lens[3] = {16, 24, 32};
    size_t keylen = (flags & 3) == 3 ? odd % 48 : lens[flags & 3];
    unsigned char key[48] = {0};
    size_t take = size < 32 ? size : 32;
    memcpy(key, data, take);
    data += take;
    size -= take;

    size_t ctlen = size;
    unsigned char *ct;
    if (flags & 0x08) {
        ct = malloc(size ? size : 1);
        if (!ct)
            abort();
        memcpy(ct, data, size);
    }
    else {
        ct = aes(key, keylen, data, size, &ctlen);
    }
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)keylen, ct, ctlen, mac, &maclen);
    if (flags & 0x04)
        mac[odd % 32] ^= 1;

    char tp[sizeof(thumb)];
    memcpy(tp, thumb, sizeof(tp));
    if (flags & 0x10)
        for (char *p = tp; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
    struct graph_encrypted_content ec = {
        .data = fu_b64(ct, ctlen),
        .data_signature = fu_b64(mac, maclen),
        .data_key = wrap(key, keylen, flags & 0x80 ? RSA_PKCS1_PADDING : RSA_PKCS1_OAEP_PADDING),
        .cert_id = flags & 0x20 ? "other-cert" : CERT_ID,
        .thumbprint = tp,
    };
    char *pt = NULL;
    size_t len = 0;
    enum notify_crypto_result rc = notify_crypto__decrypt(store, &ec, &pt, &len);
    FUZZ_ASSERT(notify_crypto__result_name(rc) != NULL);
    if (getenv("PS_FUZZ_DEBUG")) /* which branch a seed reaches */
        fprintf(stderr, "result %s\n", notify_crypto__result_name(rc));
    FUZZ_ASSERT((rc == NOTIFY_CRYPTO_OK) == (pt != NULL));
    bool intact =
        !(flags & (0x04 | 0x08 | 0x20 | 0x80)) && (keylen == 16 || keylen == 24 || keylen == 32);
    if (intact)
        FUZZ_ASSERT(rc == NOTIFY_CRYPTO_OK && len == size && (!size || !memcmp(pt, data, size)));
    if (flags & 0x20)
        FUZZ_ASSERT(rc == NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE);
    /* (empty data is refused as bad base64 before the HMAC is looked at) */
    if (flags & 0x04 && !(flags & 0x20) && ctlen && rc != NOTIFY_CRYPTO_KEY_UNWRAP_FAILED)
        FUZZ_ASSERT(rc == NOTIFY_CRYPTO_BAD_SIGNATURE);
    if (pt)
        check_plaintext(pt, len);
    notify_crypto__plaintext_free(pt, len);
    free(ec.data);
    free(ec.data_signature);
    free(ec.data_key);
    free(ct);
    return 0;
}
