/* silk — the downloader: libcurl multi on a libevent loop, per-domain slots,
 * and the downloader middleware chain.
 *
 * A fetch runs: process_request of every middleware (in order) → the slot of
 * the request's domain (concurrency and delay) → libcurl → process_response
 * (or process_exception) of every middleware in reverse order → the done
 * callback with exactly one outcome. Everything runs on the loop thread; the
 * done callback never runs inside silk_downloader_fetch. */
#ifndef SILK_DOWNLOADER_H
#define SILK_DOWNLOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silk/http.h"
#include "silk/settings.h"
#include "silk/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* ---- failures ---- */

/* What went wrong with a request. type is the full name of the exception
 * class Scrapy / Twisted would raise, so stats keys
 * (downloader/exception_type_count/<type>) and logs read as Scrapy's:
 * "twisted.internet.error.DNSLookupError", "...ConnectionRefusedError",
 * "twisted.internet.error.TimeoutError", "twisted.web._newclient.
 * ResponseFailed" (connection lost mid-response), "twisted.web._newclient.
 * ResponseNeverReceived", "OpenSSL.SSL.Error" (any TLS failure),
 * "twisted.internet.defer.CancelledError" (over DOWNLOAD_MAXSIZE),
 * "scrapy.exceptions.NotSupported", "scrapy.exceptions.IgnoreRequest",
 * "twisted.internet.error.ConnectError". docs/downloader.md lists them. */
typedef struct silk_failure {
    int code;              /* a SILK_E* code */
    char *type;
    char *message;
    silk_request *request; /* a reference */
    silk_response *response; /* a reference, for HttpError; else NULL */
} silk_failure;

/* A new failure (copies type and message, refs request/response). NULL on
 * ENOMEM. Free with silk_failure_free. */
silk_failure *silk_failure_new(int code, const char *type, const char *message,
                               silk_request *request, silk_response *response);
void silk_failure_free(silk_failure *f);
/* true when f's type is type, or ends with "." type when type has no dot
 * (silk_failure_is(f, "TimeoutError")). */
bool silk_failure_is(const silk_failure *f, const char *type);

/* ---- middleware chain ---- */

typedef enum silk_mw_result {
    SILK_MW_CONTINUE = 0, /* go on with the next middleware */
    SILK_MW_RESPONSE,     /* out->response is the answer: stop processing */
    SILK_MW_REQUEST,      /* out->request replaces the request: the engine
                             schedules it (redirect, retry) */
    SILK_MW_DROP,         /* IgnoreRequest: out->failure may say why */
    SILK_MW_FAILURE,      /* out->failure: turn into an exception */
    SILK_MW_PENDING,      /* the middleware will call silk_mw_resume later */
} silk_mw_result;

typedef struct silk_mw_out {
    silk_request *request;   /* owned reference handed to the chain */
    silk_response *response; /* owned reference handed to the chain */
    silk_failure *failure;   /* owned */
} silk_mw_out;

typedef struct silk_downloader silk_downloader;
typedef struct silk_fetch silk_fetch; /* one request in flight in the chain */

/* What a middleware sees of the crawl. */
typedef struct silk_mw_env {
    silk_settings *settings;
    silk_stats *stats;
    struct event_base *base;
    silk_downloader *downloader;
    const char *spider_name;
    void *crawler; /* the engine's crawler, opaque here */
} silk_mw_env;

typedef struct silk_downloader_mw silk_downloader_mw;
struct silk_downloader_mw {
    const char *name;  /* "RetryMiddleware" */
    int order;         /* Scrapy's DOWNLOADER_MIDDLEWARES_BASE number */
    /* Reads settings; returns 0, SILK_ENOTFOUND to say "disabled" (the
     * middleware is then left out), or an error that stops the crawl. In
     * both latter cases close() is called at once, so that it releases
     * what open() took (state may be partly built). */
    int (*open)(silk_downloader_mw *mw, const silk_mw_env *env);
    void (*close)(silk_downloader_mw *mw);
    /* Each hook may be NULL. The request/response passed are borrowed. A
     * hook returning SILK_MW_PENDING keeps fetch and later calls
     * silk_mw_resume(fetch, result, &out) exactly once. */
    silk_mw_result (*process_request)(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                      silk_mw_out *out);
    silk_mw_result (*process_response)(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                       silk_response *resp, silk_mw_out *out);
    silk_mw_result (*process_exception)(silk_downloader_mw *mw, silk_fetch *fetch,
                                        silk_request *req, silk_failure *failure, silk_mw_out *out);
    void *state;        /* the middleware's own data */
    const silk_mw_env *env; /* set by the downloader before open() */
};

/* Continues a chain a middleware left PENDING. out's contents are taken. */
void silk_mw_resume(silk_fetch *fetch, silk_mw_result result, silk_mw_out *out);

/* ---- the downloader ---- */

typedef enum silk_fetch_kind {
    SILK_FETCH_RESPONSE, /* response set */
    SILK_FETCH_REQUEST,  /* a middleware replaced the request: schedule it */
    SILK_FETCH_FAILURE,  /* failure set (including IgnoreRequest drops) */
} silk_fetch_kind;

typedef struct silk_fetch_result {
    silk_fetch_kind kind;
    silk_response *response; /* owned by the callee: ref it to keep */
    silk_request *request;   /* likewise */
    silk_failure *failure;   /* likewise */
} silk_fetch_result;

/* Called once per fetch, from the loop, with the original request. */
typedef void (*silk_fetch_done_fn)(void *arg, silk_request *req, const silk_fetch_result *res);

/* Creates a downloader on base. settings and stats are borrowed and must
 * outlive it. Reads CONCURRENT_REQUESTS, CONCURRENT_REQUESTS_PER_DOMAIN,
 * CONCURRENT_REQUESTS_PER_IP, DOWNLOAD_DELAY, RANDOMIZE_DOWNLOAD_DELAY,
 * DOWNLOAD_TIMEOUT, DOWNLOAD_MAXSIZE, DOWNLOAD_WARNSIZE,
 * DOWNLOAD_VERIFY_CERTIFICATES, COMPRESSION_ENABLED. Returns 0 or SILK_E*
 * (a malformed setting names itself). */
int silk_downloader_new(struct event_base *base, silk_settings *settings, silk_stats *stats,
                        silk_downloader **out);
/* Frees the downloader. Fetches still in flight are dropped without their
 * done callbacks (their requests are released): the engine stops feeding
 * it and drains it first. Calls each middleware's close(). */
void silk_downloader_free(silk_downloader *d);

/* Adds a middleware (the downloader sorts them by order and calls open()).
 * The downloader does not own mw's memory; close() is called at free. */
int silk_downloader_add_middleware(silk_downloader *d, silk_downloader_mw *mw, const silk_mw_env *env);

/* Same, on a copy of tmpl that the downloader owns (state starts NULL):
 * how the built-in middlewares and spiders' templates are added. A
 * middleware whose open() says SILK_ENOTFOUND is left out (returns 0). */
int silk_downloader_add_middleware_copy(silk_downloader *d, const silk_downloader_mw *tmpl,
                                        const silk_mw_env *env);

/* Starts fetching req (the downloader takes a reference). done is called
 * once, later, from the loop. Returns 0 or SILK_ENOMEM. */
int silk_downloader_fetch(silk_downloader *d, silk_request *req, silk_fetch_done_fn done, void *arg);
/* Same, skipping the middleware chain (raw transfer through the slots). */
int silk_downloader_fetch_raw(silk_downloader *d, silk_request *req, silk_fetch_done_fn done, void *arg);

/* Requests inside the downloader (chain + slots + transfers). */
size_t silk_downloader_active(const silk_downloader *d);
/* Transfers curl has right now (all slots). */
size_t silk_downloader_transferring(const silk_downloader *d);
/* Connections curl opened since the downloader was created (a reused
 * keep-alive connection is not counted again). */
uint64_t silk_downloader_connections_opened(const silk_downloader *d);
/* true while the downloader has no free slot (the engine backs out). */
bool silk_downloader_needs_backout(const silk_downloader *d);
/* Request waiting in the fetch's chain, for middlewares. */
silk_request *silk_fetch_request(silk_fetch *fetch);
silk_downloader *silk_fetch_downloader(silk_fetch *fetch);
/* The Content-Encoding the downloader decoded for this fetch's response
 * (the header is removed from the response), or NULL. Borrowed. */
const char *silk_fetch_content_encoding(const silk_fetch *fetch);
/* Body bytes as received on the wire (before decoding); 0 before the
 * transfer ends. */
uint64_t silk_fetch_wire_bytes(const silk_fetch *fetch);

/* Per-slot figures for est(): fills up to cap entries; returns the count. */
typedef struct silk_slot_info {
    const char *key;  /* domain or IP; borrowed until the next loop turn */
    size_t active, queued, transferring;
    double delay;
} silk_slot_info;
size_t silk_downloader_slots(const silk_downloader *d, silk_slot_info *out, size_t cap);
/* Peak number of concurrent transfers seen for a slot key (tests). */
size_t silk_downloader_slot_peak(const silk_downloader *d, const char *key);
/* The slot key of req (meta download_slot, else the URL's host) into *out
 * (caller frees). Returns 0 or SILK_ENOMEM. */
int silk_downloader_slot_key(const silk_request *req, char **out);
/* The same, as this downloader sees it: with CONCURRENT_REQUESTS_PER_IP
 * the slot is the host's IP once it is known. */
int silk_downloader_slot_key_of(const silk_downloader *d, const silk_request *req, char **out);
/* Sets the delay (seconds, randomised as RANDOMIZE_DOWNLOAD_DELAY says) of
 * the slot key, creating the slot. Returns 0, SILK_EINVAL or SILK_ENOMEM. */
int silk_downloader_set_slot_delay(silk_downloader *d, const char *key, double delay);
/* The slot's delay, or DOWNLOAD_DELAY when there is no such slot. */
double silk_downloader_slot_delay(const silk_downloader *d, const char *key);

/* The Response type Scrapy's responsetypes would pick from the headers,
 * URL and body (HtmlResponse for text/html, XmlResponse, TextResponse, or
 * plain Response). */
silk_type *silk_response_type_for(const silk_headers *headers, const char *url, const char *body,
                                  size_t len);

#ifdef __cplusplus
}
#endif
#endif
