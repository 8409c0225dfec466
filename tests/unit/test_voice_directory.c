/* One Voice tenant's user directory (connector/voice/voice_directory.h):
 * the map from configured addresses to Voice ids, lookups by id and by
 * address in any case, the missing list, two addresses of one Voice user,
 * topics, and the users that left the map on a reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "voice/discovery.h"
#include "voice/voice_directory.h"

static struct voice_directory *dir_with(const char *const *addresses, size_t n)
{
    struct voice_directory *d = voice_directory__new("t", "p/");
    assert_non_null(d);
    assert_int_equal(voice_directory__set_addresses(d, addresses, n), 0);
    return d;
}

/* Applies a /users body; returns how many ids were fresh. */
static size_t apply(struct voice_directory *d, const char *body)
{
    struct voice_users vu;
    char err[128];
    const char **fresh = NULL;
    size_t n_fresh = 0;
    assert_int_equal(discovery__parse_users(body, strlen(body), &vu, err, sizeof(err)), 0);
    assert_int_equal(voice_directory__apply(d, &vu, &fresh, &n_fresh), 0);
    voice_users__free(&vu);
    free(fresh);
    return n_fresh;
}

#define USERS                                                              \
    "[{\"Id\":\"U-A\",\"UserName\":\"alice@x.com\"},"                      \
    "{\"Id\":\"u-b\",\"UserName\":\"bob.login\",\"Email\":\"Bob@X.com\"}," \
    "{\"Id\":\"u-c\",\"UserName\":\"carol@x.com\",\"Email\":\"carol2@x.com\"}]"

static void test_map_and_lookups(void **state)
{
    (void)state;
    const char *addrs[] = {"ALICE@x.com", "bob@x.com", "nobody@x.com", "carol@x.com",
                           "carol2@x.com"};
    struct voice_directory *d = dir_with(addrs, 5);
    assert_false(voice_directory__loaded(d));
    assert_null(voice_directory__by_address(d, "alice@x.com", NULL));
    assert_int_equal(apply(d, USERS), 3);
    assert_true(voice_directory__loaded(d));
    /* carol2 maps to carol's user too: the first address is kept */
    assert_int_equal(voice_directory__n_users(d), 3);
    assert_int_equal(voice_directory__n_addresses(d), 5);
    assert_true(voice_directory__configured(d, "Nobody@X.com"));
    assert_false(voice_directory__configured(d, "dave@x.com"));
    /* ids lower-cased, sorted; the topic of the configured spelling */
    struct voice_dir_user *u = voice_directory__find(d, "u-a");
    assert_non_null(u);
    assert_string_equal(u->address, "ALICE@x.com");
    assert_string_equal(u->topic, "p/voice/alice@x.com/talking");
    assert_false(u->announced);
    assert_string_equal(voice_directory__user(d, 0)->id, "u-a");
    assert_null(voice_directory__user(d, 3));
    assert_null(voice_directory__find(d, "U-A"));
    /* by address, any case; bob by his Email */
    bool current = false;
    assert_string_equal(voice_directory__by_address(d, "alice@X.COM", &current), "u-a");
    assert_true(current);
    assert_string_equal(voice_directory__by_address(d, "BOB@x.com", NULL), "u-b");
    assert_null(voice_directory__by_address(d, "nobody@x.com", &current));
    assert_false(current);
    assert_int_equal(voice_directory__n_missing(d), 1);
    assert_string_equal(voice_directory__missing(d, 0), "nobody@x.com");
    voice_directory__free(d);
}

/* A reload without bob: his id is still found for the writer, as former;
 * the kept users keep their publishing state; a returning user is current
 * again and fresh. */
static void test_reload_keeps_former(void **state)
{
    (void)state;
    const char *before[] = {"alice@x.com", "bob@x.com"};
    const char *after[] = {"alice@x.com"};
    struct voice_directory *d = dir_with(before, 2);
    assert_int_equal(apply(d, USERS), 2);
    voice_directory__find(d, "u-a")->announced = true;
    voice_directory__find(d, "u-a")->idle_since_ms = 42;
    assert_int_equal(voice_directory__set_addresses(d, after, 1), 0);
    assert_int_equal(apply(d, USERS), 0);
    assert_int_equal(voice_directory__n_users(d), 1);
    assert_null(voice_directory__find(d, "u-b"));
    bool current = true;
    assert_string_equal(voice_directory__by_address(d, "bob@x.com", &current), "u-b");
    assert_false(current);
    assert_true(voice_directory__find(d, "u-a")->announced);
    assert_int_equal(voice_directory__find(d, "u-a")->idle_since_ms, 42);
    /* bob comes back */
    assert_int_equal(voice_directory__set_addresses(d, before, 2), 0);
    assert_int_equal(apply(d, USERS), 1);
    assert_string_equal(voice_directory__by_address(d, "bob@x.com", &current), "u-b");
    assert_true(current);
    voice_directory__free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_and_lookups),
        cmocka_unit_test(test_reload_keeps_former),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
