/* Request, FormRequest, Response, Item and headers. */
#include "silk_test.h"
#include "silk/http.h"
#include "silk/item.h"

static void test_request_basics(void **state)
{
    (void)state;
    silk_request *r;
    assert_int_equal(silk_request_new_full("http://example.com/a b?q=1#!x=y", "post", "data", 4, &r), 0);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, "http://example.com/a%20b?q=1&_escaped_fragment_=x%3Dy");
    assert_int_equal(r->body_len, 4);
    assert_int_equal(silk_request_set_callback(r, NULL, "parse_item"), 0);
    assert_string_equal(r->callback_name, "parse_item");
    assert_int_equal(silk_dict_set_str(silk_request_meta(r), "depth", "1"), 0);
    assert_int_equal(silk_request_add_flag(r, "cached"), 0);
    silk_request *c = silk_request_copy(r);
    assert_non_null(c);
    assert_true(silk_value_equal(c->meta, r->meta));
    assert_ptr_not_equal(c->meta, r->meta);
    char d[128];
    silk_object_describe(c, d, sizeof d);
    assert_string_equal(d, "<POST http://example.com/a%20b?q=1&_escaped_fragment_=x%3Dy>");
    silk_unref(c);
    silk_unref(r);
    SILK_ASSERT_CLEAN();
}

static void test_request_bad_urls(void **state)
{
    (void)state;
    silk_request *r = (silk_request *)1;
    assert_int_equal(silk_request_new("example.com/page", &r), SILK_ESCHEME);
    assert_null(r);
    assert_string_equal(silk_last_error(), "Missing scheme in request url: example.com/page");
    assert_int_equal(silk_request_new("gopher://example.com/", &r), SILK_ESCHEME);
    assert_non_null(strstr(silk_last_error(), "gopher"));
    assert_int_equal(silk_request_new(NULL, &r), SILK_EINVAL);
    SILK_ASSERT_CLEAN();
}

static void test_form_request(void **state)
{
    (void)state;
    silk_value *form = silk_value_new_dict();
    silk_dict_set_str(form, "name", "John Doe");
    silk_value *multi = silk_value_new_list();
    silk_list_push(multi, silk_value_new_string("a&b"));
    silk_list_push(multi, silk_value_new_string("é"));
    silk_dict_set(form, "tag", multi);
    silk_request *r;
    assert_int_equal(silk_form_request_new("http://example.com/post", NULL, form, &r), 0);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->body, "name=John+Doe&tag=a%26b&tag=%C3%A9");
    assert_string_equal(silk_headers_get(&r->headers, "content-type"),
                        "application/x-www-form-urlencoded");
    assert_string_equal(silk_object_type_name(r), "FormRequest");
    silk_unref(r);
    assert_int_equal(silk_form_request_new("http://example.com/s?old=1#frag", "GET", form, &r), 0);
    assert_string_equal(r->url, "http://example.com/s?name=John+Doe&tag=a%26b&tag=%C3%A9#frag");
    assert_null(r->body);
    silk_unref(r);
    silk_value_free(form);
    SILK_ASSERT_CLEAN();
}

static void test_headers(void **state)
{
    (void)state;
    silk_headers h;
    silk_headers_init(&h);
    assert_int_equal(silk_headers_add(&h, "set-cookie", "a=1"), 0);
    assert_int_equal(silk_headers_add(&h, "SET-COOKIE", "b=2"), 0);
    assert_int_equal(silk_headers_add(&h, "x-thing", "v"), 0);
    assert_string_equal(h.items[0].name, "Set-Cookie");
    assert_string_equal(silk_headers_get(&h, "Set-Cookie"), "b=2"); /* the last, as Scrapy */
    assert_int_equal(silk_headers_count(&h, "set-cookie"), 2);
    assert_string_equal(silk_headers_get_nth(&h, "set-cookie", 0), "a=1");
    assert_int_equal(silk_headers_add(&h, "X-Evil", "a\r\nInjected: 1"), SILK_EINVAL);
    assert_int_equal(silk_headers_set(&h, "set-cookie", "c=3"), 0);
    assert_int_equal(silk_headers_count(&h, "set-cookie"), 1);
    assert_int_equal(silk_headers_del(&h, "x-thing"), 1);
    assert_null(silk_headers_get(&h, "x-thing"));
    silk_headers_clear(&h);
    SILK_ASSERT_CLEAN();
}

static void test_response_and_item(void **state)
{
    (void)state;
    silk_request *req;
    silk_response *resp;
    assert_int_equal(silk_request_new("http://example.com/", &req), 0);
    silk_dict_set_int(silk_request_meta(req), "depth", 3);
    assert_int_equal(silk_response_new(&silk_type_html_response, "http://example.com/", 200, "<p>x</p>", 8,
                                       req, &resp),
                     0);
    silk_unref(req); /* the response keeps its request */
    assert_int_equal(silk_dict_get_int(silk_response_meta(resp), "depth", 0), 3);
    assert_true(silk_response_is_text(resp));
    assert_int_equal(resp->body_len, 8);
    assert_int_equal(resp->body[8], '\0');
    silk_response *plain;
    assert_int_equal(silk_response_new(&silk_type_request, "http://x/", 200, "", 0, NULL, &plain), SILK_ETYPE);
    silk_unref(resp);

    silk_item *it = silk_item_new("Product");
    assert_non_null(it);
    assert_int_equal(silk_item_set_str(it, "title", "Book"), 0);
    assert_int_equal(silk_item_set(it, "price", silk_value_new_double(12.5)), 0);
    char d[128];
    silk_object_describe(it, d, sizeof d);
    assert_string_equal(d, "{\"title\": \"Book\", \"price\": 12.5}");
    assert_string_equal(silk_value_str(silk_item_get(it, "title")), "Book");
    silk_unref(it);
    SILK_ASSERT_CLEAN();
}

static int make_everything(void)
{
    silk_request *r = NULL, *c = NULL;
    silk_response *resp = NULL;
    silk_item *it = NULL;
    uint8_t fp[20];
    char *json = NULL;
    int rc = silk_request_new("http://example.com/p?b=2&a=1", &r);
    if (rc)
        goto out;
    if ((rc = silk_headers_add(&r->headers, "Accept", "text/html")))
        goto out;
    silk_value *meta = silk_request_meta(r);
    if (!meta) {
        rc = SILK_ENOMEM;
        goto out;
    }
    if ((rc = silk_dict_set_str(meta, "k", "v")))
        goto out;
    const char *inc[] = { "accept", NULL };
    if ((rc = silk_request_fingerprint(r, inc, false, fp, &json)))
        goto out;
    if (!(c = silk_request_copy(r))) {
        rc = SILK_ENOMEM;
        goto out;
    }
    if ((rc = silk_response_new(&silk_type_html_response, r->url, 200, "x", 1, c, &resp)))
        goto out;
    if (!(it = silk_item_new("I"))) {
        rc = SILK_ENOMEM;
        goto out;
    }
    rc = silk_item_set_str(it, "a", "b");
out:
    silk_free(json);
    silk_unref(it);
    silk_unref(resp);
    silk_unref(c);
    silk_unref(r);
    return rc;
}

static void test_alloc_failures_free_everything(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(make_everything());
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basics),
        cmocka_unit_test(test_request_bad_urls),
        cmocka_unit_test(test_form_request),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_response_and_item),
        cmocka_unit_test(test_alloc_failures_free_everything),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
