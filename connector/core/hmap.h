/* An intrusive hash map: the caller embeds a struct hmap_node in its own
 * record, computes the key's hash, and compares keys itself while walking
 * the (short) chain of nodes with that hash. No allocation per record, no
 * key copies; the table doubles at a load factor of 3/4. Not thread-safe:
 * each map belongs to one thread.
 *
 *     struct user { struct hmap_node node; char *email; ... };
 *     uint64_t h = hmap__hash_ci(email);
 *     for (struct hmap_node *n = hmap__first(&map, h); n; n = hmap__next(n, h)) {
 *         struct user *u = HMAP_ENTRY(n, struct user, node);
 *         if (strcasecmp(u->email, email) == 0) return u;
 *     }
 */
#ifndef PS_HMAP_H
#define PS_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_node {
    struct hmap_node *next;
    uint64_t hash;
};

struct hmap {
    struct hmap_node **buckets;
    size_t n_buckets; /* 0 or a power of two */
    size_t count;
};

#define HMAP_ENTRY(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

/* 64-bit FNV-1a of a string; _ci folds ASCII letters to lower case first. */
uint64_t hmap__hash(const char *s);
uint64_t hmap__hash_ci(const char *s);

/* Links node under hash. 0, or -1 when the table could not grow (the node
 * is not linked then). */
int hmap__insert(struct hmap *m, struct hmap_node *node, uint64_t hash);
/* Unlinks node (which must be in m). */
void hmap__remove(struct hmap *m, struct hmap_node *node);
/* The first / next node whose hash equals hash, or NULL. */
struct hmap_node *hmap__first(const struct hmap *m, uint64_t hash);
struct hmap_node *hmap__next(const struct hmap_node *node, uint64_t hash);
/* Calls fn on every node; fn may remove (hmap__remove) and free the node it
 * is given, not others. */
void hmap__each(struct hmap *m, void (*fn)(struct hmap_node *node, void *ctx), void *ctx);
/* Frees the table only (the nodes belong to the caller). */
void hmap__clear(struct hmap *m);

#endif
