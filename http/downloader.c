/* silk — the downloader: libcurl's multi socket interface on a libevent
 * loop (the pattern of curl's docs/examples/hiperfifo.c, minus its exit()),
 * per-domain slots with a min-heap of slots waiting out a delay, and the
 * downloader middleware chain.
 *
 * Everything here runs on the loop thread. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "silk/alloc.h"
#include "silk/downloader.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/url.h"

#define LOGGER "silk.core.downloader"
#define SLOT_BUCKETS_MIN 64
#define SLOT_IDLE_GC_NS (60ull * 1000000000ull)
#define EASY_POOL_MAX 256

typedef struct slot slot;
typedef struct sockinfo sockinfo;

typedef enum phase {
    PH_REQUEST,   /* walking process_request, mw index ascending */
    PH_SLOT,      /* queued in a slot */
    PH_TRANSFER,  /* curl has it */
    PH_RESPONSE,  /* walking process_response, descending */
    PH_EXCEPTION, /* walking process_exception, descending */
    PH_DONE,      /* result ready, waiting for the deferred callback */
} phase;

struct silk_fetch {
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
    struct curl_slist *hdrs;
    silk_buf body;
    silk_headers rheaders;
    int status;
    bool decoded_by_curl;
    bool too_large;
    bool warned;
    char *too_large_msg;
    int64_t maxsize, warnsize;
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
    uint64_t lastseen_ns;
    uint64_t ready_at_ns;
    size_t heap_idx;     /* SIZE_MAX when not in the heap */
    silk_list queue;
    size_t queued;
};

struct sockinfo {
    curl_socket_t fd;
    struct event *ev;
    silk_downloader *d;
};

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
    size_t nfetches;            /* == active */
    /* settings */
    size_t total_concurrency, per_domain, per_ip;
    double delay;
    bool randomize_delay;
    double timeout;
    int64_t maxsize, warnsize;
    bool verify, compression, dnscache;
    /* slots: a chained hash map and a min-heap on ready_at_ns */
    slot **buckets;
    size_t nbuckets, nslots;
    slot **heap;
    size_t heap_len, heap_cap;
    /* middlewares, sorted by order */
    silk_downloader_mw **mws;
    size_t nmws;
    CURL *easy_pool[EASY_POOL_MAX];
    size_t easy_pool_len;
    bool freeing;
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

static slot *slot_find(silk_downloader *d, const char *key)
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
    silk_buf_free(&f->body);
    silk_headers_clear(&f->rheaders);
    silk_free(f->too_large_msg);
    silk_unref(f->res.response);
    silk_unref(f->res.request);
    silk_failure_free(f->res.failure);
    silk_unref(f->req);
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
}

/* ---------- the middleware chain ---------- */

static void chain_run(silk_fetch *f);
static void slot_enqueue(silk_fetch *f);

/* Applies a middleware's answer; returns true when the chain should go on
 * with chain_run. */
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
            fail = silk_failure_new(SILK_EINVAL, "scrapy.exceptions.IgnoreRequest", "request ignored",
                                    f->req, NULL);
        silk_failure_free(f->res.failure);
        f->res.failure = fail;
        f->res.kind = SILK_FETCH_FAILURE;
        silk_unref(f->res.response);
        f->res.response = NULL;
        if (f->ph == PH_REQUEST && r == SILK_MW_FAILURE) {
            f->ph = PH_EXCEPTION;
            f->mw_index = (int)f->d->nmws - 1;
        } else {
            /* IgnoreRequest from process_request, or anything raised by
             * process_response/process_exception, goes to the errback */
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
    if (!f->pending || r == SILK_MW_PENDING) {
        silk_log(SILK_LOG_ERROR, LOGGER, "silk_mw_resume on a fetch that is not pending: ignored");
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

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    silk_downloader *d = arg;
    int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    CURLMcode rc = curl_multi_socket_action(d->multi, fd, action, &running);
    if (rc != CURLM_OK)
        silk_log(SILK_LOG_ERROR, LOGGER, "curl_multi_socket_action: %s", curl_multi_strerror(rc));
    check_multi_info(d);
}

static void on_curl_timer(evutil_socket_t fd, short kind, void *arg)
{
    silk_downloader *d = arg;
    (void)fd;
    (void)kind;
    int running = 0;
    CURLMcode rc = curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (rc != CURLM_OK)
        silk_log(SILK_LOG_ERROR, LOGGER, "curl_multi_socket_action: %s", curl_multi_strerror(rc));
    check_multi_info(d);
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

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    silk_downloader *d = userp;
    sockinfo *si = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            event_free(si->ev);
            silk_free(si);
            curl_multi_assign(d->multi, s, NULL);
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
        curl_multi_assign(d->multi, s, si);
    } else {
        event_free(si->ev);
    }
    si->ev = event_new(d->base, s, kind, on_socket_event, d);
    if (!si->ev || event_add(si->ev, NULL) != 0) {
        silk_log(SILK_LOG_ERROR, LOGGER, "cannot watch socket %d", (int)s);
        return -1;
    }
    return 0;
}

static size_t header_cb(char *data, size_t size, size_t n, void *userp)
{
    silk_fetch *f = userp;
    size_t len = size * n;
    size_t l = len;
    while (l && (data[l - 1] == '\r' || data[l - 1] == '\n'))
        l--;
    if (l >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new status line (after 100 Continue or a proxy CONNECT) */
        silk_headers_clear(&f->rheaders);
        const char *sp = memchr(data, ' ', l);
        f->status = sp ? atoi(sp + 1) : 0;
        return len;
    }
    if (l == 0) {
        /* end of headers: Scrapy's expected-size checks */
        const char *cl = silk_headers_get(&f->rheaders, "Content-Length");
        long long expected = cl ? atoll(cl) : -1;
        if (expected > 0 && f->maxsize > 0 && expected > f->maxsize) {
            f->too_large = true;
            f->too_large_msg = silk_asprintf("Cancelling download of %s: expected response size (%lld) "
                                             "larger than download max size (%lld).",
                                             f->req->url, expected, (long long)f->maxsize);
            return 0;
        }
        if (expected > 0 && f->warnsize > 0 && expected > f->warnsize && !f->warned) {
            f->warned = true;
            silk_log(SILK_LOG_WARNING, LOGGER,
                     "Expected response size (%lld) larger than download warn size (%lld) in request %s.",
                     expected, (long long)f->warnsize, f->req->url);
        }
        return len;
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
    char *name = silk_strndup(data, (size_t)(colon - data));
    const char *v = colon + 1;
    while (v < data + l && (*v == ' ' || *v == '\t'))
        v++;
    char *value = silk_strndup(v, (size_t)(data + l - v));
    if (name && value) {
        size_t nl = strlen(name);
        while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
            name[--nl] = '\0';
        silk_headers_add(&f->rheaders, name, value); /* a malformed one is dropped */
    }
    silk_free(name);
    silk_free(value);
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    silk_fetch *f = userp;
    size_t len = size * n;
    if (f->maxsize > 0 && f->body.len + len > (size_t)f->maxsize) {
        f->too_large = true;
        f->too_large_msg = silk_asprintf("Cancelling download of %s: received response size (%zu) "
                                         "larger than download max size (%lld).",
                                         f->req->url, f->body.len + len, (long long)f->maxsize);
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (f->warnsize > 0 && !f->warned && f->body.len + len > (size_t)f->warnsize) {
        f->warned = true;
        silk_log(SILK_LOG_WARNING, LOGGER,
                 "Received more bytes than download warn size (%lld) in request %s.",
                 (long long)f->warnsize, f->req->url);
    }
    if (silk_buf_append(&f->body, data, len))
        return 0;
    return len;
}

static const char *curl_failure_type(CURLcode rc, bool got_data)
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
    case CURLE_SSL_INVALIDCERTSTATUS: return "OpenSSL.SSL.Error";
    case CURLE_UNSUPPORTED_PROTOCOL: return "scrapy.exceptions.NotSupported";
    case CURLE_FILESIZE_EXCEEDED: return "twisted.internet.defer.CancelledError";
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_WEIRD_SERVER_REPLY:
        return got_data ? "twisted.web._newclient.ResponseFailed"
                        : "twisted.web._newclient.ResponseNeverReceived";
    case CURLE_URL_MALFORMAT: return "ValueError";
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
    case CURLE_SSL_CACERT_BADFILE: return SILK_ETLS;
    case CURLE_FILESIZE_EXCEEDED: return SILK_ELIMIT;
    case CURLE_UNSUPPORTED_PROTOCOL: return SILK_ESCHEME;
    default: return SILK_ENET;
    }
}

/* Scrapy's request_httprepr/response_httprepr sizes, for the byte stats. */
static size_t request_bytes(const silk_request *r)
{
    const char *p = strstr(r->url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t n = strlen(r->method) + 1 + (p ? strcspn(p, "#") : 1) + 11;
    char *host = NULL;
    if (silk_url_host(r->url, &host) == 0 && host)
        n += 6 + strlen(host) + 2;
    silk_free(host);
    for (size_t i = 0; i < r->headers.len; i++)
        n += strlen(r->headers.items[i].name) + 2 + strlen(r->headers.items[i].value) + 2;
    return n + 2 + r->body_len;
}

static size_t response_bytes(const silk_response *r)
{
    size_t n = 9 + 3 + 1 + 2; /* "HTTP/1.1 200 " ... "\r\n" (reason left out) */
    for (size_t i = 0; i < r->headers.len; i++)
        n += strlen(r->headers.items[i].name) + 2 + strlen(r->headers.items[i].value) + 2;
    return n + 2 + r->body_len;
}

static void transfer_done(silk_fetch *f, CURLcode rc)
{
    silk_downloader *d = f->d;
    slot *s = f->slot;
    curl_multi_remove_handle(d->multi, f->easy);
    double latency = (double)(silk_now_ns() - f->start_ns) / 1e9;
    curl_off_t ttfb = 0;
    if (curl_easy_getinfo(f->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb) == CURLE_OK && ttfb > 0)
        latency = (double)ttfb / 1e6;
    char *ip = NULL;
    long httpver = 0;
    curl_easy_getinfo(f->easy, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(f->easy, CURLINFO_HTTP_VERSION, &httpver);
    char *ipcopy = ip && *ip ? silk_strdup(ip) : NULL;
    if (d->easy_pool_len < EASY_POOL_MAX) {
        curl_easy_reset(f->easy);
        d->easy_pool[d->easy_pool_len++] = f->easy;
    } else {
        curl_easy_cleanup(f->easy);
    }
    f->easy = NULL;
    if (f->hdrs) {
        curl_slist_free_all(f->hdrs);
        f->hdrs = NULL;
    }
    s->transferring--;
    s->active--;
    silk_value *meta = silk_request_meta(f->req);
    if (meta)
        silk_dict_set_double(meta, "download_latency", latency);

    if (rc == CURLE_OK && !f->too_large) {
        if (f->decoded_by_curl)
            silk_headers_del(&f->rheaders, "Content-Encoding");
        size_t blen = f->body.len;
        char *body = silk_buf_detach(&f->body);
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
            f->res.kind = SILK_FETCH_RESPONSE;
            f->res.response = resp;
            if (d->stats) {
                silk_stats_inc(d->stats, "downloader/response_count", 1);
                silk_stats_inc_fmt(d->stats, 1, "downloader/response_status_count/%d", resp->status);
                silk_stats_inc(d->stats, "downloader/response_bytes", (int64_t)response_bytes(resp));
            }
        }
    } else {
        const char *type;
        char msg[CURL_ERROR_SIZE + 256];
        int code;
        if (f->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
            type = "twisted.internet.defer.CancelledError";
            code = SILK_ELIMIT;
            snprintf(msg, sizeof msg, "%s",
                     f->too_large_msg ? f->too_large_msg : "response larger than download max size");
            silk_log(SILK_LOG_WARNING, LOGGER, "%s", msg);
        } else {
            type = curl_failure_type(rc, f->body.len > 0 || f->status > 0);
            code = curl_failure_code(rc);
            snprintf(msg, sizeof msg, "%s: %s", curl_easy_strerror(rc), f->errbuf[0] ? f->errbuf : "");
        }
        set_failure(f, code, type, msg);
        if (d->stats) {
            silk_stats_inc(d->stats, "downloader/exception_count", 1);
            silk_stats_inc_fmt(d->stats, 1, "downloader/exception_type_count/%s", type);
        }
    }
    silk_free(ipcopy);
    silk_buf_free(&f->body);
    if (s->active == 0)
        s->lastseen_ns = silk_now_ns();
    f->ph = f->res.kind == SILK_FETCH_FAILURE ? PH_EXCEPTION : PH_RESPONSE;
    f->mw_index = (int)d->nmws - 1;
    f->slot = NULL;
    chain_run(f);
    /* a slot freed up: start what waits in it */
    extern void silk__slot_process(silk_downloader * d, slot * s);
    silk__slot_process(d, s);
}

static void check_multi_info(silk_downloader *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        silk_fetch *f = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (f)
            transfer_done(f, msg->data.result);
    }
}

static int bind_address(silk_fetch *f, CURL *e)
{
    const silk_value *b = silk_dict_get(f->req->meta, "bindaddress");
    if (!b)
        return 0;
    const silk_value *host = b->kind == SILK_V_LIST ? silk_list_get(b, 0) : b;
    if (host && host->kind == SILK_V_STRING && host->u.s.len)
        curl_easy_setopt(e, CURLOPT_INTERFACE, host->u.s.ptr);
    if (b->kind == SILK_V_LIST) {
        const silk_value *port = silk_list_get(b, 1);
        if (port && port->kind == SILK_V_INT && port->u.i > 0)
            curl_easy_setopt(e, CURLOPT_LOCALPORT, (long)port->u.i);
    }
    return 0;
}

static int transfer_start(silk_fetch *f)
{
    silk_downloader *d = f->d;
    silk_request *r = f->req;
    CURL *e = d->easy_pool_len ? d->easy_pool[--d->easy_pool_len] : curl_easy_init();
    if (!e)
        return silk_error(SILK_ENOMEM, "curl_easy_init failed");
    f->easy = e;
    f->errbuf[0] = '\0';
    f->status = 0;
    f->start_ns = silk_now_ns();
    double timeout = silk_dict_get_double(r->meta, "download_timeout", d->timeout);
    f->maxsize = silk_dict_get_int(r->meta, "download_maxsize", d->maxsize);
    f->warnsize = silk_dict_get_int(r->meta, "download_warnsize", d->warnsize);

    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,ftp,file");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, d->verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, d->verify ? 2L : 0L);
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, d->dnscache ? 600L : 0L);
    if (timeout > 0) {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000));
    }
    if (f->maxsize > 0)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->maxsize);
    f->decoded_by_curl = d->compression;
    if (d->compression)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    /* the proxy comes from meta (HttpProxyMiddleware); never from curl's
     * own reading of the environment */
    const char *proxy = silk_dict_get_str(r->meta, "proxy", NULL);
    curl_easy_setopt(e, CURLOPT_PROXY, proxy ? proxy : "");
    bind_address(f, e);

    struct curl_slist *h = NULL;
    char line[8192];
    bool has_accept = false;
    for (size_t i = 0; i < r->headers.len; i++) {
        snprintf(line, sizeof line, "%s: %s", r->headers.items[i].name, r->headers.items[i].value);
        struct curl_slist *n = curl_slist_append(h, line);
        if (!n)
            goto nomem;
        h = n;
        has_accept |= strcasecmp(r->headers.items[i].name, "Accept") == 0;
    }
    const char *extra[] = { "Expect:", has_accept ? NULL : "Accept:" };
    for (size_t i = 0; i < 2; i++) {
        if (!extra[i])
            continue;
        struct curl_slist *n = curl_slist_append(h, extra[i]);
        if (!n)
            goto nomem;
        h = n;
    }
    f->hdrs = h;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);

    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (d->stats) {
        silk_stats_inc(d->stats, "downloader/request_count", 1);
        silk_stats_inc_fmt(d->stats, 1, "downloader/request_method_count/%s", r->method);
        silk_stats_inc(d->stats, "downloader/request_bytes", (int64_t)request_bytes(r));
    }
    CURLMcode mc = curl_multi_add_handle(d->multi, e);
    if (mc != CURLM_OK) {
        curl_easy_cleanup(e);
        f->easy = NULL;
        return silk_error(SILK_ENET, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    f->ph = PH_TRANSFER;
    return 0;
nomem:
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    f->easy = NULL;
    return SILK_ENOMEM;
}

/* ---------- slot scheduling ---------- */

static double slot_delay(const slot *s)
{
    if (!s->randomize || s->delay <= 0)
        return s->delay;
    return s->delay * (0.5 + (double)rand() / ((double)RAND_MAX + 1.0));
}

void silk__slot_process(silk_downloader *d, slot *s);
void silk__slot_process(silk_downloader *d, slot *s)
{
    if (d->freeing)
        return;
    uint64_t now = silk_now_ns();
    while (s->queued > 0 && s->transferring < s->concurrency) {
        if (s->delay > 0) {
            uint64_t next = s->lastseen_ns + (uint64_t)(slot_delay(s) * 1e9);
            if (s->lastseen_ns && next > now) {
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
        silk__slot_process(d, heap_pop(d));
    arm_slot_timer(d);
}

static char *slot_key(silk_downloader *d, silk_request *r)
{
    const char *forced = silk_dict_get_str(r->meta, "download_slot", NULL);
    if (forced)
        return silk_strdup(forced);
    char *host = NULL;
    if (silk_url_host(r->url, &host) || !host)
        return silk_strdup("");
    (void)d;
    return host;
}

static void slot_enqueue(silk_fetch *f)
{
    silk_downloader *d = f->d;
    char *key = slot_key(d, f->req);
    slot *s = key ? slot_get(d, key) : NULL;
    silk_free(key);
    if (!s) {
        set_failure(f, SILK_ENOMEM, "MemoryError", "out of memory queueing the request");
        f->ph = PH_EXCEPTION;
        f->mw_index = (int)d->nmws - 1;
        chain_run(f);
        return;
    }
    /* a per-request delay from the spider / robots Crawl-delay */
    const silk_value *dd = silk_dict_get(f->req->meta, "download_delay");
    if (dd && (dd->kind == SILK_V_DOUBLE || dd->kind == SILK_V_INT))
        s->delay = dd->kind == SILK_V_DOUBLE ? dd->u.d : (double)dd->u.i;
    f->slot = s;
    f->ph = PH_SLOT;
    s->active++;
    s->queued++;
    silk_list_add_tail(&s->queue, &f->link);
    silk__slot_process(d, s);
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
}

/* ---------- public ---------- */

static int read_settings(silk_downloader *d, silk_settings *st)
{
    int64_t total = 16, dom = 8, ip = 0, maxsize = 1073741824, warnsize = 33554432;
    double delay = 0, timeout = 180;
    bool randomize = true, verify = false, compression = true, dnscache = true;
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
#undef GET
    if (total < 1 || dom < 0 || ip < 0)
        return silk_error(SILK_EINVAL, "setting CONCURRENT_REQUESTS must be >= 1 and the per-domain/IP limits >= 0");
    if (delay < 0 || timeout < 0)
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
    return 0;
}

int silk_downloader_new(struct event_base *base, silk_settings *settings, silk_stats *stats,
                        silk_downloader **out)
{
    static int curl_ready;
    *out = NULL;
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
    int rc = settings ? read_settings(d, settings) : 0;
    if (!settings) {
        d->total_concurrency = 16;
        d->per_domain = 8;
        d->timeout = 180;
        d->maxsize = 1073741824;
        d->warnsize = 33554432;
        d->randomize_delay = true;
        d->compression = true;
        d->dnscache = true;
    }
    if (rc)
        goto err;
    rc = SILK_ENOMEM;
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
        if (f->ph == PH_SLOT || f->ph == PH_DONE)
            silk_list_del(&f->link);
        if (f->easy) {
            curl_multi_remove_handle(d->multi, f->easy);
            curl_easy_cleanup(f->easy);
            f->easy = NULL;
        }
        fetch_free(f);
    }
    for (size_t i = 0; i < d->nmws; i++)
        if (d->mws[i]->close)
            d->mws[i]->close(d->mws[i]);
    silk_free(d->mws);
    for (size_t i = 0; i < d->easy_pool_len; i++)
        curl_easy_cleanup(d->easy_pool[i]);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (slot *s = d->buckets[i], *next; s; s = next) {
            next = s->hnext;
            slot_free(s);
        }
    }
    silk_free(d->buckets);
    silk_free(d->heap);
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
    mw->env = env;
    if (mw->open) {
        int rc = mw->open(mw, env);
        if (rc == SILK_ENOTFOUND)
            return 0; /* disabled by its setting */
        if (rc)
            return rc;
    }
    silk_downloader_mw **m = silk_realloc(d->mws, (d->nmws + 1) * sizeof *m);
    if (!m) {
        if (mw->close)
            mw->close(mw);
        return SILK_ENOMEM;
    }
    d->mws = m;
    size_t i = d->nmws++;
    while (i > 0 && d->mws[i - 1]->order > mw->order) {
        d->mws[i] = d->mws[i - 1];
        i--;
    }
    d->mws[i] = mw;
    return 0;
}

static int fetch_start(silk_downloader *d, silk_request *req, silk_fetch_done_fn done, void *arg, bool raw)
{
    if (!silk_object_alive(req))
        return silk_error(SILK_EDEAD, "silk_downloader_fetch: not a live request");
    silk_fetch *f = silk_calloc(1, sizeof *f);
    if (!f)
        return SILK_ENOMEM;
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

bool silk_downloader_needs_backout(const silk_downloader *d)
{
    return d->nfetches >= d->total_concurrency;
}

silk_request *silk_fetch_request(silk_fetch *f) { return f->req; }

silk_downloader *silk_fetch_downloader(silk_fetch *f) { return f->d; }

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
    slot *s = slot_find((silk_downloader *)d, key);
    return s ? s->peak : 0;
}
