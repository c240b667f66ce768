/* silk — the job-directory scheduler: the queue, the dupefilter, the leases
 * of requests in flight and the spider's state in one SQLite database.
 *
 * Every change goes into one open transaction, in the order the engine asks
 * for it; a timer commits it (or a count of operations does). A commit is
 * therefore a prefix of the engine's history: the children a callback
 * yielded are committed together with, or before, the deletion of their
 * parent's row. Whatever the moment of a crash, the committed state loses
 * no request: a parent whose done() was not committed is still in the
 * queue at the next start, and yields its children again.
 *
 * What keeps it fast (docs/performance.md has the figures):
 *  - a request stays a queued row until done() deletes it; a lease is a
 *    memory entry, written to the leases table only when it outlives a
 *    commit, so a request done within one commit window costs one insert
 *    and one delete;
 *  - next() is served from a bounded head buffer that holds exactly the
 *    queued rows ordered before a boundary key; it is refilled from the
 *    ordering index in one range query, K rows at a time;
 *  - fingerprints: a fixed-size Bloom filter answers "new" without reading
 *    the disk; new fingerprints are appended to a log table (sequential,
 *    cheap) and merged into the seen B-tree in sorted batches, since random
 *    20-byte keys inserted one by one rewrite a page each. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
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
#define HEAD_MAX 1024      /* rows the head buffer holds */
#define HEAD_REFILL 256    /* rows one refill reads */
#define HEAD_INLINE 4096   /* rows bigger than this are read again at next() */
#define BLOOM_K 7
#define LEASE_ID_SLOTS 65536

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_INSERT,
    ST_REFILL_ALL,
    ST_REFILL_AFTER,
    ST_GET,
    ST_QUARANTINE,
    ST_DONE,
    ST_LEASE_ADD,
    ST_LEASE_DEL,
    ST_SEEN_GET,
    ST_SEEN_ADD,
    ST_SEEN_LOG,
    ST_SEEN_LOG_TRIM,
    ST_START_SEEN,
    ST_STATE,
    ST_META,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_INSERT] = "INSERT INTO requests(id, priority, ord, state, request, body) VALUES(?1, ?2, ?3, 0, ?4, ?5)",
    [ST_REFILL_ALL] = "SELECT id, priority, ord, request, body FROM requests WHERE state = 0 "
                      "ORDER BY priority DESC, ord DESC LIMIT ?1",
    [ST_REFILL_AFTER] = "SELECT id, priority, ord, request, body FROM requests WHERE state = 0 AND "
                        "(priority, ord) < (?2, ?3) ORDER BY priority DESC, ord DESC LIMIT ?1",
    [ST_GET] = "SELECT request, body FROM requests WHERE id = ?1",
    [ST_QUARANTINE] = "UPDATE requests SET state = 2 WHERE id = ?1",
    [ST_DONE] = "DELETE FROM requests WHERE id = ?1",
    [ST_LEASE_ADD] = "INSERT OR REPLACE INTO leases(id) VALUES(?1)",
    [ST_LEASE_DEL] = "DELETE FROM leases WHERE id = ?1",
    [ST_SEEN_GET] = "SELECT 1 FROM seen WHERE fp = ?1",
    [ST_SEEN_ADD] = "INSERT OR IGNORE INTO seen(fp) VALUES(?1)",
    [ST_SEEN_LOG] = "INSERT INTO seen_log(fps) VALUES(?1)",
    [ST_SEEN_LOG_TRIM] = "DELETE FROM seen_log WHERE id <= ?1",
    [ST_START_SEEN] = "INSERT OR IGNORE INTO start_seen(fp) VALUES(?1)",
    [ST_STATE] = "INSERT OR REPLACE INTO spider_state(id, state, saved) VALUES(1, ?1, ?2)",
    [ST_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
};

/* The schema of format 1 (docs/jobs.md). The partial index serves next():
 * its order is the queue's, so reading the next rows costs the same at any
 * queue size. */
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
    "CREATE TABLE leases(id INTEGER PRIMARY KEY);"
    "CREATE TABLE seen(fp BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE seen_log(id INTEGER PRIMARY KEY, fps BLOB NOT NULL);"
    "CREATE TABLE start_seen(fp BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE spider_state(id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, saved REAL);"
    "CREATE VIEW pending AS SELECT * FROM requests WHERE state = 0 ORDER BY priority DESC, ord DESC;"
    "CREATE VIEW fingerprints AS WITH RECURSIVE split(rest, fp) AS ("
    " SELECT fps, NULL FROM seen_log"
    " UNION ALL SELECT substr(rest, 21), substr(rest, 1, 20) FROM split WHERE length(rest) > 0)"
    " SELECT fp FROM seen UNION ALL SELECT fp FROM split WHERE fp IS NOT NULL;";

typedef struct lease {
    silk_request *req; /* a reference, so the pointer cannot be reused */
    int64_t id;
    bool written;      /* in the leases table */
} lease;

/* A queued row in the head buffer: its order key and (when small) its
 * data, JSON then body in one block. */
typedef struct head_ent {
    int64_t id, ord;
    int prio;
    uint32_t jlen, blen;
    char *data; /* NULL: read the row again at next() */
} head_ent;

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
    bool fifo, debug, dup_logged, unser_warned, state_warned, sync_off;
    size_t queued; /* rows in state 0 that are not leased */
    silk_scheduler *mem; /* requests that cannot be stored */
    /* the head buffer: sorted by (prio, ord) ascending, so head[nhead-1]
     * is served next. It holds every queued, unleased row whose key is >=
     * the boundary (bprio, bord), or every one when exhausted. */
    head_ent *head;
    size_t nhead;
    bool head_exhausted, head_bounded;
    int bprio;
    int64_t bord;
    /* dupefilter: direct-mapped cache of recent fingerprints */
    uint8_t *cache;
    size_t cache_mask, cache_used;
    uint64_t hits, lookups, bloom_positives, db_lookups;
    /* Bloom filter over every fingerprint (fixed size) */
    uint8_t *bloom;
    uint64_t bloom_mask; /* 64-byte blocks - 1 */
    /* fingerprints in seen_log, not merged into seen yet: the current
     * generation (a hash set) and the frozen one (sorted), which is merged
     * a few keys at a time, in key order, as new ones arrive */
    uint8_t *pend;       /* pend_cap * 20 */
    uint32_t *pend_idx;  /* 2 * pend_cap slots: index + 1, 0 = empty */
    size_t npend, pend_cap, pend_logged; /* pend[0, pend_logged) are in seen_log */
    uint8_t *frozen;     /* pend_cap * 20, sorted */
    size_t nfrozen, frozen_done;
    int64_t frozen_last_log, log_last;
    uint64_t merges;
    double merge_seconds;
    /* the checkpointer thread */
    struct ckpt *ckpt;
    uint64_t rewinds;
    double rewind_seconds;
    /* leases of requests given out, by pointer (open addressing) */
    lease *leases;
    size_t lcap, lcount, lwritten;
    uint16_t *lease_ids; /* LEASE_ID_SLOTS counters of leased ids: 0 = none there */
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
        silk_log(SILK_LOG_ERROR, LOGGER, "%s", silk_last_error());
        if (j->crawler)
            silk_crawler_close_spider(j->crawler, "jobdir_error");
    }
    return rc;
}

static int failed_error(jobsched *j)
{
    return silk_error(j->failed, "JOBDIR '%s': the job database failed earlier; nothing more is written", j->dir);
}

/* Runs a prepared statement that returns no rows. */
static int run(jobsched *j, int which, const char *what)
{
    sqlite3_stmt *st = j->st[which];
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return db_fail(j, what);
    return 0;
}

static int run_id(jobsched *j, int which, int64_t id, const char *what)
{
    sqlite3_bind_int64(j->st[which], 1, id);
    return run(j, which, what);
}

static int run_fp(jobsched *j, int which, const uint8_t fp[FP], const char *what)
{
    sqlite3_bind_blob(j->st[which], 1, fp, FP, SQLITE_STATIC);
    return run(j, which, what);
}

/* ---------- transactions ---------- */

static int begin(jobsched *j)
{
    if (j->in_txn)
        return 0;
    if (j->failed)
        return failed_error(j);
    int rc = run(j, ST_BEGIN, "cannot begin a transaction");
    if (!rc)
        j->in_txn = true;
    return rc;
}

static int save_state(jobsched *j, bool force);

/* Leases that outlive this commit go into the leases table, so that the
 * next run can say how many requests were in flight. */
static int write_leases(jobsched *j)
{
    if (j->lwritten == j->lcount)
        return 0;
    for (size_t i = 0; i < j->lcap; i++) {
        lease *l = &j->leases[i];
        if (!l->req || l->written)
            continue;
        int rc = run_id(j, ST_LEASE_ADD, l->id, "cannot record a lease");
        if (rc)
            return rc;
        l->written = true;
        j->lwritten++;
    }
    return 0;
}

static int log_fingerprints(jobsched *j);
static void wal_rewind(jobsched *j);

static int commit(jobsched *j)
{
    int rc;
    if (j->failed)
        return j->failed;
    if (j->spider && j->state_interval >= 0 &&
        (double)(silk_now_ns() - j->state_saved_ns) / 1e9 >= j->state_interval && (rc = save_state(j, false)))
        return rc;
    if (!j->in_txn)
        return 0;
    if ((rc = write_leases(j)) || (rc = log_fingerprints(j)) || (rc = run(j, ST_COMMIT, "cannot commit")))
        return rc;
    j->in_txn = false;
    j->ops = 0;
    j->commits++;
    wal_rewind(j);
    return 0;
}

static int wrote(jobsched *j)
{
    if (++j->ops >= j->commit_requests)
        return commit(j);
    return 0;
}

static int merge_some(jobsched *j, size_t n);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    jobsched *j = arg;
    (void)fd;
    (void)what;
    /* an idle crawl drains the frozen fingerprints too */
    if (j->nfrozen && !j->failed)
        merge_some(j, 4096);
    commit(j);
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
    rc = run(j, ST_STATE, "cannot save the spider state");
    sqlite3_clear_bindings(st);
    if (rc) {
        silk_free(json);
        return rc;
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
    j->leases[k] = (lease){ silk_ref(req), id, false };
    j->lcount++;
    j->lease_ids[(uint64_t)id % LEASE_ID_SLOTS]++;
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
    j->lease_ids[(uint64_t)out->id % LEASE_ID_SLOTS]--;
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

/* true when row id is given out. The counters answer "no" at once for
 * nearly every row; a "maybe" scans the leases (the requests in flight). */
static bool leased_id(const jobsched *j, int64_t id)
{
    if (!j->lcount || !j->lease_ids[(uint64_t)id % LEASE_ID_SLOTS])
        return false;
    for (size_t i = 0; i < j->lcap; i++)
        if (j->leases[i].req && j->leases[i].id == id)
            return true;
    return false;
}

/* ---------- the dupefilter ---------- */

static uint64_t fp_word(const uint8_t *fp, int at)
{
    uint64_t h;
    memcpy(&h, fp + at, sizeof h); /* SHA-1 bytes are uniform */
    return h;
}

static bool fp_zero(const uint8_t fp[FP])
{
    for (int i = 0; i < FP; i++)
        if (fp[i])
            return false;
    return true;
}

/* A blocked Bloom filter: the k bits of a fingerprint lie in one 64-byte
 * block, so a lookup costs one cache miss instead of k. */
static bool bloom_has(const jobsched *j, const uint8_t fp[FP])
{
    if (!j->bloom)
        return true;
    const uint8_t *block = j->bloom + (size_t)(fp_word(fp, 0) & j->bloom_mask) * 64;
    uint64_t h = fp_word(fp, 8);
    for (int i = 0; i < BLOOM_K; i++, h >>= 9) {
        unsigned bit = (unsigned)(h & 511);
        if (!(block[bit >> 3] & (1u << (bit & 7))))
            return false;
    }
    return true;
}

static void bloom_add(jobsched *j, const uint8_t fp[FP])
{
    if (!j->bloom)
        return;
    uint8_t *block = j->bloom + (size_t)(fp_word(fp, 0) & j->bloom_mask) * 64;
    uint64_t h = fp_word(fp, 8);
    for (int i = 0; i < BLOOM_K; i++, h >>= 9) {
        unsigned bit = (unsigned)(h & 511);
        block[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
}

static size_t pend_slot(const uint8_t fp[FP], size_t mask) { return (size_t)fp_word(fp, 12) & mask; }

static bool pend_has(const jobsched *j, const uint8_t fp[FP])
{
    size_t mask = 2 * j->pend_cap - 1;
    for (size_t k = pend_slot(fp, mask); j->pend_idx[k]; k = (k + 1) & mask)
        if (memcmp(j->pend + (size_t)(j->pend_idx[k] - 1) * FP, fp, FP) == 0)
            return true;
    return false;
}

static void pend_add(jobsched *j, const uint8_t fp[FP])
{
    size_t mask = 2 * j->pend_cap - 1, k = pend_slot(fp, mask);
    while (j->pend_idx[k])
        k = (k + 1) & mask;
    memcpy(j->pend + j->npend * FP, fp, FP);
    j->pend_idx[k] = (uint32_t)++j->npend;
}

static int cmp_fp(const void *a, const void *b) { return memcmp(a, b, FP); }

static bool frozen_has(const jobsched *j, const uint8_t fp[FP])
{
    size_t lo = 0, hi = j->nfrozen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(j->frozen + mid * FP, fp, FP);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Merges up to n keys of the frozen generation into the seen B-tree. In
 * key order, successive keys land on the same or the next leaf page, so a
 * page is rewritten about once per generation instead of once per key;
 * spreading the work keeps the loop from stalling on one big merge. */
static int merge_some(jobsched *j, size_t n)
{
    if (!j->nfrozen)
        return 0;
    int rc = begin(j);
    if (rc)
        return rc;
    uint64_t t0 = silk_now_ns();
    size_t end = j->frozen_done + n < j->nfrozen ? j->frozen_done + n : j->nfrozen;
    for (; j->frozen_done < end; j->frozen_done++, j->ops++)
        if ((rc = run_fp(j, ST_SEEN_ADD, j->frozen + j->frozen_done * FP, "cannot merge fingerprints")))
            return rc;
    if (j->frozen_done == j->nfrozen) {
        if ((rc = run_id(j, ST_SEEN_LOG_TRIM, j->frozen_last_log, "cannot merge fingerprints")))
            return rc;
        j->nfrozen = j->frozen_done = 0;
        j->merges++;
    }
    j->merge_seconds += (double)(silk_now_ns() - t0) / 1e9;
    return 0;
}

/* The fingerprints recorded since the last commit go into the log as one
 * row (their concatenation), in the transaction that queues their
 * requests: one write per commit instead of one per request. */
static int log_fingerprints(jobsched *j)
{
    if (j->pend_logged >= j->npend)
        return 0;
    int rc = begin(j);
    if (rc)
        return rc;
    sqlite3_bind_blob(j->st[ST_SEEN_LOG], 1, j->pend + j->pend_logged * FP, (int)((j->npend - j->pend_logged) * FP),
                      SQLITE_STATIC);
    if ((rc = run(j, ST_SEEN_LOG, "cannot record fingerprints")))
        return rc;
    j->log_last = sqlite3_last_insert_rowid(j->db);
    j->pend_logged = j->npend;
    return 0;
}

/* The current generation becomes the frozen one (sorted); a new one
 * starts. */
static int freeze(jobsched *j)
{
    int rc;
    if (j->nfrozen && (rc = merge_some(j, SIZE_MAX))) /* not drained in time: finish it now */
        return rc;
    if ((rc = log_fingerprints(j)))
        return rc;
    qsort(j->pend, j->npend, FP, cmp_fp);
    uint8_t *t = j->frozen;
    j->frozen = j->pend;
    j->pend = t;
    j->nfrozen = j->npend;
    j->frozen_done = 0;
    j->frozen_last_log = j->log_last;
    j->npend = j->pend_logged = 0;
    memset(j->pend_idx, 0, 2 * j->pend_cap * sizeof *j->pend_idx);
    return 0;
}

/* Records a new fingerprint: Bloom filter, current generation (logged at
 * the next commit); and merges two frozen keys, so the frozen generation
 * is gone before the current one fills. */
static int fp_record(jobsched *j, const uint8_t fp[FP])
{
    int rc;
    if (j->npend >= j->pend_cap && (rc = freeze(j)))
        return rc;
    if ((rc = begin(j)))
        return rc;
    bloom_add(j, fp);
    pend_add(j, fp);
    if ((rc = merge_some(j, 2)))
        return rc;
    return wrote(j);
}

/* 1 when fp was seen before (in this run or an earlier one), 0 when it is
 * new (now recorded), or an error. Only a Bloom positive that is neither
 * cached nor pending reads the disk. */
static int seen_check(jobsched *j, const uint8_t fp[FP])
{
    j->lookups++;
    uint8_t *slot = NULL;
    if (j->cache && !fp_zero(fp)) {
        slot = j->cache + (size_t)(fp_word(fp, 4) & j->cache_mask) * FP;
        if (memcmp(slot, fp, FP) == 0) {
            j->hits++;
            return 1;
        }
    }
    int seen = 0;
    if (bloom_has(j, fp)) {
        j->bloom_positives++;
        if (pend_has(j, fp) || frozen_has(j, fp)) {
            seen = 1;
        } else {
            j->db_lookups++;
            sqlite3_stmt *st = j->st[ST_SEEN_GET];
            sqlite3_bind_blob(st, 1, fp, FP, SQLITE_STATIC);
            int s = sqlite3_step(st);
            sqlite3_reset(st);
            if (s != SQLITE_ROW && s != SQLITE_DONE)
                return db_fail(j, "cannot look a fingerprint up");
            seen = s == SQLITE_ROW;
        }
    }
    if (!seen) {
        int rc = fp_record(j, fp);
        if (rc)
            return rc;
    }
    if (slot) {
        if (fp_zero(slot))
            j->cache_used++;
        memcpy(slot, fp, FP);
    }
    return seen;
}

/* ---------- the head buffer ---------- */

/* (prio, ord) order: negative when a is served after b */
static int key_cmp(int ap, int64_t ao, int bp, int64_t bo)
{
    if (ap != bp)
        return ap < bp ? -1 : 1;
    return ao < bo ? -1 : ao > bo;
}

static void head_free_ent(head_ent *e) { silk_free(e->data); }

static void head_clear(jobsched *j)
{
    for (size_t i = 0; i < j->nhead; i++)
        head_free_ent(&j->head[i]);
    j->nhead = 0;
    j->head_exhausted = false;
    j->head_bounded = false;
}

static int head_ent_set(head_ent *e, int64_t id, int prio, int64_t ord, const char *json, size_t jlen,
                        const void *body, size_t blen)
{
    *e = (head_ent){ id, ord, prio, (uint32_t)jlen, (uint32_t)blen, NULL };
    if (jlen + blen > HEAD_INLINE)
        return 0;
    if (!(e->data = silk_malloc(jlen + blen + 1)))
        return SILK_ENOMEM;
    memcpy(e->data, json, jlen);
    if (blen)
        memcpy(e->data + jlen, body, blen);
    e->data[jlen + blen] = '\0';
    return 0;
}

/* A new row goes into the head when the head covers its key. A FIFO row
 * behind everything the head holds would go first in the array: instead
 * the head stops covering the tail, and the row waits in the database. */
static void head_offer(jobsched *j, int64_t id, int prio, int64_t ord, const char *json, size_t jlen,
                       const void *body, size_t blen)
{
    if (!j->head_exhausted && !(j->head_bounded && key_cmp(prio, ord, j->bprio, j->bord) > 0))
        return;
    size_t lo = 0, hi = j->nhead;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(j->head[mid].prio, j->head[mid].ord, prio, ord) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 && j->nhead > 0 && j->head_exhausted) {
        j->head_exhausted = false;
        j->head_bounded = true;
        j->bprio = j->head[0].prio;
        j->bord = j->head[0].ord;
        return;
    }
    if (j->nhead == HEAD_MAX) {
        /* drop the half served last: they wait in the database, behind
         * the new boundary */
        size_t drop = HEAD_MAX / 2;
        for (size_t i = 0; i < drop; i++)
            head_free_ent(&j->head[i]);
        memmove(j->head, j->head + drop, (j->nhead - drop) * sizeof *j->head);
        j->nhead -= drop;
        j->head_exhausted = false;
        j->head_bounded = true;
        j->bprio = j->head[0].prio;
        j->bord = j->head[0].ord;
        if (lo <= drop)
            return;
        lo -= drop;
    }
    head_ent e;
    if (head_ent_set(&e, id, prio, ord, json, jlen, body, blen)) {
        head_clear(j); /* out of memory: every row is in the database anyway */
        return;
    }
    memmove(j->head + lo + 1, j->head + lo, (j->nhead - lo) * sizeof *j->head);
    j->head[lo] = e;
    j->nhead++;
}

/* Reads the next rows after the boundary, in queue order. */
static int head_refill(jobsched *j)
{
    sqlite3_stmt *st = j->st[j->head_bounded ? ST_REFILL_AFTER : ST_REFILL_ALL];
    sqlite3_bind_int(st, 1, HEAD_REFILL);
    if (j->head_bounded) {
        sqlite3_bind_int(st, 2, j->bprio);
        sqlite3_bind_int64(st, 3, j->bord);
    }
    int n = 0, s, rc = 0;
    size_t start = j->nhead;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        int64_t id = sqlite3_column_int64(st, 0);
        int prio = sqlite3_column_int(st, 1);
        int64_t ord = sqlite3_column_int64(st, 2);
        j->head_bounded = true;
        j->bprio = prio;
        j->bord = ord;
        if (leased_id(j, id))
            continue;
        const char *json = (const char *)sqlite3_column_text(st, 3);
        size_t jlen = (size_t)sqlite3_column_bytes(st, 3);
        const void *body = sqlite3_column_blob(st, 4);
        size_t blen = (size_t)sqlite3_column_bytes(st, 4);
        if ((rc = head_ent_set(&j->head[j->nhead], id, prio, ord, json ? json : "", json ? jlen : 0, body,
                               blen)))
            break;
        j->nhead++;
    }
    sqlite3_reset(st);
    if (rc)
        return rc;
    if (s != SQLITE_DONE && s != SQLITE_ROW)
        return db_fail(j, "cannot read the next requests");
    if (n < HEAD_REFILL)
        j->head_exhausted = true;
    /* rows came in serving order; the array is served from its end */
    for (size_t a = start, b = j->nhead; a + 1 < b; a++, b--) {
        head_ent t = j->head[a];
        j->head[a] = j->head[b - 1];
        j->head[b - 1] = t;
    }
    return 0;
}


/* ---------- the checkpointer ---------- */

/* WAL checkpoints copy the log into the database file and fsync both: the
 * only disk flushes of the default synchronous=NORMAL. They run on a
 * thread of their own with its own connection, so the loop never waits for
 * one; a commit only wakes it when the log has grown. The thread touches
 * nothing but its connection and this struct. */
typedef struct ckpt {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kick;
    char *path;
    int wal_pages;
    bool sync_off; /* JOBDIR_SYNC=off: the checkpoints do not fsync either */
    uint64_t passive;
    int wal_frames; /* the log's length after the last commit */
} ckpt;

static void *ckpt_main(void *arg)
{
    ckpt *c = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        db = NULL;
    }
    if (db) {
        sqlite3_exec(db, c->sync_off ? "PRAGMA cache_size = -256; PRAGMA synchronous = OFF"
                                     : "PRAGMA cache_size = -256; PRAGMA synchronous = NORMAL",
                     NULL, NULL, NULL);
    }
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!c->kick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 2;
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            if (c->stop)
                break;
        }
        c->kick = false;
        pthread_mutex_unlock(&c->mu);
        /* PASSIVE: copies what it can without waiting for the writer */
        if (db)
            sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->mu);
        c->passive++;
    }
    pthread_mutex_unlock(&c->mu);
    sqlite3_close(db);
    return NULL;
}

static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    ckpt *c = arg;
    (void)db;
    (void)name;
    c->wal_frames = pages; /* read by the loop thread, which runs this hook */
    if (pages >= c->wal_pages) {
        pthread_mutex_lock(&c->mu);
        c->kick = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void ckpt_stop(jobsched *j)
{
    ckpt *c = j->ckpt;
    if (!c)
        return;
    sqlite3_wal_hook(j->db, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->tid, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    silk_free(c->path);
    silk_free(c);
    j->ckpt = NULL;
}

/* Starts the thread; without threads (or when it cannot start) SQLite's
 * own checkpoints on commit stay on. */
static int ckpt_start(jobsched *j, int64_t wal_pages, bool sync_off)
{
    if (!sqlite3_threadsafe() || wal_pages <= 0)
        return 0;
    ckpt *c = silk_calloc(1, sizeof *c);
    if (!c || !(c->path = silk_strdup(j->dbpath))) {
        silk_free(c);
        return SILK_ENOMEM;
    }
    c->wal_pages = (int)(wal_pages > 1 << 30 ? 1 << 30 : wal_pages);
    c->sync_off = sync_off;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->tid, NULL, ckpt_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        silk_free(c->path);
        silk_free(c);
        return 0;
    }
    j->ckpt = c;
    sqlite3_wal_hook(j->db, on_wal, c); /* replaces the automatic checkpoints */
    return 0;
}

/* The checkpointer copies the log behind a writer that never pauses, one
 * step behind it, and SQLite rewinds the log only once a checkpoint has
 * caught up: left alone, the log grows for the whole crawl (and every page
 * read searches a longer index). So when it has grown past 16 wake-ups'
 * worth, the loop thread finishes the checkpoint itself, between two
 * transactions: the few frames the thread has not copied yet and one fsync
 * of the database file, then the next transaction starts the log from its
 * beginning (journal_size_limit trims the file). */
static void wal_rewind(jobsched *j)
{
    ckpt *c = j->ckpt;
    if (!c || c->wal_frames < 16 * c->wal_pages)
        return;
    c->wal_frames = 0;
    uint64_t t0 = silk_now_ns();
    int rc = sqlite3_wal_checkpoint_v2(j->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    j->rewinds++;
    j->rewind_seconds += (double)(silk_now_ns() - t0) / 1e9;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        silk_log(SILK_LOG_WARNING, LOGGER, "JOBDIR '%s': checkpoint: %s", j->dir, sqlite3_errmsg(j->db));
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

static void log_filtered(jobsched *j, const silk_request *req)
{
    if (j->debug) {
        silk_log(SILK_LOG_DEBUG, "silk.dupefilters", "Filtered duplicate request: <%s %s>", req->method, req->url);
    } else if (!j->dup_logged) {
        j->dup_logged = true;
        silk_log(SILK_LOG_DEBUG, "silk.dupefilters",
                 "Filtered duplicate request: <%s %s> - no more duplicates will be shown "
                 "(see DUPEFILTER_DEBUG to show all duplicates)",
                 req->method, req->url);
    }
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
        if ((rc = begin(j)) || (rc = run_fp(j, ST_START_SEEN, fp, "cannot record a start request")))
            return rc;
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
            log_filtered(j, req);
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
    int64_t id = j->last_id + 1, ord = j->fifo ? -id : id;
    sqlite3_stmt *st = j->st[ST_INSERT];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, req->priority);
    sqlite3_bind_int64(st, 3, ord);
    sqlite3_bind_text(st, 4, j->buf.data, (int)j->buf.len, SQLITE_STATIC);
    if (req->body_len)
        sqlite3_bind_blob(st, 5, req->body, (int)req->body_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    rc = run(j, ST_INSERT, "cannot queue a request");
    sqlite3_clear_bindings(st);
    if (rc)
        return rc;
    j->last_id = id;
    j->queued++;
    head_offer(j, id, req->priority, ord, j->buf.data, j->buf.len, req->body, req->body_len);
    if (s->stats) {
        silk_stats_inc(s->stats, "scheduler/enqueued/disk", 1);
        silk_stats_inc(s->stats, "scheduler/enqueued", 1);
    }
    return wrote(j);
}

/* Builds the request of a head entry (reading the row again when it was
 * too big to keep). 0, a SILK_E* code for a row that cannot be loaded, or
 * SILK_EDB. */
static int load_entry(jobsched *j, const head_ent *e, silk_request **out)
{
    if (e->data)
        return silk_request_from_json(e->data, e->jlen, e->blen ? e->data + e->jlen : NULL, e->blen, j->spider,
                                      out);
    sqlite3_stmt *st = j->st[ST_GET];
    sqlite3_bind_int64(st, 1, e->id);
    int s = sqlite3_step(st), rc;
    if (s == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);
        rc = json ? silk_request_from_json(json, (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 1),
                                           (size_t)sqlite3_column_bytes(st, 1), j->spider, out)
                  : silk_error(SILK_ETYPE, "the request column is NULL");
    } else {
        rc = s == SQLITE_DONE ? silk_error(SILK_ENOTFOUND, "the row is gone") : SILK_EDB;
    }
    sqlite3_reset(st);
    if (rc == SILK_EDB)
        return db_fail(j, "cannot read a request");
    return rc;
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
            if (run(j, ST_META, "cannot write the meta table") == 0)
                wrote(j);
        }
    }
    if (j->mem->ops->len(j->mem))
        return j->mem->ops->next(j->mem);
    while (!j->failed) {
        while (!j->nhead && !j->head_exhausted)
            if (head_refill(j))
                return NULL;
        if (!j->nhead) {
            j->queued = 0; /* what the database says, whatever was counted */
            return NULL;
        }
        head_ent e = j->head[--j->nhead];
        silk_request *req = NULL;
        int rc = load_entry(j, &e, &req);
        head_free_ent(&e);
        if (j->queued)
            j->queued--;
        if (rc == SILK_ENOMEM || rc == SILK_EDB) {
            head_clear(j); /* the row stays queued in the database */
            j->queued++;
            return NULL;
        }
        if (rc) {
            /* kept, not deleted: a later silk (or a fixed spider) may load it */
            silk_log(SILK_LOG_ERROR, LOGGER, "JOBDIR '%s': cannot load request #%lld: %s; it stays in the "
                     "database with state 2", j->dir, (long long)e.id, silk_last_error());
            if (s->stats)
                silk_stats_inc(s->stats, "jobdir/unloadable", 1);
            if (begin(j) || run_id(j, ST_QUARANTINE, e.id, "cannot set a request aside") || wrote(j))
                return NULL;
            continue;
        }
        if (lease_add(j, req, e.id)) {
            silk_unref(req);
            head_clear(j);
            j->queued++;
            return NULL;
        }
        if (s->stats) {
            silk_stats_inc(s->stats, "scheduler/dequeued/disk", 1);
            silk_stats_inc(s->stats, "scheduler/dequeued", 1);
        }
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
    if (l.written)
        j->lwritten--;
    if (begin(j) == 0 && run_id(j, ST_DONE, l.id, "cannot delete a finished request") == 0 &&
        (!l.written || run_id(j, ST_LEASE_DEL, l.id, "cannot delete a lease") == 0))
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
    if (!j->failed && (j->queued || j->lcount))
        silk_log(SILK_LOG_INFO, LOGGER, "JOBDIR '%s': closing (%s) with %zu requests kept for the next run",
                 j->dir, reason ? reason : "?", j->queued + j->lcount);
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
    ckpt_stop(j);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(j->st[i]);
    if (j->db)
        sqlite3_close(j->db); /* checkpoints and removes the WAL */
    for (size_t i = 0; i < j->lcap; i++)
        silk_unref(j->leases[i].req);
    silk_free(j->leases);
    silk_free(j->lease_ids);
    if (j->head)
        head_clear(j);
    silk_free(j->head);
    if (j->mem)
        j->mem->ops->free(j->mem);
    if (j->lockfd >= 0)
        close(j->lockfd); /* releases the flock; the file stays */
    silk_free(j->cache);
    silk_free(j->bloom);
    silk_free(j->pend);
    silk_free(j->pend_idx);
    silk_free(j->frozen);
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
    info->leased = j->lcount;
    info->memory = j->mem->ops->len(j->mem);
    info->cache_entries = j->cache_used;
    info->cache_bytes = j->cache ? (j->cache_mask + 1) * FP : 0;
    info->cache_hits = j->hits;
    info->cache_lookups = j->lookups;
    info->bloom_bytes = j->bloom ? (size_t)((j->bloom_mask + 1) * 64) : 0;
    info->merge_seconds = j->merge_seconds;
    info->rewinds = j->rewinds;
    info->rewind_seconds = j->rewind_seconds;
    info->bloom_positives = j->bloom_positives;
    info->db_lookups = j->db_lookups;
    info->pending_fingerprints = j->npend + j->nfrozen - j->frozen_done;
    info->pending_bytes = j->pend_cap * (2 * FP + 2 * sizeof *j->pend_idx);
    info->merges = j->merges;
    info->head = j->nhead;
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
    static const char *const tables[] = { "meta",     "requests",   "leases",      "seen",
                                          "seen_log", "start_seen", "spider_state" };
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
    if (!sync || (strcasecmp(sync, "normal") && strcasecmp(sync, "full") && strcasecmp(sync, "off")))
        return silk_error(SILK_EINVAL, "setting JOBDIR_SYNC: expected 'normal', 'full' or 'off', got '%s'",
                          sync ? sync : "null");
    if ((rc = check_header(j->dir, j->dbpath)))
        return rc;
    /* NOMUTEX: the connection belongs to the loop thread alone (the
     * checkpointer has its own), so SQLite's per-call mutex is waste */
    int s = sqlite3_open_v2(j->dbpath, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL);
    if (s != SQLITE_OK)
        return silk_error(SILK_EDB, "JOBDIR '%s': cannot open %s: %s", j->dir, j->dbpath,
                          j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(s));
    sqlite3_extended_result_codes(j->db, 1);
    /* readers never block a WAL writer; a checkpoint holds its lock briefly */
    sqlite3_busy_timeout(j->db, 10000);
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
    char pragmas[320];
    int64_t cache_mb = settings ? silk_settings_int(settings, "JOBDIR_CACHE_MB", 16) : 16;
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA cache_size = %lld; "
             "PRAGMA journal_size_limit = 67108864;",
             strcasecmp(sync, "full") == 0 ? "FULL" : strcasecmp(sync, "off") == 0 ? "OFF" : "NORMAL", (long long)(cache_mb > 0 ? -cache_mb * 1024 : -2048));
    j->sync_off = strcasecmp(sync, "off") == 0;
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

    /* resume: requests in flight were never deleted, so they are queued
     * already; the leases table only says how many there were */
    int64_t leased = 0;
    if ((rc = query_int(j, "SELECT count(*) FROM leases", &leased, "cannot read the leases")))
        return db_error_hint(j, rc);
    j->requeued = (size_t)leased;
    char meta[200];
    snprintf(meta, sizeof meta,
             "BEGIN IMMEDIATE; DELETE FROM leases; UPDATE requests SET state = 0 WHERE state = 1;"
             "INSERT OR REPLACE INTO meta VALUES('last_opened_by', 'silk %s'); COMMIT;",
             silk_version());
    if ((rc = exec(j, meta, "cannot re-queue the requests in flight"))) {
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

/* The Bloom filter is not stored: it is rebuilt from the seen tables, a
 * sequential read (0.23 s per million fingerprints from the page cache). The log's
 * fingerprints become the current generation again; a log longer than one
 * generation (JOBDIR_SEEN_BATCH was lowered) is merged at once. */
static int load_fingerprints(jobsched *j)
{
    int rc = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT fp FROM seen", -1, &st, NULL) != SQLITE_OK)
        return db_error_hint(j, silk_error(SILK_EDB, "JOBDIR '%s': cannot read the fingerprints: %s", j->dir,
                                           sqlite3_errmsg(j->db)));
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *fp = sqlite3_column_blob(st, 0);
        if (fp && sqlite3_column_bytes(st, 0) == FP)
            bloom_add(j, fp);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return db_error_hint(j, silk_error(SILK_EDB, "JOBDIR '%s': cannot read the fingerprints: %s", j->dir,
                                           sqlite3_errmsg(j->db)));
    /* the log: back into the current generation, or, when it holds more
     * than one generation (JOBDIR_SEEN_BATCH was lowered), into seen now */
    int64_t logged = 0;
    if ((rc = query_int(j, "SELECT coalesce(sum(length(fps)), 0) / 20 FROM seen_log", &logged,
                        "cannot read the fingerprints")) ||
        (rc = query_int(j, "SELECT coalesce(max(id), 0) FROM seen_log", &j->log_last, "cannot read the fingerprints")))
        return db_error_hint(j, rc);
    bool merge_now = (size_t)logged > j->pend_cap;
    if (merge_now && (rc = exec(j, "BEGIN IMMEDIATE", "cannot merge the fingerprints")))
        return db_error_hint(j, rc);
    if (sqlite3_prepare_v2(j->db, "SELECT fps FROM seen_log ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return db_error_hint(j, silk_error(SILK_EDB, "JOBDIR '%s': cannot read the fingerprints: %s", j->dir,
                                           sqlite3_errmsg(j->db)));
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *fps = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0) / FP;
        for (size_t i = 0; i < n && !rc; i++) {
            bloom_add(j, fps + i * FP);
            if (!merge_now)
                pend_add(j, fps + i * FP);
            else if (sqlite3_bind_blob(j->st[ST_SEEN_ADD], 1, fps + i * FP, FP, SQLITE_STATIC) != SQLITE_OK ||
                     sqlite3_step(j->st[ST_SEEN_ADD]) != SQLITE_DONE)
                rc = silk_error(SILK_EDB, "JOBDIR '%s': cannot merge the fingerprints: %s", j->dir,
                                sqlite3_errmsg(j->db));
            if (merge_now)
                sqlite3_reset(j->st[ST_SEEN_ADD]);
        }
    }
    if (!rc && s != SQLITE_DONE)
        rc = silk_error(SILK_EDB, "JOBDIR '%s': cannot read the fingerprints: %s", j->dir, sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    if (merge_now) {
        if (!rc)
            rc = exec(j, "DELETE FROM seen_log; COMMIT", "cannot merge the fingerprints");
        if (rc)
            sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    }
    j->pend_logged = j->npend;
    return rc ? db_error_hint(j, rc) : 0;
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
    double bloom_mb = settings ? silk_settings_double(settings, "JOBDIR_BLOOM_MB", 8) : 8;
    int64_t batch = settings ? silk_settings_int(settings, "JOBDIR_SEEN_BATCH", 65536) : 65536;
    /* a power of two: the pending set's index is masked */
    int64_t pow2 = 16;
    while (pow2 < batch && pow2 < (1 << 24))
        pow2 <<= 1;
    batch = pow2;

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
    /* memory first: everything after this may write */
    if (!(j->head = silk_calloc(HEAD_MAX, sizeof *j->head)) || !(j->pend = silk_calloc((size_t)batch, FP)) ||
        !(j->lease_ids = silk_calloc(LEASE_ID_SLOTS, sizeof *j->lease_ids)) ||
        !(j->frozen = silk_calloc((size_t)batch, FP)) ||
        !(j->pend_idx = silk_calloc(2 * (size_t)batch, sizeof *j->pend_idx))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    j->pend_cap = (size_t)batch;
    if (bloom_mb > 0) {
        uint64_t bytes = 1;
        while (bytes < (uint64_t)(bloom_mb * 1024 * 1024) && bytes < ((uint64_t)1 << 34))
            bytes <<= 1;
        /* calloc'ed pages stay out of RSS until a bit lands on them */
        if (!(j->bloom = silk_calloc((size_t)bytes, 1))) {
            rc = SILK_ENOMEM;
            goto err;
        }
        if (bytes < 64)
            bytes = 64;
        j->bloom_mask = bytes / 64 - 1;
    }
    if ((rc = take_lock(j)) || (rc = open_db(j, settings)) || (rc = load_fingerprints(j)) ||
        (rc = ckpt_start(j, settings ? silk_settings_int(settings, "JOBDIR_CHECKPOINT_PAGES", 1000) : 1000,
                         j->sync_off)))
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
