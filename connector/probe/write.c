/* The write test (`--write-test ADDRESS`, one configured user): set
 * Busy/InACall in Teams, read it back, clear it and time how long the
 * aggregate takes to drop the session (docs/graph.md open question 6); set
 * Voice 'talking' and clear it. The daemon's own writers do it (graph/
 * writer.h, voice/writer.h), so the requests are exactly the daemon's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/config.h"
#include "graph/graph_writer.h"
#include "probe/probe_int.h"
#include "voice/writer.h"

#define WRITE_WAIT_MS     30000
#define WRITE_SESSION_MS  (5 * 60 * 1000) /* Graph's shortest session */
#define WRITE_SETTLE_MS   30000
#define WRITE_SETTLE_STEP 1000

/* One result, copied; lives until its callback ran. */
struct wresult {
    bool done, abandoned;
    int status; /* graph_write_status or voice_write_status */
    int http_status;
    char error[200];
    char availability[48], activity[48];
};

static void write__graph_cb(void *ctx, const struct graph_write_result *res)
{
    struct wresult *r = ctx;
    if (r->abandoned) {
        free(r);
        return;
    }
    r->status = res->status;
    r->http_status = res->http_status;
    snprintf(r->error, sizeof(r->error), "%s", res->error ? res->error : "");
    snprintf(r->availability, sizeof(r->availability), "%s",
             res->availability ? res->availability : "");
    snprintf(r->activity, sizeof(r->activity), "%s", res->activity ? res->activity : "");
    r->done = true;
}

static void write__voice_cb(void *ctx, const struct voice_write_result *res)
{
    struct wresult *r = ctx;
    if (r->abandoned) {
        free(r);
        return;
    }
    r->status = res->status;
    r->http_status = res->http_status;
    snprintf(r->error, sizeof(r->error), "%s", res->error ? res->error : "");
    r->done = true;
}

/* Waits for r; false (r then freed by its callback) when it did not come. */
static bool write__wait(struct probe *p, struct wresult *r)
{
    if (probe__wait(p, &r->done, WRITE_WAIT_MS))
        return true;
    r->abandoned = true;
    return false;
}

/* ---- Teams ---------------------------------------------------------------------------- */

static bool write__graph(struct probe *p, struct graph_writer *w, const struct graph_write *op,
                         struct wresult *out)
{
    struct wresult *r = calloc(1, sizeof(*r));
    if (!r || graph_writer__submit(w, op, write__graph_cb, r) != 0) {
        free(r);
        snprintf(out->error, sizeof(out->error), "cannot send");
        return false;
    }
    if (!write__wait(p, r)) {
        snprintf(out->error, sizeof(out->error), "no answer within 30 s");
        return false;
    }
    *out = *r;
    free(r);
    return out->status == GRAPH_WRITE_OK;
}

/* After clearPresence: how long until Teams no longer shows our session. */
static void write__settle(struct probe *p, struct graph_writer *w, struct graph_write op)
{
    struct wresult r = {0};
    op.op = GRAPH_OP_READ;
    int64_t start = clock__mono_ms();
    while (!p->interrupted && clock__mono_ms() - start < WRITE_SETTLE_MS) {
        if (write__graph(p, w, &op, &r) && strcasecmp(r.activity, "InACall") != 0) {
            probe_report__check(p->report, "write.teams_settle", "Teams after the clear", PROBE_OK,
                                NULL,
                                "shows %s/%s %lld ms after clearPresence (docs/graph.md open "
                                "question 6)",
                                r.availability, r.activity, (long long)(clock__mono_ms() - start));
            return;
        }
        bool never = false;
        probe__wait(p, &never, WRITE_SETTLE_STEP);
    }
    probe_report__check(p->report, "write.teams_settle", "Teams after the clear", PROBE_WARN,
                        "raise mapper.settle_seconds if this repeats (docs/mapper.md)",
                        "still shows %s/%s %d s after clearPresence", r.availability, r.activity,
                        WRITE_SETTLE_MS / 1000);
}

static void write__graph_writer_free(void *w)
{
    graph_writer__free(w);
}

static void write__teams(struct probe *p, struct probe_tenant *t, size_t u)
{
    if (!t->app_ok || !t->ids[u]) {
        probe_report__check(p->report, "write.teams_set", "Teams Busy/InACall", PROBE_WARN,
                            "fix the Graph lines above",
                            "not tried: it needs the app's sign-in and the user found in Azure AD");
        return;
    }
    struct graph_writer *w = graph_writer__new(p->loop, p->gc);
    struct graph_write op = {.tenant = t->tc->name,
                             .upn = t->tc->users[u],
                             .user_id = t->ids[u],
                             .op = GRAPH_OP_SET_BUSY,
                             .session_ms = WRITE_SESSION_MS};
    struct wresult r = {0};
    if (!w)
        return;
    bool set = write__graph(p, w, &op, &r);
    if (set)
        probe_report__check(p->report, "write.teams_set", "Teams Busy/InACall", PROBE_OK, NULL,
                            "setPresence answered HTTP %d (a session of 5 minutes)", r.http_status);
    else
        probe_report__check(p->report, "write.teams_set", "Teams Busy/InACall", PROBE_FAIL,
                            "the app needs the application permission Presence.ReadWrite.All "
                            "with admin consent (docs/operations.md section 1)",
                            "setPresence failed: HTTP %d %s", r.http_status, r.error);
    op.op = GRAPH_OP_READ;
    if (set && !p->interrupted && write__graph(p, w, &op, &r)) {
        bool busy = strcasecmp(r.activity, "InACall") == 0;
        probe_report__check(p->report, "write.teams_read", "Teams shows",
                            busy ? PROBE_OK : PROBE_WARN,
                            "nothing to fix: a status the user set by hand (Do not disturb, "
                            "Away...) outranks every app's session, and Graph may need a moment",
                            "%s/%s", r.availability, r.activity);
    }
    op.op = GRAPH_OP_CLEAR;
    if (set) {
        bool cleared = write__graph(p, w, &op, &r);
        if (cleared)
            probe_report__check(p->report, "write.teams_clear", "Teams clear", PROBE_OK, NULL,
                                "clearPresence answered HTTP %d", r.http_status);
        else
            probe_report__check(p->report, "write.teams_clear", "Teams clear", PROBE_FAIL,
                                "the session ends by itself within 5 minutes; check the app's "
                                "permissions",
                                "clearPresence failed: HTTP %d %s", r.http_status, r.error);
        if (cleared && !p->interrupted)
            write__settle(p, w, op);
    }
    graph_writer__stop(w);
    probe__defer(p, write__graph_writer_free, w);
}

/* ---- Voice ------------------------------------------------------------------------------ */

static int write__lookup(void *ctx, const char *email, const char **user_id)
{
    const struct probe_tenant *t = ctx;
    for (size_t i = 0; i < t->tc->n_users; i++) {
        if (strcasecmp(t->tc->users[i], email) == 0) {
            *user_id = t->voice_ids[i];
            return t->voice_ids[i] ? 1 : 0;
        }
    }
    return 0;
}

static bool write__voice_one(struct probe *p, struct voice_writer *w, struct probe_tenant *t,
                             size_t u, bool talking)
{
    struct wresult *r = calloc(1, sizeof(*r));
    const char *id = talking ? "write.voice_set" : "write.voice_clear";
    const char *name = talking ? "Voice talking" : "Voice clear";
    if (!r || voice_writer__set_talking(w, t->tc->name, t->tc->users[u], talking, write__voice_cb,
                                        r) != 0) {
        free(r);
        return false;
    }
    if (!write__wait(p, r)) {
        probe_report__check(p->report, id, name, PROBE_FAIL, "check the network to the Voice API",
                            "no answer within 30 s");
        return false;
    }
    bool ok = r->status == VOICE_WRITE_OK;
    if (ok)
        probe_report__check(p->report, id, name, PROBE_OK, NULL, "talking=%s answered HTTP %d",
                            talking ? "true" : "false", r->http_status);
    else
        probe_report__check(p->report, id, name, PROBE_FAIL,
                            "check voice.talking_request against what Enreach told you "
                            "(docs/voice.md, Writing 'talking')",
                            "talking=%s failed: %s (HTTP %d)", talking ? "true" : "false",
                            r->error[0] ? r->error : "refused", r->http_status);
    free(r);
    return ok;
}

static void write__voice_writer_free(void *w)
{
    voice_writer__free(w);
}

static void write__voice(struct probe *p, struct probe_tenant *t, size_t u)
{
    struct voice_talking_config cfg = voice_writer__talking_config(&t->tc->voice.talking);
    if (cfg.mode == VOICE_TALKING_OFF) {
        probe_report__check(p->report, "write.voice_set", "Voice talking", PROBE_WARN,
                            "ask Enreach for the endpoint that marks a user talking and set "
                            "voice.talking_request (docs/voice.md, Writing 'talking')",
                            "not tried: voice.talking_request is not configured, so Teams calls "
                            "do not reach Voice");
        return;
    }
    if (!t->rest || !t->voice_ids[u]) {
        probe_report__check(p->report, "write.voice_set", "Voice talking", PROBE_WARN,
                            "fix the Voice lines above",
                            "not tried: it needs the Voice sign-in and the user found in Voice");
        return;
    }
    struct voice_writer *w = voice_writer__new(p->loop);
    if (!w ||
        voice_writer__add_tenant(w, t->tc->name, t->rest, &cfg, write__lookup, NULL, t) != 0) {
        voice_writer__free(w);
        return;
    }
    if (write__voice_one(p, w, t, u, true) && !p->interrupted)
        write__voice_one(p, w, t, u, false);
    voice_writer__stop(w);
    probe__defer(p, write__voice_writer_free, w);
}

void probe_write__run(struct probe *p, struct probe_tenant *t)
{
    size_t u = 0;
    while (u < t->tc->n_users && strcasecmp(t->tc->users[u], p->opt->write_test) != 0)
        u++;
    if (u == t->tc->n_users)
        return;
    probe_report__group(p->report, "write", t->tc->name);
    probe_report__check(p->report, "write.user", "user", PROBE_OK, NULL,
                        "%s: Teams and Voice are changed for a few seconds and put back",
                        t->tc->users[u]);
    write__teams(p, t, u);
    if (!p->interrupted)
        write__voice(p, t, u);
}
