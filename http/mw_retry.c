/* silk — RetryMiddleware (order 550, RETRY_ENABLED): Scrapy's
 * get_retry_request. A response whose status is in RETRY_HTTP_CODES, or a
 * connection-level failure, comes back as a new request (meta retry_times
 * + 1, dont_filter, priority + RETRY_PRIORITY_ADJUST) until RETRY_TIMES
 * (meta max_retry_times) retries were made; meta dont_retry turns it off
 * for one request. */
#include <stdlib.h>
#include <string.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"

#define LOGGER "silk.downloadermiddlewares.retry"

typedef struct retry_state {
    int64_t max_retry_times;
    int64_t priority_adjust;
    int64_t *codes;
    size_t ncodes;
} retry_state;

/* Scrapy's EXCEPTIONS_TO_RETRY, by the names silk's failures carry. */
static const char *const retry_exceptions[] = {
    "twisted.internet.defer.TimeoutError",
    "twisted.internet.error.TimeoutError",
    "twisted.internet.error.DNSLookupError",
    "twisted.internet.error.ConnectionRefusedError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
    "twisted.internet.error.TCPTimedOutError",
    "twisted.web._newclient.ResponseFailed",
    "twisted.web._newclient.ResponseNeverReceived", /* a ResponseFailed */
    "OSError", /* IOError */
    "scrapy.core.downloader.handlers.http11.TunnelError",
};

static int retry_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk__set_bool(env, "RETRY_ENABLED", true))
        return SILK_ENOTFOUND;
    retry_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    mw->state = st;
    st->max_retry_times = silk__set_int(env, "RETRY_TIMES", 2);
    st->priority_adjust = silk__set_int(env, "RETRY_PRIORITY_ADJUST", -1);
    silk_value *codes = NULL;
    int rc = env && env->settings ? silk_settings_get_list(env->settings, "RETRY_HTTP_CODES", &codes)
                                  : SILK_ENOTFOUND;
    if (rc == SILK_ENOTFOUND) {
        static const int64_t def[] = { 500, 502, 503, 504, 522, 524, 408, 429 };
        st->codes = silk_malloc(sizeof def);
        if (!st->codes)
            return SILK_ENOMEM;
        memcpy(st->codes, def, sizeof def);
        st->ncodes = sizeof def / sizeof def[0];
        return 0;
    }
    if (rc)
        return rc;
    st->codes = silk_calloc(codes->u.list.len + 1, sizeof *st->codes);
    if (!st->codes) {
        silk_value_free(codes);
        return SILK_ENOMEM;
    }
    for (size_t i = 0; i < codes->u.list.len; i++) {
        const silk_value *v = codes->u.list.items[i];
        char *end = NULL;
        if (v->kind == SILK_V_INT) {
            st->codes[st->ncodes++] = v->u.i;
        } else if (v->kind == SILK_V_STRING && (strtoll(v->u.s.ptr, &end, 10), end && end != v->u.s.ptr)) {
            st->codes[st->ncodes++] = strtoll(v->u.s.ptr, NULL, 10);
        } else {
            silk_value_free(codes);
            return silk_error(SILK_ETYPE, "setting RETRY_HTTP_CODES: expected a list of integers");
        }
    }
    silk_value_free(codes);
    return 0;
}

static void retry_close(silk_downloader_mw *mw)
{
    retry_state *st = mw->state;
    if (st) {
        silk_free(st->codes);
        silk_free(st);
    }
    mw->state = NULL;
}

/* get_retry_request: a new request, or NULL when retries are exhausted
 * (or memory is). reason_stat is the reason_count key's tail; reason_log
 * what the log line says. */
static silk_request *retry_request(silk_downloader_mw *mw, silk_request *req, const char *reason_stat,
                                   const char *reason_log)
{
    retry_state *st = mw->state;
    int64_t retry_times = silk_dict_get_int(req->meta, "retry_times", 0) + 1;
    int64_t max = silk_dict_get_int(req->meta, "max_retry_times", st->max_retry_times);
    int64_t adjust = silk_dict_get_int(req->meta, "priority_adjust", st->priority_adjust);
    char repr[2200];
    silk__request_repr(req, repr, sizeof repr);
    if (retry_times <= max) {
        silk_log(SILK_LOG_DEBUG, LOGGER, "Retrying %s (failed %lld times): %s", repr, (long long)retry_times,
                 reason_log);
        silk_request *n = silk_request_copy(req);
        silk_value *meta = n ? silk_request_meta(n) : NULL;
        if (!meta || silk_dict_set_int(meta, "retry_times", retry_times)) {
            silk_unref(n);
            return NULL;
        }
        n->dont_filter = true;
        n->priority = req->priority + (int)adjust;
        silk__stat_inc(mw->env, "retry/count", 1);
        silk__stat_incf(mw->env, 1, "retry/reason_count/%s", reason_stat);
        return n;
    }
    silk__stat_inc(mw->env, "retry/max_reached", 1);
    silk_log(SILK_LOG_ERROR, LOGGER, "Gave up retrying %s (failed %lld times): %s", repr, (long long)retry_times,
             reason_log);
    return NULL;
}

static silk_mw_result retry_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                     silk_response *resp, silk_mw_out *out)
{
    (void)fetch;
    retry_state *st = mw->state;
    if (silk__meta_true(req->meta, "dont_retry"))
        return SILK_MW_CONTINUE;
    for (size_t i = 0; i < st->ncodes; i++) {
        if (st->codes[i] != resp->status)
            continue;
        char reason[128];
        silk__status_message(resp->status, reason, sizeof reason);
        out->request = retry_request(mw, req, reason, reason);
        return out->request ? SILK_MW_REQUEST : SILK_MW_CONTINUE;
    }
    return SILK_MW_CONTINUE;
}

static silk_mw_result retry_exception(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                      silk_failure *failure, silk_mw_out *out)
{
    (void)fetch;
    if (!failure || silk__meta_true(req->meta, "dont_retry"))
        return SILK_MW_CONTINUE;
    bool retryable = false;
    for (size_t i = 0; i < sizeof retry_exceptions / sizeof retry_exceptions[0] && !retryable; i++)
        retryable = strcmp(failure->type, retry_exceptions[i]) == 0;
    if (!retryable)
        return SILK_MW_CONTINUE;
    out->request = retry_request(mw, req, failure->type, failure->message);
    return out->request ? SILK_MW_REQUEST : SILK_MW_CONTINUE;
}

static const silk_downloader_mw retry_mw = {
    .name = "RetryMiddleware",
    .order = 550,
    .open = retry_open,
    .close = retry_close,
    .process_response = retry_response,
    .process_exception = retry_exception,
};

const silk_downloader_mw *silk_mw_retry(void) { return &retry_mw; }
