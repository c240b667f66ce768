/* silk — the downloader: libcurl's multi socket interface on a libevent
 * loop (the pattern of curl's docs/examples/hiperfifo.c, minus its exit()),
 * per-domain slots with a min-heap of slots waiting out a delay, and the
 * downloader middleware chain.
 *
 * Everything here runs on the loop thread. */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/downloader.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/url.h"

#define LOGGER "silk.core.downloader"
#define SLOT_BUCKETS_MIN 64
#define SLOT_IDLE_GC_NS (60ull * 1000000000ull)
#define EASY_POOL_MAX 256
/* Response headers a hostile server may send before we give up: curl caps
 * one line, not their number. */
#define MAX_HEADER_BYTES ((size_t)1 << 20)
#define FETCH_MAGIC 0x46455443u /* "FETC" */
#define FETCH_DEAD 0xdeadfe7cu

typedef struct slot slot;
typedef struct sockinfo sockinfo;
typedef struct dnsent dnsent;

#define DNS_TTL_NS (600ull * 1000000000ull)
#define DNS_FAIL_TTL_NS (60ull * 1000000000ull)

typedef enum phase {
    PH_REQUEST,   /* walking process_request, mw index ascending */
    PH_RESOLVE,   /* waiting for the IP of its host (CONCURRENT_REQUESTS_PER_IP) */
    PH_SLOT,      /* queued in a slot */
    PH_TRANSFER,  /* curl has it */
    PH_RESPONSE,  /* walking process_response, descending */
    PH_EXCEPTION, /* walking process_exception, descending */
    PH_DONE,      /* result ready, waiting for the deferred callback */
} phase;

struct silk_fetch {
    uint32_t magic;
    silk_list link;     /* slot queue, or the done queue */
    silk_list all;      /* every live fetch, for free */
    silk_downloader *d;
    silk_request *req;  /* the original request (a reference) */
    silk_fetch_done_fn done;
    void *arg;
    bool raw;
    phase ph;
    int mw_index;
    bool pending;       /* a middleware holds it (PENDING) */
    slot *slot;
    silk_fetch_result res;
    /* transfer */
    CURL *easy;
    struct curl_slist *hdrs, *proxy_hdrs;
    char *body;         /* own buffer: its growth is capped at maxsize */
    size_t body_len, body_cap;
    silk_headers rheaders;
    size_t rheader_bytes;
    int status;
    bool too_large;
    bool headers_too_large;
    bool warned;
    bool decoding;      /* curl decodes Content-Encoding */
    char *content_encoding; /* what curl decoded, once the response is built */
    uint64_t wire_bytes;
    int64_t maxsize, warnsize;
    double timeout;
    uint64_t start_ns;
    char errbuf[CURL_ERROR_SIZE];
};

struct slot {
    char *key;
    slot *hnext;
    size_t active;       /* fetches assigned (queued + transferring) */
    size_t transferring;
    size_t peak;
    size_t concurrency;
    double delay;        /* seconds, before randomisation */
    bool randomize;
    uint64_t lastseen_ns; /* when the last transfer started */
    uint64_t ready_at_ns;
    size_t heap_idx;     /* SIZE_MAX when not in the heap */
    silk_list queue;
    size_t queued;
};

struct sockinfo {
    struct event ev;     /* embedded: no allocation per poll change */
    bool added;
    curl_socket_t fd;
    silk_downloader *d;
    silk_list link;
};

/* A host's IPv4 address, for slots keyed by IP (Scrapy's dnscache). */
struct dnsent {
    dnsent *hnext;
    silk_downloader *d;
    char *host;
    char *ip;           /* NULL: not resolved (yet, or it failed: the host is the key) */
    bool resolving;
    uint64_t expires_ns;
    silk_list waiters;  /* fetches in PH_RESOLVE, by their link */
    struct evdns_getaddrinfo_request *req;
};

typedef struct owned_mw {
    silk_list link;
    silk_downloader_mw mw;
} owned_mw;

struct silk_downloader {
    struct event_base *base;
    silk_settings *settings;
    silk_stats *stats;
    CURLM *multi;
    struct event *curl_timer;
    struct event *slot_timer;   /* fires when the heap's first slot is ready */
    struct event *defer_ev;     /* delivers finished fetches */
    struct event *gc_ev;
    silk_list done_queue;
    silk_list fetches;
    silk_list sockets;
    silk_list owned_mws;
    size_t nfetches;            /* == active */
    size_t transferring;
    uint64_t connections;       /* opened since creation */
    /* settings */
    size_t total_concurrency, per_domain, per_ip;
    double delay;
    bool randomize_delay;
    double timeout;
    int64_t maxsize, warnsize;
    bool verify, compression, dnscache, fail_on_dataloss;
    char *ca_file;
    /* slots: a chained hash map and a min-heap on ready_at_ns */
    slot **buckets;
    size_t nbuckets, nslots;
    slot **heap;
    size_t heap_len, heap_cap;
    /* host -> IP, when CONCURRENT_REQUESTS_PER_IP is on */
    struct evdns_base *dns;
    dnsent **dns_buckets;
    size_t dns_nbuckets, ndns;
    /* middlewares, sorted by order */
    silk_downloader_mw **mws;
    size_t nmws;
    struct curl_slist *no_headers; /* "Expect:" + "Accept:" */
    CURL *easy_pool[EASY_POOL_MAX];
    size_t easy_pool_len;
    bool freeing;
    bool in_multi;              /* inside curl_multi_socket_action */
};

/* ---------- failures ---------- */

silk_failure *silk_failure_new(int code, const char *type, const char *message, silk_request *request,
                               silk_response *response)
{
    silk_failure *f = silk_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->code = code;
    f->type = silk_strdup(type ? type : "Exception");
    f->message = silk_strdup(message ? message : "");
    if (!f->type || !f->message) {
        silk_free(f->type);
        silk_free(f->message);
        silk_free(f);
        return NULL;
    }
    f->request = silk_ref(request);
    f->response = silk_ref(response);
    return f;
}

void silk_failure_free(silk_failure *f)
{
    if (!f)
        return;
    silk_free(f->type);
    silk_free(f->message);
    silk_unref(f->request);
    silk_unref(f->response);
    silk_free(f);
}

bool silk_failure_is(const silk_failure *f, const char *type)
{
    if (!f || !f->type || !type)
        return false;
    if (strcmp(f->type, type) == 0)
        return true;
    /* "TimeoutError" matches "twisted.internet.error.TimeoutError" */
    size_t n = strlen(f->type), m = strlen(type);
    return !strchr(type, '.') && n > m && f->type[n - m - 1] == '.' && strcmp(f->type + n - m, type) == 0;
}

/* ---------- slots ---------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int slots_grow(silk_downloader *d)
{
    size_t n = d->nbuckets ? d->nbuckets * 2 : SLOT_BUCKETS_MIN;
    slot **b = silk_calloc(n, sizeof *b);
    if (!b)
        return SILK_ENOMEM;
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (slot *s = d->buckets[i], *next; s; s = next) {
            next = s->hnext;
            size_t h = hash_str(s->key) & (n - 1);
            s->hnext = b[h];
            b[h] = s;
        }
    }
    silk_free(d->buckets);
    d->buckets = b;
    d->nbuckets = n;
    return 0;
}

static slot *slot_find(const silk_downloader *d, const char *key)
{
    if (!d->nbuckets)
        return NULL;
    for (slot *s = d->buckets[hash_str(key) & (d->nbuckets - 1)]; s; s = s->hnext)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

static void slot_free(slot *s)
{
    silk_free(s->key);
    silk_free(s);
}

static slot *slot_get(silk_downloader *d, const char *key)
{
    slot *s = slot_find(d, key);
    if (s)
        return s;
    if (d->nslots + 1 > d->nbuckets && slots_grow(d))
        return NULL;
    s = silk_calloc(1, sizeof *s);
    if (!s || !(s->key = silk_strdup(key))) {
        silk_free(s);
        return NULL;
    }
    s->concurrency = d->per_ip ? d->per_ip : d->per_domain;
    if (!s->concurrency)
        s->concurrency = 1;
    s->delay = d->delay;
    s->randomize = d->randomize_delay;
    s->heap_idx = SIZE_MAX;
    silk_list_init(&s->queue);
    size_t h = hash_str(key) & (d->nbuckets - 1);
    s->hnext = d->buckets[h];
    d->buckets[h] = s;
    d->nslots++;
    return s;
}

static void slot_unlink(silk_downloader *d, slot *s)
{
    slot **pp = &d->buckets[hash_str(s->key) & (d->nbuckets - 1)];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = s->hnext;
    d->nslots--;
}

/* min-heap of slots on ready_at_ns */
static void heap_swap(silk_downloader *d, size_t a, size_t b)
{
    slot *t = d->heap[a];
    d->heap[a] = d->heap[b];
    d->heap[b] = t;
    d->heap[a]->heap_idx = a;
    d->heap[b]->heap_idx = b;
}

static void heap_up(silk_downloader *d, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (d->heap[p]->ready_at_ns <= d->heap[i]->ready_at_ns)
            break;
        heap_swap(d, p, i);
        i = p;
    }
}

static void heap_down(silk_downloader *d, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->heap_len && d->heap[l]->ready_at_ns < d->heap[m]->ready_at_ns)
            m = l;
        if (r < d->heap_len && d->heap[r]->ready_at_ns < d->heap[m]->ready_at_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(d, i, m);
        i = m;
    }
}

static int heap_push(silk_downloader *d, slot *s)
{
    if (s->heap_idx != SIZE_MAX) {
        heap_up(d, s->heap_idx);
        heap_down(d, s->heap_idx);
        return 0;
    }
    if (d->heap_len == d->heap_cap) {
        size_t cap = d->heap_cap ? d->heap_cap * 2 : 64;
        slot **h = silk_realloc(d->heap, cap * sizeof *h);
        if (!h)
            return SILK_ENOMEM;
        d->heap = h;
        d->heap_cap = cap;
    }
    s->heap_idx = d->heap_len;
    d->heap[d->heap_len++] = s;
    heap_up(d, s->heap_idx);
    return 0;
}

static slot *heap_pop(silk_downloader *d)
{
    slot *s = d->heap[0];
    d->heap_len--;
    if (d->heap_len) {
        d->heap[0] = d->heap[d->heap_len];
        d->heap[0]->heap_idx = 0;
        heap_down(d, 0);
    }
    s->heap_idx = SIZE_MAX;
    return s;
}

static void arm_slot_timer(silk_downloader *d)
{
    if (!d->heap_len) {
        evtimer_del(d->slot_timer);
        return;
    }
    uint64_t now = silk_now_ns();
    uint64_t at = d->heap[0]->ready_at_ns;
    uint64_t wait = at > now ? at - now : 0;
    struct timeval tv = { (time_t)(wait / 1000000000ull), (suseconds_t)((wait % 1000000000ull) / 1000) };
    evtimer_add(d->slot_timer, &tv);
}

/* ---------- completion ---------- */

static void fetch_finish(silk_fetch *f)
{
    silk_downloader *d = f->d;
    f->ph = PH_DONE;
    silk_list_add_tail(&d->done_queue, &f->link);
    event_active(d->defer_ev, EV_WRITE, 0);
}

static void fetch_free(silk_fetch *f)
{
    silk_downloader *d = f->d;
    silk_list_del(&f->all);
    d->nfetches--;
    if (f->hdrs)
        curl_slist_free_all(f->hdrs);
    if (f->proxy_hdrs)
        curl_slist_free_all(f->proxy_hdrs);
    silk_free(f->body);
    silk_free(f->content_encoding);
    silk_headers_clear(&f->rheaders);
    silk_unref(f->res.response);
    silk_unref(f->res.request);
    silk_failure_free(f->res.failure);
    silk_unref(f->req);
    f->magic = FETCH_DEAD;
    silk_free(f);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    silk_downloader *d = arg;
    (void)fd;
    (void)what;
    /* Take the queue as it is now: callbacks may finish more fetches. */
    silk_list batch;
    silk_list_init(&batch);
    if (!silk_list_empty(&d->done_queue)) {
        batch.next = d->done_queue.next;
        batch.prev = d->done_queue.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        silk_list_init(&d->done_queue);
    }
    while (!silk_list_empty(&batch)) {
        silk_fetch *f = silk_container_of(batch.next, silk_fetch, link);
        silk_list_del(&f->link);
        if (f->done)
            f->done(f->arg, f->req, &f->res);
        fetch_free(f);
    }
}

static void set_failure(silk_fetch *f, int code, const char *type, const char *msg)
{
    silk_failure_free(f->res.failure);
    f->res.failure = silk_failure_new(code, type, msg, f->req, NULL);
    f->res.kind = SILK_FETCH_FAILURE;
    silk_unref(f->res.response);
    f->res.response = NULL;
}

/* ---------- the middleware chain ---------- */

static void chain_run(silk_fetch *f);
static void slot_enqueue(silk_fetch *f);
static void slot_process(silk_downloader *d, slot *s);

/* Applies a middleware's answer; returns true when the chain should go on
 * with chain_run. The rules are those of Scrapy's
 * DownloaderMiddlewareManager.download. */
static bool chain_apply(silk_fetch *f, silk_mw_result r, silk_mw_out *out)
{
    switch (r) {
    case SILK_MW_CONTINUE:
        if (out->response && f->ph == PH_RESPONSE) { /* a replacement response */
            silk_unref(f->res.response);
            f->res.response = out->response;
            out->response = NULL;
        }
        if (f->ph == PH_REQUEST)
            f->mw_index++;
        else
            f->mw_index--;
        break;
    case SILK_MW_RESPONSE:
        if (!out->response) {
            set_failure(f, SILK_EINVAL, "TypeError", "middleware returned RESPONSE without a response");
            f->ph = PH_DONE;
            break;
        }
        silk_unref(f->res.response);
        f->res.response = out->response;
        out->response = NULL;
        silk_failure_free(f->res.failure);
        f->res.failure = NULL;
        f->res.kind = SILK_FETCH_RESPONSE;
        if (f->ph == PH_RESPONSE) {
            f->mw_index--;
        } else {
            /* from process_request / process_exception: every
             * process_response runs, as in Scrapy */
            f->ph = PH_RESPONSE;
            f->mw_index = (int)f->d->nmws - 1;
        }
        break;
    case SILK_MW_REQUEST:
        if (!out->request) {
            set_failure(f, SILK_EINVAL, "TypeError", "middleware returned REQUEST without a request");
        } else {
            silk_unref(f->res.response);
            f->res.response = NULL;
            silk_failure_free(f->res.failure);
            f->res.failure = NULL;
            silk_unref(f->res.request);
            f->res.request = out->request;
            out->request = NULL;
            f->res.kind = SILK_FETCH_REQUEST;
        }
        f->ph = PH_DONE;
        break;
    case SILK_MW_DROP:
    case SILK_MW_FAILURE: {
        silk_failure *fail = out->failure;
        out->failure = NULL;
        if (!fail)
            fail = silk_failure_new(SILK_EINVAL, "scrapy.exceptions.IgnoreRequest", "", f->req, NULL);
        silk_failure_free(f->res.failure);
        f->res.failure = fail;
        f->res.kind = SILK_FETCH_FAILURE;
        silk_unref(f->res.response);
        f->res.response = NULL;
        if (!fail) {
            f->ph = PH_DONE; /* out of memory: straight to the callback */
        } else if (f->ph == PH_REQUEST) {
            /* what process_request raises (IgnoreRequest included) goes
             * through every process_exception, from the last middleware */
            f->ph = PH_EXCEPTION;
            f->mw_index = (int)f->d->nmws - 1;
        } else {
            /* raised by process_response/process_exception: to the errback */
            f->ph = PH_DONE;
        }
        break;
    }
    case SILK_MW_PENDING:
        f->pending = true;
        return false;
    }
    /* out may still hold things the chain did not take */
    silk_unref(out->request);
    silk_unref(out->response);
    silk_failure_free(out->failure);
    memset(out, 0, sizeof *out);
    return true;
}

void silk_mw_resume(silk_fetch *f, silk_mw_result r, silk_mw_out *out)
{
    silk_mw_out empty = { 0 };
    if (!out)
        out = &empty;
    if (!f || f->magic != FETCH_MAGIC || !f->pending || r == SILK_MW_PENDING) {
        silk_log(SILK_LOG_ERROR, LOGGER, "silk_mw_resume on a fetch that is not pending: ignored");
        silk_unref(out->request);
        silk_unref(out->response);
        silk_failure_free(out->failure);
        memset(out, 0, sizeof *out);
        return;
    }
    f->pending = false;
    if (chain_apply(f, r, out))
        chain_run(f);
}

static void chain_run(silk_fetch *f)
{
    silk_downloader *d = f->d;
    for (;;) {
        silk_mw_out out = { 0 };
        silk_mw_result r;
        if (f->ph == PH_REQUEST) {
            if (f->raw || f->mw_index >= (int)d->nmws) {
                slot_enqueue(f);
                return;
            }
            silk_downloader_mw *mw = d->mws[f->mw_index];
            if (!mw->process_request) {
                f->mw_index++;
                continue;
            }
            r = mw->process_request(mw, f, f->req, &out);
        } else if (f->ph == PH_RESPONSE || f->ph == PH_EXCEPTION) {
            if (f->raw || f->mw_index < 0) {
                f->ph = PH_DONE;
                continue;
            }
            silk_downloader_mw *mw = d->mws[f->mw_index];
            if (f->ph == PH_RESPONSE && mw->process_response)
                r = mw->process_response(mw, f, f->req, f->res.response, &out);
            else if (f->ph == PH_EXCEPTION && mw->process_exception)
                r = mw->process_exception(mw, f, f->req, f->res.failure, &out);
            else {
                f->mw_index--;
                continue;
            }
        } else {
            fetch_finish(f);
            return;
        }
        if (!chain_apply(f, r, &out))
            return;
    }
}

/* ---------- curl glue ---------- */

static void check_multi_info(silk_downloader *d);

static void multi_action(silk_downloader *d, curl_socket_t fd, int action)
{
    int running = 0;
    d->in_multi = true;
    CURLMcode rc = curl_multi_socket_action(d->multi, fd, action, &running);
    d->in_multi = false;
    if (rc != CURLM_OK)
        silk_log(SILK_LOG_ERROR, LOGGER, "curl_multi_socket_action: %s", curl_multi_strerror(rc));
    check_multi_info(d);
}

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    silk_downloader *d = arg;
    int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    multi_action(d, fd, action);
}

static void on_curl_timer(evutil_socket_t fd, short kind, void *arg)
{
    (void)fd;
    (void)kind;
    multi_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    silk_downloader *d = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(d->curl_timer);
        return 0;
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evtimer_add(d->curl_timer, &tv);
    return 0;
}

static void sockinfo_free(sockinfo *si)
{
    if (si->added)
        event_del(&si->ev);
    silk_list_del(&si->link);
    silk_free(si);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    silk_downloader *d = userp;
    sockinfo *si = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            curl_multi_assign(d->multi, s, NULL);
            sockinfo_free(si);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                         EV_PERSIST);
    if (!si) {
        si = silk_calloc(1, sizeof *si);
        if (!si)
            return -1;
        si->fd = s;
        si->d = d;
        silk_list_add_tail(&d->sockets, &si->link);
        curl_multi_assign(d->multi, s, si);
    } else if (si->added) {
        event_del(&si->ev);
        si->added = false;
    }
    if (event_assign(&si->ev, d->base, s, kind, on_socket_event, d) != 0 || event_add(&si->ev, NULL) != 0) {
        silk_log(SILK_LOG_ERROR, LOGGER, "cannot watch socket %d", (int)s);
        return -1;
    }
    si->added = true;
    return 0;
}

static int body_reserve(silk_fetch *f, size_t need)
{
    if (need <= f->body_cap)
        return 0;
    size_t cap = f->body_cap ? f->body_cap * 2 : 16384;
    if (cap < need)
        cap = need;
    /* never hold more than the limit allows, even as spare capacity */
    if (f->maxsize > 0 && cap > (size_t)f->maxsize + 1)
        cap = (size_t)f->maxsize + 1 > need ? (size_t)f->maxsize + 1 : need;
    char *b = silk_realloc(f->body, cap);
    if (!b)
        return SILK_ENOMEM;
    f->body = b;
    f->body_cap = cap;
    return 0;
}

static bool decodable(const char *ce)
{
    /* what curl's unencoding stack handles (others make it fail) */
    static const char *const known[] = { "gzip", "x-gzip", "deflate", "br", "zstd", "identity" };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcasecmp(ce, known[i]) == 0)
            return true;
    return false;
}

static void end_of_headers(silk_fetch *f)
{
    const char *cl = silk_headers_get(&f->rheaders, "Content-Length");
    long long expected = -1;
    if (cl) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(cl, &end, 10);
        if (end != cl && !errno && v >= 0)
            expected = v;
    }
    const char *ce = silk_headers_get(&f->rheaders, "Content-Encoding");
    bool encoded = ce && f->decoding && strcasecmp(ce, "identity") != 0;
    if (expected > 0 && f->maxsize > 0 && expected > f->maxsize) {
        f->too_large = true;
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "Cancelling download of %s: expected response size (%lld) larger than download max "
                 "size (%lld).",
                 f->req->url, expected, (long long)f->maxsize);
        return;
    }
    if (expected > 0 && f->warnsize > 0 && expected > f->warnsize && !f->warned) {
        f->warned = true;
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "Expected response size (%lld) larger than download warn size (%lld) in request <%s %s>.",
                 expected, (long long)f->warnsize, f->req->method, f->req->url);
    }
    /* a body of known size is allocated once */
    if (expected > 0 && !encoded && expected < (1ll << 30))
        body_reserve(f, (size_t)expected + 1);
}

static size_t header_cb(char *data, size_t size, size_t n, void *userp)
{
    silk_fetch *f = userp;
    size_t len = size * n;
    size_t l = len;
    while (l && (data[l - 1] == '\r' || data[l - 1] == '\n'))
        l--;
    f->rheader_bytes += len;
    if (f->rheader_bytes > MAX_HEADER_BYTES) {
        f->headers_too_large = true;
        return 0;
    }
    if (l >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new status line (after 100 Continue or a proxy CONNECT) */
        silk_headers_clear(&f->rheaders);
        const char *sp = memchr(data, ' ', l);
        f->status = sp ? atoi(sp + 1) : 0;
        return len;
    }
    if (l == 0) {
        if (f->status >= 200 || f->status == 0)
            end_of_headers(f);
        return f->too_large ? 0 : len;
    }
    if ((data[0] == ' ' || data[0] == '\t') && f->rheaders.len) {
        /* obsolete line folding: append to the previous value */
        silk_header *h = &f->rheaders.items[f->rheaders.len - 1];
        char *v = silk_asprintf("%s %.*s", h->value, (int)l, data);
        if (v) {
            silk_free(h->value);
            h->value = v;
        }
        return len;
    }
    const char *colon = memchr(data, ':', l);
    if (!colon || colon == data)
        return len; /* not a header: ignore, as browsers do */
    size_t nl = (size_t)(colon - data);
    while (nl && (data[nl - 1] == ' ' || data[nl - 1] == '\t'))
        nl--;
    const char *v = colon + 1;
    while (v < data + l && (*v == ' ' || *v == '\t'))
        v++;
    char name[256];
    if (nl == 0 || nl >= sizeof name)
        return len;
    memcpy(name, data, nl);
    name[nl] = '\0';
    size_t vl = (size_t)(data + l - v);
    char small[1024];
    char *value = vl < sizeof small ? small : silk_malloc(vl + 1);
    if (!value)
        return len;
    memcpy(value, v, vl);
    value[vl] = '\0';
    if (f->rheaders.cap == 0) {
        /* one allocation for a typical response's headers */
        silk_header *items = silk_malloc(16 * sizeof *items);
        if (items) {
            f->rheaders.items = items;
            f->rheaders.cap = 16;
        }
    }
    silk_headers_add(&f->rheaders, name, value); /* a malformed one is dropped */
    if (value != small)
        silk_free(value);
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    silk_fetch *f = userp;
    size_t len = size * n;
    if (f->maxsize > 0 && f->body_len + len > (size_t)f->maxsize) {
        f->too_large = true;
        const char *ce = silk_headers_get(&f->rheaders, "Content-Encoding");
        if (ce && f->decoding && strcasecmp(ce, "identity") != 0)
            silk_log(SILK_LOG_WARNING, LOGGER,
                     "Received (%zu) bytes larger than download max size (%lld) in request <%s %s> "
                     "(decoded from Content-Encoding: %s): cancelled.",
                     f->body_len + len, (long long)f->maxsize, f->req->method, f->req->url, ce);
        else
            silk_log(SILK_LOG_WARNING, LOGGER,
                     "Received (%zu) bytes larger than download max size (%lld) in request <%s %s>.",
                     f->body_len + len, (long long)f->maxsize, f->req->method, f->req->url);
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (f->warnsize > 0 && !f->warned && f->body_len + len > (size_t)f->warnsize) {
        f->warned = true;
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "Received more bytes than download warn size (%lld) in request <%s %s>.",
                 (long long)f->warnsize, f->req->method, f->req->url);
    }
    if (body_reserve(f, f->body_len + len + 1))
        return 0;
    memcpy(f->body + f->body_len, data, len);
    f->body_len += len;
    f->body[f->body_len] = '\0';
    return len;
}

static const char *curl_failure_type(CURLcode rc, bool got_response)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "twisted.internet.error.DNSLookupError";
    case CURLE_COULDNT_CONNECT: return "twisted.internet.error.ConnectionRefusedError";
    case CURLE_OPERATION_TIMEDOUT: return "twisted.internet.error.TimeoutError";
    case CURLE_GOT_NOTHING: return "twisted.web._newclient.ResponseNeverReceived";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED: return "OpenSSL.SSL.Error";
    case CURLE_UNSUPPORTED_PROTOCOL: return "scrapy.exceptions.NotSupported";
    case CURLE_URL_MALFORMAT: return "ValueError";
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP3:
        return got_response ? "twisted.web._newclient.ResponseFailed"
                            : "twisted.web._newclient.ResponseNeverReceived";
    default: return "twisted.internet.error.ConnectError";
    }
}

static int curl_failure_code(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return SILK_ETIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED: return SILK_ETLS;
    case CURLE_UNSUPPORTED_PROTOCOL: return SILK_ESCHEME;
    case CURLE_URL_MALFORMAT: return SILK_EURL;
    default: return SILK_ENET;
    }
}

/* Python's repr of a float, for the timeout message ("180.0", "0.5"). */
static void py_float(double v, char *out, size_t n)
{
    snprintf(out, n, "%.17g", v);
    for (int prec = 1; prec <= 17; prec++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            snprintf(out, n, "%s", tmp);
            break;
        }
    }
    if (!strpbrk(out, ".eEn"))
        strncat(out, ".0", n - strlen(out) - 1);
}

/* The failure's message, worded as Twisted/Scrapy word theirs. */
static void failure_message(silk_fetch *f, CURLcode rc, char *msg, size_t n)
{
    const char *detail = f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc);
    char *host = NULL;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: {
        char t[64];
        py_float(f->timeout, t, sizeof t);
        snprintf(msg, n, "User timeout caused connection failure: Getting %s took longer than %s seconds..",
                 f->req->url, t);
        break;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
        silk_url_host(f->req->url, &host);
        snprintf(msg, n, "DNS lookup failed: no results for hostname lookup: %s.", host ? host : "");
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(msg, n, "Connection was refused by other side: %s.", detail);
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
        if (f->status > 0) {
            snprintf(msg, n, "[<twisted.python.failure.Failure twisted.internet.error.ConnectionLost: "
                             "Connection to the other side was lost in a non-clean fashion.>]: %s", detail);
            break;
        }
        /* fall through */
    default:
        snprintf(msg, n, "%s", detail);
        break;
    }
    silk_free(host);
}

static void transfer_done(silk_fetch *f, CURLcode rc)
{
    silk_downloader *d = f->d;
    slot *s = f->slot;
    curl_multi_remove_handle(d->multi, f->easy);
    d->transferring--;
    double latency = (double)(silk_now_ns() - f->start_ns) / 1e9;
    curl_off_t ttfb = 0, wire = 0;
    if (curl_easy_getinfo(f->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb) == CURLE_OK && ttfb > 0)
        latency = (double)ttfb / 1e6;
    if (curl_easy_getinfo(f->easy, CURLINFO_SIZE_DOWNLOAD_T, &wire) == CURLE_OK && wire > 0)
        f->wire_bytes = (uint64_t)wire;
    long nconn = 0;
    if (curl_easy_getinfo(f->easy, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
        d->connections += (uint64_t)nconn;
    char *ip = NULL;
    long httpver = 0;
    curl_easy_getinfo(f->easy, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(f->easy, CURLINFO_HTTP_VERSION, &httpver);
    char *ipcopy = ip && *ip ? silk_strdup(ip) : NULL;
    if (d->easy_pool_len < EASY_POOL_MAX) {
        /* kept as it is: transfer_start sets every option it ever sets,
         * so nothing of this transfer leaks into the next one; only the
         * pointers into this fetch go */
        curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(f->easy, CURLOPT_PRIVATE, NULL);
        d->easy_pool[d->easy_pool_len++] = f->easy;
    } else {
        curl_easy_cleanup(f->easy);
    }
    f->easy = NULL;
    if (f->hdrs) {
        curl_slist_free_all(f->hdrs);
        f->hdrs = NULL;
    }
    if (f->proxy_hdrs) {
        curl_slist_free_all(f->proxy_hdrs);
        f->proxy_hdrs = NULL;
    }
    s->transferring--;
    s->active--;
    silk_value *meta = silk_request_meta(f->req);
    if (meta)
        silk_dict_set_double(meta, "download_latency", latency);

    bool dataloss = (rc == CURLE_PARTIAL_FILE) && f->status > 0 &&
                    !silk_dict_get_bool(f->req->meta, "download_fail_on_dataloss", d->fail_on_dataloss);
    if ((rc == CURLE_OK || dataloss) && !f->too_large && !f->headers_too_large) {
        const char *ce = silk_headers_get(&f->rheaders, "Content-Encoding");
        if (ce && f->decoding && decodable(ce)) {
            f->content_encoding = silk_strdup(ce);
            silk_headers_del(&f->rheaders, "Content-Encoding");
        }
        size_t blen = f->body_len;
        char *body = f->body;
        if (!body) {
            body = silk_strdup("");
        } else if (f->body_cap > blen + 1 + 4096) {
            char *shrunk = silk_realloc(body, blen + 1);
            if (shrunk)
                body = shrunk;
        }
        f->body = NULL;
        f->body_len = f->body_cap = 0;
        silk_type *t = silk_response_type_for(&f->rheaders, f->req->url, body, blen);
        silk_response *resp = NULL;
        if (!body || silk_response_new_own(t, f->req->url, f->status, body, blen, f->req, &resp)) {
            set_failure(f, SILK_ENOMEM, "MemoryError", "out of memory building the response");
        } else {
            resp->headers = f->rheaders;
            silk_headers_init(&f->rheaders);
            resp->ip_address = ipcopy;
            ipcopy = NULL;
            resp->protocol = silk_strdup(httpver == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
                                         : httpver == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
                                         : httpver == CURL_HTTP_VERSION_3   ? "HTTP/3"
                                                                            : "HTTP/1.1");
            if (dataloss) {
                if (!resp->flags)
                    resp->flags = silk_value_new_list();
                if (resp->flags)
                    silk_list_push(resp->flags, silk_value_new_string("dataloss"));
            }
            f->res.kind = SILK_FETCH_RESPONSE;
            f->res.response = resp;
        }
    } else {
        const char *type;
        char msg[CURL_ERROR_SIZE + 512];
        int code;
        if (f->too_large) {
            type = "twisted.internet.defer.CancelledError";
            code = SILK_ELIMIT;
            snprintf(msg, sizeof msg, "Cancelling download of %s: response larger than download max size (%lld).",
                     f->req->url, (long long)f->maxsize);
        } else if (f->headers_too_large) {
            type = "twisted.web._newclient.ResponseFailed";
            code = SILK_ELIMIT;
            snprintf(msg, sizeof msg, "response headers of %s larger than %zu bytes", f->req->url,
                     MAX_HEADER_BYTES);
        } else {
            type = curl_failure_type(rc, f->status > 0);
            code = curl_failure_code(rc);
            failure_message(f, rc, msg, sizeof msg);
        }
        set_failure(f, code, type, msg);
    }
    silk_free(ipcopy);
    silk_free(f->body);
    f->body = NULL;
    f->body_len = f->body_cap = 0;
    f->ph = f->res.kind == SILK_FETCH_FAILURE ? PH_EXCEPTION : PH_RESPONSE;
    f->mw_index = (int)d->nmws - 1;
    f->slot = NULL;
    chain_run(f);
    /* a slot freed up: start what waits in it */
    slot_process(d, s);
}

static void check_multi_info(silk_downloader *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        silk_fetch *f = NULL;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&f);
        if (f)
            transfer_done(f, rc);
    }
}

static int slist_add(struct curl_slist **l, const char *line)
{
    struct curl_slist *n = curl_slist_append(*l, line);
    if (!n)
        return SILK_ENOMEM;
    *l = n;
    return 0;
}

/* Options that are the same for every transfer of this downloader: set
 * once per easy handle. */
static CURL *easy_new(silk_downloader *d)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,ftp,file");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, d->verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, d->verify ? 2L : 0L);
    if (d->verify && d->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, d->ca_file);
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, d->dnscache ? 600L : 0L);
    /* Decoding follows COMPRESSION_ENABLED: curl then decodes whatever the
     * server encoded (HttpCompressionMiddleware sets Scrapy's
     * Accept-Encoding, which curl sends instead of its own). Off, the body
     * arrives as sent, Content-Encoding kept, as in Scrapy. */
    if (d->compression)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    else
        curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    return e;
}

static void bind_address(silk_fetch *f, CURL *e)
{
    const char *iface = NULL;
    long port = 0;
    const silk_value *b = silk_dict_get(f->req->meta, "bindaddress");
    if (b) {
        const silk_value *host = b->kind == SILK_V_LIST ? silk_list_get(b, 0) : b;
        if (host && host->kind == SILK_V_STRING && host->u.s.len)
            iface = host->u.s.ptr;
        const silk_value *pv = b->kind == SILK_V_LIST ? silk_list_get(b, 1) : NULL;
        if (pv && pv->kind == SILK_V_INT && pv->u.i > 0 && pv->u.i < 65536)
            port = (long)pv->u.i;
    }
    curl_easy_setopt(e, CURLOPT_INTERFACE, iface);
    curl_easy_setopt(e, CURLOPT_LOCALPORT, port);
}

static int transfer_start(silk_fetch *f)
{
    silk_downloader *d = f->d;
    silk_request *r = f->req;
    CURL *e = d->easy_pool_len ? d->easy_pool[--d->easy_pool_len] : easy_new(d);
    if (!e)
        return silk_error(SILK_ENOMEM, "curl_easy_init failed");
    f->easy = e;
    f->errbuf[0] = '\0';
    f->status = 0;
    f->start_ns = silk_now_ns();
    f->timeout = silk_dict_get_double(r->meta, "download_timeout", d->timeout);
    f->maxsize = silk_dict_get_int(r->meta, "download_maxsize", d->maxsize);
    f->warnsize = silk_dict_get_int(r->meta, "download_warnsize", d->warnsize);
    f->decoding = d->compression;

    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    long ms = 0;
    if (f->timeout > 0)
        ms = f->timeout * 1000 < 1 ? 1 : (long)(f->timeout * 1000);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
    /* the proxy comes from meta (HttpProxyMiddleware); never from curl's
     * own reading of the environment */
    const char *proxy = silk_dict_get_str(r->meta, "proxy", NULL);
    curl_easy_setopt(e, CURLOPT_PROXY, proxy ? proxy : "");
    bind_address(f, e);

    struct curl_slist *h = NULL, *ph = NULL;
    char line[8192];
    bool has_accept = false;
    for (size_t i = 0; i < r->headers.len; i++) {
        const silk_header *hd = &r->headers.items[i];
        int n = snprintf(line, sizeof line, "%s: %s", hd->name, hd->value);
        char *big = NULL;
        const char *use = line;
        if (n < 0)
            continue;
        if ((size_t)n >= sizeof line) {
            big = silk_asprintf("%s: %s", hd->name, hd->value);
            if (!big)
                goto nomem;
            use = big;
        }
        /* the proxy's credentials go to the proxy only, never to the site
         * at the end of a CONNECT tunnel */
        bool to_proxy = strcasecmp(hd->name, "Proxy-Authorization") == 0;
        int rc = to_proxy ? (proxy ? slist_add(&ph, use) : 0) : slist_add(&h, use);
        silk_free(big);
        if (rc)
            goto nomem;
        has_accept |= strcasecmp(hd->name, "Accept") == 0;
    }
    if (h || has_accept) {
        if (slist_add(&h, "Expect:") || (!has_accept && slist_add(&h, "Accept:")))
            goto nomem;
        f->hdrs = h;
    }
    f->proxy_hdrs = ph;
    /* no header of its own: the downloader's shared list (no Expect, no
     * Accept: curl adds neither then) */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h ? h : d->no_headers);
    curl_easy_setopt(e, CURLOPT_PROXYHEADER, ph);

    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLMcode mc = curl_multi_add_handle(d->multi, e);
    if (mc != CURLM_OK) {
        curl_easy_cleanup(e);
        f->easy = NULL;
        return silk_error(SILK_ENET, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    d->transferring++;
    f->ph = PH_TRANSFER;
    return 0;
nomem:
    curl_slist_free_all(h);
    curl_slist_free_all(ph);
    f->hdrs = f->proxy_hdrs = NULL;
    curl_easy_cleanup(e);
    f->easy = NULL;
    return silk_error(SILK_ENOMEM, "out of memory preparing the transfer");
}

/* ---------- slot scheduling ---------- */

static double slot_delay(const slot *s)
{
    if (!s->randomize || s->delay <= 0)
        return s->delay;
    return s->delay * (0.5 + (double)rand() / ((double)RAND_MAX + 1.0));
}

/* Starts what a slot may start now (Scrapy's Downloader._process_queue):
 * with a delay, one transfer per delay period; without, up to the slot's
 * concurrency. A slot that must wait goes into the heap. */
static void slot_process(silk_downloader *d, slot *s)
{
    if (d->freeing)
        return;
    uint64_t now = silk_now_ns();
    while (s->queued > 0 && s->transferring < s->concurrency) {
        if (s->delay > 0 && s->lastseen_ns) {
            uint64_t next = s->lastseen_ns + (uint64_t)(slot_delay(s) * 1e9);
            if (next > now) {
                s->ready_at_ns = next;
                if (heap_push(d, s) == 0)
                    arm_slot_timer(d);
                return;
            }
        }
        silk_fetch *f = silk_container_of(s->queue.next, silk_fetch, link);
        silk_list_del(&f->link);
        s->queued--;
        s->transferring++;
        if (s->transferring > s->peak)
            s->peak = s->transferring;
        s->lastseen_ns = now;
        if (transfer_start(f)) {
            s->transferring--;
            s->active--;
            set_failure(f, SILK_ENOMEM, "MemoryError", silk_last_error());
            f->ph = PH_EXCEPTION;
            f->mw_index = (int)d->nmws - 1;
            f->slot = NULL;
            chain_run(f);
            continue;
        }
        if (s->delay > 0)
            break; /* one request per delay period, as Scrapy's slots */
    }
    if (s->queued > 0 && s->delay > 0 && s->transferring < s->concurrency) {
        s->ready_at_ns = s->lastseen_ns + (uint64_t)(slot_delay(s) * 1e9);
        if (heap_push(d, s) == 0)
            arm_slot_timer(d);
    }
}

static void on_slot_timer(evutil_socket_t fd, short what, void *arg)
{
    silk_downloader *d = arg;
    (void)fd;
    (void)what;
    uint64_t now = silk_now_ns();
    while (d->heap_len && d->heap[0]->ready_at_ns <= now)
        slot_process(d, heap_pop(d));
    arm_slot_timer(d);
}

/* The slot key: meta download_slot, else the URL's host. */
static char *slot_key(const silk_request *r)
{
    const char *forced = silk_dict_get_str(r->meta, "download_slot", NULL);
    if (forced)
        return silk_strdup(forced);
    char *host = NULL;
    if (silk_url_host(r->url, &host) || !host)
        return silk_strdup("");
    return host;
}

/* The slot of a request, found without allocating in the common case. */
static slot *slot_of(silk_downloader *d, const silk_request *r)
{
    char fast[256];
    if (!silk_dict_get(r->meta, "download_slot") && silk__url_host_fast(r->url, fast, sizeof fast))
        return slot_get(d, fast);
    char *key = slot_key(r);
    slot *s = key ? slot_get(d, key) : NULL;
    silk_free(key);
    return s;
}

/* ---------- slots per IP ---------- */

static bool is_ip_literal(const char *h)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static dnsent *dns_find(silk_downloader *d, const char *host)
{
    if (!d->dns_nbuckets)
        return NULL;
    for (dnsent *e = d->dns_buckets[hash_str(host) & (d->dns_nbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->host, host) == 0)
            return e;
    return NULL;
}

static dnsent *dns_new(silk_downloader *d, const char *host)
{
    if (d->ndns + 1 > d->dns_nbuckets) {
        size_t n = d->dns_nbuckets ? d->dns_nbuckets * 2 : 64;
        dnsent **b = silk_calloc(n, sizeof *b);
        if (!b)
            return NULL;
        for (size_t i = 0; i < d->dns_nbuckets; i++) {
            for (dnsent *e = d->dns_buckets[i], *next; e; e = next) {
                next = e->hnext;
                size_t h = hash_str(e->host) & (n - 1);
                e->hnext = b[h];
                b[h] = e;
            }
        }
        silk_free(d->dns_buckets);
        d->dns_buckets = b;
        d->dns_nbuckets = n;
    }
    dnsent *e = silk_calloc(1, sizeof *e);
    if (!e || !(e->host = silk_strdup(host))) {
        silk_free(e);
        return NULL;
    }
    e->d = d;
    silk_list_init(&e->waiters);
    size_t h = hash_str(host) & (d->dns_nbuckets - 1);
    e->hnext = d->dns_buckets[h];
    d->dns_buckets[h] = e;
    d->ndns++;
    return e;
}

static void slot_enqueue_in(silk_fetch *f, slot *s);

static void dns_done(int result, struct evutil_addrinfo *res, void *arg)
{
    dnsent *e = arg;
    silk_downloader *d = e->d;
    e->req = NULL;
    e->resolving = false;
    if (result == EVUTIL_EAI_CANCEL) { /* the downloader is closing */
        if (res)
            evutil_freeaddrinfo(res);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (result == 0 && res && res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, ip, sizeof ip);
    if (res)
        evutil_freeaddrinfo(res);
    silk_free(e->ip);
    e->ip = *ip ? silk_strdup(ip) : NULL;
    /* a name that does not resolve keeps its own slot: curl reports the
     * DNS error on each request */
    e->expires_ns = silk_now_ns() + (e->ip ? DNS_TTL_NS : DNS_FAIL_TTL_NS);
    while (!silk_list_empty(&e->waiters)) {
        silk_fetch *f = silk_container_of(e->waiters.next, silk_fetch, link);
        silk_list_del(&f->link);
        slot_enqueue_in(f, slot_get(d, e->ip ? e->ip : e->host));
    }
}

/* Queues f behind its host's resolution; false when it can go on at once
 * with *key (the IP, or the host). */
static bool dns_wait(silk_fetch *f, const char *host, const char **key)
{
    silk_downloader *d = f->d;
    *key = host;
    if (is_ip_literal(host))
        return false;
    dnsent *e = dns_find(d, host);
    if (!e && !(e = dns_new(d, host)))
        return false;
    if (!e->resolving && e->expires_ns && e->expires_ns > silk_now_ns()) {
        *key = e->ip ? e->ip : e->host;
        return false;
    }
    if (!d->dns && !(d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                           EVDNS_BASE_DISABLE_WHEN_INACTIVE)))
        return false; /* no resolver: slots by host */
    f->ph = PH_RESOLVE;
    silk_list_add_tail(&e->waiters, &f->link);
    if (!e->resolving) {
        struct evutil_addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET; /* as Scrapy's dnscache: gethostbyname */
        hints.ai_socktype = SOCK_STREAM;
        e->resolving = true;
        /* may answer at once (hosts file, an error): dns_done then ran */
        struct evdns_getaddrinfo_request *r = evdns_getaddrinfo(d->dns, host, NULL, &hints, dns_done, e);
        if (e->resolving)
            e->req = r;
    }
    return true;
}

static void slot_enqueue_in(silk_fetch *f, slot *s)
{
    silk_downloader *d = f->d;
    if (!s) {
        set_failure(f, SILK_ENOMEM, "MemoryError", "out of memory queueing the request");
        f->ph = PH_EXCEPTION;
        f->mw_index = (int)d->nmws - 1;
        chain_run(f);
        return;
    }
    f->slot = s;
    f->ph = PH_SLOT;
    s->active++;
    s->queued++;
    silk_list_add_tail(&s->queue, &f->link);
    slot_process(d, s);
}

static void slot_enqueue(silk_fetch *f)
{
    silk_downloader *d = f->d;
    char host[256];
    if (d->per_ip && !silk_dict_get(f->req->meta, "download_slot") &&
        silk__url_host_fast(f->req->url, host, sizeof host)) {
        const char *key;
        if (dns_wait(f, host, &key))
            return;
        slot_enqueue_in(f, slot_get(d, key));
        return;
    }
    slot_enqueue_in(f, slot_of(d, f->req));
}

static void on_gc(evutil_socket_t fd, short what, void *arg)
{
    silk_downloader *d = arg;
    (void)fd;
    (void)what;
    uint64_t now = silk_now_ns();
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (slot *s = d->buckets[i], *next; s; s = next) {
            next = s->hnext;
            if (s->active == 0 && s->heap_idx == SIZE_MAX && now - s->lastseen_ns > SLOT_IDLE_GC_NS) {
                slot_unlink(d, s);
                slot_free(s);
            }
        }
    }
    for (size_t i = 0; i < d->dns_nbuckets; i++) {
        for (dnsent **pp = &d->dns_buckets[i]; *pp;) {
            dnsent *e = *pp;
            if (!e->resolving && silk_list_empty(&e->waiters) && e->expires_ns < now) {
                *pp = e->hnext;
                d->ndns--;
                silk_free(e->host);
                silk_free(e->ip);
                silk_free(e);
            } else {
                pp = &e->hnext;
            }
        }
    }
}

/* ---------- public ---------- */

static int read_settings(silk_downloader *d, silk_settings *st)
{
    int64_t total = 16, dom = 8, ip = 0, maxsize = 1073741824, warnsize = 33554432;
    double delay = 0, timeout = 180;
    bool randomize = true, verify = false, compression = true, dnscache = true, dataloss = true;
    const char *ca = NULL;
    int rc;
#define GET(fn, key, var)                                                                   \
    if ((rc = fn(st, key, &var)) && rc != SILK_ENOTFOUND)                                  \
        return rc;
    GET(silk_settings_get_int, "CONCURRENT_REQUESTS", total)
    GET(silk_settings_get_int, "CONCURRENT_REQUESTS_PER_DOMAIN", dom)
    GET(silk_settings_get_int, "CONCURRENT_REQUESTS_PER_IP", ip)
    GET(silk_settings_get_double, "DOWNLOAD_DELAY", delay)
    GET(silk_settings_get_bool, "RANDOMIZE_DOWNLOAD_DELAY", randomize)
    GET(silk_settings_get_double, "DOWNLOAD_TIMEOUT", timeout)
    GET(silk_settings_get_int, "DOWNLOAD_MAXSIZE", maxsize)
    GET(silk_settings_get_int, "DOWNLOAD_WARNSIZE", warnsize)
    GET(silk_settings_get_bool, "DOWNLOAD_VERIFY_CERTIFICATES", verify)
    GET(silk_settings_get_bool, "COMPRESSION_ENABLED", compression)
    GET(silk_settings_get_bool, "DNSCACHE_ENABLED", dnscache)
    GET(silk_settings_get_bool, "DOWNLOAD_FAIL_ON_DATALOSS", dataloss)
#undef GET
    const silk_value *cav = silk_settings_get(st, "DOWNLOAD_CA_CERTS");
    if (cav && cav->kind == SILK_V_STRING && cav->u.s.len)
        ca = cav->u.s.ptr;
    if (total < 1 || dom < 0 || ip < 0)
        return silk_error(SILK_EINVAL,
                          "setting CONCURRENT_REQUESTS must be >= 1 and the per-domain/IP limits >= 0");
    if (delay < 0 || timeout < 0 || !isfinite(delay) || !isfinite(timeout))
        return silk_error(SILK_EINVAL, "settings DOWNLOAD_DELAY and DOWNLOAD_TIMEOUT must be >= 0");
    d->total_concurrency = (size_t)total;
    d->per_domain = (size_t)(dom ? dom : total);
    d->per_ip = (size_t)ip;
    d->delay = delay;
    d->randomize_delay = randomize;
    d->timeout = timeout;
    d->maxsize = maxsize;
    d->warnsize = warnsize;
    d->verify = verify;
    d->compression = compression;
    d->dnscache = dnscache;
    d->fail_on_dataloss = dataloss;
    if (ca && !(d->ca_file = silk_strdup(ca)))
        return SILK_ENOMEM;
    return 0;
}

/* glibc gives freed heap back to the kernel as soon as the top of the
 * heap holds 128 KiB, and a crawl frees and reallocates response bodies all
 * the time: most of the allocator's cost became brk() calls and page
 * faults. Keeping MALLOC_TRIM_THRESHOLD_MB (default 32) of free heap halves
 * the CPU a response costs. Once per process, and never over the user's own
 * MALLOC_TRIM_THRESHOLD_ / GLIBC_TUNABLES. */
static void tune_malloc(const silk_settings *st)
{
    static bool done;
    if (done)
        return;
    done = true;
    int64_t mb = st ? silk_settings_int(st, "MALLOC_TRIM_THRESHOLD_MB", 32) : 32;
    if (mb <= 0 || getenv("MALLOC_TRIM_THRESHOLD_") || getenv("GLIBC_TUNABLES"))
        return;
#ifdef M_TRIM_THRESHOLD
    if (mb > 1024)
        mb = 1024;
    mallopt(M_TRIM_THRESHOLD, (int)(mb << 20));
    mallopt(M_TOP_PAD, 1 << 20);
#endif
}

int silk_downloader_new(struct event_base *base, silk_settings *settings, silk_stats *stats,
                        silk_downloader **out)
{
    static int curl_ready;
    *out = NULL;
    if (!base)
        return silk_error(SILK_EINVAL, "silk_downloader_new needs an event_base");
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return silk_error(SILK_ENET, "curl_global_init failed");
        curl_ready = 1;
    }
    silk_downloader *d = silk_calloc(1, sizeof *d);
    if (!d)
        return SILK_ENOMEM;
    d->base = base;
    d->settings = settings;
    d->stats = stats;
    silk_list_init(&d->done_queue);
    silk_list_init(&d->fetches);
    silk_list_init(&d->sockets);
    silk_list_init(&d->owned_mws);
    d->total_concurrency = 16;
    d->per_domain = 8;
    d->timeout = 180;
    d->maxsize = 1073741824;
    d->warnsize = 33554432;
    d->randomize_delay = true;
    d->compression = true;
    d->dnscache = true;
    d->fail_on_dataloss = true;
    int rc = settings ? read_settings(d, settings) : 0;
    if (rc)
        goto err;
    tune_malloc(settings);
    rc = SILK_ENOMEM;
    if (slist_add(&d->no_headers, "Expect:") || slist_add(&d->no_headers, "Accept:"))
        goto err;
    if (!(d->multi = curl_multi_init()) || !(d->curl_timer = evtimer_new(base, on_curl_timer, d)) ||
        !(d->slot_timer = evtimer_new(base, on_slot_timer, d)) ||
        !(d->defer_ev = event_new(base, -1, 0, on_defer, d)) ||
        !(d->gc_ev = event_new(base, -1, EV_PERSIST, on_gc, d)))
        goto err;
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)(d->total_concurrency * 2));
    struct timeval gc = { 60, 0 };
    event_add(d->gc_ev, &gc);
    *out = d;
    return 0;
err:
    silk_downloader_free(d);
    return rc;
}

void silk_downloader_free(silk_downloader *d)
{
    if (!d)
        return;
    d->freeing = true;
    while (!silk_list_empty(&d->fetches)) {
        silk_fetch *f = silk_container_of(d->fetches.next, silk_fetch, all);
        if (f->ph == PH_SLOT || f->ph == PH_DONE || f->ph == PH_RESOLVE)
            silk_list_del(&f->link);
        if (f->easy) {
            curl_multi_remove_handle(d->multi, f->easy);
            curl_easy_cleanup(f->easy);
            f->easy = NULL;
        }
        fetch_free(f);
    }
    for (size_t i = d->nmws; i-- > 0;)
        if (d->mws[i]->close)
            d->mws[i]->close(d->mws[i]);
    silk_free(d->mws);
    while (!silk_list_empty(&d->owned_mws)) {
        owned_mw *o = silk_container_of(d->owned_mws.next, owned_mw, link);
        silk_list_del(&o->link);
        silk_free(o);
    }
    for (size_t i = 0; i < d->easy_pool_len; i++)
        curl_easy_cleanup(d->easy_pool[i]);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    curl_slist_free_all(d->no_headers);
    while (!silk_list_empty(&d->sockets))
        sockinfo_free(silk_container_of(d->sockets.next, sockinfo, link));
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (slot *s = d->buckets[i], *next; s; s = next) {
            next = s->hnext;
            slot_free(s);
        }
    }
    silk_free(d->buckets);
    for (size_t i = 0; i < d->dns_nbuckets; i++) {
        for (dnsent *e = d->dns_buckets[i], *next; e; e = next) {
            next = e->hnext;
            silk_free(e->host);
            silk_free(e->ip);
            silk_free(e);
        }
    }
    silk_free(d->dns_buckets);
    /* Lookups still running are discarded without their callbacks (their
     * entries are gone). Not cancelled: libevent 2.1 finishes a cancel from
     * a deferred callback that would touch the freed evdns_base; the price
     * is libevent's 264-byte wrapper of each discarded lookup, once. */
    if (d->dns)
        evdns_base_free(d->dns, 0);
    silk_free(d->heap);
    silk_free(d->ca_file);
    if (d->curl_timer)
        event_free(d->curl_timer);
    if (d->slot_timer)
        event_free(d->slot_timer);
    if (d->defer_ev)
        event_free(d->defer_ev);
    if (d->gc_ev)
        event_free(d->gc_ev);
    silk_free(d);
}

int silk_downloader_add_middleware(silk_downloader *d, silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!d || !mw)
        return silk_error(SILK_EINVAL, "silk_downloader_add_middleware: NULL argument");
    silk_downloader_mw **m = silk_realloc(d->mws, (d->nmws + 1) * sizeof *m);
    if (!m)
        return SILK_ENOMEM;
    d->mws = m;
    mw->env = env;
    if (mw->open) {
        int rc = mw->open(mw, env);
        if (rc) {
            /* disabled by its setting (SILK_ENOTFOUND), or failed: close()
             * releases whatever open() took */
            if (mw->close)
                mw->close(mw);
            return rc == SILK_ENOTFOUND ? 0 : rc;
        }
    }
    size_t i = d->nmws++;
    /* stable: equal orders keep the order they were added in */
    while (i > 0 && d->mws[i - 1]->order > mw->order) {
        d->mws[i] = d->mws[i - 1];
        i--;
    }
    d->mws[i] = mw;
    return 0;
}

int silk_downloader_add_middleware_copy(silk_downloader *d, const silk_downloader_mw *tmpl,
                                        const silk_mw_env *env)
{
    if (!d || !tmpl)
        return silk_error(SILK_EINVAL, "silk_downloader_add_middleware_copy: NULL argument");
    owned_mw *o = silk_calloc(1, sizeof *o);
    if (!o)
        return SILK_ENOMEM;
    o->mw = *tmpl;
    o->mw.state = NULL;
    size_t before = d->nmws;
    int rc = silk_downloader_add_middleware(d, &o->mw, env);
    if (rc || d->nmws == before) { /* failed, or disabled by its setting */
        silk_free(o);
        return rc;
    }
    silk_list_add_tail(&d->owned_mws, &o->link);
    return 0;
}

static int fetch_start(silk_downloader *d, silk_request *req, silk_fetch_done_fn done, void *arg, bool raw)
{
    if (!d)
        return silk_error(SILK_EINVAL, "silk_downloader_fetch: NULL downloader");
    if (d->freeing)
        return silk_error(SILK_EBUSY, "silk_downloader_fetch: the downloader is closing");
    if (!silk_object_alive(req) || !silk_type_is_a(req->obj.type, &silk_type_request))
        return silk_error(SILK_EDEAD, "silk_downloader_fetch: not a live request");
    silk_fetch *f = silk_calloc(1, sizeof *f);
    if (!f)
        return SILK_ENOMEM;
    f->magic = FETCH_MAGIC;
    f->d = d;
    f->req = silk_ref(req);
    f->done = done;
    f->arg = arg;
    f->raw = raw;
    f->ph = PH_REQUEST;
    silk_headers_init(&f->rheaders);
    silk_list_add_tail(&d->fetches, &f->all);
    d->nfetches++;
    chain_run(f);
    return 0;
}

int silk_downloader_fetch(silk_downloader *d, silk_request *req, silk_fetch_done_fn done, void *arg)
{
    return fetch_start(d, req, done, arg, false);
}

int silk_downloader_fetch_raw(silk_downloader *d, silk_request *req, silk_fetch_done_fn done, void *arg)
{
    return fetch_start(d, req, done, arg, true);
}

size_t silk_downloader_active(const silk_downloader *d) { return d->nfetches; }

size_t silk_downloader_transferring(const silk_downloader *d) { return d->transferring; }

uint64_t silk_downloader_connections_opened(const silk_downloader *d) { return d->connections; }

bool silk_downloader_needs_backout(const silk_downloader *d)
{
    return d->nfetches >= d->total_concurrency;
}

silk_request *silk_fetch_request(silk_fetch *f) { return f->req; }

silk_downloader *silk_fetch_downloader(silk_fetch *f) { return f->d; }

const char *silk_fetch_content_encoding(const silk_fetch *f) { return f->content_encoding; }

uint64_t silk_fetch_wire_bytes(const silk_fetch *f) { return f->wire_bytes; }

size_t silk_downloader_slots(const silk_downloader *d, silk_slot_info *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (slot *s = d->buckets[i]; s; s = s->hnext) {
            if (n < cap)
                out[n] = (silk_slot_info){ s->key, s->active, s->queued, s->transferring, s->delay };
            n++;
        }
    }
    return n;
}

size_t silk_downloader_slot_peak(const silk_downloader *d, const char *key)
{
    slot *s = slot_find(d, key);
    return s ? s->peak : 0;
}

int silk_downloader_slot_key(const silk_request *req, char **out)
{
    *out = slot_key(req);
    return *out ? 0 : SILK_ENOMEM;
}

int silk_downloader_slot_key_of(const silk_downloader *d, const silk_request *req, char **out)
{
    char host[256];
    if (d->per_ip && !silk_dict_get(req->meta, "download_slot") &&
        silk__url_host_fast(req->url, host, sizeof host) && !is_ip_literal(host)) {
        const dnsent *e = dns_find((silk_downloader *)d, host);
        if (e && e->ip) {
            *out = silk_strdup(e->ip);
            return *out ? 0 : SILK_ENOMEM;
        }
    }
    return silk_downloader_slot_key(req, out);
}

int silk_downloader_set_slot_delay(silk_downloader *d, const char *key, double delay)
{
    if (!d || !key || !(delay >= 0) || !isfinite(delay))
        return silk_error(SILK_EINVAL, "silk_downloader_set_slot_delay: bad argument");
    slot *s = slot_get(d, key);
    if (!s)
        return SILK_ENOMEM;
    if (s->delay == delay)
        return 0;
    s->delay = delay;
    /* the slot may be waiting in the heap on the old delay */
    if (s->heap_idx != SIZE_MAX || s->queued)
        slot_process(d, s);
    return 0;
}

double silk_downloader_slot_delay(const silk_downloader *d, const char *key)
{
    slot *s = slot_find(d, key);
    return s ? s->delay : d->delay;
}
