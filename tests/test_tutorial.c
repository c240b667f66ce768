/* examples/tutorial.c (docs/tutorial.md), run against the embedded site. */
#include "silk_test.h"
#include "silk/engine.h"
#include "silk/testserver.h"

#include "../examples/tutorial.c"

static silk_value *products;
static int keep_open(void **state, silk_spider *sp)
{
    (void)state;
    (void)sp;
    products = silk_value_new_list();
    return 0;
}
static int keep_item(void *state, silk_item *it, silk_spider *sp, char **reason)
{
    (void)state;
    (void)sp;
    (void)reason;
    return silk_list_push(products, silk_value_copy(it->fields));
}

static void test_tutorial(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.pages = 40;
    silk_testserver *server;
    assert_int_equal(silk_testserver_start_thread(&opt, &server), 0);
    char url[128];
    snprintf(url, sizeof url, "%s/", silk_testserver_url(server));
    static const silk_pipeline_def keeper = { "Keep", 100, keep_open, NULL, keep_item };
    const silk_pipeline_def *pipes[] = { &keeper, NULL };
    silk_spider_def def = tutorial;
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
    /* every product once (the chain reaches them all), with its fields */
    assert_int_equal(silk_list_len(products), 40);
    const silk_testserver_options *o = silk_testserver_options_get(server);
    size_t with_position = 0;
    for (size_t i = 0; i < silk_list_len(products); i++) {
        const silk_value *it = silk_list_get(products, i);
        int id = atoi(strstr(silk_dict_get_str(it, "url", ""), "/p/") + 3);
        silk_testsite_page page;
        assert_int_equal(silk_testsite_page_info(o, (uint32_t)id, &page), 0);
        assert_string_equal(silk_dict_get_str(it, "title", ""), page.title);
        assert_string_equal(silk_dict_get_str(it, "price", ""), page.price);
        char sku[32];
        snprintf(sku, sizeof sku, "SLK-%08d", id);
        assert_string_equal(silk_dict_get_str(it, "sku", ""), sku);
        with_position += silk_dict_get_int(it, "position", 0) > 0;
    }
    /* the listing's products arrive through parse() with their position;
     * the dupefilter drops the chain's later requests for them */
    assert_int_equal(with_position, silk_testsite_index_links(o));
    silk_value_free(products);
    silk_process_free(p);
    silk_value_free(args);
    silk_settings_free(s);
    silk_testserver_free(server);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial),
    };
    return cmocka_run_group_tests_name("tutorial", tests, NULL, NULL);
}
