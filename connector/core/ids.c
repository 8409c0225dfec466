/* Topic ids (docs/topics.md "User ids in topics").
 *
 * The encoding is canonical: decode accepts exactly the strings encode can
 * produce, so one address has one id and one id names one address. That is
 * what lets a retained topic be found again from an address, and an id read
 * from a topic be trusted as a user key. */
#include "core/ids.h"

#include <stdbool.h>
#include <string.h>

static const char hex_digits[] = "0123456789ABCDEF";

/* Set once at start-up, before any thread reads it (ids.h). */
static bool escape_dots;

void ids__set_escape_dots(bool on)
{
    escape_dots = on;
}

bool ids__escape_dots(void)
{
    return escape_dots;
}

/* Bytes that appear as themselves in an id. Everything else is %XX. In the
 * escape-dots mode '.' is %2E too: RabbitMQ's MQTT plugin turns '.' into
 * '/' (docs/mqtt.md). */
static int ids__is_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '.' && !escape_dots) ||
           c == '_' || c == '@' || c == '-';
}

static unsigned char ids__lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Upper-case hex digit value, or -1 (lower-case is not canonical). */
static int ids__hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ids__encode(const char *addr, char *out, size_t outlen)
{
    if (!addr || !out || outlen == 0)
        return -1;
    size_t len = strlen(addr);
    if (len == 0 || len > IDS_MAX_ADDRESS)
        return -1;

    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = ids__lower((unsigned char)addr[i]);
        size_t need = ids__is_plain(c) ? 1 : 3;
        if (o + need >= outlen) /* keep room for the NUL */
            return -1;
        if (need == 1) {
            out[o++] = (char)c;
        }
        else {
            out[o++] = '%';
            out[o++] = hex_digits[c >> 4];
            out[o++] = hex_digits[c & 0x0F];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Decodes one %XX at id (which points at the '%'). Returns the byte, or -1
 * when the escape is malformed or not what encode would have written. */
static int ids__decode_escape(const char *id)
{
    int hi = ids__hex_value((unsigned char)id[1]);
    if (hi < 0)
        return -1;
    int lo = ids__hex_value((unsigned char)id[2]);
    if (lo < 0)
        return -1;
    unsigned char c = (unsigned char)(hi << 4 | lo);
    /* NUL cannot be in an address; plain bytes and upper-case letters are
     * never escaped by encode (letters are lower-cased first). */
    if (c == 0 || ids__is_plain(c) || (c >= 'A' && c <= 'Z'))
        return -1;
    return c;
}

int ids__decode(const char *id, char *out, size_t outlen)
{
    if (!id || !out || outlen == 0 || id[0] == '\0')
        return -1;

    size_t o = 0;
    for (size_t i = 0; id[i] != '\0';) {
        int c;
        if (id[i] == '%') {
            c = ids__decode_escape(id + i); /* stops at NUL: it is not a hex digit */
            if (c < 0)
                return -1;
            i += 3;
        }
        else {
            c = (unsigned char)id[i];
            if (!ids__is_plain((unsigned char)c))
                return -1;
            i++;
        }
        if (o >= IDS_MAX_ADDRESS || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}
