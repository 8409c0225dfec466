/* hub_probe: a small SignalR client for the fake-voice tests.
 *
 *   hub_probe --endpoint URL --token-file FILE [--ws-token-file FILE]
 *             [--users ID,ID] [--events N,N] [--protocol json] [--id TOKEN]
 *             [--seconds N] [--ping-ms N]
 *
 * Negotiates (POST URL/negotiate with the bearer token, libcurl), opens the
 * WebSocket with libwebsockets, sends the handshake, subscribes each user to
 * each event (default: the four call events) and prints one line per event
 * on stdout:
 *   negotiate status=200              negotiate answer
 *   connected                         WebSocket open
 *   frame bytes=N records=K partial=P a WebSocket message: K records ended
 *                                     in it, P bytes of an unfinished one remain
 *   record JSON                       one complete record (0x1E stripped)
 *   refused reason=...                the WebSocket was not opened
 *   closed                            the server ended the connection
 *   deadline                          --seconds ran out first
 * --id uses that connection token and skips negotiate (to test rejection).
 * Exit status: 0 after a close or --seconds, 1 for setup failures. */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rte_record.h"

struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + payload */
};

static struct {
    const char *endpoint;
    char *token;
    char *ws_token; /* for the WebSocket; defaults to token */
    const char *users;
    const char *events;
    const char *protocol;
    const char *id;
    int seconds;
    int ping_ms;
    char conn_token[256];
    struct rte_reader rd;
    char *msg;
    size_t msg_len;
    struct out_msg *out_head, *out_tail;
    int done;
    int handshaken;
    long long last_ping_ms;
} P = {.protocol = "json", .seconds = 10, .ping_ms = 5000};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(const char *fmt, const char *a)
{
    printf(fmt, a);
    fflush(stdout);
}

static void queue_record(struct lws *wsi, const char *json)
{
    size_t n = strlen(json);
    struct out_msg *m = malloc(sizeof(*m) + LWS_PRE + n + 1);
    if (!m)
        return;
    m->next = NULL;
    m->len = n + 1;
    memcpy(m->buf + LWS_PRE, json, n);
    m->buf[LWS_PRE + n] = 0x1e;
    if (P.out_tail)
        P.out_tail->next = m;
    else
        P.out_head = m;
    P.out_tail = m;
    lws_callback_on_writable(wsi);
}

static char *subscribe_json(void)
{
    static const char *defaults = "UserCallInConnected,UserCallInDisconnected,"
                                  "UserCallOutConnected,UserCallOutDisconnected";
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "type", 1);
    cJSON_AddStringToObject(root, "invocationId", "1");
    cJSON_AddStringToObject(root, "target", "Subscribe");
    cJSON *args = cJSON_AddArrayToObject(root, "arguments");
    cJSON *list = cJSON_CreateArray();
    cJSON_AddItemToArray(args, list);
    char *users = strdup(P.users);
    for (char *su = NULL, *u = strtok_r(users, ",", &su); u; u = strtok_r(NULL, ",", &su)) {
        char *events = strdup(P.events ? P.events : defaults);
        for (char *se = NULL, *e = strtok_r(events, ",", &se); e; e = strtok_r(NULL, ",", &se)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "EntityId", u);
            cJSON_AddStringToObject(o, "EventName", e);
            cJSON_AddItemToArray(list, o);
        }
        free(events);
    }
    free(users);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void on_record(struct lws *wsi, const char *rec)
{
    emit("record %s\n", rec);
    if (!P.handshaken) {
        P.handshaken = 1;
        if (P.users && strcmp(rec, "{}") == 0) {
            char *s = subscribe_json();
            queue_record(wsi, s);
            free(s);
        }
    }
}

static void on_frame(struct lws *wsi, const char *data, size_t len)
{
    rte_reader__feed(&P.rd, data, len);
    char *rec;
    size_t rlen;
    int n = 0;
    char line[128];
    /* Count first, print the frame line, then the records, so a test can
     * tell which records shared a frame. */
    char **recs = NULL;
    while (rte_reader__next(&P.rd, &rec, &rlen)) {
        recs = realloc(recs, (size_t)(n + 1) * sizeof(*recs));
        recs[n++] = rec;
    }
    snprintf(line, sizeof(line), "frame bytes=%zu records=%d partial=%zu\n", len, n,
             rte_reader__pending(&P.rd));
    emit("%s", line);
    for (int i = 0; i < n; i++) {
        on_record(wsi, recs[i]);
        free(recs[i]);
    }
    free(recs);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        emit("refused reason=%s\n", in ? (const char *)in : "unknown");
        P.done = 1;
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        emit("%s\n", "connected");
        char hs[128];
        snprintf(hs, sizeof(hs), "{\"protocol\":\"%s\",\"version\":1}", P.protocol);
        queue_record(wsi, hs);
        P.last_ping_ms = now_ms();
        lws_set_timer_usecs(wsi, 100 * 1000);
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        /* Join the fragments of one WebSocket message: records are cut on
         * 0x1E by on_frame, never on message boundaries. */
        char *nm = realloc(P.msg, P.msg_len + len + 1);
        if (!nm)
            return -1;
        P.msg = nm;
        memcpy(P.msg + P.msg_len, in, len);
        P.msg_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            on_frame(wsi, P.msg, P.msg_len);
            P.msg_len = 0;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        struct out_msg *m = P.out_head;
        if (!m)
            break;
        P.out_head = m->next;
        if (!P.out_head)
            P.out_tail = NULL;
        int rc = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (rc < 0)
            return -1;
        if (P.out_head)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_TIMER:
        if (P.handshaken && P.ping_ms > 0 && now_ms() - P.last_ping_ms >= P.ping_ms) {
            P.last_ping_ms = now_ms();
            queue_record(wsi, "{\"type\":6}");
        }
        lws_set_timer_usecs(wsi, 100 * 1000);
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        emit("%s\n", "peer-close");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!P.done)
            emit("%s\n", "closed");
        P.done = 1;
        break;
    default:
        break;
    }
    return 0;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    char **buf = ud;
    size_t old = *buf ? strlen(*buf) : 0, add = size * nmemb;
    char *nb = realloc(*buf, old + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + old, ptr, add);
    nb[old + add] = '\0';
    *buf = nb;
    return add;
}

static int negotiate(void)
{
    char url[1024], auth[8192];
    snprintf(url, sizeof(url), "%s/negotiate?negotiateVersion=1", P.endpoint);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", P.token);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    char *body = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    printf("negotiate status=%ld\n", status);
    fflush(stdout);
    int ok = -1;
    cJSON *root = rc == CURLE_OK && status == 200 && body ? cJSON_Parse(body) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "connectionToken");
    if (cJSON_IsString(t) && strlen(t->valuestring) < sizeof(P.conn_token)) {
        snprintf(P.conn_token, sizeof(P.conn_token), "%s", t->valuestring);
        ok = 0;
    }
    cJSON_Delete(root);
    free(body);
    return ok;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return strdup(buf);
}

int main(int argc, char **argv)
{
    const char *token_file = NULL, *ws_token_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--endpoint"))
            P.endpoint = v;
        else if (!strcmp(a, "--token-file"))
            token_file = v;
        else if (!strcmp(a, "--ws-token-file"))
            ws_token_file = v;
        else if (!strcmp(a, "--users"))
            P.users = v;
        else if (!strcmp(a, "--events"))
            P.events = v;
        else if (!strcmp(a, "--protocol"))
            P.protocol = v;
        else if (!strcmp(a, "--id"))
            P.id = v;
        else if (!strcmp(a, "--seconds"))
            P.seconds = atoi(v);
        else if (!strcmp(a, "--ping-ms"))
            P.ping_ms = atoi(v);
        else {
            fprintf(stderr, "hub_probe: unknown option %s\n", a);
            return 1;
        }
    }
    if (!P.endpoint || !token_file || !(P.token = read_file(token_file))) {
        fprintf(stderr, "hub_probe: need --endpoint and a readable --token-file\n");
        return 1;
    }
    if (ws_token_file && !(P.ws_token = read_file(ws_token_file))) {
        fprintf(stderr, "hub_probe: cannot read --ws-token-file\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rte_reader__init(&P.rd, 0);
    if (P.id)
        snprintf(P.conn_token, sizeof(P.conn_token), "%s", P.id);
    else if (negotiate() != 0)
        return 1;

    char ep[1024];
    snprintf(ep, sizeof(ep), "%s", P.endpoint);
    const char *prot, *addr, *path;
    int port;
    if (lws_parse_uri(ep, &prot, &addr, &port, &path)) {
        fprintf(stderr, "hub_probe: bad endpoint\n");
        return 1;
    }
    CURL *esc = curl_easy_init();
    char *e_id = curl_easy_escape(esc, P.conn_token, 0);
    char *e_tok = curl_easy_escape(esc, P.ws_token ? P.ws_token : P.token, 0);
    char full_path[10000];
    snprintf(full_path, sizeof(full_path), "/%s?id=%s&access_token=%s", path, e_id, e_tok);
    curl_free(e_id);
    curl_free(e_tok);
    curl_easy_cleanup(esc);

    lws_set_log_level(LLL_ERR, NULL);
    static const struct lws_protocols protocols[] = {{"signalr", callback, 0, 65536, 0, NULL, 0},
                                                     {NULL, NULL, 0, 0, 0, NULL, 0}};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = ctx;
    ci.address = addr;
    ci.port = port;
    ci.path = full_path;
    ci.host = addr;
    ci.origin = addr;
    ci.ssl_connection = !strcmp(prot, "https") || !strcmp(prot, "wss") ? LCCSCF_USE_SSL : 0;
    ci.protocol = NULL;
    ci.local_protocol_name = "signalr";
    if (!lws_client_connect_via_info(&ci)) {
        emit("refused reason=%s\n", "connect-failed");
        lws_context_destroy(ctx);
        return 0;
    }
    long long deadline = now_ms() + (long long)P.seconds * 1000;
    while (!P.done && now_ms() < deadline)
        lws_service(ctx, 100);
    if (!P.done) {
        emit("%s\n", "deadline");
        P.done = 2; /* our own close below is not the server's */
    }
    lws_context_destroy(ctx);
    rte_reader__free(&P.rd);
    free(P.msg);
    while (P.out_head) {
        struct out_msg *m = P.out_head;
        P.out_head = m->next;
        free(m);
    }
    free(P.token);
    free(P.ws_token);
    curl_global_cleanup();
    return 0;
}
