/* robots.txt with protego 0.2.1's semantics, as Scrapy's ProtegoRobotParser
 * runs it: the body is decoded as strict UTF-8 (else it counts as empty),
 * split with str.splitlines(), stripped with str.strip(), and patterns and
 * URLs are normalised through the same urlparse/unquote/quote steps, so the
 * same strings are compared. Rules are shared by every user agent of the
 * group that declared them: a user agent owns intervals of the rule list,
 * never copies, so a file with many agents in one group stays linear. */
#define _GNU_SOURCE
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"
#include "silk/robots.h"

#define ROBOTS_MAGIC 0x524f4254u /* "ROBT" */
#define ROBOTS_DEAD 0xdeadbeefu
#define BAD_CP 0xffffffffu

/* ------------------------------------------------------------------------ */
/* Unicode, as Python 3.11 sees it                                           */
/* ------------------------------------------------------------------------ */

struct lower_range {
    uint32_t first, last;
    uint32_t stride;
    int32_t delta;
};

/* Generated from Python 3.11.2 (Unicode 14.0.0): str.lower() single-code-point
 * mappings as {first, last, stride, delta}. */
static const struct lower_range lower_ranges[] = {
    {0x41, 0x5A, 1, 32}, {0xC0, 0xD6, 1, 32}, {0xD8, 0xDE, 1, 32}, {0x100, 0x12E, 2, 1},
    {0x132, 0x136, 2, 1}, {0x139, 0x147, 2, 1}, {0x14A, 0x176, 2, 1},
    {0x178, 0x178, 1, -121}, {0x179, 0x17D, 2, 1}, {0x181, 0x181, 1, 210},
    {0x182, 0x184, 2, 1}, {0x186, 0x186, 1, 206}, {0x187, 0x187, 1, 1},
    {0x189, 0x18A, 1, 205}, {0x18B, 0x18B, 1, 1}, {0x18E, 0x18E, 1, 79},
    {0x18F, 0x18F, 1, 202}, {0x190, 0x190, 1, 203}, {0x191, 0x191, 1, 1},
    {0x193, 0x193, 1, 205}, {0x194, 0x194, 1, 207}, {0x196, 0x196, 1, 211},
    {0x197, 0x197, 1, 209}, {0x198, 0x198, 1, 1}, {0x19C, 0x19C, 1, 211},
    {0x19D, 0x19D, 1, 213}, {0x19F, 0x19F, 1, 214}, {0x1A0, 0x1A4, 2, 1},
    {0x1A6, 0x1A6, 1, 218}, {0x1A7, 0x1A7, 1, 1}, {0x1A9, 0x1A9, 1, 218},
    {0x1AC, 0x1AC, 1, 1}, {0x1AE, 0x1AE, 1, 218}, {0x1AF, 0x1AF, 1, 1},
    {0x1B1, 0x1B2, 1, 217}, {0x1B3, 0x1B5, 2, 1}, {0x1B7, 0x1B7, 1, 219},
    {0x1B8, 0x1B8, 1, 1}, {0x1BC, 0x1BC, 1, 1}, {0x1C4, 0x1C4, 1, 2},
    {0x1C5, 0x1C5, 1, 1}, {0x1C7, 0x1C7, 1, 2}, {0x1C8, 0x1C8, 1, 1},
    {0x1CA, 0x1CA, 1, 2}, {0x1CB, 0x1DB, 2, 1}, {0x1DE, 0x1EE, 2, 1},
    {0x1F1, 0x1F1, 1, 2}, {0x1F2, 0x1F4, 2, 1}, {0x1F6, 0x1F6, 1, -97},
    {0x1F7, 0x1F7, 1, -56}, {0x1F8, 0x21E, 2, 1}, {0x220, 0x220, 1, -130},
    {0x222, 0x232, 2, 1}, {0x23A, 0x23A, 1, 10795}, {0x23B, 0x23B, 1, 1},
    {0x23D, 0x23D, 1, -163}, {0x23E, 0x23E, 1, 10792}, {0x241, 0x241, 1, 1},
    {0x243, 0x243, 1, -195}, {0x244, 0x244, 1, 69}, {0x245, 0x245, 1, 71},
    {0x246, 0x24E, 2, 1}, {0x370, 0x372, 2, 1}, {0x376, 0x376, 1, 1},
    {0x37F, 0x37F, 1, 116}, {0x386, 0x386, 1, 38}, {0x388, 0x38A, 1, 37},
    {0x38C, 0x38C, 1, 64}, {0x38E, 0x38F, 1, 63}, {0x391, 0x3A1, 1, 32},
    {0x3A3, 0x3AB, 1, 32}, {0x3CF, 0x3CF, 1, 8}, {0x3D8, 0x3EE, 2, 1},
    {0x3F4, 0x3F4, 1, -60}, {0x3F7, 0x3F7, 1, 1}, {0x3F9, 0x3F9, 1, -7},
    {0x3FA, 0x3FA, 1, 1}, {0x3FD, 0x3FF, 1, -130}, {0x400, 0x40F, 1, 80},
    {0x410, 0x42F, 1, 32}, {0x460, 0x480, 2, 1}, {0x48A, 0x4BE, 2, 1},
    {0x4C0, 0x4C0, 1, 15}, {0x4C1, 0x4CD, 2, 1}, {0x4D0, 0x52E, 2, 1},
    {0x531, 0x556, 1, 48}, {0x10A0, 0x10C5, 1, 7264}, {0x10C7, 0x10C7, 1, 7264},
    {0x10CD, 0x10CD, 1, 7264}, {0x13A0, 0x13EF, 1, 38864}, {0x13F0, 0x13F5, 1, 8},
    {0x1C90, 0x1CBA, 1, -3008}, {0x1CBD, 0x1CBF, 1, -3008}, {0x1E00, 0x1E94, 2, 1},
    {0x1E9E, 0x1E9E, 1, -7615}, {0x1EA0, 0x1EFE, 2, 1}, {0x1F08, 0x1F0F, 1, -8},
    {0x1F18, 0x1F1D, 1, -8}, {0x1F28, 0x1F2F, 1, -8}, {0x1F38, 0x1F3F, 1, -8},
    {0x1F48, 0x1F4D, 1, -8}, {0x1F59, 0x1F5F, 2, -8}, {0x1F68, 0x1F6F, 1, -8},
    {0x1F88, 0x1F8F, 1, -8}, {0x1F98, 0x1F9F, 1, -8}, {0x1FA8, 0x1FAF, 1, -8},
    {0x1FB8, 0x1FB9, 1, -8}, {0x1FBA, 0x1FBB, 1, -74}, {0x1FBC, 0x1FBC, 1, -9},
    {0x1FC8, 0x1FCB, 1, -86}, {0x1FCC, 0x1FCC, 1, -9}, {0x1FD8, 0x1FD9, 1, -8},
    {0x1FDA, 0x1FDB, 1, -100}, {0x1FE8, 0x1FE9, 1, -8}, {0x1FEA, 0x1FEB, 1, -112},
    {0x1FEC, 0x1FEC, 1, -7}, {0x1FF8, 0x1FF9, 1, -128}, {0x1FFA, 0x1FFB, 1, -126},
    {0x1FFC, 0x1FFC, 1, -9}, {0x2126, 0x2126, 1, -7517}, {0x212A, 0x212A, 1, -8383},
    {0x212B, 0x212B, 1, -8262}, {0x2132, 0x2132, 1, 28}, {0x2160, 0x216F, 1, 16},
    {0x2183, 0x2183, 1, 1}, {0x24B6, 0x24CF, 1, 26}, {0x2C00, 0x2C2F, 1, 48},
    {0x2C60, 0x2C60, 1, 1}, {0x2C62, 0x2C62, 1, -10743}, {0x2C63, 0x2C63, 1, -3814},
    {0x2C64, 0x2C64, 1, -10727}, {0x2C67, 0x2C6B, 2, 1}, {0x2C6D, 0x2C6D, 1, -10780},
    {0x2C6E, 0x2C6E, 1, -10749}, {0x2C6F, 0x2C6F, 1, -10783},
    {0x2C70, 0x2C70, 1, -10782}, {0x2C72, 0x2C72, 1, 1}, {0x2C75, 0x2C75, 1, 1},
    {0x2C7E, 0x2C7F, 1, -10815}, {0x2C80, 0x2CE2, 2, 1}, {0x2CEB, 0x2CED, 2, 1},
    {0x2CF2, 0x2CF2, 1, 1}, {0xA640, 0xA66C, 2, 1}, {0xA680, 0xA69A, 2, 1},
    {0xA722, 0xA72E, 2, 1}, {0xA732, 0xA76E, 2, 1}, {0xA779, 0xA77B, 2, 1},
    {0xA77D, 0xA77D, 1, -35332}, {0xA77E, 0xA786, 2, 1}, {0xA78B, 0xA78B, 1, 1},
    {0xA78D, 0xA78D, 1, -42280}, {0xA790, 0xA792, 2, 1}, {0xA796, 0xA7A8, 2, 1},
    {0xA7AA, 0xA7AA, 1, -42308}, {0xA7AB, 0xA7AB, 1, -42319},
    {0xA7AC, 0xA7AC, 1, -42315}, {0xA7AD, 0xA7AD, 1, -42305},
    {0xA7AE, 0xA7AE, 1, -42308}, {0xA7B0, 0xA7B0, 1, -42258},
    {0xA7B1, 0xA7B1, 1, -42282}, {0xA7B2, 0xA7B2, 1, -42261}, {0xA7B3, 0xA7B3, 1, 928},
    {0xA7B4, 0xA7C2, 2, 1}, {0xA7C4, 0xA7C4, 1, -48}, {0xA7C5, 0xA7C5, 1, -42307},
    {0xA7C6, 0xA7C6, 1, -35384}, {0xA7C7, 0xA7C9, 2, 1}, {0xA7D0, 0xA7D0, 1, 1},
    {0xA7D6, 0xA7D8, 2, 1}, {0xA7F5, 0xA7F5, 1, 1}, {0xFF21, 0xFF3A, 1, 32},
    {0x10400, 0x10427, 1, 40}, {0x104B0, 0x104D3, 1, 40}, {0x10570, 0x1057A, 1, 39},
    {0x1057C, 0x1058A, 1, 39}, {0x1058C, 0x10592, 1, 39}, {0x10594, 0x10595, 1, 39},
    {0x10C80, 0x10CB2, 1, 64}, {0x118A0, 0x118BF, 1, 32}, {0x16E40, 0x16E5F, 1, 32},
    {0x1E900, 0x1E921, 1, 34},
};
/* Code points of the digit zero of each Unicode decimal-digit run (Nd),
 * which Python's int() and float() accept. */
static const uint32_t nd_zeros[] = {
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
    0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50,
    0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
    0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
};

/* Decodes one UTF-8 sequence at s (n > 0 bytes). Returns the code point and
 * sets *len, or BAD_CP with *len the length of the maximal invalid subpart —
 * the unit Python's decoder replaces with one U+FFFD. */
static uint32_t utf8_dec(const unsigned char *s, size_t n, size_t *len)
{
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    unsigned lo = 0x80, hi = 0xbf;

    *len = 1;
    if (c < 0x80)
        return c;
    if (c < 0xc2 || c > 0xf4)
        return BAD_CP;
    if (c < 0xe0) {
        need = 1;
        cp = c & 0x1f;
    } else if (c < 0xf0) {
        need = 2;
        cp = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else {
        need = 3;
        cp = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *len = i;
            return BAD_CP;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }
    *len = need + 1;
    return cp;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0, l;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (utf8_dec(s + i, n - i, &l) == BAD_CP)
            return false;
        i += l;
    }
    return true;
}

static size_t utf8_enc(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Code points of a string (invalid bytes count one each, as never happens
 * for the valid UTF-8 this is used on). */
static size_t utf8_cps(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            k++;
    return k;
}

/* str.isspace() */
static bool py_isspace(uint32_t c)
{
    if (c < 0x80)
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Length of the line break (str.splitlines()) at s, 0 when none. */
static size_t py_linebreak(const unsigned char *s, size_t n)
{
    switch (s[0]) {
    case '\r':
        return n > 1 && s[1] == '\n' ? 2 : 1;
    case '\n':
    case 0x0b:
    case 0x0c:
    case 0x1c:
    case 0x1d:
    case 0x1e:
        return 1;
    case 0xc2:
        return n > 1 && s[1] == 0x85 ? 2 : 0;
    case 0xe2:
        return n > 2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9) ? 3 : 0;
    default:
        return 0;
    }
}

/* str.strip() on [*s, *s + *n): invalid bytes are not whitespace. */
static void py_strip(const char **s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t b = 0, e = *n, l;

    while (b < e) {
        uint32_t c = utf8_dec(p + b, e - b, &l);
        if (c == BAD_CP || !py_isspace(c))
            break;
        b += l;
    }
    while (e > b) {
        size_t k = e - 1;
        while (k > b && (p[k] & 0xc0) == 0x80 && e - k < 4)
            k--;
        uint32_t c = utf8_dec(p + k, e - k, &l);
        if (c == BAD_CP || k + l != e || !py_isspace(c))
            break;
        e = k;
    }
    *s += b;
    *n = e - b;
}

static uint32_t py_lower_cp(uint32_t c)
{
    size_t lo = 0, hi = sizeof lower_ranges / sizeof lower_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct lower_range *r = &lower_ranges[mid];
        if (c < r->first) {
            hi = mid;
        } else if (c > r->last) {
            lo = mid + 1;
        } else {
            if ((c - r->first) % r->stride == 0)
                return (uint32_t)((int32_t)c + r->delta);
            return c;
        }
    }
    return c;
}

/* Python's unicodedata.decimal(), -1 when c is not a decimal digit. */
static int py_decimal(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    size_t lo = 0, hi = sizeof nd_zeros / sizeof nd_zeros[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < nd_zeros[mid])
            hi = mid;
        else if (c > nd_zeros[mid] + 9)
            lo = mid + 1;
        else
            return (int)(c - nd_zeros[mid]);
    }
    return -1;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* s equals the lowercase literal lit, ASCII case-insensitively. */
static bool ci_eq(const char *s, size_t n, const char *lit)
{
    if (n != strlen(lit))
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(s[i]) != lit[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* A byte buffer that starts on the stack                                    */
/* ------------------------------------------------------------------------ */

typedef struct obuf {
    char *p;
    size_t len, cap;
    bool oom;
    char inl[256];
} obuf;

static void ob_init(obuf *b)
{
    b->p = b->inl;
    b->len = 0;
    b->cap = sizeof b->inl;
    b->oom = false;
}

static void ob_free(obuf *b)
{
    if (b->p != b->inl)
        silk_free(b->p);
    ob_init(b);
}

static bool ob_reserve(obuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra <= b->cap - b->len)
        return true;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t cap = b->cap * 2;
    if (cap < b->len + extra)
        cap = b->len + extra;
    char *np;
    if (b->p == b->inl) {
        np = silk_malloc(cap);
        if (np)
            memcpy(np, b->inl, b->len);
    } else {
        np = silk_realloc(b->p, cap);
    }
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

static void ob_put(obuf *b, const void *s, size_t n)
{
    if (!ob_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void ob_putc(obuf *b, char c)
{
    if (ob_reserve(b, 1))
        b->p[b->len++] = c;
}

/* str.lower() of s, appended to out. Python maps U+0130 to "i\u0307";
 * the final-sigma rule is not applied (see docs/compat.md). */
static void py_lower(const char *s, size_t n, obuf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, l;
    char enc[4];

    while (i < n) {
        if (p[i] < 0x80) {
            ob_putc(out, ascii_lower((char)p[i]));
            i++;
            continue;
        }
        uint32_t c = utf8_dec(p + i, n - i, &l);
        if (c == BAD_CP) {
            ob_put(out, p + i, l);
        } else if (c == 0x130) {
            ob_put(out, "i\xcc\x87", 3);
        } else {
            c = py_lower_cp(c);
            ob_put(out, enc, utf8_enc(c, enc));
        }
        i += l;
    }
}

/* ------------------------------------------------------------------------ */
/* urllib.parse, the parts protego uses                                      */
/* ------------------------------------------------------------------------ */

typedef struct pyurl {
    const char *path, *params, *query, *frag;
    size_t path_len, params_len, query_len, frag_len;
} pyurl;

static bool scheme_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '-' || c == '.';
}

static bool scheme_uses_params(const char *s, size_t n)
{
    static const char *const names[] = { "", "ftp", "hdl", "prospero", "http", "imap",
                                         "https", "shttp", "rtsp", "rtspu", "sip", "sips",
                                         "mms", "sftp", "tel" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ci_eq(s, n, names[i]))
            return true;
    return false;
}

static const char *mem_chr(const char *s, size_t n, char c)
{
    return n ? memchr(s, c, n) : NULL;
}

/* urlparse(): clean holds the URL after urlsplit's own cleaning (leading C0
 * controls and spaces stripped, every tab, CR and LF removed). The netloc is
 * skipped, never validated: protego would raise ValueError for a bad one
 * (docs/compat.md). */
static void py_urlparse(const char *s, size_t n, pyurl *u)
{
    const char *scheme = "";
    size_t scheme_len = 0;
    const char *colon = mem_chr(s, n, ':');

    memset(u, 0, sizeof *u);
    if (colon && colon > s && ascii_lower(s[0]) >= 'a' && ascii_lower(s[0]) <= 'z') {
        size_t i = 0, k = (size_t)(colon - s);
        while (i < k && scheme_char((unsigned char)s[i]))
            i++;
        if (i == k) {
            scheme = s;
            scheme_len = k;
            s += k + 1;
            n -= k + 1;
        }
    }
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        size_t d = 2;
        while (d < n && s[d] != '/' && s[d] != '?' && s[d] != '#')
            d++;
        s += d;
        n -= d;
    }
    const char *h = mem_chr(s, n, '#');
    if (h) {
        u->frag = h + 1;
        u->frag_len = n - (size_t)(h - s) - 1;
        n = (size_t)(h - s);
    }
    const char *q = mem_chr(s, n, '?');
    if (q) {
        u->query = q + 1;
        u->query_len = n - (size_t)(q - s) - 1;
        n = (size_t)(q - s);
    }
    u->path = s;
    u->path_len = n;
    if (scheme_uses_params(scheme, scheme_len) && mem_chr(s, n, ';')) {
        const char *semi;
        const char *slash = memrchr(s, '/', n);
        if (slash)
            semi = mem_chr(slash, n - (size_t)(slash - s), ';');
        else
            semi = mem_chr(s, n, ';');
        if (semi) {
            u->path_len = (size_t)(semi - s);
            u->params = semi + 1;
            u->params_len = n - u->path_len - 1;
        }
    }
}

/* urlsplit's input cleaning, into out. */
static void py_url_clean(const char *s, size_t n, obuf *out)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] <= 0x20)
        i++;
    for (; i < n; i++)
        if (s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            ob_putc(out, s[i]);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* protego's _unquote(s, ignore) then quote(s, safe): %XX escapes are decoded
 * (those of `ignore` are kept, uppercased), the bytes are decoded as UTF-8
 * with errors='replace', and the result is percent-encoded again except for
 * unreserved characters and `safe`. tmp is scratch space. */
static void py_requote(const char *s, size_t n, const char *ignore, const char *safe,
                       obuf *tmp, obuf *out)
{
    static const char hexd[] = "0123456789ABCDEF";

    tmp->len = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
            (l = hexval((unsigned char)s[i + 2])) >= 0) {
            char c = (char)(h * 16 + l);
            if (c != 0 && strchr(ignore, c)) {
                char esc[3] = { '%', hexd[h], hexd[l] };
                ob_put(tmp, esc, 3);
            } else {
                ob_putc(tmp, c);
            }
            i += 2;
        } else {
            ob_putc(tmp, s[i]);
        }
    }
    if (tmp->oom) {
        out->oom = true;
        return;
    }
    const unsigned char *p = (const unsigned char *)tmp->p;
    size_t m = tmp->len;
    for (size_t i = 0; i < m;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-' || c == '~' || (c && strchr(safe, c))) {
                ob_putc(out, (char)c);
            } else {
                char esc[3] = { '%', hexd[c >> 4], hexd[c & 15] };
                ob_put(out, esc, 3);
            }
            i++;
            continue;
        }
        size_t l;
        if (utf8_dec(p + i, m - i, &l) == BAD_CP) {
            ob_put(out, "%EF%BF%BD", 9);
        } else {
            for (size_t k = 0; k < l; k++) {
                char esc[3] = { '%', hexd[p[i + k] >> 4], hexd[p[i + k] & 15] };
                ob_put(out, esc, 3);
            }
        }
        i += l;
    }
}

/* The tail urlunparse() puts after the path. */
static void py_unparse_tail(const pyurl *u, obuf *out)
{
    if (u->params_len) {
        ob_putc(out, ';');
        ob_put(out, u->params, u->params_len);
    }
    if (u->query_len) {
        ob_putc(out, '?');
        ob_put(out, u->query, u->query_len);
    }
    if (u->frag_len) {
        ob_putc(out, '#');
        ob_put(out, u->frag, u->frag_len);
    }
}

/* _RuleSet._quote_path(url): the string rules are matched against. */
static void quote_url(const char *url, size_t n, obuf *out)
{
    obuf clean, tmp;
    pyurl u;

    ob_init(&clean);
    ob_init(&tmp);
    py_url_clean(url, n, &clean);
    py_urlparse(clean.p, clean.len, &u);
    py_requote(u.path, u.path_len, "/%", "/%", &tmp, out);
    py_unparse_tail(&u, out);
    if (clean.oom || tmp.oom)
        out->oom = true;
    if (out->len == 0)
        ob_putc(out, '/');
    ob_free(&tmp);
    ob_free(&clean);
}

/* _RuleSet._quote_pattern(pattern) */
static void quote_pattern(const char *pat, size_t n, obuf *out)
{
    obuf clean, tmp;
    pyurl u;
    char last = 0;

    if (n && (pat[n - 1] == '?' || pat[n - 1] == ';' || pat[n - 1] == '$'))
        last = pat[--n];
    ob_init(&clean);
    ob_init(&tmp);
    py_url_clean(pat, n, &clean);
    py_urlparse(clean.p, clean.len, &u);
    py_requote(u.path, u.path_len, "/*$%", "/*%", &tmp, out);
    if (last)
        ob_putc(out, last);
    py_unparse_tail(&u, out);
    if (clean.oom || tmp.oom)
        out->oom = true;
    ob_free(&tmp);
    ob_free(&clean);
}

/* ------------------------------------------------------------------------ */
/* float() and int(), for Crawl-delay and Request-rate                       */
/* ------------------------------------------------------------------------ */

/* _PyUnicode_TransformDecimalAndSpaceToASCII: decimal digits of any script
 * become ASCII digits, other whitespace a space; anything else non-ASCII
 * makes the number invalid. Returns false then. */
static bool py_num_ascii(const char *s, size_t n, obuf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, l;
    while (i < n) {
        if (p[i] < 0x7f) {
            ob_putc(out, (char)p[i++]);
            continue;
        }
        uint32_t c = utf8_dec(p + i, n - i, &l);
        int d;
        if (c == BAD_CP)
            return false;
        if (py_isspace(c))
            ob_putc(out, ' ');
        else if ((d = py_decimal(c)) >= 0)
            ob_putc(out, (char)('0' + d));
        else
            return false;
        i += l;
    }
    return !out->oom;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* _Py_string_to_number_with_underscores: an underscore only between two
 * digits; removes them in place. */
static bool py_underscores(obuf *b)
{
    size_t w = 0;
    char prev = 0;
    for (size_t i = 0; i < b->len; i++) {
        char c = b->p[i];
        if (c == '_') {
            if (!is_digit(prev))
                return false;
        } else {
            if (prev == '_' && !is_digit(c))
                return false;
            b->p[w++] = c;
        }
        prev = c;
    }
    if (prev == '_')
        return false;
    b->len = w;
    return true;
}


/* float(s) on a str that was already stripped. */
static bool py_float(const char *s, size_t n, double *out)
{
    obuf b;
    bool ok = false;

    ob_init(&b);
    if (!py_num_ascii(s, n, &b) || !py_underscores(&b))
        goto out;
    const char *p = b.p, *e = b.p + b.len;
    while (p < e && ascii_space(*p))
        p++;
    while (e > p && ascii_space(e[-1]))
        e--;
    const char *q = p;
    if (q < e && (*q == '+' || *q == '-'))
        q++;
    if (ci_eq(q, (size_t)(e - q), "inf") || ci_eq(q, (size_t)(e - q), "infinity") ||
        ci_eq(q, (size_t)(e - q), "nan")) {
        ok = true;
    } else {
        size_t digits = 0;
        while (q < e && is_digit(*q))
            q++, digits++;
        if (q < e && *q == '.') {
            q++;
            while (q < e && is_digit(*q))
                q++, digits++;
        }
        if (!digits)
            goto out;
        if (q < e && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < e && (*q == '+' || *q == '-'))
                q++;
            if (q == e || !is_digit(*q))
                goto out;
            while (q < e && is_digit(*q))
                q++;
        }
        ok = q == e;
    }
    if (ok) {
        /* The grammar is checked: strtod only converts, in the C locale so
         * that an application's LC_NUMERIC cannot change the decimal point. */
        char *num = silk_strndup(p, (size_t)(e - p));
        locale_t c_loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!num || !c_loc) {
            ok = false;
        } else {
            *out = strtod_l(num, NULL, c_loc);
        }
        if (c_loc)
            freelocale(c_loc);
        silk_free(num);
    }
out:
    ob_free(&b);
    return ok;
}

/* int(s) in base 10. Values outside int64 are refused (Python has no
 * limit; docs/compat.md). */
static bool py_int(const char *s, size_t n, int64_t *out)
{
    obuf b;
    bool ok = false;

    ob_init(&b);
    if (!py_num_ascii(s, n, &b))
        goto out;
    const char *p = b.p, *e = b.p + b.len;
    bool neg = false;
    while (p < e && ascii_space(*p))
        p++;
    while (e > p && ascii_space(e[-1]))
        e--;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == e || !is_digit(*p))
        goto out;
    uint64_t v = 0;
    char prev = 0;
    for (; p < e; p++) {
        if (*p == '_') {
            if (prev == '_')
                goto out;
        } else if (is_digit(*p)) {
            if (v > (UINT64_MAX - 9) / 10)
                goto out;
            v = v * 10 + (uint64_t)(*p - '0');
        } else {
            goto out;
        }
        prev = *p;
    }
    if (prev == '_')
        goto out;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        goto out;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    ok = true;
out:
    ob_free(&b);
    return ok;
}

/* Splits s at whitespace runs (str.split()): returns the number of fields
 * and the first two. */
static size_t py_split2(const char *s, size_t n, const char *f[2], size_t fl[2])
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k = 0, l;
    while (i < n) {
        while (i < n) {
            uint32_t c = utf8_dec(p + i, n - i, &l);
            if (c == BAD_CP || !py_isspace(c))
                break;
            i += l;
        }
        if (i == n)
            break;
        size_t start = i;
        while (i < n) {
            uint32_t c = utf8_dec(p + i, n - i, &l);
            if (c != BAD_CP && py_isspace(c))
                break;
            i += l;
        }
        if (k < 2) {
            f[k] = s + start;
            fl[k] = i - start;
        }
        k++;
    }
    return k;
}

/* Byte offset of the code point index `cps` in s (clamped to n). */
static size_t cp_offset(const char *s, size_t n, size_t cps)
{
    size_t i = 0;
    while (i < n && cps) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        cps--;
    }
    return i;
}

/* time(int(t[:2]), int(t[-2:])) */
static bool py_time(const char *t, size_t n, int *hour, int *minute)
{
    size_t cps = utf8_cps(t, n);
    size_t head = cp_offset(t, n, 2);
    size_t tail = cp_offset(t, n, cps > 2 ? cps - 2 : 0);
    int64_t h, m;
    if (!py_int(t, head, &h) || !py_int(t + tail, n - tail, &m))
        return false;
    if (h < 0 || h > 23 || m < 0 || m > 59)
        return false;
    *hour = (int)h;
    *minute = (int)m;
    return true;
}

/* _RuleSet.request_rate's setter: "n/Ts [HHMM-HHMM]". */
static bool py_request_rate(const char *s, size_t n, silk_robots_rate *rate)
{
    const char *f[2] = { NULL, NULL };
    size_t fl[2] = { 0, 0 };
    size_t k = py_split2(s, n, f, fl);
    silk_robots_rate r;

    memset(&r, 0, sizeof r);
    if (k == 0)
        return false;
    const char *rs = f[0];
    size_t rn = fl[0];
    const char *slash = memchr(rs, '/', rn);
    if (!slash || memchr(slash + 1, '/', rn - (size_t)(slash - rs) - 1))
        return false;
    const char *sec = slash + 1;
    size_t secn = rn - (size_t)(sec - rs);
    if (secn == 0)
        return false;
    size_t last = secn - 1;
    while (last > 0 && ((unsigned char)sec[last] & 0xc0) == 0x80)
        last--;
    /* seconds[-1].lower(): only ASCII letters can lower to m, h or d. */
    char unit = ascii_lower(sec[last]);
    if (!py_int(rs, (size_t)(slash - rs), &r.requests) || !py_int(sec, last, &r.seconds))
        return false;
    int64_t mul = unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 1;
    if (mul > 1) {
        if (r.seconds > INT64_MAX / mul || r.seconds < INT64_MIN / mul)
            return false;
        r.seconds *= mul;
    }
    if (k == 2) {
        const char *dash = memchr(f[1], '-', fl[1]);
        if (!dash || memchr(dash + 1, '-', fl[1] - (size_t)(dash - f[1]) - 1))
            return false;
        if (!py_time(f[1], (size_t)(dash - f[1]), &r.start_hour, &r.start_minute) ||
            !py_time(dash + 1, fl[1] - (size_t)(dash - f[1]) - 1, &r.end_hour, &r.end_minute))
            return false;
        r.has_period = true;
    }
    *rate = r;
    return true;
}

/* ------------------------------------------------------------------------ */
/* The parsed file                                                           */
/* ------------------------------------------------------------------------ */

typedef struct rule {
    size_t off, len; /* the pattern in the pool: '*' runs collapsed, no final '$' */
    size_t pri;      /* protego's priority: code points of the whole pattern */
    size_t seg0;   /* bytes before the first '*' (len when none) */
    uint64_t pre;  /* up to 8 of those bytes, to reject most rules at once */
    uint64_t mask;
    bool allow;
    bool anchored; /* the pattern ended with '$' */
    bool star;
} rule;

/* The rules, delays and rates that a user agent received while it was in
 * the current group: [*_s, *_e) of each list. */
typedef struct interval {
    size_t rs;
    size_t rule_s, rule_e, delay_s, delay_e, rate_s, rate_e;
    size_t chunk; /* index in chunks[] of rule_s */
} interval;

typedef struct ruleset {
    size_t ua_off, ua_len, ua_cps;
    bool is_star;
    size_t iv_first, iv_count;
    bool has_delay, has_rate;
    double delay;
    silk_robots_rate rate;
    /* parse time */
    bool in_current;
    size_t open_iv;
} ruleset;

struct silk_robots {
    uint32_t magic;
    bool truncated;
    char *pool;
    rule *rules;
    size_t nrules;
    /* Rules are sorted best-first inside each chunk: chunks are the ranges
     * between interval boundaries, so every interval is a run of chunks.
     * chunks[] holds nchunks + 1 boundaries. */
    size_t *chunks;
    size_t nchunks;
    interval *ivs;
    size_t nivs;
    ruleset *sets;
    size_t nsets;
    size_t *sitemaps; /* pool offset, length pairs */
    size_t nsitemaps;
    bool has_host;
    size_t host_off, host_len;
};

/* Parse-time state. */
typedef struct parser {
    silk_robots *r;
    silk_buf pool;
    size_t rules_cap, ivs_cap, sets_cap, sitemaps_cap;
    double *delays;
    size_t ndelays, delays_cap;
    silk_robots_rate *rates;
    size_t nrates, rates_cap;
    size_t *current;
    size_t ncurrent, current_cap;
    size_t *hash; /* rule set index + 1, 0 = empty */
    size_t hash_cap;
    int err;
} parser;

static bool grow(parser *ps, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (ps->err)
        return false;
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > SIZE_MAX / elem) {
        ps->err = SILK_ENOMEM;
        return false;
    }
    void *np = silk_realloc(*arr, ncap * elem);
    if (!np) {
        ps->err = SILK_ENOMEM;
        return false;
    }
    *arr = np;
    *cap = ncap;
    return true;
}

/* Copies s into the pool (NUL-terminated); returns its offset. */
static size_t pool_add(parser *ps, const char *s, size_t n)
{
    size_t off = ps->pool.len;
    if (silk_buf_append(&ps->pool, s, n) || silk_buf_putc(&ps->pool, '\0'))
        ps->err = SILK_ENOMEM;
    return off;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The rule set of user agent ua (lowercased), created when new. Returns its
 * index, or SIZE_MAX on ENOMEM. */
static size_t ruleset_get(parser *ps, const char *ua, size_t n)
{
    silk_robots *r = ps->r;
    if (ps->err)
        return SIZE_MAX;
    if ((r->nsets + 1) * 2 > ps->hash_cap) {
        size_t ncap = ps->hash_cap ? ps->hash_cap * 2 : 64;
        size_t *nh = silk_calloc(ncap, sizeof *nh);
        if (!nh) {
            ps->err = SILK_ENOMEM;
            return SIZE_MAX;
        }
        for (size_t i = 0; i < r->nsets; i++) {
            ruleset *rs = &r->sets[i];
            size_t k = hash_str(ps->pool.data + rs->ua_off, rs->ua_len) & (ncap - 1);
            while (nh[k])
                k = (k + 1) & (ncap - 1);
            nh[k] = i + 1;
        }
        silk_free(ps->hash);
        ps->hash = nh;
        ps->hash_cap = ncap;
    }
    size_t k = hash_str(ua, n) & (ps->hash_cap - 1);
    while (ps->hash[k]) {
        ruleset *rs = &r->sets[ps->hash[k] - 1];
        if (rs->ua_len == n && memcmp(ps->pool.data + rs->ua_off, ua, n) == 0)
            return ps->hash[k] - 1;
        k = (k + 1) & (ps->hash_cap - 1);
    }
    if (!grow(ps, (void **)&r->sets, &ps->sets_cap, r->nsets + 1, sizeof *r->sets))
        return SIZE_MAX;
    size_t off = pool_add(ps, ua, n);
    if (ps->err)
        return SIZE_MAX;
    ruleset *rs = &r->sets[r->nsets];
    memset(rs, 0, sizeof *rs);
    rs->ua_off = off;
    rs->ua_len = n;
    rs->ua_cps = utf8_cps(ua, n);
    rs->is_star = n == 1 && ua[0] == '*';
    ps->hash[k] = r->nsets + 1;
    return r->nsets++;
}

static void close_current(parser *ps)
{
    silk_robots *r = ps->r;
    for (size_t i = 0; i < ps->ncurrent; i++) {
        ruleset *rs = &r->sets[ps->current[i]];
        interval *iv = &r->ivs[rs->open_iv];
        iv->rule_e = r->nrules;
        iv->delay_e = ps->ndelays;
        iv->rate_e = ps->nrates;
        rs->in_current = false;
    }
    ps->ncurrent = 0;
}

static void join_current(parser *ps, size_t idx)
{
    silk_robots *r = ps->r;
    ruleset *rs = &r->sets[idx];
    if (rs->in_current)
        return;
    if (!grow(ps, (void **)&ps->current, &ps->current_cap, ps->ncurrent + 1, sizeof(size_t)) ||
        !grow(ps, (void **)&r->ivs, &ps->ivs_cap, r->nivs + 1, sizeof *r->ivs))
        return;
    interval *iv = &r->ivs[r->nivs];
    memset(iv, 0, sizeof *iv);
    iv->rs = idx;
    iv->rule_s = r->nrules;
    iv->delay_s = ps->ndelays;
    iv->rate_s = ps->nrates;
    rs->open_iv = r->nivs++;
    rs->in_current = true;
    ps->current[ps->ncurrent++] = idx;
}

/* One compiled rule from a quoted pattern. */
static void rule_push(parser *ps, const char *q, size_t n, bool allow)
{
    silk_robots *r = ps->r;
    if (!grow(ps, (void **)&r->rules, &ps->rules_cap, r->nrules + 1, sizeof *r->rules))
        return;
    rule *ru = &r->rules[r->nrules];
    memset(ru, 0, sizeof *ru);
    ru->pri = utf8_cps(q, n);
    ru->allow = allow;
    ru->anchored = n && q[n - 1] == '$';
    if (ru->anchored)
        n--;
    ru->off = ps->pool.len;
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '*') {
            ru->star = true;
            if (i && q[i - 1] == '*')
                continue;
        }
        if (silk_buf_putc(&ps->pool, q[i]))
            break;
    }
    ru->len = ps->pool.len - ru->off;
    if (silk_buf_putc(&ps->pool, '\0')) {
        ps->err = SILK_ENOMEM;
        return;
    }
    if (ru->star) {
        /* protego builds a regex from the pieces between stars and leaves a
         * piece that is exactly "$" unescaped: an end-of-URL assertion in
         * the middle ("/x*?y*$*" from a query). What follows it can then only
         * match the empty string. */
        const char *p = ps->pool.data + ru->off, *e = p + ru->len;
        const char *seg = p;
        while (seg <= e) {
            const char *st = memchr(seg, '*', (size_t)(e - seg));
            const char *se = st ? st : e;
            if (se - seg == 1 && seg[0] == '$') {
                for (const char *t = se; t < e; t++)
                    if (*t != '*' && !(*t == '$' && t[-1] == '*' && (t + 1 == e || t[1] == '*')))
                        return; /* text after the end: it never matches */
                if (seg == p)
                    return; /* "$*...": only an empty URL, and there is none */
                ru->len = (size_t)(seg - p);
                ru->anchored = false;
                break;
            }
            if (!st)
                break;
            seg = st + 1;
        }
    }
    const char *p = ps->pool.data + ru->off;
    const char *st = ru->star ? memchr(p, '*', ru->len) : NULL;
    ru->seg0 = st ? (size_t)(st - p) : ru->len;
    size_t k = ru->seg0 < 8 ? ru->seg0 : 8;
    memcpy(&ru->pre, p, k);
    memset(&ru->mask, 0xff, k);
    r->nrules++;
}

/* _RuleSet.allow / _RuleSet.disallow on one pattern (at most 3 levels). */
static void add_pattern(parser *ps, const char *pat, size_t n, bool allow)
{
    obuf q;

    if (ps->err)
        return;
    if (mem_chr(pat, n, '$')) {
        obuf rep;
        ob_init(&rep);
        for (size_t i = 0; i < n; i++) {
            if (pat[i] == '$')
                ob_put(&rep, "%24", 3);
            else
                ob_putc(&rep, pat[i]);
        }
        if (rep.oom)
            ps->err = SILK_ENOMEM;
        else
            add_pattern(ps, rep.p, rep.len, allow);
        ob_free(&rep);
    }
    ob_init(&q);
    quote_pattern(pat, n, &q);
    if (q.oom) {
        ps->err = SILK_ENOMEM;
    } else if (q.len) {
        rule_push(ps, q.p, q.len, allow);
        /* "If index.html is allowed, we interpret this as / being allowed too." */
        if (allow && q.len >= 11 && memcmp(q.p + q.len - 11, "/index.html", 11) == 0) {
            q.len -= 10;
            q.p[q.len++] = '$';
            add_pattern(ps, q.p, q.len, allow);
        }
    }
    ob_free(&q);
}

enum field {
    F_NONE, /* no previous field, or an empty one */
    F_UA,
    F_ALLOW,
    F_DISALLOW,
    F_SITEMAP,
    F_DELAY,
    F_RATE,
    F_HOST,
    F_OTHER,
};

static enum field field_kind(const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum field f;
    } names[] = {
        { "disallow", F_DISALLOW },     { "dissallow", F_DISALLOW },  { "dissalow", F_DISALLOW },
        { "disalow", F_DISALLOW },      { "diasllow", F_DISALLOW },   { "disallaw", F_DISALLOW },
        { "allow", F_ALLOW },           { "user-agent", F_UA },       { "useragent", F_UA },
        { "user agent", F_UA },         { "sitemap", F_SITEMAP },     { "sitemaps", F_SITEMAP },
        { "site-map", F_SITEMAP },      { "crawl-delay", F_DELAY },   { "crawl delay", F_DELAY },
        { "request-rate", F_RATE },     { "request rate", F_RATE },   { "host", F_HOST },
    };
    if (n == 0)
        return F_NONE;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ci_eq(s, n, names[i].name))
            return names[i].f;
    return F_OTHER;
}

/* _is_valid_directive_field: exact, case-sensitive. */
static bool valid_field_exact(const char *s, size_t n)
{
    enum field f = field_kind(s, n);
    if (f == F_NONE || f == F_OTHER)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return false;
    return true;
}

static void do_user_agent(parser *ps, const char *v, size_t n)
{
    obuf ua;

    ob_init(&ua);
    py_lower(v, n, &ua);
    if (ua.oom) {
        ps->err = SILK_ENOMEM;
        goto out;
    }
    /* Wildcards are not supported: "Scrapy*" also counts as "scrapy". */
    if (ua.len) {
        size_t idx = ruleset_get(ps, ua.p, ua.len);
        if (idx != SIZE_MAX)
            join_current(ps, idx);
    }
    if (!(ua.len == 1 && ua.p[0] == '*') && mem_chr(ua.p, ua.len, '*')) {
        size_t w = 0;
        for (size_t i = 0; i < ua.len; i++)
            if (ua.p[i] != '*')
                ua.p[w++] = ua.p[i];
        if (w) {
            size_t idx = ruleset_get(ps, ua.p, w);
            if (idx != SIZE_MAX)
                join_current(ps, idx);
        }
    }
out:
    ob_free(&ua);
}

/* One line of Protego._parse_robotstxt. prev is previous_rule_field. */
static void parse_line(parser *ps, const char *line, size_t n, enum field *prev)
{
    silk_robots *r = ps->r;
    const char *hash = mem_chr(line, n, '#');
    const char *field, *value;
    size_t fn, vn;
    enum field f;

    if (hash)
        n = (size_t)(hash - line);
    py_strip(&line, &n);
    if (!n)
        return;
    const char *colon = memchr(line, ':', n);
    if (colon) {
        field = line;
        fn = (size_t)(colon - line);
        value = colon + 1;
        vn = n - fn - 1;
    } else {
        /* "We will be generous here and give it a second chance": the
         * shortest prefix ending before a space that is a directive. */
        const char *sp = memchr(line, ' ', n);
        if (!sp)
            return;
        for (;;) {
            if (valid_field_exact(line, (size_t)(sp - line)))
                break;
            sp = mem_chr(sp + 1, n - (size_t)(sp + 1 - line), ' ');
            if (!sp)
                return;
        }
        field = line;
        fn = (size_t)(sp - line);
        value = sp + 1;
        vn = n - fn - 1;
    }
    py_strip(&field, &fn);
    py_strip(&value, &vn);
    f = field_kind(field, fn);
    if (!vn) {
        *prev = f;
        return;
    }
    if (!ps->ncurrent && f != F_UA && f != F_SITEMAP)
        return;
    switch (f) {
    case F_UA:
        if (*prev != F_NONE && *prev != F_UA)
            close_current(ps);
        do_user_agent(ps, value, vn);
        break;
    case F_ALLOW:
    case F_DISALLOW: {
        /* _enforce_path */
        obuf p;
        ob_init(&p);
        if (value[0] != '/')
            ob_putc(&p, '/');
        ob_put(&p, value, vn);
        if (p.oom)
            ps->err = SILK_ENOMEM;
        else
            add_pattern(ps, p.p, p.len, f == F_ALLOW);
        ob_free(&p);
        break;
    }
    case F_SITEMAP:
        if (grow(ps, (void **)&r->sitemaps, &ps->sitemaps_cap, 2 * r->nsitemaps + 2,
                 sizeof(size_t))) {
            r->sitemaps[2 * r->nsitemaps] = pool_add(ps, value, vn);
            r->sitemaps[2 * r->nsitemaps + 1] = vn;
            r->nsitemaps++;
        }
        break;
    case F_DELAY: {
        double d;
        if (py_float(value, vn, &d) &&
            grow(ps, (void **)&ps->delays, &ps->delays_cap, ps->ndelays + 1, sizeof(double)))
            ps->delays[ps->ndelays++] = d;
        break;
    }
    case F_RATE: {
        silk_robots_rate rate;
        if (py_request_rate(value, vn, &rate) &&
            grow(ps, (void **)&ps->rates, &ps->rates_cap, ps->nrates + 1, sizeof rate))
            ps->rates[ps->nrates++] = rate;
        break;
    }
    case F_HOST:
        r->host_off = pool_add(ps, value, vn);
        r->host_len = vn;
        r->has_host = true;
        break;
    default:
        break;
    }
    *prev = f;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Best first: longer patterns, then Allow before Disallow (protego's
 * finalize_rules). Rules with equal keys give the same answer. */
static int cmp_rule(const void *a, const void *b)
{
    const rule *x = a, *y = b;
    if (x->pri != y->pri)
        return x->pri > y->pri ? -1 : 1;
    return (int)y->allow - (int)x->allow;
}

static void finalize(parser *ps)
{
    silk_robots *r = ps->r;
    interval *sorted = NULL;
    size_t *bounds = NULL;

    close_current(ps);
    if (ps->err)
        return;

    /* Intervals grouped by rule set, in file order within each. */
    if (r->nivs) {
        sorted = silk_malloc(r->nivs * sizeof *sorted);
        if (!sorted)
            goto oom;
        for (size_t i = 0; i < r->nsets; i++)
            r->sets[i].iv_count = 0;
        for (size_t i = 0; i < r->nivs; i++)
            r->sets[r->ivs[i].rs].iv_count++;
        size_t at = 0;
        for (size_t i = 0; i < r->nsets; i++) {
            r->sets[i].iv_first = at;
            at += r->sets[i].iv_count;
            r->sets[i].iv_count = 0;
        }
        for (size_t i = 0; i < r->nivs; i++) {
            ruleset *rs = &r->sets[r->ivs[i].rs];
            sorted[rs->iv_first + rs->iv_count++] = r->ivs[i];
        }
        silk_free(r->ivs);
        r->ivs = sorted;
        sorted = NULL;
    }

    /* The last Crawl-delay / Request-rate a rule set received wins. */
    for (size_t i = 0; i < r->nsets; i++) {
        ruleset *rs = &r->sets[i];
        for (size_t k = rs->iv_count; k-- > 0;) {
            interval *iv = &r->ivs[rs->iv_first + k];
            if (!rs->has_delay && iv->delay_e > iv->delay_s) {
                rs->has_delay = true;
                rs->delay = ps->delays[iv->delay_e - 1];
            }
            if (!rs->has_rate && iv->rate_e > iv->rate_s) {
                rs->has_rate = true;
                rs->rate = ps->rates[iv->rate_e - 1];
            }
        }
    }

    /* Chunks. */
    size_t nb = 0;
    bounds = silk_malloc((2 * r->nivs + 2) * sizeof *bounds);
    if (!bounds)
        goto oom;
    bounds[nb++] = 0;
    bounds[nb++] = r->nrules;
    for (size_t i = 0; i < r->nivs; i++) {
        bounds[nb++] = r->ivs[i].rule_s;
        bounds[nb++] = r->ivs[i].rule_e;
    }
    qsort(bounds, nb, sizeof *bounds, cmp_size);
    size_t u = 0;
    for (size_t i = 0; i < nb; i++)
        if (u == 0 || bounds[u - 1] != bounds[i])
            bounds[u++] = bounds[i];
    r->chunks = bounds;
    r->nchunks = u - 1;
    bounds = NULL;
    for (size_t c = 0; c < r->nchunks; c++)
        if (r->chunks[c + 1] - r->chunks[c] > 1)
            qsort(r->rules + r->chunks[c], r->chunks[c + 1] - r->chunks[c], sizeof *r->rules,
                  cmp_rule);
    for (size_t i = 0; i < r->nivs; i++) {
        size_t lo = 0, hi = r->nchunks + 1, want = r->ivs[i].rule_s;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (r->chunks[mid] < want)
                lo = mid + 1;
            else
                hi = mid;
        }
        r->ivs[i].chunk = lo;
    }
    return;
oom:
    silk_free(sorted);
    silk_free(bounds);
    ps->err = SILK_ENOMEM;
}

void silk_robots_free(silk_robots *r)
{
    if (!r || r->magic != ROBOTS_MAGIC)
        return;
    r->magic = ROBOTS_DEAD;
    silk_free(r->pool);
    silk_free(r->rules);
    silk_free(r->chunks);
    silk_free(r->ivs);
    silk_free(r->sets);
    silk_free(r->sitemaps);
    silk_free(r);
}

int silk_robots_parse_limit(const char *body, size_t len, size_t max_bytes, silk_robots **out)
{
    parser ps;
    int rc = 0;

    if (!out || (!body && len))
        return silk_error(SILK_EINVAL, "silk_robots_parse: %s", out ? "NULL body" : "NULL out");
    *out = NULL;
    memset(&ps, 0, sizeof ps);
    ps.pool = (silk_buf)SILK_BUF_INIT;
    ps.r = silk_calloc(1, sizeof *ps.r);
    if (!ps.r)
        return silk_error(SILK_ENOMEM, "silk_robots_parse: out of memory");
    ps.r->magic = ROBOTS_MAGIC;
    /* An empty pool still needs a block: offsets point into it. */
    if (silk_buf_putc(&ps.pool, '\0')) {
        rc = SILK_ENOMEM;
        goto err;
    }

    /* Scrapy's decode_robotstxt: not UTF-8 means "treat it as empty". */
    if (len && utf8_valid((const unsigned char *)body, len)) {
        const unsigned char *p = (const unsigned char *)body;
        enum field prev = F_NONE;
        size_t i = 0;
        while (i < len && !ps.err) {
            size_t start = i, brk = 0;
            while (i < len && !(brk = py_linebreak(p + i, len - i)))
                i++;
            if (max_bytes && len > max_bytes && i + brk > max_bytes) {
                ps.r->truncated = true;
                break;
            }
            parse_line(&ps, body + start, i - start, &prev);
            i += brk;
        }
    }
    finalize(&ps);
    if (ps.err) {
        rc = ps.err;
        goto err;
    }
    ps.r->pool = silk_buf_detach(&ps.pool);
    if (!ps.r->pool) {
        rc = SILK_ENOMEM;
        goto err;
    }
    *out = ps.r;
    ps.r = NULL;
    goto out;
err:
    silk_robots_free(ps.r);
    rc = silk_error(rc, "silk_robots_parse: out of memory");
out:
    silk_buf_free(&ps.pool);
    silk_free(ps.delays);
    silk_free(ps.rates);
    silk_free(ps.current);
    silk_free(ps.hash);
    return rc;
}

int silk_robots_parse(const char *body, size_t len, silk_robots **out)
{
    return silk_robots_parse_limit(body, len, SILK_ROBOTS_MAX_BYTES, out);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                   */
/* ------------------------------------------------------------------------ */

static bool live(const silk_robots *r)
{
    return r && r->magic == ROBOTS_MAGIC;
}

/* Protego._get_matching_rule_set: the highest score wins, the first one
 * on ties; "*" scores 1, an agent found inside the lowercased name scores
 * its length. */
int silk_robots_agent(const silk_robots *r, const char *user_agent)
{
    obuf name;
    const char *ua = user_agent ? user_agent : "";
    size_t n = strlen(ua);
    size_t best = 0, best_i = 0;

    if (!live(r) || !r->nsets)
        return SILK_ENOTFOUND;
    ob_init(&name);
    py_strip(&ua, &n);
    py_lower(ua, n, &name);
    if (name.oom) {
        ob_free(&name);
        return silk_error(SILK_ENOMEM, "silk_robots_agent: out of memory");
    }
    for (size_t i = 0; i < r->nsets; i++) {
        const ruleset *rs = &r->sets[i];
        size_t score = 0;
        if (rs->is_star)
            score = 1;
        else if (rs->ua_len <= name.len &&
                 memmem(name.p, name.len, r->pool + rs->ua_off, rs->ua_len))
            score = rs->ua_cps;
        if (score > best) {
            best = score;
            best_i = i;
        }
    }
    ob_free(&name);
    if (!best || best_i > INT32_MAX)
        return SILK_ENOTFOUND;
    return (int)best_i;
}

/* memmem, without its setup cost for the short needles robots.txt patterns
 * are made of; at most 16 compares per haystack byte either way. */
static const char *find(const char *h, size_t n, const char *nd, size_t m)
{
    if (m == 0)
        return h;
    if (m > n)
        return NULL;
    if (m > 16)
        return memmem(h, n, nd, m);
    const char *end = h + (n - m) + 1;
    while (h < end) {
        h = memchr(h, nd[0], (size_t)(end - h));
        if (!h)
            return NULL;
        if (memcmp(h + 1, nd + 1, m - 1) == 0)
            return h;
        h++;
    }
    return NULL;
}

/* _URLPattern.match: anchored at the start; '*' is any run; the end is
 * anchored only when the pattern ended with '$'. Segments between stars
 * are found leftmost-first, which is enough for a glob without '?' and
 * keeps the match linear. */
static bool rule_match(const silk_robots *r, const rule *ru, const char *s, size_t n,
                       uint64_t head)
{
    const char *p = r->pool + ru->off;
    size_t m = ru->len;

    if (n < ru->seg0 || (head & ru->mask) != ru->pre)
        return false;
    if (!ru->star) {
        if (ru->anchored && n != m)
            return false;
        return m <= 8 || memcmp(s + 8, p + 8, m - 8) == 0;
    }
    size_t seg = ru->seg0;
    const char *st = p + seg;
    if (seg > 8 && memcmp(s + 8, p + 8, seg - 8) != 0)
        return false;
    size_t pos = seg;
    p = st + 1;
    m -= seg + 1;
    for (;;) {
        st = mem_chr(p, m, '*');
        if (!st) {
            if (ru->anchored)
                return n - pos >= m && memcmp(s + n - m, p, m) == 0;
            return find(s + pos, n - pos, p, m) != NULL;
        }
        seg = (size_t)(st - p);
        if (seg) {
            const char *f = find(s + pos, n - pos, p, seg);
            if (!f)
                return false;
            pos = (size_t)(f - s) + seg;
        }
        p = st + 1;
        m -= seg + 1;
    }
}

bool silk_robots_agent_allowed(const silk_robots *r, int agent, const char *url)
{
    obuf path;
    bool found = false, allow = true;
    size_t best_pri = 0;
    bool best_allow = false;

    if (!live(r) || agent < 0 || (size_t)agent >= r->nsets)
        return true;
    const ruleset *rs = &r->sets[agent];
    if (!url)
        url = "";
    ob_init(&path);
    quote_url(url, strlen(url), &path);
    if (path.oom) {
        silk_error(SILK_ENOMEM, "silk_robots_allowed: out of memory");
        allow = false;
        goto out;
    }
    uint64_t head = 0;
    memcpy(&head, path.p, path.len < 8 ? path.len : 8);
    for (size_t k = 0; k < rs->iv_count; k++) {
        const interval *iv = &r->ivs[rs->iv_first + k];
        for (size_t c = iv->chunk; c < r->nchunks && r->chunks[c] < iv->rule_e; c++) {
            for (size_t j = r->chunks[c]; j < r->chunks[c + 1]; j++) {
                const rule *ru = &r->rules[j];
                if (found && (ru->pri < best_pri ||
                              (ru->pri == best_pri && (best_allow || !ru->allow))))
                    break;
                if (rule_match(r, ru, path.p, path.len, head)) {
                    found = true;
                    best_pri = ru->pri;
                    best_allow = ru->allow;
                    break;
                }
            }
        }
    }
    allow = !found || best_allow;
out:
    ob_free(&path);
    return allow;
}

bool silk_robots_allowed(const silk_robots *r, const char *url, const char *user_agent)
{
    int agent = silk_robots_agent(r, user_agent);
    if (agent == SILK_ENOMEM)
        return false;
    return silk_robots_agent_allowed(r, agent, url);
}

int silk_robots_crawl_delay(const silk_robots *r, const char *user_agent, double *delay)
{
    int agent = silk_robots_agent(r, user_agent);
    if (agent < 0)
        return agent;
    if (!r->sets[agent].has_delay)
        return SILK_ENOTFOUND;
    if (delay)
        *delay = r->sets[agent].delay;
    return 0;
}

int silk_robots_request_rate(const silk_robots *r, const char *user_agent,
                             silk_robots_rate *rate)
{
    int agent = silk_robots_agent(r, user_agent);
    if (agent < 0)
        return agent;
    if (!r->sets[agent].has_rate)
        return SILK_ENOTFOUND;
    if (rate)
        *rate = r->sets[agent].rate;
    return 0;
}

size_t silk_robots_sitemap_count(const silk_robots *r)
{
    return live(r) ? r->nsitemaps : 0;
}

const char *silk_robots_sitemap(const silk_robots *r, size_t i, size_t *len)
{
    if (len)
        *len = 0;
    if (!live(r) || i >= r->nsitemaps)
        return NULL;
    if (len)
        *len = r->sitemaps[2 * i + 1];
    return r->pool + r->sitemaps[2 * i];
}

const char *silk_robots_host(const silk_robots *r, size_t *len)
{
    if (len)
        *len = 0;
    if (!live(r) || !r->has_host)
        return NULL;
    if (len)
        *len = r->host_len;
    return r->pool + r->host_off;
}

bool silk_robots_truncated(const silk_robots *r)
{
    return live(r) && r->truncated;
}
