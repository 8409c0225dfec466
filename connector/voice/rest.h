/* The Enreach Voice REST client (docs/voice.md "Discovery,
 * authentication and users"): discovery, and calls to the
 * API base with HTTP Basic `username:secretKey` and the reference client's
 * headers. A thin layer over the shared libcurl client: requests are queued
 * from the loop thread and complete on it; nothing here retries (callers
 * decide, with struct backoff and the result's retry_after_ms).
 */
#ifndef PS_VOICE_REST_H
#define PS_VOICE_REST_H

#include "core/http_client.h"

struct voice_rest;

/* username and secret are copied; the secret is never logged. */
struct voice_rest *voice_rest__new(struct http_client *http, const char *username,
                                   const char *secret);
void voice_rest__free(struct voice_rest *r);
/* Names the tenant in voice_requests_total{tenant,status} (copied). */
int voice_rest__set_tenant(struct voice_rest *r, const char *tenant);

/* CA certificates (PEM file) trusted for every request instead of the
 * system store (copied; NULL: the system store). */
int voice_rest__set_ca_file(struct voice_rest *r, const char *ca_file);

/* Sets the API base (trailing slashes are dropped); NULL forgets it. */
int voice_rest__set_api(struct voice_rest *r, const char *api_url);
/* The API base, or NULL before discovery. */
const char *voice_rest__api(const struct voice_rest *r);

/* `GET {discovery_url}/api/user?user={email}`, without credentials. */
int voice_rest__discover(struct voice_rest *r, const char *discovery_url, const char *email,
                         http_done_fn fn, void *ctx);

/* `METHOD {api}{path}` with Basic auth; path starts with '/'. body may be
 * NULL (sent as JSON when given). Returns 0, or -1 when there is no API base
 * yet or the request cannot be queued (then fn is never called). */
int voice_rest__call(struct voice_rest *r, const char *method, const char *path, const char *body,
                     http_done_fn fn, void *ctx);

/* `POST {url}` with a bearer token and an empty body (SignalR negotiate). */
int voice_rest__post_bearer(struct voice_rest *r, const char *url, const char *bearer,
                            http_done_fn fn, void *ctx);

/* A short readable reason for a failed result, e.g. "HTTP 401" or the
 * transport error; buf gets it. */
const char *voice_rest__reason(const struct http_result *res, char *buf, size_t len);
/* Whether a failed result is worth retrying: transport errors (timeouts
 * included), 408, 429 and 5xx. */
int voice_rest__retryable(const struct http_result *res);

#endif
