/* silk — error codes and the per-thread last-error message. */
#include <stdarg.h>
#include <stdio.h>

#include "silk/error.h"

static _Thread_local char last_error[1024];

const char *silk_strerror(int code)
{
    switch (code) {
    case SILK_OK: return "success";
    case SILK_ENOMEM: return "out of memory";
    case SILK_EINVAL: return "invalid argument";
    case SILK_ESCHEME: return "missing or unsupported URL scheme";
    case SILK_EURL: return "malformed URL";
    case SILK_EJSON: return "malformed JSON";
    case SILK_EUNSERIALIZABLE: return "value cannot be serialised";
    case SILK_ERANGE: return "value out of range";
    case SILK_ENOTFOUND: return "not found";
    case SILK_EIO: return "I/O error";
    case SILK_EDEAD: return "dead or foreign object";
    case SILK_EENCODING: return "bad text encoding";
    case SILK_ELIMIT: return "limit exceeded";
    case SILK_EBUSY: return "busy";
    case SILK_EREENTRANT: return "re-entrant call refused";
    case SILK_ETYPE: return "wrong type";
    case SILK_ESYNTAX: return "syntax error";
    case SILK_ENET: return "network error";
    case SILK_ETIMEOUT: return "timed out";
    case SILK_ETLS: return "TLS error";
    case SILK_EDB: return "database error";
    default: return "unknown error";
    }
}

int silk_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *silk_last_error(void) { return last_error; }

void silk_clear_error(void) { last_error[0] = '\0'; }
