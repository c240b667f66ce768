/* custom_middleware — a spider that brings its own downloader middleware.
 *
 *   silk testserver --port 8080 &
 *   silk runspider examples/custom_middleware.c -a start_url=http://127.0.0.1:8080/ -O items.jsonl
 *
 * "TaggerMiddleware" sits at order 543 of the downloader middleware chain:
 * after UserAgent (500) and Retry (550 is after it: a retried request comes
 * through here again), before Redirect (600) and Cookies (700). It
 *   - adds an X-Crawl-Tag header to every request (TAGGER_TAG, default
 *     "tutorial"),
 *   - drops the requests whose URL contains TAGGER_SKIP ("/p/13.html" by
 *     default) with Scrapy's IgnoreRequest, before anything is downloaded,
 *   - counts the responses it sees per status in the stats
 *     ("tagger/status/200"),
 *   - and turns a 404 into a failure of its own type, for the errback.
 * The site's rel=next chain runs through /p/13.html, so this crawl ends
 * at page 12: the drop at work.
 * TAGGER_ENABLED=false (-s TAGGER_ENABLED=false) switches it off, the way
 * Scrapy's middlewares raise NotConfigured. docs/downloader.md explains the
 * hooks and the results they return. */
#include <string.h>

#include <silk/silk.h>

typedef struct tagger {
    char *tag;
    char *skip;
    int64_t dropped;
} tagger;

/* Reads the settings; SILK_ENOTFOUND means "leave me out". Whatever this
 * allocates, close() frees (also when open() fails half way). */
static int tagger_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk_settings_bool(env->settings, "TAGGER_ENABLED", true))
        return SILK_ENOTFOUND;
    tagger *t = silk_calloc(1, sizeof *t);
    if (!t)
        return SILK_ENOMEM;
    mw->state = t;
    t->tag = silk_strdup(silk_settings_str(env->settings, "TAGGER_TAG", "tutorial"));
    t->skip = silk_strdup(silk_settings_str(env->settings, "TAGGER_SKIP", "/p/13.html"));
    return t->tag && t->skip ? 0 : SILK_ENOMEM;
}

static void tagger_close(silk_downloader_mw *mw)
{
    tagger *t = mw->state;
    if (t) {
        silk_log(SILK_LOG_INFO, "tagger", "dropped %lld request(s)", (long long)t->dropped);
        silk_free(t->tag);
        silk_free(t->skip);
        silk_free(t);
    }
    mw->state = NULL;
}

/* Requests on their way out, in ascending order. The request is borrowed:
 * edit it in place, or answer through out. */
static silk_mw_result tagger_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                     silk_mw_out *out)
{
    (void)fetch;
    tagger *t = mw->state;
    if (*t->skip && strstr(req->url, t->skip)) {
        t->dropped++;
        /* goes through every process_exception, then to the errback */
        out->failure = silk_failure_new(SILK_EINVAL, "scrapy.exceptions.IgnoreRequest", "skipped by the tagger",
                                        req, NULL);
        return SILK_MW_DROP;
    }
    silk_headers_set(&req->headers, "X-Crawl-Tag", t->tag);
    return SILK_MW_CONTINUE;
}

/* Responses on their way in, in descending order. */
static silk_mw_result tagger_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                      silk_response *resp, silk_mw_out *out)
{
    (void)fetch;
    char key[64];
    snprintf(key, sizeof key, "tagger/status/%d", resp->status);
    silk_stats_inc(mw->env->stats, key, 1);
    if (resp->status == 404) {
        /* raised from process_response: straight to the errback */
        out->failure = silk_failure_new(SILK_ENOTFOUND, "tagger.NotFound", "no such page", req, resp);
        return SILK_MW_FAILURE;
    }
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw tagger_mw = {
    .name = "TaggerMiddleware",
    .order = 543,
    .open = tagger_open,
    .close = tagger_close,
    .process_request = tagger_request,
    .process_response = tagger_response,
};

static const silk_downloader_mw *const downloader_middlewares[] = { &tagger_mw, NULL };

static int parse(silk_ctx *ctx, silk_response *resp)
{
    const char *price = silk_ctx_css_get(ctx, "span.price::text");
    if (price) {
        silk_item *it = silk_ctx_item(ctx, NULL);
        silk_item_set_str(it, "url", resp->url);
        silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
        silk_item_set_str(it, "price", price);
    }
    silk_ctx_follow_css(ctx, "a[rel=next]::attr(href)", "parse");
    return 0;
}

static int start_requests(silk_ctx *ctx)
{
    const char *url = silk_spider_arg(silk_ctx_spider(ctx), "start_url", NULL);
    if (!url)
        return silk_error(SILK_EINVAL, "custom_middleware needs -a start_url=URL");
    return silk_ctx_follow(ctx, url, "parse") ? 0 : SILK_EINVAL;
}

SILK_SPIDER(custom_middleware) = {
    .name = "custom_middleware",
    .start_requests = start_requests,
    .parse = parse,
    .downloader_middlewares = downloader_middlewares,
};
