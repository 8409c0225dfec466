/* The RTE token: an HS256 JWT signed with the simulator's random key,
 * carrying the user id (sub) and an expiry (exp, seconds since the epoch). */
#ifndef FV_JWT_H
#define FV_JWT_H

#include <stddef.h>
#include <stdint.h>

#define FV_JWT_KEY_LEN 32

/* Returns a malloc'd token, or NULL. */
char *fv_jwt__sign(const unsigned char *key, size_t key_len, const char *sub, int64_t iat,
                   int64_t exp);

enum { FV_JWT_OK = 0, FV_JWT_BAD = -1, FV_JWT_EXPIRED = -2 };
/* Checks shape, algorithm, signature and exp against now (seconds). On
 * FV_JWT_OK or FV_JWT_EXPIRED *exp (and sub, when given) are filled. */
int fv_jwt__verify(const unsigned char *key, size_t key_len, const char *token, int64_t now,
                   int64_t *exp, char *sub, size_t sublen);

/* base64url without padding; malloc'd. */
char *fv_b64url__encode(const unsigned char *data, size_t len);
/* Returns malloc'd bytes (NUL-terminated for convenience) and *out_len, or
 * NULL for invalid input. */
unsigned char *fv_b64url__decode(const char *s, size_t len, size_t *out_len);

#endif
