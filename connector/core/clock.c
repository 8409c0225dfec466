/* Clocks and ISO 8601. */
#include "core/clock.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic bool fake_on;
static _Atomic int64_t fake_mono_us, fake_wall_ms;

void clock__fake_start(int64_t mono_ms, int64_t wall_ms)
{
    atomic_store(&fake_mono_us, mono_ms * 1000);
    atomic_store(&fake_wall_ms, wall_ms);
    atomic_store(&fake_on, true);
}

void clock__fake_advance(int64_t ms)
{
    atomic_fetch_add(&fake_mono_us, ms * 1000);
    atomic_fetch_add(&fake_wall_ms, ms);
}

void clock__fake_stop(void)
{
    atomic_store(&fake_on, false);
}

int64_t clock__mono_ms(void)
{
    if (atomic_load_explicit(&fake_on, memory_order_relaxed))
        return atomic_load(&fake_mono_us) / 1000;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock__mono_us(void)
{
    if (atomic_load_explicit(&fake_on, memory_order_relaxed))
        return atomic_load(&fake_mono_us);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock__wall_ms(void)
{
    if (atomic_load_explicit(&fake_on, memory_order_relaxed))
        return atomic_load(&fake_wall_ms);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *clock__iso8601(int64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

char *clock__iso8601_graph(int64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03d0000Z", base, (int)(wall_ms % 1000));
    return buf;
}

/* Reads exactly n digits; returns -1 on a non-digit. */
static int clock__digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

static int clock__expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

/* An optional fraction of a second ".ddd" (digits past the third are
 * read and ignored) into *ms. */
static int clock__fraction(const char **pp, int *ms)
{
    const char *p = *pp;
    *ms = 0;
    if (*p != '.')
        return 0;
    p++;
    int scale = 100, any = 0;
    while (isdigit((unsigned char)*p)) {
        *ms += (*p - '0') * scale;
        scale /= 10;
        p++;
        any = 1;
    }
    *pp = p;
    return any ? 0 : -1;
}

/* The zone: "Z" or "+hh:mm" / "-hh:mm", into minutes east of UTC. */
static int clock__offset(const char **pp, int *offset_min)
{
    const char *p = *pp;
    *offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        *pp = p + 1;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p == '-' ? -1 : 1;
    p++;
    int oh = clock__digits(&p, 2);
    if (oh < 0 || clock__expect(&p, ':'))
        return -1;
    int om = clock__digits(&p, 2);
    if (om < 0)
        return -1;
    *offset_min = sign * (oh * 60 + om);
    *pp = p;
    return 0;
}

int clock__parse_iso8601(const char *s, int64_t *wall_ms)
{
    if (!s)
        return -1;
    const char *p = s;
    struct tm tm = {0};
    int year = clock__digits(&p, 4);
    if (year < 0 || clock__expect(&p, '-'))
        return -1;
    int mon = clock__digits(&p, 2);
    if (mon < 1 || mon > 12 || clock__expect(&p, '-'))
        return -1;
    int day = clock__digits(&p, 2);
    if (day < 1 || day > 31 || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    int hh = clock__digits(&p, 2);
    if (hh < 0 || hh > 23 || clock__expect(&p, ':'))
        return -1;
    int mm = clock__digits(&p, 2);
    if (mm < 0 || mm > 59 || clock__expect(&p, ':'))
        return -1;
    int ss = clock__digits(&p, 2);
    if (ss < 0 || ss > 60)
        return -1;
    int ms = 0, offset_min = 0;
    if (clock__fraction(&p, &ms) || clock__offset(&p, &offset_min) || *p != '\0')
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    *wall_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + ms;
    return 0;
}
