/* voice.capture: the first payloads a real tenant sends, kept as test
 * fixtures (docs/voice.md "Learning a real tenant").
 *
 * Design: JSON lines appended to one file, one object per payload:
 *   {"at":"2026-12-01T10:00:00Z","tenant":"contoso","kind":"message_received",
 *    "event":"UserStatus","payload":{...}}
 * kind is "available_subscriptions" (the hub's answer, or its error),
 * "message_received" (the argument of a MessageReceived invocation) or
 * "webhook" (a webhook body). At most `count` payloads are kept per
 * (kind, event name); at most CAPTURE_MAX_NAMES names are counted, later
 * names are not captured. Secrets never reach the file: members whose name
 * says token, secret, password, authorization or signature, and any string
 * that looks like a JWT or a bearer credential, are replaced by
 * "[redacted]" (capture__redact, pure). The file is created 0600 (payloads
 * name people and phone numbers). Loop thread only.
 */
#ifndef PS_VOICE_CAPTURE_H
#define PS_VOICE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define CAPTURE_MAX_NAMES 256
#define CAPTURE_REDACTED  "[redacted]"

struct capture;

/* Opens (appends to) file; count >= 1. NULL with a logged error when it
 * cannot be opened. */
struct capture *capture__open(const char *file, int count);
void capture__close(struct capture *c);

/* Records payload (not modified) under kind and name, if the count allows.
 * c NULL: nothing. Returns true when a line was written. */
bool capture__record(struct capture *c, const char *tenant, const char *kind, const char *name,
                     const cJSON *payload);
/* Whether a payload of kind/name would still be recorded. */
bool capture__wants(const struct capture *c, const char *kind, const char *name);

/* A copy of payload with secrets replaced (see above); NULL on out of
 * memory. */
cJSON *capture__redact(const cJSON *payload);
/* Whether a string value looks like a credential (a JWT, "Bearer ..."). */
bool capture__is_secret_value(const char *s);

#endif
