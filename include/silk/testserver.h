/* silk — the embedded test site: a small HTTP(S) server on libevent's evhttp
 * that serves a deterministic generated shop of N linked product pages plus
 * httpbin-like special endpoints (status codes, redirects, delays, slow and
 * broken bodies, compression, charsets, echo, cookies, auth, sitemaps).
 *
 * It binds 127.0.0.1 only. Tests run it on their own event_base
 * (silk_testserver_start) or on a thread of its own
 * (silk_testserver_start_thread). The full list of endpoints and the shape
 * of the generated pages are in docs/testserver.md.
 *
 * The site: "/" links to the first pages and has a rel=next link to page 0;
 * every page i has a rel=next link to page i+1, so every page 0..N-1 is
 * reachable from "/". Special endpoints are never linked from the site, so a
 * crawl that starts at "/" and follows links sees exactly "/" and the N
 * pages. */
#ifndef SILK_TESTSERVER_H
#define SILK_TESTSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "silk/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

#define SILK_TESTSITE_DEFAULT_PAGES 1000u
#define SILK_TESTSITE_DEFAULT_LINKS 10u
#define SILK_TESTSITE_MAX_PAGES 100000000u
#define SILK_TESTSITE_MAX_LINKS 1000u
/* rel=next of the last page, and an unreachable depth. */
#define SILK_TESTSITE_NONE UINT32_MAX

/* Zero-initialise, then set what you need: every 0 / NULL field means its
 * default. Only pages, links_per_page and seed shape the site. */
typedef struct silk_testserver_options {
    uint32_t pages;          /* site size; 0 = 1000, at most 100,000,000 */
    uint32_t links_per_page; /* "related" links per page; 0 = 10, at most 1000 */
    uint64_t seed;           /* content and link graph; every value is valid */
    int port;                /* 0 = pick a free port */
    int https;               /* 1 = serve HTTPS only, with a certificate made at start */
    const char *robots_txt;  /* /robots.txt body (copied); "{base}" becomes the server
                                URL; NULL = allow everything + a Sitemap line */
    int robots_status;       /* status of /robots.txt; 0 = 200 */
    double max_delay;        /* cap on /delay and /drip seconds; 0 = 60 */
    uint64_t max_bytes;      /* cap on /large, /drip, /binary sizes; 0 = 4 GiB */
    uint64_t bomb_bytes;     /* what /bomb inflates to by default; 0 = 2 GiB */
    FILE *access_log;        /* one line per request when non-NULL (not closed) */
} silk_testserver_options;

/* ---- the generated site (no server needed) ---- */

/* What a crawler should extract from page id. Plain data: no ownership. */
typedef struct silk_testsite_page {
    uint32_t id;
    uint32_t next;        /* id of the rel=next target; SILK_TESTSITE_NONE on the last page */
    uint32_t price_cents; /* 100 .. 99999 */
    char path[24];        /* "/p/42.html" */
    char title[96];       /* text of <title> and of <h1>, e.g. "Ivory Walnut Lamp No. 42" */
    char price[16];       /* text of <span class="price">, e.g. "$123.45" */
} silk_testsite_page;

/* Fills *out for page id of the site opt describes (NULL = defaults).
 * Returns 0, or SILK_ERANGE when id >= pages (or opt is out of range). */
int silk_testsite_page_info(const silk_testserver_options *opt, uint32_t id,
                            silk_testsite_page *out);

/* The ids of page id's "related" links, in document order (rel=next and the
 * Home links excluded). Writes at most max ids and sets *n to how many the
 * page has. Returns 0 or SILK_ERANGE. */
int silk_testsite_page_links(const silk_testserver_options *opt, uint32_t id, uint32_t *ids,
                             size_t max, size_t *n);

/* Number of pages "/" links to (ids 0 .. that-1). */
uint32_t silk_testsite_index_links(const silk_testserver_options *opt);

/* Link depth of every page from "/" (depth 0; pages it links to are 1), as
 * Scrapy's DepthMiddleware counts it. depth must hold pages entries (n).
 * Returns 0, SILK_EINVAL (n too small) or SILK_ENOMEM. */
int silk_testsite_depths(const silk_testserver_options *opt, uint32_t *depth, size_t n);

/* Appends the HTML of page id (5-15 KB with the default links per page) to
 * out. Returns 0, SILK_ERANGE or SILK_ENOMEM. Deterministic per (opt, id). */
int silk_testsite_render_page(const silk_testserver_options *opt, uint32_t id, silk_buf *out);

/* Appends the HTML of the entry page "/" to out. Returns 0 or SILK_ENOMEM. */
int silk_testsite_render_index(const silk_testserver_options *opt, silk_buf *out);

/* The UTF-8 text that /charset/NAME carries in <p id="text">, for NAME one
 * of utf-8, latin-1 (iso-8859-1), cp1252 (windows-1252), shift_jis,
 * gb18030, utf-16 (little-endian with BOM), utf-16be (with BOM). Static
 * string, or NULL for an unknown NAME. */
const char *silk_testserver_charset_text(const char *name);

/* ---- the server ---- */

typedef struct silk_testserver silk_testserver;

/* Starts serving on base (the caller runs the loop; server and clients may
 * share it). opt may be NULL (defaults); it is copied. Returns 0 and *out
 * (caller owns: silk_testserver_free, on base's thread, before freeing
 * base), or SILK_EINVAL/SILK_ERANGE (bad options), SILK_EIO (cannot bind),
 * SILK_ETLS, SILK_ENOMEM. */
int silk_testserver_start(struct event_base *base, const silk_testserver_options *opt,
                          silk_testserver **out);

/* Starts the server on a new thread with its own event_base, so that a
 * blocking client can use it. That thread touches only the server's own
 * data (its base, sockets, buffers, counters); the calling thread may use
 * the getters below meanwhile. Returns as silk_testserver_start; *out is
 * owned by the caller, and silk_testserver_free stops and joins the thread. */
int silk_testserver_start_thread(const silk_testserver_options *opt, silk_testserver **out);

/* Closes every connection, frees the server (and, for a threaded one, stops
 * and joins its thread and frees its base). NULL is fine. Call it from the
 * thread that started the server, never from the server's own thread. */
void silk_testserver_free(silk_testserver *s);

/* "http://127.0.0.1:PORT" or "https://...", no trailing slash. Owned by s. */
const char *silk_testserver_url(const silk_testserver *s);
/* The TCP port the server listens on. */
int silk_testserver_port(const silk_testserver *s);
/* The options in force, defaults filled in (robots_txt points into s).
 * Owned by s; pass it to the silk_testsite_* functions. */
const silk_testserver_options *silk_testserver_options_get(const silk_testserver *s);
/* PEM of the self-signed certificate (subjectAltName IP:127.0.0.1 and
 * DNS:localhost) for a client to trust, e.g. with CURLOPT_CAINFO_BLOB;
 * NULL when the server is plain HTTP. Owned by s. */
const char *silk_testserver_cert_pem(const silk_testserver *s);

/* Requests answered (any path, any status) since start. Safe from any
 * thread. */
uint64_t silk_testserver_requests(const silk_testserver *s);
/* Requests routed to the endpoint that path would be routed to: for a page
 * ("/p/7.html") that page's own count (pages below 1,048,576 only), for
 * "/" the entry page, otherwise the whole endpoint ("/status/500" counts
 * every /status/N). Query strings are ignored. Safe from any thread. */
uint64_t silk_testserver_hits(const silk_testserver *s, const char *path);

#ifdef __cplusplus
}
#endif
#endif
