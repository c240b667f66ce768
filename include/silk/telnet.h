/* silk — the telnet console: a server on the crawl's own event loop, a small
 * Python-like interpreter for the commands of Scrapy's "Debugging memory
 * leaks" guide, the heap summary, and the leak check run at spider close.
 *
 * Every crawl gets two extensions from here (engine/extensions.c links them
 * in when this module is present):
 *  - silk_telnet_extension ("TelnetConsole"): TELNETCONSOLE_ENABLED,
 *    TELNETCONSOLE_HOST, TELNETCONSOLE_PORT, TELNETCONSOLE_USERNAME,
 *    TELNETCONSOLE_PASSWORD, TELNETCONSOLE_MAX_CONNECTIONS;
 *  - silk_leakcheck_extension ("LeakCheck"): TRACKREF_REPORT_INTERVAL, the
 *    trackref/<Type>/live and trackref/<Type>/oldest_age stats, and the
 *    warning about objects of the closing spider that are still alive.
 *
 * Everything here runs on the loop thread (trackref is not thread-safe). */
#ifndef SILK_TELNET_H
#define SILK_TELNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silk/buf.h"
#include "silk/spider.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* ---- the interpreter ---- */

typedef struct silk_interp silk_interp;

/* A console session bound to crawler (NULL: only the crawler-free names —
 * prefs, get_oldest, iter_all, heap, trim, help...). Returns 0 and *out
 * (caller frees with silk_interp_free) or SILK_ENOMEM. */
int silk_interp_new(silk_crawler *crawler, silk_interp **out);
/* Drops the session's variables (and the object references they hold). */
void silk_interp_free(silk_interp *in);
/* Caps what one line may print (bytes; 0 = 1 MiB) and the evaluation steps
 * it may take (0 = 1,000,000). */
void silk_interp_set_limits(silk_interp *in, size_t max_output, uint64_t max_steps);
/* Runs one line and appends to out what Python's interactive console would
 * print: the repr of an expression's value (nothing for None), the output of
 * prefs()/est()/heap(), or one error line such as
 * "NameError: name 'x' is not defined". Lines end with "\n". Returns 0 (a
 * Python-level error is output, not a failure), or SILK_ENOMEM. */
int silk_interp_exec(silk_interp *in, const char *line, silk_buf *out);
/* true once a line asked to leave (exit(), quit(), exit, quit). */
bool silk_interp_wants_exit(const silk_interp *in);

/* ---- heap summary ---- */

/* Appends heap()'s report to out: a table "types | # objects | total size"
 * of every tracked type with live objects or charged bytes (bytes from the
 * counting allocator, bodies and documents included), the allocator's view
 * (mallinfo2) and the process RSS. Returns 0 or SILK_ENOMEM. */
int silk_heap_format(silk_buf *out);
/* trim(): calls malloc_trim(0) and appends the RSS before and after.
 * Returns 0 or SILK_ENOMEM. */
int silk_heap_trim(silk_buf *out);
/* Resident set size of the process in bytes (0 when unknown). */
size_t silk_heap_rss(void);

/* ---- the server ---- */

typedef struct silk_telnet_options {
    const char *host;        /* NULL = "127.0.0.1" */
    int port_lo, port_hi;    /* first free port of [lo, hi]; 0/0 = any free port */
    const char *username;    /* NULL = "silk" */
    const char *password;    /* NULL or "" = 16 random hex characters */
    size_t max_connections;  /* 0 = 8 */
    size_t max_line;         /* bytes; 0 = 16 KiB */
    size_t max_output;       /* bytes one command may print; 0 = 1 MiB */
    unsigned max_attempts;   /* failed logins before the connection is closed; 0 = 5 */
    double fail_delay;       /* delay after the first failed login, doubling; 0 = 0.5 s */
    double fail_delay_max;   /* cap of that delay; 0 = 4 s */
    double login_timeout;    /* seconds to log in before being dropped; 0 = 60 */
} silk_telnet_options;

typedef struct silk_telnet silk_telnet;

/* Listens on base for crawler (may be NULL: a console without engine
 * names). opt may be NULL (defaults); strings are copied. Returns 0 and
 * *out (caller frees with silk_telnet_free, before freeing base), SILK_EIO
 * with silk_last_error() naming the host and ports when none is free,
 * SILK_EINVAL or SILK_ENOMEM. Logs nothing (the extension logs). */
int silk_telnet_start(struct event_base *base, silk_crawler *crawler, const silk_telnet_options *opt,
                      silk_telnet **out);
/* Closes every connection and the listener. NULL is fine. */
void silk_telnet_free(silk_telnet *t);
/* The port listened on. */
int silk_telnet_port(const silk_telnet *t);
/* The host listened on and the password in force (owned by t). */
const char *silk_telnet_host(const silk_telnet *t);
const char *silk_telnet_password(const silk_telnet *t);
/* Connections open right now (logged in or not). */
size_t silk_telnet_connections(const silk_telnet *t);

/* The console the TelnetConsole extension opened for crawler, or NULL
 * (disabled, no free port, or closed). Borrowed. */
silk_telnet *silk_telnet_of(const silk_crawler *crawler);

/* ---- the extensions ---- */

extern const silk_extension_def silk_telnet_extension;
extern const silk_extension_def silk_leakcheck_extension;

/* Writes the leak check's findings for crawler's spider to out: the objects
 * created while the spider was open that are still alive — less its Spider
 * object, requests of other spiders, and whatever requests waiting in a
 * scheduler queue keep alive (they go with the queue) — one line per type
 * with count, oldest age and oldest repr. Empty when there are none.
 * since_ns: the spider's opening time. Returns the number of such objects. */
size_t silk_leakcheck_format(silk_crawler *crawler, uint64_t since_ns, silk_buf *out);

#ifdef __cplusplus
}
#endif
#endif
