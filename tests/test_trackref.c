/* trackref: the object header, the live registry and its reports. */
#include "silk_test.h"
#include "silk/http.h"
#include "silk/item.h"

typedef struct my_thing {
    silk_object obj;
    int destroyed_marker;
} my_thing;

static int destroyed;
static void my_destroy(silk_object *o)
{
    (void)o;
    destroyed++;
}
static silk_type my_base = SILK_TYPE_INIT("MyBase", NULL, sizeof(my_thing), my_destroy, NULL);
static silk_type my_spider = SILK_TYPE_INIT("MySpider", &my_base, sizeof(my_thing), my_destroy, NULL);

static void test_lifecycle(void **state)
{
    (void)state;
    destroyed = 0;
    my_thing *a = silk_object_new(&my_spider);
    assert_non_null(a);
    assert_true(silk_object_alive(a));
    assert_string_equal(silk_object_type_name(a), "MySpider");
    assert_int_equal(silk_trackref_count(&my_spider), 1);
    assert_ptr_equal(silk_ref(a), a);
    silk_unref(a);
    assert_int_equal(destroyed, 0);
    assert_int_equal(silk_trackref_count(&my_spider), 1);
    silk_unref(a);
    assert_int_equal(destroyed, 1);
    assert_int_equal(silk_trackref_count(&my_spider), 0);
    SILK_ASSERT_CLEAN();
}

static void test_embedded_object(void **state)
{
    (void)state;
    destroyed = 0;
    my_thing on_stack;
    silk_object_init(&on_stack.obj, &my_base);
    assert_int_equal(silk_trackref_count(&my_base), 1);
    silk_unref(&on_stack);
    assert_int_equal(destroyed, 1);
    assert_false(silk_object_alive(&on_stack));
    /* a second unref of a dead object is reported, not a crash */
    silk_unref(&on_stack);
    assert_null(silk_ref(&on_stack));
    SILK_ASSERT_CLEAN();
}

static void test_oldest_and_iter_all(void **state)
{
    (void)state;
    silk_request *r1, *r2, *r3;
    assert_int_equal(silk_request_new("http://example.com/1", &r1), 0);
    assert_int_equal(silk_request_new("http://example.com/2", &r2), 0);
    assert_int_equal(silk_request_new("http://example.com/3", &r3), 0);
    silk_object *oldest = silk_trackref_get_oldest("Request");
    assert_ptr_equal(oldest, r1);
    silk_unref(r1);
    assert_ptr_equal(silk_trackref_get_oldest("Request"), r2);
    assert_null(silk_trackref_get_oldest("HtmlResponse"));
    assert_null(silk_trackref_get_oldest("NoSuchType"));

    silk_trackref_iter it;
    assert_int_equal(silk_trackref_iter_all("Request", &it), 0);
    assert_int_equal(it.len, 2);
    /* releasing an object while a snapshot holds it keeps it valid */
    silk_unref(r2);
    assert_true(silk_object_alive(it.items[0]));
    assert_string_equal(((silk_request *)it.items[0])->url, "http://example.com/2");
    silk_trackref_iter_free(&it);
    assert_int_equal(silk_trackref_count(&silk_type_request), 1);
    assert_int_equal(silk_trackref_iter_all("NoSuchType", &it), SILK_ENOTFOUND);
    assert_int_equal(it.len, 0);
    silk_unref(r3);
    SILK_ASSERT_CLEAN();
}

static void test_report_and_ignore(void **state)
{
    (void)state;
    my_thing *s = silk_object_new(&my_spider);
    silk_request *r;
    assert_int_equal(silk_request_new("http://example.com/", &r), 0);
    uint64_t now = silk_now_ns();
    s->obj.created_ns = now - 3000000000ull; /* 3 s old */
    r->obj.created_ns = now - 1500000000ull;
    char *rep = silk_trackref_format(NULL, now);
    assert_string_equal(rep, "Live References\n\n"
                             "MySpider                            1   oldest: 3s ago\n"
                             "Request                             1   oldest: 1s ago\n");
    silk_free(rep);
    silk_type *ignore[] = { &my_base, NULL }; /* hides the subtype too */
    rep = silk_trackref_format(ignore, now);
    assert_string_equal(rep, "Live References\n\n"
                             "Request                             1   oldest: 1s ago\n");
    silk_free(rep);
    silk_unref(s);
    silk_unref(r);
    SILK_ASSERT_CLEAN();
}

/* The leak of Scrapy's guide, built on purpose: a request whose cb_kwargs
 * holds a response keeps that response alive until the request goes. */
static void test_guide_leak(void **state)
{
    (void)state;
    silk_request *first, *next;
    silk_response *resp;
    assert_int_equal(silk_request_new("http://example.com/a", &first), 0);
    assert_int_equal(silk_response_new(&silk_type_html_response, "http://example.com/a", 200,
                                       "<html></html>", 13, first, &resp),
                     0);
    assert_int_equal(silk_request_new("http://example.com/b", &next), 0);
    assert_int_equal(silk_dict_set_object(silk_request_cb_kwargs(next), "referer", resp), 0);
    /* the callback is done with the response and drops its reference */
    uint64_t created = resp->obj.created_ns;
    silk_unref(resp);
    silk_unref(first);
    /* ...but the response is still alive, held by next's cb_kwargs */
    assert_int_equal(silk_trackref_count(&silk_type_html_response), 1);
    assert_int_equal(silk_trackref_count(&silk_type_request), 2); /* next, and first via resp */
    char *rep = silk_trackref_format(NULL, created + 2500000000ull);
    assert_non_null(strstr(rep, "HtmlResponse                        1   oldest: 2s ago\n"));
    silk_free(rep);
    silk_object *o = silk_trackref_get_oldest("HtmlResponse");
    assert_non_null(o);
    assert_string_equal(((silk_response *)o)->url, "http://example.com/a");
    char d[128];
    silk_object_describe(o, d, sizeof d);
    assert_string_equal(d, "<200 http://example.com/a>");
    /* releasing the request releases the response it held */
    silk_unref(next);
    assert_int_equal(silk_trackref_count(&silk_type_html_response), 0);
    SILK_ASSERT_CLEAN();
}

static void test_alloc_accounting(void **state)
{
    (void)state;
    size_t before = silk_alloc_live_bytes();
    char *p = silk_malloc(100);
    assert_int_equal(silk_alloc_live_bytes(), before + 100);
    p = silk_realloc(p, 1000);
    assert_int_equal(silk_alloc_live_bytes(), before + 1000);
    silk_free(p);
    silk_response *r;
    assert_int_equal(silk_response_new(&silk_type_html_response, "http://x/", 200, "abcdef", 6, NULL, &r), 0);
    /* the body is charged to HtmlResponse */
    assert_true(silk_type_html_response.alloc_bytes >= sizeof(silk_response) + 7);
    silk_unref(r);
    assert_int_equal(silk_type_html_response.alloc_bytes, 0);
    /* fault injection: the 1st allocation from now fails */
    silk_alloc_fail_nth(1);
    assert_null(silk_malloc(10));
    assert_true(silk_alloc_fail_fired());
    p = silk_malloc(10);
    assert_non_null(p);
    silk_free(p);
    silk_alloc_fail_nth(0);
    assert_null(silk_calloc(SIZE_MAX / 2, 4)); /* overflow refused */
    SILK_ASSERT_CLEAN();
}

static size_t hook_calls;
static void *counting_malloc(size_t n)
{
    hook_calls++;
    return malloc(n);
}

static void test_alloc_hooks(void **state)
{
    (void)state;
    assert_int_equal(silk_alloc_set_hooks(counting_malloc, NULL, NULL), 0);
    char *s = silk_strdup("hello");
    assert_int_equal(hook_calls, 1);
    assert_int_equal(silk_alloc_set_hooks(NULL, NULL, NULL), SILK_EBUSY);
    silk_free(s);
    assert_int_equal(silk_alloc_set_hooks(NULL, NULL, NULL), 0);
    SILK_ASSERT_CLEAN();
}

static void test_type_tree(void **state)
{
    (void)state;
    assert_true(silk_type_is_a(&silk_type_html_response, &silk_type_response));
    assert_true(silk_type_is_a(&silk_type_html_response, &silk_type_text_response));
    assert_false(silk_type_is_a(&silk_type_response, &silk_type_html_response));
    assert_true(silk_type_is_a(&silk_type_form_request, &silk_type_request));
    assert_true(silk_type_is_a(&my_spider, &silk_type_object_ref));
    silk_type_register(&silk_type_xml_response);
    assert_ptr_equal(silk_type_find("XmlResponse"), &silk_type_xml_response);
    assert_ptr_equal(silk_type_find("TextResponse"), &silk_type_text_response);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_embedded_object),
        cmocka_unit_test(test_oldest_and_iter_all),
        cmocka_unit_test(test_report_and_ignore),
        cmocka_unit_test(test_guide_leak),
        cmocka_unit_test(test_alloc_accounting),
        cmocka_unit_test(test_alloc_hooks),
        cmocka_unit_test(test_type_tree),
    };
    return cmocka_run_group_tests_name("trackref", tests, NULL, NULL);
}
