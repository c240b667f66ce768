/* silk — telnet module internals shared by its sources (not a public
 * header). */
#ifndef SILK_TELNET_INTERNAL_H
#define SILK_TELNET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "silk/buf.h"

/* Python's repr() of a float ("0.1", "1e+16", "inf"). */
void silk__py_float_repr(silk_buf *b, double d);
/* Python's repr() of a str whose UTF-8 bytes are s[0..n). */
void silk__py_str_repr(silk_buf *b, const char *s, size_t n);
/* Bytes as "12.34 KB" (pympler's units, 1024-based). */
void silk__human_bytes(silk_buf *b, double n);

#endif
