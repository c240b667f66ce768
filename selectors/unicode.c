/* Unicode helpers shared by the CSS translator and the regex code: UTF-8
 * decoding/validation and Python's str.lower(), which cssselect applies to
 * element names, attribute names and :lang() values. */
#include "selectors/selector_internal.h"

#include <stdint.h>
#include <string.h>

struct lower_run {
    uint32_t first;
    uint16_t count;
    int32_t delta;
    uint8_t stride;
};

static const struct lower_run lower_runs[] = {
    {0xC0, 23, 32, 1},
    {0xD8, 7, 32, 1},
    {0x100, 24, 1, 2},
    {0x132, 3, 1, 2},
    {0x139, 8, 1, 2},
    {0x14A, 23, 1, 2},
    {0x178, 1, -121, 1},
    {0x179, 3, 1, 2},
    {0x181, 1, 210, 1},
    {0x182, 2, 1, 2},
    {0x186, 1, 206, 1},
    {0x187, 1, 1, 1},
    {0x189, 2, 205, 1},
    {0x18B, 1, 1, 1},
    {0x18E, 1, 79, 1},
    {0x18F, 1, 202, 1},
    {0x190, 1, 203, 1},
    {0x191, 1, 1, 1},
    {0x193, 1, 205, 1},
    {0x194, 1, 207, 1},
    {0x196, 1, 211, 1},
    {0x197, 1, 209, 1},
    {0x198, 1, 1, 1},
    {0x19C, 1, 211, 1},
    {0x19D, 1, 213, 1},
    {0x19F, 1, 214, 1},
    {0x1A0, 3, 1, 2},
    {0x1A6, 1, 218, 1},
    {0x1A7, 1, 1, 1},
    {0x1A9, 1, 218, 1},
    {0x1AC, 1, 1, 1},
    {0x1AE, 1, 218, 1},
    {0x1AF, 1, 1, 1},
    {0x1B1, 2, 217, 1},
    {0x1B3, 2, 1, 2},
    {0x1B7, 1, 219, 1},
    {0x1B8, 1, 1, 1},
    {0x1BC, 1, 1, 1},
    {0x1C4, 1, 2, 1},
    {0x1C5, 1, 1, 1},
    {0x1C7, 1, 2, 1},
    {0x1C8, 1, 1, 1},
    {0x1CA, 1, 2, 1},
    {0x1CB, 9, 1, 2},
    {0x1DE, 9, 1, 2},
    {0x1F1, 1, 2, 1},
    {0x1F2, 2, 1, 2},
    {0x1F6, 1, -97, 1},
    {0x1F7, 1, -56, 1},
    {0x1F8, 20, 1, 2},
    {0x220, 1, -130, 1},
    {0x222, 9, 1, 2},
    {0x23A, 1, 10795, 1},
    {0x23B, 1, 1, 1},
    {0x23D, 1, -163, 1},
    {0x23E, 1, 10792, 1},
    {0x241, 1, 1, 1},
    {0x243, 1, -195, 1},
    {0x244, 1, 69, 1},
    {0x245, 1, 71, 1},
    {0x246, 5, 1, 2},
    {0x370, 2, 1, 2},
    {0x376, 1, 1, 1},
    {0x37F, 1, 116, 1},
    {0x386, 1, 38, 1},
    {0x388, 3, 37, 1},
    {0x38C, 1, 64, 1},
    {0x38E, 2, 63, 1},
    {0x391, 17, 32, 1},
    {0x3A3, 9, 32, 1},
    {0x3CF, 1, 8, 1},
    {0x3D8, 12, 1, 2},
    {0x3F4, 1, -60, 1},
    {0x3F7, 1, 1, 1},
    {0x3F9, 1, -7, 1},
    {0x3FA, 1, 1, 1},
    {0x3FD, 3, -130, 1},
    {0x400, 16, 80, 1},
    {0x410, 32, 32, 1},
    {0x460, 17, 1, 2},
    {0x48A, 27, 1, 2},
    {0x4C0, 1, 15, 1},
    {0x4C1, 7, 1, 2},
    {0x4D0, 48, 1, 2},
    {0x531, 38, 48, 1},
    {0x10A0, 38, 7264, 1},
    {0x10C7, 1, 7264, 1},
    {0x10CD, 1, 7264, 1},
    {0x13A0, 80, 38864, 1},
    {0x13F0, 6, 8, 1},
    {0x1C90, 43, -3008, 1},
    {0x1CBD, 3, -3008, 1},
    {0x1E00, 75, 1, 2},
    {0x1E9E, 1, -7615, 1},
    {0x1EA0, 48, 1, 2},
    {0x1F08, 8, -8, 1},
    {0x1F18, 6, -8, 1},
    {0x1F28, 8, -8, 1},
    {0x1F38, 8, -8, 1},
    {0x1F48, 6, -8, 1},
    {0x1F59, 4, -8, 2},
    {0x1F68, 8, -8, 1},
    {0x1F88, 8, -8, 1},
    {0x1F98, 8, -8, 1},
    {0x1FA8, 8, -8, 1},
    {0x1FB8, 2, -8, 1},
    {0x1FBA, 2, -74, 1},
    {0x1FBC, 1, -9, 1},
    {0x1FC8, 4, -86, 1},
    {0x1FCC, 1, -9, 1},
    {0x1FD8, 2, -8, 1},
    {0x1FDA, 2, -100, 1},
    {0x1FE8, 2, -8, 1},
    {0x1FEA, 2, -112, 1},
    {0x1FEC, 1, -7, 1},
    {0x1FF8, 2, -128, 1},
    {0x1FFA, 2, -126, 1},
    {0x1FFC, 1, -9, 1},
    {0x2126, 1, -7517, 1},
    {0x212A, 1, -8383, 1},
    {0x212B, 1, -8262, 1},
    {0x2132, 1, 28, 1},
    {0x2160, 16, 16, 1},
    {0x2183, 1, 1, 1},
    {0x24B6, 26, 26, 1},
    {0x2C00, 48, 48, 1},
    {0x2C60, 1, 1, 1},
    {0x2C62, 1, -10743, 1},
    {0x2C63, 1, -3814, 1},
    {0x2C64, 1, -10727, 1},
    {0x2C67, 3, 1, 2},
    {0x2C6D, 1, -10780, 1},
    {0x2C6E, 1, -10749, 1},
    {0x2C6F, 1, -10783, 1},
    {0x2C70, 1, -10782, 1},
    {0x2C72, 1, 1, 1},
    {0x2C75, 1, 1, 1},
    {0x2C7E, 2, -10815, 1},
    {0x2C80, 50, 1, 2},
    {0x2CEB, 2, 1, 2},
    {0x2CF2, 1, 1, 1},
    {0xA640, 23, 1, 2},
    {0xA680, 14, 1, 2},
    {0xA722, 7, 1, 2},
    {0xA732, 31, 1, 2},
    {0xA779, 2, 1, 2},
    {0xA77D, 1, -35332, 1},
    {0xA77E, 5, 1, 2},
    {0xA78B, 1, 1, 1},
    {0xA78D, 1, -42280, 1},
    {0xA790, 2, 1, 2},
    {0xA796, 10, 1, 2},
    {0xA7AA, 1, -42308, 1},
    {0xA7AB, 1, -42319, 1},
    {0xA7AC, 1, -42315, 1},
    {0xA7AD, 1, -42305, 1},
    {0xA7AE, 1, -42308, 1},
    {0xA7B0, 1, -42258, 1},
    {0xA7B1, 1, -42282, 1},
    {0xA7B2, 1, -42261, 1},
    {0xA7B3, 1, 928, 1},
    {0xA7B4, 8, 1, 2},
    {0xA7C4, 1, -48, 1},
    {0xA7C5, 1, -42307, 1},
    {0xA7C6, 1, -35384, 1},
    {0xA7C7, 2, 1, 2},
    {0xA7D0, 1, 1, 1},
    {0xA7D6, 2, 1, 2},
    {0xA7F5, 1, 1, 1},
    {0xFF21, 26, 32, 1},
    {0x10400, 40, 40, 1},
    {0x104B0, 36, 40, 1},
    {0x10570, 11, 39, 1},
    {0x1057C, 15, 39, 1},
    {0x1058C, 7, 39, 1},
    {0x10594, 2, 39, 1},
    {0x10C80, 51, 64, 1},
    {0x118A0, 32, 32, 1},
    {0x16E40, 32, 32, 1},
    {0x1E900, 34, 34, 1},
};

size_t silk__utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0)
        return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) {
        len = 2, c = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        len = 3, c = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        len = 4, c = u[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

size_t silk__utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD; /* a lone surrogate cannot be written in UTF-8 */
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF)
        cp = 0xFFFD;
    if (cp > 0xFFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    out[0] = (char)0xEF, out[1] = (char)0xBF, out[2] = (char)0xBD;
    return 3;
}

size_t silk__utf8_valid_prefix(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = silk__utf8_decode(s + i, n - i, &cp);
        if (l == 0)
            return i;
        i += l;
    }
    return n;
}

size_t silk__utf8_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

static uint32_t lower_cp(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    size_t lo = 0, hi = sizeof(lower_runs) / sizeof(lower_runs[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct lower_run *r = &lower_runs[mid];
        uint32_t last = r->first + (uint32_t)(r->count - 1) * r->stride;
        if (cp < r->first) {
            hi = mid;
        } else if (cp > last) {
            lo = mid + 1;
        } else {
            if ((cp - r->first) % r->stride == 0)
                return (uint32_t)((int32_t)cp + r->delta);
            return cp;
        }
    }
    return cp;
}

int silk__utf8_lower(const char *s, size_t n, silk_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            silk_buf_putc(out, (char)((c >= 'A' && c <= 'Z') ? c + 32 : c));
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = silk__utf8_decode(s + i, n - i, &cp);
        if (l == 0) { /* not UTF-8: copy the byte as it is */
            silk_buf_putc(out, (char)c);
            i++;
            continue;
        }
        if (cp == 0x130) { /* the one code point whose lower case is two */
            silk_buf_append(out, "i\xCC\x87", 3);
        } else {
            char enc[4];
            size_t el = silk__utf8_encode(lower_cp(cp), enc);
            silk_buf_append(out, enc, el);
        }
        i += l;
    }
    return out->err;
}
