/* silk — Request and FormRequest. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/http.h"
#include "silk/url.h"

static void request_destroy(silk_object *o);
static int request_describe(const silk_object *o, char *buf, size_t n);

silk_type silk_type_request =
    SILK_TYPE_INIT("Request", NULL, sizeof(silk_request), request_destroy, request_describe);
silk_type silk_type_form_request = SILK_TYPE_INIT("FormRequest", &silk_type_request,
                                                  sizeof(silk_request), request_destroy,
                                                  request_describe);

_Static_assert(offsetof(silk_request, obj) == 0, "the object header comes first");

static void request_destroy(silk_object *o)
{
    silk_request *r = (silk_request *)o;
    silk_free(r->url);
    silk_free(r->method);
    silk_headers_clear(&r->headers);
    silk_free(r->body);
    silk_value_free(r->cookies);
    silk_value_free(r->meta);
    silk_value_free(r->cb_kwargs);
    silk_free(r->callback_name);
    silk_free(r->errback_name);
    silk_value_free(r->flags);
    silk_free(r->encoding);
    silk_shared_str_unref(r->pending_referer);
}

silk_shared_str *silk_shared_str_new(const char *str, size_t n)
{
    silk_shared_str *s = silk_malloc_for(&silk_type_request, sizeof *s + n + 1);
    if (!s)
        return NULL;
    s->refs = 1;
    s->len = n;
    memcpy(s->s, str, n);
    s->s[n] = '\0';
    return s;
}

silk_shared_str *silk_shared_str_ref(silk_shared_str *s)
{
    if (s)
        s->refs++;
    return s;
}

void silk_shared_str_unref(silk_shared_str *s)
{
    if (s && --s->refs == 0)
        silk_free(s);
}

int silk_request_materialize(silk_request *r)
{
    int rc;
    if (r->pending_referer) {
        if (!silk_headers_get(&r->headers, "Referer") &&
            (rc = silk_headers_add(&r->headers, "Referer", r->pending_referer->s)))
            return rc;
        silk_shared_str_unref(r->pending_referer);
        r->pending_referer = NULL;
    }
    if (r->pending_depth_plus1) {
        silk_value *meta = silk_request_meta(r);
        if (!meta || (rc = silk_dict_set_int(meta, "depth", r->pending_depth_plus1 - 1)))
            return SILK_ENOMEM;
        r->pending_depth_plus1 = 0;
    }
    return 0;
}

static int request_describe(const silk_object *o, char *buf, size_t n)
{
    const silk_request *r = (const silk_request *)o;
    return snprintf(buf, n, "<%s %s>", r->method ? r->method : "GET", r->url ? r->url : "");
}

int silk_request_set_url(silk_request *r, const char *url)
{
    char *u = NULL;
    if (!url)
        return silk_error(SILK_EINVAL, "Request url must be a string, got NULL");
    /* Scrapy's constructor: safe_url_string, escape_ajax, scheme check */
    int rc = silk_url_request_url(url, &u);
    if (rc)
        return rc;
    silk_free(r->url);
    r->url = u;
    return 0;
}

int silk_request_set_body(silk_request *r, const void *body, size_t len)
{
    char *b = NULL;
    if (len && !(b = silk_strndup(body, len)))
        return SILK_ENOMEM;
    silk_free(r->body);
    r->body = b;
    r->body_len = len;
    return 0;
}

static int set_method(silk_request *r, const char *method)
{
    char *m = silk_strdup(method && *method ? method : "GET");
    if (!m)
        return SILK_ENOMEM;
    for (char *p = m; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    silk_free(r->method);
    r->method = m;
    return 0;
}

static int request_create(silk_type *t, const char *url, const char *method, const void *body,
                          size_t len, silk_request **out)
{
    *out = NULL;
    silk_request *r = silk_object_new(t);
    if (!r)
        return SILK_ENOMEM;
    silk_headers_init(&r->headers);
    int rc;
    if ((rc = silk_request_set_url(r, url)) || (rc = set_method(r, method)) ||
        (rc = silk_request_set_body(r, body, len))) {
        silk_unref(r);
        return rc;
    }
    *out = r;
    return 0;
}

int silk_request_new_full(const char *url, const char *method, const void *body, size_t len,
                          silk_request **out)
{
    return request_create(&silk_type_request, url, method, body, len, out);
}

int silk_request_new(const char *url, silk_request **out)
{
    return request_create(&silk_type_request, url, "GET", NULL, 0, out);
}

/* urllib's quote_plus: letters, digits and "_.-~" stay, space is "+". */
static void quote_plus(silk_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~') {
            silk_buf_putc(b, (char)c);
        } else if (c == ' ') {
            silk_buf_putc(b, '+');
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            silk_buf_append(b, e, 3);
        }
    }
}

static int scalar_text(const silk_value *v, silk_buf *b)
{
    switch (v->kind) {
    case SILK_V_STRING: quote_plus(b, v->u.s.ptr, v->u.s.len); return 0;
    case SILK_V_INT: silk_buf_printf(b, "%lld", (long long)v->u.i); return 0;
    case SILK_V_BOOL: silk_buf_puts(b, v->u.b ? "True" : "False"); return 0;
    default:
        return silk_error(SILK_ETYPE, "FormRequest form values must be strings, got %s",
                          silk_value_kind_name(v->kind));
    }
}

/* urlencode(formdata, doseq=True) */
static int urlencode(const silk_value *form, silk_buf *b)
{
    if (!form)
        return 0;
    if (form->kind != SILK_V_DICT)
        return silk_error(SILK_ETYPE, "FormRequest formdata must be a dict");
    bool first = true;
    for (size_t i = 0; i < form->u.dict.len; i++) {
        const silk_dict_entry *e = &form->u.dict.entries[i];
        const silk_value *v = e->value;
        size_t nvals = v->kind == SILK_V_LIST ? v->u.list.len : 1;
        for (size_t k = 0; k < nvals; k++) {
            const silk_value *item = v->kind == SILK_V_LIST ? v->u.list.items[k] : v;
            if (!first)
                silk_buf_putc(b, '&');
            first = false;
            quote_plus(b, e->key, e->key_len);
            silk_buf_putc(b, '=');
            int rc = scalar_text(item, b);
            if (rc)
                return rc;
        }
    }
    return b->err;
}

int silk_form_request_new(const char *url, const char *method, const silk_value *formdata,
                          silk_request **out)
{
    silk_buf q = SILK_BUF_INIT;
    char *full = NULL;
    int rc = urlencode(formdata, &q);
    *out = NULL;
    if (rc)
        goto out;
    bool get = method && strcasecmp(method, "GET") == 0;
    if (get) {
        /* Scrapy: urlunsplit(url._replace(query=querystr)) replaces the query */
        const char *hash = strchr(url, '#');
        const char *qm = strchr(url, '?');
        size_t base = qm && (!hash || qm < hash) ? (size_t)(qm - url)
                                                : (hash ? (size_t)(hash - url) : strlen(url));
        full = silk_asprintf("%.*s%s%s%s", (int)base, url, q.len ? "?" : "", q.data ? q.data : "",
                             hash ? hash : "");
        if (!full) {
            rc = SILK_ENOMEM;
            goto out;
        }
        rc = request_create(&silk_type_form_request, full, "GET", NULL, 0, out);
    } else {
        rc = request_create(&silk_type_form_request, url, method ? method : "POST", q.data, q.len,
                            out);
        if (!rc && q.len &&
            (rc = silk_headers_set(&(*out)->headers, "Content-Type",
                                   "application/x-www-form-urlencoded"))) {
            silk_unref(*out);
            *out = NULL;
        }
    }
out:
    silk_free(full);
    silk_buf_free(&q);
    return rc;
}

silk_value *silk_request_meta(silk_request *r)
{
    if (!r->meta)
        r->meta = silk_value_new_dict();
    return r->meta;
}

silk_value *silk_request_cb_kwargs(silk_request *r)
{
    if (!r->cb_kwargs)
        r->cb_kwargs = silk_value_new_dict();
    return r->cb_kwargs;
}

static int replace_name(char **slot, const char *name)
{
    char *n = NULL;
    if (name && !(n = silk_strdup(name)))
        return SILK_ENOMEM;
    silk_free(*slot);
    *slot = n;
    return 0;
}

int silk_request_set_callback(silk_request *r, silk_callback_fn fn, const char *name)
{
    int rc = replace_name(&r->callback_name, name);
    if (!rc)
        r->callback = fn;
    return rc;
}

int silk_request_set_errback(silk_request *r, silk_errback_fn fn, const char *name)
{
    int rc = replace_name(&r->errback_name, name);
    if (!rc)
        r->errback = fn;
    return rc;
}

int silk_request_add_flag(silk_request *r, const char *flag)
{
    if (!r->flags && !(r->flags = silk_value_new_list()))
        return SILK_ENOMEM;
    return silk_list_push(r->flags, silk_value_new_string(flag));
}

static int copy_value(silk_value **dst, const silk_value *src)
{
    if (!src)
        return 0;
    *dst = silk_value_copy(src);
    return *dst ? 0 : SILK_ENOMEM;
}

static int copy_str(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = silk_strdup(src);
    return *dst ? 0 : SILK_ENOMEM;
}

silk_request *silk_request_copy(const silk_request *r)
{
    silk_request *c = silk_object_new(r->obj.type);
    if (!c)
        return NULL;
    silk_headers_init(&c->headers);
    c->callback = r->callback;
    c->errback = r->errback;
    c->priority = r->priority;
    c->dont_filter = r->dont_filter;
    c->pending_referer = silk_shared_str_ref(r->pending_referer);
    c->pending_depth_plus1 = r->pending_depth_plus1;
    if (copy_str(&c->url, r->url) || copy_str(&c->method, r->method) ||
        silk_headers_copy(&c->headers, &r->headers) || silk_request_set_body(c, r->body, r->body_len) ||
        copy_value(&c->cookies, r->cookies) || copy_value(&c->meta, r->meta) ||
        copy_value(&c->cb_kwargs, r->cb_kwargs) || copy_str(&c->callback_name, r->callback_name) ||
        copy_str(&c->errback_name, r->errback_name) || copy_value(&c->flags, r->flags) ||
        copy_str(&c->encoding, r->encoding)) {
        silk_unref(c);
        return NULL;
    }
    return c;
}

void silk_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static silk_value *hex_value(const void *p, size_t n)
{
    char *h = silk_malloc(2 * n + 1);
    if (!h)
        return NULL;
    silk_hex(p, n, h);
    return silk_value_new_string_own(h, 2 * n);
}

static int fingerprint_headers(const silk_request *r, const char *const *include, silk_value *out)
{
    for (; include && *include; include++) {
        size_t n = silk_headers_count(&r->headers, *include);
        if (n == 0)
            continue;
        char *lower = silk_strdup(*include);
        if (!lower)
            return SILK_ENOMEM;
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        silk_value *list = silk_value_new_list();
        for (size_t i = 0; list && i < n; i++) {
            const char *v = silk_headers_get_nth(&r->headers, *include, i);
            if (silk_list_push(list, hex_value(v, strlen(v)))) {
                silk_value_free(list);
                list = NULL;
            }
        }
        silk_value *key = hex_value(lower, strlen(lower));
        silk_free(lower);
        int rc = key && list ? silk_dict_set(out, key->u.s.ptr, list) : SILK_ENOMEM;
        if (!key || !list)
            silk_value_free(list);
        silk_value_free(key);
        if (rc)
            return rc;
    }
    return 0;
}

/* The hashed text without building a dict: the keys of Scrapy's
 * fingerprint JSON are always body, headers, method, url in sorted order. */
static int fingerprint_json_fast(const silk_request *r, const char *canonical, silk_buf *b)
{
    silk_buf_reserve(b, 2 * r->body_len + strlen(canonical) + 64);
    silk_buf_puts(b, "{\"body\": \"");
    if (r->body_len && !silk_buf_reserve(b, 2 * r->body_len)) {
        silk_hex((const uint8_t *)r->body, r->body_len, b->data + b->len);
        b->len += 2 * r->body_len;
    }
    silk_buf_puts(b, "\", \"headers\": {}, \"method\": ");
    silk_value m = { .kind = SILK_V_STRING, .u.s = { r->method, strlen(r->method) } };
    int rc = silk_json_encode(&m, SILK_JSON_ENSURE_ASCII, b);
    silk_buf_puts(b, ", \"url\": ");
    silk_value u = { .kind = SILK_V_STRING, .u.s = { (char *)canonical, strlen(canonical) } };
    if (!rc)
        rc = silk_json_encode(&u, SILK_JSON_ENSURE_ASCII, b);
    silk_buf_putc(b, '}');
    return rc ? rc : b->err;
}

int silk_request_fingerprint(const silk_request *r, const char *const *include_headers,
                             bool keep_fragments, uint8_t out[20], char **json_out)
{
    if (!include_headers || !*include_headers) {
        char *canonical = NULL;
        silk_buf b = SILK_BUF_INIT;
        unsigned int mdlen = 0;
        if (json_out)
            *json_out = NULL;
        int rc = silk_url_canonicalize(r->url, true, keep_fragments, &canonical);
        if (!rc)
            rc = fingerprint_json_fast(r, canonical, &b);
        silk_free(canonical);
        if (!rc && (!EVP_Digest(b.data, b.len, out, &mdlen, EVP_sha1(), NULL) || mdlen != 20))
            rc = silk_error(SILK_EINVAL, "SHA-1 is not available from libcrypto");
        if (!rc && json_out)
            *json_out = silk_buf_detach(&b);
        silk_buf_free(&b);
        return rc;
    }
    char *canonical = NULL, *json = NULL;
    silk_value *d = NULL, *headers = NULL;
    if (json_out)
        *json_out = NULL;
    int rc = silk_url_canonicalize(r->url, true, keep_fragments, &canonical);
    if (rc)
        goto out;
    rc = SILK_ENOMEM;
    if (!(d = silk_value_new_dict()) || !(headers = silk_value_new_dict()))
        goto out;
    if ((rc = fingerprint_headers(r, include_headers, headers)))
        goto out;
    if ((rc = silk_dict_set(d, "body", hex_value(r->body ? r->body : "", r->body_len))))
        goto out;
    rc = silk_dict_set(d, "headers", headers);
    headers = NULL; /* silk_dict_set took it, even on failure */
    if (rc)
        goto out;
    if ((rc = silk_dict_set_str(d, "method", r->method)) || (rc = silk_dict_set_str(d, "url", canonical)))
        goto out;
    rc = silk_json_dumps(d, SILK_JSON_ENSURE_ASCII | SILK_JSON_SORT_KEYS | SILK_JSON_PY_SEPARATORS, &json);
    if (rc)
        goto out;
    unsigned int mdlen = 0;
    if (!EVP_Digest(json, strlen(json), out, &mdlen, EVP_sha1(), NULL) || mdlen != 20) {
        rc = silk_error(SILK_EINVAL, "SHA-1 is not available from libcrypto");
        goto out;
    }
    if (json_out) {
        *json_out = json;
        json = NULL;
    }
out:
    silk_value_free(headers);
    silk_value_free(d);
    silk_free(canonical);
    silk_free(json);
    return rc;
}
