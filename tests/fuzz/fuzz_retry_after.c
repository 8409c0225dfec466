/* Retry-After header values: delta-seconds or an HTTP-date, relative to a
 * fixed now. Property: the result is -1 or within [0, one day]. */
#include "fuzz_util.h"

#include "core/backoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fu_str(data, size);
    static const time_t nows[] = {1795687200, 0};
    for (size_t i = 0; i < 2; i++) {
        int64_t ms = retry_after__parse_ms(s, nows[i]);
        FUZZ_ASSERT(ms == -1 || (ms >= 0 && ms <= 24LL * 3600 * 1000));
    }
    free(s);
    return 0;
}
