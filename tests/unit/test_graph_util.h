/* Test helpers for the Graph unit tests: real keys and certificates made with
 * the OpenSSL API, and an encryptor that builds encryptedContent the way Graph
 * does (docs/graph.md "Graph facts the daemon
 * relies on"), independent of the code under test. */
#ifndef PS_TEST_GRAPH_UTIL_H
#define PS_TEST_GRAPH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static inline EVP_PKEY *tu_rsa(unsigned int bits)
{
    EVP_PKEY *k = EVP_RSA_gen(bits);
    if (!k)
        abort();
    return k;
}

static inline X509 *tu_self_signed(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    if (!x)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(rand() & 0x7fffffff) + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256()))
        abort();
    return x;
}

/* Writes <dir>/<base>.crt and <dir>/<base>.key; paths returned in the buffers. */
static inline void tu_write_pems(const char *dir, const char *base, EVP_PKEY *key, X509 *cert,
                                 char *cert_path, char *key_path, size_t cap)
{
    snprintf(cert_path, cap, "%s/%s.crt", dir, base);
    snprintf(key_path, cap, "%s/%s.key", dir, base);
    FILE *f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, cert))
        abort();
    fclose(f);
    f = fopen(key_path, "w");
    if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
        abort();
    fclose(f);
}

static inline char *tu_b64(const unsigned char *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

static inline char *tu_b64url(const unsigned char *in, size_t len)
{
    char *s = tu_b64(in, len);
    size_t n = strlen(s);
    while (n && s[n - 1] == '=')
        s[--n] = '\0';
    for (char *p = s; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return s;
}

static inline void tu_thumbprint(X509 *cert, char out[41])
{
    unsigned char md[20];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha1(), md, &n);
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", md[i]);
}

/* encryptedContent blobs as Graph sends them (base64). */
struct tu_enc {
    char *data;
    char *sig;
    char *key;
};

static inline void tu_enc_free(struct tu_enc *e)
{
    free(e->data);
    free(e->sig);
    free(e->key);
    memset(e, 0, sizeof(*e));
}

static inline const EVP_CIPHER *tu_cipher(size_t keylen)
{
    return keylen == 16 ? EVP_aes_128_cbc() : keylen == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
}

/* RSA-OAEP(SHA-1) wrap of key with the public key of `to`. */
static inline char *tu_wrap(EVP_PKEY *to, const unsigned char *key, size_t keylen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, to, NULL);
    unsigned char out[512];
    size_t outlen = sizeof(out);
    if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) != 1 ||
        EVP_PKEY_encrypt(ctx, out, &outlen, key, keylen) != 1)
        abort();
    EVP_PKEY_CTX_free(ctx);
    return tu_b64(out, outlen);
}

/* Signs raw ciphertext bytes and base64s data + signature into e. */
static inline void tu_sign_raw(const unsigned char *key, size_t keylen, const unsigned char *ct,
                               size_t ctlen, struct tu_enc *e)
{
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)keylen, ct, ctlen, mac, &maclen);
    e->data = tu_b64(ct, ctlen);
    e->sig = tu_b64(mac, maclen);
}

/* Graph's recipe: AES-CBC (IV = key[0..15], PKCS7), HMAC-SHA256 over the
 * ciphertext, RSA-OAEP-SHA1 wrapped key. keylen 16/24/32 (other lengths use
 * AES-256 with the first 32 bytes, for negative tests). */
static inline void tu_encrypt_with_key(EVP_PKEY *to, const unsigned char *key, size_t keylen,
                                       const char *plaintext, struct tu_enc *e)
{
    size_t n = strlen(plaintext);
    unsigned char *ct = malloc(n + 32);
    int l1 = 0, l2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!EVP_EncryptInit_ex(c, tu_cipher(keylen), NULL, key, key) ||
        !EVP_EncryptUpdate(c, ct, &l1, (const unsigned char *)plaintext, (int)n) ||
        !EVP_EncryptFinal_ex(c, ct + l1, &l2))
        abort();
    EVP_CIPHER_CTX_free(c);
    tu_sign_raw(key, keylen, ct, (size_t)(l1 + l2), e);
    e->key = tu_wrap(to, key, keylen);
    free(ct);
}

static inline void tu_encrypt(EVP_PKEY *to, size_t keylen, const char *plaintext, struct tu_enc *e)
{
    unsigned char key[64];
    RAND_bytes(key, (int)keylen);
    tu_encrypt_with_key(to, key, keylen, plaintext, e);
}

static inline char *tu_tmpdir(void)
{
    char *d = strdup("/tmp/ps-graph-test-XXXXXX");
    if (!mkdtemp(d))
        abort();
    return d;
}

/* Removes the files this suite wrote (flat directory) and the directory. */
static inline void tu_rmdir(char *dir, const char *const *bases, size_t n)
{
    char p[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "%s/%s.crt", dir, bases[i]);
        unlink(p);
        snprintf(p, sizeof(p), "%s/%s.key", dir, bases[i]);
        unlink(p);
    }
    rmdir(dir);
    free(dir);
}

#endif
