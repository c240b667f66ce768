/* silk — the extensions every crawl gets (Scrapy's EXTENSIONS_BASE):
 * MemoryUsage here; feed exports, the telnet console and the leak check come
 * from their own modules and are picked up when they are linked in. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "silk/alloc.h"
#include "silk/engine.h"
#include "silk/error.h"
#include "silk/feeds.h"
#include "silk/telnet.h"
#include "silk/log.h"

#define LOGGER "silk.extensions.memusage"

/* Resident set size now, in bytes (0 when unknown). */
size_t silk_rss_bytes(void);
size_t silk_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* Peak resident set size, in bytes. */
size_t silk_peak_rss_bytes(void);
size_t silk_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

typedef struct memusage {
    silk_crawler *crawler;
    struct event *ev;
    int64_t limit_mb, warning_mb;
    bool warned;
} memusage;

static void memusage_check(evutil_socket_t fd, short what, void *arg)
{
    memusage *m = arg;
    (void)fd;
    (void)what;
    silk_stats *st = silk_crawler_stats(m->crawler);
    size_t rss = silk_rss_bytes();
    /* the peak as Scrapy reports it, and the current RSS, which is what
     * the limit watches: a crawl that freed memory is not stopped for a
     * peak it left behind */
    silk_stats_max(st, "memusage/max", (int64_t)silk_peak_rss_bytes());
    if (m->limit_mb > 0 && rss > (size_t)m->limit_mb * 1024 * 1024) {
        silk_stats_set_int(st, "memusage/limit_reached", 1);
        silk_log(SILK_LOG_ERROR, LOGGER, "Memory usage exceeded %lldMiB (current RSS %zuMiB). Shutting down silk...",
                 (long long)m->limit_mb, rss >> 20);
        silk_crawler_close_spider(m->crawler, "memusage_exceeded");
    } else if (m->warning_mb > 0 && !m->warned && rss > (size_t)m->warning_mb * 1024 * 1024) {
        m->warned = true;
        silk_stats_set_int(st, "memusage/warning_reached", 1);
        silk_log(SILK_LOG_WARNING, LOGGER, "Memory usage reached %lldMiB (current RSS %zuMiB)",
                 (long long)m->warning_mb, rss >> 20);
    }
}

static int memusage_open(void **state, silk_crawler *c)
{
    silk_settings *s = silk_crawler_settings(c);
    if (!silk_settings_bool(s, "MEMUSAGE_ENABLED", true))
        return 0;
    memusage *m = silk_calloc(1, sizeof *m);
    if (!m)
        return SILK_ENOMEM;
    m->crawler = c;
    m->limit_mb = silk_settings_int(s, "MEMUSAGE_LIMIT_MB", 0);
    m->warning_mb = silk_settings_int(s, "MEMUSAGE_WARNING_MB", 0);
    double interval = silk_settings_double(s, "MEMUSAGE_CHECK_INTERVAL_SECONDS", 60.0);
    if (interval <= 0)
        interval = 60.0;
    silk_stats_set_int(silk_crawler_stats(c), "memusage/startup", (int64_t)silk_rss_bytes());
    m->ev = event_new(silk_crawler_base(c), -1, EV_PERSIST, memusage_check, m);
    if (!m->ev) {
        silk_free(m);
        return SILK_ENOMEM;
    }
    struct timeval tv = { (time_t)interval, (suseconds_t)((interval - (double)(time_t)interval) * 1e6) };
    event_add(m->ev, &tv);
    *state = m;
    return 0;
}

static void memusage_close(void *state)
{
    memusage *m = state;
    if (!m)
        return;
    memusage_check(-1, 0, m);
    event_free(m->ev);
    silk_free(m);
}

const silk_extension_def silk_memusage_extension = { "MemoryUsage", 0, memusage_open, memusage_close };

/* Strong references: a program linking libsilk.a gets these modules too. */

/* Fills out (room for 8) with the default extensions; returns how many. */
size_t silk__default_extensions(const silk_extension_def **out);
size_t silk__default_extensions(const silk_extension_def **out)
{
    size_t n = 0;
    out[n++] = &silk_memusage_extension;
    out[n++] = &silk_feed_exporter;
    out[n++] = &silk_telnet_extension;
    out[n++] = &silk_leakcheck_extension;
    return n;
}
