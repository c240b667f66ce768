/* silk — the in-memory scheduler: a priority queue of intrusive lists (no
 * allocation per request) in front of the dupefilter. */
#include <string.h>
#include <strings.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/scheduler.h"

typedef struct bucket {
    int priority;
    silk_list q;
    size_t n;
} bucket;

typedef struct memsched {
    silk_scheduler base;
    bucket **buckets; /* sorted by priority, ascending: the last is served first */
    size_t nbuckets, cap;
    size_t len;
    bool fifo;
    silk_dupefilter *df;
} memsched;

static bucket *bucket_for(memsched *m, int priority)
{
    size_t lo = 0, hi = m->nbuckets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->buckets[mid]->priority < priority)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->nbuckets && m->buckets[lo]->priority == priority)
        return m->buckets[lo];
    if (m->nbuckets == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        bucket **b = silk_realloc(m->buckets, cap * sizeof *b);
        if (!b)
            return NULL;
        m->buckets = b;
        m->cap = cap;
    }
    bucket *b = silk_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->priority = priority;
    silk_list_init(&b->q);
    memmove(m->buckets + lo + 1, m->buckets + lo, (m->nbuckets - lo) * sizeof *m->buckets);
    m->buckets[lo] = b;
    m->nbuckets++;
    return b;
}

static int mem_enqueue(silk_scheduler *s, silk_request *req)
{
    memsched *m = (memsched *)s;
    if (!req->dont_filter) {
        int seen = silk_dupefilter_request_seen(m->df, req);
        if (seen < 0)
            return seen;
        if (seen) {
            if (s->stats)
                silk_stats_inc(s->stats, "dupefilter/filtered", 1);
            return SILK_FILTERED;
        }
    }
    bucket *b = bucket_for(m, req->priority);
    if (!b)
        return SILK_ENOMEM;
    silk_ref(req);
    silk_list_add_tail(&b->q, &req->qlink);
    b->n++;
    m->len++;
    if (s->stats) {
        silk_stats_inc(s->stats, "scheduler/enqueued/memory", 1);
        silk_stats_inc(s->stats, "scheduler/enqueued", 1);
    }
    return 0;
}

static silk_request *mem_next(silk_scheduler *s)
{
    memsched *m = (memsched *)s;
    if (!m->nbuckets)
        return NULL;
    bucket *b = m->buckets[m->nbuckets - 1];
    silk_list *n = m->fifo ? b->q.next : b->q.prev;
    silk_list_del(n);
    b->n--;
    m->len--;
    if (b->n == 0) {
        silk_free(b);
        m->nbuckets--;
    }
    if (s->stats) {
        silk_stats_inc(s->stats, "scheduler/dequeued/memory", 1);
        silk_stats_inc(s->stats, "scheduler/dequeued", 1);
    }
    return silk_container_of(n, silk_request, qlink); /* the queue's reference */
}

static size_t mem_len(const silk_scheduler *s) { return ((const memsched *)s)->len; }

static void mem_close(silk_scheduler *s, const char *reason)
{
    (void)s;
    (void)reason;
}

static void mem_free(silk_scheduler *s)
{
    memsched *m = (memsched *)s;
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        bucket *b = m->buckets[i];
        while (!silk_list_empty(&b->q)) {
            silk_list *n = b->q.next;
            silk_list_del(n);
            silk_unref(silk_container_of(n, silk_request, qlink));
        }
        silk_free(b);
    }
    silk_free(m->buckets);
    silk_dupefilter_free(m->df);
    silk_free(m);
}

static const silk_scheduler_ops mem_ops = { "memory", mem_enqueue, mem_next, mem_len, NULL, mem_close, mem_free };

int silk_memory_scheduler_new(silk_settings *settings, silk_stats *stats, silk_scheduler **out)
{
    *out = NULL;
    const char *q = "lifo";
    bool debug = false;
    int rc;
    if (settings) {
        if ((rc = silk_settings_get_str(settings, "SCHEDULER_MEMORY_QUEUE", &q)) && rc != SILK_ENOTFOUND)
            return rc;
        if ((rc = silk_settings_get_bool(settings, "DUPEFILTER_DEBUG", &debug)) && rc != SILK_ENOTFOUND)
            return rc;
    }
    /* Scrapy names the class; silk accepts those names too */
    bool fifo;
    if (!strcasecmp(q, "lifo") || strstr(q, "LifoMemoryQueue"))
        fifo = false;
    else if (!strcasecmp(q, "fifo") || strstr(q, "FifoMemoryQueue"))
        fifo = true;
    else
        return silk_error(SILK_EINVAL, "setting SCHEDULER_MEMORY_QUEUE: expected 'lifo' or 'fifo', got '%s'", q);
    memsched *m = silk_calloc(1, sizeof *m);
    if (!m)
        return SILK_ENOMEM;
    m->base.ops = &mem_ops;
    m->base.stats = stats;
    m->fifo = fifo;
    if (!(m->df = silk_dupefilter_new(debug))) {
        silk_free(m);
        return SILK_ENOMEM;
    }
    *out = &m->base;
    return 0;
}
