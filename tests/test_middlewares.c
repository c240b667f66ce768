/* The downloader middlewares end to end over loopback against the embedded
 * test server: each one alone, then the whole DOWNLOADER_MIDDLEWARES_BASE
 * stack with a user middleware plugged in by order number. */
#include <stdlib.h>

#include "dl_harness.h"

/* JSON body of an echo endpoint, decoded (caller frees). */
static silk_value *json_of(const dl_outcome *o)
{
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    silk_value *v = NULL;
    int rc = silk_json_decode(o->resp->body, o->resp->body_len, &v);
    if (rc)
        fprintf(stderr, "not JSON: %.*s\n", (int)o->resp->body_len, o->resp->body);
    assert_int_equal(rc, 0);
    return v;
}

/* headers["name"] seen by /headers, or NULL; copied into buf. */
static const char *echoed(const dl_outcome *o, const char *name, char *buf, size_t n)
{
    silk_value *v = json_of(o);
    const char *s = silk_dict_get_str(silk_dict_get(v, "headers"), name, NULL);
    if (s)
        snprintf(buf, n, "%s", s);
    silk_value_free(v);
    return s ? buf : NULL;
}

static silk_request *with_meta_int(silk_request *r, const char *k, int64_t v)
{
    assert_int_equal(silk_dict_set_int(silk_request_meta(r), k, v), 0);
    return r;
}

/* ---- a test middleware that edits what passes (order chosen per test) ---- */

typedef struct spy {
    int order;
    int requests, responses, exceptions;
    char seen_ua[128];
    bool seen_cookie;
    /* process_response: headers to add to the response */
    const char *const *add_set_cookie;
    /* robots.txt: statuses to force on successive responses (0 = leave) */
    int robots_status[4];
    int robots_seen;
    bool robots_timeout; /* fail robots.txt fetches with a TimeoutError */
    const char *replace_body; /* process_response: the body becomes this */
} spy;

static silk_mw_result spy_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req, silk_mw_out *out)
{
    (void)fetch;
    spy *s = mw->state;
    s->requests++;
    const char *ua = silk_headers_get(&req->headers, "User-Agent");
    snprintf(s->seen_ua, sizeof s->seen_ua, "%s", ua ? ua : "");
    s->seen_cookie = silk_headers_count(&req->headers, "Cookie") > 0;
    if (s->robots_timeout && strstr(req->url, "/robots.txt")) {
        out->failure = silk_failure_new(SILK_ETIMEOUT, "twisted.internet.error.TimeoutError", "simulated", req, NULL);
        return SILK_MW_FAILURE;
    }
    return SILK_MW_CONTINUE;
}

static silk_mw_result spy_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                   silk_response *resp, silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    spy *s = mw->state;
    s->responses++;
    for (size_t i = 0; s->add_set_cookie && s->add_set_cookie[i]; i++)
        assert_int_equal(silk_headers_add(&resp->headers, "Set-Cookie", s->add_set_cookie[i]), 0);
    if (s->replace_body) {
        char *b = silk_strdup(s->replace_body);
        assert_non_null(b);
        silk_free(resp->body);
        resp->body = b;
        resp->body_len = strlen(b);
    }
    if (strstr(req->url, "/robots.txt") && s->robots_seen < 4) {
        int st = s->robots_status[s->robots_seen++];
        if (st)
            resp->status = st;
    }
    return SILK_MW_CONTINUE;
}

static silk_mw_result spy_exception(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                    silk_failure *f, silk_mw_out *out)
{
    (void)fetch;
    (void)req;
    (void)f;
    (void)out;
    ((spy *)mw->state)->exceptions++;
    return SILK_MW_CONTINUE;
}

static silk_downloader_mw spy_mw(spy *s)
{
    silk_downloader_mw m = { 0 };
    m.name = "SpyMiddleware";
    m.order = s->order;
    m.process_request = spy_request;
    m.process_response = spy_response;
    m.process_exception = spy_exception;
    m.state = s;
    return m;
}

static void add_spy(dl_h *h, silk_downloader_mw *m)
{
    assert_int_equal(silk_downloader_add_middleware(h->d, m, &h->env), 0);
}

/* ---- UserAgent, DefaultHeaders, HttpCompression, DownloadTimeout ---- */

static void test_headers_middlewares(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_useragent());
    dl_add(&h, silk_mw_defaultheaders());
    dl_add(&h, silk_mw_httpcompression());
    dl_add(&h, silk_mw_downloadtimeout());
    dl_outcome *o = dl_fetch(&h, "/headers");
    silk_request *mine = dl_req_path(&h, "/headers");
    silk_headers_set(&mine->headers, "User-Agent", "mine/1.0");
    silk_headers_set(&mine->headers, "Accept", "text/plain");
    dl_outcome *o2 = dl_fetch_req(&h, mine);
    dl_outcome *gz = dl_fetch(&h, "/gzip");
    dl_run(&h, 10);
    char b[512];
    char want[64];
    snprintf(want, sizeof want, "silk/%s", silk_version());
    assert_string_equal(echoed(o, "User-Agent", b, sizeof b), want);
    assert_string_equal(echoed(o, "Accept", b, sizeof b), "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    assert_string_equal(echoed(o, "Accept-Language", b, sizeof b), "en");
    assert_string_equal(echoed(o, "Accept-Encoding", b, sizeof b), "gzip, deflate, br");
    assert_string_equal(echoed(o2, "User-Agent", b, sizeof b), "mine/1.0");
    assert_string_equal(echoed(o2, "Accept", b, sizeof b), "text/plain");
    assert_true(silk_dict_get_double(o->req->meta, "download_timeout", 0) == 180);
    /* httpcompression stats: the decoded size */
    assert_int_equal(dl_stat(&h, "httpcompression/response_count"), 1);
    assert_int_equal(dl_stat(&h, "httpcompression/response_bytes"), (int64_t)gz->resp->body_len);
    dl_teardown(&h);

    const char *set[] = { "USER_AGENT=crawler (+http://x)", "DEFAULT_REQUEST_HEADERS={\"X-A\": \"1\"}",
                          "DOWNLOAD_TIMEOUT=0.3", "COMPRESSION_ENABLED=false", NULL };
    dl_setup(&h, set);
    dl_add(&h, silk_mw_useragent());
    dl_add(&h, silk_mw_defaultheaders());
    dl_add(&h, silk_mw_httpcompression());
    dl_add(&h, silk_mw_downloadtimeout());
    o = dl_fetch(&h, "/headers");
    dl_outcome *slow = dl_fetch(&h, "/delay/3");
    dl_run(&h, 10);
    assert_string_equal(echoed(o, "User-Agent", b, sizeof b), "crawler (+http://x)");
    assert_string_equal(echoed(o, "X-A", b, sizeof b), "1");
    assert_null(echoed(o, "Accept-Encoding", b, sizeof b));
    assert_null(echoed(o, "Accept-Language", b, sizeof b));
    assert_true(silk_dict_get_double(slow->req->meta, "download_timeout", 0) == 0.3);
    assert_string_equal(slow->type, "twisted.internet.error.TimeoutError");
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- Retry ---- */

static void test_retry_http_codes(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_retry());
    h.follow = true;
    dl_outcome *o = dl_fetch(&h, "/status/503");
    dl_run(&h, 10);
    /* 1 + RETRY_TIMES(2) requests; the last 503 is delivered */
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(o->resp->status, 503);
    assert_int_equal(o->hops, 2);
    assert_int_equal(silk_testserver_hits(h.srv, "/status/503"), 3);
    assert_int_equal(silk_dict_get_int(o->req->meta, "retry_times", 0), 2);
    assert_true(o->req->dont_filter);
    assert_int_equal(o->req->priority, -2);
    assert_int_equal(dl_stat(&h, "retry/count"), 2);
    assert_int_equal(dl_stat(&h, "retry/reason_count/503 Service Unavailable"), 2);
    assert_int_equal(dl_stat(&h, "retry/max_reached"), 1);
    char line[512];
    snprintf(line, sizeof line, "Retrying <GET %s/status/503> (failed 1 times): 503 Service Unavailable",
             silk_testserver_url(h.srv));
    assert_true(dl_log_has(line));
    snprintf(line, sizeof line, "Retrying <GET %s/status/503> (failed 2 times): 503 Service Unavailable",
             silk_testserver_url(h.srv));
    assert_true(dl_log_has(line));
    snprintf(line, sizeof line,
             "[silk.downloadermiddlewares.retry] ERROR: Gave up retrying <GET %s/status/503> (failed 3 times): "
             "503 Service Unavailable",
             silk_testserver_url(h.srv));
    assert_true(dl_log_has(line));

    /* not followed: the engine gets the retry request to schedule */
    h.follow = false;
    o = dl_fetch(&h, "/status/500");
    dl_outcome *ok = dl_fetch(&h, "/status/404");
    dl_outcome *nr = dl_fetch_req(&h, with_meta_int(dl_req_path(&h, "/status/502"), "dont_retry", 1));
    silk_request *one = dl_req_path(&h, "/status/504");
    silk_dict_set_int(silk_request_meta(one), "max_retry_times", 0);
    dl_outcome *mr = dl_fetch_req(&h, one);
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_REQUEST);
    assert_int_equal(silk_dict_get_int(o->next->meta, "retry_times", 0), 1);
    assert_int_equal(o->next->priority, -1);
    assert_string_equal(o->next->url, o->req->url);
    assert_int_equal(ok->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(nr->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(nr->resp->status, 502);
    assert_int_equal(mr->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(dl_stat(&h, "retry/max_reached"), 2);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static void test_retry_exceptions(void **state)
{
    (void)state;
    const char *set[] = { "RETRY_TIMES=1", "RETRY_HTTP_CODES=[429]", NULL };
    dl_h h;
    dl_setup(&h, set);
    dl_add(&h, silk_mw_retry());
    dl_add(&h, silk_mw_downloader_stats());
    h.follow = true;
    silk_request *r = dl_req_path(&h, "/delay/3");
    silk_dict_set_double(silk_request_meta(r), "download_timeout", 0.2);
    dl_outcome *to = dl_fetch_req(&h, r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dl_free_port());
    dl_outcome *refused = dl_fetch_req(&h, dl_req(url));
    dl_outcome *reset = dl_fetch(&h, "/reset");
    dl_outcome *s503 = dl_fetch(&h, "/status/503"); /* not in RETRY_HTTP_CODES now */
    dl_run(&h, 10);
    assert_int_equal(to->kind, SILK_FETCH_FAILURE);
    assert_string_equal(to->type, "twisted.internet.error.TimeoutError");
    assert_int_equal(to->hops, 1);
    assert_int_equal(refused->hops, 1);
    assert_string_equal(refused->type, "twisted.internet.error.ConnectionRefusedError");
    assert_int_equal(reset->hops, 1);
    assert_int_equal(s503->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(s503->hops, 0);
    assert_int_equal(dl_stat(&h, "retry/count"), 3);
    assert_int_equal(dl_stat(&h, "retry/reason_count/twisted.internet.error.TimeoutError"), 1);
    assert_int_equal(dl_stat(&h, "retry/reason_count/twisted.internet.error.ConnectionRefusedError"), 1);
    assert_int_equal(dl_stat(&h, "retry/reason_count/twisted.web._newclient.ResponseFailed"), 1);
    assert_int_equal(dl_stat(&h, "retry/max_reached"), 3);
    assert_true(dl_log_has("took longer than 0.2 seconds"));
    /* every attempt went through DownloaderStats */
    assert_int_equal(dl_stat(&h, "downloader/exception_count"), 6);
    dl_teardown(&h);

    const char *off[] = { "RETRY_ENABLED=false", NULL };
    dl_setup(&h, off);
    dl_add(&h, silk_mw_retry());
    h.follow = true;
    dl_outcome *o = dl_fetch(&h, "/status/503");
    dl_run(&h, 10);
    assert_int_equal(o->hops, 0);
    assert_int_equal(dl_stat(&h, "retry/count"), 0);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- Redirect ---- */

static void test_redirect_follow(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    dl_outcome *o = dl_fetch(&h, "/redirect/3");
    dl_outcome *rel = dl_fetch(&h, "/redirect/2?relative=1&status=301");
    dl_outcome *abs = dl_fetch(&h, "/redirect/2?absolute=1&status=308");
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(o->resp->status, 200);
    assert_int_equal(o->hops, 3);
    const char *base = silk_testserver_url(h.srv);
    char want[256];
    snprintf(want, sizeof want, "%s/redirect/0", base);
    assert_string_equal(o->resp->url, want);
    const silk_value *urls = silk_dict_get(o->req->meta, "redirect_urls");
    assert_int_equal(silk_list_len(urls), 3);
    snprintf(want, sizeof want, "%s/redirect/3", base);
    assert_string_equal(silk_value_str(silk_list_get(urls, 0)), want);
    snprintf(want, sizeof want, "%s/redirect/1", base);
    assert_string_equal(silk_value_str(silk_list_get(urls, 2)), want);
    const silk_value *reasons = silk_dict_get(o->req->meta, "redirect_reasons");
    assert_int_equal(silk_list_len(reasons), 3);
    assert_int_equal(silk_list_get(reasons, 0)->u.i, 302);
    assert_int_equal(silk_dict_get_int(o->req->meta, "redirect_times", 0), 3);
    assert_int_equal(silk_dict_get_int(o->req->meta, "redirect_ttl", 0), 17);
    assert_int_equal(o->req->priority, 6); /* REDIRECT_PRIORITY_ADJUST 2 per hop */
    assert_int_equal(rel->resp->status, 200);
    assert_int_equal(silk_list_get(silk_dict_get(rel->req->meta, "redirect_reasons"), 0)->u.i, 301);
    assert_int_equal(abs->resp->status, 200);
    assert_int_equal(abs->hops, 2);
    snprintf(want, sizeof want, "Redirecting (302) to <GET %s/redirect/2> from <GET %s/redirect/3>", base, base);
    assert_true(dl_log_has(want));
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static void test_redirect_limits(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    dl_outcome *loop = dl_fetch(&h, "/redirect-loop");
    dl_run(&h, 10);
    assert_int_equal(loop->kind, SILK_FETCH_FAILURE);
    assert_string_equal(loop->type, "scrapy.exceptions.IgnoreRequest");
    assert_string_equal(loop->msg, "max redirections reached");
    assert_int_equal(loop->hops, 20);
    assert_int_equal(silk_testserver_hits(h.srv, "/redirect-loop"), 21);
    char want[256];
    snprintf(want, sizeof want, "Discarding <GET %s/redirect-loop>: max redirections reached",
             silk_testserver_url(h.srv));
    assert_int_equal(dl_log_count(want), 1);
    /* dont_redirect and handle_httpstatus_list give the 3xx to the spider */
    dl_outcome *dr = dl_fetch_req(&h, with_meta_int(dl_req_path(&h, "/redirect/1"), "dont_redirect", 1));
    silk_request *hl = dl_req_path(&h, "/redirect/1?status=301");
    silk_value *codes = silk_value_new_list();
    silk_list_push(codes, silk_value_new_int(301));
    silk_dict_set(silk_request_meta(hl), "handle_httpstatus_list", codes);
    dl_outcome *hlo = dl_fetch_req(&h, hl);
    dl_outcome *noloc = dl_fetch(&h, "/status/302");
    dl_run(&h, 10);
    assert_int_equal(dr->resp->status, 302);
    assert_int_equal(hlo->resp->status, 301);
    assert_int_equal(noloc->resp->status, 302);
    dl_teardown(&h);

    const char *set[] = { "REDIRECT_MAX_TIMES=3", NULL };
    dl_setup(&h, set);
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    dl_outcome *five = dl_fetch(&h, "/redirect/5");
    dl_outcome *three = dl_fetch(&h, "/redirect/3");
    dl_run(&h, 10);
    assert_int_equal(five->kind, SILK_FETCH_FAILURE);
    assert_int_equal(five->hops, 3);
    assert_int_equal(three->kind, SILK_FETCH_RESPONSE);
    dl_teardown(&h);

    const char *off[] = { "REDIRECT_ENABLED=false", NULL };
    dl_setup(&h, off);
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    dl_outcome *o = dl_fetch(&h, "/redirect/1");
    dl_run(&h, 10);
    assert_int_equal(o->resp->status, 302);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

static dl_outcome *post_to(dl_h *h, const char *method, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", silk_testserver_url(h->srv), path);
    silk_request *r = NULL;
    assert_int_equal(silk_request_new_full(url, method, "k=v", 3, &r), 0);
    silk_headers_set(&r->headers, "Content-Type", "application/x-www-form-urlencoded");
    return dl_fetch_req(h, r);
}

static void test_redirect_methods(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    dl_outcome *p302 = post_to(&h, "POST", "/redirect-to?url=/post&status=302");
    dl_outcome *p303 = post_to(&h, "POST", "/redirect-to?url=/post&status=303");
    dl_outcome *p301 = post_to(&h, "POST", "/redirect-to?url=/post&status=301");
    dl_outcome *p307 = post_to(&h, "POST", "/redirect-to?url=/post&status=307");
    dl_outcome *p308 = post_to(&h, "PUT", "/redirect-to?url=/post&status=308");
    dl_outcome *head = post_to(&h, "HEAD", "/redirect-to?url=/post&status=302");
    dl_run(&h, 10);
    silk_value *v;
    /* 302/303: GET, no body, no Content-Type */
    v = json_of(p302);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "GET");
    assert_int_equal(silk_dict_get_int(v, "length", -1), 0);
    assert_null(silk_dict_get_str(silk_dict_get(v, "headers"), "Content-Type", NULL));
    silk_value_free(v);
    assert_string_equal(p302->req->method, "GET");
    assert_int_equal(p302->req->body_len, 0);
    v = json_of(p303);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "GET");
    silk_value_free(v);
    /* 301/307/308: method and body kept (Scrapy 2.8) */
    v = json_of(p301);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "POST");
    assert_string_equal(silk_dict_get_str(v, "body", ""), "k=v");
    silk_value_free(v);
    v = json_of(p307);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "POST");
    assert_string_equal(silk_dict_get_str(v, "body", ""), "k=v");
    silk_value_free(v);
    v = json_of(p308);
    assert_string_equal(silk_dict_get_str(v, "method", ""), "PUT");
    silk_value_free(v);
    /* HEAD stays HEAD */
    assert_int_equal(head->kind, SILK_FETCH_RESPONSE);
    assert_string_equal(head->req->method, "HEAD");
    assert_int_equal(head->hops, 1);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* Cookie and Authorization do not follow a redirect to another host. */
static void test_redirect_cross_domain(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    char path[256];
    snprintf(path, sizeof path, "/redirect-to?url=http://localhost:%d/headers", silk_testserver_port(h.srv));
    silk_request *away = dl_req_path(&h, path);
    silk_headers_set(&away->headers, "Cookie", "a=1");
    silk_headers_set(&away->headers, "Authorization", "Basic dTpw");
    silk_headers_set(&away->headers, "X-Keep", "1");
    silk_dict_set_str(silk_request_meta(away), "http_user", "u");
    dl_outcome *o = dl_fetch_req(&h, away);
    silk_request *here = dl_req_path(&h, "/redirect-to?url=/headers");
    silk_headers_set(&here->headers, "Cookie", "a=1");
    silk_headers_set(&here->headers, "Authorization", "Basic dTpw");
    dl_outcome *o2 = dl_fetch_req(&h, here);
    dl_run(&h, 10);
    char b[256];
    assert_null(echoed(o, "Cookie", b, sizeof b));
    assert_null(echoed(o, "Authorization", b, sizeof b));
    assert_string_equal(echoed(o, "X-Keep", b, sizeof b), "1");
    assert_null(silk_dict_get(o->req->meta, "http_user"));
    assert_string_equal(echoed(o2, "Cookie", b, sizeof b), "a=1");
    assert_string_equal(echoed(o2, "Authorization", b, sizeof b), "Basic dTpw");
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- MetaRefresh ---- */

static void test_metarefresh(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_metarefresh());
    dl_add(&h, silk_mw_redirect());
    h.follow = true;
    dl_outcome *o = dl_fetch(&h, "/meta-refresh?url=/p/1.html&delay=5");
    dl_outcome *slow = dl_fetch(&h, "/meta-refresh?url=/p/2.html&delay=200");
    dl_outcome *chain = dl_fetch(&h, "/meta-refresh?url=/redirect/1");
    silk_request *hd = NULL;
    char url[256];
    snprintf(url, sizeof url, "%s/meta-refresh?url=/p/3.html", silk_testserver_url(h.srv));
    assert_int_equal(silk_request_new_full(url, "HEAD", NULL, 0, &hd), 0);
    dl_outcome *head = dl_fetch_req(&h, hd);
    dl_outcome *dr = dl_fetch_req(&h, with_meta_int(dl_req_path(&h, "/meta-refresh?url=/p/4.html"), "dont_redirect", 1));
    dl_run(&h, 10);
    assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(o->hops, 1);
    char want[256];
    snprintf(want, sizeof want, "%s/p/1.html", silk_testserver_url(h.srv));
    assert_string_equal(o->resp->url, want);
    const silk_value *reasons = silk_dict_get(o->req->meta, "redirect_reasons");
    assert_string_equal(silk_value_str(silk_list_get(reasons, 0)), "meta refresh");
    assert_int_equal(slow->hops, 0); /* 200 >= METAREFRESH_MAXDELAY */
    assert_int_equal(chain->hops, 2);
    assert_int_equal(silk_list_get(silk_dict_get(chain->req->meta, "redirect_reasons"), 1)->u.i, 302);
    assert_int_equal(head->hops, 0);
    assert_int_equal(dr->hops, 0);
    dl_teardown(&h);

    /* w3lib's reading of the page: case, comments, entities, the second
     * expression (content before http-equiv), ignored tags */
    static const struct {
        const char *body;
        const char *want; /* NULL: no refresh */
        const char *setting;
    } pages[] = {
        { "<META HTTP-EQUIV=\"Refresh\" CONTENT=\"0;URL=/p/2.html\">", "/p/2.html", NULL },
        { "<!-- <meta http-equiv=\"refresh\" content=\"0; url=/p/3.html\"> -->", NULL, NULL },
        { "<meta content=\"1; url='/p/4.html?a=1&amp;b=2'\" http-equiv=\"refresh\">", "/p/4.html?a=1&b=2", NULL },
        { "<script><meta http-equiv=\"refresh\" content=\"0;url=/p/5.html\"></script>", "/p/5.html", NULL },
        { "<script><meta http-equiv=\"refresh\" content=\"0;url=/p/5.html\"></script>", NULL,
          "METAREFRESH_IGNORE_TAGS=[\"script\"]" },
        { "<html><body>no refresh here, just text that says ReFrEsH</body></html>", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        const char *set[] = { pages[i].setting, NULL };
        dl_setup(&h, set);
        dl_add(&h, silk_mw_metarefresh());
        spy s = { .order = 800, .replace_body = pages[i].body };
        silk_downloader_mw m = spy_mw(&s);
        add_spy(&h, &m);
        o = dl_fetch(&h, "/p/1.html");
        dl_run(&h, 10);
        if (!pages[i].want) {
            assert_int_equal(o->kind, SILK_FETCH_RESPONSE);
        } else {
            assert_int_equal(o->kind, SILK_FETCH_REQUEST);
            snprintf(want, sizeof want, "%s%s", silk_testserver_url(h.srv), pages[i].want);
            assert_string_equal(o->next->url, want);
            assert_string_equal(o->next->method, "GET");
        }
        dl_teardown(&h);
    }

    const char *off[] = { "METAREFRESH_ENABLED=false", NULL };
    dl_setup(&h, off);
    dl_add(&h, silk_mw_metarefresh());
    h.follow = true;
    o = dl_fetch(&h, "/meta-refresh?url=/p/1.html");
    dl_run(&h, 10);
    assert_int_equal(o->hops, 0);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- Cookies ---- */

static dl_outcome *in_jar(dl_h *h, const char *path, int jar)
{
    silk_request *r = dl_req_path(h, path);
    if (jar)
        silk_dict_set_int(silk_request_meta(r), "cookiejar", jar);
    return dl_fetch_req(h, r);
}

static const char *cookie_of(const dl_outcome *o, const char *name, char *buf, size_t n)
{
    silk_value *v = json_of(o);
    const char *s = silk_dict_get_str(silk_dict_get(v, "cookies"), name, NULL);
    if (s)
        snprintf(buf, n, "%s", s);
    silk_value_free(v);
    return s ? buf : NULL;
}

static void test_cookies_jars(void **state)
{
    (void)state;
    const char *set[] = { "COOKIES_DEBUG=true", NULL };
    dl_h h;
    dl_setup(&h, set);
    dl_add(&h, silk_mw_cookies());
    in_jar(&h, "/cookies/set?a=1&b=2", 0);
    in_jar(&h, "/cookies/set?x=jar1", 1);
    in_jar(&h, "/cookies/set?x=jar2", 2);
    dl_run(&h, 10);
    dl_outcome *d0 = in_jar(&h, "/cookies", 0);
    dl_outcome *d1 = in_jar(&h, "/cookies", 1);
    dl_outcome *d2 = in_jar(&h, "/cookies", 2);
    silk_request *nm = dl_req_path(&h, "/cookies");
    silk_dict_set_bool(silk_request_meta(nm), "dont_merge_cookies", true);
    dl_outcome *dnm = dl_fetch_req(&h, nm);
    /* another host has its own cookies */
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/cookies", silk_testserver_port(h.srv));
    dl_outcome *other = dl_fetch_req(&h, dl_req(url));
    /* request.cookies are merged into the jar and sent */
    silk_request *rc = dl_req_path(&h, "/cookies");
    rc->cookies = silk_value_new_dict();
    silk_dict_set_str(rc->cookies, "c", "3");
    silk_dict_set_int(rc->cookies, "n", 7);
    dl_outcome *drc = dl_fetch_req(&h, rc);
    dl_run(&h, 10);
    char b[64];
    assert_string_equal(cookie_of(d0, "a", b, sizeof b), "1");
    assert_string_equal(cookie_of(d0, "b", b, sizeof b), "2");
    assert_null(cookie_of(d0, "x", b, sizeof b));
    assert_string_equal(cookie_of(d1, "x", b, sizeof b), "jar1");
    assert_null(cookie_of(d1, "a", b, sizeof b));
    assert_string_equal(cookie_of(d2, "x", b, sizeof b), "jar2");
    assert_null(cookie_of(dnm, "a", b, sizeof b));
    assert_null(cookie_of(other, "a", b, sizeof b));
    assert_string_equal(cookie_of(drc, "c", b, sizeof b), "3");
    assert_string_equal(cookie_of(drc, "n", b, sizeof b), "7");
    assert_string_equal(cookie_of(drc, "a", b, sizeof b), "1");
    /* they stay in the jar */
    dl_outcome *again = in_jar(&h, "/cookies", 0);
    dl_outcome *del = in_jar(&h, "/cookies/delete?a", 0);
    dl_run(&h, 10);
    assert_string_equal(cookie_of(again, "c", b, sizeof b), "3");
    assert_int_equal(del->resp->status, 200);
    dl_outcome *after = in_jar(&h, "/cookies", 0);
    dl_run(&h, 10);
    assert_null(cookie_of(after, "a", b, sizeof b));
    assert_string_equal(cookie_of(after, "b", b, sizeof b), "2");
    /* COOKIES_DEBUG */
    snprintf(url, sizeof url, "Received cookies from: <200 %s/cookies/set?a=1&b=2>\nSet-Cookie: a=1; Path=/\n\nSet-Cookie: b=2; Path=/\n",
             silk_testserver_url(h.srv));
    assert_true(dl_log_has(url));
    snprintf(url, sizeof url, "Sending cookies to: <GET %s/cookies>\nCookie: ", silk_testserver_url(h.srv));
    assert_true(dl_log_has(url));
    dl_teardown(&h);

    const char *off[] = { "COOKIES_ENABLED=false", NULL };
    dl_setup(&h, off);
    dl_add(&h, silk_mw_cookies());
    in_jar(&h, "/cookies/set?a=1", 0);
    dl_run(&h, 10);
    dl_outcome *none = in_jar(&h, "/cookies", 0);
    dl_run(&h, 10);
    assert_null(cookie_of(none, "a", b, sizeof b));
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* RFC 6265 rules, with Set-Cookie lines injected by a middleware at 800
 * (its process_response runs before the cookie middleware's). */
static void test_cookies_rules(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_cookies());
    static const char *const lines[] = {
        "plain=1",
        "spaced = two ; Path=/",
        "gone=1; Max-Age=0",
        "past=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "future=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
        "maxage=1; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "sub=1; Path=/cookies/sub",
        "other=1; Path=/elsewhere",
        "secure=1; Secure",
        "foreign=1; Domain=example.com",
        "tld=1; Domain=com",
        "self=1; Domain=127.0.0.1",
        "novalue",
        "=nameless",
        NULL,
    };
    spy s = { .order = 800, .add_set_cookie = lines };
    silk_downloader_mw m = spy_mw(&s);
    add_spy(&h, &m);
    dl_fetch(&h, "/"); /* default-path "/" */
    dl_run(&h, 10);
    s.add_set_cookie = NULL;
    dl_outcome *root = dl_fetch(&h, "/cookies");
    dl_outcome *sub = dl_fetch(&h, "/cookies/sub/x");
    dl_run(&h, 10);
    char b[64];
    assert_string_equal(cookie_of(root, "plain", b, sizeof b), "1");
    assert_string_equal(cookie_of(root, "spaced", b, sizeof b), "two");
    assert_string_equal(cookie_of(root, "future", b, sizeof b), "1");
    assert_string_equal(cookie_of(root, "maxage", b, sizeof b), "1"); /* Max-Age wins */
    assert_string_equal(cookie_of(root, "self", b, sizeof b), "1");
    assert_null(cookie_of(root, "gone", b, sizeof b));
    assert_null(cookie_of(root, "past", b, sizeof b));
    assert_null(cookie_of(root, "sub", b, sizeof b));
    assert_null(cookie_of(root, "other", b, sizeof b));
    assert_null(cookie_of(root, "secure", b, sizeof b)); /* http: not sent */
    assert_null(cookie_of(root, "foreign", b, sizeof b));
    assert_null(cookie_of(root, "tld", b, sizeof b));
    assert_null(cookie_of(root, "novalue", b, sizeof b));
    /* /cookies/sub/x does not route to /cookies: the echo is a 404; look
     * at what was sent instead */
    assert_true(s.seen_cookie);
    (void)sub;
    dl_teardown(&h);

    /* order: longer path first, then older first */
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_cookies());
    static const char *const ordered[] = { "a=1; Path=/", "b=2; Path=/headers", "c=3; Path=/", NULL };
    spy s2 = { .order = 800, .add_set_cookie = ordered };
    silk_downloader_mw m2 = spy_mw(&s2);
    add_spy(&h, &m2);
    dl_fetch(&h, "/");
    dl_run(&h, 10);
    s2.add_set_cookie = NULL;
    dl_outcome *o = dl_fetch(&h, "/headers");
    dl_run(&h, 10);
    char hb[256];
    assert_string_equal(echoed(o, "Cookie", hb, sizeof hb), "b=2; a=1; c=3");
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- robots.txt ---- */

static void test_robots_rules(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.robots_txt = "User-agent: *\nDisallow: /p/1.html\nDisallow: /private\nCrawl-delay: 0.2\n\n"
                     "User-agent: special\nDisallow: /\n";
    const char *set[] = { "RANDOMIZE_DOWNLOAD_DELAY=false", NULL };
    dl_h h;
    dl_setup_opts(&h, &opt, set);
    dl_add(&h, silk_mw_robotstxt());
    dl_add(&h, silk_mw_downloader_stats());
    dl_outcome *forbidden = dl_fetch(&h, "/p/1.html");
    dl_outcome *ok[4];
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "/p/%d.html", i + 2);
        ok[i] = dl_fetch(&h, p);
    }
    dl_outcome *priv = dl_fetch(&h, "/private/x");
    /* all of them wait for robots.txt */
    assert_int_equal(silk_downloader_transferring(h.d), 1);
    dl_run(&h, 10);
    assert_int_equal(forbidden->kind, SILK_FETCH_FAILURE);
    assert_string_equal(forbidden->type, "scrapy.exceptions.IgnoreRequest");
    assert_string_equal(forbidden->msg, "Forbidden by robots.txt");
    assert_int_equal(priv->kind, SILK_FETCH_FAILURE);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ok[i]->kind, SILK_FETCH_RESPONSE);
    /* fetched once, for all */
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 1);
    assert_int_equal(dl_stat(&h, "robotstxt/request_count"), 1);
    assert_int_equal(dl_stat(&h, "robotstxt/response_count"), 1);
    assert_int_equal(dl_stat(&h, "robotstxt/response_status_count/200"), 1);
    assert_int_equal(dl_stat(&h, "robotstxt/forbidden"), 2);
    /* as in Scrapy, the IgnoreRequest goes through process_exception */
    assert_int_equal(dl_stat(&h, "downloader/exception_type_count/scrapy.exceptions.IgnoreRequest"), 2);
    char line[256];
    snprintf(line, sizeof line, "Forbidden by robots.txt: <GET %s/p/1.html>", silk_testserver_url(h.srv));
    assert_true(dl_log_has(line));
    /* Crawl-delay went to the slot: the 4 allowed pages came 0.2 s apart */
    assert_true(silk_downloader_slot_delay(h.d, "127.0.0.1") == 0.2);
    double first = 1e9, last = 0;
    for (int i = 0; i < 4; i++) {
        first = dl_started(ok[i]) < first ? dl_started(ok[i]) : first;
        last = dl_started(ok[i]) > last ? dl_started(ok[i]) : last;
    }
    assert_true(last - first >= 0.54);
    /* later requests use the parsed file without another fetch; another
     * user agent gets its own group; dont_obey_robotstxt passes */
    silk_request *sp = dl_req_path(&h, "/p/9.html");
    silk_headers_set(&sp->headers, "User-Agent", "special/1.0");
    dl_outcome *special = dl_fetch_req(&h, sp);
    dl_outcome *again = dl_fetch(&h, "/p/1.html");
    dl_outcome *dont = dl_fetch_req(&h, with_meta_int(dl_req_path(&h, "/p/1.html"), "dont_obey_robotstxt", 1));
    dl_run(&h, 10);
    assert_int_equal(special->kind, SILK_FETCH_FAILURE);
    assert_int_equal(again->kind, SILK_FETCH_FAILURE);
    assert_int_equal(dont->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 1);
    /* another netloc (same server, another host name): its own robots.txt */
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/p/1.html", silk_testserver_port(h.srv));
    dl_outcome *lh = dl_fetch_req(&h, dl_req(url));
    dl_run(&h, 10);
    assert_int_equal(lh->kind, SILK_FETCH_FAILURE);
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 2);
    dl_teardown(&h);

    /* 4xx: no rules */
    silk_testserver_options o404 = { 0 };
    o404.robots_txt = "User-agent: *\nDisallow: /\n";
    o404.robots_status = 404;
    dl_setup_opts(&h, &o404, NULL);
    dl_add(&h, silk_mw_robotstxt());
    dl_outcome *a = dl_fetch(&h, "/p/1.html");
    dl_run(&h, 10);
    assert_int_equal(a->kind, SILK_FETCH_RESPONSE);
    dl_teardown(&h);

    /* ROBOTSTXT_OBEY=false: off */
    const char *off[] = { "ROBOTSTXT_OBEY=false", NULL };
    opt.robots_status = 0;
    dl_setup_opts(&h, &opt, off);
    dl_add(&h, silk_mw_robotstxt());
    a = dl_fetch(&h, "/p/1.html");
    dl_run(&h, 10);
    assert_int_equal(a->kind, SILK_FETCH_RESPONSE);
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 0);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* 5xx on robots.txt holds the netloc back, retries, and gives up into a
 * complete disallow. */
static void test_robots_5xx_held(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.robots_status = 503;
    const char *set[] = { "ROBOTSTXT_RETRY_DELAY=0.3", "ROBOTSTXT_RETRY_TIMES=2", NULL };
    dl_h h;
    dl_setup_opts(&h, &opt, set);
    dl_add(&h, silk_mw_robotstxt());
    dl_add(&h, silk_mw_retry()); /* robots.txt goes through the chain: retried too */
    h.follow = true;
    dl_outcome *a = dl_fetch(&h, "/p/1.html");
    dl_outcome *b = dl_fetch(&h, "/p/2.html");
    dl_run(&h, 20);
    assert_int_equal(a->kind, SILK_FETCH_FAILURE);
    assert_string_equal(a->type, "scrapy.exceptions.IgnoreRequest");
    assert_string_equal(a->msg, "robots.txt unreachable");
    assert_int_equal(b->kind, SILK_FETCH_FAILURE);
    /* never allowed through: no page was fetched */
    assert_int_equal(silk_testserver_hits(h.srv, "/p/1.html"), 0);
    /* 3 attempts (1 + ROBOTSTXT_RETRY_TIMES), each retried twice by RetryMiddleware */
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 9);
    assert_int_equal(dl_stat(&h, "robotstxt/request_count"), 3);
    assert_int_equal(dl_stat(&h, "robotstxt/held"), 2);
    assert_int_equal(dl_stat(&h, "robotstxt/unreachable"), 1);
    assert_true(a->done_at >= 0.55);
    assert_true(dl_log_has("answered 503 Service Unavailable: holding back 2 request(s) to 127.0.0.1:"));
    assert_true(dl_log_has("unreachable after 3 attempts (503 Service Unavailable): its requests are dropped"));
    /* later requests to that netloc are dropped at once */
    dl_outcome *c = dl_fetch(&h, "/p/3.html");
    dl_run(&h, 10);
    assert_string_equal(c->msg, "robots.txt unreachable");
    dl_teardown(&h);

    /* held, then robots.txt comes back: the requests go on. A spy at 50
     * turns the first answer into a 503 and leaves the second. */
    silk_testserver_options ok = { 0 };
    ok.robots_txt = "User-agent: *\nDisallow: /p/1.html\n";
    const char *set2[] = { "ROBOTSTXT_RETRY_DELAY=0.2", NULL };
    dl_setup_opts(&h, &ok, set2);
    spy s = { .order = 50, .robots_status = { 503, 0 } };
    silk_downloader_mw m = spy_mw(&s);
    add_spy(&h, &m);
    dl_add(&h, silk_mw_robotstxt());
    a = dl_fetch(&h, "/p/1.html");
    b = dl_fetch(&h, "/p/2.html");
    dl_run(&h, 10);
    assert_int_equal(a->kind, SILK_FETCH_FAILURE);
    assert_string_equal(a->msg, "Forbidden by robots.txt");
    assert_int_equal(b->kind, SILK_FETCH_RESPONSE);
    assert_true(b->done_at >= 0.18);
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 2);
    dl_teardown(&h);

    /* a timeout holds back the same way */
    dl_setup_opts(&h, &ok, set2);
    spy t = { .order = 200, .robots_timeout = true };
    silk_downloader_mw mt = spy_mw(&t);
    add_spy(&h, &mt);
    dl_add(&h, silk_mw_robotstxt());
    a = dl_fetch(&h, "/p/2.html");
    dl_spin(&h, 0.1);
    assert_false(a->done);
    t.robots_timeout = false;
    dl_run(&h, 10);
    assert_int_equal(a->kind, SILK_FETCH_RESPONSE);
    assert_true(dl_log_has("answered a timeout: holding back 1 request(s)"));
    assert_int_equal(dl_stat(&h, "robotstxt/exception_count/twisted.internet.error.TimeoutError"), 1);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* The downloader freed while robots.txt holds requests back (PENDING) and
 * a retry timer is armed: nothing leaks, no callback runs. */
static void test_robots_free_while_held(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.robots_status = 503;
    const char *set[] = { "ROBOTSTXT_RETRY_DELAY=30", NULL };
    dl_h h;
    dl_setup_opts(&h, &opt, set);
    dl_add(&h, silk_mw_robotstxt());
    dl_outcome *a = dl_fetch(&h, "/p/1.html");
    dl_outcome *b = dl_fetch(&h, "/p/2.html");
    dl_spin(&h, 0.3);
    assert_true(dl_log_has("holding back 2 request(s)"));
    assert_int_equal(silk_downloader_active(h.d), 2);
    silk_downloader_free(h.d);
    h.d = NULL;
    assert_false(a->done);
    assert_false(b->done);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- HttpAuth ---- */

static void test_httpauth(void **state)
{
    (void)state;
    const char *set[] = { "HTTPAUTH_USER=user", "HTTPAUTH_PASS=pa:ss", "HTTPAUTH_DOMAIN=127.0.0.1", NULL };
    dl_h h;
    dl_setup(&h, set);
    dl_add(&h, silk_mw_httpauth());
    dl_outcome *ok = dl_fetch(&h, "/basic-auth/user/pa%3Ass");
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/basic-auth/user/pa%%3Ass", silk_testserver_port(h.srv));
    dl_outcome *other = dl_fetch_req(&h, dl_req(url));
    silk_request *m = dl_req(url);
    silk_dict_set_str(silk_request_meta(m), "http_user", "bob");
    silk_dict_set_str(silk_request_meta(m), "http_pass", "pw");
    silk_request *mr = dl_req_path(&h, "/basic-auth/bob/pw");
    silk_dict_set_str(silk_request_meta(mr), "http_user", "bob");
    silk_dict_set_str(silk_request_meta(mr), "http_pass", "pw");
    dl_outcome *meta = dl_fetch_req(&h, mr);
    dl_outcome *meta_wrong = dl_fetch_req(&h, m);
    dl_run(&h, 10);
    assert_int_equal(ok->resp->status, 200);
    assert_int_equal(other->resp->status, 401); /* not sent to another domain */
    assert_int_equal(meta->resp->status, 200);
    assert_int_equal(meta_wrong->resp->status, 401);
    dl_teardown(&h);

    /* no HTTPAUTH_DOMAIN: the first request's domain, with Scrapy's warning */
    const char *set2[] = { "HTTPAUTH_USER=user", "HTTPAUTH_PASS=pw", NULL };
    dl_setup(&h, set2);
    dl_add(&h, silk_mw_httpauth());
    assert_true(dl_log_has("Using HttpAuthMiddleware without HTTPAUTH_DOMAIN is deprecated"));
    ok = dl_fetch(&h, "/basic-auth/user/pw");
    dl_run(&h, 10);
    snprintf(url, sizeof url, "http://localhost:%d/basic-auth/user/pw", silk_testserver_port(h.srv));
    other = dl_fetch_req(&h, dl_req(url));
    dl_run(&h, 10);
    assert_int_equal(ok->resp->status, 200);
    assert_int_equal(other->resp->status, 401);
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- HttpProxy ---- */

static void test_httpproxy(void **state)
{
    (void)state;
    dl_h h;
    dl_setup(&h, NULL);
    dl_add(&h, silk_mw_httpproxy());
    /* the test server answers proxy-form requests ("GET http://host/path")
     * by path: it stands in for a proxy */
    char proxy[128];
    snprintf(proxy, sizeof proxy, "http://us%%40er:p%%3Ass@127.0.0.1:%d", silk_testserver_port(h.srv));
    silk_request *r = dl_req("http://example.invalid/headers");
    silk_dict_set_str(silk_request_meta(r), "proxy", proxy);
    dl_outcome *o = dl_fetch_req(&h, r);
    dl_run(&h, 10);
    dl_print_failure(o);
    char b[256];
    assert_string_equal(echoed(o, "Host", b, sizeof b), "example.invalid");
    /* base64("us@er:p:ss") */
    assert_string_equal(echoed(o, "Proxy-Authorization", b, sizeof b), "Basic dXNAZXI6cDpzcw==");
    char want[128];
    snprintf(want, sizeof want, "http://127.0.0.1:%d", silk_testserver_port(h.srv));
    assert_string_equal(silk_dict_get_str(o->req->meta, "proxy", ""), want);
    assert_string_equal(silk_dict_get_str(o->req->meta, "_auth_proxy", ""), want);
    /* a request whose proxy was removed: its credentials go too */
    silk_request *r2 = dl_req_path(&h, "/headers");
    silk_headers_set(&r2->headers, "Proxy-Authorization", "Basic eDp5");
    silk_dict_set(silk_request_meta(r2), "proxy", silk_value_new_null());
    silk_dict_set_str(r2->meta, "_auth_proxy", want);
    dl_outcome *o2 = dl_fetch_req(&h, r2);
    /* process_request ran inside the fetch call */
    assert_int_equal(silk_headers_count(&r2->headers, "Proxy-Authorization"), 0);
    assert_null(silk_dict_get(r2->meta, "_auth_proxy"));
    dl_run(&h, 10);
    assert_null(echoed(o2, "Proxy-Authorization", b, sizeof b));
    dl_teardown(&h);

    /* from the environment, with no_proxy */
    char env[128];
    snprintf(env, sizeof env, "http://127.0.0.1:%d", 0);
    dl_setup(&h, NULL);
    snprintf(env, sizeof env, "http://127.0.0.1:%d", silk_testserver_port(h.srv));
    setenv("http_proxy", env, 1);
    setenv("no_proxy", "localhost, .also.invalid", 1);
    dl_add(&h, silk_mw_httpproxy());
    dl_outcome *via = dl_fetch_req(&h, dl_req("http://through.invalid/headers"));
    char direct_url[128];
    snprintf(direct_url, sizeof direct_url, "http://localhost:%d/headers", silk_testserver_port(h.srv));
    dl_outcome *direct = dl_fetch_req(&h, dl_req(direct_url));
    /* the decision is made in process_request, inside the fetch call */
    silk_request *sub = dl_req("http://a.also.invalid/headers");
    silk_dict_set_double(silk_request_meta(sub), "download_timeout", 2);
    dl_outcome *skip2 = dl_fetch_req(&h, sub);
    assert_null(silk_dict_get(sub->meta, "proxy"));
    dl_run(&h, 20);
    unsetenv("http_proxy");
    unsetenv("no_proxy");
    assert_string_equal(echoed(via, "Host", b, sizeof b), "through.invalid");
    assert_string_equal(silk_dict_get_str(via->req->meta, "proxy", ""), env);
    assert_int_equal(direct->kind, SILK_FETCH_RESPONSE);
    assert_null(silk_dict_get(direct->req->meta, "proxy"));
    assert_int_equal(skip2->kind, SILK_FETCH_FAILURE); /* direct: no such host */
    dl_teardown(&h);

    const char *off[] = { "HTTPPROXY_ENABLED=false", NULL };
    setenv("http_proxy", env, 1);
    dl_setup(&h, off);
    dl_add(&h, silk_mw_httpproxy());
    unsetenv("http_proxy");
    o = dl_fetch(&h, "/headers");
    dl_run(&h, 10);
    assert_null(silk_dict_get(o->req->meta, "proxy"));
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

/* ---- the whole base stack ---- */

static void test_base_stack(void **state)
{
    (void)state;
    const silk_downloader_mw *const *base = silk_downloader_middlewares_base();
    static const struct {
        const char *name;
        int order;
    } want[] = {
        { "RobotsTxtMiddleware", 100 },      { "HttpAuthMiddleware", 300 },
        { "DownloadTimeoutMiddleware", 350 }, { "DefaultHeadersMiddleware", 400 },
        { "UserAgentMiddleware", 500 },      { "RetryMiddleware", 550 },
        { "MetaRefreshMiddleware", 580 },    { "HttpCompressionMiddleware", 590 },
        { "RedirectMiddleware", 600 },       { "CookiesMiddleware", 700 },
        { "HttpProxyMiddleware", 750 },      { "DownloaderStats", 850 },
    };
    size_t n = 0;
    for (; base[n]; n++) {
        assert_string_equal(base[n]->name, want[n].name);
        assert_int_equal(base[n]->order, want[n].order);
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);

    const char *set[] = { "RETRY_TIMES=1", NULL };
    dl_h h;
    dl_setup(&h, set);
    assert_int_equal(silk_downloader_add_base_middlewares(h.d, &h.env), 0);
    /* a user middleware at 560: after UserAgent (500), before Cookies (700) */
    spy s = { .order = 560 };
    silk_downloader_mw m = spy_mw(&s);
    add_spy(&h, &m);
    h.follow = true;
    dl_fetch(&h, "/cookies/set?session=1");
    dl_run(&h, 10);
    dl_outcome *o = dl_fetch(&h, "/redirect/2");
    dl_outcome *r = dl_fetch(&h, "/status/500");
    dl_run(&h, 10);
    /* alone, so that the spy's last request is this one (a retry or a
     * redirect carries the Cookie header of its first pass, as in Scrapy) */
    dl_outcome *c = dl_fetch(&h, "/cookies");
    dl_run(&h, 10);
    char b[64];
    assert_int_equal(o->resp->status, 200);
    assert_int_equal(r->resp->status, 500);
    assert_int_equal(r->hops, 1);
    assert_string_equal(cookie_of(c, "session", b, sizeof b), "1");
    char ua[64];
    snprintf(ua, sizeof ua, "silk/%s", silk_version());
    assert_string_equal(s.seen_ua, ua);
    assert_false(s.seen_cookie); /* 700 runs after 560 */
    /* robots.txt (1) + cookies/set + 3 redirect hops + 2 status + cookies */
    assert_int_equal(dl_stat(&h, "downloader/request_count"), 8);
    assert_int_equal(dl_stat(&h, "robotstxt/request_count"), 1);
    assert_int_equal(dl_stat(&h, "retry/count"), 1);
    assert_int_equal(s.requests, 8);
    dl_teardown(&h);

    /* DOWNLOADER_MIDDLEWARES removes or moves one */
    const char *set2[] = { "DOWNLOADER_MIDDLEWARES={\"RetryMiddleware\": null, "
                           "\"scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware\": null}",
                           NULL };
    dl_setup(&h, set2);
    assert_int_equal(silk_downloader_add_base_middlewares(h.d, &h.env), 0);
    h.follow = true;
    o = dl_fetch(&h, "/status/503");
    dl_run(&h, 10);
    assert_int_equal(o->hops, 0);
    assert_int_equal(silk_testserver_hits(h.srv, "/robots.txt"), 0);
    dl_teardown(&h);

    const char *bad[] = { "DOWNLOADER_MIDDLEWARES={\"RetryMiddleware\": \"first\"}", NULL };
    dl_setup(&h, bad);
    assert_int_equal(silk_downloader_add_base_middlewares(h.d, &h.env), SILK_ETYPE);
    assert_non_null(strstr(silk_last_error(), "DOWNLOADER_MIDDLEWARES"));
    dl_teardown(&h);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_middlewares),
        cmocka_unit_test(test_retry_http_codes),
        cmocka_unit_test(test_retry_exceptions),
        cmocka_unit_test(test_redirect_follow),
        cmocka_unit_test(test_redirect_limits),
        cmocka_unit_test(test_redirect_methods),
        cmocka_unit_test(test_redirect_cross_domain),
        cmocka_unit_test(test_metarefresh),
        cmocka_unit_test(test_cookies_jars),
        cmocka_unit_test(test_cookies_rules),
        cmocka_unit_test(test_robots_rules),
        cmocka_unit_test(test_robots_5xx_held),
        cmocka_unit_test(test_robots_free_while_held),
        cmocka_unit_test(test_httpauth),
        cmocka_unit_test(test_httpproxy),
        cmocka_unit_test(test_base_stack),
    };
    if (getenv("TEST_FILTER")) /* run some: TEST_FILTER=test_retry* */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
