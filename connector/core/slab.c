/* Texts in blocks of their own (slab.h). Every text is preceded by a
 * pointer to its block (NULL: it came from malloc), so a free finds its
 * block without a search. */
#include "core/slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_BLOCK (64 * 1024)
#define SLAB_ALIGN sizeof(void *)
/* Larger texts are rare (Home Assistant discovery configs): malloc. */
#define SLAB_MAX_TEXT (SLAB_BLOCK / 8)

struct slab_block {
    struct slab_block *prev, *next; /* every mapped block */
    size_t used;                    /* bytes handed out from data[] */
    size_t live;                    /* texts not yet released */
    _Alignas(void *) unsigned char data[];
};

struct slab {
    struct slab_block *blocks; /* every mapped block, in no order */
    struct slab_block *cur;    /* the one texts are cut from */
    size_t n_blocks;
};

#define SLAB_ROOM (SLAB_BLOCK - offsetof(struct slab_block, data))

struct slab *slab__new(void)
{
    return calloc(1, sizeof(struct slab));
}

static void slab__unmap(struct slab *s, struct slab_block *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        s->blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (s->cur == b)
        s->cur = NULL;
    s->n_blocks--;
    munmap(b, SLAB_BLOCK);
}

void slab__free(struct slab *s)
{
    if (!s)
        return;
    while (s->blocks)
        slab__unmap(s, s->blocks);
    free(s);
}

static struct slab_block *slab__map(struct slab *s)
{
    void *p = mmap(NULL, SLAB_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct slab_block *b = p; /* mmap gives zeroed pages */
    b->next = s->blocks;
    if (b->next)
        b->next->prev = b;
    s->blocks = b;
    s->n_blocks++;
    return b;
}

/* Room for size bytes: the current block, or a fresh one. A current block
 * left with no live text is reused rather than mapped again. */
static struct slab_block *slab__room(struct slab *s, size_t size)
{
    struct slab_block *b = s->cur;
    if (b && b->used + size <= SLAB_ROOM)
        return b;
    if (b && !b->live) {
        b->used = 0;
        return b;
    }
    s->cur = slab__map(s);
    return s->cur;
}

char *slab__strdup(struct slab *s, const char *text)
{
    size_t len = strlen(text) + 1;
    size_t size = (sizeof(struct slab_block *) + len + SLAB_ALIGN - 1) & ~(SLAB_ALIGN - 1);
    struct slab_block *b = NULL;
    unsigned char *p;
    if (len <= SLAB_MAX_TEXT && (b = slab__room(s, size))) {
        p = b->data + b->used;
        b->used += size;
        b->live++;
    }
    else if (!(p = malloc(sizeof(struct slab_block *) + len))) {
        return NULL;
    }
    memcpy(p, &b, sizeof(b));
    memcpy(p + sizeof(b), text, len);
    return (char *)p + sizeof(b);
}

void slab__release(struct slab *s, char *text)
{
    if (!text)
        return;
    unsigned char *p = (unsigned char *)text - sizeof(struct slab_block *);
    struct slab_block *b;
    memcpy(&b, p, sizeof(b));
    if (!b) {
        free(p);
        return;
    }
    if (--b->live)
        return;
    if (b == s->cur)
        b->used = 0; /* empty: cut from its start again */
    else
        slab__unmap(s, b);
}

size_t slab__blocks(const struct slab *s)
{
    return s->n_blocks;
}
