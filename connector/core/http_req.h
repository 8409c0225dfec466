/* One request of the HTTP client (core/http_client.c), internal to it: the
 * caller's call copied (and its secrets wiped when done), the options of its
 * libcurl easy handle, the response body as it arrives, and the result with
 * its metrics and debug log line. The client thread owns the request from
 * http_client__send() to the post of its completion to the loop.
 */
#ifndef PS_HTTP_REQ_H
#define PS_HTTP_REQ_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/http_client.h"

struct http_host;
struct http_seen; /* what an observer is shown (http_req__keep_seen) */

struct http_req {
    struct http_req *prev, *next; /* queue, in-flight or orphan list */
    http_done_fn fn;
    void *ctx;
    double started_ms;

    /* the request, copied */
    char *method;
    char *url;
    char *body;
    size_t body_len;
    struct curl_slist *headers; /* includes Content-Type and Authorization */
    char *basic_user;
    char *basic_pass;
    char *ca_file;
    long timeout_ms;
    size_t max_body;
    const char *invalid; /* set when the request cannot be sent */

    /* the transfer */
    struct http_host *host; /* whose slot it waits for or holds */
    CURL *easy;
    char *rbody;
    size_t rlen, rcap;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
    struct http_result res;

    /* the observer (http_client__observe), copied from the client: the
     * completion may run after the client is freed; seen is NULL without */
    http_observe_fn observe_fn;
    void *observe_ctx;
    struct http_seen *seen;
};

double http_req__now_ms(void);
/* Copies call into a new request. Returns NULL when out of memory. */
struct http_req *http_req__new(const struct http_call *call, http_done_fn fn, void *ctx);
void http_req__free(struct http_req *r);
/* Sets the options of r's easy handle; returns the first failure. */
CURLcode http_req__setup(struct http_req *r);
/* Fills r->res from the transfer's outcome, while r->easy (if any) still
 * holds it. */
void http_req__outcome(struct http_req *r, CURLcode rc, const char *error);
/* After the easy handle is gone: completes r->res (body, elapsed time),
 * counts it in the metrics, logs it, and wipes the request copy. */
void http_req__complete(struct http_req *r);
void http_req__describe_metrics(void);

/* Client thread, after http_req__outcome and while r->easy still holds the
 * answer's headers: keeps copies for the observer (when r has one), before
 * http_req__complete wipes the request's own. */
void http_req__keep_seen(struct http_req *r);
/* Loop thread, before the request's callback: shows r to its observer. */
void http_req__show(const struct http_req *r);

#endif
