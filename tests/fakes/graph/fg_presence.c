/* fake-graph: presence rules, see fg_presence.h. */
#include "fg_presence.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void fg_presence__set(struct fg_presence *out, const char *av, const char *act)
{
    strncpy(out->availability, av, sizeof(out->availability) - 1);
    out->availability[sizeof(out->availability) - 1] = '\0';
    strncpy(out->activity, act, sizeof(out->activity) - 1);
    out->activity[sizeof(out->activity) - 1] = '\0';
}

int fg_presence__rank(const char *availability)
{
    static const char *const order[] = {"Away", "Available", "Busy", "DoNotDisturb"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (strcmp(availability, order[i]) == 0) {
            return (int)i + 1;
        }
    }
    return 0;
}

void fg_presence__aggregate(const struct fg_session *s, size_t n,
                            const struct fg_presence *preferred, struct fg_presence *out)
{
    if (n == 0) {
        fg_presence__set(out, "Offline", "Offline");
        return;
    }
    if (preferred) {
        *out = *preferred;
        return;
    }
    const struct fg_session *best = &s[0];
    for (size_t i = 1; i < n; i++) {
        int r = fg_presence__rank(s[i].p.availability);
        int b = fg_presence__rank(best->p.availability);
        if (r > b || (r == b && s[i].updated_ms > best->updated_ms)) {
            best = &s[i];
        }
    }
    *out = best->p;
}

static bool fg_presence__in(const char *av, const char *act, const char *const (*list)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(av, list[i][0]) == 0 && strcmp(act, list[i][1]) == 0) {
            return true;
        }
    }
    return false;
}

bool fg_presence__valid_session_combo(const char *availability, const char *activity)
{
    static const char *const combos[][2] = {{"Available", "Available"},
                                            {"Busy", "InACall"},
                                            {"Busy", "InAConferenceCall"},
                                            {"Away", "Away"},
                                            {"DoNotDisturb", "Presenting"}};
    if (!availability || !activity) {
        return false;
    }
    return fg_presence__in(availability, activity, combos, sizeof(combos) / sizeof(combos[0]));
}

bool fg_presence__valid_preferred_combo(const char *availability, const char *activity)
{
    static const char *const combos[][2] = {
        {"Available", "Available"},     {"Busy", "Busy"}, {"DoNotDisturb", "DoNotDisturb"},
        {"BeRightBack", "BeRightBack"}, {"Away", "Away"}, {"Offline", "OffWork"}};
    if (!availability || !activity) {
        return false;
    }
    return fg_presence__in(availability, activity, combos, sizeof(combos) / sizeof(combos[0]));
}

/* Reads one "<number><unit>" component; the number may carry a fraction
 * only for seconds. Returns the unit char, or 0 on a malformed component. */
static char fg_presence__component(const char **p, double *value)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s)) {
        return 0;
    }
    char *end = NULL;
    *value = strtod(s, &end);
    if (end == s || !*end) {
        return 0;
    }
    *p = end + 1;
    return *end;
}

int fg_presence__parse_duration(const char *s, int64_t *ms)
{
    if (!s || *s != 'P') {
        return -1;
    }
    const char *p = s + 1;
    double total = 0;
    bool any = false, in_time = false;
    /* units must appear in order; rank tracks the last one seen */
    int last = 0;
    while (*p) {
        if (*p == 'T') {
            if (in_time) {
                return -1;
            }
            in_time = true;
            p++;
            if (!*p) {
                return -1; /* "PT" with nothing after it */
            }
            continue;
        }
        double v;
        const char *start = p;
        char unit = fg_presence__component(&p, &v);
        int rank;
        double scale;
        if (!in_time && unit == 'W') {
            rank = 1, scale = 7 * 86400.0;
        }
        else if (!in_time && unit == 'D') {
            rank = 2, scale = 86400.0;
        }
        else if (in_time && unit == 'H') {
            rank = 3, scale = 3600.0;
        }
        else if (in_time && unit == 'M') {
            rank = 4, scale = 60.0;
        }
        else if (in_time && unit == 'S') {
            rank = 5, scale = 1.0;
        }
        else {
            return -1;
        }
        /* a fraction is only allowed on seconds */
        if (unit != 'S' && memchr(start, '.', (size_t)(p - start))) {
            return -1;
        }
        if (rank <= last) {
            return -1;
        }
        last = rank;
        total += v * scale;
        any = true;
    }
    if (!any || total > 1e12) {
        return -1;
    }
    *ms = (int64_t)(total * 1000.0 + 0.5);
    return 0;
}

int fg_presence__expiration(const char *s, int64_t *ms)
{
    if (!s) {
        *ms = FG_EXPIRATION_MIN_MS;
        return 0;
    }
    int64_t v;
    if (fg_presence__parse_duration(s, &v) != 0) {
        return -1;
    }
    if (v < FG_EXPIRATION_MIN_MS || v > FG_EXPIRATION_MAX_MS) {
        return -2;
    }
    *ms = v;
    return 0;
}
