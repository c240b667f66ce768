/* silk — internals of the `silk` command, shared by the files of cli/.
 * Nothing here is part of libsilk: every name is cli_ and lives in the
 * executable only. */
#ifndef SILK_CLI_H
#define SILK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "silk/spider.h"

/* Exit statuses, as Scrapy's: 0 done, 1 the command failed, 2 a usage error
 * (unknown command or option, a missing or malformed argument). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ---- commands (cli/<command>.c); argv[0] is the command's name ---- */

typedef struct cli_command {
    const char *name;
    const char *syntax;               /* "[options] <spider_file>" */
    const char *summary;              /* one line for `silk --help` */
    int (*run)(int argc, char **argv); /* returns an exit status */
    void (*help)(FILE *f);            /* `silk NAME --help` */
} cli_command;

extern const cli_command cli_cmd_runspider;
extern const cli_command cli_cmd_genspider;
extern const cli_command cli_cmd_bench;
extern const cli_command cli_cmd_testserver;
extern const cli_command cli_cmd_version;

/* Prints "silk: <message>" to stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "silk COMMAND: <message>", then the command's usage line and a
 * hint, to stderr; returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- option parsing (cli/options.c) ----
 * A small getopt_long of our own, for Scrapy's option shapes and our own
 * messages: "-a X", "-aX", "--arg X", "--arg=X"; "--" ends the options;
 * options and positionals mix freely. */
typedef struct cli_option {
    int id;           /* returned by cli_next */
    char short_name;  /* 0 = none */
    const char *long_name; /* without "--"; NULL = none */
    bool has_arg;
    const char *metavar;   /* for the help */
    const char *help;
} cli_option;

typedef struct cli_parser {
    const cli_command *cmd;
    const cli_option *opts; /* ends with id 0 */
    int argc;
    char **argv;
    int i;           /* next argv index */
    bool no_more;    /* after "--" */
    const char *arg; /* the option's argument, or the positional */
} cli_parser;

#define CLI_POSITIONAL (-1)
#define CLI_END 0
#define CLI_ERROR (-2) /* the message is printed; exit CLI_USAGE */
#define CLI_HELP (-3)  /* -h / --help */

void cli_parser_init(cli_parser *p, const cli_command *cmd, const cli_option *opts, int argc,
                     char **argv);
/* The next option's id (p->arg holds its argument), CLI_POSITIONAL (p->arg
 * is the word), CLI_HELP, CLI_END, or CLI_ERROR. */
int cli_next(cli_parser *p);
/* Prints an option table. */
void cli_print_options(FILE *f, const cli_option *opts);
/* Parses a whole non-negative decimal number into *out; false if it is not
 * one or exceeds max. */
bool cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out);

/* ---- loading a spider (cli/load.c) ---- */

typedef struct cli_spider {
    const silk_spider_def *def; /* borrowed from the loaded object */
    void *handle;               /* dlopen handle: never closed, the def lives in it */
    char *so_path;              /* what was loaded (silk_malloc'ed) */
    bool from_cache;            /* compiled earlier and reused */
} cli_spider;

/* Loads SPIDER (a .c file compiled on the fly, or a .so): fills *out and
 * returns CLI_OK, or prints a clear message and returns CLI_FAIL / CLI_USAGE.
 * Free with cli_spider_release (which keeps the object mapped). */
int cli_spider_load(const char *path, cli_spider *out);
void cli_spider_release(cli_spider *sp);

/* The directory compiled spiders are cached in (silk_malloc'ed), creating it
 * when needed; NULL (and a warning printed) when no usable one exists. */
char *cli_cache_dir(void);

/* ---- crash reports (cli/crash.c) ---- */

/* Installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT that
 * name the spider file and the signal on stderr, then re-raise. */
void cli_crash_handlers_install(void);
/* The spider whose code is running, for the report (copied into a static
 * buffer); the address range [lo, hi) of its code, to say whether the fault
 * was inside it. */
void cli_crash_set_spider(const char *file, const void *lo, const void *hi);

#endif
