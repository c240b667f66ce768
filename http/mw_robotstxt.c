/* silk — RobotsTxtMiddleware (order 100, ROBOTSTXT_OBEY).
 *
 * The first request to a netloc fetches scheme://netloc/robots.txt through
 * the downloader (the whole middleware chain, meta dont_obey_robotstxt), and
 * every request to that netloc waits (PENDING) until it is there; then each
 * is allowed or dropped with IgnoreRequest "Forbidden by robots.txt", with
 * protego's semantics (http/robots.c). Scrapy's behaviour, except where
 * robots.txt cannot be had:
 *
 *  - 2xx/3xx: parsed. 4xx: no rules (allow all), as RFC 9309 says.
 *  - 5xx, 429 or a timeout: the netloc is HELD BACK, not allowed: its
 *    requests keep waiting and robots.txt is asked again after
 *    ROBOTSTXT_RETRY_DELAY seconds, up to ROBOTSTXT_RETRY_TIMES more times;
 *    after that the netloc counts as "complete disallow" (RFC 9309 2.3.1.4)
 *    and its requests are dropped ("robots.txt unreachable"). Each step is
 *    logged. Scrapy would allow everything.
 *  - other failures (DNS, refused, TLS, ...): allow all, as Scrapy; the
 *    requests then fail on their own.
 *
 * A Crawl-delay for the user agent (capped at ROBOTSTXT_MAX_CRAWL_DELAY) is
 * applied to the slot of the requests it allows, when it is longer than the
 * slot's delay (Scrapy ignores Crawl-delay). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/robots.h"
#include "silk/silk.h"
#include "silk/url.h"

#define LOGGER "silk.downloadermiddlewares.robotstxt"

typedef enum rstate { R_FETCHING, R_READY, R_HELD, R_UNREACHABLE } rstate;

typedef struct robots_state robots_state;

typedef struct entry {
    struct entry *hnext;
    robots_state *st;
    char *netloc;
    char *url;          /* scheme://netloc/robots.txt */
    rstate state;
    silk_robots *rp;    /* NULL when READY = no rules */
    silk_fetch **wait;
    size_t nwait, capwait;
    int attempts;
    struct event *retry_ev;
    char *reason;       /* why it is held / unreachable */
    /* the group of the last user agent asked about, and its Crawl-delay */
    char *ua;
    int agent;
    double delay;
} entry;

struct robots_state {
    silk_downloader_mw *mw;
    entry **buckets;
    size_t nbuckets, n;
    char *default_ua;
    char *robots_ua;    /* ROBOTSTXT_USER_AGENT, or NULL */
    int64_t retry_times;
    double retry_delay;
    double max_crawl_delay;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static entry *find(robots_state *st, const char *netloc)
{
    if (!st->nbuckets)
        return NULL;
    for (entry *e = st->buckets[hash_str(netloc) & (st->nbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->netloc, netloc) == 0)
            return e;
    return NULL;
}

static int grow(robots_state *st)
{
    size_t n = st->nbuckets ? st->nbuckets * 2 : 64;
    entry **b = silk_calloc(n, sizeof *b);
    if (!b)
        return SILK_ENOMEM;
    for (size_t i = 0; i < st->nbuckets; i++) {
        for (entry *e = st->buckets[i], *next; e; e = next) {
            next = e->hnext;
            size_t h = hash_str(e->netloc) & (n - 1);
            e->hnext = b[h];
            b[h] = e;
        }
    }
    silk_free(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
    return 0;
}

static void entry_free(entry *e)
{
    silk_robots_free(e->rp);
    silk_free(e->wait);
    if (e->retry_ev)
        event_free(e->retry_ev);
    silk_free(e->netloc);
    silk_free(e->url);
    silk_free(e->reason);
    silk_free(e->ua);
    silk_free(e);
}

static const char *user_agent(const robots_state *st, const silk_request *req)
{
    if (st->robots_ua)
        return st->robots_ua;
    const char *ua = silk_headers_get(&req->headers, "User-Agent");
    return ua ? ua : st->default_ua;
}

static silk_failure *ignore(silk_request *req, const char *msg)
{
    return silk_failure_new(SILK_EINVAL, "scrapy.exceptions.IgnoreRequest", msg, req, NULL);
}

/* Allowed or not, for a netloc whose robots.txt is known. */
static silk_mw_result decide(robots_state *st, entry *e, silk_request *req, silk_mw_out *out)
{
    const silk_mw_env *env = st->mw->env;
    char repr[2200];
    if (e->state == R_UNREACHABLE) {
        silk__request_repr(req, repr, sizeof repr);
        silk_log(SILK_LOG_DEBUG, LOGGER, "Forbidden by robots.txt (unreachable): %s", repr);
        silk__stat_inc(env, "robotstxt/forbidden", 1);
        out->failure = ignore(req, "robots.txt unreachable");
        return SILK_MW_DROP;
    }
    if (!e->rp)
        return SILK_MW_CONTINUE;
    const char *ua = user_agent(st, req);
    if (!e->ua || strcmp(e->ua, ua) != 0) {
        /* the group and the delay of an agent are looked up once */
        silk_free(e->ua);
        e->ua = silk_strdup(ua);
        e->agent = silk_robots_agent(e->rp, ua);
        if (silk_robots_crawl_delay(e->rp, ua, &e->delay) || !(e->delay > 0) || !isfinite(e->delay))
            e->delay = 0;
        if (e->delay > st->max_crawl_delay)
            e->delay = st->max_crawl_delay;
        if (!e->ua || e->agent == SILK_ENOMEM) {
            silk_free(e->ua);
            e->ua = NULL;
            e->agent = silk_robots_agent(e->rp, ua);
        }
    }
    if (!silk_robots_agent_allowed(e->rp, e->agent, req->url)) {
        silk__request_repr(req, repr, sizeof repr);
        silk_log(SILK_LOG_DEBUG, LOGGER, "Forbidden by robots.txt: %s", repr);
        silk__stat_inc(env, "robotstxt/forbidden", 1);
        out->failure = ignore(req, "Forbidden by robots.txt");
        return SILK_MW_DROP;
    }
    if (e->delay > 0 && env->downloader) {
        char *key = NULL;
        if (silk_downloader_slot_key_of(env->downloader, req, &key) == 0 &&
            silk_downloader_slot_delay(env->downloader, key) < e->delay) {
            silk_log(SILK_LOG_DEBUG, LOGGER, "Crawl-delay %g s from %s applied to slot %s", e->delay, e->url, key);
            silk_downloader_set_slot_delay(env->downloader, key, e->delay);
        }
        silk_free(key);
    }
    return SILK_MW_CONTINUE;
}

/* robots.txt is known (or given up on): every waiting request goes on. */
static void release(entry *e)
{
    silk_fetch **w = e->wait;
    size_t n = e->nwait;
    e->wait = NULL;
    e->nwait = e->capwait = 0;
    for (size_t i = 0; i < n; i++) {
        silk_mw_out out = { 0 };
        silk_mw_result r = decide(e->st, e, silk_fetch_request(w[i]), &out);
        silk_mw_resume(w[i], r, &out);
    }
    silk_free(w);
}

static void start_fetch(entry *e);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_fetch(arg);
}

/* 5xx, 429, timeout: wait and ask again, or give up on the netloc. */
static void hold(entry *e, const char *reason)
{
    robots_state *st = e->st;
    silk_free(e->reason);
    e->reason = silk_strdup(reason);
    if (e->attempts > st->retry_times) {
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "%s unreachable after %d attempts (%s): its requests are dropped (RFC 9309: complete "
                 "disallow)",
                 e->url, e->attempts, reason);
        silk__stat_inc(st->mw->env, "robotstxt/unreachable", 1);
        e->state = R_UNREACHABLE;
        release(e);
        return;
    }
    e->state = R_HELD;
    silk_log(SILK_LOG_WARNING, LOGGER,
             "%s answered %s: holding back %zu request(s) to %s, asking again in %g s (retry %d of %lld)",
             e->url, reason, e->nwait, e->netloc, st->retry_delay, e->attempts, (long long)st->retry_times);
    silk__stat_inc(st->mw->env, "robotstxt/held", 1);
    if (!e->retry_ev)
        e->retry_ev = evtimer_new(st->mw->env->base, on_retry, e);
    struct timeval tv = { (time_t)st->retry_delay,
                          (suseconds_t)((st->retry_delay - floor(st->retry_delay)) * 1e6) };
    if (!e->retry_ev || evtimer_add(e->retry_ev, &tv) != 0) {
        /* no timer: give up at once rather than wait for ever */
        e->attempts = (int)st->retry_times + 1;
        hold(e, reason);
    }
}

static void ready(entry *e, silk_robots *rp)
{
    silk_robots_free(e->rp);
    e->rp = rp;
    silk_free(e->ua);
    e->ua = NULL;
    e->state = R_READY;
    release(e);
}

static void robots_done(void *arg, silk_request *req, const silk_fetch_result *res)
{
    entry *e = arg;
    robots_state *st = e->st;
    const silk_mw_env *env = st->mw->env;
    char msg[256];
    if (res->kind == SILK_FETCH_REQUEST && res->request) {
        /* a redirect or a retry of robots.txt: followed, as engine.download */
        if (silk_downloader_fetch(env->downloader, res->request, robots_done, e) == 0)
            return;
        ready(e, NULL);
        return;
    }
    if (res->kind == SILK_FETCH_RESPONSE) {
        const silk_response *r = res->response;
        silk__stat_inc(env, "robotstxt/response_count", 1);
        silk__stat_incf(env, 1, "robotstxt/response_status_count/%d", r->status);
        if (r->status >= 500 || r->status == 429) {
            silk__status_message(r->status, msg, sizeof msg);
            hold(e, msg);
        } else if (r->status >= 400) {
            ready(e, NULL);
        } else {
            silk_robots *rp = NULL;
            if (silk_robots_parse(r->body, r->body_len, &rp))
                rp = NULL; /* out of memory: no rules rather than no crawl */
            ready(e, rp);
        }
        return;
    }
    const silk_failure *f = res->failure;
    if (f && strcmp(f->type, "scrapy.exceptions.IgnoreRequest") != 0) {
        char repr[2200];
        silk__request_repr(req, repr, sizeof repr);
        silk_log(SILK_LOG_ERROR, LOGGER, "Error downloading %s: %s", repr, f->message);
        silk__stat_incf(env, 1, "robotstxt/exception_count/%s", f->type);
    }
    if (f && silk_failure_is(f, "TimeoutError")) {
        hold(e, "a timeout");
        return;
    }
    ready(e, NULL);
}

static void start_fetch(entry *e)
{
    robots_state *st = e->st;
    const silk_mw_env *env = st->mw->env;
    silk_request *req = NULL;
    e->state = R_FETCHING;
    e->attempts++;
    if (!env->downloader || silk_request_new(e->url, &req)) {
        ready(e, NULL);
        return;
    }
    silk_value *meta = silk_request_meta(req);
    req->priority = 1000;
    int rc = meta ? silk_dict_set_bool(meta, "dont_obey_robotstxt", true) : SILK_ENOMEM;
    if (!rc)
        rc = silk_downloader_fetch(env->downloader, req, robots_done, e);
    silk_unref(req);
    if (rc) {
        ready(e, NULL);
        return;
    }
    silk__stat_inc(env, "robotstxt/request_count", 1);
}

static entry *entry_new(robots_state *st, const char *netloc, const char *url)
{
    if (st->n + 1 > st->nbuckets && grow(st))
        return NULL;
    entry *e = silk_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->st = st;
    char *scheme = NULL;
    silk_url_scheme(url, &scheme);
    e->netloc = silk_strdup(netloc);
    e->url = silk_asprintf("%s://%s/robots.txt", scheme ? scheme : "http", netloc);
    silk_free(scheme);
    if (!e->netloc || !e->url) {
        entry_free(e);
        return NULL;
    }
    size_t h = hash_str(netloc) & (st->nbuckets - 1);
    e->hnext = st->buckets[h];
    st->buckets[h] = e;
    st->n++;
    return e;
}

static silk_mw_result robots_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                     silk_mw_out *out)
{
    robots_state *st = mw->state;
    if (silk__meta_true(req->meta, "dont_obey_robotstxt") || strncmp(req->url, "data:", 5) == 0 ||
        strncmp(req->url, "file:", 5) == 0)
        return SILK_MW_CONTINUE;
    char small[256];
    char *netloc = silk__url_netloc_buf(req->url, small, sizeof small);
    if (!netloc)
        return SILK_MW_CONTINUE;
    entry *e = find(st, netloc);
    bool fresh = false;
    if (!e) {
        e = entry_new(st, netloc, req->url);
        fresh = e != NULL;
    }
    if (netloc != small)
        silk_free(netloc);
    if (!e)
        return SILK_MW_CONTINUE; /* out of memory: let it through */
    if (fresh)
        start_fetch(e); /* answers later, or now when it cannot start */
    if (e->state == R_READY || e->state == R_UNREACHABLE)
        return decide(st, e, req, out);
    if (e->nwait == e->capwait) {
        size_t cap = e->capwait ? e->capwait * 2 : 8;
        silk_fetch **w = silk_realloc(e->wait, cap * sizeof *w);
        if (!w)
            return SILK_MW_CONTINUE;
        e->wait = w;
        e->capwait = cap;
    }
    e->wait[e->nwait++] = fetch;
    return SILK_MW_PENDING;
}

static void robots_close(silk_downloader_mw *mw)
{
    robots_state *st = mw->state;
    if (st) {
        for (size_t i = 0; i < st->nbuckets; i++) {
            for (entry *e = st->buckets[i], *next; e; e = next) {
                next = e->hnext;
                entry_free(e);
            }
        }
        silk_free(st->buckets);
        silk_free(st->default_ua);
        silk_free(st->robots_ua);
        silk_free(st);
    }
    mw->state = NULL;
}

static int robots_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk__set_bool(env, "ROBOTSTXT_OBEY", true))
        return SILK_ENOTFOUND;
    if (!env || !env->downloader || !env->base)
        return silk_error(SILK_EINVAL, "RobotsTxtMiddleware needs the downloader and the event base in its env");
    robots_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    mw->state = st;
    st->mw = mw;
    const char *ua = silk__set_str(env, "USER_AGENT", NULL);
    st->default_ua = ua ? silk_strdup(ua) : silk_asprintf("silk/%s", silk_version());
    const char *rua = silk__set_str(env, "ROBOTSTXT_USER_AGENT", NULL);
    if (rua && *rua && !(st->robots_ua = silk_strdup(rua)))
        return SILK_ENOMEM;
    if (!st->default_ua)
        return SILK_ENOMEM;
    st->retry_times = silk__set_int(env, "ROBOTSTXT_RETRY_TIMES", 2);
    st->retry_delay = silk__set_double(env, "ROBOTSTXT_RETRY_DELAY", 30);
    st->max_crawl_delay = silk__set_double(env, "ROBOTSTXT_MAX_CRAWL_DELAY", 60);
    if (st->retry_times < 0 || !(st->retry_delay >= 0) || !(st->max_crawl_delay >= 0))
        return silk_error(SILK_EINVAL, "settings ROBOTSTXT_RETRY_TIMES, ROBOTSTXT_RETRY_DELAY and "
                                       "ROBOTSTXT_MAX_CRAWL_DELAY must be >= 0");
    return 0;
}

static const silk_downloader_mw robots_mw = {
    .name = "RobotsTxtMiddleware",
    .order = 100,
    .open = robots_open,
    .close = robots_close,
    .process_request = robots_request,
};

const silk_downloader_mw *silk_mw_robotstxt(void) { return &robots_mw; }
