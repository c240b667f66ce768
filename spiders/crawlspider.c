/* Scrapy 2.8's CrawlSpider: rules of link extractors, callbacks and follow
 * flags, run by the spider's parse (silk_crawlspider_parse).
 *
 * The rules are compiled once per spider (link extractors built, callback
 * names resolved, cb_kwargs decoded) on the first response and kept until
 * the spider closes. Requests name "parse" as their callback, so they persist
 * in a job directory like any other; the rule travels in meta["rule"]. */
#include <string.h>

#include "silk/alloc.h"
#include "silk/crawlspider.h"
#include "silk/error.h"
#include "silk/log.h"
#include "spiders/spiders_internal.h"

#define LOGGER "silk.spiders.crawl"

typedef struct crule {
    silk_link_extractor *le;
    silk_callback_fn callback;
    silk_errback_fn errback;
    silk_value *cb_kwargs; /* dict or NULL */
    bool follow;
} crule;

typedef struct cstate {
    crule *rules;
    size_t n;
    bool follow_links; /* CRAWLSPIDER_FOLLOW_LINKS */
} cstate;

static const char attach_key = 0; /* its address names our attachment */

const silk_crawlspider_def *silk_crawlspider_get(const silk_spider *spider)
{
    if (!spider || !spider->def || spider->def->parse != silk_crawlspider_parse)
        return NULL;
    return spider->def->user;
}

void *silk_crawlspider_user(const silk_spider *spider)
{
    const silk_crawlspider_def *d = silk_crawlspider_get(spider);
    return d ? d->user : NULL;
}

int silk_ctx_extract_links(silk_ctx *ctx, const silk_link_extractor *le, silk_links *out)
{
    if (!ctx)
        return silk_error(SILK_EINVAL, "silk_ctx_extract_links: ctx is NULL");
    silk_response *resp = silk_ctx_response(ctx);
    if (!resp) {
        if (out)
            memset(out, 0, sizeof *out);
        return silk_error(SILK_EINVAL, "silk_ctx_extract_links: no response in this context");
    }
    return silk_link_extractor_extract(le, resp, silk_ctx_arena(ctx), out);
}

static void state_free(void *p)
{
    cstate *st = p;
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++) {
        silk_link_extractor_free(st->rules[i].le);
        silk_value_free(st->rules[i].cb_kwargs);
    }
    silk_free(st->rules);
    silk_free(st);
}

/* Rule._compile and CrawlSpider._compile_rules, with names checked: Scrapy
 * silently ignores a callback name the spider lacks; silk says so. */
static int compile(silk_spider *sp, const silk_crawlspider_def *def, cstate **out)
{
    *out = NULL;
    cstate *st = silk_calloc(1, sizeof *st);
    if (!st)
        return silk_error(SILK_ENOMEM, "out of memory");
    int rc = 0;
    if (def->nrules && !(st->rules = silk_calloc(def->nrules, sizeof *st->rules))) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto err;
    }
    for (size_t i = 0; i < def->nrules; i++) {
        const silk_rule *r = &def->rules[i];
        crule *c = &st->rules[i];
        st->n++;
        if ((rc = silk_link_extractor_new(&r->link_extractor, &c->le))) {
            rc = silk_error(rc, "spider '%s', rule %zu: %s", sp->name, i, silk_last_error());
            goto err;
        }
        if (r->callback) {
            c->callback = silk_spider_callback(sp, r->callback);
            if (!c->callback) {
                rc = silk_error(SILK_ENOTFOUND,
                                "spider '%s', rule %zu: no callback registered as '%s' (list it "
                                "in .callbacks)",
                                sp->name, i, r->callback);
                goto err;
            }
            if (c->callback == silk_crawlspider_parse) {
                rc = silk_error(SILK_EINVAL,
                                "spider '%s', rule %zu: 'parse' is the CrawlSpider's own entry "
                                "point and cannot be a rule's callback",
                                sp->name, i);
                goto err;
            }
        }
        if (r->errback) {
            c->errback = silk_spider_errback(sp, r->errback);
            if (!c->errback) {
                rc = silk_error(SILK_ENOTFOUND,
                                "spider '%s', rule %zu: no errback registered as '%s'", sp->name,
                                i, r->errback);
                goto err;
            }
        }
        if (r->cb_kwargs) {
            if ((rc = silk_json_decode(r->cb_kwargs, strlen(r->cb_kwargs), &c->cb_kwargs))) {
                rc = silk_error(rc, "spider '%s', rule %zu: cb_kwargs: %s", sp->name, i,
                                silk_last_error());
                goto err;
            }
            if (c->cb_kwargs->kind != SILK_V_DICT) {
                rc = silk_error(SILK_ETYPE, "spider '%s', rule %zu: cb_kwargs is not a JSON object",
                                sp->name, i);
                goto err;
            }
        }
        c->follow = r->follow == SILK_FOLLOW_DEFAULT ? !r->callback : r->follow == SILK_FOLLOW;
    }
    silk_crawler *cr = silk_spider_crawler(sp);
    st->follow_links =
        cr ? silk_settings_bool(silk_crawler_settings(cr), "CRAWLSPIDER_FOLLOW_LINKS", true) : true;
    *out = st;
    return 0;
err:
    state_free(st);
    return rc;
}

/* The compiled rules of the spider, compiled on first use. *owned is set
 * when they could not be attached (a spider outside a crawl) and the caller
 * must free them. */
static int get_state(silk_spider *sp, const silk_crawlspider_def *def, cstate **out, bool *owned)
{
    *owned = false;
    cstate *st = silk__spider_attachment(sp, &attach_key);
    if (st) {
        *out = st;
        return 0;
    }
    int rc = compile(sp, def, &st);
    if (rc)
        return rc;
    rc = silk__spider_attach(sp, &attach_key, st, state_free);
    if (rc == SILK_ENOMEM) {
        state_free(st);
        return rc;
    }
    *owned = rc != 0;
    *out = st;
    return 0;
}

/* ---- Link identity, for the per-response `seen` set ---- */

typedef struct seenset {
    const silk_link **slot;
    size_t cap, n;
} seenset;

static uint64_t link_hash(const silk_link *l)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *s = l->url; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    for (const char *s = l->text; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    for (const char *s = l->fragment; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ^ (uint64_t)l->nofollow;
}

/* Link.__eq__ */
static bool link_eq(const silk_link *a, const silk_link *b)
{
    return a->nofollow == b->nofollow && strcmp(a->url, b->url) == 0 &&
           strcmp(a->text, b->text) == 0 && strcmp(a->fragment, b->fragment) == 0;
}

static bool seen_has(const seenset *s, const silk_link *l)
{
    if (!s->cap)
        return false;
    for (size_t k = (size_t)link_hash(l) & (s->cap - 1);; k = (k + 1) & (s->cap - 1)) {
        if (!s->slot[k])
            return false;
        if (link_eq(s->slot[k], l))
            return true;
    }
}

/* l must outlive the set (the arena holds it). */
static int seen_add(seenset *s, const silk_link *l)
{
    if (seen_has(s, l))
        return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const silk_link **slot = silk_calloc(cap, sizeof *slot);
        if (!slot)
            return silk_error(SILK_ENOMEM, "out of memory");
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slot[i])
                continue;
            size_t k = (size_t)link_hash(s->slot[i]) & (cap - 1);
            while (slot[k])
                k = (k + 1) & (cap - 1);
            slot[k] = s->slot[i];
        }
        silk_free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t k = (size_t)link_hash(l) & (s->cap - 1);
    while (s->slot[k])
        k = (k + 1) & (s->cap - 1);
    s->slot[k] = l;
    s->n++;
    return 0;
}

/* CrawlSpider._build_request */
static int build_request(silk_ctx *ctx, const crule *r, size_t index, const silk_link *l,
                         silk_request **out)
{
    silk_request *req = NULL;
    *out = NULL;
    int rc = silk_request_new(l->url, &req);
    if (rc)
        return rc;
    silk_value *meta = silk_request_meta(req);
    if (!meta || (rc = silk_request_set_callback(req, silk_crawlspider_parse, "parse")) ||
        (rc = silk_dict_set_int(meta, "rule", (int64_t)index)) ||
        (rc = silk_dict_set_str(meta, "link_text", l->text)))
        goto err;
    if ((rc = silk_request_set_errback(req, silk_crawlspider_errback, "_errback")))
        goto err;
    if (r->cb_kwargs) {
        /* {**rule.cb_kwargs, **request.cb_kwargs}: the rule's go in first,
         * process_request may override them */
        silk_value *kw = silk_request_cb_kwargs(req);
        if (!kw) {
            rc = SILK_ENOMEM;
            goto err;
        }
        for (size_t i = 0; i < r->cb_kwargs->u.dict.len; i++) {
            const silk_dict_entry *e = &r->cb_kwargs->u.dict.entries[i];
            if ((rc = silk_dict_setn(kw, e->key, e->key_len, silk_value_copy(e->value))))
                goto err;
        }
    }
    (void)ctx;
    *out = req;
    return 0;
err:
    silk_unref(req);
    return rc ? rc : silk_error(SILK_ENOMEM, "out of memory");
}

/* CrawlSpider._requests_to_follow */
static int requests_to_follow(silk_ctx *ctx, silk_response *resp, const cstate *st)
{
    if (!silk_type_is_a(resp->obj.type, &silk_type_html_response))
        return 0;
    silk_spider *sp = silk_ctx_spider(ctx);
    seenset seen = { 0 };
    int rc = 0;
    for (size_t i = 0; i < st->n && !rc; i++) {
        const crule *r = &st->rules[i];
        silk_links links;
        if ((rc = silk_ctx_extract_links(ctx, r->le, &links))) {
            rc = silk_error(rc, "spider '%s', rule %zu: %s", sp->name, i, silk_last_error());
            break;
        }
        size_t w = 0;
        for (size_t k = 0; k < links.len; k++)
            if (!seen_has(&seen, &links.v[k]))
                links.v[w++] = links.v[k];
        links.len = w;
        const silk_rule *def = &silk_crawlspider_get(sp)->rules[i];
        if (def->process_links && (rc = def->process_links(ctx, &links)))
            break;
        for (size_t k = 0; k < links.len && !rc; k++) {
            if ((rc = seen_add(&seen, &links.v[k])))
                break;
            silk_request *req = NULL;
            if ((rc = build_request(ctx, r, i, &links.v[k], &req))) {
                if (rc == SILK_ENOMEM)
                    break;
                silk_log(SILK_LOG_WARNING, LOGGER, "spider '%s', rule %zu: cannot follow %s: %s",
                         sp->name, i, links.v[k].url, silk_last_error());
                rc = 0;
                continue;
            }
            if (def->process_request) {
                rc = def->process_request(ctx, req, resp);
                if (rc) {
                    silk_unref(req);
                    if (rc == SILK_DROP)
                        rc = 0;
                    continue;
                }
            }
            rc = silk_ctx_yield_request(ctx, req);
        }
    }
    silk_free(seen.slot);
    return rc;
}

int silk_crawlspider_parse(silk_ctx *ctx, silk_response *resp)
{
    silk_spider *sp = ctx ? silk_ctx_spider(ctx) : NULL;
    const silk_crawlspider_def *def = silk_crawlspider_get(sp);
    if (!def)
        return silk_error(SILK_EINVAL, "silk_crawlspider_parse: the spider was not defined with "
                                       "SILK_CRAWLSPIDER (no rules)");
    if (!resp)
        return silk_error(SILK_EINVAL, "silk_crawlspider_parse: no response");
    cstate *st;
    bool owned;
    int rc = get_state(sp, def, &st, &owned);
    if (rc)
        return rc;

    silk_callback_fn callback = def->parse_start_url;
    bool follow = true;
    const silk_value *meta = silk_response_meta(resp);
    const silk_value *rv = meta ? silk_dict_get(meta, "rule") : NULL;
    if (rv) {
        if (rv->kind != SILK_V_INT || rv->u.i < 0 || (uint64_t)rv->u.i >= st->n) {
            rc = silk_error(SILK_ERANGE, "spider '%s': %s has meta rule=%s, but the spider has %zu "
                                         "rules",
                            sp->name, resp->url, rv->kind == SILK_V_INT ? "out of range" : "not an int",
                            st->n);
            goto out;
        }
        const crule *r = &st->rules[rv->u.i];
        callback = r->callback;
        follow = r->follow;
    }
    /* _parse_response: the callback's output, then the links to follow; a
     * failing callback stops there, as the exception does in Scrapy */
    if (callback && (rc = callback(ctx, resp)))
        goto out;
    if (follow && st->follow_links)
        rc = requests_to_follow(ctx, resp, st);
out:
    if (owned)
        state_free(st);
    return rc;
}

int silk_crawlspider_errback(silk_ctx *ctx, silk_failure *failure)
{
    silk_spider *sp = ctx ? silk_ctx_spider(ctx) : NULL;
    const silk_crawlspider_def *def = silk_crawlspider_get(sp);
    if (!def)
        return silk_error(SILK_EINVAL, "silk_crawlspider_errback: the spider was not defined with "
                                       "SILK_CRAWLSPIDER (no rules)");
    if (!failure || !failure->request)
        return silk_error(SILK_EINVAL, "silk_crawlspider_errback: no failure");
    cstate *st;
    bool owned;
    int rc = get_state(sp, def, &st, &owned);
    if (rc)
        return rc;
    const silk_value *meta = failure->request->meta;
    const silk_value *rv = meta ? silk_dict_get(meta, "rule") : NULL;
    /* CrawlSpider._errback -> _handle_failure(failure, rule.errback) */
    if (rv && rv->kind == SILK_V_INT && rv->u.i >= 0 && (uint64_t)rv->u.i < st->n &&
        st->rules[rv->u.i].errback)
        rc = st->rules[rv->u.i].errback(ctx, failure);
    else if (rv && (rv->kind != SILK_V_INT || rv->u.i < 0 || (uint64_t)rv->u.i >= st->n))
        rc = silk_error(SILK_ERANGE, "spider '%s': %s has a meta rule the spider does not have",
                        sp->name, failure->request->url);
    if (owned)
        state_free(st);
    return rc;
}
