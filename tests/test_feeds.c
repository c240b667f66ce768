/* Feed exports: the exporters against the bytes Scrapy 2.8 writes for the
 * same items (tests/feeds_expected.h, made by tests/feeds_reference.py),
 * JSON that stays valid after every item (even under kill -9), append and
 * overwrite, FEEDS options, URI placeholders, batches, -o/-O, errors. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "silk_test.h"
#include "silk/engine.h"
#include "silk/feeds.h"
#include "silk/testserver.h"
#include "silk/http.h"
#include "silk/item.h"
#include "silk/settings.h"
#include "silk/stats.h"

#include "feeds_expected.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/silk-feeds-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* The whole file in a libc block (caller free()s); NULL when missing. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        size_t r = fread(data + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    data[n] = '\0';
    *len = n;
    return data;
}

static void assert_file(const char *path, const char *expected)
{
    size_t n;
    char *data = slurp(path, &n);
    assert_non_null(data);
    assert_string_equal(data, expected);
    free(data);
}

static silk_value *decode(const char *json)
{
    silk_value *v = NULL;
    assert_int_equal(silk_json_decode(json, strlen(json), &v), 0);
    return v;
}

/* The case's options as exporter options; *holder keeps the decoded JSON. */
static silk_exporter_options case_options(const struct feed_case *c, silk_value **holder, bool *start)
{
    silk_value *o = decode(c->options);
    silk_exporter_options eo = { 0 };
    assert_int_equal(silk_feed_format_parse(c->format, &eo.format), 0);
    eo.encoding = silk_dict_get_str(o, "encoding", NULL);
    eo.fields = silk_dict_get(o, "fields");
    const silk_value *ind = silk_dict_get(o, "indent");
    eo.indent = !ind ? 0 : ind->kind == SILK_V_NULL ? SILK_FEED_INDENT_NONE : (int)ind->u.i;
    eo.csv_no_header = silk_dict_get_bool(o, "csv_no_header", false);
    eo.csv_join = silk_dict_get_str(o, "csv_join", NULL);
    const char *d = silk_dict_get_str(o, "csv_delimiter", NULL);
    eo.csv_delimiter = d ? d[0] : 0;
    *start = silk_dict_get_bool(o, "start", false);
    *holder = o;
    return eo;
}

static void run_case_stream(const struct feed_case *c)
{
    silk_value *holder, *items = decode(c->items);
    bool start;
    silk_exporter_options eo = case_options(c, &holder, &start);
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    assert_non_null(f);
    silk_exporter *e = NULL;
    assert_int_equal(silk_exporter_new(f, &eo, &e), 0);
    if (start)
        assert_int_equal(silk_exporter_start(e), 0);
    for (size_t i = 0; i < silk_list_len(items); i++)
        assert_int_equal(silk_exporter_export_dict(e, silk_list_get(items, i)), 0);
    assert_int_equal(silk_exporter_count(e), silk_list_len(items));
    assert_int_equal(silk_exporter_close(e), 0);
    fclose(f);
    if (memlen != c->expected_len || memcmp(mem, c->expected, memlen) != 0) {
        fprintf(stderr, "case %s (stream)\n--- got (%zu bytes):\n%.*s\n--- expected (%zu bytes):\n%.*s\n", c->name,
                memlen, (int)memlen, mem, c->expected_len, (int)c->expected_len, c->expected);
        fail();
    }
    free(mem);
    silk_value_free(items);
    silk_value_free(holder);
}

/* Through a file the exporter opens: same bytes at the end, and a JSON
 * feed is a whole document after every item. */
static void run_case_file(const struct feed_case *c)
{
    silk_value *holder, *items = decode(c->items);
    bool start;
    silk_exporter_options eo = case_options(c, &holder, &start);
    char *path = tmp_path("golden.out");
    silk_exporter *e = NULL;
    assert_int_equal(silk_exporter_open(path, true, &eo, &e), 0);
    if (start)
        assert_int_equal(silk_exporter_start(e), 0);
    for (size_t i = 0; i < silk_list_len(items); i++) {
        assert_int_equal(silk_exporter_export_dict(e, silk_list_get(items, i)), 0);
        if (eo.format == SILK_FEED_JSON && !eo.encoding) {
            size_t n;
            char *data = slurp(path, &n);
            silk_value *doc = NULL;
            assert_int_equal(silk_json_decode(data, n, &doc), 0);
            assert_int_equal(silk_list_len(doc), i + 1);
            silk_value_free(doc);
            free(data);
        }
    }
    assert_int_equal(silk_exporter_close(e), 0);
    size_t n;
    char *data = slurp(path, &n);
    assert_non_null(data);
    if (n != c->expected_len || memcmp(data, c->expected, n) != 0) {
        fprintf(stderr, "case %s (file)\n--- got (%zu bytes):\n%.*s\n--- expected:\n%.*s\n", c->name, n, (int)n,
                data, (int)c->expected_len, c->expected);
        fail();
    }
    free(data);
    silk_value_free(items);
    silk_value_free(holder);
}

static void test_scrapy_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof feed_cases / sizeof feed_cases[0]; i++) {
        run_case_stream(&feed_cases[i]);
        run_case_file(&feed_cases[i]);
    }
    SILK_ASSERT_CLEAN();
}

static silk_item *make_item(const char *json)
{
    silk_item *it = silk_item_new("Product");
    assert_non_null(it);
    silk_value *v = decode(json);
    for (size_t i = 0; i < v->u.dict.len; i++)
        assert_int_equal(silk_item_set(it, v->u.dict.entries[i].key, silk_value_copy(v->u.dict.entries[i].value)), 0);
    silk_value_free(v);
    return it;
}

static void export_one(const char *path, bool overwrite, silk_feed_format fmt, const char *json)
{
    silk_exporter_options eo = { .format = fmt };
    silk_exporter *e = NULL;
    assert_int_equal(silk_exporter_open(path, overwrite, &eo, &e), 0);
    silk_item *it = make_item(json);
    assert_int_equal(silk_exporter_export_item(e, it), 0);
    silk_unref(it);
    assert_int_equal(silk_exporter_close(e), 0);
}

static void test_append_and_overwrite(void **state)
{
    (void)state;
    char *p = tmp_path("append/sub/items.jl"); /* parents are created */
    export_one(p, false, SILK_FEED_JSONLINES, "{\"a\": 1}");
    export_one(p, false, SILK_FEED_JSONLINES, "{\"a\": 2}");
    assert_file(p, "{\"a\": 1}\n{\"a\": 2}\n");
    export_one(p, true, SILK_FEED_JSONLINES, "{\"a\": 3}");
    assert_file(p, "{\"a\": 3}\n");
    /* -o on a JSON feed appends a second document, as Scrapy does */
    char *j = tmp_path("append.json");
    export_one(j, false, SILK_FEED_JSON, "{\"a\": 1}");
    export_one(j, false, SILK_FEED_JSON, "{\"a\": 2}");
    assert_file(j, "[\n{\"a\": 1}\n][\n{\"a\": 2}\n]");
    export_one(j, true, SILK_FEED_JSON, "{\"a\": 3}");
    assert_file(j, "[\n{\"a\": 3}\n]");
    /* CSV appends write a header each time, as Scrapy does */
    char *c = tmp_path("append.csv");
    export_one(c, false, SILK_FEED_CSV, "{\"a\": 1}");
    export_one(c, false, SILK_FEED_CSV, "{\"a\": 2}");
    assert_file(c, "a\r\n1\r\na\r\n2\r\n");
    SILK_ASSERT_CLEAN();
}

static silk_type test_type_thing = SILK_TYPE_INIT("Thing", NULL, sizeof(silk_object), NULL, NULL);

static void test_objects_in_items(void **state)
{
    (void)state;
    silk_request *req = NULL;
    assert_int_equal(silk_request_new("http://example.com/a", &req), 0);
    silk_item *inner = make_item("{\"x\": 1}");
    silk_item *it = make_item("{\"name\": \"n\"}");
    assert_int_equal(silk_item_set(it, "req", silk_value_new_object(req)), 0);
    assert_int_equal(silk_item_set(it, "inner", silk_value_new_object(inner)), 0);

    const char *expect[] = {
        "{\"name\": \"n\", \"req\": \"<Request GET http://example.com/a>\", \"inner\": {\"x\": 1}}\n",
        "name,req,inner\r\nn,<GET http://example.com/a>,{'x': 1}\r\n",
    };
    silk_feed_format fmts[] = { SILK_FEED_JSONLINES, SILK_FEED_CSV };
    for (int k = 0; k < 2; k++) {
        char *mem = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&mem, &len);
        silk_exporter_options eo = { .format = fmts[k] };
        silk_exporter *e = NULL;
        assert_int_equal(silk_exporter_new(f, &eo, &e), 0);
        assert_int_equal(silk_exporter_export_item(e, it), 0);
        assert_int_equal(silk_exporter_close(e), 0);
        fclose(f);
        assert_string_equal(mem, expect[k]);
        free(mem);
    }

    /* an object silk cannot serialise: the item is refused, nothing written */
    silk_object *thing = silk_object_new(&test_type_thing);
    silk_item *bad = make_item("{\"ok\": 1}");
    assert_int_equal(silk_item_set(bad, "thing", silk_value_new_object(thing)), 0);
    silk_unref(thing);
    char *p = tmp_path("objects.json");
    silk_exporter_options eo = { .format = SILK_FEED_JSON };
    silk_exporter *e = NULL;
    assert_int_equal(silk_exporter_open(p, true, &eo, &e), 0);
    assert_int_equal(silk_exporter_export_item(e, bad), SILK_EUNSERIALIZABLE);
    assert_non_null(strstr(silk_last_error(), "Thing"));
    assert_int_equal(silk_exporter_export_item(e, inner), 0);
    assert_int_equal(silk_exporter_export_item(e, bad), SILK_EUNSERIALIZABLE);
    assert_int_equal(silk_exporter_count(e), 1);
    assert_int_equal(silk_exporter_close(e), 0);
    assert_file(p, "[\n{\"x\": 1}\n]");

    /* an item that holds itself: refused, not a stack overflow */
    assert_int_equal(silk_item_set(inner, "self", silk_value_new_object(inner)), 0);
    for (int k = 0; k < 2; k++) {
        silk_exporter_options o2 = { .format = fmts[k] };
        assert_int_equal(silk_exporter_open(p, true, &o2, &e), 0);
        assert_int_equal(silk_exporter_export_item(e, inner), SILK_ELIMIT);
        assert_int_equal(silk_exporter_close(e), 0);
    }
    /* break the cycle so the item can be freed */
    assert_int_equal(silk_dict_del(inner->fields, "self"), 0);

    silk_unref(bad);
    silk_unref(it);
    silk_unref(inner);
    silk_unref(req);
    SILK_ASSERT_CLEAN();
}

static void test_encoding_errors(void **state)
{
    (void)state;
    silk_exporter *e = NULL;
    silk_exporter_options eo = { .format = SILK_FEED_JSON, .encoding = "utf-16" };
    assert_int_equal(silk_exporter_new(stdout, &eo, &e), SILK_ENOTFOUND);
    assert_non_null(strstr(silk_last_error(), "utf-16"));
    assert_null(e);

    /* Python codec aliases */
    const char *ok[] = { "UTF-8", "utf8", "U8", "Latin-1", "ISO-8859-1", "l1", "US-ASCII", "ascii" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        eo.encoding = ok[i];
        assert_int_equal(silk_exporter_new(stdout, &eo, &e), 0);
        assert_int_equal(silk_exporter_close(e), 0);
    }

    char *p = tmp_path("enc.jl");
    silk_exporter_options lat = { .format = SILK_FEED_JSONLINES, .encoding = "latin-1" };
    assert_int_equal(silk_exporter_open(p, true, &lat, &e), 0);
    silk_value *d = decode("{\"a\": \"\\u20ac\"}");
    assert_int_equal(silk_exporter_export_dict(e, d), SILK_EENCODING);
    assert_non_null(strstr(silk_last_error(), "'latin-1' codec can't encode character '\\u20ac'"));
    silk_value_free(d);
    /* invalid UTF-8 in a string */
    d = silk_value_new_dict();
    assert_int_equal(silk_dict_set(d, "a", silk_value_new_stringn("\xff\xfe", 2)), 0);
    assert_int_equal(silk_exporter_export_dict(e, d), SILK_EENCODING);
    silk_value_free(d);
    d = decode("{\"a\": \"\\u00e9\"}");
    assert_int_equal(silk_exporter_export_dict(e, d), 0);
    silk_value_free(d);
    assert_int_equal(silk_exporter_close(e), 0);
    assert_file(p, "{\"a\": \"\xe9\"}\n");

    /* CSV checks UTF-8 too */
    silk_exporter_options csv = { .format = SILK_FEED_CSV };
    assert_int_equal(silk_exporter_open(p, true, &csv, &e), 0);
    d = silk_value_new_dict();
    assert_int_equal(silk_dict_set(d, "a", silk_value_new_stringn("x\xc3", 2)), 0);
    assert_int_equal(silk_exporter_export_dict(e, d), SILK_EENCODING);
    silk_value_free(d);
    assert_int_equal(silk_exporter_close(e), 0);
    assert_file(p, "");

    /* bad options */
    silk_value *fields = decode("[\"a\", 3]");
    silk_exporter_options bad = { .format = SILK_FEED_CSV, .fields = fields };
    assert_int_equal(silk_exporter_new(stdout, &bad, &e), SILK_EINVAL);
    silk_value_free(fields);
    bad = (silk_exporter_options){ .format = SILK_FEED_CSV, .csv_delimiter = '"' };
    assert_int_equal(silk_exporter_new(stdout, &bad, &e), SILK_EINVAL);
    SILK_ASSERT_CLEAN();
}

static void test_bad_paths(void **state)
{
    (void)state;
    silk_exporter *e = NULL;
    silk_exporter_options eo = { .format = SILK_FEED_JSON };
    /* a directory where the file should be */
    assert_int_equal(silk_exporter_open(tmpdir, true, &eo, &e), SILK_EIO);
    assert_non_null(strstr(silk_last_error(), tmpdir));
    assert_null(e);
    /* a parent that is a regular file */
    char *file = tmp_path("plain");
    FILE *f = fopen(file, "w");
    fclose(f);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/x/items.json", file);
    assert_int_equal(silk_exporter_open(sub, true, &eo, &e), SILK_EIO);
    assert_non_null(strstr(silk_last_error(), sub));
    assert_int_equal(silk_exporter_open("", true, &eo, &e), SILK_EINVAL);
    SILK_ASSERT_CLEAN();
}

/* A JSON feed killed with SIGKILL after some items is still a JSON array of
 * those items. */
static void test_json_valid_after_kill(void **state)
{
    (void)state;
    char *p = tmp_path("killed.json");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        silk_exporter_options eo = { .format = SILK_FEED_JSON, .indent = 2 };
        silk_exporter *e = NULL;
        if (silk_exporter_open(p, true, &eo, &e))
            _exit(1);
        for (int i = 0; i < 5; i++) {
            silk_value *d = silk_value_new_dict();
            silk_dict_set_int(d, "i", i);
            silk_dict_set_str(d, "s", "text \"quoted\"");
            silk_exporter_export_dict(e, d);
            silk_value_free(d);
        }
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    size_t n;
    char *data = slurp(p, &n);
    assert_non_null(data);
    silk_value *doc = NULL;
    assert_int_equal(silk_json_decode(data, n, &doc), 0);
    assert_int_equal(silk_list_len(doc), 5);
    assert_int_equal(silk_dict_get_int(silk_list_get(doc, 4), "i", -1), 4);
    silk_value_free(doc);
    free(data);
    SILK_ASSERT_CLEAN();
}

/* ---- the feeds layer ---- */

static silk_settings *settings_with(const char *feeds_json)
{
    silk_settings *s = silk_settings_new();
    assert_non_null(s);
    if (feeds_json)
        assert_int_equal(silk_settings_set_value(s, "FEEDS", decode(feeds_json), SILK_PRIO_PROJECT), 0);
    return s;
}

static void test_feeds_placeholders_and_stats(void **state)
{
    (void)state;
    char feeds[2048];
    snprintf(feeds, sizeof feeds,
             "{\"%s/%%(name)s/%%(category)s.jl\": {\"format\": \"jsonlines\"},"
             " \"file://%s/t-%%(time)s.csv\": {\"format\": \"csv\", \"overwrite\": true},"
             " \"%s/empty.json\": {\"format\": \"json\", \"item_classes\": \"Nothing\"},"
             " \"%s/empty-stored.json\": {\"format\": \"json\", \"store_empty\": true, \"item_classes\": [\"No\"]},"
             " \"%s/pct%%%%41%%(n)05d.json\": {\"format\": \"json\", \"item_classes\": [\"other.Book\"]}}",
             tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    silk_settings *s = settings_with(feeds);
    silk_stats *st = silk_stats_new();
    silk_value *args = decode("{\"category\": \"books\", \"n\": 7}");
    silk_feeds *f = NULL;
    assert_int_equal(silk_feeds_open(s, "quotes", args, st, &f), 0);
    assert_non_null(f);
    assert_int_equal(silk_feeds_count(f), 5);
    silk_item *it = make_item("{\"a\": \"x\"}");
    assert_int_equal(silk_feeds_export(f, it), 0);
    silk_item *book = make_item("{\"b\": 2}");
    silk_free(book->name);
    book->name = silk_strdup("Book");
    assert_int_equal(silk_feeds_export(f, book), 0);
    assert_int_equal(silk_feeds_close(f), 0);

    char *jl = tmp_path("quotes/books.jl");
    assert_file(jl, "{\"a\": \"x\"}\n{\"b\": 2}\n");
    assert_file(tmp_path("empty.json"), ""); /* opened, nothing stored */
    assert_file(tmp_path("empty-stored.json"), "[\n\n]");
    /* %% is a literal '%' and %XX is then percent-decoded, as w3lib's
     * file_uri_to_path does: "pct%41" → "pctA" */
    assert_file(tmp_path("pctA00007.json"), "[\n{\"b\": 2}\n]");
    /* the time placeholder: t-YYYY-MM-DDTHH-MM-SS.csv */
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d)) != NULL) {
        if (!strncmp(de->d_name, "t-", 2) && strlen(de->d_name) == strlen("t-2026-11-23T10-00-00.csv") &&
            de->d_name[12] == 'T' && de->d_name[15] == '-') {
            found = true;
            char *csv = tmp_path(de->d_name);
            /* header from the first item; {b} has no "a": a row of one
             * empty field, which csv writes as "" */
            assert_file(csv, "a\r\nx\r\n\"\"\r\n");
        }
    }
    closedir(d);
    assert_true(found);
    assert_int_equal(silk_stats_get_int(st, "feedexport/success_count/FileFeedStorage", 0), 4);
    silk_stats_free(st);
    silk_value_free(args);
    silk_unref(it);
    silk_unref(book);
    silk_settings_free(s);
    SILK_ASSERT_CLEAN();
}

static void test_feeds_settings_defaults(void **state)
{
    (void)state;
    char feeds[512];
    snprintf(feeds, sizeof feeds, "{\"%s/d.json\": {\"format\": \"json\"}, \"%s/e.json\": {\"format\": "
             "\"json\", \"indent\": null, \"fields\": [\"b\"], \"encoding\": null}}", tmpdir, tmpdir);
    silk_settings *s = settings_with(feeds);
    assert_int_equal(silk_settings_set(s, "FEED_EXPORT_INDENT", "1", SILK_PRIO_CMDLINE), 0);
    assert_int_equal(silk_settings_set(s, "FEED_EXPORT_FIELDS", "a,b", SILK_PRIO_CMDLINE), 0);
    assert_int_equal(silk_settings_set(s, "FEED_EXPORT_ENCODING", "utf-8", SILK_PRIO_CMDLINE), 0);
    silk_feeds *f = NULL;
    assert_int_equal(silk_feeds_open(s, "sp", NULL, NULL, &f), 0);
    silk_item *it = make_item("{\"b\": \"\\u00e9\", \"a\": [1], \"c\": 0}");
    assert_int_equal(silk_feeds_export(f, it), 0);
    assert_int_equal(silk_feeds_close(f), 0);
    assert_file(tmp_path("d.json"), "[\n{\n \"a\": [\n  1\n ],\n \"b\": \"\xc3\xa9\"\n}\n]");
    assert_file(tmp_path("e.json"), "[{\"b\": \"\\u00e9\"}]");
    silk_unref(it);
    silk_settings_free(s);

    /* the deprecated FEED_URI / FEED_FORMAT */
    s = silk_settings_new();
    assert_int_equal(silk_settings_set(s, "FEED_URI", tmp_path("legacy.jl"), SILK_PRIO_CMDLINE), 0);
    assert_int_equal(silk_feeds_open(s, "sp", NULL, NULL, &f), 0);
    it = make_item("{\"z\": null}");
    assert_int_equal(silk_feeds_export(f, it), 0);
    assert_int_equal(silk_feeds_close(f), 0);
    assert_file(tmp_path("legacy.jl"), "{\"z\": null}\n");
    silk_unref(it);
    silk_settings_free(s);

    /* no feed: nothing to do */
    s = silk_settings_new();
    assert_int_equal(silk_feeds_open(s, "sp", NULL, NULL, &f), 0);
    assert_null(f);
    silk_settings_free(s);
    SILK_ASSERT_CLEAN();
}

static void test_feeds_batches(void **state)
{
    (void)state;
    char feeds[512];
    snprintf(feeds, sizeof feeds, "{\"%s/batch-%%(batch_id)02d.jl\": {\"format\": \"jl\", \"batch_item_count\": 2}}",
             tmpdir);
    silk_settings *s = settings_with(feeds);
    silk_stats *st = silk_stats_new();
    silk_feeds *f = NULL;
    assert_int_equal(silk_feeds_open(s, "sp", NULL, st, &f), 0);
    for (int i = 0; i < 5; i++) {
        char json[32];
        snprintf(json, sizeof json, "{\"i\": %d}", i);
        silk_item *it = make_item(json);
        assert_int_equal(silk_feeds_export(f, it), 0);
        silk_unref(it);
    }
    assert_int_equal(silk_feeds_close(f), 0);
    assert_file(tmp_path("batch-01.jl"), "{\"i\": 0}\n{\"i\": 1}\n");
    assert_file(tmp_path("batch-02.jl"), "{\"i\": 2}\n{\"i\": 3}\n");
    assert_file(tmp_path("batch-03.jl"), "{\"i\": 4}\n");
    assert_int_equal(silk_stats_get_int(st, "feedexport/success_count/FileFeedStorage", 0), 3);
    silk_stats_free(st);
    silk_settings_free(s);
    SILK_ASSERT_CLEAN();
}

static void expect_open_error(const char *feeds_json, int code, const char *needle)
{
    silk_settings *s = settings_with(feeds_json);
    silk_feeds *f = NULL;
    int rc = silk_feeds_open(s, "sp", NULL, NULL, &f);
    if (rc != code || !strstr(silk_last_error(), needle)) {
        fprintf(stderr, "FEEDS %s: rc %d, message: %s (wanted %d, '%s')\n", feeds_json, rc, silk_last_error(), code,
                needle);
        fail();
    }
    assert_null(f);
    silk_settings_free(s);
}

static void test_feeds_errors(void **state)
{
    (void)state;
    char buf[1024];
    expect_open_error("{\"x.txt\": {\"format\": \"txt\"}}", SILK_ENOTFOUND, "unknown feed format 'txt'");
    expect_open_error("{\"x.json\": {}}", SILK_EINVAL, "no \"format\"");
    expect_open_error("{\"x.json\": \"json\"}", SILK_ETYPE, "must be a dict");
    expect_open_error("{\"s3://bucket/x.json\": {\"format\": \"json\"}}", SILK_EINVAL, "s3 feed storage");
    expect_open_error("{\"weird://x.json\": {\"format\": \"json\"}}", SILK_EINVAL,
                      "Unknown feed storage scheme: weird");
    expect_open_error("{\"x-%(nope)s.json\": {\"format\": \"json\"}}", SILK_ENOTFOUND, "unknown placeholder %(nope)s");
    expect_open_error("{\"x-%(name)d.json\": {\"format\": \"json\"}}", SILK_ETYPE, "needs a number");
    expect_open_error("{\"a%20b.json\": {\"format\": \"json\"}}", SILK_EINVAL, "write %% for a literal %");
    expect_open_error("{\"x.json\": {\"format\": \"json\", \"batch_item_count\": 3}}", SILK_EINVAL,
                      "%(batch_time)s or %(batch_id)d must be in the feed URI (x.json)");
    expect_open_error("{\"x.json\": {\"format\": \"json\", \"postprocessing\": []}}", SILK_EINVAL,
                      "'postprocessing' is not supported");
    expect_open_error("{\"x.json\": {\"format\": \"json\", \"item_export_kwargs\": {\"sort_keys\": true}}}",
                      SILK_EINVAL, "'sort_keys' is not supported for json");
    expect_open_error("{\"x.json\": {\"format\": \"json\", \"encoding\": \"koi8-r\"}}", SILK_ENOTFOUND,
                      "feed x.json: feed encoding 'koi8-r' is not supported");
    expect_open_error("{\"x.json\": {\"format\": \"json\", \"indent\": \"wide\"}}", SILK_ETYPE, "indent");
    /* a path that cannot be opened: named, and nothing is left open */
    snprintf(buf, sizeof buf, "{\"%s/ok.jl\": {\"format\": \"jl\"}, \"%s\": {\"format\": \"json\"}}", tmpdir, tmpdir);
    char needle[300];
    snprintf(needle, sizeof needle, "cannot open feed file %s", tmpdir);
    expect_open_error(buf, SILK_EIO, needle);
    SILK_ASSERT_CLEAN();
}

static void assert_feeds(const silk_settings *s, const char *expected_json)
{
    silk_value *got = NULL, *want = decode(expected_json);
    assert_int_equal(silk_settings_get_dict(s, "FEEDS", &got), 0);
    if (!silk_value_equal(got, want)) {
        char *g = NULL;
        silk_json_dumps(got, SILK_JSON_PY_SEPARATORS, &g);
        fprintf(stderr, "FEEDS = %s\nwanted  %s\n", g, expected_json);
        silk_free(g);
        fail();
    }
    silk_value_free(got);
    silk_value_free(want);
}

static void test_cli_arguments(void **state)
{
    (void)state;
    silk_settings *s = silk_settings_new();
    assert_int_equal(silk_feeds_add_cli(s, "items.json", false), 0);
    assert_int_equal(silk_feeds_add_cli(s, "out/x.csv:jsonl", false), 0);
    assert_int_equal(silk_feeds_add_cli(s, "-:jl", false), 0);
    assert_int_equal(silk_feeds_add_cli(s, "file:///tmp/y.jsonlines.csv", false), 0);
    assert_feeds(s, "{\"items.json\": {\"format\": \"json\"}, \"out/x.csv\": {\"format\": \"jsonl\"},"
                    " \"stdout:\": {\"format\": \"jl\"}, \"file:///tmp/y.jsonlines.csv\": {\"format\": \"csv\"}}");
    assert_int_equal(silk_settings_priority(s, "FEEDS"), SILK_PRIO_CMDLINE);
    silk_settings_free(s);

    s = silk_settings_new();
    assert_int_equal(silk_feeds_add_cli(s, "a.jl", true), 0);
    assert_feeds(s, "{\"a.jl\": {\"format\": \"jl\", \"overwrite\": true}}");
    silk_settings_free(s);

    /* a FEEDS entry for the same URI wins over the command line */
    s = settings_with("{\"a.jl\": {\"format\": \"csv\", \"fields\": [\"x\"]}}");
    assert_int_equal(silk_feeds_add_cli(s, "a.jl", true), 0);
    assert_int_equal(silk_feeds_add_cli(s, "b.json", true), 0);
    assert_feeds(s, "{\"a.jl\": {\"format\": \"csv\", \"fields\": [\"x\"]},"
                    " \"b.json\": {\"format\": \"json\", \"overwrite\": true}}");
    silk_settings_free(s);

    s = silk_settings_new();
    const char *bad[] = { "items.txt", "items", "x.json:xml", ".json", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = silk_feeds_add_cli(s, bad[i], false);
        assert_true(rc == SILK_ENOTFOUND || rc == SILK_EINVAL);
    }
    assert_int_equal(silk_feeds_add_cli(s, "items.txt", false), SILK_ENOTFOUND);
    assert_non_null(strstr(silk_last_error(), "Unrecognized output format 'txt'"));
    assert_feeds(s, "{}");
    silk_settings_free(s);
    SILK_ASSERT_CLEAN();
}

static int export_rich_once(void)
{
    silk_value *items = NULL;
    int rc = silk_json_decode(feed_cases[0].items, strlen(feed_cases[0].items), &items);
    if (rc)
        return rc;
    static const silk_feed_format fmts[] = { SILK_FEED_JSON, SILK_FEED_CSV, SILK_FEED_JSONLINES };
    for (int k = 0; k < 3 && !rc; k++) {
        char *mem = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&mem, &len);
        silk_exporter_options eo = { .format = fmts[k], .indent = 2 };
        silk_exporter *e = NULL;
        rc = silk_exporter_new(f, &eo, &e);
        for (size_t i = 0; !rc && i < silk_list_len(items); i++)
            rc = silk_exporter_export_dict(e, silk_list_get(items, i));
        int rc2 = silk_exporter_close(e);
        if (!rc)
            rc = rc2;
        fclose(f);
        free(mem);
    }
    silk_value_free(items);
    return rc;
}

static int feeds_open_once(void)
{
    char feeds[512];
    snprintf(feeds, sizeof feeds, "{\"%s/af-%%(name)s.json\": {\"format\": \"json\", \"fields\": {\"a\": \"A\"}}}",
             tmpdir);
    silk_settings *s = silk_settings_new();
    if (!s)
        return SILK_ENOMEM;
    silk_value *v = NULL;
    int rc = silk_json_decode(feeds, strlen(feeds), &v);
    if (!rc)
        rc = silk_settings_set_value(s, "FEEDS", v, SILK_PRIO_PROJECT);
    if (!rc)
        rc = silk_feeds_add_cli(s, tmp_path("af.csv"), true);
    silk_feeds *f = NULL;
    if (!rc)
        rc = silk_feeds_open(s, "sp", NULL, NULL, &f);
    silk_item *it = rc ? NULL : silk_item_new(NULL);
    if (!rc && !it)
        rc = SILK_ENOMEM;
    if (!rc)
        rc = silk_item_set_str(it, "a", "x");
    if (!rc)
        rc = silk_feeds_export(f, it);
    int rc2 = silk_feeds_close(f);
    if (!rc)
        rc = rc2;
    silk_unref(it);
    silk_settings_free(s);
    return rc;
}

static void quiet(silk_log_level level, const char *logger, const char *msg, void *arg)
{
    (void)level, (void)logger, (void)msg, (void)arg;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    silk_log_set_sink(quiet, NULL);
    SILK_FOR_EACH_ALLOC_FAILURE(export_rich_once());
    SILK_FOR_EACH_ALLOC_FAILURE(feeds_open_once());
    silk_log_set_sink(NULL, NULL);
    SILK_ASSERT_CLEAN();
}


/* ---- end to end: crawls of the embedded site ---- */

#define PAGES 40

static silk_testserver *server;
static char start_url[128];
static int items_before_sigint;
static int items_seen;

static int e2e_parse(silk_ctx *ctx, silk_response *resp)
{
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

/* Ctrl-C in the middle of the crawl, from inside the loop */
static void on_item(silk_crawler *c, const silk_signal_args *a, void *arg)
{
    (void)c, (void)a, (void)arg;
    if (++items_seen == items_before_sigint)
        raise(SIGINT);
}

static int e2e_open(silk_spider *sp)
{
    items_seen = 0;
    return items_before_sigint ? silk_signal_connect(silk_spider_crawler(sp), SILK_SIG_ITEM_SCRAPED, on_item, NULL)
                               : 0;
}

static silk_settings *crawl_settings(const char *feeds_json)
{
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", "ERROR", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "CONCURRENT_REQUESTS", "4", SILK_PRIO_CMDLINE);
    if (feeds_json)
        assert_int_equal(silk_settings_set(s, "FEEDS", feeds_json, SILK_PRIO_CMDLINE), 0);
    return s;
}

/* Runs the spider; returns silk_process_run's code. *p stays for the stats. */
static int crawl(silk_settings *s, silk_process **p, silk_crawler **c)
{
    static silk_spider_def def;
    def = (silk_spider_def){
        .name = "shop",
        .start_urls = SILK_LIST(start_url),
        .allowed_domains = SILK_LIST("127.0.0.1"),
        .parse = e2e_parse,
        .open = e2e_open,
    };
    assert_int_equal(silk_process_new(s, p), 0);
    assert_int_equal(silk_process_crawl(*p, &def, NULL, NULL, c), 0);
    return silk_process_run(*p);
}

static void start_server(void)
{
    silk_testserver_options opt = { 0 };
    opt.pages = PAGES;
    assert_int_equal(silk_testserver_start_thread(&opt, &server), 0);
    snprintf(start_url, sizeof start_url, "%s/", silk_testserver_url(server));
}

static void stop_server(void)
{
    silk_testserver_free(server);
    server = NULL;
}

static silk_value *read_json(const char *path)
{
    size_t n;
    char *data = slurp(path, &n);
    assert_non_null(data);
    silk_value *v = NULL;
    int rc = silk_json_decode(data, n, &v);
    if (rc)
        fprintf(stderr, "%s is not JSON: %s\n%s\n", path, silk_last_error(), data);
    assert_int_equal(rc, 0);
    free(data);
    return v;
}

static size_t count_lines(const char *path)
{
    size_t n, lines = 0;
    char *data = slurp(path, &n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        lines += data[i] == '\n';
    free(data);
    return lines;
}

static void test_crawl_writes_feeds(void **state)
{
    (void)state;
    start_server();
    items_before_sigint = 0;
    char feeds[1024];
    snprintf(feeds, sizeof feeds,
             "{\"%s/crawl/%%(name)s.json\": {\"format\": \"json\", \"overwrite\": true},"
             " \"%s/crawl/%%(name)s.csv\": {\"format\": \"csv\", \"fields\": [\"price\", \"title\"]}}",
             tmpdir, tmpdir);
    silk_settings *s = crawl_settings(feeds);
    /* -o as the command line gives it */
    assert_int_equal(silk_feeds_add_cli(s, tmp_path("crawl/o.jl"), false), 0);
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(crawl(s, &p, &c), 0);
    assert_string_equal(silk_crawler_finish_reason(c), "finished");
    silk_stats *st = silk_crawler_stats(c);
    assert_int_equal(silk_stats_get_int(st, "item_scraped_count", 0), PAGES);
    assert_int_equal(silk_stats_get_int(st, "feedexport/success_count/FileFeedStorage", 0), 3);

    silk_value *doc = read_json(tmp_path("crawl/shop.json"));
    assert_int_equal(silk_list_len(doc), PAGES);
    for (size_t i = 0; i < PAGES; i++) {
        const silk_value *it = silk_list_get(doc, i);
        assert_non_null(strstr(silk_dict_get_str(it, "url", ""), "/p/"));
        assert_non_null(silk_dict_get_str(it, "title", NULL));
        assert_int_equal(silk_dict_get_str(it, "price", "")[0], '$');
    }
    silk_value_free(doc);
    assert_int_equal(count_lines(tmp_path("crawl/o.jl")), PAGES);
    assert_int_equal(count_lines(tmp_path("crawl/shop.csv")), PAGES + 1);
    size_t n;
    char *csv = slurp(tmp_path("crawl/shop.csv"), &n);
    assert_memory_equal(csv, "price,title\r\n$", 14);
    free(csv);
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

static void test_crawl_bad_feed_path_stops_before_requests(void **state)
{
    (void)state;
    start_server();
    items_before_sigint = 0;
    char feeds[512];
    char *file = tmp_path("not-a-dir");
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(feeds, sizeof feeds, "{\"%s/items.json\": {\"format\": \"json\"}}", file);
    silk_settings *s = crawl_settings(feeds);
    silk_process *p;
    silk_crawler *c;
    silk_log_set_sink(quiet, NULL);
    int rc = crawl(s, &p, &c);
    silk_log_set_sink(NULL, NULL);
    assert_int_equal(rc, SILK_EIO);
    assert_int_equal(silk_crawler_error(c), SILK_EIO);
    silk_stats *st = silk_crawler_stats(c);
    assert_int_equal(silk_stats_get_int(st, "downloader/request_count", 0), 0);
    assert_int_equal(silk_stats_get_int(st, "scheduler/enqueued", 0), 0);
    silk_process_free(p);
    silk_settings_free(s);
    stop_server();
    SILK_ASSERT_CLEAN();
}

static void test_crawl_sigint_leaves_valid_feeds(void **state)
{
    (void)state;
    start_server();
    items_before_sigint = 5;
    char feeds[1024];
    snprintf(feeds, sizeof feeds,
             "{\"%s/int/a.json\": {\"format\": \"json\", \"indent\": 2}, \"%s/int/a.jl\": {\"format\": \"jl\"},"
             " \"%s/int/a.csv\": {\"format\": \"csv\"}}",
             tmpdir, tmpdir, tmpdir);
    silk_settings *s = crawl_settings(feeds);
    silk_settings_set(s, "CONCURRENT_REQUESTS", "1", SILK_PRIO_CMDLINE);
    silk_process *p;
    silk_crawler *c;
    silk_log_set_sink(quiet, NULL);
    assert_int_equal(crawl(s, &p, &c), 0);
    silk_log_set_sink(NULL, NULL);
    assert_string_equal(silk_crawler_finish_reason(c), "shutdown");
    silk_stats *st = silk_crawler_stats(c);
    int64_t scraped = silk_stats_get_int(st, "item_scraped_count", 0);
    assert_true(scraped >= 5 && scraped < PAGES);
    silk_value *doc = read_json(tmp_path("int/a.json"));
    assert_int_equal(silk_list_len(doc), (size_t)scraped);
    silk_value_free(doc);
    assert_int_equal(count_lines(tmp_path("int/a.jl")), (size_t)scraped);
    assert_int_equal(count_lines(tmp_path("int/a.csv")), (size_t)scraped + 1);
    assert_int_equal(silk_stats_get_int(st, "feedexport/success_count/FileFeedStorage", 0), 3);
    silk_process_free(p);
    silk_settings_free(s);
    items_before_sigint = 0;
    stop_server();
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrapy_bytes),
        cmocka_unit_test(test_append_and_overwrite),
        cmocka_unit_test(test_objects_in_items),
        cmocka_unit_test(test_encoding_errors),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_json_valid_after_kill),
        cmocka_unit_test(test_feeds_placeholders_and_stats),
        cmocka_unit_test(test_feeds_settings_defaults),
        cmocka_unit_test(test_feeds_batches),
        cmocka_unit_test(test_feeds_errors),
        cmocka_unit_test(test_cli_arguments),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_crawl_writes_feeds),
        cmocka_unit_test(test_crawl_sigint_leaves_valid_feeds),
        cmocka_unit_test(test_crawl_bad_feed_path_stops_before_requests),
    };
    return cmocka_run_group_tests_name("feeds", tests, setup, teardown);
}
