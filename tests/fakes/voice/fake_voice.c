/* fake-voice: the simulator object, its lifecycle, and the hand-over of
 * HTTP requests from the libwebsockets thread to the loop thread (which
 * owns all state) and back. */
#include "fake_voice.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "fv_internal.h"
#include "ws_server.h"

/* ---------------------------------------------------------------- requests */

char *print_free(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void req__free(struct fv_req *r)
{
    free(r->path);
    free(r->query);
    free(r->body);
    OPENSSL_cleanse(r->auth, sizeof(r->auth));
    free(r);
}

char *json_error(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Completes a request (taking body) and records REST calls, with
 * extra_headers such as Retry-After or WWW-Authenticate. */
void req__answer(struct fv_req *r, int status, char *body, const char *extra_headers)
{
    if (r->kind != RK_SIM)
        sim__record(&r->fv->sim, r->method, r->path, r->query, r->body, status, clock__wall_ms());
    LOG_DEBUG("fake-voice", "answer method=%s path=%s status=%d", r->method, r->path, status);
    size_t len = body ? strlen(body) : 0;
    http_server__complete_headers(r->pending, status, "application/json", extra_headers, body, len);
    req__free(r);
}

void req__error(struct fv_req *r, int status, const char *msg)
{
    req__answer(r, status, json_error(msg), NULL);
}

static void req__fault_answer(struct fv_req *r)
{
    const struct sim_fault *f = &r->fault;
    char hdr[64] = "";
    if (f->retry_after >= 0)
        snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", f->retry_after);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "injected fault");
    cJSON_AddNumberToObject(o, "status", f->status);
    if (f->retry_after >= 0)
        cJSON_AddNumberToObject(o, "retry_after", f->retry_after);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    LOG_INFO("fake-voice", "fault injected method=%s path=%s status=%d", r->method, r->path,
             f->status);
    req__answer(r, f->status, body, hdr[0] ? hdr : NULL);
}

static void req__after_delay(void *arg)
{
    struct fv_req *r = arg;
    for (struct fv_req **pp = &r->fv->delayed; *pp; pp = &(*pp)->next_delayed) {
        if (*pp == r) {
            *pp = r->next_delayed;
            break;
        }
    }
    if (r->fault.status)
        req__fault_answer(r);
    else
        rest__dispatch(r);
}

/* Loop thread: one request. */
static void req__run(void *arg)
{
    struct fv_req *r = arg;
    if (r->kind == RK_SIM) {
        sim_api__dispatch(r);
        return;
    }
    if (sim__fault_take(&r->fv->sim, r->method, r->path, &r->fault)) {
        if (r->fault.delay_ms > 0) {
            r->next_delayed = r->fv->delayed;
            r->fv->delayed = r;
            loop__timer(r->fv->loop, r->fault.delay_ms, req__after_delay, r);
            return;
        }
        if (r->fault.status) {
            req__fault_answer(r);
            return;
        }
    }
    rest__dispatch(r);
}

/* libwebsockets thread: copy what the loop needs, hand it over. */
static int req__accept(struct fake_voice *fv, int kind, const struct http_request *req,
                       struct http_response *resp, struct http_pending *pending)
{
    struct fv_req *r = calloc(1, sizeof(*r));
    if (!r)
        goto fail;
    r->fv = fv;
    r->pending = pending;
    r->kind = kind;
    snprintf(r->method, sizeof(r->method), "%s", req->method);
    r->path = strdup(req->path);
    r->query = strdup(req->query ? req->query : "");
    r->body = malloc(req->body_len + 1);
    if (!r->path || !r->query || !r->body) {
        req__free(r);
        goto fail;
    }
    if (req->body_len)
        memcpy(r->body, req->body, req->body_len);
    r->body[req->body_len] = '\0';
    if (http_request__header(req, "Authorization", r->auth, sizeof(r->auth)) < 0)
        r->auth[0] = '\0';
    if (http_request__query(req, "user", r->user_q, sizeof(r->user_q)) < 0)
        r->user_q[0] = '\0';
    if (http_request__query(req, "access_token", r->token_q, sizeof(r->token_q)) < 0)
        r->token_q[0] = '\0';
    if (loop__post(fv->loop, req__run, r) != 0) {
        req__free(r);
        resp->status = 503;
        resp->body = json_error("shutting down");
        resp->body_len = resp->body ? strlen(resp->body) : 0;
        return HTTP_DONE;
    }
    return HTTP_DEFER;
fail:
    resp->status = 500;
    resp->body = NULL;
    resp->body_len = 0;
    return HTTP_DONE;
}

static int on_api(void *ctx, const struct http_request *req, struct http_response *resp,
                  struct http_pending *pending)
{
    return req__accept(ctx, RK_API, req, resp, pending);
}

static int on_negotiate(void *ctx, const struct http_request *req, struct http_response *resp,
                        struct http_pending *pending)
{
    return req__accept(ctx, RK_NEGOTIATE, req, resp, pending);
}

static int on_sim(void *ctx, const struct http_request *req, struct http_response *resp,
                  struct http_pending *pending)
{
    return req__accept(ctx, RK_SIM, req, resp, pending);
}

/* --------------------------------------------------------------- lifecycle */

/* Both listeners serve the same routes (TLS: what real clients reach). */
static int fake_voice__routes(struct fake_voice *fv, struct http_server *srv)
{
    return http_server__route(srv, NULL, "/api/", true, on_api, fv) ||
           http_server__route(srv, "POST", HUB_PATH "/negotiate", false, on_negotiate, fv) ||
           http_server__route(srv, NULL, "/_sim/", true, on_sim, fv) ||
           ws_server__route(ws_server__attach(srv), HUB_PATH, &hub_handler, fv);
}

struct fake_voice *fake_voice__new(struct loop *loop, const struct fake_voice_options *opt)
{
    struct fake_voice *fv = calloc(1, sizeof(*fv));
    if (!fv)
        return NULL;
    fv->loop = loop;
    pthread_mutex_init(&fv->neg_mu, NULL);
    sim__init(&fv->sim);
    if (opt->endpoint_scheme) {
        char err[128];
        char body[96];
        snprintf(body, sizeof(body), "{\"endpoint_scheme\":\"%.40s\"}", opt->endpoint_scheme);
        if (sim__settings_apply(&fv->sim.set, body, err, sizeof(err)) != 0) {
            LOG_ERROR("fake-voice", "--endpoint-scheme: %s", err);
            goto fail;
        }
        fv->sim.start = fv->sim.set;
    }
    if (RAND_bytes(fv->key, sizeof(fv->key)) != 1)
        goto fail;
    snprintf(fv->host, sizeof(fv->host), "%s", opt->host ? opt->host : "127.0.0.1");
    snprintf(fv->advertise, sizeof(fv->advertise), "%s", opt->advertise ? opt->advertise : "");
    fv->port_opt = opt->port;
    if (opt->user && sim__set_account(&fv->sim, opt->user, opt->secret_key) != 0) {
        LOG_ERROR("fake-voice", "invalid account user=%s", opt->user);
        goto fail;
    }
    if (fv->sim.account_secret)
        log__redact(fv->sim.account_secret);
    struct http_server_options so = {
        .host = fv->host, .port = opt->port, .max_body_bytes = 1024 * 1024};
    fv->srv = http_server__new(&so);
    fv->http = http_client__new(loop);
    if (!fv->srv || !fv->http || fake_voice__routes(fv, fv->srv) != 0)
        goto fail;
    if (opt->tls_cert && opt->tls_key) {
        struct http_server_options to = so;
        to.port = opt->tls_port;
        to.tls_cert_file = opt->tls_cert;
        to.tls_key_file = opt->tls_key;
        fv->tls_srv = http_server__new(&to);
        if (!fv->tls_srv || fake_voice__routes(fv, fv->tls_srv) != 0)
            goto fail;
    }
    return fv;
fail:
    fake_voice__free(fv);
    return NULL;
}

int fake_voice__start(struct fake_voice *fv)
{
    if (http_server__start(fv->srv) != 0 || (fv->tls_srv && http_server__start(fv->tls_srv) != 0))
        return -1;
    fv->tick = loop__timer(fv->loop, TICK_MS, hub__tick, fv);
    LOG_INFO("fake-voice", "listening host=%s port=%d", fv->host, http_server__port(fv->srv));
    return 0;
}

int fake_voice__port(const struct fake_voice *fv)
{
    return http_server__port(fv->srv);
}

int fake_voice__tls_port(const struct fake_voice *fv)
{
    return fv->tls_srv ? http_server__port(fv->tls_srv) : 0;
}

void fake_voice__free(struct fake_voice *fv)
{
    if (!fv)
        return;
    /* The loop has stopped: requests still held by a delay fault would never
     * be answered. */
    while (fv->delayed) {
        struct fv_req *r = fv->delayed;
        fv->delayed = r->next_delayed;
        char *body = json_error("shutting down");
        http_server__complete(r->pending, 503, "application/json", body, body ? strlen(body) : 0);
        req__free(r);
    }
    if (fv->srv) {
        http_server__stop(fv->srv);
        http_server__free(fv->srv);
    }
    if (fv->tls_srv) {
        http_server__stop(fv->tls_srv);
        http_server__free(fv->tls_srv);
    }
    if (fv->http)
        http_client__free(fv->http);
    hub__free_all(fv);
    sim__free(&fv->sim);
    OPENSSL_cleanse(fv->key, sizeof(fv->key));
    pthread_mutex_destroy(&fv->neg_mu);
    free(fv);
}
