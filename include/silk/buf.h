/* silk — a growable byte buffer (always NUL-terminated) on silk's allocator. */
#ifndef SILK_BUF_H
#define SILK_BUF_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int err;    /* sticky: SILK_ENOMEM once an append failed */
} silk_buf;

#define SILK_BUF_INIT { NULL, 0, 0, 0 }

/* Each append returns 0 or SILK_ENOMEM (and sets b->err, after which
 * further appends do nothing), so a caller may append many times and check
 * b->err once. */
int silk_buf_reserve(silk_buf *b, size_t extra);
int silk_buf_append(silk_buf *b, const void *p, size_t n);
int silk_buf_puts(silk_buf *b, const char *s);
int silk_buf_putc(silk_buf *b, char c);
int silk_buf_printf(silk_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int silk_buf_vprintf(silk_buf *b, const char *fmt, va_list ap);
/* Empties the buffer, keeping its memory. */
void silk_buf_reset(silk_buf *b);
/* Returns the data (caller owns it, silk_free) and empties b. An empty
 * buffer yields "" (a new block); NULL when b->err is set or on failure. */
char *silk_buf_detach(silk_buf *b);
/* Frees the data. */
void silk_buf_free(silk_buf *b);

#ifdef __cplusplus
}
#endif
#endif
