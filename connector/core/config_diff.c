/* What a SIGHUP reload cannot apply: the keys whose change needs a restart,
 * said in the log instead of pretended (docs/operations.md). A reload
 * applies the user lists and the log level; everything else, including the
 * rest of each tenant's graph and voice objects, is read once at start.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

struct tenant_config *config__tenant(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        if (strcmp(cfg->tenants[i].name, name) == 0)
            return &cfg->tenants[i];
    }
    return NULL;
}

static bool diff__str(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static bool diff__strs(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return true;
    for (size_t i = 0; i < na; i++) {
        if (diff__str(a[i], b[i]))
            return true;
    }
    return false;
}

/* Secrets compare by value; only the key is ever logged. */
static bool diff__secret(const struct secret *a, const struct secret *b)
{
    return a->len != b->len || (a->value == NULL) != (b->value == NULL) ||
           (a->value && memcmp(a->value, b->value, a->len) != 0);
}

static void diff__warn(const char *tenant, const char *key)
{
    LOG_WARN("config", "changed; takes effect after a restart key=tenants[%s].%s", tenant, key);
}

static bool diff__events(const struct voice_event_list *a, const struct voice_event_list *b)
{
    if (a->n != b->n)
        return true;
    for (size_t i = 0; i < a->n; i++) {
        if (diff__str(a->items[i].name, b->items[i].name) ||
            a->items[i].number != b->items[i].number)
            return true;
    }
    return false;
}

static bool diff__event_model(const struct voice_events_config *a,
                              const struct voice_events_config *b)
{
    return diff__events(&a->connected, &b->connected) ||
           diff__events(&a->disconnected, &b->disconnected) ||
           diff__events(&a->user_status, &b->user_status) ||
           diff__strs(a->user_id_fields, a->n_user_id_fields, b->user_id_fields,
                      b->n_user_id_fields) ||
           diff__strs(a->call_id_fields, a->n_call_id_fields, b->call_id_fields,
                      b->n_call_id_fields) ||
           diff__str(a->status_field, b->status_field) ||
           diff__strs(a->status_talking, a->n_status_talking, b->status_talking,
                      b->n_status_talking) ||
           diff__strs(a->status_free, a->n_status_free, b->status_free, b->n_status_free);
}

static bool diff__talking(const struct talking_request *a, const struct talking_request *b)
{
    return a->mode != b->mode || diff__str(a->method, b->method) || diff__str(a->path, b->path) ||
           diff__str(a->body, b->body) || a->event_type_id != b->event_type_id ||
           diff__str(a->event_source, b->event_source) || diff__str(a->note, b->note);
}

static void diff__voice(const char *t, const struct voice_config *a, const struct voice_config *b)
{
    if (diff__str(a->discovery_url, b->discovery_url))
        diff__warn(t, "voice.discovery_url");
    if (diff__str(a->api_url, b->api_url))
        diff__warn(t, "voice.api_url");
    if (diff__str(a->username, b->username))
        diff__warn(t, "voice.username");
    if (diff__secret(&a->secret_key, &b->secret_key))
        diff__warn(t, "voice.secret_key");
    if (diff__secret(&a->webhook_secret, &b->webhook_secret))
        diff__warn(t, "voice.webhook_secret");
    if (a->max_call_minutes != b->max_call_minutes)
        diff__warn(t, "voice.max_call_minutes");
    if (diff__str(a->ca_file, b->ca_file))
        diff__warn(t, "voice.ca_file");
    if (diff__talking(&a->talking, &b->talking))
        diff__warn(t, "voice.talking_request");
    if (diff__event_model(&a->events, &b->events))
        diff__warn(t, "voice.events");
    if (diff__str(a->capture.file, b->capture.file) || a->capture.count != b->capture.count)
        diff__warn(t, "voice.capture");
}

static bool diff__accounts(const struct graph_config *a, const struct graph_config *b)
{
    if (a->n_accounts != b->n_accounts)
        return true;
    for (size_t i = 0; i < a->n_accounts; i++) {
        if (diff__str(a->accounts[i].username, b->accounts[i].username) ||
            diff__secret(&a->accounts[i].password, &b->accounts[i].password))
            return true;
    }
    return false;
}

static void diff__graph(const char *t, const struct graph_config *a, const struct graph_config *b)
{
    if (diff__str(a->tenant_id, b->tenant_id))
        diff__warn(t, "graph.tenant_id");
    if (diff__str(a->client_id, b->client_id))
        diff__warn(t, "graph.client_id");
    if (diff__secret(&a->client_secret, &b->client_secret))
        diff__warn(t, "graph.client_secret");
    if (diff__str(a->login_url, b->login_url) || diff__str(a->api_url, b->api_url))
        diff__warn(t, "graph.login_url/api_url");
    if (diff__accounts(a, b))
        diff__warn(t, "graph.service_accounts");
    if (diff__str(a->encryption_cert_file, b->encryption_cert_file) ||
        diff__str(a->encryption_key_file, b->encryption_key_file))
        diff__warn(t, "graph.encryption_cert_file/encryption_key_file");
    if (diff__strs(a->busy_activities, a->n_busy_activities, b->busy_activities,
                   b->n_busy_activities))
        diff__warn(t, "graph.busy_activities");
    if (a->presence_session_minutes != b->presence_session_minutes)
        diff__warn(t, "graph.presence_session_minutes");
    if (a->resync_minutes != b->resync_minutes)
        diff__warn(t, "graph.resync_minutes");
}

static void diff__global(const struct config *cur, const struct config *neu)
{
    struct {
        const char *key, *a, *b;
    } keys[] = {
        {"instance", cur->instance, neu->instance},
        {"mqtt.url", cur->mqtt.url, neu->mqtt.url},
        {"mqtt.username", cur->mqtt.username, neu->mqtt.username},
        {"mqtt.ca_file", cur->mqtt.ca_file, neu->mqtt.ca_file},
        {"mqtt.topic_prefix", cur->mqtt.topic_prefix, neu->mqtt.topic_prefix},
        {"mqtt.bridge_topic", cur->mqtt.bridge_topic, neu->mqtt.bridge_topic},
        {"http.listen", cur->http.listen,
         cur->listen_from_cli ? cur->http.listen : neu->http.listen},
        {"http.public_url", cur->http.public_url, neu->http.public_url},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (diff__str(keys[i].a, keys[i].b))
            LOG_WARN("config", "changed; takes effect after a restart key=%s", keys[i].key);
    }
    if (diff__secret(&cur->mqtt.password, &neu->mqtt.password))
        LOG_WARN("config", "changed; takes effect after a restart key=mqtt.password");
    if (diff__str(cur->http.tls_cert_file, neu->http.tls_cert_file) ||
        diff__str(cur->http.tls_key_file, neu->http.tls_key_file))
        LOG_WARN("config",
                 "changed; takes effect after a restart key=http.tls_cert_file/tls_key_file");
    if (cur->http.max_body_bytes != neu->http.max_body_bytes)
        LOG_WARN("config", "changed; takes effect after a restart key=http.max_body_bytes");
    if (cur->mapper.enabled != neu->mapper.enabled ||
        cur->mapper.settle_seconds != neu->mapper.settle_seconds)
        LOG_WARN("config", "changed; takes effect after a restart key=mapper");
    if (cur->mqtt.protocol != neu->mqtt.protocol)
        LOG_WARN("config", "changed; takes effect after a restart key=mqtt.protocol");
    if (cur->mqtt.escape_dots != neu->mqtt.escape_dots)
        LOG_WARN("config", "changed; takes effect after a restart key=mqtt.escape_dots");
    if (!cur->roles_from_cli && cur->roles != neu->roles)
        LOG_WARN("config", "changed; takes effect after a restart key=roles");
    if (cur->homeassistant.enabled != neu->homeassistant.enabled ||
        diff__str(cur->homeassistant.prefix, neu->homeassistant.prefix))
        LOG_WARN("config", "changed; takes effect after a restart key=homeassistant");
}

void config__warn_restart_only(const struct config *cur, const struct config *neu)
{
    diff__global(cur, neu);
    for (size_t i = 0; i < neu->n_tenants; i++) {
        const struct tenant_config *n = &neu->tenants[i];
        const struct tenant_config *c = config__tenant(cur, n->name);
        if (!c) {
            LOG_WARN("config", "tenant added; takes effect after a restart tenant=%s", n->name);
            continue;
        }
        diff__graph(n->name, &c->graph, &n->graph);
        diff__voice(n->name, &c->voice, &n->voice);
    }
    for (size_t i = 0; i < cur->n_tenants; i++) {
        if (!config__tenant(neu, cur->tenants[i].name))
            LOG_WARN("config", "tenant removed; takes effect after a restart tenant=%s",
                     cur->tenants[i].name);
    }
}
