/* silk — logging, in Scrapy's shape:
 * "2026-11-23 10:00:00 [silk.engine] INFO: Spider opened". */
#ifndef SILK_LOG_H
#define SILK_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum silk_log_level {
    SILK_LOG_DEBUG = 10,
    SILK_LOG_INFO = 20,
    SILK_LOG_WARNING = 30,
    SILK_LOG_ERROR = 40,
    SILK_LOG_CRITICAL = 50,
} silk_log_level;

/* A sink receives each formatted record. */
typedef void (*silk_log_sink_fn)(silk_log_level level, const char *logger,
                                 const char *msg, void *arg);

/* Logs through the current sink (default: stderr, level INFO). */
void silk_log(silk_log_level level, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void silk_vlog(silk_log_level level, const char *logger, const char *fmt,
               va_list ap);
/* Replaces the sink (NULL restores stderr). */
void silk_log_set_sink(silk_log_sink_fn fn, void *arg);
/* Records below level are dropped. */
void silk_log_set_level(silk_log_level level);
silk_log_level silk_log_get_level(void);
/* "DEBUG", "INFO", ... */
const char *silk_log_level_name(silk_log_level level);
/* Parses "DEBUG"/"info"/... ; returns 0 or SILK_EINVAL. */
int silk_log_level_parse(const char *s, silk_log_level *out);

#ifdef __cplusplus
}
#endif
#endif
