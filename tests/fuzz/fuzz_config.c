/* The configuration loader: config__parse on arbitrary JSON text with a
 * scratch base directory made at init, holding what a config may name:
 * secret.txt, users.txt, enc.crt/enc.key (a real RSA pair) and a secret in
 * the environment (PS_FUZZ_SECRET). Property: a loaded config's summary
 * never shows a secret value (that the input does not contain itself).
 *
 * Paths naming /dev, /proc or /sys are skipped: the config is the operator's
 * file and may name any path; reading a device is not a parser bug. */
#include "fuzz_util.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/log.h"

#define SECRET_FILE_VALUE "fuzz-secret-in-a-file-7f3a"
#define SECRET_ENV_VALUE  "fuzz-secret-in-env-91bd"

static void write_pair(void)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    if (!key || !x)
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
    char path[512];
    snprintf(path, sizeof(path), "%s/enc.crt", fu_tmpdir());
    FILE *f = fopen(path, "w");
    if (!f || !PEM_write_X509(f, x) || fclose(f))
        abort();
    snprintf(path, sizeof(path), "%s/enc.key", fu_tmpdir());
    f = fopen(path, "w");
    if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) || fclose(f))
        abort();
    chmod(path, 0600);
    X509_free(x);
    EVP_PKEY_free(key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    static const char secret[] = SECRET_FILE_VALUE "\n";
    static const char users[] = "alice@contoso.com\n# a comment\n\nBob@Contoso.com\n";
    fu_write_tmp("secret.txt", secret, strlen(secret));
    fu_write_tmp("users.txt", users, strlen(users));
    write_pair();
    setenv("PS_FUZZ_SECRET", SECRET_ENV_VALUE, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = fu_str(data, size);
    if (strstr(json, "dev/") || strstr(json, "proc/") || strstr(json, "sys/")) {
        free(json);
        return 0;
    }
    struct config *cfg = NULL;
    struct config_error err;
    memset(&err, 0, sizeof(err));
    if (config__parse(json, fu_tmpdir(), &cfg, &err) == 0) {
        FUZZ_ASSERT(cfg != NULL);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
            abort();
        config_summary__print(cfg, f);
        (void)config__total_users(cfg);
        fclose(f);
        /* unless the input itself spells a secret out in a plain field */
        if (!strstr(json, SECRET_FILE_VALUE) && !strstr(json, SECRET_ENV_VALUE))
            FUZZ_ASSERT(!strstr(out, SECRET_FILE_VALUE) && !strstr(out, SECRET_ENV_VALUE));
        free(out);
        config__free(cfg);
    }
    else {
        FUZZ_ASSERT(memchr(err.path, 0, sizeof(err.path)) && memchr(err.msg, 0, sizeof(err.msg)));
        FUZZ_ASSERT(cfg == NULL);
    }
    log__redact_clear();
    free(json);
    return 0;
}
