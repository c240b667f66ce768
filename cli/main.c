/* silk — the command-line tool: `silk COMMAND [options]`, as `scrapy`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "silk/silk.h"

extern const cli_command cli_cmd_console; /* cli/console.c */
static const cli_command *const commands[] = {
    &cli_cmd_runspider, &cli_cmd_genspider, &cli_cmd_bench, &cli_cmd_testserver, &cli_cmd_console, &cli_cmd_version,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "silk %s - a crawler framework in C with built-in leak tooling\n"
            "\n"
            "Usage:\n"
            "  silk <command> [options] [args]\n"
            "\n"
            "Available commands:\n",
            silk_version());
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nUse \"silk <command> -h\" to see more info about a command\n");
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* SILK_LEAK_CHECK=1: a command that leaves counted bytes or tracked objects
 * behind at exit fails (the tests use it to prove a whole crawl is clean). */
static int leak_check(int rc)
{
    const char *e = getenv("SILK_LEAK_CHECK");
    if (!e || !*e || strcmp(e, "0") == 0)
        return rc;
    size_t live = silk_trackref_live_total(), bytes = silk_alloc_live_bytes();
    if (live == 0 && bytes == 0)
        return rc;
    fprintf(stderr, "silk: leak check: %zu tracked objects and %zu bytes (%zu blocks) still live at exit\n",
            live, bytes, silk_alloc_live_count());
    if (live)
        silk_trackref_print(stderr, NULL);
    return rc ? rc : CLI_FAIL;
}

int main(int argc, char **argv)
{
    cli_crash_handlers_install();
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (strcmp(name, "help") == 0 && argc > 2) {
            const cli_command *c = find_command(argv[2]);
            if (!c) {
                fprintf(stderr, "silk: unknown command '%s'\n\n", argv[2]);
                usage(stderr);
                return CLI_USAGE;
            }
            c->help(stdout);
            return CLI_OK;
        }
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0 || strcmp(name, "-V") == 0)
        return cli_cmd_version.run(1, argv + 1);
    const cli_command *cmd = find_command(name);
    if (!cmd) {
        if (name[0] == '-')
            fprintf(stderr, "silk: unknown option '%s'\n\n", name);
        else
            fprintf(stderr, "silk: unknown command '%s'\n\n", name);
        usage(stderr);
        return CLI_USAGE;
    }
    return leak_check(cmd->run(argc - 1, argv + 1));
}
