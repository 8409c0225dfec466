/* `presence-sync probe`; see probe.h. The run: a loop on this thread, the
 * process's HTTP client (with the capture's observer), one Graph client
 * with the service accounts' tokens, then the parts in order. */
#include "probe/probe.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/clock.h"
#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "graph/graph_client.h"
#include "probe/probe_int.h"
#include "probe/recorder.h"
#include "voice/rest.h"

#define PROBE_TURN_MS 100

const char *probe__check_options(const struct config *cfg, const struct probe_options *o, char *buf,
                                 size_t len)
{
    const struct tenant_config *only = NULL;
    for (size_t i = 0; o->tenant && i < cfg->n_tenants; i++) {
        if (strcmp(cfg->tenants[i].name, o->tenant) == 0)
            only = &cfg->tenants[i];
    }
    if (o->tenant && !only) {
        snprintf(buf, len, "--tenant '%s': no tenant of that name in the config", o->tenant);
        return buf;
    }
    if (o->listen_seconds < 0 || o->listen_seconds > 3600) {
        snprintf(buf, len, "--listen-seconds must be 0..3600");
        return buf;
    }
    for (size_t i = 0; o->write_test && i < cfg->n_tenants; i++) {
        const struct tenant_config *tc = &cfg->tenants[i];
        for (size_t u = 0; (!only || only == tc) && u < tc->n_users; u++) {
            if (strcasecmp(tc->users[u], o->write_test) == 0)
                return NULL;
        }
    }
    if (o->write_test) {
        snprintf(buf, len,
                 "--write-test '%s' is not a configured user%s%s: the write test only touches a "
                 "user the daemon would sync",
                 o->write_test, only ? " of tenant " : "", only ? only->name : "");
        return buf;
    }
    return NULL;
}

/* ---- waiting ------------------------------------------------------------------ */

static bool probe__pump(struct probe *p, const bool *done, int64_t timeout_ms, bool cleanup)
{
    int64_t end = clock__mono_ms() + timeout_ms;
    while (!(done && *done) && (cleanup || !p->interrupted)) {
        int64_t left = end - clock__mono_ms();
        if (left <= 0)
            break;
        loop__run_once(p->loop, (int)(left < PROBE_TURN_MS ? left : PROBE_TURN_MS));
    }
    return done && *done;
}

bool probe__wait(struct probe *p, const bool *done, int64_t timeout_ms)
{
    return probe__pump(p, done, timeout_ms, false);
}

bool probe__wait_cleanup(struct probe *p, const bool *done, int64_t timeout_ms)
{
    return probe__pump(p, done, timeout_ms, true);
}

void probe__run_for(struct probe *p, int64_t ms)
{
    probe__pump(p, NULL, ms, false);
}

static void probe__on_signal(void *arg)
{
    struct probe *p = arg;
    if (!p->interrupted)
        fprintf(stderr, "presence-sync probe: interrupted; cleaning up\n");
    p->interrupted = true;
}

/* ---- calls: one request, one answer, waited for ---------------------------------- */

/* Lives until the answer comes, also when the waiter gave up first. */
struct probe_pending {
    struct probe_answer a;
    bool done;
    bool abandoned;
};

void probe_answer__free(struct probe_answer *a)
{
    free(a->body);
    free(a->error);
    memset(a, 0, sizeof(*a));
}

static void pending__fill(struct probe_pending *w, int status, const char *body, size_t len,
                          const char *error, int64_t retry_after_ms, double elapsed_ms)
{
    if (w->abandoned) {
        probe_answer__free(&w->a);
        free(w);
        return;
    }
    w->a.status = status;
    w->a.retry_after_ms = retry_after_ms;
    w->a.elapsed_ms = elapsed_ms;
    if (status) {
        w->a.body = malloc(len + 1);
        if (w->a.body) {
            memcpy(w->a.body, body ? body : "", len);
            w->a.body[len] = '\0';
            w->a.body_len = len;
        }
    }
    else {
        w->a.error = strdup(error ? error : "no answer");
    }
    w->done = true;
}

static void pending__graph_done(void *ctx, const struct graph_response *res)
{
    pending__fill(ctx, res->aborted ? 0 : res->status, res->body, res->body_len,
                  res->aborted ? "stopped" : res->error, res->retry_after_ms, 0);
}

void probe_pending__http(void *ctx, const struct http_result *res)
{
    pending__fill(ctx, res->status, res->body, res->body_len, res->error, res->retry_after_ms,
                  res->elapsed_ms);
}

/* Waits for w; hands its answer to out (or abandons it to the callback). */
bool probe_pending__wait(struct probe *p, struct probe_pending *w, int64_t timeout_ms,
                         struct probe_answer *out)
{
    memset(out, 0, sizeof(*out));
    if (probe__wait(p, &w->done, timeout_ms)) {
        *out = w->a;
        free(w);
        return true;
    }
    w->abandoned = true;
    char why[64];
    snprintf(why, sizeof(why), p->interrupted ? "interrupted" : "no answer within %lld s",
             (long long)(timeout_ms / 1000));
    out->error = strdup(why);
    return false;
}

struct probe_pending *probe_pending__new(void)
{
    return calloc(1, sizeof(struct probe_pending));
}

bool probe_pending__not_sent(struct probe_pending *w, struct probe_answer *out)
{
    free(w);
    memset(out, 0, sizeof(*out));
    out->error = strdup("the request could not be sent");
    return false;
}

bool probe__graph(struct probe *p, struct graph_client_tenant *ct, const struct graph_request *req,
                  int64_t timeout_ms, struct probe_answer *out)
{
    struct probe_pending *w = probe_pending__new();
    if (!w || graph_client__send(ct, req, pending__graph_done, w) != 0)
        return probe_pending__not_sent(w, out);
    return probe_pending__wait(p, w, timeout_ms, out);
}

bool probe__http(struct probe *p, const struct http_call *call, int64_t timeout_ms,
                 struct probe_answer *out)
{
    struct probe_pending *w = probe_pending__new();
    if (!w || http_client__send(p->http, call, probe_pending__http, w) != 0)
        return probe_pending__not_sent(w, out);
    return probe_pending__wait(p, w, timeout_ms, out);
}

bool probe__voice(struct probe *p, struct voice_rest *rest, const char *method, const char *path,
                  int64_t timeout_ms, struct probe_answer *out)
{
    struct probe_pending *w = probe_pending__new();
    if (!w || voice_rest__call(rest, method, path, NULL, probe_pending__http, w) != 0)
        return probe_pending__not_sent(w, out);
    return probe_pending__wait(p, w, timeout_ms, out);
}

/* Graph's {"error":{"code","message"}} or the identity platform's
 * {"error","error_description"}: the first line of it. */
static void probe__error_text(const char *body, char *buf, size_t len)
{
    buf[0] = '\0';
    cJSON *o = body ? json__parse_str(body) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(o, "error_description");
    if (cJSON_IsString(code))
        snprintf(buf, len, " %s%s%.300s", code->valuestring, cJSON_IsString(msg) ? ": " : "",
                 cJSON_IsString(msg) ? msg->valuestring : "");
    else if (cJSON_IsString(e))
        snprintf(buf, len, " %s%s%.*s", e->valuestring, cJSON_IsString(desc) ? ": " : "",
                 cJSON_IsString(desc) ? (int)strcspn(desc->valuestring, "\r\n") : 0,
                 cJSON_IsString(desc) ? desc->valuestring : "");
    cJSON_Delete(o);
}

const char *probe__reason(const struct probe_answer *a, char *buf, size_t len)
{
    if (!a->status) {
        snprintf(buf, len, "%s", a->error ? a->error : "no answer");
        return buf;
    }
    char text[400];
    probe__error_text(a->body, text, sizeof(text));
    snprintf(buf, len, "HTTP %d%s", a->status, text);
    return buf;
}

struct probe_deferred {
    void (*fn)(void *);
    void *ptr;
    struct probe_deferred *next;
};

void probe__defer(struct probe *p, void (*fn)(void *), void *ptr)
{
    struct probe_deferred *d = malloc(sizeof(*d));
    if (!d)
        return; /* leaked rather than freed under a live request */
    d->fn = fn;
    d->ptr = ptr;
    d->next = p->deferred;
    p->deferred = d;
}

/* ---- set-up --------------------------------------------------------------------- */

static void probe__no_status(void *ctx, const char *tenant)
{
    (void)ctx; /* the probe reports tokens itself, not in B/health */
    (void)tenant;
}

/* Secrets of the config, masked in the capture wherever they appear. */
static void probe__register_secrets(struct probe *p)
{
    const struct config *cfg = p->cfg;
    recorder__secret(p->rec, cfg->mqtt.password.value);
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        const struct tenant_config *tc = &cfg->tenants[i];
        recorder__secret(p->rec, tc->graph.client_secret.value);
        for (size_t a = 0; a < tc->graph.n_accounts; a++)
            recorder__secret(p->rec, tc->graph.accounts[a].password.value);
        recorder__secret(p->rec, tc->voice.secret_key.value);
        recorder__secret(p->rec, tc->voice.webhook_secret.value);
    }
}

static int probe__setup(struct probe *p)
{
    p->loop = loop__new();
    p->http = p->loop ? http_client__new(p->loop) : NULL;
    if (!p->http)
        return -1;
    if (p->opt->capture) {
        char err[512];
        p->rec = recorder__open(p->opt->capture, err, sizeof(err));
        if (!p->rec) {
            fprintf(stderr, "presence-sync probe: --capture: %s\n", err);
            return -1;
        }
        probe__register_secrets(p);
        http_client__observe(p->http, recorder__http, p->rec);
    }
    struct graph_client_options go = {
        .loop = p->loop,
        .http = p->http,
        .cfg = p->cfg,
        .accounts = true,
        .budget = GRAPH_PRESENCE_LIMIT,
        .window_ms = GRAPH_PRESENCE_WINDOW_MS,
    };
    p->gc = graph_client__new(&go);
    if (!p->gc)
        return -1;
    graph_client__on_status(p->gc, probe__no_status, NULL);
    loop__on_signal(p->loop, SIGINT, probe__on_signal, p);
    loop__on_signal(p->loop, SIGTERM, probe__on_signal, p);
    p->report = probe_report__new(stdout, p->opt->json, p->cfg->path);
    return p->report ? 0 : -1;
}

static void probe__tenant_free(struct probe_tenant *t)
{
    for (size_t u = 0; t->ids && u < t->tc->n_users; u++)
        free(t->ids[u]);
    for (size_t u = 0; t->voice_ids && u < t->tc->n_users; u++)
        free(t->voice_ids[u]);
    free(t->ids);
    free(t->voice_ids);
    free(t->account_ok);
    voice_rest__free(t->rest);
}

static bool probe__is_write_tenant(const struct probe *p, const struct tenant_config *tc)
{
    for (size_t u = 0; p->opt->write_test && u < tc->n_users; u++) {
        if (strcasecmp(tc->users[u], p->opt->write_test) == 0)
            return true;
    }
    return false;
}

static void probe__tenant(struct probe *p, const struct tenant_config *tc)
{
    struct probe_tenant t = {.tc = tc, .ct = graph_client__tenant(p->gc, tc->name)};
    t.ids = calloc(tc->n_users ? tc->n_users : 1, sizeof(char *));
    t.voice_ids = calloc(tc->n_users ? tc->n_users : 1, sizeof(char *));
    t.account_ok = calloc(tc->graph.n_accounts ? tc->graph.n_accounts : 1, sizeof(bool));
    if (t.ids && t.voice_ids && t.account_ok && t.ct) {
        probe_graph__run(p, &t);
        if (!p->interrupted)
            probe_webhook__run(p, &t);
        if (!p->interrupted)
            probe_voice__run(p, &t);
        if (!p->interrupted && probe__is_write_tenant(p, tc))
            probe_write__run(p, &t);
    }
    probe__tenant_free(&t);
}

/* Stops the clients, then lets their last completions (aborted) run while
 * everything they point at still exists. */
static void probe__teardown(struct probe *p)
{
    bool never = false;
    if (p->gc)
        graph_client__stop(p->gc);
    http_client__free(p->http);
    if (p->loop) {
        probe__wait_cleanup(p, &never, 100);
        /* closed: later posts are refused (their senders free their own) */
        loop__stop(p->loop);
        loop__run(p->loop);
    }
    while (p->deferred) {
        struct probe_deferred *d = p->deferred;
        p->deferred = d->next;
        d->fn(d->ptr);
        free(d);
    }
    graph_client__free(p->gc);
    if (p->report && p->rec) {
        cJSON *doc = probe_report__json(p->report);
        recorder__report(p->rec, doc);
        cJSON_Delete(doc);
    }
    recorder__close(p->rec);
    loop__free(p->loop);
}

int probe__run(const struct config *cfg, const struct probe_options *o)
{
    struct probe p = {.cfg = cfg, .opt = o};
    loop__block_signals();
    /* the report is the output; the modules' own log lines only for errors */
    if (cfg->log_level < PS_LOG_DEBUG)
        log__set_level(PS_LOG_ERROR);
    if (probe__setup(&p) != 0) {
        fprintf(stderr, "presence-sync probe: cannot start (out of memory?)\n");
        probe__teardown(&p);
        probe_report__free(p.report);
        return 1;
    }
    for (size_t i = 0; i < cfg->n_tenants && !p.interrupted; i++) {
        if (!o->tenant || strcmp(o->tenant, cfg->tenants[i].name) == 0)
            probe__tenant(&p, &cfg->tenants[i]);
    }
    if (!p.interrupted)
        probe_mqtt__run(&p);
    if (p.interrupted)
        probe_report__check(p.report, "probe.interrupted", "probe", PROBE_FAIL,
                            "run the probe again to the end", "interrupted: checks were skipped");
    probe__teardown(&p);
    int rc = probe_report__finish(p.report);
    probe_report__free(p.report);
    return rc;
}
