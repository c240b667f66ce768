/* silk — HttpAuthMiddleware (order 300): HTTP Basic auth.
 *
 * Scrapy reads http_user / http_pass / http_auth_domain from the spider;
 * silk reads the settings HTTPAUTH_USER, HTTPAUTH_PASS and HTTPAUTH_DOMAIN
 * (a spider sets them in its custom_settings), and also meta http_user /
 * http_pass for one request. Credentials are sent only to HTTPAUTH_DOMAIN
 * and its subdomains; when it is unset, to the domain of the first request
 * (Scrapy 2.8's behaviour, with its warning); when it is null or "", to
 * every domain. Meta credentials go to the request they are set on (the
 * redirect middleware drops them when a redirect leaves the domain). A
 * request that already has an Authorization header is left alone. */
#include <string.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/url.h"

#define LOGGER "silk.downloadermiddlewares.httpauth"

typedef struct auth_state {
    char *header;  /* "Basic ..." from the settings, or NULL */
    char *domain;  /* NULL = every domain */
    bool domain_unset;
} auth_state;

static int auth_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    auth_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    mw->state = st;
    const char *user = silk__set_str(env, "HTTPAUTH_USER", NULL);
    const char *pass = silk__set_str(env, "HTTPAUTH_PASS", NULL);
    if ((user && *user) || (pass && *pass)) {
        if (!(st->header = silk__basic_auth(user, pass)))
            return SILK_ENOMEM;
        const silk_value *dv = env && env->settings ? silk_settings_get(env->settings, "HTTPAUTH_DOMAIN") : NULL;
        if (!dv) {
            silk_log(SILK_LOG_WARNING, LOGGER,
                     "Using HttpAuthMiddleware without HTTPAUTH_DOMAIN is deprecated and can cause "
                     "security problems if the spider makes requests to several different domains. "
                     "HTTPAUTH_DOMAIN will be set to the domain of the first request, please set it "
                     "to the correct value explicitly.");
            st->domain_unset = true;
        } else if (dv->kind == SILK_V_STRING && dv->u.s.len && strcmp(dv->u.s.ptr, "null") != 0) {
            if (!(st->domain = silk_strdup(dv->u.s.ptr)))
                return SILK_ENOMEM;
        }
    }
    return 0;
}

static void auth_close(silk_downloader_mw *mw)
{
    auth_state *st = mw->state;
    if (st) {
        silk_free(st->header);
        silk_free(st->domain);
        silk_free(st);
    }
    mw->state = NULL;
}

static silk_mw_result auth_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                   silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    auth_state *st = mw->state;
    if (silk_headers_count(&req->headers, "Authorization"))
        return SILK_MW_CONTINUE;
    const char *mu = silk_dict_get_str(req->meta, "http_user", NULL);
    const char *mp = silk_dict_get_str(req->meta, "http_pass", NULL);
    if (mu || mp) {
        char *h = silk__basic_auth(mu, mp);
        if (h)
            silk_headers_add(&req->headers, "Authorization", h);
        silk_free(h);
        return SILK_MW_CONTINUE;
    }
    if (!st->header)
        return SILK_MW_CONTINUE;
    if (st->domain_unset) {
        char *host = NULL;
        if (silk_url_host(req->url, &host) == 0 && host) {
            st->domain = host;
            st->domain_unset = false;
        }
    }
    if (!st->domain || silk__url_in_domain(req->url, st->domain))
        silk_headers_add(&req->headers, "Authorization", st->header);
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw auth_mw = {
    .name = "HttpAuthMiddleware",
    .order = 300,
    .open = auth_open,
    .close = auth_close,
    .process_request = auth_request,
};

const silk_downloader_mw *silk_mw_httpauth(void) { return &auth_mw; }
