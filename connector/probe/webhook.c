/* The webhook from Graph's side (docs/operations.md, "First deployment"):
 * the probe listens on http.listen like the daemon, creates a 5-minute
 * presence subscription for one configured user with one service account,
 * and sees whether Graph's validation request reached the listener through
 * http.public_url (the most common failure in the field: a public URL,
 * proxy, TLS certificate or firewall that does not let Graph in). Then it
 * deletes the subscription. A running daemon is left alone: its port, its
 * subscriptions (Graph allows one per account and app) are never touched. */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "core/json.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "graph/graph_client.h"
#include "probe/probe_int.h"
#include "probe/recorder.h"

#define WEBHOOK_MINUTES     5
#define WEBHOOK_CREATE_MS   45000 /* Graph waits up to 10 s for each validation */
#define WEBHOOK_CALL_MS     30000
#define WEBHOOK_TOKEN_MAX   4096
#define WEBHOOK_CAPTURE_MAX (256 * 1024)

/* The listener's view; counters are written on the HTTP thread. */
struct hook {
    struct probe *p;
    struct loop *loop;
    char notify_path[300], lifecycle_path[300];
    atomic_int notify_validations, lifecycle_validations, notifications, strays;
    char stray_path[256]; /* the first request at a path of no route (written once) */
    atomic_int stray_set;
};

/* A copy of one inbound request for the capture (loop thread). */
struct hook_record {
    struct probe *p;
    char *method, *path, *query, *body, *answer;
    size_t len;
    int status;
};

static void hook__record_run(void *arg)
{
    struct hook_record *r = arg;
    recorder__inbound(r->p->rec, r->method, r->path, r->query, r->body, r->len, r->status,
                      r->answer);
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r->answer);
    free(r);
}

/* HTTP thread: hands a copy to the loop (the capture is the loop's). */
static void hook__record(struct hook *h, const struct http_request *req, int status,
                         const char *answer)
{
    if (!h->p->rec)
        return;
    struct hook_record *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    size_t len = req->body_len < WEBHOOK_CAPTURE_MAX ? req->body_len : WEBHOOK_CAPTURE_MAX;
    r->p = h->p;
    r->method = strdup(req->method);
    r->path = strdup(req->path);
    r->query = strdup(req->query ? req->query : "");
    r->body = malloc(len + 1);
    r->answer = strdup(answer ? answer : "");
    if (r->body) {
        memcpy(r->body, req->body ? req->body : "", len);
        r->body[len] = '\0';
        r->len = len;
    }
    r->status = status;
    if (!r->method || !r->path || !r->query || !r->body || !r->answer ||
        loop__post(h->loop, hook__record_run, r) != 0) {
        r->p = NULL;
        free(r->method);
        free(r->path);
        free(r->query);
        free(r->body);
        free(r->answer);
        free(r);
    }
}

/* POST /graph/notify/<tenant> and /graph/lifecycle/<tenant>: the validation
 * handshake as the daemon answers it (200, text/plain, the decoded token),
 * notifications 202. */
static int hook__handle(void *ctx, const struct http_request *req, struct http_response *resp,
                        struct http_pending *pending)
{
    (void)pending;
    struct hook *h = ctx;
    bool lifecycle = strcmp(req->path, h->lifecycle_path) == 0;
    char token[WEBHOOK_TOKEN_MAX];
    int n = http_request__query(req, "validationToken", token, sizeof(token));
    if (n >= 0) {
        atomic_fetch_add(lifecycle ? &h->lifecycle_validations : &h->notify_validations, 1);
        resp->status = 200;
        resp->content_type = "text/plain";
        resp->body = strdup(token);
        resp->body_len = resp->body ? (size_t)n : 0;
        hook__record(h, req, 200, token);
        return HTTP_DONE;
    }
    atomic_fetch_add(&h->notifications, 1);
    resp->status = 202;
    resp->content_type = "";
    hook__record(h, req, 202, "");
    return HTTP_DONE;
}

/* Anything else that reaches the listener: a proxy that forwards to
 * another path shows here. */
static int hook__stray(void *ctx, const struct http_request *req, struct http_response *resp,
                       struct http_pending *pending)
{
    (void)pending;
    struct hook *h = ctx;
    if (atomic_exchange(&h->stray_set, 1) == 0)
        snprintf(h->stray_path, sizeof(h->stray_path), "%s %s", req->method, req->path);
    atomic_fetch_add(&h->strays, 1); /* after the path: the loop reads it once this is set */
    resp->status = 404;
    resp->body = strdup("{\"error\":\"not found\"}");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    hook__record(h, req, 404, resp->body);
    return HTTP_DONE;
}

/* Whether host:port can be bound now: 0, or the errno. Tried before the
 * listener starts, so a port in use is named as such (and libwebsockets 4.1,
 * which leaks a little when its bind fails, is not asked). */
static int hook__bind_error(const char *host, int port)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai)
        return EADDRNOTAVAIL;
    int err = 0, one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        err = errno;
    else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
             bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        err = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return err;
}

static void hook__listen_failed(struct probe *p, int err)
{
    if (err && err != EADDRINUSE) {
        probe_report__check(p->report, "webhook.listener", "listener", PROBE_FAIL,
                            "http.listen must be an address of this host and a port this user "
                            "may open (below 1024: root or CAP_NET_BIND_SERVICE)",
                            "cannot listen on %s (http.listen): %s; the webhook was not checked",
                            p->cfg->http.listen, strerror(err));
        return;
    }
    probe_report__check(
        p->report, "webhook.listener", "listener", PROBE_WARN,
        "stop the daemon while probing (systemctl stop presence-sync) and run the probe "
        "again; a running daemon shows its subscriptions in B/health (graph.subscriptions)",
        "cannot listen on %s (http.listen): the port is in use, probably by a running "
        "presence-sync; the webhook was not checked",
        p->cfg->http.listen);
}

static struct http_server *hook__listen(struct probe *p, struct probe_tenant *t, struct hook *h)
{
    const struct http_config *hc = &p->cfg->http;
    struct http_server_options o = {
        .host = hc->listen_host,
        .port = hc->listen_port,
        .max_body_bytes = hc->max_body_bytes,
        .tls_cert_file = hc->tls_cert_file,
        .tls_key_file = hc->tls_key_file,
    };
    snprintf(h->notify_path, sizeof(h->notify_path), "/graph/notify/%s", t->tc->name);
    snprintf(h->lifecycle_path, sizeof(h->lifecycle_path), "/graph/lifecycle/%s", t->tc->name);
    struct http_server *srv = http_server__new(&o);
    if (!srv || http_server__route(srv, "POST", h->notify_path, false, hook__handle, h) != 0 ||
        http_server__route(srv, "POST", h->lifecycle_path, false, hook__handle, h) != 0 ||
        http_server__route(srv, NULL, "/", true, hook__stray, h) != 0 ||
        http_server__start(srv) != 0) {
        http_server__free(srv);
        return NULL;
    }
    return srv;
}

/* ---- subscriptions ------------------------------------------------------------------- */

/* The account's presence subscription, if it holds one: its id, expiry and
 * notification URL into buf. Returns 1 held, 0 none, -1 the list failed. */
static int hook__held(struct probe *p, struct probe_tenant *t, size_t account, char *buf,
                      size_t len)
{
    struct graph_request req = {
        .method = "GET", .path = "/subscriptions", .token = graph_client__account(t->ct, account)};
    struct probe_answer a;
    int held = -1;
    probe__graph(p, t->ct, &req, WEBHOOK_CALL_MS, &a);
    cJSON *o = a.status == 200 ? json__parse_str(a.body) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value"), *it;
    if (cJSON_IsArray(v))
        held = 0;
    cJSON_ArrayForEach(it, v)
    {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "resource");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(it, "expirationDateTime");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(it, "notificationUrl");
        if (!held && cJSON_IsString(r) && strcasestr(r->valuestring, "communications/presences")) {
            held = 1;
            snprintf(buf, len, "expires %s, notifications to %s",
                     cJSON_IsString(exp) ? exp->valuestring : "?",
                     cJSON_IsString(url) ? url->valuestring : "?");
        }
    }
    if (held < 0)
        probe__reason(&a, buf, len);
    cJSON_Delete(o);
    probe_answer__free(&a);
    return held;
}

static char *hook__body(struct probe *p, struct probe_tenant *t, const char *user_id)
{
    char pub[1024], url[1400], life[1400], filter[200], exp[40], state[33];
    unsigned char r[16];
    snprintf(pub, sizeof(pub), "%s", p->cfg->http.public_url);
    for (size_t n = strlen(pub); n && pub[n - 1] == '/'; n--)
        pub[n - 1] = '\0';
    snprintf(url, sizeof(url), "%s/graph/notify/%s", pub, t->tc->name);
    snprintf(life, sizeof(life), "%s/graph/lifecycle/%s", pub, t->tc->name);
    snprintf(filter, sizeof(filter), "/communications/presences?$filter=id in ('%s')", user_id);
    clock__iso8601_graph(clock__wall_ms() + WEBHOOK_MINUTES * 60000LL, exp, sizeof(exp));
    if (RAND_bytes(r, sizeof(r)) != 1)
        return NULL;
    for (int i = 0; i < 16; i++)
        snprintf(state + 2 * i, 3, "%02x", r[i]);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "changeType", "updated");
    cJSON_AddStringToObject(o, "notificationUrl", url);
    cJSON_AddStringToObject(o, "lifecycleNotificationUrl", life);
    cJSON_AddStringToObject(o, "resource", filter);
    cJSON_AddStringToObject(o, "expirationDateTime", exp);
    cJSON_AddStringToObject(o, "clientState", state);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

/* The verdict on Graph's validation, from the create's answer and what the
 * listener saw. */
static void hook__verdict(struct probe *p, struct hook *h, const struct probe_answer *a,
                          const char *url)
{
    int seen = atomic_load(&h->notify_validations), life = atomic_load(&h->lifecycle_validations);
    char why[700], fix[4096];
    if (a->status == 201) {
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_OK, NULL,
                            "Graph reached %s and accepted the answer (%d validation request%s "
                            "on the notification URL, %d on the lifecycle URL)",
                            url, seen, seen == 1 ? "" : "s", life);
        return;
    }
    probe__reason(a, why, sizeof(why));
    if (seen == 0 && life == 0 && atomic_load(&h->strays)) {
        snprintf(fix, sizeof(fix),
                 "whatever sits between Graph and the listener must pass the path on as the "
                 "listener serves it (%s), or strip the path of http.public_url (%s)",
                 h->notify_path, p->cfg->http.public_url);
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_FAIL, fix,
                            "Graph's validation request never reached the listener (a request "
                            "reached it at %s); Graph refused the subscription: %s",
                            h->stray_path, why);
        return;
    }
    if (seen == 0 && life == 0) {
        snprintf(fix, sizeof(fix),
                 "make %s reachable from the internet: DNS, firewall, a TLS certificate from a "
                 "public CA, a reverse proxy that passes POST /graph/... with its query string "
                 "to %s; from outside, curl -X POST '%s?validationToken=abc' must answer abc "
                 "(docs/operations.md section 8)",
                 p->cfg->http.public_url, p->cfg->http.listen, url);
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_FAIL, fix,
                            "Graph's validation request never reached the listener; Graph "
                            "refused the subscription: %s",
                            why);
        return;
    }
    probe_report__check(p->report, "webhook.validation", "validation", PROBE_FAIL,
                        "something between Graph and the listener changes or delays the answer "
                        "(a proxy that rewrites bodies, adds authentication or buffers): Graph "
                        "wants 200 with the token as the body within 10 s",
                        "Graph's validation request reached the listener, but Graph did not "
                        "accept the answer: %s",
                        why);
}

static void hook__delete(struct probe *p, struct probe_tenant *t, size_t account, const char *body)
{
    cJSON *o = json__parse_str(body);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    char path[300], why[600];
    if (!cJSON_IsString(id) || strlen(id->valuestring) > 200) {
        cJSON_Delete(o);
        return;
    }
    snprintf(path, sizeof(path), "/subscriptions/%s", id->valuestring);
    struct graph_request req = {
        .method = "DELETE", .path = path, .token = graph_client__account(t->ct, account)};
    struct probe_answer a;
    probe__graph(p, t->ct, &req, WEBHOOK_CALL_MS, &a);
    if (a.status == 204 || a.status == 200)
        probe_report__check(p->report, "webhook.cleanup", "clean-up", PROBE_OK, NULL,
                            "the probe's subscription %s is deleted", id->valuestring);
    else
        probe_report__check(p->report, "webhook.cleanup", "clean-up", PROBE_WARN,
                            "nothing to do: it expires by itself within 5 minutes; a daemon "
                            "started meanwhile deletes it",
                            "the probe's subscription %s could not be deleted: %s", id->valuestring,
                            probe__reason(&a, why, sizeof(why)));
    probe_answer__free(&a);
    cJSON_Delete(o);
}

/* An account without a presence subscription, or -1 (each held one is
 * reported). */
static long hook__pick_account(struct probe *p, struct probe_tenant *t)
{
    char what[600], name[320];
    for (size_t i = 0; i < t->tc->graph.n_accounts && !p->interrupted; i++) {
        if (!t->account_ok[i])
            continue;
        int held = hook__held(p, t, i, what, sizeof(what));
        if (held == 0)
            return (long)i;
        snprintf(name, sizeof(name), "subscriptions of %s", t->tc->graph.accounts[i].username);
        if (held > 0)
            probe_report__check(
                p->report, "webhook.account", name, PROBE_WARN,
                "nothing is wrong: to run this check, stop every daemon that uses this app and "
                "run the probe after that subscription expired; the daemon deletes old ones "
                "when it starts",
                "it already holds a presence subscription (%s): a running daemon's, or one left "
                "by a daemon stopped less than an hour ago. Graph allows one per account and "
                "app; the probe leaves it alone",
                what);
        else
            probe_report__check(p->report, "webhook.account", name, PROBE_FAIL,
                                "check the account's sign-in above and the network to Graph",
                                "its subscriptions cannot be listed: %s", what);
    }
    return -1;
}

static void hook__subscribe(struct probe *p, struct probe_tenant *t, struct hook *h,
                            const char *user_id)
{
    long acct = hook__pick_account(p, t);
    if (acct < 0 || p->interrupted)
        return;
    char *body = hook__body(p, t, user_id);
    struct graph_request req = {.method = "POST",
                                .path = "/subscriptions",
                                .body = body,
                                .token = graph_client__account(t->ct, (size_t)acct),
                                .timeout_ms = WEBHOOK_CREATE_MS - 5000};
    struct probe_answer a;
    char url[1400], why[700];
    cJSON *o = body ? json__parse_str(body) : NULL;
    const cJSON *nu = cJSON_GetObjectItemCaseSensitive(o, "notificationUrl");
    snprintf(url, sizeof(url), "%s", cJSON_IsString(nu) ? nu->valuestring : "");
    cJSON_Delete(o);
    probe__graph(p, t->ct, &req, WEBHOOK_CREATE_MS, &a);
    free(body);
    if (a.status == 409) {
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_WARN,
                            "nothing is wrong: run the probe again when no daemon holds the "
                            "account's subscription",
                            "%s already holds a presence subscription (HTTP 409: Graph allows one "
                            "per account and app; another daemon made it meanwhile)",
                            t->tc->graph.accounts[acct].username);
    }
    else if (a.status == 403) {
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_FAIL,
                            "the service account needs the delegated Presence.Read.All with "
                            "admin consent (docs/operations.md section 1)",
                            "Graph refused the subscription: %s",
                            probe__reason(&a, why, sizeof(why)));
    }
    else {
        hook__verdict(p, h, &a, url);
    }
    if (a.status == 201)
        hook__delete(p, t, (size_t)acct, a.body);
    probe_answer__free(&a);
}

static bool hook__any_account(const struct probe_tenant *t)
{
    for (size_t i = 0; i < t->tc->graph.n_accounts; i++) {
        if (t->account_ok[i])
            return true;
    }
    return false;
}

/* Real Graph calls https:// notification URLs only; the simulators take
 * http (tests). */
static bool hook__http_to_graph(const struct probe *p, const struct probe_tenant *t)
{
    return strncasecmp(p->cfg->http.public_url, "http://", 7) == 0 &&
           strcasestr(t->tc->graph.api_url, "graph.microsoft") != NULL;
}

void probe_webhook__run(struct probe *p, struct probe_tenant *t)
{
    probe_report__group(p->report, "webhook", t->tc->name);
    size_t u = 0;
    while (u < t->tc->n_users && !t->ids[u])
        u++;
    if (!hook__any_account(t) || u == t->tc->n_users) {
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_WARN,
                            "fix the Graph lines above, then run the probe again",
                            "not checked: it needs a service account that signs in and one user "
                            "found in Azure AD");
        return;
    }
    if (hook__http_to_graph(p, t)) {
        probe_report__check(p->report, "webhook.validation", "validation", PROBE_FAIL,
                            "give http.public_url an https:// address with a certificate from a "
                            "public CA (a reverse proxy, or http.tls_cert_file)",
                            "http.public_url is %s: Graph only calls https:// notification URLs",
                            p->cfg->http.public_url);
        return;
    }
    struct hook *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    h->p = p;
    h->loop = p->loop;
    int err = hook__bind_error(p->cfg->http.listen_host, p->cfg->http.listen_port);
    struct http_server *srv = err ? NULL : hook__listen(p, t, h);
    if (!srv) {
        hook__listen_failed(p, err);
        free(h);
        return;
    }
    probe_report__check(p->report, "webhook.listener", "listener", PROBE_OK, NULL,
                        "listening on %s for %s%s", p->cfg->http.listen, p->cfg->http.public_url,
                        h->notify_path);
    hook__subscribe(p, t, h, t->ids[u]);
    http_server__stop(srv);
    http_server__free(srv);
    /* records the listener posted still run on the loop; they hold no
     * pointer into h */
    free(h);
}
