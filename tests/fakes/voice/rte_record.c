#include "rte_record.h"

#include <stdlib.h>
#include <string.h>

void rte_reader__init(struct rte_reader *r, size_t max_record)
{
    memset(r, 0, sizeof(*r));
    r->max_record = max_record ? max_record : 1024 * 1024;
}

void rte_reader__free(struct rte_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

int rte_reader__feed(struct rte_reader *r, const char *data, size_t len)
{
    /* Only the bytes after the last separator count against max_record: a
     * frame with many small records is fine, one endless record is not. */
    size_t tail = 0;
    for (size_t i = r->len; i > 0 && r->buf[i - 1] != RTE_RS; i--)
        tail++;
    size_t add_tail = 0;
    for (size_t i = len; i > 0 && data[i - 1] != RTE_RS; i--)
        add_tail++;
    size_t open = add_tail == len ? tail + len : add_tail;
    if (open > r->max_record) {
        r->len = 0;
        return -1;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (!nb)
            return -1;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

int rte_reader__next(struct rte_reader *r, char **out, size_t *out_len)
{
    if (!r->len)
        return 0;
    char *sep = memchr(r->buf, RTE_RS, r->len);
    if (!sep)
        return 0;
    size_t n = (size_t)(sep - r->buf);
    char *rec = malloc(n + 1);
    if (!rec)
        return 0;
    memcpy(rec, r->buf, n);
    rec[n] = '\0';
    r->len -= n + 1;
    memmove(r->buf, sep + 1, r->len);
    *out = rec;
    *out_len = n;
    return 1;
}

size_t rte_reader__pending(const struct rte_reader *r)
{
    return r->len;
}

char *rte_record__frame(const char *json, size_t *out_len)
{
    size_t n = strlen(json);
    char *f = malloc(n + 2);
    if (!f)
        return NULL;
    memcpy(f, json, n);
    f[n] = RTE_RS;
    f[n + 1] = '\0';
    if (out_len)
        *out_len = n + 1;
    return f;
}

static const char *const framing_names[] = {"normal", "merge", "split"};

int rte_framing__parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, framing_names[i]))
            return i;
    return -1;
}

const char *rte_framing__name(int mode)
{
    return mode >= 0 && mode < 3 ? framing_names[mode] : "?";
}

size_t rte_framing__split_at(size_t len)
{
    if (len < 2)
        return len;
    return len / 2;
}
