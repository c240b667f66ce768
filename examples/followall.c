/* followall — the benchmark spider.
 *
 *   silk runspider examples/followall.c -a start_url=http://127.0.0.1:8080/ -O items.jsonl
 *
 * Follows every link on the start URL's host and yields one item per page
 * that has a <span class="price">: {"url", "title", "price"}. */
#include <silk/silk.h>
#include <silk/spider.h>
#include <silk/url.h>

static int parse(silk_ctx *ctx, silk_response *resp)
{
    const char *price = silk_ctx_css_get(ctx, "span.price::text");
    if (price) {
        silk_item *it = silk_ctx_item(ctx, NULL);
        silk_item_set_str(it, "url", resp->url);
        silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
        silk_item_set_str(it, "price", price);
    }
    silk_ctx_follow_css(ctx, "a::attr(href)", "parse");
    return 0;
}

static int start_requests(silk_ctx *ctx)
{
    const char *url = silk_spider_arg(silk_ctx_spider(ctx), "start_url", NULL);
    if (!url)
        return silk_error(SILK_EINVAL, "followall needs -a start_url=URL");
    return silk_ctx_follow(ctx, url, "parse") ? 0 : SILK_EINVAL;
}

/* Stay on the start URL's host (allowed_domains from the argument). */
static int open_spider(silk_spider *sp)
{
    const char *url = silk_spider_arg(sp, "start_url", NULL);
    char *host = NULL;
    if (!url || silk_url_host(url, &host) || !host)
        return silk_error(SILK_EINVAL, "followall: start_url '%s' has no host", url ? url : "");
    int rc = silk_spider_allow_domain(sp, host);
    silk_free(host);
    return rc;
}

SILK_SPIDER(followall) = {
    .name = "followall",
    .start_requests = start_requests,
    .parse = parse,
    .open = open_spider,
};
