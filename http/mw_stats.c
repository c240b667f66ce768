/* silk — DownloaderStats (order 850, DOWNLOADER_STATS): the downloader/...
 * stats under Scrapy's keys and with Scrapy's byte arithmetic. */
#include <string.h>
#include <strings.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/middlewares.h"
#include "silk/url.h"

static int stats_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    (void)mw;
    return silk__set_bool(env, "DOWNLOADER_STATS", true) ? 0 : SILK_ENOTFOUND;
}

/* len(request_httprepr(request)) */
static size_t request_bytes(const silk_request *r)
{
    const char *p = strstr(r->url, "://");
    p = p ? p + 3 + strcspn(p + 3, "/?#") : r->url;
    size_t path = strcspn(p, "#");
    if (path == 0 || *p != '/')
        path += 1; /* urlunparse puts the "/" of an empty path */
    size_t n = strlen(r->method) + 1 + path + 11;
    char fast[256];
    if (silk__url_host_fast(r->url, fast, sizeof fast)) {
        n += 6 + strlen(fast) + 2;
    } else {
        char *host = NULL;
        silk_url_host(r->url, &host);
        n += 6 + (host ? strlen(host) : 0) + 2;
        silk_free(host);
    }
    if (r->headers.len) {
        for (size_t i = 0; i < r->headers.len; i++)
            n += strlen(r->headers.items[i].name) + 2 + strlen(r->headers.items[i].value) + 2;
    }
    return n + 2 + r->body_len;
}

/* Scrapy's get_header_size: 2 + len(key) + len(value) per value, and 2 per
 * distinct name but one (so -2 for no header at all, as there). */
static long long header_size(const silk_headers *h, const char *extra_name, const char *extra_value)
{
    long long size = 0, names = 0;
    for (size_t i = 0; i < h->len; i++) {
        size += 2 + (long long)strlen(h->items[i].name) + (long long)strlen(h->items[i].value);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcasecmp(h->items[j].name, h->items[i].name) == 0;
        names += !seen;
    }
    if (extra_name) {
        size += 2 + (long long)strlen(extra_name) + (long long)strlen(extra_value);
        names++;
    }
    return size + 2 * (names - 1);
}

static silk_mw_result stats_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                    silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    silk__stat_inc(mw->env, "downloader/request_count", 1);
    silk__stat_incf(mw->env, 1, "downloader/request_method_count/%s", req->method);
    silk__stat_inc(mw->env, "downloader/request_bytes", (int64_t)request_bytes(req));
    return SILK_MW_CONTINUE;
}

static silk_mw_result stats_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                     silk_response *resp, silk_mw_out *out)
{
    (void)req;
    (void)out;
    /* At 850 Scrapy sees the body as it came (HttpCompression decodes it
     * later, at 590): count the encoded size and header when the
     * downloader decoded it. */
    const char *ce = fetch ? silk_fetch_content_encoding(fetch) : NULL;
    long long body = (long long)resp->body_len;
    if (ce && silk_fetch_wire_bytes(fetch))
        body = (long long)silk_fetch_wire_bytes(fetch);
    const char *phrase = silk__http_reason(resp->status);
    long long len = body + header_size(&resp->headers, ce ? "Content-Encoding" : NULL, ce) +
                    (long long)(phrase ? strlen(phrase) : 0) + 15 + 4;
    silk__stat_inc(mw->env, "downloader/response_count", 1);
    silk__stat_incf(mw->env, 1, "downloader/response_status_count/%d", resp->status);
    silk__stat_inc(mw->env, "downloader/response_bytes", len);
    return SILK_MW_CONTINUE;
}

static silk_mw_result stats_exception(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                      silk_failure *failure, silk_mw_out *out)
{
    (void)fetch;
    (void)req;
    (void)out;
    silk__stat_inc(mw->env, "downloader/exception_count", 1);
    silk__stat_incf(mw->env, 1, "downloader/exception_type_count/%s",
                    failure && failure->type ? failure->type : "Exception");
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw stats_mw = {
    .name = "DownloaderStats",
    .order = 850,
    .open = stats_open,
    .process_request = stats_request,
    .process_response = stats_response,
    .process_exception = stats_exception,
};

const silk_downloader_mw *silk_mw_downloader_stats(void) { return &stats_mw; }
