/* silk — leak tooling that needs no console (the LeakCheck extension):
 *  - TRACKREF_REPORT_INTERVAL > 0 logs the live references report that
 *    often;
 *  - at close, the stats carry trackref/<Type>/live and
 *    trackref/<Type>/oldest_age for every type with live objects;
 *  - at close, objects the closing spider made that are still alive are
 *    reported as a WARNING with their types and oldest reprs (URLs).
 *
 * Which objects "belong" to a spider: those created while it was open, less
 * the requests (and their responses) whose callback is not one of its own,
 * so that several spiders in one process blame only themselves. Spider
 * objects are left out: a spider is alive until its process frees it. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "silk/alloc.h"
#include "silk/engine.h"
#include "silk/error.h"
#include "silk/http.h"
#include "silk/log.h"
#include "silk/telnet.h"

#define LOGGER "silk.extensions.leakcheck"

static bool request_is_ours(const silk_request *r, const silk_spider *sp)
{
    if (!sp)
        return true;
    if (r->callback && !silk_spider_callback_name(sp, r->callback))
        return false;
    if (r->errback && !silk_spider_errback_name(sp, r->errback))
        return false;
    return true;
}

static bool belongs(const silk_object *o, const silk_spider *sp, uint64_t since_ns)
{
    if (o->created_ns < since_ns)
        return false;
    if (silk_type_is_a(o->type, &silk_type_request))
        return request_is_ours((const silk_request *)o, sp);
    if (silk_type_is_a(o->type, &silk_type_response)) {
        const silk_response *r = (const silk_response *)o;
        return !r->request || !silk_object_alive(r->request) || request_is_ours(r->request, sp);
    }
    return true;
}

typedef struct scan {
    const silk_spider *sp;
    uint64_t since_ns, now_ns;
    silk_buf *out;
    size_t total;
} scan;

static void scan_type(silk_type *t, void *arg)
{
    scan *s = arg;
    if (!t->live_count || silk_type_is_a(t, &silk_type_spider))
        return;
    size_t n = 0;
    const silk_object *oldest = NULL;
    for (silk_list *l = t->live.next; l != &t->live; l = l->next) {
        const silk_object *o = silk_container_of(l, silk_object, live);
        if (!belongs(o, s->sp, s->since_ns))
            continue;
        if (!oldest)
            oldest = o;
        n++;
    }
    if (!n)
        return;
    s->total += n;
    char repr[256];
    int len = silk_object_describe(oldest, repr, sizeof repr);
    if (len >= (int)sizeof repr)
        memcpy(repr + sizeof repr - 4, "...", 4);
    long long age = (long long)((double)(s->now_ns - oldest->created_ns) / 1e9);
    silk_buf_printf(s->out, "%-30s %6zu   oldest: %llds ago   %s\n", t->name, n, age, len >= 0 ? repr : "");
}

size_t silk_leakcheck_format(silk_crawler *crawler, uint64_t since_ns, silk_buf *out)
{
    scan s = { crawler ? silk_crawler_spider(crawler) : NULL, since_ns, silk_now_ns(), out, 0 };
    silk_type_foreach(scan_type, &s);
    return s.total;
}

/* ------------------------------------------------------------ extension */

typedef struct leakcheck {
    silk_crawler *crawler;
    uint64_t since_ns;
    struct event *report_ev;
} leakcheck;

static void on_report(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    char *s = silk_trackref_format(NULL, 0);
    if (s) {
        /* the report ends with a newline; the log line adds its own */
        size_t n = strlen(s);
        if (n && s[n - 1] == '\n')
            s[n - 1] = 0;
        silk_log(SILK_LOG_INFO, LOGGER, "%s", s);
        silk_free(s);
    }
}

static int leak_open(void **state, silk_crawler *c)
{
    leakcheck *lc = silk_calloc(1, sizeof *lc);
    if (!lc)
        return SILK_ENOMEM;
    lc->crawler = c;
    lc->since_ns = silk_now_ns();
    double interval = silk_settings_double(silk_crawler_settings(c), "TRACKREF_REPORT_INTERVAL", 0);
    if (interval > 0) {
        lc->report_ev = event_new(silk_crawler_base(c), -1, EV_PERSIST, on_report, lc);
        if (!lc->report_ev) {
            silk_free(lc);
            return SILK_ENOMEM;
        }
        struct timeval tv = { (time_t)interval, (suseconds_t)((interval - floor(interval)) * 1e6) };
        event_add(lc->report_ev, &tv);
    }
    *state = lc;
    return 0;
}

typedef struct stat_arg {
    silk_stats *st;
    uint64_t now_ns;
} stat_arg;

static void type_stats(silk_type *t, void *arg)
{
    stat_arg *a = arg;
    if (!t->live_count || silk_type_is_a(t, &silk_type_spider))
        return;
    const silk_object *oldest = silk_container_of(t->live.next, silk_object, live);
    char key[256];
    snprintf(key, sizeof key, "trackref/%s/live", t->name);
    silk_stats_set_int(a->st, key, (int64_t)t->live_count);
    snprintf(key, sizeof key, "trackref/%s/oldest_age", t->name);
    /* milliseconds are plenty for an age */
    silk_stats_set_double(a->st, key, round((double)(a->now_ns - oldest->created_ns) / 1e6) / 1e3);
}

static void leak_close(void *state)
{
    leakcheck *lc = state;
    if (!lc)
        return;
    if (lc->report_ev)
        event_free(lc->report_ev);
    stat_arg a = { silk_crawler_stats(lc->crawler), silk_now_ns() };
    silk_type_foreach(type_stats, &a);
    silk_buf b = SILK_BUF_INIT;
    size_t n = silk_leakcheck_format(lc->crawler, lc->since_ns, &b);
    if (n) {
        silk_spider *sp = silk_crawler_spider(lc->crawler);
        silk_stats_set_int(a.st, "trackref/leaked_at_close", (int64_t)n);
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "%zu object%s created by spider '%s' %s still alive as it closes (a leak? see "
                 "docs/leaks.md):\n%.*s",
                 n, n == 1 ? "" : "s", sp && sp->name ? sp->name : "?", n == 1 ? "is" : "are",
                 b.len ? (int)b.len - 1 : 0, b.data ? b.data : "");
    }
    silk_buf_free(&b);
    silk_free(lc);
}

/* Opens first and closes last (extensions close in reverse order), after
 * the console has let go of what its sessions held. */
const silk_extension_def silk_leakcheck_extension = { "LeakCheck", -100, leak_open, leak_close };
