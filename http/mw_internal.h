/* silk — helpers shared by the downloader middlewares (http/mw_*.c).
 * Library-internal: not installed, not part of the public API. */
#ifndef SILK_HTTP_MW_INTERNAL_H
#define SILK_HTTP_MW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/downloader.h"
#include "silk/http.h"

/* Twisted's http.RESPONSES phrase for status ("Service Unavailable"), or
 * NULL when it has none. Static. */
const char *silk__http_reason(int status);

/* Scrapy's response_status_message: "503 Service Unavailable" ("Unknown
 * Status" when there is no phrase) into out. */
void silk__status_message(int status, char *out, size_t n);

/* "<GET http://x/>" into out (truncated to n). */
void silk__request_repr(const silk_request *r, char *out, size_t n);

/* The request's meta dict, created when missing; NULL on ENOMEM. */
silk_value *silk__meta(silk_request *r);

/* Python's truth of meta[key] (absent = false): how Scrapy reads flags
 * such as dont_retry, so that 1 and "yes" count as well as true. */
bool silk__meta_true(const silk_value *meta, const char *key);

/* true when v is a list holding the integer i. */
bool silk__list_has_int(const silk_value *v, int64_t i);

/* The setting as a bool, int, double or string, def when unset or
 * malformed (malformed is logged by settings). env may be NULL. */
bool silk__set_bool(const silk_mw_env *env, const char *key, bool def);
int64_t silk__set_int(const silk_mw_env *env, const char *key, int64_t def);
double silk__set_double(const silk_mw_env *env, const char *key, double def);
const char *silk__set_str(const silk_mw_env *env, const char *key, const char *def);

/* Stats helpers that accept a NULL env or collector. */
void silk__stat_inc(const silk_mw_env *env, const char *key, int64_t by);
void silk__stat_incf(const silk_mw_env *env, int64_t by, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Base64 of n bytes into a new silk string (caller frees); NULL on ENOMEM. */
char *silk__base64(const void *data, size_t n);

/* w3lib's basic_auth_header(user, pass): "Basic <base64(user:pass)>" with
 * both encoded as UTF-8 (w3lib's default is latin-1 for str; UTF-8 bytes
 * are what silk has). Caller frees; NULL on ENOMEM. */
char *silk__basic_auth(const char *user, const char *pass);

/* Scrapy's url_is_from_any_domain(url, [domain]): the URL's host is domain
 * or a subdomain of it (case-insensitive). */
bool silk__url_in_domain(const char *url, const char *domain);

/* urlsplit(url).hostname into out (n bytes) without allocating, for the
 * plain ASCII URLs a Request holds: false when the URL needs the full
 * parser (no "://", non-ASCII, '%', too long), then use silk_url_host. */
bool silk__url_host_fast(const char *url, char *out, size_t n);

/* urlparse(url).netloc, lower-cased host kept as written otherwise, into a
 * new string (caller frees); "" when none; NULL on ENOMEM. */
char *silk__url_netloc(const char *url);
/* Same into buf when it fits (returns buf), else a new string (caller
 * frees when the result is not buf); NULL on ENOMEM. */
char *silk__url_netloc_buf(const char *url, char *buf, size_t n);

/* ---- redirects (RedirectMiddleware, MetaRefreshMiddleware) ---- */

typedef struct silk__redirect_cfg {
    int64_t max_times;       /* REDIRECT_MAX_TIMES */
    int64_t priority_adjust; /* REDIRECT_PRIORITY_ADJUST */
} silk__redirect_cfg;

/* Scrapy's _build_redirect_request: a copy of req for url, without
 * request.cookies; Cookie (and, unlike Scrapy 2.8, Authorization and meta
 * http_user/http_pass) removed when the netloc changes. With to_get, the
 * method becomes GET, the body goes and so do Content-Type and
 * Content-Length. NULL on error (silk_last_error says why). */
silk_request *silk__redirect_request(const silk_request *req, const char *url, bool to_get);

/* Scrapy's BaseRedirectMiddleware._redirect: fills redirected's meta
 * (redirect_times, redirect_ttl, redirect_urls, redirect_reasons), its
 * dont_filter and priority, and returns SILK_MW_REQUEST with out->request
 * = redirected (taken); or, past REDIRECT_MAX_TIMES, logs "Discarding
 * <GET url>: max redirections reached" and returns SILK_MW_DROP with an
 * IgnoreRequest. reason is a status (> 0) or NULL-less text. */
silk_mw_result silk__redirect(const silk__redirect_cfg *cfg, silk_request *req, silk_request *redirected,
                              int status_reason, const char *text_reason, silk_mw_out *out);

#endif
