/* silk — what a spider author writes: the spider definition, callbacks and
 * their context, item pipelines, spider middlewares, extensions, signals.
 *
 *   static int parse(silk_ctx *ctx, silk_response *resp)
 *   {
 *       silk_item *it = silk_ctx_item(ctx, NULL);           // yielded
 *       silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
 *       silk_ctx_follow_css(ctx, "a::attr(href)", "parse");  // yielded
 *       return 0;
 *   }
 *   SILK_SPIDER(quotes) = {
 *       .name = "quotes",
 *       .start_urls = SILK_LIST("http://127.0.0.1:8000/"),
 *       .parse = parse,
 *   };
 *
 * Everything a callback gets from its context (selector lists, strings,
 * requests and items it yields) is released when the callback returns:
 * ordinary extraction needs no free(). Keep something longer with silk_ref
 * (objects) or a copy (strings). */
#ifndef SILK_SPIDER_H
#define SILK_SPIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/downloader.h"
#include "silk/http.h"
#include "silk/item.h"
#include "silk/object.h"
#include "silk/selector.h"
#include "silk/settings.h"
#include "silk/stats.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_ctx silk_ctx;
typedef struct silk_crawler silk_crawler;
typedef struct silk_spider silk_spider;

/* A NULL-terminated string list literal: SILK_LIST("a", "b"). */
#define SILK_LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- definitions ---- */

typedef struct silk_callback_def {
    const char *name;
    silk_callback_fn fn;
} silk_callback_def;

typedef struct silk_errback_def {
    const char *name;
    silk_errback_fn fn;
} silk_errback_def;

/* Item pipeline (ITEM_PIPELINES). process_item returns 0 to pass the item on,
 * SILK_DROP to drop it (set *reason to a silk_malloc'ed message, or leave
 * NULL), or a negative SILK_E* (logged; the item counts as an item_error). */
#define SILK_DROP 1
typedef struct silk_pipeline_def {
    const char *name;
    int order;
    int (*open_spider)(void **state, silk_spider *spider);
    void (*close_spider)(void *state, silk_spider *spider);
    int (*process_item)(void *state, silk_item *item, silk_spider *spider, char **reason);
} silk_pipeline_def;

/* Spider middleware (SPIDER_MIDDLEWARES). Each hook may be NULL.
 * process_spider_input: 0 lets the response reach the callback, SILK_DROP
 * ignores it (as HttpError does), negative = a spider error.
 * process_output_request / _item: 0 keeps the output, SILK_DROP drops it.
 * response is NULL for start requests. */
typedef struct silk_spider_mw_def {
    const char *name;
    int order;
    int (*open)(void **state, silk_crawler *crawler);
    void (*close)(void *state);
    int (*process_spider_input)(void *state, silk_response *response, silk_spider *spider);
    int (*process_output_request)(void *state, silk_response *response, silk_request *request,
                                  silk_spider *spider);
    int (*process_output_item)(void *state, silk_response *response, silk_item *item,
                               silk_spider *spider);
} silk_spider_mw_def;

/* Extension (EXTENSIONS): opened with the crawler, closed after it. */
typedef struct silk_extension_def {
    const char *name;
    int order;
    int (*open)(void **state, silk_crawler *crawler);
    void (*close)(void *state);
} silk_extension_def;

typedef int (*silk_start_requests_fn)(silk_ctx *ctx);

typedef struct silk_spider_def {
    const char *name;               /* required */
    const char *class_name;         /* trackref type; default: name */
    const char *const *allowed_domains;
    const char *const *start_urls;
    /* yields the first requests (default: start_urls with dont_filter) */
    silk_start_requests_fn start_requests;
    silk_callback_fn parse;         /* the default callback, named "parse" */
    const silk_callback_def *callbacks; /* ends with {NULL, NULL} */
    const silk_errback_def *errbacks;
    const char *const *custom_settings; /* "KEY=VALUE" strings */
    int (*open)(silk_spider *spider);   /* after spider_opened */
    void (*close)(silk_spider *spider, const char *reason);
    const silk_pipeline_def *const *pipelines;   /* NULL-terminated */
    const silk_spider_mw_def *const *spider_middlewares;
    const silk_downloader_mw *const *downloader_middlewares; /* templates, copied */
    const silk_extension_def *const *extensions;
    void *user;
} silk_spider_def;

/* Exports a spider from a .c/.so file for `silk runspider`. */
#define SILK_SPIDER(var)                                                        \
    extern const silk_spider_def var;                                           \
    const silk_spider_def *const silk_spider_main = &var;                       \
    const silk_spider_def var

/* ---- the spider object ---- */

extern silk_type silk_type_spider; /* "Spider" */

struct silk_spider {
    silk_object obj;
    const silk_spider_def *def;
    const char *name;
    silk_value *args;  /* dict from -a NAME=VALUE */
    silk_value *state; /* dict; persisted with a job directory */
    silk_crawler *crawler;
    void *user_data;   /* yours */
};

/* The argument given with -a, or def. Borrowed. */
const char *silk_spider_arg(const silk_spider *sp, const char *name, const char *def);
silk_crawler *silk_spider_crawler(const silk_spider *sp);
/* Adds a domain to allowed_domains at run time (e.g. from a spider
 * argument, in the spider's open()). Returns 0 or a SILK_E* code. */
int silk_spider_allow_domain(silk_spider *sp, const char *domain);
/* The callback registered under name, or NULL. */
silk_callback_fn silk_spider_callback(const silk_spider *sp, const char *name);
/* The name a callback is registered under, or NULL. Borrowed. */
const char *silk_spider_callback_name(const silk_spider *sp, silk_callback_fn fn);
silk_errback_fn silk_spider_errback(const silk_spider *sp, const char *name);
const char *silk_spider_errback_name(const silk_spider *sp, silk_errback_fn fn);

/* ---- inside a callback ---- */

silk_response *silk_ctx_response(silk_ctx *ctx);
silk_spider *silk_ctx_spider(silk_ctx *ctx);
silk_crawler *silk_ctx_crawler(silk_ctx *ctx);
/* The arena released when the callback returns. */
silk_arena *silk_ctx_arena(silk_ctx *ctx);
/* cb_kwargs of the request that produced the response (a dict; borrowed,
 * created when missing). */
silk_value *silk_ctx_cb_kwargs(silk_ctx *ctx);
/* The failure an errback handles; NULL in a callback. */
silk_failure *silk_ctx_failure(silk_ctx *ctx);

/* The response's text as UTF-8 (TextResponse.text; decoded once and kept
 * on the response); NULL for a non-text response. */
const char *silk_response_text(silk_response *resp, size_t *len);
/* The Selector over the response, parsed once per response; NULL (and an
 * error recorded in the arena) for a non-text response. Borrowed. */
silk_selector *silk_response_selector(silk_response *resp, silk_arena *arena);
/* Scrapy's response.urljoin (honours <base href>): a new silk block the
 * arena owns; NULL on error. */
const char *silk_response_urljoin(silk_response *resp, silk_arena *arena, const char *ref);

/* Selector shortcuts on the callback's response; results owned by the
 * callback's arena. */
silk_selector_list *silk_ctx_css(silk_ctx *ctx, const char *query);
silk_selector_list *silk_ctx_xpath(silk_ctx *ctx, const char *query);
/* get() of the first match, or NULL. */
const char *silk_ctx_css_get(silk_ctx *ctx, const char *query);
const char *silk_ctx_xpath_get(silk_ctx *ctx, const char *query);

/* Yields a new Request for url (absolute, or relative to the response as
 * response.follow), with the callback registered under callback (NULL =
 * "parse"). Returns the request, borrowed until the callback returns, so
 * you can set meta, cb_kwargs or priority on it; NULL on error (a bad URL,
 * an unregistered callback name: logged with the spider's name). */
silk_request *silk_ctx_follow(silk_ctx *ctx, const char *url, const char *callback);
/* response.follow_all: one request per href of an <a>/<link> Selector,
 * per string of an ::attr(href) / text result, for each member of list.
 * Returns how many were yielded. */
size_t silk_ctx_follow_all(silk_ctx *ctx, silk_selector_list *list, const char *callback);
/* follow_all(css=query). */
size_t silk_ctx_follow_css(silk_ctx *ctx, const char *query, const char *callback);
/* Yields a request you built (takes your reference). Its callback must be
 * registered on the spider. Returns 0 or a SILK_E* code. */
int silk_ctx_yield_request(silk_ctx *ctx, silk_request *req);
/* Yields a new item (name may be NULL); returns it, borrowed until the
 * callback returns, to fill in. NULL on ENOMEM. */
silk_item *silk_ctx_item(silk_ctx *ctx, const char *name);
/* Yields an item you built (takes your reference). */
int silk_ctx_yield_item(silk_ctx *ctx, silk_item *item);

/* ---- signals ---- */

typedef enum silk_signal {
    SILK_SIG_ENGINE_STARTED,
    SILK_SIG_ENGINE_STOPPED,
    SILK_SIG_SPIDER_OPENED,
    SILK_SIG_SPIDER_IDLE,
    SILK_SIG_SPIDER_CLOSED,
    SILK_SIG_SPIDER_ERROR,
    SILK_SIG_REQUEST_SCHEDULED,
    SILK_SIG_REQUEST_DROPPED,
    SILK_SIG_REQUEST_REACHED_DOWNLOADER,
    SILK_SIG_RESPONSE_RECEIVED,
    SILK_SIG_RESPONSE_DOWNLOADED,
    SILK_SIG_HEADERS_RECEIVED,
    SILK_SIG_BYTES_RECEIVED,
    SILK_SIG_ITEM_SCRAPED,
    SILK_SIG_ITEM_DROPPED,
    SILK_SIG_ITEM_ERROR,
    SILK_SIG_COUNT
} silk_signal;

typedef struct silk_signal_args {
    silk_signal signal;
    silk_spider *spider;
    silk_request *request;
    silk_response *response;
    silk_item *item;
    silk_failure *failure;
    const char *reason;  /* spider_closed, item_dropped */
} silk_signal_args;

typedef void (*silk_signal_fn)(silk_crawler *crawler, const silk_signal_args *args, void *arg);

/* Connects fn to a signal of this crawler. Returns 0 or SILK_ENOMEM. */
int silk_signal_connect(silk_crawler *crawler, silk_signal sig, silk_signal_fn fn, void *arg);
/* Scrapy's name of a signal ("item_scraped"). */
const char *silk_signal_name(silk_signal sig);

/* ---- the crawler, from a spider's point of view ---- */

silk_settings *silk_crawler_settings(silk_crawler *c);
silk_stats *silk_crawler_stats(silk_crawler *c);
silk_spider *silk_crawler_spider(silk_crawler *c);
struct event_base *silk_crawler_base(silk_crawler *c);
/* Asks the engine to close the spider with reason (e.g.
 * "closespider_itemcount"); in-flight requests finish first. */
void silk_crawler_close_spider(silk_crawler *c, const char *reason);
/* Schedules a request from outside a callback (an extension, a signal
 * handler): takes your reference. */
int silk_crawler_crawl(silk_crawler *c, silk_request *req);

#ifdef __cplusplus
}
#endif
#endif
