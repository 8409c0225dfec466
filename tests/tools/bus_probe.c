/* bus_probe: drives connector/core/bus.c from a shell test.
 *
 *   bus_probe --url mqtt://127.0.0.1:PORT [--client-id ID] [--protocol 5|3.1.1]
 *             [--state-topic T] [--max-buffered N] [--username U]
 *             [--password-env VAR] [--ca-file F] [--log-level L]
 *
 * Reads one command a line on stdin and answers on stdout (line-buffered):
 *   state TOPIC PAYLOAD   -> "state rc=N topic=TOPIC"    (bus__publish_state)
 *   clear TOPIC           -> "clear rc=N topic=TOPIC"    (bus__clear_state)
 *   publish TOPIC PAYLOAD -> "publish rc=N topic=TOPIC"  (bus__publish, not retained)
 *   subscribe FILTER      -> "subscribe rc=N filter=F"
 *   unsubscribe FILTER    -> "unsubscribe rc=N filter=F"
 *   metric NAME           -> "metric NAME VALUE"
 *   ping                  -> "pong"  (commands run in order: a sync point)
 *   stop                  -> bus__stop(), "stopped", exit 0
 * and reports events: "connected", "disconnected",
 * "message retained=0|1 topic=T payload=P".
 * End of input acts like stop.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"

struct probe {
    struct loop *loop;
    struct bus *bus;
};

static void probe__on_conn(void *ctx, bool connected)
{
    (void)ctx;
    printf("%s\n", connected ? "connected" : "disconnected");
}

static void probe__on_msg(void *ctx, const char *topic, const char *payload, size_t len,
                          bool retained)
{
    (void)ctx;
    printf("message retained=%d topic=%s payload=%.*s\n", retained ? 1 : 0, topic, (int)len,
           payload);
}

static struct probe probe;

/* Splits "WORD REST" in place; returns REST ("" when none). */
static char *probe__split(char *s)
{
    char *sp = strchr(s, ' ');
    if (!sp)
        return s + strlen(s);
    *sp = '\0';
    return sp + 1;
}

static void probe__stop(void)
{
    static bool stopped;
    if (stopped)
        return;
    stopped = true;
    bus__stop(probe.bus);
    printf("stopped\n");
    loop__stop(probe.loop);
}

static void probe__cmd(void *arg)
{
    char *line = arg;
    char *rest = probe__split(line);
    if (strcmp(line, "state") == 0) {
        char *payload = probe__split(rest);
        printf("state rc=%d topic=%s\n", bus__publish_state(probe.bus, rest, payload), rest);
    }
    else if (strcmp(line, "clear") == 0) {
        printf("clear rc=%d topic=%s\n", bus__clear_state(probe.bus, rest), rest);
    }
    else if (strcmp(line, "publish") == 0) {
        char *payload = probe__split(rest);
        printf("publish rc=%d topic=%s\n",
               bus__publish(probe.bus, rest, payload, strlen(payload), false), rest);
    }
    else if (strcmp(line, "subscribe") == 0) {
        printf("subscribe rc=%d filter=%s\n", bus__subscribe(probe.bus, rest, probe__on_msg, NULL),
               rest);
    }
    else if (strcmp(line, "unsubscribe") == 0) {
        printf("unsubscribe rc=%d filter=%s\n",
               bus__unsubscribe(probe.bus, rest, probe__on_msg, NULL), rest);
    }
    else if (strcmp(line, "metric") == 0) {
        printf("metric %s %g\n", rest, metrics__get(rest, NULL));
    }
    else if (strcmp(line, "ping") == 0) {
        printf("pong\n");
    }
    else if (strcmp(line, "stop") == 0) {
        probe__stop();
    }
    else if (*line) {
        printf("error unknown command %s\n", line);
    }
    free(line);
}

static void probe__eof(void *arg)
{
    (void)arg;
    probe__stop();
}

static void *probe__reader(void *arg)
{
    (void)arg;
    char buf[8192];
    while (fgets(buf, sizeof(buf), stdin)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        char *line = strdup(buf);
        if (!line || loop__post(probe.loop, probe__cmd, line) < 0) {
            free(line);
            return NULL;
        }
    }
    loop__post(probe.loop, probe__eof, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bus_options opt = {
        .client_id = "bus-probe",
        .protocol = 5,
        .state_topic = "probe/state",
        .online_payload = "{\"state\":\"online\"}",
        .will_payload = "{\"state\":\"offline\"}",
        .max_buffered = 1000,
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"client-id", required_argument, NULL, 'c'},
        {"protocol", required_argument, NULL, 'p'},
        {"state-topic", required_argument, NULL, 's'},
        {"max-buffered", required_argument, NULL, 'm'},
        {"username", required_argument, NULL, 'U'},
        {"password-env", required_argument, NULL, 'P'},
        {"ca-file", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int c;
    enum ps_log_level level = PS_LOG_INFO;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            opt.url = optarg;
            break;
        case 'c':
            opt.client_id = optarg;
            break;
        case 'p':
            opt.protocol = strcmp(optarg, "5") == 0 ? 5 : 4;
            break;
        case 's':
            opt.state_topic = optarg;
            break;
        case 'm':
            opt.max_buffered = atoi(optarg);
            break;
        case 'U':
            opt.username = optarg;
            break;
        case 'P':
            opt.password = getenv(optarg);
            break;
        case 'C':
            opt.ca_file = optarg;
            break;
        case 'l':
            if (log__parse_level(optarg, &level) < 0) {
                fprintf(stderr, "bus_probe: bad --log-level %s\n", optarg);
                return 2;
            }
            break;
        default:
            return 2;
        }
    }
    if (!opt.url) {
        fprintf(stderr, "bus_probe: --url is required\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    log__set_level(level);
    if (opt.password)
        log__redact(opt.password);
    loop__block_signals();
    probe.loop = loop__new();
    probe.bus = probe.loop ? bus__new(probe.loop, &opt) : NULL;
    if (!probe.bus)
        return 1;
    bus__on_connection(probe.bus, probe__on_conn, NULL);
    if (bus__start(probe.bus) < 0)
        return 1;
    pthread_t reader;
    if (pthread_create(&reader, NULL, probe__reader, NULL) != 0)
        return 1;
    pthread_detach(reader);
    loop__run(probe.loop);
    bus__free(probe.bus);
    /* The loop is closed but not freed: the reader thread may still be in
     * fgets() and post once stdin ends; a closed loop refuses that safely. */
    return 0;
}
