/* tutorial — the spider of docs/tutorial.md, against silk's embedded site.
 *
 *   build/silk testserver --port 8000 --pages 50 &
 *   build/silk runspider examples/tutorial.c -a start_url=http://127.0.0.1:8000/ -O products.jsonl
 *
 * parse() reads the listing page: it follows every product link to
 * parse_product(), passing the link's position through cb_kwargs, and the
 * pager's rel=next link. parse_product() yields one item per product page
 * and follows the page's own rel=next link (the site's pagination). */
#include <silk/silk.h>

static int parse_product(silk_ctx *ctx, silk_response *resp);

static int parse(silk_ctx *ctx, silk_response *resp)
{
    (void)resp;
    silk_selector_list *links = silk_ctx_css(ctx, "ul.products li a");
    for (size_t i = 0; i < silk_selector_list_len(links); i++) {
        silk_selector *a = silk_selector_list_at(links, i);
        const char *href = silk_get(silk_css(silk_ctx_arena(ctx), a, "::attr(href)"));
        silk_request *req = silk_ctx_follow(ctx, href, "parse_product");
        if (req) /* the callback sees these through silk_ctx_cb_kwargs() */
            silk_dict_set_int(silk_request_cb_kwargs(req), "position", (int64_t)i + 1);
    }
    silk_ctx_follow_css(ctx, "div.pager a[rel=next]", "parse_product");
    return 0;
}

static int parse_product(silk_ctx *ctx, silk_response *resp)
{
    silk_item *it = silk_ctx_item(ctx, "Product");
    if (!it)
        return SILK_ENOMEM;
    silk_item_set_str(it, "url", resp->url);
    silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "h1.title::text"));
    silk_item_set_str(it, "price", silk_ctx_css_get(ctx, "span.price::text"));
    silk_item_set_str(it, "sku", silk_ctx_xpath_get(ctx, "//table[@class='specs']//th[.='SKU']/following-sibling::td/text()"));
    /* the position in the listing, when we came from it */
    const silk_value *pos = silk_dict_get(silk_ctx_cb_kwargs(ctx), "position");
    silk_item_set(it, "position", pos ? silk_value_copy(pos) : silk_value_new_null());
    /* the product pages are chained by rel=next */
    silk_ctx_follow_css(ctx, "link[rel=next], a[rel=next]", "parse_product");
    return 0;
}

static int start_requests(silk_ctx *ctx)
{
    const char *url = silk_spider_arg(silk_ctx_spider(ctx), "start_url", "http://127.0.0.1:8000/");
    return silk_ctx_follow(ctx, url, "parse") ? 0 : SILK_EINVAL;
}

static const silk_callback_def callbacks[] = {
    { "parse_product", parse_product },
    { NULL, NULL },
};

SILK_SPIDER(tutorial) = {
    .name = "tutorial",
    .allowed_domains = SILK_LIST("127.0.0.1", "localhost"),
    .start_requests = start_requests,
    .parse = parse,
    .callbacks = callbacks,
};
