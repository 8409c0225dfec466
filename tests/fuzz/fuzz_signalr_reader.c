/* The SignalR record splitter over arbitrary chunking, checked against a
 * trivial model (split the whole stream on 0x1E, drop empty records), and
 * every record handed out parsed as a hub message and as a handshake.
 *
 *   byte 0  max_record = 16 * (byte + 1), so the limit is hit often
 *   byte 1  k = byte % 16 + 1 chunk-size bytes follow
 *   k bytes chunk sizes, used in turn (0: an empty feed, then 1 byte)
 *   rest    the byte stream
 *
 * Properties: records come out in order and byte-exact; the reader fails
 * only when a record (or the unterminated tail) is longer than max_record;
 * pending() is the unterminated tail; reset() recovers. */
#include "fuzz_util.h"

#include "core/log.h"
#include "voice/events.h"
#include "voice/signalr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

/* Model: the i-th non-empty 0x1E-separated segment of the stream (the last
 * one may be unterminated). Returns its length and sets *start; *terminated
 * tells whether a 0x1E follows it. Returns -1 when there is none. */
static long model_segment(const uint8_t *s, size_t n, size_t *cursor, const uint8_t **start,
                          bool *terminated)
{
    while (*cursor < n) {
        const uint8_t *p = s + *cursor;
        const uint8_t *rs = memchr(p, SIGNALR_RS, n - *cursor);
        size_t len = rs ? (size_t)(rs - p) : n - *cursor;
        *cursor += len + (rs ? 1 : 0);
        if (len == 0)
            continue;
        *start = p;
        *terminated = rs != NULL;
        return (long)len;
    }
    return -1;
}

static void parse_record(const char *rec, size_t len)
{
    struct signalr_msg m;
    char err[128];
    if (signalr__parse(rec, len, &m, err, sizeof(err)) == 0 && m.type == SIGNALR_INVOCATION &&
        cJSON_IsArray(m.arguments)) {
        const cJSON *a;
        cJSON_ArrayForEach(a, m.arguments)
        {
            struct voice_call_event ev;
            events__parse_rte(NULL, a, &ev, err, sizeof(err));
        }
    }
    signalr_msg__free(&m);
    signalr__parse_handshake(rec, len, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t max_record = 16 * ((size_t)fu_byte(&data, &size) + 1);
    size_t k = fu_byte(&data, &size) % 16 + 1;
    uint8_t sizes[16];
    for (size_t i = 0; i < k; i++)
        sizes[i] = fu_byte(&data, &size);

    struct signalr_reader r;
    signalr_reader__init(&r, max_record);
    size_t off = 0, cursor = 0, chunk = 0;
    bool failed = false;
    const uint8_t *mstart = NULL;
    bool mterm = false;
    long mlen = model_segment(data, size, &cursor, &mstart, &mterm);
    while (off < size && !failed) {
        size_t n = sizes[chunk++ % k];
        if (n == 0) { /* an empty frame, then at least one byte: progress */
            FUZZ_ASSERT(signalr_reader__feed(&r, data + off, 0) == 0);
            n = 1;
        }
        if (n > size - off)
            n = size - off;
        if (signalr_reader__feed(&r, data + off, n) < 0) {
            failed = true;
            break;
        }
        off += n;
        const char *rec;
        size_t len;
        int rc;
        while ((rc = signalr_reader__next(&r, &rec, &len)) == 1) {
            /* the model's next record must be complete and identical */
            FUZZ_ASSERT(mlen >= 0 && mterm && (size_t)mlen == len);
            FUZZ_ASSERT(!memcmp(rec, mstart, len) && rec[len] == '\0');
            FUZZ_ASSERT(len <= max_record);
            parse_record(rec, len);
            mlen = model_segment(data, size, &cursor, &mstart, &mterm);
        }
        if (rc < 0)
            failed = true;
    }
    if (failed) {
        /* only an over-long record (at or after the model's next one) fails */
        bool too_long = false;
        for (; mlen >= 0 && !too_long; mlen = model_segment(data, size, &cursor, &mstart, &mterm))
            too_long = (size_t)mlen > max_record;
        FUZZ_ASSERT(too_long);
        const char *rec;
        size_t len;
        FUZZ_ASSERT(signalr_reader__next(&r, &rec, &len) == -1); /* sticky */
    }
    else {
        /* everything terminated came out; what is left is the tail */
        FUZZ_ASSERT(mlen < 0 || !mterm);
        const uint8_t *last = size ? memrchr(data, SIGNALR_RS, size) : NULL;
        size_t tail = last ? size - (size_t)(last - data) - 1 : size;
        FUZZ_ASSERT(signalr_reader__pending(&r) == tail);
    }

    signalr_reader__reset(&r);
    size_t plen;
    const char *ping = signalr__ping_record(&plen);
    FUZZ_ASSERT(signalr_reader__feed(&r, (const uint8_t *)ping, plen) == 0);
    const char *rec;
    size_t len;
    FUZZ_ASSERT(signalr_reader__next(&r, &rec, &len) == 1 && len == plen - 1);
    signalr_reader__free(&r);
    return 0;
}
