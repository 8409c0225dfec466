/* The command line (docs/cli.md):
 *
 *   presence-sync [run] -c FILE [--role ROLES]... [--listen HOST:PORT]
 *   presence-sync check-config -c FILE
 *   presence-sync probe -c FILE [--json] [--tenant NAME] [--listen-seconds N]
 *                       [--write-test ADDRESS] [--capture DIR]
 *   presence-sync consent-url --tenant T --client-id C [--redirect-uri U]
 *   presence-sync --version | --help
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or invalid config.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/config.h"
#include "core/log.h"
#include "core/tunables.h"
#include "daemon.h"
#include "graph/notify_crypto.h"
#include "probe/probe.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: presence-sync [run] -c FILE [--role R]... [--listen HOST:PORT]\n"
    "                                            run the daemon\n"
    "       presence-sync check-config -c FILE   validate FILE and its secrets, print a summary\n"
    "       presence-sync probe -c FILE [--json] [--tenant NAME] [--listen-seconds N]\n"
    "                           [--write-test ADDRESS] [--capture DIR]\n"
    "                                            try every outside service the daemon needs\n"
    "                                            (read only unless --write-test)\n"
    "       presence-sync consent-url --tenant T --client-id C [--redirect-uri U]\n"
    "                                            print the admin-consent link for tenant T\n"
    "       presence-sync --version | --help\n"
    "\n"
    "options:\n"
    "  -c, --config FILE      the JSON configuration (see docs/configuration.md)\n"
    "  --role R               run only these parts: graph, voice, mapper or all; repeat or\n"
    "                         give a comma list (overrides \"roles\" in the config)\n"
    "  --listen HOST:PORT     the HTTP listener (overrides http.listen in the config)\n"
    "  --tenant T             consent-url: tenant id (GUID) or domain, e.g.\n"
    "                         contoso.onmicrosoft.com; probe: the name of a configured tenant\n"
    "  --client-id C          the app registration's client id (GUID)\n"
    "  --redirect-uri U       where Azure sends the admin after consent\n"
    "  --json                 probe: print one JSON document (schemas/probe-report.schema.json)\n"
    "  --listen-seconds N     probe: stay subscribed to Voice events for N s, print each one\n"
    "  --write-test ADDRESS   probe: set and clear Teams Busy and Voice talking for this user\n"
    "  --capture DIR          probe: record every request and answer, secrets redacted\n"
    "\n"
    "exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or invalid config;\n"
    "            probe: 0 nothing failed, 1 a check failed, 2 bad usage or invalid config\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("presence-sync: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'presence-sync --help'.\n", stderr);
    return EXIT_USAGE;
}

/* What the command line adds to the config file. */
struct cli_opts {
    const char *file;
    unsigned roles; /* 0: as configured */
    const char *listen;
};

/* Parses `-c FILE` / `--config FILE`, `--role R` and `--listen HOST:PORT`. */
static int parse_config_opt(int argc, char **argv, struct cli_opts *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    int ch;

    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":c:", opts, NULL)) != -1) {
        if (ch == 'c')
            o->file = optarg;
        else if (ch == 'r' && config__parse_roles(optarg, &o->roles) < 0)
            return usage_error("--role '%s': roles are graph, voice, mapper or all", optarg);
        else if (ch == 'l')
            o->listen = optarg;
        else if (ch == ':')
            return usage_error("option %s needs a value", argv[optind - 1]);
        else if (ch != 'r')
            return usage_error("unknown option %s", argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->file)
        return usage_error("%s", "missing -c FILE");
    return 0;
}

static struct config *load_config(const struct cli_opts *o)
{
    const char *file = o->file;
    struct config *cfg;
    struct config_error err;
    bool listen_bad = false;
    int rc = config__load(file, &cfg, &err);

    if (rc == 0)
        rc = notify_crypto__check_config(cfg, &err);
    if (rc == 0 && o->listen) {
        rc = config__set_listen(cfg, o->listen, &err);
        listen_bad = rc < 0;
    }
    if (rc < 0) {
        if (listen_bad)
            fprintf(stderr, "presence-sync: --listen '%s': %s\n", o->listen, err.msg);
        else if (err.path[0])
            fprintf(stderr, "presence-sync: %s: %s: %s\n", file, err.path, err.msg);
        else
            fprintf(stderr, "presence-sync: %s: %s\n", file, err.msg);
        config__free(cfg);
        return NULL;
    }
    /* The command line overrides the file (docs/configuration.md). */
    cfg->listen_from_cli = o->listen != NULL;
    if (o->roles) {
        cfg->roles = o->roles;
        cfg->roles_from_cli = true;
    }
    log__set_level(cfg->log_level);
    return cfg;
}

static int cmd_run(int argc, char **argv)
{
    struct cli_opts o = {NULL, 0, NULL};
    struct config *cfg;
    int rc;

    if ((rc = parse_config_opt(argc, argv, &o)) != 0)
        return rc;
    if (!(cfg = load_config(&o)))
        return EXIT_USAGE;
    LOG_INFO("main", "starting version=%s config=%s tenants=%zu users=%zu", PS_VERSION, o.file,
             cfg->n_tenants, config__total_users(cfg));
    /* After the config: its log level applies to the knobs' warnings. */
    struct tunables tun;
    char err[160];
    if (tunables__load(&tun, err, sizeof(err)) < 0) {
        fprintf(stderr, "presence-sync: %s\n", err);
        config__free(cfg);
        return EXIT_USAGE;
    }
    rc = daemon__run(cfg, &tun);
    config__free(cfg);
    return rc;
}

static int cmd_check_config(int argc, char **argv)
{
    struct cli_opts o = {NULL, 0, NULL};
    struct config *cfg;
    int rc;

    if ((rc = parse_config_opt(argc, argv, &o)) != 0)
        return rc;
    if (!(cfg = load_config(&o)))
        return EXIT_USAGE;
    config_summary__print(cfg, stdout);
    config__free(cfg);
    return fflush(stdout) == 0 ? 0 : 1;
}

static bool is_guid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return s[36] == '\0';
}

/* A GUID or a domain such as contoso.onmicrosoft.com (also "organizations"). */
static bool is_tenant(const char *s)
{
    if (is_guid(s))
        return true;
    if (!s[0] || strlen(s) > 253 || s[0] == '.' || s[0] == '-')
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-')
            return false;
    }
    return true;
}

static int print_consent_url(const char *tenant, const char *client, const char *redirect)
{
    CURL *curl = curl_easy_init();
    char *esc = NULL;

    if (!curl || (redirect && !(esc = curl_easy_escape(curl, redirect, 0)))) {
        fprintf(stderr, "presence-sync: out of memory\n");
        curl_easy_cleanup(curl);
        return 1;
    }
    printf("https://login.microsoftonline.com/%s/adminconsent?client_id=%s%s%s\n", tenant, client,
           esc ? "&redirect_uri=" : "", esc ? esc : "");
    curl_free(esc);
    curl_easy_cleanup(curl);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_consent_url(int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"client-id", required_argument, NULL, 'i'},
                                         {"redirect-uri", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    const char *tenant = NULL, *client = NULL, *redirect = NULL;
    int ch;

    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (ch == 't')
            tenant = optarg;
        else if (ch == 'i')
            client = optarg;
        else if (ch == 'r')
            redirect = optarg;
        else if (ch == ':')
            return usage_error("option %s needs a value", argv[optind - 1]);
        else
            return usage_error("unknown option %s", argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!tenant || !client)
        return usage_error("%s", "consent-url needs --tenant and --client-id");
    if (!is_tenant(tenant))
        return usage_error("--tenant '%s' is not a tenant GUID or domain", tenant);
    if (!is_guid(client))
        return usage_error("--client-id '%s' is not a GUID", client);
    if (redirect && strncmp(redirect, "https://", 8) && strncmp(redirect, "http://", 7))
        return usage_error("--redirect-uri '%s' is not an http(s) URL", redirect);
    return print_consent_url(tenant, client, redirect);
}

static int probe_seconds(const char *s, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 3600)
        return -1;
    *out = (int)v;
    return 0;
}

static int cmd_probe(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"tenant", required_argument, NULL, 't'},
                                         {"listen-seconds", required_argument, NULL, 'l'},
                                         {"write-test", required_argument, NULL, 'w'},
                                         {"capture", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    struct probe_options po = {0};
    struct cli_opts o = {NULL, 0, NULL};
    int ch;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":c:", opts, NULL)) != -1) {
        if (ch == 'c')
            o.file = optarg;
        else if (ch == 'j')
            po.json = true;
        else if (ch == 't')
            po.tenant = optarg;
        else if (ch == 'l' && probe_seconds(optarg, &po.listen_seconds) != 0)
            return usage_error("--listen-seconds '%s': a number of seconds, 0..3600", optarg);
        else if (ch == 'w')
            po.write_test = optarg;
        else if (ch == 'o')
            po.capture = optarg;
        else if (ch == ':')
            return usage_error("option %s needs a value", argv[optind - 1]);
        else if (ch == '?')
            return usage_error("unknown option %s", argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.file)
        return usage_error("%s", "missing -c FILE");
    struct config *cfg = load_config(&o);
    if (!cfg)
        return EXIT_USAGE;
    char why[512];
    if (probe__check_options(cfg, &po, why, sizeof(why))) {
        config__free(cfg);
        return usage_error("%s", why);
    }
    int rc = probe__run(cfg, &po);
    config__free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : NULL;

    if (verb && (!strcmp(verb, "--help") || !strcmp(verb, "-h"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (verb && (!strcmp(verb, "--version") || !strcmp(verb, "-V"))) {
        printf("presence-sync %s\n", PS_VERSION);
        return 0;
    }
    /* No verb (only options) means run. The verb is argv[0] for getopt. */
    if (!verb || verb[0] == '-')
        return cmd_run(argc, argv);
    if (!strcmp(verb, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(verb, "check-config"))
        return cmd_check_config(argc - 1, argv + 1);
    if (!strcmp(verb, "consent-url"))
        return cmd_consent_url(argc - 1, argv + 1);
    if (!strcmp(verb, "probe"))
        return cmd_probe(argc - 1, argv + 1);
    return usage_error("unknown command '%s'", verb);
}
