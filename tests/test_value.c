/* Dynamic values and JSON. */
#include <math.h>

#include "silk_test.h"
#include "silk/http.h"

static char *roundtrip(const char *in, unsigned flags)
{
    silk_value *v = NULL;
    assert_int_equal(silk_json_decode(in, strlen(in), &v), 0);
    char *out = NULL;
    assert_int_equal(silk_json_dumps(v, flags, &out), 0);
    silk_value_free(v);
    return out;
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    const char *cases[][2] = {
        { "{\"b\": 1, \"a\": [true, false, null, 1.5, \"x\"]}",
          "{\"b\": 1, \"a\": [true, false, null, 1.5, \"x\"]}" },
        { "[1e16, 1e-05, 0.0001, 123456789012345678, 2.0, -0.5, 1e300]",
          "[1e+16, 1e-05, 0.0001, 123456789012345678, 2.0, -0.5, 1e+300]" },
        { "\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\u0001\"", "\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\u0001\"" },
        { "{}", "{}" },
        { "[]", "[]" },
        { "99999999999999999999", "1e+20" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = roundtrip(cases[i][0], SILK_JSON_PY_SEPARATORS | SILK_JSON_ENSURE_ASCII);
        assert_string_equal(out, cases[i][1]);
        silk_free(out);
    }
    char *out = roundtrip("{\"b\":\"é\",\"a\":1}", SILK_JSON_SORT_KEYS);
    assert_string_equal(out, "{\"a\":1,\"b\":\"é\"}");
    silk_free(out);
    SILK_ASSERT_CLEAN();
}

static void test_json_errors(void **state)
{
    (void)state;
    const char *bad[] = { "", "[", "{\"a\" 1}", "[1,]", "\"abc", "tru", "01", "[1] x", "{1:2}",
                          "\"\\x\"", "-", "1.", "1e" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        silk_value *v = (silk_value *)1;
        assert_int_equal(silk_json_decode(bad[i], strlen(bad[i]), &v), SILK_EJSON);
        assert_null(v);
        assert_non_null(strstr(silk_last_error(), "at byte"));
    }
    /* nesting is bounded */
    char deep[2000];
    memset(deep, '[', sizeof deep);
    silk_value *v;
    assert_int_equal(silk_json_decode(deep, sizeof deep, &v), SILK_EJSON);
    /* objects and NaN cannot be serialised */
    silk_request *r;
    assert_int_equal(silk_request_new("http://example.com/", &r), 0);
    silk_value *d = silk_value_new_dict();
    assert_int_equal(silk_dict_set_object(d, "req", r), 0);
    char *out;
    assert_int_equal(silk_json_dumps(d, 0, &out), SILK_EUNSERIALIZABLE);
    assert_non_null(strstr(silk_last_error(), "Request"));
    assert_true(silk_value_has_object(d));
    silk_value_free(d);
    silk_unref(r);
    silk_value *nan = silk_value_new_double(NAN);
    assert_int_equal(silk_json_dumps(nan, 0, &out), SILK_ERANGE);
    silk_value_free(nan);
    /* invalid UTF-8 cannot be encoded */
    silk_value *s = silk_value_new_stringn("\xff\xfe", 2);
    assert_int_equal(silk_json_dumps(s, 0, &out), SILK_EENCODING);
    silk_value_free(s);
    SILK_ASSERT_CLEAN();
}

static void test_dict_semantics(void **state)
{
    (void)state;
    silk_value *d = silk_value_new_dict();
    assert_int_equal(silk_dict_set_str(d, "b", "1"), 0);
    assert_int_equal(silk_dict_set_int(d, "a", 2), 0);
    assert_int_equal(silk_dict_set_str(d, "b", "3"), 0); /* replaced in place */
    assert_int_equal(silk_dict_len(d), 2);
    assert_string_equal(d->u.dict.entries[0].key, "b");
    assert_string_equal(silk_dict_get_str(d, "b", NULL), "3");
    assert_int_equal(silk_dict_get_int(d, "a", 0), 2);
    assert_int_equal(silk_dict_get_int(d, "missing", 7), 7);
    silk_value *c = silk_value_copy(d);
    assert_true(silk_value_equal(c, d));
    assert_int_equal(silk_dict_del(c, "b"), 0);
    assert_false(silk_value_equal(c, d));
    assert_int_equal(silk_dict_del(c, "b"), SILK_ENOTFOUND);
    silk_value_free(c);
    silk_value_free(d);
    SILK_ASSERT_CLEAN();
}

static int decode_encode_once(void)
{
    const char *in = "{\"k\": [1, 2.5, \"s\", {\"n\": null, \"t\": true}], \"u\": \"\\u00e9\"}";
    silk_value *v = NULL;
    char *out = NULL;
    int rc = silk_json_decode(in, strlen(in), &v);
    if (!rc)
        rc = silk_json_dumps(v, SILK_JSON_PY_SEPARATORS | SILK_JSON_SORT_KEYS, &out);
    silk_value *c = rc ? NULL : silk_value_copy(v);
    if (!rc && !c)
        rc = SILK_ENOMEM;
    silk_value_free(c);
    silk_value_free(v);
    silk_free(out);
    return rc;
}

static void test_alloc_failures_free_everything(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(decode_encode_once());
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_dict_semantics),
        cmocka_unit_test(test_alloc_failures_free_everything),
    };
    return cmocka_run_group_tests_name("value", tests, NULL, NULL);
}
