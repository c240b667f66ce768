/* leaky.c — the leak of Scrapy's "Debugging memory leaks" guide, made real.
 *
 * A spider that follows every link and passes the response it came from to
 * the next callback through cb_kwargs:
 *
 *     return Request(url, callback=self.parse, cb_kwargs={"referer": response})
 *
 * A reference in cb_kwargs keeps its object alive, so every request waiting
 * in the scheduler keeps a whole HtmlResponse (body, decoded text, parsed
 * document) alive — and that response keeps its own request alive, whose
 * cb_kwargs keep the response before it, and so on up the chain. Memory
 * grows with the queue. docs/leaks.md finds this leak from the telnet
 * console; the fix is to pass what the next callback needs (the URL), not
 * the response.
 *
 * Run it against the embedded site:
 *
 *     build/silk testserver --port 8000 --pages 20000 &
 *     build/silk runspider examples/leaky.c -a start_url=http://127.0.0.1:8000/ \
 *         -s DOWNLOAD_DELAY=0.02
 *     telnet 127.0.0.1 6023          # or: build/silk console 6023
 *
 * -a fixed=1 runs the same crawl without the leak (cb_kwargs get the
 * referring URL as a string), for comparison.
 *
 * -a keep=N shows the other kind of leak: every Nth response is kept in the
 * spider's state, a cache nobody empties, so it outlives the crawl; the
 * leak check reports it as a WARNING when the spider closes (not with
 * --jobdir, which would try to save that state). */
#include <stdlib.h>
#include <string.h>

#include <silk/silk.h>

static int parse(silk_ctx *ctx, silk_response *response)
{
    silk_spider *spider = silk_ctx_spider(ctx);
    bool fixed = strcmp(silk_spider_arg(spider, "fixed", "0"), "0") != 0;
    long keep = strtol(silk_spider_arg(spider, "keep", "0"), NULL, 10);
    if (keep > 0) {
        silk_value *cache = silk_dict_get(spider->state, "cache");
        if (!cache) {
            silk_dict_set(spider->state, "cache", silk_value_new_list());
            cache = silk_dict_get(spider->state, "cache");
        }
        int64_t seen = silk_dict_get_int(spider->state, "seen", 0) + 1;
        silk_dict_set_int(spider->state, "seen", seen);
        if (cache && seen % keep == 0)
            silk_list_push(cache, silk_value_new_object(response));
    }
    silk_selector_list *links = silk_ctx_css(ctx, "a::attr(href)");
    for (size_t i = 0; i < silk_selector_list_len(links); i++) {
        const char *href = silk_selector_get(silk_selector_list_at(links, i));
        silk_request *req = href ? silk_ctx_follow(ctx, href, "parse") : NULL;
        if (!req)
            continue;
        if (fixed)
            silk_dict_set_str(silk_request_cb_kwargs(req), "referer", response->url);
        else
            /* the leak: the request now keeps the whole response alive */
            silk_dict_set_object(silk_request_cb_kwargs(req), "referer", response);
    }
    return 0;
}

static int start_requests(silk_ctx *ctx)
{
    const char *url = silk_spider_arg(silk_ctx_spider(ctx), "start_url", NULL);
    if (!url)
        return silk_error(SILK_EINVAL, "leaky: give the site with -a start_url=URL");
    return silk_ctx_follow(ctx, url, "parse") ? 0 : SILK_EINVAL;
}

SILK_SPIDER(leaky) = {
    .name = "leaky",
    .class_name = "LeakySpider",
    .start_requests = start_requests,
    .parse = parse,
};
