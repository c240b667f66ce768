/* silk — item exporters: Scrapy 2.8's JsonLinesItemExporter, JsonItemExporter
 * and CsvItemExporter, byte for byte (scrapy/exporters.py with
 * ScrapyJSONEncoder, Python 3.11's json and csv modules). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/feeds.h"
#include "silk/http.h"

#define MAX_DEPTH 512

typedef enum enc_kind {
    ENC_NONE,   /* FEED_EXPORT_ENCODING unset: JSON ensure_ascii, CSV UTF-8 */
    ENC_UTF8,
    ENC_LATIN1,
    ENC_ASCII,
} enc_kind;

struct silk_exporter {
    silk_feed_format format;
    enc_kind enc;
    const char *enc_name; /* Python's codec name, for messages */
    silk_value *fields;   /* list or dict, or NULL; owned */
    int indent;
    bool csv_header;
    char *csv_join;
    char csv_delim;

    FILE *fp;       /* caller's stream, or NULL */
    int fd;         /* our file, or -1 */
    char *path;     /* for messages; NULL for a stream */
    off_t pos;      /* fd: where the body ends (the trailer starts) */
    int stream_err; /* sticky: a stream write failed part-way */

    bool started, finished, header_done;
    size_t count;
    silk_buf out; /* the bytes of one write */
    silk_buf rec; /* one encoded record */
};

/* ---- small helpers ---- */

int silk_feed_format_parse(const char *name, silk_feed_format *out)
{
    static const struct {
        const char *name;
        silk_feed_format f;
    } names[] = {
        { "json", SILK_FEED_JSON },      { "jsonlines", SILK_FEED_JSONLINES },
        { "jsonl", SILK_FEED_JSONLINES }, { "jl", SILK_FEED_JSONLINES },
        { "csv", SILK_FEED_CSV },
    };
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return 0;
        }
    }
    return silk_error(SILK_ENOTFOUND,
                      "Unrecognized output format '%s'. Set a supported one ('json', 'jsonlines', "
                      "'jsonl', 'jl', 'csv') after a colon at the end of the output URI (i.e. -o/-O "
                      "<URI>:<FORMAT>) or as a file extension.",
                      name ? name : "");
}

const char *silk_feed_format_name(silk_feed_format f)
{
    switch (f) {
    case SILK_FEED_JSON: return "json";
    case SILK_FEED_CSV: return "csv";
    case SILK_FEED_JSONLINES: break;
    }
    return "jsonlines";
}

/* Python's encodings.normalize_encoding + alias lookup, for the three codecs
 * silk writes. */
static int parse_encoding(const char *label, enc_kind *kind, const char **name)
{
    static const char *const utf8[] = { "utf_8", "utf8", "u8", "utf", "utf8_ucs2", "utf8_ucs4",
                                        "cp65001", NULL };
    static const char *const latin1[] = { "latin_1", "latin1", "latin", "l1", "iso8859_1",
                                          "iso_8859_1", "8859", "cp819", "iso_ir_100", "csisolatin1",
                                          "iso_8859_1_1987", "ibm819", NULL };
    static const char *const ascii[] = { "ascii", "646", "ansi_x3.4_1968", "ansi_x3_4_1968",
                                         "ansi_x3.4_1986", "cp367", "csascii", "ibm367", "iso646_us",
                                         "iso_646.irv_1991", "iso_ir_6", "us", "us_ascii", NULL };
    if (!label) {
        *kind = ENC_NONE;
        *name = "utf-8";
        return 0;
    }
    char norm[64];
    size_t n = 0;
    bool pending_sep = false;
    for (const char *p = label; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.') {
            if (pending_sep && n)
                norm[n++] = '_';
            pending_sep = false;
            norm[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else {
            pending_sep = true;
        }
        if (n >= sizeof norm - 2)
            break;
    }
    norm[n] = '\0';
    const char *const *tables[] = { utf8, latin1, ascii };
    static const enc_kind kinds[] = { ENC_UTF8, ENC_LATIN1, ENC_ASCII };
    static const char *const names[] = { "utf-8", "latin-1", "ascii" };
    for (size_t t = 0; t < 3; t++) {
        for (const char *const *a = tables[t]; *a; a++) {
            if (strcmp(norm, *a) == 0) {
                *kind = kinds[t];
                *name = names[t];
                return 0;
            }
        }
    }
    return silk_error(SILK_ENOTFOUND,
                      "feed encoding '%s' is not supported: silk writes feeds in utf-8, latin-1 or ascii",
                      label);
}

/* Decodes one UTF-8 sequence at s[*i] (strict: no overlongs, surrogates or
 * values past U+10FFFF). Returns the code point, or -1. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    size_t k = *i;
    unsigned char c = s[k];
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        cp = c & 0x1f;
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        cp = c & 0x0f;
        len = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
        cp = c & 0x07;
        len = 4;
    } else {
        return -1;
    }
    if (n - k < len)
        return -1;
    for (size_t j = 1; j < len; j++) {
        if ((s[k + j] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[k + j] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return -1;
    *i = k + len;
    return (int32_t)cp;
}

static int check_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (utf8_next((const unsigned char *)s, n, &i) < 0)
            return silk_error(SILK_EENCODING, "a string of the item is not valid UTF-8 (byte %zu)", i);
    }
    return 0;
}

/* to_bytes(text, encoding) for latin-1 / ascii, strict, in place. */
static int transcode(silk_buf *b, enc_kind enc, const char *enc_name)
{
    if (enc != ENC_LATIN1 && enc != ENC_ASCII)
        return 0;
    uint32_t limit = enc == ENC_LATIN1 ? 0xff : 0x7f;
    unsigned char *s = (unsigned char *)b->data;
    size_t w = 0, pos = 0;
    for (size_t i = 0; i < b->len; pos++) {
        int32_t cp = utf8_next(s, b->len, &i);
        if (cp < 0)
            return silk_error(SILK_EENCODING, "a string of the item is not valid UTF-8");
        if ((uint32_t)cp > limit)
            return silk_error(SILK_EENCODING,
                              "'%s' codec can't encode character '\\u%04x' in position %zu: ordinal not "
                              "in range(%u)",
                              enc_name, (unsigned)cp, pos, limit + 1);
        s[w++] = (unsigned char)cp;
    }
    b->len = w;
    s[w] = '\0';
    return 0;
}

/* Python's str.isprintable, without the full Unicode database: every
 * control, format, separator (other than space), surrogate and private-use
 * range of Unicode 14 is refused; unassigned code points count as printable
 * (docs/compat.md). */
static bool py_printable(uint32_t c)
{
    static const uint32_t ranges[][2] = {
        { 0x0000, 0x001f },   { 0x007f, 0x00a0 },   { 0x00ad, 0x00ad },   { 0x0600, 0x0605 },
        { 0x061c, 0x061c },   { 0x06dd, 0x06dd },   { 0x070f, 0x070f },   { 0x0890, 0x0891 },
        { 0x08e2, 0x08e2 },   { 0x1680, 0x1680 },   { 0x180e, 0x180e },   { 0x2000, 0x200f },
        { 0x2028, 0x202f },   { 0x205f, 0x2064 },   { 0x2066, 0x206f },   { 0x3000, 0x3000 },
        { 0xd800, 0xf8ff },   { 0xfeff, 0xfeff },   { 0xfff9, 0xfffb },   { 0xfffe, 0xffff },
        { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x13438 }, { 0x1bca0, 0x1bca3 },
        { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f }, { 0xf0000, 0x10ffff },
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return false;
    return (c & 0xfffe) != 0xfffe;
}

/* repr(str) */
static int py_repr_str(silk_buf *b, const char *s, size_t n)
{
    int rc = check_utf8(s, n);
    if (rc)
        return rc;
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    silk_buf_putc(b, q);
    for (size_t i = 0; i < n;) {
        size_t start = i;
        uint32_t c = (uint32_t)utf8_next((const unsigned char *)s, n, &i);
        if (c == (uint32_t)q || c == '\\') {
            silk_buf_putc(b, '\\');
            silk_buf_putc(b, (char)c);
        } else if (c == '\n') {
            silk_buf_puts(b, "\\n");
        } else if (c == '\t') {
            silk_buf_puts(b, "\\t");
        } else if (c == '\r') {
            silk_buf_puts(b, "\\r");
        } else if (c == ' ' || py_printable(c)) {
            silk_buf_append(b, s + start, i - start);
        } else if (c <= 0xff) {
            silk_buf_printf(b, "\\x%02x", c);
        } else if (c <= 0xffff) {
            silk_buf_printf(b, "\\u%04x", c);
        } else {
            silk_buf_printf(b, "\\U%08x", c);
        }
    }
    silk_buf_putc(b, q);
    return b->err;
}

/* repr(float) */
static int py_float(silk_buf *b, double d, bool json)
{
    if (isnan(d))
        return silk_buf_puts(b, json ? "NaN" : "nan");
    if (isinf(d))
        return silk_buf_puts(b, d > 0 ? (json ? "Infinity" : "inf") : (json ? "-Infinity" : "-inf"));
    silk_value v = { .kind = SILK_V_DOUBLE, .u.d = d };
    return silk_json_encode(&v, 0, b);
}

/* What ScrapyJSONEncoder.default and str() make of Requests and Responses;
 * NULL for other objects. */
static const silk_value *object_fields(const silk_object *o)
{
    if (silk_type_is_a(o->type, &silk_type_item))
        return ((const silk_item *)o)->fields;
    return NULL;
}

static bool object_str(const silk_object *o, bool with_type, silk_buf *b)
{
    const char *type = silk_object_type_name(o);
    if (silk_type_is_a(o->type, &silk_type_request)) {
        const silk_request *r = (const silk_request *)o;
        if (with_type)
            silk_buf_printf(b, "<%s %s %s>", type, r->method, r->url);
        else
            silk_buf_printf(b, "<%s %s>", r->method, r->url);
        return true;
    }
    if (silk_type_is_a(o->type, &silk_type_response)) {
        const silk_response *r = (const silk_response *)o;
        if (with_type)
            silk_buf_printf(b, "<%s %d %s>", type, r->status, r->url);
        else
            silk_buf_printf(b, "<%d %s>", r->status, r->url);
        return true;
    }
    return false;
}

static int unserializable(const silk_object *o)
{
    return silk_error(SILK_EUNSERIALIZABLE, "Object of type %s is not JSON serializable",
                      silk_object_type_name(o));
}

/* repr() of a value, as str() gives it for CSV cells */
static int py_repr(silk_buf *b, const silk_value *v, int depth)
{
    int rc = 0;
    if (depth > MAX_DEPTH)
        return silk_error(SILK_ELIMIT, "item value nested deeper than %d levels", MAX_DEPTH);
    switch (v->kind) {
    case SILK_V_NULL: silk_buf_puts(b, "None"); break;
    case SILK_V_BOOL: silk_buf_puts(b, v->u.b ? "True" : "False"); break;
    case SILK_V_INT: silk_buf_printf(b, "%lld", (long long)v->u.i); break;
    case SILK_V_DOUBLE: rc = py_float(b, v->u.d, false); break;
    case SILK_V_STRING: rc = py_repr_str(b, v->u.s.ptr, v->u.s.len); break;
    case SILK_V_LIST:
        silk_buf_putc(b, '[');
        for (size_t i = 0; i < v->u.list.len && !rc; i++) {
            if (i)
                silk_buf_puts(b, ", ");
            rc = py_repr(b, v->u.list.items[i], depth + 1);
        }
        silk_buf_putc(b, ']');
        break;
    case SILK_V_DICT:
        silk_buf_putc(b, '{');
        for (size_t i = 0; i < v->u.dict.len && !rc; i++) {
            if (i)
                silk_buf_puts(b, ", ");
            rc = py_repr_str(b, v->u.dict.entries[i].key, v->u.dict.entries[i].key_len);
            silk_buf_puts(b, ": ");
            if (!rc)
                rc = py_repr(b, v->u.dict.entries[i].value, depth + 1);
        }
        silk_buf_putc(b, '}');
        break;
    case SILK_V_OBJECT: {
        const silk_value *f = object_fields(v->u.obj);
        if (f)
            rc = py_repr(b, f, depth + 1);
        else if (!object_str(v->u.obj, false, b))
            rc = unserializable(v->u.obj);
        break;
    }
    }
    return rc ? rc : b->err;
}

/* ---- JSON (ScrapyJSONEncoder: json.JSONEncoder with allow_nan) ---- */

/* A JSON string. Python's ensure_ascii escapes DEL (U+007F) as well, which
 * silk_json_encode leaves as it is. */
static int json_str(silk_buf *b, const char *s, size_t n, unsigned flags)
{
    silk_value v = { .kind = SILK_V_STRING, .u.s = { (char *)s, n } };
    size_t from = b->len;
    int rc = silk_json_encode(&v, flags, b);
    if (rc || !(flags & SILK_JSON_ENSURE_ASCII) || !memchr(b->data + from, 0x7f, b->len - from))
        return rc;
    size_t end = b->len, dels = 0;
    for (size_t i = from; i < end; i++)
        dels += b->data[i] == 0x7f;
    if ((rc = silk_buf_reserve(b, dels * 5)))
        return rc;
    /* expand in place, from the end */
    size_t w = end + dels * 5;
    b->data[w] = '\0';
    b->len = w;
    for (size_t i = end; i-- > from;) {
        if (b->data[i] == 0x7f) {
            w -= 6;
            memcpy(b->data + w, "\\u007f", 6);
        } else {
            b->data[--w] = b->data[i];
        }
    }
    return 0;
}

static void newline_indent(silk_buf *b, int indent, int level)
{
    silk_buf_putc(b, '\n');
    for (long k = 0; k < (long)indent * level; k++)
        silk_buf_putc(b, ' ');
}

static int json_value(silk_buf *b, const silk_value *v, unsigned flags, int indent, int level, int depth)
{
    int rc = 0;
    const char *item_sep = indent > 0 ? "," : ", ";
    if (depth > MAX_DEPTH)
        return silk_error(SILK_ELIMIT, "item value nested deeper than %d levels", MAX_DEPTH);
    switch (v->kind) {
    case SILK_V_DOUBLE: return py_float(b, v->u.d, true);
    case SILK_V_LIST:
        if (!v->u.list.len)
            return silk_buf_puts(b, "[]");
        silk_buf_putc(b, '[');
        for (size_t i = 0; i < v->u.list.len && !rc; i++) {
            if (i)
                silk_buf_puts(b, item_sep);
            if (indent > 0)
                newline_indent(b, indent, level + 1);
            rc = json_value(b, v->u.list.items[i], flags, indent, level + 1, depth + 1);
        }
        if (indent > 0)
            newline_indent(b, indent, level);
        silk_buf_putc(b, ']');
        break;
    case SILK_V_DICT:
        if (!v->u.dict.len)
            return silk_buf_puts(b, "{}");
        silk_buf_putc(b, '{');
        for (size_t i = 0; i < v->u.dict.len && !rc; i++) {
            const silk_dict_entry *en = &v->u.dict.entries[i];
            if (i)
                silk_buf_puts(b, item_sep);
            if (indent > 0)
                newline_indent(b, indent, level + 1);
            rc = json_str(b, en->key, en->key_len, flags);
            silk_buf_puts(b, ": ");
            if (!rc)
                rc = json_value(b, en->value, flags, indent, level + 1, depth + 1);
        }
        if (indent > 0)
            newline_indent(b, indent, level);
        silk_buf_putc(b, '}');
        break;
    case SILK_V_OBJECT: {
        const silk_value *f = object_fields(v->u.obj);
        if (f) /* default() returns the dict, encoded at the same level */
            return json_value(b, f, flags, indent, level, depth + 1);
        silk_buf s = SILK_BUF_INIT;
        if (!object_str(v->u.obj, true, &s)) {
            silk_buf_free(&s);
            return unserializable(v->u.obj);
        }
        rc = s.err ? s.err : json_str(b, s.data, s.len, flags);
        silk_buf_free(&s);
        break;
    }
    case SILK_V_STRING: return json_str(b, v->u.s.ptr, v->u.s.len, flags);
    default: return silk_json_encode(v, flags, b);
    }
    return rc ? rc : b->err;
}

/* ---- the fields to export (BaseItemExporter._get_serialized_fields) ---- */

typedef struct field_pair {
    const char *name; /* output name */
    size_t name_len;
    const silk_value *value; /* NULL: missing (CSV writes "") */
} field_pair;

static int pairs_add(field_pair **pairs, size_t *n, size_t *cap, const char *name, size_t name_len,
                     const silk_value *value, bool dedupe)
{
    if (dedupe) {
        /* dict(...) keeps the first position and the last value of a name */
        for (size_t i = 0; i < *n; i++) {
            if ((*pairs)[i].name_len == name_len && memcmp((*pairs)[i].name, name, name_len) == 0) {
                (*pairs)[i].value = value;
                return 0;
            }
        }
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        field_pair *p = silk_realloc(*pairs, nc * sizeof *p);
        if (!p)
            return SILK_ENOMEM;
        *pairs = p;
        *cap = nc;
    }
    (*pairs)[(*n)++] = (field_pair){ name, name_len, value };
    return 0;
}

/* The item field and the output name of entry i of a fields list or dict. */
static void field_at(const silk_value *fields, size_t i, const char **item_key, const silk_value **out_name)
{
    if (fields->kind == SILK_V_DICT) {
        *item_key = fields->u.dict.entries[i].key;
        *out_name = fields->u.dict.entries[i].value;
        return;
    }
    const silk_value *f = fields->u.list.items[i];
    if (f->kind == SILK_V_LIST) {
        *item_key = f->u.list.items[0]->u.s.ptr;
        *out_name = f->u.list.items[1];
    } else {
        *item_key = f->u.s.ptr;
        *out_name = f;
    }
}

static int collect_fields(const silk_value *item, const silk_value *fields, bool include_empty,
                          field_pair **pairs, size_t *n)
{
    size_t cap = 0;
    int rc = 0;
    *pairs = NULL;
    *n = 0;
    if (!fields) {
        for (size_t i = 0; i < item->u.dict.len && !rc; i++)
            rc = pairs_add(pairs, n, &cap, item->u.dict.entries[i].key, item->u.dict.entries[i].key_len,
                           item->u.dict.entries[i].value, false);
        return rc;
    }
    size_t count = fields->kind == SILK_V_DICT ? fields->u.dict.len : fields->u.list.len;
    for (size_t i = 0; i < count && !rc; i++) {
        const char *key;
        const silk_value *out_name;
        field_at(fields, i, &key, &out_name);
        const silk_value *v = silk_dict_get(item, key);
        if (!v && !include_empty)
            continue;
        rc = pairs_add(pairs, n, &cap, out_name->u.s.ptr, out_name->u.s.len, v, true);
    }
    return rc;
}

/* ---- CSV (csv.writer, excel dialect, QUOTE_MINIMAL, "\r\n") ---- */

static int csv_cell_text(const silk_exporter *e, const silk_value *v, silk_buf *b)
{
    if (!v || v->kind == SILK_V_NULL)
        return 0; /* a missing field is "" and csv writes None as "" */
    switch (v->kind) {
    case SILK_V_STRING:
        if (check_utf8(v->u.s.ptr, v->u.s.len))
            return SILK_EENCODING;
        return silk_buf_append(b, v->u.s.ptr, v->u.s.len);
    case SILK_V_BOOL: return silk_buf_puts(b, v->u.b ? "True" : "False");
    case SILK_V_INT: return silk_buf_printf(b, "%lld", (long long)v->u.i);
    case SILK_V_DOUBLE: return py_float(b, v->u.d, false);
    case SILK_V_LIST: {
        /* _join_if_needed: lists of strings only; else str(list) */
        bool all_str = true;
        for (size_t i = 0; i < v->u.list.len; i++)
            all_str = all_str && v->u.list.items[i]->kind == SILK_V_STRING;
        if (!all_str)
            return py_repr(b, v, 0);
        for (size_t i = 0; i < v->u.list.len; i++) {
            const silk_value *s = v->u.list.items[i];
            if (check_utf8(s->u.s.ptr, s->u.s.len))
                return SILK_EENCODING;
            if (i)
                silk_buf_puts(b, e->csv_join);
            silk_buf_append(b, s->u.s.ptr, s->u.s.len);
        }
        return b->err;
    }
    case SILK_V_OBJECT:
        if (!object_fields(v->u.obj) && object_str(v->u.obj, false, b))
            return b->err;
        return py_repr(b, v, 0);
    default: return py_repr(b, v, 0);
    }
}

static void csv_put_field(const silk_exporter *e, silk_buf *row, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == e->csv_delim || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        silk_buf_append(row, s, n);
        return;
    }
    silk_buf_putc(row, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            silk_buf_putc(row, '"');
        silk_buf_putc(row, s[i]);
    }
    silk_buf_putc(row, '"');
}

/* Appends one row of n cells (texts in cells[i], lens[i]) to row. */
static int csv_row(const silk_exporter *e, silk_buf *row, const silk_buf *cells, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            silk_buf_putc(row, e->csv_delim);
        csv_put_field(e, row, cells[i].data ? cells[i].data : "", cells[i].len);
    }
    /* a row of one empty field is written as "" so that it reads back */
    if (n == 1 && cells[0].len == 0)
        silk_buf_puts(row, "\"\"");
    silk_buf_puts(row, "\r\n");
    return row->err;
}

static int csv_item(silk_exporter *e, const silk_value *item, silk_buf *rec)
{
    int rc = 0;
    field_pair *pairs = NULL;
    size_t n = 0;
    silk_buf *cells = NULL;
    size_t ncells = 0;

    if (!e->header_done) {
        if (e->csv_header) {
            /* `if not self.fields_to_export`: an empty list also means the
             * first item's fields */
            if (!e->fields || !(e->fields->kind == SILK_V_DICT ? e->fields->u.dict.len : e->fields->u.list.len)) {
                silk_value_free(e->fields);
                e->fields = NULL;
                /* ItemAdapter(item).field_names(): the item's keys */
                silk_value *names = silk_value_new_list();
                if (!names)
                    return SILK_ENOMEM;
                for (size_t i = 0; i < item->u.dict.len && !rc; i++)
                    rc = silk_list_push(names, silk_value_new_stringn(item->u.dict.entries[i].key,
                                                                      item->u.dict.entries[i].key_len));
                if (rc) {
                    silk_value_free(names);
                    return rc;
                }
                e->fields = names;
            }
            size_t count = e->fields->kind == SILK_V_DICT ? e->fields->u.dict.len : e->fields->u.list.len;
            if (!(cells = silk_calloc(count ? count : 1, sizeof *cells)))
                return SILK_ENOMEM;
            for (size_t i = 0; i < count; i++) {
                const char *key;
                const silk_value *out_name;
                field_at(e->fields, i, &key, &out_name);
                if (!rc)
                    rc = check_utf8(out_name->u.s.ptr, out_name->u.s.len);
                if (!rc)
                    rc = silk_buf_append(&cells[i], out_name->u.s.ptr, out_name->u.s.len);
            }
            ncells = count;
            if (!rc)
                rc = csv_row(e, rec, cells, count);
            for (size_t i = 0; i < ncells; i++)
                silk_buf_free(&cells[i]);
            silk_free(cells);
            cells = NULL;
            ncells = 0;
            if (rc)
                return rc;
        }
    }
    if ((rc = collect_fields(item, e->fields, true, &pairs, &n)))
        goto out;
    if (!(cells = silk_calloc(n ? n : 1, sizeof *cells))) {
        rc = SILK_ENOMEM;
        goto out;
    }
    ncells = n;
    for (size_t i = 0; i < n && !rc; i++)
        rc = csv_cell_text(e, pairs[i].value, &cells[i]);
    if (!rc)
        rc = csv_row(e, rec, cells, n);
out:
    for (size_t i = 0; i < ncells; i++)
        silk_buf_free(&cells[i]);
    silk_free(cells);
    silk_free(pairs);
    return rc;
}

/* ---- writing ---- */

static const char *trailer(const silk_exporter *e, size_t *len)
{
    if (e->format != SILK_FEED_JSON) {
        *len = 0;
        return "";
    }
    if (e->indent == SILK_FEED_INDENT_NONE) {
        *len = 1;
        return "]";
    }
    *len = 2;
    return "\n]";
}

static int io_error(const silk_exporter *e, const char *what)
{
    return silk_error(SILK_EIO, "feed %s: %s failed: %s", e->path ? e->path : "<stream>", what,
                      strerror(errno));
}

/* Writes e->out (the body of the write). On our own file the JSON trailer
 * follows it in the same write, at the end of the body, over the previous
 * trailer: the file is a whole JSON document after every write. */
static int emit(silk_exporter *e)
{
    size_t body = e->out.len;
    if (e->fd >= 0) {
        size_t tlen;
        const char *t = trailer(e, &tlen);
        if (silk_buf_append(&e->out, t, tlen))
            return SILK_ENOMEM;
        const char *p = e->out.data;
        size_t left = e->out.len;
        off_t at = e->pos;
        while (left) {
            ssize_t w = pwrite(e->fd, p, left, at);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return io_error(e, "write");
            }
            p += w;
            left -= (size_t)w;
            at += w;
        }
        e->pos += (off_t)body;
        return 0;
    }
    if (e->stream_err)
        return silk_error(SILK_EIO, "feed <stream>: an earlier write failed");
    if ((body && fwrite(e->out.data, 1, body, e->fp) != body) || fflush(e->fp) != 0) {
        e->stream_err = 1;
        return io_error(e, "write");
    }
    return 0;
}

static int start_bytes(silk_exporter *e)
{
    if (e->format == SILK_FEED_JSON) {
        silk_buf_putc(&e->out, '[');
        if (e->indent != SILK_FEED_INDENT_NONE)
            silk_buf_putc(&e->out, '\n');
    }
    return e->out.err;
}

int silk_exporter_start(silk_exporter *e)
{
    if (!e)
        return silk_error(SILK_EINVAL, "silk_exporter_start: NULL exporter");
    if (e->started)
        return 0;
    if (e->finished)
        return silk_error(SILK_EINVAL, "feed %s: already finished", e->path ? e->path : "<stream>");
    silk_buf_reset(&e->out);
    int rc = start_bytes(e);
    if (!rc)
        rc = emit(e);
    if (!rc)
        e->started = true;
    silk_buf_reset(&e->out);
    return rc;
}

int silk_exporter_export_dict(silk_exporter *e, const silk_value *dict)
{
    if (!e || !dict || dict->kind != SILK_V_DICT)
        return silk_error(SILK_EINVAL, "silk_exporter_export: an exporter and a dict are needed");
    if (e->finished)
        return silk_error(SILK_EINVAL, "feed %s: already finished", e->path ? e->path : "<stream>");
    int rc = 0;
    field_pair *pairs = NULL;
    size_t n = 0;
    silk_buf_reset(&e->rec);
    if (e->format == SILK_FEED_CSV) {
        rc = csv_item(e, dict, &e->rec);
    } else {
        unsigned flags = e->enc == ENC_NONE ? SILK_JSON_ENSURE_ASCII : 0;
        int indent = e->format == SILK_FEED_JSON && e->indent > 0 ? e->indent : 0;
        if (!e->fields) {
            rc = json_value(&e->rec, dict, flags, indent, 0, 0);
        } else if (!(rc = collect_fields(dict, e->fields, false, &pairs, &n))) {
            /* encode the (name, value) pairs as the dict they make */
            silk_dict_entry *entries = silk_calloc(n ? n : 1, sizeof *entries);
            if (!entries) {
                rc = SILK_ENOMEM;
            } else {
                for (size_t i = 0; i < n; i++)
                    entries[i] = (silk_dict_entry){ (char *)pairs[i].name, pairs[i].name_len,
                                                    (silk_value *)pairs[i].value };
                silk_value view = { .kind = SILK_V_DICT, .u.dict = { entries, n, n } };
                rc = json_value(&e->rec, &view, flags, indent, 0, 0);
                silk_free(entries);
            }
        }
        if (!rc && e->format == SILK_FEED_JSONLINES)
            rc = silk_buf_putc(&e->rec, '\n');
    }
    silk_free(pairs);
    if (!rc)
        rc = e->rec.err;
    if (!rc)
        rc = transcode(&e->rec, e->enc, e->enc_name);
    if (rc)
        goto out;

    silk_buf_reset(&e->out);
    if (!e->started)
        start_bytes(e);
    else if (e->format == SILK_FEED_JSON && e->count)
        silk_buf_puts(&e->out, e->indent != SILK_FEED_INDENT_NONE ? ",\n" : ",");
    silk_buf_append(&e->out, e->rec.data, e->rec.len);
    if ((rc = e->out.err))
        goto out;
    if ((rc = emit(e)))
        goto out;
    e->started = true;
    e->header_done = true;
    e->count++;
out:
    silk_buf_reset(&e->out);
    silk_buf_reset(&e->rec);
    return rc;
}

int silk_exporter_export_item(silk_exporter *e, const silk_item *item)
{
    if (!item || !silk_object_alive(item))
        return silk_error(SILK_EINVAL, "silk_exporter_export_item: not a live item");
    return silk_exporter_export_dict(e, item->fields);
}

int silk_exporter_finish(silk_exporter *e)
{
    if (!e)
        return silk_error(SILK_EINVAL, "silk_exporter_finish: NULL exporter");
    if (e->finished || !e->started) {
        e->finished = true;
        return 0;
    }
    e->finished = true;
    if (e->fd >= 0)
        return 0; /* the trailer is already there */
    size_t tlen;
    const char *t = trailer(e, &tlen);
    silk_buf_reset(&e->out);
    silk_buf_append(&e->out, t, tlen);
    int rc = e->out.err ? e->out.err : emit(e);
    silk_buf_reset(&e->out);
    return rc;
}

size_t silk_exporter_count(const silk_exporter *e) { return e ? e->count : 0; }

/* ---- construction ---- */

static int check_fields(const silk_value *f)
{
    if (f->kind == SILK_V_DICT) {
        for (size_t i = 0; i < f->u.dict.len; i++)
            if (f->u.dict.entries[i].value->kind != SILK_V_STRING)
                return silk_error(SILK_EINVAL, "feed fields: the output name of '%s' is not a string",
                                  f->u.dict.entries[i].key);
        return 0;
    }
    if (f->kind != SILK_V_LIST)
        return silk_error(SILK_EINVAL, "feed fields: expected a list of names or a dict, got a %s",
                          silk_value_kind_name(f->kind));
    for (size_t i = 0; i < f->u.list.len; i++) {
        const silk_value *x = f->u.list.items[i];
        bool pair = x->kind == SILK_V_LIST && x->u.list.len == 2 && x->u.list.items[0]->kind == SILK_V_STRING &&
                    x->u.list.items[1]->kind == SILK_V_STRING;
        if (x->kind != SILK_V_STRING && !pair)
            return silk_error(SILK_EINVAL,
                              "feed fields: entry %zu is neither a name nor a [field, output name] pair", i);
    }
    return 0;
}

static int exporter_alloc(const silk_exporter_options *o, silk_exporter **out)
{
    silk_exporter_options defaults = { 0 };
    int rc;
    *out = NULL;
    if (!o)
        o = &defaults;
    if (o->format != SILK_FEED_JSON && o->format != SILK_FEED_JSONLINES && o->format != SILK_FEED_CSV)
        return silk_error(SILK_EINVAL, "unknown feed format %d", (int)o->format);
    enc_kind enc = 0;
    const char *enc_name = NULL;
    if ((rc = parse_encoding(o->encoding, &enc, &enc_name)))
        return rc;
    if (o->fields && (rc = check_fields(o->fields)))
        return rc;
    if (o->csv_delimiter == '"' || o->csv_delimiter == '\r' || o->csv_delimiter == '\n' ||
        (o->csv_delimiter & 0x80))
        return silk_error(SILK_EINVAL, "CSV delimiter must be a single ASCII character other than a quote or "
                                       "a line end");
    silk_exporter *e = silk_calloc(1, sizeof *e);
    if (!e)
        return SILK_ENOMEM;
    e->fd = -1;
    e->format = o->format;
    e->enc = enc;
    e->enc_name = enc_name;
    e->indent = o->indent;
    e->csv_header = !o->csv_no_header;
    e->csv_delim = o->csv_delimiter ? o->csv_delimiter : ',';
    if ((o->fields && !(e->fields = silk_value_copy(o->fields))) ||
        !(e->csv_join = silk_strdup(o->csv_join ? o->csv_join : ","))) {
        silk_value_free(e->fields);
        silk_free(e);
        return SILK_ENOMEM;
    }
    *out = e;
    return 0;
}

static void exporter_free(silk_exporter *e)
{
    silk_value_free(e->fields);
    silk_free(e->csv_join);
    silk_free(e->path);
    silk_buf_free(&e->out);
    silk_buf_free(&e->rec);
    silk_free(e);
}

int silk_exporter_new(FILE *f, const silk_exporter_options *o, silk_exporter **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_exporter_new: NULL out");
    *out = NULL;
    if (!f)
        return silk_error(SILK_EINVAL, "silk_exporter_new: NULL stream");
    int rc = exporter_alloc(o, out);
    if (rc)
        return rc;
    (*out)->fp = f;
    return 0;
}

/* mkdir -p of the directory part of path */
static int make_parents(const char *path)
{
    char *dir = silk_strdup(path);
    if (!dir)
        return SILK_ENOMEM;
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1;; p++) {
            if (*p == '/' || *p == '\0') {
                char c = *p;
                *p = '\0';
                if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                    rc = silk_error(SILK_EIO, "feed %s: cannot create directory %s: %s", path, dir,
                                    strerror(errno));
                    break;
                }
                *p = c;
                if (!c)
                    break;
            }
        }
    }
    silk_free(dir);
    return rc;
}

int silk_exporter_open(const char *path, bool overwrite, const silk_exporter_options *o, silk_exporter **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_exporter_open: NULL out");
    *out = NULL;
    if (!path || !*path)
        return silk_error(SILK_EINVAL, "feed: an empty file path");
    silk_exporter *e = NULL;
    int rc = exporter_alloc(o, &e);
    if (rc)
        return rc;
    if (!(e->path = silk_strdup(path))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    if ((rc = make_parents(path)))
        goto err;
    /* no O_APPEND even for -o: each write goes to an explicit offset, which
     * is what lets a JSON feed rewrite its closing bracket */
    e->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : 0), 0666);
    if (e->fd < 0) {
        rc = silk_error(SILK_EIO, "cannot open feed file %s: %s", path, strerror(errno));
        goto err;
    }
    struct stat st;
    if (fstat(e->fd, &st) != 0) {
        rc = io_error(e, "stat");
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        /* a FIFO or a device: stream it */
        int fd = e->fd;
        e->fd = -1;
        if (!(e->fp = fdopen(fd, "w"))) {
            rc = silk_error(SILK_EIO, "cannot open feed file %s: %s", path, strerror(errno));
            close(fd);
            goto err;
        }
    } else {
        e->pos = st.st_size;
    }
    *out = e;
    return 0;
err:
    if (e->fd >= 0)
        close(e->fd);
    exporter_free(e);
    return rc;
}

int silk_exporter_close(silk_exporter *e)
{
    if (!e)
        return 0;
    int rc = silk_exporter_finish(e);
    if (e->fd >= 0 && close(e->fd) != 0 && !rc)
        rc = io_error(e, "close");
    if (e->path && e->fp && fclose(e->fp) != 0 && !rc)
        rc = io_error(e, "close");
    exporter_free(e);
    return rc;
}
