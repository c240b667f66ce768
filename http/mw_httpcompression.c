/* silk — HttpCompressionMiddleware (order 590, COMPRESSION_ENABLED).
 *
 * The downloader decodes bodies itself (libcurl's decoders, with the size
 * limit applied to the decoded bytes), so this middleware only does what
 * is visible of Scrapy's: it asks for compression and counts the decoded
 * responses. */
#include <string.h>
#include <strings.h>

#include "http/mw_internal.h"
#include "silk/error.h"
#include "silk/middlewares.h"

/* Scrapy's ACCEPT_ENCODING with brotli installed, as libcurl has it. */
#define ACCEPT_ENCODING "gzip, deflate, br"

static int hc_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    (void)mw;
    return silk__set_bool(env, "COMPRESSION_ENABLED", true) ? 0 : SILK_ENOTFOUND;
}

static silk_mw_result hc_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                 silk_mw_out *out)
{
    (void)mw;
    (void)fetch;
    (void)out;
    if (!silk_headers_count(&req->headers, "Accept-Encoding"))
        silk_headers_add(&req->headers, "Accept-Encoding", ACCEPT_ENCODING);
    return SILK_MW_CONTINUE;
}

static silk_mw_result hc_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                  silk_response *resp, silk_mw_out *out)
{
    (void)out;
    if (strcmp(req->method, "HEAD") == 0 || !fetch)
        return SILK_MW_CONTINUE;
    const char *ce = silk_fetch_content_encoding(fetch);
    if (ce && strcasecmp(ce, "identity") != 0) {
        silk__stat_inc(mw->env, "httpcompression/response_bytes", (int64_t)resp->body_len);
        silk__stat_inc(mw->env, "httpcompression/response_count", 1);
    }
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw hc_mw = {
    .name = "HttpCompressionMiddleware",
    .order = 590,
    .open = hc_open,
    .process_request = hc_request,
    .process_response = hc_response,
};

const silk_downloader_mw *silk_mw_httpcompression(void) { return &hc_mw; }
