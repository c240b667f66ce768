/* silk — a crawler framework in C with built-in leak tooling.
 * Include this one header to get every public module. */
#ifndef SILK_SILK_H
#define SILK_SILK_H

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/crawlspider.h"
#include "silk/downloader.h"
#include "silk/encoding.h"
#include "silk/engine.h"
#include "silk/error.h"
#include "silk/feeds.h"
#include "silk/http.h"
#include "silk/item.h"
#include "silk/jobdir.h"
#include "silk/linkextractor.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/object.h"
#include "silk/robots.h"
#include "silk/scheduler.h"
#include "silk/selector.h"
#include "silk/settings.h"
#include "silk/sitemap.h"
#include "silk/spider.h"
#include "silk/stats.h"
#include "silk/telnet.h"
#include "silk/testserver.h"
#include "silk/url.h"
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
