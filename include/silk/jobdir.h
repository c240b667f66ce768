/* silk — the job directory (JOBDIR): a persistent scheduler in SQLite that
 * makes a crawl pausable, resumable and crash-safe.
 *
 * One database, DIR/silk.sqlite (WAL mode), holds the pending requests (an
 * index gives the next one: no scan), the seen fingerprints (the
 * dupefilter, 20-byte keys, with a bounded memory cache in front), the
 * requests in flight (leased rows, re-queued at the next start), the
 * spider's state dict and a meta table (format version). DIR/silk.lock is
 * flock()ed while a crawl uses DIR. Writes go into one open transaction that
 * a timer on the crawler's loop commits every JOBDIR_COMMIT_INTERVAL
 * seconds (or every JOBDIR_COMMIT_REQUESTS operations), so no request waits
 * for a disk flush. docs/jobs.md has the guarantees and the row format. */
#ifndef SILK_JOBDIR_H
#define SILK_JOBDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silk/buf.h"
#include "silk/engine.h"
#include "silk/http.h"
#include "silk/scheduler.h"
#include "silk/settings.h"
#include "silk/spider.h"
#include "silk/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* The job format this silk writes and the newest it reads. */
#define SILK_JOBDIR_FORMAT 1
/* PRAGMA application_id of a silk job database ("SILK"). */
#define SILK_JOBDIR_APPLICATION_ID 0x53494c4b

/* Opens (creating when missing) the job directory dir and returns a
 * scheduler on it in *out (the caller owns it: hand it to
 * silk_crawler_set_scheduler, or free it with s->ops->free).
 *
 * settings (may be NULL) is read for SCHEDULER_DISK_QUEUE ("lifo", the
 * default, or "fifo"; Scrapy's class names are accepted), DUPEFILTER_DEBUG
 * and the JOBDIR_* settings of docs/jobs.md. stats (may be NULL) receives
 * Scrapy's scheduler/ and dupefilter/ keys. spider (may be NULL) resolves
 * callbacks to names and back, and gets its state dict loaded now and saved
 * at close and periodically. base (may be NULL) runs the commit timer;
 * without it the queue commits every JOBDIR_COMMIT_REQUESTS operations and
 * at close.
 *
 * Returns 0, or a SILK_E* code whose message (silk_last_error) names the
 * directory and the problem: SILK_EIO (cannot create, not a directory, not
 * writable), SILK_EBUSY (another crawl holds the lock), SILK_EDB (a file
 * that is not a silk job database, a corrupted one, one written by a newer
 * silk, a full disk), SILK_EINVAL (a bad setting). Nothing in dir is
 * modified when the open is refused. */
int silk_jobdir_open(const char *dir, silk_settings *settings, silk_stats *stats, silk_spider *spider,
                     struct event_base *base, silk_scheduler **out);

/* When the crawler's JOBDIR setting is set, opens it (as silk_jobdir_open,
 * with the crawler's settings, stats, spider and loop) and installs it with
 * silk_crawler_set_scheduler; a database failure during the crawl then
 * closes the spider ("jobdir_error"). Call it after silk_process_crawl and
 * before silk_process_run. Returns 0 (also when JOBDIR is unset) or the
 * open's error. */
int silk_jobdir_install(silk_crawler *c);

/* true when s is a job-directory scheduler. */
bool silk_jobdir_is(const silk_scheduler *s);

/* Commits the open transaction now (what the timer does). Returns 0 or
 * SILK_EDB. */
int silk_jobdir_commit(silk_scheduler *s);

/* What a job-directory scheduler holds, for the console and the tests. */
typedef struct silk_jobdir_info {
    size_t queued;         /* requests waiting in the database */
    size_t leased;         /* requests given out and not done yet */
    size_t memory;         /* unserialisable requests waiting in memory */
    size_t head;           /* queued requests held in the head buffer */
    /* the dupefilter's memory, all of it fixed at open */
    size_t cache_entries;  /* recent-fingerprint cache slots in use */
    size_t cache_bytes;    /* its size (JOBDIR_DUPEFILTER_CACHE * 20) */
    uint64_t cache_hits;   /* duplicates answered by the cache */
    uint64_t cache_lookups;
    size_t bloom_bytes;    /* the Bloom filter (JOBDIR_BLOOM_MB) */
    uint64_t bloom_positives; /* lookups the Bloom filter could not answer */
    uint64_t db_lookups;   /* of which read the seen table */
    size_t pending_fingerprints; /* logged, not merged into the seen B-tree yet */
    size_t pending_bytes;  /* the pending set's size (JOBDIR_SEEN_BATCH) */
    uint64_t merges;       /* sorted merges of the pending set */
    double merge_seconds;  /* time they took, commits included */
    uint64_t rewinds;      /* checkpoints the loop thread finished to rewind the log */
    double rewind_seconds; /* time they took (the loop's only disk flushes) */
    uint64_t commits;      /* transactions committed */
    bool resumed;          /* the database held a crawl when opened */
    int error;             /* the sticky database error, or 0 */
} silk_jobdir_info;

/* Fills *info. Returns 0, or SILK_EINVAL when s is not a job scheduler. */
int silk_jobdir_get_info(const silk_scheduler *s, silk_jobdir_info *info);

/* ---- the request format (scheduler/serialize.c) ---- */

/* Appends req as the job format's JSON object to out (docs/jobs.md: Scrapy's
 * Request.to_dict keys, defaults omitted, the body excluded: it is stored
 * as a BLOB beside). spider (may be NULL) names callbacks given as
 * functions. Returns 0, SILK_EUNSERIALIZABLE (an object reference in meta,
 * cb_kwargs, cookies or flags, a callback or errback without a registered
 * name, a subtype of Request silk cannot rebuild, a string that is not
 * UTF-8) with silk_last_error() giving the reason, or SILK_ENOMEM. out is
 * left as it was on error. */
int silk_request_to_json(const silk_request *req, const silk_spider *spider, silk_buf *out);

/* Rebuilds a request from the job format's JSON text and its body (may be
 * NULL). With a spider, callback and errback names are resolved to its
 * functions (SILK_ENOTFOUND naming the callback when it has no such name
 * any more); without, only the names are set. Returns 0 and *out (the
 * caller owns the reference), SILK_EJSON / SILK_ETYPE (malformed) or
 * SILK_ENOMEM. */
int silk_request_from_json(const char *json, size_t len, const void *body, size_t body_len,
                           const silk_spider *spider, silk_request **out);

#ifdef __cplusplus
}
#endif
#endif
