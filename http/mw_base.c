/* silk — DOWNLOADER_MIDDLEWARES_BASE and the DOWNLOADER_MIDDLEWARES
 * setting that moves or removes its entries. */
#include <string.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"

#define LOGGER "silk.middleware"

static const struct {
    const silk_downloader_mw *(*get)(void);
    const char *path; /* Scrapy's dotted path */
} base[] = {
    { silk_mw_robotstxt, "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware" },
    { silk_mw_httpauth, "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware" },
    { silk_mw_downloadtimeout, "scrapy.downloadermiddlewares.downloadtimeout.DownloadTimeoutMiddleware" },
    { silk_mw_defaultheaders, "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware" },
    { silk_mw_useragent, "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware" },
    { silk_mw_retry, "scrapy.downloadermiddlewares.retry.RetryMiddleware" },
    { silk_mw_metarefresh, "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware" },
    { silk_mw_httpcompression, "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware" },
    { silk_mw_redirect, "scrapy.downloadermiddlewares.redirect.RedirectMiddleware" },
    { silk_mw_cookies, "scrapy.downloadermiddlewares.cookies.CookiesMiddleware" },
    { silk_mw_httpproxy, "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware" },
    { silk_mw_downloader_stats, "scrapy.downloadermiddlewares.stats.DownloaderStats" },
};

#define NBASE (sizeof base / sizeof base[0])

const silk_downloader_mw *const *silk_downloader_middlewares_base(void)
{
    static const silk_downloader_mw *list[NBASE + 1];
    if (!list[0])
        for (size_t i = 0; i < NBASE; i++)
            list[i] = base[i].get();
    return list;
}

int silk_downloader_add_base_middlewares(silk_downloader *d, const silk_mw_env *env)
{
    silk_value *over = NULL;
    int rc = env && env->settings ? silk_settings_get_dict(env->settings, "DOWNLOADER_MIDDLEWARES", &over)
                                  : SILK_ENOTFOUND;
    if (rc && rc != SILK_ENOTFOUND)
        return rc;
    rc = 0;
    for (size_t i = 0; i < NBASE && !rc; i++) {
        silk_downloader_mw m = *base[i].get();
        const silk_value *v = silk_dict_get(over, m.name);
        if (!v)
            v = silk_dict_get(over, base[i].path);
        if (v && v->kind == SILK_V_NULL)
            continue; /* removed by the setting */
        if (v && v->kind == SILK_V_INT)
            m.order = (int)v->u.i;
        else if (v) {
            rc = silk_error(SILK_ETYPE, "setting DOWNLOADER_MIDDLEWARES: the value of '%s' must be an order "
                                        "number or null",
                            m.name);
            break;
        }
        rc = silk_downloader_add_middleware_copy(d, &m, env);
    }
    silk_value_free(over);
    return rc;
}
