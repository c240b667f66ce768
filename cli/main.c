/* silk — the command-line tool. */
#include <stdio.h>
#include <string.h>

#include "silk/silk.h"

static void usage(FILE *f)
{
    fprintf(f,
            "silk %s — a crawler framework in C with built-in leak tooling\n"
            "\n"
            "Usage: silk <command> [options]\n"
            "\n"
            "Commands:\n"
            "  version      print the version\n"
            "  help         show this help\n",
            silk_version());
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("silk %s\n", silk_version());
        return 0;
    }
    fprintf(stderr, "silk: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
