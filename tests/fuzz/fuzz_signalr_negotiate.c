/* The negotiate response: signalr__parse_negotiate on arbitrary bytes, then
 * the URLs the client builds from what it returned (redirect url, token,
 * access token), which percent-encode server-chosen strings. */
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

/* No byte that could break the request line (controls, space, DEL) may be
 * in a URL we build, whatever the server put in its answer. Bytes >= 0x80
 * pass through as they are (signalr__split_endpoint allows them). */
static void check_url(char *url)
{
    if (!url)
        return;
    for (const char *p = url; *p; p++)
        FUZZ_ASSERT((unsigned char)*p > 0x20 && (unsigned char)*p != 0x7f);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct signalr_negotiate n;
    char err[128] = "";
    memset(&n, 0, sizeof(n));
    int rc = signalr__parse_negotiate((const char *)data, size, &n, err, sizeof(err));
    FUZZ_ASSERT(rc >= -1 && rc <= SIGNALR_NEG_ERROR);
    if (rc == SIGNALR_NEG_CONNECT) {
        FUZZ_ASSERT(n.connection_token != NULL);
        check_url(signalr__ws_url("voice.example.com/hub", n.connection_token, n.access_token));
    }
    if (rc == SIGNALR_NEG_REDIRECT) {
        FUZZ_ASSERT(n.url != NULL);
        check_url(signalr__negotiate_url(n.url));
        check_url(signalr__ws_url(n.url, "tok", n.access_token));
    }
    if (rc == SIGNALR_NEG_ERROR)
        FUZZ_ASSERT(n.error != NULL);
    signalr_negotiate__free(&n);
    return 0;
}
