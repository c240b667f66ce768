/* silk — RedirectMiddleware (order 600, REDIRECT_ENABLED) and the redirect
 * logic it shares with MetaRefreshMiddleware (Scrapy's
 * BaseRedirectMiddleware).
 *
 * 301/302/303/307/308 with a Location header become a new request: 301,
 * 307, 308 and any HEAD keep method and body; 302 and 303 turn into a GET
 * without body, Content-Type or Content-Length. After REDIRECT_MAX_TIMES
 * hops (a loop gets there too) the request is dropped with IgnoreRequest
 * "max redirections reached" and the log line
 * "Discarding <GET url>: max redirections reached". */
#include <string.h>
#include <strings.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/url.h"

#define LOGGER "silk.downloadermiddlewares.redirect"

static bool https_to_http(const char *from, const char *to)
{
    return strncasecmp(from, "https:", 6) == 0 && strncasecmp(to, "http:", 5) == 0;
}

silk_request *silk__redirect_request(const silk_request *req, const char *url, bool to_get)
{
    silk_request *r = silk_request_copy(req);
    if (!r) {
        silk_error(SILK_ENOMEM, "out of memory copying the request");
        return NULL;
    }
    if (silk_request_set_url(r, url))
        goto err;
    silk_value_free(r->cookies);
    r->cookies = NULL;
    if (to_get) {
        silk_free(r->method);
        if (!(r->method = silk_strdup("GET")))
            goto nomem;
        silk_request_set_body(r, NULL, 0);
        silk_headers_del(&r->headers, "Content-Type");
        silk_headers_del(&r->headers, "Content-Length");
    }
    char *a = silk__url_netloc(req->url), *b = silk__url_netloc(r->url);
    if (!a || !b) {
        silk_free(a);
        silk_free(b);
        goto nomem;
    }
    bool moved = strcmp(a, b) != 0;
    silk_free(a);
    silk_free(b);
    if (moved)
        silk_headers_del(&r->headers, "Cookie");
    /* Credentials stay with the site they were meant for (Scrapy 2.11.1
     * does this too; 2.8 kept them): also across a downgrade to http. */
    if (moved || https_to_http(req->url, r->url)) {
        silk_headers_del(&r->headers, "Authorization");
        if (r->meta) {
            silk_dict_del(r->meta, "http_user");
            silk_dict_del(r->meta, "http_pass");
        }
    }
    return r;
nomem:
    silk_error(SILK_ENOMEM, "out of memory building the redirect");
err:
    silk_unref(r);
    return NULL;
}

static silk_value *list_plus(const silk_value *old, silk_value *item)
{
    silk_value *l = old && old->kind == SILK_V_LIST ? silk_value_copy(old) : silk_value_new_list();
    if (!l || !item) {
        silk_value_free(l);
        silk_value_free(item);
        return NULL;
    }
    if (silk_list_push(l, item)) {
        silk_value_free(l);
        return NULL;
    }
    return l;
}

silk_mw_result silk__redirect(const silk__redirect_cfg *cfg, silk_request *req, silk_request *redirected,
                              int status_reason, const char *text_reason, silk_mw_out *out)
{
    silk_value *meta = silk_request_meta(req);
    silk_value *rmeta = silk_request_meta(redirected);
    char repr[2200], rrepr[2200];
    if (!meta || !rmeta)
        goto nomem;
    int64_t ttl = silk_dict_get_int(meta, "redirect_ttl", cfg->max_times);
    if (!silk_dict_get(meta, "redirect_ttl") && silk_dict_set_int(meta, "redirect_ttl", ttl))
        goto nomem;
    int64_t redirects = silk_dict_get_int(meta, "redirect_times", 0) + 1;
    silk__request_repr(req, repr, sizeof repr);
    if (ttl && redirects <= cfg->max_times) {
        silk_value *reason = status_reason > 0 ? silk_value_new_int(status_reason)
                                               : silk_value_new_string(text_reason);
        silk_value *urls = list_plus(silk_dict_get(meta, "redirect_urls"), silk_value_new_string(req->url));
        silk_value *reasons = list_plus(silk_dict_get(meta, "redirect_reasons"), reason);
        if (!urls || !reasons) {
            silk_value_free(urls);
            silk_value_free(reasons);
            goto nomem;
        }
        if (silk_dict_set_int(rmeta, "redirect_times", redirects) ||
            silk_dict_set_int(rmeta, "redirect_ttl", ttl - 1) || silk_dict_set(rmeta, "redirect_urls", urls)) {
            silk_value_free(reasons);
            goto nomem;
        }
        if (silk_dict_set(rmeta, "redirect_reasons", reasons))
            goto nomem;
        redirected->dont_filter = req->dont_filter;
        redirected->priority = req->priority + (int)cfg->priority_adjust;
        silk__request_repr(redirected, rrepr, sizeof rrepr);
        if (status_reason > 0)
            silk_log(SILK_LOG_DEBUG, LOGGER, "Redirecting (%d) to %s from %s", status_reason, rrepr, repr);
        else
            silk_log(SILK_LOG_DEBUG, LOGGER, "Redirecting (%s) to %s from %s", text_reason, rrepr, repr);
        out->request = redirected;
        return SILK_MW_REQUEST;
    }
    silk_unref(redirected);
    silk_log(SILK_LOG_DEBUG, LOGGER, "Discarding %s: max redirections reached", repr);
    out->failure = silk_failure_new(SILK_ELIMIT, "scrapy.exceptions.IgnoreRequest", "max redirections reached",
                                    req, NULL);
    return SILK_MW_DROP;
nomem:
    silk_unref(redirected);
    out->failure = silk_failure_new(SILK_ENOMEM, "MemoryError", "out of memory following a redirect", req, NULL);
    return SILK_MW_FAILURE;
}

static int redirect_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk__set_bool(env, "REDIRECT_ENABLED", true))
        return SILK_ENOTFOUND;
    silk__redirect_cfg *cfg = silk_calloc(1, sizeof *cfg);
    if (!cfg)
        return SILK_ENOMEM;
    cfg->max_times = silk__set_int(env, "REDIRECT_MAX_TIMES", 20);
    cfg->priority_adjust = silk__set_int(env, "REDIRECT_PRIORITY_ADJUST", 2);
    mw->state = cfg;
    return 0;
}

static void redirect_close(silk_downloader_mw *mw)
{
    silk_free(mw->state);
    mw->state = NULL;
}

static silk_mw_result redirect_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                        silk_response *resp, silk_mw_out *out)
{
    (void)fetch;
    if (silk__meta_true(req->meta, "dont_redirect") ||
        silk__list_has_int(silk_dict_get(req->meta, "handle_httpstatus_list"), resp->status) ||
        silk__meta_true(req->meta, "handle_httpstatus_all"))
        return SILK_MW_CONTINUE;
    int st = resp->status;
    const char *loc = silk_headers_get(&resp->headers, "Location");
    if (!loc || (st != 301 && st != 302 && st != 303 && st != 307 && st != 308))
        return SILK_MW_CONTINUE;
    char *safe = NULL, *joined = NULL;
    silk_request *redirected = NULL;
    silk_mw_result r = SILK_MW_FAILURE;
    if (silk_url_safe_string(loc, &safe))
        goto fail;
    if (strncmp(loc, "//", 2) == 0) {
        char *scheme = NULL;
        if (silk_url_scheme(req->url, &scheme))
            goto fail;
        const char *rest = safe;
        while (*rest == '/')
            rest++;
        char *abs = silk_asprintf("%s://%s", scheme, rest);
        silk_free(scheme);
        if (!abs)
            goto fail;
        silk_free(safe);
        safe = abs;
    }
    if (silk_url_join(req->url, safe, &joined))
        goto fail;
    bool keep = st == 301 || st == 307 || st == 308 || strcmp(req->method, "HEAD") == 0;
    redirected = silk__redirect_request(req, joined, !keep);
    if (!redirected)
        goto fail;
    r = silk__redirect(mw->state, req, redirected, st, NULL, out);
    goto out;
fail:
    /* what Scrapy's Request() would raise for that Location */
    out->failure = silk_failure_new(SILK_EURL, "ValueError", silk_last_error(), req, NULL);
out:
    silk_free(safe);
    silk_free(joined);
    return r;
}

static const silk_downloader_mw redirect_mw = {
    .name = "RedirectMiddleware",
    .order = 600,
    .open = redirect_open,
    .close = redirect_close,
    .process_response = redirect_response,
};

const silk_downloader_mw *silk_mw_redirect(void) { return &redirect_mw; }
