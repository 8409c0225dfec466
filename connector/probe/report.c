/* The probe's report; see report.h. */
#include "probe/report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define REPORT_REASON_MAX 2048

struct probe_report {
    FILE *out;
    bool json;
    cJSON *doc;
    cJSON *groups;
    cJSON *group;      /* the current group */
    cJSON *last_check; /* for probe_report__details */
    int counts[3];
};

static const char *const system_titles[][2] = {
    {"graph", "Graph"}, {"webhook", "Webhook (Graph calls us)"},
    {"voice", "Voice"}, {"write", "Write test"},
    {"mqtt", "MQTT"},
};

const char *probe_status__name(enum probe_status st)
{
    return st == PROBE_OK ? "ok" : st == PROBE_WARN ? "warn" : "fail";
}

static const char *report__title(const char *system)
{
    for (size_t i = 0; i < sizeof(system_titles) / sizeof(system_titles[0]); i++) {
        if (strcmp(system_titles[i][0], system) == 0)
            return system_titles[i][1];
    }
    return system;
}

struct probe_report *probe_report__new(FILE *out, bool json, const char *config_path)
{
    struct probe_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->out = out;
    r->json = json;
    r->doc = cJSON_CreateObject();
    char ts[32];
    cJSON_AddStringToObject(r->doc, "tool", "presence-sync probe");
    cJSON_AddStringToObject(r->doc, "version", PS_VERSION);
    cJSON_AddStringToObject(r->doc, "config", config_path ? config_path : "");
    cJSON_AddStringToObject(r->doc, "started", clock__iso8601(clock__wall_ms(), ts, sizeof(ts)));
    r->groups = cJSON_AddArrayToObject(r->doc, "groups");
    if (!r->doc || !r->groups) {
        probe_report__free(r);
        return NULL;
    }
    if (!json) {
        fprintf(out, "presence-sync probe %s: %s\n", PS_VERSION, config_path ? config_path : "");
        fflush(out);
    }
    return r;
}

void probe_report__free(struct probe_report *r)
{
    if (!r)
        return;
    cJSON_Delete(r->doc);
    free(r);
}

void probe_report__group(struct probe_report *r, const char *system, const char *tenant)
{
    r->group = cJSON_CreateObject();
    cJSON_AddStringToObject(r->group, "system", system);
    cJSON_AddStringToObject(r->group, "title", report__title(system));
    if (tenant)
        cJSON_AddStringToObject(r->group, "tenant", tenant);
    else
        cJSON_AddNullToObject(r->group, "tenant");
    cJSON_AddArrayToObject(r->group, "checks");
    cJSON_AddArrayToObject(r->group, "events");
    cJSON_AddItemToArray(r->groups, r->group);
    r->last_check = NULL;
    if (!r->json) {
        if (tenant)
            fprintf(r->out, "\n%s, tenant %s\n", report__title(system), tenant);
        else
            fprintf(r->out, "\n%s\n", report__title(system));
        fflush(r->out);
    }
}

void probe_report__check(struct probe_report *r, const char *id, const char *name,
                         enum probe_status st, const char *fix, const char *fmt, ...)
{
    char reason[REPORT_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (!r->group)
        probe_report__group(r, "graph", NULL);
    r->counts[st]++;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", id);
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddStringToObject(c, "status", probe_status__name(st));
    cJSON_AddStringToObject(c, "reason", reason);
    if (fix && st != PROBE_OK)
        cJSON_AddStringToObject(c, "fix", fix);
    else
        cJSON_AddNullToObject(c, "fix");
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(r->group, "checks"), c);
    r->last_check = c;
    if (r->json)
        return;
    static const char *const tags[] = {"ok  ", "warn", "FAIL"};
    fprintf(r->out, "  %s  %s: %s", tags[st], name, reason);
    if (fix && st != PROBE_OK) {
        size_t n = strlen(reason);
        fprintf(r->out, "%s Fix: %s", n && reason[n - 1] == '.' ? "" : ".", fix);
    }
    fputc('\n', r->out);
    fflush(r->out);
}

void probe_report__details(struct probe_report *r, cJSON *d)
{
    if (!d)
        return;
    if (!r->last_check) {
        cJSON_Delete(d);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(r->last_check, "details");
    cJSON_AddItemToObject(r->last_check, "details", d);
}

void probe_report__event(struct probe_report *r, const char *line, cJSON *ev)
{
    if (!r->group) {
        cJSON_Delete(ev);
        return;
    }
    if (!ev)
        ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "line", line);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(r->group, "events"), ev);
    if (!r->json) {
        fprintf(r->out, "        %s\n", line);
        fflush(r->out);
    }
}

int probe_report__count(const struct probe_report *r, enum probe_status st)
{
    return r->counts[st];
}

static void report__summary(const struct probe_report *r, cJSON *doc)
{
    int fail = r->counts[PROBE_FAIL];
    const char *result = fail ? "fail" : r->counts[PROBE_WARN] ? "warn" : "ok";
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "result");
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "counts");
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "exit_code");
    cJSON_AddStringToObject(doc, "result", result);
    cJSON *counts = cJSON_AddObjectToObject(doc, "counts");
    cJSON_AddNumberToObject(counts, "ok", r->counts[PROBE_OK]);
    cJSON_AddNumberToObject(counts, "warn", r->counts[PROBE_WARN]);
    cJSON_AddNumberToObject(counts, "fail", r->counts[PROBE_FAIL]);
    cJSON_AddNumberToObject(doc, "exit_code", fail ? 1 : 0);
}

cJSON *probe_report__json(const struct probe_report *r)
{
    cJSON *doc = cJSON_Duplicate(r->doc, true);
    if (doc)
        report__summary(r, doc);
    return doc;
}

int probe_report__finish(struct probe_report *r)
{
    report__summary(r, r->doc);
    if (r->json) {
        char *txt = cJSON_Print(r->doc);
        if (txt)
            fprintf(r->out, "%s\n", txt);
        free(txt);
    }
    else {
        fprintf(r->out, "\nSummary: %d ok, %d warn, %d FAIL: %s\n", r->counts[PROBE_OK],
                r->counts[PROBE_WARN], r->counts[PROBE_FAIL],
                r->counts[PROBE_FAIL]   ? "fix the FAIL lines, then run the probe again"
                : r->counts[PROBE_WARN] ? "nothing failed; read the warn lines"
                                        : "everything the daemon needs works");
    }
    fflush(r->out);
    return r->counts[PROBE_FAIL] ? 1 : 0;
}
