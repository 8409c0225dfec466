/* One Voice tenant's events (see tenant_impl.h and docs/voice.md "Event
 * model"):
 * - at every connect the hub is asked what it offers (AvailableSubscriptions,
 *   answered by a Completion and/or a callback of that name); only offered
 *   names of the configured event model are subscribed, in the hub's
 *   spelling. No answer within AVAILABLE_TIMEOUT_MS, or an error answer (a
 *   hub without the method), means every configured name is tried. Too few
 *   offered to follow calls keeps the tenant not ready, with the missing
 *   names in the reason, and the question is asked again with backoff;
 * - Subscribe invocations and their results (refused entries included);
 * - MessageReceived payloads: captured (voice.capture), parsed with the
 *   model and applied to the call state; UserStatus with a status rule is
 *   authoritative for its user (a call whose Disconnected was missed ends
 *   when UserStatus says free).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "voice/calls.h"
#include "voice/capture.h"
#include "voice/tenant_impl.h"

#define STATUS_LOG_INFO 3 /* UserStatus payloads logged at info per link */

/* ---- going live --------------------------------------------------------------- */

static void tenant_events__go_live(struct vtenant *t)
{
    if (t->state == VL_LIVE)
        return;
    if (!t->sub_failed_round && !t->events_short)
        backoff__reset(&t->bo);
    t->live_since_ms = clock__wall_ms();
    LOG_INFO("voice", "RTE link live tenant=%s users=%zu events=%zu", t->name,
             voice_directory__n_users(t->dir), t->n_used);
    t->state = VL_LIVE;
    tenant_talking__announce(t);
    tenant_health__report(t);
}

/* ---- Subscribe -------------------------------------------------------------------- */

void tenant_events__subscribe(struct vtenant *t, const char *const *ids, size_t n)
{
    struct signalr_records recs = {0};
    if (t->n_used == 0)
        return; /* nothing offered that we could use */
    if (signalr__build_subscribe(ids, n, (const char *const *)t->used, t->n_used, 0,
                                 voice_session__ids(t->session), &recs) != 0) {
        voice_session__drop(t->session, "cannot build Subscribe");
        return;
    }
    void *np =
        realloc(t->pending_subs, (t->n_pending_subs + recs.n + 1) * sizeof(*t->pending_subs));
    if (!np) {
        signalr_records__free(&recs);
        voice_session__drop(t->session, "out of memory");
        return;
    }
    t->pending_subs = np;
    for (size_t i = 0; i < recs.n; i++) {
        memcpy(t->pending_subs[t->n_pending_subs++], recs.items[i].invocation_id,
               sizeof(t->pending_subs[0]));
        voice_session__send(t->session, recs.items[i].data, recs.items[i].len);
    }
    LOG_INFO("voice", "subscribing tenant=%s users=%zu events=%zu invocations=%zu", t->name, n,
             t->n_used, recs.n);
    signalr_records__free(&recs);
}

static void tenant_events__subscribe_all(struct vtenant *t)
{
    t->n_pending_subs = 0;
    t->sub_failed_round = false;
    size_t n = voice_directory__n_users(t->dir);
    const char **ids = malloc((n ? n : 1) * sizeof(*ids));
    if (!ids) {
        voice_session__drop(t->session, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = voice_directory__user(t->dir, i)->id;
    tenant__set_state(t, VL_SUBSCRIBING);
    if (n)
        tenant_events__subscribe(t, ids, n);
    free(ids);
    if (voice_session__connected(t->session) && t->n_pending_subs == 0)
        tenant_events__go_live(t);
}

/* A refused Subscribe (or too few offered events) is retried on the same
 * live link, with backoff: the refusal may be a passing hub problem or a
 * permission fixed meanwhile. A lost link makes this moot (the reconnect
 * asks and subscribes anew). */
static void tenant_events__resubscribe(void *arg)
{
    struct vtenant *t = arg;
    t->resub_timer = 0;
    if (t->stopping || t->state != VL_LIVE || !voice_session__connected(t->session))
        return;
    if (t->events_short) {
        LOG_INFO("voice", "asking the hub again for its events tenant=%s", t->name);
        tenant_events__ask(t);
    }
    else if (t->sub_failed_round) {
        LOG_INFO("voice", "retrying the refused Subscribe tenant=%s users=%zu", t->name,
                 voice_directory__n_users(t->dir));
        tenant_events__subscribe_all(t);
    }
}

static void tenant_events__schedule_resubscribe(struct vtenant *t)
{
    int64_t delay = backoff__next(&t->bo);
    loop__timer_cancel(t->loop, t->resub_timer);
    t->resub_timer = loop__timer(t->loop, delay, tenant_events__resubscribe, t);
    LOG_INFO("voice", "Subscribe will be retried tenant=%s retry_ms=%" PRId64, t->name, delay);
}

/* A Subscribe's result may list every entry with its Success (as
 * SubscribeDetails does, docs/voice.md). Counts the refused ones and
 * describes the first in err; a result of another shape counts as accepted. */
static size_t tenant_events__refused(const cJSON *result, char *err, size_t errlen)
{
    size_t n = 0;
    const cJSON *e = NULL;
    if (!cJSON_IsArray(result))
        return 0;
    cJSON_ArrayForEach(e, result)
    {
        const cJSON *ok = cJSON_GetObjectItem(e, "Success");
        if (!cJSON_IsFalse(ok))
            continue;
        if (n++ == 0) {
            const cJSON *id = cJSON_GetObjectItem(e, "EntityId");
            const cJSON *ev = cJSON_GetObjectItem(e, "EventName");
            snprintf(err, errlen, "entries refused by the hub (first: %.64s %.64s)",
                     cJSON_IsString(id) ? id->valuestring : "?",
                     cJSON_IsString(ev) ? ev->valuestring : "?");
        }
    }
    return n;
}

void tenant_events__subscribe_details(struct vtenant *t, const cJSON *details)
{
    size_t refused =
        tenant_events__refused(details, t->last_subscribe_error, sizeof(t->last_subscribe_error));
    if (refused == 0 || (t->state != VL_LIVE && t->state != VL_SUBSCRIBING))
        return;
    t->subscribe_errors++;
    LOG_ERROR("voice", "SubscribeDetails: entries refused tenant=%s refused=%zu error=\"%s\"",
              t->name, refused, t->last_subscribe_error);
    bool first = !t->sub_failed_round;
    t->sub_failed_round = true;
    /* While subscribing, the round's last completion schedules the retry. */
    if (first && t->state == VL_LIVE && t->n_pending_subs == 0) {
        tenant_health__report(t);
        tenant_events__schedule_resubscribe(t);
    }
}

static bool tenant_events__sub_completion(struct vtenant *t, const struct signalr_msg *m)
{
    size_t i, refused = 0;
    for (i = 0; i < t->n_pending_subs; i++)
        if (strcmp(t->pending_subs[i], m->invocation_id) == 0)
            break;
    if (i == t->n_pending_subs)
        return false;
    memmove(&t->pending_subs[i], &t->pending_subs[i + 1],
            (t->n_pending_subs - i - 1) * sizeof(t->pending_subs[0]));
    t->n_pending_subs--;
    if (m->error) {
        t->subscribe_errors++;
        t->sub_failed_round = true;
        snprintf(t->last_subscribe_error, sizeof(t->last_subscribe_error), "%.200s", m->error);
        LOG_ERROR("voice", "Subscribe refused tenant=%s invocation=%s error=\"%s\"", t->name,
                  m->invocation_id, t->last_subscribe_error);
    }
    else if ((refused = tenant_events__refused(m->result, t->last_subscribe_error,
                                               sizeof(t->last_subscribe_error))) > 0) {
        /* Accepted as a call, but some entries not: their users get no
         * events. Same answer as a refusal: not ready, retried. */
        t->subscribe_errors++;
        t->sub_failed_round = true;
        LOG_ERROR("voice",
                  "Subscribe entries refused tenant=%s invocation=%s refused=%zu error=\"%s\"",
                  t->name, m->invocation_id, refused, t->last_subscribe_error);
    }
    else {
        LOG_DEBUG("voice", "Subscribe confirmed tenant=%s invocation=%s", t->name,
                  m->invocation_id);
    }
    if (t->n_pending_subs == 0) {
        if (t->state == VL_SUBSCRIBING)
            tenant_events__go_live(t);
        else
            tenant_health__report(t);
        if (t->sub_failed_round)
            tenant_events__schedule_resubscribe(t);
    }
    return true;
}

/* ---- AvailableSubscriptions ----------------------------------------------------- */

static void tenant_events__clear_lists(struct vtenant *t)
{
    tenant__strv_free(t->used, t->n_used);
    tenant__strv_free(t->missing_events, t->n_missing_events);
    t->used = t->missing_events = NULL;
    t->n_used = t->n_missing_events = 0;
}

/* name, as the hub spells it among the offered ones; NULL when not offered. */
static const char *tenant_events__offered(const struct vtenant *t, const char *name)
{
    if (!t->offered_known)
        return name;
    for (size_t i = 0; i < t->n_offered; i++)
        if (strcasecmp(t->offered[i], name) == 0)
            return t->offered[i];
    return NULL;
}

static int tenant_events__push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

/* used = the model's names the hub offers; missing = the others; short =
 * no way left to follow calls. */
static int tenant_events__choose(struct vtenant *t)
{
    size_t by_kind[VOICE_USER_STATUS + 1] = {0};
    tenant_events__clear_lists(t);
    for (size_t i = 0; i < events__model_count(t->model); i++) {
        const char *name = events__model_name(t->model, i);
        const char *have = tenant_events__offered(t, name);
        enum voice_call_kind kind = events__model_kind(t->model, i);
        if (tenant_events__push(have ? &t->used : &t->missing_events,
                                have ? &t->n_used : &t->n_missing_events, have ? have : name) != 0)
            return -1;
        by_kind[kind] += have != NULL;
    }
    bool calls = by_kind[VOICE_CALL_CONNECTED] && by_kind[VOICE_CALL_DISCONNECTED];
    bool status = by_kind[VOICE_USER_STATUS] && events__model_has_status_rule(t->model);
    t->events_short = !calls && !status;
    return 0;
}

/* "a,b,c" into buf (cut short when it does not fit). */
static void tenant_events__join(char *const *v, size_t n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && k < len; i++) {
        int w = snprintf(buf + k, len - k, "%s%s", i ? "," : "", v[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

static void tenant_events__log_choice(const struct vtenant *t)
{
    char used[512], missing[512];
    tenant_events__join(t->used, t->n_used, used, sizeof(used));
    tenant_events__join(t->missing_events, t->n_missing_events, missing, sizeof(missing));
    if (t->events_short)
        LOG_ERROR("voice",
                  "the hub offers none of the configured call events: calls cannot be followed "
                  "tenant=%s offered=%zu missing=%s (see voice.events in docs/voice.md)",
                  t->name, t->n_offered, missing);
    else
        LOG_INFO("voice", "events chosen tenant=%s offered=%s used=%s missing=%s", t->name,
                 t->offered_known ? "listed" : "unknown", used, missing[0] ? missing : "-");
}

/* The answer is in (offered: the names, taken over; NULL: not known). */
static void tenant_events__settle(struct vtenant *t, char **offered, size_t n)
{
    loop__timer_cancel(t->loop, t->avail_timer);
    t->avail_timer = 0;
    t->avail_inv[0] = '\0';
    tenant__strv_free(t->offered, t->n_offered);
    t->offered = offered;
    t->n_offered = n;
    t->offered_known = offered != NULL;
    if (tenant_events__choose(t) != 0) {
        voice_session__drop(t->session, "out of memory");
        return;
    }
    tenant_events__log_choice(t);
    tenant_events__subscribe_all(t);
    if (t->events_short && t->state == VL_LIVE)
        tenant_events__schedule_resubscribe(t);
}

static void tenant_events__avail_timeout(void *arg)
{
    struct vtenant *t = arg;
    t->avail_timer = 0;
    if (t->stopping || !voice_session__connected(t->session))
        return;
    LOG_WARN("voice",
             "no answer to AvailableSubscriptions within %d ms: subscribing every configured "
             "event tenant=%s",
             AVAILABLE_TIMEOUT_MS, t->name);
    snprintf(t->available_error, sizeof(t->available_error), "no answer within %d ms",
             AVAILABLE_TIMEOUT_MS);
    tenant_events__settle(t, NULL, 0);
}

void tenant_events__ask(struct vtenant *t)
{
    struct signalr_record rec;
    if (signalr__build_invocation("AvailableSubscriptions", voice_session__ids(t->session), &rec) !=
        0) {
        voice_session__drop(t->session, "cannot build AvailableSubscriptions");
        return;
    }
    snprintf(t->avail_inv, sizeof(t->avail_inv), "%s", rec.invocation_id);
    t->available_error[0] = '\0';
    voice_session__send(t->session, rec.data, rec.len);
    free(rec.data);
    tenant__set_state(t, t->state == VL_LIVE ? VL_LIVE : VL_SUBSCRIBING);
    loop__timer_cancel(t->loop, t->avail_timer);
    t->avail_timer = loop__timer(t->loop, AVAILABLE_TIMEOUT_MS, tenant_events__avail_timeout, t);
    LOG_DEBUG("voice", "asking the hub for its events tenant=%s invocation=%s", t->name,
              t->avail_inv);
}

/* One answer (a completion result or the callback's argument): 1 when it
 * listed names (settled), 0 when it did not. */
static int tenant_events__answer(struct vtenant *t, const cJSON *answer, const char *how)
{
    char **names = NULL, err[160];
    size_t n = 0;
    char *raw = cJSON_PrintUnformatted(answer);
    LOG_INFO("voice", "AvailableSubscriptions answer tenant=%s via=%s answer=%.1500s", t->name, how,
             raw ? raw : "?");
    free(raw);
    capture__record(t->capture, t->name, "available_subscriptions", how, answer);
    if (events__parse_available(answer, &names, &n, err, sizeof(err)) != 0) {
        snprintf(t->available_error, sizeof(t->available_error), "%s", err);
        return 0;
    }
    tenant_events__settle(t, names, n);
    return 1;
}

void tenant_events__available_callback(struct vtenant *t, const cJSON *arg)
{
    if (t->avail_timer) {
        tenant_events__answer(t, arg, "callback");
        return;
    }
    /* not waiting (a late or unasked list): logged and captured only */
    char *raw = cJSON_PrintUnformatted(arg);
    LOG_INFO("voice", "AvailableSubscriptions callback tenant=%s answer=%.1500s", t->name,
             raw ? raw : "?");
    free(raw);
    capture__record(t->capture, t->name, "available_subscriptions", "callback", arg);
}

static void tenant_events__avail_completion(struct vtenant *t, const struct signalr_msg *m)
{
    t->avail_inv[0] = '\0';
    if (m->error) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", m->error);
        capture__record(t->capture, t->name, "available_subscriptions", "completion", e);
        cJSON_Delete(e);
        snprintf(t->available_error, sizeof(t->available_error), "%.190s", m->error);
        LOG_WARN("voice",
                 "AvailableSubscriptions refused: subscribing every configured event tenant=%s "
                 "error=\"%s\"",
                 t->name, t->available_error);
        tenant_events__settle(t, NULL, 0);
        return;
    }
    if (m->result && !cJSON_IsNull(m->result)) {
        if (!tenant_events__answer(t, m->result, "completion")) {
            LOG_WARN("voice",
                     "AvailableSubscriptions answer not understood: subscribing every configured "
                     "event tenant=%s error=\"%s\"",
                     t->name, t->available_error);
            tenant_events__settle(t, NULL, 0);
        }
        return;
    }
    /* no result: the list may come as a callback; the timer still runs */
    LOG_DEBUG("voice", "AvailableSubscriptions completed without a result tenant=%s", t->name);
}

bool tenant_events__completion(struct vtenant *t, const struct signalr_msg *m)
{
    if (t->avail_inv[0] && strcmp(m->invocation_id, t->avail_inv) == 0) {
        tenant_events__avail_completion(t, m);
        return true;
    }
    return tenant_events__sub_completion(t, m);
}

void tenant_events__reset(struct vtenant *t)
{
    loop__timer_cancel(t->loop, t->avail_timer);
    t->avail_timer = 0;
    t->avail_inv[0] = '\0';
}

static cJSON *tenant_events__names(char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

cJSON *tenant_events__health(const struct vtenant *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (t->offered_known)
        cJSON_AddItemToObject(o, "offered", tenant_events__names(t->offered, t->n_offered));
    else
        cJSON_AddNullToObject(o, "offered");
    cJSON_AddItemToObject(o, "subscribed", tenant_events__names(t->used, t->n_used));
    cJSON_AddItemToObject(o, "missing",
                          tenant_events__names(t->missing_events, t->n_missing_events));
    cJSON_AddBoolToObject(o, "status_rule", events__model_has_status_rule(t->model));
    if (t->available_error[0])
        cJSON_AddStringToObject(o, "available_error", t->available_error);
    return o;
}

/* ---- events ------------------------------------------------------------------------ */

/* The eventType of an argument as text, for a payload that did not parse. */
static void tenant_events__raw_name(const cJSON *argument, char *out, size_t len)
{
    const cJSON *ty = events__lookup(argument, "data.eventType");
    if (cJSON_IsString(ty))
        snprintf(out, len, "%s", ty->valuestring);
    else if (cJSON_IsNumber(ty))
        snprintf(out, len, "#%.15g", ty->valuedouble);
    else
        snprintf(out, len, "(unparsed)");
}

void tenant_events__message(struct vtenant *t, const cJSON *argument)
{
    struct voice_call_event ev;
    char err[200], name[48];
    int rc = events__parse_rte(t->model, argument, &ev, err, sizeof(err));
    if (rc == 0)
        snprintf(name, sizeof(name), "%s", ev.name);
    else
        tenant_events__raw_name(argument, name, sizeof(name));
    capture__record(t->capture, t->name, "message_received", name, argument);
    bool info = rc == 0 && ev.kind == VOICE_USER_STATUS && t->status_logged < STATUS_LOG_INFO;
    if (info || log__enabled(PS_LOG_DEBUG)) {
        cJSON *red = capture__redact(argument);
        char *raw = red ? cJSON_PrintUnformatted(red) : NULL;
        if (info)
            LOG_INFO("voice", "UserStatus payload tenant=%s payload=%.1500s", t->name,
                     raw ? raw : "?");
        else
            LOG_DEBUG("voice", "MessageReceived tenant=%s event=%s payload=%.1500s", t->name, name,
                      raw ? raw : "?");
        t->status_logged += info;
        free(raw);
        cJSON_Delete(red);
    }
    if (rc != 0) {
        LOG_WARN("voice", "bad RTE event ignored tenant=%s error=\"%s\"", t->name, err);
        return;
    }
    tenant_events__apply(t, &ev, "rte");
}

/* A UserStatus with a status rule: authoritative for the user. */
static void tenant_events__status(struct vtenant *t, struct voice_dir_user *u,
                                  const struct voice_call_event *ev, const char *source)
{
    if (!events__model_has_status_rule(t->model) || ev->status == VOICE_STATUS_UNKNOWN) {
        LOG_DEBUG("voice", "user status not used tenant=%s user=%s value=\"%s\" (%s)", t->name,
                  u->address, ev->status_value,
                  events__model_has_status_rule(t->model) ? "not in the rule" : "no status rule");
        return;
    }
    bool talking = ev->status == VOICE_STATUS_TALKING;
    size_t before = calls__count(t->calls, u->id);
    int64_t now = clock__wall_ms();
    if (calls__status(t->calls, u->id, talking, now, NULL, NULL) < 0) {
        LOG_WARN("voice", "user status refused tenant=%s user=%s", t->name, u->address);
        return;
    }
    size_t after = calls__count(t->calls, u->id);
    if (after == before)
        return;
    if (!talking)
        LOG_INFO("voice",
                 "calls ended by UserStatus tenant=%s user=%s value=\"%s\" calls=%zu (their "
                 "Disconnected was missed)",
                 t->name, u->address, ev->status_value, before);
    else
        LOG_INFO("voice", "talking by UserStatus tenant=%s user=%s value=\"%s\" (no call seen)",
                 t->name, u->address, ev->status_value);
    if (after == 0)
        u->idle_since_ms = now;
    tenant_talking__publish(t, u, source);
    tenant_health__report(t);
}

void tenant_events__apply(struct vtenant *t, const struct voice_call_event *ev, const char *source)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",source=\"%s\",kind=\"%s\"", t->name, source,
             events__kind_name(ev->kind));
    metrics__inc("voice_events_total", labels, 1);
    if (ev->kind == VOICE_CALL_OTHER) {
        LOG_DEBUG("voice", "event ignored tenant=%s source=%s event=%s", t->name, source, ev->name);
        return;
    }
    struct voice_dir_user *u = voice_directory__find(t->dir, ev->user_id);
    if (!u) {
        LOG_DEBUG("voice", "event for a user not configured tenant=%s voice_id=%s", t->name,
                  ev->user_id);
        return;
    }
    if (ev->kind == VOICE_USER_STATUS) {
        tenant_events__status(t, u, ev, source);
        return;
    }
    tenant_seed__note(t, ev);
    size_t before = calls__count(t->calls, u->id);
    size_t carried = calls__carried(t->calls, u->id);
    int64_t now = clock__wall_ms();
    if (calls__event(t->calls, ev, now) < 0) {
        LOG_WARN("voice", "call event refused tenant=%s user=%s event=%s call=%s", t->name,
                 u->address, ev->name, ev->call_id);
        return;
    }
    size_t after = calls__count(t->calls, u->id);
    LOG_INFO("voice", "call event tenant=%s user=%s event=%s call=%s source=%s calls=%zu%s",
             t->name, u->address, ev->name, ev->call_id, source, after,
             calls__carried(t->calls, u->id) < carried ? " (ends a carried-over call)" : "");
    if (after == before)
        return;
    if (after == 0)
        u->idle_since_ms = now;
    tenant_talking__publish(t, u, source);
    if ((before == 0) != (after == 0))
        tenant_health__report(t);
}
