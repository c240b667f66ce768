/* silk — growable NUL-terminated buffer. */
#include <stdio.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"

int silk_buf_reserve(silk_buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (extra > SIZE_MAX / 2 - b->len)
        return b->err = SILK_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *d = silk_realloc(b->data, cap);
    if (!d)
        return b->err = SILK_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int silk_buf_append(silk_buf *b, const void *p, size_t n)
{
    if (silk_buf_reserve(b, n))
        return b->err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int silk_buf_puts(silk_buf *b, const char *s) { return silk_buf_append(b, s, strlen(s)); }

int silk_buf_putc(silk_buf *b, char c) { return silk_buf_append(b, &c, 1); }

int silk_buf_vprintf(silk_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    int rc = 0;
    if (n < 0) {
        rc = b->err = SILK_EINVAL;
    } else if ((size_t)n < sizeof small) {
        rc = silk_buf_append(b, small, (size_t)n);
    } else if ((rc = silk_buf_reserve(b, (size_t)n)) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return rc;
}

int silk_buf_printf(silk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = silk_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void silk_buf_reset(silk_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *silk_buf_detach(silk_buf *b)
{
    if (b->err) {
        silk_buf_free(b);
        return NULL;
    }
    char *d = b->data ? b->data : silk_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void silk_buf_free(silk_buf *b)
{
    silk_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}
