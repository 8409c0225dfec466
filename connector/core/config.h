/* The JSON configuration (docs/configuration.md), loaded into typed structs with
 * defaults. Errors name the JSON path of the bad value:
 *   tenants[0].graph.client_id: missing
 */
#ifndef PS_CONFIG_H
#define PS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <stdio.h>

#include "core/log.h"

#define GRAPH_USERS_PER_ACCOUNT 650
/* What check-config, the log at start and B/health say when a tenant has no
 * notification certificate (docs/graph.md, "Basic or rich notifications"). */
#define CONFIG_BASIC_NOTICE                                                            \
    "basic notifications (no certificate): since June 2024 Microsoft recommends rich " \
    "notifications to see changes during an active meeting call; set "                 \
    "graph.encryption_cert_file and graph.encryption_key_file"

/* A secret read from NAME_file or NAME_env. value is NULL when not set.
 * Never print value; print source ("file /etc/x" or "env X") instead. */
struct secret {
    char *value;
    size_t len;
    char *source;
};

struct service_account {
    char *username;
    struct secret password;
};

/* voice.talking_request (docs/voice.md "Writing 'talking'"): absent means
 * the Teams -> Voice writer is off; there is no default endpoint. */
enum talking_mode { TALKING_OFF = 0, TALKING_TEMPLATE, TALKING_AVAILABILITY };

struct talking_request {
    enum talking_mode mode; /* OFF when talking_request is absent */
    char *method;           /* template: default "PUT" */
    char *path;             /* template: required */
    char *body;             /* template: optional */
    int event_type_id;      /* availability: required */
    char *event_source;     /* availability: default "presence-sync" */
    char *note;             /* availability: optional */
};

/* One event of voice.events: its name and number (-1: none). */
struct voice_event_name {
    char *name;
    long long number;
};

struct voice_event_list {
    struct voice_event_name *items;
    size_t n;
};

/* voice.events (docs/voice.md "Event model"); absent members keep their
 * defaults (the model the project started with). */
struct voice_events_config {
    struct voice_event_list connected, disconnected, user_status;
    char **user_id_fields, **call_id_fields;
    size_t n_user_id_fields, n_call_id_fields;
    char *status_field; /* NULL: UserStatus is only logged */
    char **status_talking, **status_free;
    size_t n_status_talking, n_status_free;
};

/* voice.capture: file NULL when off. */
struct voice_capture_config {
    char *file;
    int count; /* default 20 */
};

struct graph_config {
    char *tenant_id;
    char *client_id;
    struct secret client_secret;
    char *login_url; /* default https://login.microsoftonline.com */
    char *api_url;   /* default https://graph.microsoft.com/v1.0 */
    struct service_account *accounts;
    size_t n_accounts;
    char *encryption_cert_file; /* NULL: basic notifications */
    char *encryption_key_file;
    char **busy_activities; /* default InACall, InAConferenceCall, Presenting */
    size_t n_busy_activities;
    int presence_session_minutes; /* default 15, 5..240 */
    int resync_minutes;           /* default 15, >= 1 */
};

struct voice_config {
    char *discovery_url; /* default https://discover.enreachvoice.com */
    char *api_url;       /* NULL: use discovery */
    char *username;
    struct secret secret_key;
    struct secret webhook_secret; /* value NULL: webhooks disabled */
    int max_call_minutes;         /* default 480 */
    char *ca_file;                /* NULL: the system CA store */
    struct talking_request talking;
    struct voice_events_config events;
    struct voice_capture_config capture;
};

struct tenant_config {
    char *name;   /* [a-z0-9-]+, unique */
    char **users; /* addresses as configured (from "users" or "users_file") */
    size_t n_users;
    char *users_file; /* NULL when users were inline */
    struct graph_config graph;
    struct voice_config voice;
};

struct mqtt_config {
    char *url; /* default mqtt://127.0.0.1:1883 */
    char *username;
    struct secret password;
    char *ca_file;
    char *topic_prefix; /* default "" */
    char *bridge_topic; /* default "presence-sync" */
    int protocol;       /* 5 or 4 (for "3.1.1") */
    bool escape_dots;   /* default false: ids write '.' as %2E (RabbitMQ) */
};

struct http_config {
    char *listen;      /* as given, default "127.0.0.1:8080" */
    char *listen_host; /* parsed from listen */
    int listen_port;
    char *public_url;
    char *tls_cert_file;
    char *tls_key_file;
    size_t max_body_bytes; /* default 4 MiB */
};

struct mapper_config {
    bool enabled;       /* default true */
    int settle_seconds; /* default 5 */
};

/* Home Assistant MQTT discovery (docs/homeassistant.md). */
struct hass_config {
    bool enabled; /* default false */
    char *prefix; /* default "homeassistant" */
};

/* Roles of one process (split deployment, docs/operations.md): which of
 * the Graph side, the Voice side and the mapper it runs. */
#define CONFIG_ROLE_GRAPH  1u
#define CONFIG_ROLE_VOICE  2u
#define CONFIG_ROLE_MAPPER 4u
#define CONFIG_ROLE_ALL    (CONFIG_ROLE_GRAPH | CONFIG_ROLE_VOICE | CONFIG_ROLE_MAPPER)

struct config {
    char *path; /* the file it was loaded from */
    char *instance;
    enum ps_log_level log_level;
    struct mqtt_config mqtt;
    struct http_config http;
    struct tenant_config *tenants;
    size_t n_tenants;
    struct mapper_config mapper;
    struct hass_config homeassistant;
    unsigned roles; /* CONFIG_ROLE_* bits; default CONFIG_ROLE_ALL */
    /* Set by main.c when --role / --listen override the file; a SIGHUP
     * reload then keeps them (they are not restart-only changes). */
    bool roles_from_cli, listen_from_cli;
};

struct config_error {
    char path[256]; /* JSON path, e.g. tenants[0].graph.client_id */
    char msg[512];
};

/* Loads and validates path; reads every secret it names. Returns 0, or -1
 * with err filled. Secret files readable by group/others are warned about. */
int config__load(const char *path, struct config **out, struct config_error *err);
/* Parses a JSON text (no file); base_dir resolves relative file paths. */
int config__parse(const char *json, const char *base_dir, struct config **out,
                  struct config_error *err);
void config__free(struct config *cfg);

/* Users across all tenants; and the accounts needed for n users. */
size_t config__total_users(const struct config *cfg);
size_t config__accounts_needed(size_t n_users);

/* Adds the roles named in s ("graph", "voice", "mapper", "all"; several
 * separated by commas) to *roles. Returns 0, or -1 for an unknown or empty
 * name. */
int config__parse_roles(const char *s, unsigned *roles);
/* Replaces http.listen ("host:port" or "[v6]:port"), e.g. from --listen.
 * Returns 0, or -1 with err filled (path "http.listen"). */
int config__set_listen(struct config *cfg, const char *listen, struct config_error *err);
/* "graph,voice,mapper" or "all"; buf of at least 32 bytes. */
const char *config__roles_name(unsigned roles, char *buf, size_t len);

/* The tenant called name, or NULL. */
struct tenant_config *config__tenant(const struct config *cfg, const char *name);
/* Logs, at warn, each key that differs between the running config and a
 * reloaded one and that only a restart applies (config_diff.c). */
void config__warn_restart_only(const struct config *cur, const struct config *neu);

/* Prints the check-config summary (never secrets); config_summary.c. */
void config_summary__print(const struct config *cfg, FILE *out);

/* core/config_voice.c: the voice keys beyond the field table
 * (talking_request, events, capture). voice is the tenant's "voice" object,
 * path its JSON path. Return 0, or -1 with err filled (the JSON path of the
 * bad value). */
struct cJSON;
int config_voice__parse(const struct cJSON *voice, const char *path, const char *base_dir,
                        struct voice_config *v, struct config_error *err);
void config_voice__free(struct voice_config *v);
/* A check-config line about the tenant's Voice settings that deserve a
 * warning (e.g. no talking_request), or NULL. */
const char *config_voice__warning(const struct voice_config *v);

/* core/config_users.c: the tenant's "users" or "users_file" (tenant is the
 * tenant's object, tpath its JSON path) into t->users. Returns 0, or -1
 * with the error in c (the JSON path, or the users file and line). */
struct jsonconf;
int config_users__parse(struct jsonconf *c, const struct cJSON *tenant, const char *tpath,
                        struct tenant_config *t);

/* Reads secret from NAME_file / NAME_env members of a JSON object. Returns 0
 * (value may be NULL when neither is given), -1 with err on failure. */
struct cJSON;
int secret__read(const struct cJSON *obj, const char *name, const char *json_path,
                 const char *base_dir, struct secret *out, struct config_error *err);
void secret__free(struct secret *s);

#endif
