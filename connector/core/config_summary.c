/* The check-config summary: what the configuration amounts to, with the
 * warnings an operator should see before starting (never a secret).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/jsonconf.h"
#include "core/log.h"

/* Counts the secrets read; at debug level also logs where each came from
 * (the source, never the value). */
static size_t config_summary__note_secret(const char *what, size_t i, const char *name,
                                          const struct secret *s)
{
    if (!s->value)
        return 0;
    LOG_DEBUG("config", "secret read key=%s[%zu].%s source=%s", what, i, name,
              s->source ? s->source : "?");
    return 1;
}

static size_t config_summary__count_secrets(const struct config *cfg)
{
    size_t n = config_summary__note_secret("mqtt", 0, "password", &cfg->mqtt.password);

    for (size_t i = 0; i < cfg->n_tenants; i++) {
        const struct tenant_config *t = &cfg->tenants[i];
        n += config_summary__note_secret("tenants", i, "graph.client_secret",
                                         &t->graph.client_secret);
        n += config_summary__note_secret("tenants", i, "voice.secret_key", &t->voice.secret_key);
        n += config_summary__note_secret("tenants", i, "voice.webhook_secret",
                                         &t->voice.webhook_secret);
        for (size_t j = 0; j < t->graph.n_accounts; j++)
            n += config_summary__note_secret("tenants", i, "graph.service_accounts[].password",
                                             &t->graph.accounts[j].password);
    }
    return n;
}

/* How the tenant's GUID is known: notifications and token issuers always
 * carry the GUID (docs/graph.md, "Tenant id and signing keys"). check-config
 * reads nothing from the network, so a domain says where it will be read. */
static void config_summary__tenant_id(const struct graph_config *g, FILE *out)
{
    size_t n = strlen(g->login_url);
    while (n && g->login_url[n - 1] == '/')
        n--;
    if (jsonconf__is_guid(g->tenant_id))
        fprintf(out, "  tenant:   id %s (a GUID, as configured)\n", g->tenant_id);
    else
        fprintf(out,
                "  tenant:   %s is a domain: its GUID is resolved at start from the issuer of "
                "%.*s/%s/v2.0/.well-known/openid-configuration (shown in B/health)\n",
                g->tenant_id, (int)n, g->login_url, g->tenant_id);
}

static void config_summary__tenant(const struct tenant_config *t, FILE *out)
{
    const struct graph_config *g = &t->graph;
    const struct voice_config *v = &t->voice;

    fprintf(out, "tenant %s: %zu users%s%s\n", t->name, t->n_users, t->users_file ? " from " : "",
            t->users_file ? t->users_file : "");
    fprintf(out, "  graph:    tenant %s, client %s, api %s\n", g->tenant_id, g->client_id,
            g->api_url);
    config_summary__tenant_id(g, out);
    fprintf(out, "  accounts: %zu (", g->n_accounts);
    for (size_t i = 0; i < g->n_accounts; i++)
        fprintf(out, "%s%s", i ? ", " : "", g->accounts[i].username);
    fprintf(out, "), capacity %zu users (%d per account)\n",
            g->n_accounts * GRAPH_USERS_PER_ACCOUNT, GRAPH_USERS_PER_ACCOUNT);
    fprintf(out, "  notify:   encryption %s, session %d min, resync every %d min\n",
            g->encryption_cert_file ? "on" : "off", g->presence_session_minutes, g->resync_minutes);
    if (!g->encryption_cert_file)
        fprintf(out, "  warning:  %s\n", CONFIG_BASIC_NOTICE);
    if (v->api_url)
        fprintf(out, "  voice:    api %s (no discovery), user %s\n", v->api_url, v->username);
    else
        fprintf(out, "  voice:    discovery %s, user %s\n", v->discovery_url, v->username);
    fprintf(out, "  webhook:  %s\n", v->webhook_secret.value ? "on" : "off");
    if (v->talking.mode == TALKING_TEMPLATE)
        fprintf(out, "  talking:  %s %s\n", v->talking.method, v->talking.path);
    else if (v->talking.mode == TALKING_AVAILABILITY)
        fprintf(out, "  talking:  availability, EventTypeID %d, EventSource \"%s\"\n",
                v->talking.event_type_id, v->talking.event_source);
    else
        fprintf(out, "  talking:  off\n");
    fprintf(out, "  events:   %zu connected, %zu disconnected, %zu user status%s%s\n",
            v->events.connected.n, v->events.disconnected.n, v->events.user_status.n,
            v->events.status_field ? ", rule on " : "",
            v->events.status_field ? v->events.status_field : "");
    if (v->capture.file)
        fprintf(out, "  capture:  %s, %d per event\n", v->capture.file, v->capture.count);
    const char *w = config_voice__warning(v);
    if (w)
        fprintf(out, "  warning:  voice.%s\n", w);
}

/* A setup clearly meant for tests: the webhook on a loopback address, or
 * every tenant's Graph reached over plain http (a simulator). */
static bool config_summary__is_test_setup(const struct config *cfg)
{
    const char *u = cfg->http.public_url;
    const char *host = strstr(u, "://");
    host = host ? host + 3 : u;
    if (!strncmp(host, "127.", 4) || !strncasecmp(host, "localhost", 9) ||
        !strncmp(host, "[::1]", 5))
        return true;
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        if (strncmp(cfg->tenants[i].graph.api_url, "http://", 7) != 0)
            return false;
    }
    return cfg->n_tenants > 0;
}

void config_summary__print(const struct config *cfg, FILE *out)
{
    const struct mqtt_config *m = &cfg->mqtt;
    const struct http_config *h = &cfg->http;

    fprintf(out, "config %s: OK\n", cfg->path ? cfg->path : "(inline)");
    fprintf(out, "instance: %s, log_level %s\n", cfg->instance, log__level_name(cfg->log_level));
    fprintf(out, "mqtt:     %s, protocol %s, user %s%s, prefix \"%s\", bridge topic %s\n", m->url,
            m->protocol == 4 ? "3.1.1" : "5", m->username ? m->username : "(none)",
            m->password.value ? " with password" : "", m->topic_prefix, m->bridge_topic);
    fprintf(out, "http:     listen %s, public_url %s, tls %s, max body %zu bytes\n", h->listen,
            h->public_url, h->tls_cert_file ? "on" : "off", h->max_body_bytes);
    if (!strncmp(h->public_url, "http://", 7) && (cfg->roles & CONFIG_ROLE_GRAPH) &&
        !config_summary__is_test_setup(cfg))
        fprintf(out, "warning:  http.public_url is http://: Graph accepts only https:// "
                     "notification URLs, so no subscription can be created (docs/graph.md)\n");
    fprintf(out, "mapper:   %s, settle %d s\n", cfg->mapper.enabled ? "enabled" : "disabled",
            cfg->mapper.settle_seconds);
    char roles[64];
    fprintf(out, "roles:    %s; mqtt escape_dots %s; homeassistant %s%s\n",
            config__roles_name(cfg->roles, roles, sizeof(roles)), m->escape_dots ? "on" : "off",
            cfg->homeassistant.enabled ? "on, prefix " : "off",
            cfg->homeassistant.enabled ? cfg->homeassistant.prefix : "");
    for (size_t i = 0; i < cfg->n_tenants; i++)
        config_summary__tenant(&cfg->tenants[i], out);
    fprintf(out, "users: %zu in %zu tenant%s; secrets: %zu read\n", config__total_users(cfg),
            cfg->n_tenants, cfg->n_tenants == 1 ? "" : "s", config_summary__count_secrets(cfg));
}
