/* ASP.NET Core SignalR, JSON hub protocol: the pure pieces the RTE client
 * needs (docs/voice.md "RTE (real-time events)").
 *
 * Design:
 * - The record reader is a byte buffer fed with whatever WebSocket frames
 *   deliver; it hands out complete records split on 0x1E. One frame may hold
 *   several records and one record may span frames, so nothing here assumes
 *   frame boundaries mean anything. Memory is bounded: a record (or an
 *   unterminated tail) longer than max_record puts the reader into a sticky
 *   error state and the caller reconnects. feed() takes (const uint8_t *,
 *   size_t) so it can be a libFuzzer target as is.
 * - Records are parsed with cJSON into a typed message. The message owns the
 *   cJSON tree; its string fields point into it.
 * - Builders return whole records, 0x1E included, ready for one text frame.
 * - No sockets, no threads, no clocks: the caller owns timing and I/O.
 */
#ifndef PS_VOICE_SIGNALR_H
#define PS_VOICE_SIGNALR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define SIGNALR_RS                 0x1E
#define SIGNALR_MAX_RECORD_DEFAULT (1024 * 1024)
/* Subscriptions per Subscribe invocation: keeps one record near 20 KB. */
#define SIGNALR_SUBSCRIBE_CHUNK 200

/* ---- record reader ---------------------------------------------------- */

struct signalr_reader {
    char *buf;
    size_t len; /* bytes in buf */
    size_t pos; /* start of the first record not yet handed out */
    size_t cap;
    size_t tail;       /* bytes after the last 0x1E: an unfinished record */
    size_t max_record; /* longest record accepted, without its 0x1E */
    bool failed;       /* sticky until reset */
};

void signalr_reader__init(struct signalr_reader *r, size_t max_record);
void signalr_reader__free(struct signalr_reader *r);
/* Drops buffered bytes and the error state (after a reconnect). */
void signalr_reader__reset(struct signalr_reader *r);
/* Appends one chunk. Returns 0, or -1 when the reader is (now) in the error
 * state: the unterminated tail would exceed max_record, or out of memory.
 * Records handed out by next() stay valid only until the next feed(). */
int signalr_reader__feed(struct signalr_reader *r, const uint8_t *data, size_t len);
/* Takes the next complete, non-empty record. Returns 1 and sets *rec (NUL
 * terminated in place, the 0x1E replaced) and *len; 0 when none is complete;
 * -1 in the error state (a complete record longer than max_record also sets
 * it). */
int signalr_reader__next(struct signalr_reader *r, const char **rec, size_t *len);
/* Bytes buffered that do not yet form a complete record. */
size_t signalr_reader__pending(const struct signalr_reader *r);

/* ---- messages ----------------------------------------------------------- */

enum signalr_type {
    SIGNALR_INVOCATION = 1,
    SIGNALR_STREAM_ITEM = 2,
    SIGNALR_COMPLETION = 3,
    SIGNALR_STREAM_INVOCATION = 4,
    SIGNALR_CANCEL_INVOCATION = 5,
    SIGNALR_PING = 6,
    SIGNALR_CLOSE = 7,
};

struct signalr_msg {
    int type;                  /* enum signalr_type, or any other number: ignore */
    const char *invocation_id; /* NULL when absent */
    const char *target;        /* invocation */
    const cJSON *arguments;    /* invocation: a JSON array, or NULL when absent */
    const cJSON *result;       /* completion: NULL when absent */
    const char *error;         /* completion or close: NULL when absent */
    bool allow_reconnect;      /* close */
    cJSON *root;               /* owns everything above */
};

/* Parses one record. Returns 0 (unknown types included: the caller ignores
 * them), or -1 with a reason in err for malformed JSON, a missing or
 * non-integer "type", an invocation without target or with non-array
 * arguments, a completion without invocationId. m is always safe to free. */
int signalr__parse(const char *rec, size_t len, struct signalr_msg *m, char *err, size_t errlen);
void signalr_msg__free(struct signalr_msg *m);

/* The server's handshake response: `{}` -> 0; `{"error":"..."}` -> -1 with
 * the server's text in err; anything else -> -1 with a reason. */
int signalr__parse_handshake(const char *rec, size_t len, char *err, size_t errlen);

/* ---- builders ------------------------------------------------------------ */

/* Static records, 0x1E included; *len gets the length when len is not NULL. */
const char *signalr__handshake_record(size_t *len);
const char *signalr__ping_record(size_t *len);

/* The four call event names of the default event model (docs/voice.md). */
extern const char *const signalr_call_events[4];

struct signalr_record {
    char *data; /* JSON + 0x1E, NUL terminated */
    size_t len; /* including the 0x1E */
    char invocation_id[24];
};

struct signalr_records {
    struct signalr_record *items;
    size_t n;
};

/* Subscribe invocations for every user id x every event name (events NULL:
 * the four call events above), at most max_per_invocation subscriptions
 * each (0: SIGNALR_SUBSCRIBE_CHUNK). Invocation ids are consecutive decimal
 * numbers from *next_id, which is advanced. Returns 0 (no users or no
 * events give no records), or -1 for a NULL or empty user id or event name,
 * or out of memory (out is then empty). */
int signalr__build_subscribe(const char *const *user_ids, size_t n_users, const char *const *events,
                             size_t n_events, size_t max_per_invocation, uint64_t *next_id,
                             struct signalr_records *out);
/* An invocation of target without arguments (AvailableSubscriptions), id
 * *next_id (advanced). Returns 0, or -1 (out is then empty; free its data). */
int signalr__build_invocation(const char *target, uint64_t *next_id, struct signalr_record *out);
void signalr_records__free(struct signalr_records *recs);

/* ---- negotiate -------------------------------------------------------- */

enum signalr_negotiate_result {
    SIGNALR_NEG_CONNECT = 0,  /* connection_token set, WebSockets/Text offered */
    SIGNALR_NEG_REDIRECT = 1, /* url (and maybe access_token) set: negotiate again */
    SIGNALR_NEG_ERROR = 2,    /* the server said error (in .error) */
};

struct signalr_negotiate {
    char *connection_token; /* v1 connectionToken; v0: the connectionId */
    char *connection_id;
    char *url;
    char *access_token;
    char *error;
    int version;
};

/* Returns an enum signalr_negotiate_result, or -1 with a reason in err for
 * malformed JSON, no usable token, or no WebSockets transport with Text. */
int signalr__parse_negotiate(const char *body, size_t len, struct signalr_negotiate *out, char *err,
                             size_t errlen);
void signalr_negotiate__free(struct signalr_negotiate *n);

/* ---- URLs --------------------------------------------------------------- */

/* endpoint is a WSSEndpoint (`host/path`, optionally with its own http://,
 * https://, ws:// or wss:// scheme and a query) or a negotiate redirect url.
 * No scheme means https/wss; http or ws means plain http/ws.
 * Returns malloc'd strings, or NULL for an empty endpoint, a bad scheme, an
 * empty host, or out of memory. */
/* `https://host/path/negotiate?<query&>negotiateVersion=1` */
char *signalr__negotiate_url(const char *endpoint);
/* `wss://host/path?<query&>id=<token>&access_token=<jwt>`, both values
 * percent-encoded; access_token NULL leaves it out. */
char *signalr__ws_url(const char *endpoint, const char *connection_token, const char *access_token);

/* ---- token --------------------------------------------------------------- */

/* Reads the `exp` claim (seconds since the epoch) from a JWT's payload. The
 * signature is not checked: the token is the server's, we only schedule its
 * refresh. Returns 0, or -1 for a malformed token or no numeric exp. */
int signalr__jwt_exp(const char *token, int64_t *exp_s);
/* Milliseconds from now_wall_ms until the token should be refreshed: a
 * margin of a tenth of the remaining life, clamped to [30 s, 5 min], before
 * exp; 0 when that moment has passed. */
int64_t signalr__refresh_delay_ms(int64_t exp_s, int64_t now_wall_ms);

#endif
