/* silk — the console's small Python-like language.
 *
 * Enough of Python for the commands of Scrapy's "Debugging memory leaks"
 * guide to run as written: names, str/int/float literals, calls with
 * positional and keyword arguments, attribute access, subscripts and slices,
 * tuples, lists, dicts, list comprehensions with an optional if, the usual
 * operators, assignment to session variables, del, and
 * `from scrapy... import X` / `from silk... import X`. It calls only the
 * functions of its own table: nothing here runs code of any other kind.
 *
 * A line is parsed into a small tree (freed with the line), then evaluated.
 * Values are reference counted; a value that refers to a tracked object
 * holds a silk_ref on it, exactly as a Python variable keeps an object
 * alive, and session variables are dropped with the session. Every line has
 * an evaluation budget and an output cap, so no line can stall the loop. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "silk/alloc.h"
#include "silk/downloader.h"
#include "silk/engine.h"
#include "silk/error.h"
#include "silk/http.h"
#include "silk/item.h"
#include "silk/object.h"
#include "silk/selector.h"
#include "silk/telnet.h"
#include "telnet/interp_internal.h"

#define DEFAULT_MAX_OUTPUT (1u << 20)
#define DEFAULT_MAX_STEPS 1000000u
#define MAX_DEPTH 64             /* parser nesting, as CPython's 200 but smaller */
#define MAX_STR (16u << 20)      /* a string or bytes value */
#define MAX_LIST (4u << 20)      /* items of one list */
#define MAX_VARS 1000

/* ================================================================ values */

typedef enum vkind {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_LIST, V_TUPLE, V_DICT,
    V_OBJ, V_TYPE, V_FUNC, V_METHOD, V_NS, V_TIME,
} vkind;

/* The console's own objects (engine, stats, settings, help, exit). */
typedef enum ns_kind { NS_ENGINE, NS_STATS, NS_SETTINGS, NS_HELP, NS_EXIT, NS_QUIT } ns_kind;

typedef struct val val;
typedef struct builtin builtin;

struct val {
    vkind kind;
    uint32_t refs;
    union {
        bool b;
        int64_t i;
        double d; /* V_FLOAT, V_TIME (seconds since the epoch) */
        struct {
            char *p;
            size_t n;
        } s;
        struct {
            val **items;
            size_t len, cap;
        } l; /* V_LIST, V_TUPLE; V_DICT keeps keys and values alternating */
        silk_object *obj;
        silk_type *type;
        const builtin *fn;
        struct {
            const builtin *fn;
            val *self;
        } m;
        ns_kind ns;
    } u;
};

typedef struct args {
    val **pos;
    size_t npos;
    const char **kwn;
    val **kwv;
    size_t nkw;
} args;

typedef val *(*builtin_fn)(silk_interp *in, val *self, const args *a);

struct builtin {
    const char *name;
    builtin_fn fn;
    const char *doc;
};

typedef struct var {
    char *name;
    val *v;
} var;

struct silk_interp {
    silk_crawler *crawler;
    var *vars;
    size_t nvars, capvars;
    /* comprehension scopes, innermost last */
    var *locals;
    size_t nlocals, caplocals;
    size_t max_output;
    uint64_t max_steps, steps;
    silk_buf *out;
    size_t out_start;
    bool truncated;
    char *err; /* "NameError: ..." of the current line; NULL when none */
    bool nomem;
    bool exit;
};

static val none_v = { V_NONE, 0, { 0 } }, true_v = { V_BOOL, 0, { .b = true } },
           false_v = { V_BOOL, 0, { .b = false } };

static bool is_static(const val *v) { return v == &none_v || v == &true_v || v == &false_v; }

static val *incref(val *v)
{
    if (v && !is_static(v))
        v->refs++;
    return v;
}

static void decref(val *v);

static void val_destroy(val *v)
{
    switch (v->kind) {
    case V_STR:
    case V_BYTES: silk_free(v->u.s.p); break;
    case V_LIST:
    case V_TUPLE:
    case V_DICT:
        for (size_t i = 0; i < v->u.l.len; i++)
            decref(v->u.l.items[i]);
        silk_free(v->u.l.items);
        break;
    case V_OBJ: silk_unref(v->u.obj); break;
    case V_METHOD: decref(v->u.m.self); break;
    default: break;
    }
    silk_free(v);
}

static void decref(val *v)
{
    if (!v || is_static(v))
        return;
    if (--v->refs == 0)
        val_destroy(v);
}

/* ---------------------------------------------------------------- errors */

static val *raise(silk_interp *in, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static val *raise(silk_interp *in, const char *type, const char *fmt, ...)
{
    if (in->err)
        return NULL;
    silk_buf b = SILK_BUF_INIT;
    silk_buf_printf(&b, "%s: ", type);
    va_list ap;
    va_start(ap, fmt);
    silk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    in->err = silk_buf_detach(&b);
    if (!in->err)
        in->nomem = true;
    return NULL;
}

static val *nomem(silk_interp *in)
{
    in->nomem = true;
    return raise(in, "MemoryError", "out of memory");
}

static bool failed(const silk_interp *in) { return in->err != NULL || in->nomem; }

/* ---------------------------------------------------------- constructors */

static val *v_new(silk_interp *in, vkind k)
{
    val *v = silk_calloc(1, sizeof *v);
    if (!v)
        return nomem(in);
    v->kind = k;
    v->refs = 1;
    return v;
}

static val *v_bool(bool b) { return b ? &true_v : &false_v; }

static val *v_int(silk_interp *in, int64_t i)
{
    val *v = v_new(in, V_INT);
    if (v)
        v->u.i = i;
    return v;
}

static val *v_float(silk_interp *in, double d)
{
    val *v = v_new(in, V_FLOAT);
    if (v)
        v->u.d = d;
    return v;
}

static val *v_strn_kind(silk_interp *in, const char *s, size_t n, vkind k)
{
    if (n > MAX_STR)
        return raise(in, "MemoryError", "a string of %zu bytes is too long for the console", n);
    val *v = v_new(in, k);
    if (!v)
        return NULL;
    if (!(v->u.s.p = silk_malloc(n + 1))) {
        silk_free(v);
        return nomem(in);
    }
    if (n)
        memcpy(v->u.s.p, s, n);
    v->u.s.p[n] = 0;
    v->u.s.n = n;
    return v;
}

static val *v_strn(silk_interp *in, const char *s, size_t n) { return v_strn_kind(in, s, n, V_STR); }
static val *v_str(silk_interp *in, const char *s) { return s ? v_strn(in, s, strlen(s)) : &none_v; }

/* Takes a silk_buf's data as a new str (the buffer is emptied). */
static val *v_str_buf(silk_interp *in, silk_buf *b)
{
    if (b->err) {
        silk_buf_free(b);
        return nomem(in);
    }
    val *v = v_strn(in, b->data ? b->data : "", b->len);
    silk_buf_free(b);
    return v;
}

static val *v_seq(silk_interp *in, vkind k)
{
    return v_new(in, k);
}

/* Appends item (taking the reference) to a list, tuple or dict array. */
static int seq_push(silk_interp *in, val *seq, val *item)
{
    if (!item)
        return -1;
    if (seq->u.l.len >= MAX_LIST) {
        decref(item);
        raise(in, "MemoryError", "a list of more than %u items is too long for the console", MAX_LIST);
        return -1;
    }
    if (seq->u.l.len == seq->u.l.cap) {
        size_t cap = seq->u.l.cap ? seq->u.l.cap * 2 : 8;
        val **p = silk_realloc(seq->u.l.items, cap * sizeof *p);
        if (!p) {
            decref(item);
            nomem(in);
            return -1;
        }
        seq->u.l.items = p;
        seq->u.l.cap = cap;
    }
    seq->u.l.items[seq->u.l.len++] = item;
    return 0;
}

static val *v_obj(silk_interp *in, void *o)
{
    if (!o)
        return &none_v;
    val *v = v_new(in, V_OBJ);
    if (v)
        v->u.obj = silk_ref(o);
    return v;
}

static val *v_type(silk_interp *in, silk_type *t)
{
    val *v = v_new(in, V_TYPE);
    if (v)
        v->u.type = t;
    return v;
}

static val *v_func(silk_interp *in, const builtin *fn)
{
    val *v = v_new(in, V_FUNC);
    if (v)
        v->u.fn = fn;
    return v;
}

static val *v_method(silk_interp *in, const builtin *fn, val *self)
{
    val *v = v_new(in, V_METHOD);
    if (v) {
        v->u.m.fn = fn;
        v->u.m.self = incref(self);
    }
    return v;
}

static val *v_ns(silk_interp *in, ns_kind ns)
{
    val *v = v_new(in, V_NS);
    if (v)
        v->u.ns = ns;
    return v;
}

/* --------------------------------------------------- silk_value <-> val */

static val *from_value(silk_interp *in, const silk_value *sv, int depth)
{
    if (!sv)
        return &none_v;
    if (depth > 600)
        return raise(in, "RecursionError", "maximum recursion depth exceeded");
    switch (sv->kind) {
    case SILK_V_NULL: return &none_v;
    case SILK_V_BOOL: return v_bool(sv->u.b);
    case SILK_V_INT: return v_int(in, sv->u.i);
    case SILK_V_DOUBLE: return v_float(in, sv->u.d);
    case SILK_V_STRING: return v_strn(in, sv->u.s.ptr, sv->u.s.len);
    case SILK_V_OBJECT: return v_obj(in, sv->u.obj);
    case SILK_V_LIST: {
        val *l = v_seq(in, V_LIST);
        for (size_t i = 0; l && i < sv->u.list.len; i++)
            if (seq_push(in, l, from_value(in, sv->u.list.items[i], depth + 1))) {
                decref(l);
                return NULL;
            }
        return l;
    }
    case SILK_V_DICT: {
        val *d = v_seq(in, V_DICT);
        for (size_t i = 0; d && i < sv->u.dict.len; i++) {
            const silk_dict_entry *e = &sv->u.dict.entries[i];
            if (seq_push(in, d, v_strn(in, e->key, e->key_len)) ||
                seq_push(in, d, from_value(in, e->value, depth + 1))) {
                decref(d);
                return NULL;
            }
        }
        return d;
    }
    }
    return &none_v;
}

/* ================================================================ repr */

static void repr(silk_interp *in, silk_buf *b, const val *v, int depth);

static const char *ns_class(ns_kind ns)
{
    switch (ns) {
    case NS_ENGINE: return "ExecutionEngine";
    case NS_STATS: return "StatsCollector";
    case NS_SETTINGS: return "Settings";
    default: return "object";
    }
}

static const char help_text[] =
    "This is silk's telnet console: a small Python-like language for looking\n"
    "into a running crawl. It runs no code of any other kind.\n"
    "\n"
    "  prefs()                         live tracked objects per type (print_live_refs)\n"
    "  prefs(ignore=Spider)            the same, hiding a type and its subtypes\n"
    "  get_oldest(\"HtmlResponse\")      the oldest live object of that type, or None\n"
    "  iter_all(\"HtmlResponse\")        every live object of that type, oldest first\n"
    "  heap()                          bytes held per tracked type, the allocator, RSS\n"
    "  trim()                          give freed memory back to the system\n"
    "  est()                           engine status\n"
    "  engine.pause() / engine.unpause() / engine.stop()\n"
    "  spider, stats.get_value(\"item_scraped_count\"), stats.get_stats()\n"
    "  settings[\"CONCURRENT_REQUESTS\"], settings.getfloat(\"DOWNLOAD_DELAY\")\n"
    "  len(), str(), repr(), int(), float(), sorted(), sum(), min(), max(), list(),\n"
    "  isinstance(), type()\n"
    "\n"
    "  r = get_oldest(\"HtmlResponse\"); r.url; r.request.cb_kwargs; del r\n"
    "  [r.url for r in iter_all(\"HtmlResponse\") if r.age > 60]\n"
    "  from scrapy.spiders import Spider   (types: Request, FormRequest, Response,\n"
    "  TextResponse, HtmlResponse, XmlResponse, Item, Selector, Spider, your spider's)\n"
    "\n"
    "Objects: Request (url, method, priority, meta, cb_kwargs, callback, headers,\n"
    "body, age), Response (url, status, headers, meta, request, body, text,\n"
    "cb_kwargs, age, css(), xpath()), Item (its fields), Spider (name), Selector\n"
    "(get(), getall(), css(), xpath()). Ctrl-D, exit() or quit leave.\n"
    "See docs/leaks.md.";

static void repr_time(silk_buf *b, double epoch)
{
    time_t secs = (time_t)floor(epoch);
    long usec = lround((epoch - (double)secs) * 1e6) % 1000000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    silk_buf_printf(b, "datetime.datetime(%d, %d, %d, %d, %d", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min);
    if (tm.tm_sec || usec)
        silk_buf_printf(b, ", %d", tm.tm_sec);
    if (usec)
        silk_buf_printf(b, ", %ld", usec);
    silk_buf_putc(b, ')');
}

static bool over_limit(silk_interp *in, silk_buf *b)
{
    if (b == in->out && b->len - in->out_start > in->max_output) {
        in->truncated = true;
        return true;
    }
    return false;
}

static void repr_bytes(silk_buf *b, const char *s, size_t n)
{
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    silk_buf_printf(b, "b%c", q);
    for (size_t i = 0; i < n && !b->err; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == (unsigned char)q || c == '\\')
            silk_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            silk_buf_puts(b, "\\n");
        else if (c == '\r')
            silk_buf_puts(b, "\\r");
        else if (c == '\t')
            silk_buf_puts(b, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            silk_buf_printf(b, "\\x%02x", c);
        else
            silk_buf_putc(b, (char)c);
    }
    silk_buf_putc(b, q);
}

static void repr(silk_interp *in, silk_buf *b, const val *v, int depth)
{
    if (over_limit(in, b) || b->err)
        return;
    if (depth > 200) {
        silk_buf_puts(b, "...");
        return;
    }
    switch (v->kind) {
    case V_NONE: silk_buf_puts(b, "None"); break;
    case V_BOOL: silk_buf_puts(b, v->u.b ? "True" : "False"); break;
    case V_INT: silk_buf_printf(b, "%" PRId64, v->u.i); break;
    case V_FLOAT: silk__py_float_repr(b, v->u.d); break;
    case V_TIME: repr_time(b, v->u.d); break;
    case V_STR: silk__py_str_repr(b, v->u.s.p, v->u.s.n); break;
    case V_BYTES: repr_bytes(b, v->u.s.p, v->u.s.n); break;
    case V_LIST:
    case V_TUPLE:
        silk_buf_putc(b, v->kind == V_LIST ? '[' : '(');
        for (size_t i = 0; i < v->u.l.len && !over_limit(in, b); i++) {
            if (i)
                silk_buf_puts(b, ", ");
            repr(in, b, v->u.l.items[i], depth + 1);
        }
        if (v->kind == V_TUPLE && v->u.l.len == 1)
            silk_buf_putc(b, ',');
        silk_buf_putc(b, v->kind == V_LIST ? ']' : ')');
        break;
    case V_DICT:
        silk_buf_putc(b, '{');
        for (size_t i = 0; i + 1 < v->u.l.len && !over_limit(in, b); i += 2) {
            if (i)
                silk_buf_puts(b, ", ");
            repr(in, b, v->u.l.items[i], depth + 1);
            silk_buf_puts(b, ": ");
            repr(in, b, v->u.l.items[i + 1], depth + 1);
        }
        silk_buf_putc(b, '}');
        break;
    case V_OBJ: {
        char small[512];
        int n = silk_object_describe(v->u.obj, small, sizeof small);
        if (n >= 0 && (size_t)n < sizeof small) {
            silk_buf_append(b, small, (size_t)n);
        } else if (n > 0) {
            char *big = silk_malloc((size_t)n + 1);
            if (big) {
                silk_object_describe(v->u.obj, big, (size_t)n + 1);
                silk_buf_append(b, big, (size_t)n);
                silk_free(big);
            } else {
                silk_buf_append(b, small, sizeof small - 1);
            }
        }
        break;
    }
    case V_TYPE: silk_buf_printf(b, "<class '%s'>", v->u.type->name); break;
    case V_FUNC: silk_buf_printf(b, "<function %s>", v->u.fn->name); break;
    case V_METHOD:
        silk_buf_printf(b, "<bound method %s of ", v->u.m.fn->name);
        repr(in, b, v->u.m.self, depth + 1);
        silk_buf_putc(b, '>');
        break;
    case V_NS:
        if (v->u.ns == NS_HELP)
            silk_buf_puts(b, help_text);
        else if (v->u.ns == NS_EXIT || v->u.ns == NS_QUIT)
            silk_buf_puts(b, "Use exit() or Ctrl-D (i.e. EOF) to exit");
        else
            silk_buf_printf(b, "<%s at %p>", ns_class(v->u.ns), (const void *)in->crawler);
        break;
    }
}

/* str(): strings as they are, everything else as repr. */
static void str_of(silk_interp *in, silk_buf *b, const val *v)
{
    if (v->kind == V_STR)
        silk_buf_append(b, v->u.s.p, v->u.s.n);
    else
        repr(in, b, v, 0);
}

static const char *type_name(const val *v)
{
    switch (v->kind) {
    case V_NONE: return "NoneType";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_FLOAT: return "float";
    case V_STR: return "str";
    case V_BYTES: return "bytes";
    case V_LIST: return "list";
    case V_TUPLE: return "tuple";
    case V_DICT: return "dict";
    case V_OBJ: return v->u.obj->type->name;
    case V_TYPE: return "type";
    case V_FUNC: return "function";
    case V_METHOD: return "method";
    case V_NS: return v->u.ns == NS_HELP ? "str" : ns_class(v->u.ns);
    case V_TIME: return "datetime.datetime";
    }
    return "object";
}

/* ============================================================ operations */

static bool truthy(const val *v)
{
    switch (v->kind) {
    case V_NONE: return false;
    case V_BOOL: return v->u.b;
    case V_INT: return v->u.i != 0;
    case V_FLOAT: return v->u.d != 0.0;
    case V_STR:
    case V_BYTES: return v->u.s.n != 0;
    case V_LIST:
    case V_TUPLE:
    case V_DICT: return v->u.l.len != 0;
    default: return true;
    }
}

static bool is_num(const val *v) { return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_BOOL; }
static double num_d(const val *v)
{
    return v->kind == V_FLOAT ? v->u.d : v->kind == V_BOOL ? (double)v->u.b : (double)v->u.i;
}
static int64_t num_i(const val *v) { return v->kind == V_BOOL ? (int64_t)v->u.b : v->u.i; }

static bool val_eq(const val *a, const val *b)
{
    if (is_num(a) && is_num(b)) {
        if (a->kind == V_FLOAT || b->kind == V_FLOAT)
            return num_d(a) == num_d(b);
        return num_i(a) == num_i(b);
    }
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case V_NONE: return true;
    case V_STR:
    case V_BYTES: return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    case V_LIST:
    case V_TUPLE:
    case V_DICT:
        if (a->u.l.len != b->u.l.len)
            return false;
        for (size_t i = 0; i < a->u.l.len; i++)
            if (!val_eq(a->u.l.items[i], b->u.l.items[i]))
                return false;
        return true;
    case V_OBJ: return a->u.obj == b->u.obj;
    case V_TYPE: return a->u.type == b->u.type;
    case V_FUNC: return a->u.fn == b->u.fn;
    case V_NS: return a->u.ns == b->u.ns;
    case V_TIME: return a->u.d == b->u.d;
    default: return a == b;
    }
}

/* -1, 0, 1; *ok false when the kinds do not order (a TypeError). */
static int val_cmp(const val *a, const val *b, bool *ok)
{
    *ok = true;
    if (is_num(a) && is_num(b)) {
        if (a->kind == V_FLOAT || b->kind == V_FLOAT) {
            double x = num_d(a), y = num_d(b);
            return (x > y) - (x < y);
        }
        int64_t x = num_i(a), y = num_i(b);
        return (x > y) - (x < y);
    }
    if (a->kind == b->kind && (a->kind == V_STR || a->kind == V_BYTES)) {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = memcmp(a->u.s.p, b->u.s.p, n);
        if (c)
            return c < 0 ? -1 : 1;
        return (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
    }
    if (a->kind == b->kind && (a->kind == V_LIST || a->kind == V_TUPLE)) {
        for (size_t i = 0; i < a->u.l.len && i < b->u.l.len; i++) {
            if (val_eq(a->u.l.items[i], b->u.l.items[i]))
                continue;
            return val_cmp(a->u.l.items[i], b->u.l.items[i], ok);
        }
        return (a->u.l.len > b->u.l.len) - (a->u.l.len < b->u.l.len);
    }
    if (a->kind == V_TIME && b->kind == V_TIME)
        return (a->u.d > b->u.d) - (a->u.d < b->u.d);
    *ok = false;
    return 0;
}

static val *dict_lookup(const val *d, const val *key)
{
    for (size_t i = 0; i + 1 < d->u.l.len; i += 2)
        if (val_eq(d->u.l.items[i], key))
            return d->u.l.items[i + 1];
    return NULL;
}

static val *dict_lookup_str(const val *d, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i + 1 < d->u.l.len; i += 2) {
        const val *k = d->u.l.items[i];
        if (k->kind == V_STR && k->u.s.n == n && memcmp(k->u.s.p, key, n) == 0)
            return d->u.l.items[i + 1];
    }
    return NULL;
}

/* Materialises what a for clause or list() walks over: a new list, tuple
 * or the value itself with a reference. NULL with a TypeError otherwise. */
static val *iterable(silk_interp *in, val *v)
{
    if (v->kind == V_LIST || v->kind == V_TUPLE)
        return incref(v);
    if (v->kind == V_DICT) {
        val *l = v_seq(in, V_LIST);
        for (size_t i = 0; l && i + 1 < v->u.l.len; i += 2)
            if (seq_push(in, l, incref(v->u.l.items[i]))) {
                decref(l);
                return NULL;
            }
        return l;
    }
    if (v->kind == V_STR) {
        val *l = v_seq(in, V_LIST);
        const unsigned char *s = (const unsigned char *)v->u.s.p;
        for (size_t i = 0; l && i < v->u.s.n;) {
            size_t k = 1;
            while (i + k < v->u.s.n && (s[i + k] & 0xC0) == 0x80)
                k++;
            if (seq_push(in, l, v_strn(in, v->u.s.p + i, k))) {
                decref(l);
                return NULL;
            }
            i += k;
        }
        return l;
    }
    if (v->kind == V_OBJ && v->u.obj->type == &silk_type_selector_list) {
        silk_selector_list *sl = (silk_selector_list *)v->u.obj;
        val *l = v_seq(in, V_LIST);
        for (size_t i = 0; l && i < silk_selector_list_len(sl); i++)
            if (seq_push(in, l, v_obj(in, silk_selector_list_at(sl, i)))) {
                decref(l);
                return NULL;
            }
        return l;
    }
    return raise(in, "TypeError", "'%s' object is not iterable", type_name(v));
}

/* ================================================================ lexer */

typedef enum tok {
    T_END, T_NAME, T_INT, T_FLOAT, T_STR, T_BYTES, T_OP, T_ERR,
} tok;

typedef struct token {
    tok t;
    const char *p; /* in the line */
    size_t n;
    int64_t i;
    double d;
    char *s; /* decoded string (pool) */
    size_t slen;
} token;

/* ================================================================ parser */

typedef enum nkind {
    N_CONST, N_NAME, N_ATTR, N_CALL, N_SUB, N_SLICE, N_LIST, N_TUPLE, N_DICT, N_COMP, N_BIN,
    N_NEG, N_POS, N_NOT, N_AND, N_OR, N_CMP, N_IFEXP,
} nkind;

enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT,
       OP_GE, OP_IN, OP_NOTIN, OP_IS, OP_ISNOT };

typedef struct node node;
struct node {
    nkind kind;
    int op;
    val *cval;          /* N_CONST (owned) */
    const char *name;   /* N_NAME, N_ATTR, N_COMP variable (pool) */
    node *a, *b, *c, *d; /* children: N_SUB a[b]; N_SLICE b:c:d; N_COMP elt a, iter b, cond c */
    node **items;       /* N_LIST/N_TUPLE/N_DICT (k, v alternating)/N_CALL positional */
    size_t nitems;
    const char **kwn;   /* N_CALL keywords */
    node **kwv;
    size_t nkw;
};

typedef struct parser {
    silk_interp *in;
    const char *src, *p, *end;
    token cur;
    bool have;
    int depth;
    /* everything the parse allocates, freed with the line */
    void **pool;
    size_t npool, cappool;
    node **nodes;
    size_t nnodes, capnodes;
} parser;

static void *pool_add(parser *ps, void *p)
{
    if (!p) {
        nomem(ps->in);
        return NULL;
    }
    if (ps->npool == ps->cappool) {
        size_t cap = ps->cappool ? ps->cappool * 2 : 64;
        void **np = silk_realloc(ps->pool, cap * sizeof *np);
        if (!np) {
            silk_free(p);
            nomem(ps->in);
            return NULL;
        }
        ps->pool = np;
        ps->cappool = cap;
    }
    ps->pool[ps->npool++] = p;
    return p;
}

static node *mk(parser *ps, nkind k)
{
    node *n = silk_calloc(1, sizeof *n);
    if (!n) {
        nomem(ps->in);
        return NULL;
    }
    if (ps->nnodes == ps->capnodes) {
        size_t cap = ps->capnodes ? ps->capnodes * 2 : 32;
        node **np = silk_realloc(ps->nodes, cap * sizeof *np);
        if (!np) {
            silk_free(n);
            nomem(ps->in);
            return NULL;
        }
        ps->nodes = np;
        ps->capnodes = cap;
    }
    ps->nodes[ps->nnodes++] = n;
    n->kind = k;
    return n;
}

static void parser_free(parser *ps)
{
    for (size_t i = 0; i < ps->nnodes; i++) {
        decref(ps->nodes[i]->cval);
        silk_free(ps->nodes[i]);
    }
    silk_free(ps->nodes);
    for (size_t i = 0; i < ps->npool; i++)
        silk_free(ps->pool[i]);
    silk_free(ps->pool);
}

static void *syntax(parser *ps, const char *msg)
{
    raise(ps->in, "SyntaxError", "%s", msg ? msg : "invalid syntax");
    return NULL;
}

static bool is_ident_start(unsigned char c) { return c == '_' || (unsigned)((c | 32) - 'a') < 26 || c >= 0x80; }
static bool is_ident(unsigned char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 32) >= 'a' && (c | 32) <= 'f')
        return (c | 32) - 'a' + 10;
    return -1;
}

static void put_utf8(silk_buf *b, unsigned c)
{
    if (c < 0x80) {
        silk_buf_putc(b, (char)c);
    } else if (c < 0x800) {
        silk_buf_putc(b, (char)(0xC0 | (c >> 6)));
        silk_buf_putc(b, (char)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        silk_buf_putc(b, (char)(0xE0 | (c >> 12)));
        silk_buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        silk_buf_putc(b, (char)(0x80 | (c & 0x3F)));
    } else {
        silk_buf_putc(b, (char)(0xF0 | (c >> 18)));
        silk_buf_putc(b, (char)(0x80 | ((c >> 12) & 0x3F)));
        silk_buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        silk_buf_putc(b, (char)(0x80 | (c & 0x3F)));
    }
}

/* Reads a quoted literal at ps->p (after its prefix). */
static bool lex_string(parser *ps, token *t, bool raw, bool bytes)
{
    char q = *ps->p++;
    silk_buf b = SILK_BUF_INIT;
    for (;;) {
        if (ps->p >= ps->end) {
            silk_buf_free(&b);
            syntax(ps, "unterminated string literal (detected at line 1)");
            return false;
        }
        char c = *ps->p++;
        if (c == q)
            break;
        if (c != '\\' || ps->p >= ps->end) {
            silk_buf_putc(&b, c);
            continue;
        }
        char e = *ps->p++;
        if (raw) {
            silk_buf_putc(&b, '\\');
            silk_buf_putc(&b, e);
            continue;
        }
        switch (e) {
        case 'n': silk_buf_putc(&b, '\n'); break;
        case 't': silk_buf_putc(&b, '\t'); break;
        case 'r': silk_buf_putc(&b, '\r'); break;
        case '0': silk_buf_putc(&b, '\0'); break;
        case '\\': silk_buf_putc(&b, '\\'); break;
        case '\'': silk_buf_putc(&b, '\''); break;
        case '"': silk_buf_putc(&b, '"'); break;
        case 'x': case 'u': case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            unsigned v = 0;
            for (int i = 0; i < digits; i++) {
                int h = ps->p < ps->end ? hexval(*ps->p) : -1;
                if (h < 0 || (bytes && e != 'x')) {
                    silk_buf_free(&b);
                    syntax(ps, "(unicode error) truncated escape sequence");
                    return false;
                }
                v = v * 16 + (unsigned)h;
                ps->p++;
            }
            if (bytes)
                silk_buf_putc(&b, (char)v);
            else if (v > 0x10FFFF) {
                silk_buf_free(&b);
                syntax(ps, "(unicode error) illegal Unicode character");
                return false;
            } else
                put_utf8(&b, v);
            break;
        }
        default:
            silk_buf_putc(&b, '\\');
            silk_buf_putc(&b, e);
        }
    }
    if (b.err) {
        silk_buf_free(&b);
        nomem(ps->in);
        return false;
    }
    t->slen = b.len;
    t->s = b.data ? pool_add(ps, silk_buf_detach(&b)) : pool_add(ps, silk_strdup(""));
    silk_buf_free(&b);
    t->t = bytes ? T_BYTES : T_STR;
    return t->s != NULL;
}

static bool lex(parser *ps, token *t)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\f'))
        ps->p++;
    memset(t, 0, sizeof *t);
    t->p = ps->p;
    if (ps->p >= ps->end || *ps->p == '#') {
        t->t = T_END;
        return true;
    }
    unsigned char c = (unsigned char)*ps->p;
    /* string prefixes */
    if (is_ident_start(c)) {
        const char *q = ps->p;
        bool raw = false, bytes = false;
        size_t k = 0;
        while (k < 2 && q + k < ps->end && strchr("rRbBuU", q[k]) && q[k]) {
            if ((q[k] | 32) == 'r')
                raw = true;
            if ((q[k] | 32) == 'b')
                bytes = true;
            k++;
        }
        if (k && q + k < ps->end && (q[k] == '\'' || q[k] == '"')) {
            ps->p += k;
            if (!lex_string(ps, t, raw, bytes))
                return false;
            t->n = (size_t)(ps->p - t->p);
            return true;
        }
        while (ps->p < ps->end && is_ident((unsigned char)*ps->p))
            ps->p++;
        t->t = T_NAME;
        t->n = (size_t)(ps->p - t->p);
        return true;
    }
    if (c == '\'' || c == '"') {
        if (!lex_string(ps, t, false, false))
            return false;
        t->n = (size_t)(ps->p - t->p);
        return true;
    }
    if ((c >= '0' && c <= '9') || (c == '.' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')) {
        char buf[128];
        size_t n = 0;
        bool isfloat = false;
        const char *q = ps->p;
        if (c == '0' && q + 1 < ps->end && (q[1] | 32) == 'x') {
            q += 2;
            uint64_t v = 0;
            bool any = false;
            while (q < ps->end && (hexval(*q) >= 0 || *q == '_')) {
                if (*q != '_') {
                    if (v > (uint64_t)INT64_MAX / 16) {
                        syntax(ps, "integer literal too large for the console");
                        return false;
                    }
                    v = v * 16 + (unsigned)hexval(*q);
                    any = true;
                }
                q++;
            }
            if (!any) {
                syntax(ps, "invalid hexadecimal literal");
                return false;
            }
            ps->p = q;
            t->t = T_INT;
            t->i = (int64_t)v;
            t->n = (size_t)(q - t->p);
            return true;
        }
        while (q < ps->end && n < sizeof buf - 1) {
            char d = *q;
            if (d >= '0' && d <= '9') {
                buf[n++] = d;
            } else if (d == '_') {
                /* digit separator */
            } else if (d == '.' && !isfloat) {
                isfloat = true;
                buf[n++] = d;
            } else if ((d | 32) == 'e' && q + 1 < ps->end &&
                       ((q[1] >= '0' && q[1] <= '9') ||
                        ((q[1] == '+' || q[1] == '-') && q + 2 < ps->end && q[2] >= '0' && q[2] <= '9'))) {
                isfloat = true;
                buf[n++] = 'e';
                q++;
                buf[n++] = *q;
            } else {
                break;
            }
            q++;
        }
        buf[n] = 0;
        if (q < ps->end && is_ident((unsigned char)*q)) {
            syntax(ps, "invalid decimal literal");
            return false;
        }
        ps->p = q;
        t->n = (size_t)(q - t->p);
        if (isfloat) {
            t->t = T_FLOAT;
            t->d = strtod(buf, NULL);
        } else {
            errno = 0;
            char *e;
            long long v = strtoll(buf, &e, 10);
            if (errno == ERANGE) {
                syntax(ps, "integer literal too large for the console");
                return false;
            }
            t->t = T_INT;
            t->i = v;
        }
        return true;
    }
    static const char *const ops[] = { "**", "//", "==", "!=", "<=", ">=", "->", "+=", "-=", "(", ")", "[",
                                       "]", "{", "}", ",", ".", ":", "=", "+", "-", "*", "/", "%", "<",
                                       ">", ";", "@", "|", "&", "^", "~" };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i]);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, ops[i], n) == 0) {
            t->t = T_OP;
            t->n = n;
            ps->p += n;
            return true;
        }
    }
    if (c < 0x20 || c == 0x7f)
        raise(ps->in, "SyntaxError", "invalid non-printable character U+%04X", c);
    else
        raise(ps->in, "SyntaxError", "invalid character '%c' (U+%04X)", c, c);
    return false;
}

static token *peek(parser *ps)
{
    if (!ps->have) {
        if (!lex(ps, &ps->cur)) {
            ps->cur.t = T_ERR;
        }
        ps->have = true;
    }
    return &ps->cur;
}

static void advance(parser *ps) { ps->have = false; }

static bool tok_is(parser *ps, const char *s)
{
    token *t = peek(ps);
    size_t n = strlen(s);
    return (t->t == T_OP || t->t == T_NAME) && t->n == n && memcmp(t->p, s, n) == 0;
}

static bool accept(parser *ps, const char *s)
{
    if (tok_is(ps, s)) {
        advance(ps);
        return true;
    }
    return false;
}

static bool expect(parser *ps, const char *s)
{
    if (accept(ps, s))
        return true;
    if (!failed(ps->in)) {
        token *t = peek(ps);
        if (t->t == T_END && (strcmp(s, ")") == 0 || strcmp(s, "]") == 0 || strcmp(s, "}") == 0))
            syntax(ps, "unexpected EOF while parsing");
        else
            syntax(ps, NULL);
    }
    return false;
}

static const char *const keywords[] = { "False", "None", "True", "and", "as", "assert", "async", "await",
                                        "break", "class", "continue", "def", "del", "elif", "else",
                                        "except", "finally", "for", "from", "global", "if", "import",
                                        "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
                                        "return", "try", "while", "with", "yield" };

static bool is_keyword(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i]) == n && memcmp(keywords[i], p, n) == 0)
            return true;
    return false;
}

static const char *name_dup(parser *ps, const token *t) { return pool_add(ps, silk_strndup(t->p, t->n)); }

/* Collects node pointers for a list being parsed. */
typedef struct nvec {
    silk_buf b;
} nvec;

static bool nvec_push(parser *ps, nvec *v, node *n)
{
    if (silk_buf_append(&v->b, &n, sizeof n)) {
        nomem(ps->in);
        return false;
    }
    return true;
}

static node **nvec_finish(parser *ps, nvec *v, size_t *n)
{
    *n = v->b.len / sizeof(node *);
    if (!*n) {
        silk_buf_free(&v->b);
        return NULL;
    }
    node **arr = pool_add(ps, silk_buf_detach(&v->b));
    silk_buf_free(&v->b);
    return arr;
}

static node *p_test(parser *ps);
static node *p_or(parser *ps);

static bool enter(parser *ps)
{
    if (++ps->depth > MAX_DEPTH) {
        syntax(ps, "too many nested parentheses");
        return false;
    }
    return true;
}

/* comprehension tail: 'for' NAME 'in' or_test ['if' or_test]...; elt given */
static node *p_comp(parser *ps, node *elt)
{
    node *n = mk(ps, N_COMP);
    if (!n)
        return NULL;
    n->a = elt;
    token *t = peek(ps);
    if (t->t != T_NAME || is_keyword(t->p, t->n))
        return syntax(ps, NULL);
    if (!(n->name = name_dup(ps, t)))
        return NULL;
    advance(ps);
    if (tok_is(ps, ","))
        return syntax(ps, "silk's console unpacks no tuples in a for clause");
    if (!expect(ps, "in") || !(n->b = p_or(ps)))
        return NULL;
    while (accept(ps, "if")) {
        node *cond = p_or(ps);
        if (!cond)
            return NULL;
        if (n->c) {
            node *both = mk(ps, N_AND);
            if (!both)
                return NULL;
            both->a = n->c;
            both->b = cond;
            cond = both;
        }
        n->c = cond;
    }
    if (tok_is(ps, "for"))
        return syntax(ps, "silk's console takes one for clause per comprehension");
    return n;
}

static node *p_atom(parser *ps)
{
    token *t = peek(ps);
    if (failed(ps->in))
        return NULL;
    if (t->t == T_INT || t->t == T_FLOAT) {
        node *n = mk(ps, N_CONST);
        if (!n)
            return NULL;
        n->cval = t->t == T_INT ? v_int(ps->in, t->i) : v_float(ps->in, t->d);
        advance(ps);
        return n->cval ? n : NULL;
    }
    if (t->t == T_STR || t->t == T_BYTES) {
        /* adjacent literals concatenate */
        bool bytes = t->t == T_BYTES;
        silk_buf b = SILK_BUF_INIT;
        while ((t = peek(ps))->t == T_STR || t->t == T_BYTES) {
            if ((t->t == T_BYTES) != bytes) {
                silk_buf_free(&b);
                return syntax(ps, "cannot mix bytes and nonbytes literals");
            }
            silk_buf_append(&b, t->s, t->slen);
            advance(ps);
        }
        if (t->t == T_ERR) {
            silk_buf_free(&b);
            return NULL;
        }
        node *n = mk(ps, N_CONST);
        if (!n) {
            silk_buf_free(&b);
            return NULL;
        }
        if (b.err) {
            silk_buf_free(&b);
            nomem(ps->in);
            return NULL;
        }
        n->cval = v_strn_kind(ps->in, b.data ? b.data : "", b.len, bytes ? V_BYTES : V_STR);
        silk_buf_free(&b);
        return n->cval ? n : NULL;
    }
    if (t->t == T_NAME) {
        if (t->n == 4 && memcmp(t->p, "None", 4) == 0) {
            advance(ps);
            node *n = mk(ps, N_CONST);
            if (n)
                n->cval = &none_v;
            return n;
        }
        if ((t->n == 4 && memcmp(t->p, "True", 4) == 0) || (t->n == 5 && memcmp(t->p, "False", 5) == 0)) {
            node *n = mk(ps, N_CONST);
            if (n)
                n->cval = v_bool(t->n == 4);
            advance(ps);
            return n;
        }
        if (is_keyword(t->p, t->n))
            return syntax(ps, NULL);
        node *n = mk(ps, N_NAME);
        if (!n || !(n->name = name_dup(ps, t)))
            return NULL;
        advance(ps);
        return n;
    }
    if (t->t != T_OP)
        return t->t == T_END ? syntax(ps, NULL) : NULL;
    if (accept(ps, "(")) {
        if (!enter(ps))
            return NULL;
        if (accept(ps, ")")) {
            ps->depth--;
            return mk(ps, N_TUPLE);
        }
        node *first = p_test(ps);
        if (!first)
            return NULL;
        if (tok_is(ps, "for")) {
            return syntax(ps, "silk's console has no generator expressions: use [... for ...]");
        }
        if (!tok_is(ps, ",")) {
            ps->depth--;
            return expect(ps, ")") ? first : NULL;
        }
        nvec v = { SILK_BUF_INIT };
        if (!nvec_push(ps, &v, first))
            return NULL;
        while (accept(ps, ",")) {
            if (tok_is(ps, ")"))
                break;
            node *x = p_test(ps);
            if (!x || !nvec_push(ps, &v, x)) {
                silk_buf_free(&v.b);
                return NULL;
            }
        }
        if (!expect(ps, ")")) {
            silk_buf_free(&v.b);
            return NULL;
        }
        ps->depth--;
        node *n = mk(ps, N_TUPLE);
        if (!n) {
            silk_buf_free(&v.b);
            return NULL;
        }
        n->items = nvec_finish(ps, &v, &n->nitems);
        return failed(ps->in) ? NULL : n;
    }
    if (accept(ps, "[")) {
        if (!enter(ps))
            return NULL;
        node *n = mk(ps, N_LIST);
        if (!n)
            return NULL;
        if (accept(ps, "]")) {
            ps->depth--;
            return n;
        }
        node *first = p_test(ps);
        if (!first)
            return NULL;
        if (accept(ps, "for")) {
            node *c = p_comp(ps, first);
            if (!c || !expect(ps, "]"))
                return NULL;
            ps->depth--;
            return c;
        }
        nvec v = { SILK_BUF_INIT };
        if (!nvec_push(ps, &v, first))
            return NULL;
        while (accept(ps, ",")) {
            if (tok_is(ps, "]"))
                break;
            node *x = p_test(ps);
            if (!x || !nvec_push(ps, &v, x)) {
                silk_buf_free(&v.b);
                return NULL;
            }
        }
        if (!expect(ps, "]")) {
            silk_buf_free(&v.b);
            return NULL;
        }
        ps->depth--;
        n->items = nvec_finish(ps, &v, &n->nitems);
        return failed(ps->in) ? NULL : n;
    }
    if (accept(ps, "{")) {
        if (!enter(ps))
            return NULL;
        node *n = mk(ps, N_DICT);
        if (!n)
            return NULL;
        nvec v = { SILK_BUF_INIT };
        while (!tok_is(ps, "}")) {
            node *k = p_test(ps);
            if (!k || !expect(ps, ":")) {
                silk_buf_free(&v.b);
                return NULL;
            }
            node *x = p_test(ps);
            if (!x || !nvec_push(ps, &v, k) || !nvec_push(ps, &v, x)) {
                silk_buf_free(&v.b);
                return NULL;
            }
            if (!accept(ps, ","))
                break;
        }
        if (!expect(ps, "}")) {
            silk_buf_free(&v.b);
            return NULL;
        }
        ps->depth--;
        n->items = nvec_finish(ps, &v, &n->nitems);
        return failed(ps->in) ? NULL : n;
    }
    return syntax(ps, NULL);
}

static node *p_call_args(parser *ps, node *fn)
{
    node *n = mk(ps, N_CALL);
    if (!n)
        return NULL;
    n->a = fn;
    nvec pos = { SILK_BUF_INIT }, kwv = { SILK_BUF_INIT };
    silk_buf kwn = SILK_BUF_INIT;
    if (!enter(ps))
        return NULL;
    while (!tok_is(ps, ")")) {
        token *t = peek(ps);
        if (t->t == T_NAME && !is_keyword(t->p, t->n)) {
            /* keyword argument? look ahead for '=' (not '==') */
            const char *save_p = ps->p;
            token save = *t;
            advance(ps);
            if (tok_is(ps, "=")) {
                advance(ps);
                const char *name = name_dup(ps, &save);
                node *x = name ? p_test(ps) : NULL;
                if (!x || silk_buf_append(&kwn, &name, sizeof name) || !nvec_push(ps, &kwv, x))
                    goto err;
                goto next;
            }
            /* not a keyword: rewind */
            ps->p = save_p;
            ps->cur = save;
            ps->have = true;
        }
        if (kwv.b.len) {
            syntax(ps, "positional argument follows keyword argument");
            goto err;
        }
        if (tok_is(ps, "*") || tok_is(ps, "**")) {
            syntax(ps, "silk's console has no argument unpacking");
            goto err;
        }
        node *x = p_test(ps);
        if (!x)
            goto err;
        if (tok_is(ps, "for")) {
            syntax(ps, "silk's console has no generator expressions: use [... for ...]");
            goto err;
        }
        if (!nvec_push(ps, &pos, x))
            goto err;
    next:
        if (!accept(ps, ","))
            break;
    }
    if (!expect(ps, ")"))
        goto err;
    ps->depth--;
    n->items = nvec_finish(ps, &pos, &n->nitems);
    n->kwv = nvec_finish(ps, &kwv, &n->nkw);
    if (n->nkw) {
        if (kwn.err) {
            nomem(ps->in);
            goto err;
        }
        n->kwn = pool_add(ps, silk_buf_detach(&kwn));
    }
    silk_buf_free(&kwn);
    return failed(ps->in) ? NULL : n;
err:
    silk_buf_free(&pos.b);
    silk_buf_free(&kwv.b);
    silk_buf_free(&kwn);
    return NULL;
}

static node *p_subscript(parser *ps, node *obj)
{
    node *n = mk(ps, N_SUB);
    if (!n || !enter(ps))
        return NULL;
    n->a = obj;
    node *lo = NULL, *hi = NULL, *step = NULL;
    bool slice = false;
    if (!tok_is(ps, ":") && !(lo = p_test(ps)))
        return NULL;
    if (accept(ps, ":")) {
        slice = true;
        if (!tok_is(ps, "]") && !tok_is(ps, ":") && !(hi = p_test(ps)))
            return NULL;
        if (accept(ps, ":") && !tok_is(ps, "]") && !(step = p_test(ps)))
            return NULL;
    }
    if (!expect(ps, "]"))
        return NULL;
    ps->depth--;
    if (slice) {
        node *s = mk(ps, N_SLICE);
        if (!s)
            return NULL;
        s->b = lo;
        s->c = hi;
        s->d = step;
        n->b = s;
    } else {
        n->b = lo;
    }
    return n;
}

static node *p_power(parser *ps)
{
    node *n = p_atom(ps);
    while (n) {
        if (accept(ps, "(")) {
            n = p_call_args(ps, n);
        } else if (accept(ps, "[")) {
            n = p_subscript(ps, n);
        } else if (accept(ps, ".")) {
            token *t = peek(ps);
            if (t->t != T_NAME)
                return syntax(ps, NULL);
            node *a = mk(ps, N_ATTR);
            if (!a || !(a->name = name_dup(ps, t)))
                return NULL;
            advance(ps);
            a->a = n;
            n = a;
        } else {
            break;
        }
    }
    if (n && tok_is(ps, "**"))
        return syntax(ps, "silk's console has no ** operator");
    return n;
}

static node *p_factor(parser *ps)
{
    if (tok_is(ps, "-") || tok_is(ps, "+")) {
        bool neg = tok_is(ps, "-");
        advance(ps);
        if (!enter(ps))
            return NULL;
        node *x = p_factor(ps);
        ps->depth--;
        if (!x)
            return NULL;
        node *n = mk(ps, neg ? N_NEG : N_POS);
        if (n)
            n->a = x;
        return n;
    }
    return p_power(ps);
}

static node *p_binary(parser *ps, int level);

static node *p_term(parser *ps) { return p_binary(ps, 1); }

/* level 0: + -, level 1: * / // % */
static node *p_binary(parser *ps, int level)
{
    node *l = level == 0 ? p_term(ps) : p_factor(ps);
    while (l) {
        int op = 0;
        if (level == 0) {
            if (tok_is(ps, "+"))
                op = OP_ADD;
            else if (tok_is(ps, "-"))
                op = OP_SUB;
        } else {
            if (tok_is(ps, "*"))
                op = OP_MUL;
            else if (tok_is(ps, "/"))
                op = OP_DIV;
            else if (tok_is(ps, "//"))
                op = OP_FLOORDIV;
            else if (tok_is(ps, "%"))
                op = OP_MOD;
        }
        if (!op)
            break;
        advance(ps);
        node *r = level == 0 ? p_term(ps) : p_factor(ps);
        if (!r)
            return NULL;
        node *n = mk(ps, N_BIN);
        if (!n)
            return NULL;
        n->op = op;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static node *p_comparison(parser *ps)
{
    node *l = p_binary(ps, 0);
    while (l) {
        int op = 0;
        if (accept(ps, "=="))
            op = OP_EQ;
        else if (accept(ps, "!="))
            op = OP_NE;
        else if (accept(ps, "<="))
            op = OP_LE;
        else if (accept(ps, ">="))
            op = OP_GE;
        else if (accept(ps, "<"))
            op = OP_LT;
        else if (accept(ps, ">"))
            op = OP_GT;
        else if (accept(ps, "in"))
            op = OP_IN;
        else if (accept(ps, "is"))
            op = accept(ps, "not") ? OP_ISNOT : OP_IS;
        else if (tok_is(ps, "not")) {
            advance(ps);
            if (!expect(ps, "in"))
                return NULL;
            op = OP_NOTIN;
        }
        if (!op)
            break;
        node *r = p_binary(ps, 0);
        if (!r)
            return NULL;
        node *n = mk(ps, N_CMP);
        if (!n)
            return NULL;
        n->op = op;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static node *p_not(parser *ps)
{
    if (accept(ps, "not")) {
        if (!enter(ps))
            return NULL;
        node *x = p_not(ps);
        ps->depth--;
        if (!x)
            return NULL;
        node *n = mk(ps, N_NOT);
        if (n)
            n->a = x;
        return n;
    }
    return p_comparison(ps);
}

static node *p_and(parser *ps)
{
    node *l = p_not(ps);
    while (l && accept(ps, "and")) {
        node *r = p_not(ps);
        node *n = r ? mk(ps, N_AND) : NULL;
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static node *p_or(parser *ps)
{
    node *l = p_and(ps);
    while (l && accept(ps, "or")) {
        node *r = p_and(ps);
        node *n = r ? mk(ps, N_OR) : NULL;
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static node *p_test(parser *ps)
{
    if (!enter(ps))
        return NULL;
    if (tok_is(ps, "lambda")) {
        ps->depth--;
        return syntax(ps, "silk's console defines no functions");
    }
    node *x = p_or(ps);
    if (x && accept(ps, "if")) {
        node *cond = p_or(ps);
        if (!cond || !expect(ps, "else"))
            return NULL;
        node *other = p_test(ps);
        node *n = other ? mk(ps, N_IFEXP) : NULL;
        if (!n)
            return NULL;
        n->a = x;
        n->b = cond;
        n->c = other;
        x = n;
    }
    ps->depth--;
    return x;
}

/* testlist: a tuple when there is a comma */
static node *p_testlist(parser *ps)
{
    node *first = p_test(ps);
    if (!first || !tok_is(ps, ","))
        return first;
    nvec v = { SILK_BUF_INIT };
    if (!nvec_push(ps, &v, first))
        return NULL;
    while (accept(ps, ",")) {
        token *t = peek(ps);
        if (t->t == T_END || tok_is(ps, "="))
            break;
        node *x = p_test(ps);
        if (!x || !nvec_push(ps, &v, x)) {
            silk_buf_free(&v.b);
            return NULL;
        }
    }
    node *n = mk(ps, N_TUPLE);
    if (!n) {
        silk_buf_free(&v.b);
        return NULL;
    }
    n->items = nvec_finish(ps, &v, &n->nitems);
    return failed(ps->in) ? NULL : n;
}

/* ============================================================ evaluation */

static val *eval(silk_interp *in, node *n);

static val *lookup(silk_interp *in, const char *name);

static bool step(silk_interp *in)
{
    if (++in->steps > in->max_steps) {
        raise(in, "RuntimeError", "this line took more than %" PRIu64 " evaluation steps; the console stops it",
              in->max_steps);
        return false;
    }
    return true;
}

static val *arith(silk_interp *in, int op, val *a, val *b)
{
    static const char *const sym[] = { "", "+", "-", "*", "/", "//", "%" };
    if (is_num(a) && is_num(b)) {
        if (a->kind != V_FLOAT && b->kind != V_FLOAT && op != OP_DIV) {
            int64_t x = num_i(a), y = num_i(b), r = 0;
            bool ovf = false;
            switch (op) {
            case OP_ADD: ovf = __builtin_add_overflow(x, y, &r); break;
            case OP_SUB: ovf = __builtin_sub_overflow(x, y, &r); break;
            case OP_MUL: ovf = __builtin_mul_overflow(x, y, &r); break;
            case OP_FLOORDIV:
            case OP_MOD:
                if (y == 0)
                    return raise(in, "ZeroDivisionError", "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) {
                    ovf = true;
                    break;
                }
                r = op == OP_FLOORDIV ? x / y : x % y;
                /* Python floors */
                if (op == OP_FLOORDIV && (x % y != 0) && ((x < 0) != (y < 0)))
                    r--;
                if (op == OP_MOD && r != 0 && ((r < 0) != (y < 0)))
                    r += y;
                break;
            }
            if (ovf)
                return raise(in, "OverflowError", "integer too large for silk's console (64 bits)");
            return v_int(in, r);
        }
        double x = num_d(a), y = num_d(b), r = 0;
        switch (op) {
        case OP_ADD: r = x + y; break;
        case OP_SUB: r = x - y; break;
        case OP_MUL: r = x * y; break;
        case OP_DIV:
            if (y == 0)
                return raise(in, "ZeroDivisionError", a->kind == V_FLOAT || b->kind == V_FLOAT
                                                          ? "float division by zero"
                                                          : "division by zero");
            r = x / y;
            break;
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0)
                return raise(in, "ZeroDivisionError", "float divmod()");
            r = op == OP_FLOORDIV ? floor(x / y) : x - floor(x / y) * y;
            break;
        }
        return v_float(in, r);
    }
    if (op == OP_ADD && a->kind == b->kind && (a->kind == V_STR || a->kind == V_BYTES)) {
        if (a->u.s.n + b->u.s.n > MAX_STR)
            return raise(in, "MemoryError", "a string of %zu bytes is too long for the console",
                         a->u.s.n + b->u.s.n);
        val *v = v_strn_kind(in, a->u.s.p, a->u.s.n, a->kind);
        if (!v)
            return NULL;
        char *p = silk_realloc(v->u.s.p, a->u.s.n + b->u.s.n + 1);
        if (!p) {
            decref(v);
            return nomem(in);
        }
        memcpy(p + a->u.s.n, b->u.s.p, b->u.s.n + 1);
        v->u.s.p = p;
        v->u.s.n = a->u.s.n + b->u.s.n;
        return v;
    }
    if (op == OP_ADD && a->kind == b->kind && (a->kind == V_LIST || a->kind == V_TUPLE)) {
        val *v = v_seq(in, a->kind);
        for (size_t i = 0; v && i < a->u.l.len + b->u.l.len; i++) {
            val *x = i < a->u.l.len ? a->u.l.items[i] : b->u.l.items[i - a->u.l.len];
            if (seq_push(in, v, incref(x))) {
                decref(v);
                return NULL;
            }
        }
        return v;
    }
    if (op == OP_MUL && (a->kind == V_INT || b->kind == V_INT)) {
        val *seq = a->kind == V_INT ? b : a;
        int64_t times = a->kind == V_INT ? a->u.i : b->u.i;
        if (times < 0)
            times = 0;
        if (seq->kind == V_STR || seq->kind == V_BYTES) {
            if (seq->u.s.n && (uint64_t)times > MAX_STR / seq->u.s.n)
                return raise(in, "MemoryError", "that string is too long for the console");
            silk_buf b2 = SILK_BUF_INIT;
            for (int64_t i = 0; i < times; i++)
                silk_buf_append(&b2, seq->u.s.p, seq->u.s.n);
            if (b2.err) {
                silk_buf_free(&b2);
                return nomem(in);
            }
            val *v = v_strn_kind(in, b2.data ? b2.data : "", b2.len, seq->kind);
            silk_buf_free(&b2);
            return v;
        }
        if (seq->kind == V_LIST || seq->kind == V_TUPLE) {
            if (seq->u.l.len && (uint64_t)times > MAX_LIST / seq->u.l.len)
                return raise(in, "MemoryError", "that list is too long for the console");
            val *v = v_seq(in, seq->kind);
            for (int64_t k = 0; v && k < times; k++)
                for (size_t i = 0; i < seq->u.l.len; i++) {
                    if (!step(in) || seq_push(in, v, incref(seq->u.l.items[i]))) {
                        decref(v);
                        return NULL;
                    }
                }
            return v;
        }
    }
    return raise(in, "TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], type_name(a),
                 type_name(b));
}

static val *contains(silk_interp *in, val *needle, val *hay)
{
    if (hay->kind == V_STR || hay->kind == V_BYTES) {
        if (needle->kind != hay->kind)
            return raise(in, "TypeError", "'in <string>' requires string as left operand, not %s",
                         type_name(needle));
        if (needle->u.s.n == 0)
            return &true_v;
        return v_bool(memmem(hay->u.s.p, hay->u.s.n, needle->u.s.p, needle->u.s.n) != NULL);
    }
    if (hay->kind == V_LIST || hay->kind == V_TUPLE) {
        for (size_t i = 0; i < hay->u.l.len; i++)
            if (val_eq(hay->u.l.items[i], needle))
                return &true_v;
        return &false_v;
    }
    if (hay->kind == V_DICT)
        return v_bool(dict_lookup(hay, needle) != NULL);
    return raise(in, "TypeError", "argument of type '%s' is not iterable", type_name(hay));
}

static val *compare(silk_interp *in, int op, val *a, val *b)
{
    switch (op) {
    case OP_EQ: return v_bool(val_eq(a, b));
    case OP_NE: return v_bool(!val_eq(a, b));
    case OP_IS: return v_bool(a == b || (a->kind == V_OBJ && b->kind == V_OBJ && a->u.obj == b->u.obj) ||
                              (a->kind == V_TYPE && b->kind == V_TYPE && a->u.type == b->u.type));
    case OP_ISNOT: {
        val *r = compare(in, OP_IS, a, b);
        return r ? v_bool(!r->u.b) : NULL;
    }
    case OP_IN: return contains(in, a, b);
    case OP_NOTIN: {
        val *r = contains(in, a, b);
        return r ? v_bool(!r->u.b) : NULL;
    }
    default: {
        bool ok;
        int c = val_cmp(a, b, &ok);
        static const char *const sym[] = { [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=" };
        if (!ok)
            return raise(in, "TypeError", "'%s' not supported between instances of '%s' and '%s'", sym[op],
                         type_name(a), type_name(b));
        switch (op) {
        case OP_LT: return v_bool(c < 0);
        case OP_LE: return v_bool(c <= 0);
        case OP_GT: return v_bool(c > 0);
        default: return v_bool(c >= 0);
        }
    }
    }
}

/* Python's index normalisation; false when out of range. */
static bool norm_index(int64_t i, size_t len, size_t *out)
{
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return false;
    *out = (size_t)i;
    return true;
}

static bool slice_bound(silk_interp *in, val *v, int64_t def, int64_t *out)
{
    if (!v || v->kind == V_NONE) {
        *out = def;
        return true;
    }
    if (v->kind != V_INT && v->kind != V_BOOL) {
        raise(in, "TypeError", "slice indices must be integers or None");
        return false;
    }
    *out = num_i(v);
    return true;
}

static val *do_slice(silk_interp *in, val *obj, val *lo_v, val *hi_v, val *step_v)
{
    size_t len = obj->kind == V_STR || obj->kind == V_BYTES ? obj->u.s.n : obj->u.l.len;
    int64_t stepi;
    if (!slice_bound(in, step_v, 1, &stepi))
        return NULL;
    if (stepi == 0)
        return raise(in, "ValueError", "slice step cannot be zero");
    int64_t lo, hi, n = (int64_t)len;
    if (!slice_bound(in, lo_v, stepi > 0 ? 0 : n - 1, &lo) || !slice_bound(in, hi_v, stepi > 0 ? n : -n - 1, &hi))
        return NULL;
    if (lo_v && lo_v->kind != V_NONE && lo < 0)
        lo += n;
    if (hi_v && hi_v->kind != V_NONE && hi < 0)
        hi += n;
    if (stepi > 0) {
        lo = lo < 0 ? 0 : lo > n ? n : lo;
        hi = hi < 0 ? 0 : hi > n ? n : hi;
    } else {
        lo = lo < -1 ? -1 : lo > n - 1 ? n - 1 : lo;
        hi = hi < -1 ? -1 : hi > n - 1 ? n - 1 : hi;
    }
    if (obj->kind == V_STR || obj->kind == V_BYTES) {
        /* bytes positions: exact for ASCII, which is what URLs are */
        silk_buf b = SILK_BUF_INIT;
        for (int64_t i = lo; stepi > 0 ? i < hi : i > hi; i += stepi)
            silk_buf_putc(&b, obj->u.s.p[i]);
        if (b.err) {
            silk_buf_free(&b);
            return nomem(in);
        }
        val *v = v_strn_kind(in, b.data ? b.data : "", b.len, obj->kind);
        silk_buf_free(&b);
        return v;
    }
    val *v = v_seq(in, obj->kind == V_TUPLE ? V_TUPLE : V_LIST);
    for (int64_t i = lo; v && (stepi > 0 ? i < hi : i > hi); i += stepi)
        if (seq_push(in, v, incref(obj->u.l.items[i]))) {
            decref(v);
            return NULL;
        }
    return v;
}

static val *settings_value(silk_interp *in, const char *key);
static val *item_field(silk_interp *in, silk_item *it, const char *field, bool attr);

static val *subscript(silk_interp *in, val *obj, val *idx)
{
    if (obj->kind == V_LIST || obj->kind == V_TUPLE || obj->kind == V_STR || obj->kind == V_BYTES) {
        if (idx->kind != V_INT && idx->kind != V_BOOL)
            return raise(in, "TypeError", "%s indices must be integers or slices, not %s", type_name(obj),
                         type_name(idx));
        bool isstr = obj->kind == V_STR || obj->kind == V_BYTES;
        size_t len = isstr ? obj->u.s.n : obj->u.l.len, i;
        if (!norm_index(num_i(idx), len, &i))
            return raise(in, "IndexError", "%s index out of range",
                         obj->kind == V_STR ? "string" : obj->kind == V_BYTES ? "index" : type_name(obj));
        if (obj->kind == V_BYTES)
            return v_int(in, (unsigned char)obj->u.s.p[i]);
        if (obj->kind == V_STR)
            return v_strn(in, obj->u.s.p + i, 1);
        return incref(obj->u.l.items[i]);
    }
    if (obj->kind == V_DICT) {
        val *v = dict_lookup(obj, idx);
        if (!v) {
            silk_buf b = SILK_BUF_INIT;
            repr(in, &b, idx, 0);
            raise(in, "KeyError", "%s", b.data ? b.data : "");
            silk_buf_free(&b);
            return NULL;
        }
        return incref(v);
    }
    if (obj->kind == V_NS && obj->u.ns == NS_SETTINGS) {
        if (idx->kind != V_STR)
            return raise(in, "TypeError", "setting names are strings, not %s", type_name(idx));
        return settings_value(in, idx->u.s.p);
    }
    if (obj->kind == V_OBJ && obj->u.obj->type == &silk_type_item) {
        if (idx->kind != V_STR)
            return raise(in, "KeyError", "item fields are strings");
        return item_field(in, (silk_item *)obj->u.obj, idx->u.s.p, false);
    }
    if (obj->kind == V_OBJ && obj->u.obj->type == &silk_type_selector_list) {
        val *l = iterable(in, obj);
        if (!l)
            return NULL;
        val *r = subscript(in, l, idx);
        decref(l);
        return r;
    }
    return raise(in, "TypeError", "'%s' object is not subscriptable", type_name(obj));
}

/* ---------------------------------------------------------- call helpers */

static val *arg_at(const args *a, size_t i, const char *kw)
{
    if (i < a->npos)
        return a->pos[i];
    for (size_t k = 0; kw && k < a->nkw; k++)
        if (strcmp(a->kwn[k], kw) == 0)
            return a->kwv[k];
    return NULL;
}

/* Refuses arguments beyond maxpos positional and keywords not in kws
 * (a NULL-terminated list). */
static bool check_args(silk_interp *in, const char *fname, const args *a, size_t minpos, size_t maxpos,
                       const char *const *kws)
{
    for (size_t k = 0; k < a->nkw; k++) {
        bool ok = false;
        for (const char *const *w = kws; w && *w; w++)
            if (strcmp(*w, a->kwn[k]) == 0)
                ok = true;
        if (!ok) {
            raise(in, "TypeError", "%s() got an unexpected keyword argument '%s'", fname, a->kwn[k]);
            return false;
        }
    }
    if (a->npos > maxpos) {
        raise(in, "TypeError", "%s() takes %s%zu positional argument%s but %zu %s given", fname,
              minpos == maxpos ? "" : "at most ", maxpos, maxpos == 1 ? "" : "s", a->npos,
              a->npos == 1 ? "was" : "were");
        return false;
    }
    size_t have = a->npos + a->nkw;
    if (have < minpos) {
        /* Python names them when it can: "... argument: 'class_name'" */
        size_t nk = 0;
        while (kws && kws[nk])
            nk++;
        if (minpos - have == 1 && have < nk)
            raise(in, "TypeError", "%s() missing 1 required positional argument: '%s'", fname, kws[have]);
        else
            raise(in, "TypeError", "%s() missing %zu required positional argument%s", fname, minpos - have,
                  minpos - have == 1 ? "" : "s");
        return false;
    }
    return true;
}

static const char *str_arg(silk_interp *in, const char *fname, val *v)
{
    if (!v || v->kind != V_STR) {
        raise(in, "TypeError", "%s() argument must be str, not %s", fname, v ? type_name(v) : "nothing");
        return NULL;
    }
    return v->u.s.p;
}

/* ---------------------------------------------------------- the builtins */

static void out_puts(silk_interp *in, const char *s)
{
    if (!over_limit(in, in->out))
        silk_buf_puts(in->out, s);
}

/* ignore= of prefs: a type, a tuple/list of types, or type names */
static silk_type **ignore_list(silk_interp *in, val *v, silk_type **small, size_t nsmall)
{
    small[0] = NULL;
    if (!v || v->kind == V_NONE)
        return small;
    val *one[1] = { v };
    val **items = one;
    size_t n = 1;
    if (v->kind == V_TUPLE || v->kind == V_LIST) {
        items = v->u.l.items;
        n = v->u.l.len;
    }
    if (n + 1 > nsmall) {
        raise(in, "ValueError", "ignore= takes at most %zu types", nsmall - 1);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        val *x = items[i];
        if (x->kind == V_TYPE) {
            small[i] = x->u.type;
        } else if (x->kind == V_STR) {
            if (!(small[i] = silk_type_find(x->u.s.p))) {
                raise(in, "NameError", "name '%s' is not a tracked type", x->u.s.p);
                return NULL;
            }
        } else {
            raise(in, "TypeError", "issubclass() arg 2 must be a class, a tuple of classes, or a union");
            return NULL;
        }
    }
    small[n] = NULL;
    return small;
}

static val *bi_format_live_refs(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "format_live_refs", a, 0, 1, (const char *const[]){ "ignore", NULL }))
        return NULL;
    silk_type *small[33];
    silk_type **ign = ignore_list(in, arg_at(a, 0, "ignore"), small, 33);
    if (!ign)
        return NULL;
    char *s = silk_trackref_format(ign, 0);
    if (!s)
        return nomem(in);
    val *v = v_str(in, s);
    silk_free(s);
    return v;
}

static val *bi_prefs(silk_interp *in, val *self, const args *a)
{
    val *s = bi_format_live_refs(in, self, a);
    if (!s)
        return NULL;
    out_puts(in, s->u.s.p);
    out_puts(in, "\n");
    decref(s);
    return &none_v;
}

static val *bi_get_oldest(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "get_oldest", a, 1, 1, (const char *const[]){ "class_name", NULL }))
        return NULL;
    const char *name = str_arg(in, "get_oldest", arg_at(a, 0, "class_name"));
    if (!name)
        return NULL;
    return v_obj(in, silk_trackref_get_oldest(name));
}

static val *bi_iter_all(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "iter_all", a, 1, 1, (const char *const[]){ "class_name", NULL }))
        return NULL;
    const char *name = str_arg(in, "iter_all", arg_at(a, 0, "class_name"));
    if (!name)
        return NULL;
    val *l = v_seq(in, V_LIST);
    if (!l)
        return NULL;
    silk_trackref_iter it;
    int rc = silk_trackref_iter_all(name, &it);
    if (rc == SILK_ENOMEM) {
        decref(l);
        return nomem(in);
    }
    /* an unknown name yields nothing, as Scrapy's iter_all */
    for (size_t i = 0; i < it.len; i++)
        if (!step(in) || seq_push(in, l, v_obj(in, it.items[i]))) {
            decref(l);
            l = NULL;
            break;
        }
    silk_trackref_iter_free(&it);
    return l;
}

static val *bi_heap(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "heap", a, 0, 0, NULL))
        return NULL;
    silk_buf b = SILK_BUF_INIT;
    if (silk_heap_format(&b)) {
        silk_buf_free(&b);
        return nomem(in);
    }
    out_puts(in, b.data);
    silk_buf_free(&b);
    return &none_v;
}

static val *bi_trim(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "trim", a, 0, 0, NULL))
        return NULL;
    silk_buf b = SILK_BUF_INIT;
    if (silk_heap_trim(&b)) {
        silk_buf_free(&b);
        return nomem(in);
    }
    out_puts(in, b.data);
    silk_buf_free(&b);
    return &none_v;
}

static val *bi_len(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "len", a, 1, 1, NULL))
        return NULL;
    val *v = a->pos[0];
    switch (v->kind) {
    case V_STR: {
        int64_t n = 0;
        for (size_t i = 0; i < v->u.s.n; i++)
            n += ((unsigned char)v->u.s.p[i] & 0xC0) != 0x80;
        return v_int(in, n);
    }
    case V_BYTES: return v_int(in, (int64_t)v->u.s.n);
    case V_LIST:
    case V_TUPLE: return v_int(in, (int64_t)v->u.l.len);
    case V_DICT: return v_int(in, (int64_t)v->u.l.len / 2);
    case V_OBJ:
        if (v->u.obj->type == &silk_type_selector_list)
            return v_int(in, (int64_t)silk_selector_list_len((silk_selector_list *)v->u.obj));
        if (v->u.obj->type == &silk_type_item)
            return v_int(in, (int64_t)silk_dict_len(((silk_item *)v->u.obj)->fields));
        break;
    default: break;
    }
    return raise(in, "TypeError", "object of type '%s' has no len()", type_name(v));
}

static val *bi_str(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "str", a, 0, 1, NULL))
        return NULL;
    if (!a->npos)
        return v_str(in, "");
    silk_buf b = SILK_BUF_INIT;
    str_of(in, &b, a->pos[0]);
    return v_str_buf(in, &b);
}

static val *bi_repr(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "repr", a, 1, 1, NULL))
        return NULL;
    silk_buf b = SILK_BUF_INIT;
    repr(in, &b, a->pos[0], 0);
    return v_str_buf(in, &b);
}

static val *bi_int(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "int", a, 0, 1, NULL))
        return NULL;
    if (!a->npos)
        return v_int(in, 0);
    val *v = a->pos[0];
    if (v->kind == V_INT || v->kind == V_BOOL)
        return v_int(in, num_i(v));
    if (v->kind == V_FLOAT) {
        if (!isfinite(v->u.d) || fabs(v->u.d) >= 9.2e18)
            return raise(in, "OverflowError", "cannot convert float to a 64-bit integer");
        return v_int(in, (int64_t)v->u.d);
    }
    if (v->kind == V_STR) {
        char *e;
        errno = 0;
        const char *s = v->u.s.p;
        while (*s == ' ')
            s++;
        long long x = strtoll(s, &e, 10);
        while (*e == ' ')
            e++;
        if (e == s || *e || errno) {
            silk_buf b = SILK_BUF_INIT;
            silk__py_str_repr(&b, v->u.s.p, v->u.s.n);
            raise(in, "ValueError", "invalid literal for int() with base 10: %s", b.data ? b.data : "''");
            silk_buf_free(&b);
            return NULL;
        }
        return v_int(in, x);
    }
    return raise(in, "TypeError", "int() argument must be a string or a real number, not '%s'", type_name(v));
}

static val *bi_float(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "float", a, 0, 1, NULL))
        return NULL;
    if (!a->npos)
        return v_float(in, 0);
    val *v = a->pos[0];
    if (is_num(v))
        return v_float(in, num_d(v));
    if (v->kind == V_STR) {
        char *e;
        double d = strtod(v->u.s.p, &e);
        if (e == v->u.s.p || *e)
            return raise(in, "ValueError", "could not convert string to float");
        return v_float(in, d);
    }
    return raise(in, "TypeError", "float() argument must be a string or a real number, not '%s'", type_name(v));
}

static val *bi_list(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "list", a, 0, 1, NULL))
        return NULL;
    if (!a->npos)
        return v_seq(in, V_LIST);
    val *src = iterable(in, a->pos[0]);
    if (!src)
        return NULL;
    val *l = v_seq(in, V_LIST);
    for (size_t i = 0; l && i < src->u.l.len; i++)
        if (seq_push(in, l, incref(src->u.l.items[i]))) {
            decref(l);
            l = NULL;
        }
    decref(src);
    return l;
}

/* insertion sort is fine for console sizes? no: merge sort, stable */
static bool sort_vals(silk_interp *in, val **v, size_t n, bool reverse)
{
    if (n < 2)
        return true;
    val **tmp = silk_malloc(n * sizeof *tmp);
    if (!tmp) {
        nomem(in);
        return false;
    }
    bool ok = true;
    for (size_t width = 1; width < n && ok; width *= 2) {
        for (size_t lo = 0; lo < n && ok; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                bool cmp_ok;
                int c = val_cmp(v[j], v[i], &cmp_ok);
                if (!cmp_ok) {
                    raise(in, "TypeError", "'<' not supported between instances of '%s' and '%s'",
                          type_name(v[j]), type_name(v[i]));
                    ok = false;
                    break;
                }
                if (!step(in)) {
                    ok = false;
                    break;
                }
                if (reverse ? c > 0 : c < 0)
                    tmp[k++] = v[j++];
                else
                    tmp[k++] = v[i++];
            }
            if (!ok)
                break;
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
            memcpy(v + lo, tmp + lo, (hi - lo) * sizeof *v);
        }
    }
    silk_free(tmp);
    return ok;
}

static val *bi_sorted(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "sorted", a, 1, 1, (const char *const[]){ "reverse", NULL }))
        return NULL;
    val *l = bi_list(in, self, &(args){ a->pos, 1, NULL, NULL, 0 });
    if (!l)
        return NULL;
    val *rev = arg_at(a, 99, "reverse");
    if (!sort_vals(in, l->u.l.items, l->u.l.len, rev && truthy(rev))) {
        decref(l);
        return NULL;
    }
    return l;
}

static val *bi_sum(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "sum", a, 1, 2, (const char *const[]){ "start", NULL }))
        return NULL;
    val *src = iterable(in, a->pos[0]);
    if (!src)
        return NULL;
    val *start = arg_at(a, 1, "start");
    val *acc = start ? incref(start) : v_int(in, 0);
    for (size_t i = 0; acc && i < src->u.l.len; i++) {
        if (src->u.l.items[i]->kind == V_STR) {
            decref(acc);
            acc = raise(in, "TypeError", "sum() can't sum strings [use ''.join(seq) instead]");
            break;
        }
        val *n = arith(in, OP_ADD, acc, src->u.l.items[i]);
        decref(acc);
        acc = n;
    }
    decref(src);
    return acc;
}

static val *minmax(silk_interp *in, const args *a, bool want_max, const char *fname)
{
    if (!check_args(in, fname, a, 1, SIZE_MAX, (const char *const[]){ "default", NULL }))
        return NULL;
    val *src = NULL;
    if (a->npos == 1) {
        if (!(src = iterable(in, a->pos[0])))
            return NULL;
    } else {
        if (!(src = v_seq(in, V_TUPLE)))
            return NULL;
        for (size_t i = 0; i < a->npos; i++)
            if (seq_push(in, src, incref(a->pos[i]))) {
                decref(src);
                return NULL;
            }
    }
    val *best = NULL;
    for (size_t i = 0; i < src->u.l.len; i++) {
        val *x = src->u.l.items[i];
        if (!best) {
            best = x;
            continue;
        }
        bool ok;
        int c = val_cmp(x, best, &ok);
        if (!ok) {
            decref(src);
            return raise(in, "TypeError", "'%s' not supported between instances of '%s' and '%s'",
                         want_max ? ">" : "<", type_name(x), type_name(best));
        }
        if (want_max ? c > 0 : c < 0)
            best = x;
    }
    val *r;
    if (best)
        r = incref(best);
    else if (arg_at(a, 99, "default"))
        r = incref(arg_at(a, 99, "default"));
    else
        r = raise(in, "ValueError", "%s() arg is an empty sequence", fname);
    decref(src);
    return r;
}

static val *bi_min(silk_interp *in, val *self, const args *a)
{
    (void)self;
    return minmax(in, a, false, "min");
}

static val *bi_max(silk_interp *in, val *self, const args *a)
{
    (void)self;
    return minmax(in, a, true, "max");
}

static val *bi_isinstance(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "isinstance", a, 2, 2, NULL))
        return NULL;
    val *o = a->pos[0], *t = a->pos[1];
    val *one[1] = { t };
    val **types = one;
    size_t n = 1;
    if (t->kind == V_TUPLE) {
        types = t->u.l.items;
        n = t->u.l.len;
    }
    for (size_t i = 0; i < n; i++) {
        if (types[i]->kind != V_TYPE)
            return raise(in, "TypeError", "isinstance() arg 2 must be a type, a tuple of types, or a union");
        if (o->kind == V_OBJ && silk_type_is_a(o->u.obj->type, types[i]->u.type))
            return &true_v;
    }
    return &false_v;
}

static val *bi_type(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "type", a, 1, 1, NULL))
        return NULL;
    val *o = a->pos[0];
    if (o->kind == V_OBJ)
        return v_type(in, o->u.obj->type);
    silk_buf b = SILK_BUF_INIT;
    silk_buf_printf(&b, "<class '%s'>", type_name(o));
    return v_str_buf(in, &b);
}

static val *bi_help(silk_interp *in, val *self, const args *a);
static val *bi_exit(silk_interp *in, val *self, const args *a)
{
    (void)self;
    (void)a;
    in->exit = true;
    return &none_v;
}

/* ---- engine, stats, settings, est ---- */

static bool need_crawler(silk_interp *in, const char *what)
{
    if (in->crawler)
        return true;
    raise(in, "RuntimeError", "%s: this console is not attached to a crawl", what);
    return false;
}

static void est_line(silk_buf *b, const char *expr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void est_line(silk_buf *b, const char *expr, const char *fmt, ...)
{
    silk_buf_printf(b, "%-47s : ", expr);
    va_list ap;
    va_start(ap, fmt);
    silk_buf_vprintf(b, fmt, ap);
    va_end(ap);
    silk_buf_putc(b, '\n');
}

static const char *pybool(bool b) { return b ? "True" : "False"; }

static val *bi_est(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "est", a, 0, 1, NULL) || !need_crawler(in, "est()"))
        return NULL;
    silk_engine_status st;
    silk_crawler_status(in->crawler, &st);
    silk_spider *sp = silk_crawler_spider(in->crawler);
    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "Execution engine status\n\n");
    silk_buf t = SILK_BUF_INIT;
    silk__py_float_repr(&t, st.time_since_start);
    est_line(&b, "time()-engine.start_time", "%s", t.data ? t.data : "0.0");
    silk_buf_free(&t);
    bool scraper_idle = st.scraper_active == 0 && st.scraper_queue == 0;
    est_line(&b, "len(engine.downloader.active)", "%zu", st.downloader_active);
    est_line(&b, "engine.scraper.is_idle()", "%s", pybool(scraper_idle));
    est_line(&b, "engine.spider.name", "%s", sp && sp->name ? sp->name : "None");
    est_line(&b, "engine.spider_is_idle()", "%s",
             pybool(scraper_idle && st.downloader_active == 0 && st.scheduler_len == 0));
    est_line(&b, "engine.slot.closing", "%s", pybool(st.closing));
    est_line(&b, "len(engine.slot.inprogress)", "%zu", st.inprogress);
    est_line(&b, "len(engine.slot.scheduler.dqs or [])", "%zu", st.scheduler_disk);
    est_line(&b, "len(engine.slot.scheduler.mqs)", "%zu", st.scheduler_memory);
    est_line(&b, "len(engine.scraper.slot.queue)", "%zu", st.scraper_queue);
    est_line(&b, "len(engine.scraper.slot.active)", "%zu", st.scraper_active);
    est_line(&b, "engine.scraper.slot.active_size", "%zu", st.scraper_active_size);
    est_line(&b, "engine.scraper.slot.itemproc_size", "%zu", st.scraper_itemproc_size);
    est_line(&b, "engine.scraper.slot.needs_backout()", "%s", pybool(st.needs_backout));
    /* silk's own figures */
    est_line(&b, "engine.paused", "%s", pybool(st.paused));
    est_line(&b, "len(engine.slot.scheduler)", "%zu", st.scheduler_len);
    est_line(&b, "len(engine.downloader.slots)", "%zu", st.slots);
    silk_downloader *dl = silk_crawler_downloader(in->crawler);
    silk_slot_info slots[16];
    size_t ns = dl ? silk_downloader_slots(dl, slots, 16) : 0;
    for (size_t i = 0; i < ns && i < 16; i++) {
        char expr[160];
        const char *key = slots[i].key ? slots[i].key : "";
        snprintf(expr, sizeof expr, "len(engine.downloader.slots['%.60s'].active)", key);
        est_line(&b, expr, "%zu", slots[i].active);
        snprintf(expr, sizeof expr, "len(engine.downloader.slots['%.60s'].queue)", key);
        est_line(&b, expr, "%zu", slots[i].queued);
        snprintf(expr, sizeof expr, "len(engine.downloader.slots['%.60s'].transferring)", key);
        est_line(&b, expr, "%zu", slots[i].transferring);
    }
    if (st.slots > 16)
        silk_buf_printf(&b, "(%zu more slots)\n", st.slots - 16);
    silk_buf_putc(&b, '\n');
    if (b.err) {
        silk_buf_free(&b);
        return nomem(in);
    }
    out_puts(in, b.data);
    out_puts(in, "\n");
    silk_buf_free(&b);
    return &none_v;
}

static val *bi_print_engine_status(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "print_engine_status", a, 0, 1, (const char *const[]){ "engine", NULL }))
        return NULL;
    return bi_est(in, self, &(args){ NULL, 0, NULL, NULL, 0 });
}

static val *m_engine_pause(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "pause", a, 0, 0, NULL) || !need_crawler(in, "engine.pause()"))
        return NULL;
    silk_crawler_pause(in->crawler);
    return &none_v;
}

static val *m_engine_unpause(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "unpause", a, 0, 0, NULL) || !need_crawler(in, "engine.unpause()"))
        return NULL;
    silk_crawler_unpause(in->crawler);
    return &none_v;
}

static val *m_engine_stop(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "stop", a, 0, 0, NULL) || !need_crawler(in, "engine.stop()"))
        return NULL;
    /* Scrapy's engine.stop() closes the spider with "shutdown" */
    silk_crawler_close_spider(in->crawler, "shutdown");
    return &none_v;
}

static bool is_time_key(const char *key)
{
    return strcmp(key, "start_time") == 0 || strcmp(key, "finish_time") == 0;
}

static val *stat_val(silk_interp *in, const char *key, const silk_value *v)
{
    if (v && v->kind == SILK_V_DOUBLE && is_time_key(key)) {
        val *t = v_new(in, V_TIME);
        if (t)
            t->u.d = v->u.d;
        return t;
    }
    return from_value(in, v, 0);
}

static val *m_stats_get_value(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "get_value", a, 1, 2, (const char *const[]){ "key", "default", NULL }) ||
        !need_crawler(in, "stats"))
        return NULL;
    const char *key = str_arg(in, "get_value", arg_at(a, 0, "key"));
    if (!key)
        return NULL;
    const silk_value *v = silk_stats_get(silk_crawler_stats(in->crawler), key);
    if (!v) {
        val *def = arg_at(a, 1, "default");
        return def ? incref(def) : &none_v;
    }
    return stat_val(in, key, v);
}

static val *m_stats_get_stats(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "get_stats", a, 0, 1, (const char *const[]){ "spider", NULL }) ||
        !need_crawler(in, "stats"))
        return NULL;
    const silk_value *all = silk_stats_all(silk_crawler_stats(in->crawler));
    val *d = v_seq(in, V_DICT);
    for (size_t i = 0; d && all && i < all->u.dict.len; i++) {
        const silk_dict_entry *e = &all->u.dict.entries[i];
        if (seq_push(in, d, v_strn(in, e->key, e->key_len)) || seq_push(in, d, stat_val(in, e->key, e->value))) {
            decref(d);
            return NULL;
        }
    }
    return d;
}

static val *settings_value(silk_interp *in, const char *key)
{
    if (!need_crawler(in, "settings"))
        return NULL;
    const silk_value *v = silk_settings_get(silk_crawler_settings(in->crawler), key);
    if (!v)
        return &none_v; /* Scrapy's settings[...] of an unknown name is None */
    /* "-s KEY=VALUE" keeps text: show it typed as the typed getters see it */
    if (v->kind == SILK_V_STRING) {
        int64_t i;
        double d;
        silk_settings *s = silk_crawler_settings(in->crawler);
        const char *t = v->u.s.ptr;
        char *end;
        strtoll(t, &end, 10);
        if (*t && !*end && silk_settings_get_int(s, key, &i) == 0)
            return v_int(in, i);
        strtod(t, &end);
        if (*t && !*end && silk_settings_get_double(s, key, &d) == 0)
            return v_float(in, d);
    }
    return from_value(in, v, 0);
}

static val *m_settings_get(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "get", a, 1, 2, (const char *const[]){ "name", "default", NULL }))
        return NULL;
    const char *key = str_arg(in, "get", arg_at(a, 0, "name"));
    if (!key || !need_crawler(in, "settings"))
        return NULL;
    if (!silk_settings_get(silk_crawler_settings(in->crawler), key)) {
        val *def = arg_at(a, 1, "default");
        return def ? incref(def) : &none_v;
    }
    return settings_value(in, key);
}

static val *typed_setting(silk_interp *in, const args *a, const char *fname, char kind)
{
    if (!check_args(in, fname, a, 1, 2, (const char *const[]){ "name", "default", NULL }))
        return NULL;
    const char *key = str_arg(in, fname, arg_at(a, 0, "name"));
    if (!key || !need_crawler(in, "settings"))
        return NULL;
    silk_settings *s = silk_crawler_settings(in->crawler);
    val *def = arg_at(a, 1, "default");
    int rc;
    switch (kind) {
    case 'i': {
        int64_t i;
        if ((rc = silk_settings_get_int(s, key, &i)) == 0)
            return v_int(in, i);
        break;
    }
    case 'f': {
        double d;
        if ((rc = silk_settings_get_double(s, key, &d)) == 0)
            return v_float(in, d);
        break;
    }
    case 'b': {
        bool b;
        if ((rc = silk_settings_get_bool(s, key, &b)) == 0)
            return v_bool(b);
        break;
    }
    default: {
        silk_value *l = NULL;
        if ((rc = silk_settings_get_list(s, key, &l)) == 0) {
            val *v = from_value(in, l, 0);
            silk_value_free(l);
            return v;
        }
        break;
    }
    }
    if (rc == SILK_ENOTFOUND) {
        if (def)
            return incref(def);
        switch (kind) {
        case 'i': return v_int(in, 0);
        case 'f': return v_float(in, 0.0);
        case 'b': return &false_v;
        default: return v_seq(in, V_LIST);
        }
    }
    if (rc == SILK_ENOMEM)
        return nomem(in);
    return raise(in, "ValueError", "%s", silk_last_error());
}

static val *m_settings_getint(silk_interp *in, val *self, const args *a)
{
    (void)self;
    return typed_setting(in, a, "getint", 'i');
}
static val *m_settings_getfloat(silk_interp *in, val *self, const args *a)
{
    (void)self;
    return typed_setting(in, a, "getfloat", 'f');
}
static val *m_settings_getbool(silk_interp *in, val *self, const args *a)
{
    (void)self;
    return typed_setting(in, a, "getbool", 'b');
}
static val *m_settings_getlist(silk_interp *in, val *self, const args *a)
{
    (void)self;
    return typed_setting(in, a, "getlist", 'l');
}

/* ---- methods of values ---- */

static val *m_dict_keys(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "keys", a, 0, 0, NULL))
        return NULL;
    return iterable(in, self);
}

static val *m_dict_values(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "values", a, 0, 0, NULL))
        return NULL;
    val *l = v_seq(in, V_LIST);
    for (size_t i = 1; l && i < self->u.l.len; i += 2)
        if (seq_push(in, l, incref(self->u.l.items[i]))) {
            decref(l);
            return NULL;
        }
    return l;
}

static val *m_dict_items(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "items", a, 0, 0, NULL))
        return NULL;
    val *l = v_seq(in, V_LIST);
    for (size_t i = 0; l && i + 1 < self->u.l.len; i += 2) {
        val *t = v_seq(in, V_TUPLE);
        if (!t || seq_push(in, t, incref(self->u.l.items[i])) || seq_push(in, t, incref(self->u.l.items[i + 1])) ||
            seq_push(in, l, t)) {
            decref(t);
            decref(l);
            return NULL;
        }
    }
    return l;
}

static val *m_dict_get(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "get", a, 1, 2, NULL))
        return NULL;
    val *v = dict_lookup(self, a->pos[0]);
    if (v)
        return incref(v);
    return a->npos > 1 ? incref(a->pos[1]) : &none_v;
}

static val *str_affix(silk_interp *in, val *self, const args *a, bool start)
{
    if (!check_args(in, start ? "startswith" : "endswith", a, 1, 1, NULL))
        return NULL;
    val *x = a->pos[0];
    val *one[1] = { x };
    val **items = one;
    size_t n = 1;
    if (x->kind == V_TUPLE) {
        items = x->u.l.items;
        n = x->u.l.len;
    }
    for (size_t i = 0; i < n; i++) {
        val *p = items[i];
        if (p->kind != self->kind)
            return raise(in, "TypeError", "%s first arg must be %s or a tuple of %s, not %s",
                         start ? "startswith" : "endswith", type_name(self), type_name(self), type_name(p));
        if (p->u.s.n <= self->u.s.n &&
            memcmp(self->u.s.p + (start ? 0 : self->u.s.n - p->u.s.n), p->u.s.p, p->u.s.n) == 0)
            return &true_v;
    }
    return &false_v;
}

static val *m_str_startswith(silk_interp *in, val *self, const args *a) { return str_affix(in, self, a, true); }
static val *m_str_endswith(silk_interp *in, val *self, const args *a) { return str_affix(in, self, a, false); }

static val *str_map(silk_interp *in, val *self, const args *a, const char *fname, int mode)
{
    if (!check_args(in, fname, a, 0, 0, NULL))
        return NULL;
    const char *s = self->u.s.p;
    size_t n = self->u.s.n;
    if (mode == 2) {
        while (n && strchr(" \t\r\n\f\v", s[0]) && s[0]) {
            s++;
            n--;
        }
        while (n && strchr(" \t\r\n\f\v", s[n - 1]) && s[n - 1])
            n--;
        return v_strn_kind(in, s, n, self->kind);
    }
    val *v = v_strn_kind(in, s, n, self->kind);
    for (size_t i = 0; v && i < n; i++) {
        char c = v->u.s.p[i];
        if (mode == 0 && c >= 'A' && c <= 'Z')
            v->u.s.p[i] = (char)(c + 32);
        if (mode == 1 && c >= 'a' && c <= 'z')
            v->u.s.p[i] = (char)(c - 32);
    }
    return v;
}

static val *m_str_lower(silk_interp *in, val *self, const args *a) { return str_map(in, self, a, "lower", 0); }
static val *m_str_upper(silk_interp *in, val *self, const args *a) { return str_map(in, self, a, "upper", 1); }
static val *m_str_strip(silk_interp *in, val *self, const args *a) { return str_map(in, self, a, "strip", 2); }

static val *m_str_split(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "split", a, 0, 1, (const char *const[]){ "sep", NULL }))
        return NULL;
    val *sep = arg_at(a, 0, "sep");
    if (sep && sep->kind != V_NONE && (sep->kind != self->kind || sep->u.s.n == 0))
        return raise(in, sep->kind == self->kind ? "ValueError" : "TypeError",
                     sep->kind == self->kind ? "empty separator" : "must be str or None");
    val *l = v_seq(in, V_LIST);
    const char *s = self->u.s.p, *end = s + self->u.s.n;
    while (l && s <= end) {
        if (!step(in)) {
            decref(l);
            return NULL;
        }
        const char *next;
        size_t seplen;
        if (!sep || sep->kind == V_NONE) {
            while (s < end && strchr(" \t\r\n\f\v", *s) && *s)
                s++;
            if (s >= end)
                break;
            next = s;
            while (next < end && !(strchr(" \t\r\n\f\v", *next) && *next))
                next++;
            seplen = 0;
        } else {
            next = memmem(s, (size_t)(end - s), sep->u.s.p, sep->u.s.n);
            if (!next)
                next = end;
            seplen = sep->u.s.n;
        }
        if (seq_push(in, l, v_strn_kind(in, s, (size_t)(next - s), self->kind))) {
            decref(l);
            return NULL;
        }
        if (next >= end)
            break;
        s = next + (seplen ? seplen : 1);
        if (seplen && s == end) {
            if (seq_push(in, l, v_strn_kind(in, "", 0, self->kind))) {
                decref(l);
                return NULL;
            }
            break;
        }
    }
    return l;
}

static val *m_str_join(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "join", a, 1, 1, NULL))
        return NULL;
    val *src = iterable(in, a->pos[0]);
    if (!src)
        return NULL;
    silk_buf b = SILK_BUF_INIT;
    for (size_t i = 0; i < src->u.l.len; i++) {
        val *x = src->u.l.items[i];
        if (x->kind != V_STR) {
            silk_buf_free(&b);
            decref(src);
            return raise(in, "TypeError", "sequence item %zu: expected str instance, %s found", i, type_name(x));
        }
        if (i)
            silk_buf_append(&b, self->u.s.p, self->u.s.n);
        silk_buf_append(&b, x->u.s.p, x->u.s.n);
        if (b.len > MAX_STR) {
            silk_buf_free(&b);
            decref(src);
            return raise(in, "MemoryError", "that string is too long for the console");
        }
    }
    decref(src);
    return v_str_buf(in, &b);
}

/* ---- selectors ---- */

static val *sel_query(silk_interp *in, val *self, const args *a, bool css)
{
    const char *fname = css ? "css" : "xpath";
    if (!check_args(in, fname, a, 1, 1, (const char *const[]){ "query", NULL }))
        return NULL;
    const char *q = str_arg(in, fname, arg_at(a, 0, "query"));
    if (!q)
        return NULL;
    silk_object *o = self->u.obj;
    silk_selector_list *out = NULL;
    int rc;
    if (silk_type_is_a(o->type, &silk_type_response)) {
        silk_arena arena = SILK_ARENA_INIT;
        silk_selector *root = silk_response_selector((silk_response *)o, &arena);
        if (!root) {
            val *r = arena.err == SILK_ENOMEM ? nomem(in)
                                              : raise(in, "NotSupported", "%s",
                                                      arena.errmsg ? arena.errmsg : "Response content isn't text");
            silk_arena_release(&arena);
            return r;
        }
        silk_arena_release(&arena);
        rc = css ? silk_selector_css(root, q, NULL, &out) : silk_selector_xpath(root, q, NULL, NULL, &out);
    } else if (o->type == &silk_type_selector) {
        rc = css ? silk_selector_css((silk_selector *)o, q, NULL, &out)
                 : silk_selector_xpath((silk_selector *)o, q, NULL, NULL, &out);
    } else {
        rc = css ? silk_selector_list_css((silk_selector_list *)o, q, NULL, &out)
                 : silk_selector_list_xpath((silk_selector_list *)o, q, NULL, NULL, &out);
    }
    if (rc == SILK_ENOMEM)
        return nomem(in);
    if (rc)
        return raise(in, css ? "SelectorSyntaxError" : "ValueError", "%s", silk_last_error());
    val *v = v_obj(in, out);
    silk_unref(out);
    return v;
}

static val *m_sel_css(silk_interp *in, val *self, const args *a) { return sel_query(in, self, a, true); }
static val *m_sel_xpath(silk_interp *in, val *self, const args *a) { return sel_query(in, self, a, false); }

static val *m_sel_get(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "get", a, 0, 1, (const char *const[]){ "default", NULL }))
        return NULL;
    const char *s;
    if (self->u.obj->type == &silk_type_selector) {
        s = silk_selector_get((silk_selector *)self->u.obj);
        if (!s)
            return nomem(in);
    } else {
        s = silk_selector_list_get((silk_selector_list *)self->u.obj, NULL);
        if (!s) {
            val *def = arg_at(a, 0, "default");
            return def ? incref(def) : &none_v;
        }
    }
    return v_str(in, s);
}

static val *m_sel_getall(silk_interp *in, val *self, const args *a)
{
    if (!check_args(in, "getall", a, 0, 0, NULL))
        return NULL;
    val *l = v_seq(in, V_LIST);
    if (!l)
        return NULL;
    if (self->u.obj->type == &silk_type_selector) {
        const char *s = silk_selector_get((silk_selector *)self->u.obj);
        if (!s || seq_push(in, l, v_str(in, s))) {
            decref(l);
            return s ? NULL : nomem(in);
        }
        return l;
    }
    silk_selector_list *sl = (silk_selector_list *)self->u.obj;
    for (size_t i = 0; i < silk_selector_list_len(sl); i++) {
        const char *s = silk_selector_get(silk_selector_list_at(sl, i));
        if (!s || seq_push(in, l, v_str(in, s))) {
            decref(l);
            return s ? NULL : nomem(in);
        }
    }
    return l;
}

/* ---- the name table ---- */

static const builtin builtins[] = {
    { "prefs", bi_prefs, "prefs(ignore=None): print the live references report (print_live_refs)" },
    { "print_live_refs", bi_prefs, "print_live_refs(ignore=None): print the live references report" },
    { "format_live_refs", bi_format_live_refs, "format_live_refs(ignore=None): the report as a string" },
    { "get_oldest", bi_get_oldest, "get_oldest(class_name): the oldest live object of that type, or None" },
    { "iter_all", bi_iter_all, "iter_all(class_name): every live object of that type, oldest first" },
    { "heap", bi_heap, "heap(): bytes per tracked type, the allocator's view (mallinfo2) and the RSS" },
    { "trim", bi_trim, "trim(): malloc_trim(0), with the RSS before and after" },
    { "help", bi_help, "help: this text" },
    { "len", bi_len, "len(x)" },
    { "str", bi_str, "str(x)" },
    { "repr", bi_repr, "repr(x)" },
    { "int", bi_int, "int(x)" },
    { "float", bi_float, "float(x)" },
    { "list", bi_list, "list(x)" },
    { "sorted", bi_sorted, "sorted(x, reverse=False)" },
    { "sum", bi_sum, "sum(x, start=0)" },
    { "min", bi_min, "min(x, ...)" },
    { "max", bi_max, "max(x, ...)" },
    { "isinstance", bi_isinstance, "isinstance(obj, Type)" },
    { "type", bi_type, "type(obj)" },
    { "exit", bi_exit, "exit(): leave the console" },
    { "quit", bi_exit, "quit(): leave the console" },
    { "est", bi_est, "est(): print the engine status" },
    { "print_engine_status", bi_print_engine_status, "print_engine_status(engine): as est()" },
};

static const builtin *find_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

static val *bi_help(silk_interp *in, val *self, const args *a)
{
    (void)self;
    if (!check_args(in, "help", a, 0, 1, NULL))
        return NULL;
    if (a->npos) {
        val *v = a->pos[0];
        const builtin *fn = v->kind == V_FUNC ? v->u.fn : v->kind == V_METHOD ? v->u.m.fn : NULL;
        silk_buf b = SILK_BUF_INIT;
        if (fn)
            silk_buf_printf(&b, "%s\n", fn->doc);
        else if (v->kind == V_TYPE)
            silk_buf_printf(&b, "class %s%s%s: a tracked type\n", v->u.type->name,
                            v->u.type->parent ? "(" : "", v->u.type->parent ? v->u.type->parent->name : "");
        else {
            repr(in, &b, v, 0);
            silk_buf_putc(&b, '\n');
        }
        if (b.data)
            out_puts(in, b.data);
        silk_buf_free(&b);
        return &none_v;
    }
    out_puts(in, help_text);
    out_puts(in, "\n");
    return &none_v;
}

/* Names and the values they start with. Crawler names need a crawler. */
static val *builtin_value(silk_interp *in, const char *name)
{
    static const char *const crawler_names[] = { "est", "engine", "spider", "stats", "settings",
                                                 "print_engine_status" };
    for (size_t i = 0; i < sizeof crawler_names / sizeof crawler_names[0]; i++)
        if (!in->crawler && strcmp(name, crawler_names[i]) == 0)
            return NULL;
    if (strcmp(name, "help") == 0)
        return v_ns(in, NS_HELP);
    if (strcmp(name, "exit") == 0)
        return v_ns(in, NS_EXIT);
    if (strcmp(name, "quit") == 0)
        return v_ns(in, NS_QUIT);
    if (strcmp(name, "engine") == 0)
        return v_ns(in, NS_ENGINE);
    if (strcmp(name, "stats") == 0)
        return v_ns(in, NS_STATS);
    if (strcmp(name, "settings") == 0)
        return v_ns(in, NS_SETTINGS);
    if (strcmp(name, "spider") == 0)
        return v_obj(in, silk_crawler_spider(in->crawler));
    const builtin *b = find_builtin(name);
    return b ? v_func(in, b) : NULL;
}

static val *lookup(silk_interp *in, const char *name)
{
    for (size_t i = in->nlocals; i-- > 0;)
        if (strcmp(in->locals[i].name, name) == 0)
            return incref(in->locals[i].v);
    for (size_t i = 0; i < in->nvars; i++)
        if (strcmp(in->vars[i].name, name) == 0)
            return incref(in->vars[i].v);
    val *v = builtin_value(in, name);
    if (!v && !failed(in))
        raise(in, "NameError", "name '%s' is not defined", name);
    return v;
}

static int set_var(silk_interp *in, const char *name, val *v)
{
    for (size_t i = 0; i < in->nvars; i++)
        if (strcmp(in->vars[i].name, name) == 0) {
            decref(in->vars[i].v);
            in->vars[i].v = v;
            return 0;
        }
    if (in->nvars >= MAX_VARS) {
        decref(v);
        raise(in, "MemoryError", "a console session keeps at most %d variables (del some)", MAX_VARS);
        return -1;
    }
    if (in->nvars == in->capvars) {
        size_t cap = in->capvars ? in->capvars * 2 : 16;
        var *p = silk_realloc(in->vars, cap * sizeof *p);
        if (!p) {
            decref(v);
            nomem(in);
            return -1;
        }
        in->vars = p;
        in->capvars = cap;
    }
    char *n = silk_strdup(name);
    if (!n) {
        decref(v);
        nomem(in);
        return -1;
    }
    in->vars[in->nvars++] = (var){ n, v };
    return 0;
}

static int del_var(silk_interp *in, const char *name)
{
    for (size_t i = 0; i < in->nvars; i++)
        if (strcmp(in->vars[i].name, name) == 0) {
            silk_free(in->vars[i].name);
            decref(in->vars[i].v);
            in->vars[i] = in->vars[--in->nvars];
            return 0;
        }
    raise(in, "NameError", "name '%s' is not defined", name);
    return -1;
}

/* ---- attributes ---- */

static val *headers_dict(silk_interp *in, const silk_headers *h)
{
    val *d = v_seq(in, V_DICT);
    for (size_t i = 0; d && i < h->len; i++) {
        const char *name = h->items[i].name;
        /* the last value wins, as Scrapy's Headers[name] */
        val *existing = dict_lookup_str(d, name);
        if (existing) {
            for (size_t k = 0; k + 1 < d->u.l.len; k += 2)
                if (d->u.l.items[k + 1] == existing) {
                    val *nv = v_str(in, h->items[i].value);
                    if (!nv) {
                        decref(d);
                        return NULL;
                    }
                    decref(existing);
                    d->u.l.items[k + 1] = nv;
                    break;
                }
            continue;
        }
        if (seq_push(in, d, v_str(in, name)) || seq_push(in, d, v_str(in, h->items[i].value))) {
            decref(d);
            return NULL;
        }
    }
    return d;
}

static val *str_list(silk_interp *in, const char *const *l)
{
    val *v = v_seq(in, V_LIST);
    for (; v && l && *l; l++)
        if (seq_push(in, v, v_str(in, *l))) {
            decref(v);
            return NULL;
        }
    return v;
}

static val *item_field(silk_interp *in, silk_item *it, const char *field, bool attr)
{
    silk_value *f = silk_item_get(it, field);
    if (!f) {
        if (attr)
            return raise(in, "AttributeError", "'%s' object has no attribute '%s'", it->obj.type->name, field);
        return raise(in, "KeyError", "'%s'", field);
    }
    return from_value(in, f, 0);
}

static const builtin m_get_b = { "get", m_sel_get, "get(default=None)" };
static const builtin m_getall_b = { "getall", m_sel_getall, "getall()" };
static const builtin m_css_b = { "css", m_sel_css, "css(query): a SelectorList" };
static const builtin m_xpath_b = { "xpath", m_sel_xpath, "xpath(query): a SelectorList" };

static val *obj_attr(silk_interp *in, val *self, const char *name)
{
    silk_object *o = self->u.obj;
    if (strcmp(name, "age") == 0)
        return v_float(in, silk_object_age(o));
    if (silk_type_is_a(o->type, &silk_type_request)) {
        silk_request *r = (silk_request *)o;
        if (!strcmp(name, "url"))
            return v_str(in, r->url);
        if (!strcmp(name, "method"))
            return v_str(in, r->method ? r->method : "GET");
        if (!strcmp(name, "priority"))
            return v_int(in, r->priority);
        if (!strcmp(name, "meta"))
            return r->meta ? from_value(in, r->meta, 0) : v_seq(in, V_DICT);
        if (!strcmp(name, "cb_kwargs"))
            return r->cb_kwargs ? from_value(in, r->cb_kwargs, 0) : v_seq(in, V_DICT);
        if (!strcmp(name, "callback"))
            return r->callback_name ? v_str(in, r->callback_name) : &none_v;
        if (!strcmp(name, "errback"))
            return r->errback_name ? v_str(in, r->errback_name) : &none_v;
        if (!strcmp(name, "headers"))
            return headers_dict(in, &r->headers);
        if (!strcmp(name, "body"))
            return v_strn_kind(in, r->body ? r->body : "", r->body ? r->body_len : 0, V_BYTES);
        if (!strcmp(name, "dont_filter"))
            return v_bool(r->dont_filter);
        if (!strcmp(name, "flags"))
            return r->flags ? from_value(in, r->flags, 0) : v_seq(in, V_LIST);
        if (!strcmp(name, "encoding"))
            return v_str(in, r->encoding ? r->encoding : "utf-8");
        if (!strcmp(name, "cookies"))
            return r->cookies ? from_value(in, r->cookies, 0) : v_seq(in, V_DICT);
    } else if (silk_type_is_a(o->type, &silk_type_response)) {
        silk_response *r = (silk_response *)o;
        if (!strcmp(name, "url"))
            return v_str(in, r->url);
        if (!strcmp(name, "status"))
            return v_int(in, r->status);
        if (!strcmp(name, "headers"))
            return headers_dict(in, &r->headers);
        if (!strcmp(name, "body"))
            return v_strn_kind(in, r->body ? r->body : "", r->body ? r->body_len : 0, V_BYTES);
        if (!strcmp(name, "request"))
            return v_obj(in, r->request);
        if (!strcmp(name, "meta")) {
            if (!r->request)
                return raise(in, "AttributeError",
                             "Response.meta not available, this response is not tied to any request");
            return r->request->meta ? from_value(in, r->request->meta, 0) : v_seq(in, V_DICT);
        }
        if (!strcmp(name, "cb_kwargs")) {
            if (!r->request)
                return raise(in, "AttributeError",
                             "Response.cb_kwargs not available, this response is not tied to any request");
            return r->request->cb_kwargs ? from_value(in, r->request->cb_kwargs, 0) : v_seq(in, V_DICT);
        }
        if (!strcmp(name, "flags"))
            return r->flags ? from_value(in, r->flags, 0) : v_seq(in, V_LIST);
        if (!strcmp(name, "protocol"))
            return v_str(in, r->protocol);
        if (!strcmp(name, "ip_address"))
            return v_str(in, r->ip_address);
        if (silk_response_is_text(r)) {
            if (!strcmp(name, "text")) {
                size_t n;
                const char *t = silk_response_text(r, &n);
                return t ? v_strn(in, t, n) : nomem(in);
            }
            if (!strcmp(name, "encoding")) {
                size_t n;
                if (!r->encoding && !silk_response_text(r, &n))
                    return nomem(in);
                return v_str(in, r->encoding);
            }
            if (!strcmp(name, "css"))
                return v_method(in, &m_css_b, self);
            if (!strcmp(name, "xpath"))
                return v_method(in, &m_xpath_b, self);
        }
    } else if (o->type == &silk_type_item) {
        silk_item *it = (silk_item *)o;
        if (!strcmp(name, "fields"))
            return from_value(in, it->fields, 0);
        return item_field(in, it, name, true);
    } else if (silk_type_is_a(o->type, &silk_type_spider)) {
        silk_spider *sp = (silk_spider *)o;
        if (!strcmp(name, "name"))
            return v_str(in, sp->name);
        if (!strcmp(name, "allowed_domains"))
            return str_list(in, sp->def ? sp->def->allowed_domains : NULL);
        if (!strcmp(name, "start_urls"))
            return str_list(in, sp->def ? sp->def->start_urls : NULL);
        if (!strcmp(name, "state"))
            return from_value(in, sp->state, 0);
    } else if (o->type == &silk_type_selector || o->type == &silk_type_selector_list) {
        if (!strcmp(name, "get"))
            return v_method(in, &m_get_b, self);
        if (!strcmp(name, "getall"))
            return v_method(in, &m_getall_b, self);
        if (!strcmp(name, "css"))
            return v_method(in, &m_css_b, self);
        if (!strcmp(name, "xpath"))
            return v_method(in, &m_xpath_b, self);
    }
    return raise(in, "AttributeError", "'%s' object has no attribute '%s'", o->type->name, name);
}

static const builtin ns_methods[] = {
    { "pause", m_engine_pause, "engine.pause(): stop pulling requests (in-flight ones finish)" },
    { "unpause", m_engine_unpause, "engine.unpause(): go on crawling" },
    { "stop", m_engine_stop, "engine.stop(): close the spider (finish_reason 'shutdown')" },
    { "get_value", m_stats_get_value, "stats.get_value(key, default=None)" },
    { "get_stats", m_stats_get_stats, "stats.get_stats(): every stat, as a dict" },
    { "get", m_settings_get, "settings.get(name, default=None)" },
    { "getint", m_settings_getint, "settings.getint(name, default=0)" },
    { "getfloat", m_settings_getfloat, "settings.getfloat(name, default=0.0)" },
    { "getbool", m_settings_getbool, "settings.getbool(name, default=False)" },
    { "getlist", m_settings_getlist, "settings.getlist(name, default=[])" },
};

static const builtin value_methods[] = {
    { "keys", m_dict_keys, "d.keys()" },         { "values", m_dict_values, "d.values()" },
    { "items", m_dict_items, "d.items()" },      { "get", m_dict_get, "d.get(key, default=None)" },
    { "startswith", m_str_startswith, "" },      { "endswith", m_str_endswith, "" },
    { "lower", m_str_lower, "" },                { "upper", m_str_upper, "" },
    { "strip", m_str_strip, "" },                { "split", m_str_split, "" },
    { "join", m_str_join, "" },
};

static val *get_attr(silk_interp *in, val *self, const char *name)
{
    if (self->kind == V_OBJ)
        return obj_attr(in, self, name);
    if (self->kind == V_NS) {
        static const struct {
            ns_kind ns;
            size_t lo, hi;
        } ranges[] = { { NS_ENGINE, 0, 3 }, { NS_STATS, 3, 5 }, { NS_SETTINGS, 5, 10 } };
        if (self->u.ns == NS_ENGINE && in->crawler) {
            if (!strcmp(name, "paused"))
                return v_bool(silk_crawler_paused(in->crawler));
            if (!strcmp(name, "spider"))
                return v_obj(in, silk_crawler_spider(in->crawler));
        }
        for (size_t r = 0; r < 3; r++)
            if (ranges[r].ns == self->u.ns)
                for (size_t i = ranges[r].lo; i < ranges[r].hi; i++)
                    if (!strcmp(ns_methods[i].name, name))
                        return v_method(in, &ns_methods[i], self);
    }
    if (self->kind == V_TYPE && !strcmp(name, "__name__"))
        return v_str(in, self->u.type->name);
    if (self->kind == V_DICT || self->kind == V_STR || self->kind == V_BYTES) {
        size_t lo = self->kind == V_DICT ? 0 : 4, hi = self->kind == V_DICT ? 4 : 11;
        for (size_t i = lo; i < hi; i++)
            if (!strcmp(value_methods[i].name, name))
                return v_method(in, &value_methods[i], self);
    }
    return raise(in, "AttributeError", "'%s' object has no attribute '%s'", type_name(self), name);
}

/* ---- calls ---- */

static val *call(silk_interp *in, val *fn, const args *a)
{
    if (fn->kind == V_FUNC)
        return fn->u.fn->fn(in, NULL, a);
    if (fn->kind == V_METHOD)
        return fn->u.m.fn->fn(in, fn->u.m.self, a);
    if (fn->kind == V_NS && fn->u.ns == NS_HELP)
        return bi_help(in, NULL, a);
    if (fn->kind == V_NS && (fn->u.ns == NS_EXIT || fn->u.ns == NS_QUIT))
        return bi_exit(in, NULL, a);
    return raise(in, "TypeError", "'%s' object is not callable", type_name(fn));
}

static val *eval_call(silk_interp *in, node *n)
{
    val *fn = eval(in, n->a);
    if (!fn)
        return NULL;
    size_t np = n->nitems, nk = n->nkw;
    val *small[16];
    val **vals = np + nk <= 16 ? small : silk_calloc(np + nk, sizeof *vals);
    val *r = NULL;
    size_t done = 0;
    if (!vals) {
        decref(fn);
        return nomem(in);
    }
    for (; done < np + nk; done++) {
        node *x = done < np ? n->items[done] : n->kwv[done - np];
        if (!(vals[done] = eval(in, x)))
            goto out;
    }
    for (size_t i = 0; i < nk; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(n->kwn[i], n->kwn[j])) {
                raise(in, "SyntaxError", "keyword argument repeated: %s", n->kwn[i]);
                goto out;
            }
    args a = { vals, np, n->kwn, vals + np, nk };
    r = call(in, fn, &a);
out:
    for (size_t i = 0; i < done; i++)
        decref(vals[i]);
    if (vals != small)
        silk_free(vals);
    decref(fn);
    return r;
}

static val *eval_comp(silk_interp *in, node *n)
{
    val *src0 = eval(in, n->b);
    if (!src0)
        return NULL;
    val *src = iterable(in, src0);
    decref(src0);
    if (!src)
        return NULL;
    val *out = v_seq(in, V_LIST);
    if (!out) {
        decref(src);
        return NULL;
    }
    if (in->nlocals == in->caplocals) {
        size_t cap = in->caplocals ? in->caplocals * 2 : 4;
        var *p = silk_realloc(in->locals, cap * sizeof *p);
        if (!p) {
            decref(src);
            decref(out);
            return nomem(in);
        }
        in->locals = p;
        in->caplocals = cap;
    }
    size_t slot = in->nlocals++;
    in->locals[slot] = (var){ (char *)n->name, &none_v };
    for (size_t i = 0; i < src->u.l.len; i++) {
        if (!step(in))
            goto fail;
        decref(in->locals[slot].v);
        in->locals[slot].v = incref(src->u.l.items[i]);
        if (n->c) {
            val *c = eval(in, n->c);
            if (!c)
                goto fail;
            bool keep = truthy(c);
            decref(c);
            if (!keep)
                continue;
        }
        if (seq_push(in, out, eval(in, n->a)))
            goto fail;
    }
    decref(in->locals[slot].v);
    in->nlocals--;
    decref(src);
    return out;
fail:
    decref(in->locals[slot].v);
    in->nlocals--;
    decref(src);
    decref(out);
    return NULL;
}

static val *eval_seq(silk_interp *in, node *n, vkind k)
{
    val *v = v_seq(in, k);
    for (size_t i = 0; v && i < n->nitems; i++)
        if (seq_push(in, v, eval(in, n->items[i]))) {
            decref(v);
            return NULL;
        }
    if (v && k == V_DICT) {
        /* later keys replace earlier ones, as in Python */
        for (size_t i = 0; i + 1 < v->u.l.len; i += 2)
            for (size_t j = i + 2; j + 1 < v->u.l.len;)
                if (val_eq(v->u.l.items[i], v->u.l.items[j])) {
                    decref(v->u.l.items[i + 1]);
                    v->u.l.items[i + 1] = v->u.l.items[j + 1];
                    decref(v->u.l.items[j]);
                    memmove(v->u.l.items + j, v->u.l.items + j + 2, (v->u.l.len - j - 2) * sizeof(val *));
                    v->u.l.len -= 2;
                } else {
                    j += 2;
                }
    }
    return v;
}

static val *eval(silk_interp *in, node *n)
{
    if (!step(in))
        return NULL;
    switch (n->kind) {
    case N_CONST: return incref(n->cval);
    case N_NAME: return lookup(in, n->name);
    case N_ATTR: {
        val *o = eval(in, n->a);
        if (!o)
            return NULL;
        val *r = get_attr(in, o, n->name);
        decref(o);
        return r;
    }
    case N_CALL: return eval_call(in, n);
    case N_SUB: {
        val *o = eval(in, n->a);
        if (!o)
            return NULL;
        val *r = NULL;
        if (n->b->kind == N_SLICE) {
            node *s = n->b;
            val *lo = s->b ? eval(in, s->b) : &none_v, *hi = lo && s->c ? eval(in, s->c) : &none_v;
            val *st = lo && hi && s->d ? eval(in, s->d) : &none_v;
            if (lo && hi && st) {
                if (o->kind == V_LIST || o->kind == V_TUPLE || o->kind == V_STR || o->kind == V_BYTES)
                    r = do_slice(in, o, lo, hi, st);
                else if (o->kind == V_OBJ && o->u.obj->type == &silk_type_selector_list) {
                    val *l = iterable(in, o);
                    r = l ? do_slice(in, l, lo, hi, st) : NULL;
                    decref(l);
                } else
                    r = raise(in, "TypeError", "'%s' object is not subscriptable", type_name(o));
            }
            decref(lo);
            decref(hi);
            decref(st);
        } else {
            val *i = eval(in, n->b);
            if (i)
                r = subscript(in, o, i);
            decref(i);
        }
        decref(o);
        return r;
    }
    case N_SLICE: return raise(in, "SyntaxError", "invalid syntax");
    case N_LIST: return eval_seq(in, n, V_LIST);
    case N_TUPLE: return eval_seq(in, n, V_TUPLE);
    case N_DICT: return eval_seq(in, n, V_DICT);
    case N_COMP: return eval_comp(in, n);
    case N_BIN: {
        val *a = eval(in, n->a), *b = a ? eval(in, n->b) : NULL, *r = NULL;
        if (a && b)
            r = arith(in, n->op, a, b);
        decref(a);
        decref(b);
        return r;
    }
    case N_CMP: {
        val *a = eval(in, n->a), *b = a ? eval(in, n->b) : NULL, *r = NULL;
        if (a && b)
            r = compare(in, n->op, a, b);
        decref(a);
        decref(b);
        return r;
    }
    case N_NEG:
    case N_POS: {
        val *a = eval(in, n->a);
        if (!a)
            return NULL;
        val *r;
        if (!is_num(a))
            r = raise(in, "TypeError", "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
                      type_name(a));
        else if (n->kind == N_POS)
            r = a->kind == V_BOOL ? v_int(in, num_i(a)) : incref(a);
        else if (a->kind == V_FLOAT)
            r = v_float(in, -a->u.d);
        else if (num_i(a) == INT64_MIN)
            r = raise(in, "OverflowError", "integer too large for silk's console (64 bits)");
        else
            r = v_int(in, -num_i(a));
        decref(a);
        return r;
    }
    case N_NOT: {
        val *a = eval(in, n->a);
        if (!a)
            return NULL;
        bool t = truthy(a);
        decref(a);
        return v_bool(!t);
    }
    case N_AND:
    case N_OR: {
        val *a = eval(in, n->a);
        if (!a)
            return NULL;
        if (truthy(a) == (n->kind == N_OR))
            return a;
        decref(a);
        return eval(in, n->b);
    }
    case N_IFEXP: {
        val *c = eval(in, n->b);
        if (!c)
            return NULL;
        bool t = truthy(c);
        decref(c);
        return eval(in, t ? n->a : n->c);
    }
    }
    return raise(in, "SyntaxError", "invalid syntax");
}

/* ============================================================ statements */

static void bind_type(silk_type *t, void *arg)
{
    silk_interp *in = arg;
    if (failed(in) || t == &silk_type_object_ref)
        return;
    val *v = v_type(in, t);
    if (v)
        set_var(in, t->name, v);
}

/* from MODULE import NAME [as ALIAS], ... */
static void stmt_from(silk_interp *in, parser *ps)
{
    silk_buf mod = SILK_BUF_INIT;
    for (;;) {
        token *t = peek(ps);
        if (t->t != T_NAME) {
            silk_buf_free(&mod);
            syntax(ps, NULL);
            return;
        }
        silk_buf_append(&mod, t->p, t->n);
        advance(ps);
        if (!accept(ps, "."))
            break;
        silk_buf_putc(&mod, '.');
    }
    if (mod.err) {
        silk_buf_free(&mod);
        nomem(in);
        return;
    }
    const char *m = mod.data;
    bool ours = !strcmp(m, "scrapy") || !strncmp(m, "scrapy.", 7) || !strcmp(m, "silk") || !strncmp(m, "silk.", 5);
    if (!expect(ps, "import")) {
        silk_buf_free(&mod);
        return;
    }
    bool paren = accept(ps, "(");
    /* first pass: collect (name, alias) and check them all, then bind */
    struct {
        const char *name, *alias;
    } names[32];
    size_t nn = 0;
    if (accept(ps, "*")) {
        if (!ours) {
            raise(in, "ModuleNotFoundError", "No module named '%s'", m);
            silk_buf_free(&mod);
            return;
        }
        if (peek(ps)->t != T_END) {
            syntax(ps, NULL);
            silk_buf_free(&mod);
            return;
        }
        /* every tracked type (the functions are there already) */
        silk_type_foreach(bind_type, in);
        silk_buf_free(&mod);
        return;
    }
    for (;;) {
        token *t = peek(ps);
        if (t->t != T_NAME || is_keyword(t->p, t->n) || nn == 32) {
            syntax(ps, NULL);
            silk_buf_free(&mod);
            return;
        }
        names[nn].name = name_dup(ps, t);
        names[nn].alias = names[nn].name;
        advance(ps);
        if (accept(ps, "as")) {
            token *a = peek(ps);
            if (a->t != T_NAME || is_keyword(a->p, a->n)) {
                syntax(ps, NULL);
                silk_buf_free(&mod);
                return;
            }
            names[nn].alias = name_dup(ps, a);
            advance(ps);
        }
        if (!names[nn].name || !names[nn].alias) {
            silk_buf_free(&mod);
            return;
        }
        nn++;
        if (!accept(ps, ","))
            break;
        if (paren && tok_is(ps, ")"))
            break;
    }
    if ((paren && !expect(ps, ")")) || failed(in)) {
        silk_buf_free(&mod);
        return;
    }
    if (peek(ps)->t != T_END) {
        syntax(ps, NULL);
        silk_buf_free(&mod);
        return;
    }
    if (!ours) {
        raise(in, "ModuleNotFoundError", "No module named '%s' (silk's console imports from scrapy... and silk...)",
              m);
        silk_buf_free(&mod);
        return;
    }
    val *vals[32];
    size_t nv = 0;
    for (; nv < nn; nv++) {
        const char *name = names[nv].name;
        silk_type *t = silk_type_find(name);
        val *v = NULL;
        if (t)
            v = v_type(in, t);
        else if (find_builtin(name) || !strcmp(name, "engine") || !strcmp(name, "stats") ||
                 !strcmp(name, "settings") || !strcmp(name, "spider"))
            v = builtin_value(in, name);
        if (!v) {
            if (!failed(in))
                raise(in, "ImportError", "cannot import name '%s' from '%s' (unknown location)", name, m);
            break;
        }
        vals[nv] = v;
    }
    if (nv < nn) {
        for (size_t i = 0; i < nv; i++)
            decref(vals[i]);
    } else {
        for (size_t i = 0; i < nv; i++)
            if (set_var(in, names[i].alias, vals[i])) {
                for (size_t k = i + 1; k < nv; k++)
                    decref(vals[k]);
                break;
            }
    }
    silk_buf_free(&mod);
}

static void run_line(silk_interp *in, parser *ps)
{
    token *t = peek(ps);
    if (t->t == T_END || t->t == T_ERR)
        return;
    if (t->t == T_NAME && t->n == 4 && memcmp(t->p, "from", 4) == 0) {
        advance(ps);
        stmt_from(in, ps);
        return;
    }
    if (t->t == T_NAME && t->n == 6 && memcmp(t->p, "import", 6) == 0) {
        advance(ps);
        token *m = peek(ps);
        if (m->t != T_NAME) {
            syntax(ps, NULL);
            return;
        }
        raise(in, "ImportError", "silk's console binds names only with 'from scrapy... import NAME' or "
                                 "'from silk... import NAME'");
        return;
    }
    if (t->t == T_NAME && t->n == 3 && memcmp(t->p, "del", 3) == 0) {
        advance(ps);
        for (;;) {
            token *x = peek(ps);
            if (x->t != T_NAME || is_keyword(x->p, x->n)) {
                syntax(ps, NULL);
                return;
            }
            const char *name = name_dup(ps, x);
            advance(ps);
            if (!name || del_var(in, name))
                return;
            if (!accept(ps, ","))
                break;
        }
        if (peek(ps)->t != T_END)
            syntax(ps, NULL);
        return;
    }
    if (t->t == T_NAME && is_keyword(t->p, t->n) && !(t->n == 4 && !memcmp(t->p, "None", 4)) &&
        !(t->n == 4 && !memcmp(t->p, "True", 4)) && !(t->n == 5 && !memcmp(t->p, "False", 5)) &&
        !(t->n == 3 && !memcmp(t->p, "not", 3)) && !(t->n == 6 && !memcmp(t->p, "lambda", 6))) {
        raise(in, "SyntaxError", "silk's console runs expressions, assignments, del and from ... import, "
                                 "not '%.*s' statements",
              (int)t->n, t->p);
        return;
    }
    /* NAME = expr ? */
    const char *target = NULL;
    if (t->t == T_NAME && !is_keyword(t->p, t->n)) {
        const char *save_p = ps->p;
        token save = *t;
        advance(ps);
        if (tok_is(ps, "=")) {
            advance(ps);
            target = name_dup(ps, &save);
            if (!target)
                return;
        } else {
            ps->p = save_p;
            ps->cur = save;
            ps->have = true;
        }
    }
    node *e = p_testlist(ps);
    if (!e)
        return;
    if (tok_is(ps, "="))
        {
            syntax(ps, target ? "silk's console assigns one name at a time" : "cannot assign to expression here. Maybe you meant '==' instead of '='?");
            return;
        }
    if (peek(ps)->t != T_END) {
        if (!failed(in))
            syntax(ps, NULL);
        return;
    }
    val *v = eval(in, e);
    if (!v)
        return;
    if (target) {
        set_var(in, target, v);
        return;
    }
    /* exit and quit leave, bare or called */
    if (v->kind == V_NS && (v->u.ns == NS_EXIT || v->u.ns == NS_QUIT)) {
        in->exit = true;
        decref(v);
        return;
    }
    if (v->kind != V_NONE) {
        repr(in, in->out, v, 0);
        silk_buf_putc(in->out, '\n');
    }
    decref(v);
}

/* ================================================================ public */

int silk_interp_new(silk_crawler *crawler, silk_interp **out)
{
    *out = NULL;
    silk_interp *in = silk_calloc(1, sizeof *in);
    if (!in)
        return SILK_ENOMEM;
    in->crawler = crawler;
    in->max_output = DEFAULT_MAX_OUTPUT;
    in->max_steps = DEFAULT_MAX_STEPS;
    *out = in;
    return 0;
}

void silk_interp_free(silk_interp *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->nvars; i++) {
        silk_free(in->vars[i].name);
        decref(in->vars[i].v);
    }
    silk_free(in->vars);
    silk_free(in->locals);
    silk_free(in->err);
    silk_free(in);
}

void silk_interp_set_limits(silk_interp *in, size_t max_output, uint64_t max_steps)
{
    in->max_output = max_output ? max_output : DEFAULT_MAX_OUTPUT;
    in->max_steps = max_steps ? max_steps : DEFAULT_MAX_STEPS;
}

bool silk_interp_wants_exit(const silk_interp *in) { return in->exit; }

int silk_interp_exec(silk_interp *in, const char *line, silk_buf *out)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    parser ps = { 0 };
    ps.in = in;
    ps.src = ps.p = line;
    ps.end = line + len;
    in->out = out;
    in->out_start = out->len;
    in->truncated = false;
    in->steps = 0;
    in->nomem = false;
    silk_free(in->err);
    in->err = NULL;
    /* the line must be UTF-8, as Python source */
    for (size_t i = 0; i < len && !in->err;) {
        const unsigned char *u = (const unsigned char *)line + i;
        size_t k = u[0] < 0x80 ? 1 : (u[0] & 0xE0) == 0xC0 ? 2 : (u[0] & 0xF0) == 0xE0 ? 3 : (u[0] & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = k && i + k <= len && !(k == 2 && u[0] < 0xC2);
        for (size_t j = 1; ok && j < k; j++)
            ok = (u[j] & 0xC0) == 0x80;
        if (ok && k == 3) {
            unsigned c = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
            ok = c >= 0x800 && (c < 0xD800 || c > 0xDFFF);
        } else if (ok && k == 4) {
            unsigned c = ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
            ok = c >= 0x10000 && c <= 0x10FFFF;
        }
        if (!ok)
            raise(in, "SyntaxError", "(unicode error) 'utf-8' codec can't decode byte 0x%02x in position %zu: %s",
                  u[0], i, k ? "invalid continuation byte" : "invalid start byte");
        i += k ? k : 1;
    }
    /* an indented line is an IndentationError in Python's console */
    if (!in->err && len && (line[0] == ' ' || line[0] == '\t')) {
        const char *p = line;
        while (p < ps.end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < ps.end && *p != '#')
            raise(in, "IndentationError", "unexpected indent");
    }
    if (!in->err)
        run_line(in, &ps);
    parser_free(&ps);
    int rc = 0;
    if (out->len - in->out_start > in->max_output)
        in->truncated = true;
    if (in->truncated) {
        /* cut at the cap, on a UTF-8 boundary, and say so */
        size_t cut = in->out_start + in->max_output;
        while (cut > in->out_start && ((unsigned char)out->data[cut] & 0xC0) == 0x80)
            cut--;
        out->len = cut;
        out->data[cut] = 0;
        silk_buf_printf(out, "\n... output truncated: a command may print at most %zu bytes\n", in->max_output);
    }
    if (in->err) {
        silk_buf_puts(out, in->err);
        silk_buf_putc(out, '\n');
    } else if (in->nomem) {
        silk_buf_puts(out, "MemoryError\n");
    }
    if (in->nomem)
        rc = SILK_ENOMEM;
    silk_free(in->err);
    in->err = NULL;
    in->out = NULL;
    if (out->err)
        rc = SILK_ENOMEM;
    return rc;
}
