/* The canned-reply server of canned_http.h: an accept thread and a thread
 * per connection (keep-alive, as libcurl reuses connections). It only finds
 * where a request ends (headers, then Content-Length bytes); chunked request
 * bodies are not needed by the daemon's client and are not supported. */
#include "canned_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CH_MAX_RULES 128 /* component_graph_resync answers 98 $batch lookups one by one */
#define CH_REQ_MAX   (8 * 1024 * 1024)

struct ch_rule {
    struct canned_rule r;
    char *method, *path, *headers, *body, *request_has;
    int used;
};

struct ch_req {
    struct ch_req *next;
    char *method, *target, *text;
};

struct canned_http {
    int lfd;
    char url[64];
    pthread_t accept_thread;
    pthread_mutex_t lock;
    bool stopping;
    int open_conns;
    struct ch_rule rules[CH_MAX_RULES];
    int n_rules;
    struct ch_req *reqs, **reqs_tail;
};

struct ch_conn {
    struct canned_http *s;
    int fd;
};

static char *ch__dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void ch__send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one request into *out (malloc'd, NUL-terminated); its length, or
 * -1 when the peer closed or the server stops. */
static ssize_t ch__read_request(struct ch_conn *c, char **out)
{
    size_t cap = 4096, len = 0, need = 0;
    char *buf = malloc(cap);
    while (buf) {
        char *end = need ? NULL : memmem(buf, len, "\r\n\r\n", 4);
        if (end && !need) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            need = (size_t)(end - buf) + 4 + body;
        }
        if (need && len >= need) {
            buf[need] = '\0';
            *out = buf;
            return (ssize_t)need;
        }
        if (len + 1 >= cap) {
            char *grown = cap < CH_REQ_MAX ? realloc(buf, cap * 2) : NULL;
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 200) == 0) {
            pthread_mutex_lock(&c->s->lock);
            bool stop = c->s->stopping;
            pthread_mutex_unlock(&c->s->lock);
            if (stop)
                break;
            continue;
        }
        ssize_t n = recv(c->fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    free(buf);
    return -1;
}

/* Records the request and picks the rule that answers it (a copy). */
static bool ch__match(struct canned_http *s, char *text, struct canned_rule *out)
{
    char method[16] = "", target[4096] = "";
    sscanf(text, "%15s %4095s", method, target);
    struct ch_req *q = calloc(1, sizeof(*q));
    pthread_mutex_lock(&s->lock);
    if (q) {
        q->method = strdup(method);
        q->target = strdup(target);
        q->text = text;
        *s->reqs_tail = q;
        s->reqs_tail = &q->next;
    }
    bool found = false;
    for (int i = 0; i < s->n_rules && !found; i++) {
        struct ch_rule *r = &s->rules[i];
        if ((r->method && strcmp(r->method, method) != 0) ||
            strncmp(target, r->path, strlen(r->path)) != 0 ||
            (r->r.times && r->used >= r->r.times) ||
            (r->request_has && !strstr(text, r->request_has)))
            continue;
        r->used++;
        *out = r->r;
        out->headers = ch__dup(r->headers);
        out->body = ch__dup(r->body);
        found = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (!q)
        free(text);
    return found;
}

static void ch__reply(int fd, const struct canned_rule *r)
{
    const char *body = r->body ? r->body : "";
    char head[512];
    if (r->delay_ms > 0)
        nanosleep(&(struct timespec){r->delay_ms / 1000, (r->delay_ms % 1000) * 1000000L}, NULL);
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d Canned\r\nContent-Length: %zu\r\n%s%s\r\n",
                     r->status, strlen(body), r->headers ? r->headers : "",
                     r->body && (r->body[0] == '{' || r->body[0] == '[')
                         ? "Content-Type: application/json\r\n"
                         : "");
    ch__send_all(fd, head, (size_t)n);
    ch__send_all(fd, body, strlen(body));
}

static void *ch__conn_main(void *arg)
{
    struct ch_conn *c = arg;
    char *text;
    while (ch__read_request(c, &text) >= 0) {
        struct canned_rule r = {.status = 404, .body = "{\"error\":\"no canned reply\"}"};
        bool owned = ch__match(c->s, text, &r);
        ch__reply(c->fd, &r);
        if (owned) {
            free((char *)r.headers);
            free((char *)r.body);
        }
    }
    close(c->fd);
    pthread_mutex_lock(&c->s->lock);
    c->s->open_conns--;
    pthread_mutex_unlock(&c->s->lock);
    free(c);
    return NULL;
}

static void *ch__accept_main(void *arg)
{
    struct canned_http *s = arg;
    for (;;) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        int ready = poll(&p, 1, 100);
        pthread_mutex_lock(&s->lock);
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            return NULL;
        if (ready <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        struct ch_conn *c = fd >= 0 ? calloc(1, sizeof(*c)) : NULL;
        pthread_t t;
        if (!c) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->lock);
        s->open_conns++;
        pthread_mutex_unlock(&s->lock);
        if (pthread_create(&t, NULL, ch__conn_main, c) == 0) {
            pthread_detach(t);
        }
        else {
            close(fd);
            free(c);
            pthread_mutex_lock(&s->lock);
            s->open_conns--;
            pthread_mutex_unlock(&s->lock);
        }
    }
}

struct canned_http *canned_http__start(void)
{
    struct canned_http *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->reqs_tail = &s->reqs;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(s->lfd, 64) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        pthread_create(&s->accept_thread, NULL, ch__accept_main, s) != 0) {
        if (s->lfd >= 0)
            close(s->lfd);
        free(s);
        return NULL;
    }
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    return s;
}

static void ch__forget(struct canned_http *s)
{
    for (int i = 0; i < s->n_rules; i++) {
        free(s->rules[i].method);
        free(s->rules[i].path);
        free(s->rules[i].headers);
        free(s->rules[i].body);
        free(s->rules[i].request_has);
    }
    s->n_rules = 0;
    for (struct ch_req *q = s->reqs; q;) {
        struct ch_req *next = q->next;
        free(q->method);
        free(q->target);
        free(q->text);
        free(q);
        q = next;
    }
    s->reqs = NULL;
    s->reqs_tail = &s->reqs;
}

void canned_http__stop(struct canned_http *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->accept_thread, NULL);
    close(s->lfd);
    for (int waited = 0; waited < 2000; waited += 10) { /* connection threads see `stopping` */
        pthread_mutex_lock(&s->lock);
        int open = s->open_conns;
        pthread_mutex_unlock(&s->lock);
        if (!open)
            break;
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    ch__forget(s);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *canned_http__url(const struct canned_http *s)
{
    return s->url;
}

/* Adds a copy of r, first or last. */
static void ch__insert(struct canned_http *s, bool first, const struct canned_rule *r,
                       const char *has)
{
    pthread_mutex_lock(&s->lock);
    if (s->n_rules < CH_MAX_RULES) {
        int at = first ? 0 : s->n_rules;
        memmove(&s->rules[at + 1], &s->rules[at], (size_t)(s->n_rules - at) * sizeof(s->rules[0]));
        s->n_rules++;
        struct ch_rule *c = &s->rules[at];
        *c = (struct ch_rule){.r = *r};
        c->method = ch__dup(r->method);
        c->path = ch__dup(r->path ? r->path : "");
        c->headers = ch__dup(r->headers);
        c->body = ch__dup(r->body);
        c->request_has = ch__dup(has);
    }
    pthread_mutex_unlock(&s->lock);
}

void canned_http__add(struct canned_http *s, const struct canned_rule *r)
{
    ch__insert(s, false, r, NULL);
}

void canned_http__prepend(struct canned_http *s, const struct canned_rule *r)
{
    ch__insert(s, true, r, NULL);
}

void canned_http__prepend_if(struct canned_http *s, const struct canned_rule *r, const char *has)
{
    ch__insert(s, true, r, has);
}

void canned_http__reset(struct canned_http *s)
{
    pthread_mutex_lock(&s->lock);
    ch__forget(s);
    pthread_mutex_unlock(&s->lock);
}

static bool ch__req_is(const struct ch_req *q, const char *method, const char *path)
{
    return (!method || strcmp(q->method, method) == 0) &&
           (!path || strncmp(q->target, path, strlen(path)) == 0);
}

size_t canned_http__count(struct canned_http *s, const char *method, const char *path)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (struct ch_req *q = s->reqs; q; q = q->next)
        n += ch__req_is(q, method, path);
    pthread_mutex_unlock(&s->lock);
    return n;
}

char *canned_http__request(struct canned_http *s, const char *method, const char *path, size_t n)
{
    char *text = NULL;
    pthread_mutex_lock(&s->lock);
    for (struct ch_req *q = s->reqs; q && !text; q = q->next)
        if (ch__req_is(q, method, path) && n-- == 0)
            text = strdup(q->text);
    pthread_mutex_unlock(&s->lock);
    return text;
}
