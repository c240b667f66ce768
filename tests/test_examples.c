/* examples/followall.c, run through the engine against the embedded site. */
#include "silk_test.h"
#include "silk/engine.h"
#include "silk/testserver.h"

#include "../examples/followall.c"

static int count_item(void *state, silk_item *it, silk_spider *sp, char **reason)
{
    (void)sp;
    (void)reason;
    (*(int *)state)++;
    assert_non_null(silk_dict_get_str(it->fields, "title", NULL));
    assert_non_null(silk_dict_get_str(it->fields, "price", NULL));
    return 0;
}

static int items;
static int count_open(void **state, silk_spider *sp)
{
    (void)sp;
    items = 0;
    *state = &items;
    return 0;
}

static void test_followall(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.pages = 120;
    silk_testserver *server;
    assert_int_equal(silk_testserver_start_thread(&opt, &server), 0);
    char url[128];
    snprintf(url, sizeof url, "%s/", silk_testserver_url(server));

    static const silk_pipeline_def counter = { "Count", 100, count_open, NULL, count_item };
    const silk_pipeline_def *pipes[] = { &counter, NULL };
    silk_spider_def def = followall;
    def.pipelines = pipes;
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", "WARNING", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_value *args = silk_value_new_dict();
    silk_dict_set_str(args, "start_url", url);
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, args, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_int_equal(items, 120);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "item_scraped_count", 0), 120);
    silk_process_free(p);

    /* without the argument: a clear error, no crawl */
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &followall, NULL, NULL, &c), 0);
    assert_int_not_equal(silk_process_run(p), 0);
    silk_process_free(p);
    silk_value_free(args);
    silk_settings_free(s);
    silk_testserver_free(server);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_followall),
    };
    return cmocka_run_group_tests_name("examples", tests, NULL, NULL);
}
