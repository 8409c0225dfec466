/* SignalR JSON hub protocol: record splitting, message parsing, builders,
 * negotiate, URLs and the JWT exp claim (connector/voice/signalr.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voice/signalr.h"

/* ---- splitter ------------------------------------------------------------ */

#define REC_A "{\"type\":1,\"target\":\"MessageReceived\",\"arguments\":[{\"data\":{}}]}"
#define REC_B "{\"type\":6}"
static const char two_records[] = REC_A "\x1e" REC_B "\x1e";

struct collected {
    char recs[8][256];
    size_t n;
};

/* Drains every complete record; fails the test on the error state. */
static void drain(struct signalr_reader *r, struct collected *c)
{
    const char *rec;
    size_t len;
    int rc;
    while ((rc = signalr_reader__next(r, &rec, &len)) == 1) {
        assert_true(c->n < 8);
        assert_true(len < 256);
        assert_int_equal(strlen(rec), len); /* NUL terminated in place */
        memcpy(c->recs[c->n], rec, len + 1);
        c->n++;
    }
    assert_int_equal(rc, 0);
}

static void assert_two(const struct collected *c)
{
    assert_int_equal(c->n, 2);
    assert_string_equal(c->recs[0], REC_A);
    assert_string_equal(c->recs[1], REC_B);
}

static void test_split_whole_stream(void **state)
{
    (void)state;
    struct signalr_reader r;
    signalr_reader__init(&r, 0);
    struct collected c = {0};
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)two_records, strlen(two_records)),
                     0);
    drain(&r, &c);
    assert_two(&c);
    assert_int_equal(signalr_reader__pending(&r), 0);
    signalr_reader__free(&r);
}

static void test_split_byte_by_byte(void **state)
{
    (void)state;
    struct signalr_reader r;
    signalr_reader__init(&r, 0);
    struct collected c = {0};
    size_t n = strlen(two_records);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)two_records + i, 1), 0);
        size_t before = c.n;
        drain(&r, &c);
        /* a record appears exactly when its separator arrives */
        assert_int_equal(c.n - before, two_records[i] == 0x1e ? 1 : 0);
    }
    assert_two(&c);
    signalr_reader__free(&r);
}

static void test_split_every_two_way_split(void **state)
{
    (void)state;
    size_t n = strlen(two_records);
    for (size_t cut = 0; cut <= n; cut++) {
        struct signalr_reader r;
        signalr_reader__init(&r, 0);
        struct collected c = {0};
        /* feed both parts before draining, and also drain in between */
        for (int mode = 0; mode < 2; mode++) {
            signalr_reader__reset(&r);
            memset(&c, 0, sizeof(c));
            assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)two_records, cut), 0);
            if (mode)
                drain(&r, &c);
            assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)two_records + cut, n - cut),
                             0);
            drain(&r, &c);
            assert_two(&c);
        }
        signalr_reader__free(&r);
    }
}

static void test_split_every_three_way_split(void **state)
{
    (void)state;
    size_t n = strlen(two_records);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            struct signalr_reader r;
            signalr_reader__init(&r, 0);
            struct collected c = {0};
            const uint8_t *s = (const uint8_t *)two_records;
            assert_int_equal(signalr_reader__feed(&r, s, a), 0);
            drain(&r, &c);
            assert_int_equal(signalr_reader__feed(&r, s + a, b - a), 0);
            drain(&r, &c);
            assert_int_equal(signalr_reader__feed(&r, s + b, n - b), 0);
            drain(&r, &c);
            assert_two(&c);
            signalr_reader__free(&r);
        }
    }
}

static void test_split_empty_records_ignored(void **state)
{
    (void)state;
    static const char s[] = "\x1e\x1e" REC_B "\x1e\x1e\x1e" REC_B "\x1e";
    struct signalr_reader r;
    signalr_reader__init(&r, 0);
    struct collected c = {0};
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)s, strlen(s)), 0);
    drain(&r, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.recs[0], REC_B);
    assert_string_equal(c.recs[1], REC_B);
    signalr_reader__free(&r);
}

static void test_split_partial_tail_kept(void **state)
{
    (void)state;
    struct signalr_reader r;
    signalr_reader__init(&r, 0);
    struct collected c = {0};
    static const char s[] = REC_B "\x1e{\"ty";
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)s, strlen(s)), 0);
    drain(&r, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(signalr_reader__pending(&r), 4);
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)"pe\":6}\x1e", 7), 0);
    drain(&r, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.recs[1], REC_B);
    assert_int_equal(signalr_reader__pending(&r), 0);
    signalr_reader__free(&r);
}

static void test_split_oversize_unterminated(void **state)
{
    (void)state;
    struct signalr_reader r;
    signalr_reader__init(&r, 16);
    const char *rec;
    size_t len;
    /* exactly the limit is fine */
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)"0123456789abcdef", 16), 0);
    assert_int_equal(signalr_reader__next(&r, &rec, &len), 0);
    /* one more byte without a separator is too much */
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)"x", 1), -1);
    assert_int_equal(signalr_reader__next(&r, &rec, &len), -1);
    /* sticky until reset */
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)REC_B "\x1e", 11), -1);
    signalr_reader__reset(&r);
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)REC_B "\x1e", 11), 0);
    assert_int_equal(signalr_reader__next(&r, &rec, &len), 1);
    assert_string_equal(rec, REC_B);
    signalr_reader__free(&r);
}

static void test_split_oversize_terminated(void **state)
{
    (void)state;
    struct signalr_reader r;
    signalr_reader__init(&r, 16);
    const char *rec;
    size_t len;
    /* a complete record of 17 bytes arrives in one chunk with a good one */
    static const char s[] = REC_B "\x1e"
                                  "0123456789abcdefg\x1e" REC_B "\x1e";
    assert_int_equal(signalr_reader__feed(&r, (const uint8_t *)s, strlen(s)), 0);
    assert_int_equal(signalr_reader__next(&r, &rec, &len), 1);
    assert_string_equal(rec, REC_B);
    assert_int_equal(signalr_reader__next(&r, &rec, &len), -1);
    assert_int_equal(signalr_reader__next(&r, &rec, &len), -1);
    signalr_reader__free(&r);
}

static void test_split_default_limit_1mib(void **state)
{
    (void)state;
    struct signalr_reader r;
    signalr_reader__init(&r, 0);
    size_t big = SIGNALR_MAX_RECORD_DEFAULT;
    uint8_t *buf = malloc(big + 1);
    assert_non_null(buf);
    memset(buf, 'a', big);
    buf[big] = 0x1e;
    /* fed in 4 KiB chunks: a record of exactly the limit passes */
    for (size_t off = 0; off < big + 1; off += 4096) {
        size_t n = big + 1 - off < 4096 ? big + 1 - off : 4096;
        assert_int_equal(signalr_reader__feed(&r, buf + off, n), 0);
    }
    const char *rec;
    size_t len;
    assert_int_equal(signalr_reader__next(&r, &rec, &len), 1);
    assert_int_equal(len, big);
    /* limit + 1 without separator fails */
    assert_int_equal(signalr_reader__feed(&r, buf, big), 0);
    assert_int_equal(signalr_reader__feed(&r, buf, 1), -1);
    free(buf);
    signalr_reader__free(&r);
}

/* ---- message parsing ------------------------------------------------------ */

static int parse(const char *json, struct signalr_msg *m)
{
    char err[128] = "";
    int rc = signalr__parse(json, strlen(json), m, err, sizeof(err));
    if (rc < 0)
        assert_true(err[0] != '\0');
    return rc;
}

static void test_parse_invocation(void **state)
{
    (void)state;
    struct signalr_msg m;
    assert_int_equal(parse("{\"type\":1,\"target\":\"MessageReceived\",\"arguments\":[{\"data\":"
                           "{\"eventType\":11}}]}",
                           &m),
                     0);
    assert_int_equal(m.type, SIGNALR_INVOCATION);
    assert_string_equal(m.target, "MessageReceived");
    assert_null(m.invocation_id);
    assert_non_null(m.arguments);
    assert_int_equal(cJSON_GetArraySize(m.arguments), 1);
    signalr_msg__free(&m);

    assert_int_equal(
        parse("{\"type\":1,\"invocationId\":\"7\",\"target\":\"X\",\"arguments\":[]}", &m), 0);
    assert_string_equal(m.invocation_id, "7");
    signalr_msg__free(&m);
}

static void test_parse_completion(void **state)
{
    (void)state;
    struct signalr_msg m;
    assert_int_equal(parse("{\"type\":3,\"invocationId\":\"1\",\"result\":[1,2]}", &m), 0);
    assert_int_equal(m.type, SIGNALR_COMPLETION);
    assert_string_equal(m.invocation_id, "1");
    assert_true(cJSON_IsArray(m.result));
    assert_null(m.error);
    signalr_msg__free(&m);

    assert_int_equal(parse("{\"type\":3,\"invocationId\":\"2\",\"error\":\"denied\"}", &m), 0);
    assert_string_equal(m.error, "denied");
    assert_null(m.result);
    signalr_msg__free(&m);

    assert_int_equal(parse("{\"type\":3,\"invocationId\":\"3\"}", &m), 0);
    assert_null(m.result);
    assert_null(m.error);
    signalr_msg__free(&m);
}

static void test_parse_ping_close(void **state)
{
    (void)state;
    struct signalr_msg m;
    assert_int_equal(parse("{\"type\":6}", &m), 0);
    assert_int_equal(m.type, SIGNALR_PING);
    signalr_msg__free(&m);

    assert_int_equal(parse("{\"type\":7,\"error\":\"going away\",\"allowReconnect\":true}", &m), 0);
    assert_int_equal(m.type, SIGNALR_CLOSE);
    assert_string_equal(m.error, "going away");
    assert_true(m.allow_reconnect);
    signalr_msg__free(&m);

    assert_int_equal(parse("{\"type\":7}", &m), 0);
    assert_null(m.error);
    assert_false(m.allow_reconnect);
    signalr_msg__free(&m);
}

static void test_parse_unknown_types_pass(void **state)
{
    (void)state;
    struct signalr_msg m;
    const char *others[] = {"{\"type\":2,\"invocationId\":\"1\",\"item\":1}",
                            "{\"type\":4,\"invocationId\":\"1\",\"target\":\"x\"}",
                            "{\"type\":5,\"invocationId\":\"1\"}", "{\"type\":8}",
                            "{\"type\":99,\"whatever\":[1]}"};
    int want[] = {2, 4, 5, 8, 99};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(parse(others[i], &m), 0);
        assert_int_equal(m.type, want[i]);
        signalr_msg__free(&m);
    }
}

static void test_parse_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "{",
        "not json",
        "[1,2]",
        "\"type\"",
        "{}",
        "{\"type\":\"1\"}",
        "{\"type\":1.5}",
        "{\"type\":-1}",
        "{\"type\":1}",                                   /* invocation without target */
        "{\"type\":1,\"target\":5}",                      /* non-string target */
        "{\"type\":1,\"target\":\"X\",\"arguments\":{}}", /* arguments not an array */
        "{\"type\":3}",                                   /* completion without id */
        "{\"type\":3,\"invocationId\":1}",                /* non-string id */
        "{\"type\":3,\"invocationId\":\"1\",\"error\":5}",
        "{\"type\":7,\"error\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct signalr_msg m;
        if (parse(bad[i], &m) != -1)
            fail_msg("accepted malformed record %s", bad[i]);
        assert_null(m.root);
        signalr_msg__free(&m); /* safe after failure */
    }
}

static void test_parse_uses_length(void **state)
{
    (void)state;
    /* the length bounds the record even when more bytes follow */
    static const char s[] = "{\"type\":6}garbage";
    struct signalr_msg m;
    char err[64];
    assert_int_equal(signalr__parse(s, 10, &m, err, sizeof(err)), 0);
    assert_int_equal(m.type, 6);
    signalr_msg__free(&m);
    assert_int_equal(signalr__parse(s, 9, &m, err, sizeof(err)), -1);
    /* trailing bytes other than whitespace are not one record */
    assert_int_equal(signalr__parse(s, strlen(s), &m, err, sizeof(err)), -1);
    assert_int_equal(signalr__parse("{\"type\":6} \r\n", 13, &m, err, sizeof(err)), 0);
    signalr_msg__free(&m);
}

static void test_handshake_response(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(signalr__parse_handshake("{}", 2, err, sizeof(err)), 0);
    assert_int_equal(signalr__parse_handshake("{\"minorVersion\":0}", 18, err, sizeof(err)), 0);
    static const char e[] = "{\"error\":\"Requested protocol 'json' is not available.\"}";
    assert_int_equal(signalr__parse_handshake(e, strlen(e), err, sizeof(err)), -1);
    assert_string_equal(err, "Requested protocol 'json' is not available.");
    assert_int_equal(signalr__parse_handshake("nope", 4, err, sizeof(err)), -1);
    assert_int_equal(signalr__parse_handshake("[]", 2, err, sizeof(err)), -1);
    assert_int_equal(signalr__parse_handshake("{\"type\":6}", 10, err, sizeof(err)), -1);
}

/* ---- builders ---------------------------------------------------------------- */

static void test_static_records(void **state)
{
    (void)state;
    size_t len;
    const char *h = signalr__handshake_record(&len);
    assert_int_equal(len, strlen("{\"protocol\":\"json\",\"version\":1}") + 1);
    assert_memory_equal(h, "{\"protocol\":\"json\",\"version\":1}\x1e", len);
    const char *p = signalr__ping_record(&len);
    assert_int_equal(len, 11);
    assert_memory_equal(p, "{\"type\":6}\x1e", len);
}

/* Parses one Subscribe record and appends its entries to seen[]. */
static size_t check_subscribe_record(const struct signalr_record *rec, const char *want_id,
                                     char seen[][96], size_t n_seen)
{
    assert_int_equal(rec->data[rec->len - 1], 0x1e);
    assert_int_equal(strlen(rec->data), rec->len);
    assert_string_equal(rec->invocation_id, want_id);
    struct signalr_msg m;
    char err[128];
    assert_int_equal(signalr__parse(rec->data, rec->len - 1, &m, err, sizeof(err)), 0);
    assert_int_equal(m.type, SIGNALR_INVOCATION);
    assert_string_equal(m.target, "Subscribe");
    assert_string_equal(m.invocation_id, want_id);
    assert_int_equal(cJSON_GetArraySize(m.arguments), 1);
    const cJSON *subs = cJSON_GetArrayItem(m.arguments, 0);
    assert_true(cJSON_IsArray(subs));
    const cJSON *s;
    cJSON_ArrayForEach(s, subs)
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(s, "EntityId");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "EventName");
        assert_true(cJSON_IsString(e) && cJSON_IsString(n));
        assert_int_equal(cJSON_GetArraySize(s), 2);
        snprintf(seen[n_seen++], 96, "%.47s/%.47s", e->valuestring, n->valuestring);
    }
    signalr_msg__free(&m);
    return n_seen;
}

static void test_subscribe_single(void **state)
{
    (void)state;
    const char *users[] = {"u-1"};
    uint64_t next = 1;
    struct signalr_records recs;
    assert_int_equal(signalr__build_subscribe(users, 1, NULL, 0, 0, &next, &recs), 0);
    assert_int_equal(recs.n, 1);
    assert_int_equal(next, 2);
    assert_string_equal(
        recs.items[0].data,
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":[["
        "{\"EntityId\":\"u-1\",\"EventName\":\"UserCallInConnected\"},"
        "{\"EntityId\":\"u-1\",\"EventName\":\"UserCallInDisconnected\"},"
        "{\"EntityId\":\"u-1\",\"EventName\":\"UserCallOutConnected\"},"
        "{\"EntityId\":\"u-1\",\"EventName\":\"UserCallOutDisconnected\"}]]}\x1e");
    signalr_records__free(&recs);
}

static void test_subscribe_chunking(void **state)
{
    (void)state;
    enum { N = 1001 }; /* 4004 subscriptions */
    static char ids[N][40];
    static const char *users[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "user-%04d", i);
        users[i] = ids[i];
    }
    static char seen[4 * N][96];
    uint64_t next = 41;
    struct signalr_records recs;
    assert_int_equal(signalr__build_subscribe(users, N, NULL, 0, 0, &next, &recs), 0);
    assert_int_equal(recs.n, (4 * N + SIGNALR_SUBSCRIBE_CHUNK - 1) / SIGNALR_SUBSCRIBE_CHUNK);
    assert_int_equal(next, 41 + recs.n);
    size_t n_seen = 0;
    for (size_t r = 0; r < recs.n; r++) {
        char want_id[24];
        snprintf(want_id, sizeof(want_id), "%zu", 41 + r);
        size_t before = n_seen;
        n_seen = check_subscribe_record(&recs.items[r], want_id, seen, n_seen);
        assert_true(n_seen - before <= SIGNALR_SUBSCRIBE_CHUNK);
        assert_true(n_seen - before > 0);
    }
    /* every user x event exactly once, in order */
    assert_int_equal(n_seen, 4 * N);
    for (int i = 0; i < N; i++)
        for (int e = 0; e < 4; e++) {
            char want[96];
            snprintf(want, sizeof(want), "%.47s/%.47s", ids[i], signalr_call_events[e]);
            assert_string_equal(seen[i * 4 + e], want);
        }
    signalr_records__free(&recs);

    /* a small explicit limit */
    next = 1;
    assert_int_equal(signalr__build_subscribe(users, 3, NULL, 0, 5, &next, &recs), 0);
    assert_int_equal(recs.n, 3); /* 12 subscriptions: 5 + 5 + 2 */
    n_seen = 0;
    n_seen = check_subscribe_record(&recs.items[0], "1", seen, n_seen);
    assert_int_equal(n_seen, 5);
    n_seen = check_subscribe_record(&recs.items[1], "2", seen, n_seen);
    n_seen = check_subscribe_record(&recs.items[2], "3", seen, n_seen);
    assert_int_equal(n_seen, 12);
    signalr_records__free(&recs);
}

static void test_subscribe_escapes_and_rejects(void **state)
{
    (void)state;
    const char *odd[] = {"a\"b\\c"};
    uint64_t next = 1;
    struct signalr_records recs;
    char seen[4][96];
    assert_int_equal(signalr__build_subscribe(odd, 1, NULL, 0, 0, &next, &recs), 0);
    check_subscribe_record(&recs.items[0], "1", seen, 0);
    assert_string_equal(seen[0], "a\"b\\c/UserCallInConnected");
    signalr_records__free(&recs);

    assert_int_equal(signalr__build_subscribe(odd, 0, NULL, 0, 0, &next, &recs), 0);
    assert_int_equal(recs.n, 0);
    const char *empty[] = {"ok", ""};
    assert_int_equal(signalr__build_subscribe(empty, 2, NULL, 0, 0, &next, &recs), -1);
    assert_int_equal(recs.n, 0);
    const char *null[] = {NULL};
    assert_int_equal(signalr__build_subscribe(null, 1, NULL, 0, 0, &next, &recs), -1);
    /* event names of the model, not the four defaults */
    const char *events[] = {"CallStarted", "UserStatus"};
    const char *users[] = {"u"};
    next = 7;
    assert_int_equal(signalr__build_subscribe(users, 1, events, 2, 0, &next, &recs), 0);
    assert_int_equal(check_subscribe_record(&recs.items[0], "7", seen, 0), 2);
    assert_string_equal(seen[0], "u/CallStarted");
    assert_string_equal(seen[1], "u/UserStatus");
    signalr_records__free(&recs);
    assert_int_equal(signalr__build_subscribe(users, 1, events, 0, 0, &next, &recs), 0);
    assert_int_equal(recs.n, 0);
    const char *bad_ev[] = {""};
    assert_int_equal(signalr__build_subscribe(users, 1, bad_ev, 1, 0, &next, &recs), -1);
    /* AvailableSubscriptions: no arguments, its own id */
    struct signalr_record rec;
    assert_int_equal(signalr__build_invocation("AvailableSubscriptions", &next, &rec), 0);
    assert_string_equal(rec.data, "{\"type\":1,\"invocationId\":\"8\",\"target\":"
                                  "\"AvailableSubscriptions\",\"arguments\":[]}\x1e");
    assert_string_equal(rec.invocation_id, "8");
    assert_int_equal(next, 9);
    free(rec.data);
    assert_int_equal(signalr__build_invocation("", &next, &rec), -1);
}

/* ---- negotiate ---------------------------------------------------------------- */

static void test_negotiate_v1(void **state)
{
    (void)state;
    static const char body[] =
        "{\"negotiateVersion\":1,\"connectionId\":\"cid\",\"connectionToken\":\"tok+/=\","
        "\"availableTransports\":[{\"transport\":\"ServerSentEvents\",\"transferFormats\":"
        "[\"Text\"]},{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}]}";
    struct signalr_negotiate n;
    char err[128];
    assert_int_equal(signalr__parse_negotiate(body, strlen(body), &n, err, sizeof(err)),
                     SIGNALR_NEG_CONNECT);
    assert_string_equal(n.connection_token, "tok+/=");
    assert_string_equal(n.connection_id, "cid");
    assert_int_equal(n.version, 1);
    signalr_negotiate__free(&n);
}

static void test_negotiate_v0_redirect_error(void **state)
{
    (void)state;
    struct signalr_negotiate n;
    char err[128];
    static const char v0[] = "{\"connectionId\":\"c0\",\"availableTransports\":[{\"transport\":"
                             "\"WebSockets\",\"transferFormats\":[\"Text\"]}]}";
    assert_int_equal(signalr__parse_negotiate(v0, strlen(v0), &n, err, sizeof(err)),
                     SIGNALR_NEG_CONNECT);
    assert_string_equal(n.connection_token, "c0");
    signalr_negotiate__free(&n);

    static const char redir[] = "{\"url\":\"https://other.example/hub\",\"accessToken\":\"at\"}";
    assert_int_equal(signalr__parse_negotiate(redir, strlen(redir), &n, err, sizeof(err)),
                     SIGNALR_NEG_REDIRECT);
    assert_string_equal(n.url, "https://other.example/hub");
    assert_string_equal(n.access_token, "at");
    signalr_negotiate__free(&n);

    static const char e[] = "{\"error\":\"Negotiate failed\"}";
    assert_int_equal(signalr__parse_negotiate(e, strlen(e), &n, err, sizeof(err)),
                     SIGNALR_NEG_ERROR);
    assert_string_equal(n.error, "Negotiate failed");
    signalr_negotiate__free(&n);
}

static void test_negotiate_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{",
        /* no WebSockets */
        "{\"negotiateVersion\":1,\"connectionToken\":\"t\",\"availableTransports\":"
        "[{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\"]}]}",
        /* WebSockets without Text */
        "{\"negotiateVersion\":1,\"connectionToken\":\"t\",\"availableTransports\":"
        "[{\"transport\":\"WebSockets\",\"transferFormats\":[\"Binary\"]}]}",
        /* no transports */
        "{\"negotiateVersion\":1,\"connectionToken\":\"t\"}",
        /* v1 without a token */
        "{\"negotiateVersion\":1,\"connectionId\":\"c\",\"availableTransports\":"
        "[{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\"]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct signalr_negotiate n;
        char err[128] = "";
        if (signalr__parse_negotiate(bad[i], strlen(bad[i]), &n, err, sizeof(err)) != -1)
            fail_msg("accepted negotiate %s", bad[i]);
        assert_true(err[0] != '\0');
        assert_null(n.connection_token);
    }
}

/* ---- URLs ------------------------------------------------------------------------ */

static void assert_url(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_negotiate_urls(void **state)
{
    (void)state;
    assert_url(signalr__negotiate_url("rte.example.com/hubs/rte"),
               "https://rte.example.com/hubs/rte/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("rte.example.com/hubs/rte/"),
               "https://rte.example.com/hubs/rte/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("https://rte.example.com/hub"),
               "https://rte.example.com/hub/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("http://127.0.0.1:8099/rte"),
               "http://127.0.0.1:8099/rte/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("HTTP://127.0.0.1:8099/rte"),
               "http://127.0.0.1:8099/rte/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("rte.example.com/hub?tenant=a&x=1"),
               "https://rte.example.com/hub/negotiate?tenant=a&x=1&negotiateVersion=1");
    assert_url(signalr__negotiate_url("rte.example.com"),
               "https://rte.example.com/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("rte.example.com?a=b"),
               "https://rte.example.com/negotiate?a=b&negotiateVersion=1");
    assert_url(signalr__negotiate_url("rte.example.com/hub?"),
               "https://rte.example.com/hub/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("wss://rte.example.com/hub#frag"),
               "https://rte.example.com/hub/negotiate?negotiateVersion=1");
    assert_null(signalr__negotiate_url(""));
    assert_null(signalr__negotiate_url(NULL));
    assert_null(signalr__negotiate_url("ftp://x/y"));
    assert_null(signalr__negotiate_url("https:///nohost"));
    assert_null(signalr__negotiate_url("/path-only"));
    assert_null(signalr__negotiate_url("host/with space"));
    assert_null(signalr__negotiate_url("host/with\r\nHeader: x"));
    assert_null(signalr__negotiate_url("https://"));
    assert_null(signalr__negotiate_url("wss://?a=b"));
    /* the endpoint's query is kept as written (escapes and all) */
    assert_url(signalr__negotiate_url("rte.example.com/hub?a=%2Fb%2f&c&d=e=f"),
               "https://rte.example.com/hub/negotiate?a=%2Fb%2f&c&d=e=f&negotiateVersion=1");
    /* a negotiate redirect of a SignalR service, with its own query */
    assert_url(
        signalr__negotiate_url("https://x.service.signalr.net/client/?hub=rte&asrs.op=%2Fclient"),
        "https://x.service.signalr.net/client/negotiate?hub=rte&asrs.op=%2Fclient&"
        "negotiateVersion=1");
    /* IPv6 hosts, with and without a scheme, and a port */
    assert_url(signalr__negotiate_url("http://[::1]:8099/rte"),
               "http://[::1]:8099/rte/negotiate?negotiateVersion=1");
    assert_url(signalr__negotiate_url("[2001:db8::7]/hubs/rte?t=1"),
               "https://[2001:db8::7]/hubs/rte/negotiate?t=1&negotiateVersion=1");
    assert_url(signalr__negotiate_url("rte.example.com:8443/hub"),
               "https://rte.example.com:8443/hub/negotiate?negotiateVersion=1");
    assert_null(signalr__negotiate_url("[::1/rte"));
}

static void test_ws_urls(void **state)
{
    (void)state;
    assert_url(signalr__ws_url("rte.example.com/hubs/rte", "abc", "ey.J.w"),
               "wss://rte.example.com/hubs/rte?id=abc&access_token=ey.J.w");
    assert_url(signalr__ws_url("https://rte.example.com/hub", "abc", NULL),
               "wss://rte.example.com/hub?id=abc");
    assert_url(signalr__ws_url("http://127.0.0.1:8099/rte", "abc", "t"),
               "ws://127.0.0.1:8099/rte?id=abc&access_token=t");
    assert_url(signalr__ws_url("rte.example.com/hub?tenant=a", "abc", "t"),
               "wss://rte.example.com/hub?tenant=a&id=abc&access_token=t");
    assert_url(signalr__ws_url("rte.example.com", "abc", "t"),
               "wss://rte.example.com/?id=abc&access_token=t");
    /* values are percent-encoded */
    assert_url(signalr__ws_url("h/p", "a+b/c=d&e f", "x=y&z+%"),
               "wss://h/p?id=a%2Bb%2Fc%3Dd%26e%20f&access_token=x%3Dy%26z%2B%25");
    assert_url(signalr__ws_url("h/p", "\xc3\xa9#?", NULL), "wss://h/p?id=%C3%A9%23%3F");
    assert_null(signalr__ws_url("h/p", NULL, "t"));
    assert_null(signalr__ws_url("gopher://h/p", "a", "t"));
    /* query strings: the endpoint's kept, an empty one dropped */
    assert_url(signalr__ws_url("h/p?a=%2Fb&c", "abc", NULL), "wss://h/p?a=%2Fb&c&id=abc");
    assert_url(signalr__ws_url("h/p?", "abc", NULL), "wss://h/p?id=abc");
    assert_url(signalr__ws_url("wss://h/p?x=1#frag", "abc", NULL), "wss://h/p?x=1&id=abc");
    /* IPv6 hosts and scheme-less endpoints */
    assert_url(signalr__ws_url("http://[::1]:8099/rte", "abc", "t"),
               "ws://[::1]:8099/rte?id=abc&access_token=t");
    assert_url(signalr__ws_url("[2001:db8::7]:443/hubs/rte", "abc", NULL),
               "wss://[2001:db8::7]:443/hubs/rte?id=abc");
    assert_url(signalr__ws_url("WSS://Rte.Example.com/hub", "abc", NULL),
               "wss://Rte.Example.com/hub?id=abc");
    assert_null(signalr__ws_url("", "abc", NULL));
    assert_null(signalr__ws_url("https:///p", "abc", NULL));
}

/* ---- JWT ------------------------------------------------------------------------- */

/* base64url without padding, for building test tokens. */
static void b64url(const char *in, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)strlen(in));
    int o = 0;
    for (int i = 0; i < n; i++) {
        if (out[i] == '=')
            break;
        out[o++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    out[o] = '\0';
}

static int exp_of_payload(const char *payload_json, int64_t *exp)
{
    char h[64], p[512], tok[700];
    b64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", h);
    b64url(payload_json, p);
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p);
    return signalr__jwt_exp(tok, exp);
}

static void test_jwt_exp(void **state)
{
    (void)state;
    int64_t exp = 0;
    assert_int_equal(exp_of_payload("{\"sub\":\"u\",\"exp\":1795000000}", &exp), 0);
    assert_int_equal(exp, 1795000000);
    /* every payload length mod 3, so every padding case of base64 */
    assert_int_equal(exp_of_payload("{\"exp\":1795000001}", &exp), 0);
    assert_int_equal(exp, 1795000001);
    assert_int_equal(exp_of_payload("{\"exp\":1795000001 }", &exp), 0);
    assert_int_equal(exp_of_payload("{\"exp\":1795000001  }", &exp), 0);
    assert_int_equal(exp_of_payload("{\"exp\":1795000002.75}", &exp), 0);
    assert_int_equal(exp, 1795000002);
    /* characters that differ between base64 and base64url: '?' and '>' */
    assert_int_equal(exp_of_payload("{\"n\":\"?\?\?>>>\",\"exp\":1795000003}", &exp), 0);
    assert_int_equal(exp, 1795000003);

    assert_int_equal(exp_of_payload("{\"sub\":\"u\"}", &exp), -1);
    assert_int_equal(exp_of_payload("{\"exp\":\"1795000000\"}", &exp), -1);
    assert_int_equal(exp_of_payload("[1]", &exp), -1);
    assert_int_equal(exp_of_payload("not json", &exp), -1);
    assert_int_equal(signalr__jwt_exp(NULL, &exp), -1);
    assert_int_equal(signalr__jwt_exp("", &exp), -1);
    assert_int_equal(signalr__jwt_exp("abc", &exp), -1);
    assert_int_equal(signalr__jwt_exp("a.b", &exp), -1);
    assert_int_equal(signalr__jwt_exp("a..c", &exp), -1);
    assert_int_equal(signalr__jwt_exp("a.b.c.d", &exp), -1);
    assert_int_equal(signalr__jwt_exp("a.eyJl*XAiOjF9.c", &exp), -1);
    assert_int_equal(signalr__jwt_exp("a.eyJleHAiOjF9+.c", &exp), -1); /* not base64url */
    assert_int_equal(signalr__jwt_exp("a.eyJleHAiOjF9A.c", &exp), -1); /* length 1 mod 4 */
}

static void test_refresh_delay(void **state)
{
    (void)state;
    int64_t now = 1795000000000;
    /* one hour left: margin is 5 minutes (the cap) */
    assert_int_equal(signalr__refresh_delay_ms(1795000000 + 3600, now), 3300000);
    /* ten minutes left: a tenth is 60 s */
    assert_int_equal(signalr__refresh_delay_ms(1795000000 + 600, now), 540000);
    /* two minutes left: at least 30 s margin */
    assert_int_equal(signalr__refresh_delay_ms(1795000000 + 120, now), 90000);
    /* 20 s left, or already expired: now */
    assert_int_equal(signalr__refresh_delay_ms(1795000000 + 20, now), 0);
    assert_int_equal(signalr__refresh_delay_ms(1795000000 - 5, now), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_whole_stream),
        cmocka_unit_test(test_split_byte_by_byte),
        cmocka_unit_test(test_split_every_two_way_split),
        cmocka_unit_test(test_split_every_three_way_split),
        cmocka_unit_test(test_split_empty_records_ignored),
        cmocka_unit_test(test_split_partial_tail_kept),
        cmocka_unit_test(test_split_oversize_unterminated),
        cmocka_unit_test(test_split_oversize_terminated),
        cmocka_unit_test(test_split_default_limit_1mib),
        cmocka_unit_test(test_parse_invocation),
        cmocka_unit_test(test_parse_completion),
        cmocka_unit_test(test_parse_ping_close),
        cmocka_unit_test(test_parse_unknown_types_pass),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_uses_length),
        cmocka_unit_test(test_handshake_response),
        cmocka_unit_test(test_static_records),
        cmocka_unit_test(test_subscribe_single),
        cmocka_unit_test(test_subscribe_chunking),
        cmocka_unit_test(test_subscribe_escapes_and_rejects),
        cmocka_unit_test(test_negotiate_v1),
        cmocka_unit_test(test_negotiate_v0_redirect_error),
        cmocka_unit_test(test_negotiate_malformed),
        cmocka_unit_test(test_negotiate_urls),
        cmocka_unit_test(test_ws_urls),
        cmocka_unit_test(test_jwt_exp),
        cmocka_unit_test(test_refresh_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
