/* URL module: Scrapy/w3lib/urllib parity on hand-picked cases, and hostile
 * input (huge URLs, invalid UTF-8, control characters, empty strings,
 * allocation failures): always a clean error or a value, never a crash. */
#include <stdbool.h>
#include <stdlib.h>

#include "silk/url.h"
#include "silk_test.h"

static void expect_safe(const char *in, const char *want)
{
    char *got = NULL;
    assert_int_equal(silk_url_safe_string(in, &got), 0);
    assert_string_equal(got, want);
    silk_free(got);
}

static void expect_canon(const char *in, bool blank, bool frag, const char *want)
{
    char *got = NULL;
    assert_int_equal(silk_url_canonicalize(in, blank, frag, &got), 0);
    assert_string_equal(got, want);
    silk_free(got);
}

static void expect_join(const char *base, const char *ref, const char *want)
{
    char *got = NULL;
    assert_int_equal(silk_url_join(base, ref, &got), 0);
    assert_string_equal(got, want);
    silk_free(got);
}

static void expect_ajax(const char *in, const char *want)
{
    char *got = NULL;
    assert_int_equal(silk_url_escape_ajax(in, &got), 0);
    assert_string_equal(got, want);
    silk_free(got);
}

static void test_safe_url_string(void **state)
{
    (void)state;
    /* Expected values produced by w3lib 2.1.1 safe_url_string. */
    expect_safe("http://www.example.com/a b?c d#e f",
                "http://www.example.com/a%20b?c%20d#e%20f");
    expect_safe("HTTP://User:P%40ss@MÜNCHEN.de:0080/ü?q='x'",
                "http://User:P%40ss@xn--mnchen-3ya.de:80/%C3%BC?q=%27x%27");
    expect_safe("foo://h/?q='x'", "foo://h/?q='x'");
    expect_safe("http://a/|[]", "http://a/%7C%5B%5D");
    expect_safe("http://u%ff@h/", "http://u%EF%BF%BD@h/");
    expect_safe("  \thttp://h/\n x ", "http://h/%20x");
    expect_safe("", "");
    expect_safe("http://.ü.de/", "http://.ü.de/"); /* IDNA fails: raw */
    expect_safe("http://xn--ü.de/", "http://xn--ü.de/");
    expect_safe("http://h:/", "http://h/");
    /* Deliberate difference: brackets kept (w3lib gives http://::1:8/). */
    expect_safe("http://[::1]:8/", "http://[::1]:8/");
    /* CPython orders marks added after Unicode 3.2 by today's classes. */
    expect_safe("http://x\xEF\xB8\xAE\xD6\xBB/p", "http://xn--x-tgc3291q/p");
    /* IDNA fails on a private-use character: the host is kept, lowered
     * with str.lower()'s Final_Sigma rule. */
    expect_safe("http://A\xCE\xA3.\xF3\xB0\x80\x80/",
                "http://a\xCF\x82.\xF3\xB0\x80\x80/");
    expect_safe("http://A\xCE\xA3" "b.\xF3\xB0\x80\x80/",
                "http://a\xCF\x83" "b.\xF3\xB0\x80\x80/");
    /* Bytes that are not UTF-8 are percent-encoded, as for bytes input. */
    expect_safe("http://h/\xff\xc3", "http://h/%FF%C3");

    char *got = (char *)1;
    assert_int_equal(silk_url_safe_string("http://h:99999/", &got), SILK_EURL);
    assert_null(got);
    assert_int_equal(silk_url_safe_string("http://h:8a/", &got), SILK_EURL);
    assert_int_equal(silk_url_safe_string("http://[::1/", &got), SILK_EURL);
    assert_int_equal(silk_url_safe_string("http://[1.2.3.4]/", &got), SILK_EURL);
    assert_int_equal(silk_url_safe_string("http://a℀b/", &got), SILK_EURL);
    assert_int_equal(silk_url_safe_string(NULL, &got), SILK_EINVAL);
    assert_int_equal(silk_url_safe_string("x", NULL), SILK_EINVAL);
    silk_clear_error();
    SILK_ASSERT_CLEAN();
}

static void test_canonicalize(void **state)
{
    (void)state;
    expect_canon("http://www.example.com/do?c=3&b=5&b=2&a=50", true, false,
                 "http://www.example.com/do?a=50&b=2&b=5&c=3");
    expect_canon("http://www.example.com/?b=&a", false, false,
                 "http://www.example.com/");
    expect_canon("http://Ex.COM/a%2fb%7e?x=%2B&y=a;b#Frag", true, true,
                 "http://ex.com/a%2Fb~?b=&x=%2B&y=a#Frag");
    expect_canon("", true, false, "/");
    expect_canon("http://www.example.com/p%25q", true, false,
                 "http://www.example.com/p%q");
    /* By length: NUL is a C0 control that _strip removes at the ends. */
    char *got = NULL;
    assert_int_equal(silk_url_canonicalize_n("\0http://h/x\0", 12, true, false,
                                             &got),
                     0);
    assert_string_equal(got, "http://h/x");
    silk_free(got);
    assert_int_equal(silk_url_canonicalize_n("http://h/a\0b", 12, true, false,
                                             &got),
                     0);
    assert_string_equal(got, "http://h/a%00b");
    silk_free(got);
    SILK_ASSERT_CLEAN();
}

static void test_join(void **state)
{
    (void)state;
    expect_join("http://a/b/c/d;p?q", "../../../../g", "http://a/g");
    expect_join("http://a/b/c/d;p?q", "g;x=1/../y", "http://a/b/c/y");
    expect_join("http://a/b", "  x  ", "http://a/x  ");
    expect_join("http://a/b", "", "http://a/b");
    expect_join("", "x", "x");
    expect_join("foo://h/a", "b", "b");
    expect_join("https://h/a", "https:b", "https://h/b");
    expect_join("http://[::1]:8/a/b", "../c", "http://[::1]:8/c");
    char *got = (char *)1;
    assert_int_equal(silk_url_join("http://[x]/", "a", &got), SILK_EURL);
    assert_null(got);
    silk_clear_error();

    /* html <base> */
    const char *html = "<!-- <base href='/no'> --><BASE target=x HREF = ' /b/ '>";
    assert_int_equal(silk_url_html_base(html, strlen(html), &got), 0);
    assert_string_equal(got, "/b/");
    silk_free(got);
    assert_int_equal(silk_url_response_join("http://h/a/x y", html, strlen(html),
                                            "c", &got),
                     0);
    assert_string_equal(got, "http://h/b/c");
    silk_free(got);
    assert_int_equal(silk_url_response_join("http://h/a b/x", NULL, 0, "c", &got),
                     0);
    assert_string_equal(got, "http://h/a%20b/c");
    silk_free(got);
    assert_int_equal(silk_url_html_base("<base href=x>", 13, &got), 0);
    assert_null(got);
    assert_int_equal(silk_url_html_base(NULL, 0, &got), 0);
    assert_null(got);
    SILK_ASSERT_CLEAN();
}

static void test_ajax_and_request(void **state)
{
    (void)state;
    expect_ajax("http://h/a#!k=v", "http://h/a?_escaped_fragment_=k%3Dv");
    expect_ajax("http://h/a?x=1&_escaped_fragment_=o&_escaped_fragment_=p#!",
                "http://h/a?x=1&_escaped_fragment_=");
    expect_ajax("http://h/a#k=v", "http://h/a#k=v");
    expect_ajax("", "");

    assert_int_equal(silk_url_check_request("http://h/"), 0);
    assert_int_equal(silk_url_check_request("data:,x"), 0);
    assert_int_equal(silk_url_check_request("www.h.com/x"), SILK_ESCHEME);
    assert_string_equal(silk_last_error(),
                        "Missing scheme in request url: www.h.com/x");
    assert_int_equal(silk_url_check_request("foo://h/"), SILK_ESCHEME);
    assert_string_equal(silk_last_error(),
                        "Unsupported URL scheme 'foo': no handler available for "
                        "that scheme");
    assert_int_equal(silk_url_check_request("about:blank"), SILK_ESCHEME);
    assert_int_equal(silk_url_check_request(""), SILK_ESCHEME);

    char *got = NULL;
    assert_int_equal(silk_url_request_url("http://h/a b#!x", &got), 0);
    assert_string_equal(got, "http://h/a%20b?_escaped_fragment_=x");
    silk_free(got);
    assert_int_equal(silk_url_request_url("/relative", &got), SILK_ESCHEME);
    assert_null(got);

    assert_int_equal(silk_url_host("HTTP://u@WWW.Ex.com:80/", &got), 0);
    assert_string_equal(got, "www.ex.com");
    silk_free(got);
    assert_int_equal(silk_url_host("http://[FE80::1%Eth0]/", &got), 0);
    assert_string_equal(got, "fe80::1%Eth0");
    silk_free(got);
    assert_int_equal(silk_url_host("/x", &got), 0);
    assert_null(got);
    assert_int_equal(silk_url_scheme("HTTPS://h", &got), 0);
    assert_string_equal(got, "https");
    silk_free(got);

    size_t n = 0;
    assert_int_equal(silk_url_unquote("a%00b%zz%4", 10, &got, &n), 0);
    assert_int_equal(n, 8);
    assert_memory_equal(got, "a\0b%zz%4", 8);
    silk_free(got);
    assert_int_equal(silk_url_quote("a b/~\xff", 6, "/", &got), 0);
    assert_string_equal(got, "a%20b/~%FF");
    silk_free(got);
    silk_clear_error();
    SILK_ASSERT_CLEAN();
}

/* Every function on the same input: a value or a clean error. */
static void all_functions(const char *s)
{
    char *o = NULL;
    if (silk_url_safe_string(s, &o) == 0)
        assert_non_null(o);
    silk_free(o);
    o = NULL;
    silk_url_canonicalize(s, true, true, &o);
    silk_free(o);
    o = NULL;
    silk_url_canonicalize(s, false, false, &o);
    silk_free(o);
    o = NULL;
    silk_url_escape_ajax(s, &o);
    silk_free(o);
    o = NULL;
    silk_url_join(s, s, &o);
    silk_free(o);
    o = NULL;
    silk_url_join("http://h/a/b", s, &o);
    silk_free(o);
    o = NULL;
    silk_url_response_join(s, s, strlen(s), "x", &o);
    silk_free(o);
    o = NULL;
    silk_url_request_url(s, &o);
    silk_free(o);
    o = NULL;
    silk_url_html_base(s, strlen(s), &o);
    silk_free(o);
    o = NULL;
    silk_url_host(s, &o);
    silk_free(o);
    o = NULL;
    silk_url_scheme(s, &o);
    silk_free(o);
    silk_url_check_request(s);
}

static void test_hostile_input(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "", " ", "\t\r\n", "\x01\x02\x7f", ":", "//", "///", "?", "#", "#!",
        "%", "%%", "%2", "[", "]", "[]", "http://[", "http://]", "http://[]/",
        "http://[v]/", "http://[v1.]/", "http://@", "http://:", "http://@:@:",
        "http://[::1]:x/", "http://a@[::1]b/", "\xff\xfe\xfd", "\xc3", "\xe2\x82",
        "\xf4\x90\x80\x80", "\xed\xa0\x80", "http://\xff\xfe/\xc0\xaf?\x80#\xbf",
        "http://\xc3\xbc\xc3\xbc\xe3\x80\x82/", "http://ü.", "http://.ü..",
        "http://xn--/", "http://\xe2\x84\x80/", "<base href='\xff'>",
        "<base\xc2\xa0href=\"a\">", "<!--", "<!--\n", "<basE HrEf='x'",
        "mailto:a@b?c=d;e", "a;b;c", "http://h/;;;?;;&&==#!!", NULL};
    for (size_t i = 0; inputs[i]; i++)
        all_functions(inputs[i]);

    /* Very long URLs: 1 MiB of path, of '/', of '../', of query pairs. */
    size_t big = 1 << 20;
    char *s = malloc(big + 64);
    assert_non_null(s);
    const char *fills[] = {"a", "/", "../", "a=b&", "%", "ü", "\xff", "<base "};
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        size_t fl = strlen(fills[f]), n = 0;
        memcpy(s, "http://h/", 9);
        n = 9;
        while (n + fl < big) {
            memcpy(s + n, fills[f], fl);
            n += fl;
        }
        s[n] = '\0';
        all_functions(s);
    }
    /* A long host: IDNA rejects it, w3lib keeps it raw. */
    memset(s, 'a', big);
    memcpy(s, "http://", 7);
    s[big] = '\0';
    char *o = NULL;
    assert_int_equal(silk_url_safe_string(s, &o), 0);
    assert_int_equal(strlen(o), big);
    silk_free(o);
    free(s);
    silk_clear_error();
    SILK_ASSERT_CLEAN();
}

static int canon_once(void)
{
    char *o = NULL;
    int rc = silk_url_canonicalize("HTTP://Üser:p@MÜNCHEN.de:80/a%2f/ü;p?b=2&a=%41;c#!f",
                                   true, true, &o);
    silk_free(o);
    return rc;
}

static int safe_once(void)
{
    char *o = NULL;
    int rc = silk_url_request_url("HTTP://Üser:p%ff@MÜNCHEN.de:80/ü?q= 1#!a=b", &o);
    silk_free(o);
    return rc;
}

static int join_once(void)
{
    char *o = NULL;
    const char *html = "<head><base href='../x/'></head>";
    int rc = silk_url_response_join("http://h/a/b/c", html, strlen(html),
                                    "./d/../e?f#g", &o);
    silk_free(o);
    return rc;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(canon_once());
    SILK_FOR_EACH_ALLOC_FAILURE(safe_once());
    SILK_FOR_EACH_ALLOC_FAILURE(join_once());
    silk_clear_error();
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_url_string),
        cmocka_unit_test(test_canonicalize),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_ajax_and_request),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
