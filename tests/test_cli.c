/* The `silk` command, run as a user runs it: the built binary as a
 * subprocess, against the embedded test site served by this process. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np */
#include "silk_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "silk/testserver.h"

extern char **environ;

#define SILK_BIN SILK_BUILD_DIR "/silk"
#define SITE_PAGES 20u

static char tmp[256];     /* this run's scratch directory */
static char cache[300];   /* XDG_CACHE_HOME of the children */
static silk_testserver *srv;
static char url[128];     /* the site's "/" */
static unsigned run_no;

/* ---- running silk ---- */

typedef struct result {
    int code;     /* exit status, or -1 when killed by a signal */
    int sig;      /* the signal that ended it, or 0 */
    char *out;    /* stdout and stderr, silk_malloc'ed */
    char *err;
} result;

static void result_free(result *r)
{
    silk_free(r->out);
    silk_free(r->err);
    memset(r, 0, sizeof *r);
}

static char *slurp(const char *path)
{
    silk_buf b = SILK_BUF_INIT;
    FILE *f = fopen(path, "rb");
    if (f) {
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            silk_buf_append(&b, chunk, n);
        fclose(f);
    }
    silk_buf_puts(&b, "");
    return silk_buf_detach(&b);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* A silk running in the background. */
typedef struct child {
    pid_t pid;
    char out_path[400], err_path[400];
} child;

/* Starts silk with argv (NULL-terminated, without the program name) in
 * directory cwd (NULL = tmp), with the environment plus env ("K=V" strings,
 * NULL-terminated, may be NULL); stdout and stderr go to files. */
static void spawn_silk(child *c, const char *cwd, const char *const *env, const char *const *argv)
{
    unsigned n = ++run_no;
    snprintf(c->out_path, sizeof c->out_path, "%s/run%u.out", tmp, n);
    snprintf(c->err_path, sizeof c->err_path, "%s/run%u.err", tmp, n);

    const char *args[64];
    size_t na = 0;
    args[na++] = SILK_BIN;
    for (size_t i = 0; argv[i] && na < 63; i++)
        args[na++] = argv[i];
    args[na] = NULL;

    /* The environment: ours, minus what env overrides, plus env. */
    size_t ne = 0, cap = 8;
    for (char **e = environ; *e; e++)
        cap++;
    for (size_t i = 0; env && env[i]; i++)
        cap++;
    const char **envp = silk_calloc(cap, sizeof *envp);
    assert_non_null(envp);
    for (char **e = environ; *e; e++) {
        bool overridden = false;
        for (size_t i = 0; env && env[i]; i++) {
            size_t kn = strcspn(env[i], "=");
            if (strncmp(*e, env[i], kn + 1) == 0)
                overridden = true;
        }
        if (!overridden)
            envp[ne++] = *e;
    }
    for (size_t i = 0; env && env[i]; i++)
        envp[ne++] = env[i];
    envp[ne] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, c->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, c->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addchdir_np(&fa, cwd ? cwd : tmp);
    int e = posix_spawn(&c->pid, SILK_BIN, &fa, NULL, (char *const *)args, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    silk_free(envp);
    assert_int_equal(e, 0);
}

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000 * 1000 };
    nanosleep(&t, NULL);
}

/* Waits for c (killing it after timeout seconds) and collects its result. */
static void wait_silk(child *c, double timeout, result *r)
{
    memset(r, 0, sizeof *r);
    int status = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t w = waitpid(c->pid, &status, WNOHANG);
        if (w == c->pid)
            break;
        assert_true(w == 0 || errno == EINTR);
        if (since(&t0) > timeout) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            fprintf(stderr, "silk timed out after %.0f s\n", timeout);
            break;
        }
        sleep_ms(10);
    }
    if (WIFEXITED(status)) {
        r->code = WEXITSTATUS(status);
    } else {
        r->code = -1;
        r->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    r->out = slurp(c->out_path);
    r->err = slurp(c->err_path);
    assert_non_null(r->out);
    assert_non_null(r->err);
    unlink(c->out_path);
    unlink(c->err_path);
}

static void run_env(result *r, const char *cwd, const char *const *env, double timeout,
                    const char *const *argv)
{
    child c;
    spawn_silk(&c, cwd, env, argv);
    wait_silk(&c, timeout, r);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* Spider runs prove the whole crawl frees everything it took. */
#define CRAWL_ENV ENV("SILK_LEAK_CHECK=1")

static void run(result *r, const char *const *argv) { run_env(r, NULL, NULL, 120, argv); }

static void show(const result *r)
{
    fprintf(stderr, "--- exit %d signal %d\n--- stdout:\n%s\n--- stderr:\n%s\n", r->code, r->sig, r->out,
            r->err);
}

#define assert_contains(hay, needle)                                                         \
    do {                                                                                     \
        if (!strstr((hay), (needle))) {                                                      \
            fprintf(stderr, "expected to find \"%s\" in:\n%s\n", (needle), (hay));           \
            fail();                                                                          \
        }                                                                                    \
    } while (0)

#define assert_exit(r, c)                                                                    \
    do {                                                                                     \
        if ((r)->code != (c))                                                                \
            show(r);                                                                         \
        assert_int_equal((r)->code, (c));                                                    \
    } while (0)

/* ---- fixtures ---- */

static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return unlink(path);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_tree(sub);
    }
    closedir(d);
    return rmdir(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/silk-test-cli-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    /* Every child gets a private, initially empty cache. */
    setenv("XDG_CACHE_HOME", cache, 1);
    unsetenv("CC");
    unsetenv("SILK_CFLAGS");
    unsetenv("SILK_LDLIBS");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rm_tree(tmp);
    return 0;
}

/* The site, served from a thread of this process for one test (so that the
 * test can end by proving nothing of its own is left). */
static void server_up(void)
{
    silk_testserver_options opt;
    memset(&opt, 0, sizeof opt);
    opt.pages = SITE_PAGES;
    assert_int_equal(silk_testserver_start_thread(&opt, &srv), 0);
    snprintf(url, sizeof url, "%s/", silk_testserver_url(srv));
}

static void server_down(void)
{
    silk_testserver_free(srv);
    srv = NULL;
    url[0] = '\0';
}

/* A spider file in tmp, with {URL} replaced by the site's "/". */
static void write_spider(const char *name, const char *text)
{
    silk_buf b = SILK_BUF_INIT;
    for (const char *p = text; *p;) {
        if (strncmp(p, "{URL}", 5) == 0) {
            silk_buf_puts(&b, url);
            p += 5;
        } else {
            silk_buf_putc(&b, *p++);
        }
    }
    assert_int_equal(b.err, 0);
    char path[400];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    write_file(path, b.data);
    silk_buf_free(&b);
}

static size_t count_cached(const char *suffix)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/silk/spiders", cache);
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static const char items_spider[] =
    "#include <silk/silk.h>\n"
    "#include <silk/spider.h>\n"
    "static int parse(silk_ctx *ctx, silk_response *response)\n"
    "{\n"
    "    const char *price = silk_ctx_css_get(ctx, \"span.price::text\");\n"
    "    if (price) {\n"
    "        silk_item *it = silk_ctx_item(ctx, NULL);\n"
    "        if (!it)\n"
    "            return SILK_ENOMEM;\n"
    "        silk_item_set_str(it, \"url\", response->url);\n"
    "        silk_item_set_str(it, \"title\", silk_ctx_css_get(ctx, \"title::text\"));\n"
    "        silk_item_set_str(it, \"price\", price);\n"
    "        silk_item_set_str(it, \"tag\", silk_spider_arg(silk_ctx_spider(ctx), \"tag\", \"none\"));\n"
    "    }\n"
    "    silk_ctx_follow_css(ctx, \"a::attr(href)\", NULL);\n"
    "    return 0;\n"
    "}\n"
    "static int start(silk_ctx *ctx)\n"
    "{\n"
    "    const char *u = silk_spider_arg(silk_ctx_spider(ctx), \"start_url\", NULL);\n"
    "    return u && silk_ctx_follow(ctx, u, NULL) ? 0 : SILK_EINVAL;\n"
    "}\n"
    "SILK_SPIDER(items) = { .name = \"items\", .start_requests = start, .parse = parse };\n";

static const char one_item_spider[] =
    "#include <silk/spider.h>\n"
    "static int parse(silk_ctx *ctx, silk_response *response)\n"
    "{\n"
    "    silk_item *it = silk_ctx_item(ctx, NULL);\n"
    "    silk_item_set_str(it, \"url\", response->url);\n"
    "    return 0;\n"
    "}\n"
    "SILK_SPIDER(one) = { .name = \"one\", .start_urls = SILK_LIST(\"{URL}\"), .parse = parse };\n";

/* ---- tests: the command line ---- */

static void test_help(void **state)
{
    (void)state;
    result r;
    run(&r, ARGS(NULL));
    assert_exit(&r, 2);
    assert_contains(r.err, "Usage:");
    assert_contains(r.err, "runspider");
    result_free(&r);

    run(&r, ARGS("--help"));
    assert_exit(&r, 0);
    assert_contains(r.out, "Available commands:");
    assert_contains(r.out, "genspider");
    assert_contains(r.out, "bench");
    result_free(&r);

    static const char *const cmds[] = { "runspider", "genspider", "bench", "testserver", "version" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run(&r, ARGS(cmds[i], "--help"));
        assert_exit(&r, 0);
        assert_contains(r.out, "Usage");
        assert_contains(r.out, cmds[i]);
        result_free(&r);
        run(&r, ARGS(cmds[i], "-h"));
        assert_exit(&r, 0);
        result_free(&r);
        run(&r, ARGS("help", cmds[i]));
        assert_exit(&r, 0);
        assert_contains(r.out, cmds[i]);
        result_free(&r);
    }
    run(&r, ARGS("runspider", "--help"));
    assert_contains(r.out, "-a NAME=VALUE");
    assert_contains(r.out, "-O, --overwrite-output FILE");
    assert_contains(r.out, "--jobdir DIR");
    result_free(&r);
    SILK_ASSERT_CLEAN();
}

static void test_usage_errors(void **state)
{
    (void)state;
    char txt[400];
    snprintf(txt, sizeof txt, "%s/spider.txt", tmp);
    write_file(txt, "not a spider\n");
    static const struct {
        const char *argv[6];
        const char *msg;
    } cases[] = {
        { { "frobnicate" }, "unknown command 'frobnicate'" },
        { { "--frob" }, "unknown option '--frob'" },
        { { "help", "frobnicate" }, "unknown command 'frobnicate'" },
        { { "runspider" }, "missing the spider file" },
        { { "runspider", "-x", "a.c" }, "unknown option '-x'" },
        { { "runspider", "--bogus=1", "a.c" }, "unknown option '--bogus'" },
        { { "runspider", "a.c", "b.c" }, "expected one spider file" },
        { { "runspider", "-a", "novalue", "a.c" }, "invalid -a value 'novalue', use -a NAME=VALUE" },
        { { "runspider", "-s", "NOVALUE", "a.c" }, "invalid -s value 'NOVALUE', use -s NAME=VALUE" },
        { { "runspider", "-o", "a.jsonl", "-O", "b.jsonl", "a.c" }, "only one of -o/--output and -O" },
        { { "runspider", "-L", "LOUD", "a.c" }, "unknown log level 'LOUD'" },
        { { "runspider", "-o", "out.xyz", "a.c" }, "Unrecognized output format 'xyz'" },
        { { "runspider", "a.c", "-a" }, "option '-a' needs a value" },
        { { "runspider", "--logfile" }, "option '--logfile' needs a value" },
        { { "runspider", "--nolog=1", "a.c" }, "option '--nolog' takes no value" },
        { { "runspider", "missing.c" }, "file not found: missing.c" },
        { { "runspider", "spider.txt" }, "a spider file is a C source (.c) or a shared object (.so)" },
        { { "genspider", "onlyname" }, "expected a NAME and a DOMAIN" },
        { { "genspider", "a", "b", "c" }, "too many arguments" },
        { { "genspider", "-t", "nosuch", "a", "b.com" }, "unable to find template: nosuch" },
        { { "genspider", "bad\"name", "b.com" }, "invalid spider name" },
        { { "genspider", "name", "http://" }, "no host in it" },
        { { "testserver", "--port", "http" }, "invalid port 'http'" },
        { { "testserver", "--pages", "0" }, "invalid page count '0'" },
        { { "testserver", "extra" }, "unexpected argument 'extra'" },
        { { "version", "extra" }, "unexpected argument 'extra'" },
        { { "bench", "-s", "X" }, "invalid -s value 'X'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r;
        run(&r, cases[i].argv);
        assert_exit(&r, 2);
        assert_contains(r.err, cases[i].msg);
        assert_string_equal(r.out, "");
        result_free(&r);
    }
    unlink(txt);
    SILK_ASSERT_CLEAN();
}

static void test_version(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "silk %s\n", silk_version());
    result r;
    run(&r, ARGS("version"));
    assert_exit(&r, 0);
    assert_string_equal(r.out, want);
    result_free(&r);
    run(&r, ARGS("--version"));
    assert_exit(&r, 0);
    assert_string_equal(r.out, want);
    result_free(&r);
    run(&r, ARGS("version", "-v"));
    assert_exit(&r, 0);
    static const char *const libs[] = { "silk       : ", "libcurl    : ", "libxml2    : ",
                                        "libevent   : ", "SQLite     : ", "OpenSSL    : ",
                                        "PCRE2      : ", "C compiler : ", "Platform   : " };
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++)
        assert_contains(r.out, libs[i]);
    result_free(&r);
    SILK_ASSERT_CLEAN();
}

/* ---- tests: loading spider files ---- */

static void test_compile_error(void **state)
{
    (void)state;
    write_spider("broken.c", "#include <silk/spider.h>\n"
                             "static int parse(silk_ctx *ctx, silk_response *r) { return nope; }\n"
                             "SILK_SPIDER(b) = { .name = \"b\", .parse = parse };\n");
    result r;
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "broken.c"));
    assert_exit(&r, 1);
    /* The compiler's own words, with the file and line, then ours. */
    assert_contains(r.err, "broken.c:2:");
    assert_contains(r.err, "nope");
    assert_contains(r.err, "silk: cannot compile broken.c\n");
    assert_string_equal(r.out, "");
    result_free(&r);
    assert_int_equal(count_cached(".so"), 0);
    assert_int_equal(count_cached(".tmp.so"), 0);

    /* Calling a function that does not exist is an error, not a warning
     * that turns into a failed dlopen. */
    write_spider("undeclared.c", "#include <silk/spider.h>\n"
                                 "static int parse(silk_ctx *ctx, silk_response *r) { return no_such_fn(); }\n"
                                 "SILK_SPIDER(u) = { .name = \"u\", .parse = parse };\n");
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "undeclared.c"));
    assert_exit(&r, 1);
    assert_contains(r.err, "no_such_fn");
    assert_contains(r.err, "silk: cannot compile undeclared.c\n");
    result_free(&r);
    SILK_ASSERT_CLEAN();
}

static void test_no_spider(void **state)
{
    (void)state;
    server_up();
    write_spider("empty.c", "#include <silk/spider.h>\nint not_a_spider = 1;\n");
    result r;
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "empty.c"));
    assert_exit(&r, 1);
    assert_string_equal(r.err, "silk: empty.c defines no spider (use SILK_SPIDER(name) = {...})\n");
    result_free(&r);

    /* A .so that is not one. */
    write_spider("junk.so", "this is not ELF\n");
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "junk.so"));
    assert_exit(&r, 1);
    assert_contains(r.err, "silk: cannot load junk.so: ");
    result_free(&r);

    /* Declared but defined nowhere: the load fails, naming the symbol. */
    write_spider("undef.c", "#include <silk/spider.h>\n"
                            "int silk_no_such_function(void);\n"
                            "static int parse(silk_ctx *ctx, silk_response *r) { return silk_no_such_function(); }\n"
                            "SILK_SPIDER(u) = { .name = \"u\", .parse = parse };\n");
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "undef.c"));
    assert_exit(&r, 1);
    assert_contains(r.err, "silk: cannot load undef.c: ");
    assert_contains(r.err, "undefined symbol: silk_no_such_function");
    result_free(&r);

    /* No compiler. */
    write_spider("nocc.c", one_item_spider);
    run_env(&r, NULL, ENV("CC=/nonexistent/cc"), 120, ARGS("runspider", "nocc.c"));
    assert_exit(&r, 1);
    assert_contains(r.err, "cannot run the C compiler '/nonexistent/cc'");
    assert_contains(r.err, "silk: cannot compile nocc.c\n");
    result_free(&r);

    /* A spider without a name is refused by the engine, with a message. */
    write_spider("noname.c", "#include <silk/spider.h>\nSILK_SPIDER(n) = { .start_urls = SILK_LIST(\"{URL}\") };\n");
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "noname.c"));
    assert_exit(&r, 1);
    assert_contains(r.err, "name");
    result_free(&r);
    server_down();
    SILK_ASSERT_CLEAN();
}

static void test_cache(void **state)
{
    (void)state;
    server_up();
    char inc[400];
    snprintf(inc, sizeof inc, "%s/cached.h", tmp);
    write_file(inc, "#define WHO \"first\"\n");
    write_spider("cached.c", "#include <silk/silk.h>\n"
                             "#include <silk/spider.h>\n"
                             "#include \"cached.h\"\n"
                             "static int parse(silk_ctx *ctx, silk_response *r)\n"
                             "{\n"
                             "    silk_log(SILK_LOG_WARNING, \"cached\", \"who=%s\", WHO);\n"
                             "    return 0;\n"
                             "}\n"
                             "SILK_SPIDER(c) = { .name = \"cached\", .start_urls = SILK_LIST(\"{URL}\"), .parse = parse };\n");
    /* A compiler that counts its runs. */
    char cc[400], log[400], cc_env[420];
    snprintf(cc, sizeof cc, "%s/counting-cc", tmp);
    snprintf(log, sizeof log, "%s/cc.log", tmp);
    char script[1200];
    snprintf(script, sizeof script, "#!/bin/sh\necho run >> '%s'\nexec cc \"$@\"\n", log);
    write_file(cc, script);
    assert_int_equal(chmod(cc, 0755), 0);
    snprintf(cc_env, sizeof cc_env, "CC=%s", cc);
    size_t before = count_cached(".so");
    const char *const argv[] = { "runspider", "cached.c", "-L", "WARNING", "-s", "TELNETCONSOLE_ENABLED=False",
                                 NULL };
    result r;
    run_env(&r, NULL, ENV(cc_env, "SILK_LEAK_CHECK=1"), 120, argv);
    assert_exit(&r, 0);
    assert_contains(r.err, "who=first");
    result_free(&r);
    assert_int_equal(count_cached(".so"), before + 1);
    assert_int_equal(count_cached(".deps"), before + 1);
    char *runs = slurp(log);
    assert_string_equal(runs, "run\n");
    silk_free(runs);

    /* Cached: the compiler is not run again. */
    run_env(&r, NULL, ENV(cc_env, "SILK_LEAK_CHECK=1"), 120, argv);
    assert_exit(&r, 0);
    assert_contains(r.err, "who=first");
    result_free(&r);
    runs = slurp(log);
    assert_string_equal(runs, "run\n");
    silk_free(runs);

    /* An included header changed: compiled again. */
    write_file(inc, "#define WHO \"second\"\n");
    run_env(&r, NULL, ENV(cc_env, "SILK_LEAK_CHECK=1"), 120, argv);
    assert_exit(&r, 0);
    assert_contains(r.err, "who=second");
    result_free(&r);
    runs = slurp(log);
    assert_string_equal(runs, "run\nrun\n");
    silk_free(runs);
    /* ... into the same cache entry (same source and flags). */
    assert_int_equal(count_cached(".so"), before + 1);

    /* Another compiler: another object. */
    run_env(&r, NULL, CRAWL_ENV, 120, argv);
    assert_exit(&r, 0);
    result_free(&r);
    assert_int_equal(count_cached(".so"), before + 2);

    /* Other compiler flags: another object. */
    run_env(&r, NULL, ENV("SILK_CFLAGS=-DEXTRA=1", "SILK_LEAK_CHECK=1"), 120, argv);
    assert_exit(&r, 0);
    result_free(&r);
    assert_int_equal(count_cached(".so"), before + 3);

    /* An unusable cache directory: compiled into a temporary one. */
    char bad[400];
    snprintf(bad, sizeof bad, "XDG_CACHE_HOME=%s/cached.h", tmp); /* a file, not a directory */
    char home[400];
    snprintf(home, sizeof home, "HOME=%s/cached.h", tmp);
    run_env(&r, NULL, ENV(bad, home, "SILK_LEAK_CHECK=1"), 120, argv);
    assert_exit(&r, 0);
    assert_contains(r.err, "who=second");
    result_free(&r);
    server_down();
    SILK_ASSERT_CLEAN();
}

static void test_shared_object(void **state)
{
    (void)state;
    server_up();
    write_spider("built.c", "#include <silk/silk.h>\n"
                            "#include <silk/spider.h>\n"
                            "static int parse(silk_ctx *ctx, silk_response *r)\n"
                            "{\n"
                            "    silk_log(SILK_LOG_WARNING, \"built\", \"from a .so: %d\", r->status);\n"
                            "    return 0;\n"
                            "}\n"
                            "SILK_SPIDER(b) = { .name = \"built\", .start_urls = SILK_LIST(\"{URL}\"), .parse = parse };\n");
    /* Built as docs/cli.md says: no -lsilk. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && cc -shared -fPIC -I'%s/include' -Wl,-Bsymbolic -o built.so built.c",
             tmp, SILK_SOURCE_DIR);
    assert_int_equal(system(cmd), 0);
    result r;
    /* No slash: still the file in the current directory, not a library
     * search. */
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "built.so", "-L", "WARNING", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "from a .so: 200");
    result_free(&r);
    server_down();
    SILK_ASSERT_CLEAN();
}

static void test_crash(void **state)
{
    (void)state;
    server_up();
    write_spider("crashy.c", "#include <silk/spider.h>\n"
                             "static int parse(silk_ctx *ctx, silk_response *r)\n"
                             "{\n"
                             "    volatile int *p = 0;\n"
                             "    return *p;\n"
                             "}\n"
                             "SILK_SPIDER(c) = { .name = \"crashy\", .start_urls = SILK_LIST(\"{URL}\"), .parse = parse };\n");
    result r;
    /* ASan would report the fault itself first; ours must still be said. */
    run_env(&r, NULL, ENV("ASAN_OPTIONS=handle_segv=0"), 120,
            ARGS("runspider", "crashy.c", "-L", "WARNING", "-s", "TELNETCONSOLE_ENABLED=False"));
    if (r.sig != SIGSEGV)
        show(&r);
    assert_int_equal(r.code, -1);
    assert_int_equal(r.sig, SIGSEGV);
    assert_contains(r.err, "silk: spider crashy.c crashed: SIGSEGV");
    assert_contains(r.err, "at address 0x0");
    assert_contains(r.err, "the faulting instruction is in the spider's own code");
    result_free(&r);

    write_spider("aborty.c", "#include <stdlib.h>\n"
                             "#include <silk/spider.h>\n"
                             "static int parse(silk_ctx *ctx, silk_response *r) { abort(); }\n"
                             "SILK_SPIDER(a) = { .name = \"aborty\", .start_urls = SILK_LIST(\"{URL}\"), .parse = parse };\n");
    run_env(&r, NULL, NULL, 120, ARGS("runspider", "aborty.c", "-L", "WARNING", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_int_equal(r.sig, SIGABRT);
    assert_contains(r.err, "silk: spider aborty.c crashed: SIGABRT");
    result_free(&r);
    server_down();
    SILK_ASSERT_CLEAN();
}

/* ---- tests: crawls ---- */

typedef struct expected_item {
    char url[160];
    const char *title;
    const char *price;
} expected_item;

static int cmp_url(const void *a, const void *b)
{
    return strcmp(((const expected_item *)a)->url, ((const expected_item *)b)->url);
}

/* Checks that the JSON-lines file holds exactly the site's product pages
 * (with tag in every item, unless tag is NULL). */
static void check_items_file(const char *path, const char *tag)
{
    char *text = slurp(path);
    assert_non_null(text);
    expected_item got[SITE_PAGES + 5];
    silk_value *vals[SITE_PAGES + 5];
    size_t n = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends */
        assert_true(n < SITE_PAGES + 5);
        silk_value *v = NULL;
        assert_int_equal(silk_json_decode(line, (size_t)(nl - line), &v), 0);
        vals[n] = v;
        snprintf(got[n].url, sizeof got[n].url, "%s", silk_dict_get_str(v, "url", ""));
        got[n].title = silk_dict_get_str(v, "title", NULL);
        got[n].price = silk_dict_get_str(v, "price", NULL);
        if (tag)
            assert_string_equal(silk_dict_get_str(v, "tag", ""), tag);
        n++;
        line = nl + 1;
    }
    assert_int_equal(n, SITE_PAGES);
    qsort(got, n, sizeof got[0], cmp_url);
    expected_item want[SITE_PAGES];
    silk_testsite_page pages[SITE_PAGES];
    for (uint32_t i = 0; i < SITE_PAGES; i++) {
        assert_int_equal(silk_testsite_page_info(silk_testserver_options_get(srv), i, &pages[i]), 0);
        snprintf(want[i].url, sizeof want[i].url, "%s%s", silk_testserver_url(srv), pages[i].path);
        want[i].title = pages[i].title;
        want[i].price = pages[i].price;
    }
    qsort(want, SITE_PAGES, sizeof want[0], cmp_url);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].url, want[i].url);
        assert_non_null(got[i].title);
        assert_non_null(got[i].price);
        assert_string_equal(got[i].title, want[i].title);
        assert_string_equal(got[i].price, want[i].price);
    }
    for (size_t i = 0; i < n; i++)
        silk_value_free(vals[i]);
    silk_free(text);
}

static void test_runspider_items(void **state)
{
    (void)state;
    server_up();
    write_spider("items.c", items_spider);
    char start[200], out[400];
    snprintf(start, sizeof start, "start_url=%s", url);
    snprintf(out, sizeof out, "%s/items.jsonl", tmp);
    unlink(out);
    result r;
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "items.c", "-a", start, "-a", "tag=first", "-O", "items.jsonl", "-s",
                 "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "Spider opened");
    assert_contains(r.err, "'finish_reason': 'finished'");
    assert_contains(r.err, "'item_scraped_count': 20");
    result_free(&r);
    check_items_file(out, "first");

    /* -O overwrites: the same items again, with the new tag only. */
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "items.c", "-a", start, "-a", "tag=second", "--overwrite-output=items.jsonl",
                 "--nolog", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_string_equal(r.err, "");
    result_free(&r);
    check_items_file(out, "second");
    server_down();
    SILK_ASSERT_CLEAN();
}

static void test_runspider_logging(void **state)
{
    (void)state;
    server_up();
    write_spider("one.c", one_item_spider);
    char log[400];
    snprintf(log, sizeof log, "%s/crawl.log", tmp);
    unlink(log);
    result r;
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "one.c", "--logfile", "crawl.log", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_string_equal(r.err, "");
    result_free(&r);
    char *text = slurp(log);
    assert_contains(text, "[silk.core.engine] INFO: Spider opened");
    assert_contains(text, "DEBUG: Crawled (200)");
    assert_contains(text, "Dumping silk stats");
    silk_free(text);

    /* -L INFO hides DEBUG lines, and wins over -s LOG_LEVEL (as Scrapy). */
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "one.c", "-s", "LOG_LEVEL=DEBUG", "-L", "info", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "INFO: Spider opened");
    assert_null(strstr(r.err, "DEBUG:"));
    result_free(&r);

    /* A bad setting value is a clear error, not a crash. */
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "one.c", "-s", "CONCURRENT_REQUESTS=many", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_true(r.code == 0 || r.code == 1);
    assert_contains(r.err, "CONCURRENT_REQUESTS");
    result_free(&r);

    /* Items on stdout, the log on stderr. */
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "one.c", "-o", "-:jsonl", "-L", "INFO", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    char want[300];
    snprintf(want, sizeof want, "{\"url\": \"%s\"}\n", url);
    assert_string_equal(r.out, want);
    assert_contains(r.err, "Spider opened");
    result_free(&r);

    /* --pidfile */
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "one.c", "--pidfile", "silk.pid", "--nolog", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    result_free(&r);
    char pidfile[400];
    snprintf(pidfile, sizeof pidfile, "%s/silk.pid", tmp);
    text = slurp(pidfile);
    assert_true(atol(text) > 0);
    silk_free(text);
    server_down();
    SILK_ASSERT_CLEAN();
}

static void test_genspider(void **state)
{
    (void)state;
    server_up();
    char dir[400], file[500];
    snprintf(dir, sizeof dir, "%s/gen", tmp);
    mkdir(dir, 0755);
    snprintf(file, sizeof file, "%s/shop_1.c", dir);
    result r;
    run_env(&r, dir, NULL, 60, ARGS("genspider", "shop-1", url));
    assert_exit(&r, 0);
    assert_contains(r.out, "Created spider 'shop-1' using template 'basic' in shop_1.c");
    result_free(&r);
    assert_true(exists(file));
    char *text = slurp(file);
    assert_contains(text, ".name = \"shop-1\"");
    assert_contains(text, ".allowed_domains = SILK_LIST(\"127.0.0.1\")");
    char start[200];
    snprintf(start, sizeof start, ".start_urls = SILK_LIST(\"%s\")", url);
    assert_contains(text, start);
    silk_free(text);

    /* Not overwritten without --force. */
    run_env(&r, dir, NULL, 60, ARGS("genspider", "shop-1", "example.com"));
    assert_exit(&r, 1);
    assert_contains(r.err, "shop_1.c already exists (use --force to overwrite it)");
    result_free(&r);

    /* The skeleton compiles and runs as it is: one item for "/". */
    run_env(&r, dir, CRAWL_ENV, 120, ARGS("runspider", "shop_1.c", "-O", "out.jsonl", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "'item_scraped_count': 1");
    result_free(&r);
    char out[500];
    snprintf(out, sizeof out, "%s/out.jsonl", dir);
    text = slurp(out);
    char want[300];
    snprintf(want, sizeof want, "{\"url\": \"%s\", \"title\": \"silk test site\"}\n", url);
    assert_string_equal(text, want);
    silk_free(text);

    /* A bare domain: https, and the port is not a domain. */
    run_env(&r, dir, NULL, 60, ARGS("genspider", "--force", "shop-1", "example.com:8443"));
    assert_exit(&r, 0);
    result_free(&r);
    text = slurp(file);
    assert_contains(text, ".allowed_domains = SILK_LIST(\"example.com\")");
    assert_contains(text, ".start_urls = SILK_LIST(\"https://example.com:8443/\")");
    silk_free(text);

    run_env(&r, dir, NULL, 60, ARGS("genspider", "-l"));
    assert_exit(&r, 0);
    assert_contains(r.out, "Available templates:\n  basic\n");
    result_free(&r);
    run_env(&r, dir, NULL, 60, ARGS("genspider", "--dump", "basic"));
    assert_exit(&r, 0);
    assert_contains(r.out, "SILK_SPIDER({ident}_spider)");
    result_free(&r);
    server_down();
    SILK_ASSERT_CLEAN();
}

/* Every .c file of examples/, as a user runs it (compiled by runspider) and as the
 * build made it (build/examples/NAME.so): it takes -a start_url=URL, ends by
 * itself against the site, logs no error; those that scrape the products
 * yield each exactly once. */
static void test_examples(void **state)
{
    (void)state;
    server_up();
    static const struct {
        const char *name;
        bool products; /* yields one item per product page */
    } known[] = { { "followall", true }, { "tutorial", true } };
    DIR *d = opendir(SILK_SOURCE_DIR "/examples");
    assert_non_null(d);
    char start[200], out[400];
    snprintf(start, sizeof start, "start_url=%s", url);
    snprintf(out, sizeof out, "%s/example.jsonl", tmp);
    size_t ran = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0)
            continue;
        char name[256], src[600], so[600];
        snprintf(name, sizeof name, "%.*s", (int)(len - 2), e->d_name);
        snprintf(src, sizeof src, "%s/examples/%s", SILK_SOURCE_DIR, e->d_name);
        snprintf(so, sizeof so, "%s/examples/%s.so", SILK_BUILD_DIR, name);
        const char *files[] = { src, so };
        for (size_t k = 0; k < 2; k++) {
            unlink(out);
            result r;
            run_env(&r, NULL, CRAWL_ENV, 300,
                    ARGS("runspider", files[k], "-a", start, "-O", "example.jsonl", "-L", "INFO", "-s",
                         "TELNETCONSOLE_ENABLED=False"));
            if (r.code != 0 || strstr(r.err, "] ERROR: ")) {
                fprintf(stderr, "example %s failed:\n", files[k]);
                show(&r);
                fail();
            }
            assert_contains(r.err, "'finish_reason': 'finished'");
            result_free(&r);
            for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                if (strcmp(known[i].name, name) == 0 && known[i].products)
                    check_items_file(out, NULL);
            ran++;
        }
    }
    closedir(d);
    assert_true(ran >= 4);
    server_down();
    SILK_ASSERT_CLEAN();
}

/* Appends the "url" of each item in a JSON-lines file or a JSON array file
 * to urls (n in/out). */
static void collect_urls(const char *path, bool array, char (*urls)[160], size_t max, size_t *n)
{
    char *text = slurp(path);
    assert_non_null(text);
    if (array) {
        silk_value *v = NULL;
        if (silk_json_decode(text, strlen(text), &v) != 0) {
            fprintf(stderr, "not valid JSON: %s\n%s\n", silk_last_error(), text);
            fail();
        }
        assert_int_equal(v->kind, SILK_V_LIST);
        for (size_t i = 0; i < silk_list_len(v); i++) {
            assert_true(*n < max);
            snprintf(urls[(*n)++], 160, "%s", silk_dict_get_str(silk_list_get(v, i), "url", ""));
        }
        silk_value_free(v);
    } else {
        for (char *line = text; *line;) {
            char *nl = strchr(line, '\n');
            assert_non_null(nl);
            silk_value *v = NULL;
            assert_int_equal(silk_json_decode(line, (size_t)(nl - line), &v), 0);
            assert_true(*n < max);
            snprintf(urls[(*n)++], 160, "%s", silk_dict_get_str(v, "url", ""));
            silk_value_free(v);
            line = nl + 1;
        }
    }
    silk_free(text);
}

static int cmp_str160(const void *a, const void *b) { return strcmp(a, b); }

/* Exactly the site's product pages, each once. */
static void assert_all_products_once(char (*urls)[160], size_t n)
{
    assert_int_equal(n, SITE_PAGES);
    qsort(urls, n, 160, cmp_str160);
    char want[SITE_PAGES][160];
    for (uint32_t i = 0; i < SITE_PAGES; i++) {
        silk_testsite_page pg;
        assert_int_equal(silk_testsite_page_info(silk_testserver_options_get(srv), i, &pg), 0);
        snprintf(want[i], 160, "%s%s", silk_testserver_url(srv), pg.path);
    }
    qsort(want, SITE_PAGES, 160, cmp_str160);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(urls[i], want[i]);
}

/* --jobdir: a crawl stopped by CLOSESPIDER_PAGECOUNT, then by one SIGINT,
 * resumes where it stopped; together the runs scrape every product once,
 * and the feed a SIGINT interrupted is a valid JSON document. */
static void test_jobdir_and_sigint(void **state)
{
    (void)state;
    server_up();
    write_spider("items.c", items_spider);
    char start[200], path[400];
    snprintf(start, sizeof start, "start_url=%s", url);
    static const char *const outs[] = { "job1.jsonl", "job2.json", "job3.jsonl" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, outs[i]);
        unlink(path);
    }
    char urls[3 * SITE_PAGES][160];
    size_t n = 0;

    /* 1: stopped after 5 pages. */
    result r;
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "items.c", "-a", start, "-o", "job1.jsonl", "--jobdir", "job", "-s",
                 "CLOSESPIDER_PAGECOUNT=5", "-s", "CONCURRENT_REQUESTS=2", "-L", "INFO", "-s",
                 "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "'finish_reason': 'closespider_pagecount'");
    result_free(&r);
    snprintf(path, sizeof path, "%s/job/silk.sqlite", tmp);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/job1.jsonl", tmp);
    collect_urls(path, false, urls, 3 * SITE_PAGES, &n);
    assert_true(n > 0 && n < SITE_PAGES);
    size_t first = n;

    /* 2: resumed, slowly, and interrupted once with SIGINT. */
    child c;
    spawn_silk(&c, NULL, CRAWL_ENV,
               ARGS("runspider", "items.c", "-a", start, "-O", "job2.json", "--jobdir", "job", "-s",
                    "DOWNLOAD_DELAY=0.3", "-s", "RANDOMIZE_DOWNLOAD_DELAY=False", "-s", "CONCURRENT_REQUESTS=1",
                    "-L", "INFO", "-s", "TELNETCONSOLE_ENABLED=False"));
    snprintf(path, sizeof path, "%s/job2.json", tmp);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) { /* until it has scraped something */
        char *text = slurp(path);
        bool some = strstr(text, "\"url\"") != NULL;
        silk_free(text);
        if (some || since(&t0) > 60)
            break;
        sleep_ms(20);
    }
    assert_int_equal(kill(c.pid, SIGINT), 0);
    wait_silk(&c, 120, &r);
    assert_exit(&r, 0);
    assert_contains(r.err, "Resuming crawl");
    assert_contains(r.err, "Received SIGINT, shutting down gracefully");
    assert_contains(r.err, "'finish_reason': 'shutdown'");
    result_free(&r);
    collect_urls(path, true, urls, 3 * SITE_PAGES, &n);
    assert_true(n > first && n < SITE_PAGES);

    /* 3: resumed to the end. */
    run_env(&r, NULL, CRAWL_ENV, 120,
            ARGS("runspider", "items.c", "-a", start, "-o", "job3.jsonl", "--jobdir", "job", "-L", "INFO", "-s",
                 "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "'finish_reason': 'finished'");
    result_free(&r);
    snprintf(path, sizeof path, "%s/job3.jsonl", tmp);
    collect_urls(path, false, urls, 3 * SITE_PAGES, &n);
    assert_all_products_once(urls, n);

    /* A job directory that is a file: a clear error before any request. */
    snprintf(path, sizeof path, "%s/notadir", tmp);
    write_file(path, "x");
    run_env(&r, NULL, CRAWL_ENV, 120, ARGS("runspider", "items.c", "-a", start, "--jobdir", "notadir", "-s",
                                           "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 1);
    assert_contains(r.err, "notadir");
    result_free(&r);
    server_down();
    SILK_ASSERT_CLEAN();
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    *(size_t *)arg += size * n;
    return size * n;
}

static void test_testserver_command(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *const argv[] = { (char *)SILK_BIN, (char *)"testserver", (char *)"--pages", (char *)"7", NULL };
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, SILK_BIN, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t k = read(fds[0], line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(fds[0]);
    assert_true(strncmp(line, "http://127.0.0.1:", 17) == 0);

    char page[300];
    snprintf(page, sizeof page, "%s/p/6.html", line);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    size_t got = 0;
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, page);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    assert_true(got > 1000);
    snprintf(page, sizeof page, "%s/p/7.html", line); /* only 7 pages: 0..6 */
    curl_easy_setopt(c, CURLOPT_URL, page);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 404);
    curl_easy_cleanup(c);

    assert_int_equal(kill(pid, SIGTERM), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    SILK_ASSERT_CLEAN();
}

static void test_bench(void **state)
{
    (void)state;
    result r;
    run_env(&r, NULL, NULL, 120, ARGS("bench", "-s", "CLOSESPIDER_TIMEOUT=3", "-s", "TELNETCONSOLE_ENABLED=False"));
    assert_exit(&r, 0);
    assert_contains(r.err, "Crawled ");
    assert_contains(r.err, "pages/min)");
    assert_contains(r.err, "Dumping silk stats");
    assert_contains(r.err, "'finish_reason': 'closespider_timeout'");
    assert_contains(r.out, "silk bench: crawled ");
    assert_null(strstr(r.err, "DEBUG:"));
    result_free(&r);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_compile_error),
        cmocka_unit_test(test_no_spider),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_shared_object),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_runspider_items),
        cmocka_unit_test(test_runspider_logging),
        cmocka_unit_test(test_genspider),
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_jobdir_and_sigint),
        cmocka_unit_test(test_testserver_command),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
