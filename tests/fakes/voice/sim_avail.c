/* Availability entries: what `POST /users/{id}/availability` creates
 * (public client code: mokso/enreachvoice Example.ipynb) and what the user
 * makes in the Voice app (the control API's stand-in). The newest entry of
 * a user is their current availability. */
#include "sim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"

#define SIM_MAX_AVAIL 10000

struct sim_avail *sim__avail_add(struct sim *s, const char *user_id, int event_type_id,
                                 const char *source, const char *note, int64_t now_ms)
{
    if (s->n_avail >= SIM_MAX_AVAIL)
        return NULL;
    struct sim_avail *v = realloc(s->avail, (s->n_avail + 1) * sizeof(*v));
    if (!v)
        return NULL;
    s->avail = v;
    struct sim_avail *a = &v[s->n_avail++];
    memset(a, 0, sizeof(*a));
    sim__new_guid(a->id);
    snprintf(a->user_id, sizeof(a->user_id), "%s", user_id);
    a->event_type_id = event_type_id;
    snprintf(a->source, sizeof(a->source), "%s", source ? source : "");
    snprintf(a->note, sizeof(a->note), "%s", note ? note : "");
    a->start_ms = now_ms;
    return a;
}

int sim__avail_remove(struct sim *s, const char *user_id, const char *id)
{
    for (size_t i = 0; i < s->n_avail; i++) {
        if (strcasecmp(s->avail[i].id, id) || strcasecmp(s->avail[i].user_id, user_id))
            continue;
        memmove(&s->avail[i], &s->avail[i + 1], (s->n_avail - i - 1) * sizeof(s->avail[0]));
        s->n_avail--;
        return 0;
    }
    return -1;
}

const struct sim_avail *sim__avail_current(const struct sim *s, const char *user_id)
{
    for (size_t i = s->n_avail; i > 0; i--)
        if (!strcasecmp(s->avail[i - 1].user_id, user_id))
            return &s->avail[i - 1];
    return NULL;
}

char *sim__avail_json(const struct sim_avail *a)
{
    char ts[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Id", a->id);
    cJSON_AddStringToObject(o, "UserID", a->user_id);
    cJSON_AddNumberToObject(o, "EventTypeID", a->event_type_id);
    cJSON_AddStringToObject(o, "EventSource", a->source);
    cJSON_AddStringToObject(o, "Note", a->note);
    /* times without a zone, UTC, as RTE's UserAvailability sends them */
    clock__iso8601_graph(a->start_ms, ts, sizeof(ts));
    ts[strlen(ts) - 1] = '\0';
    cJSON_AddStringToObject(o, "StartTime", ts);
    cJSON_AddStringToObject(o, "EndTime", "9999-12-31T23:59:59");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void sim__avail_clear(struct sim *s)
{
    free(s->avail);
    s->avail = NULL;
    s->n_avail = 0;
}
