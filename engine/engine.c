/* silk — the process, the crawler and its engine: the loop of DESIGN.md.
 *
 * One libevent loop runs everything. The engine pulls a request from the
 * scheduler while the downloader has a free slot and the responses waiting
 * for callbacks stay under SCRAPER_SLOT_MAX_ACTIVE_SIZE; each response goes
 * through the spider middlewares to its callback, whose yields go back to
 * the scheduler (requests) or through the pipelines (items). */
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "engine_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/silk.h"
#include "silk/url.h"

#define LOGGER "silk.core.engine"

typedef struct handler {
    silk_signal_fn fn;
    void *arg;
} handler;

typedef struct plugin {
    const void *def; /* silk_pipeline_def / silk_spider_mw_def / silk_extension_def */
    void *state;
    int order;
} plugin;

typedef enum crawler_state { CS_NEW, CS_RUNNING, CS_CLOSING, CS_CLOSED } crawler_state;

struct silk_crawler {
    silk_process *proc;
    silk_settings *settings;
    silk_stats *stats;
    silk_spider *spider;
    silk_downloader *dl;
    silk_scheduler *sched;
    silk__parsepool *pool;  /* NULL: parse on the loop thread */
    silk_mw_env mwenv;
    silk_downloader_mw *dlmws; /* copies of the spider's templates */
    size_t ndlmws;
    plugin *spmws, *pipes, *exts;
    size_t nspmws, npipes, nexts;
    size_t spmws_open, pipes_open, exts_open; /* how many open() succeeded */
    bool spider_open_done;
    handler *handlers[SILK_SIG_COUNT];
    size_t nhandlers[SILK_SIG_COUNT];
    struct event *pump_ev, *heartbeat_ev, *logstats_ev, *close_ev;
    crawler_state state;
    bool paused;
    char *close_reason;
    int error;
    size_t inprogress;
    size_t scraper_active, scraper_active_size;
    uint64_t start_ns;
    double start_wall;
    /* builtin spider middleware settings */
    int64_t depth_limit, depth_priority, urllength_limit;
    bool depth_stats_verbose, httperror_allow_all, referer_enabled;
    silk_value *httperror_allowed;
    silk_value *offsite_seen; /* dict of hosts already logged */
    char **allowed_domains;
    size_t nallowed;
    /* logstats */
    int64_t last_pages, last_items;
    double logstats_interval;
    /* closespider */
    int64_t cs_itemcount, cs_pagecount, cs_errorcount;
};

struct silk_process {
    struct event_base *base;
    silk_settings *settings;
    silk_crawler **crawlers;
    size_t ncrawlers, nopen;
    struct event *sigint_ev, *sigterm_ev;
    int signals_seen;
    int first_error;
    FILE *logfile;
};

static silk_process *log_process; /* whose crawlers count log_count/<LEVEL> */

/* ---------- signals ---------- */

static const char *const signal_names[SILK_SIG_COUNT] = {
    "engine_started",   "engine_stopped",    "spider_opened",
    "spider_idle",      "spider_closed",     "spider_error",
    "request_scheduled", "request_dropped",  "request_reached_downloader",
    "response_received", "response_downloaded", "headers_received",
    "bytes_received",   "item_scraped",      "item_dropped",
    "item_error",
};

const char *silk_signal_name(silk_signal sig)
{
    return (unsigned)sig < SILK_SIG_COUNT ? signal_names[sig] : "unknown";
}

int silk_signal_connect(silk_crawler *c, silk_signal sig, silk_signal_fn fn, void *arg)
{
    if ((unsigned)sig >= SILK_SIG_COUNT || !fn)
        return silk_error(SILK_EINVAL, "silk_signal_connect: bad signal or handler");
    handler *h = silk_realloc(c->handlers[sig], (c->nhandlers[sig] + 1) * sizeof *h);
    if (!h)
        return SILK_ENOMEM;
    h[c->nhandlers[sig]++] = (handler){ fn, arg };
    c->handlers[sig] = h;
    return 0;
}

static void emit(silk_crawler *c, silk_signal sig, silk_signal_args *a)
{
    a->signal = sig;
    a->spider = c->spider;
    for (size_t i = 0; i < c->nhandlers[sig]; i++)
        c->handlers[sig][i].fn(c, a, c->handlers[sig][i].arg);
}

/* ---------- logging sink ---------- */

static void process_sink(silk_log_level level, const char *logger, const char *msg, void *arg)
{
    silk_process *p = arg;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    FILE *f = p->logfile ? p->logfile : stderr;
    fprintf(f, "%s [%s] %s: %s\n", ts, logger, silk_log_level_name(level), msg);
    fflush(f);
    for (size_t i = 0; i < p->ncrawlers; i++)
        if (p->crawlers[i]->stats && p->crawlers[i]->state != CS_CLOSED)
            silk_stats_inc_fmt(p->crawlers[i]->stats, 1, "log_count/%s", silk_log_level_name(level));
}

/* ---------- small helpers ---------- */

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void describe(const void *o, char *buf, size_t n) { silk_object_describe(o, buf, n); }

static void wake(silk_crawler *c)
{
    if (c->pump_ev)
        event_active(c->pump_ev, EV_WRITE, 0);
}

static void close_spider(silk_crawler *c, const char *reason);

/* ---------- builtin spider middlewares ---------- */

static bool offsite_allowed(silk_crawler *c, const char *host)
{
    if (!c->nallowed)
        return true;
    size_t hl = strlen(host);
    for (size_t i = 0; i < c->nallowed; i++) {
        const char *d = c->allowed_domains[i];
        size_t dl = strlen(d);
        if (strcasecmp(host, d) == 0)
            return true;
        if (hl > dl && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, d) == 0)
            return true;
    }
    return false;
}

/* Offsite, Referer, UrlLength, Depth, in Scrapy's order; 0 keeps req. */
static int builtin_output_request(silk_crawler *c, silk_ctx *ctx, silk_request *req)
{
    silk_response *resp = ctx->response;
    char *host = NULL;
    if (!req->dont_filter && c->nallowed && silk_url_host(req->url, &host) == 0 && host &&
        !offsite_allowed(c, host)) {
        if (!silk_dict_get(c->offsite_seen, host)) {
            silk_dict_set_bool(c->offsite_seen, host, true);
            silk_log(SILK_LOG_DEBUG, "silk.spidermiddlewares.offsite",
                     "Filtered offsite request to '%s': <%s %s>", host, req->method, req->url);
            silk_stats_inc(c->stats, "offsite/domains", 1);
        }
        silk_stats_inc(c->stats, "offsite/filtered", 1);
        silk_free(host);
        return SILK_DROP;
    }
    silk_free(host);
    if (resp && c->referer_enabled && !silk_headers_get(&req->headers, "Referer") && !req->pending_referer) {
        /* no-referrer-when-downgrade: https -> http sends nothing */
        bool downgrade = strncasecmp(resp->url, "https:", 6) == 0 && strncasecmp(req->url, "https:", 6) != 0;
        if (!downgrade) {
            /* one string for every request this callback yields */
            if (!ctx->referer)
                ctx->referer = silk_shared_str_new(resp->url, strcspn(resp->url, "#"));
            req->pending_referer = silk_shared_str_ref(ctx->referer);
        }
    }
    if (c->urllength_limit > 0 && (int64_t)strlen(req->url) > c->urllength_limit) {
        silk_log(SILK_LOG_INFO, "silk.spidermiddlewares.urllength", "Ignoring link (url length > %lld): %s",
                 (long long)c->urllength_limit, req->url);
        silk_stats_inc(c->stats, "urllength/request_ignored_count", 1);
        return SILK_DROP;
    }
    if (resp) {
        silk_value *rmeta = silk_response_meta(resp);
        int64_t depth = silk_dict_get_int(rmeta, "depth", 0) + 1;
        if (depth < INT32_MAX)
            req->pending_depth_plus1 = (int32_t)depth + 1;
        if (c->depth_priority)
            req->priority -= (int)(depth * c->depth_priority);
        if (c->depth_limit > 0 && depth > c->depth_limit) {
            silk_log(SILK_LOG_DEBUG, "silk.spidermiddlewares.depth", "Ignoring link (depth > %lld): %s",
                     (long long)c->depth_limit, req->url);
            return SILK_DROP;
        }
        if (c->depth_stats_verbose)
            silk_stats_inc_fmt(c->stats, 1, "request_depth_count/%lld", (long long)depth);
        silk_stats_max(c->stats, "request_depth_max", depth);
    } else {
        silk_value *meta = silk_request_meta(req);
        if (meta && !silk_dict_get(meta, "depth"))
            silk_dict_set_int(meta, "depth", 0);
    }
    return 0;
}

/* HttpError: 0 lets resp reach the callback. */
static int builtin_spider_input(silk_crawler *c, silk_response *resp)
{
    if (resp->status >= 200 && resp->status < 300)
        return 0;
    silk_value *meta = silk_response_meta(resp);
    if (silk_dict_get_bool(meta, "handle_httpstatus_all", false) || c->httperror_allow_all)
        return 0;
    const silk_value *lists[2] = { silk_dict_get(meta, "handle_httpstatus_list"), c->httperror_allowed };
    /* a per-request list replaces the setting, as in Scrapy */
    const silk_value *allowed = lists[0] ? lists[0] : lists[1];
    for (size_t i = 0; i < silk_list_len(allowed); i++) {
        const silk_value *v = silk_list_get(allowed, i);
        if (v->kind == SILK_V_INT && v->u.i == resp->status)
            return 0;
    }
    silk_stats_inc(c->stats, "httperror/response_ignored_count", 1);
    silk_stats_inc_fmt(c->stats, 1, "httperror/response_ignored_status_count/%d", resp->status);
    silk_log(SILK_LOG_INFO, "silk.spidermiddlewares.httperror",
             "Ignoring response <%d %s>: HTTP status code is not handled or not allowed", resp->status,
             resp->url);
    return SILK_DROP;
}

/* ---------- scheduling ---------- */

static int schedule(silk_crawler *c, silk_request *req)
{
    /* only the memory queue keeps the compact form */
    if (strcmp(c->sched->ops->name, "memory") != 0 && silk_request_materialize(req))
        return SILK_ENOMEM;
    silk_signal_args a = { .request = req };
    emit(c, SILK_SIG_REQUEST_SCHEDULED, &a);
    int rc = c->sched->ops->enqueue(c->sched, req);
    if (rc == SILK_FILTERED) {
        emit(c, SILK_SIG_REQUEST_DROPPED, &a);
        return 0;
    }
    if (rc < 0) {
        silk_log(SILK_LOG_ERROR, LOGGER, "cannot schedule <%s %s>: %s", req->method, req->url,
                 silk_last_error());
        return rc;
    }
    wake(c);
    return 0;
}

int silk_crawler_crawl(silk_crawler *c, silk_request *req)
{
    int rc = schedule(c, req);
    silk_unref(req);
    return rc;
}

/* ---------- items ---------- */

static void process_item(silk_crawler *c, silk_response *resp, silk_item *it)
{
    silk_signal_args a = { .item = it, .response = resp };
    for (size_t i = 0; i < c->npipes; i++) {
        const silk_pipeline_def *p = c->pipes[i].def;
        if (!p->process_item)
            continue;
        char *reason = NULL;
        int rc = p->process_item(c->pipes[i].state, it, c->spider, &reason);
        if (rc == SILK_DROP) {
            char d[512];
            describe(it, d, sizeof d);
            silk_log(SILK_LOG_WARNING, "silk.core.scraper", "Dropped: %s\n%s", reason ? reason : "", d);
            silk_stats_inc(c->stats, "item_dropped_count", 1);
            silk_stats_inc(c->stats, "item_dropped_reasons_count/DropItem", 1);
            a.reason = reason;
            emit(c, SILK_SIG_ITEM_DROPPED, &a);
            silk_free(reason);
            return;
        }
        silk_free(reason);
        if (rc < 0) {
            silk_log(SILK_LOG_ERROR, "silk.core.scraper", "Error processing item in pipeline %s: %s",
                     p->name ? p->name : "?", silk_last_error());
            emit(c, SILK_SIG_ITEM_ERROR, &a);
            return;
        }
    }
    if (silk_log_get_level() <= SILK_LOG_DEBUG) {
        char d[1024];
        describe(it, d, sizeof d);
        silk_log(SILK_LOG_DEBUG, "silk.core.scraper", "Scraped from <%d %s>\n%s", resp ? resp->status : 0,
                 resp ? resp->url : "", d);
    }
    silk_stats_inc(c->stats, "item_scraped_count", 1);
    emit(c, SILK_SIG_ITEM_SCRAPED, &a);
    if (c->cs_itemcount > 0 && silk_stats_get_int(c->stats, "item_scraped_count", 0) >= c->cs_itemcount)
        close_spider(c, "closespider_itemcount");
}

/* Hands a callback's yields on: requests through the spider middlewares to
 * the scheduler, items through the pipelines. */
static void process_outputs(silk_crawler *c, silk_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nout; i++) {
        silk_object *o = ctx->out[i];
        if (silk_type_is_a(o->type, &silk_type_request)) {
            silk_request *req = (silk_request *)o;
            int keep = builtin_output_request(c, ctx, req);
            /* user middlewares and scheduled-signal handlers see headers and
             * meta as Scrapy fills them */
            if (keep == 0 && (c->nspmws || c->nhandlers[SILK_SIG_REQUEST_SCHEDULED]) &&
                silk_request_materialize(req))
                keep = SILK_ENOMEM;
            for (size_t k = c->nspmws; keep == 0 && k-- > 0;) {
                const silk_spider_mw_def *m = c->spmws[k].def;
                if (m->process_output_request)
                    keep = m->process_output_request(c->spmws[k].state, ctx->response, req, c->spider);
            }
            if (keep == 0)
                schedule(c, req);
        } else if (silk_type_is_a(o->type, &silk_type_item)) {
            silk_item *it = (silk_item *)o;
            int keep = 0;
            for (size_t k = c->nspmws; keep == 0 && k-- > 0;) {
                const silk_spider_mw_def *m = c->spmws[k].def;
                if (m->process_output_item)
                    keep = m->process_output_item(c->spmws[k].state, ctx->response, it, c->spider);
            }
            if (keep == 0)
                process_item(c, ctx->response, it);
        }
    }
}

static void spider_error(silk_crawler *c, silk_response *resp, int rc, const char *where)
{
    silk_log(SILK_LOG_ERROR, "silk.core.scraper", "Spider error processing <%s %s> (referer: %s): %s: %s",
             resp && resp->request ? resp->request->method : "GET", resp ? resp->url : "(start requests)",
             resp && resp->request && silk_headers_get(&resp->request->headers, "Referer")
                 ? silk_headers_get(&resp->request->headers, "Referer")
                 : "None",
             where, *silk_last_error() ? silk_last_error() : silk_strerror(rc));
    silk_stats_inc_fmt(c->stats, 1, "spider_exceptions/%s", silk_strerror(rc));
    silk_signal_args a = { .response = resp };
    emit(c, SILK_SIG_SPIDER_ERROR, &a);
    if (c->cs_errorcount > 0 &&
        silk_stats_get_int(c->stats, "log_count/ERROR", 0) >= c->cs_errorcount)
        close_spider(c, "closespider_errorcount");
}

static void call_callback(silk_crawler *c, silk_response *resp)
{
    silk_request *req = resp->request;
    silk_callback_fn fn = req && req->callback ? req->callback
                                               : silk_spider_callback(c->spider, req ? req->callback_name : NULL);
    if (!fn && req && req->callback_name)
        fn = silk_spider_callback(c->spider, req->callback_name);
    if (!fn)
        fn = c->spider->def->parse;
    if (!fn) {
        silk_error(SILK_ENOTFOUND, "spider '%s' has no parse callback", c->spider->name);
        spider_error(c, resp, SILK_ENOTFOUND, "NotImplementedError");
        return;
    }
    for (size_t k = 0; k < c->nspmws; k++) {
        const silk_spider_mw_def *m = c->spmws[k].def;
        if (!m->process_spider_input)
            continue;
        int rc = m->process_spider_input(c->spmws[k].state, resp, c->spider);
        if (rc == SILK_DROP)
            return;
        if (rc < 0) {
            spider_error(c, resp, rc, m->name ? m->name : "spider middleware");
            return;
        }
    }
    silk_ctx ctx;
    silk__ctx_init(&ctx, c, c->spider, resp, NULL);
    silk_clear_error();
    int rc = fn(&ctx, resp);
    if (rc) {
        spider_error(c, resp, rc, "callback");
    } else if (ctx.arena.err) {
        silk_log(SILK_LOG_ERROR, "silk.core.scraper", "Spider error processing <GET %s>: %s", resp->url,
                 ctx.arena.errmsg ? ctx.arena.errmsg : silk_strerror(ctx.arena.err));
    }
    /* yields are processed even when the callback failed after yielding
     * (a generator that raised still produced its earlier items) */
    process_outputs(c, &ctx);
    silk__ctx_release(&ctx);
}

static void call_errback(silk_crawler *c, silk_request *req, silk_failure *f)
{
    silk_errback_fn eb = req->errback ? req->errback : silk_spider_errback(c->spider, req->errback_name);
    if (!eb) {
        if (strcmp(f->type, "scrapy.exceptions.IgnoreRequest") == 0) {
            silk_log(SILK_LOG_DEBUG, LOGGER, "Ignoring <%s %s>: %s", req->method, req->url, f->message);
        } else {
            silk_log(SILK_LOG_ERROR, "silk.core.scraper", "Error downloading <%s %s>: %s: %s", req->method,
                     req->url, f->type, f->message);
            if (c->cs_errorcount > 0 &&
                silk_stats_get_int(c->stats, "log_count/ERROR", 0) >= c->cs_errorcount)
                close_spider(c, "closespider_errorcount");
        }
        return;
    }
    silk_ctx ctx;
    silk__ctx_init(&ctx, c, c->spider, f->response, f);
    silk_clear_error();
    int rc = eb(&ctx, f);
    if (rc)
        spider_error(c, f->response, rc, "errback");
    process_outputs(c, &ctx);
    silk__ctx_release(&ctx);
}

/* ---------- the downloader's answers ---------- */

/* The response reaches the spider: HttpError, the callback (or the
 * errback of an HttpError), then the scheduler hears the request is done. */
static void scrape(silk_crawler *c, silk_request *req, silk_response *resp)
{
    if (builtin_spider_input(c, resp) == 0) {
        call_callback(c, resp);
    } else if (req->errback || req->errback_name) {
        silk_failure *f = silk_failure_new(SILK_EINVAL, "scrapy.spidermiddlewares.httperror.HttpError",
                                           "Ignoring non-200 response", req, resp);
        if (f) {
            call_errback(c, req, f);
            silk_failure_free(f);
        }
    }
    if (c->cs_pagecount > 0 && silk_stats_get_int(c->stats, "response_received_count", 0) >= c->cs_pagecount)
        close_spider(c, "closespider_pagecount");
}

static void scraper_leave(silk_crawler *c, silk_request *req, silk_response *resp)
{
    c->scraper_active--;
    c->scraper_active_size -= resp->body_len;
    if (c->sched->ops->done)
        c->sched->ops->done(c->sched, req);
    wake(c);
}

static void on_parsed(void *arg, silk_response *resp)
{
    silk_crawler *c = arg;
    silk_request *req = resp->request;
    if (c->state != CS_CLOSED)
        scrape(c, req, resp);
    scraper_leave(c, req, resp);
}

static void on_fetched(void *arg, silk_request *req, const silk_fetch_result *res)
{
    silk_crawler *c = arg;
    c->inprogress--;
    if (c->state == CS_CLOSED)
        return;
    switch (res->kind) {
    case SILK_FETCH_RESPONSE: {
        silk_response *resp = res->response;
        silk_signal_args a = { .request = req, .response = resp };
        emit(c, SILK_SIG_RESPONSE_DOWNLOADED, &a);
        emit(c, SILK_SIG_RESPONSE_RECEIVED, &a);
        silk_stats_inc(c->stats, "response_received_count", 1);
        if (silk_log_get_level() <= SILK_LOG_DEBUG) {
            const char *ref = silk_headers_get(&req->headers, "Referer");
            silk_log(SILK_LOG_DEBUG, LOGGER, "Crawled (%d) <%s %s> (referer: %s)", resp->status, req->method,
                     resp->url, ref ? ref : "None");
        }
        c->scraper_active++;
        c->scraper_active_size += resp->body_len;
        /* a text response the callback will read is parsed off the loop */
        if (c->pool && silk_response_is_text(resp) && resp->status >= 200 && resp->status < 300 &&
            resp->request == req && silk__parsepool_submit(c->pool, resp, on_parsed, c) == 0)
            return;
        scrape(c, req, resp);
        scraper_leave(c, req, resp);
        return;
    }
    case SILK_FETCH_REQUEST:
        if (res->request)
            schedule(c, res->request);
        break;
    case SILK_FETCH_FAILURE:
        call_errback(c, req, res->failure);
        break;
    }
    if (c->sched->ops->done)
        c->sched->ops->done(c->sched, req);
    wake(c);
}

/* ---------- the loop ---------- */

static bool idle(const silk_crawler *c)
{
    return c->inprogress == 0 && c->sched->ops->len(c->sched) == 0 && c->scraper_active == 0;
}

static void finish_close(silk_crawler *c);

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    silk_crawler *c = arg;
    (void)fd;
    (void)what;
    if (c->state == CS_CLOSING) {
        if (c->inprogress == 0 && c->scraper_active == 0)
            finish_close(c);
        return;
    }
    if (c->state != CS_RUNNING)
        return;
    int64_t max_active = 5000000;
    silk_settings_get_int(c->settings, "SCRAPER_SLOT_MAX_ACTIVE_SIZE", &max_active);
    while (!c->paused && c->state == CS_RUNNING && !silk_downloader_needs_backout(c->dl) &&
           c->scraper_active_size < (size_t)max_active) {
        silk_request *req = c->sched->ops->next(c->sched);
        if (!req)
            break;
        silk_signal_args a = { .request = req };
        if (silk_request_materialize(req)) {
            silk_log(SILK_LOG_ERROR, LOGGER, "out of memory preparing <%s %s>", req->method, req->url);
            silk_unref(req);
            continue;
        }
        emit(c, SILK_SIG_REQUEST_REACHED_DOWNLOADER, &a);
        if (silk_downloader_fetch(c->dl, req, on_fetched, c) == 0) {
            c->inprogress++;
        } else {
            silk_log(SILK_LOG_ERROR, LOGGER, "cannot fetch <%s %s>: %s", req->method, req->url, silk_last_error());
            if (c->sched->ops->done) /* the lease ends: it will not come back */
                c->sched->ops->done(c->sched, req);
        }
        silk_unref(req);
    }
    if (c->state == CS_RUNNING && !c->paused && idle(c)) {
        silk_signal_args a = { 0 };
        emit(c, SILK_SIG_SPIDER_IDLE, &a);
        if (c->state == CS_RUNNING && idle(c))
            close_spider(c, "finished");
    }
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wake(arg);
}

static void on_logstats(evutil_socket_t fd, short what, void *arg)
{
    silk_crawler *c = arg;
    (void)fd;
    (void)what;
    int64_t pages = silk_stats_get_int(c->stats, "response_received_count", 0);
    int64_t items = silk_stats_get_int(c->stats, "item_scraped_count", 0);
    double mult = 60.0 / c->logstats_interval;
    silk_log(SILK_LOG_INFO, "silk.extensions.logstats",
             "Crawled %lld pages (at %.0f pages/min), scraped %lld items (at %.0f items/min)", (long long)pages,
             (double)(pages - c->last_pages) * mult, (long long)items, (double)(items - c->last_items) * mult);
    c->last_pages = pages;
    c->last_items = items;
    if (c->proc) {
        double timeout = 0;
        silk_settings_get_double(c->settings, "CLOSESPIDER_TIMEOUT", &timeout);
        (void)timeout;
    }
}

static void on_close_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    close_spider(arg, "closespider_timeout");
}

/* ---------- open and close ---------- */

size_t silk__default_extensions(const silk_extension_def **out);

static int cmp_plugin(const void *a, const void *b)
{
    const plugin *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

static int load_plugins(silk_crawler *c, const void *const *defs, size_t def_size_order_offset,
                        plugin **out, size_t *n, int kind)
{
    (void)def_size_order_offset;
    size_t count = 0;
    while (defs && defs[count])
        count++;
    if (!count)
        return 0;
    plugin *p = silk_calloc(count, sizeof *p);
    if (!p)
        return SILK_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        p[i].def = defs[i];
        p[i].order = kind == 0   ? ((const silk_pipeline_def *)defs[i])->order
                     : kind == 1 ? ((const silk_spider_mw_def *)defs[i])->order
                                 : ((const silk_extension_def *)defs[i])->order;
    }
    qsort(p, count, sizeof *p, cmp_plugin);
    *out = p;
    *n = count;
    return 0;
}

static int open_crawler(silk_crawler *c)
{
    silk_spider *sp = c->spider;
    int rc;
    c->start_ns = silk_now_ns();
    c->start_wall = wall_now();
    silk_stats_set_time(c->stats, "start_time", c->start_wall);
    c->state = CS_RUNNING;

    /* builtin middleware settings */
    c->depth_limit = silk_settings_int(c->settings, "DEPTH_LIMIT", 0);
    c->depth_priority = silk_settings_int(c->settings, "DEPTH_PRIORITY", 0);
    c->depth_stats_verbose = silk_settings_bool(c->settings, "DEPTH_STATS_VERBOSE", false);
    c->urllength_limit = silk_settings_int(c->settings, "URLLENGTH_LIMIT", 2083);
    c->httperror_allow_all = silk_settings_bool(c->settings, "HTTPERROR_ALLOW_ALL", false);
    c->referer_enabled = silk_settings_bool(c->settings, "REFERER_ENABLED", true);
    c->logstats_interval = silk_settings_double(c->settings, "LOGSTATS_INTERVAL", 60.0);
    c->cs_itemcount = silk_settings_int(c->settings, "CLOSESPIDER_ITEMCOUNT", 0);
    c->cs_pagecount = silk_settings_int(c->settings, "CLOSESPIDER_PAGECOUNT", 0);
    c->cs_errorcount = silk_settings_int(c->settings, "CLOSESPIDER_ERRORCOUNT", 0);
    if ((rc = silk_settings_get_list(c->settings, "HTTPERROR_ALLOWED_CODES", &c->httperror_allowed)) &&
        rc != SILK_ENOTFOUND)
        return rc;
    /* "-s HTTPERROR_ALLOWED_CODES=404,500" gives strings: make them ints */
    for (size_t i = 0; i < silk_list_len(c->httperror_allowed); i++) {
        silk_value *v = silk_list_get(c->httperror_allowed, i);
        if (v->kind == SILK_V_STRING) {
            int64_t n = atoll(v->u.s.ptr);
            silk_free(v->u.s.ptr);
            v->kind = SILK_V_INT;
            v->u.i = n;
        }
    }
    if (!(c->offsite_seen = silk_value_new_dict()))
        return SILK_ENOMEM;
    for (const char *const *d = sp->def->allowed_domains; d && *d; d++)
        c->nallowed++;
    if (c->nallowed) {
        if (!(c->allowed_domains = silk_calloc(c->nallowed, sizeof *c->allowed_domains)))
            return SILK_ENOMEM;
        for (size_t i = 0; i < c->nallowed; i++)
            if (!(c->allowed_domains[i] = silk_strdup(sp->def->allowed_domains[i])))
                return SILK_ENOMEM;
    }

    /* scheduler, downloader and its middlewares */
    if (!c->sched && (rc = silk_memory_scheduler_new(c->settings, c->stats, &c->sched)))
        return rc;
    if ((rc = silk_downloader_new(c->proc->base, c->settings, c->stats, &c->dl)))
        return rc;
    /* 0 (the default): parse on the loop. Measured on 2 cores, a parser
     * thread costs more RSS (a second malloc arena holding parsed trees)
     * than it gains in pages/s; docs/performance.md. -1: the cores beyond
     * the loop's, at most 4. */
    int64_t threads = silk_settings_int(c->settings, "SCRAPER_PARSE_THREADS", 0);
    if (threads < 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 1 ? (cores - 1 < 4 ? cores - 1 : 4) : 0;
    }
    if (threads > 64)
        threads = 64;
    if ((rc = silk__parsepool_new(c->proc->base, (size_t)threads, &c->pool)))
        return rc;
    c->mwenv = (silk_mw_env){ c->settings, c->stats, c->proc->base, c->dl, sp->name, c };
    size_t ntemplates = 0;
    while (sp->def->downloader_middlewares && sp->def->downloader_middlewares[ntemplates])
        ntemplates++;
    if (ntemplates) {
        if (!(c->dlmws = silk_calloc(ntemplates, sizeof *c->dlmws)))
            return SILK_ENOMEM;
        for (size_t i = 0; i < ntemplates; i++) {
            c->dlmws[i] = *sp->def->downloader_middlewares[i];
            c->ndlmws++;
            if ((rc = silk_downloader_add_middleware(c->dl, &c->dlmws[i], &c->mwenv)))
                return rc;
        }
    }
    /* Scrapy's DOWNLOADER_MIDDLEWARES_BASE (http/mw_*.c), each switched by
     * its own setting */
    if ((rc = silk_downloader_add_base_middlewares(c->dl, &c->mwenv)))
        return rc;

    /* spider middlewares, pipelines, extensions from the spider's file */
    /* extensions: silk's defaults, then the spider's own */
    const silk_extension_def *exts[64];
    size_t next = silk__default_extensions(exts);
    for (const silk_extension_def *const *e = sp->def->extensions; e && *e && next < 63; e++)
        exts[next++] = *e;
    exts[next] = NULL;
    if ((rc = load_plugins(c, (const void *const *)sp->def->spider_middlewares, 0, &c->spmws, &c->nspmws, 1)) ||
        (rc = load_plugins(c, (const void *const *)sp->def->pipelines, 0, &c->pipes, &c->npipes, 0)) ||
        (rc = load_plugins(c, (const void *const *)exts, 0, &c->exts, &c->nexts, 2)))
        return rc;
    for (size_t i = 0; i < c->nspmws; i++, c->spmws_open++) {
        const silk_spider_mw_def *m = c->spmws[i].def;
        if (m->open && (rc = m->open(&c->spmws[i].state, c)))
            return rc;
    }
    for (size_t i = 0; i < c->nexts; i++, c->exts_open++) {
        const silk_extension_def *e = c->exts[i].def;
        if (e->open && (rc = e->open(&c->exts[i].state, c)))
            return rc;
    }
    for (size_t i = 0; i < c->npipes; i++, c->pipes_open++) {
        const silk_pipeline_def *p = c->pipes[i].def;
        if (p->open_spider && (rc = p->open_spider(&c->pipes[i].state, sp)))
            return rc;
    }

    /* events */
    if (!(c->pump_ev = event_new(c->proc->base, -1, 0, on_pump, c)) ||
        !(c->heartbeat_ev = event_new(c->proc->base, -1, EV_PERSIST, on_heartbeat, c)) ||
        !(c->logstats_ev = event_new(c->proc->base, -1, EV_PERSIST, on_logstats, c)) ||
        !(c->close_ev = evtimer_new(c->proc->base, on_close_timeout, c)))
        return SILK_ENOMEM;
    struct timeval hb = { 5, 0 };
    event_add(c->heartbeat_ev, &hb);
    if (c->logstats_interval > 0) {
        struct timeval ls = { (time_t)c->logstats_interval,
                              (suseconds_t)((c->logstats_interval - floor(c->logstats_interval)) * 1e6) };
        event_add(c->logstats_ev, &ls);
    }
    double timeout = silk_settings_double(c->settings, "CLOSESPIDER_TIMEOUT", 0);
    if (timeout > 0) {
        struct timeval to = { (time_t)timeout, (suseconds_t)((timeout - floor(timeout)) * 1e6) };
        evtimer_add(c->close_ev, &to);
    }

    silk_log(SILK_LOG_INFO, LOGGER, "Spider opened");
    silk_signal_args a = { 0 };
    emit(c, SILK_SIG_SPIDER_OPENED, &a);
    if (sp->def->open && (rc = sp->def->open(sp)))
        return rc;
    c->spider_open_done = true;

    /* start requests */
    silk_ctx ctx;
    silk__ctx_init(&ctx, c, sp, NULL, NULL);
    if (sp->def->start_requests) {
        silk_clear_error();
        if ((rc = sp->def->start_requests(&ctx)))
            spider_error(c, NULL, rc, "start_requests");
    } else {
        for (const char *const *u = sp->def->start_urls; u && *u; u++) {
            silk_request *req = NULL;
            if (silk_request_new(*u, &req)) {
                silk_log(SILK_LOG_ERROR, LOGGER, "spider '%s': bad start URL: %s", sp->name, silk_last_error());
                continue;
            }
            req->dont_filter = true;
            silk_ctx_yield_request(&ctx, req);
        }
    }
    process_outputs(c, &ctx);
    silk__ctx_release(&ctx);
    wake(c);
    return 0;
}

static void close_spider(silk_crawler *c, const char *reason)
{
    if (c->state != CS_RUNNING)
        return;
    c->state = CS_CLOSING;
    c->close_reason = silk_strdup(reason);
    silk_log(SILK_LOG_INFO, LOGGER, "Closing spider (%s)", reason);
    wake(c);
}

void silk_crawler_close_spider(silk_crawler *c, const char *reason) { close_spider(c, reason); }

int silk_spider_allow_domain(silk_spider *sp, const char *domain)
{
    silk_crawler *c = sp->crawler;
    if (!c || !domain || !*domain)
        return silk_error(SILK_EINVAL, "silk_spider_allow_domain: no crawler or empty domain");
    char **d = silk_realloc(c->allowed_domains, (c->nallowed + 1) * sizeof *d);
    if (!d)
        return SILK_ENOMEM;
    c->allowed_domains = d;
    if (!(d[c->nallowed] = silk_strdup(domain)))
        return SILK_ENOMEM;
    c->nallowed++;
    return 0;
}

static void finish_close(silk_crawler *c)
{
    if (c->state == CS_CLOSED)
        return;
    c->state = CS_CLOSED;
    const char *reason = c->close_reason ? c->close_reason : "finished";
    c->sched->ops->close(c->sched, reason);
    double now = wall_now();
    silk_stats_set_time(c->stats, "finish_time", now);
    silk_stats_set_str(c->stats, "finish_reason", reason);
    silk_stats_set_double(c->stats, "elapsed_time_seconds", now - c->start_wall);
    silk_signal_args a = { .reason = reason };
    emit(c, SILK_SIG_SPIDER_CLOSED, &a);
    if (c->spider->def->close && c->spider_open_done)
        c->spider->def->close(c->spider, reason);
    for (size_t i = 0; i < c->pipes_open; i++) {
        const silk_pipeline_def *p = c->pipes[i].def;
        if (p->close_spider)
            p->close_spider(c->pipes[i].state, c->spider);
    }
    for (size_t i = c->exts_open; i-- > 0;) {
        const silk_extension_def *e = c->exts[i].def;
        if (e->close)
            e->close(c->exts[i].state);
    }
    for (size_t i = c->spmws_open; i-- > 0;) {
        const silk_spider_mw_def *m = c->spmws[i].def;
        if (m->close)
            m->close(c->spmws[i].state);
    }
    if (c->heartbeat_ev)
        event_del(c->heartbeat_ev);
    if (c->logstats_ev)
        event_del(c->logstats_ev);
    if (c->close_ev)
        event_del(c->close_ev);
    if (silk_settings_bool(c->settings, "STATS_DUMP", true)) {
        silk_buf b = SILK_BUF_INIT;
        if (silk_stats_format(c->stats, &b) == 0)
            silk_log(SILK_LOG_INFO, "silk.statscollectors", "Dumping silk stats:\n%s", b.data);
        silk_buf_free(&b);
    }
    silk_log(SILK_LOG_INFO, LOGGER, "Spider closed (%s)", reason);
    silk_process *p = c->proc;
    if (--p->nopen == 0)
        event_base_loopexit(p->base, NULL);
}

/* ---------- public crawler API ---------- */

silk_settings *silk_crawler_settings(silk_crawler *c) { return c->settings; }
silk_stats *silk_crawler_stats(silk_crawler *c) { return c->stats; }
silk_spider *silk_crawler_spider(silk_crawler *c) { return c->spider; }
struct event_base *silk_crawler_base(silk_crawler *c) { return c->proc->base; }
silk_downloader *silk_crawler_downloader(silk_crawler *c) { return c->dl; }
silk_scheduler *silk_crawler_scheduler(silk_crawler *c) { return c->sched; }

void silk_crawler_pause(silk_crawler *c) { c->paused = true; }
void silk_crawler_unpause(silk_crawler *c)
{
    c->paused = false;
    wake(c);
}
bool silk_crawler_paused(const silk_crawler *c) { return c->paused; }
const char *silk_crawler_finish_reason(const silk_crawler *c)
{
    return c->state == CS_CLOSED ? (c->close_reason ? c->close_reason : "finished") : NULL;
}
int silk_crawler_error(const silk_crawler *c) { return c->error; }

int silk_crawler_set_scheduler(silk_crawler *c, silk_scheduler *s)
{
    if (c->state != CS_NEW) {
        s->ops->free(s);
        return silk_error(SILK_EBUSY, "the scheduler can only be replaced before the crawl starts");
    }
    if (c->sched)
        c->sched->ops->free(c->sched);
    c->sched = s;
    return 0;
}

void silk_crawler_status(const silk_crawler *c, silk_engine_status *st)
{
    memset(st, 0, sizeof *st);
    st->time_since_start = c->start_ns ? (double)(silk_now_ns() - c->start_ns) / 1e9 : 0;
    st->paused = c->paused;
    st->closing = c->state == CS_CLOSING;
    st->downloader_active = c->dl ? silk_downloader_active(c->dl) : 0;
    st->slots = c->dl ? silk_downloader_slots(c->dl, NULL, 0) : 0;
    st->scheduler_len = c->sched ? c->sched->ops->len(c->sched) : 0;
    st->scheduler_memory = st->scheduler_len;
    st->inprogress = c->inprogress;
    st->scraper_active = c->scraper_active;
    st->scraper_queue = silk__parsepool_pending(c->pool);
    st->scraper_active_size = c->scraper_active_size;
    st->needs_backout = c->dl && silk_downloader_needs_backout(c->dl);
}

static void crawler_free(silk_crawler *c)
{
    if (!c)
        return;
    silk__parsepool_free(c->pool);
    if (c->dl)
        silk_downloader_free(c->dl);
    if (c->sched)
        c->sched->ops->free(c->sched);
    if (c->pump_ev)
        event_free(c->pump_ev);
    if (c->heartbeat_ev)
        event_free(c->heartbeat_ev);
    if (c->logstats_ev)
        event_free(c->logstats_ev);
    if (c->close_ev)
        event_free(c->close_ev);
    for (int s = 0; s < SILK_SIG_COUNT; s++)
        silk_free(c->handlers[s]);
    silk_free(c->dlmws);
    silk_free(c->spmws);
    silk_free(c->pipes);
    silk_free(c->exts);
    for (size_t i = 0; c->allowed_domains && i < c->nallowed; i++)
        silk_free(c->allowed_domains[i]);
    silk_free(c->allowed_domains);
    silk_value_free(c->httperror_allowed);
    silk_value_free(c->offsite_seen);
    silk_free(c->close_reason);
    if (c->spider)
        c->spider->crawler = NULL;
    silk_unref(c->spider);
    silk_stats_free(c->stats);
    silk_settings_free(c->settings);
    silk_free(c);
}

/* ---------- the process ---------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    silk_process *p = arg;
    (void)what;
    p->signals_seen++;
    if (p->signals_seen == 1) {
        silk_log(SILK_LOG_INFO, "silk.crawler", "Received %s, shutting down gracefully. Send again to force ",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
        silk_process_stop(p);
    } else {
        silk_log(SILK_LOG_INFO, "silk.crawler", "Received %s twice, forcing unclean shutdown",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
        for (size_t i = 0; i < p->ncrawlers; i++) {
            silk_crawler *c = p->crawlers[i];
            if (c->state == CS_RUNNING)
                close_spider(c, "shutdown");
            if (c->state == CS_CLOSING) {
                /* drop what is in flight: the downloader forgets it */
                silk_downloader_free(c->dl);
                c->dl = NULL;
                c->inprogress = 0;
                finish_close(c);
            }
        }
    }
}

int silk_process_new(const silk_settings *settings, silk_process **out)
{
    *out = NULL;
    silk_process *p = silk_calloc(1, sizeof *p);
    if (!p)
        return SILK_ENOMEM;
    /* a peer that hangs up (a console client, a server cut short) must not
     * kill the crawl: writes fail with EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    p->settings = settings ? silk_settings_copy(settings) : silk_settings_new();
    /* parser threads wake the loop with event_active */
    static bool threads_ready;
    if (!threads_ready && evthread_use_pthreads() == 0) {
        threads_ready = true;
        /* libcurl's resolver threads and parser threads would each get a
         * malloc arena that keeps freed memory: two arenas hold a crawl's
         * peak RSS about 20% lower on the benchmark (docs/performance.md) */
        if (!getenv("MALLOC_ARENA_MAX"))
            mallopt(M_ARENA_MAX, 2);
    }
    p->base = event_base_new();
    if (!p->settings || !p->base) {
        silk_process_free(p);
        return SILK_ENOMEM;
    }
    *out = p;
    return 0;
}

void silk_process_free(silk_process *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ncrawlers; i++)
        crawler_free(p->crawlers[i]);
    silk_free(p->crawlers);
    if (p->sigint_ev)
        event_free(p->sigint_ev);
    if (p->sigterm_ev)
        event_free(p->sigterm_ev);
    if (p->base)
        event_base_free(p->base);
    if (log_process == p) {
        silk_log_set_sink(NULL, NULL);
        log_process = NULL;
    }
    if (p->logfile)
        fclose(p->logfile);
    silk_settings_free(p->settings);
    silk_free(p);
}

struct event_base *silk_process_base(silk_process *p) { return p->base; }
silk_settings *silk_process_settings(silk_process *p) { return p->settings; }

static void copy_override(const char *key, const silk_value *v, int prio, void *arg)
{
    silk_settings *s = arg;
    /* entries keep their own priority: a settings object made with
     * silk_settings_new() carries defaults that must not win */
    silk_settings_set_value(s, key, silk_value_copy(v), prio);
}

int silk_process_crawl(silk_process *p, const silk_spider_def *def, const silk_value *args,
                       const silk_settings *overrides, silk_crawler **out)
{
    int rc;
    if (out)
        *out = NULL;
    silk_crawler *c = silk_calloc(1, sizeof *c);
    if (!c)
        return SILK_ENOMEM;
    c->proc = p;
    if (!(c->settings = silk_settings_copy(p->settings)) || !(c->stats = silk_stats_new())) {
        rc = SILK_ENOMEM;
        goto err;
    }
    if ((rc = silk__spider_new(def, args, &c->spider)))
        goto err;
    c->spider->crawler = c;
    for (const char *const *kv = def->custom_settings; kv && *kv; kv++)
        if ((rc = silk_settings_set_pair(c->settings, *kv, SILK_PRIO_SPIDER)))
            goto err;
    if (overrides)
        silk_settings_foreach(overrides, copy_override, c->settings);
    silk_crawler **cs = silk_realloc(p->crawlers, (p->ncrawlers + 1) * sizeof *cs);
    if (!cs) {
        rc = SILK_ENOMEM;
        goto err;
    }
    p->crawlers = cs;
    p->crawlers[p->ncrawlers++] = c;
    if (out)
        *out = c;
    return 0;
err:
    crawler_free(c);
    return rc;
}

static int setup_logging(silk_process *p)
{
    /* the first crawler's settings decide (they are the command line's) */
    silk_settings *s = p->ncrawlers ? p->crawlers[0]->settings : p->settings;
    const char *level = silk_settings_str(s, "LOG_LEVEL", "DEBUG");
    silk_log_level lv;
    if (silk_log_level_parse(level, &lv))
        return silk_error(SILK_EINVAL, "setting LOG_LEVEL: %s", silk_last_error());
    if (!silk_settings_bool(s, "LOG_ENABLED", true))
        lv = SILK_LOG_CRITICAL + 10;
    silk_log_set_level(lv);
    const char *file = silk_settings_str(s, "LOG_FILE", NULL);
    if (file && *file) {
        p->logfile = fopen(file, "a");
        if (!p->logfile)
            return silk_error(SILK_EIO, "setting LOG_FILE: cannot open '%s' for appending", file);
    }
    log_process = p;
    silk_log_set_sink(process_sink, p);
    return 0;
}

int silk_process_run(silk_process *p)
{
    int rc = setup_logging(p);
    if (rc)
        return rc;
    p->sigint_ev = evsignal_new(p->base, SIGINT, on_signal, p);
    p->sigterm_ev = evsignal_new(p->base, SIGTERM, on_signal, p);
    if (p->sigint_ev)
        event_add(p->sigint_ev, NULL);
    if (p->sigterm_ev)
        event_add(p->sigterm_ev, NULL);
    silk_log(SILK_LOG_INFO, "silk.utils.log", "silk %s started (bot: %s)", silk_version(),
             silk_settings_str(p->settings, "BOT_NAME", "silkbot"));
    for (size_t i = 0; i < p->ncrawlers; i++) {
        silk_crawler *c = p->crawlers[i];
        if (c->state != CS_NEW)
            continue;
        p->nopen++;
        rc = open_crawler(c);
        if (rc) {
            c->error = rc;
            silk_log(SILK_LOG_ERROR, LOGGER, "spider '%s' cannot start: %s", c->spider->name,
                     *silk_last_error() ? silk_last_error() : silk_strerror(rc));
            if (!p->first_error)
                p->first_error = rc;
            c->close_reason = silk_strdup("error");
            if (c->state == CS_NEW) {
                c->state = CS_RUNNING;
            }
            c->state = CS_CLOSING;
            if (!c->sched && silk_memory_scheduler_new(NULL, NULL, &c->sched)) {
                c->state = CS_CLOSED;
                p->nopen--;
            } else {
                /* closes what did open, in reverse */
                finish_close(c);
            }
        }
    }
    if (p->nopen > 0)
        event_base_dispatch(p->base);
    if (p->sigint_ev)
        event_del(p->sigint_ev);
    if (p->sigterm_ev)
        event_del(p->sigterm_ev);
    return p->first_error;
}

void silk_process_stop(silk_process *p)
{
    for (size_t i = 0; i < p->ncrawlers; i++)
        close_spider(p->crawlers[i], "shutdown");
}
