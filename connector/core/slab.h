/* Short-lived texts kept out of malloc's heap: a bump allocator over blocks
 * mapped from the kernel, each returned (munmap) as soon as the last text
 * in it is freed. One thread.
 *
 * Why (docs/performance.md section 7): the bus's last-value cache holds the
 * text of every state topic from the moment it is asked for until the
 * broker acknowledges it. At start-up that is every user's states at once
 * (~63 MB at 100,000 users), allocated between the long-lived per-user
 * allocations of the same moment; once freed it left holes in glibc's heap
 * that no trim can return, because every page also holds a live chunk.
 * Texts freed in about the order they were made (a FIFO send queue) empty
 * their blocks one after the other, and each empty block goes back whole.
 */
#ifndef PS_SLAB_H
#define PS_SLAB_H

#include <stddef.h>

struct slab;

struct slab *slab__new(void);
/* Frees every block, whatever is still allocated in it. */
void slab__free(struct slab *s);

/* A copy of text (NUL-terminated), or NULL when out of memory. Texts too
 * large for a block come from malloc. */
char *slab__strdup(struct slab *s, const char *text);
/* Frees a text of slab__strdup(s, ...); NULL is ignored. */
void slab__release(struct slab *s, char *text);

/* Blocks mapped now (for tests and the bound in docs/performance.md). */
size_t slab__blocks(const struct slab *s);

#endif
