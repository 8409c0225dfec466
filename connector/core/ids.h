/* Topic ids (docs/topics.md): a user's address, lower-cased, with every byte
 * outside [a-z0-9._@-] written as %XX (upper-case hex). Reversible, and keeps
 * `+`, `#`, `/`, a leading `$` and NUL out of MQTT topics. */
#ifndef PS_IDS_H
#define PS_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_MAX_ADDRESS 320                       /* bytes of an address */
#define IDS_MAX_ID      (IDS_MAX_ADDRESS * 3 + 1) /* encoded, with NUL */

/* Returns 0, or -1 when addr is empty, longer than IDS_MAX_ADDRESS, or out
 * does not have room. */
int ids__encode(const char *addr, char *out, size_t outlen);
/* Returns 0, or -1 for an empty id, a bad or lower-case %xx escape, a byte
 * that encode would have escaped, an encoded NUL, or no room. */
int ids__decode(const char *id, char *out, size_t outlen);

/* The escape-dots mode (config mqtt.escape_dots, docs/mqtt.md): '.' is
 * written as %2E too, for brokers that rewrite '.' in topics (RabbitMQ).
 * Process-wide; set once at start-up before other threads exist (the daemon
 * does it from the config), default off. Decode stays canonical per mode:
 * with it on, "%2E" is accepted and a literal '.' refused; off, the reverse. */
void ids__set_escape_dots(bool on);
bool ids__escape_dots(void);

#endif
