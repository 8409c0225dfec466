/* ISO 8601 timestamps (Graph expirations, Voice event times):
 * clock__parse_iso8601 on arbitrary text. Property: whatever it accepts and
 * clock__iso8601 can print parses back to the same second. */
#include "fuzz_util.h"

#include "core/clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fu_str(data, size);
    int64_t ms = 0;
    if (clock__parse_iso8601(s, &ms) == 0) {
        char buf[64], graph[64];
        /* before 1970 printing truncates toward zero: not a case we meet */
        if (ms >= 0 && clock__iso8601(ms, buf, sizeof(buf))) {
            int64_t back = -1;
            FUZZ_ASSERT(clock__parse_iso8601(buf, &back) == 0);
            FUZZ_ASSERT(back == ms / 1000 * 1000);
        }
        if (ms >= 0 && clock__iso8601_graph(ms, graph, sizeof(graph))) {
            int64_t back = -1;
            FUZZ_ASSERT(clock__parse_iso8601(graph, &back) == 0);
        }
    }
    free(s);
    return 0;
}
