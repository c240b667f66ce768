/* The scheduler queues under load: N requests with a small meta made and
 * enqueued, then all dequeued (next + done, as the engine does), through
 * the SQLite job queue or the memory queue. One mode per process, so that
 * the peak RSS is the mode's own.
 *
 *   queue_bench sqlite|memory N [DIR]
 *       -> one line of JSON: enqueue/s, dequeue/s, pairs/s, RSS before,
 *          with N queued, peak, per queued request, and (memory) where
 *          the bytes go
 *   queue_bench popscale DIR SIZE...
 *       -> the cost of one next+done+enqueue at each queue size: an index
 *          pop costs the same with 100 rows or 10 million
 *   queue_bench dups N DIR
 *       -> N requests, then the same N again (all duplicates): how fast the
 *          persistent dupefilter answers and what its cache holds
 *
 * DIR is the job directory (default /tmp/silk-queue-bench); it is removed
 * first. Build against a Release libsilk (bench/run_queue.sh does). */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "silk/jobdir.h"
#include "silk/silk.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* CPU seconds of this thread (user + system): the loop thread's share,
 * which holds on a shared machine (the checkpointer thread is left out) */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "queue_bench: %s: %s (%s)\n", what, silk_strerror(rc), silk_last_error());
    exit(1);
}

static size_t make_url(char *buf, size_t n, long i)
{
    /* ~45 bytes, the length of a typical product URL */
    return (size_t)snprintf(buf, n, "http://shop.example.com/p/%ld.html?cat=%ld", i, i % 97);
}

/* a request as a crawl makes it: a URL, a small meta (depth + one key) */
static silk_request *make_request(long i)
{
    char url[96];
    make_url(url, sizeof url, i);
    silk_request *r = NULL;
    int rc = silk_request_new(url, &r);
    if (rc)
        die("silk_request_new", rc);
    silk_value *meta = silk_request_meta(r);
    if (!meta || silk_dict_set_int(meta, "depth", i % 7) || silk_dict_set_str(meta, "source", "listing"))
        die("meta", SILK_ENOMEM);
    return r;
}

static silk_scheduler *open_sched(const char *mode, const char *dir, silk_stats *st)
{
    silk_scheduler *s = NULL;
    int rc;
    if (strcmp(mode, "memory") == 0)
        rc = silk_memory_scheduler_new(NULL, st, &s);
    else {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            die("rm", SILK_EIO);
        /* QUEUE_BENCH_SETTINGS="JOBDIR_SEEN_BATCH=262144 JOBDIR_BLOOM_MB=16" */
        silk_settings *set = silk_settings_new();
        const char *env = getenv("QUEUE_BENCH_SETTINGS");
        char *copy = env ? strdup(env) : NULL, *save = NULL;
        for (char *kv = copy ? strtok_r(copy, " ", &save) : NULL; kv; kv = strtok_r(NULL, " ", &save))
            if (silk_settings_set_pair(set, kv, SILK_PRIO_CMDLINE))
                die("QUEUE_BENCH_SETTINGS", SILK_EINVAL);
        free(copy);
        rc = silk_jobdir_open(dir, set, st, NULL, NULL, &s);
        silk_settings_free(set);
    }
    if (rc)
        die("open", rc);
    return s;
}

static int run_pairs(const char *mode, long n, const char *dir)
{
    silk_stats *st = silk_stats_new();
    long rss0 = rss_kb();
    size_t heap0 = silk_alloc_live_bytes(), blocks0 = silk_alloc_live_count();
    silk_scheduler *s = open_sched(mode, dir, st);
    long rss_open = rss_kb();
    size_t url_bytes = 0;
    double make = 0, enq = 0;
    double t0 = now(), c0 = cpu_s();
    for (long i = 0; i < n; i++) {
        double a = now();
        silk_request *r = make_request(i);
        double b = now();
        url_bytes += strlen(r->url);
        int rc = s->ops->enqueue(s, r);
        if (rc)
            die("enqueue", rc);
        silk_unref(r);
        make += b - a;
        enq += now() - b;
    }
    if (silk_jobdir_is(s)) {
        double a = now();
        silk_jobdir_commit(s);
        enq += now() - a;
    }
    double t1 = now(), c1 = cpu_s();
    long rss_full = rss_kb();
    size_t heap_full = silk_alloc_live_bytes() - heap0;
    size_t blocks_full = silk_alloc_live_count() - blocks0;
    size_t queued = s->ops->len(s);
    long got = 0;
    for (silk_request *r; (r = s->ops->next(s)); got++) {
        if (s->ops->done)
            s->ops->done(s, r);
        silk_unref(r);
    }
    double t2 = now(), c2 = cpu_s();
    silk_jobdir_info info = { 0 };
    if (silk_jobdir_is(s))
        silk_jobdir_get_info(s, &info);
    s->ops->close(s, "finished");
    s->ops->free(s);
    if (got != n || queued != (size_t)n) {
        fprintf(stderr, "queue_bench: queued %zu, dequeued %ld of %ld\n", queued, got, n);
        return 1;
    }
    double deq = t2 - t1;
    (void)t0;
    double per_req = (double)(rss_full - rss_open) * 1024.0 / (double)n;
    double url_avg = (double)url_bytes / (double)n;
    printf("{\"queue\": \"silk-%s\", \"n\": %ld, \"enqueue_per_s\": %.0f, \"dequeue_per_s\": %.0f, "
           "\"pairs_per_s\": %.0f, \"pairs_per_s_with_making\": %.0f, \"make_us\": %.2f, \"rss_start_kb\": %ld, \"rss_open_kb\": %ld, \"rss_queued_kb\": %ld, "
           "\"peak_rss_kb\": %ld, \"rss_per_queued_b\": %.1f, \"url_avg_b\": %.1f, "
           "\"heap_per_queued_b\": %.1f, \"blocks_per_queued\": %.2f, \"merges\": %llu, \"merge_s\": %.2f, "
           "\"commits\": %llu, \"rewinds\": %llu, \"rewind_s\": %.2f, \"cpu_enqueue_us\": %.2f, \"cpu_dequeue_us\": %.2f, \"wall_s\": %.1f}\n",
           mode, n, (double)n / enq, (double)n / deq, (double)n / (enq + deq), (double)n / (make + enq + deq),
           make / (double)n * 1e6, rss0, rss_open, rss_full,
           peak_kb(), per_req, url_avg, (double)heap_full / (double)n, (double)blocks_full / (double)n,
           (unsigned long long)info.merges, info.merge_seconds, (unsigned long long)info.commits,
           (unsigned long long)info.rewinds, info.rewind_seconds,
           (c1 - c0) / (double)n * 1e6, (c2 - c1) / (double)n * 1e6, t2 - t0);
    silk_stats_free(st);
    return 0;
}

/* Where a queued request's bytes go in the memory queue, measured with the
 * allocator's counters on one request (malloc's own overhead comes on top;
 * the RSS figure includes it). */
static void memory_breakdown(void)
{
    size_t h0 = silk_alloc_live_bytes(), b0 = silk_alloc_live_count();
    silk_request *r = make_request(123456);
    size_t h1 = silk_alloc_live_bytes(), b1 = silk_alloc_live_count();
    size_t meta_bytes = 0;
    /* the meta dict alone */
    size_t m0 = silk_alloc_live_bytes();
    silk_value *m = silk_value_copy(r->meta);
    meta_bytes = silk_alloc_live_bytes() - m0;
    silk_value_free(m);
    printf("{\"breakdown\": \"silk-memory\", \"request_struct_b\": %zu, \"request_total_heap_b\": %zu, "
           "\"blocks\": %zu, \"url_b\": %zu, \"meta_b\": %zu, \"alloc_header_b_per_block\": %s, "
           "\"dupefilter_b_per_entry\": \"20 / load factor (0.375..0.75) = 27..53\"}\n",
           sizeof(silk_request), h1 - h0, b1 - b0, strlen(r->url) + 1, meta_bytes,
           "\"silk's counting header + malloc's 16-byte chunk header, rounded to 16\"");
    silk_unref(r);
}

static int run_popscale(const char *dir, int argc, char **argv)
{
    for (int a = 0; a < argc; a++) {
        long size = atol(argv[a]);
        silk_stats *st = silk_stats_new();
        silk_scheduler *s = open_sched("sqlite", dir, st);
        double t0 = now();
        for (long i = 0; i < size; i++) {
            silk_request *r = make_request(i);
            int rc = s->ops->enqueue(s, r);
            if (rc)
                die("enqueue", rc);
            silk_unref(r);
        }
        silk_jobdir_commit(s);
        double fill = now() - t0;
        /* steady state: one next+done and one enqueue per step, so the
         * queue keeps its size; pops land anywhere in the index */
        long steps = 200000;
        double pop = 0, push = 0, fin = 0;
        for (long i = 0; i < steps; i++) {
            double a = now();
            silk_request *r = s->ops->next(s);
            if (!r)
                die("next: empty", SILK_EINVAL);
            double a2 = now();
            s->ops->done(s, r);
            silk_unref(r);
            double b = now();
            fin += b - a2;
            r = make_request(size + i);
            r->priority = (int)(i % 3) - 1;
            double c = now();
            int rc = s->ops->enqueue(s, r);
            if (rc)
                die("enqueue", rc);
            silk_unref(r);
            pop += b - a;
            push += now() - c;
        }
        silk_jobdir_info info;
        silk_jobdir_get_info(s, &info);
        printf("{\"popscale\": %ld, \"fill_s\": %.1f, \"next_done_us\": %.2f, \"done_us\": %.2f, "
               "\"enqueue_us\": %.2f, \"rss_kb\": %ld, \"rewinds\": %llu, \"rewind_s\": %.2f}\n",
               size, fill, pop / (double)steps * 1e6, fin / (double)steps * 1e6, push / (double)steps * 1e6, rss_kb(),
               (unsigned long long)info.rewinds, info.rewind_seconds);
        fflush(stdout);
        s->ops->close(s, "shutdown");
        s->ops->free(s);
        silk_stats_free(st);
    }
    return 0;
}

static int run_dups(long n, const char *dir)
{
    silk_stats *st = silk_stats_new();
    silk_scheduler *s = open_sched("sqlite", dir, st);
    for (long i = 0; i < n; i++) {
        silk_request *r = make_request(i);
        if (s->ops->enqueue(s, r))
            die("enqueue", SILK_EINVAL);
        silk_unref(r);
    }
    silk_jobdir_commit(s);
    long rss1 = rss_kb();
    /* the same again, most recent first (as links to recent pages are) */
    double t0 = now();
    long filtered = 0;
    for (long i = n - 1; i >= 0; i--) {
        silk_request *r = make_request(i);
        filtered += s->ops->enqueue(s, r) == SILK_FILTERED;
        silk_unref(r);
    }
    double t1 = now();
    silk_jobdir_info info;
    silk_jobdir_get_info(s, &info);
    printf("{\"dups\": %ld, \"filtered\": %ld, \"filter_per_s\": %.0f, \"cache_hits\": %llu, \"cache_lookups\": "
           "%llu, \"cache_entries\": %zu, \"cache_bytes\": %zu, \"rss_kb\": %ld, \"rss_after_kb\": %ld}\n",
           n, filtered, (double)n / (t1 - t0), (unsigned long long)info.cache_hits,
           (unsigned long long)info.cache_lookups, info.cache_entries, info.cache_bytes, rss1, rss_kb());
    s->ops->close(s, "finished");
    s->ops->free(s);
    silk_stats_free(st);
    return 0;
}

int main(int argc, char **argv)
{
    silk_log_set_level(SILK_LOG_WARNING);
    if (argc >= 3 && (strcmp(argv[1], "sqlite") == 0 || strcmp(argv[1], "memory") == 0)) {
        long n = atol(argv[2]);
        int rc = run_pairs(argv[1], n, argc > 3 ? argv[3] : "/tmp/silk-queue-bench");
        if (strcmp(argv[1], "memory") == 0)
            memory_breakdown();
        return rc;
    }
    if (argc >= 4 && strcmp(argv[1], "popscale") == 0)
        return run_popscale(argv[2], argc - 3, argv + 3);
    if (argc >= 4 && strcmp(argv[1], "dups") == 0)
        return run_dups(atol(argv[2]), argv[3]);
    fprintf(stderr, "usage: queue_bench sqlite|memory N [DIR] | popscale DIR SIZE... | dups N DIR\n");
    return 2;
}
