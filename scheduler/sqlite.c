/* silk — the job-directory scheduler: the queue, the dupefilter, the leases
 * of requests in flight and the spider's state in one SQLite database.
 *
 * Every change goes into one open transaction, in the order the engine asks
 * for it; a timer commits it (or a count of operations does). A commit is
 * therefore a prefix of the engine's history: the children a callback
 * yielded are committed together with, or before, the deletion of their
 * parent's lease. Whatever the moment of a crash, the committed state loses
 * no request: a parent whose done() was not committed is still leased, is
 * re-queued at the next start, and yields its children again. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/jobdir.h"
#include "silk/log.h"
#include "silk/silk.h"

#define LOGGER "silk.core.scheduler"
#define DB_NAME "silk.sqlite"
#define LOCK_NAME "silk.lock"
#define FP 20

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_INSERT,
    ST_POP,
    ST_LEASE,
    ST_QUARANTINE,
    ST_DONE,
    ST_SEEN,
    ST_START_SEEN,
    ST_STATE,
    ST_META,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_INSERT] = "INSERT INTO requests(id, priority, ord, state, request, body) VALUES(?1, ?2, ?3, 0, ?4, ?5)",
    [ST_POP] = "SELECT id, request, body FROM requests WHERE state = 0 ORDER BY priority DESC, ord DESC LIMIT 1",
    [ST_LEASE] = "UPDATE requests SET state = 1 WHERE id = ?1",
    [ST_QUARANTINE] = "UPDATE requests SET state = 2 WHERE id = ?1",
    [ST_DONE] = "DELETE FROM requests WHERE id = ?1",
    [ST_SEEN] = "INSERT OR IGNORE INTO seen(fp) VALUES(?1)",
    [ST_START_SEEN] = "INSERT OR IGNORE INTO start_seen(fp) VALUES(?1)",
    [ST_STATE] = "INSERT OR REPLACE INTO spider_state(id, state, saved) VALUES(1, ?1, ?2)",
    [ST_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
};

/* The schema of format 1 (docs/jobs.md). The index serves next(): its first
 * entry is the next request, so popping costs the same at any queue size.
 * It is partial, so leased rows drop out of it without moving. */
static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE requests("
    " id INTEGER PRIMARY KEY,"
    " priority INTEGER NOT NULL,"
    " ord INTEGER NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " request TEXT NOT NULL,"
    " body BLOB);"
    "CREATE INDEX requests_next ON requests(priority DESC, ord DESC) WHERE state = 0;"
    "CREATE TABLE seen(fp BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE start_seen(fp BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE spider_state(id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, saved REAL);"
    "CREATE VIEW pending AS SELECT * FROM requests WHERE state = 0 ORDER BY priority DESC, ord DESC;"
    "CREATE VIEW leases AS SELECT * FROM requests WHERE state = 1;";

typedef struct lease {
    silk_request *req; /* a reference, so the pointer cannot be reused */
    int64_t id;
} lease;

typedef struct jobsched {
    silk_scheduler base;
    char *dir, *dbpath;
    int lockfd;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool in_txn;
    int64_t ops, commit_requests;
    uint64_t commits;
    int64_t last_id;
    bool fifo, debug, dup_logged, unser_warned, state_warned;
    size_t queued, nleased;
    silk_scheduler *mem; /* requests that cannot be stored */
    /* dupefilter cache: direct-mapped, cache_mask + 1 slots of 20 bytes */
    uint8_t *cache;
    size_t cache_mask, cache_used;
    uint64_t hits, lookups;
    /* leases of requests given out, by pointer (open addressing) */
    lease *leases;
    size_t lcap, lcount;
    silk_spider *spider;   /* borrowed */
    silk_crawler *crawler; /* borrowed; may be NULL */
    struct event *timer;
    double state_interval;
    uint64_t state_saved_ns;
    char *state_saved;
    bool resumed, start_over, resume_log_pending, closed;
    size_t requeued, quarantined;
    int failed;
    silk_buf buf;
} jobsched;

static const silk_scheduler_ops job_ops;

/* ---------- errors ---------- */

static void fail_log(jobsched *j);

/* A database error during the crawl: roll back to the last commit (a
 * consistent prefix), refuse further writes, and stop the spider. */
static int db_fail(jobsched *j, const char *what)
{
    int code = sqlite3_extended_errcode(j->db);
    const char *msg = sqlite3_errmsg(j->db);
    const char *hint = "";
    switch (code & 0xff) {
    case SQLITE_FULL:
        hint = " (the disk, or JOBDIR_MAX_SIZE_MB, is full: what was committed is kept; free some space and "
               "run again to resume)";
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: hint = " (the job database is corrupted; silk leaves it as it is)"; break;
    case SQLITE_IOERR: hint = " (an I/O error on the job database)"; break;
    case SQLITE_READONLY: hint = " (the job database became read-only)"; break;
    default: break;
    }
    int rc = silk_error(SILK_EDB, "JOBDIR '%s': %s: %s%s", j->dir, what, msg, hint);
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    j->in_txn = false;
    j->ops = 0;
    if (!j->failed) {
        j->failed = rc;
        fail_log(j);
    }
    return rc;
}

static void fail_log(jobsched *j)
{
    silk_log(SILK_LOG_ERROR, LOGGER, "%s", silk_last_error());
    if (j->crawler)
        silk_crawler_close_spider(j->crawler, "jobdir_error");
}

static int failed_error(jobsched *j)
{
    return silk_error(j->failed, "JOBDIR '%s': the job database failed earlier; nothing more is written", j->dir);
}

/* ---------- transactions ---------- */

static int begin(jobsched *j)
{
    if (j->in_txn)
        return 0;
    sqlite3_stmt *st = j->st[ST_BEGIN];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(j, "cannot begin a transaction");
    j->in_txn = true;
    return 0;
}

static int save_state(jobsched *j, bool force);

static int commit(jobsched *j)
{
    if (j->failed)
        return j->failed;
    if (j->spider && j->state_interval >= 0 &&
        (double)(silk_now_ns() - j->state_saved_ns) / 1e9 >= j->state_interval) {
        int rc = save_state(j, false);
        if (rc)
            return rc;
    }
    if (!j->in_txn)
        return 0;
    sqlite3_stmt *st = j->st[ST_COMMIT];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(j, "cannot commit");
    j->in_txn = false;
    j->ops = 0;
    j->commits++;
    return 0;
}

static int wrote(jobsched *j)
{
    if (++j->ops >= j->commit_requests)
        return commit(j);
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    commit(arg);
}

/* ---------- spider state ---------- */

static int save_state(jobsched *j, bool force)
{
    if (!j->spider || !j->spider->state || j->failed)
        return 0;
    char *json = NULL;
    int rc = silk_json_dumps(j->spider->state, 0, &json);
    j->state_saved_ns = silk_now_ns();
    if (rc == SILK_ENOMEM)
        return rc;
    if (rc) {
        if (!j->state_warned) {
            j->state_warned = true;
            silk_log(SILK_LOG_WARNING, LOGGER, "JOBDIR '%s': the spider's state cannot be saved: %s", j->dir,
                     silk_last_error());
        }
        return 0;
    }
    if (!force && j->state_saved && strcmp(json, j->state_saved) == 0) {
        silk_free(json);
        return 0;
    }
    if ((rc = begin(j))) {
        silk_free(json);
        return rc;
    }
    sqlite3_stmt *st = j->st[ST_STATE];
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_double(st, 2, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (s != SQLITE_DONE) {
        silk_free(json);
        return db_fail(j, "cannot save the spider state");
    }
    silk_free(j->state_saved);
    j->state_saved = json;
    j->ops++;
    return 0;
}

static int load_state(jobsched *j)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(j->db, "SELECT state FROM spider_state WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
        return silk_error(SILK_EDB, "JOBDIR '%s': cannot read the spider state: %s", j->dir, sqlite3_errmsg(j->db));
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        silk_value *v = NULL;
        if (text && silk_json_decode(text, (size_t)n, &v) == 0 && v->kind == SILK_V_DICT) {
            if (j->spider) {
                silk_value_free(j->spider->state);
                j->spider->state = v;
                v = NULL;
                j->state_saved = silk_strndup(text, (size_t)n);
            }
        } else {
            silk_log(SILK_LOG_WARNING, LOGGER, "JOBDIR '%s': the saved spider state is not a JSON object; "
                     "the spider starts with an empty state", j->dir);
        }
        silk_value_free(v);
    } else if (s != SQLITE_DONE) {
        rc = silk_error(SILK_EDB, "JOBDIR '%s': cannot read the spider state: %s", j->dir, sqlite3_errmsg(j->db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---------- leases ---------- */

static size_t lease_slot(const void *p, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & mask;
}

static int lease_grow(jobsched *j)
{
    size_t cap = j->lcap ? j->lcap * 2 : 64;
    lease *t = silk_calloc(cap, sizeof *t);
    if (!t)
        return SILK_ENOMEM;
    for (size_t i = 0; i < j->lcap; i++) {
        if (!j->leases[i].req)
            continue;
        size_t k = lease_slot(j->leases[i].req, cap - 1);
        while (t[k].req)
            k = (k + 1) & (cap - 1);
        t[k] = j->leases[i];
    }
    silk_free(j->leases);
    j->leases = t;
    j->lcap = cap;
    return 0;
}

static int lease_add(jobsched *j, silk_request *req, int64_t id)
{
    if ((j->lcount + 1) * 2 > j->lcap && lease_grow(j))
        return SILK_ENOMEM;
    size_t k = lease_slot(req, j->lcap - 1);
    while (j->leases[k].req)
        k = (k + 1) & (j->lcap - 1);
    j->leases[k].req = silk_ref(req);
    j->leases[k].id = id;
    j->lcount++;
    return 0;
}

/* Removes req's lease (backward-shift deletion); false when it has none. */
static bool lease_take(jobsched *j, const silk_request *req, lease *out)
{
    if (!j->lcap)
        return false;
    size_t mask = j->lcap - 1, k = lease_slot(req, mask);
    while (j->leases[k].req != req) {
        if (!j->leases[k].req)
            return false;
        k = (k + 1) & mask;
    }
    *out = j->leases[k];
    j->leases[k].req = NULL;
    j->lcount--;
    for (size_t hole = k, i = (k + 1) & mask; j->leases[i].req; i = (i + 1) & mask) {
        size_t home = lease_slot(j->leases[i].req, mask);
        /* move i into the hole unless its home lies cyclically in (hole, i] */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            j->leases[hole] = j->leases[i];
            j->leases[i].req = NULL;
            hole = i;
        }
    }
    return true;
}

/* ---------- the dupefilter ---------- */

static bool fp_zero(const uint8_t fp[FP])
{
    for (int i = 0; i < FP; i++)
        if (fp[i])
            return false;
    return true;
}

/* 1 when fp was seen before (in this run or an earlier one), 0 when it is
 * new (now recorded), or an error. The cache only ever answers "seen": a
 * miss asks the database, whose INSERT OR IGNORE looks up and records in
 * one B-tree descent. */
static int seen_check(jobsched *j, const uint8_t fp[FP])
{
    j->lookups++;
    uint8_t *slot = NULL;
    if (j->cache && !fp_zero(fp)) {
        uint64_t h;
        memcpy(&h, fp + 8, sizeof h); /* SHA-1 bytes are uniform */
        slot = j->cache + (size_t)(h & j->cache_mask) * FP;
        if (memcmp(slot, fp, FP) == 0) {
            j->hits++;
            return 1;
        }
    }
    int rc = begin(j);
    if (rc)
        return rc;
    sqlite3_stmt *st = j->st[ST_SEEN];
    sqlite3_bind_blob(st, 1, fp, FP, SQLITE_STATIC);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return db_fail(j, "cannot record a fingerprint");
    bool added = sqlite3_changes(j->db) > 0;
    if (slot) {
        if (fp_zero(slot))
            j->cache_used++;
        memcpy(slot, fp, FP);
    }
    if (!added)
        return 1;
    rc = wrote(j);
    return rc ? rc : 0;
}

/* ---------- the scheduler ---------- */

static void resume_log(jobsched *j)
{
    if (!j->resume_log_pending)
        return;
    j->resume_log_pending = false;
    if (j->requeued)
        silk_log(SILK_LOG_INFO, LOGGER, "JOBDIR '%s': %zu requests that were in flight when the last run stopped "
                 "are queued again", j->dir, j->requeued);
    if (j->quarantined)
        silk_log(SILK_LOG_WARNING, LOGGER, "JOBDIR '%s': %zu requests could not be loaded in an earlier run "
                 "and stay in the database (state 2)", j->dir, j->quarantined);
    if (j->queued)
        silk_log(SILK_LOG_INFO, LOGGER, "Resuming crawl (%zu requests scheduled)", j->queued);
}

static int memory_push(jobsched *j, silk_request *req, const char *why)
{
    if (!j->unser_warned) {
        j->unser_warned = true;
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "Unable to serialize request: <%s %s> - reason: %s - no more unserializable requests will be "
                 "logged (stats being collected)",
                 req->method, req->url, why);
    }
    if (j->base.stats)
        silk_stats_inc(j->base.stats, "scheduler/unserializable", 1);
    /* the dupefilter already ran here: the memory queue must not run its own */
    bool df = req->dont_filter;
    req->dont_filter = true;
    int rc = j->mem->ops->enqueue(j->mem, req);
    req->dont_filter = df;
    return rc;
}

static int js_enqueue(silk_scheduler *s, silk_request *req)
{
    jobsched *j = (jobsched *)s;
    uint8_t fp[FP];
    bool have_fp = false;
    int rc;
    resume_log(j);
    if (j->failed)
        return failed_error(j);
    if (!j->start_over && req->dont_filter) {
        /* A start request (enqueued before the first next()). A resumed
         * crawl does not schedule again one that an earlier run scheduled:
         * its descendants are in the queue already. */
        if ((rc = silk_request_fingerprint(req, NULL, false, fp, NULL)))
            return rc;
        have_fp = true;
        if ((rc = begin(j)))
            return rc;
        sqlite3_stmt *st = j->st[ST_START_SEEN];
        sqlite3_bind_blob(st, 1, fp, FP, SQLITE_STATIC);
        int sr = sqlite3_step(st);
        sqlite3_reset(st);
        if (sr != SQLITE_DONE)
            return db_fail(j, "cannot record a start request");
        if (sqlite3_changes(j->db) == 0 && j->resumed) {
            if (s->stats)
                silk_stats_inc(s->stats, "jobdir/start_requests_skipped", 1);
            silk_log(SILK_LOG_DEBUG, LOGGER, "Start request already scheduled by an earlier run: <%s %s>",
                     req->method, req->url);
            return SILK_FILTERED;
        }
        if ((rc = wrote(j)))
            return rc;
    }
    if (!req->dont_filter) {
        if (!have_fp && (rc = silk_request_fingerprint(req, NULL, false, fp, NULL)))
            return rc;
        int seen = seen_check(j, fp);
        if (seen < 0)
            return seen;
        if (seen) {
            if (s->stats)
                silk_stats_inc(s->stats, "dupefilter/filtered", 1);
            if (j->debug) {
                silk_log(SILK_LOG_DEBUG, "silk.dupefilters", "Filtered duplicate request: <%s %s>", req->method,
                         req->url);
            } else if (!j->dup_logged) {
                j->dup_logged = true;
                silk_log(SILK_LOG_DEBUG, "silk.dupefilters",
                         "Filtered duplicate request: <%s %s> - no more duplicates will be shown "
                         "(see DUPEFILTER_DEBUG to show all duplicates)",
                         req->method, req->url);
            }
            return SILK_FILTERED;
        }
    }
    silk_buf_reset(&j->buf);
    rc = silk_request_to_json(req, j->spider, &j->buf);
    if (rc == SILK_EUNSERIALIZABLE)
        return memory_push(j, req, silk_last_error());
    if (rc)
        return rc;
    if ((rc = begin(j)))
        return rc;
    int64_t id = j->last_id + 1;
    sqlite3_stmt *st = j->st[ST_INSERT];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, req->priority);
    sqlite3_bind_int64(st, 3, j->fifo ? -id : id);
    sqlite3_bind_text(st, 4, j->buf.data, (int)j->buf.len, SQLITE_STATIC);
    if (req->body_len)
        sqlite3_bind_blob(st, 5, req->body, (int)req->body_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    int sr = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (sr != SQLITE_DONE)
        return db_fail(j, "cannot queue a request");
    j->last_id = id;
    j->queued++;
    if (s->stats) {
        silk_stats_inc(s->stats, "scheduler/enqueued/disk", 1);
        silk_stats_inc(s->stats, "scheduler/enqueued", 1);
    }
    return wrote(j);
}

static int step_id(jobsched *j, int which, int64_t id, const char *what)
{
    sqlite3_stmt *st = j->st[which];
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return db_fail(j, what);
    return 0;
}

static silk_request *js_next(silk_scheduler *s)
{
    jobsched *j = (jobsched *)s;
    resume_log(j);
    if (!j->start_over) {
        j->start_over = true;
        /* from now on a new run on this database is a resumed one */
        if (!j->failed && !j->resumed && begin(j) == 0) {
            sqlite3_stmt *st = j->st[ST_META];
            sqlite3_bind_text(st, 1, "started", -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, 1);
            int sr = sqlite3_step(st);
            sqlite3_reset(st);
            if (sr != SQLITE_DONE)
                db_fail(j, "cannot write the meta table");
            else
                wrote(j);
        }
    }
    if (j->mem->ops->len(j->mem))
        return j->mem->ops->next(j->mem);
    while (!j->failed) {
        if (begin(j))
            return NULL;
        sqlite3_stmt *st = j->st[ST_POP];
        int sr = sqlite3_step(st);
        if (sr == SQLITE_DONE) {
            sqlite3_reset(st);
            j->queued = 0;
            return NULL;
        }
        if (sr != SQLITE_ROW) {
            sqlite3_reset(st);
            db_fail(j, "cannot read the next request");
            return NULL;
        }
        int64_t id = sqlite3_column_int64(st, 0);
        const char *json = (const char *)sqlite3_column_text(st, 1);
        size_t jlen = (size_t)sqlite3_column_bytes(st, 1);
        const void *body = sqlite3_column_blob(st, 2);
        size_t blen = (size_t)sqlite3_column_bytes(st, 2);
        silk_request *req = NULL;
        int rc = json ? silk_request_from_json(json, jlen, body, blen, j->spider, &req)
                      : silk_error(SILK_ETYPE, "the request column is NULL");
        sqlite3_reset(st);
        if (j->queued)
            j->queued--;
        if (rc == SILK_ENOMEM)
            return NULL;
        if (rc) {
            /* kept, not deleted: a later silk (or a fixed spider) may load it */
            silk_log(SILK_LOG_ERROR, LOGGER, "JOBDIR '%s': cannot load request #%lld: %s; it stays in the "
                     "database with state 2", j->dir, (long long)id, silk_last_error());
            if (s->stats)
                silk_stats_inc(s->stats, "jobdir/unloadable", 1);
            if (step_id(j, ST_QUARANTINE, id, "cannot set a request aside") || wrote(j))
                return NULL;
            continue;
        }
        if (step_id(j, ST_LEASE, id, "cannot lease a request") || lease_add(j, req, id)) {
            silk_unref(req);
            return NULL;
        }
        j->nleased++;
        if (s->stats) {
            silk_stats_inc(s->stats, "scheduler/dequeued/disk", 1);
            silk_stats_inc(s->stats, "scheduler/dequeued", 1);
        }
        wrote(j);
        return req;
    }
    return NULL;
}

static void js_done(silk_scheduler *s, silk_request *req)
{
    jobsched *j = (jobsched *)s;
    lease l;
    if (!lease_take(j, req, &l))
        return; /* it came from the memory queue */
    j->nleased--;
    if (!j->failed && begin(j) == 0 && step_id(j, ST_DONE, l.id, "cannot delete a finished request") == 0)
        wrote(j);
    silk_unref(l.req);
}

static size_t js_len(const silk_scheduler *s)
{
    const jobsched *j = (const jobsched *)s;
    return (j->failed ? 0 : j->queued) + j->mem->ops->len(j->mem);
}

static void js_close(silk_scheduler *s, const char *reason)
{
    jobsched *j = (jobsched *)s;
    if (j->closed)
        return;
    j->closed = true;
    resume_log(j);
    if (j->timer)
        event_del(j->timer);
    if (!j->failed) {
        save_state(j, false);
        commit(j);
    }
    size_t mem = j->mem->ops->len(j->mem);
    if (mem)
        silk_log(SILK_LOG_WARNING, LOGGER, "JOBDIR '%s': %zu unserialisable requests were only in memory and "
                 "are not kept (see scheduler/unserializable)", j->dir, mem);
    if (!j->failed && (j->queued || j->nleased))
        silk_log(SILK_LOG_INFO, LOGGER, "JOBDIR '%s': closing (%s) with %zu requests kept for the next run",
                 j->dir, reason ? reason : "?", j->queued + j->nleased);
}

static void js_free(silk_scheduler *s)
{
    jobsched *j = (jobsched *)s;
    if (!j)
        return;
    if (j->timer)
        event_free(j->timer);
    if (j->db && !j->failed && j->in_txn)
        commit(j);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(j->st[i]);
    if (j->db)
        sqlite3_close(j->db); /* checkpoints and removes the WAL */
    for (size_t i = 0; i < j->lcap; i++)
        silk_unref(j->leases[i].req);
    silk_free(j->leases);
    if (j->mem)
        j->mem->ops->free(j->mem);
    if (j->lockfd >= 0)
        close(j->lockfd); /* releases the flock; the file stays */
    silk_free(j->cache);
    silk_free(j->state_saved);
    silk_buf_free(&j->buf);
    silk_free(j->dir);
    silk_free(j->dbpath);
    silk_free(j);
}

static const silk_scheduler_ops job_ops = { "jobdir", js_enqueue, js_next, js_len, js_done, js_close, js_free };

bool silk_jobdir_is(const silk_scheduler *s) { return s && s->ops == &job_ops; }

int silk_jobdir_commit(silk_scheduler *s)
{
    if (!silk_jobdir_is(s))
        return silk_error(SILK_EINVAL, "silk_jobdir_commit: not a job-directory scheduler");
    return commit((jobsched *)s);
}

int silk_jobdir_get_info(const silk_scheduler *s, silk_jobdir_info *info)
{
    if (!silk_jobdir_is(s))
        return silk_error(SILK_EINVAL, "silk_jobdir_get_info: not a job-directory scheduler");
    const jobsched *j = (const jobsched *)s;
    memset(info, 0, sizeof *info);
    info->queued = j->failed ? 0 : j->queued;
    info->leased = j->nleased;
    info->memory = j->mem->ops->len(j->mem);
    info->cache_entries = j->cache_used;
    info->cache_bytes = j->cache ? (j->cache_mask + 1) * FP : 0;
    info->cache_hits = j->hits;
    info->cache_lookups = j->lookups;
    info->commits = j->commits;
    info->resumed = j->resumed;
    info->error = j->failed;
    return 0;
}

/* ---------- opening ---------- */

static int mkdirs(const char *dir)
{
    char *p = silk_strdup(dir);
    if (!p)
        return SILK_ENOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = silk_error(SILK_EIO, "JOBDIR '%s': cannot create the directory '%s': %s", dir, p, strerror(errno));
            break;
        }
        *q = c;
        if (!c)
            break;
    }
    silk_free(p);
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the database header ourselves, so that a file silk must refuse is
 * refused before SQLite opens it (and perhaps adds a -wal beside it). */
static int check_header(const char *dir, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return silk_error(SILK_EIO, "JOBDIR '%s': cannot read %s: %s", dir, path, strerror(errno));
    }
    unsigned char h[100];
    ssize_t n = read(fd, h, sizeof h);
    close(fd);
    if (n == 0)
        return 0; /* created, never committed: SQLite decides */
    if (n < (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
        return silk_error(SILK_EDB, "JOBDIR '%s': %s is not a SQLite database (a corrupted or foreign file); "
                          "silk leaves it as it is", dir, path);
    uint32_t app = be32(h + 68), version = be32(h + 60);
    if (app != SILK_JOBDIR_APPLICATION_ID)
        return silk_error(SILK_EDB, "JOBDIR '%s': %s is a SQLite database of another application "
                          "(application_id 0x%08x), not a silk job; silk leaves it as it is", dir, path, app);
    if (version > SILK_JOBDIR_FORMAT)
        return silk_error(SILK_EDB, "JOBDIR '%s' was written by a newer silk (job format %u); this silk (%s) "
                          "reads format %d and leaves it as it is", dir, version, silk_version(),
                          SILK_JOBDIR_FORMAT);
    return 0;
}

static int take_lock(jobsched *j)
{
    char *path = silk_asprintf("%s/%s", j->dir, LOCK_NAME);
    if (!path)
        return SILK_ENOMEM;
    int rc = 0;
    j->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lockfd < 0) {
        rc = silk_error(SILK_EIO, "JOBDIR '%s' is not writable: cannot create %s: %s", j->dir, path,
                        strerror(errno));
        goto out;
    }
    if (flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(j->lockfd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        rc = errno == EWOULDBLOCK
                 ? silk_error(SILK_EBUSY, "JOBDIR '%s' is in use by another crawl (pid %s holds %s)", j->dir,
                              *pid ? pid : "?", path)
                 : silk_error(SILK_EIO, "JOBDIR '%s': cannot lock %s: %s", j->dir, path, strerror(errno));
        close(j->lockfd);
        j->lockfd = -1;
        goto out;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(j->lockfd, 0) != 0 || pwrite(j->lockfd, pid, (size_t)len, 0) != len) {
        /* a full disk shows up here first; the lock itself holds */
        silk_log(SILK_LOG_DEBUG, LOGGER, "JOBDIR '%s': cannot write the pid into %s: %s", j->dir, path,
                 strerror(errno));
    }
out:
    silk_free(path);
    return rc;
}

/* One statement with no result rows; the message names what failed. */
static int exec(jobsched *j, const char *sql, const char *what)
{
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return silk_error(SILK_EDB, "JOBDIR '%s': %s: %s", j->dir, what, sqlite3_errmsg(j->db));
    return 0;
}

/* A single integer from sql, or a SILK_EDB naming what. */
static int query_int(jobsched *j, const char *sql, int64_t *out, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return silk_error(SILK_EDB, "JOBDIR '%s': %s: %s", j->dir, what, sqlite3_errmsg(j->db));
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (s == SQLITE_DONE)
        *out = 0;
    else
        rc = silk_error(SILK_EDB, "JOBDIR '%s': %s: %s", j->dir, what, sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return rc;
}

static int db_error_hint(jobsched *j, int rc)
{
    if (rc != SILK_EDB)
        return rc;
    int code = sqlite3_errcode(j->db);
    char msg[900];
    snprintf(msg, sizeof msg, "%s", silk_last_error());
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        return silk_error(SILK_EDB, "%s (the job database is corrupted or not a database; silk leaves it as it "
                          "is)", msg);
    if (code == SQLITE_FULL)
        return silk_error(SILK_EDB, "%s (the disk is full)", msg);
    if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM)
        return silk_error(SILK_EDB, "%s (is the job directory writable?)", msg);
    return rc;
}

static int init_schema(jobsched *j, const char *spider_name)
{
    int rc;
    char *sql = silk_asprintf("BEGIN IMMEDIATE;"
                              "PRAGMA application_id = %d;"
                              "PRAGMA user_version = %d;"
                              "%s"
                              "INSERT INTO meta VALUES('format_version', %d);"
                              "INSERT INTO meta VALUES('created_by', 'silk %s');"
                              "INSERT INTO meta VALUES('created', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'));"
                              "INSERT INTO meta VALUES('started', 0);"
                              "COMMIT;",
                              SILK_JOBDIR_APPLICATION_ID, SILK_JOBDIR_FORMAT, schema_sql, SILK_JOBDIR_FORMAT,
                              silk_version());
    if (!sql)
        return SILK_ENOMEM;
    rc = exec(j, sql, "cannot create the job database");
    silk_free(sql);
    if (rc) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    (void)spider_name;
    return 0;
}

static int check_schema(jobsched *j)
{
    static const char *const tables[] = { "meta", "requests", "seen", "start_seen", "spider_state" };
    int64_t n = 0;
    int rc;
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
                 tables[i]);
        if ((rc = query_int(j, sql, &n, "cannot read the schema")))
            return rc;
        if (n != 1)
            return silk_error(SILK_EDB, "JOBDIR '%s': the job database has no '%s' table (damaged, or not "
                              "written by silk); silk leaves it as it is", j->dir, tables[i]);
    }
    if ((rc = query_int(j, "SELECT value FROM meta WHERE key = 'format_version'", &n, "cannot read the meta table")))
        return rc;
    if (n > SILK_JOBDIR_FORMAT)
        return silk_error(SILK_EDB, "JOBDIR '%s' was written by a newer silk (job format %lld); this silk (%s) "
                          "reads format %d and leaves it as it is", j->dir, (long long)n, silk_version(),
                          SILK_JOBDIR_FORMAT);
    if (n < 1)
        return silk_error(SILK_EDB, "JOBDIR '%s': the meta table has no format_version; silk leaves the "
                          "database as it is", j->dir);
    return 0;
}

static int parse_queue_setting(silk_settings *settings, bool *fifo)
{
    const char *q = "lifo";
    int rc;
    *fifo = false;
    if (settings && (rc = silk_settings_get_str(settings, "SCHEDULER_DISK_QUEUE", &q)) && rc != SILK_ENOTFOUND)
        return rc;
    if (!q || !strcasecmp(q, "lifo") || strstr(q, "LifoDiskQueue") || strstr(q, "LifoMemoryQueue"))
        *fifo = false;
    else if (!strcasecmp(q, "fifo") || strstr(q, "FifoDiskQueue") || strstr(q, "FifoMemoryQueue"))
        *fifo = true;
    else
        return silk_error(SILK_EINVAL, "setting SCHEDULER_DISK_QUEUE: expected 'lifo' or 'fifo', got '%s'", q);
    return 0;
}

static int open_db(jobsched *j, silk_settings *settings)
{
    int rc;
    int64_t n = 0;
    const char *sync = settings ? silk_settings_str(settings, "JOBDIR_SYNC", "normal") : "normal";
    if (!sync || (strcasecmp(sync, "normal") && strcasecmp(sync, "full")))
        return silk_error(SILK_EINVAL, "setting JOBDIR_SYNC: expected 'normal' or 'full', got '%s'",
                          sync ? sync : "null");
    if ((rc = check_header(j->dir, j->dbpath)))
        return rc;
    int s = sqlite3_open_v2(j->dbpath, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (s != SQLITE_OK)
        return silk_error(SILK_EDB, "JOBDIR '%s': cannot open %s: %s", j->dir, j->dbpath,
                          j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(s));
    sqlite3_extended_result_codes(j->db, 1);
    sqlite3_busy_timeout(j->db, 2000);
    /* reads only, until the file is known to be ours */
    int64_t app = 0;
    if ((rc = query_int(j, "PRAGMA application_id", &app, "cannot read the database header")))
        return db_error_hint(j, rc);
    if (app == 0) {
        if ((rc = query_int(j, "SELECT count(*) FROM sqlite_schema", &n, "cannot read the schema")))
            return db_error_hint(j, rc);
        if (n > 0)
            return silk_error(SILK_EDB, "JOBDIR '%s': %s is a SQLite database of another application, not a "
                              "silk job; silk leaves it as it is", j->dir, j->dbpath);
        if ((rc = init_schema(j, j->spider ? j->spider->name : NULL)))
            return db_error_hint(j, rc);
    } else if (app != SILK_JOBDIR_APPLICATION_ID) {
        return silk_error(SILK_EDB, "JOBDIR '%s': %s is a SQLite database of another application "
                          "(application_id 0x%08llx), not a silk job; silk leaves it as it is", j->dir,
                          j->dbpath, (unsigned long long)app);
    }
    int64_t version = 0;
    if ((rc = query_int(j, "PRAGMA user_version", &version, "cannot read the database header")))
        return db_error_hint(j, rc);
    if (version > SILK_JOBDIR_FORMAT)
        return silk_error(SILK_EDB, "JOBDIR '%s' was written by a newer silk (job format %lld); this silk (%s) "
                          "reads format %d and leaves it as it is", j->dir, (long long)version, silk_version(),
                          SILK_JOBDIR_FORMAT);
    if ((rc = check_schema(j)))
        return db_error_hint(j, rc);

    /* ours: now it may be written */
    char pragmas[256];
    int64_t cache_mb = settings ? silk_settings_int(settings, "JOBDIR_CACHE_MB", 16) : 16;
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA cache_size = %lld;",
             strcasecmp(sync, "full") == 0 ? "FULL" : "NORMAL", (long long)(cache_mb > 0 ? -cache_mb * 1024 : -2048));
    if ((rc = exec(j, pragmas, "cannot configure the job database")))
        return db_error_hint(j, rc);
    char mode[16] = "";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(j->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (strcasecmp(mode, "wal") != 0)
        return silk_error(SILK_EDB, "JOBDIR '%s': cannot put the job database in WAL mode (journal mode is '%s')",
                          j->dir, mode);
    double max_mb = settings ? silk_settings_double(settings, "JOBDIR_MAX_SIZE_MB", 0) : 0;
    if (max_mb > 0) {
        int64_t page = 4096;
        query_int(j, "PRAGMA page_size", &page, "cannot read the page size");
        char sql[96];
        int64_t pages = (int64_t)(max_mb * 1024 * 1024) / (page > 0 ? page : 4096);
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)(pages > 1 ? pages : 1));
        if ((rc = exec(j, sql, "cannot set JOBDIR_MAX_SIZE_MB")))
            return rc;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(j->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL) != SQLITE_OK)
            return db_error_hint(j, silk_error(SILK_EDB, "JOBDIR '%s': cannot prepare '%s': %s", j->dir,
                                               stmt_sql[i], sqlite3_errmsg(j->db)));

    /* resume: what was in flight is queued again */
    if ((rc = exec(j, "BEGIN IMMEDIATE", "cannot begin a transaction")))
        return db_error_hint(j, rc);
    if ((rc = exec(j, "UPDATE requests SET state = 0 WHERE state = 1", "cannot re-queue the leased requests"))) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return db_error_hint(j, rc);
    }
    j->requeued = (size_t)sqlite3_changes(j->db);
    char meta[160];
    snprintf(meta, sizeof meta, "INSERT OR REPLACE INTO meta VALUES('last_opened_by', 'silk %s')", silk_version());
    if ((rc = exec(j, meta, "cannot write the meta table")) || (rc = exec(j, "COMMIT", "cannot commit"))) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return db_error_hint(j, rc);
    }
    int64_t started = 0, quarantined = 0;
    if ((rc = query_int(j, "SELECT count(*) FROM requests WHERE state = 0", &n, "cannot count the queue")) ||
        (rc = query_int(j, "SELECT count(*) FROM requests WHERE state = 2", &quarantined, "cannot count the queue")) ||
        (rc = query_int(j, "SELECT max(id) FROM requests", &j->last_id, "cannot read the queue")) ||
        (rc = query_int(j, "SELECT value FROM meta WHERE key = 'started'", &started, "cannot read the meta table")))
        return db_error_hint(j, rc);
    j->queued = (size_t)n;
    j->quarantined = (size_t)quarantined;
    j->resumed = started != 0;
    return 0;
}

static int job_open(const char *dir, silk_settings *settings, silk_stats *stats, silk_spider *spider,
                    struct event_base *base, silk_crawler *crawler, silk_scheduler **out)
{
    jobsched *j = NULL;
    int rc;
    struct stat sb;
    *out = NULL;
    if (!dir || !*dir)
        return silk_error(SILK_EINVAL, "JOBDIR: no directory given");
    if (!(j = silk_calloc(1, sizeof *j)))
        return SILK_ENOMEM;
    j->base.ops = &job_ops;
    j->base.stats = stats;
    j->lockfd = -1;
    j->spider = spider;
    j->crawler = crawler;
    j->resume_log_pending = true;
    if (!(j->dir = silk_strdup(dir)) || !(j->dbpath = silk_asprintf("%s/%s", dir, DB_NAME))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    if ((rc = parse_queue_setting(settings, &j->fifo)))
        goto err;
    j->debug = settings && silk_settings_bool(settings, "DUPEFILTER_DEBUG", false);
    j->commit_requests = settings ? silk_settings_int(settings, "JOBDIR_COMMIT_REQUESTS", 10000) : 10000;
    if (j->commit_requests < 1)
        j->commit_requests = 1;
    double interval = settings ? silk_settings_double(settings, "JOBDIR_COMMIT_INTERVAL", 0.1) : 0.1;
    j->state_interval = settings ? silk_settings_double(settings, "JOBDIR_STATE_INTERVAL", 5.0) : 5.0;
    int64_t cache = settings ? silk_settings_int(settings, "JOBDIR_DUPEFILTER_CACHE", 262144) : 262144;

    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            rc = silk_error(SILK_EIO, "JOBDIR '%s': %s", dir, strerror(errno));
            goto err;
        }
        if ((rc = mkdirs(dir)))
            goto err;
    } else if (!S_ISDIR(sb.st_mode)) {
        rc = silk_error(SILK_EIO, "JOBDIR '%s' is not a directory", dir);
        goto err;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        rc = silk_error(SILK_EIO, "JOBDIR '%s' is not writable: %s", dir, strerror(errno));
        goto err;
    }
    char *scrapy = silk_asprintf("%s/requests.queue", dir);
    if (!scrapy) {
        rc = SILK_ENOMEM;
        goto err;
    }
    bool is_scrapy = stat(scrapy, &sb) == 0 && access(j->dbpath, F_OK) != 0;
    silk_free(scrapy);
    if (is_scrapy) {
        rc = silk_error(SILK_EDB, "JOBDIR '%s' is a Scrapy job directory (it has requests.queue/); silk cannot "
                        "resume it and leaves it as it is", dir);
        goto err;
    }
    if ((rc = take_lock(j)) || (rc = open_db(j, settings)))
        goto err;
    if ((rc = load_state(j)))
        goto err;
    j->state_saved_ns = silk_now_ns();
    if ((rc = silk_memory_scheduler_new(settings, stats, &j->mem)))
        goto err;
    if (cache > 0) {
        size_t slots = 1;
        while (slots < (size_t)cache && slots < ((size_t)1 << 30))
            slots <<= 1;
        /* calloc'ed pages stay untouched (and out of RSS) until used */
        if (!(j->cache = silk_calloc(slots, FP))) {
            rc = SILK_ENOMEM;
            goto err;
        }
        j->cache_mask = slots - 1;
    }
    if (base && interval > 0) {
        if (!(j->timer = event_new(base, -1, EV_PERSIST, on_timer, j))) {
            rc = SILK_ENOMEM;
            goto err;
        }
        struct timeval tv = { (time_t)interval, (suseconds_t)((interval - floor(interval)) * 1e6) };
        event_add(j->timer, &tv);
    }
    *out = &j->base;
    return 0;
err:
    js_free(&j->base);
    return rc;
}

int silk_jobdir_open(const char *dir, silk_settings *settings, silk_stats *stats, silk_spider *spider,
                     struct event_base *base, silk_scheduler **out)
{
    return job_open(dir, settings, stats, spider, base, NULL, out);
}

int silk_jobdir_install(silk_crawler *c)
{
    silk_settings *s = silk_crawler_settings(c);
    const silk_value *v = silk_settings_get(s, "JOBDIR");
    if (!v || v->kind == SILK_V_NULL)
        return 0;
    const char *dir = silk_value_str(v);
    if (!dir)
        return silk_error(SILK_ETYPE, "setting JOBDIR: expected a directory name, got a %s",
                          silk_value_kind_name(v->kind));
    if (!*dir)
        return 0; /* Scrapy: an empty JOBDIR is no job directory */
    silk_scheduler *sched = NULL;
    int rc = job_open(dir, s, silk_crawler_stats(c), silk_crawler_spider(c), silk_crawler_base(c), c, &sched);
    if (rc)
        return rc;
    return silk_crawler_set_scheduler(c, sched);
}
