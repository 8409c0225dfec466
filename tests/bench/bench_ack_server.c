/* The baseline for the webhook ack benchmark: the daemon's own listener code
 * (core/http_server on libwebsockets) with a bare handler that copies the
 * body, as the daemon's webhook does before queueing it, and answers 202.
 *
 *   bench_ack_server    prints port=N, serves POST /graph/notify/<any> until SIGTERM */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_server.h"

static int on_notify(void *ctx, const struct http_request *req, struct http_response *resp,
                     struct http_pending *p)
{
    (void)ctx, (void)p;
    char *copy = malloc(req->body_len + 1);
    if (copy)
        memcpy(copy, req->body, req->body_len + 1);
    free(copy);
    resp->status = 202;
    resp->body = NULL;
    resp->body_len = 0;
    return HTTP_DONE;
}

int main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct http_server_options opt = {.host = "127.0.0.1", .port = 0, .max_body_bytes = 4194304};
    struct http_server *srv = http_server__new(&opt);
    if (!srv || http_server__route(srv, "POST", "/graph/notify/", true, on_notify, NULL) != 0 ||
        http_server__start(srv) != 0) {
        fprintf(stderr, "cannot start the server\n");
        return 1;
    }
    printf("port=%d\n", http_server__port(srv));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    http_server__stop(srv);
    http_server__free(srv);
    return 0;
}
