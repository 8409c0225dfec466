/* A canned-reply HTTP server on 127.0.0.1 for component tests of HTTP
 * clients (the pattern of curl's test suite): declarative rules say what a
 * request gets, every request is recorded for assertions. Real sockets, a
 * thread of its own; the client under test is the daemon's own
 * (core/http_client.c on libcurl).
 *
 *     struct canned_http *s = canned_http__start();
 *     canned_http__add(s, &(struct canned_rule){"POST", "/v1.0/$batch", 200,
 *                      "Retry-After: 3\r\n", "{\"responses\":[]}", 1});
 *     ... canned_http__url(s) is "http://127.0.0.1:PORT" ...
 *     assert_int_equal(canned_http__count(s, "POST", "/v1.0/$batch"), 1);
 */
#ifndef PS_TESTS_CANNED_HTTP_H
#define PS_TESTS_CANNED_HTTP_H

#include <stddef.h>

struct canned_http;

struct canned_rule {
    const char *method; /* NULL: any */
    const char *path;   /* a prefix of the request target (path and query) */
    int status;
    const char *headers; /* extra header lines, each ending in \r\n; may be NULL */
    const char *body;    /* may be NULL */
    int times;           /* how many requests it answers; 0: every one */
    int delay_ms;        /* wait before answering */
};

/* NULL when no port could be bound. */
struct canned_http *canned_http__start(void);
void canned_http__stop(struct canned_http *s);
/* "http://127.0.0.1:PORT", no trailing slash. */
const char *canned_http__url(const struct canned_http *s);

/* Rules are tried in the order added; the first that matches and has
 * answers left replies. No match: 404 {"error":"no canned reply"}. */
void canned_http__add(struct canned_http *s, const struct canned_rule *r);
/* A rule tried before every rule added so far (a fault for the next few
 * requests, a changed answer from now on). */
void canned_http__prepend(struct canned_http *s, const struct canned_rule *r);
/* canned_http__prepend for the requests whose text (headers and body)
 * holds `has` only: one grant of a token endpoint, say. */
void canned_http__prepend_if(struct canned_http *s, const struct canned_rule *r, const char *has);
/* Forgets the rules and the recorded requests. */
void canned_http__reset(struct canned_http *s);

/* Requests seen with that method (NULL: any) and target prefix. */
size_t canned_http__count(struct canned_http *s, const char *method, const char *path);
/* The n-th request (0-based) with that method and target prefix: its whole
 * text (request line, headers, body), malloc'd; NULL when there is none. */
char *canned_http__request(struct canned_http *s, const char *method, const char *path, size_t n);

#endif
