/* Webhook load generator for scripts/bench.sh: POSTs bodies (one JSON per
 * line of a file, used in turn) to http://127.0.0.1:PORT/PATH over a few
 * keep-alive connections, either paced (--rate R requests/s, open loop: a
 * request's time counts from when it was due, so a stalled server cannot
 * hide its queue) or as fast as the connections allow (--rate 0).
 *
 *   bench_load --port N --path /graph/notify/t --bodies FILE [--rate R]
 *              [--seconds S | --count N] [--conns C]
 *
 * A line that starts with '/' is "PATH<TAB>BODY" (its own path; BODY may be
 * empty), for driving the simulators' control APIs. --log FILE writes
 * "INDEX WALL_MS_SENT STATUS" per request (wall clock, ms since the epoch).
 *
 * Prints one line: sent, statuses, achieved rate, p50/p99/max ack in ms.
 * Responses are read just far enough to find the status and Content-Length
 * (raw sockets, as the benchmark wants no client library in the timing). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64

struct conn {
    int fd;
    int busy;
    double due; /* when the request in flight was due (s) */
    long idx;
    double wall_sent;
    char *out; /* request bytes */
    size_t out_len, out_off;
    char in[8192];
    size_t in_len;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conn_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int port = 0, conns = 8;
    double rate = 1000, seconds = 10;
    long count = 0;
    const char *path = NULL, *file = NULL, *logf = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--path"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "--bodies"))
            file = argv[i + 1];
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--count"))
            count = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--log"))
            logf = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!path)
        path = "/";
    if (!port || !file || conns < 1 || conns > MAX_CONNS) {
        fprintf(stderr, "usage: bench_load --port N --path P --bodies FILE [--rate R] "
                        "[--seconds S|--count N] [--conns C]\n");
        return 2;
    }
    /* the requests, built once */
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return 1;
    }
    size_t nreq = 0, cap = 0;
    char **req = NULL;
    size_t *req_len = NULL;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &lcap, f)) > 0) {
        while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
            line[--ll] = 0;
        if (!ll)
            continue;
        if (nreq == cap) {
            cap = cap ? cap * 2 : 64;
            req = realloc(req, cap * sizeof(*req));
            req_len = realloc(req_len, cap * sizeof(*req_len));
        }
        const char *p = path, *body = line;
        char *tab;
        if (line[0] == '/' && (tab = strchr(line, '\t'))) {
            *tab = 0;
            p = line;
            body = tab + 1;
        }
        size_t blen = strlen(body);
        size_t sz = blen + 256 + strlen(p);
        req[nreq] = malloc(sz);
        int h = snprintf(req[nreq], sz,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         p, port, blen);
        memcpy(req[nreq] + h, body, blen);
        req_len[nreq] = (size_t)h + blen;
        nreq++;
    }
    fclose(f);
    free(line);
    if (!nreq) {
        fprintf(stderr, "no bodies in %s\n", file);
        return 1;
    }
    long total = count ? count : (long)(rate * seconds);
    if (rate <= 0 && !count) {
        fprintf(stderr, "--rate 0 needs --count\n");
        return 2;
    }
    double *lat = calloc((size_t)total, sizeof(double));
    long sent = 0, done = 0, st2xx = 0, st503 = 0, stother = 0;
    struct conn c[MAX_CONNS] = {0};
    for (int i = 0; i < conns; i++)
        c[i].fd = conn_open(port);
    FILE *lf = logf ? fopen(logf, "w") : NULL;
    double t0 = now_s();
    while (done < total) {
        double t = now_s();
        /* start every request that is due on a free connection */
        for (int i = 0; i < conns && sent < total; i++) {
            if (c[i].busy)
                continue;
            double due = rate > 0 ? t0 + (double)sent / rate : t;
            if (due > t)
                break;
            c[i].busy = 1;
            c[i].due = due;
            c[i].out = req[sent % (long)nreq];
            c[i].out_len = req_len[sent % (long)nreq];
            c[i].out_off = 0;
            c[i].in_len = 0;
            c[i].idx = sent;
            struct timespec w;
            clock_gettime(CLOCK_REALTIME, &w);
            c[i].wall_sent = (double)w.tv_sec * 1e3 + (double)w.tv_nsec / 1e6;
            sent++;
        }
        struct pollfd p[MAX_CONNS];
        for (int i = 0; i < conns; i++) {
            p[i].fd = c[i].fd;
            p[i].events = c[i].busy ? (c[i].out_off < c[i].out_len ? POLLOUT : POLLIN) : 0;
            p[i].revents = 0;
        }
        int wait_ms = 1;
        if (rate <= 0)
            wait_ms = 100;
        poll(p, (nfds_t)conns, wait_ms);
        for (int i = 0; i < conns; i++) {
            if (!c[i].busy)
                continue;
            if (p[i].revents & POLLOUT) {
                ssize_t w = send(c[i].fd, c[i].out + c[i].out_off, c[i].out_len - c[i].out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0)
                    c[i].out_off += (size_t)w;
                else if (w < 0 && errno != EAGAIN) {
                    perror("send");
                    return 1;
                }
            }
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(c[i].fd, c[i].in + c[i].in_len, sizeof(c[i].in) - 1 - c[i].in_len,
                                 MSG_DONTWAIT);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    fprintf(stderr, "connection %d closed by the server\n", i);
                    return 1;
                }
                c[i].in_len += (size_t)r;
                c[i].in[c[i].in_len] = 0;
                char *end = strstr(c[i].in, "\r\n\r\n");
                if (!end)
                    continue;
                long clen = 0;
                char *cl = strcasestr(c[i].in, "\r\ncontent-length:");
                if (cl && cl < end)
                    clen = atol(cl + 17);
                if ((long)(c[i].in_len - (size_t)(end + 4 - c[i].in)) < clen)
                    continue;
                int status = atoi(c[i].in + 9);
                if (status >= 200 && status < 300)
                    st2xx++;
                else if (status == 503)
                    st503++;
                else
                    stother++;
                lat[done++] = (now_s() - c[i].due) * 1000.0;
                if (lf)
                    fprintf(lf, "%ld %.3f %d\n", c[i].idx, c[i].wall_sent, status);
                c[i].busy = 0;
            }
        }
    }
    double el = now_s() - t0;
    if (lf)
        fclose(lf);
    qsort(lat, (size_t)done, sizeof(double), cmp_d);
    printf("sent=%ld 2xx=%ld 503=%ld other=%ld seconds=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f\n",
           sent, st2xx, st503, stother, el, (double)done / el, lat[done / 2],
           lat[(long)((double)done * 0.99)], lat[done - 1]);
    return 0;
}
