/* silk — the job format of a request: one JSON object with the keys of
 * Scrapy's Request.to_dict (defaults omitted), the body kept apart as bytes.
 * docs/jobs.md documents it for programs other than silk. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/jobdir.h"

/* Encodes a C string as a JSON string without allocating a value for it. */
static int put_str(silk_buf *out, const char *s, size_t n)
{
    silk_value v = { .kind = SILK_V_STRING };
    v.u.s.ptr = (char *)s;
    v.u.s.len = n;
    return silk_json_encode(&v, 0, out);
}

static int put_key(silk_buf *out, const char *key)
{
    silk_buf_putc(out, ',');
    silk_buf_putc(out, '"');
    silk_buf_puts(out, key);
    silk_buf_puts(out, "\":");
    return out->err;
}

static bool empty_container(const silk_value *v)
{
    return !v || ((v->kind == SILK_V_DICT || v->kind == SILK_V_LIST) &&
                  (v->kind == SILK_V_DICT ? v->u.dict.len : v->u.list.len) == 0);
}

/* A dynamic value under key; the reason names the field when it cannot be
 * stored (an object reference, a string that is not UTF-8). */
static int put_value(silk_buf *out, const char *key, const silk_value *v)
{
    if (empty_container(v))
        return 0;
    int rc = put_key(out, key);
    if (!rc)
        rc = silk_json_encode(v, 0, out);
    if (rc == SILK_EUNSERIALIZABLE || rc == SILK_EENCODING || rc == SILK_ERANGE) {
        char why[512];
        snprintf(why, sizeof why, "%s", silk_last_error());
        return silk_error(SILK_EUNSERIALIZABLE, "%s: %s", key, why);
    }
    return rc;
}

static int put_callback(silk_buf *out, const char *key, const char *name, bool has_fn,
                        const char *registered, const silk_spider *spider)
{
    if (!name)
        name = registered;
    if (!name) {
        if (!has_fn)
            return 0;
        return silk_error(SILK_EUNSERIALIZABLE, "%s is not registered by name on spider '%s'", key,
                          spider ? spider->name : "(none)");
    }
    int rc = put_key(out, key);
    return rc ? rc : put_str(out, name, strlen(name));
}

int silk_request_to_json(const silk_request *req, const silk_spider *spider, silk_buf *out)
{
    size_t mark = out->len;
    int rc = 0;
    const char *cls = NULL;
    if (req->obj.type == &silk_type_form_request)
        cls = "FormRequest";
    else if (req->obj.type != &silk_type_request) {
        rc = silk_error(SILK_EUNSERIALIZABLE, "a %s (a subtype of Request) cannot be rebuilt from disk",
                        silk_object_type_name(req));
        goto out;
    }
    silk_buf_puts(out, "{\"url\":");
    if ((rc = put_str(out, req->url, strlen(req->url))))
        goto unser_str;
    const char *cbname = NULL, *ebname = NULL;
    if (!req->callback_name && req->callback && spider)
        cbname = silk_spider_callback_name(spider, req->callback);
    if (!req->errback_name && req->errback && spider)
        ebname = silk_spider_errback_name(spider, req->errback);
    if ((rc = put_callback(out, "callback", req->callback_name, req->callback != NULL, cbname, spider)) ||
        (rc = put_callback(out, "errback", req->errback_name, req->errback != NULL, ebname, spider)))
        goto out;
    if (req->method && strcmp(req->method, "GET") != 0) {
        put_key(out, "method");
        if ((rc = put_str(out, req->method, strlen(req->method))))
            goto unser_str;
    }
    if (req->headers.len) {
        /* {name: [values]}: Scrapy's dict(headers); repeated names keep
         * their values together, in order of first appearance */
        put_key(out, "headers");
        silk_buf_putc(out, '{');
        bool first = true;
        for (size_t i = 0; i < req->headers.len; i++) {
            const char *name = req->headers.items[i].name;
            bool dup = false;
            for (size_t k = 0; k < i && !dup; k++)
                dup = strcasecmp(req->headers.items[k].name, name) == 0;
            if (dup)
                continue;
            if (!first)
                silk_buf_putc(out, ',');
            first = false;
            if ((rc = put_str(out, name, strlen(name))))
                goto unser_str;
            silk_buf_puts(out, ":[");
            bool vfirst = true;
            for (size_t k = i; k < req->headers.len; k++) {
                if (strcasecmp(req->headers.items[k].name, name) != 0)
                    continue;
                if (!vfirst)
                    silk_buf_putc(out, ',');
                vfirst = false;
                const char *v = req->headers.items[k].value;
                if ((rc = put_str(out, v, strlen(v))))
                    goto unser_str;
            }
            silk_buf_putc(out, ']');
        }
        silk_buf_putc(out, '}');
    }
    if ((rc = put_value(out, "cookies", req->cookies)) || (rc = put_value(out, "meta", req->meta)))
        goto out;
    if (req->encoding && strcmp(req->encoding, "utf-8") != 0) {
        put_key(out, "encoding");
        if ((rc = put_str(out, req->encoding, strlen(req->encoding))))
            goto unser_str;
    }
    if (req->priority) {
        put_key(out, "priority");
        silk_buf_printf(out, "%d", req->priority);
    }
    if (req->dont_filter) {
        put_key(out, "dont_filter");
        silk_buf_puts(out, "true");
    }
    if ((rc = put_value(out, "flags", req->flags)) || (rc = put_value(out, "cb_kwargs", req->cb_kwargs)))
        goto out;
    if (cls) {
        put_key(out, "_class");
        put_str(out, cls, strlen(cls));
    }
    silk_buf_putc(out, '}');
    rc = out->err;
    goto out;
unser_str:
    if (rc == SILK_EENCODING)
        rc = silk_error(SILK_EUNSERIALIZABLE, "the url, method, a header or the encoding is not valid UTF-8");
out:
    if (rc && !out->err) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

/* ---- reading ---- */

/* Takes the value out of an entry, so that freeing the parsed document
 * leaves it alone. */
static silk_value *steal(silk_value *dict, const char *key)
{
    for (size_t i = 0; i < dict->u.dict.len; i++) {
        silk_dict_entry *e = &dict->u.dict.entries[i];
        if (e->value && strcmp(e->key, key) == 0) {
            silk_value *v = e->value;
            e->value = NULL;
            return v;
        }
    }
    return NULL;
}

static char *steal_str(silk_value *v)
{
    char *s = v->u.s.ptr;
    v->u.s.ptr = NULL;
    v->u.s.len = 0;
    return s;
}

static int bad(const char *what) { return silk_error(SILK_ETYPE, "job request: %s", what); }

int silk_request_from_json(const char *json, size_t len, const void *body, size_t body_len,
                           const silk_spider *spider, silk_request **out)
{
    silk_value *doc = NULL, *v = NULL;
    silk_request *r = NULL;
    int rc;
    *out = NULL;
    if ((rc = silk_json_decode(json, len, &doc)))
        return rc;
    if (doc->kind != SILK_V_DICT) {
        rc = bad("not a JSON object");
        goto err;
    }
    silk_type *t = &silk_type_request;
    const silk_value *cls = silk_dict_get(doc, "_class");
    if (cls) {
        const char *c = silk_value_str(cls);
        if (c && (strcmp(c, "FormRequest") == 0 || strcmp(c, "scrapy.http.request.form.FormRequest") == 0))
            t = &silk_type_form_request;
        else if (!c || (strcmp(c, "Request") != 0 && strcmp(c, "scrapy.http.request.Request") != 0)) {
            rc = bad("_class is not Request or FormRequest");
            goto err;
        }
    }
    /* the URL was cleaned when the request was made: no second pass */
    if (!(r = silk_object_new(t))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    silk_headers_init(&r->headers);
    v = steal(doc, "url");
    if (!v || v->kind != SILK_V_STRING) {
        rc = bad("no url");
        goto err;
    }
    r->url = steal_str(v);
    silk_value_free(v);
    v = NULL;
    const char *method = silk_dict_get_str(doc, "method", "GET");
    if (!(r->method = silk_strdup(method))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    const silk_value *h = silk_dict_get(doc, "headers");
    if (h && h->kind != SILK_V_DICT) {
        rc = bad("headers is not an object");
        goto err;
    }
    for (size_t i = 0; h && i < h->u.dict.len; i++) {
        const silk_dict_entry *e = &h->u.dict.entries[i];
        const silk_value *vals = e->value;
        size_t n = vals->kind == SILK_V_LIST ? vals->u.list.len : 1;
        for (size_t k = 0; k < n; k++) {
            const silk_value *one = vals->kind == SILK_V_LIST ? vals->u.list.items[k] : vals;
            if (one->kind != SILK_V_STRING) {
                rc = bad("a header value is not a string");
                goto err;
            }
            if ((rc = silk_headers_add(&r->headers, e->key, one->u.s.ptr)))
                goto err;
        }
    }
    if (body && body_len && (rc = silk_request_set_body(r, body, body_len)))
        goto err;
    r->cookies = steal(doc, "cookies");
    r->meta = steal(doc, "meta");
    r->cb_kwargs = steal(doc, "cb_kwargs");
    r->flags = steal(doc, "flags");
    if ((r->meta && r->meta->kind != SILK_V_DICT) || (r->cb_kwargs && r->cb_kwargs->kind != SILK_V_DICT) ||
        (r->flags && r->flags->kind != SILK_V_LIST)) {
        rc = bad("meta, cb_kwargs or flags has the wrong type");
        goto err;
    }
    const char *enc = silk_dict_get_str(doc, "encoding", NULL);
    if (enc && !(r->encoding = silk_strdup(enc))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    const silk_value *pv = silk_dict_get(doc, "priority");
    if (pv) {
        if (pv->kind != SILK_V_INT || pv->u.i < -2147483647 - 1 || pv->u.i > 2147483647) {
            rc = bad("priority is not an int");
            goto err;
        }
        r->priority = (int)pv->u.i;
    }
    r->dont_filter = silk_dict_get_bool(doc, "dont_filter", false);
    const char *cb = silk_dict_get_str(doc, "callback", NULL);
    const char *eb = silk_dict_get_str(doc, "errback", NULL);
    silk_callback_fn cbfn = NULL;
    silk_errback_fn ebfn = NULL;
    if (spider && cb && !(cbfn = silk_spider_callback(spider, cb))) {
        rc = silk_error(SILK_ENOTFOUND, "callback '%s' is not registered on spider '%s'", cb, spider->name);
        goto err;
    }
    if (spider && eb && !(ebfn = silk_spider_errback(spider, eb))) {
        rc = silk_error(SILK_ENOTFOUND, "errback '%s' is not registered on spider '%s'", eb, spider->name);
        goto err;
    }
    if ((cb && (rc = silk_request_set_callback(r, cbfn, cb))) ||
        (eb && (rc = silk_request_set_errback(r, ebfn, eb))))
        goto err;
    silk_value_free(doc);
    *out = r;
    return 0;
err:
    silk_value_free(v);
    silk_value_free(doc);
    silk_unref(r);
    return rc;
}
