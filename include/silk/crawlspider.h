/* silk — Scrapy's CrawlSpider: follow links by rules.
 *
 * A spider author writes a rules table and registers the callbacks the
 * rules name; nothing else:
 *
 *   static const silk_rule rules[] = {
 *       { .link_extractor = { .allow = SILK_LIST("/p/\\d+\\.html$") },
 *         .callback = "parse_item" },          // follow defaults to false
 *       { .link_extractor = { .restrict_css = SILK_LIST("nav") } }, // follow
 *   };
 *   SILK_SPIDER(shop) = {
 *       .name = "shop",
 *       .start_urls = SILK_LIST("http://127.0.0.1:8000/"),
 *       SILK_CRAWLSPIDER(rules),
 *       .callbacks = (const silk_callback_def[]){ { "parse_item", parse_item }, { 0 } },
 *   };
 *
 * SILK_CRAWLSPIDER sets .parse (every response goes through
 * silk_crawlspider_parse, which dispatches to the rule's callback and
 * follows links) and .user. For parse_start_url, process_links hooks that
 * need the spider's own data, or your own .user, fill a silk_crawlspider_def
 * and use SILK_CRAWLSPIDER_DEF(&def).
 *
 * Semantics are Scrapy 2.8's (_parse_response, _requests_to_follow): the
 * rules run in order on every HtmlResponse whose rule follows; a link one
 * rule took is not taken again by a later rule of the same response; the
 * requests carry meta {"rule": index, "link_text": text}, callback "parse"
 * and errback "_errback" (silk_crawlspider_errback). Differences are in
 * docs/compat.md. */
#ifndef SILK_CRAWLSPIDER_H
#define SILK_CRAWLSPIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/linkextractor.h"
#include "silk/spider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rule.follow: the default follows when the rule has no callback. */
typedef enum silk_rule_follow {
    SILK_FOLLOW_DEFAULT = 0,
    SILK_FOLLOW = 1,
    SILK_NO_FOLLOW = 2,
} silk_rule_follow;

typedef struct silk_rule {
    /* what to extract; all zero = LinkExtractor() with Scrapy's defaults */
    silk_link_extractor_opts link_extractor;
    /* a callback registered on the spider (.callbacks, or "parse" is NOT
     * allowed: parse is the rules' own entry point); NULL = none */
    const char *callback;
    /* cb_kwargs for that callback as JSON object text ({"kind": "book"});
     * the request's own cb_kwargs (set in process_request) win */
    const char *cb_kwargs;
    silk_rule_follow follow;
    /* filters or rewrites the links of one response in place (remove,
     * reorder; replaced strings must outlive the callback: use
     * silk_arena_strdup(silk_ctx_arena(ctx), ...)). 0 or a SILK_E* code. */
    int (*process_links)(silk_ctx *ctx, silk_links *links);
    /* sees each request before it is yielded: modify it in place, return 0
     * to yield it, SILK_DROP to drop it, or a SILK_E* code. */
    int (*process_request)(silk_ctx *ctx, silk_request *request, silk_response *response);
    /* an errback registered on the spider (.errbacks), for these requests */
    const char *errback;
} silk_rule;

typedef struct silk_crawlspider_def {
    const silk_rule *rules;
    size_t nrules;
    /* Scrapy's parse_start_url: called on the responses of the start
     * requests (and of any request without a rule) before their links are
     * followed; NULL = nothing */
    silk_callback_fn parse_start_url;
    void *user; /* yours: silk_crawlspider_user(spider) */
} silk_crawlspider_def;

/* The spider's .parse for a CrawlSpider: runs the rule (or
 * parse_start_url), then follows links. Returns what the callback returned,
 * or a SILK_E* code (a rule naming an unregistered callback, a bad regex:
 * the message names the rule). */
int silk_crawlspider_parse(silk_ctx *ctx, silk_response *response);

/* The errback of every rule request (registered as "_errback"): runs the
 * rule's errback, if it has one. Without one the failure ends there, as in
 * Scrapy, where CrawlSpider._errback swallows it (no "Error downloading"
 * log). Returns what the rule's errback returned. */
int silk_crawlspider_errback(silk_ctx *ctx, silk_failure *failure);

/* The crawl definition of a spider set up with SILK_CRAWLSPIDER*, or NULL.
 * Borrowed. */
const silk_crawlspider_def *silk_crawlspider_get(const silk_spider *spider);
/* silk_crawlspider_def.user, or NULL. */
void *silk_crawlspider_user(const silk_spider *spider);

/* Inside any callback: the links le extracts from the callback's response,
 * owned by the callback's arena. Returns 0 or a SILK_E* code (as
 * silk_link_extractor_extract). */
int silk_ctx_extract_links(silk_ctx *ctx, const silk_link_extractor *le, silk_links *out);

/* 0, or a compile error when a is a pointer rather than an array. */
#if defined(__GNUC__)
#define SILK__MUST_BE_ARRAY(a)                                                            \
    (0 * sizeof(char[1 - 2 * __builtin_types_compatible_p(__typeof__(a),                  \
                                                           __typeof__(&(a)[0]))]))
#else
#define SILK__MUST_BE_ARRAY(a) 0
#endif

/* Spider definition fields for a rules table (an array, not a pointer). */
#define SILK_CRAWLSPIDER(rules_array)                                                     \
    .parse = silk_crawlspider_parse,                                                      \
    .user = (void *)&(const silk_crawlspider_def){                                        \
        (rules_array),                                                                    \
        sizeof(rules_array) / sizeof((rules_array)[0]) + SILK__MUST_BE_ARRAY(rules_array), \
        NULL, NULL }

/* The same from a silk_crawlspider_def you filled in. */
#define SILK_CRAWLSPIDER_DEF(def_ptr) .parse = silk_crawlspider_parse, .user = (void *)(def_ptr)

#ifdef __cplusplus
}
#endif
#endif
