/* silk — crawl statistics with Scrapy's keys (a StatsCollector). */
#ifndef SILK_STATS_H
#define SILK_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "silk/buf.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_stats silk_stats;

/* A new empty collector; NULL on ENOMEM. */
silk_stats *silk_stats_new(void);
void silk_stats_free(silk_stats *st);

/* inc_value(key, count): an unset key starts at 0. Errors are ENOMEM only
 * and are swallowed (stats never stop a crawl). */
void silk_stats_inc(silk_stats *st, const char *key, int64_t by);
void silk_stats_inc_fmt(silk_stats *st, int64_t by, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void silk_stats_set_int(silk_stats *st, const char *key, int64_t v);
void silk_stats_set_double(silk_stats *st, const char *key, double v);
void silk_stats_set_str(silk_stats *st, const char *key, const char *v);
/* Sets key from a wall-clock time (seconds since the epoch, UTC): shown as
 * Python's datetime repr in the dump, ISO 8601 in JSON. */
void silk_stats_set_time(silk_stats *st, const char *key, double epoch);
/* max_value / min_value */
void silk_stats_max(silk_stats *st, const char *key, int64_t v);
void silk_stats_min(silk_stats *st, const char *key, int64_t v);

/* Borrowed value or NULL. */
const silk_value *silk_stats_get(const silk_stats *st, const char *key);
int64_t silk_stats_get_int(const silk_stats *st, const char *key, int64_t def);
/* The whole dict (borrowed). */
const silk_value *silk_stats_all(const silk_stats *st);
/* Removes every key. */
void silk_stats_clear(silk_stats *st);

/* Scrapy's dump: pprint.pformat of the sorted dict, e.g.
 * "{'downloader/request_count': 3,\n 'finish_reason': 'finished',\n ...}". */
int silk_stats_format(const silk_stats *st, silk_buf *out);
/* JSON object with sorted keys; times as ISO 8601 strings. */
int silk_stats_to_json(const silk_stats *st, silk_buf *out);

#ifdef __cplusplus
}
#endif
#endif
