/* fake-graph: the crypto Graph does for rich notifications (docs/graph.md
 * §4) and for validationTokens (§3.4), with OpenSSL only. */
#ifndef FG_CRYPTO_H
#define FG_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

/* base64 (standard alphabet, padded) of len bytes; malloc'd. */
char *fg_crypto__b64(const unsigned char *data, size_t len);
/* base64url without padding; malloc'd. */
char *fg_crypto__b64url(const unsigned char *data, size_t len);
/* Decodes standard base64 (whitespace not allowed); malloc'd, or NULL. */
unsigned char *fg_crypto__unb64(const char *b64, size_t *len);

/* Parses encryptionCertificate: base64 of an X.509 DER certificate with an
 * RSA key of 2048..4096 bits. On success sets *key (caller frees) and the
 * upper-case hex SHA-1 thumbprint (41 bytes); else returns -1 and *err. */
int fg_crypto__parse_cert(const char *b64, EVP_PKEY **key, char thumbprint[48], const char **err);

/* encryptedContent of one notification item: a fresh random 32-byte key,
 * AES-256-CBC (IV = key[0..15], PKCS7) over plaintext, HMAC-SHA256 over the
 * ciphertext, the key wrapped with RSA-OAEP (SHA-1, MGF1-SHA-1). */
cJSON *fg_crypto__encrypt(EVP_PKEY *cert_key, const char *cert_id, const char *thumbprint,
                          const char *plaintext, size_t len);

/* The key that signs validationTokens and id_tokens, published as JWKS
 * with its self-signed certificate (x5c) and thumbprint (x5t, also the kid,
 * as Entra does). */
struct fg_signer {
    EVP_PKEY *key;
    char kid[64];
    char x5t[64];
    char *x5c; /* base64 DER */
};
int fg_signer__init(struct fg_signer *s);
void fg_signer__free(struct fg_signer *s);
/* RS256 JWT of payload (taken) with header {typ, alg, x5t, kid}. malloc'd. */
char *fg_signer__token(const struct fg_signer *s, cJSON *payload);
/* A validationToken as Graph sends it (docs/graph.md, "Validation tokens"):
 * version 1: iss https://sts.windows.net/{tenant}/, appid, appidacr, idp,
 * ver 1.0 (Microsoft's example); version 2: iss
 * https://login.microsoftonline.com/{tenant}/v2.0, azp, azpacr, ver 2.0.
 * Both: aud, iat, nbf (now-5 min), exp (now+1 h), aio, tid, uti. malloc'd. */
char *fg_signer__jwt(const struct fg_signer *s, const char *aud, const char *tenant, int64_t now_s,
                     int version);
/* {"keys":[{kty,use,kid,x5t,n,e,x5c,issuer?}]} */
cJSON *fg_signer__jwks(const struct fg_signer *s, const char *issuer);

#define FG_NOTIFY_APPID "0bf30f3b-4a52-48df-9a82-234910c4a086"

#endif
