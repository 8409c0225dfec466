/* The probe's Voice checks, REST part (docs/voice.md, "Assumptions" A1-A5):
 * discovery, the integration user's sign-in (/users/me), the user map both
 * ways; the RTE hub is voice_hub.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "probe/probe_int.h"
#include "voice/discovery.h"
#include "voice/rest.h"

#define VOICE_CALL_MS  30000
#define VOICE_LIST_MAX 20

static bool voice__discover(struct probe *p, struct probe_tenant *t, struct voice_rest *rest)
{
    const struct voice_config *v = &t->tc->voice;
    if (v->api_url) {
        voice_rest__set_api(rest, v->api_url);
        probe_report__check(p->report, "voice.discovery", "discovery", PROBE_OK, NULL,
                            "skipped: voice.api_url is set (%s)", v->api_url);
        return true;
    }
    struct probe_pending *w = probe_pending__new();
    struct probe_answer a;
    char why[600], err[200];
    if (!w ||
        voice_rest__discover(rest, v->discovery_url, v->username, probe_pending__http, w) != 0)
        probe_pending__not_sent(w, &a);
    else
        probe_pending__wait(p, w, VOICE_CALL_MS, &a);
    char *api = NULL;
    bool ok = a.status == 200 &&
              discovery__parse_endpoint(a.body, a.body_len, &api, err, sizeof(err)) == 0;
    if (ok) {
        voice_rest__set_api(rest, api);
        probe_report__check(p->report, "voice.discovery", "discovery", PROBE_OK, NULL,
                            "%s is served by %s", v->username, api);
    }
    else if (a.status == 200) {
        probe_report__check(p->report, "voice.discovery", "discovery", PROBE_FAIL,
                            "voice.username must be the integration user's e-mail address; or "
                            "ask Enreach for the API address and set voice.api_url",
                            "discovery at %s does not know %s: %s", v->discovery_url, v->username,
                            err);
    }
    else {
        probe_report__check(p->report, "voice.discovery", "discovery", PROBE_FAIL,
                            "let this host reach voice.discovery_url over HTTPS (DNS, proxy, "
                            "firewall), or set voice.api_url",
                            "discovery at %s failed: %s", v->discovery_url,
                            probe__reason(&a, why, sizeof(why)));
    }
    free(api);
    probe_answer__free(&a);
    return ok;
}

/* /users/me: the key works; the caller's id (malloc'd) or NULL. */
static char *voice__me(struct probe *p, struct probe_tenant *t, struct voice_rest *rest)
{
    struct probe_answer a;
    char why[600], err[200];
    char *me = NULL;
    probe__voice(p, rest, "GET", "/users/me", VOICE_CALL_MS, &a);
    if (a.status == 200 && discovery__parse_me(a.body, a.body_len, &me, err, sizeof(err)) == 0) {
        probe_report__check(p->report, "voice.auth", "sign-in", PROBE_OK, NULL,
                            "%s signed in with its API secret key (user id %s)",
                            t->tc->voice.username, me);
    }
    else if (a.status == 401 || a.status == 403) {
        probe_report__check(p->report, "voice.auth", "sign-in", PROBE_FAIL,
                            "voice.username is the integration user and secret_key_file its API "
                            "secret key (not its password), on one line",
                            "the API refused the credentials of %s: %s", t->tc->voice.username,
                            probe__reason(&a, why, sizeof(why)));
    }
    else {
        probe_report__check(p->report, "voice.auth", "sign-in", PROBE_FAIL,
                            "check voice.api_url (or discovery) and the network to it",
                            "GET /users/me failed: %s",
                            a.status == 200 ? err : probe__reason(&a, why, sizeof(why)));
    }
    probe_answer__free(&a);
    return me;
}

static void voice__list(const char *const *names, size_t n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < VOICE_LIST_MAX && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", names[i]);
    if (n > VOICE_LIST_MAX && k < len)
        snprintf(buf + k, len - k, " and %zu more", n - VOICE_LIST_MAX);
}

/* Voice users that no configured address matched (the reverse direction). */
static void voice__unconfigured(struct probe *p, const struct voice_users *users,
                                const struct voice_mapping *m)
{
    const char **names = calloc(users->n + 1, sizeof(*names));
    size_t n = 0;
    char list[2048];
    for (size_t i = 0; names && i < users->n; i++) {
        bool used = false;
        for (size_t k = 0; k < m->n_matched && !used; k++)
            used = strcasecmp(m->matched[k].user_id, users->items[i].id) == 0;
        if (!used)
            names[n++] = users->items[i].email      ? users->items[i].email
                         : users->items[i].username ? users->items[i].username
                                                    : users->items[i].id;
    }
    voice__list(names, n, list, sizeof(list));
    probe_report__check(p->report, "voice.users_unconfigured", "Voice users not configured",
                        PROBE_OK, NULL, "%zu of %zu Voice users are not in the config%s%s", n,
                        users->n, n ? " (not synced): " : "", list);
    free(names);
}

static void voice__map(struct probe *p, struct probe_tenant *t, const struct voice_users *users)
{
    const struct tenant_config *tc = t->tc;
    struct voice_mapping m;
    char list[2048];
    if (discovery__map_users(users, (const char *const *)tc->users, tc->n_users, &m) != 0)
        return;
    size_t by_email = 0;
    for (size_t k = 0; k < m.n_matched; k++) {
        for (size_t i = 0; i < tc->n_users; i++) {
            if (m.matched[k].address == tc->users[i] && !t->voice_ids[i])
                t->voice_ids[i] = strdup(m.matched[k].user_id);
        }
        by_email += strcmp(m.matched[k].field, "Email") == 0;
    }
    t->n_voice = m.n_matched;
    if (m.n_missing) {
        voice__list(m.missing, m.n_missing, list, sizeof(list));
        probe_report__check(p->report, "voice.users", "users", PROBE_FAIL,
                            "give these users in Enreach Voice the e-mail address or user name "
                            "of the config (their Teams sign-in name), or remove them from the "
                            "config; their calls cannot be followed",
                            "%zu of %zu users are not in Voice: %s", m.n_missing, tc->n_users,
                            list);
    }
    else {
        probe_report__check(p->report, "voice.users", "users", PROBE_OK, NULL,
                            "all %zu users found in Voice (%zu by user name, %zu by e-mail)",
                            tc->n_users, m.n_matched - by_email, by_email);
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "voice_users", (double)users->n);
    cJSON_AddNumberToObject(d, "matched", (double)m.n_matched);
    cJSON_AddNumberToObject(d, "missing", (double)m.n_missing);
    probe_report__details(p->report, d);
    voice__unconfigured(p, users, &m);
    voice_mapping__free(&m);
}

static void voice__users(struct probe *p, struct probe_tenant *t, struct voice_rest *rest)
{
    struct probe_answer a;
    struct voice_users users = {0};
    char why[600], err[200];
    probe__voice(p, rest, "GET", "/users", VOICE_CALL_MS, &a);
    if (a.status == 200 &&
        discovery__parse_users(a.body, a.body_len, &users, err, sizeof(err)) == 0)
        voice__map(p, t, &users);
    else
        probe_report__check(p->report, "voice.users", "users", PROBE_FAIL,
                            "the integration user must see every user (ask Enreach which role "
                            "allows it)",
                            "the user list cannot be read: %s",
                            a.status == 200 ? err : probe__reason(&a, why, sizeof(why)));
    voice_users__free(&users);
    probe_answer__free(&a);
}

void probe_voice__run(struct probe *p, struct probe_tenant *t)
{
    const struct voice_config *v = &t->tc->voice;
    probe_report__group(p->report, "voice", t->tc->name);
    struct voice_rest *rest = voice_rest__new(p->http, v->username, v->secret_key.value);
    if (!rest || voice_rest__set_tenant(rest, t->tc->name) != 0 ||
        voice_rest__set_ca_file(rest, v->ca_file) != 0) {
        voice_rest__free(rest);
        return;
    }
    char *me = NULL;
    if (!voice__discover(p, t, rest) || p->interrupted || !(me = voice__me(p, t, rest)) ||
        p->interrupted) {
        voice_rest__free(rest);
        return;
    }
    t->rest = rest;
    voice__users(p, t, rest);
    if (!p->interrupted)
        probe_hub__run(p, t, me);
    free(me);
}
