/* `probe --capture DIR`: every request and answer of a probe run, as files
 * a test can replay (docs/operations.md, "First deployment"; the replay:
 * tests/tools/probe_replay.c).
 *
 * One JSON object a line, numbered across the files in the order things
 * happened (`seq`):
 *   http.jsonl     requests the probe sent and their answers
 *   inbound.jsonl  requests that reached the probe's listener (Graph's
 *                  validation requests, notifications) and our answers
 *   signalr.jsonl  the Voice hub link: opened, records sent and received
 *   mqtt.jsonl     publishes and their outcome, messages received
 *   report.json    the report (the --json document)
 * Bodies are text (JSON bodies re-serialised after redaction).
 *
 * Secrets never reach the files: form values and JSON members named like a
 * credential (client_secret, password, refresh_token, access_token, Token,
 * clientState, ...), Authorization headers and access_token query values are
 * replaced. A JWT keeps its header and claims (permissions, tenant, expiry:
 * what a replay needs) but loses its signature, so it cannot be used; any
 * other credential becomes "[redacted]". Every secret of the config, and
 * every bearer token seen, is masked wherever it still appears. The files
 * are created 0600 (they name people), the directory 0700. Loop thread
 * only. */
#ifndef PS_PROBE_RECORDER_H
#define PS_PROBE_RECORDER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define RECORDER_REDACTED "[redacted]"

struct recorder;
struct http_exchange;

/* Creates dir (0700) when missing; truncates the files. NULL with a reason
 * in err. */
struct recorder *recorder__open(const char *dir, char *err, size_t errlen);
void recorder__close(struct recorder *r);

/* A secret to mask wherever it appears (copied; shorter than 4: ignored). */
void recorder__secret(struct recorder *r, const char *value);

/* http_client__observe's callback (ctx: the recorder). */
void recorder__http(void *ctx, const struct http_exchange *x);
void recorder__inbound(struct recorder *r, const char *method, const char *path, const char *query,
                       const char *body, size_t len, int status, const char *answer);
/* dir: "open" (rec: the URL), "sent", "received", "closed" (rec: reason). */
void recorder__signalr(struct recorder *r, const char *tenant, const char *dir, const char *rec,
                       size_t len);
/* dir: "publish" (result: "ok", "refused ...", "lost"), "message". */
void recorder__mqtt(struct recorder *r, const char *dir, const char *topic, const char *payload,
                    size_t len, bool retained, const char *result);
void recorder__report(struct recorder *r, const cJSON *doc);

/* ---- pure redaction, also for tests ---- */

/* A token for the files: a JWT without its signature, else [redacted].
 * malloc'd. */
char *recorder__redact_token(const char *token);
/* application/x-www-form-urlencoded with credential values replaced. */
char *recorder__redact_form(const char *body, size_t len);
/* A URL with an access_token (or similar) query value replaced. */
char *recorder__redact_url(const char *url);
/* Redacts a JSON value in place (members named like credentials, JWTs,
 * "Bearer ..." strings). */
void recorder__redact_json(cJSON *v);
/* A body for the files: JSON re-serialised after redaction, a form
 * redacted, anything else as it is. malloc'd; NULL for no body. */
char *recorder__redact_body(const char *body, size_t len, const char *content_type);

#endif
