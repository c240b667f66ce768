/* The downloader against the embedded test server, over real sockets, with
 * server and downloader on one event_base: responses and their types,
 * connection reuse, concurrency caps and delays actually held, every kind
 * of failure typed, the size limit applied to decoded bodies, HTTPS, and the
 * downloader/... stats (DownloaderStats). No other middleware here:
 * test_middlewares.c has them. */
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>

#include "dl_harness.h"

/* LeakSanitizer: libevent 2.1 keeps the wrapper of a lookup discarded by
 * evdns_base_free (see silk_downloader_free); test_per_ip_cap frees the
 * downloader mid-lookup on purpose. Only that allocation is excused. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:evdns_getaddrinfo\n"; }

/* ---- a plain fetch ---- */

static void test_plain_fetch(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_outcome *o = dl_fetch(&h, "/p/3.html");
    dl_outcome *idx = dl_fetch(&h, "/");
    dl_run(&h, 10);
    dl_print_failure(o);
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    silk_response *r = o->resp;
    assert_ptr_equal(r->obj.type, &silk_type_html_response);
    assert_int_equal(r->status, 200);
    assert_ptr_equal(r->request, o->req);
    assert_string_equal(r->url, o->req->url);
    const char *ct = silk_headers_get(&r->headers, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "text/html"));
    assert_string_equal(silk_headers_get(&r->headers, "Server"), "silk-testserver");
    /* the body is the page the generator renders */
    silk_buf want = SILK_BUF_INIT;
    assert_int_equal(silk_testsite_render_page(silk_testserver_options_get(h.srv), 3, &want), 0);
    assert_int_equal(r->body_len, want.len);
    assert_memory_equal(r->body, want.data, want.len);
    silk_buf_free(&want);
    silk_testsite_page page;
    assert_int_equal(silk_testsite_page_info(silk_testserver_options_get(h.srv), 3, &page), 0);
    assert_non_null(strstr(r->body, page.title));
    assert_string_equal(r->ip_address, "127.0.0.1");
    assert_string_equal(r->protocol, "HTTP/1.1");
    double lat = silk_dict_get_double(silk_response_meta(r), "download_latency", -1);
    assert_true(lat > 0 && lat < 5);
    assert_int_equal(idx->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(idx->resp->status, 200);
    assert_int_equal(silk_downloader_active(h.d), 0);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* POST and HEAD, other statuses, other types. */
static void test_methods_and_types(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    char url[256];
    snprintf(url, sizeof url, "%s/post?x=1", silk_testserver_url(h.srv));
    silk_request *post = NULL;
    assert_int_equal(silk_request_new_full(url, "POST", "a=1&b=2", 7, &post), 0);
    assert_int_equal(silk_headers_set(&post->headers, "Content-Type", "application/x-www-form-urlencoded"), 0);
    dl_outcome *p = dl_fetch_req(&h, post);
    snprintf(url, sizeof url, "%s/p/1.html", silk_testserver_url(h.srv));
    silk_request *head = NULL;
    assert_int_equal(silk_request_new_full(url, "HEAD", NULL, 0, &head), 0);
    dl_outcome *hd = dl_fetch_req(&h, head);
    snprintf(url, sizeof url, "%s/post", silk_testserver_url(h.srv));
    silk_request *put = NULL;
    assert_int_equal(silk_request_new_full(url, "PUT", "{\"k\": 1}", 8, &put), 0);
    dl_outcome *pu = dl_fetch_req(&h, put);
    dl_outcome *s404 = dl_fetch(&h, "/status/404");
    dl_outcome *s503 = dl_fetch(&h, "/status/503");
    dl_outcome *xml = dl_fetch(&h, "/sitemap.xml");
    dl_outcome *bin = dl_fetch(&h, "/binary?bytes=300");
    dl_outcome *txt = dl_fetch(&h, "/large?bytes=1000");
    dl_run(&h, 10);

    assert_int_equal(p->kind, SILK_FETCH_RESPONSE);
    assert_non_null(strstr(dl_body(p), "\"method\": \"POST\""));
    assert_non_null(strstr(dl_body(p), "\"body\": \"a=1&b=2\""));
    assert_ptr_equal(p->resp->obj.type, &silk_type_text_response); /* application/json */
    assert_int_equal(hd->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(hd->resp->status, 200);
    assert_int_equal(hd->resp->body_len, 0);
    assert_non_null(strstr(dl_body(pu), "\"method\": \"PUT\""));
    assert_int_equal(s404->resp->status, 404);
    assert_int_equal(s503->resp->status, 503);
    assert_ptr_equal(xml->resp->obj.type, &silk_type_xml_response);
    assert_ptr_equal(bin->resp->obj.type, &silk_type_response);
    assert_int_equal(bin->resp->body_len, 300);
    assert_ptr_equal(txt->resp->obj.type, &silk_type_text_response);
    assert_int_equal(txt->resp->body_len, 1000);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- keep-alive ---- */

static void test_connection_reuse(void **state)
{
    (void)state;
    const char *set[] = { "CONCURRENT_REQUESTS_PER_DOMAIN=1", NULL };
    dl_h h;
    dl_setup(&h, set);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10; i++) {
            char path[32];
            snprintf(path, sizeof path, "/p/%d.html", i);
            dl_fetch(&h, path);
        }
        dl_run(&h, 10);
    }
    for (size_t i = 0; i < h.nout; i++)
        assert_int_equal(h.out[i].kind, SILK_FETCH_RESPONSE);
    /* 30 requests, one after another, one connection */
    assert_int_equal(silk_downloader_connections_opened(h.d), 1);
    assert_int_equal(silk_testserver_requests(h.srv), 30);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- concurrency ---- */

static void test_per_domain_cap(void **state)
{
    (void)state;
    const char *set[] = { "CONCURRENT_REQUESTS_PER_DOMAIN=3", "CONCURRENT_REQUESTS=16", NULL };
    dl_h h;
    dl_setup(&h, set);
    char other[128];
    /* "localhost" is another domain: its own slot on the same server */
    snprintf(other, sizeof other, "http://localhost:%d/delay/0.2", silk_testserver_port(h.srv));
    for (int i = 0; i < 12; i++) {
        dl_fetch(&h, "/delay/0.2");
        dl_fetch_req(&h, dl_req(other));
    }
    assert_int_equal(silk_downloader_active(h.d), 24);
    dl_run(&h, 20);
    for (size_t i = 0; i < h.nout; i++) {
        dl_print_failure(&h.out[i]);
        assert_int_equal(h.out[i].kind, SILK_FETCH_RESPONSE);
    }
    assert_int_equal(silk_downloader_slot_peak(h.d, "127.0.0.1"), 3);
    assert_int_equal(silk_downloader_slot_peak(h.d, "localhost"), 3);
    assert_true(h.max_transferring <= 6);
    assert_int_equal(h.max_transferring, 6);
    /* 12 requests of 0.2 s, 3 at a time: about 0.8 s, never 0.2 s */
    double last = 0;
    for (size_t i = 0; i < h.nout; i++)
        last = h.out[i].done_at > last ? h.out[i].done_at : last;
    assert_true(last >= 0.75);
    silk_slot_info info[8];
    assert_int_equal(silk_downloader_slots(h.d, info, 8), 2);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* CONCURRENT_REQUESTS_PER_IP: two names of one address share one slot,
 * keyed by the address (the host's IPv4 address, as Scrapy's dnscache). */
static void test_per_ip_cap(void **state)
{
    (void)state;
    const char *set[] = { "CONCURRENT_REQUESTS_PER_IP=2", "CONCURRENT_REQUESTS=16", NULL };
    dl_h h;
    dl_setup(&h, set);
    char other[128];
    snprintf(other, sizeof other, "http://localhost:%d/delay/0.2", silk_testserver_port(h.srv));
    for (int i = 0; i < 4; i++) {
        dl_fetch(&h, "/delay/0.2");
        dl_fetch_req(&h, dl_req(other));
    }
    dl_run(&h, 20);
    for (size_t i = 0; i < h.nout; i++) {
        dl_print_failure(&h.out[i]);
        assert_int_equal(h.out[i].kind, SILK_FETCH_RESPONSE);
    }
    assert_int_equal(silk_downloader_slot_peak(h.d, "127.0.0.1"), 2);
    assert_int_equal(silk_downloader_slot_peak(h.d, "localhost"), 0);
    assert_int_equal(h.max_transferring, 2);
    /* the slot key as robots.txt's Crawl-delay sees it */
    char *key = NULL;
    assert_int_equal(silk_downloader_slot_key_of(h.d, h.out[1].req, &key), 0);
    assert_string_equal(key, "127.0.0.1");
    silk_free(key);
    /* freed while a name is being resolved: the lookup is cancelled */
    dl_fetch_req(&h, dl_req("http://fresh-name.invalid/"));
    silk_downloader_free(h.d);
    h.d = NULL;
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* The engine's side of the global cap: it feeds the downloader only while
 * needs_backout() is false. */
typedef struct feeder {
    int left;
    int i;
} feeder;

static void feed(dl_h *h)
{
    feeder *f = h->user;
    while (f->left > 0 && !silk_downloader_needs_backout(h->d)) {
        char url[128];
        /* three domains, so that the per-domain limit is not what holds */
        snprintf(url, sizeof url, "%s/delay/0.1", silk_testserver_url(h->srv));
        silk_request *r = dl_req(url);
        char slot[16];
        snprintf(slot, sizeof slot, "slot%d", f->i % 3);
        silk_dict_set_str(silk_request_meta(r), "download_slot", slot);
        f->i++;
        f->left--;
        dl_fetch_req(h, r);
    }
}

static void feed_on_done(dl_h *h, dl_outcome *o)
{
    (void)o;
    feed(h);
}

static void test_global_cap(void **state)
{
    (void)state;
    const char *set[] = { "CONCURRENT_REQUESTS=4", "CONCURRENT_REQUESTS_PER_DOMAIN=8", NULL };
    dl_h h;
    dl_setup(&h, set);
    feeder f = { 20, 0 };
    h.user = &f;
    h.on_done = feed_on_done;
    feed(&h);
    assert_int_equal(silk_downloader_active(h.d), 4);
    assert_true(silk_downloader_needs_backout(h.d));
    dl_run(&h, 20);
    assert_int_equal(f.left, 0);
    assert_int_equal(h.nout, 20);
    for (size_t i = 0; i < h.nout; i++) {
        dl_print_failure(&h.out[i]);
        assert_int_equal(h.out[i].kind, SILK_FETCH_RESPONSE);
    }
    assert_int_equal(h.max_transferring, 4);
    assert_true(silk_downloader_slot_peak(h.d, "slot0") <= 2);
    assert_false(silk_downloader_needs_backout(h.d));
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- delays ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_download_delay(void **state)
{
    (void)state;
    const char *set[] = { "DOWNLOAD_DELAY=0.25", "RANDOMIZE_DOWNLOAD_DELAY=false", NULL };
    dl_h h;
    dl_setup(&h, set);
    for (int i = 0; i < 5; i++)
        dl_fetch(&h, "/p/1.html");
    /* another domain is not held back by this one's delay */
    char other[128];
    snprintf(other, sizeof other, "http://localhost:%d/p/2.html", silk_testserver_port(h.srv));
    dl_outcome *o = dl_fetch_req(&h, dl_req(other));
    dl_run(&h, 10);
    assert_true(o->done_at < 0.2);
    double t[5];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(h.out[i].kind, SILK_FETCH_RESPONSE);
        t[i] = dl_started(&h.out[i]);
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    for (int i = 1; i < 5; i++)
        assert_true(t[i] - t[i - 1] >= 0.2);
    assert_true(t[4] - t[0] >= 0.9);
    assert_true(silk_downloader_slot_peak(h.d, "127.0.0.1") == 1);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static void test_download_delay_randomized(void **state)
{
    (void)state;
    const char *set[] = { "DOWNLOAD_DELAY=0.2", NULL }; /* RANDOMIZE_DOWNLOAD_DELAY defaults on */
    dl_h h;
    dl_setup(&h, set);
    for (int i = 0; i < 6; i++)
        dl_fetch(&h, "/p/1.html");
    dl_run(&h, 10);
    double t[6];
    for (int i = 0; i < 6; i++)
        t[i] = dl_started(&h.out[i]);
    qsort(t, 6, sizeof t[0], cmp_double);
    for (int i = 1; i < 6; i++) {
        double gap = t[i] - t[i - 1];
        assert_true(gap >= 0.08);  /* 0.5 x 0.2, less the clock's slack */
        assert_true(gap <= 0.6);   /* 1.5 x 0.2, plus a busy machine's slack */
    }
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* A delay set on a slot at run time (robots.txt Crawl-delay does this). */
static void test_slot_delay(void **state)
{
    (void)state;
    const char *set[] = { "RANDOMIZE_DOWNLOAD_DELAY=false", NULL };
    dl_h h;
    dl_setup(&h, set);
    assert_int_equal(silk_downloader_set_slot_delay(h.d, "127.0.0.1", 0.2), 0);
    assert_true(silk_downloader_slot_delay(h.d, "127.0.0.1") == 0.2);
    assert_true(silk_downloader_slot_delay(h.d, "nowhere") == 0);
    assert_int_equal(silk_downloader_set_slot_delay(h.d, "x", -1), SILK_EINVAL);
    for (int i = 0; i < 3; i++)
        dl_fetch(&h, "/p/1.html");
    dl_run(&h, 10);
    double t[3] = { dl_started(&h.out[0]), dl_started(&h.out[1]), dl_started(&h.out[2]) };
    qsort(t, 3, sizeof t[0], cmp_double);
    assert_true(t[2] - t[0] >= 0.36);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- failures ---- */

static void test_timeout(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    silk_request *r = dl_req_path(&h, "/delay/5");
    assert_int_equal(silk_dict_set_double(silk_request_meta(r), "download_timeout", 0.5), 0);
    dl_outcome *o = dl_fetch_req(&h, r);
    dl_outcome *fast = dl_fetch(&h, "/delay/0.1");
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "twisted.internet.error.TimeoutError");
    assert_int_equal(o->code, SILK_ETIMEOUT);
    assert_non_null(strstr(o->msg, "took longer than 0.5 seconds"));
    assert_true(o->done_at >= 0.45 && o->done_at < 2.0);
    assert_int_equal(fast->kind, SILK_FETCH_RESPONSE);
    dl_teardown(&h);

    /* DOWNLOAD_TIMEOUT applies when meta has none */
    const char *set[] = { "DOWNLOAD_TIMEOUT=0.3", NULL };
    dl_setup(&h, set);
    o = dl_fetch(&h, "/delay/3");
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "twisted.internet.error.TimeoutError");
    assert_non_null(strstr(o->msg, "took longer than 0.3 seconds"));
    /* slow body: headers in time, the rest not */
    o = dl_fetch(&h, "/drip?bytes=20&duration=3");
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "twisted.internet.error.TimeoutError");
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static void test_reset(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_outcome *o = dl_fetch(&h, "/reset");
    dl_outcome *o2 = dl_fetch(&h, "/reset?bytes=100000&rst=1");
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "twisted.web._newclient.ResponseFailed");
    assert_int_equal(o->code, SILK_ENET);
    assert_int_equal(o2->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o2->type, "twisted.web._newclient.ResponseFailed");
    dl_teardown(&h);

    /* DOWNLOAD_FAIL_ON_DATALOSS=false: the partial body with flag dataloss */
    const char *set[] = { "DOWNLOAD_FAIL_ON_DATALOSS=false", NULL };
    dl_setup(&h, set);
    o = dl_fetch(&h, "/reset?bytes=1000");
    dl_run(&h, 10);
    dl_print_failure(o);
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(o->resp->body_len, 500);
    assert_non_null(o->resp->flags);
    assert_string_equal(silk_value_str(silk_list_get(o->resp->flags, 0)), "dataloss");
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static void test_refused(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", dl_free_port());
    dl_outcome *o = dl_fetch_req(&h, dl_req(url));
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "twisted.internet.error.ConnectionRefusedError");
    assert_int_equal(o->code, SILK_ENET);
    assert_non_null(strstr(o->msg, "Connection was refused by other side"));
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- size limits ---- */

static _Atomic size_t peak_live;

static _Atomic size_t max_block;

/* Live bytes once this allocation is made. A realloc counts its new size
 * in place of the old one: glibc moves big blocks with mremap, without a
 * second copy. */
static void note_live(size_t n, size_t old)
{
    size_t mb = atomic_load(&max_block);
    while (n > mb && !atomic_compare_exchange_weak(&max_block, &mb, n))
        ;
    size_t live = silk_alloc_live_bytes() + n - (old < n ? old : n);
    size_t p = atomic_load(&peak_live);
    while (live > p && !atomic_compare_exchange_weak(&peak_live, &p, live))
        ;
}

static void *peak_malloc(size_t n)
{
    note_live(n, 0);
    return malloc(n);
}

static void *peak_realloc(void *p, size_t n)
{
    note_live(n, p ? malloc_usable_size(p) : 0);
    return realloc(p, n);
}

static void test_maxsize(void **state)
{
    (void)state;
    assert_int_equal(silk_alloc_set_hooks(peak_malloc, peak_realloc, free), 0);
    const char *set[] = { "DOWNLOAD_MAXSIZE=1000000", "DOWNLOAD_WARNSIZE=500000", NULL };
    silk_testserver_options opt = { 0 };
    opt.bomb_bytes = 300000000; /* 300 MB once decoded, ~300 KB on the wire */
    dl_h h;
    dl_setup_opts(&h, &opt, set);
    /* a plain response announcing more than the limit: cancelled at the
     * headers */
    dl_outcome *big = dl_fetch(&h, "/large?bytes=3000000");
    dl_run(&h, 10);
    assert_int_equal(big->kind, SILK_FETCH_FAILURE);
    assert_string_equal(big->type, "twisted.internet.defer.CancelledError");
    assert_int_equal(big->code, SILK_ELIMIT);
    assert_true(dl_log_has("Cancelling download of "));
    assert_true(dl_log_has("expected response size (3000000) larger than download max size (1000000)"));
    /* chunked, no Content-Length: cut while it streams */
    dl_outcome *chunked = dl_fetch(&h, "/large?bytes=3000000&chunked=1");
    /* within the warn size: fine, with a warning over it */
    dl_outcome *warn = dl_fetch(&h, "/large?bytes=600000&chunked=1");
    dl_run(&h, 10);
    assert_int_equal(chunked->kind, SILK_FETCH_FAILURE);
    assert_string_equal(chunked->type, "twisted.internet.defer.CancelledError");
    assert_true(dl_log_has("larger than download max size (1000000) in request <GET "));
    assert_int_equal(warn->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(warn->resp->body_len, 600000);
    assert_true(dl_log_has("Received more bytes than download warn size (500000) in request <GET "));

    /* the bomb: under the limit on the wire, 300 MB decoded; cut at the limit of
     * the DECODED size, and never buffered past it */
    dl_log_reset();
    /* the server builds its bomb segments (1 MB of zeros, once) first, so
     * that only the client is measured */
    silk_request *sr = dl_req_path(&h, "/bomb?size=1000");
    silk_dict_set_int(silk_request_meta(sr), "download_maxsize", 0); /* 0 = no limit */
    dl_outcome *small = dl_fetch_req(&h, sr);
    dl_run(&h, 10);
    assert_int_equal(small->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(small->resp->body_len, 1024 * 1024); /* whole blocks */
    dl_outcome_clear(small);
    size_t base_live = silk_alloc_live_bytes();
    atomic_store(&peak_live, base_live);
    atomic_store(&max_block, 0);
    /* one at a time: the limit is per response */
    dl_outcome *bomb = dl_fetch(&h, "/bomb");
    dl_run(&h, 20);
    dl_outcome *bomb2 = dl_fetch(&h, "/bomb?encoding=deflate&size=50000000");
    dl_run(&h, 20);
    assert_int_equal(bomb->kind, SILK_FETCH_FAILURE);
    assert_string_equal(bomb->type, "twisted.internet.defer.CancelledError");
    assert_true(dl_log_has("(decoded from Content-Encoding: gzip): cancelled."));
    assert_true(dl_log_has("(decoded from Content-Encoding: deflate): cancelled."));
    assert_int_equal(bomb2->kind, SILK_FETCH_FAILURE);
    size_t peak = atomic_load(&peak_live) - base_live;
    fprintf(stderr, "bomb: peak extra live bytes %zu, largest block %zu (limit 1000000)\n", peak,
            atomic_load(&max_block));
    assert_true(atomic_load(&max_block) <= 1000001 + 64);
    assert_true(peak < 1000000 + 256 * 1024);
    /* meta download_maxsize wins over the setting */
    silk_request *r = dl_req_path(&h, "/large?bytes=3000000");
    silk_dict_set_int(silk_request_meta(r), "download_maxsize", 4000000);
    dl_outcome *ok = dl_fetch_req(&h, r);
    dl_run(&h, 10);
    assert_int_equal(ok->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(ok->resp->body_len, 3000000);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
    assert_int_equal(silk_alloc_set_hooks(NULL, NULL, NULL), 0);
}

/* ---- compression ---- */

static void test_gzip(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_outcome *gz = dl_fetch(&h, "/gzip");
    dl_outcome *df = dl_fetch(&h, "/deflate");
    dl_outcome *raw = dl_fetch(&h, "/deflate?raw=1");
    dl_run(&h, 10);
    assert_int_equal(gz->kind, SILK_FETCH_RESPONSE);
    assert_null(silk_headers_get(&gz->resp->headers, "Content-Encoding"));
    assert_ptr_equal(gz->resp->obj.type, &silk_type_html_response);
    assert_non_null(strstr(dl_body(gz), "Line 49 of a body sent with Content-Encoding: gzip."));
    assert_non_null(strstr(dl_body(df), "Line 49 of a body sent with Content-Encoding: deflate."));
    assert_null(silk_headers_get(&df->resp->headers, "Content-Encoding"));
    assert_non_null(strstr(dl_body(raw), "Line 49"));
    dl_teardown(&h);

    /* COMPRESSION_ENABLED=false: the body as sent, header kept (Scrapy) */
    const char *set[] = { "COMPRESSION_ENABLED=false", NULL };
    dl_setup(&h, set);
    gz = dl_fetch(&h, "/gzip");
    dl_run(&h, 10);
    assert_int_equal(gz->kind, SILK_FETCH_RESPONSE);
    assert_string_equal(silk_headers_get(&gz->resp->headers, "Content-Encoding"), "gzip");
    assert_true(gz->resp->body_len > 2);
    assert_int_equal((unsigned char)gz->resp->body[0], 0x1f);
    assert_int_equal((unsigned char)gz->resp->body[1], 0x8b);
    assert_ptr_equal(gz->resp->obj.type, &silk_type_response);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- HTTPS ---- */

static void test_https(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.https = 1;
    dl_h h;
    dl_setup_opts(&h, &opt, NULL);
    assert_true(strncmp(silk_testserver_url(h.srv), "https://", 8) == 0);
    dl_outcome *o = dl_fetch(&h, "/p/5.html");
    dl_outcome *g = dl_fetch(&h, "/gzip");
    dl_run(&h, 10);
    dl_print_failure(o);
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(o->resp->status, 200);
    assert_ptr_equal(o->resp->obj.type, &silk_type_html_response);
    assert_non_null(strstr(dl_body(g), "Line 49"));
    dl_teardown(&h);

    /* verification on: the test certificate is self-signed, so a typed TLS
     * failure */
    const char *set[] = { "DOWNLOAD_VERIFY_CERTIFICATES=true", NULL };
    dl_setup_opts(&h, &opt, set);
    o = dl_fetch(&h, "/p/5.html");
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "OpenSSL.SSL.Error");
    assert_int_equal(o->code, SILK_ETLS);
    char pem_path[] = "/tmp/silk-test-ca-XXXXXX";
    int fd = mkstemp(pem_path);
    assert_true(fd >= 0);
    const char *pem = silk_testserver_cert_pem(h.srv);
    assert_non_null(pem);
    assert_int_equal(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
    close(fd);
    dl_teardown(&h);

    /* verification on, trusting the test certificate: fine, and a wrong
     * host name is a TLS failure again */
    char ca[128];
    snprintf(ca, sizeof ca, "DOWNLOAD_CA_CERTS=%s", pem_path);
    const char *set2[] = { "DOWNLOAD_VERIFY_CERTIFICATES=true", ca, NULL };
    /* the same certificate is reused only for the same server: serve it
     * again and trust that one */
    dl_setup_opts(&h, &opt, set2);
    fd = open(pem_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    pem = silk_testserver_cert_pem(h.srv);
    assert_int_equal(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
    close(fd);
    o = dl_fetch(&h, "/p/5.html");
    dl_run(&h, 10);
    dl_print_failure(o);
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    dl_teardown(&h);
    unlink(pem_path);
    SILK_ASSERT_CLEAN();
}

/* ---- stats (DownloaderStats) ---- */

static void test_stats(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_downloader_stats());
    dl_fetch(&h, "/p/1.html");
    dl_fetch(&h, "/status/404");
    dl_outcome *gz = dl_fetch(&h, "/gzip");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", dl_free_port());
    dl_fetch_req(&h, dl_req(url));
    snprintf(url, sizeof url, "%s/post", silk_testserver_url(h.srv));
    silk_request *post = NULL;
    assert_int_equal(silk_request_new_full(url, "POST", "abc", 3, &post), 0);
    dl_fetch_req(&h, post);
    dl_run(&h, 10);
    assert_int_equal(dl_stat(&h, "downloader/request_count"), 5);
    assert_int_equal(dl_stat(&h, "downloader/request_method_count/GET"), 4);
    assert_int_equal(dl_stat(&h, "downloader/request_method_count/POST"), 1);
    assert_int_equal(dl_stat(&h, "downloader/response_count"), 4);
    assert_int_equal(dl_stat(&h, "downloader/response_status_count/200"), 3);
    assert_int_equal(dl_stat(&h, "downloader/response_status_count/404"), 1);
    assert_int_equal(dl_stat(&h, "downloader/exception_count"), 1);
    assert_int_equal(
        dl_stat(&h, "downloader/exception_type_count/twisted.internet.error.ConnectionRefusedError"), 1);
    /* request_httprepr: "GET /p/1.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" = 44, no headers */
    int64_t rb = dl_stat(&h, "downloader/request_bytes");
    assert_true(rb > 44 * 4);
    int64_t resp_bytes = dl_stat(&h, "downloader/response_bytes");
    assert_true(resp_bytes > 5000);
    /* the gzip response counts its encoded size, as Scrapy's at 850 */
    assert_true(gz->resp->body_len > 2000);
    dl_teardown(&h);

    /* DOWNLOADER_STATS=false switches it off */
    const char *set[] = { "DOWNLOADER_STATS=false", NULL };
    dl_setup(&h, set);
    dl_add(&h, silk_mw_downloader_stats());
    dl_fetch(&h, "/p/1.html");
    dl_run(&h, 10);
    assert_int_equal(dl_stat(&h, "downloader/request_count"), 0);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* The exact byte arithmetic of one request and one response. */
static void test_stats_bytes(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_downloader_stats());
    silk_request *r = dl_req_path(&h, "/status/200?x=1");
    assert_int_equal(silk_headers_set(&r->headers, "User-Agent", "ua"), 0);
    dl_outcome *o = dl_fetch_req(&h, r);
    dl_run(&h, 10);
    /* "GET /status/200?x=1 HTTP/1.1\r\n" (30) + "Host: 127.0.0.1\r\n" (17)
     * + "User-Agent: ua" (14) + "\r\n" + "\r\n" */
    assert_int_equal(dl_stat(&h, "downloader/request_bytes"), 30 + 17 + 14 + 2 + 2);
    long long want = (long long)o->resp->body_len + 15 + 2 + 4; /* "OK" */
    const silk_headers *hd = &o->resp->headers;
    for (size_t i = 0; i < hd->len; i++)
        want += 2 + (long long)strlen(hd->items[i].name) + (long long)strlen(hd->items[i].value);
    want += 2 * ((long long)hd->len - 1); /* distinct names here */
    assert_int_equal(dl_stat(&h, "downloader/response_bytes"), want);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- lifecycle ---- */

static void test_free_in_flight(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_downloader_stats());
    for (int i = 0; i < 20; i++)
        dl_fetch(&h, "/delay/2");
    dl_fetch(&h, "/drip?bytes=100&duration=5");
    dl_spin(&h, 0.3);
    assert_true(silk_downloader_active(h.d) == 21);
    /* freed with everything in flight: no callback, nothing leaked */
    silk_downloader_free(h.d);
    h.d = NULL;
    for (size_t i = 0; i < h.nout; i++)
        assert_false(h.out[i].done);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static void test_bad_arguments(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    assert_int_equal(silk_downloader_fetch(h.d, NULL, dl_done, NULL), SILK_EDEAD);
    silk_value *notreq = silk_value_new_dict();
    assert_int_equal(silk_downloader_fetch(h.d, (silk_request *)notreq, dl_done, NULL), SILK_EDEAD);
    silk_value_free(notreq);
    /* a malformed setting names itself */
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "CONCURRENT_REQUESTS", "many", SILK_PRIO_CMDLINE);
    silk_downloader *d = NULL;
    assert_int_equal(silk_downloader_new(h.base, s, NULL, &d), SILK_ETYPE);
    assert_null(d);
    assert_non_null(strstr(silk_last_error(), "CONCURRENT_REQUESTS"));
    silk_settings_set(s, "CONCURRENT_REQUESTS", "0", SILK_PRIO_CMDLINE);
    assert_int_equal(silk_downloader_new(h.base, s, NULL, &d), SILK_EINVAL);
    silk_settings_free(s);
    /* an unsupported scheme reaching the downloader is typed */
    silk_request *r = NULL;
    assert_int_equal(silk_request_new("s3://bucket/key", &r), 0);
    dl_outcome *o = dl_fetch_req(&h, r);
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_FAILURE);
    assert_string_equal(o->type, "scrapy.exceptions.NotSupported");
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* Allocation failures anywhere in a whole fetch (server included, as it
 * shares the allocator): every path frees what it took, and a fetch that
 * saw no injected failure succeeds. */
static void one_done(void *arg, silk_request *req, const silk_fetch_result *res)
{
    (void)req;
    int *st = arg;
    *st = res->kind == SILK_FETCH_RESPONSE && res->response->status == 200 ? 1 : 2;
}

static void one_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 3;
}

static int one_fetch_runs;

static int one_fetch(void)
{
    one_fetch_runs++;
    struct event_base *base = event_base_new();
    struct event *wd = evtimer_new(base, one_timeout, NULL);
    silk_testserver *srv = NULL;
    silk_settings *st = NULL;
    silk_stats *stats = NULL;
    silk_downloader *d = NULL;
    silk_request *r = NULL;
    int done = 0;
    int rc = silk_testserver_start(base, NULL, &srv);
    if (rc)
        goto out;
    char url[128];
    snprintf(url, sizeof url, "%s/gzip", silk_testserver_url(srv));
    rc = SILK_ENOMEM;
    st = silk_settings_new();
    stats = silk_stats_new();
    if (!st || !stats || silk_request_new(url, &r))
        goto out;
    if ((rc = silk_downloader_new(base, st, stats, &d)))
        goto out;
    silk_mw_env env = { st, stats, base, d, "t", NULL };
    if ((rc = silk_downloader_add_middleware_copy(d, silk_mw_downloader_stats(), &env)))
        goto out;
    if ((rc = silk_downloader_fetch(d, r, one_done, &done)))
        goto out;
    event_assign(wd, base, -1, 0, one_timeout, &done);
    struct timeval tv = { 5, 0 };
    evtimer_add(wd, &tv);
    while (!done)
        event_base_loop(base, EVLOOP_ONCE);
    rc = done == 1 ? 0 : -1;
out:
    silk_unref(r);
    silk_downloader_free(d);
    silk_settings_free(st);
    silk_stats_free(stats);
    silk_testserver_free(srv);
    event_free(wd);
    event_base_free(base);
    return rc;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    silk_log_set_level(SILK_LOG_CRITICAL);
    assert_int_equal(one_fetch(), 0);
    SILK_ASSERT_CLEAN();
    SILK_FOR_EACH_ALLOC_FAILURE(one_fetch());
    silk_log_set_level(SILK_LOG_INFO);
    fprintf(stderr, "alloc failures: %d runs\n", one_fetch_runs);
    assert_true(one_fetch_runs > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_fetch),
        cmocka_unit_test(test_methods_and_types),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_per_domain_cap),
        cmocka_unit_test(test_per_ip_cap),
        cmocka_unit_test(test_global_cap),
        cmocka_unit_test(test_download_delay),
        cmocka_unit_test(test_download_delay_randomized),
        cmocka_unit_test(test_slot_delay),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_maxsize),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_bytes),
        cmocka_unit_test(test_free_in_flight),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_alloc_failures),
    };
    if (getenv("TEST_FILTER")) /* run some: TEST_FILTER=test_retry* */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
