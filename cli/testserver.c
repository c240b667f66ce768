/* silk testserver — serves the embedded test site (docs/testserver.md) until
 * SIGINT or SIGTERM: a shop of linked product pages plus httpbin-like
 * endpoints, for trying spiders without touching anyone's site. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "silk/silk.h"
#include "silk/testserver.h"

enum { OPT_PORT = 1000, OPT_PAGES, OPT_LINKS, OPT_SEED, OPT_HTTPS, OPT_LOG };

static const cli_option options[] = {
    { OPT_PORT, 'p', "port", true, "PORT", "port to listen on, on 127.0.0.1 (default: a free one)" },
    { OPT_PAGES, 0, "pages", true, "N", "number of product pages (default: 1000)" },
    { OPT_LINKS, 0, "links", true, "N", "related links per page (default: 10)" },
    { OPT_SEED, 0, "seed", true, "N", "seed of the generated content and links (default: 0)" },
    { OPT_HTTPS, 0, "https", false, NULL, "serve HTTPS, with a self-signed certificate made at start" },
    { OPT_LOG, 0, "log", false, NULL, "print one line per request on stderr" },
    { 0, 0, NULL, false, NULL, NULL },
};

static void help(FILE *f)
{
    fprintf(f, "Usage\n=====\n  silk testserver [options]\n\n"
               "Serve silk's embedded test site on 127.0.0.1 until interrupted (Ctrl-C).\n"
               "Prints the URL it serves on the first line of standard output.\n\n"
               "Options\n=======\n");
    cli_print_options(f, options);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "silk testserver: received %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(arg);
}

static int run(int argc, char **argv)
{
    const cli_command *cmd = &cli_cmd_testserver;
    silk_testserver_options opt;
    memset(&opt, 0, sizeof opt);
    cli_parser p;
    unsigned long long v;
    cli_parser_init(&p, cmd, options, argc, argv);
    for (int id; (id = cli_next(&p)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: help(stdout); return CLI_OK;
        case CLI_ERROR: return CLI_USAGE;
        case CLI_POSITIONAL: return cli_usage_error(cmd, "unexpected argument '%s'", p.arg);
        case OPT_PORT:
            if (!cli_parse_uint(p.arg, 65535, &v))
                return cli_usage_error(cmd, "invalid port '%s' (0-65535)", p.arg);
            opt.port = (int)v;
            break;
        case OPT_PAGES:
            if (!cli_parse_uint(p.arg, SILK_TESTSITE_MAX_PAGES, &v) || v == 0)
                return cli_usage_error(cmd, "invalid page count '%s' (1-%u)", p.arg, SILK_TESTSITE_MAX_PAGES);
            opt.pages = (uint32_t)v;
            break;
        case OPT_LINKS:
            if (!cli_parse_uint(p.arg, SILK_TESTSITE_MAX_LINKS, &v) || v == 0)
                return cli_usage_error(cmd, "invalid link count '%s' (1-%u)", p.arg, SILK_TESTSITE_MAX_LINKS);
            opt.links_per_page = (uint32_t)v;
            break;
        case OPT_SEED:
            if (!cli_parse_uint(p.arg, UINT64_MAX, &v))
                return cli_usage_error(cmd, "invalid seed '%s'", p.arg);
            opt.seed = v;
            break;
        case OPT_HTTPS: opt.https = 1; break;
        case OPT_LOG: opt.access_log = stderr; break;
        default: return CLI_USAGE;
        }
    }

    int rc = CLI_FAIL, err;
    silk_testserver *srv = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    struct event_base *base = event_base_new();
    if (!base) {
        rc = cli_fail("cannot create an event loop");
        goto out;
    }
    if ((err = silk_testserver_start(base, &opt, &srv))) {
        rc = cli_fail("cannot start the test server: %s",
                      *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (!sigint || !sigterm || event_add(sigint, NULL) || event_add(sigterm, NULL)) {
        rc = cli_fail("cannot watch for signals");
        goto out;
    }
    const silk_testserver_options *o = silk_testserver_options_get(srv);
    printf("%s\n", silk_testserver_url(srv));
    fflush(stdout);
    fprintf(stderr, "silk testserver: serving %u pages (%u links each) at %s/ - Ctrl-C to stop\n",
            o->pages, o->links_per_page, silk_testserver_url(srv));
    event_base_dispatch(base);
    fprintf(stderr, "silk testserver: %llu requests served\n",
            (unsigned long long)silk_testserver_requests(srv));
    rc = CLI_OK;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    silk_testserver_free(srv);
    if (base)
        event_base_free(base);
    return rc;
}

const cli_command cli_cmd_testserver = {
    .name = "testserver",
    .syntax = "[options]",
    .summary = "Serve the embedded test site (for trying spiders)",
    .run = run,
    .help = help,
};
