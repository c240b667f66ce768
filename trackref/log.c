/* silk — logging in Scrapy's shape. The default sink writes each record to
 * stderr at once (unbuffered), so a tool tailing the log sees it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "silk/error.h"
#include "silk/log.h"

static silk_log_sink_fn sink;
static void *sink_arg;
static silk_log_level min_level = SILK_LOG_INFO;

const char *silk_log_level_name(silk_log_level level)
{
    switch (level) {
    case SILK_LOG_DEBUG: return "DEBUG";
    case SILK_LOG_INFO: return "INFO";
    case SILK_LOG_WARNING: return "WARNING";
    case SILK_LOG_ERROR: return "ERROR";
    case SILK_LOG_CRITICAL: return "CRITICAL";
    }
    return "LOG";
}

int silk_log_level_parse(const char *s, silk_log_level *out)
{
    static const silk_log_level all[] = { SILK_LOG_DEBUG, SILK_LOG_INFO, SILK_LOG_WARNING,
                                          SILK_LOG_ERROR, SILK_LOG_CRITICAL };
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(s, silk_log_level_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    if (s && strcasecmp(s, "WARN") == 0) {
        *out = SILK_LOG_WARNING;
        return 0;
    }
    return silk_error(SILK_EINVAL, "unknown log level '%s' (use DEBUG, INFO, WARNING, ERROR or CRITICAL)",
                      s ? s : "(null)");
}

static void stderr_sink(silk_log_level level, const char *logger, const char *msg, void *arg)
{
    (void)arg;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s [%s] %s: %s\n", ts, logger, silk_log_level_name(level), msg);
}

void silk_vlog(silk_log_level level, const char *logger, const char *fmt, va_list ap)
{
    if (level < min_level)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    (sink ? sink : stderr_sink)(level, logger ? logger : "silk", msg, sink_arg);
}

void silk_log(silk_log_level level, const char *logger, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    silk_vlog(level, logger, fmt, ap);
    va_end(ap);
}

void silk_log_set_sink(silk_log_sink_fn fn, void *arg)
{
    sink = fn;
    sink_arg = arg;
}

void silk_log_set_level(silk_log_level level) { min_level = level; }

silk_log_level silk_log_get_level(void) { return min_level; }
