/* silk — a callback's context: what it yields and what it extracts. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#include "engine_internal.h"
#include "silk/alloc.h"
#include "silk/encoding.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/url.h"

#define LOGGER "silk.core.scraper"

void silk__ctx_init(silk_ctx *ctx, silk_crawler *c, silk_spider *sp, silk_response *resp,
                    silk_failure *failure)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->crawler = c;
    ctx->spider = sp;
    ctx->response = resp;
    ctx->failure = failure;
    silk_arena_init(&ctx->arena);
}

void silk__ctx_release(silk_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nout; i++)
        silk_unref(ctx->out[i]);
    silk_free(ctx->out);
    ctx->out = NULL;
    ctx->nout = ctx->capout = 0;
    silk_free(ctx->base_url);
    ctx->base_url = NULL;
    silk_shared_str_unref(ctx->referer);
    ctx->referer = NULL;
    silk_arena_release(&ctx->arena);
}

silk_response *silk_ctx_response(silk_ctx *ctx) { return ctx->response; }
silk_spider *silk_ctx_spider(silk_ctx *ctx) { return ctx->spider; }
silk_crawler *silk_ctx_crawler(silk_ctx *ctx) { return ctx->crawler; }
silk_arena *silk_ctx_arena(silk_ctx *ctx) { return &ctx->arena; }
silk_failure *silk_ctx_failure(silk_ctx *ctx) { return ctx->failure; }

silk_value *silk_ctx_cb_kwargs(silk_ctx *ctx)
{
    silk_request *r = ctx->response ? ctx->response->request
                                    : (ctx->failure ? ctx->failure->request : NULL);
    return r ? silk_request_cb_kwargs(r) : NULL;
}

const char *silk_response_text(silk_response *resp, size_t *len)
{
    if (!resp || !silk_response_is_text(resp))
        return NULL;
    if (!resp->text) {
        char name[64];
        const char *text = NULL;
        char *owned = NULL;
        size_t n = 0;
        const char *ct = silk_headers_get(&resp->headers, "Content-Type");
        /* valid UTF-8 (the common case) is used in place: no copy */
        if (silk_encoding_to_utf8_view(ct, (const unsigned char *)resp->body, resp->body_len, &text, &n,
                                       &owned, name, sizeof name))
            return NULL;
        if (owned)
            silk_alloc_retype(owned, resp->obj.type);
        resp->text = owned ? owned : (char *)text;
        resp->text_is_body = owned == NULL;
        resp->text_len = n;
        silk_free(resp->encoding);
        resp->encoding = silk_strdup(name);
    }
    if (len)
        *len = resp->text_len;
    return resp->text;
}

static void unref_doc(void *doc) { silk_unref(doc); }

void silk__parse_warmup(void)
{
    static const char body[] = "<html><head><meta charset=\"utf-8\"></head><body></body></html>";
    char name[64];
    size_t bom;
    silk_encoding_detect("text/html", (const unsigned char *)body, sizeof body - 1, name, sizeof name, &bom);
    void *parsed = NULL;
    if (silk_selector_parse(body, sizeof body - 1, SILK_DOC_HTML, &parsed) == 0)
        silk_selector_parsed_free(parsed);
}

silk_selector *silk_response_selector(silk_response *resp, silk_arena *arena)
{
    if (!resp)
        return NULL;
    if (resp->doc)
        return resp->doc;
    size_t len;
    const char *text = silk_response_text(resp, &len);
    if (!text) {
        if (arena && !arena->err) {
            arena->err = SILK_ETYPE;
            arena->errmsg = silk_asprintf("Response content isn't text: %s", resp->url);
        }
        return NULL;
    }
    silk_doc_type t = silk_type_is_a(resp->obj.type, &silk_type_xml_response) ? SILK_DOC_XML : SILK_DOC_HTML;
    silk_selector *sel = NULL;
    int rc;
    if (resp->parsed) {
        /* parsed on a worker thread: wrap it, on this (the loop) thread */
        void *parsed = resp->parsed;
        resp->parsed = NULL;
        rc = silk_selector_adopt(parsed, NULL, &sel);
    } else {
        rc = silk_selector_new(text, len, t, NULL, &sel);
    }
    if (rc) {
        if (arena && !arena->err) {
            arena->err = rc;
            arena->errmsg = silk_strdup(silk_last_error());
        }
        return NULL;
    }
    resp->doc = sel;
    resp->doc_free = unref_doc;
    return sel;
}

const char *silk_response_urljoin(silk_response *resp, silk_arena *arena, const char *ref)
{
    size_t len = 0;
    const char *text = silk_response_text(resp, &len);
    char *out = NULL;
    if (silk_url_response_join(resp->url, text, len, ref, &out))
        return NULL;
    if (arena && silk_arena_keep_block(arena, out))
        return NULL;
    return out;
}

static silk_selector *ctx_sel(silk_ctx *ctx)
{
    return silk_response_selector(ctx->response, &ctx->arena);
}

silk_selector_list *silk_ctx_css(silk_ctx *ctx, const char *query)
{
    return silk_css(&ctx->arena, ctx_sel(ctx), query);
}

silk_selector_list *silk_ctx_xpath(silk_ctx *ctx, const char *query)
{
    return silk_xpath(&ctx->arena, ctx_sel(ctx), query);
}

const char *silk_ctx_css_get(silk_ctx *ctx, const char *query)
{
    return silk_get(silk_ctx_css(ctx, query));
}

const char *silk_ctx_xpath_get(silk_ctx *ctx, const char *query)
{
    return silk_get(silk_ctx_xpath(ctx, query));
}

static int push_out(silk_ctx *ctx, void *obj)
{
    if (ctx->nout == ctx->capout) {
        size_t cap = ctx->capout ? ctx->capout * 2 : 16;
        silk_object **o = silk_realloc(ctx->out, cap * sizeof *o);
        if (!o) {
            silk_unref(obj);
            return SILK_ENOMEM;
        }
        ctx->out = o;
        ctx->capout = cap;
    }
    ctx->out[ctx->nout++] = obj;
    return 0;
}

int silk_ctx_yield_request(silk_ctx *ctx, silk_request *req)
{
    if (!silk_object_alive(req))
        return silk_error(SILK_EDEAD, "silk_ctx_yield_request: not a live request");
    if (req->callback && !req->callback_name) {
        const char *name = silk_spider_callback_name(ctx->spider, req->callback);
        if (!name) {
            silk_unref(req);
            return silk_error(SILK_ENOTFOUND,
                              "spider '%s': the callback of <%s %s> is not registered (list it in "
                              ".callbacks so requests can name it)",
                              ctx->spider->name, req->method, req->url);
        }
        silk_request_set_callback(req, req->callback, name);
    }
    if (req->errback && !req->errback_name) {
        const char *name = silk_spider_errback_name(ctx->spider, req->errback);
        if (!name) {
            silk_unref(req);
            return silk_error(SILK_ENOTFOUND, "spider '%s': the errback of <%s %s> is not registered",
                              ctx->spider->name, req->method, req->url);
        }
        silk_request_set_errback(req, req->errback, name);
    }
    return push_out(ctx, req);
}

int silk_ctx_yield_item(silk_ctx *ctx, silk_item *item)
{
    if (!silk_object_alive(item))
        return silk_error(SILK_EDEAD, "silk_ctx_yield_item: not a live item");
    return push_out(ctx, item);
}

silk_item *silk_ctx_item(silk_ctx *ctx, const char *name)
{
    silk_item *it = silk_item_new(name);
    if (!it || push_out(ctx, it))
        return NULL;
    return it; /* borrowed: the context holds the reference */
}

/* HTML5 whitespace stripped from both ends, as Scrapy's follow does. */
static char *strip_ws(const char *s)
{
    while (*s && strchr(" \t\n\r\f", *s))
        s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\n\r\f", s[n - 1]))
        n--;
    return silk_strndup(s, n);
}

silk_request *silk_ctx_follow(silk_ctx *ctx, const char *url, const char *callback)
{
    silk_callback_fn fn = silk_spider_callback(ctx->spider, callback ? callback : "parse");
    if (!fn) {
        silk_log(SILK_LOG_ERROR, LOGGER, "spider '%s': no callback registered as '%s'", ctx->spider->name,
                 callback ? callback : "parse");
        return NULL;
    }
    char *clean = strip_ws(url ? url : "");
    char *abs = NULL;
    silk_request *req = NULL;
    int rc = clean ? 0 : SILK_ENOMEM;
    if (!rc && ctx->response) {
        if (!ctx->base_url) {
            size_t len = 0;
            const char *text = silk_response_text(ctx->response, &len);
            rc = silk_url_effective_base(ctx->response->url, text, len, &ctx->base_url);
        }
        if (!rc)
            rc = silk_url_join(ctx->base_url, clean, &abs);
    }
    if (!rc)
        rc = silk_request_new(abs ? abs : clean, &req);
    if (!rc)
        rc = silk_request_set_callback(req, fn, callback ? callback : "parse");
    silk_free(clean);
    silk_free(abs);
    if (rc) {
        silk_log(SILK_LOG_WARNING, LOGGER, "spider '%s': cannot follow '%s': %s", ctx->spider->name,
                 url ? url : "", silk_last_error());
        silk_unref(req);
        return NULL;
    }
    return push_out(ctx, req) ? NULL : req;
}

size_t silk_ctx_follow_all(silk_ctx *ctx, silk_selector_list *list, const char *callback)
{
    size_t n = 0;
    for (size_t i = 0; list && i < silk_selector_list_len(list); i++) {
        silk_selector *s = silk_selector_list_at(list, i);
        const char *href = NULL;
        xmlChar *prop = NULL;
        if (silk_selector_get_kind(s) == SILK_SEL_ELEMENT) {
            xmlNodePtr node = silk_selector_xml_node(s);
            if (node && node->type == XML_ELEMENT_NODE &&
                (!xmlStrcasecmp(node->name, BAD_CAST "a") || !xmlStrcasecmp(node->name, BAD_CAST "link")))
                href = (const char *)(prop = xmlGetProp(node, BAD_CAST "href"));
            else
                silk_log(SILK_LOG_WARNING, LOGGER,
                         "spider '%s': follow_all: only <a> and <link> elements can be followed", ctx->spider->name);
        } else {
            href = silk_selector_get(s);
        }
        if (href && silk_ctx_follow(ctx, href, callback))
            n++;
        if (prop)
            xmlFree(prop);
    }
    return n;
}

size_t silk_ctx_follow_css(silk_ctx *ctx, const char *query, const char *callback)
{
    return silk_ctx_follow_all(ctx, silk_ctx_css(ctx, query), callback);
}
