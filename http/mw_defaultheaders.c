/* silk — DefaultHeadersMiddleware (order 400): DEFAULT_REQUEST_HEADERS,
 * each set only when the request does not have it (setdefault). */
#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"

static int dh_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    silk_value *d = NULL;
    if (!env || !env->settings)
        return SILK_ENOTFOUND;
    int rc = silk_settings_get_dict(env->settings, "DEFAULT_REQUEST_HEADERS", &d);
    if (rc == SILK_ENOTFOUND)
        return SILK_ENOTFOUND;
    if (rc)
        return rc;
    for (size_t i = 0; i < d->u.dict.len; i++) {
        const silk_value *v = d->u.dict.entries[i].value;
        if (v->kind != SILK_V_STRING && v->kind != SILK_V_LIST) {
            silk_value_free(d);
            return silk_error(SILK_ETYPE, "setting DEFAULT_REQUEST_HEADERS: the value of '%s' is not a string",
                              d->u.dict.entries[i].key);
        }
    }
    if (d->u.dict.len == 0) {
        silk_value_free(d);
        return SILK_ENOTFOUND;
    }
    mw->state = d;
    return 0;
}

static void dh_close(silk_downloader_mw *mw)
{
    silk_value_free(mw->state);
    mw->state = NULL;
}

static silk_mw_result dh_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                 silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    const silk_value *d = mw->state;
    for (size_t i = 0; i < d->u.dict.len; i++) {
        const char *name = d->u.dict.entries[i].key;
        const silk_value *v = d->u.dict.entries[i].value;
        if (silk_headers_count(&req->headers, name))
            continue;
        if (v->kind == SILK_V_STRING) {
            silk_headers_add(&req->headers, name, v->u.s.ptr);
        } else {
            for (size_t k = 0; k < v->u.list.len; k++)
                if (v->u.list.items[k]->kind == SILK_V_STRING)
                    silk_headers_add(&req->headers, name, v->u.list.items[k]->u.s.ptr);
        }
    }
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw dh_mw = {
    .name = "DefaultHeadersMiddleware",
    .order = 400,
    .open = dh_open,
    .close = dh_close,
    .process_request = dh_request,
};

const silk_downloader_mw *silk_mw_defaultheaders(void) { return &dh_mw; }
