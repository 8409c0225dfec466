/* Rich-notification decryption (graph/notify_crypto.h) against items built
 * the way Graph builds them, with real keys generated here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>

#include "graph/notify_crypto.h"
#include "graph/presence.h"
#include "test_graph_util.h"

#define PLAIN                                                               \
    "{\"@odata.type\":\"#Microsoft.Graph.presence\",\"@odata.id\":\"users/" \
    "u-1/presence\",\"id\":\"u-1\",\"availability\":\"Busy\",\"activity\":\"InACall\"}"

/* Suite fixture: three key pairs; a and b are loaded, c is a stranger. */
static struct {
    char *dir;
    EVP_PKEY *ka, *kb, *kc;
    X509 *ca, *cb, *cc;
    char a_crt[256], a_key[256], b_crt[256], b_key[256], c_crt[256], c_key[256];
    char thumb_a[41], thumb_b[41], thumb_c[41];
} fx;

static const char *const fx_bases[] = {"a", "b", "c", "small", "ec"};

static int suite_setup(void **state)
{
    (void)state;
    fx.dir = tu_tmpdir();
    fx.ka = tu_rsa(2048);
    fx.kb = tu_rsa(2048);
    fx.kc = tu_rsa(2048);
    fx.ca = tu_self_signed(fx.ka, "presence-notify-a");
    fx.cb = tu_self_signed(fx.kb, "presence-notify-b");
    fx.cc = tu_self_signed(fx.kc, "presence-notify-c");
    tu_write_pems(fx.dir, "a", fx.ka, fx.ca, fx.a_crt, fx.a_key, sizeof(fx.a_crt));
    tu_write_pems(fx.dir, "b", fx.kb, fx.cb, fx.b_crt, fx.b_key, sizeof(fx.b_crt));
    tu_write_pems(fx.dir, "c", fx.kc, fx.cc, fx.c_crt, fx.c_key, sizeof(fx.c_crt));
    tu_thumbprint(fx.ca, fx.thumb_a);
    tu_thumbprint(fx.cb, fx.thumb_b);
    tu_thumbprint(fx.cc, fx.thumb_c);
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(fx.ka);
    EVP_PKEY_free(fx.kb);
    EVP_PKEY_free(fx.kc);
    X509_free(fx.ca);
    X509_free(fx.cb);
    X509_free(fx.cc);
    tu_rmdir(fx.dir, fx_bases, sizeof(fx_bases) / sizeof(fx_bases[0]));
    return 0;
}

/* Per test: a store with "cert-a" and "cert-b". */
static int store_setup(void **state)
{
    struct notify_key_store *s = notify_crypto__store_new();
    char err[256];
    assert_non_null(s);
    assert_int_equal(
        notify_crypto__store_add_files(s, "cert-a", fx.a_crt, fx.a_key, err, sizeof(err)), 0);
    assert_int_equal(
        notify_crypto__store_add_files(s, "cert-b", fx.b_crt, fx.b_key, err, sizeof(err)), 0);
    *state = s;
    return 0;
}

static int store_teardown(void **state)
{
    notify_crypto__store_free(*state);
    return 0;
}

static struct graph_encrypted_content ec_of(struct tu_enc *e, const char *id, const char *thumb)
{
    struct graph_encrypted_content ec = {e->data, e->sig, e->key, (char *)id, (char *)thumb};
    return ec;
}

static void test_decrypt_ok(void **state)
{
    struct tu_enc e;
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    struct graph_encrypted_content ec = ec_of(&e, "cert-a", fx.thumb_a);
    char *pt = (char *)1;
    size_t len = 99;
    assert_int_equal(notify_crypto__decrypt(*state, &ec, &pt, &len), NOTIFY_CRYPTO_OK);
    assert_non_null(pt);
    assert_int_equal(len, strlen(PLAIN));
    assert_string_equal(pt, PLAIN);

    struct presence_state p;
    assert_int_equal(presence__parse_text(pt, len, &p, NULL), 0);
    assert_string_equal(p.id, "u-1");
    assert_string_equal(p.activity, "InACall");
    notify_crypto__plaintext_free(pt, len);
    tu_enc_free(&e);
}

static void test_key_lengths(void **state)
{
    size_t lens[] = {16, 24, 32};
    for (size_t i = 0; i < 3; i++) {
        struct tu_enc e;
        tu_encrypt(fx.kb, lens[i], PLAIN, &e);
        struct graph_encrypted_content ec = ec_of(&e, "cert-b", fx.thumb_b);
        char *pt = NULL;
        size_t len = 0;
        assert_int_equal(notify_crypto__decrypt(*state, &ec, &pt, &len), NOTIFY_CRYPTO_OK);
        assert_string_equal(pt, PLAIN);
        notify_crypto__plaintext_free(pt, len);
        tu_enc_free(&e);
    }
    /* A wrapped key of an unusable length never reaches AES. */
    struct tu_enc e;
    unsigned char key[40];
    memset(key, 7, sizeof(key));
    tu_encrypt_with_key(fx.kb, key, 40, PLAIN, &e);
    struct graph_encrypted_content ec = ec_of(&e, "cert-b", fx.thumb_b);
    char *pt = NULL;
    size_t len = 0;
    assert_int_equal(notify_crypto__decrypt(*state, &ec, &pt, &len),
                     NOTIFY_CRYPTO_KEY_UNWRAP_FAILED);
    assert_null(pt);
    tu_enc_free(&e);
}

static void expect_fail(struct notify_key_store *s, const struct graph_encrypted_content *ec,
                        enum notify_crypto_result want)
{
    char *pt = (char *)1;
    size_t len = 5;
    enum notify_crypto_result got = notify_crypto__decrypt(s, ec, &pt, &len);
    assert_string_equal(notify_crypto__result_name(got), notify_crypto__result_name(want));
    assert_null(pt);
    assert_int_equal(len, 0);
}

static void test_tampered_signature(void **state)
{
    struct tu_enc e;
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    /* Flip one signature bit (first char changes value, stays base64). */
    e.sig[0] = e.sig[0] == 'A' ? 'B' : 'A';
    struct graph_encrypted_content ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_SIGNATURE);
    tu_enc_free(&e);

    /* Tampered ciphertext with the original signature. */
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    e.data[5] = e.data[5] == 'A' ? 'B' : 'A';
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_SIGNATURE);
    tu_enc_free(&e);

    /* A signature of the wrong length (16 bytes) is a bad signature too. */
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    free(e.sig);
    unsigned char short_sig[16] = {0};
    e.sig = tu_b64(short_sig, sizeof(short_sig));
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_SIGNATURE);
    tu_enc_free(&e);
}

static void test_unknown_certificate(void **state)
{
    struct tu_enc e;
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    struct graph_encrypted_content ec = ec_of(&e, "cert-zzz", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE);
    ec = ec_of(&e, "CERT-A", fx.thumb_a); /* labels are exact */
    expect_fail(*state, &ec, NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE);
    tu_enc_free(&e);
}

static void test_thumbprint(void **state)
{
    struct tu_enc e;
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    /* cert-a's label with cert-b's thumbprint */
    struct graph_encrypted_content ec = ec_of(&e, "cert-a", fx.thumb_b);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_THUMBPRINT_MISMATCH);
    ec = ec_of(&e, "cert-a", NULL);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_THUMBPRINT_MISMATCH);

    /* Lower-case hex is the same thumbprint. */
    char lower[41];
    for (int i = 0; i < 41; i++)
        lower[i] = (char)tolower((unsigned char)fx.thumb_a[i]);
    ec = ec_of(&e, "cert-a", lower);
    char *pt = NULL;
    size_t len = 0;
    assert_int_equal(notify_crypto__decrypt(*state, &ec, &pt, &len), NOTIFY_CRYPTO_OK);
    notify_crypto__plaintext_free(pt, len);

    char got[41];
    assert_int_equal(notify_crypto__store_thumbprint(*state, "cert-a", got, sizeof(got)), 0);
    assert_string_equal(got, fx.thumb_a);
    assert_int_equal(notify_crypto__store_thumbprint(*state, "nope", got, sizeof(got)), -1);
    tu_enc_free(&e);
}

static void test_bad_base64(void **state)
{
    struct tu_enc e;
    tu_encrypt(fx.ka, 32, PLAIN, &e);
    char *saved = e.data;

    e.data = strndup(saved, strlen(saved) - 1); /* truncated by one char */
    struct graph_encrypted_content ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_BASE64);
    free(e.data);

    e.data = strdup(saved);
    e.data[3] = '*'; /* outside the alphabet */
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_BASE64);
    free(e.data);

    e.data = strdup("");
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_BASE64);
    free(e.data);
    e.data = saved;

    char *key = e.key;
    e.key = strdup("QUJD=A=="); /* padding in the middle */
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_BASE64);
    free(e.key);
    e.key = key;

    char *sig = e.sig;
    e.sig = strndup(sig, 40); /* 44 -> 40 chars: valid length, wrong padding count */
    e.sig[39] = '=';
    e.sig[38] = '=';
    e.sig[37] = '=';
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_BAD_BASE64);
    free(e.sig);
    e.sig = sig;
    tu_enc_free(&e);
}

static void test_key_from_other_cert(void **state)
{
    /* Wrapped for cert-c's key but labelled as cert-a. */
    struct tu_enc e;
    tu_encrypt(fx.kc, 32, PLAIN, &e);
    struct graph_encrypted_content ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_KEY_UNWRAP_FAILED);
    tu_enc_free(&e);
}

/* Valid HMAC over a ciphertext that does not decrypt: padding or length. */
static void test_decrypt_failed(void **state)
{
    unsigned char key[32];
    RAND_bytes(key, sizeof(key));
    unsigned char block[32];
    memset(block, 0, sizeof(block));
    /* Encrypt 32 zero bytes without padding: the final block's last byte after
     * decryption is 0x00, which is never valid PKCS7. */
    unsigned char ct[48];
    int l1 = 0, l2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, key);
    EVP_CIPHER_CTX_set_padding(c, 0);
    EVP_EncryptUpdate(c, ct, &l1, block, sizeof(block));
    EVP_EncryptFinal_ex(c, ct + l1, &l2);
    EVP_CIPHER_CTX_free(c);

    struct tu_enc e = {0};
    tu_sign_raw(key, sizeof(key), ct, (size_t)(l1 + l2), &e);
    e.key = tu_wrap(fx.ka, key, sizeof(key));
    struct graph_encrypted_content ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_DECRYPT_FAILED);
    tu_enc_free(&e);

    /* Not a whole number of blocks. */
    tu_sign_raw(key, sizeof(key), ct, 20, &e);
    e.key = tu_wrap(fx.ka, key, sizeof(key));
    ec = ec_of(&e, "cert-a", fx.thumb_a);
    expect_fail(*state, &ec, NOTIFY_CRYPTO_DECRYPT_FAILED);
    tu_enc_free(&e);
}

static void test_rotation(void **state)
{
    (void)state;
    char err[256];
    struct notify_key_store *s = notify_crypto__store_new();
    /* Same label, old cert a then new cert c: both decrypt during rotation. */
    assert_int_equal(notify_crypto__store_add_files(s, "notify", fx.a_crt, fx.a_key, err, 256), 0);
    assert_int_equal(notify_crypto__store_add_files(s, "notify", fx.c_crt, fx.c_key, err, 256), 0);
    assert_int_equal(notify_crypto__store_add_files(s, "notify", fx.c_crt, fx.c_key, err, 256), 0);
    assert_int_equal(notify_crypto__store_count(s), 2);
    char got[41];
    assert_int_equal(notify_crypto__store_thumbprint(s, "notify", got, sizeof(got)), 0);
    assert_string_equal(got, fx.thumb_c); /* newest wins for new subscriptions */

    struct tu_enc old, neu;
    tu_encrypt(fx.ka, 32, PLAIN, &old);
    tu_encrypt(fx.kc, 32, PLAIN, &neu);
    struct graph_encrypted_content ec_old = ec_of(&old, "notify", fx.thumb_a);
    struct graph_encrypted_content ec_new = ec_of(&neu, "notify", fx.thumb_c);
    char *pt = NULL;
    size_t len = 0;
    assert_int_equal(notify_crypto__decrypt(s, &ec_old, &pt, &len), NOTIFY_CRYPTO_OK);
    notify_crypto__plaintext_free(pt, len);
    assert_int_equal(notify_crypto__decrypt(s, &ec_new, &pt, &len), NOTIFY_CRYPTO_OK);
    notify_crypto__plaintext_free(pt, len);

    /* Retire the old one. */
    assert_int_equal(notify_crypto__store_remove(s, "notify", fx.thumb_a), 1);
    assert_int_equal(notify_crypto__store_count(s), 1);
    expect_fail(s, &ec_old, NOTIFY_CRYPTO_THUMBPRINT_MISMATCH);
    assert_int_equal(notify_crypto__decrypt(s, &ec_new, &pt, &len), NOTIFY_CRYPTO_OK);
    notify_crypto__plaintext_free(pt, len);
    assert_int_equal(notify_crypto__store_remove(s, "notify", NULL), 1);
    expect_fail(s, &ec_new, NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE);
    tu_enc_free(&old);
    tu_enc_free(&neu);
    notify_crypto__store_free(s);
}

static void test_store_errors(void **state)
{
    (void)state;
    char err[256];
    struct notify_key_store *s = notify_crypto__store_new();
    assert_int_equal(
        notify_crypto__store_add_files(s, "x", "/nonexistent.crt", fx.a_key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "certificate"));
    assert_int_equal(
        notify_crypto__store_add_files(s, "x", fx.a_crt, "/nonexistent.key", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "private key"));
    /* Key of another certificate. */
    assert_int_equal(notify_crypto__store_add_files(s, "x", fx.a_crt, fx.b_key, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "does not match"));
    /* A PEM cert given as the key and vice versa. */
    assert_int_equal(notify_crypto__store_add_files(s, "x", fx.a_key, fx.a_crt, err, sizeof(err)),
                     -1);
    /* Empty / oversized label. */
    assert_int_equal(notify_crypto__store_add_files(s, "", fx.a_crt, fx.a_key, err, sizeof(err)),
                     -1);
    char label[200];
    memset(label, 'l', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    assert_int_equal(notify_crypto__store_add_files(s, label, fx.a_crt, fx.a_key, err, sizeof(err)),
                     -1);

    /* RSA-1024 and EC keys are refused. */
    char crt[256], key[256];
    EVP_PKEY *small = tu_rsa(1024);
    X509 *small_c = tu_self_signed(small, "small");
    tu_write_pems(fx.dir, "small", small, small_c, crt, key, sizeof(crt));
    assert_int_equal(notify_crypto__store_add_files(s, "x", crt, key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "2048"));
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    X509 *ec_c = tu_self_signed(ec, "ec");
    tu_write_pems(fx.dir, "ec", ec, ec_c, crt, key, sizeof(crt));
    assert_int_equal(notify_crypto__store_add_files(s, "x", crt, key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not RSA"));
    assert_int_equal(notify_crypto__store_count(s), 0);
    EVP_PKEY_free(small);
    X509_free(small_c);
    EVP_PKEY_free(ec);
    X509_free(ec_c);
    notify_crypto__store_free(s);
}

static void test_cert_base64(void **state)
{
    char *b64 = notify_crypto__store_cert_base64(*state, "cert-b");
    assert_non_null(b64);
    unsigned char *der = NULL;
    int n = i2d_X509(fx.cb, &der);
    char *want = tu_b64(der, (size_t)n);
    assert_string_equal(b64, want);
    OPENSSL_free(der);
    free(want);
    free(b64);
    assert_null(notify_crypto__store_cert_base64(*state, "none"));
}

struct worker_arg {
    struct notify_key_store *store;
    struct tu_enc *items;
    size_t n;
    int ok;
};

static void *worker(void *p)
{
    struct worker_arg *w = p;
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < w->n; i++) {
            struct graph_encrypted_content ec =
                ec_of(&w->items[i], i % 2 ? "cert-b" : "cert-a", i % 2 ? fx.thumb_b : fx.thumb_a);
            char *pt = NULL;
            size_t len = 0;
            if (notify_crypto__decrypt(w->store, &ec, &pt, &len) == NOTIFY_CRYPTO_OK &&
                strcmp(pt, PLAIN) == 0)
                w->ok++;
            notify_crypto__plaintext_free(pt, len);
        }
    }
    return NULL;
}

/* Several decryption workers at once, while keys are added and removed. */
static void test_threads(void **state)
{
    enum { NT = 4, NI = 10 };
    struct tu_enc items[NI];
    for (size_t i = 0; i < NI; i++)
        tu_encrypt(i % 2 ? fx.kb : fx.ka, 32, PLAIN, &items[i]);
    pthread_t th[NT];
    struct worker_arg args[NT];
    for (int t = 0; t < NT; t++) {
        args[t] = (struct worker_arg){*state, items, NI, 0};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    char err[256];
    for (int i = 0; i < 10; i++) {
        assert_int_equal(
            notify_crypto__store_add_files(*state, "cert-c", fx.c_crt, fx.c_key, err, sizeof(err)),
            0);
        assert_int_equal(notify_crypto__store_remove(*state, "cert-c", NULL), 1);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].ok, 5 * NI);
    }
    for (size_t i = 0; i < NI; i++)
        tu_enc_free(&items[i]);
}

static void test_client_state(void **state)
{
    (void)state;
    assert_true(notify_crypto__client_state_equal("s3cr3t-state", "s3cr3t-state"));
    assert_false(notify_crypto__client_state_equal("s3cr3t-statf", "s3cr3t-state"));
    assert_false(notify_crypto__client_state_equal("s3cr3t", "s3cr3t-state"));
    assert_false(notify_crypto__client_state_equal("S3CR3T-STATE", "s3cr3t-state"));
    assert_false(notify_crypto__client_state_equal("", ""));
    assert_false(notify_crypto__client_state_equal(NULL, "x"));
    assert_false(notify_crypto__client_state_equal("x", NULL));
}

/* The whole path: a Graph POST body -> parser -> decrypt -> presence. */
static void test_from_notification_body(void **state)
{
    struct tu_enc e;
    tu_encrypt(fx.kb, 32, PLAIN, &e);
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"value\":[{\"subscriptionId\":\"s1\",\"clientState\":\"cs\",\"tenantId\":\"t1\","
             "\"changeType\":\"updated\",\"resource\":\"communications/presences/u-1\","
             "\"encryptedContent\":{\"data\":\"%s\",\"dataSignature\":\"%s\",\"dataKey\":\"%s\","
             "\"encryptionCertificateId\":\"cert-b\",\"encryptionCertificateThumbprint\":\"%s\"}}],"
             "\"validationTokens\":[\"x.y.z\"]}",
             e.data, e.sig, e.key, fx.thumb_b);
    struct notification_batch b;
    assert_int_equal(notification__parse(body, strlen(body), &b), NOTIFICATION_BODY_OK);
    assert_int_equal(b.n_items, 1);
    assert_int_equal(b.items[0].status, NOTIFICATION_ITEM_OK);
    assert_true(b.items[0].has_encrypted);
    char *pt = NULL;
    size_t len = 0;
    assert_int_equal(notify_crypto__decrypt(*state, &b.items[0].encrypted, &pt, &len),
                     NOTIFY_CRYPTO_OK);
    assert_string_equal(pt, PLAIN);
    notify_crypto__plaintext_free(pt, len);
    notification__free(&b);
    tu_enc_free(&e);
}

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(notify_crypto__result_name(NOTIFY_CRYPTO_UNKNOWN_CERTIFICATE),
                        "unknown_certificate");
    assert_string_equal(notify_crypto__result_name(NOTIFY_CRYPTO_THUMBPRINT_MISMATCH),
                        "thumbprint_mismatch");
    assert_string_equal(notify_crypto__result_name(NOTIFY_CRYPTO_BAD_BASE64), "bad_base64");
    assert_string_equal(notify_crypto__result_name(NOTIFY_CRYPTO_KEY_UNWRAP_FAILED),
                        "key_unwrap_failed");
    assert_string_equal(notify_crypto__result_name(NOTIFY_CRYPTO_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(notify_crypto__result_name(NOTIFY_CRYPTO_DECRYPT_FAILED), "decrypt_failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decrypt_ok, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_key_lengths, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_signature, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_certificate, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_thumbprint, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_bad_base64, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_key_from_other_cert, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_decrypt_failed, store_setup, store_teardown),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_store_errors),
        cmocka_unit_test_setup_teardown(test_cert_base64, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_threads, store_setup, store_teardown),
        cmocka_unit_test(test_client_state),
        cmocka_unit_test_setup_teardown(test_from_notification_body, store_setup, store_teardown),
        cmocka_unit_test(test_result_names),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
