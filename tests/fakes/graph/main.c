/* fake-graph: a simulator of Microsoft Graph presence + the Microsoft
 * identity platform, for the integration tests. See tests/fakes/README.md.
 *
 *   fake-graph [--host H] [--port N] [--tenant ID [--tenant-domain D]...]... \
 *              [--client-id ID --client-secret-file F]... \
 *              [--log-level debug]
 *
 * Prints `port=N` as its first stdout line once it listens. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_client.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/loop.h"
#include "fg_sim.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: fake-graph [--host H] [--port N] [--tenant ID [--tenant-domain D]...]...\n"
            "                  [--client-id ID --client-secret-file F]...\n"
            "                  [--log-level error|warn|info|debug]\n");
}

static char *read_secret_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
    }
    return strdup(buf);
}

static void on_stop(void *arg)
{
    loop__stop(arg);
}

static int parse_args(int argc, char **argv, struct fg_sim *sim, const char **host, int *port)
{
    const char *client_id = NULL, *tenant = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return -1;
        }
        i++;
        if (strcmp(a, "--port") == 0) {
            *port = atoi(v);
        }
        else if (strcmp(a, "--host") == 0) {
            *host = v;
        }
        else if (strcmp(a, "--tenant") == 0) {
            if (fg_store__add_tenant(&sim->store, v) != 0) {
                fprintf(stderr, "fake-graph: bad tenant id\n");
                return -1;
            }
            tenant = v;
        }
        else if (strcmp(a, "--tenant-domain") == 0) {
            /* a verified domain of the preceding --tenant */
            if (!tenant || fg_store__add_domain(&sim->store, tenant, v) != 0) {
                fprintf(stderr, "fake-graph: --tenant-domain needs a preceding --tenant and a new "
                                "domain\n");
                return -1;
            }
        }
        else if (strcmp(a, "--client-id") == 0) {
            client_id = v;
        }
        else if (strcmp(a, "--client-secret-file") == 0) {
            /* Only from a file: secrets never go in argv, even a simulator's. */
            char *secret = read_secret_file(v);
            if (!client_id || !secret || fg_store__add_app(&sim->store, client_id, secret) != 0) {
                fprintf(stderr,
                        "fake-graph: %s needs a preceding --client-id and a readable "
                        "value\n",
                        a);
                free(secret);
                return -1;
            }
            log__redact(secret);
            free(secret);
            client_id = NULL;
        }
        else if (strcmp(a, "--log-level") == 0) {
            enum ps_log_level lvl;
            if (log__parse_level(v, &lvl) != 0) {
                usage();
                return -1;
            }
            log__set_level(lvl);
        }
        else {
            usage();
            return -1;
        }
    }
    if (client_id) {
        fprintf(stderr, "fake-graph: --client-id %s has no secret\n", client_id);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    loop__block_signals();
    struct loop *loop = loop__new();
    struct http_client *cli = loop ? http_client__new(loop) : NULL;
    struct fg_sim sim;
    const char *host = "127.0.0.1";
    int port = 0, rc = 1;
    if (!cli || fg_sim__init(&sim, loop, cli) != 0) {
        fprintf(stderr, "fake-graph: init failed\n");
        return 1;
    }
    if (parse_args(argc, argv, &sim, &host, &port) != 0) {
        rc = 2;
        goto out;
    }
    struct http_server_options opt = {
        .host = host,
        .port = port,
        .max_body_bytes = 8 * 1024 * 1024,
        .timeout_secs = 60,
    };
    struct http_server *srv = http_server__new(&opt);
    if (!srv || fg_sim__routes(&sim, srv) != 0 || http_server__start(srv) != 0) {
        fprintf(stderr, "fake-graph: cannot listen on %s:%d\n", host, port);
        if (srv) {
            http_server__free(srv);
        }
        goto out;
    }
    printf("port=%d\n", http_server__port(srv));
    fflush(stdout);
    LOG_INFO("fake-graph", "listening host=%s port=%d", host, http_server__port(srv));
    loop__on_signal(loop, SIGTERM, on_stop, loop);
    loop__on_signal(loop, SIGINT, on_stop, loop);
    fg_sim__start_sweep(&sim);
    loop__run(loop);
    http_server__stop(srv);
    http_server__free(srv);
    rc = 0;
out:
    http_client__free(cli);
    fg_sim__free(&sim);
    loop__free(loop);
    return rc;
}
