/* parsel's re() / re_first() on PCRE2, w3lib's replace_entities, and the
 * EXSLT regular-expression functions lxml gives XPath (re:test, re:match,
 * re:replace).
 *
 * Patterns are Python `re` syntax: the few spellings PCRE2 reads otherwise
 * are rewritten (\Z, \uXXXX, \UXXXXXXXX, {,n}); matching is Unicode-aware
 * (UTF + UCP) like a Python str pattern. Match and depth limits turn a
 * catastrophic pattern into SILK_ELIMIT instead of a hang. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "selectors/selector_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/selector.h"

#define RE_MATCH_LIMIT 20000000u
#define RE_DEPTH_LIMIT 100000u
#define RE_HEAP_LIMIT_KIB (256u * 1024u)
#define RE_MAX_PATTERN (64 * 1024)

typedef struct rx {
    pcre2_code *code;
    uint32_t ngroups;
    int extract; /* number of the group named "extract", or -1 */
} rx;

void silk__regex_cache_free(void *p);

void silk__regex_cache_free(void *p)
{
    rx *r = p;
    if (!r)
        return;
    pcre2_code_free(r->code);
    silk_free(r);
}

static bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Rewrites what Python and PCRE2 spell differently (also used by the link
 * extractor's allow/deny patterns). */
int silk__regex_translate(const char *pat, silk_buf *out)
{
    size_t n = strlen(pat);
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[i + 1];
            if (d == 'Z' && !in_class) {
                silk_buf_puts(out, "\\z");
                i++;
                continue;
            }
            if (d == 'u' || d == 'U') {
                size_t want = d == 'u' ? 4 : 8;
                if (i + 2 + want > n)
                    return silk_error(SILK_ESYNTAX, "bad escape \\%c at position %zu", d, i);
                for (size_t k = 0; k < want; k++)
                    if (!is_hex((unsigned char)pat[i + 2 + k]))
                        return silk_error(SILK_ESYNTAX, "bad escape \\%c at position %zu", d, i);
                silk_buf_puts(out, "\\x{");
                silk_buf_append(out, pat + i + 2, want);
                silk_buf_putc(out, '}');
                i += 1 + want;
                continue;
            }
            if (d == 'N')
                return silk_error(SILK_ESYNTAX, "\\N{...} escapes are not supported");
            silk_buf_putc(out, c);
            silk_buf_putc(out, d);
            i++;
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
            silk_buf_putc(out, c);
            continue;
        }
        if (c == '[') {
            in_class = true;
            silk_buf_putc(out, c);
            /* a ']' right after '[' or '[^' is literal */
            if (i + 1 < n && pat[i + 1] == '^') {
                silk_buf_putc(out, '^');
                i++;
            }
            if (i + 1 < n && pat[i + 1] == ']') {
                silk_buf_putc(out, ']');
                i++;
            }
            continue;
        }
        if (c == '{' && i + 1 < n && pat[i + 1] == ',') {
            /* Python reads {,n} as {0,n}; PCRE2 10.42 as a literal */
            size_t k = i + 2;
            while (k < n && pat[k] >= '0' && pat[k] <= '9')
                k++;
            if (k > i + 2 && k < n && pat[k] == '}') {
                silk_buf_puts(out, "{0");
                continue;
            }
        }
        silk_buf_putc(out, c);
    }
    return out->err ? silk_error(SILK_ENOMEM, "out of memory") : 0;
}

static int compile_rx(const char *pattern, bool caseless, rx **out)
{
    *out = NULL;
    if (strlen(pattern) > RE_MAX_PATTERN)
        return silk_error(SILK_ELIMIT, "regular expression longer than %d bytes", RE_MAX_PATTERN);
    silk_buf t = SILK_BUF_INIT;
    int rc = silk__regex_translate(pattern, &t);
    if (rc) {
        silk_buf_free(&t);
        return rc;
    }
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (caseless ? PCRE2_CASELESS : 0);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)(t.data ? t.data : ""), t.len, opts, &errcode,
                                     &erroff, NULL);
    silk_buf_free(&t);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return silk_error(SILK_ESYNTAX, "invalid regular expression %s: %s at offset %zu",
                          pattern, (const char *)msg, (size_t)erroff);
    }
    rx *r = silk_malloc_for(&silk_type_selector, sizeof *r);
    if (!r) {
        pcre2_code_free(code);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    r->code = code;
    r->extract = -1;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &r->ngroups);
    uint32_t namecount = 0, entry = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &namecount);
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < namecount; i++) {
        PCRE2_SPTR e = table + (size_t)i * entry;
        if (strcmp((const char *)e + 2, "extract") == 0)
            r->extract = (e[0] << 8) | e[1];
    }
    *out = r;
    return 0;
}

/* The compiled pattern, from the document's cache when possible. *tmp is
 * set when the caller must free it (no cache). */
static int get_rx(silk__cache *cache, const char *pattern, bool caseless, rx **out, rx **tmp)
{
    *tmp = NULL;
    char key[16 + 1];
    snprintf(key, sizeof key, "%c", caseless ? 'i' : 'c');
    silk_buf k = SILK_BUF_INIT;
    silk_buf_puts(&k, key);
    silk_buf_puts(&k, pattern);
    if (k.err) {
        silk_buf_free(&k);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    rx *r = cache ? silk__cache_get(cache, k.data) : NULL;
    if (r) {
        silk_buf_free(&k);
        *out = r;
        return 0;
    }
    int rc = compile_rx(pattern, caseless, &r);
    if (rc) {
        silk_buf_free(&k);
        return rc;
    }
    if (!cache || silk__cache_put(cache, k.data, r))
        *tmp = r;
    silk_buf_free(&k);
    *out = r;
    return 0;
}

typedef struct matcher {
    pcre2_match_data *md;
    pcre2_match_context *mc;
} matcher;

static int matcher_init(matcher *m, const rx *r)
{
    m->md = pcre2_match_data_create_from_pattern(r->code, NULL);
    m->mc = pcre2_match_context_create(NULL);
    if (!m->md || !m->mc) {
        pcre2_match_data_free(m->md);
        pcre2_match_context_free(m->mc);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    pcre2_set_match_limit(m->mc, RE_MATCH_LIMIT);
    pcre2_set_depth_limit(m->mc, RE_DEPTH_LIMIT);
    pcre2_set_heap_limit(m->mc, RE_HEAP_LIMIT_KIB);
    return 0;
}

static void matcher_free(matcher *m)
{
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mc);
}

/* 1 on a match, 0 on none, negative SILK_E* on error. */
static int run(const rx *r, matcher *m, const char *s, size_t n, size_t start, uint32_t opts)
{
    int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, start, opts, m->md, m->mc);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT)
        return silk_error(SILK_ELIMIT, "regular expression too costly on this text (%s)",
                          rc == PCRE2_ERROR_MATCHLIMIT ? "match limit" : "depth/heap limit");
    if (rc == PCRE2_ERROR_NOMEMORY)
        return silk_error(SILK_ENOMEM, "out of memory");
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return silk_error(SILK_EINVAL, "regular expression match failed: %s", (const char *)msg);
}

static void group(const matcher *m, uint32_t g, const char *s, const char **p, size_t *len)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    if (ov[2 * g] == PCRE2_UNSET) {
        *p = NULL;
        *len = 0;
        return;
    }
    *p = s + ov[2 * g];
    *len = ov[2 * g + 1] - ov[2 * g];
}

/* A growable list of owned strings. */
typedef struct svec {
    char **v;
    size_t len, cap;
} svec;

static int svec_push(svec *sv, const char *p, size_t n)
{
    if (sv->len == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 8;
        char **nv = silk_realloc(sv->v, nc * sizeof *nv);
        if (!nv)
            return silk_error(SILK_ENOMEM, "out of memory");
        sv->v = nv;
        sv->cap = nc;
    }
    char *c = silk_strndup(p ? p : "", p ? n : 0);
    if (!c)
        return silk_error(SILK_ENOMEM, "out of memory");
    sv->v[sv->len++] = c;
    return 0;
}

static void svec_free(svec *sv)
{
    for (size_t i = 0; i < sv->len; i++)
        silk_free(sv->v[i]);
    silk_free(sv->v);
    memset(sv, 0, sizeof *sv);
}

/* parsel.utils.extract_regex without the entity step; max = 1 stops after
 * the first string (re_first). */
static int extract(const rx *r, const char *text, svec *sv, size_t max)
{
    matcher m;
    int rc = matcher_init(&m, r);
    if (rc)
        return rc;
    size_t n = strlen(text);
    if (r->extract >= 0) {
        rc = run(r, &m, text, n, 0, 0);
        if (rc == 1) {
            const char *p;
            size_t len;
            group(&m, (uint32_t)r->extract, text, &p, &len);
            rc = p ? svec_push(sv, p, len) : 0;
        }
        matcher_free(&m);
        return rc < 0 ? rc : 0;
    }
    /* re.findall: an empty match may not start where the last one ended
     * when that one was empty (PCRE2_NOTEMPTY_ATSTART is that rule) */
    size_t start = 0;
    bool must_advance = false;
    rc = 0;
    while (start <= n && (!max || sv->len < max)) {
        rc = run(r, &m, text, n, start, must_advance ? PCRE2_NOTEMPTY_ATSTART : 0);
        if (rc <= 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m.md);
        if (r->ngroups == 0) {
            rc = svec_push(sv, text + ov[0], ov[1] - ov[0]);
        } else {
            for (uint32_t g = 1; g <= r->ngroups && rc >= 0; g++) {
                const char *p;
                size_t len;
                group(&m, g, text, &p, &len);
                rc = svec_push(sv, p, len);
            }
        }
        if (rc < 0)
            break;
        must_advance = ov[1] == ov[0];
        start = ov[1];
        rc = 0;
    }
    matcher_free(&m);
    return rc < 0 ? rc : 0;
}

/* ---- w3lib.html.replace_entities ---- */

struct entity {
    const char *name;
    uint32_t cp;
};

static const struct entity entities[] = {
    {"AElig", 0xC6},
    {"Aacute", 0xC1},
    {"Acirc", 0xC2},
    {"Agrave", 0xC0},
    {"Alpha", 0x391},
    {"Aring", 0xC5},
    {"Atilde", 0xC3},
    {"Auml", 0xC4},
    {"Beta", 0x392},
    {"Ccedil", 0xC7},
    {"Chi", 0x3A7},
    {"Dagger", 0x2021},
    {"Delta", 0x394},
    {"ETH", 0xD0},
    {"Eacute", 0xC9},
    {"Ecirc", 0xCA},
    {"Egrave", 0xC8},
    {"Epsilon", 0x395},
    {"Eta", 0x397},
    {"Euml", 0xCB},
    {"Gamma", 0x393},
    {"Iacute", 0xCD},
    {"Icirc", 0xCE},
    {"Igrave", 0xCC},
    {"Iota", 0x399},
    {"Iuml", 0xCF},
    {"Kappa", 0x39A},
    {"Lambda", 0x39B},
    {"Mu", 0x39C},
    {"Ntilde", 0xD1},
    {"Nu", 0x39D},
    {"OElig", 0x152},
    {"Oacute", 0xD3},
    {"Ocirc", 0xD4},
    {"Ograve", 0xD2},
    {"Omega", 0x3A9},
    {"Omicron", 0x39F},
    {"Oslash", 0xD8},
    {"Otilde", 0xD5},
    {"Ouml", 0xD6},
    {"Phi", 0x3A6},
    {"Pi", 0x3A0},
    {"Prime", 0x2033},
    {"Psi", 0x3A8},
    {"Rho", 0x3A1},
    {"Scaron", 0x160},
    {"Sigma", 0x3A3},
    {"THORN", 0xDE},
    {"Tau", 0x3A4},
    {"Theta", 0x398},
    {"Uacute", 0xDA},
    {"Ucirc", 0xDB},
    {"Ugrave", 0xD9},
    {"Upsilon", 0x3A5},
    {"Uuml", 0xDC},
    {"Xi", 0x39E},
    {"Yacute", 0xDD},
    {"Yuml", 0x178},
    {"Zeta", 0x396},
    {"aacute", 0xE1},
    {"acirc", 0xE2},
    {"acute", 0xB4},
    {"aelig", 0xE6},
    {"agrave", 0xE0},
    {"alefsym", 0x2135},
    {"alpha", 0x3B1},
    {"amp", 0x26},
    {"and", 0x2227},
    {"ang", 0x2220},
    {"aring", 0xE5},
    {"asymp", 0x2248},
    {"atilde", 0xE3},
    {"auml", 0xE4},
    {"bdquo", 0x201E},
    {"beta", 0x3B2},
    {"brvbar", 0xA6},
    {"bull", 0x2022},
    {"cap", 0x2229},
    {"ccedil", 0xE7},
    {"cedil", 0xB8},
    {"cent", 0xA2},
    {"chi", 0x3C7},
    {"circ", 0x2C6},
    {"clubs", 0x2663},
    {"cong", 0x2245},
    {"copy", 0xA9},
    {"crarr", 0x21B5},
    {"cup", 0x222A},
    {"curren", 0xA4},
    {"dArr", 0x21D3},
    {"dagger", 0x2020},
    {"darr", 0x2193},
    {"deg", 0xB0},
    {"delta", 0x3B4},
    {"diams", 0x2666},
    {"divide", 0xF7},
    {"eacute", 0xE9},
    {"ecirc", 0xEA},
    {"egrave", 0xE8},
    {"empty", 0x2205},
    {"emsp", 0x2003},
    {"ensp", 0x2002},
    {"epsilon", 0x3B5},
    {"equiv", 0x2261},
    {"eta", 0x3B7},
    {"eth", 0xF0},
    {"euml", 0xEB},
    {"euro", 0x20AC},
    {"exist", 0x2203},
    {"fnof", 0x192},
    {"forall", 0x2200},
    {"frac12", 0xBD},
    {"frac14", 0xBC},
    {"frac34", 0xBE},
    {"frasl", 0x2044},
    {"gamma", 0x3B3},
    {"ge", 0x2265},
    {"gt", 0x3E},
    {"hArr", 0x21D4},
    {"harr", 0x2194},
    {"hearts", 0x2665},
    {"hellip", 0x2026},
    {"iacute", 0xED},
    {"icirc", 0xEE},
    {"iexcl", 0xA1},
    {"igrave", 0xEC},
    {"image", 0x2111},
    {"infin", 0x221E},
    {"int", 0x222B},
    {"iota", 0x3B9},
    {"iquest", 0xBF},
    {"isin", 0x2208},
    {"iuml", 0xEF},
    {"kappa", 0x3BA},
    {"lArr", 0x21D0},
    {"lambda", 0x3BB},
    {"lang", 0x2329},
    {"laquo", 0xAB},
    {"larr", 0x2190},
    {"lceil", 0x2308},
    {"ldquo", 0x201C},
    {"le", 0x2264},
    {"lfloor", 0x230A},
    {"lowast", 0x2217},
    {"loz", 0x25CA},
    {"lrm", 0x200E},
    {"lsaquo", 0x2039},
    {"lsquo", 0x2018},
    {"lt", 0x3C},
    {"macr", 0xAF},
    {"mdash", 0x2014},
    {"micro", 0xB5},
    {"middot", 0xB7},
    {"minus", 0x2212},
    {"mu", 0x3BC},
    {"nabla", 0x2207},
    {"nbsp", 0xA0},
    {"ndash", 0x2013},
    {"ne", 0x2260},
    {"ni", 0x220B},
    {"not", 0xAC},
    {"notin", 0x2209},
    {"nsub", 0x2284},
    {"ntilde", 0xF1},
    {"nu", 0x3BD},
    {"oacute", 0xF3},
    {"ocirc", 0xF4},
    {"oelig", 0x153},
    {"ograve", 0xF2},
    {"oline", 0x203E},
    {"omega", 0x3C9},
    {"omicron", 0x3BF},
    {"oplus", 0x2295},
    {"or", 0x2228},
    {"ordf", 0xAA},
    {"ordm", 0xBA},
    {"oslash", 0xF8},
    {"otilde", 0xF5},
    {"otimes", 0x2297},
    {"ouml", 0xF6},
    {"para", 0xB6},
    {"part", 0x2202},
    {"permil", 0x2030},
    {"perp", 0x22A5},
    {"phi", 0x3C6},
    {"pi", 0x3C0},
    {"piv", 0x3D6},
    {"plusmn", 0xB1},
    {"pound", 0xA3},
    {"prime", 0x2032},
    {"prod", 0x220F},
    {"prop", 0x221D},
    {"psi", 0x3C8},
    {"quot", 0x22},
    {"rArr", 0x21D2},
    {"radic", 0x221A},
    {"rang", 0x232A},
    {"raquo", 0xBB},
    {"rarr", 0x2192},
    {"rceil", 0x2309},
    {"rdquo", 0x201D},
    {"real", 0x211C},
    {"reg", 0xAE},
    {"rfloor", 0x230B},
    {"rho", 0x3C1},
    {"rlm", 0x200F},
    {"rsaquo", 0x203A},
    {"rsquo", 0x2019},
    {"sbquo", 0x201A},
    {"scaron", 0x161},
    {"sdot", 0x22C5},
    {"sect", 0xA7},
    {"shy", 0xAD},
    {"sigma", 0x3C3},
    {"sigmaf", 0x3C2},
    {"sim", 0x223C},
    {"spades", 0x2660},
    {"sub", 0x2282},
    {"sube", 0x2286},
    {"sum", 0x2211},
    {"sup", 0x2283},
    {"sup1", 0xB9},
    {"sup2", 0xB2},
    {"sup3", 0xB3},
    {"supe", 0x2287},
    {"szlig", 0xDF},
    {"tau", 0x3C4},
    {"there4", 0x2234},
    {"theta", 0x3B8},
    {"thetasym", 0x3D1},
    {"thinsp", 0x2009},
    {"thorn", 0xFE},
    {"tilde", 0x2DC},
    {"times", 0xD7},
    {"trade", 0x2122},
    {"uArr", 0x21D1},
    {"uacute", 0xFA},
    {"uarr", 0x2191},
    {"ucirc", 0xFB},
    {"ugrave", 0xF9},
    {"uml", 0xA8},
    {"upsih", 0x3D2},
    {"upsilon", 0x3C5},
    {"uuml", 0xFC},
    {"weierp", 0x2118},
    {"xi", 0x3BE},
    {"yacute", 0xFD},
    {"yen", 0xA5},
    {"yuml", 0xFF},
    {"zeta", 0x3B6},
    {"zwj", 0x200D},
    {"zwnj", 0x200C},
};

static const uint16_t cp1252_80[32] = {
    0x20AC, 0, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160,
    0x2039, 0x152,  0, 0x17D, 0,     0,     0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0, 0x17E, 0x178,
};

static int entity_cmp(const void *k, const void *e)
{
    return strcmp(k, ((const struct entity *)e)->name);
}

static bool lookup_entity(const char *name, uint32_t *cp)
{
    const struct entity *e = bsearch(name, entities, sizeof entities / sizeof entities[0],
                                     sizeof entities[0], entity_cmp);
    if (!e)
        return false;
    *cp = e->cp;
    return true;
}

static bool ascii_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int replace_entities(const char *text, const char *const *keep, silk_buf *out)
{
    const char *p = text;
    while (*p) {
        const char *amp = strchr(p, '&');
        if (!amp) {
            silk_buf_puts(out, p);
            break;
        }
        silk_buf_append(out, p, (size_t)(amp - p));
        const char *q = amp + 1;
        /* &((?P<named>[a-z\d]+)|#(?P<dec>\d+)|#x(?P<hex>[a-f\d]+))(?P<semicolon>;?) */
        enum { NONE, NAMED, DEC, HEX } kind = NONE;
        const char *b = q, *e = q;
        if (ascii_alnum(*q)) {
            while (ascii_alnum(*e))
                e++;
            kind = NAMED;
        } else if (*q == '#' && is_digit(q[1])) {
            b = e = q + 1;
            while (is_digit(*e))
                e++;
            kind = DEC;
        } else if (*q == '#' && (q[1] == 'x' || q[1] == 'X') && is_hex((unsigned char)q[2])) {
            b = e = q + 2;
            while (is_hex((unsigned char)*e))
                e++;
            kind = HEX;
        }
        if (kind == NONE) {
            silk_buf_putc(out, '&');
            p = amp + 1;
            continue;
        }
        bool semicolon = *e == ';';
        const char *end = semicolon ? e + 1 : e;
        size_t len = (size_t)(e - b);
        bool have = false;
        uint64_t number = 0;
        bool big = false;
        if (kind == NAMED) {
            char name[64];
            if (len < sizeof name) {
                memcpy(name, b, len);
                name[len] = '\0';
                char lower[64];
                for (size_t i = 0; i <= len; i++)
                    lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
                bool kept = false;
                for (size_t i = 0; keep && keep[i] && !kept; i++)
                    kept = strcmp(keep[i], lower) == 0;
                if (kept) {
                    silk_buf_append(out, amp, (size_t)(end - amp));
                    p = end;
                    continue;
                }
                uint32_t cp;
                /* name2codepoint.get(name) or .get(name.lower()); a 0 would be
                 * falsy but no entity maps to it */
                if (lookup_entity(name, &cp) || lookup_entity(lower, &cp)) {
                    number = cp;
                    have = true;
                }
            }
        } else {
            for (const char *d = b; d < e; d++) {
                unsigned v = is_digit(*d) ? (unsigned)(*d - '0')
                                          : (unsigned)((*d | 0x20) - 'a' + 10);
                if (number > (UINT64_MAX >> 5))
                    big = true;
                else
                    number = number * (kind == DEC ? 10 : 16) + v;
            }
            have = true;
        }
        if (have && !big) {
            uint32_t cp = 0;
            bool ok = false;
            if (number >= 0x80 && number <= 0x9F) {
                cp = cp1252_80[number - 0x80];
                ok = cp != 0; /* undefined in cp1252: a decode error */
            } else if (number <= 0x10FFFF) {
                cp = (uint32_t)number;
                ok = true;
            }
            if (ok) {
                /* chr(0) and lone surrogates cannot be held in UTF-8 text
                 * (docs/compat.md): NUL is dropped, surrogates become U+FFFD */
                if (cp != 0) {
                    char enc[4];
                    silk_buf_append(out, enc, silk__utf8_encode(cp, enc));
                }
                p = end;
                continue;
            }
        }
        if (!semicolon)
            silk_buf_append(out, amp, (size_t)(end - amp));
        p = end;
    }
    return out->err ? silk_error(SILK_ENOMEM, "out of memory") : 0;
}

char *silk_replace_entities(const char *text, const char *const *keep)
{
    silk_buf out = SILK_BUF_INIT;
    if (replace_entities(text ? text : "", keep, &out)) {
        silk_buf_free(&out);
        return NULL;
    }
    char *r = silk_buf_detach(&out);
    if (!r)
        silk_error(SILK_ENOMEM, "out of memory");
    return r;
}

static const char *const KEEP_LT_AMP[] = { "lt", "amp", NULL };

/* Entity step of extract_regex, in place on the vector. */
static int unescape_all(svec *sv, unsigned flags)
{
    if (flags & SILK_RE_KEEP_ENTITIES)
        return 0;
    for (size_t i = 0; i < sv->len; i++) {
        if (!strchr(sv->v[i], '&'))
            continue;
        char *r = silk_replace_entities(sv->v[i], KEEP_LT_AMP);
        if (!r)
            return SILK_ENOMEM;
        silk_free(sv->v[i]);
        sv->v[i] = r;
    }
    return 0;
}

/* ---- public re() ---- */

static int re_one(silk_selector *s, const char *regex, svec *sv, size_t max)
{
    const char *text = silk_selector_get(s);
    if (!text)
        return SILK_ENOMEM;
    rx *r = NULL, *tmp = NULL;
    int rc = get_rx(silk__selector_regex_cache(s), regex, false, &r, &tmp);
    if (rc)
        return rc;
    rc = extract(r, text, sv, max);
    silk__regex_cache_free(tmp);
    return rc;
}

static int to_strv(svec *sv, silk_arena *arena, silk_strv *out)
{
    size_t n = sv->len;
    const char **v = silk_malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return silk_error(SILK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = sv->v[i];
    if (arena) {
        /* the strings first: on failure each keep frees what it was given */
        int rc = 0;
        size_t i = 0;
        for (; i < n && !rc; i++)
            rc = silk_arena_keep_block(arena, sv->v[i]);
        for (; i < n; i++)
            silk_free(sv->v[i]);
        silk_free(sv->v);
        memset(sv, 0, sizeof *sv);
        if (!rc)
            rc = silk_arena_keep_block(arena, v);
        else
            silk_free(v);
        if (rc)
            return rc;
        out->flags = SILK__STRV_IN_ARENA;
    } else {
        silk_free(sv->v);
        memset(sv, 0, sizeof *sv);
        out->flags = SILK__STRV_OWNS_ARRAY | SILK__STRV_OWNS_STRINGS;
    }
    out->v = v;
    out->len = n;
    return 0;
}

static int check_args(const char *regex, void *out)
{
    if (!regex || !out)
        return silk_error(SILK_EINVAL, "re: NULL argument");
    return 0;
}

int silk_selector_re(silk_selector *s, const char *regex, unsigned flags, silk_arena *arena,
                     silk_strv *out)
{
    int rc = check_args(regex, out);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    if (!silk_object_alive(s) || ((silk_object *)s)->type != &silk_type_selector)
        return silk_error(SILK_EDEAD, "silk_selector_re: not a live Selector");
    svec sv = { 0 };
    rc = re_one(s, regex, &sv, 0);
    if (!rc)
        rc = unescape_all(&sv, flags);
    if (!rc)
        rc = to_strv(&sv, arena, out);
    svec_free(&sv);
    return rc;
}

int silk_selector_list_re(silk_selector_list *l, const char *regex, unsigned flags,
                          silk_arena *arena, silk_strv *out)
{
    int rc = check_args(regex, out);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    svec sv = { 0 };
    size_t n = silk_selector_list_len(l);
    for (size_t i = 0; i < n && !rc; i++)
        rc = re_one(silk_selector_list_at(l, i), regex, &sv, 0);
    if (!rc)
        rc = unescape_all(&sv, flags);
    if (!rc)
        rc = to_strv(&sv, arena, out);
    svec_free(&sv);
    return rc;
}

static int first_out(svec *sv, unsigned flags, silk_arena *arena, char **out)
{
    int rc = unescape_all(sv, flags);
    if (rc || sv->len == 0)
        return rc;
    char *s = sv->v[0];
    sv->v[0] = NULL;
    if (arena) {
        rc = silk_arena_keep_block(arena, s);
        if (rc)
            return rc;
    }
    *out = s;
    return 0;
}

int silk_selector_re_first(silk_selector *s, const char *regex, unsigned flags,
                           silk_arena *arena, char **out)
{
    int rc = check_args(regex, out);
    if (rc)
        return rc;
    *out = NULL;
    if (!silk_object_alive(s) || ((silk_object *)s)->type != &silk_type_selector)
        return silk_error(SILK_EDEAD, "silk_selector_re_first: not a live Selector");
    svec sv = { 0 };
    rc = re_one(s, regex, &sv, 1);
    if (!rc)
        rc = first_out(&sv, flags, arena, out);
    svec_free(&sv);
    return rc;
}

int silk_selector_list_re_first(silk_selector_list *l, const char *regex, unsigned flags,
                                silk_arena *arena, char **out)
{
    int rc = check_args(regex, out);
    if (rc)
        return rc;
    *out = NULL;
    svec sv = { 0 };
    size_t n = silk_selector_list_len(l);
    /* iflatten stops at the first string of the first Selector that has one */
    for (size_t i = 0; i < n && !rc && sv.len == 0; i++)
        rc = re_one(silk_selector_list_at(l, i), regex, &sv, 1);
    if (!rc)
        rc = first_out(&sv, flags, arena, out);
    svec_free(&sv);
    return rc;
}

/* ---- EXSLT regular expressions in XPath (lxml's _ExsltRegExp) ---- */

/* Python's str(float) of a number argument; shared formatting lives in
 * selector.c, but these functions only need the common cases. */
static void number_str(double d, silk_buf *b)
{
    char tmp[64];
    if (d != d) {
        silk_buf_puts(b, "nan");
    } else if (d > 1e308 * 10) {
        silk_buf_puts(b, "inf");
    } else if (d < -1e308 * 10) {
        silk_buf_puts(b, "-inf");
    } else if (d == (double)(long long)d && d > -1e16 && d < 1e16) {
        snprintf(tmp, sizeof tmp, "%lld.0", (long long)d);
        silk_buf_puts(b, tmp);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        silk_buf_puts(b, tmp);
    }
}

/* _make_string: strings as they are, a node-set's first node's content,
 * numbers and booleans as Python would print them. */
static int make_string(xmlXPathObjectPtr o, silk_buf *b)
{
    switch (o->type) {
    case XPATH_STRING:
        silk_buf_puts(b, o->stringval ? (const char *)o->stringval : "");
        break;
    case XPATH_NODESET:
    case XPATH_XSLT_TREE:
        if (o->nodesetval && o->nodesetval->nodeNr > 0) {
            xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
            silk_buf_puts(b, c ? (const char *)c : "");
            xmlFree(c);
        }
        break;
    case XPATH_BOOLEAN:
        silk_buf_puts(b, o->boolval ? "True" : "False");
        break;
    case XPATH_NUMBER:
        number_str(o->floatval, b);
        break;
    default:
        break;
    }
    return b->err;
}

/* Pops nargs arguments into strings (args[0] is the first). */
static bool pop_strings(xmlXPathParserContextPtr ctxt, int nargs, silk_buf *args)
{
    bool ok = true;
    for (int i = nargs - 1; i >= 0; i--) {
        xmlXPathObjectPtr o = valuePop(ctxt);
        if (!o || make_string(o, &args[i]))
            ok = false;
        xmlXPathFreeObject(o);
    }
    return ok;
}

static void free_strings(silk_buf *args, int n)
{
    for (int i = 0; i < n; i++)
        silk_buf_free(&args[i]);
}

static const char *str_of(const silk_buf *b) { return b->data ? b->data : ""; }

static void re_test_fn(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 2 && nargs != 3) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    silk_buf a[3] = { SILK_BUF_INIT, SILK_BUF_INIT, SILK_BUF_INIT };
    if (!pop_strings(ctxt, nargs, a)) {
        free_strings(a, 3);
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    rx *r = NULL;
    int rc = compile_rx(str_of(&a[1]), strchr(str_of(&a[2]), 'i') != NULL, &r);
    int found = 0;
    if (!rc) {
        matcher m;
        rc = matcher_init(&m, r);
        if (!rc) {
            found = run(r, &m, str_of(&a[0]), a[0].len, 0, 0);
            matcher_free(&m);
        }
        silk__regex_cache_free(r);
    }
    free_strings(a, 3);
    if (rc || found < 0) {
        xmlXPathErr(ctxt, XPATH_EXPR_ERROR);
        return;
    }
    valuePush(ctxt, xmlXPathNewBoolean(found == 1));
}

/* Python's re.sub template: \1, \g<1>, \g<name>, and the usual escapes. */
static int expand_template(const rx *r, const matcher *m, const char *subject, const char *tpl,
                           silk_buf *out)
{
    for (const char *p = tpl; *p; p++) {
        if (*p != '\\') {
            silk_buf_putc(out, *p);
            continue;
        }
        char c = *++p;
        if (!c) {
            return silk_error(SILK_ESYNTAX, "bad escape (end of pattern)");
        }
        int g = -1;
        if (c >= '0' && c <= '9') {
            g = c - '0';
            if (p[1] >= '0' && p[1] <= '9' && g * 10 + (p[1] - '0') <= (int)r->ngroups)
                g = g * 10 + (*++p - '0');
        } else if (c == 'g' && p[1] == '<') {
            const char *e = strchr(p + 2, '>');
            if (!e)
                return silk_error(SILK_ESYNTAX, "missing >, unterminated name");
            char name[128];
            size_t n = (size_t)(e - p - 2);
            if (n == 0 || n >= sizeof name)
                return silk_error(SILK_ESYNTAX, "bad group name");
            memcpy(name, p + 2, n);
            name[n] = '\0';
            char *end;
            long v = strtol(name, &end, 10);
            if (*end == '\0')
                g = (int)v;
            else
                g = pcre2_substring_number_from_name(r->code, (PCRE2_SPTR)name);
            if (g < 0)
                return silk_error(SILK_ESYNTAX, "unknown group name '%s'", name);
            p = e;
        } else {
            const char *esc = NULL;
            switch (c) {
            case 'n': esc = "\n"; break;
            case 't': esc = "\t"; break;
            case 'r': esc = "\r"; break;
            case 'f': esc = "\f"; break;
            case 'v': esc = "\v"; break;
            case 'a': esc = "\a"; break;
            case 'b': esc = "\b"; break;
            case '\\': esc = "\\"; break;
            default:
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                    return silk_error(SILK_ESYNTAX, "bad escape \\%c", c);
                silk_buf_putc(out, '\\');
                silk_buf_putc(out, c);
                continue;
            }
            silk_buf_puts(out, esc);
            continue;
        }
        if (g > (int)r->ngroups)
            return silk_error(SILK_ESYNTAX, "invalid group reference %d", g);
        const char *gp;
        size_t gl;
        group(m, (uint32_t)g, subject, &gp, &gl);
        if (gp)
            silk_buf_append(out, gp, gl);
    }
    return out->err ? silk_error(SILK_ENOMEM, "out of memory") : 0;
}

static void re_replace_fn(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 4) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    silk_buf a[4] = { SILK_BUF_INIT, SILK_BUF_INIT, SILK_BUF_INIT, SILK_BUF_INIT };
    if (!pop_strings(ctxt, nargs, a)) {
        free_strings(a, 4);
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    /* replace(s, rexp, flags, replacement) */
    const char *s = str_of(&a[0]);
    size_t n = a[0].len;
    bool global = strchr(str_of(&a[2]), 'g') != NULL;
    rx *r = NULL;
    silk_buf out = SILK_BUF_INIT;
    int rc = compile_rx(str_of(&a[1]), strchr(str_of(&a[2]), 'i') != NULL, &r);
    if (!rc) {
        matcher m;
        rc = matcher_init(&m, r);
        if (!rc) {
            size_t start = 0, copied = 0;
            bool must_advance = false;
            while (start <= n) {
                int f = run(r, &m, s, n, start, must_advance ? PCRE2_NOTEMPTY_ATSTART : 0);
                if (f < 0)
                    rc = f;
                if (f <= 0)
                    break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m.md);
                silk_buf_append(&out, s + copied, ov[0] - copied);
                rc = expand_template(r, &m, s, str_of(&a[3]), &out);
                if (rc)
                    break;
                copied = ov[1];
                must_advance = ov[1] == ov[0];
                start = ov[1];
                if (!global)
                    break;
            }
            if (!rc)
                silk_buf_append(&out, s + copied, n - copied);
            matcher_free(&m);
        }
        silk__regex_cache_free(r);
    }
    free_strings(a, 4);
    if (rc || out.err) {
        silk_buf_free(&out);
        xmlXPathErr(ctxt, XPATH_EXPR_ERROR);
        return;
    }
    valuePush(ctxt, xmlXPathNewString((const xmlChar *)(out.data ? out.data : "")));
    silk_buf_free(&out);
}

/* re:match returns <match> elements; they are made in the document and
 * kept, as lxml keeps the copies it makes, until the document goes. */
static void re_match_fn(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 2 && nargs != 3) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    silk_buf a[3] = { SILK_BUF_INIT, SILK_BUF_INIT, SILK_BUF_INIT };
    if (!pop_strings(ctxt, nargs, a)) {
        free_strings(a, 3);
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    const char *s = str_of(&a[0]);
    size_t n = a[0].len;
    const char *fl = str_of(&a[2]);
    rx *r = NULL;
    svec sv = { 0 };
    int rc = compile_rx(str_of(&a[1]), strchr(fl, 'i') != NULL, &r);
    if (!rc) {
        if (strchr(fl, 'g')) {
            /* findall; a tuple of groups is joined into one string */
            matcher m;
            rc = matcher_init(&m, r);
            size_t start = 0;
            bool must_advance = false;
            while (!rc && start <= n) {
                int f = run(r, &m, s, n, start, must_advance ? PCRE2_NOTEMPTY_ATSTART : 0);
                if (f <= 0) {
                    rc = f < 0 ? f : 0;
                    break;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m.md);
                if (r->ngroups <= 1) {
                    uint32_t g = r->ngroups;
                    const char *gp;
                    size_t gl;
                    group(&m, g, s, &gp, &gl);
                    rc = svec_push(&sv, gp, gl);
                } else {
                    silk_buf j = SILK_BUF_INIT;
                    for (uint32_t g = 1; g <= r->ngroups; g++) {
                        const char *gp;
                        size_t gl;
                        group(&m, g, s, &gp, &gl);
                        if (gp)
                            silk_buf_append(&j, gp, gl);
                    }
                    rc = j.err ? SILK_ENOMEM : svec_push(&sv, j.data, j.len);
                    silk_buf_free(&j);
                }
                must_advance = ov[1] == ov[0];
                start = ov[1];
            }
            if (m.md)
                matcher_free(&m);
        } else {
            matcher m;
            rc = matcher_init(&m, r);
            if (!rc) {
                int f = run(r, &m, s, n, 0, 0);
                if (f < 0)
                    rc = f;
                for (uint32_t g = 0; f == 1 && g <= r->ngroups && !rc; g++) {
                    const char *gp;
                    size_t gl;
                    group(&m, g, s, &gp, &gl);
                    rc = svec_push(&sv, gp, gl);
                }
                matcher_free(&m);
            }
        }
        silk__regex_cache_free(r);
    }
    free_strings(a, 3);
    if (rc) {
        svec_free(&sv);
        xmlXPathErr(ctxt, XPATH_EXPR_ERROR);
        return;
    }
    xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
    xmlDocPtr doc = ctxt->context->doc;
    xmlNodePtr root = sv.len ? xmlNewDocNode(doc, NULL, (const xmlChar *)"matches", NULL) : NULL;
    for (size_t i = 0; root && set && i < sv.len; i++) {
        xmlNodePtr el = xmlNewDocNode(doc, NULL, (const xmlChar *)"match", NULL);
        if (!el)
            break;
        xmlAddChild(root, el);
        if (*sv.v[i])
            xmlNodeAddContent(el, (const xmlChar *)sv.v[i]);
        xmlXPathNodeSetAdd(set, el);
    }
    svec_free(&sv);
    if (root)
        silk__keep_orphan(ctxt->context, root);
    valuePush(ctxt, xmlXPathWrapNodeSet(set));
}

void silk__xpath_register_regexp(xmlXPathContextPtr xctx);

void silk__xpath_register_regexp(xmlXPathContextPtr xctx)
{
    const xmlChar *ns = (const xmlChar *)"http://exslt.org/regular-expressions";
    xmlXPathRegisterFuncNS(xctx, (const xmlChar *)"test", ns, re_test_fn);
    xmlXPathRegisterFuncNS(xctx, (const xmlChar *)"match", ns, re_match_fn);
    xmlXPathRegisterFuncNS(xctx, (const xmlChar *)"replace", ns, re_replace_fn);
}

/* lxml's _ProcessingInstruction.attrib: pseudo-attributes of the PI text,
 * {name: value} from \s+(\w+)\s*=\s*(?:'([^']*)'|"([^"]*)") over " " + text. */
int silk__pi_attrib(const char *text, silk_value *dict)
{
    static const char PAT[] = "\\s+(\\w+)\\s*=\\s*(?:'([^']*)'|\"([^\"]*)\")";
    rx *r = NULL;
    int rc = compile_rx(PAT, false, &r);
    if (rc)
        return rc;
    silk_buf t = SILK_BUF_INIT;
    silk_buf_putc(&t, ' ');
    silk_buf_puts(&t, text ? text : "");
    svec sv = { 0 };
    rc = t.err ? silk_error(SILK_ENOMEM, "out of memory") : extract(r, t.data, &sv, 0);
    for (size_t i = 0; !rc && i + 2 < sv.len; i += 3) {
        const char *v = *sv.v[i + 1] ? sv.v[i + 1] : sv.v[i + 2];
        rc = silk_dict_set(dict, sv.v[i], silk_value_new_string(v));
    }
    svec_free(&sv);
    silk_buf_free(&t);
    silk__regex_cache_free(r);
    return rc;
}
