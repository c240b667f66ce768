/* silk — command-line option parsing for the `silk` command. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("silk: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "silk %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Usage: silk %s %s\n", cmd->name, cmd->syntax);
    fprintf(stderr, "Try 'silk %s --help' for more information.\n", cmd->name);
    return CLI_USAGE;
}

void cli_parser_init(cli_parser *p, const cli_command *cmd, const cli_option *opts, int argc,
                     char **argv)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->opts = opts;
    p->argc = argc;
    p->argv = argv;
    p->i = 1; /* argv[0] is the command */
}

static const cli_option *find_long(const cli_option *opts, const char *name, size_t n)
{
    for (const cli_option *o = opts; o->id; o++)
        if (o->long_name && strlen(o->long_name) == n && memcmp(o->long_name, name, n) == 0)
            return o;
    return NULL;
}

static const cli_option *find_short(const cli_option *opts, char c)
{
    for (const cli_option *o = opts; o->id; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

int cli_next(cli_parser *p)
{
    p->arg = NULL;
    if (p->i >= p->argc)
        return CLI_END;
    char *w = p->argv[p->i++];
    if (p->no_more || w[0] != '-' || w[1] == '\0') { /* "-" alone is a positional (stdin) */
        p->arg = w;
        return CLI_POSITIONAL;
    }
    if (strcmp(w, "--") == 0) {
        p->no_more = true;
        return cli_next(p);
    }
    const cli_option *o;
    const char *inline_arg = NULL;
    if (w[1] == '-') {
        const char *name = w + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        if (n == 4 && memcmp(name, "help", 4) == 0 && !eq)
            return CLI_HELP;
        o = find_long(p->opts, name, n);
        if (!o) {
            cli_usage_error(p->cmd, "unknown option '--%.*s'", (int)n, name);
            return CLI_ERROR;
        }
        if (eq) {
            if (!o->has_arg) {
                cli_usage_error(p->cmd, "option '--%s' takes no value", o->long_name);
                return CLI_ERROR;
            }
            inline_arg = eq + 1;
        }
    } else {
        if (w[1] == 'h' && w[2] == '\0')
            return CLI_HELP;
        o = find_short(p->opts, w[1]);
        if (!o) {
            cli_usage_error(p->cmd, "unknown option '-%c'", w[1]);
            return CLI_ERROR;
        }
        if (w[2] != '\0') {
            if (!o->has_arg) {
                /* Grouped flags ("-vq") are not worth their ambiguity. */
                cli_usage_error(p->cmd, "unknown option '%s'", w);
                return CLI_ERROR;
            }
            inline_arg = w + 2;
        }
    }
    if (o->has_arg) {
        if (inline_arg) {
            p->arg = inline_arg;
        } else if (p->i < p->argc) {
            p->arg = p->argv[p->i++];
        } else {
            if (o->long_name)
                cli_usage_error(p->cmd, "option '--%s' needs a value (%s)", o->long_name,
                                o->metavar ? o->metavar : "VALUE");
            else
                cli_usage_error(p->cmd, "option '-%c' needs a value (%s)", o->short_name,
                                o->metavar ? o->metavar : "VALUE");
            return CLI_ERROR;
        }
    }
    return o->id;
}

void cli_print_options(FILE *f, const cli_option *opts)
{
    for (const cli_option *o = opts; o->id; o++) {
        char left[64];
        int n = 0;
        if (o->short_name && o->long_name)
            n = snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->long_name);
        else if (o->short_name)
            n = snprintf(left, sizeof left, "-%c", o->short_name);
        else
            n = snprintf(left, sizeof left, "    --%s", o->long_name);
        if (o->has_arg && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s", o->metavar ? o->metavar : "VALUE");
        fprintf(f, "  %-30s %s\n", left, o->help ? o->help : "");
    }
    fprintf(f, "  %-30s %s\n", "-h, --help", "show this help and exit");
}

bool cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}
