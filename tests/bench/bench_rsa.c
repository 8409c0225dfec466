/* bench_rsa: the CPU of one RSA-2048 private-key operation as the daemon
 * does it for a rich notification (RSA-OAEP(SHA-1) decryption of a 32-byte
 * data key), the baseline of benchmark 2 (docs/performance.md).
 *
 *   bench_rsa KEY.pem [SECONDS]
 *
 * Wraps a random key with the key's public half, then decrypts it with a
 * prepared context for SECONDS (2) of this process's CPU time, and prints
 * "rsa_oaep_cpu_us=N ops=M": CPU microseconds (user + system, from
 * CLOCK_PROCESS_CPUTIME_ID) per operation. CPU time, not wall time, so other
 * work on the machine does not count as ours; run one per core next to each
 * other to load the cores the way the daemon's workers do.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, int decrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx && (decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 &&
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_rsa KEY.pem [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    FILE *f = fopen(argv[1], "r");
    EVP_PKEY *pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    EVP_PKEY_CTX *enc = pkey ? oaep_ctx(pkey, 0) : NULL;
    EVP_PKEY_CTX *dec = pkey ? oaep_ctx(pkey, 1) : NULL;
    unsigned char key[32], wrapped[1024], out[1024];
    size_t wlen = sizeof(wrapped);
    if (!enc || !dec || RAND_bytes(key, sizeof(key)) != 1 ||
        EVP_PKEY_encrypt(enc, wrapped, &wlen, key, sizeof(key)) != 1) {
        fprintf(stderr, "bench_rsa: cannot set up RSA-OAEP with %s\n", argv[1]);
        return 1;
    }
    long ops = 0;
    double t0 = cpu_s(), t1 = t0;
    while (t1 - t0 < seconds) {
        for (int i = 0; i < 50; i++, ops++) {
            size_t olen = sizeof(out);
            if (EVP_PKEY_decrypt(dec, out, &olen, wrapped, wlen) != 1 || olen != sizeof(key)) {
                fprintf(stderr, "bench_rsa: decryption failed\n");
                return 1;
            }
        }
        t1 = cpu_s();
    }
    printf("rsa_oaep_cpu_us=%.1f ops=%ld\n", (t1 - t0) * 1e6 / (double)ops, ops);
    EVP_PKEY_CTX_free(enc);
    EVP_PKEY_CTX_free(dec);
    EVP_PKEY_free(pkey);
    return 0;
}
