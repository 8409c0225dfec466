/* The component-test harness itself (tests/lib/): canned HTTP replies over
 * real sockets to the daemon's HTTP client, completions on the loop; the
 * fake clock running an hour of timers at once; the fake bus delivering
 * retained values to a late subscriber and each publish to every matching
 * subscription. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned_http.h"
#include "comp_env.h"
#include "core/clock.h"
#include "core/http_client.h"
#include "core/loop.h"
#include "fake_bus.h"

#define CFG                                                                                   \
    "{\"instance\":\"ps-h\",\"http\":{\"public_url\":\"https://x.example\"},"                 \
    "\"tenants\":[{\"name\":\"t\",\"users\":[\"a@x.com\"],\"graph\":{\"tenant_id\":"          \
    "\"11111111-2222-3333-4444-555555555555\",\"client_id\":"                                 \
    "\"66666666-7777-8888-9999-000000000000\",\"client_secret_env\":\"PS_CT_SECRET\","        \
    "\"service_accounts\":[{\"username\":\"svc@x.com\",\"password_env\":\"PS_CT_SECRET\"}]}," \
    "\"voice\":{\"username\":\"v@x.com\",\"secret_key_env\":\"PS_CT_SECRET\"}}]}"

static int setup(void **st)
{
    setenv("PS_CT_SECRET", "not-a-real-secret", 1);
    struct comp_env *ce = calloc(1, sizeof(*ce));
    assert_non_null(ce);
    assert_int_equal(comp_env__init(ce, CFG, 7), 0);
    *st = ce;
    return 0;
}

static int teardown(void **st)
{
    comp_env__free(*st);
    free(*st);
    clock__fake_stop();
    return 0;
}

struct reply {
    int n;
    int status;
    int64_t retry_after_ms;
    char body[64];
};

static void on_reply(void *ctx, const struct http_result *res)
{
    struct reply *r = ctx;
    r->n++;
    r->status = res->status;
    r->retry_after_ms = res->retry_after_ms;
    snprintf(r->body, sizeof(r->body), "%s", res->body);
}

static bool replied(void *ctx)
{
    return ((struct reply *)ctx)->n > 0;
}

static void test_canned_http(void **st)
{
    struct comp_env *ce = *st;
    struct canned_http *s = canned_http__start();
    assert_non_null(s);
    canned_http__add(s, &(struct canned_rule){"POST", "/v1.0/$batch", 429, "Retry-After: 3\r\n",
                                              "{\"error\":1}", 1, 0});
    canned_http__add(s,
                     &(struct canned_rule){"POST", "/v1.0/$batch", 200, NULL, "{\"ok\":1}", 0, 0});
    struct http_client *cli = http_client__new(ce->loop);
    char url[128];
    snprintf(url, sizeof(url), "%s/v1.0/$batch", canned_http__url(s));
    struct reply r1 = {0}, r2 = {0};
    struct http_call call = {.method = "POST",
                             .url = url,
                             .body = "{\"requests\":[]}",
                             .body_len = 15,
                             .content_type = "application/json"};
    assert_int_equal(http_client__send(cli, &call, on_reply, &r1), 0);
    assert_true(comp_env__wait(ce, replied, &r1, 5000));
    assert_int_equal(http_client__send(cli, &call, on_reply, &r2), 0);
    assert_true(comp_env__wait(ce, replied, &r2, 5000));
    assert_int_equal(r1.status, 429);
    assert_int_equal(r1.retry_after_ms, 3000);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r2.body, "{\"ok\":1}");
    assert_int_equal(canned_http__count(s, "POST", "/v1.0/$batch"), 2);
    char *req = canned_http__request(s, "POST", "/v1.0/$batch", 1);
    assert_non_null(req);
    assert_non_null(strstr(req, "\r\n\r\n{\"requests\":[]}"));
    free(req);
    http_client__free(cli);
    canned_http__stop(s);
}

static void tick(void *arg)
{
    (*(int *)arg)++;
}

static void test_fake_clock(void **st)
{
    struct comp_env *ce = *st;
    clock__fake_start(1000000, 1796600000000);
    int fired = 0;
    loop__timer(ce->loop, 30LL * 60 * 1000, tick, &fired);
    loop__timer(ce->loop, 55LL * 60 * 1000, tick, &fired);
    loop__timer(ce->loop, 61LL * 60 * 1000, tick, &fired);
    comp_env__advance(ce, 60LL * 60 * 1000);
    assert_int_equal(fired, 2);
    assert_int_equal(clock__mono_ms(), 1000000 + 60LL * 60 * 1000);
    assert_int_equal(clock__wall_ms(), 1796600000000 + 60LL * 60 * 1000);
    comp_env__advance(ce, 60 * 1000);
    assert_int_equal(fired, 3);
}

static int seen;
static void on_msg(void *ctx, const char *topic, const char *payload, size_t len, bool retained)
{
    (void)ctx;
    (void)topic;
    (void)len;
    seen += retained ? 100 : 1;
    assert_string_equal(payload, "{\"v\":1}");
}

static void test_fake_bus(void **st)
{
    struct comp_env *ce = *st;
    seen = 0;
    assert_int_equal(bus__publish_state(ce->bus, "p/x/1", "{\"v\":1}"), 1);
    assert_int_equal(bus__publish_state(ce->bus, "p/x/1", "{\"v\":1}"), 0); /* unchanged */
    comp_env__settle(ce);
    assert_int_equal(bus__subscribe(ce->bus, "p/+/1", on_msg, NULL), 0);
    comp_env__settle(ce);
    assert_int_equal(seen, 100); /* the retained value, to the late subscriber */
    fake_bus__inject(ce->bus, "p/y/1", "{\"v\":1}", false);
    comp_env__settle(ce);
    assert_int_equal(seen, 101);
    assert_string_equal(fake_bus__retained(ce->bus, "p/x/1"), "{\"v\":1}");
    bus__clear_state(ce->bus, "p/x/1");
    assert_null(fake_bus__retained(ce->bus, "p/x/1"));
    assert_int_equal(fake_bus__published(ce->bus, "p/#"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_canned_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_bus, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
