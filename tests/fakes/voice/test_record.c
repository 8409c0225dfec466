/* Record splitting and reassembly on 0x1E, and the framing helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rte_record.h"

static char *next(struct rte_reader *r)
{
    char *rec = NULL;
    size_t len = 0;
    if (!rte_reader__next(r, &rec, &len))
        return NULL;
    assert_int_equal(len, strlen(rec));
    return rec;
}

static void test_two_records_one_frame(void **state)
{
    (void)state;
    struct rte_reader r;
    rte_reader__init(&r, 0);
    const char in[] = "{}\x1e{\"type\":6}\x1e";
    assert_int_equal(rte_reader__feed(&r, in, sizeof(in) - 1), 0);
    char *a = next(&r), *b = next(&r);
    assert_string_equal(a, "{}");
    assert_string_equal(b, "{\"type\":6}");
    assert_null(next(&r));
    assert_int_equal(rte_reader__pending(&r), 0);
    free(a);
    free(b);
    rte_reader__free(&r);
}

static void test_record_across_frames(void **state)
{
    (void)state;
    struct rte_reader r;
    rte_reader__init(&r, 0);
    assert_int_equal(rte_reader__feed(&r, "{\"type\"", 7), 0);
    assert_null(next(&r));
    assert_int_equal(rte_reader__pending(&r), 7);
    assert_int_equal(rte_reader__feed(&r, ":6}\x1e{\"ty", 8), 0);
    char *a = next(&r);
    assert_string_equal(a, "{\"type\":6}");
    assert_null(next(&r));
    assert_int_equal(rte_reader__pending(&r), 4);
    assert_int_equal(rte_reader__feed(&r, "pe\":1}\x1e", 7), 0);
    char *b = next(&r);
    assert_string_equal(b, "{\"type\":1}");
    free(a);
    free(b);
    rte_reader__free(&r);
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    struct rte_reader r;
    rte_reader__init(&r, 0);
    const char in[] = "{\"a\":1}\x1e{\"b\":2}\x1e";
    int got = 0;
    for (size_t i = 0; i < sizeof(in) - 1; i++) {
        assert_int_equal(rte_reader__feed(&r, &in[i], 1), 0);
        char *rec;
        while ((rec = next(&r))) {
            assert_string_equal(rec, got == 0 ? "{\"a\":1}" : "{\"b\":2}");
            got++;
            free(rec);
        }
    }
    assert_int_equal(got, 2);
    rte_reader__free(&r);
}

static void test_max_record(void **state)
{
    (void)state;
    struct rte_reader r;
    rte_reader__init(&r, 8);
    /* Many small records in one feed are fine... */
    assert_int_equal(rte_reader__feed(&r, "{}\x1e{}\x1e{}\x1e{}\x1e", 12), 0);
    for (int i = 0; i < 4; i++) {
        char *rec = next(&r);
        assert_non_null(rec);
        free(rec);
    }
    /* ...one record that never ends is not, even fed in pieces. */
    assert_int_equal(rte_reader__feed(&r, "{\"aaa", 5), 0);
    assert_int_equal(rte_reader__feed(&r, "aaaa", 4), -1);
    assert_int_equal(rte_reader__pending(&r), 0);
    rte_reader__free(&r);
}

static void test_frame_and_split(void **state)
{
    (void)state;
    size_t n = 0;
    char *f = rte_record__frame("{\"type\":6}", &n);
    assert_int_equal(n, 11);
    assert_int_equal(f[10], 0x1e);
    size_t k = rte_framing__split_at(n);
    assert_true(k > 0 && k < n);
    assert_true(f[k - 1] != 0x1e);
    /* The two halves reassemble into the one record. */
    struct rte_reader r;
    rte_reader__init(&r, 0);
    rte_reader__feed(&r, f, k);
    assert_null(next(&r));
    rte_reader__feed(&r, f + k, n - k);
    char *rec = next(&r);
    assert_string_equal(rec, "{\"type\":6}");
    free(rec);
    free(f);
    rte_reader__free(&r);
    assert_int_equal(rte_framing__split_at(2), 1);
}

static void test_framing_names(void **state)
{
    (void)state;
    assert_int_equal(rte_framing__parse("normal"), RTE_FRAMING_NORMAL);
    assert_int_equal(rte_framing__parse("merge"), RTE_FRAMING_MERGE);
    assert_int_equal(rte_framing__parse("split"), RTE_FRAMING_SPLIT);
    assert_int_equal(rte_framing__parse("Split"), -1);
    assert_int_equal(rte_framing__parse(NULL), -1);
    assert_string_equal(rte_framing__name(RTE_FRAMING_MERGE), "merge");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_records_one_frame), cmocka_unit_test(test_record_across_frames),
        cmocka_unit_test(test_byte_by_byte),          cmocka_unit_test(test_max_record),
        cmocka_unit_test(test_frame_and_split),       cmocka_unit_test(test_framing_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
