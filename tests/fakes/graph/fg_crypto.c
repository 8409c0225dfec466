/* fake-graph: notification crypto, see fg_crypto.h. */
#include "fg_crypto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

char *fg_crypto__b64(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out) {
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

char *fg_crypto__b64url(const unsigned char *data, size_t len)
{
    char *out = fg_crypto__b64(data, len);
    if (!out) {
        return NULL;
    }
    for (char *p = out; *p; p++) {
        if (*p == '+') {
            *p = '-';
        }
        else if (*p == '/') {
            *p = '_';
        }
        else if (*p == '=') {
            *p = '\0';
            break;
        }
    }
    return out;
}

unsigned char *fg_crypto__unb64(const char *b64, size_t *len)
{
    size_t n = strlen(b64);
    if (n == 0 || n % 4 != 0) {
        return NULL;
    }
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out) {
        return NULL;
    }
    int got = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t pad = (b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
    *len = (size_t)got - pad;
    return out;
}

int fg_crypto__parse_cert(const char *b64, EVP_PKEY **key, char thumbprint[48], const char **err)
{
    size_t der_len = 0;
    unsigned char *der = b64 ? fg_crypto__unb64(b64, &der_len) : NULL;
    if (!der) {
        *err = "encryptionCertificate is not valid base64.";
        return -1;
    }
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)der_len);
    if (!x || p != der + der_len) {
        X509_free(x);
        free(der);
        *err = "encryptionCertificate is not a DER X.509 certificate.";
        return -1;
    }
    EVP_PKEY *pub = X509_get_pubkey(x);
    int bits = pub ? EVP_PKEY_get_bits(pub) : 0;
    if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA || bits < 2048 || bits > 4096) {
        EVP_PKEY_free(pub);
        X509_free(x);
        free(der);
        *err = "encryptionCertificate must hold an RSA key of 2048 to 4096 bits.";
        return -1;
    }
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1(der, der_len, sha);
    for (size_t i = 0; i < sizeof(sha); i++) {
        snprintf(thumbprint + 2 * i, 3, "%02X", sha[i]);
    }
    X509_free(x);
    free(der);
    *key = pub;
    return 0;
}

static int fg_crypto__aes(const unsigned char key[32], const char *in, size_t len,
                          unsigned char **out, size_t *out_len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char *buf = malloc(len + 32);
    int n1 = 0, n2 = 0, ok = c && buf;
    ok = ok && EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, key) == 1;
    ok = ok && EVP_EncryptUpdate(c, buf, &n1, (const unsigned char *)in, (int)len) == 1;
    ok = ok && EVP_EncryptFinal_ex(c, buf + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)(n1 + n2);
    return 0;
}

static int fg_crypto__wrap(EVP_PKEY *pub, const unsigned char *key, size_t key_len,
                           unsigned char **out, size_t *out_len)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
    size_t n = 0;
    int ok = c && EVP_PKEY_encrypt_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha1()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha1()) == 1 &&
             EVP_PKEY_encrypt(c, NULL, &n, key, key_len) == 1;
    unsigned char *buf = ok ? malloc(n) : NULL;
    ok = buf && EVP_PKEY_encrypt(c, buf, &n, key, key_len) == 1;
    EVP_PKEY_CTX_free(c);
    if (!ok) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

cJSON *fg_crypto__encrypt(EVP_PKEY *cert_key, const char *cert_id, const char *thumbprint,
                          const char *plaintext, size_t len)
{
    unsigned char key[32], mac[32];
    unsigned int mac_len = sizeof(mac);
    unsigned char *ct = NULL, *wrapped = NULL;
    size_t ct_len = 0, wrapped_len = 0;
    cJSON *o = NULL;
    if (RAND_bytes(key, sizeof(key)) != 1 ||
        fg_crypto__aes(key, plaintext, len, &ct, &ct_len) != 0 ||
        !HMAC(EVP_sha256(), key, sizeof(key), ct, ct_len, mac, &mac_len) ||
        fg_crypto__wrap(cert_key, key, sizeof(key), &wrapped, &wrapped_len) != 0) {
        goto out;
    }
    char *data = fg_crypto__b64(ct, ct_len);
    char *sig = fg_crypto__b64(mac, mac_len);
    char *dk = fg_crypto__b64(wrapped, wrapped_len);
    if (data && sig && dk) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "data", data);
        cJSON_AddStringToObject(o, "dataSignature", sig);
        cJSON_AddStringToObject(o, "dataKey", dk);
        cJSON_AddStringToObject(o, "encryptionCertificateId", cert_id ? cert_id : "");
        cJSON_AddStringToObject(o, "encryptionCertificateThumbprint", thumbprint);
    }
    free(data);
    free(sig);
    free(dk);
out:
    OPENSSL_cleanse(key, sizeof(key));
    free(ct);
    free(wrapped);
    return o;
}

/* A self-signed certificate for the signing key: Entra publishes each key
 * with its certificate (x5c) and the certificate's SHA-1 thumbprint (x5t). */
static X509 *fg_signer__cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    bool ok = x && name && X509_set_version(x, 2) == 1 &&
              ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         (const unsigned char *)"fake-graph signing key", -1, -1,
                                         0) == 1 &&
              X509_set_issuer_name(x, name) == 1 && X509_set_pubkey(x, key) == 1 &&
              X509_sign(x, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int fg_signer__init(struct fg_signer *s)
{
    memset(s, 0, sizeof(*s));
    s->key = EVP_RSA_gen(2048);
    if (!s->key) {
        return -1;
    }
    X509 *cert = fg_signer__cert(s->key);
    unsigned char *der = NULL;
    int der_len = cert ? i2d_X509(cert, &der) : -1;
    X509_free(cert);
    if (der_len <= 0) {
        return -1;
    }
    unsigned char sha1[SHA_DIGEST_LENGTH];
    SHA1(der, (size_t)der_len, sha1);
    s->x5c = fg_crypto__b64(der, (size_t)der_len);
    char *x5t = fg_crypto__b64url(sha1, sizeof(sha1));
    OPENSSL_free(der);
    if (!s->x5c || !x5t) {
        free(x5t);
        return -1;
    }
    /* Entra's kid is the x5t of the key's certificate */
    snprintf(s->kid, sizeof(s->kid), "%s", x5t);
    snprintf(s->x5t, sizeof(s->x5t), "%s", x5t);
    free(x5t);
    return 0;
}

void fg_signer__free(struct fg_signer *s)
{
    EVP_PKEY_free(s->key);
    s->key = NULL;
    free(s->x5c);
    s->x5c = NULL;
}

static char *fg_crypto__b64url_json(cJSON *o)
{
    char *txt = cJSON_PrintUnformatted(o);
    char *out = txt ? fg_crypto__b64url((const unsigned char *)txt, strlen(txt)) : NULL;
    free(txt);
    return out;
}

/* RS256 over base64url(header).base64url(payload); malloc'd. */
static char *fg_signer__sign(const struct fg_signer *s, const char *hb, const char *pb)
{
    char *jwt = NULL;
    size_t in_len = strlen(hb) + strlen(pb) + 1;
    char *input = malloc(in_len + 1);
    if (!input) {
        return NULL;
    }
    snprintf(input, in_len + 1, "%s.%s", hb, pb);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sig_len = 0;
    unsigned char *sig = NULL;
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->key) == 1 &&
             EVP_DigestSign(md, NULL, &sig_len, (unsigned char *)input, strlen(input)) == 1;
    sig = ok ? malloc(sig_len) : NULL;
    ok = sig && EVP_DigestSign(md, sig, &sig_len, (unsigned char *)input, strlen(input)) == 1;
    char *sb = ok ? fg_crypto__b64url(sig, sig_len) : NULL;
    if (sb) {
        size_t len = strlen(input) + strlen(sb) + 2;
        jwt = malloc(len);
        if (jwt) {
            snprintf(jwt, len, "%s.%s", input, sb);
        }
    }
    free(sb);
    free(sig);
    EVP_MD_CTX_free(md);
    free(input);
    return jwt;
}

char *fg_signer__token(const struct fg_signer *s, cJSON *payload)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "typ", "JWT");
    cJSON_AddStringToObject(h, "alg", "RS256");
    cJSON_AddStringToObject(h, "x5t", s->x5t);
    cJSON_AddStringToObject(h, "kid", s->kid);
    char *hb = fg_crypto__b64url_json(h);
    char *pb = fg_crypto__b64url_json(payload);
    cJSON_Delete(h);
    cJSON_Delete(payload);
    char *jwt = hb && pb ? fg_signer__sign(s, hb, pb) : NULL;
    free(hb);
    free(pb);
    return jwt;
}

/* A short random base64url value (aio, uti, rh look like that). */
static void fg_crypto__opaque(cJSON *o, const char *name, size_t bytes)
{
    unsigned char r[32];
    if (bytes > sizeof(r) || RAND_bytes(r, (int)bytes) != 1) {
        return;
    }
    char *v = fg_crypto__b64url(r, bytes);
    if (v) {
        cJSON_AddStringToObject(o, name, v);
    }
    free(v);
}

char *fg_signer__jwt(const struct fg_signer *s, const char *aud, const char *tenant, int64_t now_s,
                     int version)
{
    char iss[160];
    if (version == 2) {
        snprintf(iss, sizeof(iss), "https://login.microsoftonline.com/%s/v2.0", tenant);
    }
    else {
        snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", tenant);
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "aud", aud);
    cJSON_AddStringToObject(p, "iss", iss);
    cJSON_AddNumberToObject(p, "iat", (double)now_s);
    cJSON_AddNumberToObject(p, "nbf", (double)(now_s - 300));
    cJSON_AddNumberToObject(p, "exp", (double)(now_s + 3600));
    fg_crypto__opaque(p, "aio", 24);
    if (version == 2) {
        cJSON_AddStringToObject(p, "azp", FG_NOTIFY_APPID);
        cJSON_AddStringToObject(p, "azpacr", "2");
        fg_crypto__opaque(p, "rh", 24);
        cJSON_AddStringToObject(p, "tid", tenant);
        fg_crypto__opaque(p, "uti", 16);
        cJSON_AddStringToObject(p, "ver", "2.0");
    }
    else {
        char idp[160];
        snprintf(idp, sizeof(idp), "https://sts.windows.net/%s/", tenant);
        cJSON_AddStringToObject(p, "appid", FG_NOTIFY_APPID);
        cJSON_AddStringToObject(p, "appidacr", "2");
        cJSON_AddStringToObject(p, "idp", idp);
        cJSON_AddStringToObject(p, "tid", tenant);
        fg_crypto__opaque(p, "uti", 16);
        cJSON_AddStringToObject(p, "ver", "1.0");
    }
    return fg_signer__token(s, p);
}

static char *fg_signer__param(const struct fg_signer *s, const char *name)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(s->key, name, &bn) != 1) {
        return NULL;
    }
    int len = BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)len + 1);
    char *out = NULL;
    if (buf) {
        BN_bn2bin(bn, buf);
        out = fg_crypto__b64url(buf, (size_t)len);
    }
    free(buf);
    BN_free(bn);
    return out;
}

cJSON *fg_signer__jwks(const struct fg_signer *s, const char *issuer)
{
    char *n = fg_signer__param(s, OSSL_PKEY_PARAM_RSA_N);
    char *e = fg_signer__param(s, OSSL_PKEY_PARAM_RSA_E);
    cJSON *root = cJSON_CreateObject();
    cJSON *keys = cJSON_AddArrayToObject(root, "keys");
    if (n && e) {
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "kty", "RSA");
        cJSON_AddStringToObject(k, "use", "sig");
        cJSON_AddStringToObject(k, "kid", s->kid);
        cJSON_AddStringToObject(k, "x5t", s->x5t);
        cJSON_AddStringToObject(k, "n", n);
        cJSON_AddStringToObject(k, "e", e);
        cJSON *x5c = cJSON_AddArrayToObject(k, "x5c");
        cJSON_AddItemToArray(x5c, cJSON_CreateString(s->x5c ? s->x5c : ""));
        if (issuer) {
            cJSON_AddStringToObject(k, "issuer", issuer);
        }
        cJSON_AddItemToArray(keys, k);
    }
    free(n);
    free(e);
    return root;
}
