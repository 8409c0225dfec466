/* voice_writer_probe: drives the Voice side's talking writer
 * (connector/voice/writer.h) against a Voice API such as fake-voice, for
 * tests/integration/test_voice_writer.sh.
 *
 *   voice_writer_probe --api URL --user EMAIL --secret-key-file FILE
 *                      [--method M --path P --body B]
 *                      [--mode availability --event-type-id N --event-source S]
 *                      --set EMAIL=true|false [--set ...]
 *
 * Loads the user map (GET {api}/users), then hands every --set to
 * voice_writer__set_talking() in order, all in the same loop turn (so a
 * later value for the same user replaces a queued earlier one), and prints
 * one line per result:
 *   result user=EMAIL talking=BOOL status=NAME http=N attempts=N retry_after=MS
 * Exit status 0 when every result arrived, 1 otherwise (or on setup errors).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "voice/discovery.h"
#include "voice/rest.h"
#include "voice/talking.h"
#include "voice/writer.h"

#define MAX_SETS 32

static struct {
    struct loop *loop;
    struct http_client *http;
    struct voice_rest *rest;
    struct voice_writer *writer;
    struct voice_users users;
    bool loaded;
    const char *set_email[MAX_SETS];
    bool set_value[MAX_SETS];
    int n_sets, n_results;
    int rc;
} P = {.rc = 1};

static int probe__lookup(void *ctx, const char *email, const char **user_id)
{
    (void)ctx;
    if (!P.loaded)
        return -1;
    for (size_t i = 0; i < P.users.n; i++) {
        const struct voice_user *u = &P.users.items[i];
        if ((u->username && strcasecmp(u->username, email) == 0) ||
            (u->email && strcasecmp(u->email, email) == 0)) {
            *user_id = P.users.items[i].id;
            return 1;
        }
    }
    return 0;
}

static void probe__result(void *ctx, const struct voice_write_result *r)
{
    (void)ctx;
    printf("result user=%s talking=%s status=%s http=%d attempts=%d retry_after=%lld%s%s\n",
           r->email, r->talking ? "true" : "false", voice_write_status__name(r->status),
           r->http_status, r->attempts, (long long)r->retry_after_ms, r->error ? " error=" : "",
           r->error ? r->error : "");
    fflush(stdout);
    if (++P.n_results == P.n_sets) {
        P.rc = 0;
        loop__stop(P.loop);
    }
}

static void probe__on_users(void *ctx, const struct http_result *res)
{
    (void)ctx;
    char err[200];
    if (res->status != 200 ||
        discovery__parse_users(res->body, res->body_len, &P.users, err, sizeof(err)) != 0) {
        fprintf(stderr, "voice_writer_probe: GET /users failed status=%d\n", res->status);
        loop__stop(P.loop);
        return;
    }
    P.loaded = true;
    for (int i = 0; i < P.n_sets; i++) {
        if (voice_writer__set_talking(P.writer, "probe", P.set_email[i], P.set_value[i],
                                      probe__result, NULL) != 0) {
            fprintf(stderr, "voice_writer_probe: set_talking refused %s\n", P.set_email[i]);
            loop__stop(P.loop);
            return;
        }
    }
}

static char *read_secret(const char *path)
{
    FILE *f = fopen(path, "rb");
    char buf[4096];
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *s = strdup(buf);
    OPENSSL_cleanse(buf, sizeof(buf));
    return s;
}

int main(int argc, char **argv)
{
    const char *api = NULL, *user = NULL, *key_file = NULL, *method = TALKING_SIMULATOR_METHOD,
               *path = TALKING_SIMULATOR_PATH, *body = TALKING_SIMULATOR_BODY;
    struct voice_talking_config tc = {.mode = VOICE_TALKING_TEMPLATE};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--api"))
            api = v;
        else if (!strcmp(a, "--user"))
            user = v;
        else if (!strcmp(a, "--secret-key-file"))
            key_file = v;
        else if (!strcmp(a, "--mode") && !strcmp(v, "availability"))
            tc.mode = VOICE_TALKING_AVAILABILITY;
        else if (!strcmp(a, "--event-type-id"))
            tc.event_type_id = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--event-source"))
            tc.event_source = v;
        else if (!strcmp(a, "--method"))
            method = v;
        else if (!strcmp(a, "--path"))
            path = v;
        else if (!strcmp(a, "--body"))
            body = v;
        else if (!strcmp(a, "--set") && P.n_sets < MAX_SETS) {
            const char *eq = strrchr(v, '=');
            if (!eq || (strcmp(eq + 1, "true") && strcmp(eq + 1, "false"))) {
                fprintf(stderr, "voice_writer_probe: --set EMAIL=true|false\n");
                return 1;
            }
            P.set_email[P.n_sets] = strndup(v, (size_t)(eq - v));
            P.set_value[P.n_sets++] = !strcmp(eq + 1, "true");
        }
        else {
            fprintf(stderr, "voice_writer_probe: unknown option %s\n", a);
            return 1;
        }
    }
    char *secret = key_file ? read_secret(key_file) : NULL;
    if (!api || !user || !secret || !P.n_sets) {
        fprintf(stderr, "voice_writer_probe: need --api, --user, --secret-key-file, --set\n");
        return 1;
    }
    log__redact(secret);
    loop__block_signals();
    P.loop = loop__new();
    P.http = http_client__new(P.loop);
    P.rest = voice_rest__new(P.http, user, secret);
    P.writer = voice_writer__new(P.loop);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    if (!P.loop || !P.http || !P.rest || !P.writer || voice_rest__set_api(P.rest, api) != 0 ||
        (tc.method = method, tc.path = path, tc.body = body,
         voice_writer__add_tenant(P.writer, "probe", P.rest, &tc, probe__lookup, NULL, NULL)) != 0)
        return 1;
    if (voice_rest__call(P.rest, "GET", "/users", NULL, probe__on_users, NULL) != 0)
        return 1;
    loop__run(P.loop);
    voice_writer__stop(P.writer);
    http_client__free(P.http);
    voice_writer__free(P.writer);
    voice_rest__free(P.rest);
    voice_users__free(&P.users);
    loop__free(P.loop);
    for (int i = 0; i < P.n_sets; i++)
        free((char *)P.set_email[i]);
    return P.rc;
}
