/* The bus's last-value cache (lvc.h): topics in a hash map, a FIFO send
 * queue threaded through the entries. */
#include "core/lvc.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"
#include "core/slab.h"

/* A payload as the cache remembers it once the broker has it: 128 bits of
 * its SHA-256 and its length. At 10,000 users the mapper keeps 30,000 state
 * topics; their texts (up to ~1 KB each) held ~10 MB only to tell an
 * unchanged value from a new one. */
struct lvc_digest {
    uint64_t h[2];
    size_t len;
};

/* `want_d` is the latest value asked for, `sent_d` the value last handed
 * over. The text of `want` is kept while it may still have to be (re)sent. */
struct lvc_entry {
    struct hmap_node node;
    struct lvc_entry *qnext; /* send queue */
    char *want;              /* in the slab; NULL once acknowledged (has_want stays true) */
    struct lvc_digest want_d, sent_d;
    uint64_t gen;   /* counts hand-overs, so stale completions are ignored */
    bool has_want;  /* a value was asked for */
    bool has_sent;  /* a value was handed over */
    bool resend;    /* the last hand-over was lost: send `want` again */
    bool queued;    /* in the send queue */
    bool confirmed; /* the broker acknowledged `sent` */
    /* In the entry, not a copy of its own: one allocation less for each of
     * the ~3 state topics per user (docs/performance.md section 7). */
    char topic[];
};

struct lvc {
    struct hmap map;
    struct lvc_entry *q_head, *q_tail;
    size_t n_queued, n_texts;
    /* The texts of `want`: held from lvc__want() to the broker's
     * acknowledgement, in a FIFO send queue, so out of malloc's heap (see
     * slab.h). */
    struct slab *texts;
    EVP_MD *sha256;
    EVP_MD_CTX *md_ctx;
};

struct lvc *lvc__new(void)
{
    struct lvc *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md_ctx = EVP_MD_CTX_new();
    c->texts = slab__new();
    if (!c->sha256 || !c->md_ctx || !c->texts) {
        lvc__free(c);
        return NULL;
    }
    return c;
}

static void lvc__free_entry(struct hmap_node *n, void *ctx)
{
    struct lvc_entry *e = HMAP_ENTRY(n, struct lvc_entry, node);
    slab__release(ctx, e->want);
    free(e);
}

void lvc__free(struct lvc *c)
{
    if (!c)
        return;
    hmap__each(&c->map, lvc__free_entry, c->texts);
    hmap__clear(&c->map);
    EVP_MD_CTX_free(c->md_ctx);
    EVP_MD_free(c->sha256);
    slab__free(c->texts);
    free(c);
}

static struct lvc_digest lvc__digest(struct lvc *c, const char *payload)
{
    struct lvc_digest d = {{0, 0}, strlen(payload)};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestInit_ex(c->md_ctx, c->sha256, NULL) == 1 &&
        EVP_DigestUpdate(c->md_ctx, payload, d.len) == 1 &&
        EVP_DigestFinal_ex(c->md_ctx, md, &n) == 1 && n >= sizeof(d.h))
        memcpy(d.h, md, sizeof(d.h));
    return d;
}

static bool lvc__same(struct lvc_digest a, struct lvc_digest b)
{
    return a.h[0] == b.h[0] && a.h[1] == b.h[1] && a.len == b.len;
}

static struct lvc_entry *lvc__get(struct lvc *c, const char *topic)
{
    uint64_t h = hmap__hash(topic);
    for (struct hmap_node *n = hmap__first(&c->map, h); n; n = hmap__next(n, h)) {
        struct lvc_entry *e = HMAP_ENTRY(n, struct lvc_entry, node);
        if (strcmp(e->topic, topic) == 0)
            return e;
    }
    size_t len = strlen(topic);
    struct lvc_entry *e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->topic, topic, len + 1);
    if (hmap__insert(&c->map, &e->node, h) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

static int lvc__set_want(struct lvc *c, struct lvc_entry *e, const char *payload,
                         struct lvc_digest d)
{
    char *copy = slab__strdup(c->texts, payload);
    if (!copy)
        return -1;
    if (!e->want)
        c->n_texts++;
    slab__release(c->texts, e->want);
    e->want = copy;
    e->want_d = d;
    e->has_want = true;
    return 0;
}

static bool lvc__needs_send(const struct lvc_entry *e)
{
    return e->has_want && (e->resend || !e->has_sent || !lvc__same(e->want_d, e->sent_d));
}

/* The broker holds the wanted value: only its digest is needed from now on. */
static void lvc__forget_text(struct lvc *c, struct lvc_entry *e)
{
    if (e->want && e->confirmed && !e->queued && !lvc__needs_send(e)) {
        slab__release(c->texts, e->want);
        e->want = NULL;
        c->n_texts--;
    }
}

static void lvc__enqueue(struct lvc *c, struct lvc_entry *e, bool front)
{
    if (e->queued)
        return;
    e->queued = true;
    e->qnext = NULL;
    c->n_queued++;
    if (!c->q_head) {
        c->q_head = c->q_tail = e;
    }
    else if (front) {
        e->qnext = c->q_head;
        c->q_head = e;
    }
    else {
        c->q_tail->qnext = e;
        c->q_tail = e;
    }
}

static void lvc__dequeue_head(struct lvc *c)
{
    struct lvc_entry *e = c->q_head;
    c->q_head = e->qnext;
    if (!c->q_head)
        c->q_tail = NULL;
    e->qnext = NULL;
    e->queued = false;
    c->n_queued--;
}

int lvc__want(struct lvc *c, const char *topic, const char *payload)
{
    struct lvc_entry *e = lvc__get(c, topic);
    if (!e)
        return -1;
    struct lvc_digest d = lvc__digest(c, payload);
    if (e->has_want && lvc__same(e->want_d, d))
        return 0;
    if (lvc__set_want(c, e, payload, d) < 0)
        return -1;
    if (!lvc__needs_send(e)) { /* back to the value already handed over */
        lvc__forget_text(c, e);
        return 0;
    }
    lvc__enqueue(c, e, false);
    return 1;
}

int lvc__want_first(struct lvc *c, const char *topic, const char *payload)
{
    struct lvc_entry *e = lvc__get(c, topic);
    if (!e)
        return -1;
    if (!e->want || strcmp(e->want, payload) != 0) { /* NULL: acknowledged, text gone */
        if (lvc__set_want(c, e, payload, lvc__digest(c, payload)) < 0)
            return -1;
    }
    e->resend = true;
    lvc__enqueue(c, e, true); /* already queued: it keeps its place */
    return 1;
}

struct lvc_entry *lvc__next(struct lvc *c)
{
    while (c->q_head) {
        struct lvc_entry *e = c->q_head;
        if (lvc__needs_send(e) && e->want) /* want: always kept while it needs sending */
            return e;
        lvc__dequeue_head(c);
        lvc__forget_text(c, e);
    }
    return NULL;
}

const char *lvc_entry__topic(const struct lvc_entry *e)
{
    return e->topic;
}

const char *lvc_entry__payload(const struct lvc_entry *e)
{
    return e->want;
}

uint64_t lvc__handed(struct lvc *c, struct lvc_entry *e)
{
    if (c->q_head == e)
        lvc__dequeue_head(c);
    e->sent_d = e->want_d;
    e->has_sent = true;
    e->resend = false;
    e->confirmed = false;
    return ++e->gen;
}

void lvc__drop(struct lvc *c, struct lvc_entry *e)
{
    if (c->q_head == e)
        lvc__dequeue_head(c);
}

bool lvc__current(const struct lvc_entry *e, uint64_t gen)
{
    return e && gen == e->gen;
}

void lvc__acked(struct lvc *c, struct lvc_entry *e, uint64_t gen)
{
    if (!lvc__current(e, gen))
        return;
    e->confirmed = true;
    lvc__forget_text(c, e);
}

void lvc__lost(struct lvc *c, struct lvc_entry *e, uint64_t gen)
{
    if (!lvc__current(e, gen))
        return;
    e->resend = true;
    lvc__enqueue(c, e, false);
}

size_t lvc__queued(const struct lvc *c)
{
    return c->n_queued;
}

size_t lvc__topics(const struct lvc *c)
{
    return c->map.count;
}

size_t lvc__texts(const struct lvc *c)
{
    return c->n_texts;
}
