/* The callbacks and errbacks of the generic spiders, by name (see
 * spiders_internal.h): a request persisted in a job directory names them,
 * and the spider resolves the name only when it is a spider of that kind. */
#include <string.h>

#include "silk/crawlspider.h"
#include "silk/sitemap.h"
#include "spiders/spiders_internal.h"

#define PARSE_SITEMAP "_parse_sitemap"
#define CRAWL_ERRBACK "_errback"

silk_callback_fn silk__builtin_callback(const silk_spider *sp, const char *name)
{
    if (name && strcmp(name, PARSE_SITEMAP) == 0 && silk_sitemap_get(sp))
        return silk_sitemap_parse;
    return NULL;
}

const char *silk__builtin_callback_name(const silk_spider *sp, silk_callback_fn fn)
{
    return fn == silk_sitemap_parse && silk_sitemap_get(sp) ? PARSE_SITEMAP : NULL;
}

silk_errback_fn silk__builtin_errback(const silk_spider *sp, const char *name)
{
    if (name && strcmp(name, CRAWL_ERRBACK) == 0 && silk_crawlspider_get(sp))
        return silk_crawlspider_errback;
    return NULL;
}

const char *silk__builtin_errback_name(const silk_spider *sp, silk_errback_fn fn)
{
    return fn == silk_crawlspider_errback && silk_crawlspider_get(sp) ? CRAWL_ERRBACK : NULL;
}
