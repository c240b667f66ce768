/* silk — Request, Response (+ TextResponse, HtmlResponse, XmlResponse),
 * Item, headers and request fingerprints.
 *
 * All three are tracked objects (they begin with silk_object): create with
 * the *_new functions (one reference, owned by the caller), keep with
 * silk_ref, release with silk_unref. Strings given to setters are copied. */
#ifndef SILK_HTTP_H
#define SILK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silk/object.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- headers: multi-valued, names case-insensitive, order kept ---- */

typedef struct silk_header {
    char *name;  /* normalised as Scrapy does: Title-Case ("Content-Type") */
    char *value;
} silk_header;

typedef struct silk_headers {
    silk_header *items;
    size_t len, cap;
} silk_headers;

void silk_headers_init(silk_headers *h);
void silk_headers_clear(silk_headers *h);
/* Appends one value under name. 0 or SILK_ENOMEM/SILK_EINVAL (a name or
 * value with CR, LF or NUL is refused: header injection). */
int silk_headers_add(silk_headers *h, const char *name, const char *value);
/* Replaces every value of name with this one. */
int silk_headers_set(silk_headers *h, const char *name, const char *value);
/* The LAST value of name (as Scrapy's Headers[name]), or NULL. Borrowed. */
const char *silk_headers_get(const silk_headers *h, const char *name);
/* Number of values of name; silk_headers_get_nth returns the i-th. */
size_t silk_headers_count(const silk_headers *h, const char *name);
const char *silk_headers_get_nth(const silk_headers *h, const char *name, size_t i);
/* Removes every value of name; returns how many were removed. */
size_t silk_headers_del(silk_headers *h, const char *name);
int silk_headers_copy(silk_headers *dst, const silk_headers *src);

/* ---- callbacks ---- */

struct silk_ctx;        /* a callback's context (engine) */
struct silk_failure;    /* what went wrong (downloader) */
typedef struct silk_request silk_request;
typedef struct silk_response silk_response;

/* A spider callback: parses response, yields requests and items through
 * ctx. Returns 0 or a SILK_E* code (logged as a spider error). */
typedef int (*silk_callback_fn)(struct silk_ctx *ctx, silk_response *response);
/* An errback: handles the failure of the request it was attached to. */
typedef int (*silk_errback_fn)(struct silk_ctx *ctx, struct silk_failure *failure);

/* ---- Request ---- */

extern silk_type silk_type_request;      /* "Request" */
extern silk_type silk_type_form_request; /* "FormRequest" < Request */

struct silk_request {
    silk_object obj;
    char *url;            /* safe_url_string + escape_ajax applied */
    char *method;         /* upper-case */
    silk_headers headers;
    char *body;           /* may hold NULs; NULL when empty */
    size_t body_len;
    silk_value *cookies;  /* dict {name: value} or list of dicts; may be NULL */
    silk_value *meta;     /* dict; NULL until first used (silk_request_meta) */
    silk_value *cb_kwargs; /* dict; NULL until first used */
    silk_callback_fn callback;
    char *callback_name;  /* the name it is registered under, or NULL */
    silk_errback_fn errback;
    char *errback_name;
    int priority;
    bool dont_filter;
    silk_value *flags;    /* list of strings; may be NULL */
    char *encoding;       /* "utf-8" unless set */
    silk_list qlink;      /* owned by the scheduler queue that holds it */
    /* What the engine's Referer and Depth middlewares decided, held
     * compactly while the request waits in the memory queue (siblings share
     * one Referer string); silk_request_materialize() writes them into
     * headers["Referer"] and meta["depth"] before anything else looks. */
    struct silk_shared_str *pending_referer;
    int32_t pending_depth_plus1; /* 0: none */
};

/* A reference-counted string several requests can share. */
typedef struct silk_shared_str {
    uint32_t refs;
    size_t len;
    char s[];
} silk_shared_str;
/* A new shared string (one reference) or NULL on ENOMEM. */
silk_shared_str *silk_shared_str_new(const char *s, size_t n);
silk_shared_str *silk_shared_str_ref(silk_shared_str *s);
void silk_shared_str_unref(silk_shared_str *s);
/* Writes the pending Referer/depth into headers/meta. 0 or SILK_ENOMEM. */
int silk_request_materialize(silk_request *r);

/* Creates a GET request for url. Applies Scrapy's constructor clean-up
 * (safe_url_string, escape_ajax) and refuses a URL without a scheme
 * ("Missing scheme in request url: ...") or an unsupported one with
 * SILK_ESCHEME; *out is then NULL and silk_last_error() says why. The
 * caller owns the one reference. */
int silk_request_new(const char *url, silk_request **out);
/* Same, with a method (upper-cased) and a body of len bytes (copied). */
int silk_request_new_full(const char *url, const char *method, const void *body, size_t len,
                          silk_request **out);
/* Scrapy's FormRequest: formdata is a dict of string (or list-of-string)
 * values, url-encoded as urlencode(doseq=True). POST (the default when
 * method is NULL) puts them in the body with Content-Type
 * application/x-www-form-urlencoded; GET appends them to the query. */
int silk_form_request_new(const char *url, const char *method, const silk_value *formdata,
                          silk_request **out);
/* The meta / cb_kwargs dicts, created on first use (NULL on ENOMEM).
 * Borrowed: they live as long as the request. */
silk_value *silk_request_meta(silk_request *r);
silk_value *silk_request_cb_kwargs(silk_request *r);
/* Setters; copy their argument. */
int silk_request_set_url(silk_request *r, const char *url);
int silk_request_set_body(silk_request *r, const void *body, size_t len);
int silk_request_set_callback(silk_request *r, silk_callback_fn fn, const char *name);
int silk_request_set_errback(silk_request *r, silk_errback_fn fn, const char *name);
int silk_request_add_flag(silk_request *r, const char *flag);
/* A copy of r with a new reference (Scrapy's request.replace() with no
 * changes): meta and cb_kwargs are copied, object references in them are
 * shared. NULL on ENOMEM. */
silk_request *silk_request_copy(const silk_request *r);

/* Scrapy >= 2.7 fingerprint: sha1 of the sorted-key JSON of {"body": hex,
 * "headers": {hex(name): [hex(value)...]}, "method", "url":
 * canonicalize_url(url, keep_fragments)}. include_headers: NULL-terminated
 * header names, or NULL. json_out, when not NULL, receives the hashed text
 * (caller frees). Returns 0 or a SILK_E* code. */
int silk_request_fingerprint(const silk_request *r, const char *const *include_headers,
                             bool keep_fragments, uint8_t out[20], char **json_out);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void silk_hex(const uint8_t *bytes, size_t n, char *out);

/* ---- Response ---- */

extern silk_type silk_type_response;      /* "Response" */
extern silk_type silk_type_text_response; /* "TextResponse" < Response */
extern silk_type silk_type_html_response; /* "HtmlResponse" < TextResponse */
extern silk_type silk_type_xml_response;  /* "XmlResponse" < TextResponse */

struct silk_response {
    silk_object obj;
    char *url;
    int status;
    silk_headers headers;
    char *body;           /* NUL-terminated for convenience; body_len excludes it */
    size_t body_len;
    silk_request *request; /* the request that produced it (a reference) */
    silk_value *flags;    /* list of strings; may be NULL */
    char *protocol;       /* "HTTP/1.1", "HTTP/2"; may be NULL */
    char *ip_address;     /* may be NULL */
    /* TextResponse and subtypes: decoded once, on demand */
    char *encoding;       /* Python codec name once known */
    char *text;           /* UTF-8; may point into body (text_is_body) */
    size_t text_len;
    bool text_is_body;    /* text is a view of body: not freed on its own */
    /* a parsed document cached by the selectors module */
    void *doc;
    void (*doc_free)(void *doc);
    /* a document parsed off the loop thread, not yet adopted by a Selector */
    void *parsed;
    void (*parsed_free)(void *parsed);
};

/* Creates a response of type t (silk_type_response or a subtype) for url,
 * copying body. request may be NULL; otherwise the response holds a
 * reference to it. The caller owns the one reference. */
int silk_response_new(silk_type *t, const char *url, int status, const void *body, size_t len,
                      silk_request *request, silk_response **out);
/* Takes ownership of body (a silk block of len+1 bytes, NUL-terminated). */
int silk_response_new_own(silk_type *t, const char *url, int status, char *body, size_t len,
                          silk_request *request, silk_response **out);
/* The request's meta (Scrapy: response.meta is response.request.meta), or
 * NULL when the response has no request. Borrowed. */
silk_value *silk_response_meta(silk_response *r);
/* true for TextResponse and its subtypes. */
bool silk_response_is_text(const silk_response *r);

#ifdef __cplusplus
}
#endif
#endif
