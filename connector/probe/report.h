/* The probe's report (docs/operations.md, "First deployment"): checks
 * grouped by system, each ok, warn or FAIL with the reason and, when not
 * ok, the fix, in words a first-time operator understands.
 *
 * Text mode prints every line as soon as the check is decided (a probe can
 * take a minute); JSON mode prints one document at the end
 * (schemas/probe-report.schema.json). Loop thread only. */
#ifndef PS_PROBE_REPORT_H
#define PS_PROBE_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

enum probe_status { PROBE_OK = 0, PROBE_WARN, PROBE_FAIL };

struct probe_report;

/* out: where text lines go (stdout); json: one document at the end. */
struct probe_report *probe_report__new(FILE *out, bool json, const char *config_path);
void probe_report__free(struct probe_report *r);

/* Starts a group: system "graph", "webhook", "voice", "write" or "mqtt";
 * tenant NULL for MQTT. */
void probe_report__group(struct probe_report *r, const char *system, const char *tenant);

/* One check of the current group: a stable id ("graph.app_token"), a
 * short name for people ("sign-in of the app"), its status, the fix (NULL
 * for ok) and the reason. */
void probe_report__check(struct probe_report *r, const char *id, const char *name,
                         enum probe_status st, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Machine-readable details of the last check (JSON only); takes d. */
void probe_report__details(struct probe_report *r, cJSON *d);
/* Something seen while listening (a Voice event): an indented text line,
 * and in JSON an element of the group's "events"; takes ev (may be NULL). */
void probe_report__event(struct probe_report *r, const char *line, cJSON *ev);

/* How many checks had status st so far. */
int probe_report__count(const struct probe_report *r, enum probe_status st);
/* The document so far (a copy; the caller frees it). */
cJSON *probe_report__json(const struct probe_report *r);
/* Prints the summary line (text) or the document (JSON). Returns the exit
 * code: 0 when no check failed, 1 otherwise. */
int probe_report__finish(struct probe_report *r);

/* "ok", "warn", "fail". */
const char *probe_status__name(enum probe_status st);

#endif
