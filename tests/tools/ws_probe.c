/* A WebSocket client on libwebsockets for tests/integration/test_http_server.sh.
 *
 *   ws_probe PORT PATH MSG...
 *
 * Connects to ws://127.0.0.1:PORT/PATH (PATH may carry ?query), sends every
 * MSG in order without waiting for answers, and prints "open", one
 * "recv <text>" line per message received, and "closed" when the server
 * closes. MSG forms:
 *   text        one frame
 *   frag:text   the text split over 3 frames (text, continuation, continuation)
 *   big:N       N bytes of 'x' in one frame; its echo prints as "recv big:N"
 *   close       sent as is (the probe server closes on it)
 * Exits after it has received `1 + number of MSGs` messages (the greeting,
 * then one echo each), when the server closes, or after 5 s (exit 1).
 */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_msgs, next_msg, next_piece, received, done, failed;
static char **msgs;
static char *rx;
static size_t rx_len, rx_cap;

static void on_message(void)
{
    if (rx_len > 64 && rx[0] == 'x' && strspn(rx, "x") == rx_len)
        printf("recv big:%zu\n", rx_len);
    else
        printf("recv %.*s\n", (int)rx_len, rx);
    fflush(stdout);
    if (++received >= n_msgs + 1)
        done = 1;
}

/* Sends the next frame of the current message; 1 when more remain. */
static int send_next(struct lws *wsi)
{
    if (next_msg >= n_msgs)
        return 0;
    const char *m = msgs[next_msg];
    unsigned char *buf;
    size_t len;
    int flags;
    if (!strncmp(m, "big:", 4)) {
        len = (size_t)atol(m + 4);
        buf = malloc(LWS_PRE + len);
        memset(buf + LWS_PRE, 'x', len);
        flags = LWS_WRITE_TEXT;
        next_msg++;
    }
    else if (!strncmp(m, "frag:", 5)) {
        const char *t = m + 5;
        size_t tl = strlen(t), third = tl / 3;
        size_t off = (size_t)next_piece * third;
        len = next_piece == 2 ? tl - off : third;
        buf = malloc(LWS_PRE + len + 1);
        memcpy(buf + LWS_PRE, t + off, len);
        flags = next_piece == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;
        if (next_piece < 2)
            flags |= LWS_WRITE_NO_FIN;
        if (++next_piece == 3) {
            next_piece = 0;
            next_msg++;
        }
    }
    else {
        len = strlen(m);
        buf = malloc(LWS_PRE + len + 1);
        memcpy(buf + LWS_PRE, m, len);
        flags = LWS_WRITE_TEXT;
        next_msg++;
    }
    int n = lws_write(wsi, buf + LWS_PRE, len, (enum lws_write_protocol)flags);
    free(buf);
    if (n < (int)len)
        return -1;
    return next_msg < n_msgs;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        printf("open\n");
        fflush(stdout);
        if (n_msgs)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        int r = send_next(wsi);
        if (r < 0)
            return -1;
        if (r)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_first_fragment(wsi))
            rx_len = 0;
        if (rx_len + len + 1 > rx_cap) {
            rx_cap = (rx_len + len + 1) * 2;
            rx = realloc(rx, rx_cap);
        }
        memcpy(rx + rx_len, in, len);
        rx_len += len;
        rx[rx_len] = '\0';
        if (lws_is_final_fragment(wsi))
            on_message();
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        printf("error %s\n", in ? (const char *)in : "");
        failed = done = 1;
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        printf("closed\n");
        done = 1;
        break;
    default:
        break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT PATH MSG...\n", argv[0]);
        return 2;
    }
    msgs = argv + 3;
    n_msgs = argc - 3;
    lws_set_log_level(LLL_ERR, NULL);
    static const struct lws_protocols protocols[] = {{"probe", callback, 0, 0, 0, NULL, 0},
                                                     {NULL, NULL, 0, 0, 0, NULL, 0}};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    char path[2048];
    snprintf(path, sizeof(path), "%s%s", argv[2][0] == '/' ? "" : "/", argv[2]);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = ctx;
    ci.address = "127.0.0.1";
    ci.port = atoi(argv[1]);
    ci.path = path;
    ci.host = "127.0.0.1";
    ci.origin = "127.0.0.1";
    ci.protocol = NULL; /* like the SignalR client: no subprotocol */
    if (!lws_client_connect_via_info(&ci)) {
        printf("error connect\n");
        return 1;
    }
    time_t end = time(NULL) + 5;
    while (!done && time(NULL) < end)
        lws_service(ctx, 100);
    lws_context_destroy(ctx);
    free(rx);
    if (!done)
        printf("timeout\n");
    return failed || !done ? 1 : 0;
}
