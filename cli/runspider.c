/* silk runspider SPIDER — as `scrapy runspider`: run the spider defined in
 * a .c file (compiled on the fly, cached) or a .so, without a project. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "silk/engine.h"
#include "silk/feeds.h"
#include "silk/jobdir.h"
#include "silk/silk.h"

enum {
    OPT_ARG = 'a',
    OPT_SET = 's',
    OPT_OUTPUT = 'o',
    OPT_OVERWRITE = 'O',
    OPT_LOGLEVEL = 'L',
    OPT_LOGFILE = 1000,
    OPT_NOLOG,
    OPT_JOBDIR,
    OPT_PIDFILE,
};

static const cli_option options[] = {
    { OPT_ARG, 'a', NULL, true, "NAME=VALUE", "set a spider argument (may be repeated)" },
    { OPT_OUTPUT, 'o', "output", true, "FILE",
      "append scraped items to the end of FILE (use - for stdout); FILE:FORMAT sets the format" },
    { OPT_OVERWRITE, 'O', "overwrite-output", true, "FILE",
      "dump scraped items into FILE, overwriting any existing file; FILE:FORMAT sets the format" },
    { OPT_JOBDIR, 0, "jobdir", true, "DIR", "keep the crawl's state in DIR, to pause and resume it" },
    { OPT_LOGFILE, 0, "logfile", true, "FILE", "log file; if omitted stderr will be used" },
    { OPT_LOGLEVEL, 'L', "loglevel", true, "LEVEL", "log level (default: DEBUG)" },
    { OPT_NOLOG, 0, "nolog", false, NULL, "disable logging completely" },
    { OPT_PIDFILE, 0, "pidfile", true, "FILE", "write process ID to FILE" },
    { OPT_SET, 's', "set", true, "NAME=VALUE", "set/override setting (may be repeated)" },
    { 0, 0, NULL, false, NULL, NULL },
};

static void help(FILE *f)
{
    fprintf(f,
            "Usage\n=====\n  silk runspider [options] <spider_file>\n\n"
            "Run the spider defined in the given file: a .c file (compiled with $CC, default cc,\n"
            "and cached in $XDG_CACHE_HOME/silk) or a shared object (.so).\n\n"
            "Options\n=======\n");
    cli_print_options(f, options);
    fprintf(f, "\nEnvironment: CC (the C compiler), SILK_CFLAGS and SILK_LDLIBS (extra compiler\n"
               "flags and libraries for the spider), XDG_CACHE_HOME.\n");
}

static bool is_shared_object(const char *path)
{
    size_t n = strlen(path);
    return (n > 3 && strcmp(path + n - 3, ".so") == 0) || strstr(path, ".so.") != NULL;
}

static bool is_c_file(const char *path)
{
    size_t n = strlen(path);
    return n > 2 && strcmp(path + n - 2, ".c") == 0;
}

static int run(int argc, char **argv)
{
    const cli_command *cmd = &cli_cmd_runspider;
    int rc = CLI_FAIL, err;
    cli_parser p;
    cli_spider sp = { 0 };
    silk_settings *settings = silk_settings_new();
    silk_value *args = silk_value_new_dict();
    silk_process *proc = NULL;
    const char *spider_path = NULL, *loglevel = NULL, *pidfile = NULL;
    bool seen_o = false, seen_O = false;
    if (!settings || !args) {
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
        case CLI_ERROR:
            rc = CLI_USAGE;
            goto out;
        case CLI_POSITIONAL:
            if (spider_path) {
                rc = cli_usage_error(cmd, "expected one spider file, got '%s' and '%s'", spider_path, p.arg);
                goto out;
            }
            spider_path = p.arg;
            break;
        case OPT_ARG: {
            const char *eq = strchr(p.arg, '=');
            if (!eq || eq == p.arg) {
                rc = cli_usage_error(cmd, "invalid -a value '%s', use -a NAME=VALUE", p.arg);
                goto out;
            }
            if (silk_dict_setn(args, p.arg, (size_t)(eq - p.arg), silk_value_new_string(eq + 1))) {
                rc = cli_fail("out of memory");
                goto out;
            }
            break;
        }
        case OPT_SET: {
            const char *eq = strchr(p.arg, '=');
            if (!eq || eq == p.arg) {
                rc = cli_usage_error(cmd, "invalid -s value '%s', use -s NAME=VALUE", p.arg);
                goto out;
            }
            if (silk_settings_set_pair(settings, p.arg, SILK_PRIO_CMDLINE)) {
                rc = cli_fail("%s", silk_last_error());
                goto out;
            }
            break;
        }
        case OPT_OUTPUT:
        case OPT_OVERWRITE:
            if (id == OPT_OUTPUT)
                seen_o = true;
            else
                seen_O = true;
            if (seen_o && seen_O) {
                rc = cli_usage_error(cmd, "please use only one of -o/--output and -O/--overwrite-output");
                goto out;
            }
            err = silk_feeds_add_cli(settings, p.arg, id == OPT_OVERWRITE);
            if (err) {
                rc = err == SILK_ENOMEM ? cli_fail("out of memory")
                                        : cli_usage_error(cmd, "%s", silk_last_error());
                goto out;
            }
            break;
        case OPT_LOGLEVEL: loglevel = p.arg; break;
        case OPT_LOGFILE: err = silk_settings_set(settings, "LOG_FILE", p.arg, SILK_PRIO_CMDLINE); goto set;
        case OPT_NOLOG: err = silk_settings_set(settings, "LOG_ENABLED", "False", SILK_PRIO_CMDLINE); goto set;
        case OPT_JOBDIR: err = silk_settings_set(settings, "JOBDIR", p.arg, SILK_PRIO_CMDLINE); goto set;
        case OPT_PIDFILE: pidfile = p.arg; break;
        default: rc = CLI_USAGE; goto out;
        set:
            if (err) {
                rc = cli_fail("out of memory");
                goto out;
            }
            break;
        }
    }
    if (!spider_path) {
        rc = cli_usage_error(cmd, "missing the spider file (silk runspider <spider_file>)");
        goto out;
    }
    if (loglevel) {
        silk_log_level lv;
        if (silk_log_level_parse(loglevel, &lv)) {
            rc = cli_usage_error(cmd, "%s", silk_last_error());
            goto out;
        }
        /* After every -s, as Scrapy: -L wins over -s LOG_LEVEL=... */
        if (silk_settings_set(settings, "LOG_LEVEL", silk_log_level_name(lv), SILK_PRIO_CMDLINE)) {
            rc = cli_fail("out of memory");
            goto out;
        }
    }
    struct stat st;
    if (stat(spider_path, &st) != 0) {
        rc = cli_usage_error(cmd, "file not found: %s", spider_path);
        goto out;
    }
    if (!is_c_file(spider_path) && !is_shared_object(spider_path)) {
        rc = cli_usage_error(cmd, "cannot load '%s': a spider file is a C source (.c) or a shared object (.so)",
                             spider_path);
        goto out;
    }
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
            rc = cli_fail("cannot write the pid file %s: %s", pidfile, strerror(errno));
            goto out;
        }
    }

    if ((rc = cli_spider_load(spider_path, &sp)) != CLI_OK)
        goto out;
    rc = CLI_FAIL;
    if ((err = silk_process_new(settings, &proc))) {
        cli_fail("cannot start: %s", *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    silk_crawler *crawler = NULL;
    if ((err = silk_process_crawl(proc, sp.def, args, settings, &crawler))) {
        cli_fail("cannot start the spider of %s: %s", spider_path,
                 *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    /* --jobdir / -s JOBDIR=...: the persistent scheduler (nothing when unset). */
    if ((err = silk_jobdir_install(crawler))) {
        cli_fail("%s", *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    if ((err = silk_process_run(proc))) {
        cli_fail("the crawl of %s failed: %s", spider_path,
                 *silk_last_error() ? silk_last_error() : silk_strerror(err));
        goto out;
    }
    rc = CLI_OK;
out:
    silk_process_free(proc);
    cli_spider_release(&sp);
    silk_value_free(args);
    silk_settings_free(settings);
    return rc;
}

const cli_command cli_cmd_runspider = {
    .name = "runspider",
    .syntax = "[options] <spider_file>",
    .summary = "Run a self-contained spider (without creating a project)",
    .run = run,
    .help = help,
};
