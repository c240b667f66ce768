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
#include "silk/item.h"
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

/* ---- what the engine still holds: objects reachable from requests that
 * wait in a scheduler queue (a spider closed with "shutdown" keeps its
 * queue until the process frees it; those objects go with it) ---- */

typedef struct ptrset {
    const void **slots;
    size_t cap, len;
    int err;
} ptrset;

static size_t ptr_hash(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static bool set_has(const ptrset *s, const void *p)
{
    if (!s->cap)
        return false;
    for (size_t i = ptr_hash(p) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i])
            return false;
        if (s->slots[i] == p)
            return true;
    }
}

/* true when p was not there yet */
static bool set_add(ptrset *s, const void *p)
{
    if (s->err)
        return false;
    if ((s->len + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        const void **slots = silk_calloc(cap, sizeof *slots);
        if (!slots) {
            s->err = SILK_ENOMEM;
            return false;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                for (size_t j = ptr_hash(s->slots[i]) & (cap - 1);; j = (j + 1) & (cap - 1))
                    if (!slots[j]) {
                        slots[j] = s->slots[i];
                        break;
                    }
        silk_free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t i = ptr_hash(p) & (s->cap - 1);
    for (; s->slots[i]; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == p)
            return false;
    s->slots[i] = p;
    s->len++;
    return true;
}

typedef struct walk {
    ptrset seen;
    silk_buf stack; /* of const silk_object * */
} walk;

static void push(walk *w, const void *o)
{
    if (o && silk_object_alive(o) && !set_has(&w->seen, o))
        silk_buf_append(&w->stack, &o, sizeof o);
}

static void push_value(walk *w, const silk_value *v, int depth)
{
    if (!v || depth > 1000)
        return;
    switch (v->kind) {
    case SILK_V_OBJECT: push(w, v->u.obj); break;
    case SILK_V_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            push_value(w, v->u.list.items[i], depth + 1);
        break;
    case SILK_V_DICT:
        for (size_t i = 0; i < v->u.dict.len; i++)
            push_value(w, v->u.dict.entries[i].value, depth + 1);
        break;
    default: break;
    }
}

static bool queued(const silk_request *r)
{
    /* linked into a queue: not zeroed (never queued), not poisoned
     * (unlinked), not self-linked (an emptied head) */
    const silk_list *n = r->qlink.next;
    return n && n != &r->qlink && (uintptr_t)n > 0x1000;
}

static void walk_queued(silk_type *t, void *arg)
{
    walk *w = arg;
    if (!silk_type_is_a(t, &silk_type_request))
        return;
    for (silk_list *l = t->live.next; l != &t->live; l = l->next) {
        const silk_request *r = (const silk_request *)silk_container_of(l, silk_object, live);
        if (queued(r))
            push(w, r);
    }
}

/* Marks in w->seen every object the scheduler queues keep alive. */
static void mark_engine_held(walk *w)
{
    silk_type_foreach(walk_queued, w);
    while (w->stack.len >= sizeof(void *) && !w->seen.err && !w->stack.err) {
        const silk_object *o;
        w->stack.len -= sizeof o;
        memcpy(&o, w->stack.data + w->stack.len, sizeof o);
        if (!set_add(&w->seen, o))
            continue;
        if (silk_type_is_a(o->type, &silk_type_request)) {
            const silk_request *r = (const silk_request *)o;
            push_value(w, r->meta, 0);
            push_value(w, r->cb_kwargs, 0);
        } else if (silk_type_is_a(o->type, &silk_type_response)) {
            const silk_response *r = (const silk_response *)o;
            push(w, r->request);
            push(w, r->doc); /* the parsed document, a Selector */
        } else if (o->type == &silk_type_item) {
            push_value(w, ((const silk_item *)o)->fields, 0);
        }
    }
}

typedef struct scan {
    const silk_spider *sp;
    uint64_t since_ns, now_ns;
    silk_buf *out;
    const ptrset *held;
    size_t total, held_total;
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
        if (set_has(s->held, o)) {
            s->held_total++;
            continue;
        }
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

static size_t leak_scan(silk_crawler *crawler, uint64_t since_ns, silk_buf *out, size_t *held)
{
    walk w = { { NULL, 0, 0, 0 }, SILK_BUF_INIT };
    mark_engine_held(&w);
    if (w.seen.err || w.stack.err) {
        /* out of memory: report without the exclusion rather than not at all */
        silk_free(w.seen.slots);
        w.seen = (ptrset){ NULL, 0, 0, 0 };
    }
    silk_buf_free(&w.stack);
    scan s = { crawler ? silk_crawler_spider(crawler) : NULL, since_ns, silk_now_ns(), out, &w.seen, 0, 0 };
    silk_type_foreach(scan_type, &s);
    silk_free(w.seen.slots);
    if (held)
        *held = s.held_total;
    return s.total;
}

size_t silk_leakcheck_format(silk_crawler *crawler, uint64_t since_ns, silk_buf *out)
{
    return leak_scan(crawler, since_ns, out, NULL);
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
    size_t held = 0;
    size_t n = leak_scan(lc->crawler, lc->since_ns, &b, &held);
    if (held)
        silk_log(SILK_LOG_DEBUG, LOGGER, "%zu objects are held by the scheduler's queue and go with it", held);
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
