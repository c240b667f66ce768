/* silk — Response and its subtypes. */
#include <stdio.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/http.h"

static void response_destroy(silk_object *o);
static int response_describe(const silk_object *o, char *buf, size_t n);

#define RESPONSE_TYPE(NAME, PARENT) \
    SILK_TYPE_INIT(NAME, PARENT, sizeof(silk_response), response_destroy, response_describe)

silk_type silk_type_response = RESPONSE_TYPE("Response", NULL);
silk_type silk_type_text_response = RESPONSE_TYPE("TextResponse", &silk_type_response);
silk_type silk_type_html_response = RESPONSE_TYPE("HtmlResponse", &silk_type_text_response);
silk_type silk_type_xml_response = RESPONSE_TYPE("XmlResponse", &silk_type_text_response);

_Static_assert(offsetof(silk_response, obj) == 0, "the object header comes first");

static void response_destroy(silk_object *o)
{
    silk_response *r = (silk_response *)o;
    if (r->doc && r->doc_free)
        r->doc_free(r->doc);
    if (r->parsed && r->parsed_free)
        r->parsed_free(r->parsed);
    silk_free(r->url);
    silk_headers_clear(&r->headers);
    silk_free(r->body);
    silk_unref(r->request);
    silk_value_free(r->flags);
    silk_free(r->protocol);
    silk_free(r->ip_address);
    silk_free(r->encoding);
    if (!r->text_is_body)
        silk_free(r->text);
}

static int response_describe(const silk_object *o, char *buf, size_t n)
{
    const silk_response *r = (const silk_response *)o;
    return snprintf(buf, n, "<%d %s>", r->status, r->url ? r->url : "");
}

int silk_response_new_own(silk_type *t, const char *url, int status, char *body, size_t len,
                          silk_request *request, silk_response **out)
{
    *out = NULL;
    if (!silk_type_is_a(t, &silk_type_response)) {
        silk_free(body);
        return silk_error(SILK_ETYPE, "%s is not a Response type", t ? t->name : "(null)");
    }
    silk_response *r = silk_object_new(t);
    char *u = silk_strdup(url ? url : "");
    if (!r || !u) {
        silk_free(body);
        silk_free(u);
        silk_unref(r);
        return SILK_ENOMEM;
    }
    /* the body is accounted to the response's type, so heap() shows it */
    if (body)
        silk_alloc_retype(body, t);
    silk_headers_init(&r->headers);
    r->url = u;
    r->status = status;
    r->body = body;
    r->body_len = body ? len : 0;
    r->request = request ? silk_ref(request) : NULL;
    *out = r;
    return 0;
}

int silk_response_new(silk_type *t, const char *url, int status, const void *body, size_t len,
                      silk_request *request, silk_response **out)
{
    char *b = silk_strndup(body ? body : "", body ? len : 0);
    if (!b) {
        *out = NULL;
        return SILK_ENOMEM;
    }
    return silk_response_new_own(t, url, status, b, body ? len : 0, request, out);
}

silk_value *silk_response_meta(silk_response *r)
{
    return r->request ? silk_request_meta(r->request) : NULL;
}

bool silk_response_is_text(const silk_response *r)
{
    return silk_type_is_a(r->obj.type, &silk_type_text_response);
}
