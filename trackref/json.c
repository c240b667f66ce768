/* silk — JSON for dynamic values, byte-compatible with Python's json.dumps
 * where asked (ensure_ascii, sort_keys, ", "/": " separators, float repr). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/value.h"

#define JSON_MAX_DEPTH 512

/* ---------- encoding ---------- */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length or 0
 * when invalid (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static int encode_string(const char *str, size_t len, unsigned flags, silk_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    silk_buf_putc(out, '"');
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        /* copy runs of plain ASCII at once */
        while (i < len && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
            i++;
        if (i > start)
            silk_buf_append(out, s + start, i - start);
        if (i >= len)
            break;
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            silk_buf_append(out, esc, 2);
            i++;
        } else if (c == 0x7f) {
            /* Python escapes DEL only under ensure_ascii */
            if (flags & SILK_JSON_ENSURE_ASCII)
                silk_buf_puts(out, "\\u007f");
            else
                silk_buf_putc(out, (char)c);
            i++;
        } else if (c < 0x20) {
            const char *e = NULL;
            switch (c) {
            case '\n': e = "\\n"; break;
            case '\r': e = "\\r"; break;
            case '\t': e = "\\t"; break;
            case '\b': e = "\\b"; break;
            case '\f': e = "\\f"; break;
            default: break;
            }
            if (e) {
                silk_buf_puts(out, e);
            } else {
                char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
                silk_buf_append(out, u, 6);
            }
            i++;
        } else {
            unsigned cp;
            size_t n = utf8_decode(s + i, len - i, &cp);
            if (!n)
                return silk_error(SILK_EENCODING, "string is not valid UTF-8 at byte %zu", i);
            if (flags & SILK_JSON_ENSURE_ASCII) {
                unsigned units[2];
                int nu = 0;
                if (cp >= 0x10000) {
                    unsigned v = cp - 0x10000;
                    units[nu++] = 0xD800 | (v >> 10);
                    units[nu++] = 0xDC00 | (v & 0x3FF);
                } else {
                    units[nu++] = cp;
                }
                for (int k = 0; k < nu; k++) {
                    char u[6] = { '\\', 'u', hex[(units[k] >> 12) & 15], hex[(units[k] >> 8) & 15],
                                  hex[(units[k] >> 4) & 15], hex[units[k] & 15] };
                    silk_buf_append(out, u, 6);
                }
            } else {
                silk_buf_append(out, s + i, n);
            }
            i += n;
        }
    }
    silk_buf_putc(out, '"');
    return out->err;
}

/* Python's repr(float): the shortest digits that round-trip, fixed notation
 * for exponents in [-4, 16), else d.ddde+XX. */
static int encode_double(double d, silk_buf *out)
{
    if (isnan(d) || isinf(d))
        return silk_error(SILK_ERANGE, "NaN and Infinity are not valid JSON");
    char digits[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec - 1, d);
        if (strtod(digits, NULL) == d)
            break;
    }
    /* digits = [-]D[.DDD]e[+-]XX */
    char mant[32];
    size_t m = 0;
    const char *p = digits;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            mant[m++] = *p;
    mant[m] = '\0';
    int exp = atoi(p + 1);
    while (m > 1 && mant[m - 1] == '0')
        mant[--m] = '\0';
    if (neg)
        silk_buf_putc(out, '-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            silk_buf_puts(out, "0.");
            for (int k = -1; k > exp; k--)
                silk_buf_putc(out, '0');
            silk_buf_puts(out, mant);
        } else if ((size_t)exp + 1 >= m) {
            silk_buf_puts(out, mant);
            for (size_t k = m; k < (size_t)exp + 1; k++)
                silk_buf_putc(out, '0');
            silk_buf_puts(out, ".0");
        } else {
            silk_buf_append(out, mant, (size_t)exp + 1);
            silk_buf_putc(out, '.');
            silk_buf_puts(out, mant + exp + 1);
        }
    } else {
        silk_buf_putc(out, mant[0]);
        if (m > 1) {
            silk_buf_putc(out, '.');
            silk_buf_puts(out, mant + 1);
        }
        silk_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return out->err;
}

static int cmp_entries(const void *a, const void *b)
{
    const silk_dict_entry *x = *(const silk_dict_entry *const *)a;
    const silk_dict_entry *y = *(const silk_dict_entry *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static int encode_value(const silk_value *v, unsigned flags, silk_buf *out, int depth)
{
    const char *comma = (flags & SILK_JSON_PY_SEPARATORS) ? ", " : ",";
    const char *colon = (flags & SILK_JSON_PY_SEPARATORS) ? ": " : ":";
    int rc = 0;
    if (depth > JSON_MAX_DEPTH)
        return silk_error(SILK_ELIMIT, "value nested deeper than %d levels", JSON_MAX_DEPTH);
    switch (v->kind) {
    case SILK_V_NULL: silk_buf_puts(out, "null"); break;
    case SILK_V_BOOL: silk_buf_puts(out, v->u.b ? "true" : "false"); break;
    case SILK_V_INT: silk_buf_printf(out, "%lld", (long long)v->u.i); break;
    case SILK_V_DOUBLE: rc = encode_double(v->u.d, out); break;
    case SILK_V_STRING: rc = encode_string(v->u.s.ptr, v->u.s.len, flags, out); break;
    case SILK_V_OBJECT:
        return silk_error(SILK_EUNSERIALIZABLE, "a reference to a live %s object cannot be serialised",
                          silk_object_type_name(v->u.obj));
    case SILK_V_LIST:
        silk_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.list.len && !rc; i++) {
            if (i)
                silk_buf_puts(out, comma);
            rc = encode_value(v->u.list.items[i], flags, out, depth + 1);
        }
        silk_buf_putc(out, ']');
        break;
    case SILK_V_DICT: {
        size_t n = v->u.dict.len;
        const silk_dict_entry **order = silk_calloc(n ? n : 1, sizeof *order);
        if (!order)
            return SILK_ENOMEM;
        for (size_t i = 0; i < n; i++)
            order[i] = &v->u.dict.entries[i];
        if (flags & SILK_JSON_SORT_KEYS)
            qsort(order, n, sizeof *order, cmp_entries);
        silk_buf_putc(out, '{');
        for (size_t i = 0; i < n && !rc; i++) {
            if (i)
                silk_buf_puts(out, comma);
            rc = encode_string(order[i]->key, order[i]->key_len, flags, out);
            if (!rc) {
                silk_buf_puts(out, colon);
                rc = encode_value(order[i]->value, flags, out, depth + 1);
            }
        }
        silk_buf_putc(out, '}');
        silk_free(order);
        break;
    }
    }
    return rc ? rc : out->err;
}

int silk_json_encode(const silk_value *v, unsigned flags, silk_buf *out)
{
    if (!v)
        return silk_error(SILK_EINVAL, "silk_json_encode: NULL value");
    return encode_value(v, flags, out, 0);
}

int silk_json_dumps(const silk_value *v, unsigned flags, char **out)
{
    silk_buf b = SILK_BUF_INIT;
    *out = NULL;
    int rc = silk_json_encode(v, flags, &b);
    if (rc) {
        silk_buf_free(&b);
        return rc;
    }
    *out = silk_buf_detach(&b);
    return *out ? 0 : SILK_ENOMEM;
}

/* ---------- decoding ---------- */

typedef struct parser {
    const char *s;
    size_t len, pos;
    int depth;
} parser;

static int perr(parser *p, const char *what)
{
    return silk_error(SILK_EJSON, "JSON: %s at byte %zu", what, p->pos);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return perr(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return perr(p, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static void put_utf8(silk_buf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        silk_buf_append(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        silk_buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        silk_buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        silk_buf_append(b, u, 4);
    }
}

/* Parses a string at p->pos (on the opening quote) into b. */
static int parse_string_into(parser *p, silk_buf *b)
{
    p->pos++; /* opening quote */
    for (;;) {
        size_t start = p->pos;
        while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
               (unsigned char)p->s[p->pos] >= 0x20)
            p->pos++;
        if (p->pos > start)
            silk_buf_append(b, p->s + start, p->pos - start);
        if (p->pos >= p->len)
            return perr(p, "unterminated string");
        char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c != '\\')
            return perr(p, "control character in string");
        p->pos++;
        if (p->pos >= p->len)
            return perr(p, "unterminated escape");
        char e = p->s[p->pos++];
        switch (e) {
        case '"': silk_buf_putc(b, '"'); break;
        case '\\': silk_buf_putc(b, '\\'); break;
        case '/': silk_buf_putc(b, '/'); break;
        case 'b': silk_buf_putc(b, '\b'); break;
        case 'f': silk_buf_putc(b, '\f'); break;
        case 'n': silk_buf_putc(b, '\n'); break;
        case 'r': silk_buf_putc(b, '\r'); break;
        case 't': silk_buf_putc(b, '\t'); break;
        case 'u': {
            unsigned cp;
            int rc = hex4(p, &cp);
            if (rc)
                return rc;
            if (cp >= 0xD800 && cp <= 0xDBFF && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                size_t save = p->pos;
                unsigned lo;
                p->pos += 2;
                if ((rc = hex4(p, &lo)))
                    return rc;
                if (lo >= 0xDC00 && lo <= 0xDFFF)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else
                    p->pos = save;
            }
            /* a lone surrogate has no UTF-8 form: U+FFFD, as a decoder with
             * errors="replace" would give */
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            put_utf8(b, cp);
            break;
        }
        default: return perr(p, "bad escape");
        }
    }
    return b->err;
}

static int parse_value(parser *p, silk_value **out);

static int parse_number(parser *p, silk_value **out)
{
    size_t start = p->pos;
    bool is_float = false;
    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return perr(p, "bad number");
    if (p->s[p->pos] == '0')
        p->pos++;
    else
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        is_float = true;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return perr(p, "bad fraction");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        is_float = true;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return perr(p, "bad exponent");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    char tmp[64];
    size_t n = p->pos - start;
    char *num = n < sizeof tmp ? tmp : silk_malloc(n + 1);
    if (!num)
        return SILK_ENOMEM;
    memcpy(num, p->s + start, n);
    num[n] = '\0';
    if (!is_float) {
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (errno != ERANGE) {
            *out = silk_value_new_int(v);
            goto done;
        }
    }
    *out = silk_value_new_double(strtod(num, NULL));
done:
    if (num != tmp)
        silk_free(num);
    return *out ? 0 : SILK_ENOMEM;
}

static bool match_word(parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0) {
        p->pos += n;
        return true;
    }
    return false;
}

static int parse_value(parser *p, silk_value **out)
{
    int rc = 0;
    silk_value *v = NULL;
    *out = NULL;
    skip_ws(p);
    if (p->pos >= p->len)
        return perr(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (++p->depth > JSON_MAX_DEPTH)
            return perr(p, "nested too deeply");
        bool is_dict = c == '{';
        v = is_dict ? silk_value_new_dict() : silk_value_new_list();
        if (!v)
            return SILK_ENOMEM;
        p->pos++;
        skip_ws(p);
        char close = is_dict ? '}' : ']';
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            goto ok;
        }
        for (;;) {
            silk_buf key = SILK_BUF_INIT;
            silk_value *item = NULL;
            if (is_dict) {
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != '"') {
                    rc = perr(p, "expected a string key");
                    goto err;
                }
                if ((rc = parse_string_into(p, &key))) {
                    silk_buf_free(&key);
                    goto err;
                }
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') {
                    silk_buf_free(&key);
                    rc = perr(p, "expected ':'");
                    goto err;
                }
                p->pos++;
            }
            if ((rc = parse_value(p, &item))) {
                silk_buf_free(&key);
                goto err;
            }
            rc = is_dict ? silk_dict_setn(v, key.data ? key.data : "", key.len, item)
                         : silk_list_push(v, item);
            silk_buf_free(&key);
            if (rc)
                goto err;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == close) {
                p->pos++;
                break;
            }
            rc = perr(p, is_dict ? "expected ',' or '}'" : "expected ',' or ']'");
            goto err;
        }
    ok:
        p->depth--;
        *out = v;
        return 0;
    }
    if (c == '"') {
        silk_buf b = SILK_BUF_INIT;
        if ((rc = parse_string_into(p, &b))) {
            silk_buf_free(&b);
            return rc;
        }
        size_t n = b.len;
        char *s = silk_buf_detach(&b);
        *out = silk_value_new_string_own(s, n);
        return *out ? 0 : SILK_ENOMEM;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        if (match_word(p, "-Infinity"))
            return (*out = silk_value_new_double(-INFINITY)) ? 0 : SILK_ENOMEM;
        return parse_number(p, out);
    }
    if (match_word(p, "true"))
        *out = silk_value_new_bool(true);
    else if (match_word(p, "false"))
        *out = silk_value_new_bool(false);
    else if (match_word(p, "null"))
        *out = silk_value_new_null();
    else if (match_word(p, "NaN")) /* Python's json accepts these */
        *out = silk_value_new_double(NAN);
    else if (match_word(p, "Infinity"))
        *out = silk_value_new_double(INFINITY);
    else
        return perr(p, "unexpected character");
    return *out ? 0 : SILK_ENOMEM;
err:
    silk_value_free(v);
    return rc;
}

int silk_json_decode(const char *text, size_t len, silk_value **out)
{
    parser p = { text, len, 0, 0 };
    *out = NULL;
    if (!text)
        return silk_error(SILK_EJSON, "JSON: no input");
    silk_value *v;
    int rc = parse_value(&p, &v);
    if (rc)
        return rc;
    skip_ws(&p);
    if (p.pos != p.len) {
        silk_value_free(v);
        return perr(&p, "extra data after the value");
    }
    *out = v;
    return 0;
}
