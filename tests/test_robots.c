/* robots.txt (protego 0.2.1 semantics): behaviour, quirks kept on purpose,
 * hostile input, allocation failures. The golden vectors (robots.jsonl)
 * cover the common cases; these pin the rest. */
#include <time.h>

#include "silk_test.h"
#include "silk/robots.h"

#define UA "Scrapy/2.8.0 (+https://scrapy.org)"

static silk_robots *parse(const char *body)
{
    silk_robots *r = NULL;
    assert_int_equal(silk_robots_parse(body, strlen(body), &r), 0);
    assert_non_null(r);
    return r;
}

static bool allowed(const char *body, const char *url, const char *ua)
{
    silk_robots *r = parse(body);
    bool a = silk_robots_allowed(r, url, ua);
    silk_robots_free(r);
    return a;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_basic(void **state)
{
    (void)state;
    silk_robots *r = parse("User-agent: *\n"
                           "Disallow: /private/\n"
                           "Allow: /private/public.html\n"
                           "Disallow: /*.pdf$\n"
                           "Crawl-delay: 2.5\n"
                           "Request-rate: 3/1m 0900-1730\n"
                           "Host: example.com\n"
                           "Sitemap: http://example.com/a.xml\n"
                           "Sitemap: http://example.com/b.xml\n");
    assert_true(silk_robots_allowed(r, "http://example.com/", UA));
    assert_false(silk_robots_allowed(r, "http://example.com/private/x", UA));
    assert_true(silk_robots_allowed(r, "http://example.com/private/public.html", UA));
    assert_false(silk_robots_allowed(r, "http://example.com/a/b.pdf", UA));
    assert_true(silk_robots_allowed(r, "http://example.com/a/b.pdf?x", UA));
    assert_false(silk_robots_allowed(r, "/private/", UA)); /* a bare path works too */

    double d = 0;
    assert_int_equal(silk_robots_crawl_delay(r, UA, &d), 0);
    assert_true(d == 2.5);
    silk_robots_rate rate;
    assert_int_equal(silk_robots_request_rate(r, UA, &rate), 0);
    assert_int_equal(rate.requests, 3);
    assert_int_equal(rate.seconds, 60);
    assert_true(rate.has_period);
    assert_int_equal(rate.start_hour, 9);
    assert_int_equal(rate.start_minute, 0);
    assert_int_equal(rate.end_hour, 17);
    assert_int_equal(rate.end_minute, 30);

    size_t len;
    assert_int_equal(silk_robots_sitemap_count(r), 2);
    assert_string_equal(silk_robots_sitemap(r, 0, &len), "http://example.com/a.xml");
    assert_int_equal(len, 24);
    assert_string_equal(silk_robots_sitemap(r, 1, NULL), "http://example.com/b.xml");
    assert_null(silk_robots_sitemap(r, 2, &len));
    assert_string_equal(silk_robots_host(r, &len), "example.com");
    assert_false(silk_robots_truncated(r));

    int agent = silk_robots_agent(r, UA);
    assert_true(agent >= 0);
    assert_false(silk_robots_agent_allowed(r, agent, "http://example.com/private/"));
    assert_true(silk_robots_agent_allowed(r, -1, "http://example.com/private/"));
    silk_robots_free(r);
    SILK_ASSERT_CLEAN();
}

static void test_groups(void **state)
{
    (void)state;
    const char *body = "User-agent: Googlebot\n"
                       "Disallow: /g\n"
                       "\n"
                       "User-agent: Bing\n"
                       "User-agent: Slurp\n"
                       "Disallow: /b\n"
                       "Crawl-delay: 5\n"
                       "\n"
                       "User-agent: *\n"
                       "Disallow: /all\n";
    /* The longest agent found inside the lowercased name wins. */
    assert_false(allowed(body, "http://x/g", "Mozilla/5.0 (compatible; Googlebot/2.1)"));
    assert_true(allowed(body, "http://x/all", "googlebot-news"));
    assert_false(allowed(body, "http://x/b", "slurp"));
    assert_false(allowed(body, "http://x/all", "other"));
    assert_true(allowed(body, "http://x/g", "other"));

    silk_robots *r = parse(body);
    double d;
    assert_int_equal(silk_robots_crawl_delay(r, "Slurp", &d), 0);
    assert_true(d == 5.0);
    assert_int_equal(silk_robots_crawl_delay(r, "Googlebot", &d), SILK_ENOTFOUND);
    assert_int_equal(silk_robots_request_rate(r, "Googlebot", NULL), SILK_ENOTFOUND);
    silk_robots_free(r);

    /* A group seen twice is merged; "Scrapy*" also declares "scrapy". */
    body = "User-agent: a\nDisallow: /1\n\nUser-agent: b\nDisallow: /2\n\n"
           "User-agent: a\nDisallow: /3\n\nUser-agent: Scrapy*\nDisallow: /4\n";
    assert_false(allowed(body, "/1", "a"));
    assert_false(allowed(body, "/3", "a"));
    assert_true(allowed(body, "/2", "a"));
    assert_false(allowed(body, "/4", "scrapy"));
    assert_false(allowed(body, "/4", "Scrapy*"));

    /* protego quirk: a line with an empty field does not end a group, so
     * "b" joins "a" and both get /y. */
    body = "User-agent: a\nDisallow: /x\n: foo\nUser-agent: b\nDisallow: /y\n";
    assert_false(allowed(body, "/y", "a"));
    assert_true(allowed(body, "/x", "b"));
    assert_false(allowed(body, "/y", "b"));
    /* ... while an unknown directive or a Sitemap line does end it. */
    body = "User-agent: a\nDisallow: /x\nFoo: bar\nUser-agent: b\nDisallow: /y\n";
    assert_true(allowed(body, "/y", "a"));

    /* No group matches: everything is allowed; no group at all, the same. */
    assert_true(allowed("User-agent: zz\nDisallow: /\n", "/", "a"));
    assert_true(allowed("Disallow: /\n", "/", "a"));
    SILK_ASSERT_CLEAN();
}

static void test_precedence_and_wildcards(void **state)
{
    (void)state;
    const char *body = "User-agent: *\n"
                       "Allow: /p\nDisallow: /p\n"     /* tie: Allow wins */
                       "Disallow: /a/*\nAllow: /a/b\n" /* longer pattern wins */
                       "Disallow: /*.js$\n"
                       "Disallow: /x*y*z\n"
                       "Allow: /index.html\n"          /* also allows "/" exactly */
                       "Disallow: /\n";
    assert_true(allowed(body, "/p", UA));
    assert_true(allowed(body, "/a/b", UA));
    assert_false(allowed(body, "/a/c", UA));
    assert_false(allowed(body, "/app.js", UA));
    assert_false(allowed(body, "/x1y2z3", UA));
    assert_true(allowed(body, "/", UA));
    assert_true(allowed(body, "/index.html", UA));
    assert_false(allowed(body, "/other", UA));

    /* Percent-encoding: both sides normalised alike. */
    body = "User-agent: *\nDisallow: /%7ejoe\nDisallow: /caf\xc3\xa9\nDisallow: /a%2Fb\n";
    assert_false(allowed(body, "/~joe/x", UA));
    assert_false(allowed(body, "/caf%C3%A9", UA));
    assert_false(allowed(body, "/a%2fb", UA));
    assert_true(allowed(body, "/a/b", UA));

    /* A '$' alone between stars (only possible in a query) ends the URL. */
    body = "User-agent: *\nDisallow: /*?*$*\n";
    assert_false(allowed(body, "/a?b", UA));
    body = "User-agent: *\nDisallow: /*?*$*x\n";
    assert_true(allowed(body, "/a?b$x", UA));
    SILK_ASSERT_CLEAN();
}

static void test_values(void **state)
{
    (void)state;
    const char *body = "User-agent: a\nCrawl-delay: 1_0\n\n"
                       "User-agent: b\nCrawl-delay: \xd9\xa3\n\n" /* ARABIC-INDIC THREE */
                       "User-agent: c\nCrawl-delay: 1,5\n\n"
                       "User-agent: d\nCrawl-delay: 2\nCrawl-delay: x\n\n"
                       "User-agent: e\nRequest-rate: 1/10\n\n"  /* "10" = 1 + unit '0' */
                       "User-agent: f\nRequest-rate: 1/5\n";    /* no unit: ignored */
    silk_robots *r = parse(body);
    double d;
    assert_int_equal(silk_robots_crawl_delay(r, "a", &d), 0);
    assert_true(d == 10.0);
    assert_int_equal(silk_robots_crawl_delay(r, "b", &d), 0);
    assert_true(d == 3.0);
    assert_int_equal(silk_robots_crawl_delay(r, "c", &d), SILK_ENOTFOUND);
    assert_int_equal(silk_robots_crawl_delay(r, "d", &d), 0);
    assert_true(d == 2.0);
    silk_robots_rate rate;
    assert_int_equal(silk_robots_request_rate(r, "e", &rate), 0);
    assert_int_equal(rate.requests, 1);
    assert_int_equal(rate.seconds, 1);
    assert_false(rate.has_period);
    assert_int_equal(silk_robots_request_rate(r, "f", &rate), SILK_ENOTFOUND);
    silk_robots_free(r);
    SILK_ASSERT_CLEAN();
}

static void test_encodings_and_garbage(void **state)
{
    (void)state;
    /* Not UTF-8: Scrapy treats the whole file as empty. */
    assert_true(allowed("User-agent: *\nDisallow: /\nDisallow: /caf\xe9\n", "/x", UA));
    /* Overlong and surrogate encodings are not UTF-8 either. */
    assert_true(allowed("User-agent: *\nDisallow: /\n\xc0\xaf", "/x", UA));
    assert_true(allowed("User-agent: *\nDisallow: /\n\xed\xa0\x80", "/x", UA));
    /* A BOM makes the first line an unknown field. */
    assert_true(allowed("\xef\xbb\xbfUser-agent: *\nDisallow: /\n", "/x", UA));
    /* Unicode line breaks split lines, as str.splitlines() does. */
    assert_false(allowed("User-agent: *\xe2\x80\xa8"
                         "Disallow: /ls\n",
                         "/ls", UA));

    /* NULs are ordinary characters. */
    static const char nul[] = "User-agent: *\nDisallow: /a\0b\nSitemap: s\0t\nDisallow: /z\n";
    silk_robots *r = NULL;
    assert_int_equal(silk_robots_parse(nul, sizeof nul - 1, &r), 0);
    assert_false(silk_robots_allowed(r, "/a%00b", UA));
    assert_false(silk_robots_allowed(r, "/z", UA));
    size_t len;
    const char *s = silk_robots_sitemap(r, 0, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "s\0t", 3);
    silk_robots_free(r);

    /* Binary garbage never fails. */
    static const char alphabet[] = "Disallow: /*$?#:\n\r a";
    unsigned char junk[4096];
    srand(7);
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)(round & 1 ? rand() : alphabet[rand() % sizeof alphabet]);
        assert_int_equal(silk_robots_parse((const char *)junk, sizeof junk, &r), 0);
        (void)silk_robots_allowed(r, "http://x/a*b", "a");
        silk_robots_free(r);
    }

    /* Empty input and bad arguments. */
    assert_int_equal(silk_robots_parse(NULL, 0, &r), 0);
    assert_true(silk_robots_allowed(r, "/", UA));
    assert_int_equal(silk_robots_sitemap_count(r), 0);
    assert_null(silk_robots_host(r, NULL));
    silk_robots_free(r);
    assert_int_equal(silk_robots_parse(NULL, 3, &r), SILK_EINVAL);
    assert_int_equal(silk_robots_parse("x", 1, NULL), SILK_EINVAL);
    assert_true(silk_robots_allowed(NULL, "/", UA));
    assert_true(silk_robots_allowed(r = parse("User-agent: *\nDisallow: /x\n"), NULL, NULL));
    silk_robots_free(r);
    silk_robots_free(NULL);
    SILK_ASSERT_CLEAN();
}

static void test_size_limit(void **state)
{
    (void)state;
    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "User-agent: *\n");
    while (b.len < SILK_ROBOTS_MAX_BYTES - 200)
        silk_buf_puts(&b, "Disallow: /padding/padding/padding\n");
    while (b.len < SILK_ROBOTS_MAX_BYTES - 25)
        silk_buf_puts(&b, "#\n");
    /* Ends 7 or 8 bytes before the limit: the next line crosses it. */
    silk_buf_puts(&b, "Disallow: /early\n");
    while (b.len < SILK_ROBOTS_MAX_BYTES + 10)
        silk_buf_puts(&b, "Disallow: /late\n");
    assert_int_equal(b.err, 0);

    silk_robots *r = NULL;
    assert_int_equal(silk_robots_parse(b.data, b.len, &r), 0);
    assert_true(silk_robots_truncated(r));
    assert_false(silk_robots_allowed(r, "/early", UA));
    assert_true(silk_robots_allowed(r, "/late", UA));
    silk_robots_free(r);

    /* No limit: everything is read. */
    assert_int_equal(silk_robots_parse_limit(b.data, b.len, 0, &r), 0);
    assert_false(silk_robots_truncated(r));
    assert_false(silk_robots_allowed(r, "/late", UA));
    silk_robots_free(r);
    silk_buf_free(&b);

    /* A line longer than the limit is dropped whole, never cut. */
    silk_buf_puts(&b, "User-agent: *\nDisallow: /");
    while (b.len < SILK_ROBOTS_MAX_BYTES + 10)
        silk_buf_puts(&b, "aaaaaaaaaaaaaaaa");
    assert_int_equal(silk_robots_parse(b.data, b.len, &r), 0);
    assert_true(silk_robots_allowed(r, "/a", UA));
    silk_robots_free(r);
    silk_buf_free(&b);
    SILK_ASSERT_CLEAN();
}

static void test_pathological(void **state)
{
    (void)state;
    silk_buf b = SILK_BUF_INIT, url = SILK_BUF_INIT;

    /* "*****...a$" and "*a*a*a...b" against a long URL stay linear. */
    silk_buf_puts(&b, "User-agent: *\nDisallow: /");
    for (int i = 0; i < 100000; i++)
        silk_buf_putc(&b, '*');
    silk_buf_puts(&b, "a$\nDisallow: /");
    for (int i = 0; i < 20000; i++)
        silk_buf_puts(&b, "*a");
    silk_buf_puts(&b, "*b\n");
    silk_buf_puts(&url, "http://x/");
    for (int i = 0; i < 100000; i++)
        silk_buf_putc(&url, 'a');
    silk_buf_putc(&url, 'c');
    assert_int_equal(b.err | url.err, 0);

    silk_robots *r = NULL;
    assert_int_equal(silk_robots_parse_limit(b.data, b.len, 0, &r), 0);
    double t0 = now_s();
    for (int i = 0; i < 20; i++)
        assert_true(silk_robots_allowed(r, url.data, UA));
    url.data[url.len - 1] = 'a';
    assert_false(silk_robots_allowed(r, url.data, UA));
    assert_true(now_s() - t0 < 5.0);
    silk_robots_free(r);
    silk_buf_free(&b);

    /* Many agents in one group with many rules: shared, not copied. */
    for (int i = 0; i < 20000; i++)
        silk_buf_printf(&b, "User-agent: bot%d\n", i);
    for (int i = 0; i < 20000; i++)
        silk_buf_printf(&b, "Disallow: /p%d\n", i);
    assert_int_equal(b.err, 0);
    t0 = now_s();
    assert_int_equal(silk_robots_parse_limit(b.data, b.len, 0, &r), 0);
    assert_true(silk_alloc_live_bytes() < 16u * 1024 * 1024);
    assert_false(silk_robots_allowed(r, "/p19999", "bot123"));
    assert_true(silk_robots_allowed(r, "/q", "bot123"));
    assert_true(now_s() - t0 < 5.0);
    silk_robots_free(r);
    silk_buf_free(&b);
    silk_buf_free(&url);
    SILK_ASSERT_CLEAN();
}

static int parse_and_query(void)
{
    silk_robots *r = NULL;
    const char *body = "User-agent: a\nUser-agent: b*\nDisallow: /x$\nAllow: /index.html\n"
                       "Crawl-delay: 1\nRequest-rate: 1/5s\nSitemap: s\nHost: h\n"
                       "User-agent: c\nDisallow: /caf\xc3\xa9*\n";
    int rc = silk_robots_parse(body, strlen(body), &r);
    if (rc)
        return rc;
    /* A query that cannot allocate answers "disallowed": never pass it. */
    bool a = silk_robots_allowed(r, "http://h/ok/caf\xc3\xa9/a-long-enough-url-to-need-the-heap"
                                    "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                    "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                    "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                    "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                 "a");
    silk_robots_free(r);
    return a ? 0 : SILK_ENOMEM;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(parse_and_query());
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_precedence_and_wildcards),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_encodings_and_garbage),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
