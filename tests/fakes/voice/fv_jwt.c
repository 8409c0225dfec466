#include "fv_jwt.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fv_b64url__encode(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

unsigned char *fv_b64url__decode(const char *s, size_t len, size_t *out_len)
{
    if (len % 4 == 1)
        return NULL;
    size_t padded = (len + 3) / 4 * 4;
    char *in = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    if (!in || !out)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            goto bad; /* not base64url */
        in[i] = c;
    }
    for (size_t i = len; i < padded; i++)
        in[i] = '=';
    int n = EVP_DecodeBlock(out, (unsigned char *)in, (int)padded);
    if (n < 0)
        goto bad;
    /* EVP_DecodeBlock counts padding bytes as zeros: drop them. */
    n -= (int)(padded - len);
    out[n] = '\0';
    free(in);
    *out_len = (size_t)n;
    return out;
bad:
    free(in);
    free(out);
    return NULL;
}

static char *sign_input(const unsigned char *key, size_t key_len, const char *msg, size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, len, mac, &mac_len))
        return NULL;
    return fv_b64url__encode(mac, mac_len);
}

char *fv_jwt__sign(const unsigned char *key, size_t key_len, const char *sub, int64_t iat,
                   int64_t exp)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    cJSON *claims = cJSON_CreateObject();
    cJSON_AddStringToObject(claims, "sub", sub);
    cJSON_AddStringToObject(claims, "iss", "fake-voice");
    cJSON_AddNumberToObject(claims, "iat", (double)iat);
    cJSON_AddNumberToObject(claims, "exp", (double)exp);
    char *payload = cJSON_PrintUnformatted(claims);
    cJSON_Delete(claims);
    char *h64 = fv_b64url__encode((const unsigned char *)header, strlen(header));
    char *p64 = payload ? fv_b64url__encode((unsigned char *)payload, strlen(payload)) : NULL;
    char *token = NULL, *sig = NULL;
    if (!h64 || !p64)
        goto out;
    size_t n = strlen(h64) + 1 + strlen(p64);
    token = malloc(n + 1 + 64);
    if (!token)
        goto out;
    snprintf(token, n + 1, "%s.%s", h64, p64);
    sig = sign_input(key, key_len, token, n);
    if (!sig) {
        free(token);
        token = NULL;
        goto out;
    }
    snprintf(token + n, 64, ".%s", sig);
out:
    free(payload);
    free(h64);
    free(p64);
    free(sig);
    return token;
}

int fv_jwt__verify(const unsigned char *key, size_t key_len, const char *token, int64_t now,
                   int64_t *exp, char *sub, size_t sublen)
{
    const char *d1 = token ? strchr(token, '.') : NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || strchr(d2 + 1, '.'))
        return FV_JWT_BAD;
    char *sig = sign_input(key, key_len, token, (size_t)(d2 - token));
    int ok = sig && strlen(sig) == strlen(d2 + 1) && CRYPTO_memcmp(sig, d2 + 1, strlen(sig)) == 0;
    free(sig);
    if (!ok)
        return FV_JWT_BAD;
    size_t hlen = 0, plen = 0;
    unsigned char *h = fv_b64url__decode(token, (size_t)(d1 - token), &hlen);
    unsigned char *p = fv_b64url__decode(d1 + 1, (size_t)(d2 - d1 - 1), &plen);
    cJSON *hj = h ? cJSON_Parse((char *)h) : NULL;
    cJSON *pj = p ? cJSON_Parse((char *)p) : NULL;
    int rc = FV_JWT_BAD;
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hj, "alg");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(pj, "exp");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(pj, "sub");
    if (cJSON_IsString(alg) && !strcmp(alg->valuestring, "HS256") && cJSON_IsNumber(e) &&
        cJSON_IsString(s)) {
        *exp = (int64_t)e->valuedouble;
        if (sub)
            snprintf(sub, sublen, "%s", s->valuestring);
        rc = now >= *exp ? FV_JWT_EXPIRED : FV_JWT_OK;
    }
    cJSON_Delete(hj);
    cJSON_Delete(pj);
    free(h);
    free(p);
    return rc;
}
