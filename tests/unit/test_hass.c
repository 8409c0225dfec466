/* Home Assistant node ids (connector/hass/hass.h): only [a-z0-9_-], readable,
 * stable, distinct per user and per topic prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hass/hass.h"

static void assert_node(const char *prefix, const char *addr, const char *want)
{
    char out[HASS_NODE_MAX];
    assert_int_equal(hass__node_id(prefix, addr, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_examples(void **state)
{
    (void)state;
    /* the hex is the start of SHA-256(prefix + lower-cased address) */
    assert_node("", "alice@contoso.com", "alice_contoso_com_7c33b2e6");
    assert_node("", "Alice@Contoso.COM", "alice_contoso_com_7c33b2e6");
    assert_node("home/", "alice@contoso.com", "alice_contoso_com_f81f3bd4");
    assert_node("", "a+b.c@contoso.com", "a_b_c_contoso_com_ff83a4d8");
}

static void test_safe_and_bounded(void **state)
{
    (void)state;
    char addr[321], out[HASS_NODE_MAX];
    for (int i = 0; i < 320; i++)
        addr[i] = (char)(1 + (i * 37) % 255); /* every kind of byte */
    addr[320] = '\0';
    assert_int_equal(hass__node_id("", addr, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 40 + 1 + 8);
    for (const char *p = out; *p; p++)
        assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-');
    /* same letters, different users: the hash tells them apart */
    char a[HASS_NODE_MAX], b[HASS_NODE_MAX];
    assert_int_equal(hass__node_id("", "a+b@x.com", a, sizeof(a)), 0);
    assert_int_equal(hass__node_id("", "a.b@x.com", b, sizeof(b)), 0);
    assert_int_equal(strncmp(a, b, 10), 0);
    assert_string_not_equal(a, b);
    /* too small a buffer, too long an address */
    assert_int_equal(hass__node_id("", "a@b.c", out, 20), -1);
    char longer[330];
    memset(longer, 'a', 329);
    longer[329] = '\0';
    assert_int_equal(hass__node_id("", longer, out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_safe_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
