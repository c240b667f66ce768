/* The job directory: the request format, the SQLite queue's order,
 * persistence, leases, unserialisable requests, bad directories, and
 * pause/resume and kill -9 crawls of the embedded site. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "silk_test.h"
#include "silk/engine.h"
#include "silk/feeds.h"
#include "silk/jobdir.h"
#include "silk/testserver.h"

/* ---------- helpers ---------- */

static char tmproot[64];

static const char *tmpdir(const char *name)
{
    static char path[256];
    if (!*tmproot) {
        snprintf(tmproot, sizeof tmproot, "/tmp/silk-jobdir-XXXXXX");
        assert_non_null(mkdtemp(tmproot));
    }
    snprintf(path, sizeof path, "%s/%s", tmproot, name);
    return path;
}

static void rm_rf(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    if (len)
        *len = got;
    return buf;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* log capture: every record's text, joined by newlines */
static silk_buf logged;
static void capture(silk_log_level level, const char *logger, const char *msg, void *arg)
{
    (void)arg;
    silk_buf_printf(&logged, "%s [%s] %s\n", silk_log_level_name(level), logger, msg);
}
static void capture_start(void)
{
    silk_buf_reset(&logged);
    silk_log_set_sink(capture, NULL);
    silk_log_set_level(SILK_LOG_DEBUG);
}
static void capture_stop(void)
{
    silk_log_set_sink(NULL, NULL);
    silk_log_set_level(SILK_LOG_WARNING);
    silk_buf_free(&logged);
}
static size_t count_in_log(const char *needle)
{
    size_t n = 0;
    for (const char *p = logged.data; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* a spider to resolve callbacks against */
static int cb_parse(silk_ctx *ctx, silk_response *r)
{
    (void)ctx;
    (void)r;
    return 0;
}
static int cb_detail(silk_ctx *ctx, silk_response *r)
{
    (void)ctx;
    (void)r;
    return 0;
}
static int cb_unnamed(silk_ctx *ctx, silk_response *r)
{
    (void)ctx;
    (void)r;
    return 0;
}
static int eb_fail(silk_ctx *ctx, silk_failure *f)
{
    (void)ctx;
    (void)f;
    return 0;
}
static const silk_callback_def unit_callbacks[] = { { "detail", cb_detail }, { NULL, NULL } };
static const silk_errback_def unit_errbacks[] = { { "fail", eb_fail }, { NULL, NULL } };
static const silk_spider_def unit_def = {
    .name = "unit",
    .parse = cb_parse,
    .callbacks = unit_callbacks,
    .errbacks = unit_errbacks,
};

typedef struct unit_env {
    silk_process *proc;
    silk_crawler *crawler;
    silk_spider *spider;
    silk_stats *stats;
    silk_settings *settings;
} unit_env;

static void env_open(unit_env *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(silk_process_new(NULL, &e->proc), 0);
    assert_int_equal(silk_process_crawl(e->proc, &unit_def, NULL, NULL, &e->crawler), 0);
    e->spider = silk_crawler_spider(e->crawler);
    e->stats = silk_stats_new();
    e->settings = silk_settings_new();
}

static void env_close(unit_env *e)
{
    silk_stats_free(e->stats);
    silk_settings_free(e->settings);
    silk_process_free(e->proc);
}

static silk_request *req_new(const char *url, int priority)
{
    silk_request *r = NULL;
    assert_int_equal(silk_request_new(url, &r), 0);
    r->priority = priority;
    return r;
}

static int enqueue(silk_scheduler *s, const char *url, int priority)
{
    silk_request *r = req_new(url, priority);
    int rc = s->ops->enqueue(s, r);
    silk_unref(r);
    return rc;
}

/* next() then done(); returns the URL (a static copy) or "" when empty */
static const char *pop(silk_scheduler *s)
{
    static char url[256];
    silk_request *r = s->ops->next(s);
    if (!r)
        return "";
    snprintf(url, sizeof url, "%s", r->url);
    if (s->ops->done)
        s->ops->done(s, r);
    silk_unref(r);
    return url;
}

static void sched_free(silk_scheduler *s, const char *reason)
{
    s->ops->close(s, reason);
    s->ops->free(s);
}

/* ---------- the request format ---------- */

static void test_format_roundtrip(void **state)
{
    (void)state;
    unit_env e;
    env_open(&e);
    silk_request *r = NULL;
    assert_int_equal(silk_request_new_full("http://example.com/a?b=1", "post", "x\0y", 3, &r), 0);
    assert_int_equal(silk_headers_add(&r->headers, "X-One", "1"), 0);
    assert_int_equal(silk_headers_add(&r->headers, "Accept", "text/html"), 0);
    assert_int_equal(silk_headers_add(&r->headers, "X-One", "2"), 0);
    silk_dict_set_int(silk_request_meta(r), "depth", 3);
    silk_dict_set_str(silk_request_meta(r), "note", "caf\xc3\xa9 \"q\"");
    silk_dict_set_double(silk_request_cb_kwargs(r), "ratio", 0.5);
    silk_value *cookies = silk_value_new_dict();
    silk_dict_set_str(cookies, "session", "abc");
    r->cookies = cookies;
    r->priority = -7;
    r->dont_filter = true;
    silk_request_add_flag(r, "cached");
    r->encoding = silk_strdup("latin-1");
    silk_request_set_callback(r, cb_detail, NULL); /* named through the spider */
    silk_request_set_errback(r, eb_fail, "fail");

    silk_buf b = SILK_BUF_INIT;
    assert_int_equal(silk_request_to_json(r, e.spider, &b), 0);
    /* documented keys; the body is not in the JSON */
    assert_non_null(strstr(b.data, "\"url\":\"http://example.com/a?b=1\""));
    assert_non_null(strstr(b.data, "\"callback\":\"detail\""));
    assert_non_null(strstr(b.data, "\"errback\":\"fail\""));
    assert_non_null(strstr(b.data, "\"method\":\"POST\""));
    assert_non_null(strstr(b.data, "\"headers\":{\"X-One\":[\"1\",\"2\"],\"Accept\":[\"text/html\"]}"));
    assert_non_null(strstr(b.data, "\"meta\":{\"depth\":3,"));
    assert_non_null(strstr(b.data, "\"priority\":-7"));
    assert_non_null(strstr(b.data, "\"dont_filter\":true"));
    assert_null(strstr(b.data, "\"body\""));

    silk_request *back = NULL;
    assert_int_equal(silk_request_from_json(b.data, b.len, r->body, r->body_len, e.spider, &back), 0);
    assert_string_equal(back->url, r->url);
    assert_string_equal(back->method, "POST");
    assert_int_equal(back->body_len, 3);
    assert_memory_equal(back->body, "x\0y", 3);
    assert_int_equal(silk_headers_count(&back->headers, "X-One"), 2);
    assert_string_equal(silk_headers_get_nth(&back->headers, "X-One", 1), "2");
    assert_true(silk_value_equal(back->meta, r->meta));
    assert_true(silk_value_equal(back->cb_kwargs, r->cb_kwargs));
    assert_true(silk_value_equal(back->cookies, r->cookies));
    assert_true(silk_value_equal(back->flags, r->flags));
    assert_int_equal(back->priority, -7);
    assert_true(back->dont_filter);
    assert_string_equal(back->encoding, "latin-1");
    assert_string_equal(back->callback_name, "detail");
    assert_ptr_equal(back->callback, cb_detail);
    assert_ptr_equal(back->errback, eb_fail);
    assert_ptr_equal(back->obj.type, &silk_type_request);
    silk_unref(back);

    /* a plain GET stores only its URL */
    silk_request *plain = req_new("http://example.com/", 0);
    silk_buf_reset(&b);
    assert_int_equal(silk_request_to_json(plain, NULL, &b), 0);
    assert_string_equal(b.data, "{\"url\":\"http://example.com/\"}");
    silk_unref(plain);

    /* FormRequest keeps its class */
    silk_value *form = silk_value_new_dict();
    silk_dict_set_str(form, "q", "a b");
    silk_request *fr = NULL;
    assert_int_equal(silk_form_request_new("http://example.com/s", NULL, form, &fr), 0);
    silk_value_free(form);
    silk_buf_reset(&b);
    assert_int_equal(silk_request_to_json(fr, NULL, &b), 0);
    assert_non_null(strstr(b.data, "\"_class\":\"FormRequest\""));
    assert_int_equal(silk_request_from_json(b.data, b.len, fr->body, fr->body_len, NULL, &back), 0);
    assert_ptr_equal(back->obj.type, &silk_type_form_request);
    assert_string_equal(silk_headers_get(&back->headers, "Content-Type"), "application/x-www-form-urlencoded");
    silk_unref(back);
    silk_unref(fr);

    /* what cannot be stored, and why */
    silk_dict_set_object(silk_request_meta(r), "resp", r); /* an object reference */
    silk_buf_reset(&b);
    assert_int_equal(silk_request_to_json(r, e.spider, &b), SILK_EUNSERIALIZABLE);
    assert_non_null(strstr(silk_last_error(), "meta"));
    assert_int_equal(b.len, 0);
    silk_dict_del(silk_request_meta(r), "resp");
    silk_request_set_callback(r, cb_unnamed, NULL);
    assert_int_equal(silk_request_to_json(r, e.spider, &b), SILK_EUNSERIALIZABLE);
    assert_non_null(strstr(silk_last_error(), "callback is not registered"));
    silk_request_set_callback(r, NULL, NULL);
    assert_int_equal(silk_headers_add(&r->headers, "X-Bin", "\xff\xfe"), 0);
    assert_int_equal(silk_request_to_json(r, e.spider, &b), SILK_EUNSERIALIZABLE);
    silk_buf_free(&b);
    silk_unref(r);

    /* hostile JSON */
    static const char *const badjson[] = {
        "", "[]", "{}", "{\"url\":1}", "{\"url\":\"http://x/\",\"headers\":[]}",
        "{\"url\":\"http://x/\",\"headers\":{\"A\":[1]}}", "{\"url\":\"http://x/\",\"meta\":[]}",
        "{\"url\":\"http://x/\",\"priority\":1.5}", "{\"url\":\"http://x/\",\"priority\":99999999999}",
        "{\"url\":\"http://x/\",\"_class\":\"Evil\"}", "{\"url\":\"http://x/\",\"callback\":\"nope\"}",
        "{\"url\":\"http://x/\",\"headers\":{\"A\":[\"a\\r\\nB: c\"]}}",
    };
    for (size_t i = 0; i < sizeof badjson / sizeof *badjson; i++) {
        back = NULL;
        assert_true(silk_request_from_json(badjson[i], strlen(badjson[i]), NULL, 0, e.spider, &back) < 0);
        assert_null(back);
    }
    env_close(&e);
    SILK_ASSERT_CLEAN();
}

static int format_alloc_body(void)
{
    silk_request *r = NULL, *back = NULL;
    silk_buf b = SILK_BUF_INIT;
    int rc;
    if ((rc = silk_request_new("http://example.com/x", &r)))
        return rc;
    silk_value *m = silk_request_meta(r);
    if (!m || (rc = silk_dict_set_int(m, "depth", 2)) || (rc = silk_headers_add(&r->headers, "A", "b")) ||
        (rc = silk_request_set_callback(r, NULL, "detail")) || (rc = silk_request_to_json(r, NULL, &b)) ||
        (rc = silk_request_from_json(b.data, b.len, "body", 4, NULL, &back)))
        goto out;
    rc = silk_value_equal(back->meta, r->meta) ? 0 : SILK_EINVAL;
out:
    silk_unref(back);
    silk_unref(r);
    silk_buf_free(&b);
    return rc;
}

static void test_format_alloc_failures(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(format_alloc_body());
}

/* ---------- order ---------- */

/* The same random history through the memory scheduler and the SQLite
 * queue gives the same sequence of requests: a queue that grows past the
 * head buffer and shrinks again, priorities, and requests held in flight
 * for a while (done() late, in any order). */
static void order_matches_memory(const char *mode, int steps, int grow_pct, int prios)
{
    unit_env e;
    env_open(&e);
    const char *dir = tmpdir(mode);
    rm_rf(dir);
    silk_settings_set(e.settings, "SCHEDULER_MEMORY_QUEUE", mode, SILK_PRIO_CMDLINE);
    silk_settings_set(e.settings, "SCHEDULER_DISK_QUEUE", mode, SILK_PRIO_CMDLINE);
    silk_settings_set(e.settings, "JOBDIR_COMMIT_REQUESTS", "37", SILK_PRIO_CMDLINE);
    silk_scheduler *mem = NULL, *job = NULL;
    assert_int_equal(silk_memory_scheduler_new(e.settings, NULL, &mem), 0);
    assert_int_equal(silk_jobdir_open(dir, e.settings, e.stats, e.spider, NULL, &job), 0);
    srand(42);
    int n = 0, popped = 0;
    silk_request *held[64];
    int nheld = 0;
    for (int step = 0; step < steps || mem->ops->len(mem); step++) {
        bool grow = step < steps && rand() % 100 < (step < steps / 2 ? grow_pct : 100 - grow_pct);
        if (!grow && mem->ops->len(mem) == 0) {
            assert_null(job->ops->next(job));
            continue;
        }
        if (grow) {
            int burst = 1 + rand() % 20;
            for (int b = 0; b < burst; b++) {
                char url[64];
                snprintf(url, sizeof url, "http://example.com/%d", n++);
                int prio = rand() % prios - prios / 2;
                assert_int_equal(enqueue(mem, url, prio), 0);
                assert_int_equal(enqueue(job, url, prio), 0);
            }
        } else {
            silk_request *a = mem->ops->next(mem), *b = job->ops->next(job);
            assert_non_null(a);
            assert_non_null(b);
            assert_string_equal(b->url, a->url);
            silk_unref(a);
            popped++;
            if (nheld < 64 && rand() % 3 == 0) {
                held[nheld++] = b;
            } else {
                job->ops->done(job, b);
                silk_unref(b);
            }
            while (nheld && rand() % 4 == 0) {
                int k = rand() % nheld;
                job->ops->done(job, held[k]);
                silk_unref(held[k]);
                held[k] = held[--nheld];
            }
        }
        assert_int_equal(mem->ops->len(mem), job->ops->len(job));
    }
    assert_null(job->ops->next(job));
    silk_jobdir_info info;
    assert_int_equal(silk_jobdir_get_info(job, &info), 0);
    assert_int_equal(info.leased, (size_t)nheld);
    while (nheld) {
        job->ops->done(job, held[--nheld]);
        silk_unref(held[nheld]);
    }
    assert_int_equal(silk_stats_get_int(e.stats, "scheduler/enqueued/disk", 0), n);
    assert_int_equal(silk_stats_get_int(e.stats, "scheduler/dequeued/disk", 0), n);
    assert_int_equal(popped, n);
    sched_free(mem, "finished");
    sched_free(job, "finished");
    env_close(&e);
    rm_rf(dir);
    SILK_ASSERT_CLEAN();
}

static void test_order_lifo(void **state)
{
    (void)state;
    order_matches_memory("lifo", 1500, 60, 7);
    order_matches_memory("lifo", 1200, 75, 2); /* grows past the head buffer */
    order_matches_memory("lifo", 1200, 75, 1);
}

static void test_order_fifo(void **state)
{
    (void)state;
    order_matches_memory("fifo", 1500, 60, 7);
    order_matches_memory("fifo", 1200, 75, 2);
    order_matches_memory("fifo", 1200, 75, 1);
}

/* next() reads the first entry of an index: no scan, no sort. */
static void test_next_uses_index(void **state)
{
    (void)state;
    const char *dir = tmpdir("plan");
    rm_rf(dir);
    silk_scheduler *job = NULL;
    assert_int_equal(silk_jobdir_open(dir, NULL, NULL, NULL, NULL, &job), 0);
    sched_free(job, "finished");
    char path[300];
    snprintf(path, sizeof path, "%s/silk.sqlite", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id, request, body FROM requests WHERE "
                                            "state = 0 ORDER BY priority DESC, ord DESC LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    silk_buf plan = SILK_BUF_INIT;
    while (sqlite3_step(st) == SQLITE_ROW)
        silk_buf_printf(&plan, "%s\n", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(strstr(plan.data, "requests_next"));
    assert_null(strstr(plan.data, "TEMP B-TREE"));
    silk_buf_free(&plan);
    rm_rf(dir);
    SILK_ASSERT_CLEAN();
}

/* ---------- persistence, leases, state ---------- */

static void test_persist_and_leases(void **state)
{
    (void)state;
    unit_env e;
    env_open(&e);
    const char *dir0 = tmpdir("persist/deeper/job"); /* parents are created */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", dir0);
    rm_rf(tmpdir("persist"));
    silk_settings_set(e.settings, "JOBDIR_STATE_INTERVAL", "0", SILK_PRIO_CMDLINE); /* at every commit */
    silk_scheduler *job = NULL;
    assert_int_equal(silk_jobdir_open(dir, e.settings, e.stats, e.spider, NULL, &job), 0);
    silk_jobdir_info info;
    assert_int_equal(silk_jobdir_get_info(job, &info), 0);
    assert_false(info.resumed);
    for (int i = 0; i < 10; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://example.com/%d", i);
        assert_int_equal(enqueue(job, url, 0), 0);
    }
    assert_int_equal(enqueue(job, "http://example.com/3", 0), SILK_FILTERED);
    /* two requests in flight (leased), one done */
    silk_request *a = job->ops->next(job), *b = job->ops->next(job);
    assert_string_equal(a->url, "http://example.com/9");
    assert_string_equal(b->url, "http://example.com/8");
    assert_string_equal(pop(job), "http://example.com/7");
    assert_int_equal(silk_jobdir_get_info(job, &info), 0);
    assert_int_equal(info.leased, 2);
    assert_int_equal(info.queued, 7);
    silk_dict_set_int(e.spider->state, "pages", 41);
    /* a crash: whatever was committed is all there is. Simulate it by
     * copying the files away before the scheduler closes. */
    assert_int_equal(silk_jobdir_commit(job), 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s.crash'", dir, dir);
    assert_int_equal(system(cmd), 0);
    job->ops->done(job, a);
    silk_unref(a);
    sched_free(job, "shutdown"); /* b stays leased */
    silk_unref(b);
    env_close(&e);

    /* reopen the cleanly closed one: 7 queued + b re-queued, a gone */
    env_open(&e);
    silk_dict_set_int(e.spider->state, "pages", 1); /* replaced by the saved state */
    capture_start();
    assert_int_equal(silk_jobdir_open(dir, e.settings, e.stats, e.spider, NULL, &job), 0);
    assert_int_equal(job->ops->len(job), 8);
    assert_int_equal(silk_jobdir_get_info(job, &info), 0);
    assert_true(info.resumed); /* the first run had given requests out */
    assert_int_equal(silk_dict_get_int(e.spider->state, "pages", 0), 41);
    assert_int_equal(enqueue(job, "http://example.com/3", 0), SILK_FILTERED); /* the dupefilter persisted */
    assert_int_equal(count_in_log("Resuming crawl (8 requests scheduled)"), 1);
    assert_int_equal(count_in_log("1 requests that were in flight"), 1);
    const char *order[] = { "http://example.com/8", "http://example.com/6", "http://example.com/5" };
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(pop(job), order[i]);
    sched_free(job, "shutdown");
    capture_stop();
    env_close(&e);

    /* reopen the crash copy: a and b both re-queued (their done() was not
     * committed), the state as of the commit */
    snprintf(cmd, sizeof cmd, "%s.crash", dir);
    env_open(&e);
    assert_int_equal(silk_jobdir_open(cmd, e.settings, e.stats, e.spider, NULL, &job), 0);
    assert_int_equal(job->ops->len(job), 9);
    assert_int_equal(silk_dict_get_int(e.spider->state, "pages", 0), 41);
    int n = 0;
    while (*pop(job))
        n++;
    assert_int_equal(n, 9);
    sched_free(job, "finished");
    env_close(&e);
    rm_rf(tmpdir("persist"));
    SILK_ASSERT_CLEAN();
}


/* The persistent dupefilter through every path: cache off, a tiny Bloom
 * filter (nearly every lookup is a false positive that reads the seen
 * table), generations of 16 fingerprints frozen and merged many times, and
 * the log reloaded by the next run. */
static void test_dupefilter_generations(void **state)
{
    (void)state;
    static const char *const blooms[] = { "0.0001", "0", "1" };
    for (size_t b = 0; b < 3; b++) {
        const char *dir = tmpdir("dupes");
        rm_rf(dir);
        silk_settings *s = silk_settings_new();
        silk_settings_set(s, "JOBDIR_SEEN_BATCH", "16", SILK_PRIO_CMDLINE);
        silk_settings_set(s, "JOBDIR_BLOOM_MB", blooms[b], SILK_PRIO_CMDLINE);
        silk_settings_set(s, "JOBDIR_DUPEFILTER_CACHE", b == 2 ? "64" : "0", SILK_PRIO_CMDLINE);
        silk_settings_set(s, "JOBDIR_COMMIT_REQUESTS", "7", SILK_PRIO_CMDLINE);
        silk_scheduler *job = NULL;
        for (int run = 0; run < 3; run++) {
            assert_int_equal(silk_jobdir_open(dir, s, NULL, NULL, NULL, &job), 0);
            for (int i = 0; i < 300 * (run + 1); i++) {
                char url[64];
                snprintf(url, sizeof url, "http://example.com/%d", i);
                /* the first 300 * run were seen by earlier runs */
                assert_int_equal(enqueue(job, url, 0), i < 300 * run ? SILK_FILTERED : 0);
                assert_int_equal(enqueue(job, url, 0), SILK_FILTERED);
            }
            silk_jobdir_info info;
            assert_int_equal(silk_jobdir_get_info(job, &info), 0);
            assert_true(info.merges > 0);
            assert_true(info.pending_fingerprints <= 32);
            sched_free(job, "shutdown");
        }
        silk_settings_free(s);
        rm_rf(dir);
    }

    /* a log longer than one generation at open (the batch was lowered) is
     * merged at once; the fingerprints view shows every fingerprint */
    const char *dir = tmpdir("dupes2");
    rm_rf(dir);
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "JOBDIR_SEEN_BATCH", "4096", SILK_PRIO_CMDLINE);
    silk_scheduler *job = NULL;
    assert_int_equal(silk_jobdir_open(dir, s, NULL, NULL, NULL, &job), 0);
    for (int i = 0; i < 900; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://example.com/%d", i);
        assert_int_equal(enqueue(job, url, 0), 0);
    }
    sched_free(job, "shutdown");
    char path[300];
    snprintf(path, sizeof path, "%s/silk.sqlite", dir);
    for (int pass = 0; pass < 2; pass++) {
        sqlite3 *h = NULL;
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*), count(DISTINCT fp), min(length(fp)) FROM "
                                               "fingerprints", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(q, 0), 900);
        assert_int_equal(sqlite3_column_int(q, 1), 900);
        assert_int_equal(sqlite3_column_int(q, 2), 20);
        sqlite3_finalize(q);
        assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM seen", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(q, 0), pass == 0 ? 0 : 900); /* merged by the reopen */
        sqlite3_finalize(q);
        sqlite3_close(h);
        if (pass)
            break;
        silk_settings_set(s, "JOBDIR_SEEN_BATCH", "16", SILK_PRIO_CMDLINE);
        assert_int_equal(silk_jobdir_open(dir, s, NULL, NULL, NULL, &job), 0);
        for (int i = 0; i < 900; i += 7) {
            char url[64];
            snprintf(url, sizeof url, "http://example.com/%d", i);
            assert_int_equal(enqueue(job, url, 0), SILK_FILTERED);
        }
        sched_free(job, "shutdown");
    }
    silk_settings_free(s);
    rm_rf(dir);
    SILK_ASSERT_CLEAN();
}

/* ---------- unserialisable requests ---------- */

static void test_unserializable(void **state)
{
    (void)state;
    unit_env e;
    env_open(&e);
    const char *dir = tmpdir("unser");
    rm_rf(dir);
    capture_start();
    silk_scheduler *job = NULL;
    assert_int_equal(silk_jobdir_open(dir, e.settings, e.stats, e.spider, NULL, &job), 0);
    assert_int_equal(enqueue(job, "http://example.com/disk", 0), 0);
    for (int i = 0; i < 3; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://example.com/mem%d", i);
        silk_request *r = req_new(url, 0);
        silk_request *other = req_new("http://example.com/other", 0);
        silk_dict_set_object(silk_request_cb_kwargs(r), "keep", other);
        silk_unref(other);
        assert_int_equal(job->ops->enqueue(job, r), 0);
        silk_unref(r);
    }
    /* a callback without a registered name */
    silk_request *r = req_new("http://example.com/mem3", 0);
    silk_request_set_callback(r, cb_unnamed, NULL);
    assert_int_equal(job->ops->enqueue(job, r), 0);
    silk_unref(r);
    /* the dupefilter still applies to them */
    assert_int_equal(enqueue(job, "http://example.com/mem1", 0), SILK_FILTERED);
    assert_int_equal(job->ops->len(job), 5);
    assert_int_equal(silk_stats_get_int(e.stats, "scheduler/unserializable", 0), 4);
    assert_int_equal(silk_stats_get_int(e.stats, "scheduler/enqueued/memory", 0), 4);
    assert_int_equal(silk_stats_get_int(e.stats, "scheduler/enqueued/disk", 0), 1);
    assert_int_equal(silk_stats_get_int(e.stats, "scheduler/enqueued", 0), 5);
    assert_int_equal(count_in_log("Unable to serialize request"), 1);
    assert_non_null(strstr(logged.data, "cb_kwargs"));
    /* memory first, as Scrapy */
    for (int i = 3; i >= 0; i--) {
        char url[64];
        snprintf(url, sizeof url, "http://example.com/mem%d", i);
        assert_string_equal(pop(job), url);
    }
    assert_string_equal(pop(job), "http://example.com/disk");
    assert_string_equal(pop(job), "");
    sched_free(job, "finished");
    capture_stop();
    env_close(&e);
    rm_rf(dir);
    SILK_ASSERT_CLEAN();
}

/* ---------- bad job directories ---------- */

static int open_err(const char *dir, silk_settings *s)
{
    silk_scheduler *job = NULL;
    int rc = silk_jobdir_open(dir, s, NULL, NULL, NULL, &job);
    if (rc == 0)
        sched_free(job, "finished");
    else
        assert_null(job);
    return rc;
}

static void make_job(const char *dir, int n)
{
    silk_scheduler *job = NULL;
    assert_int_equal(silk_jobdir_open(dir, NULL, NULL, NULL, NULL, &job), 0);
    for (int i = 0; i < n; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://example.com/%d", i);
        assert_int_equal(enqueue(job, url, 0), 0);
    }
    sched_free(job, "shutdown");
}

static void assert_files(const char *dir, const char *const *names)
{
    size_t want = 0;
    while (names[want])
        want++;
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        bool ok = false;
        for (size_t i = 0; i < want; i++)
            ok |= strcmp(names[i], de->d_name) == 0;
        if (!ok)
            fprintf(stderr, "unexpected file %s/%s\n", dir, de->d_name);
        assert_true(ok);
        n++;
    }
    closedir(d);
    assert_int_equal(n, want);
}

static void test_bad_dirs(void **state)
{
    (void)state;
    char dir[256], db[300], buf[400];
    size_t len0, len1;

    /* a file where the directory should be, or above it */
    snprintf(dir, sizeof dir, "%s", tmpdir("afile"));
    write_file(dir, "x", 1);
    assert_int_equal(open_err(dir, NULL), SILK_EIO);
    assert_non_null(strstr(silk_last_error(), "is not a directory"));
    snprintf(buf, sizeof buf, "%s/sub", dir);
    assert_int_equal(open_err(buf, NULL), SILK_EIO);
    assert_non_null(strstr(silk_last_error(), "cannot create the directory"));
    unlink(dir);

    /* a text file as the database: refused, untouched, no -wal beside it */
    snprintf(dir, sizeof dir, "%s", tmpdir("textdb"));
    rm_rf(dir);
    mkdir(dir, 0755);
    snprintf(db, sizeof db, "%s/silk.sqlite", dir);
    const char text[] = "this is not a database, it is a text file that happens to be here\n"
                        "and it is long enough to have a full header's worth of bytes in it\n";
    write_file(db, text, sizeof text - 1);
    assert_int_equal(open_err(dir, NULL), SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "is not a SQLite database"));
    char *after = slurp(db, &len1);
    assert_int_equal(len1, sizeof text - 1);
    assert_memory_equal(after, text, len1);
    free(after);
    assert_files(dir, (const char *const[]){ "silk.sqlite", "silk.lock", NULL });
    rm_rf(dir);

    /* a SQLite database of another application */
    snprintf(dir, sizeof dir, "%s", tmpdir("foreign"));
    rm_rf(dir);
    mkdir(dir, 0755);
    snprintf(db, sizeof db, "%s/silk.sqlite", dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL);"
                                     "INSERT INTO invoices VALUES(1, 9.5);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    char *before = slurp(db, &len0);
    assert_int_equal(open_err(dir, NULL), SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "another application"));
    after = slurp(db, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
    /* same with an application_id of its own */
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA application_id = 1234", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(open_err(dir, NULL), SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "application_id 0x000004d2"));
    assert_files(dir, (const char *const[]){ "silk.sqlite", "silk.lock", NULL });
    rm_rf(dir);

    /* written by a newer silk */
    snprintf(dir, sizeof dir, "%s", tmpdir("newer"));
    rm_rf(dir);
    make_job(dir, 3);
    snprintf(db, sizeof db, "%s/silk.sqlite", dir);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 7; UPDATE meta SET value = 7 WHERE key = "
                                     "'format_version'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    before = slurp(db, &len0);
    assert_int_equal(open_err(dir, NULL), SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "newer silk (job format 7)"));
    after = slurp(db, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
    /* only the meta table says so (the header was edited back) */
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(open_err(dir, NULL), SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "newer silk (job format 7)"));
    rm_rf(dir);

    /* corrupted: pages after the header overwritten */
    snprintf(dir, sizeof dir, "%s", tmpdir("corrupt"));
    rm_rf(dir);
    make_job(dir, 200);
    snprintf(db, sizeof db, "%s/silk.sqlite", dir);
    before = slurp(db, &len0);
    assert_true(len0 > 8192);
    int fd = open(db, O_WRONLY);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    for (size_t off = 4096; off < len0; off += sizeof junk)
        assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)off), (ssize_t)sizeof junk);
    close(fd);
    free(before);
    before = slurp(db, &len0);
    int rc = open_err(dir, NULL);
    assert_int_equal(rc, SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "corrupt"));
    after = slurp(db, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
    rm_rf(dir);

    /* a Scrapy job directory */
    snprintf(dir, sizeof dir, "%s", tmpdir("scrapyjob"));
    rm_rf(dir);
    snprintf(buf, sizeof buf, "%s/requests.queue", dir);
    mkdir(dir, 0755);
    mkdir(buf, 0755);
    assert_int_equal(open_err(dir, NULL), SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "Scrapy job directory"));
    assert_files(dir, (const char *const[]){ "requests.queue", NULL });
    rm_rf(dir);

    /* two crawls at once */
    snprintf(dir, sizeof dir, "%s", tmpdir("locked"));
    rm_rf(dir);
    silk_scheduler *one = NULL;
    assert_int_equal(silk_jobdir_open(dir, NULL, NULL, NULL, NULL, &one), 0);
    assert_int_equal(open_err(dir, NULL), SILK_EBUSY);
    snprintf(buf, sizeof buf, "in use by another crawl (pid %ld holds", (long)getpid());
    assert_non_null(strstr(silk_last_error(), buf));
    sched_free(one, "shutdown");
    assert_int_equal(open_err(dir, NULL), 0); /* released */
    rm_rf(dir);

    /* not writable: as root, test it as nobody in a child */
    snprintf(dir, sizeof dir, "%s", tmpdir("readonly"));
    rm_rf(dir);
    make_job(dir, 2);
    chmod(tmproot, 0755);
    chmod(dir, 0555);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(3);
        silk_scheduler *s = NULL;
        int r = silk_jobdir_open(dir, NULL, NULL, NULL, NULL, &s);
        _exit(r == SILK_EIO && strstr(silk_last_error(), "is not writable") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    chmod(dir, 0755);
    assert_int_equal(open_err(dir, NULL), 0); /* and nothing was lost */
    rm_rf(dir);
    SILK_ASSERT_CLEAN();
}

/* A full disk (JOBDIR_MAX_SIZE_MB caps the database as a small disk
 * would): the error names it, the spider would stop, and everything
 * committed before is there for the next run. */
static void test_disk_full(void **state)
{
    (void)state;
    const char *dir = tmpdir("full");
    rm_rf(dir);
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "JOBDIR_MAX_SIZE_MB", "0.25", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "JOBDIR_COMMIT_REQUESTS", "50", SILK_PRIO_CMDLINE);
    silk_stats *st = silk_stats_new();
    silk_scheduler *job = NULL;
    capture_start();
    assert_int_equal(silk_jobdir_open(dir, s, st, NULL, NULL, &job), 0);
    int rc = 0, i;
    char pad[300];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (i = 0; i < 100000 && rc == 0; i++) {
        char url[400];
        snprintf(url, sizeof url, "http://example.com/%d?%s", i, pad);
        rc = enqueue(job, url, 0);
    }
    assert_int_equal(rc, SILK_EDB);
    assert_non_null(strstr(silk_last_error(), "full"));
    assert_non_null(strstr(logged.data, "database or disk is full"));
    /* refused from now on, and the queue reports nothing to do */
    assert_int_equal(enqueue(job, "http://example.com/late", 0), SILK_EDB);
    assert_int_equal(job->ops->len(job), 0);
    silk_jobdir_info info;
    assert_int_equal(silk_jobdir_get_info(job, &info), 0);
    assert_int_equal(info.error, SILK_EDB);
    sched_free(job, "jobdir_error");
    capture_stop();
    /* what was committed (whole batches of 50 operations) is intact */
    silk_settings_free(s);
    s = silk_settings_new();
    assert_int_equal(silk_jobdir_open(dir, s, st, NULL, NULL, &job), 0);
    size_t kept = job->ops->len(job);
    assert_true(kept > 100);
    assert_true(kept <= (size_t)i);
    size_t n = 0;
    while (*pop(job))
        n++;
    assert_int_equal(n, kept);
    sched_free(job, "finished");
    char path[300];
    snprintf(path, sizeof path, "%s/silk.sqlite", dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(h);
    silk_settings_free(s);
    silk_stats_free(st);
    rm_rf(dir);
    SILK_ASSERT_CLEAN();
}

static int open_alloc_body(const char *dir)
{
    silk_scheduler *job = NULL;
    int rc = silk_jobdir_open(dir, NULL, NULL, NULL, NULL, &job);
    if (rc)
        return rc;
    silk_request *r = NULL;
    if ((rc = silk_request_new("http://example.com/z", &r)) == 0) {
        rc = job->ops->enqueue(job, r);
        if (rc == SILK_FILTERED)
            rc = 0;
        silk_unref(r);
    }
    if (rc == 0) {
        r = job->ops->next(job);
        if (r) {
            job->ops->done(job, r);
            silk_unref(r);
        }
    }
    sched_free(job, "shutdown");
    return rc;
}

static void test_open_alloc_failures(void **state)
{
    (void)state;
    const char *dir0 = tmpdir("allocfail");
    char dir[256];
    snprintf(dir, sizeof dir, "%s", dir0);
    rm_rf(dir);
    SILK_FOR_EACH_ALLOC_FAILURE(open_alloc_body(dir));
    rm_rf(dir);
}


/* ---------- crawls of the embedded site ---------- */

static silk_testserver *server;
static char start_url[128];
static silk_process *running;
static int responses, stop_after;

static int site_parse(silk_ctx *ctx, silk_response *resp)
{
    silk_spider *sp = silk_ctx_spider(ctx);
    silk_dict_set_int(sp->state, "pages", silk_dict_get_int(sp->state, "pages", 0) + 1);
    const char *price = silk_ctx_css_get(ctx, "span.price::text");
    if (price) {
        silk_item *it = silk_ctx_item(ctx, "Product");
        silk_item_set_str(it, "url", resp->url);
        silk_item_set_str(it, "title", silk_ctx_css_get(ctx, "title::text"));
        silk_item_set_str(it, "price", price);
    }
    silk_ctx_follow_css(ctx, "a::attr(href)", "parse");
    return 0;
}

static int site_open(silk_spider *sp)
{
    silk_dict_set_int(sp->state, "runs", silk_dict_get_int(sp->state, "runs", 0) + 1);
    return 0;
}

static void on_response(silk_crawler *c, const silk_signal_args *a, void *arg)
{
    (void)c;
    (void)a;
    (void)arg;
    if (++responses == stop_after && running)
        silk_process_stop(running); /* as one Ctrl-C */
}

static const silk_spider_def site_def = {
    .name = "followall",
    .parse = site_parse,
    .start_urls = SILK_LIST(start_url),
    .allowed_domains = SILK_LIST("127.0.0.1"),
    .open = site_open,
};

static void start_server(uint32_t pages)
{
    silk_testserver_options opt = { 0 };
    opt.pages = pages;
    assert_int_equal(silk_testserver_start_thread(&opt, &server), 0);
    snprintf(start_url, sizeof start_url, "%s/", silk_testserver_url(server));
}

static void stop_server(void)
{
    silk_testserver_free(server);
    server = NULL;
}

typedef struct crawl_result {
    char reason[32];
    int64_t runs, pages;         /* from the spider state after the run */
    int64_t responses, items, skipped;
} crawl_result;

/* One crawl of the site with JOBDIR dir, items appended to feed; stops
 * gracefully after stop responses (0 = never). */
static int run_crawl(const char *dir, const char *feed, const char *logfile, int stop, const char *concurrency,
                     crawl_result *res)
{
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", logfile ? "INFO" : "ERROR", SILK_PRIO_CMDLINE);
    if (logfile)
        silk_settings_set(s, "LOG_FILE", logfile, SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "STATS_DUMP", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "CONCURRENT_REQUESTS", concurrency, SILK_PRIO_CMDLINE);
    silk_settings_set(s, "JOBDIR", dir, SILK_PRIO_CMDLINE);
    silk_settings_set(s, "JOBDIR_COMMIT_INTERVAL", "0.02", SILK_PRIO_CMDLINE);
    silk_feeds_add_cli(s, feed, false);
    silk_process *p = NULL;
    silk_crawler *c = NULL;
    int rc = silk_process_new(s, &p);
    if (!rc)
        rc = silk_process_crawl(p, &site_def, NULL, NULL, &c);
    if (!rc)
        rc = silk_jobdir_install(c);
    if (!rc)
        rc = silk_signal_connect(c, SILK_SIG_RESPONSE_RECEIVED, on_response, NULL);
    responses = 0;
    stop_after = stop;
    running = p;
    if (!rc)
        rc = silk_process_run(p);
    running = NULL;
    if (!rc && res) {
        memset(res, 0, sizeof *res);
        snprintf(res->reason, sizeof res->reason, "%s", silk_crawler_finish_reason(c));
        silk_spider *sp = silk_crawler_spider(c);
        res->runs = silk_dict_get_int(sp->state, "runs", 0);
        res->pages = silk_dict_get_int(sp->state, "pages", 0);
        silk_stats *st = silk_crawler_stats(c);
        res->responses = silk_stats_get_int(st, "response_received_count", 0);
        res->items = silk_stats_get_int(st, "item_scraped_count", 0);
        res->skipped = silk_stats_get_int(st, "jobdir/start_requests_skipped", 0);
    }
    silk_process_free(p);
    silk_settings_free(s);
    return rc;
}

/* Items per page id from a JSON-lines feed; returns lines that did not
 * parse (a line cut by a kill). */
static size_t count_items(const char *feed, uint32_t pages, int *per_page)
{
    size_t len = 0, broken = 0;
    char *text = slurp(feed, &len);
    assert_non_null(text);
    const silk_testserver_options *opt = silk_testserver_options_get(server);
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) {
            broken++;
            break;
        }
        silk_value *it = NULL;
        if (silk_json_decode(line, (size_t)(nl - line), &it) != 0) {
            broken++;
            continue;
        }
        const char *url = silk_dict_get_str(it, "url", "");
        const char *pp = strstr(url, "/p/");
        assert_non_null(pp);
        int id = atoi(pp + 3);
        assert_true(id >= 0 && (uint32_t)id < pages);
        silk_testsite_page page;
        assert_int_equal(silk_testsite_page_info(opt, (uint32_t)id, &page), 0);
        assert_string_equal(silk_dict_get_str(it, "title", ""), page.title);
        assert_string_equal(silk_dict_get_str(it, "price", ""), page.price);
        per_page[id]++;
        silk_value_free(it);
    }
    free(text);
    return broken;
}

/* Ctrl-C after 40 responses, run again: every page fetched exactly once
 * over both runs (the start page twice, as in one uninterrupted crawl: its
 * Home links come back to it), every item once, the state kept. */
static void test_pause_resume(void **state)
{
    (void)state;
    enum { PAGES = 150 };
    start_server(PAGES);
    char dir[256], feed[300], log[300];
    snprintf(dir, sizeof dir, "%s", tmpdir("pause"));
    rm_rf(dir);
    snprintf(feed, sizeof feed, "%s.items.jl", dir);
    snprintf(log, sizeof log, "%s.log", dir);
    unlink(feed);
    unlink(log);
    crawl_result r1, r2;
    assert_int_equal(run_crawl(dir, feed, log, 40, "4", &r1), 0);
    assert_string_equal(r1.reason, "shutdown");
    assert_true(r1.responses >= 40 && r1.responses < PAGES);
    assert_int_equal(r1.runs, 1);
    assert_int_equal(run_crawl(dir, feed, log, 0, "4", &r2), 0);
    assert_string_equal(r2.reason, "finished");
    assert_int_equal(r2.runs, 2);
    assert_int_equal(r2.skipped, 1); /* the start URL, already scheduled by run 1 */
    assert_int_equal(r2.pages, PAGES + 2);
    assert_int_equal(r1.responses + r2.responses, PAGES + 2);
    assert_int_equal(r1.items + r2.items, PAGES);
    for (uint32_t i = 0; i < PAGES; i++) {
        char path[32];
        snprintf(path, sizeof path, "/p/%u.html", i);
        assert_int_equal(silk_testserver_hits(server, path), 1);
    }
    assert_int_equal(silk_testserver_hits(server, "/"), 2);
    int per_page[PAGES] = { 0 };
    assert_int_equal(count_items(feed, PAGES, per_page), 0);
    for (int i = 0; i < PAGES; i++)
        assert_int_equal(per_page[i], 1);
    char *text = slurp(log, NULL);
    char want[64];
    snprintf(want, sizeof want, "Resuming crawl (");
    assert_non_null(strstr(text, want));
    free(text);

    /* a third run on the finished job has nothing to do */
    crawl_result r3;
    assert_int_equal(run_crawl(dir, feed, NULL, 0, "4", &r3), 0);
    assert_string_equal(r3.reason, "finished");
    assert_int_equal(r3.responses, 0);
    assert_int_equal(r3.runs, 3);
    stop_server();
    rm_rf(dir);
    unlink(feed);
    unlink(log);
    SILK_ASSERT_CLEAN();
}

/* kill -9 at random moments, many times, then let it finish: every page is
 * fetched and its item written at least once. */
static void test_crash_kill9(void **state)
{
    (void)state;
    enum { PAGES = 800, KILLS = 10 };
    start_server(PAGES);
    char dir[256], feed[300];
    snprintf(dir, sizeof dir, "%s", tmpdir("crash"));
    rm_rf(dir);
    snprintf(feed, sizeof feed, "%s.items.jl", dir);
    unlink(feed);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    int killed = 0, finished_early = 0;
    for (int k = 0; k < KILLS; k++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int rc = run_crawl(dir, feed, NULL, 0, "8", NULL);
            _exit(rc == 0 ? 0 : 2);
        }
        long ms = 200 + rand() % 1000;
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            killed++;
        else {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            finished_early++;
        }
    }
    crawl_result r;
    assert_int_equal(run_crawl(dir, feed, NULL, 0, "8", &r), 0);
    assert_string_equal(r.reason, "finished");
    int twice = 0, missing = 0;
    for (uint32_t i = 0; i < PAGES; i++) {
        char path[32];
        snprintf(path, sizeof path, "/p/%u.html", i);
        uint64_t h = silk_testserver_hits(server, path);
        missing += h == 0;
        twice += h > 1;
    }
    int *per_page = calloc(PAGES, sizeof *per_page);
    size_t broken = count_items(feed, PAGES, per_page);
    int items_missing = 0, items_twice = 0;
    for (int i = 0; i < PAGES; i++) {
        items_missing += per_page[i] == 0;
        items_twice += per_page[i] > 1;
    }
    free(per_page);
    fprintf(stderr,
            "crash test (seed %u): %d kills (%d runs ended before their kill); pages fetched more than once: %d "
            "of %d; items written more than once: %d; broken feed lines: %zu; the last run fetched %lld\n",
            seed, killed, finished_early, twice, PAGES, items_twice, broken, (long long)r.responses);
    assert_int_equal(missing, 0);
    assert_int_equal(items_missing, 0);
    assert_true(killed > 0);
    stop_server();
    rm_rf(dir);
    unlink(feed);
    SILK_ASSERT_CLEAN();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_format_alloc_failures),
        cmocka_unit_test(test_order_lifo),
        cmocka_unit_test(test_order_fifo),
        cmocka_unit_test(test_next_uses_index),
        cmocka_unit_test(test_persist_and_leases),
        cmocka_unit_test(test_dupefilter_generations),
        cmocka_unit_test(test_unserializable),
        cmocka_unit_test(test_bad_dirs),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_open_alloc_failures),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_crash_kill9),
    };
    silk_log_set_level(SILK_LOG_WARNING);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* e.g. "test_crash*" */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (*tmproot)
        rm_rf(tmproot);
    return rc;
}
