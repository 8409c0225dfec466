/* Topic ids (docs/topics.md): encoding, canonical decoding, round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/ids.h"

static void assert_encodes(const char *addr, const char *want)
{
    char out[IDS_MAX_ID];
    assert_int_equal(ids__encode(addr, out, sizeof(out)), 0);
    assert_string_equal(out, want);
    char back[IDS_MAX_ADDRESS + 1];
    assert_int_equal(ids__decode(out, back, sizeof(back)), 0);
}

static void assert_decode_fails(const char *id)
{
    char out[IDS_MAX_ADDRESS + 1];
    if (ids__decode(id, out, sizeof(out)) != -1)
        fail_msg("decode accepted \"%s\" as \"%s\"", id, out);
}

static void test_encode_contract_examples(void **state)
{
    (void)state;
    assert_encodes("a+b@x.com", "a%2Bb@x.com");
    assert_encodes("Alice@Contoso.COM", "alice@contoso.com");
    assert_encodes("first.last_x-y@sub.example.org", "first.last_x-y@sub.example.org");
}

static void test_encode_mqtt_specials(void **state)
{
    (void)state;
    assert_encodes("a#b", "a%23b");
    assert_encodes("a/b", "a%2Fb");
    assert_encodes("+", "%2B");
    assert_encodes("$SYS@x", "%24sys@x");
    assert_encodes("a b", "a%20b");
    assert_encodes("%", "%25");
    assert_encodes("%2B", "%252b");
    assert_encodes("~", "%7E");
}

static void test_encode_utf8(void **state)
{
    (void)state;
    assert_encodes("r\xC3\xA9mi@x.fr", "r%C3%A9mi@x.fr"); /* é */
    /* Only ASCII is lower-cased: É stays its own bytes. */
    assert_encodes("\xC3\x89", "%C3%89");
}

static void test_encode_rejects(void **state)
{
    (void)state;
    char out[IDS_MAX_ID];
    assert_int_equal(ids__encode("", out, sizeof(out)), -1);
    assert_int_equal(ids__encode(NULL, out, sizeof(out)), -1);
    /* Room for "abc" but not its NUL. */
    char small[4];
    assert_int_equal(ids__encode("abcd", small, sizeof(small)), -1);
    assert_int_equal(ids__encode("abc", small, sizeof(small)), 0);
    assert_string_equal(small, "abc");
    /* An escape must fit whole. */
    assert_int_equal(ids__encode("a+", small, sizeof(small)), -1);
    assert_int_equal(ids__encode("a", out, 0), -1);
}

static void test_length_limits(void **state)
{
    (void)state;
    char addr[IDS_MAX_ADDRESS + 2];
    char out[IDS_MAX_ID];
    char back[IDS_MAX_ADDRESS + 1];

    memset(addr, 'a', 320);
    addr[320] = '\0';
    assert_int_equal(ids__encode(addr, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 320);
    assert_int_equal(ids__decode(out, back, sizeof(back)), 0);
    assert_string_equal(back, addr);

    memset(addr, 'a', 321);
    addr[321] = '\0';
    assert_int_equal(ids__encode(addr, out, sizeof(out)), -1);

    /* Worst case: 320 escaped bytes fill IDS_MAX_ID exactly. */
    memset(addr, '+', 320);
    addr[320] = '\0';
    assert_int_equal(ids__encode(addr, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), IDS_MAX_ID - 1);
    assert_int_equal(ids__decode(out, back, sizeof(back)), 0);
    assert_string_equal(back, addr);

    /* An id that decodes to more than 320 bytes is not one encode made. */
    memset(addr, 'a', 321);
    addr[321] = '\0';
    assert_decode_fails(addr);
}

static void test_decode_valid(void **state)
{
    (void)state;
    char out[IDS_MAX_ADDRESS + 1];
    assert_int_equal(ids__decode("a%2Bb@x.com", out, sizeof(out)), 0);
    assert_string_equal(out, "a+b@x.com");
    assert_int_equal(ids__decode("%24sys", out, sizeof(out)), 0);
    assert_string_equal(out, "$sys");
    assert_int_equal(ids__decode("%C3%A9", out, sizeof(out)), 0);
    assert_string_equal(out, "\xC3\xA9");
    assert_int_equal(ids__decode("%FF", out, sizeof(out)), 0);
    assert_string_equal(out, "\xFF");
    /* No room for the NUL. */
    char small[3];
    assert_int_equal(ids__decode("abc", small, sizeof(small)), -1);
    assert_int_equal(ids__decode("ab", small, sizeof(small)), 0);
    assert_int_equal(ids__decode("%2B%2B%2B", small, sizeof(small)), -1);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    assert_decode_fails("");
    assert_decode_fails("%");
    assert_decode_fails("%2");
    assert_decode_fails("a%2");
    assert_decode_fails("%G0");
    assert_decode_fails("%2b");    /* lower-case hex */
    assert_decode_fails("%c3%a9"); /* lower-case hex */
    assert_decode_fails("%00");    /* NUL */
    assert_decode_fails("%61");    /* 'a' never needs escaping */
    assert_decode_fails("%2E");    /* '.' */
    assert_decode_fails("%40");    /* '@' */
    assert_decode_fails("%30");    /* '0' */
    assert_decode_fails("%41");    /* 'A' is lower-cased, never escaped */
    assert_decode_fails("%5A");    /* 'Z' */
    assert_decode_fails("Alice");  /* upper-case */
    assert_decode_fails("a+b");    /* raw bytes encode escapes */
    assert_decode_fails("a#b");
    assert_decode_fails("a/b");
    assert_decode_fails("$sys");
    assert_decode_fails("a b");
    assert_decode_fails("\xC3\xA9"); /* raw UTF-8 */
    assert_decode_fails("a%%20");
    char out[4];
    assert_int_equal(ids__decode(NULL, out, sizeof(out)), -1);
    assert_int_equal(ids__decode("a", out, 0), -1);
}

/* xorshift64*: fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    char addr[IDS_MAX_ADDRESS + 1];
    char lower[IDS_MAX_ADDRESS + 1];
    char id[IDS_MAX_ID];
    char back[IDS_MAX_ADDRESS + 1];
    char again[IDS_MAX_ID];
    int escaped_seen = 0;

    for (int n = 0; n < 20000; n++) {
        /* Mostly short strings; some at the limit. */
        size_t len = 1 + rng_next() % (n % 10 == 0 ? IDS_MAX_ADDRESS : 24);
        for (size_t i = 0; i < len; i++) {
            /* Half the time pick from a biased alphabet so plain runs occur. */
            unsigned c = (rng_next() & 1) ? 1 + rng_next() % 255
                                          : (unsigned char)"aZ9.@-_+#/$ %"[rng_next() % 13];
            addr[i] = (char)c;
            lower[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        }
        addr[len] = lower[len] = '\0';

        assert_int_equal(ids__encode(addr, id, sizeof(id)), 0);
        assert_null(strpbrk(id, "+#/"));
        assert_true(id[0] != '$');
        for (const char *p = id; *p; p++) {
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        strchr("._@-%ABCDEF", *p));
            assert_true((unsigned char)*p < 0x80);
        }
        if (strchr(id, '%'))
            escaped_seen++;
        assert_int_equal(ids__decode(id, back, sizeof(back)), 0);
        assert_string_equal(back, lower);
        /* Canonical: re-encoding the decoded address gives the same id. */
        assert_int_equal(ids__encode(back, again, sizeof(again)), 0);
        assert_string_equal(again, id);
    }
    assert_true(escaped_seen > 1000);
}

/* Every single byte: encode then decode, and every %XX: accepted exactly
 * when it is what encode writes for that byte. */
static void test_every_byte(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char addr[2] = {(char)c, 0};
        char id[8], back[4];
        assert_int_equal(ids__encode(addr, id, sizeof(id)), 0);
        assert_int_equal(ids__decode(id, back, sizeof(back)), 0);
        int want = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
        assert_int_equal((unsigned char)back[0], want);

        char esc[4];
        snprintf(esc, sizeof(esc), "%%%02X", (unsigned)c);
        int ok = ids__decode(esc, back, sizeof(back)) == 0;
        assert_int_equal(ok, strcmp(esc, id) == 0);
    }
}

/* mqtt.escape_dots: '.' becomes %2E; decode is canonical per mode. */
static void test_escape_dots(void **state)
{
    (void)state;
    assert_false(ids__escape_dots());
    ids__set_escape_dots(true);
    assert_true(ids__escape_dots());
    assert_encodes("alice@contoso.com", "alice@contoso%2Ecom");
    assert_encodes("A.b+c@x.Y.org", "a%2Eb%2Bc@x%2Ey%2Eorg");
    char back[IDS_MAX_ADDRESS + 1];
    assert_int_equal(ids__decode("first%2Elast@x%2Ecom", back, sizeof(back)), 0);
    assert_string_equal(back, "first.last@x.com");
    assert_decode_fails("alice@contoso.com"); /* a literal '.' is not canonical here */
    assert_decode_fails("alice@contoso%2ecom");
    /* Every byte round-trips and every %XX is accepted exactly when encode
     * writes it, as without the mode. */
    test_every_byte(state);
    /* Worst case length is unchanged: a '.' costs 3 bytes like any escape. */
    char addr[IDS_MAX_ADDRESS + 1], id[IDS_MAX_ID];
    memset(addr, '.', IDS_MAX_ADDRESS);
    addr[IDS_MAX_ADDRESS] = '\0';
    assert_int_equal(ids__encode(addr, id, sizeof(id)), 0);
    assert_int_equal(strlen(id), IDS_MAX_ID - 1);
    ids__set_escape_dots(false);
    assert_encodes("alice@contoso.com", "alice@contoso.com");
    assert_decode_fails("alice@contoso%2Ecom");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_contract_examples),
        cmocka_unit_test(test_encode_mqtt_specials),
        cmocka_unit_test(test_encode_utf8),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_escape_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
