/* fake-voice: Enreach Voice simulator for the presence-sync tests.
 *
 *   fake-voice --port N [--host ADDR] [--advertise-host NAME] [--user EMAIL --secret-key-file FILE]
 *              [--tls-cert FILE --tls-key FILE [--tls-port N]] [--endpoint-scheme none|http]
 *              [--log-level LEVEL]
 *
 * Prints `port=N` as its first stdout line once it listens, `tls_port=N` as
 * the second when it has a TLS listener. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/loop.h"
#include "fake_voice.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: fake-voice --port N [--host ADDR] [--advertise-host NAME]\n"
               "                  [--user EMAIL --secret-key-file FILE]\n"
               "                  [--tls-cert FILE --tls-key FILE [--tls-port N]]"
               " [--endpoint-scheme none|http]\n"
               "                  [--log-level error|warn|info|debug]\n");
}

/* Reads a secret file; one trailing newline is ignored. */
static char *read_secret(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fake-voice: cannot open secret key file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int too_long = !feof(f);
    fclose(f);
    if (too_long) {
        fprintf(stderr, "fake-voice: secret key file %s is too long\n", path);
        return NULL;
    }
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (!n || strlen(buf) != n) {
        fprintf(stderr, "fake-voice: secret key file %s is empty or holds a NUL\n", path);
        return NULL;
    }
    char *s = strdup(buf);
    OPENSSL_cleanse(buf, sizeof(buf));
    return s;
}

static void on_stop(void *arg)
{
    loop__stop(arg);
}

int main(int argc, char **argv)
{
    struct fake_voice_options opt = {.host = "127.0.0.1", .port = -1};
    const char *secret_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "fake-voice: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--port") || !strcmp(a, "--tls-port")) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "fake-voice: %s: not a port number: %s\n", a, v);
                return 2;
            }
            *(!strcmp(a, "--port") ? &opt.port : &opt.tls_port) = (int)p;
        }
        else if (!strcmp(a, "--tls-cert")) {
            opt.tls_cert = v;
        }
        else if (!strcmp(a, "--tls-key")) {
            opt.tls_key = v;
        }
        else if (!strcmp(a, "--endpoint-scheme")) {
            opt.endpoint_scheme = v;
        }
        else if (!strcmp(a, "--host")) {
            opt.host = v;
        }
        else if (!strcmp(a, "--advertise-host")) {
            opt.advertise = v;
        }
        else if (!strcmp(a, "--user")) {
            opt.user = v;
        }
        else if (!strcmp(a, "--secret-key-file")) {
            secret_file = v;
        }
        else if (!strcmp(a, "--log-level")) {
            enum ps_log_level lvl;
            if (log__parse_level(v, &lvl) != 0) {
                fprintf(stderr, "fake-voice: --log-level: unknown level %s\n", v);
                return 2;
            }
            log__set_level(lvl);
        }
        else {
            fprintf(stderr, "fake-voice: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (opt.port < 0) {
        fprintf(stderr, "fake-voice: --port is required (0: any free port)\n");
        usage(stderr);
        return 2;
    }
    if (!opt.tls_cert != !opt.tls_key) {
        fprintf(stderr, "fake-voice: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (!opt.user != !secret_file) {
        fprintf(stderr, "fake-voice: --user and --secret-key-file go together\n");
        return 2;
    }
    char *secret = NULL;
    if (secret_file && !(secret = read_secret(secret_file)))
        return 2;
    opt.secret_key = secret;

    loop__block_signals();
    struct loop *loop = loop__new();
    struct fake_voice *fv = loop ? fake_voice__new(loop, &opt) : NULL;
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
    if (!fv || fake_voice__start(fv) != 0) {
        fprintf(stderr, "fake-voice: cannot start on %s:%d\n", opt.host, opt.port);
        fake_voice__free(fv);
        if (loop)
            loop__free(loop);
        return 1;
    }
    printf("port=%d\n", fake_voice__port(fv));
    if (fake_voice__tls_port(fv))
        printf("tls_port=%d\n", fake_voice__tls_port(fv));
    fflush(stdout);
    loop__on_signal(loop, SIGTERM, on_stop, loop);
    loop__on_signal(loop, SIGINT, on_stop, loop);
    loop__run(loop);
    fake_voice__free(fv);
    loop__free(loop);
    return 0;
}
