/* silk — stats collector with Scrapy's keys and dump format. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/stats.h"

struct silk_stats {
    silk_value *values; /* dict */
    silk_value *times;  /* dict: key -> true for keys that hold a wall-clock time */
};

silk_stats *silk_stats_new(void)
{
    silk_stats *st = silk_calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->values = silk_value_new_dict();
    st->times = silk_value_new_dict();
    if (!st->values || !st->times) {
        silk_stats_free(st);
        return NULL;
    }
    return st;
}

void silk_stats_free(silk_stats *st)
{
    if (!st)
        return;
    silk_value_free(st->values);
    silk_value_free(st->times);
    silk_free(st);
}

void silk_stats_clear(silk_stats *st)
{
    silk_value *v = silk_value_new_dict(), *t = silk_value_new_dict();
    if (!v || !t) {
        silk_value_free(v);
        silk_value_free(t);
        return;
    }
    silk_value_free(st->values);
    silk_value_free(st->times);
    st->values = v;
    st->times = t;
}

void silk_stats_inc(silk_stats *st, const char *key, int64_t by)
{
    silk_value *v = silk_dict_get(st->values, key);
    if (v && v->kind == SILK_V_INT) {
        v->u.i += by;
        return;
    }
    if (v && v->kind == SILK_V_DOUBLE) {
        v->u.d += (double)by;
        return;
    }
    silk_dict_set_int(st->values, key, by);
}

void silk_stats_inc_fmt(silk_stats *st, int64_t by, const char *fmt, ...)
{
    char key[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    silk_stats_inc(st, key, by);
}

void silk_stats_set_int(silk_stats *st, const char *key, int64_t v)
{
    silk_dict_set_int(st->values, key, v);
}

void silk_stats_set_double(silk_stats *st, const char *key, double v)
{
    silk_dict_set_double(st->values, key, v);
}

void silk_stats_set_str(silk_stats *st, const char *key, const char *v)
{
    silk_dict_set_str(st->values, key, v);
}

void silk_stats_set_time(silk_stats *st, const char *key, double epoch)
{
    if (silk_dict_set_double(st->values, key, epoch) == 0)
        silk_dict_set_bool(st->times, key, true);
}

void silk_stats_max(silk_stats *st, const char *key, int64_t v)
{
    silk_value *cur = silk_dict_get(st->values, key);
    if (!cur || cur->kind != SILK_V_INT || cur->u.i < v)
        silk_dict_set_int(st->values, key, v);
}

void silk_stats_min(silk_stats *st, const char *key, int64_t v)
{
    silk_value *cur = silk_dict_get(st->values, key);
    if (!cur || cur->kind != SILK_V_INT || cur->u.i > v)
        silk_dict_set_int(st->values, key, v);
}

const silk_value *silk_stats_get(const silk_stats *st, const char *key)
{
    return silk_dict_get(st->values, key);
}

int64_t silk_stats_get_int(const silk_stats *st, const char *key, int64_t def)
{
    return silk_dict_get_int(st->values, key, def);
}

const silk_value *silk_stats_all(const silk_stats *st) { return st->values; }

static int cmp_keys(const void *a, const void *b)
{
    return strcmp((*(const silk_dict_entry *const *)a)->key, (*(const silk_dict_entry *const *)b)->key);
}

/* Python's repr(str): single quotes unless the text has ' and no ". */
static void py_repr_str(silk_buf *b, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    silk_buf_putc(b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == (unsigned char)q || c == '\\') {
            silk_buf_putc(b, '\\');
            silk_buf_putc(b, (char)c);
        } else if (c == '\n') {
            silk_buf_puts(b, "\\n");
        } else if (c == '\t') {
            silk_buf_puts(b, "\\t");
        } else if (c == '\r') {
            silk_buf_puts(b, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            silk_buf_printf(b, "\\x%02x", c);
        } else {
            silk_buf_putc(b, (char)c);
        }
    }
    silk_buf_putc(b, q);
}

static void py_repr_time(silk_buf *b, double epoch)
{
    time_t secs = (time_t)floor(epoch);
    long usec = lround((epoch - (double)secs) * 1e6);
    if (usec >= 1000000) {
        secs++;
        usec -= 1000000;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    silk_buf_printf(b, "datetime.datetime(%d, %d, %d, %d, %d", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min);
    if (tm.tm_sec || usec)
        silk_buf_printf(b, ", %d", tm.tm_sec);
    if (usec)
        silk_buf_printf(b, ", %ld", usec);
    silk_buf_puts(b, ")");
}

static void iso_time(silk_buf *b, double epoch)
{
    time_t secs = (time_t)floor(epoch);
    long usec = lround((epoch - (double)secs) * 1e6) % 1000000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    silk_buf_printf(b, "\"%s.%06ld\"", ts, usec);
}

static void py_repr(silk_buf *b, const silk_value *v)
{
    switch (v->kind) {
    case SILK_V_NULL: silk_buf_puts(b, "None"); break;
    case SILK_V_BOOL: silk_buf_puts(b, v->u.b ? "True" : "False"); break;
    case SILK_V_INT: silk_buf_printf(b, "%lld", (long long)v->u.i); break;
    case SILK_V_STRING: py_repr_str(b, v->u.s.ptr, v->u.s.len); break;
    default: {
        /* doubles, lists, dicts: JSON with Python separators is Python's repr
         * for the values stats hold (no NaN) */
        if (silk_json_encode(v, SILK_JSON_PY_SEPARATORS, b))
            silk_buf_puts(b, "<?>");
        break;
    }
    }
}

/* Sorted entries; caller frees the array. */
static const silk_dict_entry **sorted_entries(const silk_value *d)
{
    size_t n = d->u.dict.len;
    const silk_dict_entry **e = silk_calloc(n ? n : 1, sizeof *e);
    if (!e)
        return NULL;
    for (size_t i = 0; i < n; i++)
        e[i] = &d->u.dict.entries[i];
    qsort(e, n, sizeof *e, cmp_keys);
    return e;
}

int silk_stats_format(const silk_stats *st, silk_buf *out)
{
    size_t n = st->values->u.dict.len;
    const silk_dict_entry **e = sorted_entries(st->values);
    if (!e)
        return SILK_ENOMEM;
    silk_buf one = SILK_BUF_INIT;
    silk_buf_putc(&one, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            silk_buf_puts(&one, ",\n ");
        py_repr_str(&one, e[i]->key, e[i]->key_len);
        silk_buf_puts(&one, ": ");
        if (silk_dict_get(st->times, e[i]->key))
            py_repr_time(&one, e[i]->value->u.d);
        else
            py_repr(&one, e[i]->value);
    }
    silk_buf_putc(&one, '}');
    silk_free(e);
    /* pprint puts a dict that fits in 80 columns on one line */
    int rc = one.err;
    if (!rc && n && one.len - 2 * (n - 1) + (n - 1) <= 80) {
        for (char *p = one.data; (p = strstr(p, ",\n ")) != NULL;)
            memmove(p + 1, p + 2, strlen(p + 2) + 1);
        one.len = strlen(one.data);
    }
    if (!rc)
        rc = silk_buf_append(out, one.data, one.len);
    silk_buf_free(&one);
    return rc;
}

int silk_stats_to_json(const silk_stats *st, silk_buf *out)
{
    size_t n = st->values->u.dict.len;
    const silk_dict_entry **e = sorted_entries(st->values);
    if (!e)
        return SILK_ENOMEM;
    int rc = 0;
    silk_buf_putc(out, '{');
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            silk_buf_puts(out, ", ");
        silk_value key = { .kind = SILK_V_STRING, .u.s = { e[i]->key, e[i]->key_len } };
        rc = silk_json_encode(&key, 0, out);
        silk_buf_puts(out, ": ");
        if (!rc && silk_dict_get(st->times, e[i]->key))
            iso_time(out, e[i]->value->u.d);
        else if (!rc)
            rc = silk_json_encode(e[i]->value, SILK_JSON_PY_SEPARATORS, out);
    }
    silk_buf_putc(out, '}');
    silk_free(e);
    return rc ? rc : out->err;
}
