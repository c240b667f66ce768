/* silk — URL handling with Scrapy's semantics: w3lib 2.1.1's
 * safe_url_string / canonicalize_url, CPython 3.11's urllib.parse.urljoin,
 * Scrapy's escape_ajax, <base href> lookup and Request URL checks.
 *
 * Input strings are taken as UTF-8. Bytes that are not valid UTF-8 are
 * percent-encoded (%XX) first, as w3lib does for a bytes URL. Every result is
 * a new silk block (silk_malloc) that the caller frees with silk_free; on an
 * error *out is set to NULL and silk_last_error() says why. */
#ifndef SILK_URL_H
#define SILK_URL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* w3lib safe_url_string(url) (utf-8): IDNA host, w3lib's percent-quoting of
 * userinfo, path, query and fragment. Returns 0, SILK_EURL (what Python
 * raises ValueError for: bad port, bad bracketed host, ...), SILK_EINVAL or
 * SILK_ENOMEM. *out: caller frees. Deliberate difference: a bracketed IPv6
 * host keeps its brackets (see docs/compat.md). */
int silk_url_safe_string(const char *url, char **out);
/* Same for url of len bytes (may hold NUL: Python strings can). */
int silk_url_safe_string_n(const char *url, size_t len, char **out);

/* Scrapy escape_ajax: "…#!frag" becomes "…?_escaped_fragment_=frag" (query
 * kept); other URLs are returned unchanged. Returns 0 or SILK_E*; *out:
 * caller frees. */
int silk_url_escape_ajax(const char *url, char **out);

/* w3lib canonicalize_url(url, keep_blank_values, keep_fragments): sorted
 * query, normalised percent-escapes, lower-cased netloc. Returns 0 or
 * SILK_E* (SILK_EURL where Python raises ValueError); *out: caller frees. */
int silk_url_canonicalize(const char *url, bool keep_blank_values,
                          bool keep_fragments, char **out);
/* Same for url of len bytes (may hold NUL). */
int silk_url_canonicalize_n(const char *url, size_t len,
                            bool keep_blank_values, bool keep_fragments,
                            char **out);

/* CPython 3.11 urllib.parse.urljoin(base, ref), byte for byte (= Scrapy's
 * Response.urljoin). Returns 0 or SILK_E*; *out: caller frees. */
int silk_url_join(const char *base, const char *ref, char **out);
/* Same with lengths; urljoin copies bytes through, so the result may hold
 * a NUL: *out_len (when not NULL) is its length. */
int silk_url_join_n(const char *base, size_t base_len, const char *ref,
                    size_t ref_len, char **out, size_t *out_len);

/* w3lib's <base href> regex over the first 4096 characters of html (UTF-8,
 * len bytes) after removing comments. *base_href_out is the raw href (caller
 * frees) or NULL when there is none. Returns 0 or SILK_E*. */
int silk_url_html_base(const char *html, size_t len, char **base_href_out);

/* The base Scrapy's TextResponse uses: safe_url_string(response_url), joined
 * with safe_url_string(<base href>) when html has one. html may be NULL.
 * Returns 0 or SILK_E*; *out: caller frees. */
int silk_url_effective_base(const char *response_url, const char *html,
                            size_t len, char **out);

/* Scrapy TextResponse.urljoin(ref): urljoin(effective base, ref). html may
 * be NULL (no <base>). Returns 0 or SILK_E*; *out: caller frees. */
int silk_url_response_join(const char *response_url, const char *html,
                           size_t len, const char *ref, char **out);

/* What scrapy.Request does to its url: safe_url_string, then escape_ajax,
 * then the scheme check of silk_url_check_request. Returns 0 or SILK_E*;
 * *out: caller frees. */
int silk_url_request_url(const char *url, char **out);

/* The check silk's Request constructor runs on an already processed URL:
 * SILK_ESCHEME "Missing scheme in request url: <url>" when it has no "://"
 * and does not start with "about:" or "data:" (Scrapy's constructor rule),
 * then SILK_ESCHEME "Unsupported URL scheme '<s>': no handler available for
 * that scheme" unless its scheme is http, https, file, data, ftp or s3
 * (Scrapy raises that one at download time). Returns 0 when accepted. */
int silk_url_check_request(const char *url);

/* 1 when scheme (lower-case) has a download handler in Scrapy's defaults
 * (http, https, file, data, ftp, s3), else 0. */
int silk_url_scheme_supported(const char *scheme);

/* urlsplit(url).scheme: lower-cased, "" when none. Returns 0 or SILK_E*;
 * *out: caller frees. */
int silk_url_scheme(const char *url, char **out);

/* urlsplit(url).hostname: lower-cased host without brackets or port, NULL
 * when the URL has none. Returns 0 or SILK_E*; *out: caller frees. */
int silk_url_host(const char *url, char **out);

/* Python unquote_to_bytes: %XX escapes decoded, others kept. *out holds
 * *out_len bytes plus a NUL (the bytes may contain NUL); caller frees. */
int silk_url_unquote(const char *s, size_t len, char **out, size_t *out_len);

/* Python quote(bytes, safe): bytes outside A-Za-z0-9_.-~ and safe become
 * %XX. safe may be NULL (= ""). Returns 0 or SILK_E*; *out: caller frees. */
int silk_url_quote(const char *s, size_t len, const char *safe, char **out);

#ifdef __cplusplus
}
#endif
#endif
