/* silk — the built-in downloader middlewares, Scrapy's
 * DOWNLOADER_MIDDLEWARES_BASE in its order.
 *
 * Each function returns a static template (never NULL, never freed): add it
 * with silk_downloader_add_middleware_copy, which copies it, sets its env
 * and calls its open(). open() reads the middleware's settings and says
 * SILK_ENOTFOUND ("disabled", left out) when its switch is off, exactly as
 * Scrapy's NotConfigured. Each copy keeps its own state, released by its
 * close() when the downloader is freed.
 *
 * silk_downloader_add_base_middlewares adds them all, honouring the
 * DOWNLOADER_MIDDLEWARES setting. docs/downloader.md describes each one,
 * its settings and meta keys. */
#ifndef SILK_MIDDLEWARES_H
#define SILK_MIDDLEWARES_H

#include "silk/downloader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 100, ROBOTSTXT_OBEY: robots.txt per netloc, fetched once, requests held
 * while it is on its way; 5xx/timeouts hold the domain back. */
const silk_downloader_mw *silk_mw_robotstxt(void);
/* 300: Basic auth from HTTPAUTH_USER/HTTPAUTH_PASS (HTTPAUTH_DOMAIN) or
 * meta http_user/http_pass. */
const silk_downloader_mw *silk_mw_httpauth(void);
/* 350: meta download_timeout from DOWNLOAD_TIMEOUT. */
const silk_downloader_mw *silk_mw_downloadtimeout(void);
/* 400: DEFAULT_REQUEST_HEADERS. */
const silk_downloader_mw *silk_mw_defaultheaders(void);
/* 500: USER_AGENT. */
const silk_downloader_mw *silk_mw_useragent(void);
/* 550, RETRY_ENABLED: RETRY_TIMES, RETRY_HTTP_CODES, RETRY_PRIORITY_ADJUST. */
const silk_downloader_mw *silk_mw_retry(void);
/* 580, METAREFRESH_ENABLED: <meta http-equiv="refresh">. */
const silk_downloader_mw *silk_mw_metarefresh(void);
/* 590, COMPRESSION_ENABLED: Accept-Encoding and httpcompression/... stats. */
const silk_downloader_mw *silk_mw_httpcompression(void);
/* 600, REDIRECT_ENABLED: 301/302/303/307/308, REDIRECT_MAX_TIMES. */
const silk_downloader_mw *silk_mw_redirect(void);
/* 700, COOKIES_ENABLED: one jar per meta cookiejar, COOKIES_DEBUG. */
const silk_downloader_mw *silk_mw_cookies(void);
/* 750, HTTPPROXY_ENABLED: meta proxy, *_proxy environment variables. */
const silk_downloader_mw *silk_mw_httpproxy(void);
/* 850, DOWNLOADER_STATS: downloader/... stats. */
const silk_downloader_mw *silk_mw_downloader_stats(void);

/* Scrapy's DOWNLOADER_MIDDLEWARES_BASE as templates, in order,
 * NULL-terminated. Static. */
const silk_downloader_mw *const *silk_downloader_middlewares_base(void);

/* Adds every base middleware to d (each one's open() decides from its
 * setting whether it is on). The DOWNLOADER_MIDDLEWARES setting (a dict)
 * may move one ({"RetryMiddleware": 560}) or remove it ({"RetryMiddleware":
 * null}); keys are the class name or Scrapy's dotted path. env must
 * outlive d. Returns 0 or the first open() error. */
int silk_downloader_add_base_middlewares(silk_downloader *d, const silk_mw_env *env);

#ifdef __cplusplus
}
#endif
#endif
