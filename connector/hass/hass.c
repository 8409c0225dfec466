/* Home Assistant MQTT discovery; see hass.h and docs/homeassistant.md.
 * Everything runs on the loop thread. */
#include "hass/hass.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "core/bus.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/log.h"
#include "component.h"

#define SUB             "hass"
#define HASS_NODE_CHARS 40

struct hass_user {
    char *address; /* as configured: the device name */
    char id[IDS_MAX_ID];
    char node[HASS_NODE_MAX];
};

struct hass {
    const struct daemon_env *env;
    char *prefix;       /* discovery prefix */
    char *topic_prefix; /* P */
    bool teams, voice;  /* which sensors this process announces */
    struct hass_user *users;
    size_t n_users;
};

/* One kind of sensor. */
struct hass_sensor {
    const char *object; /* object id and unique_id suffix */
    const char *name;
    const char *side;  /* "teams" or "voice" */
    const char *leaf;  /* "busy" or "talking" */
    const char *field; /* the boolean in the state payload */
    const char *icon;
};

static const struct hass_sensor hass_teams = {"teams_busy", "Teams busy", "teams",
                                              "busy",       "busy",       "mdi:microsoft-teams"};
static const struct hass_sensor hass_voice = {
    "voice_talking", "Voice talking", "voice", "talking", "talking", "mdi:phone-in-talk"};

int hass__node_id(const char *topic_prefix, const char *address, char *out, size_t len)
{
    char lower[IDS_MAX_ADDRESS + 1];
    size_t n = strlen(address);
    if (n > IDS_MAX_ADDRESS || len < HASS_NODE_CHARS + 10)
        return -1;
    for (size_t i = 0; i <= n; i++)
        lower[i] =
            (char)(address[i] >= 'A' && address[i] <= 'Z' ? address[i] - 'A' + 'a' : address[i]);
    /* The hash makes the id unique; the letters make it readable. */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(ctx, topic_prefix, strlen(topic_prefix)) &&
              EVP_DigestUpdate(ctx, lower, n) && EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    if (!ok || md_len < 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n && o < HASS_NODE_CHARS; i++) {
        unsigned char c = (unsigned char)lower[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        out[o++] = plain ? (char)c : '_';
    }
    snprintf(out + o, len - o, "_%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
    return 0;
}

/* ---- configs ------------------------------------------------------------------ */

static char *hass__topic(const struct hass *h, const struct hass_user *u,
                         const struct hass_sensor *s)
{
    char *t = NULL;
    if (asprintf(&t, "%s/binary_sensor/%s/%s/config", h->prefix, u->node, s->object) < 0)
        return NULL;
    return t;
}

static char *hass__config(const struct hass *h, const struct hass_user *u,
                          const struct hass_sensor *s)
{
    char state[IDS_MAX_ID + 512], uid[HASS_NODE_MAX + 64], tmpl[128], ident[IDS_MAX_ID + 32];
    snprintf(state, sizeof(state), "%s%s/%s/%s", h->topic_prefix, s->side, u->id, s->leaf);
    snprintf(uid, sizeof(uid), "presence_sync_%s_%s", u->node, s->object);
    snprintf(tmpl, sizeof(tmpl), "{{ 'ON' if value_json.%s else 'OFF' }}", s->field);
    snprintf(ident, sizeof(ident), "presence-sync_%s", u->node);
    cJSON *o = cJSON_CreateObject();
    cJSON *avail = cJSON_AddArrayToObject(o, "availability");
    cJSON *a = cJSON_CreateObject();
    cJSON *dev = cJSON_AddObjectToObject(o, "device");
    cJSON *ids = cJSON_AddArrayToObject(dev, "identifiers");
    cJSON *origin = cJSON_AddObjectToObject(o, "origin");
    char *out = NULL;
    if (a && cJSON_AddItemToArray(avail, a) && cJSON_AddStringToObject(o, "name", s->name) &&
        cJSON_AddStringToObject(o, "unique_id", uid) &&
        cJSON_AddStringToObject(o, "state_topic", state) &&
        cJSON_AddStringToObject(o, "value_template", tmpl) &&
        cJSON_AddStringToObject(o, "payload_on", "ON") &&
        cJSON_AddStringToObject(o, "payload_off", "OFF") && cJSON_AddNumberToObject(o, "qos", 1) &&
        cJSON_AddStringToObject(o, "icon", s->icon) &&
        cJSON_AddStringToObject(a, "topic", h->env->state_topic) &&
        cJSON_AddStringToObject(a, "value_template", "{{ value_json.state }}") &&
        cJSON_AddStringToObject(a, "payload_available", "online") &&
        cJSON_AddStringToObject(a, "payload_not_available", "offline") &&
        cJSON_AddItemToArray(ids, cJSON_CreateString(ident)) &&
        cJSON_AddStringToObject(dev, "name", u->address) &&
        cJSON_AddStringToObject(dev, "manufacturer", "presence-sync") &&
        cJSON_AddStringToObject(dev, "model", "Teams / Enreach Voice presence") &&
        cJSON_AddStringToObject(dev, "sw_version", PS_VERSION) &&
        cJSON_AddStringToObject(origin, "name", "presence-sync") &&
        cJSON_AddStringToObject(origin, "sw", PS_VERSION))
        out = cJSON_PrintUnformatted(o);
    else if (a && !cJSON_IsArray(avail))
        cJSON_Delete(a);
    cJSON_Delete(o);
    return out;
}

/* force: republish even when unchanged (HA restarted and forgot them). */
static void hass__publish_one(struct hass *h, const struct hass_user *u,
                              const struct hass_sensor *s, bool force)
{
    char *topic = hass__topic(h, u, s);
    char *cfg = topic ? hass__config(h, u, s) : NULL;
    int rc = -1;
    if (cfg)
        rc = force ? bus__publish(h->env->bus, topic, cfg, strlen(cfg), true)
                   : bus__publish_state(h->env->bus, topic, cfg);
    if (rc < 0)
        LOG_WARN(SUB, "cannot publish a discovery config topic=%s", topic ? topic : "?");
    free(cfg);
    free(topic);
}

static void hass__publish_user(struct hass *h, const struct hass_user *u, bool force)
{
    if (h->teams)
        hass__publish_one(h, u, &hass_teams, force);
    if (h->voice)
        hass__publish_one(h, u, &hass_voice, force);
}

static void hass__clear_user(struct hass *h, const struct hass_user *u)
{
    const struct hass_sensor *s[2] = {h->teams ? &hass_teams : NULL, h->voice ? &hass_voice : NULL};
    for (size_t i = 0; i < 2; i++) {
        char *topic = s[i] ? hass__topic(h, u, s[i]) : NULL;
        if (topic && bus__clear_state(h->env->bus, topic) < 0)
            LOG_WARN(SUB, "cannot clear a discovery config topic=%s", topic);
        free(topic);
    }
}

/* ---- users -------------------------------------------------------------------- */

static void hass__free_users(struct hass_user *users, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(users[i].address);
    free(users);
}

/* All tenants' users of cfg. Returns 0 or -1. */
static int hass__load_users(const struct hass *h, const struct config *cfg, struct hass_user **out,
                            size_t *n_out)
{
    size_t total = config__total_users(cfg), n = 0;
    struct hass_user *users = calloc(total ? total : 1, sizeof(*users));
    if (!users)
        return -1;
    for (size_t t = 0; t < cfg->n_tenants; t++) {
        for (size_t i = 0; i < cfg->tenants[t].n_users; i++) {
            struct hass_user *u = &users[n];
            const char *addr = cfg->tenants[t].users[i];
            if (ids__encode(addr, u->id, sizeof(u->id)) < 0 ||
                hass__node_id(h->topic_prefix, addr, u->node, sizeof(u->node)) < 0 ||
                !(u->address = strdup(addr))) {
                hass__free_users(users, n);
                return -1;
            }
            n++;
        }
    }
    *out = users;
    *n_out = n;
    return 0;
}

static const struct hass_user *hass__find(const struct hass_user *users, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(users[i].id, id) == 0)
            return &users[i];
    }
    return NULL;
}

static void hass__publish_all(struct hass *h, bool force)
{
    for (size_t i = 0; i < h->n_users; i++)
        hass__publish_user(h, &h->users[i], force);
    LOG_INFO(SUB, "discovery configs published users=%zu prefix=%s%s", h->n_users, h->prefix,
             force ? " reason=homeassistant-online" : "");
}

/* <prefix>/status: Home Assistant's birth ("online") and will ("offline"). */
static void hass__on_status(void *ctx, const char *topic, const char *payload, size_t len,
                            bool retained)
{
    (void)topic, (void)retained;
    struct hass *h = ctx;
    if (len == 6 && memcmp(payload, "online", 6) == 0)
        hass__publish_all(h, true);
}

/* ---- component hooks ------------------------------------------------------------ */

static void hass__free(void *state)
{
    struct hass *h = state;
    if (!h)
        return;
    hass__free_users(h->users, h->n_users);
    free(h->prefix);
    free(h->topic_prefix);
    free(h);
}

static int hass__init(const struct daemon_env *env, void **state)
{
    const struct config *cfg = env->cfg;
    *state = NULL;
    if (!cfg->homeassistant.enabled)
        return 0;
    struct hass *h = calloc(1, sizeof(*h));
    char *status = NULL;
    if (!h)
        return -1;
    h->env = env;
    h->teams = (env->roles & CONFIG_ROLE_GRAPH) != 0;
    h->voice = (env->roles & CONFIG_ROLE_VOICE) != 0;
    h->prefix = strdup(cfg->homeassistant.prefix);
    h->topic_prefix = strdup(cfg->mqtt.topic_prefix ? cfg->mqtt.topic_prefix : "");
    if (!h->prefix || !h->topic_prefix || !env->state_topic ||
        hass__load_users(h, cfg, &h->users, &h->n_users) < 0 ||
        asprintf(&status, "%s/status", h->prefix) < 0 || !env->bus ||
        bus__subscribe(env->bus, status, hass__on_status, h) < 0) {
        LOG_ERROR(SUB, "cannot set up Home Assistant discovery");
        if (status)
            free(status);
        hass__free(h);
        return -1;
    }
    free(status);
    *state = h;
    return 0;
}

static int hass__start(void *state)
{
    struct hass *h = state;
    if (h)
        hass__publish_all(h, false);
    return 0;
}

/* Clears the configs of users no longer listed, publishes new users'. */
static void hass__reload(void *state)
{
    struct hass *h = state;
    struct hass_user *users;
    size_t n, added = 0, removed = 0;
    if (!h)
        return;
    if (hass__load_users(h, h->env->cfg, &users, &n) < 0) {
        LOG_ERROR(SUB, "out of memory; discovery configs not updated");
        return;
    }
    for (size_t i = 0; i < h->n_users; i++) {
        if (!hass__find(users, n, h->users[i].id)) {
            hass__clear_user(h, &h->users[i]);
            removed++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        added += hass__find(h->users, h->n_users, users[i].id) == NULL;
        hass__publish_user(h, &users[i], false); /* unchanged ones are not resent */
    }
    hass__free_users(h->users, h->n_users);
    h->users = users;
    h->n_users = n;
    LOG_INFO(SUB, "discovery configs updated added=%zu removed=%zu users=%zu", added, removed, n);
}

const struct daemon_component hass_component = {
    .name = "homeassistant",
    .init = hass__init,
    .start = hass__start,
    .reload = hass__reload,
    .free = hass__free,
};
