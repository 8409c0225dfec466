/* JSON batching for Graph (docs/graph.md "$batch"): the one encoder and
 * decoder of `POST /$batch` bodies, used by the user lookups (users.c,
 * directory.c) and the presence writer (graph_writer.c). Pure: no I/O.
 *
 * Items are numbered "0".."n-1" in request order; Graph answers them in any
 * order, each with its own status, headers and body. A throttled item
 * carries its own Retry-After, as a string ("10") or a number (10), in
 * seconds or as an HTTP date. */
#ifndef PS_GRAPH_GRAPH_BATCH_H
#define PS_GRAPH_GRAPH_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cJSON;

#define GRAPH_BATCH_MAX 20 /* items per $batch (Graph's limit) */

struct graph_batch_item {
    const char *method; /* "GET", "POST" */
    const char *url;    /* relative to the API root, e.g. "/users/{id}/presence" */
    const char *body;   /* JSON text, or NULL (then no Content-Type either) */
};

/* The request body for n (1..GRAPH_BATCH_MAX) items; malloc'd, NULL on a
 * bad argument or out of memory. */
char *graph_batch__encode(const struct graph_batch_item *items, size_t n);

/* One item's answer. status 0: the answer did not mention the item. */
struct graph_batch_answer {
    int status;
    int64_t retry_after_ms;   /* -1 absent */
    const struct cJSON *body; /* points into the parsed answer; may be NULL */
};

/* Fills out[0..n-1] from a parsed $batch answer (`root`, kept by the caller
 * while out is used). Unknown, duplicate or malformed ids are skipped.
 * Returns the number of items answered, or -1 when root is not a $batch
 * answer (no "responses" array). */
int graph_batch__decode(const struct cJSON *root, struct graph_batch_answer *out, size_t n,
                        time_t now);

/* Retry-After of one item's "headers" object (any case; string or number),
 * in ms; -1 when absent or invalid. */
int64_t graph_batch__retry_after(const struct cJSON *headers, time_t now);

/* The error code of a Graph error body ({"error":{"code":...}}), or NULL. */
const char *graph_batch__error_code(const struct cJSON *body);

/* The lookup of one user by UPN: "/users/{upn}?$select=id,userPrincipalName"
 * (malloc'd; NULL when out of memory). */
char *graph_batch__lookup_url(const char *upn);
/* The outcome of a lookup item: 1 found (id copied, at most len - 1
 * characters), 0 not found (404, 400: Azure AD does not know the UPN),
 * -1 anything else (retry; a 429 has its retry_after_ms). */
int graph_batch__lookup_result(const struct graph_batch_answer *a, char *id, size_t len);

#endif
