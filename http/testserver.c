/* silk — the test server: evhttp endpoints over the generated site
 * (http/testsite.c). Everything it allocates itself goes through silk's
 * allocator; libevent, OpenSSL and zlib-internal memory is theirs (zlib's
 * is routed to silk too). Slow or streamed responses are "ops": a timer or a
 * write-completion step on the loop, never a blocking call. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"
#include "silk/object.h"
#include "silk/testserver.h"
#include "silk/value.h"

#define MAX_HEADERS_SIZE (64 * 1024)
#define MAX_BODY_SIZE (1024 * 1024)
#define IDLE_TIMEOUT_S 60
#define STREAM_CHUNK (256 * 1024)    /* bytes queued per write completion */
#define BLOCK_SIZE (64 * 1024)       /* the /large and /binary pattern blocks */
#define DRIP_MAX_TICKS 200u
#define DRIP_BACKLOG (1024 * 1024)   /* a drip tick waits while this much is unsent */
#define BOMB_BLOCK (1024 * 1024)     /* /bomb inflates in whole blocks of zeros */
#define BOMB_MAX ((uint64_t)64 << 30)
#define SITEMAP_MAX_URLS 50000u      /* sitemaps.org limit per file */
#define SITEMAP_PART 1000u           /* pages per /sitemap/K.xml */
#define PAGE_HITS_MAX (1u << 20)
#define REDIRECT_MAX_HOPS 1000u

/* The line /large repeats: byte i of the body is LARGE_LINE[i % 64]. */
static const char LARGE_LINE[] =
    "silk test server, large body: 0123456789 abcdefghijklmnopqrstuv\n";
_Static_assert(sizeof LARGE_LINE == 65, "a /large line is 64 bytes");

/* ---- routes ---- */

typedef struct silk_testserver silk_testserver;
typedef struct ctx ctx;
typedef void (*handler_fn)(ctx *c);

enum {
    R_INDEX, R_PAGE, R_ROBOTS, R_STATUS, R_REDIRECT, R_REDIRECT_LOOP, R_REDIRECT_TO,
    R_DELAY, R_DRIP, R_RESET, R_GZIP, R_DEFLATE, R_BOMB, R_CHARSET, R_COOKIES,
    R_COOKIES_SET, R_COOKIES_DELETE, R_HEADERS, R_POST, R_SITEMAP, R_SITEMAP_GZ,
    R_SITEMAP_INDEX, R_SITEMAP_PART, R_BASIC_AUTH, R_META_REFRESH, R_LARGE, R_BINARY,
    R_XML, R_NOT_FOUND, R_COUNT
};

typedef struct qpair {
    const char *k, *v;
} qpair;

/* A parsed query string: decoded pairs pointing into one copy. */
typedef struct query {
    char *mem;
    qpair *items;
    size_t n;
} query;

enum { OP_DELAY, OP_DRIP, OP_STREAM, OP_RESET };
enum { PAT_TEXT, PAT_BINARY, PAT_STARS, PAT_BOMB };

/* A response that outlives its handler. While it lives, the connection's
 * close callback points at it; the request stays valid until op_end hands
 * it back to evhttp (which frees it when the connection already died). */
typedef struct op {
    silk_list node;
    silk_testserver *s;
    struct evhttp_request *req;
    struct evhttp_connection *evcon; /* NULL once the connection died */
    struct event *ev;                /* timer, or the deferred next step */
    int kind, pattern, code;
    int started;                     /* status line and headers sent */
    int rst;
    uint64_t total, sent;
    uint32_t ticks_left;
    struct timeval tick;
    /* /bomb: header, K blocks, tail, trailer */
    uint64_t bomb_blocks;
    unsigned char bomb_head[10], bomb_trailer[8];
    size_t bomb_head_len, bomb_trailer_len;
} op;

struct silk_testserver {
    silk_testserver_options opt; /* normalised; opt.robots_txt == robots */
    char *robots;
    char url[64];
    int port;
    struct event_base *base;
    struct evhttp *http;
    struct evbuffer *scratch; /* response bodies are assembled here */
    silk_buf text;            /* and text here */
    silk_list ops;
    SSL_CTX *ssl_ctx;
    char *cert_pem;
    unsigned char *block_text, *block_binary, *block_stars; /* BLOCK_SIZE each */
    unsigned char *bomb_seg;
    size_t bomb_seg_len;
    unsigned char bomb_tail[32];
    size_t bomb_tail_len;
    uint32_t bomb_crc, bomb_adler; /* of one block of zeros */
    int threaded, thread_started;
    pthread_t thread;
    int wake[2];
    struct event *wake_ev;
    uint64_t requests;
    uint64_t route_hits[R_COUNT];
    uint32_t *page_hits;
    uint32_t page_hits_len;
};

struct ctx {
    silk_testserver *s;
    struct evhttp_request *req;
    const char *path, *rest;
    query q;
    int head;
};

/* ---- small helpers ---- */

static const char *reason_of(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 418: return "I'm a teapot";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return code < 300 ? "OK" : code < 400 ? "Redirect" : code < 500 ? "Client Error"
                                                                           : "Server Error";
    }
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
    }
}

static void count_add(uint64_t *p) { __atomic_fetch_add(p, 1, __ATOMIC_RELAXED); }

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s in place ('+' is a space when plus); returns s. */
static char *pct_decode(char *s, int plus)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else if (*r == '+' && plus) {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return s;
}

static int query_parse(const char *qs, query *q)
{
    memset(q, 0, sizeof *q);
    if (!qs || !*qs)
        return 0;
    size_t n = 1;
    for (const char *p = qs; *p; p++)
        n += *p == '&';
    q->mem = silk_strdup(qs);
    q->items = silk_calloc(n, sizeof *q->items);
    if (!q->mem || !q->items) {
        silk_free(q->mem);
        silk_free(q->items);
        memset(q, 0, sizeof *q);
        return silk_error(SILK_ENOMEM, "test server: no memory for a query string");
    }
    char *p = q->mem;
    while (p) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        if (*p) {
            char *eq = strchr(p, '=');
            if (eq)
                *eq = '\0';
            q->items[q->n].k = pct_decode(p, 1);
            q->items[q->n].v = eq ? pct_decode(eq + 1, 1) : "";
            q->n++;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static void query_free(query *q)
{
    silk_free(q->mem);
    silk_free(q->items);
    memset(q, 0, sizeof *q);
}

static const char *qget(const query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->items[i].k, key) == 0)
            return q->items[i].v;
    return NULL;
}

/* Decimal digits only, no sign, at most max. Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* A finite, non-negative decimal number (fractions allowed). */
static int parse_seconds(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return -1;
    char *end = NULL;
    double d = strtod(s, &end);
    if (!end || *end || !isfinite(d) || d < 0)
        return -1;
    *out = d;
    return 0;
}

static struct timeval tv_of(double seconds)
{
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    if (tv.tv_usec >= 1000000)
        tv.tv_usec = 999999;
    return tv;
}

static void html_escape(silk_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': silk_buf_puts(b, "&amp;"); break;
        case '<': silk_buf_puts(b, "&lt;"); break;
        case '>': silk_buf_puts(b, "&gt;"); break;
        case '"': silk_buf_puts(b, "&quot;"); break;
        case '\'': silk_buf_puts(b, "&#39;"); break;
        default: silk_buf_putc(b, *s); break;
        }
    }
}

/* Length of the valid UTF-8 prefix of s. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return i;
}

/* Invalid bytes become U+FFFD so the JSON encoder accepts any header. */
static silk_value *lossy_string(const char *s, size_t n)
{
    silk_buf b = SILK_BUF_INIT;
    size_t i = 0;
    while (i < n) {
        size_t ok = utf8_valid_prefix((const unsigned char *)s + i, n - i);
        silk_buf_append(&b, s + i, ok);
        i += ok;
        if (i < n) {
            silk_buf_puts(&b, "\xef\xbf\xbd");
            i++;
        }
    }
    size_t len = b.len;
    char *p = silk_buf_detach(&b);
    return p ? silk_value_new_string_own(p, len) : NULL;
}

/* ---- zlib on silk's allocator ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return silk_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    silk_free(p);
}

/* Appends in compressed to out: window_bits 31 = gzip, 15 = zlib,
 * -15 = raw deflate. */
static int z_compress(const void *in, size_t n, int window_bits, silk_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return silk_error(SILK_ENOMEM, "test server: deflateInit2 failed");
    int rc = 0;
    uLong bound = deflateBound(&z, (uLong)n);
    if (silk_buf_reserve(out, bound)) {
        rc = silk_error(SILK_ENOMEM, "test server: no memory to compress %zu bytes", n);
        goto out;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = silk_error(SILK_EIO, "test server: deflate did not finish");
        goto out;
    }
    out->len += bound - z.avail_out;
    out->data[out->len] = '\0';
out:
    deflateEnd(&z);
    return rc;
}

/* ---- replies ---- */

static void log_access(silk_testserver *s, struct evhttp_request *req, int code, uint64_t len)
{
    FILE *f = s->opt.access_log;
    if (!f)
        return;
    char uri[256];
    const char *u = evhttp_request_get_uri(req);
    size_t i = 0;
    for (; u && u[i] && i < sizeof uri - 1; i++)
        uri[i] = (unsigned char)u[i] < 0x20 || u[i] == 0x7f ? '?' : u[i];
    uri[i] = '\0';
    fprintf(f, "%s \"%s %s\" %d %llu\n", s->url, method_name(evhttp_request_get_command(req)),
            uri, code, (unsigned long long)len);
    fflush(f);
}

static void add_header(struct evhttp_request *req, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

static void set_content_length(struct evhttp_request *req, uint64_t n)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)n);
    evhttp_remove_header(evhttp_request_get_output_headers(req), "Content-Length");
    add_header(req, "Content-Length", num);
}

static int is_head(struct evhttp_request *req)
{
    return evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
}

/* Sends a whole response. evhttp would send a body after HEAD, so HEAD gets
 * the Content-Length the body would have and no body. */
static void reply_req(silk_testserver *s, struct evhttp_request *req, int code, const char *ctype,
                      const void *body, size_t len)
{
    int no_body = code == 204 || code == 304 || code < 200;
    if (ctype && !no_body)
        add_header(req, "Content-Type", ctype);
    if (is_head(req) && !no_body)
        set_content_length(req, len);
    else if (!no_body && len && evbuffer_add(s->scratch, body, len) != 0)
        code = 500;
    log_access(s, req, code, no_body ? 0 : len);
    evhttp_send_reply(req, code, reason_of(code), s->scratch);
    evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
}

static void reply(ctx *c, int code, const char *ctype, const void *body, size_t len)
{
    reply_req(c->s, c->req, code, ctype, body, len);
}

static void reply_text(ctx *c, int code, const char *text)
{
    reply(c, code, "text/plain; charset=utf-8", text, strlen(text));
}

static void reply_error(ctx *c, int code, const char *why)
{
    silk_buf *b = &c->s->text;
    silk_buf_reset(b);
    silk_buf_printf(b, "%d %s\n%s\n", code, reason_of(code), why ? why : "");
    if (b->err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, code, "text/plain; charset=utf-8", b->data, b->len);
}

static void reply_html_buf(ctx *c, int code)
{
    if (c->s->text.err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, code, "text/html; charset=utf-8", c->s->text.data, c->s->text.len);
}

/* Sends v as JSON and frees it. */
static void reply_json_req(silk_testserver *s, struct evhttp_request *req, int code, silk_value *v)
{
    silk_buf *b = &s->text;
    silk_buf_reset(b);
    if (!v || silk_json_encode(v, SILK_JSON_PY_SEPARATORS, b) != 0 || b->err) {
        silk_value_free(v);
        reply_req(s, req, 500, "text/plain; charset=utf-8", "500 cannot encode JSON\n", 23);
        return;
    }
    silk_value_free(v);
    silk_buf_putc(b, '\n');
    reply_req(s, req, code, "application/json", b->data, b->len);
}

static void reply_json(ctx *c, int code, silk_value *v) { reply_json_req(c->s, c->req, code, v); }

/* ---- ops: delayed and streamed responses ---- */

static void op_step(evutil_socket_t fd, short what, void *arg);

static void op_closed(struct evhttp_connection *evcon, void *arg)
{
    op *o = arg;
    (void)evcon;
    /* evhttp has detached the request (it was not finished): end it from
     * the loop, outside evhttp's own teardown. */
    o->evcon = NULL;
    event_del(o->ev);
    event_active(o->ev, EV_TIMEOUT, 1);
}

static op *op_new(ctx *c, int kind)
{
    op *o = silk_calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->ev = event_new(c->s->base, -1, 0, op_step, o);
    if (!o->ev) {
        silk_free(o);
        return NULL;
    }
    o->s = c->s;
    o->req = c->req;
    o->kind = kind;
    o->code = 200;
    o->evcon = evhttp_request_get_connection(c->req);
    if (o->evcon)
        evhttp_connection_set_closecb(o->evcon, op_closed, o);
    silk_list_add_tail(&c->s->ops, &o->node);
    return o;
}

static void op_free(op *o)
{
    silk_list_del(&o->node);
    event_free(o->ev);
    silk_free(o);
}

/* Finishes the response; on a dead connection this frees the request. */
static void op_end(op *o)
{
    struct evhttp_request *req = o->req;
    if (o->evcon)
        evhttp_connection_set_closecb(o->evcon, NULL, NULL);
    op_free(o);
    evhttp_send_reply_end(req);
}

static void op_written(struct evhttp_connection *evcon, void *arg)
{
    op *o = arg;
    (void)evcon;
    event_active(o->ev, EV_TIMEOUT, 1);
}

static struct evbuffer *op_output(op *o)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(o->evcon);
    return bev ? bufferevent_get_output(bev) : NULL;
}

static int ensure_blocks(silk_testserver *s)
{
    if (s->block_text)
        return 0;
    unsigned char *t = silk_malloc(BLOCK_SIZE), *b = silk_malloc(BLOCK_SIZE);
    unsigned char *st = silk_malloc(BLOCK_SIZE);
    if (!t || !b || !st) {
        silk_free(t);
        silk_free(b);
        silk_free(st);
        return SILK_ENOMEM;
    }
    for (size_t i = 0; i < BLOCK_SIZE; i++) {
        t[i] = (unsigned char)LARGE_LINE[i % 64];
        b[i] = (unsigned char)(i % 256);
    }
    memset(st, '*', BLOCK_SIZE);
    s->block_text = t;
    s->block_binary = b;
    s->block_stars = st;
    return 0;
}

/* Adds len bytes of a piecewise stream at offset off (relative to piece). */
static int add_piece(struct evbuffer *b, const unsigned char *piece, size_t piece_len,
                     uint64_t *off, size_t *want)
{
    if (*off >= piece_len) {
        *off -= piece_len;
        return 0;
    }
    size_t n = piece_len - (size_t)*off;
    if (n > *want)
        n = *want;
    if (evbuffer_add_reference(b, piece + *off, n, NULL, NULL) != 0)
        return -1;
    *want -= n;
    *off = 0;
    return 0;
}

/* Queues the next at most max bytes of the op's body into b. */
static int op_fill(op *o, struct evbuffer *b, size_t max)
{
    silk_testserver *s = o->s;
    uint64_t left = o->total - o->sent;
    size_t want = left < max ? (size_t)left : max;
    size_t start = want;
    if (o->pattern == PAT_BOMB) {
        uint64_t off = o->sent;
        if (add_piece(b, o->bomb_head, o->bomb_head_len, &off, &want))
            return -1;
        uint64_t body = o->bomb_blocks * s->bomb_seg_len;
        if (want && off < body) {
            while (want && off < body) {
                uint64_t in_seg = off % s->bomb_seg_len;
                size_t n = s->bomb_seg_len - (size_t)in_seg;
                if (n > want)
                    n = want;
                if (evbuffer_add_reference(b, s->bomb_seg + in_seg, n, NULL, NULL) != 0)
                    return -1;
                want -= n;
                off += n;
            }
            off = off >= body ? off - body : 0;
            if (want == 0)
                goto done;
        } else {
            off -= body;
        }
        if (add_piece(b, s->bomb_tail, s->bomb_tail_len, &off, &want) ||
            add_piece(b, o->bomb_trailer, o->bomb_trailer_len, &off, &want))
            return -1;
    } else {
        const unsigned char *blk = o->pattern == PAT_TEXT     ? s->block_text
                                   : o->pattern == PAT_BINARY ? s->block_binary
                                                              : s->block_stars;
        uint64_t off = o->sent;
        while (want) {
            size_t in = (size_t)(off % BLOCK_SIZE);
            size_t n = BLOCK_SIZE - in;
            if (n > want)
                n = want;
            if (evbuffer_add_reference(b, blk + in, n, NULL, NULL) != 0)
                return -1;
            want -= n;
            off += n;
        }
    }
done:
    o->sent += start - want;
    return 0;
}

static void op_kill_connection(op *o)
{
    struct evhttp_connection *evcon = o->evcon;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (o->rst) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        struct linger lg = { 1, 0 };
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    op_free(o);
    /* The unfinished request is on the connection and goes with it. */
    evhttp_connection_free(evcon);
}

static void op_step(evutil_socket_t fd, short what, void *arg)
{
    op *o = arg;
    silk_testserver *s = o->s;
    (void)fd;
    (void)what;
    if (!o->evcon) {
        op_end(o);
        return;
    }
    switch (o->kind) {
    case OP_DELAY: {
        struct evhttp_request *req = o->req;
        evhttp_connection_set_closecb(o->evcon, NULL, NULL);
        op_free(o);
        const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
        silk_value *v = silk_value_new_dict();
        if (v) {
            silk_dict_set_bool(v, "delayed", true);
            silk_dict_set(v, "path", lossy_string(path ? path : "", path ? strlen(path) : 0));
        }
        reply_json_req(s, req, 200, v);
        return;
    }
    case OP_DRIP: {
        if (!o->started) {
            o->started = 1;
            evhttp_send_reply_start(o->req, o->code, reason_of(o->code));
            if (is_head(o->req) || o->total == 0) {
                op_end(o);
                return;
            }
            evtimer_add(o->ev, &o->tick);
            return;
        }
        struct evbuffer *out = op_output(o);
        if (out && evbuffer_get_length(out) > DRIP_BACKLOG) {
            evtimer_add(o->ev, &o->tick);
            return;
        }
        uint64_t left = o->total - o->sent;
        uint64_t n = o->ticks_left > 1 ? left / o->ticks_left : left;
        if (n == 0)
            n = 1;
        if (o->ticks_left > 1)
            o->ticks_left--;
        if (op_fill(o, s->scratch, (size_t)n) == 0)
            evhttp_send_reply_chunk(o->req, s->scratch);
        evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
        if (o->sent >= o->total)
            op_end(o);
        else
            evtimer_add(o->ev, &o->tick);
        return;
    }
    case OP_STREAM:
    case OP_RESET:
        if (o->sent >= o->total) {
            if (o->kind == OP_RESET)
                op_kill_connection(o);
            else
                op_end(o);
            return;
        }
        if (op_fill(o, s->scratch, STREAM_CHUNK) != 0) {
            evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
            op_kill_connection(o);
            return;
        }
        evhttp_send_reply_chunk_with_cb(o->req, s->scratch, op_written, o);
        evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
        return;
    default:
        op_kill_connection(o);
        return;
    }
}

/* Starts a streamed body of total bytes (Content-Length set unless
 * chunked). HEAD gets the headers only. */
static void start_stream(ctx *c, int code, const char *ctype, int pattern, uint64_t total,
                         int chunked, op *o)
{
    if (ctype)
        add_header(c->req, "Content-Type", ctype);
    if (!chunked)
        set_content_length(c->req, total);
    log_access(c->s, c->req, code, total);
    o->pattern = pattern;
    o->total = total;
    o->code = code;
    o->started = 1;
    evhttp_send_reply_start(c->req, code, reason_of(code));
    if (c->head || total == 0) {
        op_end(o);
        return;
    }
    event_active(o->ev, EV_TIMEOUT, 1);
}

/* ---- endpoints ---- */

static void h_not_found(ctx *c)
{
    silk_buf *b = &c->s->text;
    silk_buf_reset(b);
    silk_buf_puts(b, "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
                     "<body><h1>Not Found</h1><p>");
    html_escape(b, c->path);
    silk_buf_puts(b, "</p></body></html>\n");
    reply_html_buf(c, 404);
}

static void h_index(ctx *c)
{
    silk_buf_reset(&c->s->text);
    if (silk_testsite_render_index(&c->s->opt, &c->s->text) != 0) {
        reply_text(c, 500, "500 out of memory\n");
        return;
    }
    reply_html_buf(c, 200);
}

/* "<digits>.html" without leading zeros, below the page count. */
static int page_id(const silk_testserver *s, const char *rest, uint32_t *id)
{
    const char *dot = strchr(rest, '.');
    if (!dot || strcmp(dot, ".html") != 0 || dot == rest || dot - rest > 10)
        return -1;
    if (rest[0] == '0' && dot - rest > 1)
        return -1;
    char num[12];
    memcpy(num, rest, (size_t)(dot - rest));
    num[dot - rest] = '\0';
    uint64_t v;
    if (parse_u64(num, UINT32_MAX, &v) || v >= s->opt.pages)
        return -1;
    *id = (uint32_t)v;
    return 0;
}

static void h_page(ctx *c)
{
    uint32_t id;
    if (page_id(c->s, c->rest, &id)) {
        h_not_found(c);
        return;
    }
    silk_buf_reset(&c->s->text);
    if (silk_testsite_render_page(&c->s->opt, id, &c->s->text) != 0) {
        reply_text(c, 500, "500 out of memory\n");
        return;
    }
    reply_html_buf(c, 200);
}

static void h_robots(ctx *c)
{
    reply(c, c->s->opt.robots_status, "text/plain; charset=utf-8", c->s->robots,
          strlen(c->s->robots));
}

static void h_status(ctx *c)
{
    uint64_t code;
    if (parse_u64(c->rest, 999, &code) || code < 200 || code > 599) {
        reply_error(c, 400, "/status/N takes N in 200..599");
        return;
    }
    const char *v = qget(&c->q, "retry_after");
    if (v && *v)
        add_header(c->req, "Retry-After", v);
    v = qget(&c->q, "location");
    if (v && *v)
        add_header(c->req, "Location", v);
    silk_buf *b = &c->s->text;
    silk_buf_reset(b);
    silk_buf_printf(b, "%d %s\n", (int)code, reason_of((int)code));
    if (b->err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, (int)code, "text/plain; charset=utf-8", b->data, b->len);
}

static int redirect_code(ctx *c, int *code)
{
    uint64_t v = 302;
    const char *s = qget(&c->q, "status");
    if (s && (parse_u64(s, 999, &v) || v < 300 || v > 399)) {
        reply_error(c, 400, "status must be a 3xx code");
        return -1;
    }
    *code = (int)v;
    return 0;
}

static void reply_redirect(ctx *c, int code, const char *location)
{
    if (evhttp_add_header(evhttp_request_get_output_headers(c->req), "Location", location) != 0) {
        reply_error(c, 400, "that Location cannot be sent in a header");
        return;
    }
    silk_buf *b = &c->s->text;
    silk_buf_reset(b);
    silk_buf_puts(b, "<!DOCTYPE html>\n<html><head><title>Redirecting</title></head><body>"
                     "<p>Redirecting to <a href=\"");
    html_escape(b, location);
    silk_buf_puts(b, "\">");
    html_escape(b, location);
    silk_buf_puts(b, "</a></p></body></html>\n");
    reply_html_buf(c, code);
}

static void h_redirect(ctx *c)
{
    uint64_t n;
    int code;
    if (parse_u64(c->rest, REDIRECT_MAX_HOPS, &n)) {
        reply_error(c, 400, "/redirect/N takes N in 0..1000");
        return;
    }
    if (redirect_code(c, &code))
        return;
    if (n == 0) {
        silk_buf *b = &c->s->text;
        silk_buf_reset(b);
        silk_buf_puts(b, "<!DOCTYPE html>\n<html><head><title>Redirects done</title></head>"
                         "<body><p id=\"done\">redirect chain done</p></body></html>\n");
        reply_html_buf(c, 200);
        return;
    }
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
    const char *rel = qget(&c->q, "relative");
    const char *abs = qget(&c->q, "absolute");
    char loc[128 + 64];
    char tail[8 + 64];
    snprintf(tail, sizeof tail, "%llu", (unsigned long long)(n - 1));
    /* The query (status=..., relative=1) rides along on every hop; a query
     * too long for the buffer is dropped rather than cut. */
    const char *q = qs && strlen(qs) < 64 ? qs : NULL;
    if (rel && strcmp(rel, "1") == 0)
        snprintf(loc, sizeof loc, "%s%s%s", tail, q ? "?" : "", q ? q : "");
    else if (abs && strcmp(abs, "1") == 0)
        snprintf(loc, sizeof loc, "%s/redirect/%s%s%s", c->s->url, tail, q ? "?" : "",
                 q ? q : "");
    else
        snprintf(loc, sizeof loc, "/redirect/%s%s%s", tail, q ? "?" : "", q ? q : "");
    reply_redirect(c, code, loc);
}

static void h_redirect_loop(ctx *c)
{
    int code;
    if (redirect_code(c, &code))
        return;
    reply_redirect(c, code, "/redirect-loop");
}

static void h_redirect_to(ctx *c)
{
    int code;
    const char *url = qget(&c->q, "url");
    if (!url || !*url) {
        reply_error(c, 400, "/redirect-to needs ?url=");
        return;
    }
    if (redirect_code(c, &code))
        return;
    reply_redirect(c, code, url);
}

static void h_delay(ctx *c)
{
    double d;
    if (parse_seconds(c->rest, &d)) {
        reply_error(c, 400, "/delay/SECONDS takes a non-negative number");
        return;
    }
    if (d > c->s->opt.max_delay)
        d = c->s->opt.max_delay;
    op *o = op_new(c, OP_DELAY);
    if (!o) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    struct timeval tv = tv_of(d);
    evtimer_add(o->ev, &tv);
}

static void h_drip(ctx *c)
{
    uint64_t bytes = 10, code = 200;
    double duration = 2, delay = 0;
    const char *v;
    if (((v = qget(&c->q, "bytes")) && parse_u64(v, c->s->opt.max_bytes, &bytes)) ||
        ((v = qget(&c->q, "numbytes")) && parse_u64(v, c->s->opt.max_bytes, &bytes)) ||
        ((v = qget(&c->q, "duration")) && parse_seconds(v, &duration)) ||
        ((v = qget(&c->q, "delay")) && parse_seconds(v, &delay)) ||
        ((v = qget(&c->q, "code")) && (parse_u64(v, 999, &code) || code < 200 || code > 599))) {
        reply_error(c, 400, "/drip takes bytes, duration, delay and code");
        return;
    }
    if (duration > c->s->opt.max_delay)
        duration = c->s->opt.max_delay;
    if (delay > c->s->opt.max_delay)
        delay = c->s->opt.max_delay;
    if (ensure_blocks(c->s) != 0) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    op *o = op_new(c, OP_DRIP);
    if (!o) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    o->pattern = PAT_STARS;
    o->total = bytes;
    o->code = (int)code;
    /* Up to 200 pieces, more when a piece would exceed STREAM_CHUNK. */
    uint64_t ticks = bytes < DRIP_MAX_TICKS ? bytes : DRIP_MAX_TICKS;
    if (bytes / STREAM_CHUNK + 1 > ticks)
        ticks = bytes / STREAM_CHUNK + 1;
    o->ticks_left = ticks ? (uint32_t)ticks : 1;
    o->tick = tv_of(duration / o->ticks_left);
    add_header(c->req, "Content-Type", "application/octet-stream");
    set_content_length(c->req, bytes);
    log_access(c->s, c->req, (int)code, bytes);
    /* Headers after `delay`; then ticks_left pieces, one per tick, the last
     * one about `duration` seconds after the headers. */
    struct timeval tv = tv_of(delay);
    evtimer_add(o->ev, &tv);
}

static void h_reset(ctx *c)
{
    uint64_t bytes = 10000;
    const char *v = qget(&c->q, "bytes");
    if (v && (parse_u64(v, c->s->opt.max_bytes, &bytes) || bytes < 2)) {
        reply_error(c, 400, "/reset takes bytes >= 2");
        return;
    }
    v = qget(&c->q, "rst");
    if (ensure_blocks(c->s) != 0) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    op *o = op_new(c, OP_RESET);
    if (!o) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    /* Half the promised body, streamed like /large; once it has left, the
     * connection closes. */
    o->rst = v && strcmp(v, "1") == 0;
    o->pattern = PAT_TEXT;
    o->total = c->head ? 0 : bytes / 2;
    o->started = 1;
    add_header(c->req, "Content-Type", "text/plain; charset=utf-8");
    set_content_length(c->req, bytes);
    log_access(c->s, c->req, 200, bytes);
    evhttp_send_reply_start(c->req, 200, "OK");
    event_active(o->ev, EV_TIMEOUT, 1);
}

static void compressed_doc(silk_buf *b, const char *name)
{
    silk_buf_printf(b,
                    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
                    "<body><h1>%s</h1><p id=\"encoding\">%s</p>\n",
                    name, name, name);
    for (int i = 0; i < 50; i++)
        silk_buf_printf(b, "<p>Line %d of a body sent with Content-Encoding: %s.</p>\n", i, name);
    silk_buf_puts(b, "</body></html>\n");
}

static void h_compressed(ctx *c, const char *name, const char *encoding, int window_bits)
{
    silk_buf doc = SILK_BUF_INIT, z = SILK_BUF_INIT;
    compressed_doc(&doc, name);
    if (doc.err || z_compress(doc.data, doc.len, window_bits, &z) != 0) {
        reply_text(c, 500, "500 cannot compress\n");
    } else {
        add_header(c->req, "Content-Encoding", encoding);
        reply(c, 200, "text/html; charset=utf-8", z.data, z.len);
    }
    silk_buf_free(&doc);
    silk_buf_free(&z);
}

static void h_gzip(ctx *c) { h_compressed(c, "gzip", "gzip", 16 + 15); }

static void h_deflate(ctx *c)
{
    const char *raw = qget(&c->q, "raw");
    if (raw && strcmp(raw, "1") == 0)
        h_compressed(c, "deflate", "deflate", -15);
    else
        h_compressed(c, "deflate", "deflate", 15);
}

/* One block of zeros compressed after a full flush is a self-contained run
 * of deflate blocks, so a bomb of any size is that run repeated. */
static int bomb_prepare(silk_testserver *s)
{
    if (s->bomb_seg)
        return 0;
    int rc = SILK_ENOMEM;
    unsigned char *zeros = silk_calloc(1, BOMB_BLOCK);
    unsigned char *seg = silk_malloc(64 * 1024);
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    int inited = 0;
    if (!zeros || !seg)
        goto out;
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        goto out;
    inited = 1;
    z.next_in = zeros;
    z.avail_in = BOMB_BLOCK;
    z.next_out = seg;
    z.avail_out = 64 * 1024;
    if (deflate(&z, Z_FULL_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0) {
        rc = SILK_EIO;
        goto out;
    }
    size_t seg_len = 64 * 1024 - z.avail_out;
    z.next_out = s->bomb_tail;
    z.avail_out = sizeof s->bomb_tail;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = SILK_EIO;
        goto out;
    }
    s->bomb_tail_len = sizeof s->bomb_tail - z.avail_out;
    s->bomb_seg_len = seg_len;
    s->bomb_crc = (uint32_t)crc32(0, zeros, BOMB_BLOCK);
    s->bomb_adler = (uint32_t)adler32(1, zeros, BOMB_BLOCK);
    s->bomb_seg = seg;
    seg = NULL;
    rc = 0;
out:
    if (inited)
        deflateEnd(&z);
    silk_free(zeros);
    silk_free(seg);
    return rc;
}

/* The CRC-32 (adler == 0) or Adler-32 (adler == 1) of `blocks` blocks of
 * zeros, from the check of one block, by doubling: O(log blocks). */
static uint32_t repeat_check(uint32_t one, uint64_t blocks, int adler)
{
    uint32_t acc = adler ? 1 : 0, pow = one;
    z_off_t len = BOMB_BLOCK;
    while (blocks) {
        if (blocks & 1)
            acc = (uint32_t)(adler ? adler32_combine(acc, pow, len) : crc32_combine(acc, pow, len));
        pow = (uint32_t)(adler ? adler32_combine(pow, pow, len) : crc32_combine(pow, pow, len));
        len *= 2;
        blocks >>= 1;
    }
    return acc;
}

static void h_bomb(ctx *c)
{
    silk_testserver *s = c->s;
    uint64_t size = s->opt.bomb_bytes;
    const char *v = qget(&c->q, "size");
    if (v && (parse_u64(v, BOMB_MAX, &size) || size == 0)) {
        reply_error(c, 400, "/bomb takes size in 1..64 GiB");
        return;
    }
    const char *enc = qget(&c->q, "encoding");
    int zlib_wrap = enc && strcmp(enc, "deflate") == 0;
    if (enc && !zlib_wrap && strcmp(enc, "gzip") != 0) {
        reply_error(c, 400, "/bomb takes encoding=gzip or deflate");
        return;
    }
    if (bomb_prepare(s) != 0) {
        reply_text(c, 500, "500 cannot prepare the bomb\n");
        return;
    }
    op *o = op_new(c, OP_STREAM);
    if (!o) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    uint64_t blocks = (size + BOMB_BLOCK - 1) / BOMB_BLOCK;
    uint64_t inflated = blocks * BOMB_BLOCK;
    o->bomb_blocks = blocks;
    if (zlib_wrap) {
        uint32_t a = repeat_check(s->bomb_adler, blocks, 1);
        o->bomb_head[0] = 0x78;
        o->bomb_head[1] = 0xda;
        o->bomb_head_len = 2;
        for (int i = 0; i < 4; i++)
            o->bomb_trailer[i] = (unsigned char)(a >> (24 - 8 * i));
        o->bomb_trailer_len = 4;
    } else {
        static const unsigned char gz[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3 };
        uint32_t crc = repeat_check(s->bomb_crc, blocks, 0);
        memcpy(o->bomb_head, gz, sizeof gz);
        o->bomb_head_len = sizeof gz;
        for (int i = 0; i < 4; i++) {
            o->bomb_trailer[i] = (unsigned char)(crc >> (8 * i));
            o->bomb_trailer[4 + i] = (unsigned char)((uint32_t)inflated >> (8 * i));
        }
        o->bomb_trailer_len = 8;
    }
    uint64_t total = o->bomb_head_len + blocks * s->bomb_seg_len + s->bomb_tail_len +
                     o->bomb_trailer_len;
    add_header(c->req, "Content-Encoding", zlib_wrap ? "deflate" : "gzip");
    start_stream(c, 200, "text/html; charset=utf-8", PAT_BOMB, total, 0, o);
}

static void h_large_or_binary(ctx *c, int binary)
{
    uint64_t bytes = binary ? 1024 : 1024 * 1024;
    const char *v = qget(&c->q, "bytes");
    if (v && parse_u64(v, c->s->opt.max_bytes, &bytes)) {
        reply_error(c, 400, "bytes must be a number within the server's max_bytes");
        return;
    }
    const char *ch = qget(&c->q, "chunked");
    int chunked = ch && strcmp(ch, "1") == 0;
    if (ensure_blocks(c->s) != 0) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    op *o = op_new(c, OP_STREAM);
    if (!o) {
        reply_text(c, 503, "503 out of memory\n");
        return;
    }
    if (binary)
        add_header(c->req, "Content-Disposition", "attachment; filename=\"data.bin\"");
    start_stream(c, 200, binary ? "application/octet-stream" : "text/plain; charset=utf-8",
                 binary ? PAT_BINARY : PAT_TEXT, bytes, chunked, o);
}

static void h_large(ctx *c) { h_large_or_binary(c, 0); }
static void h_binary(ctx *c) { h_large_or_binary(c, 1); }

/* ---- charsets ---- */

typedef struct charset {
    const char *aliases; /* "|name|alias|" */
    const char *label;   /* what the declarations say */
    const char *text;    /* UTF-8 */
    const char *bytes;   /* text in this encoding; NULL for UTF-16 */
    size_t nbytes;
    int utf16;           /* 0, 1 = little-endian, 2 = big-endian (both with a BOM) */
} charset;

#define TEXT_UTF8 "Crème brûlée à 5 € — 日本語 · 中文 · Ελληνικά · Русский · 😀"
#define TEXT_LATIN1 "Café crème brûlée, naïve façade: £5, ½ off, 2×3 ÷ ¿Qué? ©"
#define TEXT_CP1252 "“Smart quotes” – en dash — em dash… 5 € per café, ‰ ™ Š Ž œ"
#define TEXT_SJIS "日本語のテキスト：カタカナ、ひらがな、漢字。価格は１２３円です。"
#define TEXT_GB18030 "中文测试页面：简体字与繁體字，价格￥123，€5，😀。"

static const char BYTES_LATIN1[] =
    "Caf\351 cr\350me br\373l\351e, na\357ve fa\347ade: \2435, \275 off, 2\3273 \367 "
    "\277Qu\351? \251";
static const char BYTES_CP1252[] =
    "\223Smart quotes\224 \226 en dash \227 em dash\205 5 \200 per caf\351, \211 \231 \212 "
    "\216 \234";
static const char BYTES_SJIS[] =
    "\223\372\226{\214\352\202\314\203e\203L\203X\203g\201F\203J\203^\203J\203i\201A\202\320"
    "\202\347\202\252\202\310\201A\212\277\216\232\201B\211\277\212i\202\315\202P\202Q\202R"
    "\211~\202\305\202\267\201B";
static const char BYTES_GB18030[] =
    "\326\320\316\304\262\342\312\324\322\263\303\346\243\272\274\362\314\345\327\326\323\353"
    "\267\261\363w\327\326\243\254\274\333\270\361\243\244" "123\243\254\242\343" "5\243\254"
    "\2249\3746\241\243";

static const charset CHARSETS[] = {
    { "|utf-8|utf8|", "utf-8", TEXT_UTF8, TEXT_UTF8, sizeof TEXT_UTF8 - 1, 0 },
    { "|latin-1|latin1|iso-8859-1|iso8859-1|", "iso-8859-1", TEXT_LATIN1, BYTES_LATIN1,
      sizeof BYTES_LATIN1 - 1, 0 },
    { "|cp1252|windows-1252|", "windows-1252", TEXT_CP1252, BYTES_CP1252,
      sizeof BYTES_CP1252 - 1, 0 },
    { "|shift_jis|shift-jis|sjis|", "shift_jis", TEXT_SJIS, BYTES_SJIS, sizeof BYTES_SJIS - 1,
      0 },
    { "|gb18030|", "gb18030", TEXT_GB18030, BYTES_GB18030, sizeof BYTES_GB18030 - 1, 0 },
    { "|utf-16|utf16|utf-16le|", "utf-16", TEXT_UTF8, NULL, 0, 1 },
    { "|utf-16be|", "utf-16", TEXT_UTF8, NULL, 0, 2 },
};

static const charset *charset_find(const char *name)
{
    if (!name || !*name || strlen(name) > 32 || strchr(name, '|'))
        return NULL;
    char key[40];
    snprintf(key, sizeof key, "|%s|", name);
    for (char *p = key; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (size_t i = 0; i < sizeof CHARSETS / sizeof CHARSETS[0]; i++)
        if (strstr(CHARSETS[i].aliases, key))
            return &CHARSETS[i];
    return NULL;
}

const char *silk_testserver_charset_text(const char *name)
{
    const charset *cs = charset_find(name);
    return cs ? cs->text : NULL;
}

/* UTF-8 (valid, ours) to UTF-16 with a BOM. */
static void to_utf16(silk_buf *out, const char *s, size_t n, int be)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned units[2];
    silk_buf_append(out, be ? "\xfe\xff" : "\xff\xfe", 2);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        if (u[i] < 0x80)
            cp = u[i], i += 1;
        else if (u[i] < 0xe0)
            cp = ((u[i] & 0x1fu) << 6) | (u[i + 1] & 0x3fu), i += 2;
        else if (u[i] < 0xf0)
            cp = ((u[i] & 0x0fu) << 12) | ((u[i + 1] & 0x3fu) << 6) | (u[i + 2] & 0x3fu), i += 3;
        else
            cp = ((u[i] & 0x07u) << 18) | ((u[i + 1] & 0x3fu) << 12) |
                 ((u[i + 2] & 0x3fu) << 6) | (u[i + 3] & 0x3fu),
            i += 4;
        size_t k = 0;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[k++] = 0xd800 | (cp >> 10);
            units[k++] = 0xdc00 | (cp & 0x3ff);
        } else {
            units[k++] = cp;
        }
        for (size_t j = 0; j < k; j++) {
            char two[2];
            two[be ? 0 : 1] = (char)(units[j] >> 8);
            two[be ? 1 : 0] = (char)(units[j] & 0xff);
            silk_buf_append(out, two, 2);
        }
    }
}

static int token_ok(const char *s)
{
    if (!*s || strlen(s) > 40)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("-_.:", *s)))
            return 0;
    return 1;
}

static void h_charset(ctx *c)
{
    const charset *cs = charset_find(c->rest);
    if (!cs) {
        h_not_found(c);
        return;
    }
    const char *decl = qget(&c->q, "decl");
    const char *label = qget(&c->q, "label");
    if (!decl)
        decl = "header";
    if (label && !token_ok(label)) {
        reply_error(c, 400, "label must be a charset token");
        return;
    }
    if (!label)
        label = cs->label;
    int header = strcmp(decl, "header") == 0, meta = strcmp(decl, "meta") == 0;
    int equiv = strcmp(decl, "http-equiv") == 0, none = strcmp(decl, "none") == 0;
    int bom = strcmp(decl, "bom") == 0;
    if (!(header || meta || equiv || none || bom) || (bom && strcmp(cs->label, "utf-8") != 0)) {
        reply_error(c, 400, "decl is header, meta, http-equiv, none, or bom (utf-8 only)");
        return;
    }
    silk_buf doc = SILK_BUF_INIT;
    if (bom)
        silk_buf_puts(&doc, "\xef\xbb\xbf");
    silk_buf_puts(&doc, "<!DOCTYPE html>\n<html>\n<head>\n");
    if (meta)
        silk_buf_printf(&doc, "<meta charset=\"%s\">\n", label);
    if (equiv)
        silk_buf_printf(&doc,
                        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=%s\">\n",
                        label);
    silk_buf_printf(&doc,
                    "<title>charset %s</title>\n</head>\n<body>\n<h1>%s</h1>\n<p id=\"text\">",
                    cs->label, cs->label);
    if (cs->utf16)
        silk_buf_puts(&doc, cs->text);
    else
        silk_buf_append(&doc, cs->bytes, cs->nbytes);
    silk_buf_puts(&doc, "</p>\n</body>\n</html>\n");
    char ctype[80];
    if (header)
        snprintf(ctype, sizeof ctype, "text/html; charset=%s", label);
    else
        snprintf(ctype, sizeof ctype, "text/html");
    silk_buf *out = &c->s->text;
    silk_buf_reset(out);
    if (cs->utf16)
        to_utf16(out, doc.data ? doc.data : "", doc.len, cs->utf16 == 2);
    else
        silk_buf_append(out, doc.data ? doc.data : "", doc.len);
    if (doc.err || out->err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, 200, ctype, out->data, out->len);
    silk_buf_free(&doc);
}

/* ---- echo endpoints ---- */

static int cookie_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
            strchr("()<>@,;:\\\"/[]?={}", *s))
            return 0;
    return 1;
}

static int cookie_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ';')
            return 0;
    return 1;
}

static void h_cookies_set(ctx *c)
{
    silk_value *set = silk_value_new_dict();
    silk_buf hdr = SILK_BUF_INIT;
    if (!set) {
        reply_text(c, 500, "500 out of memory\n");
        return;
    }
    for (size_t i = 0; i < c->q.n; i++) {
        const qpair *p = &c->q.items[i];
        if (!cookie_name_ok(p->k) || !cookie_value_ok(p->v)) {
            silk_value_free(set);
            silk_buf_free(&hdr);
            reply_error(c, 400, "a cookie name or value has characters a cookie cannot hold");
            return;
        }
    }
    for (size_t i = 0; i < c->q.n; i++) {
        const qpair *p = &c->q.items[i];
        silk_buf_reset(&hdr);
        silk_buf_printf(&hdr, "%s=%s; Path=/", p->k, p->v);
        if (!hdr.err)
            add_header(c->req, "Set-Cookie", hdr.data);
        silk_dict_set(set, p->k, lossy_string(p->v, strlen(p->v)));
    }
    silk_buf_free(&hdr);
    silk_value *root = silk_value_new_dict();
    if (root && silk_dict_set(root, "set", set) != 0) {
        silk_value_free(root);
        root = NULL;
    } else if (!root) {
        silk_value_free(set);
    }
    reply_json(c, 200, root);
}

static void h_cookies_delete(ctx *c)
{
    silk_value *del = silk_value_new_list();
    if (!del) {
        reply_text(c, 500, "500 out of memory\n");
        return;
    }
    silk_buf hdr = SILK_BUF_INIT;
    for (size_t i = 0; i < c->q.n; i++) {
        const qpair *p = &c->q.items[i];
        if (!cookie_name_ok(p->k))
            continue;
        silk_buf_reset(&hdr);
        silk_buf_printf(&hdr, "%s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
                        p->k);
        if (!hdr.err)
            add_header(c->req, "Set-Cookie", hdr.data);
        silk_list_push(del, silk_value_new_string(p->k));
    }
    silk_buf_free(&hdr);
    silk_value *root = silk_value_new_dict();
    if (root && silk_dict_set(root, "deleted", del) != 0) {
        silk_value_free(root);
        root = NULL;
    } else if (!root) {
        silk_value_free(del);
    }
    reply_json(c, 200, root);
}

static void h_cookies(ctx *c)
{
    silk_value *jar = silk_value_new_dict();
    if (!jar) {
        reply_text(c, 500, "500 out of memory\n");
        return;
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
    struct evkeyval *h;
    TAILQ_FOREACH(h, in, next)
    {
        if (strcasecmp(h->key, "Cookie") != 0)
            continue;
        const char *p = h->value;
        while (*p) {
            while (*p == ' ' || *p == ';')
                p++;
            const char *end = strchr(p, ';');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            const char *eq = memchr(p, '=', len);
            if (len && eq && eq > p) {
                silk_value *name = lossy_string(p, (size_t)(eq - p));
                if (name)
                    silk_dict_setn(jar, silk_value_str(name), silk_value_strlen(name),
                                   lossy_string(eq + 1, len - (size_t)(eq - p) - 1));
                silk_value_free(name);
            }
            p += len;
        }
    }
    silk_value *root = silk_value_new_dict();
    if (root && silk_dict_set(root, "cookies", jar) != 0) {
        silk_value_free(root);
        root = NULL;
    } else if (!root) {
        silk_value_free(jar);
    }
    reply_json(c, 200, root);
}

/* Request headers as a dict; repeated names are joined with ", ". */
static silk_value *headers_dict(struct evhttp_request *req)
{
    silk_value *d = silk_value_new_dict();
    if (!d)
        return NULL;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
    {
        silk_value *old = silk_dict_get(d, h->key);
        silk_value *nv;
        if (old) {
            silk_buf b = SILK_BUF_INIT;
            silk_buf_append(&b, silk_value_str(old), silk_value_strlen(old));
            silk_buf_puts(&b, ", ");
            silk_buf_puts(&b, h->value);
            nv = b.err ? NULL : lossy_string(b.data ? b.data : "", b.len);
            silk_buf_free(&b);
        } else {
            nv = lossy_string(h->value, strlen(h->value));
        }
        silk_value *key = lossy_string(h->key, strlen(h->key));
        if (key && nv)
            silk_dict_setn(d, silk_value_str(key), silk_value_strlen(key), nv);
        else
            silk_value_free(nv);
        silk_value_free(key);
    }
    return d;
}

static silk_value *query_dict(const query *q)
{
    silk_value *d = silk_value_new_dict();
    for (size_t i = 0; d && i < q->n; i++) {
        silk_value *k = lossy_string(q->items[i].k, strlen(q->items[i].k));
        if (k)
            silk_dict_setn(d, silk_value_str(k), silk_value_strlen(k),
                           lossy_string(q->items[i].v, strlen(q->items[i].v)));
        silk_value_free(k);
    }
    return d;
}

static void h_headers(ctx *c)
{
    silk_value *root = silk_value_new_dict();
    if (root && silk_dict_set(root, "headers", headers_dict(c->req)) != 0) {
        silk_value_free(root);
        root = NULL;
    }
    reply_json(c, 200, root);
}

static void h_post(ctx *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(in);
    const unsigned char *body = len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
    const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(c->req),
                                           "Content-Type");
    silk_value *root = silk_value_new_dict();
    if (!root || !body) {
        silk_value_free(root);
        reply_text(c, 500, "500 out of memory\n");
        return;
    }
    silk_dict_set_str(root, "method", method_name(evhttp_request_get_command(c->req)));
    silk_dict_set(root, "path", lossy_string(c->path, strlen(c->path)));
    silk_dict_set(root, "args", query_dict(&c->q));
    silk_dict_set(root, "content_type", ctype ? lossy_string(ctype, strlen(ctype))
                                              : silk_value_new_null());
    silk_dict_set_int(root, "length", (int64_t)len);
    if (utf8_valid_prefix(body, len) == len) {
        silk_dict_set(root, "body", silk_value_new_stringn((const char *)body, len));
    } else {
        /* Binary bodies come back base64-encoded so the JSON stays valid. */
        char *b64 = silk_malloc(4 * ((len + 2) / 3) + 1);
        if (b64) {
            int n = EVP_EncodeBlock((unsigned char *)b64, body, (int)len);
            silk_dict_set(root, "body_base64", silk_value_new_string_own(b64, (size_t)n));
        }
    }
    if (ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
        char *form = silk_strndup((const char *)body, len);
        query fq;
        if (form && query_parse(form, &fq) == 0) {
            silk_dict_set(root, "form", query_dict(&fq));
            query_free(&fq);
        }
        silk_free(form);
    }
    silk_dict_set(root, "headers", headers_dict(c->req));
    reply_json(c, 200, root);
}

/* ---- sitemaps, auth, refresh, xml ---- */

static void sitemap_urls(silk_testserver *s, silk_buf *b, uint32_t from, uint32_t to)
{
    silk_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (uint32_t i = from; i < to && !b->err; i++)
        silk_buf_printf(b,
                        "<url><loc>%s/p/%u.html</loc><lastmod>2024-01-01</lastmod>"
                        "<priority>0.5</priority></url>\n",
                        s->url, i);
    silk_buf_puts(b, "</urlset>\n");
}

static void h_sitemap(ctx *c)
{
    silk_testserver *s = c->s;
    uint32_t n = s->opt.pages < SITEMAP_MAX_URLS ? s->opt.pages : SITEMAP_MAX_URLS;
    silk_buf_reset(&s->text);
    sitemap_urls(s, &s->text, 0, n);
    if (s->text.err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, 200, "application/xml", s->text.data, s->text.len);
}

static void h_sitemap_gz(ctx *c)
{
    silk_testserver *s = c->s;
    uint32_t n = s->opt.pages < SITEMAP_MAX_URLS ? s->opt.pages : SITEMAP_MAX_URLS;
    silk_buf z = SILK_BUF_INIT;
    silk_buf_reset(&s->text);
    sitemap_urls(s, &s->text, 0, n);
    if (s->text.err || z_compress(s->text.data, s->text.len, 16 + 15, &z) != 0)
        reply_text(c, 500, "500 cannot compress\n");
    else
        reply(c, 200, "application/x-gzip", z.data, z.len);
    silk_buf_free(&z);
}

static void h_sitemap_index(ctx *c)
{
    silk_testserver *s = c->s;
    silk_buf *b = &s->text;
    silk_buf_reset(b);
    silk_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    uint32_t parts = (s->opt.pages + SITEMAP_PART - 1) / SITEMAP_PART;
    for (uint32_t k = 0; k < parts && !b->err; k++)
        silk_buf_printf(b, "<sitemap><loc>%s/sitemap/%u.xml</loc></sitemap>\n", s->url, k);
    silk_buf_puts(b, "</sitemapindex>\n");
    if (b->err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, 200, "application/xml", b->data, b->len);
}

static void h_sitemap_part(ctx *c)
{
    silk_testserver *s = c->s;
    const char *dot = strchr(c->rest, '.');
    char num[12];
    uint64_t k;
    uint32_t parts = (s->opt.pages + SITEMAP_PART - 1) / SITEMAP_PART;
    if (!dot || strcmp(dot, ".xml") != 0 || dot - c->rest > 10 || dot == c->rest) {
        h_not_found(c);
        return;
    }
    memcpy(num, c->rest, (size_t)(dot - c->rest));
    num[dot - c->rest] = '\0';
    if (parse_u64(num, UINT32_MAX, &k) || k >= parts) {
        h_not_found(c);
        return;
    }
    uint32_t from = (uint32_t)k * SITEMAP_PART;
    uint32_t to = s->opt.pages - from < SITEMAP_PART ? s->opt.pages : from + SITEMAP_PART;
    silk_buf_reset(&s->text);
    sitemap_urls(s, &s->text, from, to);
    if (s->text.err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, 200, "application/xml", s->text.data, s->text.len);
}

static void h_basic_auth(ctx *c)
{
    const char *slash = strchr(c->rest, '/');
    if (!slash || slash == c->rest || strchr(slash + 1, '/')) {
        h_not_found(c);
        return;
    }
    char *user = silk_strndup(c->rest, (size_t)(slash - c->rest));
    char *pass = silk_strdup(slash + 1);
    silk_buf want = SILK_BUF_INIT;
    char *b64 = NULL;
    if (!user || !pass)
        goto oom;
    pct_decode(user, 0);
    pct_decode(pass, 0);
    silk_buf_printf(&want, "%s:%s", user, pass);
    if (want.err)
        goto oom;
    b64 = silk_malloc(4 * ((want.len + 2) / 3) + 1);
    if (!b64)
        goto oom;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)want.data, (int)want.len);
    const char *auth =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
    int ok = 0;
    if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
        const char *tok = auth + 6;
        while (*tok == ' ')
            tok++;
        size_t tl = strlen(tok);
        while (tl && tok[tl - 1] == ' ')
            tl--;
        ok = tl == strlen(b64) && memcmp(tok, b64, tl) == 0;
    }
    silk_value *root = silk_value_new_dict();
    if (root) {
        silk_dict_set_bool(root, "authenticated", ok);
        silk_dict_set(root, "user", lossy_string(user, strlen(user)));
    }
    if (!ok)
        add_header(c->req, "WWW-Authenticate", "Basic realm=\"silk\"");
    reply_json(c, ok ? 200 : 401, root);
    goto out;
oom:
    reply_text(c, 500, "500 out of memory\n");
out:
    silk_free(user);
    silk_free(pass);
    silk_free(b64);
    silk_buf_free(&want);
}

static void h_meta_refresh(ctx *c)
{
    const char *url = qget(&c->q, "url");
    const char *delay = qget(&c->q, "delay");
    double d;
    if (!url || !*url)
        url = "/";
    if (!delay)
        delay = "0";
    if (parse_seconds(delay, &d)) {
        reply_error(c, 400, "delay must be a non-negative number");
        return;
    }
    silk_buf *b = &c->s->text;
    silk_buf_reset(b);
    silk_buf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
                       "<meta http-equiv=\"refresh\" content=\"%s; url=", delay);
    html_escape(b, url);
    silk_buf_puts(b, "\">\n<title>Meta refresh</title></head>\n<body><p>Moving to <a href=\"");
    html_escape(b, url);
    silk_buf_puts(b, "\">");
    html_escape(b, url);
    silk_buf_puts(b, "</a>.</p></body></html>\n");
    reply_html_buf(c, 200);
}

static void h_xml(ctx *c)
{
    silk_testserver *s = c->s;
    silk_buf *b = &s->text;
    silk_testsite_page p;
    uint32_t n = s->opt.pages < 10 ? s->opt.pages : 10;
    silk_buf_reset(b);
    silk_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<catalog xmlns:p=\"urn:silk:price\">\n");
    for (uint32_t i = 0; i < n; i++) {
        silk_testsite_page_info(&s->opt, i, &p);
        silk_buf_printf(b,
                        "  <product id=\"%u\">\n    <title>%s</title>\n"
                        "    <p:price currency=\"USD\">%u.%02u</p:price>\n"
                        "    <link href=\"%s\"/>\n  </product>\n",
                        i, p.title, p.price_cents / 100, p.price_cents % 100, p.path);
    }
    silk_buf_puts(b, "</catalog>\n");
    if (b->err)
        reply_text(c, 500, "500 out of memory\n");
    else
        reply(c, 200, "application/xml", b->data, b->len);
}

/* ---- dispatch ---- */

static const struct route {
    const char *path;
    int prefix; /* path is a prefix ending in '/'; the rest goes to the handler */
    int id;
    handler_fn fn;
} ROUTES[] = {
    { "/", 0, R_INDEX, h_index },
    { "/p/", 1, R_PAGE, h_page },
    { "/robots.txt", 0, R_ROBOTS, h_robots },
    { "/status/", 1, R_STATUS, h_status },
    { "/redirect/", 1, R_REDIRECT, h_redirect },
    { "/redirect-loop", 0, R_REDIRECT_LOOP, h_redirect_loop },
    { "/redirect-to", 0, R_REDIRECT_TO, h_redirect_to },
    { "/delay/", 1, R_DELAY, h_delay },
    { "/drip", 0, R_DRIP, h_drip },
    { "/reset", 0, R_RESET, h_reset },
    { "/gzip", 0, R_GZIP, h_gzip },
    { "/deflate", 0, R_DEFLATE, h_deflate },
    { "/bomb", 0, R_BOMB, h_bomb },
    { "/charset/", 1, R_CHARSET, h_charset },
    { "/cookies", 0, R_COOKIES, h_cookies },
    { "/cookies/set", 0, R_COOKIES_SET, h_cookies_set },
    { "/cookies/delete", 0, R_COOKIES_DELETE, h_cookies_delete },
    { "/headers", 0, R_HEADERS, h_headers },
    { "/post", 0, R_POST, h_post },
    { "/sitemap.xml", 0, R_SITEMAP, h_sitemap },
    { "/sitemap.xml.gz", 0, R_SITEMAP_GZ, h_sitemap_gz },
    { "/sitemap_index.xml", 0, R_SITEMAP_INDEX, h_sitemap_index },
    { "/sitemap/", 1, R_SITEMAP_PART, h_sitemap_part },
    { "/basic-auth/", 1, R_BASIC_AUTH, h_basic_auth },
    { "/meta-refresh", 0, R_META_REFRESH, h_meta_refresh },
    { "/large", 0, R_LARGE, h_large },
    { "/binary", 0, R_BINARY, h_binary },
    { "/xml", 0, R_XML, h_xml },
};

static const struct route NOT_FOUND_ROUTE = { "", 0, R_NOT_FOUND, h_not_found };

static const struct route *route_of(const char *path, const char **rest)
{
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const struct route *r = &ROUTES[i];
        size_t n = strlen(r->path);
        if (r->prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0) {
            *rest = path + (r->prefix ? n : strlen(path));
            return r;
        }
    }
    *rest = path + strlen(path);
    return &NOT_FOUND_ROUTE;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    silk_testserver *s = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *qs = u ? evhttp_uri_get_query(u) : NULL;
    if (!path || !*path)
        path = "/";
    ctx c = { .s = s, .req = req, .path = path, .head = is_head(req) };
    const struct route *r = route_of(path, &c.rest);
    count_add(&s->requests);
    count_add(&s->route_hits[r->id]);
    if (r->id == R_PAGE) {
        uint32_t id;
        if (page_id(s, c.rest, &id) == 0 && id < s->page_hits_len)
            __atomic_fetch_add(&s->page_hits[id], 1, __ATOMIC_RELAXED);
    }
    add_header(req, "Server", "silk-testserver");
    if (query_parse(qs, &c.q) != 0) {
        reply_text(&c, 503, "503 out of memory\n");
        return;
    }
    r->fn(&c);
    query_free(&c.q);
}

/* ---- TLS ---- */

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!e)
        return 0;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

static int tls_setup(silk_testserver *s)
{
    int rc = SILK_ETLS;
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    BIO *bio = NULL;
    SSL_CTX *sctx = NULL;
    BIGNUM *bn = NULL;
    unsigned char serial[16];
    char *pem = NULL;
    long pem_len;

    pkey = EVP_EC_gen("P-256");
    x = X509_new();
    if (!pkey || !x || !X509_set_version(x, 2) || RAND_bytes(serial, sizeof serial) != 1)
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto out;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 24 * 3600) || !X509_set_pubkey(x, pkey) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"silk test server", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"127.0.0.1", -1, -1, 0) ||
        !X509_set_issuer_name(x, name) ||
        !add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth") ||
        !add_ext(x, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") ||
        !add_ext(x, NID_subject_key_identifier, "hash") || !X509_sign(x, pkey, EVP_sha256()))
        goto out;
    bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_X509(bio, x))
        goto out;
    pem_len = BIO_get_mem_data(bio, &pem);
    if (pem_len <= 0)
        goto out;
    sctx = SSL_CTX_new(TLS_server_method());
    if (!sctx || !SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate(sctx, x) != 1 || SSL_CTX_use_PrivateKey(sctx, pkey) != 1 ||
        SSL_CTX_check_private_key(sctx) != 1)
        goto out;
    s->cert_pem = silk_strndup(pem, (size_t)pem_len);
    if (!s->cert_pem) {
        rc = SILK_ENOMEM;
        goto out;
    }
    s->ssl_ctx = sctx;
    sctx = NULL;
    rc = 0;
out:
    if (rc == SILK_ETLS) {
        unsigned long e = ERR_peek_last_error();
        const char *why = e ? ERR_reason_error_string(e) : NULL;
        silk_error(rc, "test server: cannot make a TLS certificate: %s", why ? why : "unknown");
    } else if (rc) {
        silk_error(rc, "test server: no memory for the certificate");
    }
    ERR_clear_error();
    SSL_CTX_free(sctx);
    BIO_free(bio);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
    silk_testserver *s = arg;
    SSL *ssl = SSL_new(s->ssl_ctx);
    if (!ssl)
        return NULL;
    /* CLOSE_ON_FREE also makes libevent free ssl when this fails. */
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- lifecycle ---- */

static int normalize(const silk_testserver_options *in, silk_testserver_options *o)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (!o->pages)
        o->pages = SILK_TESTSITE_DEFAULT_PAGES;
    if (!o->links_per_page)
        o->links_per_page = SILK_TESTSITE_DEFAULT_LINKS;
    if (o->pages > SILK_TESTSITE_MAX_PAGES || o->links_per_page > SILK_TESTSITE_MAX_LINKS)
        return silk_error(SILK_ERANGE, "test server: pages at most %u, links at most %u",
                          SILK_TESTSITE_MAX_PAGES, SILK_TESTSITE_MAX_LINKS);
    if (o->port < 0 || o->port > 65535)
        return silk_error(SILK_EINVAL, "test server: port %d", o->port);
    if (o->max_delay == 0)
        o->max_delay = 60;
    if (!isfinite(o->max_delay) || o->max_delay < 0 || o->max_delay > 86400)
        return silk_error(SILK_EINVAL, "test server: max_delay must be in 0..86400 seconds");
    if (!o->max_bytes)
        o->max_bytes = (uint64_t)4 << 30;
    if (!o->bomb_bytes)
        o->bomb_bytes = (uint64_t)2 << 30;
    if (o->bomb_bytes > BOMB_MAX)
        return silk_error(SILK_ERANGE, "test server: bomb_bytes at most 64 GiB");
    if (!o->robots_status)
        o->robots_status = 200;
    if (o->robots_status < 200 || o->robots_status > 599)
        return silk_error(SILK_EINVAL, "test server: robots_status %d", o->robots_status);
    return 0;
}

/* Copies the robots.txt body with "{base}" replaced by the server URL. */
static char *expand_robots(const char *tpl, const char *base)
{
    silk_buf b = SILK_BUF_INIT;
    const char *p = tpl;
    for (;;) {
        const char *m = strstr(p, "{base}");
        if (!m) {
            silk_buf_puts(&b, p);
            break;
        }
        silk_buf_append(&b, p, (size_t)(m - p));
        silk_buf_puts(&b, base);
        p = m + 6;
    }
    return silk_buf_detach(&b);
}

static int server_open(struct event_base *base, const silk_testserver_options *opt,
                       silk_testserver **out)
{
    *out = NULL;
    silk_testserver *s = silk_calloc(1, sizeof *s);
    if (!s)
        return silk_error(SILK_ENOMEM, "test server: no memory");
    int rc = normalize(opt, &s->opt);
    silk_list_init(&s->ops);
    s->wake[0] = s->wake[1] = -1;
    s->base = base;
    if (rc)
        goto err;
    rc = SILK_ENOMEM;
    s->page_hits_len = s->opt.pages < PAGE_HITS_MAX ? s->opt.pages : PAGE_HITS_MAX;
    s->page_hits = silk_calloc(s->page_hits_len, sizeof *s->page_hits);
    if (!s->page_hits)
        goto err;
    if (s->opt.https && (rc = tls_setup(s)) != 0)
        goto err;
    rc = SILK_ENOMEM;
    s->scratch = evbuffer_new();
    s->http = evhttp_new(base);
    if (!s->scratch || !s->http) {
        silk_error(rc, "test server: no memory for evhttp");
        goto err;
    }
    evhttp_set_max_headers_size(s->http, MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(s->http, MAX_BODY_SIZE);
    evhttp_set_timeout(s->http, IDLE_TIMEOUT_S);
    evhttp_set_default_content_type(s->http, NULL);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, on_request, s);
    if (s->ssl_ctx)
        evhttp_set_bevcb(s->http, tls_bev, s);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(s->http, "127.0.0.1", (ev_uint16_t)s->opt.port);
    if (!bound) {
        rc = silk_error(SILK_EIO, "test server: cannot listen on 127.0.0.1:%d: %s", s->opt.port,
                        strerror(errno));
        goto err;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &sl) != 0) {
        rc = silk_error(SILK_EIO, "test server: getsockname: %s", strerror(errno));
        goto err;
    }
    s->port = ntohs(sa.sin_port);
    s->opt.port = s->port;
    snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", s->ssl_ctx ? "https" : "http", s->port);
    s->robots = expand_robots(s->opt.robots_txt ? s->opt.robots_txt
                                                : "User-agent: *\nAllow: /\n\n"
                                                  "Sitemap: {base}/sitemap_index.xml\n",
                              s->url);
    if (!s->robots) {
        rc = silk_error(SILK_ENOMEM, "test server: no memory for robots.txt");
        goto err;
    }
    s->opt.robots_txt = s->robots;
    *out = s;
    return 0;
err:
    silk_testserver_free(s);
    return rc;
}

int silk_testserver_start(struct event_base *base, const silk_testserver_options *opt,
                          silk_testserver **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "test server: out is NULL");
    *out = NULL;
    if (!base)
        return silk_error(SILK_EINVAL, "test server: base is NULL");
    /* a client that hangs up mid-body must not kill the process */
    signal(SIGPIPE, SIG_IGN);
    return server_open(base, opt, out);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    silk_testserver *s = arg;
    char b[16];
    (void)what;
    while (read(fd, b, sizeof b) > 0) {
    }
    event_base_loopbreak(s->base);
}

static void *server_thread(void *arg)
{
    silk_testserver *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

int silk_testserver_start_thread(const silk_testserver_options *opt, silk_testserver **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "test server: out is NULL");
    *out = NULL;
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up mid-body */
    struct event_base *base = event_base_new();
    if (!base)
        return silk_error(SILK_ENOMEM, "test server: cannot create an event base");
    silk_testserver *s = NULL;
    int rc = server_open(base, opt, &s);
    if (rc) {
        event_base_free(base);
        return rc;
    }
    s->threaded = 1;
    if (pipe(s->wake) != 0 || fcntl(s->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(s->wake[1], F_SETFL, O_NONBLOCK) != 0) {
        rc = silk_error(SILK_EIO, "test server: pipe: %s", strerror(errno));
        goto err;
    }
    s->wake_ev = event_new(base, s->wake[0], EV_READ | EV_PERSIST, on_wake, s);
    if (!s->wake_ev || event_add(s->wake_ev, NULL) != 0) {
        rc = silk_error(SILK_ENOMEM, "test server: no memory for the wake event");
        goto err;
    }
    int e = pthread_create(&s->thread, NULL, server_thread, s);
    if (e != 0) {
        rc = silk_error(SILK_EIO, "test server: pthread_create: %s", strerror(e));
        goto err;
    }
    s->thread_started = 1;
    *out = s;
    return 0;
err:
    silk_testserver_free(s);
    return rc;
}

void silk_testserver_free(silk_testserver *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        ssize_t w;
        do {
            w = write(s->wake[1], "x", 1);
        } while (w < 0 && errno == EINTR);
        pthread_join(s->thread, NULL);
    }
    /* Unfinished responses: a live connection takes its request with it in
     * evhttp_free; a dead one's detached request is ours to end. */
    while (!silk_list_empty(&s->ops)) {
        op *o = silk_container_of(s->ops.next, op, node);
        struct evhttp_request *req = o->req;
        struct evhttp_connection *evcon = o->evcon;
        if (evcon)
            evhttp_connection_set_closecb(evcon, NULL, NULL);
        op_free(o);
        if (!evcon)
            evhttp_send_reply_end(req);
    }
    if (s->http)
        evhttp_free(s->http);
    if (s->scratch)
        evbuffer_free(s->scratch);
    if (s->wake_ev)
        event_free(s->wake_ev);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    SSL_CTX_free(s->ssl_ctx);
    if (s->threaded)
        event_base_free(s->base);
    silk_buf_free(&s->text);
    silk_free(s->cert_pem);
    silk_free(s->robots);
    silk_free(s->page_hits);
    silk_free(s->block_text);
    silk_free(s->block_binary);
    silk_free(s->block_stars);
    silk_free(s->bomb_seg);
    silk_free(s);
}

const char *silk_testserver_url(const silk_testserver *s) { return s ? s->url : NULL; }

int silk_testserver_port(const silk_testserver *s) { return s ? s->port : -1; }

const silk_testserver_options *silk_testserver_options_get(const silk_testserver *s)
{
    return s ? &s->opt : NULL;
}

const char *silk_testserver_cert_pem(const silk_testserver *s) { return s ? s->cert_pem : NULL; }

uint64_t silk_testserver_requests(const silk_testserver *s)
{
    return s ? __atomic_load_n(&s->requests, __ATOMIC_RELAXED) : 0;
}

uint64_t silk_testserver_hits(const silk_testserver *s, const char *path)
{
    if (!s || !path)
        return 0;
    char buf[512];
    size_t n = strcspn(path, "?#");
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, path, n);
    buf[n] = '\0';
    if (!buf[0])
        strcpy(buf, "/");
    const char *rest;
    const struct route *r = route_of(buf, &rest);
    uint32_t id;
    if (r->id == R_PAGE && page_id(s, rest, &id) == 0 && id < s->page_hits_len)
        return __atomic_load_n(&s->page_hits[id], __ATOMIC_RELAXED);
    return __atomic_load_n(&s->route_hits[r->id], __ATOMIC_RELAXED);
}
