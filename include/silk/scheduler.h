/* silk — the scheduler: where requests wait between the spider and the
 * downloader. An interface, so the memory queue, the SQLite job queue and a
 * shared frontier (Redis, later) plug into the same engine. */
#ifndef SILK_SCHEDULER_H
#define SILK_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silk/http.h"
#include "silk/settings.h"
#include "silk/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* enqueue's answer for a request the dupefilter already saw */
#define SILK_FILTERED 1

typedef struct silk_scheduler silk_scheduler;

typedef struct silk_scheduler_ops {
    const char *name;
    /* Queues req (takes a reference). Returns 0, SILK_FILTERED (duplicate:
     * not queued, counted in dupefilter/filtered) or a SILK_E* code. */
    int (*enqueue)(silk_scheduler *s, silk_request *req);
    /* The next request (an owned reference), or NULL when empty. */
    silk_request *(*next)(silk_scheduler *s);
    /* Requests waiting. */
    size_t (*len)(const silk_scheduler *s);
    /* Called once for every request next() gave out, when the engine is
     * done with it: its response went through the callback (whose yields
     * were enqueued first), or it failed, or a middleware replaced it. A
     * persistent scheduler deletes its lease here; may be NULL. */
    void (*done)(silk_scheduler *s, silk_request *req);
    /* Called at spider close (reason: "finished", "shutdown", ...); a
     * persistent scheduler keeps what is left. */
    void (*close)(silk_scheduler *s, const char *reason);
    void (*free)(silk_scheduler *s);
} silk_scheduler_ops;

struct silk_scheduler {
    const silk_scheduler_ops *ops;
    silk_stats *stats; /* borrowed; may be NULL */
};

/* ---- the dupefilter: 20-byte fingerprints in a compact hash set ---- */

typedef struct silk_dupefilter silk_dupefilter;

/* A new set; debug logs every filtered request (DUPEFILTER_DEBUG), else only
 * the first. NULL on ENOMEM. */
silk_dupefilter *silk_dupefilter_new(bool debug);
void silk_dupefilter_free(silk_dupefilter *df);
/* Adds fp; returns 1 when it was already there, 0 when added, or
 * SILK_ENOMEM. */
int silk_dupefilter_add(silk_dupefilter *df, const uint8_t fp[20]);
bool silk_dupefilter_contains(const silk_dupefilter *df, const uint8_t fp[20]);
size_t silk_dupefilter_len(const silk_dupefilter *df);
/* Bytes the set holds (for est() and the memory benchmark). */
size_t silk_dupefilter_bytes(const silk_dupefilter *df);
/* request_seen(): fingerprints req and adds it; returns 1 (seen: logged as
 * "Filtered duplicate request: <GET url>"), 0 or a SILK_E* code. */
int silk_dupefilter_request_seen(silk_dupefilter *df, const silk_request *req);

/* ---- the in-memory scheduler ---- */

/* Higher priority first; within a priority LIFO ("lifo", Scrapy's default
 * for the memory queue) or FIFO ("fifo"), from SCHEDULER_MEMORY_QUEUE.
 * Reads DUPEFILTER_DEBUG. Stats: scheduler/enqueued, scheduler/enqueued/memory,
 * scheduler/dequeued, scheduler/dequeued/memory, dupefilter/filtered.
 * Returns 0 and *out, or SILK_EINVAL naming a bad setting, or SILK_ENOMEM. */
int silk_memory_scheduler_new(silk_settings *settings, silk_stats *stats, silk_scheduler **out);

#ifdef __cplusplus
}
#endif
#endif
