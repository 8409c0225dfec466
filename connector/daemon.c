/* The `run` verb: one loop thread owns the daemon; the MQTT bus and the HTTP
 * listener hand work to it. The Graph side, the Voice side and the mapper
 * plug in as components (struct daemon_component, table below).
 *
 * Signals (all handled on the loop thread through loop__on_signal):
 *   SIGTERM, SIGINT  graceful stop: components stop, B/state goes offline,
 *                    MQTT disconnects, HTTP stops; exit code 0.
 *   SIGHUP           reload the config file; when valid, replace the user
 *                    lists (MQTT and HTTP stay connected); when not, log the
 *                    error with its JSON path and keep running unchanged.
 */
#include "daemon.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__ /* defined by the libc headers above */
#include <malloc.h>
#endif
#include <string.h>
#include <strings.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/str.h"
#include "core/tunables.h"
#include "component.h"
#include "graph/notify_crypto.h"

/* Publishes kept by the MQTT client while the broker is away. States beyond
 * this wait in the bus's last-value cache, so the number bounds memory, not
 * correctness (docs/mqtt.md). */
#define DAEMON_MQTT_MAX_BUFFERED 1000
/* Per-user lines logged for one tenant on reload; the summary has totals. */
#define DAEMON_RELOAD_LOG_USERS 50
/* See daemon__tune_malloc(). */
#define DAEMON_MMAP_THRESHOLD (128 * 1024)
#define DAEMON_TRIM_MS        15000
#define DAEMON_ARENA_MAX      2

/* The components, started in this order and stopped in reverse, each with
 * the roles that run it (--role / "roles"; a split deployment runs one
 * process per role, docs/operations.md). */
extern const struct daemon_component graph_client_component;
extern const struct daemon_component graph_component;
extern const struct daemon_component voice_component;
extern const struct daemon_component mapper_component;
extern const struct daemon_component hass_component;
extern const struct daemon_component role_component;

struct daemon_entry {
    const struct daemon_component *c;
    unsigned roles; /* runs when the process has any of these */
};

static const struct daemon_entry daemon_components[] = {
    /* First in, last out: the others find services.role in their init, and
     * the lease is released after they stopped writing (docs/ha.md). */
    {&role_component, CONFIG_ROLE_ALL},
    /* The Graph client and writer (tokens, calls, the presence budget) that
     * the Graph side and the mapper share (docs/graph.md). */
    {&graph_client_component, CONFIG_ROLE_GRAPH | CONFIG_ROLE_MAPPER},
    {&graph_component, CONFIG_ROLE_GRAPH},
    /* The mapper writes 'talking' through the Voice side's REST session
     * (services.voice_writer), so a mapper process runs it too; env.roles
     * tells the Voice side which role it serves (docs/operations.md). */
    {&voice_component, CONFIG_ROLE_VOICE | CONFIG_ROLE_MAPPER},
    {&mapper_component, CONFIG_ROLE_MAPPER},
    /* Home Assistant discovery: each process announces the entities whose
     * state it publishes (docs/homeassistant.md). */
    {&hass_component, CONFIG_ROLE_GRAPH | CONFIG_ROLE_VOICE},
};
#define DAEMON_N_COMPONENTS (sizeof(daemon_components) / sizeof(daemon_components[0]))

struct daemon {
    struct daemon_env env;
    struct daemon_services services;
    char *client_id;
    char *split_name;
    char *health_topic;
    char *state_topic;
    char *online_payload;
    char *offline_payload;
    void *comp_state[DAEMON_N_COMPONENTS];
    bool comp_inited[DAEMON_N_COMPONENTS];
    bool stopping;
    loop_timer_id trim_timer;
};

/* ---- B/state payloads --------------------------------------------------- */

static char *daemon__state_payload(const char *state, const char *instance)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o && cJSON_AddStringToObject(o, "state", state) &&
        cJSON_AddStringToObject(o, "instance", instance) &&
        cJSON_AddStringToObject(o, "version", PS_VERSION))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* For presence_sync_uptime_seconds (read on the libwebsockets thread). */
static int64_t daemon_start_mono;

/* ---- HTTP: health and metrics (libwebsockets thread; thread-safe calls) --- */

static int daemon__respond(struct http_response *resp, int status, const char *ctype, char *body)
{
    resp->status = body ? status : 500;
    resp->content_type = ctype;
    resp->body = body;
    resp->body_len = body ? strlen(body) : 0;
    return HTTP_DONE;
}

static int daemon__healthz(void *ctx, const struct http_request *req, struct http_response *resp,
                           struct http_pending *pending)
{
    (void)ctx, (void)req, (void)pending;
    return daemon__respond(resp, 200, "text/plain", strdup("ok"));
}

/* A 503 says why (docs/http.md, docs/observability.md). Adds "reason": every component that is not
 * ready, as "name: reason" joined with "; ", to health__json()'s document
 * (which keeps the per-component details). Takes json over. */
static char *daemon__with_reason(char *json)
{
    cJSON *doc = json__parse_str(json);
    const cJSON *comps = cJSON_GetObjectItemCaseSensitive(doc, "components"), *c;
    struct strbuf b = {0};
    char *out = NULL;
    cJSON_ArrayForEach(c, comps)
    {
        if (json__bool(c, "ready", false))
            continue;
        const char *why = json__str(c, "reason");
        strbuf__printf(&b, "%s%s: %s", b.len ? "; " : "", c->string, why ? why : "not ready");
    }
    char *reason = strbuf__take(&b);
    if (doc && cJSON_AddStringToObject(doc, "reason", reason && *reason ? reason : "not ready"))
        out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    free(reason);
    if (!out)
        return json;
    free(json);
    return out;
}

static int daemon__readyz(void *ctx, const struct http_request *req, struct http_response *resp,
                          struct http_pending *pending)
{
    (void)ctx, (void)req, (void)pending;
    bool ready = false;
    char *json = health__json(&ready);
    if (json && !ready)
        json = daemon__with_reason(json);
    return daemon__respond(resp, ready ? 200 : 503, "application/json", json);
}

static int daemon__metrics(void *ctx, const struct http_request *req, struct http_response *resp,
                           struct http_pending *pending)
{
    (void)ctx, (void)req, (void)pending;
    metrics__set("uptime_seconds", NULL, (double)(clock__mono_ms() - daemon_start_mono) / 1000.0);
    return daemon__respond(resp, 200, "text/plain; version=0.0.4", metrics__render());
}

/* ---- MQTT connection state ------------------------------------------------ */

static void daemon__on_mqtt(void *ctx, bool connected)
{
    (void)ctx;
    health__set("mqtt", connected, connected ? NULL : "MQTT broker not connected");
}

/* Several instances share B/state (docs/ha.md): an "offline" reaching a live
 * process is another one's will or clean stop (ours is sent only after
 * `stopping`); it is answered with this process's "online", so B/state says
 * online while any instance lives and the last one's will stays. */
static void daemon__on_state(void *ctx, const char *topic, const char *payload, size_t len,
                             bool retained)
{
    struct daemon *d = ctx;
    (void)topic, (void)retained;
    if (d->stopping || len == 0 || !bus__connected(d->env.bus))
        return;
    cJSON *o = json__parse(payload, len);
    const char *state = json__str(o, "state");
    bool offline = state && !strcmp(state, "offline");
    cJSON_Delete(o);
    if (!offline)
        return;
    LOG_INFO("daemon", "state offline answered with online topic=%s", d->state_topic);
    bus__publish(d->env.bus, d->state_topic, d->online_payload, strlen(d->online_payload), true);
}

/* ---- SIGHUP: reload user lists ----------------------------------------------- */

static int daemon__cmp_user(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static char **daemon__sorted(char **users, size_t n)
{
    char **s = malloc((n ? n : 1) * sizeof(*s));
    if (s && n) {
        memcpy(s, users, n * sizeof(*s));
        qsort(s, n, sizeof(*s), daemon__cmp_user);
    }
    return s;
}

/* Logs users added and removed for one tenant (addresses compare
 * case-insensitively, as everywhere). Sorted merge: O(n log n). */
static void daemon__log_user_diff(const struct tenant_config *old, const struct tenant_config *neu)
{
    char **a = daemon__sorted(old->users, old->n_users);
    char **b = daemon__sorted(neu->users, neu->n_users);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    size_t i = 0, j = 0, added = 0, removed = 0, logged = 0;
    while (i < old->n_users || j < neu->n_users) {
        int c = i == old->n_users ? 1 : j == neu->n_users ? -1 : strcasecmp(a[i], b[j]);
        const char *what = c < 0 ? "removed" : c > 0 ? "added" : NULL;
        if (what && logged++ < DAEMON_RELOAD_LOG_USERS)
            LOG_INFO("config", "user %s tenant=%s user=%s", what, neu->name, c < 0 ? a[i] : b[j]);
        if (c < 0)
            removed++, i++;
        else if (c > 0)
            added++, j++;
        else
            i++, j++;
    }
    if (added || removed)
        LOG_INFO("config", "users changed tenant=%s added=%zu removed=%zu total=%zu", neu->name,
                 added, removed, neu->n_users);
    free(a);
    free(b);
}

/* Moves the new user lists into the running config (tenants matched by
 * name); `neu` then holds the old lists and is freed by the caller. */
static void daemon__swap_users(struct config *cur, struct config *neu)
{
    for (size_t i = 0; i < cur->n_tenants; i++) {
        struct tenant_config *t = &cur->tenants[i];
        struct tenant_config *n = config__tenant(neu, t->name);
        if (!n)
            continue;
        daemon__log_user_diff(t, n);
        char **users = t->users;
        size_t n_users = t->n_users;
        char *users_file = t->users_file;
        t->users = n->users;
        t->n_users = n->n_users;
        t->users_file = n->users_file;
        n->users = users;
        n->n_users = n_users;
        n->users_file = users_file;
    }
}

static void daemon__users_gauge(const struct config *cfg)
{
    char labels[128];
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        snprintf(labels, sizeof(labels), "tenant=\"%s\"", cfg->tenants[i].name);
        metrics__set("users_configured", labels, (double)cfg->tenants[i].n_users);
    }
}

static void daemon__reload(void *arg)
{
    struct daemon *d = arg;
    struct config *cur = d->env.cfg;
    if (d->stopping)
        return;
    LOG_INFO("daemon", "reloading signal=SIGHUP file=%s", cur->path);
    struct config *neu = NULL;
    struct config_error err;
    memset(&err, 0, sizeof(err));
    if (config__load(cur->path, &neu, &err) < 0 || notify_crypto__check_config(neu, &err) < 0) {
        LOG_ERROR("config", "reload failed, keeping the running config file=%s error=\"%s%s%s\"",
                  cur->path, err.path, err.path[0] ? ": " : "", err.msg);
        metrics__inc("config_reload_failures_total", NULL, 1);
        return;
    }
    config__warn_restart_only(cur, neu);
    if (neu->log_level != cur->log_level) {
        LOG_INFO("config", "log level changed from=%s to=%s", log__level_name(cur->log_level),
                 log__level_name(neu->log_level));
        log__set_level(neu->log_level);
        cur->log_level = neu->log_level;
    }
    daemon__swap_users(cur, neu);
    config__free(neu);
    daemon__users_gauge(cur);
    for (size_t i = 0; i < DAEMON_N_COMPONENTS; i++) {
        const struct daemon_component *c = daemon_components[i].c;
        if (d->comp_inited[i] && c->reload)
            c->reload(d->comp_state[i]);
    }
    metrics__inc("config_reloads_total", NULL, 1);
    LOG_INFO("daemon", "reloaded tenants=%zu users=%zu", cur->n_tenants, config__total_users(cur));
}

/* ---- start and stop ------------------------------------------------------------- */

static void daemon__stop_components(struct daemon *d)
{
    for (size_t i = DAEMON_N_COMPONENTS; i-- > 0;) {
        const struct daemon_component *c = daemon_components[i].c;
        if (d->comp_inited[i] && c->stop)
            c->stop(d->comp_state[i]);
    }
}

static void daemon__free_components(struct daemon *d)
{
    for (size_t i = DAEMON_N_COMPONENTS; i-- > 0;) {
        const struct daemon_component *c = daemon_components[i].c;
        if (d->comp_inited[i] && c->free)
            c->free(d->comp_state[i]);
        d->comp_inited[i] = false;
    }
}

/* After every component stopped: pending requests complete (aborted) on
 * the loop while the components' state still exists. */
static void daemon__stop_http_client(struct daemon *d)
{
    http_client__free(d->env.http_client);
    d->env.http_client = NULL;
}

static void daemon__shutdown(struct daemon *d, const char *signame)
{
    if (d->stopping)
        return;
    d->stopping = true;
    LOG_INFO("daemon", "stopping signal=%s", signame);
    daemon__stop_components(d);
    daemon__stop_http_client(d);
    bus__stop(d->env.bus); /* B/state offline, then a clean disconnect */
    if (d->env.http)
        http_server__stop(d->env.http);
    loop__stop(d->env.loop);
}

static void daemon__on_term(void *arg)
{
    daemon__shutdown(arg, "SIGTERM");
}

static void daemon__on_int(void *arg)
{
    daemon__shutdown(arg, "SIGINT");
}

static int daemon__init_components(struct daemon *d)
{
    for (size_t i = 0; i < DAEMON_N_COMPONENTS; i++) {
        const struct daemon_component *c = daemon_components[i].c;
        if (!(daemon_components[i].roles & d->env.roles))
            continue;
        if (c->init && c->init(&d->env, &d->comp_state[i]) < 0) {
            LOG_ERROR("daemon", "component failed to initialise component=%s", c->name);
            return -1;
        }
        d->comp_inited[i] = true;
    }
    return 0;
}

static int daemon__start_components(struct daemon *d)
{
    for (size_t i = 0; i < DAEMON_N_COMPONENTS; i++) {
        const struct daemon_component *c = daemon_components[i].c;
        if (d->comp_inited[i] && c->start && c->start(d->comp_state[i]) < 0) {
            LOG_ERROR("daemon", "component failed to start component=%s", c->name);
            return -1;
        }
    }
    return 0;
}

static int daemon__start_http(struct daemon *d)
{
    const struct http_config *h = &d->env.cfg->http;
    struct http_server_options o = {
        .host = h->listen_host,
        .port = h->listen_port,
        .max_body_bytes = h->max_body_bytes,
        .max_buffered_bytes = (size_t)d->env.tun->http_max_buffered,
        .tls_cert_file = h->tls_cert_file,
        .tls_key_file = h->tls_key_file,
    };
    d->env.http = http_server__new(&o);
    if (!d->env.http)
        return -1;
    if (http_server__route(d->env.http, "GET", "/healthz", false, daemon__healthz, d) < 0 ||
        http_server__route(d->env.http, "GET", "/readyz", false, daemon__readyz, d) < 0 ||
        http_server__route(d->env.http, "GET", "/metrics", false, daemon__metrics, d) < 0)
        return -1;
    return 0;
}

/* Role all: client id <instance>-<8 hex>, <B>/state, <B>/health.
 * A split process (some roles): <instance>-<roles>-<8 hex>, <B>/state/<roles>,
 * <B>/health/<roles>, with roles joined by '-', e.g. ps-1-graph and
 * presence-sync/state/graph; two processes must not share a client id (the
 * broker would disconnect one) nor a will topic (one's will would mark the
 * other offline). See docs/operations.md "Split deployment". The random
 * suffix makes the client id unique per run, so that two instances started
 * with one configuration never take each other's connection over; it is
 * also the node id of the leases (docs/ha.md). */
static int daemon__names(struct daemon *d)
{
    const struct config *cfg = d->env.cfg;
    char roles[64];
    config__roles_name(d->env.roles, roles, sizeof(roles));
    for (char *p = roles; *p; p++)
        *p = *p == ',' ? '-' : *p;
    bool all = (d->env.roles & CONFIG_ROLE_ALL) == CONFIG_ROLE_ALL;
    unsigned char rnd[4];
    char suffix[9];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return -1;
    snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    if (all) {
        d->client_id = str__cat(cfg->instance, "-", suffix, NULL);
        d->state_topic = str__cat(cfg->mqtt.bridge_topic, "/", "state", NULL);
        d->health_topic = str__cat(cfg->mqtt.bridge_topic, "/", "health", NULL);
    }
    else {
        char leaf[80];
        d->client_id = str__cat(cfg->instance, "-", roles, "-", suffix, NULL);
        d->split_name = str__dup(roles);
        snprintf(leaf, sizeof(leaf), "state/%s", roles);
        d->state_topic = str__cat(cfg->mqtt.bridge_topic, "/", leaf, NULL);
        snprintf(leaf, sizeof(leaf), "health/%s", roles);
        d->health_topic = str__cat(cfg->mqtt.bridge_topic, "/", leaf, NULL);
    }
    d->env.node = d->client_id;
    d->env.split_name = d->split_name;
    d->env.state_topic = d->state_topic;
    return d->client_id && d->state_topic && d->health_topic ? 0 : -1;
}

static struct bus *daemon__new_bus(struct daemon *d)
{
    const struct config *cfg = d->env.cfg;
    d->online_payload = daemon__state_payload("online", cfg->instance);
    d->offline_payload = daemon__state_payload("offline", cfg->instance);
    if (daemon__names(d) < 0 || !d->online_payload || !d->offline_payload)
        return NULL;
    struct bus_options o = {
        .url = cfg->mqtt.url,
        .username = cfg->mqtt.username,
        .password = cfg->mqtt.password.value,
        .ca_file = cfg->mqtt.ca_file,
        .client_id = d->client_id,
        .protocol = cfg->mqtt.protocol,
        .state_topic = d->state_topic,
        .online_payload = d->online_payload,
        .will_payload = d->offline_payload,
        .max_buffered = DAEMON_MQTT_MAX_BUFFERED,
    };
    return bus__new(d->env.loop, &o);
}

/* glibc's heap after a start-up burst (10,000 users: their HTTP requests,
 * retained MQTT messages and WebSocket frames, freed between long-lived
 * per-user allocations) keeps the freed pages: measured ~15 MiB free of
 * ~58 MiB (malloc_stats, docs/performance.md section 4). Two counters:
 * - a fixed mmap threshold: glibc raises it to the size of any large block
 *   that was freed (up to 32 MiB), after which large response bodies (the
 *   users list, $batch answers) come from the heap and leave holes in it;
 * - malloc_trim() every DAEMON_TRIM_MS hands the free pages inside the heap
 *   back (glibc only trims the top by itself); it walks the free lists once
 *   (the debug log line gives its cost).
 * Together: 10,000 users with the mapper, VmRSS 73-75 -> 67 MiB; without
 * the mapper 35 -> 29 MiB.
 * - at most DAEMON_ARENA_MAX arenas: glibc gives each thread that allocates
 *   (Paho's two, the HTTP client's, libwebsockets', the workers) an arena
 *   of its own, up to 8 per core, and each keeps its own freed start-up
 *   memory; the loop thread has the main arena, the others share one.
 *   Set before any thread starts (docs/performance.md section 7). */
static void daemon__tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
    mallopt(M_ARENA_MAX, DAEMON_ARENA_MAX);
#endif
}

static void daemon__trim(void *arg)
{
    struct daemon *d = arg;
#ifdef __GLIBC__
    int64_t t0 = clock__mono_us();
    int released = malloc_trim(0);
    LOG_DEBUG("daemon", "malloc trimmed released=%d us=%lld", released,
              (long long)(clock__mono_us() - t0));
#endif
    d->trim_timer = loop__timer(d->env.loop, DAEMON_TRIM_MS, daemon__trim, d);
}

/* Everything up to the loop: returns 0, or -1 after logging why. */
static int daemon__setup(struct daemon *d)
{
    if (!(d->env.loop = loop__new())) {
        LOG_ERROR("daemon", "cannot create the event loop");
        return -1;
    }
    if (loop__on_signal(d->env.loop, SIGTERM, daemon__on_term, d) < 0 ||
        loop__on_signal(d->env.loop, SIGINT, daemon__on_int, d) < 0 ||
        loop__on_signal(d->env.loop, SIGHUP, daemon__reload, d) < 0) {
        LOG_ERROR("daemon", "cannot watch signals");
        return -1;
    }
    health__set("mqtt", false, "MQTT broker not connected yet");
    if (!(d->env.bus = daemon__new_bus(d))) {
        LOG_ERROR("daemon", "cannot set up MQTT url=%s", d->env.cfg->mqtt.url);
        return -1;
    }
    bus__on_connection(d->env.bus, daemon__on_mqtt, d);
    if (bus__subscribe(d->env.bus, d->state_topic, daemon__on_state, d) < 0) {
        LOG_ERROR("daemon", "cannot subscribe topic=%s", d->state_topic);
        return -1;
    }
    status__attach(d->env.loop, d->env.bus, d->health_topic, d->env.cfg->instance); /* B/health */
    if (daemon__start_http(d) < 0) {
        LOG_ERROR("daemon", "cannot set up the HTTP listener listen=%s", d->env.cfg->http.listen);
        return -1;
    }
    if (!(d->env.http_client = http_client__new(d->env.loop))) {
        LOG_ERROR("daemon", "cannot start the HTTP client");
        return -1;
    }
    if (daemon__init_components(d) < 0)
        return -1;
    /* Again: a side may have attached B/health itself (the Voice side does);
     * the topic of this process wins. */
    status__attach(d->env.loop, d->env.bus, d->health_topic, d->env.cfg->instance);
    if (http_server__start(d->env.http) < 0) {
        LOG_ERROR("daemon", "cannot listen listen=%s", d->env.cfg->http.listen);
        return -1;
    }
    if (bus__start(d->env.bus) < 0)
        return -1;
    d->trim_timer = loop__timer(d->env.loop, DAEMON_TRIM_MS, daemon__trim, d);
    return daemon__start_components(d);
}

/* The metrics of the process itself (docs/observability.md). */
static void daemon__core_metrics(struct daemon *d)
{
    char labels[160], roles[64];
    metrics__describe("build_info", METRIC_GAUGE,
                      "Always 1; the labels tell the version, instance and roles");
    metrics__describe("process_start_time_seconds", METRIC_GAUGE,
                      "Start time of the process, seconds since the Unix epoch");
    metrics__describe("uptime_seconds", METRIC_GAUGE, "Seconds since the process started");
    metrics__describe("users_configured", METRIC_GAUGE, "Users in the config, per tenant");
    metrics__labels(labels, sizeof(labels), "version", PS_VERSION, "instance", d->env.cfg->instance,
                    "roles", config__roles_name(d->env.roles, roles, sizeof(roles)), NULL);
    metrics__set("build_info", labels, 1);
    metrics__set("process_start_time_seconds", NULL, (double)(clock__wall_ms() / 1000));
    daemon_start_mono = clock__mono_ms();
    metrics__set("uptime_seconds", NULL, 0);
    metrics__set("mqtt_connected", NULL, 0);
    daemon__users_gauge(d->env.cfg);
}

int daemon__run(struct config *cfg, const struct tunables *tun)
{
    /* Before any thread exists (Paho, libwebsockets, curl): they inherit the
     * mask, so SIGTERM/SIGHUP reach only the loop's signalfd. */
    loop__block_signals();
    daemon__tune_malloc(); /* before other threads allocate */
    struct daemon d;
    memset(&d, 0, sizeof(d));
    d.env.cfg = cfg;
    d.env.services = &d.services;
    d.env.tun = tun;
    d.env.roles = cfg->roles ? cfg->roles : CONFIG_ROLE_ALL;
    /* Before any thread exists: every side encodes ids the same way. */
    ids__set_escape_dots(cfg->mqtt.escape_dots);
    char url[512], roles[64];
    http__url_for_log(cfg->mqtt.url, url, sizeof(url));
    LOG_INFO("daemon",
             "starting version=%s instance=%s mqtt=%s listen=%s tenants=%zu users=%zu roles=%s",
             PS_VERSION, cfg->instance, url, cfg->http.listen, cfg->n_tenants,
             config__total_users(cfg), config__roles_name(d.env.roles, roles, sizeof(roles)));
    daemon__core_metrics(&d);
    metrics__describe("config_reloads_total", METRIC_COUNTER, "Successful SIGHUP reloads");
    metrics__describe("config_reload_failures_total", METRIC_COUNTER,
                      "SIGHUP reloads rejected because the config was invalid");
    metrics__inc("config_reloads_total", NULL, 0);
    metrics__inc("config_reload_failures_total", NULL, 0);

    int rc = 1;
    if (daemon__setup(&d) == 0 && loop__run(d.env.loop) == 0 && d.stopping)
        rc = 0;
    if (!d.stopping) { /* failed setup or loop: still leave B/state offline */
        d.stopping = true;
        daemon__stop_components(&d);
        daemon__stop_http_client(&d);
        bus__stop(d.env.bus);
        if (d.env.http)
            http_server__stop(d.env.http);
        if (d.env.loop) {
            loop__stop(d.env.loop);
            loop__run(d.env.loop); /* drain what Paho posted; closes the loop */
        }
    }
    daemon__free_components(&d);
    status__detach();
    bus__free(d.env.bus);
    http_server__free(d.env.http);
    loop__free(d.env.loop);
    free(d.state_topic);
    free(d.health_topic);
    free(d.client_id);
    free(d.split_name);
    free(d.online_payload);
    free(d.offline_payload);
    LOG_INFO("daemon", "stopped exit_code=%d", rc);
    return rc;
}
