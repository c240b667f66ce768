/* silk — Scrapy's SitemapSpider: crawl what sitemaps list.
 *
 *   static const silk_sitemap_def sitemaps = {
 *       .sitemap_urls = SILK_LIST("http://127.0.0.1:8080/robots.txt"),
 *       .rules = (const silk_sitemap_rule[]){ { "/p/", "parse_product" }, { NULL, NULL } },
 *   };
 *   SILK_SPIDER(shop) = {
 *       .name = "shop",
 *       SILK_SITEMAP_SPIDER(&sitemaps),
 *       .callbacks = (const silk_callback_def[]){ { "parse_product", parse_product }, { 0 } },
 *   };
 *
 * A sitemap URL ending in /robots.txt yields its Sitemap: lines; a sitemap
 * index yields the sitemaps it lists that match .follow; a urlset yields one
 * request per <loc> (and per alternate link with .alternate_links) to the
 * callback of the first rule whose regex matches. Sitemaps may be gzipped
 * (recognised by their magic bytes), capped after decompression at
 * DOWNLOAD_MAXSIZE as Scrapy 2.11 does. XML is parsed by libxml2 with no
 * network, no DTD loading and no entity expansion. Semantics are Scrapy
 * 2.8's; differences are in docs/compat.md. */
#ifndef SILK_SITEMAP_H
#define SILK_SITEMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/spider.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sitemap_rules: (regex, callback name). */
typedef struct silk_sitemap_rule {
    const char *regex;    /* Python re syntax, searched in the URL; "" matches all */
    const char *callback; /* a callback registered on the spider ("parse" is the def's .parse) */
} silk_sitemap_rule;

typedef struct silk_sitemap_def {
    /* sitemap_urls; NULL = the spider's .start_urls */
    const char *const *sitemap_urls;
    /* ends with { NULL, NULL }; NULL = { { "", "parse" } } */
    const silk_sitemap_rule *rules;
    /* sitemap_follow: regexes a sitemap listed by an index must match (any);
     * NULL = { "" } (all); SILK_LIST_EMPTY = none */
    const char *const *follow;
    /* sitemap_alternate_links: also request <xhtml:link rel="alternate"> hrefs */
    bool alternate_links;
    /* sitemap_filter: sees each entry (a dict {"loc", "lastmod", ...,
     * "alternate": [...]}, which it may change) of a sitemap or index;
     * returns 1 to keep it, 0 to drop it, or a SILK_E* code */
    int (*filter)(silk_ctx *ctx, silk_value *entry);
    void *user; /* yours: silk_sitemap_user(spider) */
} silk_sitemap_def;

/* An empty list literal (SILK_LIST needs at least one element). */
#ifndef SILK_LIST_EMPTY
#define SILK_LIST_EMPTY ((const char *const[]){ NULL })
#endif

/* Spider definition fields for a sitemap spider. */
#define SILK_SITEMAP_SPIDER(def_ptr)                                                      \
    .start_requests = silk_sitemap_start_requests, .user = (void *)(def_ptr)

/* The spider's start_requests: one request per sitemap URL, to
 * silk_sitemap_parse. Returns 0 or a SILK_E* code. */
int silk_sitemap_start_requests(silk_ctx *ctx);
/* SitemapSpider._parse_sitemap, registered on every sitemap spider under
 * the name "_parse_sitemap". Returns 0 or a SILK_E* code (an unregistered
 * rule callback, a bad regex, a body that is no XML at all). */
int silk_sitemap_parse(silk_ctx *ctx, silk_response *response);

/* The definition of a spider set up with SILK_SITEMAP_SPIDER, or NULL. */
const silk_sitemap_def *silk_sitemap_get(const silk_spider *spider);
/* silk_sitemap_def.user, or NULL. */
void *silk_sitemap_user(const silk_spider *spider);

/* ---- the pieces, usable alone (scrapy.utils.sitemap, scrapy.utils.gz) ---- */

typedef struct silk_sitemap silk_sitemap;

/* Sitemap(xmltext): parses a sitemap or index (bytes; the XML declaration
 * or BOM gives the encoding). Returns 0 and *out (caller frees with
 * silk_sitemap_free), SILK_EINVAL (no root element: nothing XML in it),
 * SILK_ELIMIT (2 GiB or more) or SILK_ENOMEM. */
int silk_sitemap_new(const void *body, size_t len, silk_sitemap **out);
void silk_sitemap_free(silk_sitemap *sm);
/* The root element's local name: "urlset", "sitemapindex", or anything
 * else (then it lists nothing followable). Borrowed. */
const char *silk_sitemap_type(const silk_sitemap *sm);
/* Entries that have a <loc>, in document order: dicts of child name ->
 * stripped text, plus "alternate": [hrefs] for <link href> children.
 * Borrowed from sm. */
size_t silk_sitemap_len(const silk_sitemap *sm);
const silk_value *silk_sitemap_entry(const silk_sitemap *sm, size_t i);

/* sitemap_urls_from_robots(text, base_url): a new list value of the
 * Sitemap: URLs of a robots.txt (UTF-8, len bytes), joined with base_url.
 * Caller frees (silk_value_free). Returns 0 or SILK_ENOMEM. */
int silk_sitemap_urls_from_robots(const char *text, size_t len, const char *base_url,
                                  silk_value **out);

/* scrapy.utils.gz.gunzip: decompresses gzip data (several members, a bad
 * CRC or a truncated end keep what came before). max_size > 0 caps the
 * result: SILK_ELIMIT beyond it. *out (len+1 bytes, NUL-terminated) is the
 * caller's (silk_free). Returns 0, SILK_EENCODING (not gzip, nothing
 * decompressed), SILK_ELIMIT or SILK_ENOMEM. */
int silk_gunzip(const void *data, size_t len, size_t max_size, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
