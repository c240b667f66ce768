/* silk — DownloadTimeoutMiddleware (order 350): meta download_timeout
 * defaults to DOWNLOAD_TIMEOUT, as in Scrapy. */
#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/middlewares.h"

typedef struct timeout_state {
    double timeout;
} timeout_state;

static int timeout_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    timeout_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    st->timeout = silk__set_double(env, "DOWNLOAD_TIMEOUT", 180);
    mw->state = st;
    return 0;
}

static void timeout_close(silk_downloader_mw *mw)
{
    silk_free(mw->state);
    mw->state = NULL;
}

static silk_mw_result timeout_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                      silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    timeout_state *st = mw->state;
    if (st->timeout > 0) {
        silk_value *meta = silk__meta(req);
        if (meta && !silk_dict_get(meta, "download_timeout"))
            silk_dict_set_double(meta, "download_timeout", st->timeout);
    }
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw timeout_mw = {
    .name = "DownloadTimeoutMiddleware",
    .order = 350,
    .open = timeout_open,
    .close = timeout_close,
    .process_request = timeout_request,
};

const silk_downloader_mw *silk_mw_downloadtimeout(void) { return &timeout_mw; }
