/* The Graph client as a daemon component (connector/component.h): one client
 * (graph_client.h) and, when the mapper runs, one presence writer (graph_writer.h) for
 * the process, shared through env->services. It runs for the graph and the
 * mapper roles and comes first in the component table, so the Graph side
 * and the mapper find it at their init; it stops last.
 *
 * The presence budget per tenant is graph_client__budget_for(roles); tests
 * shrink it with the knobs PS_GRAPH_RATE_LIMIT / PS_GRAPH_RATE_WINDOW_MS
 * (core/tunables.h; never above Graph's 1,500 per 30 s).
 * PS_GRAPH_HTTP_TIMEOUT_MS sets the writer's request timeout. */
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"
#include "core/tunables.h"
#include "component.h"
#include "graph/graph_client.h"
#include "graph/graph_writer.h"

struct client_component {
    const struct daemon_env *env;
    struct graph_client *gc;
    struct graph_writer *writer;
};

static void client_component__free(void *state);

static int client_component__init(const struct daemon_env *env, void **state)
{
    *state = NULL;
    struct client_component *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->env = env;
    const struct tunables *tun = env->tun ? env->tun : tunables__defaults();
    int64_t limit = (int64_t)graph_client__budget_for(env->roles);
    int64_t window = GRAPH_PRESENCE_WINDOW_MS;
    int64_t l = tun->graph_rate_limit ? tun->graph_rate_limit : limit;
    int64_t wms = tun->graph_rate_window_ms ? tun->graph_rate_window_ms : window;
    /* a test override may shrink the budget, never raise the rate */
    if (l * GRAPH_PRESENCE_WINDOW_MS <= limit * wms) {
        limit = l;
        window = wms;
    }
    struct graph_client_options o = {
        .loop = env->loop,
        .http = env->http_client,
        .cfg = env->cfg,
        .accounts = (env->roles & CONFIG_ROLE_GRAPH) != 0,
        .budget = (size_t)limit,
        .window_ms = window,
    };
    c->gc = graph_client__new(&o);
    if (c->gc && (env->roles & CONFIG_ROLE_MAPPER)) {
        c->writer = graph_writer__new(env->loop, c->gc);
        if (c->writer) {
            graph_writer__set_timeout(c->writer, tun->graph_http_timeout_ms);
            graph_writer__set_role(c->writer, env->services ? env->services->role : NULL);
        }
    }
    if (!c->gc || ((env->roles & CONFIG_ROLE_MAPPER) && !c->writer)) {
        LOG_ERROR("graph", "cannot set up the Graph client");
        client_component__free(c);
        return -1;
    }
    LOG_INFO("graph", "graph client ready tenants=%zu presence_budget=%lld/%lldms",
             env->cfg->n_tenants, (long long)limit, (long long)window);
    if (env->services) {
        env->services->graph_client = c->gc;
        env->services->graph_writer = c->writer;
    }
    *state = c;
    return 0;
}

static int client_component__start(void *state)
{
    struct client_component *c = state;
    graph_client__start(c->gc);
    return 0;
}

static void client_component__stop(void *state)
{
    struct client_component *c = state;
    if (c->env->services) {
        c->env->services->graph_client = NULL;
        c->env->services->graph_writer = NULL;
    }
    graph_writer__stop(c->writer);
    graph_client__stop(c->gc);
}

static void client_component__free(void *state)
{
    struct client_component *c = state;
    if (!c)
        return;
    graph_writer__free(c->writer);
    graph_client__free(c->gc);
    free(c);
}

const struct daemon_component graph_client_component = {
    .name = "graph_client",
    .init = client_component__init,
    .start = client_component__start,
    .stop = client_component__stop,
    .free = client_component__free,
};
