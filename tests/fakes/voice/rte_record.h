/* SignalR JSON-protocol records: every record ends with the 0x1E record
 * separator, one WebSocket frame may carry several records and one record may
 * span frames. The reader buffers bytes and hands out whole records; the
 * framing helpers decide how records are cut into frames (normal, merge,
 * split) so the simulator can exercise a client's reassembly. */
#ifndef FV_RTE_RECORD_H
#define FV_RTE_RECORD_H

#include <stddef.h>

#define RTE_RS ((char)0x1e)

struct rte_reader {
    char *buf;
    size_t len;
    size_t cap;
    size_t max_record; /* a record longer than this is an error */
};

void rte_reader__init(struct rte_reader *r, size_t max_record);
void rte_reader__free(struct rte_reader *r);
/* Appends bytes. Returns 0, or -1 when the unterminated tail would exceed
 * max_record (the reader is then reset). */
int rte_reader__feed(struct rte_reader *r, const char *data, size_t len);
/* Takes the next complete record (without its 0x1E) as a malloc'd,
 * NUL-terminated string. Returns 1 and sets out and out_len, or 0 when no
 * complete record is buffered. */
int rte_reader__next(struct rte_reader *r, char **out, size_t *out_len);
/* Bytes buffered that do not yet form a complete record. */
size_t rte_reader__pending(const struct rte_reader *r);

/* JSON text + 0x1E as a malloc'd NUL-terminated string. */
char *rte_record__frame(const char *json, size_t *out_len);

enum rte_framing { RTE_FRAMING_NORMAL = 0, RTE_FRAMING_MERGE, RTE_FRAMING_SPLIT };
/* "normal", "merge", "split" -> mode; -1 when unknown. */
int rte_framing__parse(const char *name);
const char *rte_framing__name(int mode);

/* Where split mode cuts a framed record of len bytes (len >= 2): inside the
 * record, never at 0 or len, so both frames are non-empty and the first one
 * never ends with the separator. */
size_t rte_framing__split_at(size_t len);

#endif
