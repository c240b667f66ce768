/* Selectors: CSS translation, parsing, queries, results, regexes, ownership,
 * and hostile input (every one must end in a result or a clean error). */
#include <time.h>

#include "silk_test.h"
#include "silk/selector.h"

static const char PAGE[] =
    "  <html><head><title> T </title></head><body>\n"
    "<ul><li class='item a' data-id='1'><a href='/1'>one</a></li>"
    "<li class='item' data-id='2'><a href='/2'>two &amp; more</a></li></ul>"
    "<p id='price'>Price: 12.50 &pound; <!-- c --></p></body></html>  ";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static silk_selector *parse(silk_arena *a, const char *html, size_t len, silk_doc_type t)
{
    silk_selector *s = NULL;
    assert_int_equal(silk_selector_new(html, len, t, a, &s), 0);
    assert_non_null(s);
    return s;
}

static void assert_css(const char *css, const char *want)
{
    char *x = NULL;
    int rc = silk_css_to_xpath(css, true, &x);
    if (rc)
        fail_msg("%s: %s", css, silk_last_error());
    assert_string_equal(x, want);
    silk_free(x);
}

static void test_css_to_xpath(void **state)
{
    (void)state;
    assert_css("div p", "descendant-or-self::div/descendant-or-self::*/p");
    assert_css("a::attr(href)", "descendant-or-self::a/@href");
    assert_css("p::text", "descendant-or-self::p/text()");
    assert_css("div ::text", "descendant-or-self::div/descendant-or-self::text()");
    assert_css("li:nth-child(2n+1)",
               "descendant-or-self::li[count(preceding-sibling::*) mod 2 = 0]");
    assert_css("a[title=\"it's \\\"q\\\"\"]",
               "descendant-or-self::a[@title = concat('it',\"'\",'s \"q\"')]");
    assert_css("LI:is(.a,.b)", /* cssselect reads ".b" as "b" after the comma */
               "descendant-or-self::li[(@class and contains(concat(' ', normalize-space(@class), "
               "' '), ' a ')) or (name() = 'b')]");

    const char *bad[] = { "a::attr()", "a)", "!", "a:unknown", "a:nth-child(x)", "'open",
                          "::text a", "a:not(:not(b))", "*:first-of-type", "a:lang('')" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *x = (char *)"untouched";
        assert_int_equal(silk_css_to_xpath(bad[i], true, &x), SILK_ESYNTAX);
        assert_null(x);
        assert_true(strlen(silk_last_error()) > 0);
    }
    char *x = NULL;
    assert_int_equal(silk_css_to_xpath("a\xff", true, &x), SILK_EENCODING);
    SILK_ASSERT_CLEAN();
}

static void test_css_hostile(void **state)
{
    (void)state;
    /* deeply nested functional pseudo-classes: refused, not a stack overflow */
    silk_buf b = SILK_BUF_INIT;
    for (int i = 0; i < 5000; i++)
        silk_buf_puts(&b, "a:is(");
    for (int i = 0; i < 5000; i++)
        silk_buf_putc(&b, ')');
    char *x = NULL;
    int rc = silk_css_to_xpath(b.data, true, &x);
    assert_true(rc == SILK_ELIMIT || rc == SILK_ESYNTAX);
    silk_buf_free(&b);
    /* a long compound selector whose translation is quadratic: bounded */
    for (int i = 0; i < 6000; i++)
        silk_buf_puts(&b, ".a");
    double t = now_s();
    rc = silk_css_to_xpath(b.data, true, &x);
    assert_true(rc == 0 || rc == SILK_ELIMIT);
    assert_true(now_s() - t < 10.0);
    silk_free(x);
    silk_buf_free(&b);
    /* too long */
    for (int i = 0; i < 70000; i++)
        silk_buf_putc(&b, 'a');
    assert_int_equal(silk_css_to_xpath(b.data, true, &x), SILK_ELIMIT);
    silk_buf_free(&b);
    SILK_ASSERT_CLEAN();
}

static void test_queries_and_results(void **state)
{
    (void)state;
    silk_arena a = SILK_ARENA_INIT;
    silk_selector *root = parse(&a, PAGE, strlen(PAGE), SILK_DOC_HTML);
    silk_selector_list *l = NULL;

    assert_int_equal(silk_selector_css(root, "title::text", &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), " T ");

    assert_int_equal(silk_selector_css(root, "li.item", &a, &l), 0);
    assert_int_equal(silk_selector_list_len(l), 2);
    assert_string_equal(silk_selector_get(silk_selector_list_at(l, 0)),
                        "<li class=\"item a\" data-id=\"1\"><a href=\"/1\">one</a></li>");
    silk_selector_list *hrefs = NULL;
    assert_int_equal(silk_selector_list_css(l, "a::attr(href)", &a, &hrefs), 0);
    silk_strv v;
    assert_int_equal(silk_selector_list_getall(hrefs, &a, &v), 0);
    assert_int_equal(v.len, 2);
    assert_string_equal(v.v[0], "/1");
    assert_string_equal(v.v[1], "/2");

    silk_value *attrs = NULL;
    assert_int_equal(silk_selector_list_attrib(l, &a, &attrs), 0);
    assert_string_equal(silk_dict_get_str(attrs, "data-id", ""), "1");
    assert_string_equal(silk_dict_get_str(attrs, "class", ""), "item a");

    /* XPath values as parsel prints them */
    const char *vals[][2] = { { "count(//li)", "2.0" },   { "1 div 0", "inf" },
                              { "0 div 0", "nan" },       { "boolean(//li)", "1" },
                              { "1e21", "1e+21" },        { "0.00001", "1e-05" },
                              { "-0", "-0.0" },           { "string(//li[2])", "two & more" },
                              { "//li[has-class('a')]/@data-id", "1" } };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        assert_int_equal(silk_selector_xpath(root, vals[i][0], NULL, &a, &l), 0);
        assert_string_equal(silk_selector_list_get(l, NULL), vals[i][1]);
    }
    /* variables */
    silk_value *vars = silk_value_new_dict();
    silk_dict_set_str(vars, "id", "2");
    silk_dict_set_int(vars, "n", 1);
    assert_int_equal(silk_selector_xpath(root, "//li[@data-id=$id]/a/text()", vars, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "two & more");
    assert_int_equal(silk_selector_xpath(root, "//li[$n]/@data-id", vars, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "1");
    assert_int_equal(silk_selector_xpath(root, "$nope", vars, &a, &l), SILK_ESYNTAX);
    silk_value_free(vars);

    /* queries on text, attributes and values give nothing, as in parsel */
    assert_int_equal(silk_selector_css(root, "a::text", &a, &l), 0);
    silk_selector_list *none = NULL;
    assert_int_equal(silk_selector_list_xpath(l, ".", NULL, &a, &none), 0);
    assert_int_equal(silk_selector_list_len(none), 0);
    assert_string_equal(silk_selector_list_get(none, "dflt"), "dflt");

    /* errors */
    assert_int_equal(silk_selector_xpath(root, "//li[", NULL, &a, &l), SILK_ESYNTAX);
    assert_int_equal(silk_selector_xpath(root, "nofunc()", NULL, &a, &l), SILK_ESYNTAX);
    assert_int_equal(silk_selector_xpath(root, "//x:y", NULL, &a, &l), SILK_ESYNTAX);
    assert_int_equal(silk_selector_xpath(root, "//li[has-class()]", NULL, &a, &l),
                     SILK_ESYNTAX);
    assert_non_null(strstr(silk_last_error(), "has-class must have at least 1 argument"));
    assert_int_equal(silk_selector_xpath(root, "//li[has-class(1)]", NULL, &a, &l),
                     SILK_ESYNTAX);
    assert_int_equal(silk_selector_css(root, "li:bogus", &a, &l), SILK_ESYNTAX);

    silk_arena_release(&a);
    SILK_ASSERT_CLEAN();
}

static void test_regex(void **state)
{
    (void)state;
    silk_arena a = SILK_ARENA_INIT;
    silk_selector *root = parse(&a, PAGE, strlen(PAGE), SILK_DOC_HTML);
    silk_selector_list *l = NULL;
    silk_strv v;
    char *first = NULL;

    assert_int_equal(silk_selector_css(root, "#price::text", &a, &l), 0);
    assert_int_equal(silk_selector_list_re(l, "(\\d+)\\.(\\d+)", 0, &a, &v), 0);
    assert_int_equal(v.len, 2);
    assert_string_equal(v.v[0], "12");
    assert_string_equal(v.v[1], "50");
    assert_int_equal(silk_selector_list_re_first(l, "(?P<extract>\\d+)", 0, &a, &first), 0);
    assert_string_equal(first, "12");
    assert_int_equal(silk_selector_list_re_first(l, "zzz", 0, &a, &first), 0);
    assert_null(first);
    /* entities: replaced except &lt; and &amp;, unless asked not to */
    assert_int_equal(silk_selector_css(root, "li:nth-child(2)", &a, &l), 0);
    assert_int_equal(silk_selector_list_re(l, "two &\\w+;", 0, &a, &v), 0);
    assert_string_equal(v.v[0], "two &amp;");
    char *r = silk_replace_entities("&pound;&#163;&#x41;&lt;&bogus;&euro &#150;", NULL);
    assert_string_equal(r, "\xc2\xa3\xc2\xa3" "A<\xe2\x82\xac \xe2\x80\x93");
    silk_free(r);
    /* Python spellings */
    assert_int_equal(silk_selector_list_re(l, "\\u0074wo\\Z|one", 0, &a, &v), 0);
    /* bad pattern */
    assert_int_equal(silk_selector_list_re(l, "(", 0, &a, &v), SILK_ESYNTAX);
    /* catastrophic backtracking: a clean SILK_ELIMIT, quickly */
    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "<p>");
    for (int i = 0; i < 5000; i++)
        silk_buf_putc(&b, 'a');
    silk_buf_puts(&b, "!</p>");
    silk_selector *s = parse(&a, b.data, b.len, SILK_DOC_HTML);
    silk_buf_free(&b);
    assert_int_equal(silk_selector_css(s, "p::text", &a, &l), 0);
    double t = now_s();
    assert_int_equal(silk_selector_list_re(l, "(a|aa)+$", 0, &a, &v), SILK_ELIMIT);
    assert_true(now_s() - t < 30.0);
    /* without an arena the caller owns the strings */
    assert_int_equal(silk_selector_list_re(l, "a{,2}", 0, NULL, &v), 0);
    assert_string_equal(v.v[0], "aa");
    silk_strv_free(&v);
    silk_arena_release(&a);
    SILK_ASSERT_CLEAN();
}

static void test_ownership(void **state)
{
    (void)state;
    /* no arena: references */
    silk_selector *root = NULL;
    assert_int_equal(silk_selector_new(PAGE, strlen(PAGE), SILK_DOC_HTML, NULL, &root), 0);
    silk_selector_list *l = NULL;
    assert_int_equal(silk_selector_css(root, "a", NULL, &l), 0);
    assert_int_equal(silk_trackref_count(&silk_type_selector_list), 1);
    silk_unref(root); /* the document lives on in the list's Selectors */
    const char *html = silk_selector_get(silk_selector_list_at(l, 1));
    assert_string_equal(html, "<a href=\"/2\">two &amp; more</a>");
    silk_selector *keep = silk_ref(silk_selector_list_at(l, 0));
    silk_unref(l);
    assert_string_equal(silk_selector_get(keep), "<a href=\"/1\">one</a>");
    char *first = NULL;
    assert_int_equal(silk_selector_re_first(keep, ">(\\w+)<", 0, NULL, &first), 0);
    assert_string_equal(first, "one");
    silk_free(first);
    silk_unref(keep);
    SILK_ASSERT_CLEAN();

    /* convenience calls on an arena; errors are recorded on it */
    silk_arena a = SILK_ARENA_INIT;
    assert_int_equal(silk_selector_new(PAGE, strlen(PAGE), SILK_DOC_HTML, &a, &root), 0);
    silk_selector_list *items = silk_css(&a, root, "li");
    assert_int_equal(silk_selector_list_len(items), 2);
    assert_string_equal(silk_get(silk_css(&a, silk_selector_list_at(items, 1), "a::text")),
                        "two & more");
    assert_string_equal(silk_re_first(&a, items, "data-id=\"(\\d)\""), "1");
    silk_strv v = silk_getall(&a, silk_xpath(&a, items, "@data-id"));
    assert_int_equal(v.len, 2);
    silk_strv_free(&v); /* harmless on an arena's vector */
    assert_null(silk_css(&a, root, "li:::"));
    assert_int_equal(a.err, SILK_ESYNTAX);
    assert_non_null(a.errmsg);
    assert_null(silk_get(silk_css(&a, NULL, "li"))); /* NULL is an empty list */
    silk_arena_release(&a);
    SILK_ASSERT_CLEAN();
}

static void test_xml_namespaces(void **state)
{
    (void)state;
    static const char XML[] =
        "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9' "
        "xmlns:x='urn:x'><url><loc>http://a/1</loc><x:p x:k='v' k='w'>p</x:p></url></urlset>";
    silk_arena a = SILK_ARENA_INIT;
    silk_selector *root = parse(&a, XML, strlen(XML), SILK_DOC_XML);
    silk_selector_list *l = NULL;
    assert_int_equal(silk_selector_xpath(root, "//loc/text()", NULL, &a, &l), 0);
    assert_int_equal(silk_selector_list_len(l), 0);
    assert_int_equal(silk_selector_register_namespace(root, "s",
                                                      "http://www.sitemaps.org/schemas/sitemap/0.9"),
                     0);
    assert_int_equal(silk_selector_xpath(root, "//s:loc/text()", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "http://a/1");
    assert_int_equal(silk_selector_register_namespace(root, "", "u"), SILK_EINVAL);
    /* an element keeps the declarations of its ancestors when serialised */
    assert_int_equal(silk_selector_xpath(root, "//s:url/*[2]", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL),
                        "<x:p xmlns:x=\"urn:x\" xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" "
                        "x:k=\"v\" k=\"w\">p</x:p>");
    silk_selector *p = silk_selector_list_at(l, 0);
    silk_selector_list *attr = NULL;
    assert_int_equal(silk_selector_xpath(p, "@*", NULL, &a, &attr), 0);
    const char *before = silk_selector_get(silk_selector_list_at(attr, 0));
    assert_string_equal(before, "v");
    assert_int_equal(silk_selector_remove_namespaces(root), 0);
    assert_string_equal(silk_selector_get(p), "<p k=\"v\">p</p>");
    assert_string_equal(silk_selector_get(silk_selector_list_at(attr, 0)), "v");
    assert_int_equal(silk_selector_xpath(root, "//loc/text()", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "http://a/1");
    silk_arena_release(&a);
    SILK_ASSERT_CLEAN();
}

static void test_hostile_documents(void **state)
{
    (void)state;
    silk_arena a = SILK_ARENA_INIT;
    silk_selector_list *l = NULL;
    silk_selector *s;

    /* NULs are deleted, invalid UTF-8 becomes U+FFFD, empty is <html/> */
    static const char nul[] = "<p>a\0b\xff\xfe</p>";
    s = parse(&a, nul, sizeof nul - 1, SILK_DOC_HTML);
    assert_int_equal(silk_selector_xpath(s, "string(//p)", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "ab\xef\xbf\xbd\xef\xbf\xbd");
    s = parse(&a, " \n\t ", 4, SILK_DOC_HTML);
    assert_string_equal(silk_selector_get(s), "<html></html>");
    s = parse(&a, "", 0, SILK_DOC_XML);
    assert_string_equal(silk_selector_get(s), "<html/>");
    s = parse(&a, "not xml <<<", 11, SILK_DOC_XML);
    assert_string_equal(silk_selector_get(s), "<html/>");

    /* deep nesting: parsed, flattened below SILK_SELECTOR_MAX_DEPTH, and
     * the usual queries stay fast */
    silk_buf b = SILK_BUF_INIT;
    for (int i = 0; i < 20000; i++)
        silk_buf_puts(&b, "<div>");
    silk_buf_puts(&b, "deep");
    double t = now_s();
    s = parse(&a, b.data, b.len, SILK_DOC_HTML);
    silk_buf_free(&b);
    assert_int_equal(silk_selector_xpath(s, "count(//div)", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "20000.0");
    assert_int_equal(silk_selector_css(s, "div::text", &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "deep");
    assert_int_equal(silk_selector_xpath(s, "count(//div[div])", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "254.0");
    assert_non_null(silk_selector_get(s));
    assert_true(now_s() - t < 60.0);

    /* a billion laughs is refused before anything expands it */
    static const char lol[] =
        "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\"><!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">]>"
        "<l x=\"&h;&h;&h;&h;&h;&h;&h;&h;\">&h;&h;&h;</l>";
    t = now_s();
    assert_int_equal(silk_selector_new(lol, strlen(lol), SILK_DOC_XML, &a, &s), SILK_ELIMIT);
    assert_true(now_s() - t < 30.0);
    static const char ents[] = "<!DOCTYPE r [<!ENTITY e \"v\">]><r a=\"&e;\">&e;</r>";
    s = parse(&a, ents, strlen(ents), SILK_DOC_XML);
    assert_int_equal(silk_selector_xpath(s, "concat(string(/r), /r/@a)", NULL, &a, &l), 0);
    assert_string_equal(silk_selector_list_get(l, NULL), "vv");

    /* pathological XPath: errors, not stack overflows */
    s = parse(&a, PAGE, strlen(PAGE), SILK_DOC_HTML);
    for (int i = 0; i < 100000; i++)
        silk_buf_putc(&b, '(');
    silk_buf_putc(&b, '1');
    for (int i = 0; i < 100000; i++)
        silk_buf_putc(&b, ')');
    assert_int_not_equal(silk_selector_xpath(s, b.data, NULL, &a, &l), 0);
    silk_buf_reset(&b);
    for (int i = 0; i < 50000; i++)
        silk_buf_puts(&b, "not(");
    silk_buf_putc(&b, '1');
    for (int i = 0; i < 50000; i++)
        silk_buf_putc(&b, ')');
    assert_int_not_equal(silk_selector_xpath(s, b.data, NULL, &a, &l), 0);
    silk_buf_free(&b);
    silk_arena_release(&a);
    SILK_ASSERT_CLEAN();
}

static int alloc_body(void)
{
    silk_arena a = SILK_ARENA_INIT;
    silk_selector *root = NULL;
    silk_selector_list *l = NULL, *m = NULL;
    silk_strv v;
    char *f = NULL;
    int rc = silk_selector_new(PAGE, strlen(PAGE), SILK_DOC_HTML, &a, &root);
    if (!rc)
        rc = silk_selector_css(root, "li", &a, &l);
    if (!rc)
        rc = silk_selector_list_css(l, "a::text", &a, &m);
    if (!rc)
        rc = silk_selector_list_getall(l, &a, &v);
    if (!rc)
        rc = silk_selector_list_re(m, "(\\w+)", 0, &a, &v);
    if (!rc)
        rc = silk_selector_list_re_first(l, "&(\\w+);", 0, &a, &f);
    if (!rc) {
        silk_value *d = NULL;
        rc = silk_selector_list_attrib(l, &a, &d);
    }
    silk_arena_release(&a);
    return rc;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(alloc_body());
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_css_to_xpath),
        cmocka_unit_test(test_css_hostile),
        cmocka_unit_test(test_queries_and_results),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_ownership),
        cmocka_unit_test(test_xml_namespaces),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
