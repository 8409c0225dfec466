/* Strict base64 / base64url wrappers around OpenSSL. */
#include "core/b64.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static bool b64__std_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int b64__decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!in || len == 0 || len % 4 != 0 || len > (size_t)INT_MAX)
        return -1;
    size_t pad = 0;
    while (pad < 2 && in[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        if (!b64__std_char(in[i]))
            return -1;
    }
    unsigned char *buf = malloc(len / 4 * 3 + 1);
    if (!buf)
        return -1;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
    if (n < 0 || (size_t)n != len / 4 * 3) {
        free(buf);
        return -1;
    }
    *outlen = (size_t)n - pad;
    buf[*outlen] = '\0';
    *out = buf;
    return 0;
}

int b64__decode_url(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!in || len == 0 || len % 4 == 1 || len > (size_t)INT_MAX - 4)
        return -1;
    size_t padded = (len + 3) / 4 * 4;
    char *tmp = malloc(padded + 1);
    if (!tmp)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || !b64__std_char(c)) {
            free(tmp);
            return -1;
        }
        tmp[i] = c;
    }
    memset(tmp + len, '=', padded - len);
    tmp[padded] = '\0';
    int rc = b64__decode(tmp, padded, out, outlen);
    free(tmp);
    return rc;
}

char *b64__encode(const unsigned char *in, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

char *b64__encode_url(const unsigned char *in, size_t len)
{
    char *s = b64__encode(in, len);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        s[--n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            s[i] = '-';
        else if (s[i] == '/')
            s[i] = '_';
    }
    return s;
}
