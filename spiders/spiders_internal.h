/* silk spiders — what the files of spiders/ share and nobody else uses. */
#ifndef SILK_SPIDERS_INTERNAL_H
#define SILK_SPIDERS_INTERNAL_H

#include "silk/spider.h"

/* Per-spider state of the generic spiders (CrawlSpider's compiled rules,
 * SitemapSpider's regexes), kept until the spider closes: the engine gives
 * spiders no slot of their own for it, and .user belongs to the author. */
typedef void (*silk__attach_free_fn)(void *p);

/* The attachment of sp under key, or NULL. */
void *silk__spider_attachment(const silk_spider *sp, const void *key);

/* Attaches p to sp under key; it is freed with free_fn when the spider's
 * crawler emits spider_closed. Returns 0, SILK_EINVAL (sp has no crawler:
 * the caller keeps p) or SILK_ENOMEM (the caller keeps p). */
int silk__spider_attach(silk_spider *sp, const void *key, void *p, silk__attach_free_fn free_fn);

/* Callbacks and errbacks the library registers on a spider by itself
 * (SitemapSpider's "_parse_sitemap", CrawlSpider's "_errback"), so that
 * requests naming them persist and resolve like the author's. NULL when sp
 * has none by that name / for that function. */
silk_callback_fn silk__builtin_callback(const silk_spider *sp, const char *name);
const char *silk__builtin_callback_name(const silk_spider *sp, silk_callback_fn fn);
silk_errback_fn silk__builtin_errback(const silk_spider *sp, const char *name);
const char *silk__builtin_errback_name(const silk_spider *sp, silk_errback_fn fn);

#endif
