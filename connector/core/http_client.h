/* HTTP client on libcurl's multi interface, on its own thread.
 *
 * Requests are queued from any thread; the client thread runs them with
 * connection reuse and per-request timeouts; completions are posted to the
 * given loop and run there. The client does not retry: callers decide,
 * using result.retry_after_ms and struct backoff.
 */
#ifndef PS_HTTP_CLIENT_H
#define PS_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct http_client;

struct http_call {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    const char *content_type; /* e.g. "application/json" */
    const char *bearer;       /* Authorization: Bearer <bearer> */
    const char *basic_user;   /* with basic_pass: HTTP Basic */
    const char *basic_pass;
    long timeout_ms;     /* 0: default 10000 */
    const char *ca_file; /* NULL: system store */
    size_t max_body;     /* largest response body taken; 0: 16 MiB */
};

struct http_result {
    int status;          /* HTTP status, 0 on transport failure */
    int transport_error; /* CURLcode, 0 when a response arrived */
    const char *error;   /* readable transport error, or NULL */
    char *body;          /* NUL-terminated (may be empty) */
    size_t body_len;
    int64_t retry_after_ms; /* from Retry-After, -1 when absent */
    double elapsed_ms;
};

/* Runs on the loop thread; res and its body are freed after it returns. */
typedef void (*http_done_fn)(void *ctx, const struct http_result *res);

struct http_client *http_client__new(struct loop *deliver_to);
/* Any thread. Copies everything in call. Returns 0, or -1 when stopped (or
 * out of memory); then fn is never called. A call that cannot be sent (no
 * URL, CR/LF in a header) completes with transport_error
 * CURLE_BAD_FUNCTION_ARGUMENT. Response bodies over max_body (16 MiB by
 * default) complete with CURLE_FILESIZE_EXCEEDED. */
int http_client__send(struct http_client *cli, const struct http_call *call, http_done_fn fn,
                      void *ctx);
/* Stops the thread; pending calls complete with transport_error set
 * (CURLE_ABORTED_BY_CALLBACK, error "http client stopped"). Call it from the
 * loop's thread: completions are posted to the loop, or, when the loop no
 * longer takes posts (loop__run has returned), run right here, so no
 * callback context is ever leaked. */
void http_client__free(struct http_client *cli);
/* Any thread. Calls sent whose completion has not yet been posted to the
 * loop. Once it reads 0, every completion so far is on the loop's queue:
 * the next loop turn runs them. Tests on a fake clock wait for it before
 * moving the clock, so that no reply is overtaken by a timer, however slow
 * the machine (tests/component/graph_fixture.h). */
size_t http_client__unanswered(struct http_client *cli);

/* One finished exchange as an observer sees it (http_client__observe):
 * valid during the call only. Credentials are in it as they were sent (the
 * Authorization header, form bodies): an observer that records must
 * redact. */
struct http_exchange {
    const char *method;
    const char *url;
    const char *const *request_headers; /* NULL-terminated "Name: value" lines */
    const char *request_body;           /* NULL when none */
    size_t request_body_len;
    const char *basic_user;              /* HTTP Basic was used (no password here) */
    const char *const *response_headers; /* NULL-terminated; empty when no answer */
    const struct http_result *result;
};

typedef void (*http_observe_fn)(void *ctx, const struct http_exchange *x);

/* Before the first request: fn sees every finished exchange, on the loop
 * thread, right before the request's own callback (NULL: none). The probe's
 * --capture records the run with it (docs/operations.md). */
void http_client__observe(struct http_client *cli, http_observe_fn fn, void *ctx);

/* Percent-encodes s for a URL path segment or form value (malloc'd). */
char *http__escape(const char *s);
/* url for a log line: user:password@ as ***@, no query or fragment (a query
 * may carry a token), a bare "/" path left out (so it reads as configured);
 * any scheme (mqtt, mqtts, tcp, ssl, ws, wss, https). "(not a URL)" when it
 * does not parse. */
void http__url_for_log(const char *url, char *buf, size_t len);

#endif
