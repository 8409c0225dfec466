/* Small helpers shared by the fuzz targets (header-only: each target is one
 * translation unit plus this). Nothing here is under test. */
#ifndef PS_FUZZ_UTIL_H
#define PS_FUZZ_UTIL_H

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* A property the code under test must keep: trap (a crash libFuzzer saves)
 * instead of abort() so that no handler can swallow it. */
#define FUZZ_ASSERT(cond)                                                                     \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            __builtin_trap();                                                                 \
        }                                                                                     \
    } while (0)

/* NUL-terminated malloc'd copy of the input (aborts on OOM: not a finding). */
static inline char *fu_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits s in place at the first n-1 occurrences of sep; missing parts are
 * "". The last part keeps the rest (it may contain sep). */
static inline void fu_split(char *s, char sep, char **parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        parts[i] = s;
        if (i + 1 == n)
            break;
        char *p = strchr(s, sep);
        if (p) {
            *p = '\0';
            s = p + 1;
        }
        else {
            s += strlen(s);
        }
    }
}

/* Takes one byte from the front of the input (0 when empty). */
static inline uint8_t fu_byte(const uint8_t **data, size_t *size)
{
    if (!*size)
        return 0;
    uint8_t b = **data;
    (*data)++;
    (*size)--;
    return b;
}

static inline char *fu_b64(const unsigned char *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        abort();
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

static inline char *fu_b64url(const unsigned char *in, size_t len)
{
    char *s = fu_b64(in, len);
    size_t n = strlen(s);
    while (n && s[n - 1] == '=')
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return s;
}

static inline int fu_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A private scratch directory, removed with everything in it at exit. */
static char fu_tmp_path[256];

static inline void fu_tmp_cleanup(void)
{
    if (fu_tmp_path[0])
        nftw(fu_tmp_path, fu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline const char *fu_tmpdir(void)
{
    if (!fu_tmp_path[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(fu_tmp_path, sizeof(fu_tmp_path), "%s/ps-fuzz-XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(fu_tmp_path))
            abort();
        atexit(fu_tmp_cleanup);
    }
    return fu_tmp_path;
}

/* Writes text to <tmpdir>/<name> with mode 0600; returns the path (static). */
static inline const char *fu_write_tmp(const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", fu_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
    chmod(path, 0600);
    return path;
}

#endif
