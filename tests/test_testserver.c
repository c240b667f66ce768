/* The embedded test site: the page generator, and every endpoint over real
 * sockets (libcurl in this thread against the server on its own thread,
 * an evhttp client sharing the server's loop, and raw sockets for hostile
 * input). */
#include <arpa/inet.h>
#include <errno.h>
#include <iconv.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <zlib.h>

#include "silk_test.h"
#include "silk/testserver.h"

/* ---- helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k > n)
        return 0;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static size_t count_of(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), c = 0;
    for (size_t i = 0; k && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            c++;
    return c;
}

typedef struct fetch {
    CURLcode rc;
    long status;
    silk_buf body, headers;
    long redirects, connects;
    char url[512];
    double seconds;
} fetch;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    silk_buf_append(ud, p, sz * n);
    return sz * n;
}

static CURL *easy(silk_testserver *srv)
{
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    const char *pem = srv ? silk_testserver_cert_pem(srv) : NULL;
    if (pem) {
        struct curl_blob blob = { (void *)pem, strlen(pem), CURL_BLOB_COPY };
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    return h;
}

/* GETs base + path with h (options already set) into a fresh f. */
static void get(CURL *h, silk_testserver *srv, const char *path, fetch *f)
{
    char url[1024];
    memset(f, 0, sizeof *f);
    snprintf(url, sizeof url, "%s%s", silk_testserver_url(srv), path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f->body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &f->headers);
    double t0 = now_s();
    f->rc = curl_easy_perform(h);
    f->seconds = now_s() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->status);
    curl_easy_getinfo(h, CURLINFO_REDIRECT_COUNT, &f->redirects);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &f->connects);
    char *eff = NULL;
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
    snprintf(f->url, sizeof f->url, "%s", eff ? eff : "");
}

static void fetch_free(fetch *f)
{
    silk_buf_free(&f->body);
    silk_buf_free(&f->headers);
}

/* One-shot GET with a new handle. */
static void get1(silk_testserver *srv, const char *path, fetch *f)
{
    CURL *h = easy(srv);
    get(h, srv, path, f);
    curl_easy_cleanup(h);
}

static int has_header(const fetch *f, const char *line)
{
    return f->headers.data && contains(f->headers.data, f->headers.len, line);
}

static silk_value *json_of(const fetch *f)
{
    silk_value *v = NULL;
    assert_int_equal(silk_json_decode(f->body.data, f->body.len, &v), 0);
    return v;
}

static silk_testserver *start_thread(const silk_testserver_options *opt)
{
    silk_testserver *srv = NULL;
    int rc = silk_testserver_start_thread(opt, &srv);
    if (rc)
        fprintf(stderr, "start_thread: %s\n", silk_last_error());
    assert_int_equal(rc, 0);
    assert_non_null(srv);
    return srv;
}

/* ---- the generator ---- */

static void test_site_pages(void **state)
{
    (void)state;
    silk_buf b = SILK_BUF_INIT, b2 = SILK_BUF_INIT;
    silk_testsite_page p;
    size_t min = SIZE_MAX, max = 0;
    int forms[4] = { 0 };
    for (uint32_t id = 0; id < 1000; id++) {
        silk_buf_reset(&b);
        assert_int_equal(silk_testsite_render_page(NULL, id, &b), 0);
        assert_int_equal(silk_testsite_page_info(NULL, id, &p), 0);
        min = b.len < min ? b.len : min;
        max = b.len > max ? b.len : max;
        char want[256];
        snprintf(want, sizeof want, "<title>%s</title>", p.title);
        assert_true(contains(b.data, b.len, want));
        snprintf(want, sizeof want, "<h1 class=\"title\">%s</h1>", p.title);
        assert_true(contains(b.data, b.len, want));
        snprintf(want, sizeof want, "<span class=\"price\">%s</span>", p.price);
        assert_true(contains(b.data, b.len, want));
        assert_int_equal(count_of(b.data, b.len, "class=\"price\""), 1);
        assert_int_equal(count_of(b.data, b.len, "<li><a href="), 10);
        assert_int_equal(count_of(b.data, b.len, "<a href=\"/\">Home</a>"), 2);
        assert_int_equal(count_of(b.data, b.len, "rel=\"next\""), id < 999 ? 1 : 0);
        assert_int_equal(p.next, id < 999 ? id + 1 : SILK_TESTSITE_NONE);
        snprintf(want, sizeof want, "/p/%u.html", id);
        assert_string_equal(p.path, want);
        assert_true(p.price_cents >= 100 && p.price_cents <= 99999);
        uint32_t links[16];
        size_t n = 0;
        assert_int_equal(silk_testsite_page_links(NULL, id, links, 16, &n), 0);
        assert_int_equal(n, 10);
        for (size_t k = 0; k < n; k++) {
            assert_true(links[k] < 1000 && links[k] != id);
            const char *fmts[4] = { "href=\"/p/%u.html\"", "href=\"%u.html\"", "href=\"./%u.html\"",
                                    "href=\"../p/%u.html\"" };
            for (int f = 0; f < 4; f++) {
                snprintf(want, sizeof want, fmts[f], links[k]);
                if (contains(b.data, b.len, want))
                    forms[f]++;
            }
        }
        /* Deterministic. */
        silk_buf_reset(&b2);
        assert_int_equal(silk_testsite_render_page(NULL, id, &b2), 0);
        assert_int_equal(b.len, b2.len);
        assert_memory_equal(b.data, b2.data, b.len);
    }
    assert_true(min >= 5 * 1024);
    assert_true(max <= 15 * 1024);
    for (int f = 0; f < 4; f++)
        assert_true(forms[f] > 100);

    /* Another seed is another site; out-of-range ids and options fail. */
    silk_testserver_options o = { .seed = 42 };
    silk_testsite_page q;
    assert_int_equal(silk_testsite_page_info(&o, 7, &q), 0);
    assert_int_equal(silk_testsite_page_info(NULL, 7, &p), 0);
    assert_true(strcmp(p.title, q.title) != 0 || p.price_cents != q.price_cents);
    assert_int_equal(silk_testsite_page_info(NULL, 1000, &p), SILK_ERANGE);
    silk_buf_reset(&b);
    assert_int_equal(silk_testsite_render_page(NULL, 1000, &b), SILK_ERANGE);
    silk_testserver_options bad = { .pages = SILK_TESTSITE_MAX_PAGES + 1 };
    assert_int_equal(silk_testsite_page_info(&bad, 0, &p), SILK_ERANGE);

    /* The index links the first pages and starts the rel=next chain. */
    silk_buf_reset(&b);
    assert_int_equal(silk_testsite_render_index(NULL, &b), 0);
    assert_int_equal(silk_testsite_index_links(NULL), 10);
    assert_true(contains(b.data, b.len, "<a rel=\"next\" href=\"/p/0.html\">"));
    assert_int_equal(count_of(b.data, b.len, "<li><a href=\"/p/"), 10);
    silk_buf_free(&b);
    silk_buf_free(&b2);
    SILK_ASSERT_CLEAN();
}

static void test_site_depths_and_scale(void **state)
{
    (void)state;
    uint32_t *depth = malloc(100000 * sizeof *depth);
    assert_non_null(depth);
    assert_int_equal(silk_testsite_depths(NULL, depth, 1000), 0);
    uint32_t maxd = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        assert_true(depth[i] != SILK_TESTSITE_NONE);
        maxd = depth[i] > maxd ? depth[i] : maxd;
    }
    assert_int_equal(depth[0], 1);
    assert_true(maxd >= 2 && maxd < 20);
    assert_int_equal(silk_testsite_depths(NULL, depth, 999), SILK_EINVAL);

    /* A bigger site: still every page reachable, pages generated fast. */
    silk_testserver_options o = { .pages = 100000, .seed = 7 };
    assert_int_equal(silk_testsite_depths(&o, depth, 100000), 0);
    for (uint32_t i = 0; i < 100000; i++)
        assert_true(depth[i] != SILK_TESTSITE_NONE);
    silk_buf b = SILK_BUF_INIT;
    double t0 = now_s();
    for (uint32_t id = 0; id < 100000; id += 10) {
        silk_buf_reset(&b);
        assert_int_equal(silk_testsite_render_page(&o, id, &b), 0);
        assert_true(b.len >= 5 * 1024 && b.len <= 15 * 1024);
    }
    double dt = now_s() - t0;
    fprintf(stderr, "10000 pages rendered in %.3f s\n", dt);
    silk_buf_free(&b);
    free(depth);
    SILK_ASSERT_CLEAN();
}

static int render_once(void)
{
    silk_buf b = SILK_BUF_INIT;
    int rc = silk_testsite_render_page(NULL, 3, &b);
    silk_buf_free(&b);
    if (rc)
        return rc;
    uint32_t depth[1000];
    return silk_testsite_depths(NULL, depth, 1000);
}

static int start_free_once(void)
{
    struct event_base *base = event_base_new();
    silk_testserver *srv = NULL;
    silk_testserver_options o = { .https = 1, .robots_txt = "User-agent: *\nSitemap: {base}/x\n" };
    int rc = silk_testserver_start(base, &o, &srv);
    silk_testserver_free(srv);
    event_base_free(base);
    return rc;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(render_once());
    SILK_FOR_EACH_ALLOC_FAILURE(start_free_once());
    SILK_ASSERT_CLEAN();
}

/* ---- the site over HTTP ---- */

static void test_fetch_site(void **state)
{
    (void)state;
    silk_testserver *srv = start_thread(NULL);
    const silk_testserver_options *opt = silk_testserver_options_get(srv);
    assert_int_equal(opt->pages, 1000);
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%d", silk_testserver_port(srv));
    assert_string_equal(silk_testserver_url(srv), want);
    assert_null(silk_testserver_cert_pem(srv));

    CURL *h = easy(srv);
    fetch f;
    silk_buf b = SILK_BUF_INIT;
    get(h, srv, "/", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.status, 200);
    assert_true(has_header(&f, "Content-Type: text/html; charset=utf-8"));
    assert_true(has_header(&f, "HTTP/1.1 200 OK"));
    assert_int_equal(silk_testsite_render_index(opt, &b), 0);
    assert_int_equal(f.body.len, b.len);
    assert_memory_equal(f.body.data, b.data, b.len);
    fetch_free(&f);

    for (uint32_t id = 0; id < 1000; id += 37) {
        char path[32];
        snprintf(path, sizeof path, "/p/%u.html", id);
        get(h, srv, path, &f);
        assert_int_equal(f.rc, CURLE_OK);
        assert_int_equal(f.status, 200);
        /* keep-alive: one connection for the whole loop */
        assert_int_equal(f.connects, 0);
        silk_buf_reset(&b);
        assert_int_equal(silk_testsite_render_page(opt, id, &b), 0);
        assert_int_equal(f.body.len, b.len);
        assert_memory_equal(f.body.data, b.data, b.len);
        fetch_free(&f);
    }
    get(h, srv, "/p/37.html?utm=1", &f);
    assert_int_equal(f.status, 200);
    fetch_free(&f);
    assert_int_equal(silk_testserver_hits(srv, "/p/37.html"), 2);
    assert_int_equal(silk_testserver_hits(srv, "/p/38.html"), 0);
    assert_int_equal(silk_testserver_hits(srv, "/"), 1);

    const char *missing[] = { "/p/1000.html", "/p/05.html", "/p/.html", "/p/1.htm", "/nope",
                              "/p/99999999999999999999.html", "/p/-1.html" };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        get(h, srv, missing[i], &f);
        assert_int_equal(f.rc, CURLE_OK);
        assert_int_equal(f.status, 404);
        fetch_free(&f);
    }

    /* HEAD: the page's length, no body, and the connection still works. */
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    get(h, srv, "/p/5.html", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.body.len, 0);
    silk_buf_reset(&b);
    assert_int_equal(silk_testsite_render_page(opt, 5, &b), 0);
    snprintf(want, sizeof want, "Content-Length: %zu", b.len);
    assert_true(has_header(&f, want));
    fetch_free(&f);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    get(h, srv, "/p/5.html", &f);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.connects, 0);
    assert_int_equal(f.body.len, b.len);
    fetch_free(&f);

    assert_true(silk_testserver_requests(srv) >= 37);
    curl_easy_cleanup(h);
    silk_buf_free(&b);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

static void test_status_and_redirects(void **state)
{
    (void)state;
    silk_testserver *srv = start_thread(NULL);
    fetch f;
    get1(srv, "/status/404", &f);
    assert_int_equal(f.status, 404);
    assert_true(contains(f.body.data, f.body.len, "404 Not Found"));
    fetch_free(&f);
    get1(srv, "/status/503?retry_after=7", &f);
    assert_int_equal(f.status, 503);
    assert_true(has_header(&f, "Retry-After: 7"));
    fetch_free(&f);
    get1(srv, "/status/204", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.status, 204);
    assert_int_equal(f.body.len, 0);
    fetch_free(&f);
    get1(srv, "/status/302", &f);
    assert_int_equal(f.status, 302);
    assert_false(has_header(&f, "Location:"));
    fetch_free(&f);
    const char *bad[] = { "/status/99", "/status/600", "/status/abc", "/status/", "/status/2000" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get1(srv, bad[i], &f);
        assert_int_equal(f.status, 400);
        fetch_free(&f);
    }

    CURL *h = easy(srv);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    get(h, srv, "/redirect/3", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.redirects, 3);
    assert_true(strstr(f.url, "/redirect/0") != NULL);
    fetch_free(&f);
    get(h, srv, "/redirect/4?status=301&relative=1", &f);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.redirects, 4);
    assert_true(has_header(&f, "HTTP/1.1 301 Moved Permanently"));
    assert_true(has_header(&f, "Location: 2?status=301&relative=1"));
    fetch_free(&f);
    get(h, srv, "/redirect/2?absolute=1", &f);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.redirects, 2);
    fetch_free(&f);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    get(h, srv, "/redirect-loop", &f);
    assert_int_equal(f.rc, CURLE_TOO_MANY_REDIRECTS);
    fetch_free(&f);
    get(h, srv, "/redirect-to?url=%2Fp%2F1.html&status=307", &f);
    assert_int_equal(f.status, 200);
    assert_true(has_header(&f, "HTTP/1.1 307 Temporary Redirect"));
    assert_true(strstr(f.url, "/p/1.html") != NULL);
    fetch_free(&f);
    curl_easy_cleanup(h);

    get1(srv, "/redirect-to?url=/x%0d%0aSet-Cookie:%20a=b", &f);
    assert_int_equal(f.status, 400);
    assert_false(has_header(&f, "Set-Cookie"));
    fetch_free(&f);
    get1(srv, "/redirect-to?url=/p/2.html&status=200", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);
    get1(srv, "/redirect-to", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);
    get1(srv, "/redirect/1001", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);
    get1(srv, "/meta-refresh?url=/p/3.html&delay=1", &f);
    assert_int_equal(f.status, 200);
    assert_true(contains(f.body.data, f.body.len,
                         "<meta http-equiv=\"refresh\" content=\"1; url=/p/3.html\">"));
    fetch_free(&f);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

static void test_delay_and_drip(void **state)
{
    (void)state;
    silk_testserver_options o = { .max_delay = 1.5 };
    silk_testserver *srv = start_thread(&o);
    fetch f;
    get1(srv, "/delay/0.3", &f);
    assert_int_equal(f.status, 200);
    assert_true(f.seconds >= 0.28);
    assert_true(contains(f.body.data, f.body.len, "\"delayed\": true"));
    fetch_free(&f);
    get1(srv, "/delay/100", &f); /* capped at max_delay */
    assert_int_equal(f.status, 200);
    assert_true(f.seconds >= 1.4 && f.seconds < 10);
    fetch_free(&f);
    get1(srv, "/delay/-1", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);
    get1(srv, "/delay/nan", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);

    get1(srv, "/drip?bytes=50&duration=0.4", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.body.len, 50);
    assert_true(f.seconds >= 0.35);
    assert_true(has_header(&f, "Content-Length: 50"));
    fetch_free(&f);
    get1(srv, "/drip?bytes=100000&duration=0.3&delay=0.2&code=206", &f);
    assert_int_equal(f.status, 206);
    assert_int_equal(f.body.len, 100000);
    assert_true(f.seconds >= 0.45);
    fetch_free(&f);
    get1(srv, "/drip?bytes=0&duration=0.1", &f);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.body.len, 0);
    fetch_free(&f);

    /* The loop is never blocked: a page comes back while a delay waits. */
    CURLM *m = curl_multi_init();
    CURL *slow = easy(srv), *fast = easy(srv);
    fetch fs, ff;
    memset(&fs, 0, sizeof fs);
    memset(&ff, 0, sizeof ff);
    char u1[128], u2[128];
    snprintf(u1, sizeof u1, "%s/delay/1", silk_testserver_url(srv));
    snprintf(u2, sizeof u2, "%s/p/1.html", silk_testserver_url(srv));
    curl_easy_setopt(slow, CURLOPT_URL, u1);
    curl_easy_setopt(slow, CURLOPT_WRITEDATA, &fs.body);
    curl_easy_setopt(slow, CURLOPT_HEADERDATA, &fs.headers);
    curl_easy_setopt(fast, CURLOPT_URL, u2);
    curl_easy_setopt(fast, CURLOPT_WRITEDATA, &ff.body);
    curl_easy_setopt(fast, CURLOPT_HEADERDATA, &ff.headers);
    curl_multi_add_handle(m, slow);
    curl_multi_add_handle(m, fast);
    double t0 = now_s(), fast_done = -1, slow_done = -1;
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            assert_int_equal(msg->data.result, CURLE_OK);
            if (msg->easy_handle == fast)
                fast_done = now_s() - t0;
            else
                slow_done = now_s() - t0;
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    assert_true(fast_done >= 0 && fast_done < 0.8); /* the delay takes 1 s */
    assert_true(slow_done >= 0.95);
    curl_multi_remove_handle(m, slow);
    curl_multi_remove_handle(m, fast);
    curl_easy_cleanup(slow);
    curl_easy_cleanup(fast);
    curl_multi_cleanup(m);
    fetch_free(&fs);
    fetch_free(&ff);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

static void test_reset(void **state)
{
    (void)state;
    silk_testserver *srv = start_thread(NULL);
    fetch f;
    get1(srv, "/reset", &f);
    assert_int_equal(f.rc, CURLE_PARTIAL_FILE);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.body.len, 5000);
    assert_true(has_header(&f, "Content-Length: 10000"));
    fetch_free(&f);
    get1(srv, "/reset?bytes=1000000&rst=1", &f);
    assert_true(f.rc == CURLE_RECV_ERROR || f.rc == CURLE_PARTIAL_FILE);
    assert_true(f.body.len <= 500000);
    fetch_free(&f);
    get1(srv, "/p/1.html", &f);
    assert_int_equal(f.status, 200);
    fetch_free(&f);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

/* ---- compression ---- */

typedef struct inflater {
    z_stream z;
    uint64_t out;
    int nonzero, end, err;
} inflater;

static size_t on_inflate(char *p, size_t sz, size_t n, void *ud)
{
    inflater *in = ud;
    unsigned char buf[65536];
    in->z.next_in = (unsigned char *)p;
    in->z.avail_in = (uInt)(sz * n);
    while (in->z.avail_in && !in->end && !in->err) {
        in->z.next_out = buf;
        in->z.avail_out = sizeof buf;
        int rc = inflate(&in->z, Z_NO_FLUSH);
        size_t got = sizeof buf - in->z.avail_out;
        for (size_t i = 0; i < got; i++)
            in->nonzero |= buf[i];
        in->out += got;
        if (rc == Z_STREAM_END)
            in->end = 1;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            in->err = rc;
    }
    return sz * n;
}

static uint64_t inflate_url(silk_testserver *srv, const char *path, int window_bits, int *ok)
{
    inflater in;
    memset(&in, 0, sizeof in);
    assert_int_equal(inflateInit2(&in.z, window_bits), Z_OK);
    CURL *h = easy(srv);
    char url[256];
    snprintf(url, sizeof url, "%s%s", silk_testserver_url(srv), path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_inflate);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &in);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, NULL);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    inflateEnd(&in.z);
    *ok = rc == CURLE_OK && in.end && !in.err && !in.nonzero;
    return in.out;
}

static void test_compression(void **state)
{
    (void)state;
    silk_testserver *srv = start_thread(NULL);
    fetch f;
    CURL *h = easy(srv);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    get(h, srv, "/gzip", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_true(has_header(&f, "Content-Encoding: gzip"));
    assert_true(contains(f.body.data, f.body.len, "<p id=\"encoding\">gzip</p>"));
    assert_true(contains(f.body.data, f.body.len, "</html>"));
    fetch_free(&f);
    get(h, srv, "/deflate", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_true(has_header(&f, "Content-Encoding: deflate"));
    assert_true(contains(f.body.data, f.body.len, "<p id=\"encoding\">deflate</p>"));
    fetch_free(&f);
    curl_easy_cleanup(h);

    get1(srv, "/gzip", &f); /* no decoding asked: the raw gzip bytes */
    assert_true(f.body.len > 10 && (unsigned char)f.body.data[0] == 0x1f &&
                (unsigned char)f.body.data[1] == 0x8b);
    fetch_free(&f);
    int ok = 0;
    uint64_t n = inflate_url(srv, "/deflate?raw=1", -15, &ok);
    assert_true(n > 1000);
    (void)ok; /* raw deflate text is not all zeros */

    /* The bomb: small on the wire, exact when inflated. */
    n = inflate_url(srv, "/bomb?size=67108864", 16 + 15, &ok);
    assert_true(ok);
    assert_int_equal(n, 67108864);
    n = inflate_url(srv, "/bomb?size=5000000&encoding=deflate", 15, &ok);
    assert_true(ok);
    assert_int_equal(n, 5 * 1048576); /* whole MiB blocks */
    h = easy(srv);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    get(h, srv, "/bomb", &f);
    assert_int_equal(f.status, 200);
    assert_true(has_header(&f, "Content-Encoding: gzip"));
    curl_off_t cl = -1;
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    assert_true(cl > 100000 && cl < 3 * 1048576); /* 2 GiB of zeros in ~2 MB */
    fetch_free(&f);
    curl_easy_cleanup(h);
    get1(srv, "/bomb?size=0", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);

    /* Sitemaps, plain and gzipped. */
    get1(srv, "/sitemap.xml", &f);
    assert_int_equal(f.status, 200);
    assert_int_equal(count_of(f.body.data, f.body.len, "<loc>"), 1000);
    char want[128];
    snprintf(want, sizeof want, "<loc>%s/p/999.html</loc>", silk_testserver_url(srv));
    assert_true(contains(f.body.data, f.body.len, want));
    fetch plain = f;
    h = easy(srv);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
    get(h, srv, "/sitemap.xml.gz", &f);
    curl_easy_cleanup(h);
    assert_true(has_header(&f, "Content-Type: application/x-gzip"));
    uLongf outlen = (uLongf)plain.body.len + 16;
    unsigned char *out = malloc(outlen);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
    z.next_in = (unsigned char *)f.body.data;
    z.avail_in = (uInt)f.body.len;
    z.next_out = out;
    z.avail_out = (uInt)outlen;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, plain.body.len);
    assert_memory_equal(out, plain.body.data, plain.body.len);
    inflateEnd(&z);
    free(out);
    fetch_free(&f);
    fetch_free(&plain);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

/* ---- charsets ---- */

static void test_charsets(void **state)
{
    (void)state;
    silk_testserver *srv = start_thread(NULL);
    static const struct {
        const char *name, *iconv_name, *label;
    } cases[] = {
        { "utf-8", "UTF-8", "utf-8" },          { "latin-1", "ISO-8859-1", "iso-8859-1" },
        { "cp1252", "CP1252", "windows-1252" }, { "shift_jis", "SHIFT_JIS", "shift_jis" },
        { "gb18030", "GB18030", "gb18030" },    { "utf-16", "UTF-16", "utf-16" },
        { "utf-16be", "UTF-16", "utf-16" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *decls[] = { "header", "meta", "http-equiv", "none" };
        for (size_t d = 0; d < 4; d++) {
            char path[128], want[128];
            snprintf(path, sizeof path, "/charset/%s?decl=%s", cases[i].name, decls[d]);
            fetch f;
            get1(srv, path, &f);
            assert_int_equal(f.status, 200);
            snprintf(want, sizeof want, "Content-Type: text/html; charset=%s\r\n", cases[i].label);
            assert_int_equal(has_header(&f, want), d == 0);
            if (d == 0)
                assert_true(has_header(&f, "Content-Type: text/html"));
            /* Decode the whole body and compare the marked text. */
            iconv_t cd = iconv_open("UTF-8", cases[i].iconv_name);
            assert_true(cd != (iconv_t)-1);
            size_t inleft = f.body.len, outcap = f.body.len * 4 + 16, outleft = outcap;
            char *utf8 = malloc(outcap), *inp = f.body.data, *outp = utf8;
            assert_int_not_equal(iconv(cd, &inp, &inleft, &outp, &outleft), (size_t)-1);
            iconv_close(cd);
            size_t ulen = outcap - outleft;
            const char *text = silk_testserver_charset_text(cases[i].name);
            assert_non_null(text);
            char marked[512];
            snprintf(marked, sizeof marked, "<p id=\"text\">%s</p>", text);
            assert_true(contains(utf8, ulen, marked));
            if (d == 1) {
                snprintf(want, sizeof want, "<meta charset=\"%s\">", cases[i].label);
                assert_true(contains(utf8, ulen, want));
            }
            if (d == 2)
                assert_true(contains(utf8, ulen, "http-equiv=\"Content-Type\""));
            free(utf8);
            if (strncmp(cases[i].name, "utf-16", 6) == 0) {
                unsigned char b0 = (unsigned char)f.body.data[0], b1 = (unsigned char)f.body.data[1];
                assert_true(cases[i].name[6] ? (b0 == 0xfe && b1 == 0xff)
                                             : (b0 == 0xff && b1 == 0xfe));
            }
            fetch_free(&f);
        }
    }
    /* The cp1252 text differs from a latin-1 decoding: the trap it tests. */
    assert_true(strstr(silk_testserver_charset_text("cp1252"), "€") != NULL);
    assert_string_equal(silk_testserver_charset_text("SJIS"),
                        silk_testserver_charset_text("shift_jis"));
    assert_null(silk_testserver_charset_text("ebcdic"));
    fetch f;
    get1(srv, "/charset/utf-8?decl=bom", &f);
    assert_true(f.body.len > 3 && memcmp(f.body.data, "\xef\xbb\xbf", 3) == 0);
    assert_true(has_header(&f, "Content-Type: text/html\r\n"));
    fetch_free(&f);
    get1(srv, "/charset/cp1252?label=iso-8859-1", &f);
    assert_true(has_header(&f, "Content-Type: text/html; charset=iso-8859-1\r\n"));
    fetch_free(&f);
    get1(srv, "/charset/cp1252?label=x%0d%0ay", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);
    get1(srv, "/charset/shift_jis?decl=bom", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);
    get1(srv, "/charset/ebcdic", &f);
    assert_int_equal(f.status, 404);
    fetch_free(&f);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

/* ---- echo endpoints ---- */

static void test_echo(void **state)
{
    (void)state;
    silk_testserver_options o = { .pages = 2500 };
    silk_testserver *srv = start_thread(&o);
    fetch f;
    CURL *h = easy(srv);
    struct curl_slist *hl = curl_slist_append(NULL, "X-Silk: yes");
    hl = curl_slist_append(hl, "X-Dup: a");
    hl = curl_slist_append(hl, "X-Dup: b");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "silk-test/1");
    get(h, srv, "/headers", &f);
    assert_int_equal(f.status, 200);
    assert_true(has_header(&f, "Content-Type: application/json"));
    silk_value *v = json_of(&f);
    silk_value *hd = silk_dict_get(v, "headers");
    assert_string_equal(silk_dict_get_str(hd, "X-Silk", ""), "yes");
    assert_string_equal(silk_dict_get_str(hd, "X-Dup", ""), "a, b");
    assert_string_equal(silk_dict_get_str(hd, "User-Agent", ""), "silk-test/1");
    silk_value_free(v);
    fetch_free(&f);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);

    /* Cookies through curl's cookie engine. */
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    get(h, srv, "/cookies/set?a=1&b=two%20words", &f);
    assert_true(has_header(&f, "Set-Cookie: a=1; Path=/"));
    assert_true(has_header(&f, "Set-Cookie: b=two words; Path=/"));
    fetch_free(&f);
    get(h, srv, "/cookies", &f);
    v = json_of(&f);
    silk_value *jar = silk_dict_get(v, "cookies");
    assert_string_equal(silk_dict_get_str(jar, "a", ""), "1");
    assert_string_equal(silk_dict_get_str(jar, "b", ""), "two words");
    silk_value_free(v);
    fetch_free(&f);
    get(h, srv, "/cookies/delete?a", &f);
    assert_true(has_header(&f, "Set-Cookie: a=; Expires=Thu, 01 Jan 1970"));
    fetch_free(&f);
    get(h, srv, "/cookies", &f);
    v = json_of(&f);
    jar = silk_dict_get(v, "cookies");
    assert_null(silk_dict_get(jar, "a"));
    assert_non_null(silk_dict_get(jar, "b"));
    silk_value_free(v);
    fetch_free(&f);
    get(h, srv, "/cookies/set?a%3Bb=1", &f);
    assert_int_equal(f.status, 400);
    fetch_free(&f);

    /* POST, form and binary bodies, other methods. */
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "x=1&y=%C3%A9+z");
    get(h, srv, "/post?q=7", &f);
    v = json_of(&f);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "POST");
    assert_string_equal(silk_dict_get_str(v, "content_type", ""),
                        "application/x-www-form-urlencoded");
    assert_string_equal(silk_dict_get_str(v, "body", ""), "x=1&y=%C3%A9+z");
    assert_string_equal(silk_dict_get_str(silk_dict_get(v, "form"), "y", ""), "é z");
    assert_string_equal(silk_dict_get_str(silk_dict_get(v, "args"), "q", ""), "7");
    silk_value_free(v);
    fetch_free(&f);
    static const char bin[] = { 'a', '\xff', '\0', 'b' };
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, bin);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 4L);
    get(h, srv, "/post", &f);
    v = json_of(&f);
    assert_string_equal(silk_dict_get_str(v, "body_base64", ""), "Yf8AYg==");
    assert_int_equal(silk_dict_get_int(v, "length", 0), 4);
    silk_value_free(v);
    fetch_free(&f);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"k\": 1}");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, -1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    get(h, srv, "/post", &f);
    v = json_of(&f);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "PUT");
    assert_string_equal(silk_dict_get_str(v, "body", ""), "{\"k\": 1}");
    silk_value_free(v);
    fetch_free(&f);
    curl_easy_cleanup(h);

    /* Basic auth. */
    h = easy(srv);
    curl_easy_setopt(h, CURLOPT_USERPWD, "user:pa ss");
    get(h, srv, "/basic-auth/user/pa%20ss", &f);
    assert_int_equal(f.status, 200);
    v = json_of(&f);
    assert_true(silk_dict_get_bool(v, "authenticated", false));
    silk_value_free(v);
    fetch_free(&f);
    curl_easy_setopt(h, CURLOPT_USERPWD, "user:wrong");
    get(h, srv, "/basic-auth/user/pa%20ss", &f);
    assert_int_equal(f.status, 401);
    assert_true(has_header(&f, "WWW-Authenticate: Basic realm=\"silk\""));
    fetch_free(&f);
    curl_easy_cleanup(h);
    get1(srv, "/basic-auth/user", &f);
    assert_int_equal(f.status, 404);
    fetch_free(&f);

    /* robots.txt, sitemaps of a 2500-page site. */
    get1(srv, "/robots.txt", &f);
    assert_int_equal(f.status, 200);
    char want[160];
    snprintf(want, sizeof want, "User-agent: *\nAllow: /\n\nSitemap: %s/sitemap_index.xml\n",
             silk_testserver_url(srv));
    assert_int_equal(f.body.len, strlen(want));
    assert_memory_equal(f.body.data, want, f.body.len);
    fetch_free(&f);
    assert_int_equal(silk_testserver_hits(srv, "/robots.txt"), 1);
    get1(srv, "/sitemap_index.xml", &f);
    assert_int_equal(count_of(f.body.data, f.body.len, "<sitemap><loc>"), 3);
    snprintf(want, sizeof want, "<loc>%s/sitemap/2.xml</loc>", silk_testserver_url(srv));
    assert_true(contains(f.body.data, f.body.len, want));
    fetch_free(&f);
    get1(srv, "/sitemap/2.xml", &f);
    assert_int_equal(count_of(f.body.data, f.body.len, "<loc>"), 500);
    fetch_free(&f);
    get1(srv, "/sitemap/3.xml", &f);
    assert_int_equal(f.status, 404);
    fetch_free(&f);

    /* Bodies: large, chunked, binary, xml. */
    get1(srv, "/large?bytes=1000000", &f);
    assert_int_equal(f.body.len, 1000000);
    for (size_t i = 0; i < f.body.len; i += 997)
        assert_int_equal(f.body.data[i],
                         "silk test server, large body: 0123456789 abcdefghijklmnopqrstuv\n"[i % 64]);
    fetch_free(&f);
    get1(srv, "/large?bytes=100&chunked=1", &f);
    assert_int_equal(f.body.len, 100);
    assert_true(has_header(&f, "Transfer-Encoding: chunked"));
    fetch_free(&f);
    get1(srv, "/binary", &f);
    assert_int_equal(f.body.len, 1024);
    assert_true(has_header(&f, "Content-Type: application/octet-stream"));
    for (size_t i = 0; i < f.body.len; i++)
        assert_int_equal((unsigned char)f.body.data[i], i % 256);
    fetch_free(&f);
    get1(srv, "/xml", &f);
    assert_true(has_header(&f, "Content-Type: application/xml"));
    silk_testsite_page p;
    assert_int_equal(silk_testsite_page_info(silk_testserver_options_get(srv), 9, &p), 0);
    snprintf(want, sizeof want, "<title>%s</title>", p.title);
    assert_true(contains(f.body.data, f.body.len, want));
    assert_int_equal(count_of(f.body.data, f.body.len, "<product "), 10);
    fetch_free(&f);
    silk_testserver_free(srv);

    /* A configured robots.txt, and one that is missing. */
    silk_testserver_options r = { .robots_txt = "User-agent: *\nDisallow: /p/\n" };
    srv = start_thread(&r);
    get1(srv, "/robots.txt", &f);
    assert_string_equal(f.body.data, "User-agent: *\nDisallow: /p/\n");
    fetch_free(&f);
    silk_testserver_free(srv);
    silk_testserver_options r404 = { .robots_status = 404 };
    srv = start_thread(&r404);
    get1(srv, "/robots.txt", &f);
    assert_int_equal(f.status, 404);
    fetch_free(&f);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

/* ---- HTTPS ---- */

static void test_https(void **state)
{
    (void)state;
    silk_testserver_options o = { .https = 1, .pages = 50 };
    silk_testserver *srv = start_thread(&o);
    assert_true(strncmp(silk_testserver_url(srv), "https://127.0.0.1:", 18) == 0);
    assert_non_null(silk_testserver_cert_pem(srv));
    assert_true(strstr(silk_testserver_cert_pem(srv), "BEGIN CERTIFICATE") != NULL);
    CURL *h = easy(srv);
    fetch f;
    silk_buf b = SILK_BUF_INIT;
    for (uint32_t id = 0; id < 50; id += 7) {
        char path[32];
        snprintf(path, sizeof path, "/p/%u.html", id);
        get(h, srv, path, &f);
        if (f.rc != CURLE_OK)
            fprintf(stderr, "https: %s\n", curl_easy_strerror(f.rc));
        assert_int_equal(f.rc, CURLE_OK);
        assert_int_equal(f.status, 200);
        silk_buf_reset(&b);
        assert_int_equal(silk_testsite_render_page(silk_testserver_options_get(srv), id, &b), 0);
        assert_int_equal(f.body.len, b.len);
        assert_memory_equal(f.body.data, b.data, b.len);
        fetch_free(&f);
    }
    get(h, srv, "/large?bytes=3000000", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.body.len, 3000000);
    fetch_free(&f);
    curl_easy_cleanup(h);
    get1(srv, "/reset", &f);
    assert_true(f.rc != CURLE_OK);
    fetch_free(&f);

    /* Without trusting the certificate, verification fails. */
    h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/", silk_testserver_url(srv));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(h), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(h);
    /* Plain HTTP on the TLS port: an error for the client, nothing for us. */
    h = curl_easy_init();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", silk_testserver_port(srv));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    assert_int_not_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    get1(srv, "/p/1.html", &f);
    assert_int_equal(f.status, 200);
    fetch_free(&f);
    silk_buf_free(&b);
    silk_testserver_free(srv);
    SILK_ASSERT_CLEAN();
}

/* ---- one loop for server and client ---- */

typedef struct loop_check {
    struct event_base *base;
    int status;
    silk_buf body;
    int done;
} loop_check;

static void on_client_response(struct evhttp_request *req, void *arg)
{
    loop_check *lc = arg;
    lc->status = req ? evhttp_request_get_response_code(req) : -1;
    if (req) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        silk_buf_append(&lc->body, evbuffer_pullup(in, -1), n);
    }
    lc->done++;
    event_base_loopbreak(lc->base);
}

static void client_get(struct event_base *base, struct evhttp_connection *conn, const char *path,
                       loop_check *lc)
{
    lc->base = base;
    lc->done = 0;
    silk_buf_reset(&lc->body);
    struct evhttp_request *req = evhttp_request_new(on_client_response, lc);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_GET, path), 0);
    event_base_dispatch(base);
    assert_int_equal(lc->done, 1);
}

static void test_same_loop(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    silk_testserver *srv = NULL;
    silk_testserver_options o = { .pages = 20, .links_per_page = 3 };
    assert_int_equal(silk_testserver_start(base, &o, &srv), 0);
    struct evhttp_connection *conn =
        evhttp_connection_base_new(base, NULL, "127.0.0.1", (ev_uint16_t)silk_testserver_port(srv));
    loop_check lc = { .body = SILK_BUF_INIT };
    client_get(base, conn, "/p/2.html", &lc);
    assert_int_equal(lc.status, 200);
    silk_buf b = SILK_BUF_INIT;
    assert_int_equal(silk_testsite_render_page(&o, 2, &b), 0);
    assert_int_equal(lc.body.len, b.len);
    assert_memory_equal(lc.body.data, b.data, b.len);
    assert_int_equal(count_of(b.data, b.len, "<li><a href="), 3);
    double t0 = now_s();
    client_get(base, conn, "/delay/0.2", &lc);
    assert_int_equal(lc.status, 200);
    assert_true(now_s() - t0 >= 0.19);
    client_get(base, conn, "/drip?bytes=30&duration=0.1", &lc);
    assert_int_equal(lc.status, 200);
    assert_int_equal(lc.body.len, 30);
    client_get(base, conn, "/p/20.html", &lc);
    assert_int_equal(lc.status, 404);
    evhttp_connection_free(conn);
    silk_buf_free(&b);
    silk_buf_free(&lc.body);
    silk_testserver_free(srv);
    event_base_free(base);
    SILK_ASSERT_CLEAN();
}

/* ---- hostile clients ---- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close first: that is fine */
        c += w;
        n -= (size_t)w;
    }
}

/* Reads until EOF, timeout or max bytes. */
static size_t raw_read(int fd, char *buf, size_t max)
{
    size_t got = 0;
    while (got < max) {
        ssize_t r = recv(fd, buf + got, max - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < max)
        buf[got] = '\0';
    return got;
}

static void expect_alive(silk_testserver *srv)
{
    fetch f;
    get1(srv, "/p/0.html", &f);
    assert_int_equal(f.rc, CURLE_OK);
    assert_int_equal(f.status, 200);
    fetch_free(&f);
}

static void test_hostile(void **state)
{
    (void)state;
    silk_testserver *srv = start_thread(NULL);
    int port = silk_testserver_port(srv);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);

    /* Garbage, a header too large, a body too large, half a request. */
    int fd = raw_connect(port);
    raw_send(fd, "\x00\xff\xfe garbage\r\n\r\n", 16);
    raw_read(fd, buf, 4096);
    close(fd);
    fd = raw_connect(port);
    raw_send(fd, "GET / HTTP/1.1\r\nX-Big: ", 23);
    memset(buf, 'a', 200000);
    raw_send(fd, buf, 200000);
    raw_read(fd, buf, 4096);
    close(fd);
    fd = raw_connect(port);
    const char *big = "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n";
    raw_send(fd, big, strlen(big));
    size_t n = raw_read(fd, buf, 4096);
    assert_true(n > 12 && strncmp(buf, "HTTP/1.1 413", 12) == 0);
    close(fd);
    fd = raw_connect(port);
    raw_send(fd, "GET /p/1.ht", 11);
    close(fd);
    expect_alive(srv);

    /* Pipelined requests are answered in order; HTTP/1.0 closes. */
    fd = raw_connect(port);
    const char *two = "GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /status/202 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, two, strlen(two));
    n = raw_read(fd, buf, 8192);
    assert_true(contains(buf, n, "HTTP/1.1 201 Created"));
    assert_true(contains(buf, n, "HTTP/1.1 202 Accepted"));
    assert_true(strstr(buf, "201") < strstr(buf, "HTTP/1.1 202"));
    close(fd);
    fd = raw_connect(port);
    raw_send(fd, "GET /status/200 HTTP/1.0\r\n\r\n", 28);
    n = raw_read(fd, buf, 8192);
    assert_true(contains(buf, n, "HTTP/1.0 200 OK"));
    close(fd);
    /* HEAD on a streamed endpoint: headers only, keep-alive intact. */
    fd = raw_connect(port);
    const char *head = "HEAD /large?bytes=5000000 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /status/201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, head, strlen(head));
    n = raw_read(fd, buf, 8192);
    assert_true(contains(buf, n, "Content-Length: 5000000"));
    assert_true(contains(buf, n, "HTTP/1.1 201 Created"));
    assert_true(n < 4000);
    close(fd);

    /* Clients that leave mid-response: delay, drip, large, bomb, reset. */
    const char *leave[] = { "/delay/0.3", "/drip?bytes=1000&duration=1", "/large?bytes=100000000",
                            "/bomb", "/reset?bytes=100000000", "/binary?bytes=50000000" };
    for (size_t i = 0; i < sizeof leave / sizeof leave[0]; i++) {
        fd = raw_connect(port);
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", leave[i]);
        raw_send(fd, req, strlen(req));
        recv(fd, buf, 1000, 0);
        close(fd);
    }
    usleep(500 * 1000); /* let the delay fire into a closed socket */
    expect_alive(srv);

    /* Odd but well-formed requests. */
    const char *odd[] = {
        "/status/%00",
        "/charset/%ff%fe",
        "/cookies/set?%ff=1",
        "/cookies/set?=1",
        "/cookies/delete",
        "/redirect-to?url=",
        "/basic-auth//",
        "/basic-auth/%ff/%00",
        "/drip?bytes=99999999999999999999",
        "/drip?duration=1e999",
        "/large?bytes=-5",
        "/sitemap/99999999999.xml",
        "/sitemap/.xml",
        "/meta-refresh?url=%22%3E%3Cscript%3E",
        "/post?%=%&&&=",
        "/headers?a=%",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        fetch f;
        get1(srv, odd[i], &f);
        if (f.rc != CURLE_OK || f.status >= 500)
            fprintf(stderr, "%s: %d %ld\n", odd[i], (int)f.rc, f.status);
        assert_int_equal(f.rc, CURLE_OK);
        assert_true(f.status >= 200 && f.status < 500);
        fetch_free(&f);
    }
    fd = raw_connect(port);
    const char *weird = "GET /headers HTTP/1.1\r\nHost: x\r\nX-Bin: \x80\xff\xfe\r\n"
                        "Connection: close\r\n\r\n";
    raw_send(fd, weird, strlen(weird));
    n = raw_read(fd, buf, 8192);
    assert_true(contains(buf, n, "HTTP/1.1 200 OK"));
    assert_true(contains(buf, n, "\xef\xbf\xbd"));
    close(fd);

    /* Random bytes and mutated requests. */
    srand(12345);
    const char *seed_req = "GET /p/1.html?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=1\r\n\r\n";
    for (int iter = 0; iter < 300; iter++) {
        char req[512];
        size_t len = strlen(seed_req);
        memcpy(req, seed_req, len);
        if (iter % 3 == 0) {
            len = (size_t)(rand() % 300);
            for (size_t i = 0; i < len; i++)
                req[i] = (char)rand();
        } else {
            int muts = 1 + rand() % 8;
            for (int m = 0; m < muts; m++)
                req[rand() % len] = (char)(iter % 2 ? rand() : " \r\n:%?/\0"[rand() % 8]);
        }
        fd = raw_connect(port);
        struct timeval tv = { 0, 200000 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        raw_send(fd, req, len);
        shutdown(fd, SHUT_WR);
        raw_read(fd, buf, 65536);
        close(fd);
    }
    expect_alive(srv);

    /* Freed while responses are still pending: a delay with its client
     * waiting, a drip whose client has gone. */
    int waiting = raw_connect(port);
    raw_send(waiting, "GET /delay/30 HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    int gone = raw_connect(port);
    raw_send(gone, "GET /drip?bytes=100&duration=20 HTTP/1.1\r\nHost: x\r\n\r\n", 53);
    recv(gone, buf, 100, 0);
    close(gone);
    int streaming = raw_connect(port);
    raw_send(streaming, "GET /large?bytes=1000000000 HTTP/1.1\r\nHost: x\r\n\r\n", 50);
    recv(streaming, buf, 100, 0);
    usleep(300 * 1000);
    silk_testserver_free(srv);
    close(waiting);
    close(streaming);
    free(buf);
    SILK_ASSERT_CLEAN();
}

static void test_bad_options(void **state)
{
    (void)state;
    silk_testserver *srv = (silk_testserver *)1;
    silk_testserver_options o = { .max_delay = -1 };
    assert_int_equal(silk_testserver_start_thread(&o, &srv), SILK_EINVAL);
    assert_null(srv);
    silk_testserver_options p = { .port = 70000 };
    assert_int_equal(silk_testserver_start_thread(&p, &srv), SILK_EINVAL);
    silk_testserver_options q = { .links_per_page = 5000 };
    assert_int_equal(silk_testserver_start_thread(&q, &srv), SILK_ERANGE);
    assert_int_equal(silk_testserver_start(NULL, NULL, &srv), SILK_EINVAL);
    /* A port in use. */
    silk_testserver *a = start_thread(NULL);
    silk_testserver_options same = { .port = silk_testserver_port(a) };
    assert_int_equal(silk_testserver_start_thread(&same, &srv), SILK_EIO);
    assert_true(strstr(silk_last_error(), "cannot listen") != NULL);
    silk_testserver_free(a);
    silk_testserver_free(NULL);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_site_pages),
        cmocka_unit_test(test_site_depths_and_scale),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_fetch_site),
        cmocka_unit_test(test_status_and_redirects),
        cmocka_unit_test(test_delay_and_drip),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_compression),
        cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_same_loop),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_bad_options),
    };
    int rc = cmocka_run_group_tests_name("testserver", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
