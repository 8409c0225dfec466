/* webhook_sink: a small webhook receiver for fake-graph's integration tests.
 *
 *   webhook_sink [--port N] [--validation echo|wrong|encoded|status500|slow]
 *                [--notify-status N] [--notify-delay-ms N] [--out FILE]
 *
 * Answers the validation handshake (POST ...?validationToken=...) the right
 * way (echo: 200 text/plain with the decoded token) or a wrong way, answers
 * notifications with --notify-status (default 202) after an optional delay,
 * and appends every notification body as one JSON line to FILE.
 * GET /_sink/notifications returns them as a JSON array. Prints `port=N`. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/http_server.h"
#include "core/log.h"

static struct {
    const char *validation;
    int notify_status;
    int notify_delay_ms;
    FILE *out;
    pthread_mutex_t lock;
    cJSON *seen;
} g = {.validation = "echo", .notify_status = 202, .lock = PTHREAD_MUTEX_INITIALIZER};

struct delayed {
    struct http_pending *p;
    int delay_ms;
    int status;
    char *body;
    const char *ct;
};

static void *delayed_main(void *arg)
{
    struct delayed *d = arg;
    usleep((useconds_t)d->delay_ms * 1000);
    http_server__complete(d->p, d->status, d->ct, d->body, d->body ? strlen(d->body) : 0);
    free(d);
    return NULL;
}

/* Answers later from a thread of its own: the service thread never sleeps. */
static int answer_later(struct http_pending *p, int delay_ms, int status, const char *ct,
                        char *body)
{
    struct delayed *d = malloc(sizeof(*d));
    pthread_t t;
    if (!d) {
        free(body);
        return -1;
    }
    *d = (struct delayed){p, delay_ms, status, body, ct};
    if (pthread_create(&t, NULL, delayed_main, d) != 0) {
        free(body);
        free(d);
        return -1;
    }
    pthread_detach(t);
    return 0;
}

static char *raw_token(const char *query)
{
    const char *p = strstr(query, "validationToken=");
    if (!p) {
        return NULL;
    }
    p += 16;
    return strndup(p, strcspn(p, "&"));
}

static int on_validation(const struct http_request *req, struct http_response *resp,
                         struct http_pending *pending, const char *token)
{
    resp->content_type = "text/plain";
    if (strcmp(g.validation, "status500") == 0) {
        resp->status = 500;
        return HTTP_DONE;
    }
    if (strcmp(g.validation, "slow") == 0) {
        if (answer_later(pending, 12000, 200, "text/plain", strdup(token)) == 0) {
            return HTTP_DEFER;
        }
        resp->status = 500;
        return HTTP_DONE;
    }
    resp->status = 200;
    if (strcmp(g.validation, "encoded") == 0) {
        resp->body = raw_token(req->query);
    }
    else if (strcmp(g.validation, "wrong") == 0) {
        size_t n = strlen(token) + 2;
        resp->body = malloc(n);
        if (resp->body) {
            snprintf(resp->body, n, "%sx", token);
        }
    }
    else {
        resp->body = strdup(token);
    }
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    return HTTP_DONE;
}

static int on_post(void *ctx, const struct http_request *req, struct http_response *resp,
                   struct http_pending *pending)
{
    (void)ctx;
    char token[1024];
    if (http_request__query(req, "validationToken", token, sizeof(token)) >= 0) {
        LOG_INFO("sink", "validation path=%s", req->path);
        return on_validation(req, resp, pending, token);
    }
    cJSON *j = cJSON_ParseWithLength(req->body, req->body_len);
    char *line = j ? cJSON_PrintUnformatted(j) : NULL;
    pthread_mutex_lock(&g.lock);
    if (j) {
        cJSON_AddItemToArray(g.seen, j);
    }
    if (g.out && line) {
        fprintf(g.out, "%s\n", line);
        fflush(g.out);
    }
    pthread_mutex_unlock(&g.lock);
    free(line);
    LOG_INFO("sink", "notification path=%s bytes=%zu", req->path, req->body_len);
    if (g.notify_delay_ms > 0 &&
        answer_later(pending, g.notify_delay_ms, g.notify_status, "text/plain", NULL) == 0) {
        return HTTP_DEFER;
    }
    resp->status = g.notify_status;
    resp->content_type = "text/plain";
    return HTTP_DONE;
}

static int on_list(void *ctx, const struct http_request *req, struct http_response *resp,
                   struct http_pending *pending)
{
    (void)ctx;
    (void)req;
    (void)pending;
    pthread_mutex_lock(&g.lock);
    resp->body = cJSON_PrintUnformatted(g.seen);
    pthread_mutex_unlock(&g.lock);
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    resp->status = 200;
    return HTTP_DONE;
}

int main(int argc, char **argv)
{
    int port = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    g.seen = cJSON_CreateArray();
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) {
            port = atoi(argv[i + 1]);
        }
        else if (strcmp(argv[i], "--validation") == 0) {
            g.validation = argv[i + 1];
        }
        else if (strcmp(argv[i], "--notify-status") == 0) {
            g.notify_status = atoi(argv[i + 1]);
        }
        else if (strcmp(argv[i], "--notify-delay-ms") == 0) {
            g.notify_delay_ms = atoi(argv[i + 1]);
        }
        else if (strcmp(argv[i], "--out") == 0) {
            g.out = fopen(argv[i + 1], "a");
        }
        else {
            fprintf(stderr, "webhook_sink: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct http_server_options opt = {
        .host = "127.0.0.1", .port = port, .max_body_bytes = 8 * 1024 * 1024, .timeout_secs = 30};
    struct http_server *srv = http_server__new(&opt);
    if (!srv || http_server__route(srv, "GET", "/_sink/notifications", false, on_list, NULL) ||
        http_server__route(srv, "POST", "/", true, on_post, NULL) || http_server__start(srv)) {
        fprintf(stderr, "webhook_sink: cannot start\n");
        return 1;
    }
    printf("port=%d\n", http_server__port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    http_server__stop(srv);
    http_server__free(srv);
    if (g.out) {
        fclose(g.out);
    }
    cJSON_Delete(g.seen);
    return 0;
}
