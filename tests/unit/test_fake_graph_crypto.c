/* fake-graph crypto: encryptionCertificate checks (base64 DER, RSA
 * 2048..4096), the rich-notification encryption decrypted back with OpenSSL
 * here, and validationToken JWTs verified with the key of the JWKS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "fg_crypto.h"

/* A self-signed certificate for key, as base64 DER. */
static char *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    char *b64 = fg_crypto__b64(der, (size_t)len);
    OPENSSL_free(der);
    X509_free(x);
    return b64;
}

static void test_cert_checks(void **state)
{
    (void)state;
    EVP_PKEY *key = NULL;
    char thumb[48];
    const char *err = NULL;
    assert_int_equal(fg_crypto__parse_cert("bm90IGEgY2VydA==", &key, thumb, &err), -1);
    assert_non_null(err);
    assert_int_equal(fg_crypto__parse_cert("***", &key, thumb, &err), -1);
    EVP_PKEY *small = EVP_RSA_gen(1024);
    char *c = make_cert(small);
    assert_int_equal(fg_crypto__parse_cert(c, &key, thumb, &err), -1);
    free(c);
    EVP_PKEY_free(small);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    c = make_cert(ec);
    assert_int_equal(fg_crypto__parse_cert(c, &key, thumb, &err), -1);
    free(c);
    EVP_PKEY_free(ec);
}

static void test_encrypt_roundtrip(void **state)
{
    (void)state;
    EVP_PKEY *priv = EVP_RSA_gen(2048);
    char *cert = make_cert(priv);
    EVP_PKEY *pub = NULL;
    char thumb[48];
    const char *err = NULL;
    assert_int_equal(fg_crypto__parse_cert(cert, &pub, thumb, &err), 0);
    /* thumbprint: upper-case hex SHA-1 of the DER */
    size_t der_len;
    unsigned char *der = fg_crypto__unb64(cert, &der_len), sha[20];
    SHA1(der, der_len, sha);
    char want[48];
    for (int i = 0; i < 20; i++) {
        sprintf(want + 2 * i, "%02X", sha[i]);
    }
    assert_string_equal(thumb, want);
    free(der);

    const char *plain = "{\"id\":\"u1\",\"availability\":\"Busy\",\"activity\":\"InACall\"}";
    cJSON *enc = fg_crypto__encrypt(pub, "k1", thumb, plain, strlen(plain));
    assert_non_null(enc);
    assert_string_equal(cJSON_GetObjectItem(enc, "encryptionCertificateId")->valuestring, "k1");
    size_t dk_len, data_len, sig_len, key_len = 0;
    unsigned char *dk = fg_crypto__unb64(cJSON_GetObjectItem(enc, "dataKey")->valuestring, &dk_len);
    unsigned char *data =
        fg_crypto__unb64(cJSON_GetObjectItem(enc, "data")->valuestring, &data_len);
    unsigned char *sig =
        fg_crypto__unb64(cJSON_GetObjectItem(enc, "dataSignature")->valuestring, &sig_len);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(priv, NULL);
    unsigned char key[512];
    key_len = sizeof(key);
    assert_int_equal(EVP_PKEY_decrypt_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha1()), 1);
    assert_int_equal(EVP_PKEY_decrypt(c, key, &key_len, dk, dk_len), 1);
    EVP_PKEY_CTX_free(c);
    assert_int_equal(key_len, 32);
    unsigned char mac[32];
    unsigned int mac_len = 32;
    HMAC(EVP_sha256(), key, 32, data, data_len, mac, &mac_len);
    assert_int_equal(sig_len, 32);
    assert_memory_equal(mac, sig, 32);
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    unsigned char out[256];
    int n1 = 0, n2 = 0;
    assert_int_equal(EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, key, key), 1);
    assert_int_equal(EVP_DecryptUpdate(cc, out, &n1, data, (int)data_len), 1);
    assert_int_equal(EVP_DecryptFinal_ex(cc, out + n1, &n2), 1);
    EVP_CIPHER_CTX_free(cc);
    assert_int_equal(n1 + n2, strlen(plain));
    assert_memory_equal(out, plain, strlen(plain));
    /* a fresh key per item */
    cJSON *enc2 = fg_crypto__encrypt(pub, "k1", thumb, plain, strlen(plain));
    assert_string_not_equal(cJSON_GetObjectItem(enc, "dataKey")->valuestring,
                            cJSON_GetObjectItem(enc2, "dataKey")->valuestring);
    cJSON_Delete(enc2);
    cJSON_Delete(enc);
    free(dk);
    free(data);
    free(sig);
    free(cert);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
}

static unsigned char *unb64url(const char *s, size_t n, size_t *len)
{
    char *b = calloc(1, n + 4);
    memcpy(b, s, n);
    for (size_t i = 0; i < n; i++) {
        b[i] = b[i] == '-' ? '+' : b[i] == '_' ? '/' : b[i];
    }
    while (strlen(b) % 4) {
        strcat(b, "=");
    }
    unsigned char *out = fg_crypto__unb64(b, len);
    free(b);
    return out;
}

static BIGNUM *jwk_bn(const cJSON *k, const char *name)
{
    const char *v = cJSON_GetObjectItem(k, name)->valuestring;
    size_t len;
    unsigned char *bytes = unb64url(v, strlen(v), &len);
    BIGNUM *bn = BN_bin2bn(bytes, (int)len, NULL);
    free(bytes);
    return bn;
}

static void test_jwt_verifies_with_jwks(void **state)
{
    (void)state;
    struct fg_signer s;
    assert_int_equal(fg_signer__init(&s), 0);
    char *jwt = fg_signer__jwt(&s, "client-1", "tenant-1", 1700000000, 1);
    assert_non_null(jwt);
    cJSON *jwks = fg_signer__jwks(&s, NULL);
    cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(jwks, "keys"), 0);
    assert_string_equal(cJSON_GetObjectItem(k, "kid")->valuestring, s.kid);
    /* rebuild the public key from n and e only */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = jwk_bn(k, "n"), *e = jwk_bn(k, "e");
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pub = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(pc), 1);
    assert_int_equal(EVP_PKEY_fromdata(pc, &pub, EVP_PKEY_PUBLIC_KEY, params), 1);
    const char *dot2 = strrchr(jwt, '.');
    size_t sig_len;
    unsigned char *sig = unb64url(dot2 + 1, strlen(dot2 + 1), &sig_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sig_len, (unsigned char *)jwt, (size_t)(dot2 - jwt)),
                     1);
    /* claims */
    const char *dot1 = strchr(jwt, '.');
    size_t plen;
    unsigned char *payload = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    cJSON *claims = cJSON_ParseWithLength((char *)payload, plen);
    assert_string_equal(cJSON_GetObjectItem(claims, "aud")->valuestring, "client-1");
    assert_string_equal(cJSON_GetObjectItem(claims, "iss")->valuestring,
                        "https://sts.windows.net/tenant-1/");
    assert_string_equal(cJSON_GetObjectItem(claims, "appid")->valuestring, FG_NOTIFY_APPID);
    assert_string_equal(cJSON_GetObjectItem(claims, "tid")->valuestring, "tenant-1");
    assert_string_equal(cJSON_GetObjectItem(claims, "ver")->valuestring, "1.0");
    assert_string_equal(cJSON_GetObjectItem(claims, "idp")->valuestring,
                        "https://sts.windows.net/tenant-1/");
    assert_true(cJSON_GetObjectItem(claims, "exp")->valuedouble > 1700000000);
    assert_true(cJSON_GetObjectItem(claims, "nbf")->valuedouble <= 1700000000);
    cJSON_Delete(claims);
    free(payload);
    EVP_MD_CTX_free(md);
    free(sig);
    EVP_PKEY_free(pub);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    cJSON_Delete(jwks);
    free(jwt);
    fg_signer__free(&s);
}

/* The payload of a JWT as JSON. */
static cJSON *jwt_claims(const char *jwt)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = strrchr(jwt, '.');
    size_t plen;
    unsigned char *payload = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    cJSON *c = cJSON_ParseWithLength((char *)payload, plen);
    free(payload);
    return c;
}

/* v2 validation tokens, and the JWKS key's certificate: x5c holds the
 * signing key, x5t is its SHA-1 thumbprint (base64url), as Entra publishes. */
static void test_jwt_v2_and_x5c(void **state)
{
    (void)state;
    struct fg_signer s;
    assert_int_equal(fg_signer__init(&s), 0);
    char *jwt = fg_signer__jwt(&s, "client-1", "tenant-1", 1700000000, 2);
    cJSON *c = jwt_claims(jwt);
    assert_string_equal(cJSON_GetObjectItem(c, "iss")->valuestring,
                        "https://login.microsoftonline.com/tenant-1/v2.0");
    assert_string_equal(cJSON_GetObjectItem(c, "azp")->valuestring, FG_NOTIFY_APPID);
    assert_null(cJSON_GetObjectItem(c, "appid"));
    assert_string_equal(cJSON_GetObjectItem(c, "ver")->valuestring, "2.0");
    assert_string_equal(cJSON_GetObjectItem(c, "tid")->valuestring, "tenant-1");
    cJSON_Delete(c);

    cJSON *jwks = fg_signer__jwks(&s, "http://127.0.0.1:1/{tenantid}/v2.0");
    cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(jwks, "keys"), 0);
    const char *x5c = cJSON_GetArrayItem(cJSON_GetObjectItem(k, "x5c"), 0)->valuestring;
    size_t der_len = 0;
    unsigned char *der = fg_crypto__unb64(x5c, &der_len);
    assert_non_null(der);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)der_len);
    assert_non_null(x);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    assert_int_equal(EVP_PKEY_eq(pub, s.key), 1);
    unsigned char sha1[20];
    SHA1(der, der_len, sha1);
    char *x5t = fg_crypto__b64url(sha1, sizeof(sha1));
    assert_string_equal(cJSON_GetObjectItem(k, "x5t")->valuestring, x5t);
    assert_string_equal(cJSON_GetObjectItem(k, "kid")->valuestring, x5t);
    assert_string_equal(cJSON_GetObjectItem(k, "issuer")->valuestring,
                        "http://127.0.0.1:1/{tenantid}/v2.0");
    /* the token header names the same key */
    const char *dot = strchr(jwt, '.');
    size_t hlen;
    unsigned char *hdr = unb64url(jwt, (size_t)(dot - jwt), &hlen);
    cJSON *h = cJSON_ParseWithLength((char *)hdr, hlen);
    assert_string_equal(cJSON_GetObjectItem(h, "kid")->valuestring, x5t);
    assert_string_equal(cJSON_GetObjectItem(h, "x5t")->valuestring, x5t);
    cJSON_Delete(h);
    free(hdr);
    free(x5t);
    X509_free(x);
    free(der);
    cJSON_Delete(jwks);
    free(jwt);
    fg_signer__free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cert_checks),
        cmocka_unit_test(test_encrypt_roundtrip),
        cmocka_unit_test(test_jwt_verifies_with_jwks),
        cmocka_unit_test(test_jwt_v2_and_x5c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
