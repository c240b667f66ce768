/* silk's downloader under load: REQUESTS fetches of BASE_URL/p/<i>.html
 * (i cycling over PAGES), CONCURRENCY in flight, fed the way the engine
 * feeds it (while needs_backout() is false). MODE "core" runs the bare
 * downloader, "stack" the whole DOWNLOADER_MIDDLEWARES_BASE (robots.txt,
 * user agent, retry, redirect, cookies, stats, ...).
 *
 *   dl_bench BASE_URL PAGES REQUESTS CONCURRENCY core|stack
 *
 * Prints the RSS and silk's live heap at ten points of the run, then
 * "silk-<mode> requests=... rps=... cpu_us_per_req=...". */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "silk/downloader.h"
#include "silk/middlewares.h"
#include "silk/silk.h"

typedef struct run {
    struct event_base *base;
    silk_downloader *d;
    const char *url_base;
    long pages, total, started, done, errors, next_mark;
    size_t bytes;
} run;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
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

static void feed(run *r);

static void on_done(void *arg, silk_request *req, const silk_fetch_result *res)
{
    run *r = arg;
    (void)req;
    r->done++;
    if (res->kind == SILK_FETCH_RESPONSE && res->response->status == 200)
        r->bytes += res->response->body_len;
    else
        r->errors++;
    if (r->done >= r->next_mark) {
        printf("  after %8ld requests: rss %6ld KiB, silk live heap %8zu B, %zu live objects\n", r->done, rss_kb(),
               silk_alloc_live_bytes(), silk_trackref_live_total());
        r->next_mark += r->total / 10;
    }
    feed(r);
    if (r->done >= r->total) /* this one is still active until its callback returns */
        event_base_loopbreak(r->base);
}

static void feed(run *r)
{
    char url[512];
    while (r->started < r->total && !silk_downloader_needs_backout(r->d)) {
        snprintf(url, sizeof url, "%s/p/%ld.html", r->url_base, r->started % r->pages);
        r->started++;
        silk_request *q = NULL;
        if (silk_request_new(url, &q) || silk_downloader_fetch(r->d, q, on_done, r)) {
            fprintf(stderr, "fetch: %s\n", silk_last_error());
            exit(1);
        }
        silk_unref(q);
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s BASE_URL PAGES REQUESTS CONCURRENCY core|stack\n", argv[0]);
        return 2;
    }
    run r = { 0 };
    r.url_base = argv[1];
    r.pages = atol(argv[2]);
    r.total = atol(argv[3]);
    long conc = atol(argv[4]);
    bool stack = strcmp(argv[5], "stack") == 0;
    r.next_mark = r.total / 10;
    silk_log_set_level(SILK_LOG_WARNING);
    r.base = event_base_new();
    silk_settings *st = silk_settings_new();
    silk_stats *stats = silk_stats_new();
    char c1[64], c2[64];
    snprintf(c1, sizeof c1, "CONCURRENT_REQUESTS=%ld", conc);
    snprintf(c2, sizeof c2, "CONCURRENT_REQUESTS_PER_DOMAIN=%ld", conc);
    silk_settings_set_pair(st, c1, SILK_PRIO_CMDLINE);
    silk_settings_set_pair(st, c2, SILK_PRIO_CMDLINE);
    if (silk_downloader_new(r.base, st, stats, &r.d)) {
        fprintf(stderr, "downloader: %s\n", silk_last_error());
        return 1;
    }
    silk_mw_env env = { st, stats, r.base, r.d, "bench", NULL };
    if (stack && silk_downloader_add_base_middlewares(r.d, &env)) {
        fprintf(stderr, "middlewares: %s\n", silk_last_error());
        return 1;
    }
    uint64_t a0 = silk_alloc_total_count();
    double t0 = now();
    feed(&r);
    event_base_dispatch(r.base);
    double secs = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("silk-%s requests=%ld errors=%ld bytes=%zu seconds=%.3f rps=%.0f cpu_us_per_req=%.1f maxrss_kb=%ld "
           "silk_allocs_per_req=%.1f\n",
           argv[5], r.done, r.errors, r.bytes, secs, r.done / secs, cpu * 1e6 / r.done, ru.ru_maxrss,
           (double)(silk_alloc_total_count() - a0) / r.done);
    if (stack)
        printf("  stats: downloader/request_count=%lld downloader/response_count=%lld\n",
               (long long)silk_stats_get_int(stats, "downloader/request_count", 0),
               (long long)silk_stats_get_int(stats, "downloader/response_count", 0));
    silk_downloader_free(r.d);
    silk_settings_free(st);
    silk_stats_free(stats);
    event_base_free(r.base);
    return r.errors != 0;
}
