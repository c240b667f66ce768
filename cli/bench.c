/* silk bench — as `scrapy bench`: serve the embedded site on a thread of its
 * own and crawl it for ten seconds with a spider that follows every link,
 * logging the pages per minute each second and the stats at the end. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "silk/engine.h"
#include "silk/silk.h"
#include "silk/testserver.h"

/* Large enough that no machine exhausts it in ten seconds: the crawl is
 * limited by time, not by the site. */
#define BENCH_PAGES 1000000u

enum { OPT_SET = 's', OPT_LOGLEVEL = 'L', OPT_LOGFILE = 1000, OPT_NOLOG };

static const cli_option options[] = {
    { OPT_LOGFILE, 0, "logfile", true, "FILE", "log file; if omitted stderr will be used" },
    { OPT_LOGLEVEL, 'L', "loglevel", true, "LEVEL", "log level (default: INFO)" },
    { OPT_NOLOG, 0, "nolog", false, NULL, "disable logging completely" },
    { OPT_SET, 's', "set", true, "NAME=VALUE", "set/override setting (may be repeated)" },
    { 0, 0, NULL, false, NULL, NULL },
};

static void help(FILE *f)
{
    fprintf(f, "Usage\n=====\n  silk bench [options]\n\n"
               "Run quick benchmark test: crawl the embedded test site (served on a thread of\n"
               "this process) with a spider that follows every link, for 10 seconds\n"
               "(CLOSESPIDER_TIMEOUT=10), logging the crawl rate every second.\n\n"
               "Options\n=======\n");
    cli_print_options(f, options);
}

static int parse(silk_ctx *ctx, silk_response *response)
{
    (void)response;
    silk_ctx_follow_css(ctx, "a::attr(href)", NULL);
    return 0;
}

static const char *start_urls[2];

static const silk_spider_def bench_spider = {
    .name = "follow",
    .start_urls = start_urls,
    .parse = parse,
};

static int run(int argc, char **argv)
{
    const cli_command *cmd = &cli_cmd_bench;
    int rc = CLI_FAIL, err;
    cli_parser p;
    silk_settings *settings = silk_settings_new();
    silk_testserver *srv = NULL;
    silk_process *proc = NULL;
    char *url = NULL;
    if (!settings) {
        rc = cli_fail("out of memory");
        goto out;
    }
    /* scrapy bench's command defaults: below anything given with -s. */
    static const char *const defaults[] = { "LOG_LEVEL=INFO", "LOGSTATS_INTERVAL=1",
                                            "CLOSESPIDER_TIMEOUT=10" };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (silk_settings_set_pair(settings, defaults[i], SILK_PRIO_COMMAND)) {
            rc = cli_fail("out of memory");
            goto out;
        }
    cli_parser_init(&p, cmd, options, argc, argv);
    for (int id; (id = cli_next(&p)) != CLI_END;) {
        switch (id) {
        case CLI_HELP:
            help(stdout);
            rc = CLI_OK;
            goto out;
        case CLI_ERROR: rc = CLI_USAGE; goto out;
        case CLI_POSITIONAL: rc = cli_usage_error(cmd, "unexpected argument '%s'", p.arg); goto out;
        case OPT_SET:
            if (!strchr(p.arg, '=') || p.arg[0] == '=') {
                rc = cli_usage_error(cmd, "invalid -s value '%s', use -s NAME=VALUE", p.arg);
                goto out;
            }
            err = silk_settings_set_pair(settings, p.arg, SILK_PRIO_CMDLINE);
            goto set;
        case OPT_LOGLEVEL: {
            silk_log_level lv;
            if (silk_log_level_parse(p.arg, &lv)) {
                rc = cli_usage_error(cmd, "%s", silk_last_error());
                goto out;
            }
            err = silk_settings_set(settings, "LOG_LEVEL", silk_log_level_name(lv), SILK_PRIO_CMDLINE);
            goto set;
        }
        case OPT_LOGFILE: err = silk_settings_set(settings, "LOG_FILE", p.arg, SILK_PRIO_CMDLINE); goto set;
        case OPT_NOLOG: err = silk_settings_set(settings, "LOG_ENABLED", "False", SILK_PRIO_CMDLINE); goto set;
        default: rc = CLI_USAGE; goto out;
        set:
            if (err) {
                rc = cli_fail("out of memory");
                goto out;
            }
            break;
        }
    }

    silk_testserver_options opt;
    memset(&opt, 0, sizeof opt);
    opt.pages = BENCH_PAGES;
    if ((err = silk_testserver_start_thread(&opt, &srv))) {
        rc = cli_fail("cannot start the test server: %s",
                      *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    if (!(url = silk_asprintf("%s/", silk_testserver_url(srv)))) {
        rc = cli_fail("out of memory");
        goto out;
    }
    start_urls[0] = url;
    silk_crawler *crawler = NULL;
    if ((err = silk_process_new(settings, &proc)) ||
        (err = silk_process_crawl(proc, &bench_spider, NULL, settings, &crawler))) {
        rc = cli_fail("cannot start the benchmark: %s",
                      *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    if ((err = silk_process_run(proc))) {
        rc = cli_fail("the benchmark crawl failed: %s",
                      *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    silk_stats *st = silk_crawler_stats(crawler);
    int64_t pages = silk_stats_get_int(st, "response_received_count", 0);
    const silk_value *el = silk_stats_get(st, "elapsed_time_seconds");
    double secs = el && el->kind == SILK_V_DOUBLE ? el->u.d : el && el->kind == SILK_V_INT ? (double)el->u.i : 0;
    if (secs > 0)
        printf("silk bench: crawled %lld pages in %.2f s (at %.0f pages/min, %.0f pages/s)\n",
               (long long)pages, secs, (double)pages * 60.0 / secs, (double)pages / secs);
    rc = CLI_OK;
out:
    silk_process_free(proc);
    silk_testserver_free(srv);
    start_urls[0] = NULL;
    silk_free(url);
    silk_settings_free(settings);
    return rc;
}

const cli_command cli_cmd_bench = {
    .name = "bench",
    .syntax = "[options]",
    .summary = "Run quick benchmark test",
    .run = run,
    .help = help,
};
