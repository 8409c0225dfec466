/* The harness of the component tests (tests/component/): a real loop, a
 * parsed config, the fake bus (fake_bus.h) and, on request, a fake clock, put
 * together as the struct daemon_env a component's hooks receive. See
 * tests/lib/README.md. */
#ifndef PS_TESTS_COMP_ENV_H
#define PS_TESTS_COMP_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "component.h"
#include "core/tunables.h"

struct comp_env {
    struct daemon_env env;
    struct config *cfg;
    struct loop *loop;
    struct bus *bus;
    /* the knobs of env.tun: the defaults; a test may shorten them before
     * the component's init (core/tunables.h) */
    struct tunables tun;
    char state_topic[128];
};

/* Parses json (secrets by *_env), makes loop and fake bus, connects it.
 * 0 or -1 (the config error is printed). */
int comp_env__init(struct comp_env *ce, const char *json, unsigned roles);
/* Swaps in a new config, as SIGHUP does, before the components' reload. */
int comp_env__reload(struct comp_env *ce, const char *json);
void comp_env__free(struct comp_env *ce);

/* Runs loop turns until nothing was run in one (posted work, bus
 * deliveries, due timers) or max_turns passed. Returns the turns run. */
int comp_env__settle(struct comp_env *ce);
/* Runs turns of up to 50 ms of real time until cond(ctx) holds or
 * timeout_ms passed (for replies from canned_http over real sockets). */
bool comp_env__wait(struct comp_env *ce, bool (*cond)(void *ctx), void *ctx, int timeout_ms);
/* With the fake clock on (clock__fake_start): moves time forward to each
 * due timer in turn, up to ms in all, settling after each. */
void comp_env__advance(struct comp_env *ce, int64_t ms);

#endif
