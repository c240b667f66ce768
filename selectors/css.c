/* CSS -> XPath, a port of cssselect 1.2 (parser.py, xpath.py) with parsel
 * 1.7's pseudo-elements (::text, ::attr(name)).
 *
 * The port is deliberately literal: the tokenizer reproduces cssselect's
 * regular expressions, the parser its recursive descent (quirks included, e.g.
 * the token swallowed after a comma inside :is()), and the translator builds
 * the very same strings, so that silk evaluates the XPath parsel would.
 *
 * Everything lives in one arena that is freed when the call returns. Hostile
 * selectors are bounded by the input length, the nesting depth and the
 * arena's size: cssselect's string building is quadratic in the worst case
 * and we prefer a clear SILK_ELIMIT to a long stall. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "selectors/selector_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/selector.h"

#define CSS_MAX_INPUT (64 * 1024)
#define CSS_MAX_ARENA (32u * 1024 * 1024)
#define CSS_MAX_DEPTH 64

/* ------------------------------------------------------------------ arena */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

typedef struct css_ctx {
    chunk *chunks;
    size_t total;
    int err;
    bool html;
    int depth;
} css_ctx;

static int fail(css_ctx *c, int code, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(css_ctx *c, int code, const char *kind, const char *fmt, ...)
{
    if (c->err)
        return c->err;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->err = code;
    return silk_error(code, "%s: %s", kind, msg);
}

static void *ar_alloc(css_ctx *c, size_t n)
{
    if (c->err)
        return NULL;
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (n == 0)
        n = sizeof(max_align_t);
    chunk *k = c->chunks;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        if (c->total + cap > CSS_MAX_ARENA) {
            fail(c, SILK_ELIMIT, "ExpressionError",
                 "selector too complex (translation needs more than %u bytes)",
                 CSS_MAX_ARENA);
            return NULL;
        }
        k = silk_malloc(sizeof(chunk) + cap);
        if (!k) {
            fail(c, SILK_ENOMEM, "MemoryError", "out of memory");
            return NULL;
        }
        k->next = c->chunks;
        k->used = 0;
        k->cap = cap;
        c->chunks = k;
        c->total += cap;
    }
    void *p = (char *)k->data + k->used;
    k->used += n;
    memset(p, 0, n);
    return p;
}

static void ar_free(css_ctx *c)
{
    chunk *k = c->chunks;
    while (k) {
        chunk *next = k->next;
        silk_free(k);
        k = next;
    }
    c->chunks = NULL;
}

static char *ar_strndup(css_ctx *c, const char *s, size_t n)
{
    char *p = ar_alloc(c, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *ar_printf(css_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *ar_printf(css_ctx *c, const char *fmt, ...)
{
    if (c->err)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fail(c, SILK_EINVAL, "ExpressionError", "formatting failed");
        return NULL;
    }
    char *p = ar_alloc(c, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Moves a silk_buf's content into the arena (and frees the buf). */
static char *ar_from_buf(css_ctx *c, silk_buf *b)
{
    if (b->err) {
        silk_buf_free(b);
        fail(c, SILK_ENOMEM, "MemoryError", "out of memory");
        return NULL;
    }
    char *p = ar_strndup(c, b->data ? b->data : "", b->len);
    silk_buf_free(b);
    return p;
}

static char *ar_lower(css_ctx *c, const char *s)
{
    silk_buf b = SILK_BUF_INIT;
    silk__utf8_lower(s, strlen(s), &b);
    return ar_from_buf(c, &b);
}

/* ASCII-only lower case (cssselect's ascii_lower). */
static char *ar_ascii_lower(css_ctx *c, const char *s)
{
    size_t n = strlen(s);
    char *p = ar_strndup(c, s, n);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] + 32);
    return p;
}

/* ------------------------------------------------------------------ tokens */

enum { T_IDENT, T_HASH, T_STRING, T_S, T_DELIM, T_NUMBER, T_EOF };
static const char *const tok_names[] = { "IDENT", "HASH", "STRING", "S", "DELIM", "NUMBER", "EOF" };

typedef struct tok {
    int type;
    const char *value; /* NULL for EOF */
    size_t pos;
} tok;

typedef struct stream {
    tok *t;
    size_t n, cap;
    size_t pos; /* == len(stream.used) */
} stream;

static bool is_ws(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f';
}

static bool is_hex(int ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int hex_val(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return ch - 'A' + 10;
}

static size_t cp_len(const char *s, size_t n)
{
    uint32_t cp;
    size_t l = silk__utf8_decode(s, n, &cp);
    return l ? l : 1;
}

/* TokenMacros.escape at s[p]: unicode_escape | \\[^\n\r\f0-9a-f] */
static size_t match_escape(const char *s, size_t n, size_t p)
{
    if (p >= n || s[p] != '\\')
        return 0;
    size_t q = p + 1, digits = 0;
    while (q < n && digits < 6 && is_hex((unsigned char)s[q]))
        q++, digits++;
    if (digits) {
        if (q + 1 < n && s[q] == '\r' && s[q + 1] == '\n')
            q += 2;
        else if (q < n && is_ws((unsigned char)s[q]))
            q++;
        return q - p;
    }
    if (p + 1 < n && s[p + 1] != '\n' && s[p + 1] != '\r' && s[p + 1] != '\f')
        return 1 + cp_len(s + p + 1, n - p - 1);
    return 0;
}

static size_t match_nmchar(const char *s, size_t n, size_t p)
{
    if (p >= n)
        return 0;
    unsigned char ch = (unsigned char)s[p];
    if (ch == '_' || ch == '-' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9'))
        return 1;
    if (ch == '\\')
        return match_escape(s, n, p);
    if (ch >= 0x80)
        return cp_len(s + p, n - p);
    return 0;
}

static size_t match_nmstart(const char *s, size_t n, size_t p)
{
    if (p >= n)
        return 0;
    unsigned char ch = (unsigned char)s[p];
    if (ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return 1;
    if (ch == '\\')
        return match_escape(s, n, p);
    if (ch >= 0x80)
        return cp_len(s + p, n - p);
    return 0;
}

static size_t match_ident(const char *s, size_t n, size_t p)
{
    size_t q = p;
    if (q < n && s[q] == '-')
        q++;
    size_t l = match_nmstart(s, n, q);
    if (!l)
        return 0;
    q += l;
    while ((l = match_nmchar(s, n, q)) > 0)
        q += l;
    return q - p;
}

static size_t match_number(const char *s, size_t n, size_t p)
{
    size_t q = p;
    if (q < n && (s[q] == '+' || s[q] == '-'))
        q++;
    size_t d = q;
    while (d < n && s[d] >= '0' && s[d] <= '9')
        d++;
    if (d < n && s[d] == '.' && d + 1 < n && s[d + 1] >= '0' && s[d + 1] <= '9') {
        d++;
        while (d < n && s[d] >= '0' && s[d] <= '9')
            d++;
        return d - p;
    }
    if (d > q)
        return d - p;
    return 0;
}

/* The three re.sub passes cssselect applies to token values. */
static void sub_newline_escape(const char *s, size_t n, silk_buf *out)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '\\' && i + 1 < n) {
            char nx = s[i + 1];
            if (nx == '\n' || nx == '\f') {
                i += 2;
                continue;
            }
            if (nx == '\r') {
                i += (i + 2 < n && s[i + 2] == '\n') ? 3 : 2;
                continue;
            }
        }
        silk_buf_putc(out, s[i]);
        i++;
    }
}

static void sub_unicode_escape(const char *s, size_t n, silk_buf *out)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '\\' && i + 1 < n && is_hex((unsigned char)s[i + 1])) {
            size_t q = i + 1, digits = 0;
            uint32_t cp = 0;
            while (q < n && digits < 6 && is_hex((unsigned char)s[q])) {
                cp = cp * 16 + (uint32_t)hex_val((unsigned char)s[q]);
                q++, digits++;
            }
            if (q + 1 < n && s[q] == '\r' && s[q + 1] == '\n')
                q += 2;
            else if (q < n && is_ws((unsigned char)s[q]))
                q++;
            /* chr(0) and lone surrogates cannot live in a C string of UTF-8:
             * they become U+FFFD (docs/compat.md). */
            if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                cp = 0xFFFD;
            char enc[4];
            silk_buf_append(out, enc, silk__utf8_encode(cp, enc));
            i = q;
            continue;
        }
        silk_buf_putc(out, s[i]);
        i++;
    }
}

static void sub_simple_escape(const char *s, size_t n, silk_buf *out)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] != '\n') {
            size_t l = cp_len(s + i + 1, n - i - 1);
            silk_buf_append(out, s + i + 1, l);
            i += 1 + l;
            continue;
        }
        silk_buf_putc(out, s[i]);
        i++;
    }
}

static char *unescape(css_ctx *c, const char *s, size_t n, bool newlines)
{
    silk_buf a = SILK_BUF_INIT, b = SILK_BUF_INIT, d = SILK_BUF_INIT;
    if (newlines) {
        sub_newline_escape(s, n, &a);
        s = a.data ? a.data : "";
        n = a.len;
    }
    sub_unicode_escape(s, n, &b);
    sub_simple_escape(b.data ? b.data : "", b.len, &d);
    int err = a.err | b.err;
    silk_buf_free(&a);
    silk_buf_free(&b);
    if (err)
        d.err = SILK_ENOMEM;
    return ar_from_buf(c, &d);
}

static int push_tok(css_ctx *c, stream *st, int type, const char *value, size_t pos)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 32;
        tok *t = ar_alloc(c, cap * sizeof(tok));
        if (!t)
            return c->err;
        if (st->n)
            memcpy(t, st->t, st->n * sizeof(tok));
        st->t = t;
        st->cap = cap;
    }
    st->t[st->n].type = type;
    st->t[st->n].value = value;
    st->t[st->n].pos = pos;
    st->n++;
    return 0;
}

static int tokenize(css_ctx *c, const char *s, size_t n, stream *st)
{
    size_t pos = 0;
    while (pos < n && !c->err) {
        if (is_ws((unsigned char)s[pos])) {
            size_t q = pos;
            while (q < n && is_ws((unsigned char)s[q]))
                q++;
            push_tok(c, st, T_S, " ", pos);
            pos = q;
            continue;
        }
        size_t l = match_ident(s, n, pos);
        if (l) {
            const char *v = unescape(c, s + pos, l, false);
            if (!v)
                break;
            push_tok(c, st, T_IDENT, v, pos);
            pos += l;
            continue;
        }
        if (s[pos] == '#') {
            size_t q = pos + 1, m;
            while ((m = match_nmchar(s, n, q)) > 0)
                q += m;
            if (q > pos + 1) {
                const char *v = unescape(c, s + pos + 1, q - pos - 1, false);
                if (!v)
                    break;
                push_tok(c, st, T_HASH, v, pos);
                pos = q;
                continue;
            }
        }
        char quote = s[pos];
        if (quote == '\'' || quote == '"') {
            size_t q = pos + 1;
            while (q < n) {
                char ch = s[q];
                if (ch == quote || ch == '\n' || ch == '\r' || ch == '\f')
                    break;
                if (ch == '\\') {
                    if (q + 1 < n && (s[q + 1] == '\n' || s[q + 1] == '\f')) {
                        q += 2;
                        continue;
                    }
                    if (q + 1 < n && s[q + 1] == '\r') {
                        q += (q + 2 < n && s[q + 2] == '\n') ? 3 : 2;
                        continue;
                    }
                    size_t m = match_escape(s, n, q);
                    if (!m)
                        break;
                    q += m;
                    continue;
                }
                q += cp_len(s + q, n - q);
            }
            if (q == n)
                return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Unclosed string at %zu", pos);
            if (s[q] != quote)
                return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Invalid string at %zu", pos);
            const char *v = unescape(c, s + pos + 1, q - pos - 1, true);
            if (!v)
                break;
            push_tok(c, st, T_STRING, v, pos);
            pos = q + 1;
            continue;
        }
        l = match_number(s, n, pos);
        if (l) {
            const char *v = ar_strndup(c, s + pos, l);
            if (!v)
                break;
            push_tok(c, st, T_NUMBER, v, pos);
            pos += l;
            continue;
        }
        if (s[pos] == '/' && pos + 1 < n && s[pos + 1] == '*') {
            const char *end = NULL;
            for (size_t q = pos + 2; q + 1 < n; q++)
                if (s[q] == '*' && s[q + 1] == '/') {
                    end = s + q;
                    break;
                }
            pos = end ? (size_t)(end - s) + 2 : n;
            continue;
        }
        l = cp_len(s + pos, n - pos);
        const char *v = ar_strndup(c, s + pos, l);
        if (!v)
            break;
        push_tok(c, st, T_DELIM, v, pos);
        pos += l;
    }
    if (!c->err)
        push_tok(c, st, T_EOF, NULL, n);
    return c->err;
}

static bool tok_is(const tok *t, int type, const char *value)
{
    if (t->type != type)
        return false;
    if (!value)
        return t->value == NULL;
    return t->value && strcmp(t->value, value) == 0;
}

static bool is_delim(const tok *t, const char *v) { return tok_is(t, T_DELIM, v); }

static const char *tok_repr(css_ctx *c, const tok *t)
{
    if (t->type == T_EOF)
        return ar_printf(c, "<EOF at %zu>", t->pos);
    return ar_printf(c, "<%s '%s' at %zu>", tok_names[t->type], t->value, t->pos);
}

static tok *st_peek(css_ctx *c, stream *st)
{
    if (st->pos >= st->n) {
        fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "unexpected end of selector");
        return NULL;
    }
    return &st->t[st->pos];
}

static tok *st_next(css_ctx *c, stream *st)
{
    tok *t = st_peek(c, st);
    if (t)
        st->pos++;
    return t;
}

static const char *st_next_ident(css_ctx *c, stream *st)
{
    tok *t = st_next(c, st);
    if (!t)
        return NULL;
    if (t->type != T_IDENT) {
        fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected ident, got %s", tok_repr(c, t));
        return NULL;
    }
    return t->value;
}

/* Returns the ident, "" for '*' (cssselect's None), NULL on error. */
static const char *st_next_ident_or_star(css_ctx *c, stream *st)
{
    tok *t = st_next(c, st);
    if (!t)
        return NULL;
    if (t->type == T_IDENT)
        return t->value;
    if (is_delim(t, "*"))
        return "";
    fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected ident or '*', got %s",
         tok_repr(c, t));
    return NULL;
}

static void st_skip_ws(css_ctx *c, stream *st)
{
    tok *t = st_peek(c, st);
    if (t && t->type == T_S)
        st->pos++;
}

/* ------------------------------------------------------------------ tree */

enum {
    N_ELEMENT,
    N_HASH,
    N_CLASS,
    N_FUNCTION,
    N_PSEUDO,
    N_ATTRIB,
    N_NEGATION,
    N_RELATION,
    N_MATCHING,
    N_SPECADJ,
    N_COMBINED,
};

typedef struct node node;
struct node {
    int kind;
    node *sel;        /* the selector this one refines */
    const char *ns;   /* Element / Attrib namespace, NULL = none */
    const char *name; /* element (NULL = '*'), id, class, function, pseudo, attrib */
    const char *op;   /* attribute operator or combinator */
    const tok *value; /* attribute value */
    const tok **args; /* function arguments */
    size_t nargs;
    node *sub;           /* negation / combined / relation right-hand side */
    const tok *comb_tok; /* relation combinator */
    node **list;         /* :is() / :where() */
    size_t nlist;
};

typedef struct pseudo_el {
    const char *name; /* NULL = no pseudo-element */
    bool functional;
    const tok **args;
    size_t nargs;
} pseudo_el;

typedef struct css_sel {
    node *tree;
    pseudo_el pe;
} css_sel;

static node *new_node(css_ctx *c, int kind, node *sel)
{
    node *n = ar_alloc(c, sizeof *n);
    if (n) {
        n->kind = kind;
        n->sel = sel;
    }
    return n;
}

static int grow(css_ctx *c, void *arrp, size_t *n, size_t *cap, size_t elem)
{
    void **arr = arrp;
    if (*n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *p = ar_alloc(c, nc * elem);
    if (!p)
        return c->err;
    if (*n)
        memcpy(p, *arr, *n * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int parse_group(css_ctx *c, const char *css, size_t len, css_sel **out, size_t *nout);
static int parse_simple_selector(css_ctx *c, stream *st, bool inside_negation, node **result,
                                 pseudo_el *pe);

static int parse_arguments(css_ctx *c, stream *st, const tok ***args, size_t *nargs)
{
    size_t cap = 0;
    *args = NULL;
    *nargs = 0;
    for (;;) {
        st_skip_ws(c, st);
        tok *t = st_next(c, st);
        if (!t)
            return c->err;
        if (t->type == T_IDENT || t->type == T_STRING || t->type == T_NUMBER ||
            is_delim(t, "+") || is_delim(t, "-")) {
            if (grow(c, args, nargs, &cap, sizeof(tok *)))
                return c->err;
            (*args)[(*nargs)++] = t;
        } else if (is_delim(t, ")")) {
            return 0;
        } else {
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected an argument, got %s",
                        tok_repr(c, t));
        }
    }
}

static int parse_relative_selector(css_ctx *c, stream *st, const tok **comb, css_sel *sub)
{
    static const tok descendant = { T_DELIM, " ", 0 };
    st_skip_ws(c, st);
    tok *t = st_next(c, st);
    if (!t)
        return c->err;
    if (is_delim(t, "+") || is_delim(t, "-") || is_delim(t, ">") || is_delim(t, "~")) {
        *comb = t;
        st_skip_ws(c, st);
        t = st_next(c, st);
        if (!t)
            return c->err;
    } else {
        *comb = &descendant;
    }
    silk_buf text = SILK_BUF_INIT;
    for (;;) {
        if (t->type == T_IDENT || t->type == T_STRING || t->type == T_NUMBER ||
            is_delim(t, ".") || is_delim(t, "*")) {
            silk_buf_puts(&text, t->value);
        } else if (is_delim(t, ")")) {
            char *s = ar_from_buf(c, &text);
            if (!s)
                return c->err;
            css_sel *sels;
            size_t nsels;
            if (parse_group(c, s, strlen(s), &sels, &nsels))
                return c->err;
            *sub = sels[0];
            return 0;
        } else {
            silk_buf_free(&text);
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected an argument, got %s",
                        tok_repr(c, t));
        }
        t = st_next(c, st);
        if (!t) {
            silk_buf_free(&text);
            return c->err;
        }
    }
}

static int parse_simple_selector_arguments(css_ctx *c, stream *st, node ***list, size_t *nlist)
{
    size_t cap = 0;
    *list = NULL;
    *nlist = 0;
    for (;;) {
        node *result;
        pseudo_el pe;
        if (parse_simple_selector(c, st, true, &result, &pe))
            return c->err;
        if (pe.name)
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError",
                        "Got pseudo-element ::%s inside function", pe.name);
        st_skip_ws(c, st);
        tok *t = st_next(c, st);
        if (!t)
            return c->err;
        if (t->type == T_EOF || is_delim(t, ",")) {
            /* cssselect consumes one more token here (so ":is(.a,.b)" reads
             * "b" as an element name): reproduced on purpose. */
            if (!st_next(c, st))
                return c->err;
            st_skip_ws(c, st);
            if (grow(c, list, nlist, &cap, sizeof(node *)))
                return c->err;
            (*list)[(*nlist)++] = result;
        } else if (is_delim(t, ")")) {
            if (grow(c, list, nlist, &cap, sizeof(node *)))
                return c->err;
            (*list)[(*nlist)++] = result;
            return 0;
        } else {
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected an argument, got %s",
                        tok_repr(c, t));
        }
    }
}

static int parse_attrib(css_ctx *c, node *selector, stream *st, node **out)
{
    st_skip_ws(c, st);
    const char *attrib = st_next_ident_or_star(c, st);
    if (!attrib)
        return c->err;
    tok *p = st_peek(c, st);
    if (!p)
        return c->err;
    if (!*attrib && !is_delim(p, "|"))
        return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected '|', got %s",
                    tok_repr(c, p));
    const char *ns = NULL, *op = NULL;
    if (is_delim(p, "|")) {
        st_next(c, st);
        p = st_peek(c, st);
        if (!p)
            return c->err;
        if (is_delim(p, "=")) {
            st_next(c, st);
            op = "|=";
        } else {
            ns = attrib;
            attrib = st_next_ident(c, st);
            if (!attrib)
                return c->err;
        }
    }
    node *n = new_node(c, N_ATTRIB, selector);
    if (!n)
        return c->err;
    /* "" stands for cssselect's None ('*'), which is no namespace */
    n->ns = ns && *ns ? ns : NULL;
    n->name = attrib;
    if (!op) {
        st_skip_ws(c, st);
        tok *t = st_next(c, st);
        if (!t)
            return c->err;
        if (is_delim(t, "]")) {
            n->op = "exists";
            *out = n;
            return 0;
        } else if (is_delim(t, "=")) {
            op = "=";
        } else if (t->type == T_DELIM && t->value && strchr("^$*~|!", t->value[0]) &&
                   t->value[0] && !t->value[1]) {
            tok *q = st_peek(c, st);
            if (!q)
                return c->err;
            if (!is_delim(q, "="))
                return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Operator expected, got %s",
                            tok_repr(c, t));
            op = ar_printf(c, "%s=", t->value);
            st_next(c, st);
        } else {
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Operator expected, got %s",
                        tok_repr(c, t));
        }
    }
    n->op = op;
    st_skip_ws(c, st);
    tok *v = st_next(c, st);
    if (!v)
        return c->err;
    if (v->type != T_IDENT && v->type != T_STRING)
        return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected string or ident, got %s",
                    tok_repr(c, v));
    n->value = v;
    st_skip_ws(c, st);
    tok *t = st_next(c, st);
    if (!t)
        return c->err;
    if (!is_delim(t, "]"))
        return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected ']', got %s",
                    tok_repr(c, t));
    *out = n;
    return 0;
}

static bool lower_eq(css_ctx *c, const char *s, const char *lit)
{
    char *l = ar_lower(c, s);
    return l && strcmp(l, lit) == 0;
}

static int parse_simple_selector(css_ctx *c, stream *st, bool inside_negation, node **result,
                                 pseudo_el *pe)
{
    memset(pe, 0, sizeof *pe);
    *result = NULL;
    if (++c->depth > CSS_MAX_DEPTH)
        return fail(c, SILK_ELIMIT, "SelectorSyntaxError", "selector nested too deeply");
    st_skip_ws(c, st);
    size_t selector_start = st->pos;
    tok *peek = st_peek(c, st);
    if (!peek)
        return c->err;
    const char *ns = NULL, *element = NULL;
    if (peek->type == T_IDENT || is_delim(peek, "*")) {
        if (peek->type == T_IDENT) {
            ns = st_next(c, st)->value;
        } else {
            st_next(c, st);
            ns = NULL;
        }
        tok *p = st_peek(c, st);
        if (!p)
            return c->err;
        if (is_delim(p, "|")) {
            st_next(c, st);
            element = st_next_ident_or_star(c, st);
            if (!element)
                return c->err;
            if (!*element)
                element = NULL;
        } else {
            element = ns;
            ns = NULL;
        }
    }
    node *res = new_node(c, N_ELEMENT, NULL);
    if (!res)
        return c->err;
    res->ns = ns;
    res->name = element;
    for (;;) {
        peek = st_peek(c, st);
        if (!peek)
            return c->err;
        if (peek->type == T_S || peek->type == T_EOF || is_delim(peek, ",") ||
            is_delim(peek, "+") || is_delim(peek, ">") || is_delim(peek, "~") ||
            (inside_negation && is_delim(peek, ")")))
            break;
        if (pe->name)
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError",
                        "Got pseudo-element ::%s not at the end of a selector", pe->name);
        if (peek->type == T_HASH) {
            node *n = new_node(c, N_HASH, res);
            if (!n)
                return c->err;
            n->name = st_next(c, st)->value;
            res = n;
        } else if (is_delim(peek, ".")) {
            st_next(c, st);
            const char *cls = st_next_ident(c, st);
            if (!cls)
                return c->err;
            node *n = new_node(c, N_CLASS, res);
            if (!n)
                return c->err;
            n->name = cls;
            res = n;
        } else if (is_delim(peek, "|")) {
            st_next(c, st);
            const char *el = st_next_ident(c, st);
            if (!el)
                return c->err;
            node *n = new_node(c, N_ELEMENT, NULL);
            if (!n)
                return c->err;
            n->name = el;
            res = n;
        } else if (is_delim(peek, "[")) {
            st_next(c, st);
            if (parse_attrib(c, res, st, &res))
                return c->err;
        } else if (is_delim(peek, ":")) {
            st_next(c, st);
            tok *p = st_peek(c, st);
            if (!p)
                return c->err;
            if (is_delim(p, ":")) {
                st_next(c, st);
                const char *name = st_next_ident(c, st);
                if (!name)
                    return c->err;
                pe->name = name;
                p = st_peek(c, st);
                if (!p)
                    return c->err;
                if (is_delim(p, "(")) {
                    st_next(c, st);
                    pe->functional = true;
                    pe->name = ar_ascii_lower(c, name);
                    if (parse_arguments(c, st, &pe->args, &pe->nargs))
                        return c->err;
                }
                continue;
            }
            const char *ident = st_next_ident(c, st);
            if (!ident)
                return c->err;
            if (lower_eq(c, ident, "first-line") || lower_eq(c, ident, "first-letter") ||
                lower_eq(c, ident, "before") || lower_eq(c, ident, "after")) {
                pe->name = ident;
                continue;
            }
            p = st_peek(c, st);
            if (!p)
                return c->err;
            if (!is_delim(p, "(")) {
                node *n = new_node(c, N_PSEUDO, res);
                if (!n)
                    return c->err;
                n->name = ar_ascii_lower(c, ident);
                if (!n->name)
                    return c->err;
                res = n;
                if (res->sel->kind == N_ELEMENT && !res->sel->ns && !res->sel->name &&
                    strcmp(res->name, "scope") == 0) {
                    size_t u = st->pos;
                    const tok *t = st->t;
                    if (!(u == 2 || (u == 3 && t[0].type == T_S) ||
                          (u >= 3 && is_delim(&t[u - 3], ",")) ||
                          (u >= 4 && t[u - 3].type == T_S && is_delim(&t[u - 4], ","))))
                        return fail(c, SILK_ESYNTAX, "SelectorSyntaxError",
                                    "Got immediate child pseudo-element \":scope\" not at the "
                                    "start of a selector");
                }
                continue;
            }
            st_next(c, st);
            st_skip_ws(c, st);
            if (lower_eq(c, ident, "not")) {
                if (inside_negation)
                    return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Got nested :not()");
                node *arg;
                pseudo_el arg_pe;
                if (parse_simple_selector(c, st, true, &arg, &arg_pe))
                    return c->err;
                tok *nx = st_next(c, st);
                if (!nx)
                    return c->err;
                if (arg_pe.name)
                    return fail(c, SILK_ESYNTAX, "SelectorSyntaxError",
                                "Got pseudo-element ::%s inside :not() at %zu", arg_pe.name,
                                nx->pos);
                if (!is_delim(nx, ")"))
                    return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected ')', got %s",
                                tok_repr(c, nx));
                node *n = new_node(c, N_NEGATION, res);
                if (!n)
                    return c->err;
                n->sub = arg;
                res = n;
            } else if (lower_eq(c, ident, "has")) {
                const tok *comb = NULL;
                css_sel sub;
                memset(&sub, 0, sizeof sub); /* set on success; -O2 cannot see it */
                if (parse_relative_selector(c, st, &comb, &sub))
                    return c->err;
                node *n = new_node(c, N_RELATION, res);
                if (!n)
                    return c->err;
                n->comb_tok = comb;
                n->sub = sub.tree;
                res = n;
            } else if (lower_eq(c, ident, "matches") || lower_eq(c, ident, "is") ||
                       lower_eq(c, ident, "where")) {
                bool where = lower_eq(c, ident, "where");
                node *n = new_node(c, where ? N_SPECADJ : N_MATCHING, res);
                if (!n)
                    return c->err;
                if (parse_simple_selector_arguments(c, st, &n->list, &n->nlist))
                    return c->err;
                res = n;
            } else {
                node *n = new_node(c, N_FUNCTION, res);
                if (!n)
                    return c->err;
                n->name = ar_ascii_lower(c, ident);
                if (!n->name || parse_arguments(c, st, &n->args, &n->nargs))
                    return c->err;
                res = n;
            }
        } else {
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected selector, got %s",
                        tok_repr(c, peek));
        }
    }
    if (st->pos == selector_start) {
        tok *p = st_peek(c, st);
        return fail(c, SILK_ESYNTAX, "SelectorSyntaxError", "Expected selector, got %s",
                    p ? tok_repr(c, p) : "?");
    }
    c->depth--;
    *result = res;
    return 0;
}

static int parse_selector(css_ctx *c, stream *st, css_sel *out)
{
    node *result;
    pseudo_el pe;
    if (parse_simple_selector(c, st, false, &result, &pe))
        return c->err;
    for (;;) {
        st_skip_ws(c, st);
        tok *peek = st_peek(c, st);
        if (!peek)
            return c->err;
        if (peek->type == T_EOF || is_delim(peek, ","))
            break;
        if (pe.name)
            return fail(c, SILK_ESYNTAX, "SelectorSyntaxError",
                        "Got pseudo-element ::%s not at the end of a selector", pe.name);
        const char *comb;
        if (is_delim(peek, "+") || is_delim(peek, ">") || is_delim(peek, "~")) {
            comb = st_next(c, st)->value;
            st_skip_ws(c, st);
        } else {
            comb = " ";
        }
        node *next;
        if (parse_simple_selector(c, st, false, &next, &pe))
            return c->err;
        node *n = new_node(c, N_COMBINED, result);
        if (!n)
            return c->err;
        n->op = comb;
        n->sub = next;
        result = n;
    }
    out->tree = result;
    out->pe = pe;
    /* Selector() lower-cases a plain pseudo-element name (ASCII only). */
    if (pe.name && !pe.functional) {
        out->pe.name = ar_ascii_lower(c, pe.name);
        if (!out->pe.name)
            return c->err;
    }
    return 0;
}

static int parse_group(css_ctx *c, const char *css, size_t len, css_sel **out, size_t *nout)
{
    stream st = { 0 };
    size_t cap = 0;
    *out = NULL;
    *nout = 0;
    if (++c->depth > CSS_MAX_DEPTH)
        return fail(c, SILK_ELIMIT, "SelectorSyntaxError", "selector nested too deeply");
    if (tokenize(c, css, len, &st))
        return c->err;
    st_skip_ws(c, &st);
    for (;;) {
        if (grow(c, out, nout, &cap, sizeof(css_sel)))
            return c->err;
        if (parse_selector(c, &st, &(*out)[*nout]))
            return c->err;
        (*nout)++;
        tok *p = st_peek(c, &st);
        if (!p)
            return c->err;
        if (is_delim(p, ",")) {
            st_next(c, &st);
            st_skip_ws(c, &st);
        } else {
            break;
        }
    }
    c->depth--;
    return 0;
}

/* ------------------------------------------------------------------ XPath */

typedef struct xexpr {
    const char *path, *element, *cond;
} xexpr;

static xexpr *new_expr(css_ctx *c, const char *element)
{
    xexpr *x = ar_alloc(c, sizeof *x);
    if (x) {
        x->path = "";
        x->element = element;
        x->cond = "";
    }
    return x;
}

static const char *expr_str(css_ctx *c, const xexpr *x)
{
    if (*x->cond)
        return ar_printf(c, "%s%s[%s]", x->path, x->element, x->cond);
    return ar_printf(c, "%s%s", x->path, x->element);
}

static xexpr *add_condition(css_ctx *c, xexpr *x, const char *cond, const char *conj)
{
    if (!x || !cond)
        return NULL;
    if (*x->cond)
        x->cond = ar_printf(c, "(%s) %s (%s)", x->cond, conj, cond);
    else
        x->cond = cond;
    return x->cond ? x : NULL;
}

static xexpr *and_cond(css_ctx *c, xexpr *x, const char *cond)
{
    return add_condition(c, x, cond, "and");
}

/* GenericTranslator.xpath_literal */
static const char *xpath_literal(css_ctx *c, const char *s)
{
    if (!s)
        return NULL;
    if (!strchr(s, '\''))
        return ar_printf(c, "'%s'", s);
    if (!strchr(s, '"'))
        return ar_printf(c, "\"%s\"", s);
    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "concat(");
    bool first = true;
    const char *p = s;
    while (*p) {
        size_t n;
        bool quotes = *p == '\'';
        if (quotes)
            n = strspn(p, "'");
        else
            n = strcspn(p, "'");
        if (!first)
            silk_buf_putc(&b, ',');
        first = false;
        char q = quotes ? '"' : '\'';
        silk_buf_putc(&b, q);
        silk_buf_append(&b, p, n);
        silk_buf_putc(&b, q);
        p += n;
    }
    silk_buf_putc(&b, ')');
    return ar_from_buf(c, &b);
}

static bool safe_name_full(const char *s, size_t n)
{
    if (n == 0)
        return false;
    unsigned char ch = (unsigned char)s[0];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* Python's re '$' also matches before a final newline: kept. */
static bool is_safe_name(const char *s)
{
    size_t n = strlen(s);
    if (safe_name_full(s, n))
        return true;
    return n >= 2 && s[n - 1] == '\n' && safe_name_full(s, n - 1);
}

static bool non_ws_full(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (is_ws((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_non_whitespace(const char *s)
{
    size_t n = strlen(s);
    if (non_ws_full(s, n))
        return true;
    return n >= 2 && s[n - 1] == '\n' && non_ws_full(s, n - 1);
}

static xexpr *add_name_test(css_ctx *c, xexpr *x)
{
    if (!x)
        return NULL;
    if (strcmp(x->element, "*") == 0)
        return x;
    const char *lit = xpath_literal(c, x->element);
    if (!lit)
        return NULL;
    x = and_cond(c, x, ar_printf(c, "name() = %s", lit));
    if (x)
        x->element = "*";
    return x;
}

static xexpr *join(css_ctx *c, xexpr *x, const char *combiner, const xexpr *other,
                   const char *closing, bool inner_cond)
{
    if (!x || !other)
        return NULL;
    const char *s = expr_str(c, x);
    if (!s)
        return NULL;
    x->path = ar_printf(c, "%s%s%s", s, combiner, strcmp(other->path, "*/") != 0 ? other->path : "");
    if (!inner_cond) {
        x->element = closing ? ar_printf(c, "%s%s", other->element, closing) : other->element;
        x->cond = other->cond;
    } else {
        x->element = ar_printf(c, "%s%s%s%s%s", other->element, *other->cond ? "[" : "",
                               other->cond, *other->cond ? "]" : "", closing ? closing : "");
    }
    return x->path && x->element ? x : NULL;
}

static xexpr *xp(css_ctx *c, const node *n);

/* ---- attribute operators */

static xexpr *attr_op(css_ctx *c, xexpr *x, const char *op, const char *name, const char *value)
{
    if (!x || !name)
        return NULL;
    if (strcmp(op, "exists") == 0)
        return and_cond(c, x, name);
    if (strcmp(op, "=") == 0)
        return and_cond(c, x, ar_printf(c, "%s = %s", name, xpath_literal(c, value)));
    if (strcmp(op, "!=") == 0) {
        if (*value)
            return and_cond(c, x, ar_printf(c, "not(%s) or %s != %s", name, name,
                                            xpath_literal(c, value)));
        return and_cond(c, x, ar_printf(c, "%s != %s", name, xpath_literal(c, value)));
    }
    if (strcmp(op, "~=") == 0) {
        if (*value && is_non_whitespace(value))
            return and_cond(c, x,
                            ar_printf(c, "%s and contains(concat(' ', normalize-space(%s), ' '), %s)",
                                      name, name, xpath_literal(c, ar_printf(c, " %s ", value))));
        return and_cond(c, x, "0");
    }
    if (strcmp(op, "|=") == 0)
        return and_cond(c, x,
                        ar_printf(c, "%s and (%s = %s or starts-with(%s, %s))", name, name,
                                  xpath_literal(c, value), name,
                                  xpath_literal(c, ar_printf(c, "%s-", value))));
    if (strcmp(op, "^=") == 0) {
        if (*value)
            return and_cond(c, x, ar_printf(c, "%s and starts-with(%s, %s)", name, name,
                                            xpath_literal(c, value)));
        return and_cond(c, x, "0");
    }
    if (strcmp(op, "$=") == 0) {
        if (*value)
            return and_cond(c, x,
                            ar_printf(c, "%s and substring(%s, string-length(%s)-%zu) = %s", name,
                                      name, name, silk__utf8_count(value, strlen(value)) - 1,
                                      xpath_literal(c, value)));
        return and_cond(c, x, "0");
    }
    if (strcmp(op, "*=") == 0) {
        if (*value)
            return and_cond(c, x, ar_printf(c, "%s and contains(%s, %s)", name, name,
                                            xpath_literal(c, value)));
        return and_cond(c, x, "0");
    }
    fail(c, SILK_ESYNTAX, "ExpressionError", "unknown attribute operator %s", op);
    return NULL;
}

/* ---- :nth-*() */

typedef __int128 bigint;
#define BIG_LIMIT ((bigint)1 << 120)

/* Python int(s) for what cssselect can hand it: optional whitespace and
 * sign, ASCII digits with single underscores between them. */
static bool py_int(const char *s, size_t n, bigint *out)
{
    while (n && (is_ws((unsigned char)*s) || *s == '\v'))
        s++, n--;
    while (n && (is_ws((unsigned char)s[n - 1]) || s[n - 1] == '\v'))
        n--;
    bool neg = false;
    if (n && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++, n--;
    }
    if (n == 0)
        return false;
    bigint v = 0;
    bool prev_digit = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (!prev_digit || i + 1 == n)
                return false;
            prev_digit = false;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > BIG_LIMIT)
            return false;
        prev_digit = true;
    }
    *out = neg ? -v : v;
    return true;
}

static const char *big_str(css_ctx *c, bigint v)
{
    char buf[64];
    size_t i = sizeof buf;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-v) : (unsigned __int128)v;
    buf[--i] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (neg)
        buf[--i] = '-';
    return ar_strndup(c, buf + i, sizeof buf - 1 - i);
}

static bool parse_series(css_ctx *c, const node *fn, bigint *a, bigint *b)
{
    silk_buf sb = SILK_BUF_INIT;
    for (size_t i = 0; i < fn->nargs; i++) {
        if (fn->args[i]->type == T_STRING) {
            silk_buf_free(&sb);
            return false;
        }
        silk_buf_puts(&sb, fn->args[i]->value);
    }
    char *s = ar_from_buf(c, &sb);
    if (!s)
        return false;
    /* str.strip() */
    while (*s && (is_ws((unsigned char)*s) || *s == '\v'))
        s++;
    size_t n = strlen(s);
    while (n && (is_ws((unsigned char)s[n - 1]) || s[n - 1] == '\v'))
        s[--n] = '\0';
    if (strcmp(s, "odd") == 0) {
        *a = 2, *b = 1;
        return true;
    }
    if (strcmp(s, "even") == 0) {
        *a = 2, *b = 0;
        return true;
    }
    if (strcmp(s, "n") == 0) {
        *a = 1, *b = 0;
        return true;
    }
    char *np = strchr(s, 'n');
    if (!np) {
        *a = 0;
        return py_int(s, n, b);
    }
    size_t alen = (size_t)(np - s);
    const char *bs = np + 1;
    if (alen == 0)
        *a = 1;
    else if (alen == 1 && (s[0] == '-' || s[0] == '+'))
        *a = s[0] == '-' ? -1 : 1;
    else if (!py_int(s, alen, a))
        return false;
    if (!*bs)
        *b = 0;
    else if (!py_int(bs, strlen(bs), b))
        return false;
    return true;
}

static const char *args_repr(css_ctx *c, const node *fn)
{
    silk_buf b = SILK_BUF_INIT;
    silk_buf_putc(&b, '[');
    for (size_t i = 0; i < fn->nargs; i++) {
        const tok *t = fn->args[i];
        silk_buf_printf(&b, "%s<%s '%s' at %zu>", i ? ", " : "", tok_names[t->type], t->value,
                        t->pos);
    }
    silk_buf_putc(&b, ']');
    return ar_from_buf(c, &b);
}

static xexpr *nth_child(css_ctx *c, xexpr *x, const node *fn, bool last, bool name_test)
{
    bigint a, b;
    if (!parse_series(c, fn, &a, &b)) {
        if (!c->err)
            fail(c, SILK_ESYNTAX, "ExpressionError", "Invalid series: '%s'", args_repr(c, fn));
        return NULL;
    }
    bigint b1 = b - 1;
    if (a == 1 && b1 <= 0)
        return x;
    if (a < 0 && b1 < 0)
        return and_cond(c, x, "0");
    const char *nodetest = name_test ? "*" : x->element;
    const char *count = ar_printf(c, "count(%s-sibling::%s)", last ? "following" : "preceding",
                                  nodetest);
    if (a == 0)
        return and_cond(c, x, ar_printf(c, "%s = %s", count, big_str(c, b1)));
    const char *exprs[2];
    size_t ne = 0;
    if (a > 0) {
        if (b1 > 0)
            exprs[ne++] = ar_printf(c, "%s >= %s", count, big_str(c, b1));
    } else {
        exprs[ne++] = ar_printf(c, "%s <= %s", count, big_str(c, b1));
    }
    if (a != 1 && a != -1) {
        bigint abs_a = a < 0 ? -a : a;
        bigint b_neg = (-b1) % abs_a;
        if (b_neg < 0)
            b_neg += abs_a; /* Python's modulo is never negative here */
        const char *left = count;
        if (b_neg != 0)
            left = ar_printf(c, "(%s +%s)", count, big_str(c, b_neg));
        exprs[ne++] = ar_printf(c, "%s mod %s = 0", left, big_str(c, a));
    }
    if (c->err)
        return NULL;
    if (ne == 2)
        return and_cond(c, x, ar_printf(c, "(%s) and (%s)", exprs[0], exprs[1]));
    return and_cond(c, x, ne ? exprs[0] : "");
}

static bool single_string_or_ident(const node *fn)
{
    return fn->nargs == 1 && (fn->args[0]->type == T_STRING || fn->args[0]->type == T_IDENT);
}

static const char *underscored(css_ctx *c, const char *name)
{
    char *s = ar_strndup(c, name, strlen(name));
    if (s)
        for (char *p = s; *p; p++)
            if (*p == '-')
                *p = '_';
    return s;
}

static xexpr *xp_function(css_ctx *c, const node *n)
{
    const char *m = underscored(c, n->name);
    if (!m)
        return NULL;
    bool nth = strcmp(m, "nth_child") == 0, nth_last = strcmp(m, "nth_last_child") == 0,
         nth_type = strcmp(m, "nth_of_type") == 0, nth_last_type = strcmp(m, "nth_last_of_type") == 0,
         contains = strcmp(m, "contains") == 0, lang = strcmp(m, "lang") == 0;
    if (!(nth || nth_last || nth_type || nth_last_type || contains || lang)) {
        fail(c, SILK_ESYNTAX, "ExpressionError", "The pseudo-class :%s() is unknown", n->name);
        return NULL;
    }
    xexpr *x = xp(c, n->sel);
    if (!x)
        return NULL;
    if (nth || nth_last)
        return nth_child(c, x, n, nth_last, true);
    if (nth_type || nth_last_type) {
        if (strcmp(x->element, "*") == 0) {
            fail(c, SILK_ESYNTAX, "ExpressionError", "*:nth-of-type() is not implemented");
            return NULL;
        }
        return nth_child(c, x, n, nth_last_type, false);
    }
    if (!single_string_or_ident(n)) {
        fail(c, SILK_ESYNTAX, "ExpressionError",
             "Expected a single string or ident for :%s(), got %s", contains ? "contains" : "lang",
             args_repr(c, n));
        return NULL;
    }
    const char *value = n->args[0]->value;
    if (contains)
        return and_cond(c, x, ar_printf(c, "contains(., %s)", xpath_literal(c, value)));
    if (!c->html)
        return and_cond(c, x, ar_printf(c, "lang(%s)", xpath_literal(c, value)));
    if (!*value) { /* HTMLTranslator asserts a non-empty value */
        fail(c, SILK_ESYNTAX, "AssertionError", ":lang() needs a non-empty value");
        return NULL;
    }
    const char *low = ar_lower(c, value);
    return and_cond(c, x,
                    ar_printf(c,
                              "ancestor-or-self::*[@lang][1][starts-with(concat("
                              "translate(@%s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
                              "'abcdefghijklmnopqrstuvwxyz'), "
                              "'-'), %s)]",
                              "lang", xpath_literal(c, ar_printf(c, "%s-", low))));
}

static const char HTML_DISABLED[] =
    "\n        (\n            @disabled and\n            (\n                (name(.) = 'input' and "
    "@type != 'hidden') or\n                name(.) = 'button' or\n                name(.) = "
    "'select' or\n                name(.) = 'textarea' or\n                name(.) = 'command' "
    "or\n                name(.) = 'fieldset' or\n                name(.) = 'optgroup' or\n    "
    "            name(.) = 'option'\n            )\n        ) or (\n            (\n             "
    "   (name(.) = 'input' and @type != 'hidden') or\n                name(.) = 'button' or\n  "
    "              name(.) = 'select' or\n                name(.) = 'textarea'\n            )\n "
    "           and ancestor::fieldset[@disabled]\n        )\n        ";
static const char HTML_ENABLED[] =
    "\n        (\n            @href and (\n                name(.) = 'a' or\n                "
    "name(.) = 'link' or\n                name(.) = 'area'\n            )\n        ) or (\n     "
    "       (\n                name(.) = 'command' or\n                name(.) = 'fieldset' "
    "or\n                name(.) = 'optgroup'\n            )\n            and not(@disabled)\n  "
    "      ) or (\n            (\n                (name(.) = 'input' and @type != 'hidden') or\n"
    "                name(.) = 'button' or\n                name(.) = 'select' or\n           "
    "     name(.) = 'textarea' or\n                name(.) = 'keygen'\n            )\n         "
    "   and not (@disabled or ancestor::fieldset[@disabled])\n        ) or (\n            "
    "name(.) = 'option' and not(\n                @disabled or ancestor::optgroup[@disabled]\n "
    "           )\n        )\n        ";
static const char HTML_CHECKED[] =
    "(@selected and name(.) = 'option') or (@checked and (name(.) = 'input' or name(.) = "
    "'command')and (@type = 'checkbox' or @type = 'radio'))";
static const char HTML_LINK[] = "@href and (name(.) = 'a' or name(.) = 'link' or name(.) = 'area')";

static xexpr *xp_pseudo(css_ctx *c, const node *n)
{
    static const char *const never[] = { "link",   "visited", "hover",    "active",  "focus",
                                         "target", "enabled", "disabled", "checked", NULL };
    static const char *const known[] = { "root",          "scope",        "first_child",
                                         "last_child",    "first_of_type", "last_of_type",
                                         "only_child",    "only_of_type", "empty",
                                         NULL };
    const char *m = underscored(c, n->name);
    if (!m)
        return NULL;
    bool found = false;
    for (size_t i = 0; never[i] && !found; i++)
        found = strcmp(m, never[i]) == 0;
    for (size_t i = 0; known[i] && !found; i++)
        found = strcmp(m, known[i]) == 0;
    if (!found) {
        fail(c, SILK_ESYNTAX, "ExpressionError", "The pseudo-class :%s is unknown", n->name);
        return NULL;
    }
    xexpr *x = xp(c, n->sel);
    if (!x)
        return NULL;
    if (c->html) {
        if (strcmp(m, "checked") == 0)
            return and_cond(c, x, HTML_CHECKED);
        if (strcmp(m, "link") == 0)
            return and_cond(c, x, HTML_LINK);
        if (strcmp(m, "disabled") == 0)
            return and_cond(c, x, HTML_DISABLED);
        if (strcmp(m, "enabled") == 0)
            return and_cond(c, x, HTML_ENABLED);
    }
    for (size_t i = 0; never[i]; i++)
        if (strcmp(m, never[i]) == 0)
            return and_cond(c, x, "0");
    if (strcmp(m, "root") == 0)
        return and_cond(c, x, "not(parent::*)");
    if (strcmp(m, "scope") == 0)
        return and_cond(c, x, "1");
    if (strcmp(m, "first_child") == 0)
        return and_cond(c, x, "count(preceding-sibling::*) = 0");
    if (strcmp(m, "last_child") == 0)
        return and_cond(c, x, "count(following-sibling::*) = 0");
    if (strcmp(m, "only_child") == 0)
        return and_cond(c, x, "count(parent::*/child::*) = 1");
    if (strcmp(m, "empty") == 0)
        return and_cond(c, x, "not(*) and not(string-length())");
    const char *what = strcmp(m, "first_of_type") == 0  ? "first-of-type"
                       : strcmp(m, "last_of_type") == 0 ? "last-of-type"
                                                        : "only-of-type";
    if (strcmp(x->element, "*") == 0) {
        fail(c, SILK_ESYNTAX, "ExpressionError", "*:%s is not implemented", what);
        return NULL;
    }
    if (strcmp(m, "first_of_type") == 0)
        return and_cond(c, x, ar_printf(c, "count(preceding-sibling::%s) = 0", x->element));
    if (strcmp(m, "last_of_type") == 0)
        return and_cond(c, x, ar_printf(c, "count(following-sibling::%s) = 0", x->element));
    return and_cond(c, x, ar_printf(c, "count(parent::*/child::%s) = 1", x->element));
}

static xexpr *xp_attrib(css_ctx *c, const node *n)
{
    if (!n->name || !*n->name) {
        /* cssselect crashes on "[*|=x]" (None.lower()); refuse it cleanly */
        fail(c, SILK_ESYNTAX, "AttributeError", "attribute selector without a name");
        return NULL;
    }
    const char *name = c->html ? ar_lower(c, n->name) : n->name;
    if (!name)
        return NULL;
    bool safe = is_safe_name(name);
    if (n->ns) {
        name = ar_printf(c, "%s:%s", n->ns, name);
        if (!name)
            return NULL;
        safe = safe && is_safe_name(n->ns);
    }
    const char *attrib = safe ? ar_printf(c, "@%s", name)
                              : ar_printf(c, "attribute::*[name() = %s]", xpath_literal(c, name));
    const char *value = n->value ? n->value->value : NULL;
    xexpr *x = xp(c, n->sel);
    return attr_op(c, x, n->op, attrib, value);
}

static xexpr *xp(css_ctx *c, const node *n)
{
    if (c->err)
        return NULL;
    if (++c->depth > CSS_MAX_DEPTH * 4) {
        fail(c, SILK_ELIMIT, "ExpressionError", "selector nested too deeply");
        return NULL;
    }
    xexpr *x = NULL;
    switch (n->kind) {
    case N_ELEMENT: {
        const char *element = n->name;
        bool safe = true;
        if (!element) {
            element = "*";
        } else {
            safe = is_safe_name(element);
            if (c->html)
                element = ar_lower(c, element);
        }
        if (element && n->ns) {
            element = ar_printf(c, "%s:%s", n->ns, element);
            safe = safe && is_safe_name(n->ns);
        }
        if (!element)
            break;
        x = new_expr(c, element);
        if (x && !safe)
            x = add_name_test(c, x);
        break;
    }
    case N_HASH:
        x = attr_op(c, xp(c, n->sel), "=", "@id", n->name);
        break;
    case N_CLASS:
        x = attr_op(c, xp(c, n->sel), "~=", "@class", n->name);
        break;
    case N_FUNCTION:
        x = xp_function(c, n);
        break;
    case N_PSEUDO:
        x = xp_pseudo(c, n);
        break;
    case N_ATTRIB:
        x = xp_attrib(c, n);
        break;
    case N_NEGATION: {
        x = xp(c, n->sel);
        xexpr *sub = add_name_test(c, xp(c, n->sub));
        if (!x || !sub)
            return NULL;
        if (*sub->cond)
            x = and_cond(c, x, ar_printf(c, "not(%s)", sub->cond));
        else
            x = and_cond(c, x, "0");
        break;
    }
    case N_RELATION: {
        x = xp(c, n->sel);
        xexpr *right = xp(c, n->sub);
        if (!x || !right)
            return NULL;
        const char *comb = n->comb_tok->value;
        if (strcmp(comb, " ") == 0)
            x = join(c, x, "[descendant::", right, "]", true);
        else if (strcmp(comb, ">") == 0)
            x = join(c, x, "[./", right, "]", false);
        else if (strcmp(comb, "+") == 0)
            x = and_cond(c, x,
                         ar_printf(c, "following-sibling::*[(name() = '%s') and (position() = 1)]",
                                   right->element));
        else if (strcmp(comb, "~") == 0)
            x = join(c, x, "[following-sibling::", right, "]", false);
        else {
            fail(c, SILK_ESYNTAX, "KeyError", "unsupported combinator '%s' in :has()", comb);
            return NULL;
        }
        break;
    }
    case N_MATCHING:
    case N_SPECADJ: {
        x = xp(c, n->sel);
        if (!x)
            return NULL;
        xexpr **exprs = ar_alloc(c, (n->nlist ? n->nlist : 1) * sizeof(xexpr *));
        if (!exprs)
            return NULL;
        for (size_t i = 0; i < n->nlist; i++)
            if (!(exprs[i] = xp(c, n->list[i])))
                return NULL;
        for (size_t i = 0; i < n->nlist && x; i++) {
            xexpr *e = add_name_test(c, exprs[i]);
            if (!e)
                return NULL;
            if (*e->cond)
                x = add_condition(c, x, e->cond, "or");
        }
        break;
    }
    case N_COMBINED: {
        xexpr *left = xp(c, n->sel);
        xexpr *right = xp(c, n->sub);
        if (!left || !right)
            return NULL;
        const char *comb = n->op;
        if (strcmp(comb, " ") == 0) {
            x = join(c, left, "/descendant-or-self::*/", right, NULL, false);
        } else if (strcmp(comb, ">") == 0) {
            x = join(c, left, "/", right, NULL, false);
        } else if (strcmp(comb, "+") == 0) {
            x = join(c, left, "/following-sibling::", right, NULL, false);
            x = and_cond(c, add_name_test(c, x), "position() = 1");
        } else {
            x = join(c, left, "/following-sibling::", right, NULL, false);
        }
        break;
    }
    default:
        fail(c, SILK_ESYNTAX, "ExpressionError", "unsupported selector");
        return NULL;
    }
    c->depth--;
    return c->err ? NULL : x;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* selector_to_xpath with parsel's pseudo-elements and XPathExpr.__str__ */
static const char *selector_to_xpath(css_ctx *c, const css_sel *sel)
{
    xexpr *x = xp(c, sel->tree);
    if (!x)
        return NULL;
    bool textnode = false;
    const char *attribute = NULL;
    if (sel->pe.name) {
        if (sel->pe.functional) {
            if (strcmp(sel->pe.name, "attr") != 0) {
                fail(c, SILK_ESYNTAX, "ExpressionError",
                     "The functional pseudo-element ::%s() is unknown", sel->pe.name);
                return NULL;
            }
            if (sel->pe.nargs != 1 ||
                (sel->pe.args[0]->type != T_STRING && sel->pe.args[0]->type != T_IDENT)) {
                fail(c, SILK_ESYNTAX, "ExpressionError",
                     "Expected a single string or ident for ::attr(), got %zu arguments",
                     sel->pe.nargs);
                return NULL;
            }
            attribute = sel->pe.args[0]->value;
        } else {
            if (strcmp(sel->pe.name, "text") != 0) {
                fail(c, SILK_ESYNTAX, "ExpressionError", "The pseudo-element ::%s is unknown",
                     sel->pe.name);
                return NULL;
            }
            textnode = true;
        }
    }
    char *path = (char *)expr_str(c, x);
    if (!path)
        return NULL;
    if (textnode) {
        if (strcmp(path, "*") == 0) {
            path = "text()";
        } else if (ends_with(path, "::*/*")) {
            path[strlen(path) - 3] = '\0';
            path = ar_printf(c, "%stext()", path);
        } else {
            path = ar_printf(c, "%s/text()", path);
        }
    }
    if (attribute && path) {
        if (ends_with(path, "::*/*"))
            path[strlen(path) - 2] = '\0';
        path = ar_printf(c, "%s/@%s", path, attribute);
    }
    if (!path)
        return NULL;
    return ar_printf(c, "descendant-or-self::%s", path);
}

int silk_css_to_xpath(const char *css, bool html, char **xpath_out)
{
    if (!xpath_out)
        return silk_error(SILK_EINVAL, "silk_css_to_xpath: xpath_out is NULL");
    *xpath_out = NULL;
    if (!css)
        return silk_error(SILK_EINVAL, "silk_css_to_xpath: css is NULL");
    size_t len = strlen(css);
    if (len > CSS_MAX_INPUT)
        return silk_error(SILK_ELIMIT, "CSS selector longer than %d bytes", CSS_MAX_INPUT);
    if (silk__utf8_valid_prefix(css, len) != len)
        return silk_error(SILK_EENCODING, "CSS selector is not valid UTF-8");
    css_ctx c = { 0 };
    c.html = html;
    silk_buf out = SILK_BUF_INIT;
    css_sel *sels;
    size_t nsels;
    if (parse_group(&c, css, len, &sels, &nsels) == 0) {
        for (size_t i = 0; i < nsels; i++) {
            const char *x = selector_to_xpath(&c, &sels[i]);
            if (!x)
                break;
            if (i)
                silk_buf_puts(&out, " | ");
            silk_buf_puts(&out, x);
        }
    }
    int rc = c.err;
    if (!rc && out.err)
        rc = silk_error(SILK_ENOMEM, "out of memory");
    if (!rc) {
        *xpath_out = silk_buf_detach(&out);
        if (!*xpath_out)
            rc = silk_error(SILK_ENOMEM, "out of memory");
    }
    silk_buf_free(&out);
    ar_free(&c);
    return rc;
}
