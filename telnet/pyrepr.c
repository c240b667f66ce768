/* silk — Python's repr() of floats and strings, and pympler's byte sizes,
 * so that console output reads exactly as Scrapy's console would. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telnet/interp_internal.h"

void silk__py_float_repr(silk_buf *b, double d)
{
    if (isnan(d)) {
        silk_buf_puts(b, "nan");
        return;
    }
    if (isinf(d)) {
        silk_buf_puts(b, d < 0 ? "-inf" : "inf");
        return;
    }
    /* the shortest digits that read back as d, as Python's 'r' format */
    char tmp[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    const char *s = tmp;
    bool neg = *s == '-';
    if (neg)
        s++;
    char digits[32];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *s;
    int exp10 = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1;
    if (digits[0] == '0') /* zero */
        decpt = 1;
    if (neg)
        silk_buf_putc(b, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            silk_buf_puts(b, "0.");
            for (int i = 0; i < -decpt; i++)
                silk_buf_putc(b, '0');
            silk_buf_puts(b, digits);
        } else if ((size_t)decpt >= nd) {
            silk_buf_puts(b, digits);
            for (size_t i = nd; i < (size_t)decpt; i++)
                silk_buf_putc(b, '0');
            silk_buf_puts(b, ".0");
        } else {
            silk_buf_append(b, digits, (size_t)decpt);
            silk_buf_putc(b, '.');
            silk_buf_puts(b, digits + decpt);
        }
    } else {
        silk_buf_putc(b, digits[0]);
        if (nd > 1) {
            silk_buf_putc(b, '.');
            silk_buf_puts(b, digits + 1);
        }
        int e = decpt - 1;
        silk_buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

/* Decodes one UTF-8 sequence; returns its length, or 0 when s is not valid
 * UTF-8 there (the caller then escapes one byte). */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    unsigned c, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, c = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, c = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
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

/* str.isprintable() for the code points a console is likely to meet. */
static bool py_printable(unsigned c)
{
    if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD)
        return false;
    if ((c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F))
        return false;
    if (c == 0xFEFF || (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xFFF9 && c <= 0xFFFB) || c >= 0xF0000)
        return false;
    return true;
}

void silk__py_str_repr(silk_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    silk_buf_putc(b, q);
    for (size_t i = 0; i < n && !b->err;) {
        unsigned c;
        size_t len = utf8_decode(s + i, n - i, &c);
        if (!len) {
            silk_buf_printf(b, "\\x%02x", s[i]);
            i++;
            continue;
        }
        if (c == (unsigned)q || c == '\\') {
            silk_buf_putc(b, '\\');
            silk_buf_putc(b, (char)c);
        } else if (c == '\n') {
            silk_buf_puts(b, "\\n");
        } else if (c == '\r') {
            silk_buf_puts(b, "\\r");
        } else if (c == '\t') {
            silk_buf_puts(b, "\\t");
        } else if (py_printable(c)) {
            silk_buf_append(b, s + i, len);
        } else if (c <= 0xFF) {
            silk_buf_printf(b, "\\x%02x", c);
        } else if (c <= 0xFFFF) {
            silk_buf_printf(b, "\\u%04x", c);
        } else {
            silk_buf_printf(b, "\\U%08x", c);
        }
        i += len;
    }
    silk_buf_putc(b, q);
}

void silk__human_bytes(silk_buf *b, double n)
{
    static const char *const scales[] = { "B", "KB", "MB", "GB", "TB", "EB" };
    int degree = 0;
    bool scaled = false;
    while (n > 1024 && degree < 5) {
        n /= 1024.0;
        degree++;
        scaled = true;
    }
    if (scaled)
        silk_buf_printf(b, "%7.2f %s", n, scales[degree]);
    else
        silk_buf_printf(b, "%4lld     %s", (long long)n, scales[degree]);
}
