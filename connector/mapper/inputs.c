/* The mapper's inputs (docs/mapper.md "Inputs and outputs"): teams/+/busy
 * and voice/+/talking into the reconcile core, and at start the previous
 * run's retained B/sync/+ (which users may still hold a session of ours).
 *
 * The read-back window closes MAPPER_SEED_AFTER_CONNECT_MS after MQTT first
 * connected, or MAPPER_SEED_MAX_MS after start while MQTT is down (as the
 * Voice side's restart seeding, docs/voice.md). Until then the mapper acts
 * on nothing and publishes nothing: its own B/sync would replace the record
 * it has yet to read. Then it unsubscribes: its own later publishes need
 * not come back. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "mapper/mapper_int.h"

#define MAPPER_SEED_AFTER_CONNECT_MS 2000
#define MAPPER_SEED_MAX_MS           10000
#define MAPPER_SEED_TICK_MS          100

static int64_t inputs__jtime(const cJSON *o, const char *key, int64_t dflt)
{
    const char *s = json__str(o, key);
    int64_t t;
    return s && clock__parse_iso8601(s, &t) == 0 ? t : dflt;
}

/* `<prefix><id><suffix>` -> the user, or NULL (logged). */
static struct mapper_user *inputs__topic_user(struct mapper *m, const char *topic,
                                              const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), tl = strlen(topic);
    if (tl <= pl + sl || strncmp(topic, prefix, pl) != 0 || strcmp(topic + tl - sl, suffix) != 0)
        return NULL;
    char id[IDS_MAX_ID], addr[IDS_MAX_ADDRESS + 1];
    size_t il = tl - pl - sl;
    if (il >= sizeof(id))
        return NULL;
    memcpy(id, topic + pl, il);
    id[il] = '\0';
    if (ids__decode(id, addr, sizeof(addr)) != 0) {
        LOG_WARN(MAPPER_SUB, "bad user id in topic topic=%s", topic);
        metrics__inc("mapper_input_errors_total", NULL, 1);
        return NULL;
    }
    struct mapper_user *u = registry__find(m, id);
    if (!u)
        LOG_DEBUG(MAPPER_SUB, "topic for a user not configured topic=%s", topic);
    return u;
}

/* The Graph side names the user's object id in teams/<id>/busy: presence
 * is written and read by that id. Only an id's characters are taken;
 * anything else leaves it to the writer's own lookup. */
static void inputs__take_guid(struct mapper_user *u, const char *id)
{
    if (paths__is_object_id(id))
        snprintf(u->guid, sizeof(u->guid), "%s", id);
}

void inputs__on_teams(void *ctx, const char *topic, const char *payload, size_t len, bool retained)
{
    struct mapper *m = ctx;
    (void)retained;
    if (m->stopping || len == 0) /* an empty retained message: the topic was removed */
        return;
    struct mapper_user *u = inputs__topic_user(m, topic, m->teams_prefix, "/busy");
    if (!u)
        return;
    cJSON *o = json__parse(payload, len);
    const char *av = json__str(o, "availability");
    const char *act = json__str(o, "activity");
    if (!cJSON_IsObject(o) || !av || !act) {
        LOG_WARN(MAPPER_SUB, "bad teams payload, ignored topic=%s", topic);
        metrics__inc("mapper_input_errors_total", NULL, 1);
        cJSON_Delete(o);
        return;
    }
    int64_t now = clock__mono_ms();
    const char *src = json__str(o, "source");
    reconcile__teams_report(&u->state, &u->t->config, av, act,
                            inputs__jtime(o, "since", clock__wall_ms()),
                            src && strcmp(src, "resync") == 0 ? "resync" : "notification", now);
    LOG_DEBUG(MAPPER_SUB, "teams input id=%s availability=%s activity=%s origin=%d real=%d", u->id,
              av, act, (int)u->state.origin, (int)u->state.teams_real);
    inputs__take_guid(u, json__str(o, "user_id"));
    cJSON_Delete(o);
    registry__touch(u);
    mapper__schedule(m);
}

void inputs__on_voice(void *ctx, const char *topic, const char *payload, size_t len, bool retained)
{
    struct mapper *m = ctx;
    (void)retained;
    if (m->stopping || len == 0)
        return;
    struct mapper_user *u = inputs__topic_user(m, topic, m->voice_prefix, "/talking");
    if (!u)
        return;
    cJSON *o = json__parse(payload, len);
    const cJSON *talking = cJSON_GetObjectItemCaseSensitive(o, "talking");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(o, "calls");
    if (!cJSON_IsObject(o) || !cJSON_IsBool(talking) || (calls && !cJSON_IsNumber(calls))) {
        LOG_WARN(MAPPER_SUB, "bad voice payload, ignored topic=%s", topic);
        metrics__inc("mapper_input_errors_total", NULL, 1);
        cJSON_Delete(o);
        return;
    }
    int64_t now = clock__mono_ms();
    const char *src = json__str(o, "source");
    reconcile__voice_report(&u->state, cJSON_IsTrue(talking), calls ? calls->valueint : -1,
                            inputs__jtime(o, "since", clock__wall_ms()), src ? src : "rte", now);
    cJSON_Delete(o);
    registry__touch(u);
    mapper__schedule(m);
}

/* ---- the previous run's B/sync ---- */

enum reconcile_record inputs__record(const char *payload, size_t len, const char *tenant)
{
    cJSON *o = json__parse(payload, len);
    const char *t = json__str(o, "tenant");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "written");
    const char *session = json__str(cJSON_GetObjectItemCaseSensitive(w, "teams"), "session");
    enum reconcile_record rec = RECONCILE_RECORD_ABSENT;
    if (!t || strcmp(t, tenant) != 0 || !session) {
        cJSON_Delete(o);
        return rec;
    }
    if (strcmp(session, "busy") == 0 || strcmp(session, "unknown") == 0)
        rec = RECONCILE_RECORD_MAY_HOLD;
    else if (strcmp(session, "none") == 0)
        rec = RECONCILE_RECORD_NONE;
    /* A setPresence in flight when the run ended may have landed. */
    const cJSON *p = NULL;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "pending"))
    {
        const char *action = json__str(p, "action");
        if (action && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "in_flight")) &&
            (strcmp(action, "graph_set_busy") == 0 || strcmp(action, "graph_clear") == 0))
            rec = RECONCILE_RECORD_MAY_HOLD;
    }
    cJSON_Delete(o);
    return rec;
}

static void inputs__on_sync(void *ctx, const char *topic, const char *payload, size_t len,
                            bool retained)
{
    struct mapper *m = ctx;
    /* only the retained records of the previous run, while the window is
     * open; our own later publishes are not records */
    if (!m->seeding || m->stopping || !retained || len == 0)
        return;
    struct mapper_user *u = inputs__topic_user(m, topic, m->sync_prefix, "");
    if (!u)
        return;
    enum reconcile_record rec = inputs__record(payload, len, u->t->name);
    reconcile__restore(&u->state, rec);
    m->records++;
    LOG_DEBUG(MAPPER_SUB, "previous run's record tenant=%s id=%s session=%s", u->t->name, u->id,
              rec == RECONCILE_RECORD_MAY_HOLD ? "may_hold"
              : rec == RECONCILE_RECORD_NONE   ? "none"
                                               : "unknown");
}

static void inputs__seed_done(struct mapper *m)
{
    m->seeding = false;
    loop__timer_cancel(m->loop, m->seed_timer);
    m->seed_timer = 0;
    if (m->bus && m->sync_filter)
        bus__unsubscribe(m->bus, m->sync_filter, inputs__on_sync, m);
    LOG_INFO(MAPPER_SUB, "previous run's records read records=%zu", m->records);
    m->full_pass = true;
    mapper__schedule(m);
}

/* Polled: the bus tells only one listener (the daemon) about connects. */
static void inputs__seed_tick(void *arg)
{
    struct mapper *m = arg;
    m->seed_timer = 0;
    if (m->stopping)
        return;
    int64_t now = clock__mono_ms();
    if (!m->seed_connected_ms && bus__connected(m->bus))
        m->seed_connected_ms = now;
    if (m->seed_connected_ms && now - m->seed_connected_ms >= MAPPER_SEED_AFTER_CONNECT_MS) {
        inputs__seed_done(m);
        return;
    }
    if (!m->seed_connected_ms && now - m->seed_started_ms >= MAPPER_SEED_MAX_MS) {
        LOG_WARN(MAPPER_SUB, "MQTT not connected: starting without the previous run's records "
                             "(sessions are found by reading presence)");
        inputs__seed_done(m);
        return;
    }
    m->seed_timer = loop__timer(m->loop, MAPPER_SEED_TICK_MS, inputs__seed_tick, m);
}

int inputs__seed_start(struct mapper *m)
{
    m->seeding = true;
    m->seed_started_ms = clock__mono_ms();
    if (!m->bus) {
        inputs__seed_done(m);
        return 0;
    }
    if (!m->sync_filter || bus__subscribe(m->bus, m->sync_filter, inputs__on_sync, m) != 0) {
        LOG_ERROR(MAPPER_SUB, "cannot read the previous run's B/sync records");
        free(m->sync_filter);
        m->sync_filter = NULL;
        inputs__seed_done(m);
        return -1;
    }
    m->seed_timer = loop__timer(m->loop, MAPPER_SEED_TICK_MS, inputs__seed_tick, m);
    return 0;
}

void inputs__seed_stop(struct mapper *m)
{
    loop__timer_cancel(m->loop, m->seed_timer);
    m->seed_timer = 0;
    m->seeding = false;
}
