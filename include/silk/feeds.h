/* silk — feed exports (Scrapy 2.8's FeedExporter and item exporters).
 *
 * Two layers:
 *  - item exporters: JSON lines, JSON and CSV, byte for byte what Scrapy's
 *    JsonLinesItemExporter, JsonItemExporter and CsvItemExporter write for
 *    the same items. They write each item as it arrives (nothing is held
 *    back), so a crash loses at most the item being written. On a file the
 *    exporter opened itself, a JSON feed is a complete JSON document after
 *    every item (the closing "]" is rewritten behind each new item), so even
 *    a kill -9 leaves a valid file.
 *  - feeds: the FEEDS setting (and FEED_* defaults, -o/-O from the command
 *    line), URI placeholders, file and stdout storage, and the FeedExporter
 *    extension that a crawler runs.
 *
 * See docs/feeds.md. */
#ifndef SILK_FEEDS_H
#define SILK_FEEDS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "silk/item.h"
#include "silk/settings.h"
#include "silk/spider.h"
#include "silk/stats.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- item exporters ---- */

typedef enum silk_feed_format {
    SILK_FEED_JSONLINES, /* "jsonlines", "jsonl", "jl" */
    SILK_FEED_JSON,      /* "json" */
    SILK_FEED_CSV,       /* "csv" */
} silk_feed_format;

/* Maps a Scrapy format name to *out. Returns 0, or SILK_ENOTFOUND with a
 * message listing the supported formats. */
int silk_feed_format_parse(const char *name, silk_feed_format *out);
/* The canonical name ("jsonlines", "json", "csv"); static. */
const char *silk_feed_format_name(silk_feed_format f);

/* JSON indent "None" (FEED_EXPORT_INDENT = None): no newlines at all. */
#define SILK_FEED_INDENT_NONE INT_MIN

/* Options of one exporter. A zeroed struct is Scrapy's defaults for JSON
 * lines (encoding None, all fields, indent 0). */
typedef struct silk_exporter_options {
    silk_feed_format format;
    /* FEED_EXPORT_ENCODING: NULL = unset (JSON escapes non-ASCII as \uXXXX,
     * CSV writes UTF-8); "utf-8", "latin-1" or "ascii" (and their Python
     * aliases) write raw text in that encoding. */
    const char *encoding;
    /* FEED_EXPORT_FIELDS: NULL (every field of each item), a list of field
     * names, or a dict {item field: output name}. Borrowed, copied. */
    const silk_value *fields;
    /* FEED_EXPORT_INDENT (JSON only): SILK_FEED_INDENT_NONE, 0 (one item a
     * line) or n > 0 spaces per level. */
    int indent;
    /* CSV item_export_kwargs: no header line; the string joining lists of
     * strings (NULL = ","); the delimiter (0 = ','). */
    bool csv_no_header;
    const char *csv_join;
    char csv_delimiter;
} silk_exporter_options;

typedef struct silk_exporter silk_exporter;

/* An exporter writing to f, which it neither owns nor closes; each item is
 * written with fwrite and fflush. Returns 0 and *out (free it with
 * silk_exporter_close), or SILK_EINVAL / SILK_ENOTFOUND (an encoding silk
 * cannot write) / SILK_ENOMEM. */
int silk_exporter_new(FILE *f, const silk_exporter_options *o, silk_exporter **out);
/* An exporter writing to the file at path, opened for appending (Scrapy's
 * "ab") or truncated when overwrite (its "wb"); missing parent directories
 * are created. Returns 0 and *out, or SILK_EIO with a message naming the
 * path and the reason, or as silk_exporter_new. */
int silk_exporter_open(const char *path, bool overwrite, const silk_exporter_options *o,
                       silk_exporter **out);
/* start_exporting (JSON's "["); done by the first item otherwise. Idempotent.
 * Returns 0 or SILK_EIO. */
int silk_exporter_start(silk_exporter *e);
/* Writes one item (its fields, in order). Returns 0; SILK_EUNSERIALIZABLE,
 * SILK_EENCODING (not valid UTF-8, or not representable in the encoding) or
 * SILK_ELIMIT (nested too deep): the item is not written and the output is
 * unchanged; SILK_EIO (the write failed); SILK_ENOMEM. */
int silk_exporter_export_item(silk_exporter *e, const silk_item *item);
/* Same for a plain dict. */
int silk_exporter_export_dict(silk_exporter *e, const silk_value *dict);
/* finish_exporting (JSON's "]") when started; further items are refused.
 * Returns 0 or SILK_EIO. */
int silk_exporter_finish(silk_exporter *e);
/* Finishes, closes the file it opened, frees e (NULL-safe). Returns 0 or the
 * first write/close error. */
int silk_exporter_close(silk_exporter *e);
/* Items written so far. */
size_t silk_exporter_count(const silk_exporter *e);

/* ---- feeds ---- */

typedef struct silk_feeds silk_feeds;

/* Reads FEEDS (and the deprecated FEED_URI/FEED_FORMAT) with the FEED_*
 * defaults from s, expands each URI's placeholders (%(name)s = spider_name,
 * %(time)s, %(batch_time)s, %(batch_id)d, and any spider argument from
 * spider_args, a dict that may be NULL) and opens every feed. stats (may be
 * NULL) receives feedexport/success_count/<Storage> at close.
 * Returns 0 and *out (NULL when no feed is configured), or a SILK_E* code
 * whose message names the feed and what is wrong (an unknown format or
 * option, a path that cannot be opened, ...): nothing is left open then. */
int silk_feeds_open(const silk_settings *s, const char *spider_name, const silk_value *spider_args,
                    silk_stats *stats, silk_feeds **out);
/* Writes item to every feed that accepts it (item_classes). An item a feed
 * cannot serialise is logged and skipped for that feed. Returns 0 or the
 * first error. */
int silk_feeds_export(silk_feeds *f, const silk_item *item);
/* Finishes and closes every feed, logs "Stored json feed (N items) in:
 * URI", counts success/failure in the stats and frees f (NULL-safe).
 * Returns 0 or the first error. */
int silk_feeds_close(silk_feeds *f);
/* Number of open feeds. */
size_t silk_feeds_count(const silk_feeds *f);

/* Adds one -o (overwrite false) or -O (overwrite true) argument to FEEDS in
 * s, at command-line priority: "FILE" (format from the extension), or
 * "URI:FORMAT"; "-:FORMAT" is stdout. A FEEDS entry for the same URI that s
 * already holds wins, as in Scrapy. Returns 0, SILK_EINVAL naming an
 * unrecognised format, or SILK_ENOMEM. The caller refuses mixing -o and -O
 * (Scrapy's "Please use only one of -o/--output and -O/--overwrite-output"). */
int silk_feeds_add_cli(silk_settings *s, const char *arg, bool overwrite);

/* The FeedExporter extension: opens the feeds when the crawler opens (an
 * error stops the crawl before any request), writes on item_scraped and
 * closes the feeds on spider_closed. Does nothing when no feed is set. */
extern const silk_extension_def silk_feed_exporter;

#ifdef __cplusplus
}
#endif
#endif
