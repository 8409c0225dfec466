/* The Voice REST answers read before RTE starts. Byte 0 picks the parser
 * (endpoint, users/me, users + address mapping, rte token); the rest is the
 * response body. For /users, the usernames found are mapped back (upper-
 * cased, plus one unknown address): every username must match. */
#include "fuzz_util.h"

#include <ctype.h>
#include <strings.h>

#include "core/log.h"
#include "voice/discovery.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log__set_level(PS_LOG_ERROR);
    return 0;
}

static void users(const char *body, size_t len)
{
    struct voice_users u;
    char err[128];
    if (discovery__parse_users(body, len, &u, err, sizeof(err)) != 0)
        return;
    size_t n = u.n < 64 ? u.n : 64;
    const char *addr[65];
    char *owned[64];
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(u.items[i].id && u.items[i].username);
        owned[i] = strdup(u.items[i].username);
        if (!owned[i])
            abort();
        for (char *p = owned[i]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        addr[i] = owned[i];
    }
    addr[n] = "nobody-\x01@example.invalid";
    struct voice_mapping m;
    if (discovery__map_users(&u, addr, n + 1, &m) == 0) {
        FUZZ_ASSERT(m.n_matched + m.n_missing == n + 1);
        /* an address whose username has a non-ASCII byte may still differ
         * after toupper(); everything else must be found */
        for (size_t i = 0; i < m.n_missing; i++) {
            if (m.missing[i] == addr[n])
                continue;
            bool ascii = true;
            for (const char *p = m.missing[i]; *p; p++)
                ascii &= (unsigned char)*p < 0x80;
            FUZZ_ASSERT(!ascii);
        }
        voice_mapping__free(&m);
    }
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    voice_users__free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t which = fu_byte(&data, &size);
    const char *body = (const char *)data;
    char err[128];
    char *a = NULL, *b = NULL;
    switch (which % 4) {
    case 0:
        if (discovery__parse_endpoint(body, size, &a, err, sizeof(err)) == 0) {
            size_t n = strlen(a);
            FUZZ_ASSERT(n > 0 && a[n - 1] != '/');
            /* schemes are case-insensitive (RFC 3986 §3.1) */
            FUZZ_ASSERT(!strncasecmp(a, "http://", 7) || !strncasecmp(a, "https://", 8));
        }
        break;
    case 1:
        if (discovery__parse_me(body, size, &a, err, sizeof(err)) == 0)
            FUZZ_ASSERT(a != NULL);
        break;
    case 2:
        users(body, size);
        break;
    default:
        if (discovery__parse_rte_token(body, size, &a, &b, err, sizeof(err)) == 0)
            FUZZ_ASSERT(a && b);
        break;
    }
    free(a);
    free(b);
    return 0;
}
