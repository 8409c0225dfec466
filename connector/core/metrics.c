/* Prometheus metrics registry: families in order of first appearance, each
 * with its series in order of first use. Rendered as text exposition 0.0.4.
 * One mutex guards everything; updates are rare enough (per request, per
 * message) that contention does not matter. */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define PREFIX "presence_sync_"

static const double bucket_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                   0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

struct series {
    char *labels;
    double value;
    unsigned long long buckets[N_BUCKETS]; /* not cumulative; summed on render */
    unsigned long long count;
    double sum;
    struct series *next;
};

struct family {
    char *name;
    char *help; /* NULL: undescribed */
    enum metric_type type;
    struct series *series, *tail;
    struct family *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families, *families_tail;

static char *dup_or_die(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        LOG_ERROR("metrics", "out of memory");
        abort();
    }
    return p;
}

static void *calloc_or_die(size_t size)
{
    void *p = calloc(1, size);
    if (!p) {
        LOG_ERROR("metrics", "out of memory");
        abort();
    }
    return p;
}

/* Caller holds the lock. Creates the family with `type` when new. */
static struct family *family__get(const char *name, enum metric_type type)
{
    for (struct family *f = families; f; f = f->next)
        if (!strcmp(f->name, name))
            return f;
    struct family *f = calloc_or_die(sizeof(*f));
    f->name = dup_or_die(name);
    f->type = type;
    if (families_tail)
        families_tail->next = f;
    else
        families = f;
    families_tail = f;
    return f;
}

static struct series *series__get(struct family *f, const char *labels)
{
    if (!labels)
        labels = "";
    for (struct series *s = f->series; s; s = s->next)
        if (!strcmp(s->labels, labels))
            return s;
    struct series *s = calloc_or_die(sizeof(*s));
    s->labels = dup_or_die(labels);
    if (f->tail)
        f->tail->next = s;
    else
        f->series = s;
    f->tail = s;
    return s;
}

void metrics__describe(const char *name, enum metric_type type, const char *help)
{
    if (!name)
        return;
    pthread_mutex_lock(&lock);
    struct family *f = family__get(name, type);
    f->type = type;
    if (!f->help || strcmp(f->help, help ? help : "")) {
        free(f->help);
        f->help = dup_or_die(help ? help : "");
    }
    pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. NULL when `name` is a histogram (or vice versa). */
static struct series *scalar__get(const char *name, const char *labels, enum metric_type type)
{
    struct family *f = family__get(name, type);
    if ((f->type == METRIC_HISTOGRAM) != (type == METRIC_HISTOGRAM)) {
        LOG_WARN("metrics", "metric used with the wrong type name=%s", name);
        return NULL;
    }
    return series__get(f, labels);
}

void metrics__inc(const char *name, const char *labels, double by)
{
    if (!name)
        return;
    pthread_mutex_lock(&lock);
    struct series *s = scalar__get(name, labels, METRIC_COUNTER);
    if (s)
        s->value += by;
    pthread_mutex_unlock(&lock);
}

void metrics__set(const char *name, const char *labels, double value)
{
    if (!name)
        return;
    pthread_mutex_lock(&lock);
    struct series *s = scalar__get(name, labels, METRIC_GAUGE);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&lock);
}

void metrics__observe(const char *name, const char *labels, double seconds)
{
    if (!name || isnan(seconds))
        return;
    pthread_mutex_lock(&lock);
    struct series *s = scalar__get(name, labels, METRIC_HISTOGRAM);
    if (s) {
        for (size_t i = 0; i < N_BUCKETS; i++) {
            if (seconds <= bucket_le[i]) {
                s->buckets[i]++;
                break;
            }
        }
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&lock);
}

double metrics__get(const char *name, const char *labels)
{
    double v = 0;
    if (!name)
        return 0;
    if (!labels)
        labels = "";
    pthread_mutex_lock(&lock);
    for (struct family *f = families; f; f = f->next) {
        if (strcmp(f->name, name))
            continue;
        for (struct series *s = f->series; s; s = s->next) {
            if (!strcmp(s->labels, labels)) {
                v = f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
                break;
            }
        }
        break;
    }
    pthread_mutex_unlock(&lock);
    return v;
}

/* Prometheus spells the special values +Inf, -Inf and NaN. */
static void put_value(FILE *out, double v)
{
    if (isnan(v))
        fputs("NaN", out);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", out);
    else
        fprintf(out, "%.15g", v);
}

static void put_labels(FILE *out, const char *labels, const char *le)
{
    if (!labels[0] && !le)
        return;
    fputc('{', out);
    fputs(labels, out);
    if (le)
        fprintf(out, "%sle=\"%s\"", labels[0] ? "," : "", le);
    fputc('}', out);
}

static void render_histogram(FILE *out, const struct family *f, const struct series *s)
{
    unsigned long long cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        char le[32];
        cum += s->buckets[i];
        snprintf(le, sizeof(le), "%g", bucket_le[i]);
        fprintf(out, PREFIX "%s_bucket", f->name);
        put_labels(out, s->labels, le);
        fprintf(out, " %llu\n", cum);
    }
    fprintf(out, PREFIX "%s_bucket", f->name);
    put_labels(out, s->labels, "+Inf");
    fprintf(out, " %llu\n", s->count);
    fprintf(out, PREFIX "%s_sum", f->name);
    put_labels(out, s->labels, NULL);
    fputc(' ', out);
    put_value(out, s->sum);
    fputc('\n', out);
    fprintf(out, PREFIX "%s_count", f->name);
    put_labels(out, s->labels, NULL);
    fprintf(out, " %llu\n", s->count);
}

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_HISTOGRAM:
        return "histogram";
    default:
        return "gauge";
    }
}

char *metrics__render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return NULL;
    pthread_mutex_lock(&lock);
    for (const struct family *f = families; f; f = f->next) {
        if (f->help)
            fprintf(out, "# HELP " PREFIX "%s %s\n", f->name, f->help);
        fprintf(out, "# TYPE " PREFIX "%s %s\n", f->name, type_name(f->type));
        for (const struct series *s = f->series; s; s = s->next) {
            if (f->type == METRIC_HISTOGRAM) {
                render_histogram(out, f, s);
                continue;
            }
            fprintf(out, PREFIX "%s", f->name);
            put_labels(out, s->labels, NULL);
            fputc(' ', out);
            put_value(out, s->value);
            fputc('\n', out);
        }
    }
    pthread_mutex_unlock(&lock);
    if (fclose(out)) {
        free(buf);
        return NULL;
    }
    return buf;
}

void metrics__reset(void)
{
    pthread_mutex_lock(&lock);
    struct family *f = families;
    families = families_tail = NULL;
    pthread_mutex_unlock(&lock);
    while (f) {
        struct family *fn = f->next;
        struct series *s = f->series;
        while (s) {
            struct series *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
}

/* Appends `name="value"` (escaped) to buf at *o; leaves buf as it was when
 * the pair does not fit. */
static void metrics__put_label(char *buf, size_t len, size_t *o, const char *name,
                               const char *value)
{
    size_t at = *o;
    int n = snprintf(buf + at, len - at, "%s%s=\"", at ? "," : "", name);
    if (n < 0 || (size_t)n >= len - at)
        goto undo;
    at += (size_t)n;
    for (const char *p = value ? value : ""; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t need = esc ? 2 : 1;
        if (at + need + 2 > len)
            goto undo;
        if (esc)
            memcpy(buf + at, esc, 2);
        else
            buf[at] = *p;
        at += need;
    }
    if (at + 2 > len)
        goto undo;
    buf[at++] = '"';
    buf[at] = '\0';
    *o = at;
    return;
undo:
    buf[*o] = '\0';
}

const char *metrics__labels(char *buf, size_t len, const char *name, ...)
{
    size_t o = 0;
    if (!len)
        return buf;
    buf[0] = '\0';
    va_list ap;
    va_start(ap, name);
    for (const char *k = name; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        metrics__put_label(buf, len, &o, k, v);
    }
    va_end(ap);
    return buf;
}
