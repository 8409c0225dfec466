/* The intrusive hash map of hmap.h. */
#include "core/hmap.h"

#include <stdlib.h>

#define HMAP_MIN_BUCKETS 16

static uint64_t hmap__fnv(const char *s, int fold)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (fold && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t hmap__hash(const char *s)
{
    return hmap__fnv(s, 0);
}

uint64_t hmap__hash_ci(const char *s)
{
    return hmap__fnv(s, 1);
}

static int hmap__grow(struct hmap *m)
{
    size_t n = m->n_buckets ? m->n_buckets * 2 : HMAP_MIN_BUCKETS;
    struct hmap_node **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return -1;
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct hmap_node *e = m->buckets[i];
        while (e) {
            struct hmap_node *next = e->next;
            size_t j = e->hash & (n - 1);
            e->next = nb[j];
            nb[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->n_buckets = n;
    return 0;
}

int hmap__insert(struct hmap *m, struct hmap_node *node, uint64_t hash)
{
    if ((m->count + 1) * 4 > m->n_buckets * 3 && hmap__grow(m) < 0)
        return -1;
    size_t i = hash & (m->n_buckets - 1);
    node->hash = hash;
    node->next = m->buckets[i];
    m->buckets[i] = node;
    m->count++;
    return 0;
}

void hmap__remove(struct hmap *m, struct hmap_node *node)
{
    if (!m->n_buckets)
        return;
    struct hmap_node **pp = &m->buckets[node->hash & (m->n_buckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if (*pp == node) {
            *pp = node->next;
            node->next = NULL;
            m->count--;
            return;
        }
    }
}

struct hmap_node *hmap__first(const struct hmap *m, uint64_t hash)
{
    if (!m->n_buckets)
        return NULL;
    struct hmap_node *e = m->buckets[hash & (m->n_buckets - 1)];
    while (e && e->hash != hash)
        e = e->next;
    return e;
}

struct hmap_node *hmap__next(const struct hmap_node *node, uint64_t hash)
{
    struct hmap_node *e = node->next;
    while (e && e->hash != hash)
        e = e->next;
    return e;
}

void hmap__each(struct hmap *m, void (*fn)(struct hmap_node *node, void *ctx), void *ctx)
{
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct hmap_node *e = m->buckets[i];
        while (e) {
            struct hmap_node *next = e->next;
            fn(e, ctx);
            e = next;
        }
    }
}

void hmap__clear(struct hmap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = m->count = 0;
}
