/* SitemapSpider: the parser against Scrapy's answers (expected values from
 * scrapy.utils.sitemap on Scrapy 2.8 / lxml 4.9), robots.txt Sitemap: lines,
 * gunzip, hostile XML (XXE, entity bombs), and crawls of the embedded
 * site's sitemaps (robots.txt -> index -> urlsets, gzip, follow, rules,
 * filter, alternates, the size cap). */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <zlib.h>

#include "silk_test.h"
#include "silk/sitemap.h"
#include "silk/testserver.h"

/* ---- the parser ---- */

static void check_sitemap(const char *xml, size_t len, const char *type, const char *json)
{
    silk_sitemap *sm = NULL;
    int rc = silk_sitemap_new(xml, len, &sm);
    if (rc)
        fprintf(stderr, "sitemap: %s\n", silk_last_error());
    assert_int_equal(rc, 0);
    assert_string_equal(silk_sitemap_type(sm), type);
    silk_value *want = NULL;
    assert_int_equal(silk_json_decode(json, strlen(json), &want), 0);
    bool same = silk_sitemap_len(sm) == silk_list_len(want);
    for (size_t i = 0; same && i < silk_list_len(want); i++)
        same = silk_value_equal(silk_sitemap_entry(sm, i), silk_list_get(want, i));
    if (!same) {
        for (size_t i = 0; i < silk_sitemap_len(sm); i++) {
            char *j = NULL;
            silk_json_dumps(silk_sitemap_entry(sm, i), 0, &j);
            fprintf(stderr, "  got [%zu] %s\n", i, j);
            silk_free(j);
        }
        fprintf(stderr, "  want %s\n", json);
    }
    assert_true(same);
    silk_value_free(want);
    silk_sitemap_free(sm);
}

#define CHECK(xml, type, json) check_sitemap(xml, sizeof(xml) - 1, type, json)

static void test_parser(void **state)
{
    (void)state;
    CHECK("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" "
          "xmlns:xhtml=\"http://www.w3.org/1999/xhtml\">\n"
          " <url><loc> http://e.com/a </loc><lastmod>2024-01-01</lastmod>\n"
          "  <xhtml:link rel=\"alternate\" hreflang=\"de\" href=\"http://e.com/de/a\"/>\n"
          "  <xhtml:link rel=\"alternate\" hreflang=\"fr\" href=\"http://e.com/fr/a\"/>\n"
          "  <xhtml:link rel=\"alternate\" hreflang=\"x\"/>\n"
          " </url>\n"
          " <url><loc>http://e.com/<!-- c -->b</loc><priority>0.5</priority></url>\n"
          " <url><loc><![CDATA[http://e.com/c]]></loc></url>\n"
          " <url><lastmod>x</lastmod></url>\n"
          " <url><loc/></url>\n"
          " <url><loc>http://e.com/d1</loc><loc>http://e.com/d2</loc></url>\n"
          " <url><loc>\xc2\xa0http://e.com/nbsp\xe2\x80\x83</loc></url>\n"
          " <url><loc>http://e.com/x<sub>y</sub>z</loc></url>\n"
          " <?pi x?>\n text\n</urlset>",
          "urlset",
          "[{\"loc\": \"http://e.com/a\", \"lastmod\": \"2024-01-01\", \"alternate\": "
          "[\"http://e.com/de/a\", \"http://e.com/fr/a\"]}, {\"loc\": \"http://e.com/b\", "
          "\"priority\": \"0.5\"}, {\"loc\": \"http://e.com/c\"}, {\"loc\": \"\"}, {\"loc\": "
          "\"http://e.com/d2\"}, {\"loc\": \"http://e.com/nbsp\"}, {\"loc\": \"http://e.com/x\"}]");
    CHECK("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><sitemap><loc>"
          "http://e.com/s1.xml</loc></sitemap><sitemap><loc>http://e.com/s2.xml.gz</loc>"
          "<lastmod>2020</lastmod></sitemap></sitemapindex>",
          "sitemapindex",
          "[{\"loc\": \"http://e.com/s1.xml\"}, {\"loc\": \"http://e.com/s2.xml.gz\", "
          "\"lastmod\": \"2020\"}]");
    CHECK("<urlset><url><loc>http://e.com/1</loc></url></urlset>", "urlset",
          "[{\"loc\": \"http://e.com/1\"}]");
    /* entities are not substituted: the text stops at one */
    CHECK("<?xml version=\"1.0\"?><!DOCTYPE urlset [<!ENTITY e \"ENT\">]><urlset><url><loc>"
          "http://e.com/&e;/x</loc></url><url><loc>a&amp;b&#65;</loc></url></urlset>",
          "urlset", "[{\"loc\": \"http://e.com/\"}, {\"loc\": \"a&bA\"}]");
    /* XXE: nothing is read */
    CHECK("<?xml version=\"1.0\"?><!DOCTYPE urlset [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
          "<urlset><url><loc>&x;</loc></url><url><loc>http://e.com/after</loc></url></urlset>",
          "urlset", "[{\"loc\": \"\"}, {\"loc\": \"http://e.com/after\"}]");
    CHECK("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><urlset><url><loc>http://e.com/caf\xe9"
          "</loc></url></urlset>",
          "urlset", "[{\"loc\": \"http://e.com/caf\\u00e9\"}]");
    CHECK("<urlset><url><loc>http://e.com/1</loc></url><url><loc>http://e.com/2", "urlset",
          "[{\"loc\": \"http://e.com/1\"}, {\"loc\": \"http://e.com/2\"}]");
    CHECK("<urlset><url><loc>http://e.com/1</loc><x:link href=\"http://e.com/alt\"/></url>"
          "</urlset>",
          "urlset", "[{\"loc\": \"http://e.com/1\", \"x:link\": \"\"}]");

    silk_sitemap *sm = NULL;
    assert_int_equal(silk_sitemap_new("not xml at all", 14, &sm), SILK_EINVAL);
    assert_null(sm);
    assert_int_equal(silk_sitemap_new("", 0, &sm), SILK_EINVAL);
    assert_int_equal(silk_sitemap_new(NULL, 0, NULL), SILK_EINVAL);
    SILK_ASSERT_CLEAN();
}

static void test_hostile_xml(void **state)
{
    (void)state;
    /* billion laughs: libxml2's amplification check ends it */
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"
        "<urlset><url><loc>&lol9;</loc></url><url><loc>http://e.com/ok</loc></url></urlset>";
    check_sitemap(laughs, sizeof laughs - 1, "urlset", "[{\"loc\": \"\"}]");

    /* deep nesting, NULs, invalid UTF-8: an answer, no crash */
    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "<urlset><url><loc>http://e.com/\xff\xfe</loc></url><url><loc>a");
    silk_buf_append(&b, "\0\0", 2);
    silk_buf_puts(&b, "b</loc></url>");
    for (int i = 0; i < 100000; i++)
        silk_buf_puts(&b, "<x>");
    silk_sitemap *sm = NULL;
    int rc = silk_sitemap_new(b.data, b.len, &sm);
    assert_true(rc == 0 || rc == SILK_EINVAL);
    silk_sitemap_free(sm);
    silk_buf_free(&b);
    SILK_ASSERT_CLEAN();
}

static void test_robots(void **state)
{
    (void)state;
    static const char robots[] = "User-agent: *\nSitemap: /s1.xml\n  sItEmAp :x\n"
                                 "SITEMAP:http://o.com/s2.xml  \r\nsitemap:\x0c\n"
                                 "Sitemap: rel/s3.xml\xe2\x80\xa8Sitemap:  s4.xml";
    silk_value *urls = NULL;
    assert_int_equal(silk_sitemap_urls_from_robots(robots, sizeof robots - 1,
                                                   "http://e.com/a/robots.txt", &urls),
                     0);
    static const char *const want[] = { "http://e.com/s1.xml", "http://o.com/s2.xml",
                                        "http://e.com/a/robots.txt", "http://e.com/a/rel/s3.xml",
                                        "http://e.com/a/s4.xml" };
    assert_int_equal(silk_list_len(urls), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(silk_value_str(silk_list_get(urls, i)), want[i]);
    silk_value_free(urls);
    assert_int_equal(silk_sitemap_urls_from_robots("", 0, NULL, &urls), 0);
    assert_int_equal(silk_list_len(urls), 0);
    silk_value_free(urls);
    SILK_ASSERT_CLEAN();
}

static size_t gz(const char *text, size_t len, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

static void test_gunzip(void **state)
{
    (void)state;
    unsigned char a[256], two[512];
    size_t na = gz("hello ", 6, a, sizeof a);
    char *out;
    size_t len;
    assert_int_equal(silk_gunzip(a, na, 0, &out, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal(out, "hello ");
    silk_free(out);
    /* two members, as GzipFile reads them */
    memcpy(two, a, na);
    size_t nb = gz("world", 5, two + na, sizeof two - na);
    assert_int_equal(silk_gunzip(two, na + nb, 0, &out, &len), 0);
    assert_string_equal(out, "hello world");
    silk_free(out);
    /* trailing garbage after a member, a bad CRC, a truncated end: what
     * came before is kept */
    memcpy(two + na, "garbage!", 8);
    assert_int_equal(silk_gunzip(two, na + 8, 0, &out, &len), 0);
    assert_string_equal(out, "hello ");
    silk_free(out);
    memcpy(two, a, na);
    two[na - 8] ^= 0xff;
    assert_int_equal(silk_gunzip(two, na, 0, &out, &len), 0);
    assert_string_equal(out, "hello ");
    silk_free(out);
    assert_int_equal(silk_gunzip(a, na - 6, 0, &out, &len), 0);
    assert_string_equal(out, "hello ");
    silk_free(out);
    /* not gzip; over the cap */
    assert_int_equal(silk_gunzip("plain", 5, 0, &out, &len), SILK_EENCODING);
    assert_null(out);
    assert_int_equal(silk_gunzip(a, 3, 0, &out, &len), SILK_EENCODING);
    assert_int_equal(silk_gunzip(a, na, 5, &out, &len), SILK_ELIMIT);
    assert_int_equal(silk_gunzip(a, na, 6, &out, &len), 0);
    silk_free(out);
    /* a bomb: 64 MiB of zeros, capped at 1 MiB, quickly */
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    unsigned char *bomb = malloc(1 << 20);
    size_t nbomb = gz(zeros, big, bomb, 1 << 20);
    free(zeros);
    assert_int_equal(silk_gunzip(bomb, nbomb, 1 << 20, &out, &len), SILK_ELIMIT);
    free(bomb);
    SILK_ASSERT_CLEAN();
}

/* ---- crawls ---- */

static silk_testserver *server;
static silk_value *collected;

static int collect_open(void **st, silk_spider *sp)
{
    (void)st;
    (void)sp;
    collected = silk_value_new_list();
    return collected ? 0 : SILK_ENOMEM;
}

static int collect_item(void *st, silk_item *it, silk_spider *sp, char **reason)
{
    (void)st;
    (void)sp;
    (void)reason;
    return silk_list_push(collected, silk_value_copy(it->fields));
}

static const silk_pipeline_def collect_pipeline = { "Collect", 300, collect_open, NULL,
                                                    collect_item };
static const silk_pipeline_def *const pipes[] = { &collect_pipeline, NULL };

static void start_server(uint32_t pages, const char *robots)
{
    silk_testserver_options opt = { 0 };
    opt.pages = pages;
    opt.robots_txt = robots;
    assert_int_equal(silk_testserver_start_thread(&opt, &server), 0);
}

static void stop_server(void)
{
    silk_testserver_free(server);
    server = NULL;
    silk_value_free(collected);
    collected = NULL;
}

static silk_settings *quiet_settings(void)
{
    silk_settings *s = silk_settings_new();
    /* warnings are counted (log_count/WARNING), not shown */
    silk_settings_set(s, "LOG_LEVEL", "WARNING", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "LOG_FILE", "/dev/null", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    return s;
}

static int item_of(silk_ctx *ctx, silk_response *resp, const char *kind)
{
    silk_item *it = silk_ctx_item(ctx, NULL);
    silk_item_set_str(it, "kind", kind);
    silk_item_set_str(it, "url", resp->url);
    return 0;
}

static int parse(silk_ctx *ctx, silk_response *resp) { return item_of(ctx, resp, "parse"); }
static int parse_seven(silk_ctx *ctx, silk_response *resp) { return item_of(ctx, resp, "seven"); }

static const silk_callback_def callbacks[] = { { "parse_seven", parse_seven }, { NULL, NULL } };

static int page_id(const char *url)
{
    const char *p = url ? strstr(url, "/p/") : NULL;
    return p ? atoi(p + 3) : -1;
}

/* Runs def; returns the crawler's stats value of key after the run. */
static silk_process *run(const silk_spider_def *def, silk_settings *overrides, silk_crawler **c)
{
    silk_settings *s = quiet_settings();
    silk_process *p;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, def, NULL, overrides, c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_string_equal(silk_crawler_finish_reason(*c), "finished");
    silk_settings_free(s);
    return p;
}

/* kinds[id] for every item; fails on an item that is not a page or a page
 * seen twice. */
static void items_by_page(char *kinds, size_t pages)
{
    memset(kinds, 0, pages);
    for (size_t i = 0; i < silk_list_len(collected); i++) {
        const silk_value *it = silk_list_get(collected, i);
        int id = page_id(silk_dict_get_str(it, "url", ""));
        assert_true(id >= 0 && (size_t)id < pages);
        assert_int_equal(kinds[id], 0);
        kinds[id] = silk_dict_get_str(it, "kind", "?")[0];
    }
}

static bool hook_ok;
static int check_builtin(silk_spider *sp)
{
    /* "_parse_sitemap" resolves both ways, so persisted requests name it */
    hook_ok = silk_spider_callback(sp, "_parse_sitemap") == silk_sitemap_parse &&
              strcmp(silk_spider_callback_name(sp, silk_sitemap_parse), "_parse_sitemap") == 0 &&
              silk_spider_callback(sp, "parse_seven") == parse_seven;
    return 0;
}

#define SITE 1100

/* robots.txt -> sitemap index -> two urlsets -> pages, by rule */
static void test_robots_index_rules(void **state)
{
    (void)state;
    start_server(SITE, NULL);
    char robots[160];
    snprintf(robots, sizeof robots, "%s/robots.txt", silk_testserver_url(server));
    const char *urls[] = { robots, NULL };
    static const silk_sitemap_rule rules[] = {
        { "/p/\\d*7\\.html$", "parse_seven" }, { "/p/1\\d{3}\\.html$", "parse" }, { NULL, NULL }
    };
    silk_sitemap_def sm = { .sitemap_urls = urls, .rules = rules };
    silk_spider_def def = { .name = "sitemaps",
                            SILK_SITEMAP_SPIDER(&sm),
                            .parse = parse,
                            .callbacks = callbacks,
                            .pipelines = pipes,
                            .open = check_builtin };
    hook_ok = false;
    silk_crawler *c;
    silk_process *p = run(&def, NULL, &c);
    assert_true(hook_ok);
    char kinds[SITE];
    items_by_page(kinds, SITE);
    size_t n = 0;
    for (int id = 0; id < SITE; id++) {
        char want = id % 10 == 7 ? 's' : (id >= 1000 ? 'p' : 0);
        assert_int_equal(kinds[id], want);
        n += want != 0;
    }
    assert_int_equal(silk_list_len(collected), n);
    assert_int_equal(silk_testserver_hits(server, "/sitemap_index.xml"), 1);
    assert_int_equal(silk_testserver_hits(server, "/sitemap/0.xml"), 2); /* the two parts */
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "response_received_count", 0),
                     (int64_t)(1 + 1 + 2 + n));
    silk_process_free(p);
    stop_server();
    SILK_ASSERT_CLEAN();
}

/* sitemap_follow: only the second part of the index */
static void test_follow_and_filter(void **state)
{
    (void)state;
    start_server(SITE, NULL);
    char index[160];
    snprintf(index, sizeof index, "%s/sitemap_index.xml", silk_testserver_url(server));
    silk_spider_def def = { .name = "follow",
                            .start_urls = (const char *const[]){ index, NULL },
                            SILK_SITEMAP_SPIDER(&(silk_sitemap_def){
                                .follow = SILK_LIST("/sitemap/1\\.xml$") }),
                            .parse = parse,
                            .pipelines = pipes };
    silk_crawler *c;
    silk_process *p = run(&def, NULL, &c);
    char kinds[SITE];
    items_by_page(kinds, SITE);
    for (int id = 0; id < SITE; id++)
        assert_int_equal(kinds[id], id >= 1000 ? 'p' : 0);
    silk_process_free(p);
    silk_value_free(collected);
    collected = NULL;

    /* no sitemap followed at all */
    silk_sitemap_def none = { .sitemap_urls = (const char *const[]){ index, NULL },
                              .follow = SILK_LIST_EMPTY };
    def.user = &none;
    p = run(&def, NULL, &c);
    assert_int_equal(silk_list_len(collected), 0);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "response_received_count", 0), 1);
    silk_process_free(p);
    stop_server();
    SILK_ASSERT_CLEAN();
}

static int keep_thirds(silk_ctx *ctx, silk_value *entry)
{
    (void)ctx;
    /* the test site's entries: loc, lastmod, priority */
    if (strcmp(silk_dict_get_str(entry, "lastmod", ""), "2024-01-01") != 0 ||
        strcmp(silk_dict_get_str(entry, "priority", ""), "0.5") != 0)
        return SILK_EINVAL;
    return page_id(silk_dict_get_str(entry, "loc", "")) % 3 == 0;
}

/* gzip by magic bytes; sitemap_filter; the DOWNLOAD_MAXSIZE cap */
static void test_gzip_filter_cap(void **state)
{
    (void)state;
    start_server(60, NULL);
    char gzurl[160];
    snprintf(gzurl, sizeof gzurl, "%s/sitemap.xml.gz", silk_testserver_url(server));
    silk_sitemap_def sm = { .sitemap_urls = (const char *const[]){ gzurl, NULL },
                            .filter = keep_thirds };
    silk_spider_def def = { .name = "gz", SILK_SITEMAP_SPIDER(&sm), .parse = parse,
                            .pipelines = pipes };
    silk_crawler *c;
    silk_process *p = run(&def, NULL, &c);
    char kinds[60];
    items_by_page(kinds, 60);
    for (int id = 0; id < 60; id++)
        assert_int_equal(kinds[id], id % 3 == 0 ? 'p' : 0);
    silk_process_free(p);
    stop_server();

    /* 5000 pages: the gzip body is small, the XML is not */
    start_server(5000, NULL);
    snprintf(gzurl, sizeof gzurl, "%s/sitemap.xml.gz", silk_testserver_url(server));
    sm.filter = NULL;
    silk_settings *o = silk_settings_new();
    silk_settings_set(o, "DOWNLOAD_MAXSIZE", "200000", SILK_PRIO_CMDLINE);
    p = run(&def, o, &c);
    assert_int_equal(silk_list_len(collected), 0);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "response_received_count", 0), 1);
    assert_int_equal(silk_stats_get_int(silk_crawler_stats(c), "log_count/WARNING", 0), 1);
    silk_process_free(p);
    silk_settings_free(o);
    stop_server();
    SILK_ASSERT_CLEAN();
}

/* ---- a small server of our own, for sitemaps the site does not have ---- */

static char mini_base[64];
static const struct {
    const char *path, *type, *body;
} mini_files[] = {
    { "/alt.xml", "application/xml",
      "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" "
      "xmlns:xhtml=\"http://www.w3.org/1999/xhtml\">"
      "<url><loc>{base}/page/a</loc>"
      "<xhtml:link rel=\"alternate\" hreflang=\"de\" href=\"{base}/page/a-de\"/>"
      "<xhtml:link rel=\"alternate\" hreflang=\"fr\" href=\"{base}/page/a-fr\"/></url>"
      "<url><loc>{base}/page/b</loc></url>"
      "<url><loc></loc></url>"                  /* Request('') refused: skipped */
      "<url><loc>{base}/page/c</loc><?pi x?></url>" /* Scrapy: TypeError */
      "</urlset>" },
    /* plain XML at a .xml.gz URL (already gunzipped by HttpCompression) */
    { "/plain.xml.gz", "application/octet-stream",
      "<urlset><url><loc>{base}/page/gz</loc></url></urlset>" },
    { "/garbage.xml", "application/octet-stream", "this is not XML" },
    { "/other.bin", "application/octet-stream", "<urlset><url><loc>{base}/page/no</loc></url>" },
    { "/index.xml", "text/xml",
      "<sitemapindex><sitemap><loc>{base}/plain.xml.gz</loc></sitemap>"
      "<sitemap><loc>{base}/garbage.xml</loc></sitemap><sitemap><loc>{base}/other.bin</loc>"
      "</sitemap><sitemap><loc>{base}/alt.xml</loc></sitemap></sitemapindex>" },
};

static void mini_handler(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    if (strncmp(uri, "/page/", 6) == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/html");
        evbuffer_add_printf(out, "<html><body>%s</body></html>", uri);
        evhttp_send_reply(req, 200, "OK", NULL);
        return;
    }
    for (size_t i = 0; i < sizeof mini_files / sizeof mini_files[0]; i++) {
        if (strcmp(uri, mini_files[i].path) != 0)
            continue;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          mini_files[i].type);
        for (const char *p = mini_files[i].body; *p;) {
            const char *b = strstr(p, "{base}");
            size_t n = b ? (size_t)(b - p) : strlen(p);
            evbuffer_add(out, p, n);
            p += n;
            if (b) {
                evbuffer_add(out, mini_base, strlen(mini_base));
                p += 6;
            }
        }
        evhttp_send_reply(req, 200, "OK", NULL);
        return;
    }
    evhttp_send_reply(req, 404, "Not Found", NULL);
}

static void test_alternates_and_odd_sitemaps(void **state)
{
    (void)state;
    silk_settings *s = quiet_settings();
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    struct evhttp *http = evhttp_new(silk_process_base(p));
    assert_non_null(http);
    evhttp_set_gencb(http, mini_handler, NULL);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(sock);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &sl),
                     0);
    snprintf(mini_base, sizeof mini_base, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    char index[128];
    snprintf(index, sizeof index, "%s/index.xml", mini_base);
    silk_sitemap_def sm = { .sitemap_urls = (const char *const[]){ index, NULL },
                            .alternate_links = true };
    silk_spider_def def = { .name = "alt", SILK_SITEMAP_SPIDER(&sm), .parse = parse,
                            .pipelines = pipes };
    assert_int_equal(silk_process_crawl(p, &def, NULL, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    /* pages: a and its two alternates, b, c (the PI ignored), gz */
    static const char *const want[] = { "/page/a", "/page/a-de", "/page/a-fr", "/page/b",
                                        "/page/c", "/page/gz" };
    size_t n = silk_list_len(collected);
    assert_int_equal(n, 6);
    for (size_t k = 0; k < 6; k++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= strstr(silk_dict_get_str(silk_list_get(collected, i), "url", ""), want[k]) &&
                     strcmp(strstr(silk_dict_get_str(silk_list_get(collected, i), "url", ""),
                                   "/page/"),
                            want[k]) == 0;
        assert_true(found);
    }
    silk_stats *st = silk_crawler_stats(c);
    /* garbage.xml: no XML root, a spider error as in Scrapy; other.bin:
     * "Ignoring invalid sitemap"; loc "": skipped with a warning */
    char key[96];
    snprintf(key, sizeof key, "spider_exceptions/%s", silk_strerror(SILK_EINVAL));
    assert_int_equal(silk_stats_get_int(st, key, 0), 1);
    assert_int_equal(silk_stats_get_int(st, "log_count/WARNING", 0), 2);
    silk_value_free(collected);
    collected = NULL;
    evhttp_free(http); /* before its base goes with the process */
    silk_process_free(p);
    silk_settings_free(s);
    SILK_ASSERT_CLEAN();
}

/* robots.txt with several Sitemap: lines, relative and repeated */
static void test_robots_lines(void **state)
{
    (void)state;
    start_server(30, "User-agent: *\nDisallow:\nSitemap: {base}/sitemap.xml\n"
                     "sitemap: /sitemap.xml.gz\n  SITEMAP:sitemap.xml\n");
    char robots[160];
    snprintf(robots, sizeof robots, "%s/robots.txt", silk_testserver_url(server));
    silk_sitemap_def sm = { .sitemap_urls = (const char *const[]){ robots, NULL } };
    silk_spider_def def = { .name = "robots", SILK_SITEMAP_SPIDER(&sm), .parse = parse,
                            .pipelines = pipes };
    silk_crawler *c;
    silk_process *p = run(&def, NULL, &c);
    char kinds[30];
    items_by_page(kinds, 30);
    for (int id = 0; id < 30; id++)
        assert_int_equal(kinds[id], 'p');
    assert_int_equal(silk_testserver_hits(server, "/sitemap.xml"), 1); /* dupefilter */
    assert_int_equal(silk_testserver_hits(server, "/sitemap.xml.gz"), 1);
    silk_process_free(p);
    stop_server();
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_hostile_xml),
        cmocka_unit_test(test_robots),
        cmocka_unit_test(test_gunzip),
        cmocka_unit_test(test_robots_index_rules),
        cmocka_unit_test(test_follow_and_filter),
        cmocka_unit_test(test_gzip_filter_cap),
        cmocka_unit_test(test_alternates_and_odd_sitemaps),
        cmocka_unit_test(test_robots_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
