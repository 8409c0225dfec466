/* Strict base64 and base64url on top of OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock: the one codec of the process (the Graph side's JWTs and
 * encrypted notifications, the Voice side's RTE token).
 *
 * Design: EVP_DecodeBlock accepts some sloppy input (whitespace) and always
 * returns a multiple of 3, counting the padding as zero bytes. These wrappers
 * check the alphabet and length first and subtract the padding, so callers get
 * the exact byte count or a clean error. Decoded buffers are NUL-terminated
 * for convenience (the NUL is not counted).
 */
#ifndef PS_CORE_B64_H
#define PS_CORE_B64_H

#include <stddef.h>

/* Standard alphabet with `=` padding, length a multiple of 4, non-empty.
 * Returns 0 and a malloc'd buffer, or -1. */
int b64__decode(const char *in, size_t len, unsigned char **out, size_t *outlen);
/* base64url without padding (RFC 7515 §2), non-empty. Returns 0 or -1. */
int b64__decode_url(const char *in, size_t len, unsigned char **out, size_t *outlen);
/* Standard base64 with padding; malloc'd NUL-terminated string or NULL. */
char *b64__encode(const unsigned char *in, size_t len);
/* base64url without padding; malloc'd NUL-terminated string or NULL. */
char *b64__encode_url(const unsigned char *in, size_t len);

#endif
