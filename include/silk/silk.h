/* silk — a crawler framework in C with built-in leak tooling.
 * Include this one header to get every public module. */
#ifndef SILK_SILK_H
#define SILK_SILK_H

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/object.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* silk's version string ("0.1.0"); static. */
const char *silk_version(void);

#ifdef __cplusplus
}
#endif
#endif
