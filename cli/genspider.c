/* silk genspider NAME DOMAIN — as `scrapy genspider` outside a project:
 * writes NAME.c, a commented spider that compiles and runs as it is. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "silk/alloc.h"
#include "silk/buf.h"

enum { OPT_FORCE = 1000, OPT_LIST, OPT_DUMP, OPT_TEMPLATE = 't' };

static const cli_option options[] = {
    { OPT_LIST, 'l', "list", false, NULL, "list available templates" },
    { OPT_DUMP, 'd', "dump", true, "TEMPLATE", "dump template to standard output" },
    { OPT_TEMPLATE, 't', "template", true, "TEMPLATE", "use a given template (default: basic)" },
    { OPT_FORCE, 0, "force", false, NULL, "if the spider file already exists, overwrite it" },
    { 0, 0, NULL, false, NULL, NULL },
};

static void help(FILE *f)
{
    fprintf(f, "Usage\n=====\n  silk genspider [options] <name> <domain>\n\n"
               "Generate a new spider (NAME.c in the current directory) from a template.\n"
               "DOMAIN may be a host (example.com) or a URL (http://127.0.0.1:8000/).\n\n"
               "Options\n=======\n");
    cli_print_options(f, options);
}

/* The template. {name} {ident} {domain} {url} are replaced. */
static const char basic_template[] =
    "/* {name} - a silk spider.\n"
    " *\n"
    " * Run it, writing the items it scrapes to a file (-O overwrites, -o appends;\n"
    " * the format comes from the extension: .jsonl, .json or .csv):\n"
    " *\n"
    " *     silk runspider {file} -O items.jsonl\n"
    " *\n"
    " * silk compiles this file with the system C compiler the first time and\n"
    " * whenever it changes. Settings go on the command line (-s KEY=VALUE) or in\n"
    " * .custom_settings below; spider arguments with -a NAME=VALUE.\n"
    " *\n"
    " * Everything a callback takes from its context (selector results, strings,\n"
    " * the requests and items it yields) is released when it returns: ordinary\n"
    " * extraction needs no free(). */\n"
    "#include <silk/silk.h>\n"
    "#include <silk/spider.h>\n"
    "\n"
    "/* The default callback: called with every response whose request names no\n"
    " * other callback, starting with those of start_urls. Return 0, or a negative\n"
    " * SILK_E* code to report an error (logged; the crawl goes on). */\n"
    "static int parse(silk_ctx *ctx, silk_response *response)\n"
    "{\n"
    "    /* Yield one item per page. A field missing from the page is null. */\n"
    "    silk_item *item = silk_ctx_item(ctx, NULL);\n"
    "    if (!item)\n"
    "        return SILK_ENOMEM;\n"
    "    silk_item_set_str(item, \"url\", response->url);\n"
    "    silk_item_set_str(item, \"title\", silk_ctx_css_get(ctx, \"title::text\"));\n"
    "\n"
    "    /* To crawl further, follow links (relative ones are joined to the\n"
    "     * response's URL; those outside allowed_domains are dropped, and the\n"
    "     * dupefilter drops pages already seen):\n"
    "     *\n"
    "     *     silk_ctx_follow_css(ctx, \"a::attr(href)\", \"parse\");\n"
    "     *\n"
    "     * or follow one link with another callback, registered by name in\n"
    "     * .callbacks below:\n"
    "     *\n"
    "     *     silk_ctx_follow(ctx, silk_ctx_css_get(ctx, \"a.next::attr(href)\"), \"parse_page\");\n"
    "     */\n"
    "    return 0;\n"
    "}\n"
    "\n"
    "SILK_SPIDER({ident}_spider) = {\n"
    "    .name = \"{name}\",\n"
    "    .allowed_domains = SILK_LIST(\"{domain}\"),\n"
    "    .start_urls = SILK_LIST(\"{url}\"),\n"
    "    .parse = parse,\n"
    "    /* Callbacks other than parse, by name (requests name their callback, so\n"
    "     * that a crawl paused with --jobdir can resume):\n"
    "     *\n"
    "     * .callbacks = (const silk_callback_def[]){ { \"parse_page\", parse_page }, { NULL, NULL } },\n"
    "     *\n"
    "     * Settings for this spider (the command line's -s still wins):\n"
    "     *\n"
    "     * .custom_settings = SILK_LIST(\"DOWNLOAD_DELAY=0.5\", \"CONCURRENT_REQUESTS=8\"),\n"
    "     */\n"
    "};\n";

static const struct {
    const char *name;
    const char *text;
} templates[] = {
    { "basic", basic_template },
};

static const char *find_template(const char *name)
{
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++)
        if (strcmp(templates[i].name, name) == 0)
            return templates[i].text;
    return NULL;
}

static int unknown_template(const char *name)
{
    fprintf(stderr, "silk genspider: unable to find template: %s\n", name);
    fprintf(stderr, "Use \"silk genspider --list\" to see all available templates.\n");
    return CLI_USAGE;
}

/* Scrapy's sanitize_module_name, for a C identifier: anything but a letter,
 * digit or '_' becomes '_', and a leading non-letter gets an 'a'. */
static char *c_identifier(const char *name)
{
    silk_buf b = SILK_BUF_INIT;
    if (!isalpha((unsigned char)name[0]))
        silk_buf_putc(&b, 'a');
    for (const char *p = name; *p; p++)
        silk_buf_putc(&b, isalnum((unsigned char)*p) || *p == '_' ? *p : '_');
    return silk_buf_detach(&b);
}

/* Text that may go inside a C string literal and a comment unchanged. */
static bool plain_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || (*p == '*' && p[1] == '/'))
            return false;
    return true;
}

/* Scrapy's extract_domain: the netloc of a URL, or of "//" + text. Sets
 * host (without user info and port) and url (the start URL). */
static int split_domain(const char *arg, char **host, char **url)
{
    *host = *url = NULL;
    const char *scheme_end = strstr(arg, "://");
    bool has_scheme = scheme_end && scheme_end > arg && strcspn(arg, "/?#") > (size_t)(scheme_end - arg);
    const char *netloc = has_scheme ? scheme_end + 3 : arg;
    while (!has_scheme && *netloc == '/')
        netloc++;
    size_t n = strcspn(netloc, "/?#");
    const char *at = memchr(netloc, '@', n);
    const char *h = at ? at + 1 : netloc;
    size_t hn = n - (size_t)(h - netloc);
    size_t port = hn;
    if (hn && h[0] == '[') { /* [v6]:port */
        const char *close = memchr(h, ']', hn);
        port = close ? (size_t)(close - h) + 1 : hn;
    } else {
        const char *colon = memchr(h, ':', hn);
        if (colon)
            port = (size_t)(colon - h);
    }
    if (port == 0)
        return CLI_USAGE;
    *host = silk_strndup(h, port);
    if (has_scheme)
        *url = silk_asprintf("%.*s%s", (int)(netloc + n - arg), arg, netloc[n] ? netloc + n : "/");
    else
        *url = silk_asprintf("https://%.*s/", (int)n, netloc);
    return *host && *url ? CLI_OK : CLI_FAIL;
}

static int render(const char *tmpl, const char *name, const char *ident, const char *file,
                  const char *domain, const char *url, silk_buf *out)
{
    const struct {
        const char *key, *val;
    } vars[] = { { "{name}", name }, { "{ident}", ident }, { "{file}", file },
                 { "{domain}", domain }, { "{url}", url } };
    for (const char *p = tmpl; *p;) {
        bool done = false;
        for (size_t i = 0; i < sizeof vars / sizeof vars[0] && !done; i++) {
            size_t kn = strlen(vars[i].key);
            if (strncmp(p, vars[i].key, kn) == 0) {
                silk_buf_puts(out, vars[i].val);
                p += kn;
                done = true;
            }
        }
        if (!done)
            silk_buf_putc(out, *p++);
    }
    return out->err;
}

static int run(int argc, char **argv)
{
    const cli_command *cmd = &cli_cmd_genspider;
    cli_parser p;
    const char *pos[3] = { NULL, NULL, NULL };
    int npos = 0, rc = CLI_FAIL;
    const char *template_name = "basic";
    bool force = false;
    char *ident = NULL, *file = NULL, *host = NULL, *url = NULL;
    silk_buf text = SILK_BUF_INIT;

    cli_parser_init(&p, cmd, options, argc, argv);
    for (int id; (id = cli_next(&p)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: help(stdout); return CLI_OK;
        case CLI_ERROR: return CLI_USAGE;
        case CLI_POSITIONAL:
            if (npos < 3)
                pos[npos] = p.arg;
            npos++;
            break;
        case OPT_LIST:
            printf("Available templates:\n");
            for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++)
                printf("  %s\n", templates[i].name);
            return CLI_OK;
        case OPT_DUMP: {
            const char *t = find_template(p.arg);
            if (!t)
                return unknown_template(p.arg);
            fputs(t, stdout);
            return CLI_OK;
        }
        case OPT_TEMPLATE: template_name = p.arg; break;
        case OPT_FORCE: force = true; break;
        default: return CLI_USAGE;
        }
    }
    if (npos != 2)
        return cli_usage_error(cmd, npos < 2 ? "expected a NAME and a DOMAIN" : "too many arguments");
    const char *tmpl = find_template(template_name);
    if (!tmpl)
        return unknown_template(template_name);
    const char *name = pos[0], *domain = pos[1];
    if (!*name || !plain_text(name))
        return cli_usage_error(cmd, "invalid spider name '%s'", name);
    if (!*domain || !plain_text(domain) || strchr(domain, ' '))
        return cli_usage_error(cmd, "invalid domain '%s'", domain);
    if ((rc = split_domain(domain, &host, &url)) != CLI_OK) {
        if (rc == CLI_USAGE)
            rc = cli_usage_error(cmd, "invalid domain '%s': no host in it", domain);
        else
            rc = cli_fail("out of memory");
        goto out;
    }
    rc = CLI_FAIL;
    ident = c_identifier(name);
    file = ident ? silk_asprintf("%s.c", ident) : NULL;
    if (!ident || !file || render(tmpl, name, ident, file, host, url, &text)) {
        rc = cli_fail("out of memory");
        goto out;
    }
    int fd = open(file, O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            rc = cli_fail("%s already exists (use --force to overwrite it)", file);
        else
            rc = cli_fail("cannot create %s: %s", file, strerror(errno));
        goto out;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        rc = cli_fail("cannot write %s: %s", file, strerror(errno));
        goto out;
    }
    bool ok = fwrite(text.data, 1, text.len, f) == text.len;
    if (fclose(f) != 0 || !ok) {
        rc = cli_fail("cannot write %s: %s", file, strerror(errno));
        goto out;
    }
    printf("Created spider '%s' using template '%s' in %s\n", name, template_name, file);
    printf("Run it with: silk runspider %s -O items.jsonl\n", file);
    rc = CLI_OK;
out:
    silk_buf_free(&text);
    silk_free(ident);
    silk_free(file);
    silk_free(host);
    silk_free(url);
    return rc;
}

const cli_command cli_cmd_genspider = {
    .name = "genspider",
    .syntax = "[options] <name> <domain>",
    .summary = "Generate new spider using pre-defined templates",
    .run = run,
    .help = help,
};
