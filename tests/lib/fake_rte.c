/* The in-process RTE transport of fake_rte.h. Loop thread only, like the
 * callers of the real one. */
#include "fake_rte.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"

struct rte_link {
    struct rte_link *next; /* in fr_links while alive */
    struct loop *loop;
    struct rte_link_callbacks cb;
    void *ctx;
    bool stopped;
    unsigned next_gen, gen, opens;
    bool established;
    char *url, *bearer, *ca_file;
    char **sent;
    size_t n_sent;
};

enum fr_kind { FR_OPEN, FR_DATA, FR_CLOSED };

/* A callback on its way to the loop. */
struct fr_event {
    struct rte_link *link;
    enum fr_kind kind;
    unsigned gen;
    size_t len;
    char data[]; /* data, or the close reason */
};

static struct rte_link *fr_links;

static bool fr__alive(const struct rte_link *l)
{
    for (const struct rte_link *p = fr_links; p; p = p->next)
        if (p == l)
            return true;
    return false;
}

/* Runs on the loop. A link freed meanwhile gets nothing (the real one's
 * callers free it only after posted callbacks ran; teardown may not). */
static void fr__deliver(void *arg)
{
    struct fr_event *ev = arg;
    struct rte_link *l = ev->link;
    if (fr__alive(l)) {
        if (ev->kind == FR_OPEN && l->cb.on_open)
            l->cb.on_open(l->ctx, ev->gen);
        else if (ev->kind == FR_DATA && l->cb.on_data)
            l->cb.on_data(l->ctx, ev->gen, ev->data, ev->len);
        else if (ev->kind == FR_CLOSED && l->cb.on_closed)
            l->cb.on_closed(l->ctx, ev->gen, ev->data);
    }
    free(ev);
}

static void fr__post(struct rte_link *l, enum fr_kind kind, unsigned gen, const char *data,
                     size_t len)
{
    struct fr_event *ev = malloc(sizeof(*ev) + len + 1);
    if (!ev || l->stopped) {
        free(ev);
        return;
    }
    *ev = (struct fr_event){.link = l, .kind = kind, .gen = gen, .len = len};
    if (len)
        memcpy(ev->data, data, len);
    ev->data[len] = '\0';
    if (loop__post(l->loop, fr__deliver, ev) != 0)
        free(ev);
}

static void fr__forget_sent(struct rte_link *l)
{
    for (size_t i = 0; i < l->n_sent; i++)
        free(l->sent[i]);
    free(l->sent);
    l->sent = NULL;
    l->n_sent = 0;
}

/* The current connection ends: reported once, with reason. */
static void fr__end(struct rte_link *l, const char *reason)
{
    if (!l->gen)
        return;
    fr__post(l, FR_CLOSED, l->gen, reason, strlen(reason));
    l->gen = 0;
    l->established = false;
}

struct rte_link *rte__new(struct loop *loop, const struct rte_link_callbacks *cb, void *ctx)
{
    struct rte_link *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->loop = loop;
    l->cb = *cb;
    l->ctx = ctx;
    l->next = fr_links;
    fr_links = l;
    return l;
}

unsigned rte__open(struct rte_link *l, const char *url, const char *bearer)
{
    if (l->stopped || (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0))
        return 0;
    fr__end(l, "replaced by a new connection");
    free(l->url);
    free(l->bearer);
    l->url = strdup(url);
    l->bearer = bearer ? strdup(bearer) : NULL;
    fr__forget_sent(l);
    if (++l->next_gen == 0)
        l->next_gen = 1;
    l->opens++;
    return l->gen = l->next_gen;
}

int rte__set_ca_file(struct rte_link *l, const char *ca_file)
{
    char *c = ca_file ? strdup(ca_file) : NULL;
    if (ca_file && !c)
        return -1;
    free(l->ca_file);
    l->ca_file = c;
    return 0;
}

/* Like rte.c: frames for the connection last opened are queued (sent once
 * it is established); any other generation is refused. */
int rte__send(struct rte_link *l, unsigned gen, const char *data, size_t len)
{
    if (!gen || gen != l->gen || l->stopped)
        return -1;
    char **v = realloc(l->sent, (l->n_sent + 1) * sizeof(*v));
    if (!v)
        return -1;
    l->sent = v;
    if (!(v[l->n_sent] = strndup(data, len)))
        return -1;
    l->n_sent++;
    return 0;
}

void rte__close(struct rte_link *l, unsigned gen)
{
    if (gen && gen == l->gen)
        fr__end(l, "closed by the client");
}

void rte__stop(struct rte_link *l)
{
    if (!l)
        return;
    l->stopped = true;
    l->gen = 0;
    l->established = false;
}

void rte__free(struct rte_link *l)
{
    if (!l)
        return;
    for (struct rte_link **pp = &fr_links; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    fr__forget_sent(l);
    free(l->url);
    free(l->bearer);
    free(l->ca_file);
    free(l);
}

/* ---- the test's side ------------------------------------------------------ */

struct rte_link *fake_rte__last(void)
{
    return fr_links;
}

unsigned fake_rte__opens(const struct rte_link *l)
{
    return l ? l->opens : 0;
}

unsigned fake_rte__gen(const struct rte_link *l)
{
    return l ? l->gen : 0;
}

bool fake_rte__established(const struct rte_link *l)
{
    return l && l->gen && l->established;
}

const char *fake_rte__url(const struct rte_link *l)
{
    return l ? l->url : NULL;
}

const char *fake_rte__bearer(const struct rte_link *l)
{
    return l ? l->bearer : NULL;
}

const char *fake_rte__ca_file(const struct rte_link *l)
{
    return l ? l->ca_file : NULL;
}

size_t fake_rte__sent_count(const struct rte_link *l)
{
    return l ? l->n_sent : 0;
}

const char *fake_rte__sent(const struct rte_link *l, size_t n)
{
    return l && n < l->n_sent ? l->sent[n] : NULL;
}

void fake_rte__accept(struct rte_link *l)
{
    if (!l || !l->gen || l->established)
        return;
    l->established = true;
    fr__post(l, FR_OPEN, l->gen, NULL, 0);
}

void fake_rte__refuse(struct rte_link *l, int status)
{
    /* lws 4.1 does not pass the status on; it says which case it was */
    fake_rte__fail(l, status == 401 ? "HS: ws upgrade unauthorized"
                                    : "HS: ws upgrade response not 101");
}

void fake_rte__fail(struct rte_link *l, const char *why)
{
    char reason[200];
    if (!l || !l->gen || l->established)
        return;
    snprintf(reason, sizeof(reason), "connection failed: %s", why);
    fr__end(l, reason);
}

void fake_rte__data(struct rte_link *l, const char *data, size_t len)
{
    if (l && l->gen && l->established && len)
        fr__post(l, FR_DATA, l->gen, data, len);
}

void fake_rte__record(struct rte_link *l, const char *json)
{
    size_t n = strlen(json);
    char *rec = malloc(n + 1);
    if (!rec)
        return;
    memcpy(rec, json, n);
    rec[n] = 0x1E;
    fake_rte__data(l, rec, n + 1);
    free(rec);
}

void fake_rte__drop(struct rte_link *l)
{
    if (l && l->established)
        fr__end(l, "closed by the server");
}
