/* silk — running crawls: the process (one libevent loop, any number of
 * crawlers), the crawler (one spider with its own settings, stats, slots,
 * cookie jar) and its engine. */
#ifndef SILK_ENGINE_H
#define SILK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/scheduler.h"
#include "silk/settings.h"
#include "silk/spider.h"
#include "silk/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
typedef struct silk_process silk_process;

/* A process (Scrapy's CrawlerProcess) with settings (copied; NULL =
 * defaults). Installs SIGINT/SIGTERM handlers on its loop when run: once =
 * graceful shutdown of every crawler ("shutdown"), twice = stop at once.
 * Returns 0 and *out, or SILK_ENOMEM. */
int silk_process_new(const silk_settings *settings, silk_process **out);
void silk_process_free(silk_process *p);
struct event_base *silk_process_base(silk_process *p);
silk_settings *silk_process_settings(silk_process *p);

/* Adds a crawl of def with spider arguments args (a dict of strings, may be
 * NULL; copied) and settings overrides (cmdline priority; may be NULL).
 * Settings are layered: process defaults < the spider's custom_settings <
 * overrides. Returns 0 and *out (owned by the process), or a SILK_E* code
 * naming the problem (a bad setting, a spider without a name, ...). */
int silk_process_crawl(silk_process *p, const silk_spider_def *def, const silk_value *args,
                       const silk_settings *overrides, silk_crawler **out);
/* Runs the loop until every crawler has closed. Returns 0, or the first
 * crawler error. */
int silk_process_run(silk_process *p);
/* Graceful stop of every crawler (as one SIGINT). */
void silk_process_stop(silk_process *p);

/* ---- engine control and status (for the console's engine/est()) ---- */

void silk_crawler_pause(silk_crawler *c);
void silk_crawler_unpause(silk_crawler *c);
bool silk_crawler_paused(const silk_crawler *c);
/* The finish_reason once closed, else NULL. */
const char *silk_crawler_finish_reason(const silk_crawler *c);
/* The first error that stopped the crawler (0 when none). */
int silk_crawler_error(const silk_crawler *c);

typedef struct silk_engine_status {
    double time_since_start;
    bool paused, closing;
    size_t downloader_active;     /* len(engine.downloader.active) */
    size_t slots;                 /* len(engine.downloader.slots) */
    size_t scheduler_len;         /* len(engine.slot.scheduler) */
    size_t scheduler_memory;      /* of which in memory */
    size_t scheduler_disk;        /* of which on disk */
    size_t inprogress;            /* len(engine.slot.inprogress) */
    size_t scraper_active;        /* len(engine.scraper.slot.active) */
    size_t scraper_queue;         /* len(engine.scraper.slot.queue) */
    size_t scraper_active_size;   /* engine.scraper.slot.active_size */
    size_t scraper_itemproc_size; /* engine.scraper.slot.itemproc_size */
    bool needs_backout;           /* engine.scraper.slot.needs_backout() */
} silk_engine_status;

void silk_crawler_status(const silk_crawler *c, silk_engine_status *st);
silk_downloader *silk_crawler_downloader(silk_crawler *c);
silk_scheduler *silk_crawler_scheduler(silk_crawler *c);

/* Replaces the scheduler before the crawl starts (the JOBDIR scheduler, a
 * shared frontier). The crawler takes it. */
int silk_crawler_set_scheduler(silk_crawler *c, silk_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
