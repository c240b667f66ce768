/* silk — feed exports: the FEEDS setting, URI placeholders, file and stdout
 * storage, batches, and the FeedExporter extension (Scrapy 2.8's
 * scrapy/extensions/feedexport.py and scrapy/utils/conf.py). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/feeds.h"
#include "silk/log.h"

#define LOGGER "silk.extensions.feedexport"

typedef enum storage_kind {
    STORE_FILE,
    STORE_STDOUT,
} storage_kind;

/* One FEEDS entry with the FEED_* defaults filled in. */
typedef struct feed_conf {
    char *uri_template;
    char *format_name; /* as given: "jl", "jsonl", ... (the log shows it) */
    silk_feed_format format;
    char *encoding;     /* NULL = unset */
    silk_value *fields; /* NULL = all */
    int indent;
    bool overwrite, store_empty;
    int64_t batch_item_count;
    bool csv_no_header;
    char *csv_join;
    char csv_delimiter;
    silk_value *item_classes; /* list of names, or NULL = every item */
} feed_conf;

/* An open batch of a feed (Scrapy's _FeedSlot). */
typedef struct feed_slot {
    feed_conf *conf;
    char *uri;
    storage_kind storage;
    silk_exporter *exp;
    int batch_id;
    size_t itemcount;
    int error; /* the first write error: the store fails */
} feed_slot;

struct silk_feeds {
    feed_conf *confs;
    feed_slot *slots; /* one per conf; slots[i].exp NULL once it failed */
    size_t n;
    silk_stats *stats;
    char *spider_name;
    silk_value *spider_args;
};

/* ---- option parsing ---- */

/* Re-records the last error with "feed URI: " in front. */
static int feed_error(int rc, const char *uri)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", silk_last_error());
    return silk_error(rc, "feed %s: %s", uri, msg);
}

static void conf_free(feed_conf *c)
{
    silk_free(c->uri_template);
    silk_free(c->format_name);
    silk_free(c->encoding);
    silk_value_free(c->fields);
    silk_free(c->csv_join);
    silk_value_free(c->item_classes);
}

static int opt_bool(const silk_value *v, const char *uri, const char *name, bool *out)
{
    if (v->kind == SILK_V_BOOL) {
        *out = v->u.b;
        return 0;
    }
    if (v->kind == SILK_V_INT && (v->u.i == 0 || v->u.i == 1)) {
        *out = v->u.i;
        return 0;
    }
    if (v->kind == SILK_V_STRING) {
        const char *s = v->u.s.ptr;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1")) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "0")) {
            *out = false;
            return 0;
        }
    }
    return silk_error(SILK_ETYPE, "feed %s: option %s: expected a boolean, got a %s", uri, name,
                      silk_value_kind_name(v->kind));
}

/* An indent value: null / "None" is None, an integer is itself. */
static int parse_indent(const silk_value *v, const char *what, int *out)
{
    int64_t n = 0;
    if (!v || v->kind == SILK_V_NULL ||
        (v->kind == SILK_V_STRING && (!strcmp(v->u.s.ptr, "None") || !strcmp(v->u.s.ptr, "null")))) {
        *out = SILK_FEED_INDENT_NONE;
        return 0;
    }
    if (v->kind == SILK_V_INT) {
        n = v->u.i;
    } else {
        char *end = NULL;
        if (v->kind == SILK_V_STRING && v->u.s.len)
            n = strtoll(v->u.s.ptr, &end, 10);
        if (!end || *end)
            return silk_error(SILK_ETYPE, "%s: expected an integer or null for the indent", what);
    }
    if (n > 64 || n < -64)
        return silk_error(SILK_ERANGE, "%s: indent %lld is out of range", what, (long long)n);
    *out = n > 0 ? (int)n : 0; /* negative indents behave as 0 in Scrapy */
    return 0;
}

/* getdictorlist: a dict or list stays one, JSON text is decoded, "a,b" splits. */
static int settings_fields(const silk_settings *s, silk_value **out)
{
    const silk_value *v = silk_settings_get(s, "FEED_EXPORT_FIELDS");
    *out = NULL;
    if (!v)
        return 0;
    if (v->kind == SILK_V_DICT || v->kind == SILK_V_LIST) {
        if (!(*out = silk_value_copy(v)))
            return SILK_ENOMEM;
    } else if (v->kind == SILK_V_STRING) {
        const char *t = v->u.s.ptr;
        while (*t == ' ' || *t == '\t')
            t++;
        int rc = *t == '{' ? silk_settings_get_dict(s, "FEED_EXPORT_FIELDS", out)
                           : silk_settings_get_list(s, "FEED_EXPORT_FIELDS", out);
        if (rc)
            return rc;
    } else {
        return silk_error(SILK_ETYPE, "setting FEED_EXPORT_FIELDS: expected a list or a dict, got a %s",
                          silk_value_kind_name(v->kind));
    }
    /* `getdictorlist(...) or None`: empty means every field */
    if (!((*out)->kind == SILK_V_DICT ? (*out)->u.dict.len : (*out)->u.list.len)) {
        silk_value_free(*out);
        *out = NULL;
    }
    return 0;
}

static int parse_export_kwargs(feed_conf *c, const silk_value *kw)
{
    if (kw->kind != SILK_V_DICT)
        return silk_error(SILK_ETYPE, "feed %s: item_export_kwargs must be a dict", c->uri_template);
    for (size_t i = 0; i < kw->u.dict.len; i++) {
        const char *k = kw->u.dict.entries[i].key;
        const silk_value *v = kw->u.dict.entries[i].value;
        int rc = 0;
        bool known_csv = !strcmp(k, "include_headers_line") || !strcmp(k, "join_multivalued") ||
                         !strcmp(k, "delimiter");
        if (!known_csv || c->format != SILK_FEED_CSV)
            return silk_error(SILK_EINVAL,
                              "feed %s: item_export_kwargs '%s' is not supported for %s (silk supports "
                              "include_headers_line, join_multivalued and delimiter for csv)",
                              c->uri_template, k, c->format_name);
        if (!strcmp(k, "include_headers_line")) {
            bool b;
            if ((rc = opt_bool(v, c->uri_template, k, &b)))
                return rc;
            c->csv_no_header = !b;
        } else if (!strcmp(k, "join_multivalued")) {
            if (v->kind != SILK_V_STRING)
                return silk_error(SILK_ETYPE, "feed %s: join_multivalued must be a string", c->uri_template);
            silk_free(c->csv_join);
            if (!(c->csv_join = silk_strdup(v->u.s.ptr)))
                return SILK_ENOMEM;
        } else {
            if (v->kind != SILK_V_STRING || v->u.s.len != 1)
                return silk_error(SILK_ETYPE, "feed %s: delimiter must be a 1-character string",
                                  c->uri_template);
            c->csv_delimiter = v->u.s.ptr[0];
        }
    }
    return 0;
}

/* feed_complete_default_values_from_settings, plus checks Scrapy makes
 * when the exporter is created. */
static int parse_conf(const silk_settings *s, const char *uri, const silk_value *opts, feed_conf *c)
{
    int rc;
    const silk_value *v;
    memset(c, 0, sizeof *c);
    if (!(c->uri_template = silk_strdup(uri)))
        return SILK_ENOMEM;
    if (!opts || opts->kind != SILK_V_DICT)
        return silk_error(SILK_ETYPE, "feed %s: its options must be a dict like {\"format\": \"json\"}", uri);

    v = silk_dict_get(opts, "format");
    if (!v || v->kind != SILK_V_STRING)
        return silk_error(SILK_EINVAL, "feed %s: no \"format\" given (json, jsonlines, jsonl, jl or csv)", uri);
    if ((rc = silk_feed_format_parse(v->u.s.ptr, &c->format)))
        return silk_error(rc, "feed %s: unknown feed format '%s' (silk writes json, jsonlines, jsonl, jl "
                              "and csv)", uri, v->u.s.ptr);
    if (!(c->format_name = silk_strdup(v->u.s.ptr)))
        return SILK_ENOMEM;

    static const char *const known[] = { "format", "overwrite", "encoding", "fields", "indent", "store_empty",
                                         "batch_item_count", "item_export_kwargs", "item_classes", NULL };
    static const char *const refused[] = { "postprocessing", "item_filter", "uri_params", NULL };
    for (size_t i = 0; i < opts->u.dict.len; i++) {
        const char *k = opts->u.dict.entries[i].key;
        bool ok = false;
        for (const char *const *r = refused; *r; r++)
            if (!strcmp(k, *r))
                return silk_error(SILK_EINVAL, "feed %s: option '%s' is not supported by silk", uri, k);
        for (const char *const *kn = known; *kn && !ok; kn++)
            ok = !strcmp(k, *kn);
        if (!ok)
            silk_log(SILK_LOG_WARNING, LOGGER, "feed %s: unknown option '%s' ignored", uri, k);
    }

    c->overwrite = false;
    if ((v = silk_dict_get(opts, "overwrite")) && v->kind != SILK_V_NULL &&
        (rc = opt_bool(v, uri, "overwrite", &c->overwrite)))
        return rc;

    if ((v = silk_dict_get(opts, "store_empty")) && v->kind != SILK_V_NULL) {
        if ((rc = opt_bool(v, uri, "store_empty", &c->store_empty)))
            return rc;
    } else if ((rc = silk_settings_get_bool(s, "FEED_STORE_EMPTY", &c->store_empty)) && rc != SILK_ENOTFOUND) {
        return rc;
    }

    if ((v = silk_dict_get(opts, "batch_item_count"))) {
        if (v->kind != SILK_V_INT || v->u.i < 0)
            return silk_error(SILK_ETYPE, "feed %s: batch_item_count must be a non-negative integer", uri);
        c->batch_item_count = v->u.i;
    } else if ((rc = silk_settings_get_int(s, "FEED_EXPORT_BATCH_ITEM_COUNT", &c->batch_item_count)) &&
               rc != SILK_ENOTFOUND) {
        return rc;
    }
    if (c->batch_item_count > 0 && !strstr(uri, "%(batch_time)s") && !strstr(uri, "%(batch_id)"))
        return silk_error(SILK_EINVAL,
                          "%%(batch_time)s or %%(batch_id)d must be in the feed URI (%s) if "
                          "FEED_EXPORT_BATCH_ITEM_COUNT setting or FEEDS.batch_item_count is specified and "
                          "greater than 0",
                          uri);

    if ((v = silk_dict_get(opts, "encoding"))) {
        if (v->kind == SILK_V_STRING) {
            if (!(c->encoding = silk_strdup(v->u.s.ptr)))
                return SILK_ENOMEM;
        } else if (v->kind != SILK_V_NULL) {
            return silk_error(SILK_ETYPE, "feed %s: encoding must be a string or null", uri);
        }
    } else {
        const char *enc = NULL;
        if ((rc = silk_settings_get_str(s, "FEED_EXPORT_ENCODING", &enc)) && rc != SILK_ENOTFOUND)
            return rc;
        if (enc && !(c->encoding = silk_strdup(enc)))
            return SILK_ENOMEM;
    }

    if ((v = silk_dict_get(opts, "fields"))) {
        if (v->kind != SILK_V_NULL && !(c->fields = silk_value_copy(v)))
            return SILK_ENOMEM;
    } else if ((rc = settings_fields(s, &c->fields))) {
        return rc;
    }

    if ((v = silk_dict_get(opts, "indent"))) {
        if ((rc = parse_indent(v, "option indent", &c->indent)))
            return feed_error(rc, uri);
    } else if ((rc = parse_indent(silk_settings_get(s, "FEED_EXPORT_INDENT"), "setting FEED_EXPORT_INDENT",
                                  &c->indent))) {
        return rc;
    }

    if ((v = silk_dict_get(opts, "item_export_kwargs")) && v->kind != SILK_V_NULL &&
        (rc = parse_export_kwargs(c, v)))
        return rc;

    if ((v = silk_dict_get(opts, "item_classes")) && v->kind != SILK_V_NULL) {
        if (v->kind == SILK_V_STRING) {
            silk_value *l = silk_value_new_list();
            if (!l || silk_list_push(l, silk_value_copy(v))) {
                silk_value_free(l);
                return SILK_ENOMEM;
            }
            c->item_classes = l;
        } else if (v->kind == SILK_V_LIST) {
            for (size_t i = 0; i < v->u.list.len; i++)
                if (v->u.list.items[i]->kind != SILK_V_STRING)
                    return silk_error(SILK_ETYPE, "feed %s: item_classes must list item names", uri);
            if (!(c->item_classes = silk_value_copy(v)))
                return SILK_ENOMEM;
        } else {
            return silk_error(SILK_ETYPE, "feed %s: item_classes must list item names", uri);
        }
    }

    /* the exporter's own checks (fields, encoding, delimiter) now, not at
     * the first item */
    silk_exporter_options eo = { .format = c->format, .encoding = c->encoding, .fields = c->fields,
                                 .indent = c->indent, .csv_no_header = c->csv_no_header,
                                 .csv_join = c->csv_join, .csv_delimiter = c->csv_delimiter };
    FILE *null_stream = stdout; /* never written: the exporter is freed unstarted */
    silk_exporter *probe = NULL;
    if ((rc = silk_exporter_new(null_stream, &eo, &probe)))
        return rc == SILK_ENOMEM ? rc : feed_error(rc, uri);
    return silk_exporter_close(probe);
}

/* ---- URIs ---- */

static int utc_params(char *time_s, size_t tn, char *batch_time, size_t bn)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    time_t secs = ts.tv_sec;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H-%M-%S", &tm);
    snprintf(time_s, tn, "%.31s", base);
    int usec = (int)(ts.tv_nsec / 1000) % 1000000;
    /* datetime.isoformat() leaves out a zero microsecond part */
    if (usec)
        snprintf(batch_time, bn, "%.31s.%06d", base, usec);
    else
        snprintf(batch_time, bn, "%.31s", base);
    return 0;
}

/* uri % params, Python's %-formatting with a mapping, for the conversions a
 * URI uses: s, r, d, i with flags, width and precision, and %%. */
static int expand_uri(const silk_feeds *f, const char *tmpl, int batch_id, char **out)
{
    silk_buf b = SILK_BUF_INIT;
    char time_s[64], batch_time[64];
    int rc = 0;
    utc_params(time_s, sizeof time_s, batch_time, sizeof batch_time);
    *out = NULL;
    for (const char *p = tmpl; *p;) {
        if (*p != '%') {
            silk_buf_putc(&b, *p++);
            continue;
        }
        if (p[1] == '%') {
            silk_buf_putc(&b, '%');
            p += 2;
            continue;
        }
        if (p[1] != '(') {
            rc = silk_error(SILK_EINVAL,
                            "feed URI %s: a '%%' that is not a %%(name)s placeholder (write %%%% for a "
                            "literal %%)",
                            tmpl);
            goto out;
        }
        const char *kstart = p + 2, *kend = strchr(kstart, ')');
        if (!kend) {
            rc = silk_error(SILK_EINVAL, "feed URI %s: unterminated placeholder", tmpl);
            goto out;
        }
        const char *q = kend + 1;
        char spec[32];
        size_t sn = 0;
        spec[sn++] = '%';
        while (*q && strchr("-+ #0", *q) && sn < 8)
            spec[sn++] = *q++;
        while (*q >= '0' && *q <= '9' && sn < 16)
            spec[sn++] = *q++;
        if (*q == '.') {
            spec[sn++] = *q++;
            while (*q >= '0' && *q <= '9' && sn < 24)
                spec[sn++] = *q++;
        }
        char conv = *q;
        if (!conv || !strchr("sdir", conv)) {
            rc = silk_error(SILK_EINVAL, "feed URI %s: unsupported format character '%c' in a placeholder",
                            tmpl, conv ? conv : ' ');
            goto out;
        }
        q++;
        size_t klen = (size_t)(kend - kstart);
        char key[128];
        if (klen >= sizeof key) {
            rc = silk_error(SILK_EINVAL, "feed URI %s: placeholder name too long", tmpl);
            goto out;
        }
        memcpy(key, kstart, klen);
        key[klen] = '\0';

        const char *sval = NULL;
        bool is_int = false;
        long long ival = 0;
        const silk_value *arg = NULL;
        if (!strcmp(key, "batch_id")) {
            is_int = true;
            ival = batch_id;
        } else if (!strcmp(key, "time")) {
            sval = time_s;
        } else if (!strcmp(key, "batch_time")) {
            sval = batch_time;
        } else if (!strcmp(key, "name")) {
            sval = f->spider_name ? f->spider_name : "";
        } else if (f->spider_args && (arg = silk_dict_get(f->spider_args, key)) != NULL) {
            if (arg->kind == SILK_V_STRING) {
                sval = arg->u.s.ptr;
            } else if (arg->kind == SILK_V_INT) {
                is_int = true;
                ival = arg->u.i;
            } else {
                rc = silk_error(SILK_ETYPE, "feed URI %s: spider argument '%s' is not a string", tmpl, key);
                goto out;
            }
        } else {
            rc = silk_error(SILK_ENOTFOUND,
                            "feed URI %s: unknown placeholder %%(%s)s (known: name, time, batch_time, batch_id "
                            "and the spider's -a arguments)",
                            tmpl, key);
            goto out;
        }
        if (conv == 'd' || conv == 'i') {
            if (!is_int) {
                rc = silk_error(SILK_ETYPE, "feed URI %s: %%(%s)%c needs a number, '%s' is not one", tmpl, key,
                                conv, sval);
                goto out;
            }
            spec[sn++] = 'l';
            spec[sn++] = 'l';
            spec[sn++] = 'd';
            spec[sn] = '\0';
            silk_buf_printf(&b, spec, ival);
        } else {
            char num[32];
            if (is_int) {
                snprintf(num, sizeof num, "%lld", ival);
                sval = num;
            }
            if (conv == 'r') {
                rc = silk_error(SILK_EINVAL, "feed URI %s: %%(%s)r is not supported, use %%(%s)s", tmpl, key,
                                key);
                goto out;
            }
            spec[sn++] = 's';
            spec[sn] = '\0';
            silk_buf_printf(&b, spec, sval);
        }
        p = q;
    }
    if (b.err) {
        rc = SILK_ENOMEM;
        goto out;
    }
    if (!(*out = silk_buf_detach(&b)))
        rc = SILK_ENOMEM;
out:
    silk_buf_free(&b);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* urlparse(uri): the scheme (lower-cased into scheme) and, for file
 * storage, w3lib's file_uri_to_path (url2pathname(urlparse(uri).path)). */
static int parse_uri(const char *uri, char *scheme, size_t scap, char **path)
{
    const char *rest = uri;
    scheme[0] = '\0';
    *path = NULL;
    const char *colon = strchr(uri, ':');
    if (colon && colon > uri && ((*uri >= 'a' && *uri <= 'z') || (*uri >= 'A' && *uri <= 'Z'))) {
        bool ok = true;
        for (const char *p = uri; p < colon && ok; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '+' || *p == '-' || *p == '.';
        if (ok) {
            size_t n = (size_t)(colon - uri);
            if (n >= scap)
                n = scap - 1;
            for (size_t i = 0; i < n; i++)
                scheme[i] = (char)((uri[i] >= 'A' && uri[i] <= 'Z') ? uri[i] + 32 : uri[i]);
            scheme[n] = '\0';
            rest = colon + 1;
        }
    }
    if (scheme[0] && strcmp(scheme, "file") != 0)
        return 0;
    if (rest[0] == '/' && rest[1] == '/') {
        rest += 2;
        rest += strcspn(rest, "/?#");
    }
    size_t end = strcspn(rest, "?#");
    /* params: a ';' in the last path segment */
    const char *last_slash = NULL;
    for (const char *p = rest; p < rest + end; p++)
        if (*p == '/')
            last_slash = p;
    const char *semi = memchr(last_slash ? last_slash : rest, ';', (size_t)(rest + end - (last_slash ? last_slash : rest)));
    if (semi)
        end = (size_t)(semi - rest);
    /* unquote: %XX sequences as bytes (UTF-8 file names stay UTF-8) */
    char *p = silk_malloc(end + 1);
    if (!p)
        return SILK_ENOMEM;
    size_t w = 0;
    for (size_t i = 0; i < end; i++) {
        if (rest[i] == '%' && i + 2 < end && hexval(rest[i + 1]) >= 0 && hexval(rest[i + 2]) >= 0) {
            p[w++] = (char)(hexval(rest[i + 1]) * 16 + hexval(rest[i + 2]));
            i += 2;
        } else {
            p[w++] = rest[i];
        }
    }
    p[w] = '\0';
    *path = p;
    return 0;
}

/* ---- slots ---- */

static const char *storage_name(storage_kind k)
{
    return k == STORE_STDOUT ? "StdoutFeedStorage" : "FileFeedStorage";
}

static int slot_open(silk_feeds *f, feed_conf *c, int batch_id, feed_slot *slot)
{
    int rc;
    char scheme[32], *path = NULL;
    memset(slot, 0, sizeof *slot);
    slot->conf = c;
    slot->batch_id = batch_id;
    if ((rc = expand_uri(f, c->uri_template, batch_id, &slot->uri)))
        return rc;
    if ((rc = parse_uri(slot->uri, scheme, sizeof scheme, &path)))
        goto err;
    silk_exporter_options eo = { .format = c->format, .encoding = c->encoding, .fields = c->fields,
                                 .indent = c->indent, .csv_no_header = c->csv_no_header,
                                 .csv_join = c->csv_join, .csv_delimiter = c->csv_delimiter };
    if (!strcmp(scheme, "stdout")) {
        slot->storage = STORE_STDOUT;
        if (c->overwrite)
            silk_log(SILK_LOG_WARNING, LOGGER,
                     "Standard output (stdout) storage does not support overwriting. To suppress this "
                     "warning, remove the overwrite option from your FEEDS setting, or set it to False.");
        rc = silk_exporter_new(stdout, &eo, &slot->exp);
    } else if (!scheme[0] || !strcmp(scheme, "file")) {
        slot->storage = STORE_FILE;
        if (!*path)
            rc = silk_error(SILK_EINVAL, "feed %s: the URI names no file", slot->uri);
        else
            rc = silk_exporter_open(path, c->overwrite, &eo, &slot->exp);
    } else if (!strcmp(scheme, "s3") || !strcmp(scheme, "gs") || !strcmp(scheme, "ftp")) {
        rc = silk_error(SILK_EINVAL, "feed %s: the %s feed storage is not supported by silk (file and stdout are)",
                        slot->uri, scheme);
    } else {
        rc = silk_error(SILK_EINVAL, "feed %s: Unknown feed storage scheme: %s", slot->uri, scheme);
    }
    silk_free(path);
    path = NULL;
    if (rc)
        goto err;
    if (c->store_empty && (rc = silk_exporter_start(slot->exp)))
        goto err;
    return 0;
err:
    silk_free(path);
    silk_exporter_close(slot->exp);
    slot->exp = NULL;
    silk_free(slot->uri);
    slot->uri = NULL;
    return rc;
}

/* _close_slot: finish, close, log and count. */
static int slot_close(silk_feeds *f, feed_slot *slot)
{
    if (!slot->exp)
        return 0;
    feed_conf *c = slot->conf;
    int rc = silk_exporter_close(slot->exp);
    slot->exp = NULL;
    if (!rc)
        rc = slot->error;
    if (slot->itemcount || c->store_empty) {
        const char *sname = storage_name(slot->storage);
        if (rc) {
            silk_log(SILK_LOG_ERROR, LOGGER, "Error storing %s feed (%zu items) in: %s: %s", c->format_name,
                     slot->itemcount, slot->uri, silk_last_error());
            if (f->stats)
                silk_stats_inc_fmt(f->stats, 1, "feedexport/failed_count/%s", sname);
        } else {
            silk_log(SILK_LOG_INFO, LOGGER, "Stored %s feed (%zu items) in: %s", c->format_name, slot->itemcount,
                     slot->uri);
            if (f->stats)
                silk_stats_inc_fmt(f->stats, 1, "feedexport/success_count/%s", sname);
        }
    }
    silk_free(slot->uri);
    slot->uri = NULL;
    return rc;
}

static bool accepts(const feed_conf *c, const silk_item *item)
{
    if (!c->item_classes)
        return true;
    const char *name = item->name;
    if (!name)
        return false;
    for (size_t i = 0; i < c->item_classes->u.list.len; i++) {
        const char *want = c->item_classes->u.list.items[i]->u.s.ptr;
        /* "Product" or a Scrapy-style path "myproject.items.Product" */
        const char *dot = strrchr(want, '.');
        if (!strcmp(want, name) || (dot && !strcmp(dot + 1, name)))
            return true;
    }
    return false;
}

/* ---- public ---- */

static void feeds_free(silk_feeds *f)
{
    for (size_t i = 0; i < f->n; i++) {
        silk_exporter_close(f->slots[i].exp);
        silk_free(f->slots[i].uri);
        conf_free(&f->confs[i]);
    }
    silk_free(f->confs);
    silk_free(f->slots);
    silk_free(f->spider_name);
    silk_value_free(f->spider_args);
    silk_free(f);
}

int silk_feeds_open(const silk_settings *s, const char *spider_name, const silk_value *spider_args,
                    silk_stats *stats, silk_feeds **out)
{
    int rc = 0;
    silk_value *feeds = NULL;
    silk_feeds *f = NULL;
    if (!out)
        return silk_error(SILK_EINVAL, "silk_feeds_open: NULL out");
    *out = NULL;
    if (!s)
        return silk_error(SILK_EINVAL, "silk_feeds_open: NULL settings");
    rc = silk_settings_get_dict(s, "FEEDS", &feeds);
    if (rc == SILK_ENOTFOUND) {
        rc = 0;
        if (!(feeds = silk_value_new_dict()))
            return SILK_ENOMEM;
    } else if (rc) {
        return rc;
    }
    /* the deprecated FEED_URI / FEED_FORMAT, below FEEDS */
    const char *legacy = NULL;
    if (silk_settings_get_str(s, "FEED_URI", &legacy) == 0 && *legacy && !silk_dict_get(feeds, legacy)) {
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "The `FEED_URI` and `FEED_FORMAT` settings have been deprecated in favor of the `FEEDS` "
                 "setting. Please see the `FEEDS` setting docs for more details");
        silk_value *o = silk_value_new_dict();
        if (!o || silk_dict_set_str(o, "format", silk_settings_str(s, "FEED_FORMAT", "jsonlines"))) {
            silk_value_free(o);
            rc = SILK_ENOMEM;
            goto out;
        }
        /* FEED_URI comes first, then FEEDS (which wins for the same URI) */
        silk_value *merged = silk_value_new_dict();
        if (!merged || silk_dict_set(merged, legacy, o)) {
            silk_value_free(merged);
            rc = SILK_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < feeds->u.dict.len; i++) {
            if (silk_dict_set(merged, feeds->u.dict.entries[i].key,
                              silk_value_copy(feeds->u.dict.entries[i].value))) {
                silk_value_free(merged);
                rc = SILK_ENOMEM;
                goto out;
            }
        }
        silk_value_free(feeds);
        feeds = merged;
    }
    size_t n = feeds->u.dict.len;
    if (!n)
        goto out;
    if (!(f = silk_calloc(1, sizeof *f)) || !(f->confs = silk_calloc(n, sizeof *f->confs)) ||
        !(f->slots = silk_calloc(n, sizeof *f->slots)) ||
        (spider_name && !(f->spider_name = silk_strdup(spider_name))) ||
        (spider_args && !(f->spider_args = silk_value_copy(spider_args)))) {
        rc = SILK_ENOMEM;
        goto out;
    }
    f->stats = stats;
    for (size_t i = 0; i < n; i++) {
        f->n = i + 1;
        if ((rc = parse_conf(s, feeds->u.dict.entries[i].key, feeds->u.dict.entries[i].value, &f->confs[i])))
            goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = slot_open(f, &f->confs[i], 1, &f->slots[i])))
            goto out;
out:
    silk_value_free(feeds);
    if (rc && f) {
        feeds_free(f);
        f = NULL;
    }
    *out = f;
    return rc;
}

size_t silk_feeds_count(const silk_feeds *f)
{
    size_t n = 0;
    for (size_t i = 0; f && i < f->n; i++)
        n += f->slots[i].exp != NULL;
    return n;
}

int silk_feeds_export(silk_feeds *f, const silk_item *item)
{
    int first = 0;
    if (!f || !item)
        return 0;
    for (size_t i = 0; i < f->n; i++) {
        feed_slot *slot = &f->slots[i];
        if (!slot->exp || !accepts(slot->conf, item))
            continue;
        int rc = silk_exporter_export_item(slot->exp, item);
        if (rc) {
            if (rc == SILK_EIO) {
                if (!slot->error)
                    silk_log(SILK_LOG_ERROR, LOGGER, "%s", silk_last_error());
                slot->error = rc;
            } else {
                silk_log(SILK_LOG_ERROR, LOGGER, "feed %s: item not exported: %s", slot->uri,
                         silk_last_error());
            }
            if (!first)
                first = rc;
            continue;
        }
        slot->itemcount++;
        if (slot->conf->batch_item_count && slot->itemcount >= (uint64_t)slot->conf->batch_item_count) {
            int batch = slot->batch_id + 1;
            slot_close(f, slot);
            if ((rc = slot_open(f, slot->conf, batch, slot))) {
                silk_log(SILK_LOG_ERROR, LOGGER, "feed %s: cannot start batch %d: %s", slot->conf->uri_template,
                         batch, silk_last_error());
                if (!first)
                    first = rc;
            }
        }
    }
    return first;
}

int silk_feeds_close(silk_feeds *f)
{
    int first = 0;
    if (!f)
        return 0;
    for (size_t i = 0; i < f->n; i++) {
        int rc = slot_close(f, &f->slots[i]);
        if (rc && !first)
            first = rc;
    }
    feeds_free(f);
    return first;
}

/* Path(element).suffix without its dot */
static const char *path_suffix(const char *path, size_t n, size_t *len)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            start = i + 1;
    /* trailing slashes do not count in a Path's name */
    while (n > start && path[n - 1] == '/')
        n--;
    const char *name = path + start;
    size_t nl = n - start;
    const char *dot = NULL;
    for (size_t i = 0; i < nl; i++)
        if (name[i] == '.')
            dot = name + i;
    if (!dot || dot == name || dot == name + nl - 1) {
        *len = 0;
        return "";
    }
    *len = (size_t)(name + nl - dot - 1);
    return dot + 1;
}

int silk_feeds_add_cli(silk_settings *s, const char *arg, bool overwrite)
{
    int rc;
    char *uri = NULL, *fmt = NULL;
    silk_value *feeds = NULL, *opts = NULL;
    if (!s || !arg || !*arg)
        return silk_error(SILK_EINVAL, "-o/-O needs a file name");
    const char *colon = strrchr(arg, ':');
    /* "file:///x.json" has no format after its last colon: silk reads the
     * extension there, where Scrapy would refuse "///x.json" as a format */
    if (colon && !strchr(colon + 1, '/')) {
        if (!(uri = silk_strndup(arg, (size_t)(colon - arg))) || !(fmt = silk_strdup(colon + 1))) {
            rc = SILK_ENOMEM;
            goto out;
        }
        if (!strcmp(uri, "-")) {
            silk_free(uri);
            if (!(uri = silk_strdup("stdout:"))) {
                rc = SILK_ENOMEM;
                goto out;
            }
        }
    } else {
        size_t len;
        const char *suf = path_suffix(arg, strlen(arg), &len);
        if (!(uri = silk_strdup(arg)) || !(fmt = silk_strndup(suf, len))) {
            rc = SILK_ENOMEM;
            goto out;
        }
    }
    silk_feed_format f;
    if ((rc = silk_feed_format_parse(fmt, &f)))
        goto out;
    rc = silk_settings_get_dict(s, "FEEDS", &feeds);
    if (rc == SILK_ENOTFOUND)
        feeds = silk_value_new_dict();
    else if (rc)
        goto out;
    if (!feeds) {
        rc = SILK_ENOMEM;
        goto out;
    }
    rc = 0;
    if (!silk_dict_get(feeds, uri)) {
        if (!(opts = silk_value_new_dict()) || silk_dict_set_str(opts, "format", fmt) ||
            (overwrite && silk_dict_set_bool(opts, "overwrite", true))) {
            rc = SILK_ENOMEM;
            goto out;
        }
        rc = silk_dict_set(feeds, uri, opts);
        opts = NULL;
        if (rc)
            goto out;
    }
    rc = silk_settings_set_value(s, "FEEDS", feeds, SILK_PRIO_CMDLINE);
    feeds = NULL;
out:
    silk_value_free(opts);
    silk_value_free(feeds);
    silk_free(uri);
    silk_free(fmt);
    return rc;
}

/* ---- the extension ---- */

typedef struct feed_ext {
    silk_feeds *feeds;
} feed_ext;

static void on_item_scraped(silk_crawler *c, const silk_signal_args *a, void *arg)
{
    feed_ext *x = arg;
    (void)c;
    if (x->feeds && a->item)
        silk_feeds_export(x->feeds, a->item);
}

static void on_spider_closed(silk_crawler *c, const silk_signal_args *a, void *arg)
{
    feed_ext *x = arg;
    (void)c;
    (void)a;
    silk_feeds_close(x->feeds);
    x->feeds = NULL;
}

static int ext_open(void **state, silk_crawler *c)
{
    silk_spider *sp = silk_crawler_spider(c);
    silk_feeds *feeds = NULL;
    int rc = silk_feeds_open(silk_crawler_settings(c), sp ? sp->name : NULL, sp ? sp->args : NULL,
                             silk_crawler_stats(c), &feeds);
    if (rc || !feeds)
        return rc;
    feed_ext *x = silk_calloc(1, sizeof *x);
    if (!x) {
        silk_feeds_close(feeds);
        return SILK_ENOMEM;
    }
    x->feeds = feeds;
    if ((rc = silk_signal_connect(c, SILK_SIG_ITEM_SCRAPED, on_item_scraped, x)) ||
        (rc = silk_signal_connect(c, SILK_SIG_SPIDER_CLOSED, on_spider_closed, x))) {
        /* a handler may be connected already: keep x alive, inert */
        silk_feeds_close(x->feeds);
        x->feeds = NULL;
        *state = x;
        return rc;
    }
    *state = x;
    return 0;
}

static void ext_close(void *state)
{
    feed_ext *x = state;
    if (!x)
        return;
    silk_feeds_close(x->feeds);
    silk_free(x);
}

/* Opened before the other extensions: a feed that cannot be opened stops
 * the crawl before anything else (a console socket, timers) has started. */
const silk_extension_def silk_feed_exporter = {
    .name = "FeedExporter",
    .order = -100,
    .open = ext_open,
    .close = ext_close,
};
