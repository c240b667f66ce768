/* silk — error codes. One convention everywhere: int 0 on success, a
 * negative SILK_E* otherwise. Library code never exits or aborts on input. */
#ifndef SILK_ERROR_H
#define SILK_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SILK_OK = 0,
    SILK_ENOMEM = -1,       /* an allocation failed */
    SILK_EINVAL = -2,       /* an argument is invalid */
    SILK_ESCHEME = -3,      /* URL has no scheme, or an unsupported one */
    SILK_EURL = -4,         /* URL cannot be parsed */
    SILK_EJSON = -5,        /* JSON text is malformed */
    SILK_EUNSERIALIZABLE = -6, /* value holds an object reference */
    SILK_ERANGE = -7,       /* a number or size is out of range */
    SILK_ENOTFOUND = -8,    /* a key, type or name is unknown */
    SILK_EIO = -9,          /* an operating-system I/O error */
    SILK_EDEAD = -10,       /* a freed or foreign object was passed */
    SILK_EENCODING = -11,   /* text is not in the expected encoding */
    SILK_ELIMIT = -12,      /* a configured limit was hit */
    SILK_EBUSY = -13,       /* refused while something is in use */
    SILK_EREENTRANT = -14,  /* a re-entrant call was refused */
    SILK_ETYPE = -15,       /* a value has the wrong type */
    SILK_ESYNTAX = -16,     /* a query or expression is malformed */
    SILK_ENET = -17,        /* a network error */
    SILK_ETIMEOUT = -18,    /* something timed out */
    SILK_ETLS = -19,        /* a TLS error */
    SILK_EDB = -20,         /* a database error */
};

/* Returns a static string naming the error code (never NULL). */
const char *silk_strerror(int code);

/* Records a detailed message for the last error on this thread, as printf.
 * Returns code, so that `return silk_error(SILK_EURL, "...", ...)` works. */
int silk_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the last detailed message of this thread (static thread-local
 * storage, never NULL; "" when none was recorded). */
const char *silk_last_error(void);

/* Clears the last error message of this thread. */
void silk_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
