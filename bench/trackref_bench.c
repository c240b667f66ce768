/* trackref_bench — what trackref's bookkeeping costs a crawl.
 *
 *   trackref_bench serve PAGES       serve the embedded site, print its URL
 *   trackref_bench crawl URL         crawl it with a follow-all spider
 *
 * bench/trackref.sh builds this against two libsilk builds, one with the
 * bookkeeping (the default) and one with -DSILK_TRACKREF_DISABLED, serves
 * the site from a separate process, and counts the crawler's instructions
 * with callgrind (and its wall time). See docs/performance.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <silk/silk.h>

static int parse(silk_ctx *ctx, silk_response *resp)
{
    const char *price = silk_ctx_css_get(ctx, "span.price::text");
    if (price) {
        silk_item *it = silk_ctx_item(ctx, "Product");
        silk_item_set_str(it, "url", resp->url);
        silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
        silk_item_set_str(it, "price", price);
    }
    silk_ctx_follow_css(ctx, "a::attr(href)", "parse");
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int serve(unsigned pages)
{
    silk_testserver_options opt = { 0 };
    opt.pages = pages;
    silk_testserver *srv;
    struct event_base *base = event_base_new();
    if (!base || silk_testserver_start(base, &opt, &srv)) {
        fprintf(stderr, "trackref_bench: cannot start the site: %s\n", silk_last_error());
        return 1;
    }
    printf("%s/\n", silk_testserver_url(srv));
    fflush(stdout);
    event_base_dispatch(base);
    silk_testserver_free(srv);
    event_base_free(base);
    return 0;
}

static int crawl(const char *url)
{
    silk_spider_def def = {
        .name = "followall",
        .start_urls = (const char *const[]){ url, NULL },
        .parse = parse,
    };
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", "WARNING", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "STATS_DUMP", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "CONCURRENT_REQUESTS", "16", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "CONCURRENT_REQUESTS_PER_DOMAIN", "16", SILK_PRIO_CMDLINE);
    silk_process *p;
    silk_crawler *c;
    if (!s || silk_process_new(s, &p) || silk_process_crawl(p, &def, NULL, NULL, &c)) {
        fprintf(stderr, "trackref_bench: %s\n", silk_last_error());
        return 1;
    }
    double t0 = now_s();
    int rc = silk_process_run(p);
    double t = now_s() - t0;
    silk_stats *st = silk_crawler_stats(c);
    printf("pages %lld items %lld seconds %.3f\n", (long long)silk_stats_get_int(st, "response_received_count", 0),
           (long long)silk_stats_get_int(st, "item_scraped_count", 0), t);
    silk_process_free(p);
    silk_settings_free(s);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve((unsigned)strtoul(argv[2], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "crawl"))
        return crawl(argv[2]);
    fprintf(stderr, "usage: trackref_bench serve PAGES | crawl URL\n");
    return 2;
}
