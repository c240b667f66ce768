/* crawlspider — a CrawlSpider: a table of rules instead of a parse function.
 *
 *   silk testserver &          # the embedded shop, on http://127.0.0.1:8080/
 *   silk runspider examples/crawlspider.c -a start_url=http://127.0.0.1:8080/ -O items.jsonl
 *
 * Rule 1 sends every product page (/p/N.html) to parse_product and keeps
 * following links from it; rule 2 follows the pager ("Next product") links
 * wherever they point. Together they reach every product exactly once (the
 * dupefilter drops repeats), and parse_product yields
 * {"url", "title", "price", "found_via"} for each. See docs/linkextractor.md. */
#include <silk/silk.h>
#include <silk/crawlspider.h>
#include <silk/url.h>

static int parse_product(silk_ctx *ctx, silk_response *resp)
{
    silk_item *it = silk_ctx_item(ctx, "Product");
    silk_item_set_str(it, "url", resp->url);
    silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "h1.title::text"));
    silk_item_set_str(it, "price", silk_ctx_css_get(ctx, "span.price::text"));
    /* the text of the link that led here: CrawlSpider puts it in meta */
    silk_item_set_str(it, "found_via", silk_dict_get_str(silk_response_meta(resp), "link_text", ""));
    return 0;
}

static const silk_rule rules[] = {
    { .link_extractor = { .allow = SILK_LIST("/p/\\d+\\.html$") },
      .callback = "parse_product",
      .follow = SILK_FOLLOW },
    /* no callback: follow defaults to true */
    { .link_extractor = { .restrict_css = SILK_LIST(".pager") } },
};

static const silk_callback_def callbacks[] = {
    { "parse_product", parse_product },
    { NULL, NULL },
};

/* The start URL comes from -a start_url=URL; its responses go to "parse",
 * which SILK_CRAWLSPIDER made the rules' entry point. */
static int start_requests(silk_ctx *ctx)
{
    const char *url = silk_spider_arg(silk_ctx_spider(ctx), "start_url", NULL);
    if (!url)
        return silk_error(SILK_EINVAL, "crawlspider needs -a start_url=URL");
    return silk_ctx_follow(ctx, url, "parse") ? 0 : SILK_EINVAL;
}

/* Stay on the start URL's host. */
static int open_spider(silk_spider *sp)
{
    const char *url = silk_spider_arg(sp, "start_url", NULL);
    char *host = NULL;
    if (!url || silk_url_host(url, &host) || !host)
        return silk_error(SILK_EINVAL, "crawlspider: start_url '%s' has no host", url ? url : "");
    int rc = silk_spider_allow_domain(sp, host);
    silk_free(host);
    return rc;
}

SILK_SPIDER(crawlspider) = {
    .name = "crawlspider",
    .start_requests = start_requests,
    SILK_CRAWLSPIDER(rules),
    .callbacks = callbacks,
    .open = open_spider,
};
