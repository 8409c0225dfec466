/* The RTE access token's exp claim (read, not verified) and the refresh
 * delay computed from it for a range of wall clocks. Property: the delay is
 * never negative (and UBSan checks the arithmetic). */
#include "fuzz_util.h"

#include "core/log.h"
#include "voice/signalr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = fu_str(data, size);
    int64_t exp = 0;
    if (signalr__jwt_exp(tok, &exp) == 0) {
        /* wall clocks the daemon can see (clock__wall_ms), plus the far ends
         * that cannot overflow; INT64_MIN does (see the fuzzing report) */
        static const int64_t nows[] = {0, 1795687200000, 32503680000000, INT64_MAX / 2, INT64_MAX,
                                       -1};
        for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
            int64_t d = signalr__refresh_delay_ms(exp, nows[i]);
            FUZZ_ASSERT(d >= 0);
        }
    }
    free(tok);
    return 0;
}
