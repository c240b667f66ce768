/* silk — UserAgentMiddleware (order 500): User-Agent from USER_AGENT when
 * the request has none. */
#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/middlewares.h"
#include "silk/silk.h"

static int ua_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    const char *ua = silk__set_str(env, "USER_AGENT", NULL);
    char *copy = ua ? silk_strdup(ua) : silk_asprintf("silk/%s", silk_version());
    if (!copy)
        return SILK_ENOMEM;
    if (!*copy) { /* USER_AGENT="" sends none, as Scrapy */
        silk_free(copy);
        return SILK_ENOTFOUND;
    }
    mw->state = copy;
    return 0;
}

static void ua_close(silk_downloader_mw *mw)
{
    silk_free(mw->state);
    mw->state = NULL;
}

static silk_mw_result ua_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                 silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    if (!silk_headers_count(&req->headers, "User-Agent"))
        silk_headers_add(&req->headers, "User-Agent", mw->state);
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw ua_mw = {
    .name = "UserAgentMiddleware",
    .order = 500,
    .open = ua_open,
    .close = ua_close,
    .process_request = ua_request,
};

const silk_downloader_mw *silk_mw_useragent(void) { return &ua_mw; }
