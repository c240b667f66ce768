/* silk — robots.txt, with the semantics of protego 0.2.1 as Scrapy's default
 * ROBOTSTXT_PARSER (scrapy.robotstxt.ProtegoRobotParser) applies it.
 *
 * A parsed file is a plain struct (not a tracked object) on silk's allocator:
 * silk_robots_parse creates it, silk_robots_free ends it. Queries never
 * modify it. Strings returned by accessors are borrowed: they live as long
 * as the parser. See docs/robots.md. */
#ifndef SILK_ROBOTS_H
#define SILK_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_robots silk_robots;

/* How much of a body silk_robots_parse reads: Google's (and RFC 9309's)
 * 500 KiB. Lines that end past it are ignored. */
#define SILK_ROBOTS_MAX_BYTES ((size_t)500 * 1024)

/* A Request-rate directive: `requests` per `seconds`, optionally only
 * between start and end (UTC, hour:minute) when has_period. */
typedef struct silk_robots_rate {
    int64_t requests;
    int64_t seconds;
    bool has_period;
    int start_hour, start_minute;
    int end_hour, end_minute;
} silk_robots_rate;

/* Parses the exact bytes of a robots.txt (len bytes, NULs allowed; the first
 * SILK_ROBOTS_MAX_BYTES are read). Content never fails: a body that is not
 * valid UTF-8, or garbage, yields a parser that allows everything. Returns 0
 * and *out (caller owns it, silk_robots_free), or SILK_ENOMEM / SILK_EINVAL
 * (out NULL, or body NULL with len > 0). */
int silk_robots_parse(const char *body, size_t len, silk_robots **out);

/* Same with another read limit: max_bytes 0 means no limit. */
int silk_robots_parse_limit(const char *body, size_t len, size_t max_bytes, silk_robots **out);

/* Returns true when user_agent may fetch url (an absolute URL, or a path).
 * Only the URL's path, params, query and fragment matter. A NULL parser
 * allows everything; false also when memory runs out (silk_last_error). */
bool silk_robots_allowed(const silk_robots *r, const char *url, const char *user_agent);

/* Returns the index of the group that applies to user_agent (>= 0), or
 * SILK_ENOTFOUND when none does (then everything is allowed). The index is
 * valid as long as r: resolving the agent once and calling
 * silk_robots_agent_allowed per request skips the agent matching. */
int silk_robots_agent(const silk_robots *r, const char *user_agent);

/* silk_robots_allowed for a group index from silk_robots_agent (a negative
 * or out-of-range index allows everything). */
bool silk_robots_agent_allowed(const silk_robots *r, int agent, const char *url);

/* Crawl-delay (seconds) of the group that applies to user_agent. Returns 0
 * and *delay, or SILK_ENOTFOUND when no group applies or it has none. */
int silk_robots_crawl_delay(const silk_robots *r, const char *user_agent, double *delay);

/* Request-rate of the group that applies to user_agent. Returns 0 and *rate,
 * or SILK_ENOTFOUND. */
int silk_robots_request_rate(const silk_robots *r, const char *user_agent,
                             silk_robots_rate *rate);

/* Number of Sitemap lines (every group, and outside groups). */
size_t silk_robots_sitemap_count(const silk_robots *r);

/* The i-th sitemap URL in file order (borrowed, NUL-terminated; *len, when
 * len is not NULL, is its length, as it may hold NULs), or NULL past the
 * end. */
const char *silk_robots_sitemap(const silk_robots *r, size_t i, size_t *len);

/* The last Host directive inside a group (borrowed), or NULL when none. */
const char *silk_robots_host(const silk_robots *r, size_t *len);

/* true when the body was longer than the read limit and lines were dropped. */
bool silk_robots_truncated(const silk_robots *r);

/* Frees a parser from silk_robots_parse. NULL is fine. */
void silk_robots_free(silk_robots *r);

#ifdef __cplusplus
}
#endif
#endif
