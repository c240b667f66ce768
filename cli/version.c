/* silk version [-v] — as `scrapy version [-v]`. */
#define _GNU_SOURCE
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <curl/curl.h>
#include <event2/event.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <pcre2.h>
#include <sqlite3.h>
#include <stringprep.h>

#include "cli/cli.h"
#include "silk/silk.h"

static const cli_option options[] = {
    { 'v', 'v', "verbose", false, NULL, "also print the versions of the libraries silk uses" },
    { 0, 0, NULL, false, NULL, NULL },
};

static void help(FILE *f)
{
    fprintf(f, "Usage\n=====\n  silk version [-v]\n\nPrint silk version\n\nOptions\n=======\n");
    cli_print_options(f, options);
}

/* The first line of `$CC --version`, the compiler runspider uses. */
static void compiler_version(char *out, size_t n)
{
    const char *cc = getenv("CC");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --version 2>/dev/null", cc && *cc ? cc : "cc");
    snprintf(out, n, "not found (%s)", cc && *cc ? cc : "cc");
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char line[256];
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(out, n, "%s", line);
    }
    pclose(p);
}

static int run(int argc, char **argv)
{
    cli_parser p;
    bool verbose = false;
    cli_parser_init(&p, &cli_cmd_version, options, argc, argv);
    for (int id; (id = cli_next(&p)) != CLI_END;) {
        switch (id) {
        case 'v': verbose = true; break;
        case CLI_HELP: help(stdout); return CLI_OK;
        case CLI_POSITIONAL: return cli_usage_error(&cli_cmd_version, "unexpected argument '%s'", p.arg);
        default: return CLI_USAGE;
        }
    }
    if (!verbose) {
        printf("silk %s\n", silk_version());
        return CLI_OK;
    }
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const char *xv = xmlParserVersion; /* "20914" */
    long x = xv ? strtol(xv, NULL, 10) : 0;
    char pcre[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    char cc[256];
    compiler_version(cc, sizeof cc);
    struct utsname u;
    char platform[512] = "unknown";
    if (uname(&u) == 0)
        snprintf(platform, sizeof platform, "%s-%s-%s", u.sysname, u.release, u.machine);

    printf("silk       : %s\n", silk_version());
    printf("libcurl    : %s (%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS");
    printf("libxml2    : %ld.%ld.%ld\n", x / 10000, x / 100 % 100, x % 100);
    printf("libevent   : %s\n", event_get_version());
    printf("SQLite     : %s\n", sqlite3_libversion());
    printf("OpenSSL    : %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("PCRE2      : %s\n", pcre);
    printf("libidn     : %s\n", stringprep_check_version(NULL));
    printf("glibc      : %s\n", gnu_get_libc_version());
    printf("C compiler : %s\n", cc);
    printf("Platform   : %s\n", platform);
    return CLI_OK;
}

const cli_command cli_cmd_version = {
    .name = "version",
    .syntax = "[-v]",
    .summary = "Print silk version",
    .run = run,
    .help = help,
};
