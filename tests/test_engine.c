/* The engine end to end: real crawls of the embedded site over loopback. */
#include <event2/event.h>

#include "silk_test.h"
#include "silk/engine.h"
#include "silk/testserver.h"

#define PAGES 60

static silk_testserver *server;
static char start_url[128];

/* items collected by a pipeline, checked against the site's generator */
static silk_value *collected;
static int close_reason_seen;

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

static const silk_pipeline_def collect_pipeline = { "Collect", 300, collect_open, NULL, collect_item };

static int parse(silk_ctx *ctx, silk_response *resp)
{
    const char *price = silk_ctx_css_get(ctx, "span.price::text");
    if (price) {
        silk_item *it = silk_ctx_item(ctx, "Product");
        silk_item_set_str(it, "url", resp->url);
        silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
        silk_item_set_str(it, "price", price);
    }
    silk_ctx_follow_css(ctx, "a::attr(href)", "parse");
    return 0;
}

static void on_closed(silk_crawler *c, const silk_signal_args *a, void *arg)
{
    (void)c;
    (void)arg;
    close_reason_seen = a->reason && strcmp(a->reason, "finished") == 0;
}

static int hook_open(silk_spider *sp)
{
    return silk_signal_connect(silk_spider_crawler(sp), SILK_SIG_SPIDER_CLOSED, on_closed, NULL);
}

/* Each test starts its own server and stops it before SILK_ASSERT_CLEAN,
 * since the server's buffers are counted too. */
static void start_server(void)
{
    silk_testserver_options opt = { 0 };
    opt.pages = PAGES;
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
    silk_settings_set(s, "LOG_LEVEL", "WARNING", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    return s;
}

static void test_full_crawl_exact_items(void **state)
{
    (void)state;
    start_server();
    const silk_pipeline_def *pipes[] = { &collect_pipeline, NULL };
    silk_spider_def def = {
        .name = "followall",
        .start_urls = SILK_LIST(start_url),
        .allowed_domains = SILK_LIST("127.0.0.1"),
        .parse = parse,
        .pipelines = pipes,
        .open = hook_open,
    };
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    close_reason_seen = 0;
    assert_int_equal(silk_process_run(p), 0);
    assert_string_equal(silk_crawler_finish_reason(c), "finished");
    assert_true(close_reason_seen);

    /* every page exactly once, with the generator's title and price */
    assert_int_equal(silk_list_len(collected), PAGES);
    const silk_testserver_options *opt = silk_testserver_options_get(server);
    char *seen = calloc(PAGES, 1);
    for (size_t i = 0; i < silk_list_len(collected); i++) {
        const silk_value *it = silk_list_get(collected, i);
        const char *url = silk_dict_get_str(it, "url", "");
        const char *p_ = strstr(url, "/p/");
        assert_non_null(p_);
        int id = atoi(p_ + 3);
        assert_true(id >= 0 && id < PAGES);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        silk_testsite_page page;
        assert_int_equal(silk_testsite_page_info(opt, (uint32_t)id, &page), 0);
        assert_string_equal(silk_dict_get_str(it, "title", ""), page.title);
        assert_string_equal(silk_dict_get_str(it, "price", ""), page.price);
    }
    free(seen);
    silk_stats *st = silk_crawler_stats(c);
    assert_int_equal(silk_stats_get_int(st, "item_scraped_count", 0), PAGES);
    /* the start URL is not recorded by the dupefilter (dont_filter, as in
     * Scrapy), so the site's Home links fetch "/" once more */
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), PAGES + 2);
    assert_true(silk_stats_get_int(st, "dupefilter/filtered", 0) > 0);
    assert_int_equal(silk_stats_get_int(st, "scheduler/enqueued", 0),
                     silk_stats_get_int(st, "scheduler/dequeued", 0));
    silk_value_free(collected);
    collected = NULL;
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

static void test_depth_limit_and_offsite(void **state)
{
    (void)state;
    start_server();
    const silk_pipeline_def *pipes[] = { &collect_pipeline, NULL };
    silk_spider_def def = {
        .name = "shallow",
        .start_urls = SILK_LIST(start_url),
        .allowed_domains = SILK_LIST("example.com"), /* start URLs pass (dont_filter), links do not */
        .parse = parse,
        .pipelines = pipes,
    };
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    silk_stats *st = silk_crawler_stats(c);
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), 1);
    assert_true(silk_stats_get_int(st, "offsite/filtered", 0) > 0);
    assert_int_equal(silk_stats_get_int(st, "offsite/domains", 0), 1);
    silk_value_free(collected);
    silk_process_free(p);

    /* DEPTH_LIMIT=1: the index and the pages it links to, nothing deeper */
    def.allowed_domains = NULL;
    assert_int_equal(silk_process_new(s, &p), 0);
    silk_settings *o = silk_settings_new();
    silk_settings_set(o, "DEPTH_LIMIT", "1", SILK_PRIO_CMDLINE);
    assert_int_equal(silk_process_crawl(p, &def, NULL, o, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    st = silk_crawler_stats(c);
    uint32_t index_links = silk_testsite_index_links(silk_testserver_options_get(server));
    assert_int_equal(silk_stats_get_int(st, "request_depth_max", 0), 1);
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), 1 + (int64_t)index_links);
    silk_value_free(collected);
    collected = NULL;
    silk_process_free(p);
    silk_settings_free(o);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

static int parse_error(silk_ctx *ctx, silk_response *resp)
{
    (void)ctx;
    (void)resp;
    return silk_error(SILK_EINVAL, "boom");
}

static void test_bad_setting_and_callback_error(void **state)
{
    (void)state;
    start_server();
    silk_spider_def def = { .name = "bad", .start_urls = SILK_LIST(start_url), .parse = parse_error };
    silk_settings *s = quiet_settings();
    silk_settings_set(s, "CONCURRENT_REQUESTS", "many", SILK_PRIO_CMDLINE);
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), SILK_ETYPE);
    silk_process_free(p);
    silk_settings_set(s, "CONCURRENT_REQUESTS", "4", SILK_PRIO_CMDLINE);
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "log_count/ERROR", 0), 1);
    silk_process_free(p);
    silk_spider_def noname = { .name = NULL };
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &noname, NULL, NULL, &c), SILK_EINVAL);
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

static int ext_fail_open(void **state, silk_crawler *c)
{
    (void)state;
    (void)c;
    return silk_error(SILK_EINVAL, "this extension refuses to start");
}
static int pipe_opened, pipe_closed;
static int pipe_open(void **state, silk_spider *sp)
{
    (void)state;
    (void)sp;
    pipe_opened++;
    return 0;
}
static void pipe_close(void *state, silk_spider *sp)
{
    (void)state;
    (void)sp;
    pipe_closed++;
}

/* A component that fails to open stops the crawl before any request, and
 * what did open is closed again: nothing leaks. */
static void test_failing_extension_closes_the_rest(void **state)
{
    (void)state;
    start_server();
    static const silk_extension_def bad = { "Bad", 500, ext_fail_open, NULL };
    static const silk_pipeline_def pipe = { "P", 1, pipe_open, pipe_close, NULL };
    const silk_extension_def *exts[] = { &bad, NULL };
    const silk_pipeline_def *pipes[] = { &pipe, NULL };
    silk_spider_def def = { .name = "badext", .start_urls = SILK_LIST(start_url), .parse = parse,
                            .extensions = exts, .pipelines = pipes };
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    pipe_opened = pipe_closed = 0;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), SILK_EINVAL);
    assert_int_equal(silk_testserver_requests(server), 0);
    assert_int_equal(pipe_opened, pipe_closed);
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_crawl_exact_items),
        cmocka_unit_test(test_depth_limit_and_offsite),
        cmocka_unit_test(test_bad_setting_and_callback_error),
        cmocka_unit_test(test_failing_extension_closes_the_rest),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
