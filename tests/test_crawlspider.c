/* CrawlSpider rules end to end against the embedded site: the exact items
 * and pages a rules table reaches, parse_start_url, cb_kwargs, meta,
 * process_links, process_request, errbacks, the per-response `seen` set,
 * CRAWLSPIDER_FOLLOW_LINKS, bad rules. And examples/crawlspider.c, built
 * with cc against the build tree and run. */
#include <sys/wait.h>
#include <unistd.h>

#include "silk_test.h"
#include "silk/crawlspider.h"
#include "silk/testserver.h"

#define PAGES 30
#define LINKS 4

static silk_testserver *server;
static char start_url[128];
static silk_value *collected;

static int collect_open(void **state, silk_spider *sp)
{
    (void)state;
    (void)sp;
    collected = silk_value_new_list();
    return collected ? 0 : SILK_ENOMEM;
}

static int collect_item(void *state, silk_item *it, silk_spider *sp, char **reason)
{
    (void)state;
    (void)sp;
    (void)reason;
    return silk_list_push(collected, silk_value_copy(it->fields));
}

static const silk_pipeline_def collect_pipeline = { "Collect", 300, collect_open, NULL,
                                                    collect_item };
static const silk_pipeline_def *const pipes[] = { &collect_pipeline, NULL };

static void start_server(void)
{
    silk_testserver_options opt = { 0 };
    opt.pages = PAGES;
    opt.links_per_page = LINKS;
    assert_int_equal(silk_testserver_start_thread(&opt, &server), 0);
    snprintf(start_url, sizeof start_url, "%s/", silk_testserver_url(server));
}

static void stop_server(void)
{
    silk_testserver_free(server);
    server = NULL;
}

static silk_settings *quiet_settings(void)
{
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", "CRITICAL", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    return s;
}

static int page_id(const char *url)
{
    const char *p = url ? strstr(url, "/p/") : NULL;
    return p ? atoi(p + 3) : -1;
}

/* ---- the spider ---- */

static int start_seen;
static int errback_rewritten;

static int parse_start(silk_ctx *ctx, silk_response *resp)
{
    start_seen++;
    silk_item *it = silk_ctx_item(ctx, NULL);
    silk_item_set_str(it, "kind", "start");
    silk_item_set_str(it, "url", resp->url);
    return 0;
}

static int parse_item(silk_ctx *ctx, silk_response *resp)
{
    const silk_value *kw = silk_ctx_cb_kwargs(ctx);
    const silk_value *meta = silk_response_meta(resp);
    const char *via = silk_dict_get_str(kw, "via", "?");
    silk_item *it = silk_ctx_item(ctx, NULL);
    silk_item_set_str(it, "kind", via);
    silk_item_set_str(it, "url", resp->url);
    silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
    silk_item_set_str(it, "link_text", silk_dict_get_str(meta, "link_text", "?"));
    silk_item_set(it, "rule", silk_value_new_int(silk_dict_get_int(meta, "rule", -1)));
    if (silk_dict_get(kw, "from"))
        silk_item_set_str(it, "from", silk_dict_get_str(kw, "from", ""));
    return 0;
}

static int on_error(silk_ctx *ctx, silk_failure *f)
{
    silk_item *it = silk_ctx_item(ctx, NULL);
    silk_item_set_str(it, "kind", "error");
    silk_item_set_str(it, "url", f->request->url);
    silk_item_set_str(it, "type", f->type);
    return 0;
}

/* rule 1: no link to a page whose id is a multiple of 5 */
static int drop_fifths(silk_ctx *ctx, silk_links *links)
{
    (void)ctx;
    size_t w = 0;
    for (size_t i = 0; i < links->len; i++)
        if (page_id(links->v[i].url) % 5 != 0)
            links->v[w++] = links->v[i];
    links->len = w;
    return 0;
}

/* rule 1: fetched whatever the dupefilter says (so the pages the pager
 * reaches are fetched again here), tagged with their referrer; the first
 * related link of page 3 is sent to a 404 to reach the errback */
static int related_request(silk_ctx *ctx, silk_request *req, silk_response *resp)
{
    (void)ctx;
    req->dont_filter = true;
    silk_dict_set_str(silk_request_cb_kwargs(req), "from", resp->url);
    if (page_id(resp->url) == 3 && !errback_rewritten) {
        errback_rewritten = 1;
        char url[160];
        snprintf(url, sizeof url, "%s/status/404", silk_testserver_url(server));
        return silk_request_set_url(req, url);
    }
    return 0;
}

static const silk_rule rules[] = {
    { .link_extractor = { .restrict_css = SILK_LIST(".pager") },
      .callback = "parse_item",
      .cb_kwargs = "{\"via\": \"pager\"}",
      .follow = SILK_FOLLOW },
    { .link_extractor = { .restrict_css = SILK_LIST(".related", ".pager"),
                          .allow = SILK_LIST("/p/\\d+\\.html$") },
      .callback = "parse_item",
      .cb_kwargs = "{\"via\": \"related\", \"from\": \"overridden\"}",
      .process_links = drop_fifths,
      .process_request = related_request,
      .errback = "on_error" },
};

static const silk_crawlspider_def crawl = { rules, 2, parse_start, NULL };

static const silk_callback_def callbacks[] = { { "parse_item", parse_item }, { NULL, NULL } };
static const silk_errback_def errbacks[] = { { "on_error", on_error }, { NULL, NULL } };

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_rules_end_to_end(void **state)
{
    (void)state;
    start_server();
    start_seen = errback_rewritten = 0;
    silk_spider_def def = {
        .name = "rules",
        .start_urls = SILK_LIST(start_url),
        SILK_CRAWLSPIDER_DEF(&crawl),
        .callbacks = callbacks,
        .errbacks = errbacks,
        .pipelines = pipes,
    };
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_string_equal(silk_crawler_finish_reason(c), "finished");
    assert_int_equal(start_seen, 1);

    /* what the rules must reach, from the site's generator: the pager
     * chain (rule 0, each page once), and every related link of every
     * page (rule 1, de-duplicated per page by canonical URL, fifths
     * dropped), the first of page 3 turned into an error */
    const silk_testserver_options *opt = silk_testserver_options_get(server);
    const char *base = silk_testserver_url(server);
    char **want = calloc(1 + PAGES + PAGES * LINKS, sizeof *want);
    size_t nwant = 0;
    char line[512];
    snprintf(line, sizeof line, "start %s/", base);
    want[nwant++] = strdup(line);
    for (uint32_t k = 0; k < PAGES; k++) {
        silk_testsite_page info;
        assert_int_equal(silk_testsite_page_info(opt, k, &info), 0);
        snprintf(line, sizeof line, "pager %s/p/%u.html %s rule=0 link=%s", base, k, info.title,
                 k == 0 ? "First product" : "Next product");
        want[nwant++] = strdup(line);
        uint32_t ids[LINKS];
        size_t n;
        assert_int_equal(silk_testsite_page_links(opt, k, ids, LINKS, &n), 0);
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            bool dup = false;
            for (size_t j = 0; j < i; j++)
                dup |= ids[j] == ids[i];
            if (dup || ids[i] % 5 == 0)
                continue;
            silk_testsite_page target;
            assert_int_equal(silk_testsite_page_info(opt, ids[i], &target), 0);
            if (k == 3 && first)
                snprintf(line, sizeof line, "error %s/status/404", base);
            else
                snprintf(line, sizeof line, "related %s/p/%u.html %s rule=1 link=%s from=%s/p/%u.html",
                         base, ids[i], target.title, target.title, base, k);
            first = false;
            want[nwant++] = strdup(line);
        }
    }
    size_t ngot = silk_list_len(collected);
    char **got = calloc(ngot + 1, sizeof *got);
    for (size_t i = 0; i < ngot; i++) {
        const silk_value *it = silk_list_get(collected, i);
        const char *kind = silk_dict_get_str(it, "kind", "?");
        if (strcmp(kind, "start") == 0 || strcmp(kind, "error") == 0)
            snprintf(line, sizeof line, "%s %s", kind, silk_dict_get_str(it, "url", ""));
        else if (strcmp(kind, "pager") == 0)
            snprintf(line, sizeof line, "%s %s %s rule=%d link=%s", kind,
                     silk_dict_get_str(it, "url", ""), silk_dict_get_str(it, "title", ""),
                     (int)silk_dict_get_int(it, "rule", -1), silk_dict_get_str(it, "link_text", ""));
        else
            snprintf(line, sizeof line, "%s %s %s rule=%d link=%s from=%s", kind,
                     silk_dict_get_str(it, "url", ""), silk_dict_get_str(it, "title", ""),
                     (int)silk_dict_get_int(it, "rule", -1), silk_dict_get_str(it, "link_text", ""),
                     silk_dict_get_str(it, "from", ""));
        got[i] = strdup(line);
    }
    qsort(want, nwant, sizeof *want, cmp_str);
    qsort(got, ngot, sizeof *got, cmp_str);
    for (size_t i = 0; i < nwant || i < ngot; i++) {
        if (i < nwant && i < ngot && strcmp(want[i], got[i]) == 0)
            continue;
        fprintf(stderr, "item %zu:\n  want %s\n  got  %s\n", i, i < nwant ? want[i] : "-",
                i < ngot ? got[i] : "-");
        break;
    }
    assert_int_equal(ngot, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(got[i], want[i]);
    for (size_t i = 0; i < nwant; i++)
        free(want[i]);
    for (size_t i = 0; i < ngot; i++)
        free(got[i]);
    free(want);
    free(got);

    /* the pages fetched: "/" and the chain once each through the
     * dupefilter, plus one fetch per related request */
    silk_stats *st = silk_crawler_stats(c);
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), (int64_t)nwant);
    assert_int_equal(silk_stats_get_int(st, "item_scraped_count", 0), (int64_t)nwant);
    assert_int_equal(silk_stats_get_int(st, "log_count/ERROR", 0), 0);
    silk_value_free(collected);
    collected = NULL;
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

/* The macro form: a rules table and nothing else. Rule 0 follows the
 * product links without a callback; rule 1 yields every product page once
 * (it is never reached: rule 0 took every such link first, so the page is
 * parsed by rule 0's (absent) callback and `seen` keeps rule 1 away). */
static int count_pages;
static int parse_page(silk_ctx *ctx, silk_response *resp)
{
    (void)ctx;
    (void)resp;
    count_pages++;
    return 0;
}

static const silk_rule shadowed[] = {
    { .link_extractor = { .allow = SILK_LIST("/p/") } },
    { .link_extractor = { .allow = SILK_LIST("/p/") }, .callback = "parse_page" },
};

/* the names rule requests carry resolve both ways, so they persist */
static bool names_ok;
static int check_names(silk_spider *sp)
{
    names_ok = silk_spider_callback(sp, "parse") == silk_crawlspider_parse &&
               silk_spider_errback(sp, "_errback") == silk_crawlspider_errback &&
               strcmp(silk_spider_errback_name(sp, silk_crawlspider_errback), "_errback") == 0 &&
               silk_spider_callback(sp, "_parse_sitemap") == NULL &&
               silk_crawlspider_get(sp)->nrules == 2 && silk_crawlspider_user(sp) == NULL;
    return 0;
}

static void test_seen_and_follow_setting(void **state)
{
    (void)state;
    start_server();
    count_pages = 0;
    names_ok = false;
    silk_spider_def def = {
        .name = "shadowed",
        .start_urls = SILK_LIST(start_url),
        SILK_CRAWLSPIDER(shadowed),
        .callbacks = (const silk_callback_def[]){ { "parse_page", parse_page }, { NULL, NULL } },
        .open = check_names,
    };
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_int_equal(count_pages, 0);
    assert_true(names_ok);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "response_received_count", 0),
                     1 + PAGES);
    silk_process_free(p);

    /* CRAWLSPIDER_FOLLOW_LINKS=False: the start page only */
    silk_settings *o = silk_settings_new();
    silk_settings_set(o, "CRAWLSPIDER_FOLLOW_LINKS", "False", SILK_PRIO_CMDLINE);
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, o, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "response_received_count", 0), 1);
    silk_process_free(p);
    silk_settings_free(o);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

/* Rule requests that fail, with no errback on their rule: swallowed by
 * the CrawlSpider's own errback, as Scrapy's _errback does (no "Error
 * downloading", no ERROR at all). */
static int to_404(silk_ctx *ctx, silk_request *req, silk_response *resp)
{
    (void)ctx;
    (void)resp;
    char url[160];
    snprintf(url, sizeof url, "%s/status/404?%d", silk_testserver_url(server), page_id(req->url));
    return silk_request_set_url(req, url);
}

static int to_closed_port(silk_ctx *ctx, silk_request *req, silk_response *resp)
{
    (void)ctx;
    (void)resp;
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:1/%d", page_id(req->url));
    return silk_request_set_url(req, url);
}

static const silk_rule failing[] = {
    { .link_extractor = { .restrict_css = SILK_LIST(".products") }, .process_request = to_404 },
    { .link_extractor = { .restrict_css = SILK_LIST(".pager") }, .process_request = to_closed_port },
};

static void test_failures_swallowed(void **state)
{
    (void)state;
    start_server();
    silk_spider_def def = { .name = "failing", .start_urls = SILK_LIST(start_url),
                            SILK_CRAWLSPIDER(failing) };
    silk_settings *s = quiet_settings();
    silk_settings_set(s, "LOG_LEVEL", "INFO", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "LOG_FILE", "/dev/null", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "RETRY_ENABLED", "False", SILK_PRIO_CMDLINE);
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    silk_stats *st = silk_crawler_stats(c);
    uint32_t n = silk_testsite_index_links(silk_testserver_options_get(server));
    assert_int_equal(silk_testserver_hits(server, "/status/404"), n);
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), 1 + (int64_t)n);
    assert_int_equal(silk_stats_get_int(st, "log_count/ERROR", 0), 0);
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

/* Bad rules: a clear spider error per response, never a crash. */
static const silk_rule unknown_cb[] = { { .callback = "nope" } };
static const silk_rule parse_cb[] = { { .callback = "parse" } };
static const silk_rule bad_kwargs[] = { { .cb_kwargs = "[1]" } };
static const silk_rule bad_regex[] = { { .link_extractor = { .deny = SILK_LIST("(") } } };

static void run_bad(const silk_spider_def *def, int code)
{
    char stat[96];
    snprintf(stat, sizeof stat, "spider_exceptions/%s", silk_strerror(code));
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    silk_stats *st = silk_crawler_stats(c);
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), 1);
    assert_int_equal(silk_stats_get_int(st, stat, 0), 1);
    silk_process_free(p);
    silk_settings_free(s);
}

static void test_bad_rules(void **state)
{
    (void)state;
    start_server();
    silk_spider_def def = { .name = "bad", .start_urls = SILK_LIST(start_url),
                            SILK_CRAWLSPIDER(unknown_cb) };
    run_bad(&def, SILK_ENOTFOUND);
    silk_spider_def def2 = { .name = "bad2", .start_urls = SILK_LIST(start_url),
                             SILK_CRAWLSPIDER(parse_cb) };
    run_bad(&def2, SILK_EINVAL);
    silk_spider_def def3 = { .name = "bad3", .start_urls = SILK_LIST(start_url),
                             SILK_CRAWLSPIDER(bad_kwargs) };
    run_bad(&def3, SILK_ETYPE);
    silk_spider_def def4 = { .name = "bad4", .start_urls = SILK_LIST(start_url),
                             SILK_CRAWLSPIDER(bad_regex) };
    run_bad(&def4, SILK_ESYNTAX);
    /* parse set by hand without rules */
    silk_spider_def def5 = { .name = "bad5", .start_urls = SILK_LIST(start_url),
                             .parse = silk_crawlspider_parse };
    run_bad(&def5, SILK_EINVAL);
    stop_server();
    SILK_ASSERT_CLEAN();
}

/* examples/crawlspider.c, compiled with cc (-Wall -Wextra -Werror) against
 * the build tree into a program that runs it through the engine against the
 * embedded site: every product exactly once, nothing else, nothing left. */
static const char driver[] =
    "#include \"" SILK_SOURCE_DIR "/examples/crawlspider.c\"\n"
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include <silk/testserver.h>\n"
    "int main(void)\n"
    "{\n"
    "    silk_testserver_options opt = { .pages = 25 };\n"
    "    silk_testserver *srv;\n"
    "    if (silk_testserver_start_thread(&opt, &srv)) return 2;\n"
    "    char url[128];\n"
    "    snprintf(url, sizeof url, \"%s/\", silk_testserver_url(srv));\n"
    "    silk_settings *s = silk_settings_new();\n"
    "    silk_settings_set(s, \"LOG_LEVEL\", \"ERROR\", SILK_PRIO_CMDLINE);\n"
    "    silk_settings_set(s, \"TELNETCONSOLE_ENABLED\", \"False\", SILK_PRIO_CMDLINE);\n"
    "    silk_value *args = silk_value_new_dict();\n"
    "    silk_dict_set_str(args, \"start_url\", url);\n"
    "    silk_process *p; silk_crawler *c;\n"
    "    if (silk_process_new(s, &p) || silk_process_crawl(p, silk_spider_main, args, NULL, &c))\n"
    "        return 3;\n"
    "    if (silk_process_run(p)) return 4;\n"
    "    silk_stats *st = silk_crawler_stats(c);\n"
    "    int items = (int)silk_stats_get_int(st, \"item_scraped_count\", 0);\n"
    "    int errors = (int)silk_stats_get_int(st, \"log_count/ERROR\", 0);\n"
    "    int pages = (int)silk_testserver_hits(srv, \"/p/0.html\");\n"
    "    printf(\"items=%d errors=%d p0=%d reason=%s\\n\", items, errors, pages,\n"
    "           silk_crawler_finish_reason(c));\n"
    "    int ok = items == 25 && errors == 0 && pages == 1 &&\n"
    "             strcmp(silk_crawler_finish_reason(c), \"finished\") == 0;\n"
    "    silk_process_free(p);\n"
    "    silk_value_free(args);\n"
    "    silk_settings_free(s);\n"
    "    silk_testserver_free(srv);\n"
    "    if (silk_alloc_live_bytes() || silk_trackref_live_total()) return 5;\n"
    "    return ok ? 0 : 1;\n"
    "}\n";

static void test_example_builds_and_runs(void **state)
{
    (void)state;
    char cmd[4096], exe[512], src[512];
    snprintf(src, sizeof src, "%s/example_crawlspider_driver.c", SILK_BUILD_DIR);
    snprintf(exe, sizeof exe, "%s/example_crawlspider_driver", SILK_BUILD_DIR);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs(driver, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "cc -std=gnu11 -Wall -Wextra -Werror -I%s/include -o %s %s %s/libsilk.a "
             "$(pkg-config --libs $(sed -n 's/^Requires.private://p' %s/silk.pc)) -lpthread -lm %s",
             SILK_SOURCE_DIR, exe, src, SILK_BUILD_DIR, SILK_BUILD_DIR,
#if defined(__SANITIZE_ADDRESS__)
             "-fsanitize=address,undefined"
#else
             ""
#endif
    );
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
    rc = system(exe);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
    unlink(src);
    unlink(exe);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_end_to_end),
        cmocka_unit_test(test_seen_and_follow_setting),
        cmocka_unit_test(test_failures_swallowed),
        cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_example_builds_and_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
