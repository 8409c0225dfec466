/* Writing 'talking' into Voice, and the voice/<id>/talking payload.
 *
 * Design: the Enreach endpoint that marks a user 'talking' from outside is
 * not publicly documented, so the request is a template from the config
 * (`talking_request`, docs/voice.md "Writing 'talking'"): `{userId}`, `{email}` and `{talking}`
 * are substituted into path and body. A placeholder is `{` NAME `}` with
 * NAME an identifier, so the JSON braces of the body are never mistaken for
 * one. Values are escaped for where they land: percent-encoded in the path
 * (curl_easy_escape: everything outside the unreserved set), JSON-string
 * escaped in the body (cJSON does the escaping); `{talking}` is a bare
 * true/false. The method is a literal HTTP method (no placeholders).
 * talking__validate_template() runs at config-check time: it rejects unknown
 * placeholders and renders a sample to check that the body is JSON. At run
 * time unknown placeholders are left as they are.
 */
#ifndef PS_VOICE_TALKING_H
#define PS_VOICE_TALKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bundled simulator's own endpoint (tests/fakes/voice), for tests and
 * the demo. Not a default: Enreach documents no such endpoint, so without a
 * configured talking_request the writer is off (docs/voice.md). */
#define TALKING_SIMULATOR_METHOD "PUT"
#define TALKING_SIMULATOR_PATH   "/users/{userId}/externalcallstate"
#define TALKING_SIMULATOR_BODY   "{\"InCall\":{talking},\"Source\":\"MSTeams\"}"

struct talking_template {
    const char *method;
    const char *path; /* joined to the API base URL by the caller */
    const char *body; /* NULL or "": no body */
};

struct talking_call {
    char *method;
    char *path;
    char *body; /* NULL when the template has none */
};

/* Returns NULL when the template is usable, else a static
 * reason naming the field ("talking_request.path: unknown placeholder"). */
const char *talking__validate_template(const struct talking_template *tpl);

/* Fills *out (malloc'd strings). Returns 0, or -1 for NULL/empty values or
 * out of memory (*out is then empty). */
int talking__render(const struct talking_template *tpl, const char *user_id, const char *email,
                    bool talking, struct talking_call *out);
void talking_call__free(struct talking_call *r);

/* The availability mode (docs/voice.md "Writing 'talking'"): the body of
 * `POST /users/{userId}/availability`, {"EventTypeID", "EventSource",
 * "Note", "UserID"}; note NULL leaves Note out. malloc'd, NULL on out of
 * memory. */
char *talking__availability_body(const char *user_id, int event_type_id, const char *source,
                                 const char *note);
/* An availability entry (an object, or the first element of an array; the
 * answer to the POST or to `GET .../availability/current`): its Id (string
 * or integer) into id, its EventSource into source ("" when absent).
 * Returns 0, or -1 when there is no usable Id. */
int talking__parse_availability(const char *body, size_t len, char *id, size_t idlen, char *source,
                                size_t srclen);

/* The voice/<id>/talking payload (docs/topics.md), e.g.
 * {"talking":true,"calls":1,"since":"2026-11-26T10:00:00Z","source":"rte",
 *  "call_ids":["c-1"]}.
 * since_wall_ms: when the current state began. source: "rte", "webhook" or
 * "resync". call_ids (n_ids of them, none: the member is left out) are the
 * calls' ids as far as known, so that the next process reading the retained
 * payload can tell a call it saw itself from another one. Returns a
 * malloc'd string (free()), or NULL for another source. */
char *talking__payload(bool talking, size_t calls, int64_t since_wall_ms, const char *source,
                       const char *const *call_ids, size_t n_ids);

#endif
