/* Scrapy's SitemapSpider (2.8), scrapy.utils.sitemap and scrapy.utils.gz,
 * with Scrapy 2.11's cap on decompressed sitemaps.
 *
 * The XML is parsed with the options lxml's XMLParser(recover=True,
 * remove_comments=True, resolve_entities=False) gives libxml2 — recover,
 * no network, CDATA as text, no entity substitution, no DTD loading — so a
 * sitemap cannot make silk read a file or a URL (XXE), and libxml2's own
 * amplification checks stop entity bombs. */
#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zlib.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/linkextractor.h" /* silk_regex */
#include "silk/log.h"
#include "silk/sitemap.h"
#include "silk/url.h"

#define LOGGER "silk.spiders.sitemap"
#define PARSE_SITEMAP "_parse_sitemap" /* Scrapy's method name; see spiders/builtin.c */

/* DOWNLOAD_MAXSIZE and DOWNLOAD_WARNSIZE defaults */
#define DEFAULT_MAXSIZE (1024ll * 1024 * 1024)
#define DEFAULT_WARNSIZE (32ll * 1024 * 1024)

/* ======================================================================== */
/* Python's str.strip() and str.splitlines() on UTF-8                        */

/* Length of the whitespace character (str.isspace) at s, 0 when none. */
static size_t space_at(const unsigned char *s, size_t n)
{
    if (!n)
        return 0;
    unsigned char c = s[0];
    if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
        return 1;
    if (n >= 2 && c == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n >= 3 && c == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
        return 3;
    if (n >= 3 && c == 0xe2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;
    if (n >= 3 && c == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
        return 3;
    if (n >= 3 && c == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
        return 3;
    return 0;
}

/* Length of the whitespace character ending at s + n, 0 when none. */
static size_t space_before(const unsigned char *s, size_t n)
{
    for (size_t l = 1; l <= 3 && l <= n; l++)
        if (space_at(s + n - l, l) == l)
            return l;
    return 0;
}

static void py_strip(const char **p, size_t *n, bool right)
{
    const unsigned char *s = (const unsigned char *)*p;
    size_t len = *n, l;
    while ((l = space_at(s, len))) {
        s += l;
        len -= l;
    }
    while (right && (l = space_before(s, len)))
        len -= l;
    *p = (const char *)s;
    *n = len;
}

/* Length of the line break (str.splitlines) at s, 0 when none. */
static size_t linebreak_at(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == '\r')
        return n >= 2 && s[1] == '\n' ? 2 : 1;
    if (c == '\n' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e))
        return 1;
    if (n >= 2 && c == 0xc2 && s[1] == 0x85)
        return 2;
    if (n >= 3 && c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
        return 3;
    return 0;
}

/* ======================================================================== */
/* robots.txt                                                                */

int silk_sitemap_urls_from_robots(const char *text, size_t len, const char *base_url,
                                  silk_value **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_sitemap_urls_from_robots: out is NULL");
    *out = silk_value_new_list();
    if (!*out)
        return silk_error(SILK_ENOMEM, "out of memory");
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t i = 0;
    int rc = 0;
    while (i < len && !rc) {
        size_t start = i, brk = 0;
        while (i < len && !(brk = linebreak_at(s + i, len - i)))
            i++;
        const char *line = (const char *)s + start;
        size_t ln = i - start;
        i += brk;
        py_strip(&line, &ln, false);
        if (ln < 8 || strncasecmp(line, "sitemap:", 8) != 0)
            continue;
        const char *url = line + 8;
        size_t un = ln - 8;
        py_strip(&url, &un, true);
        char *u = silk_strndup(url, un), *joined = NULL;
        if (!u) {
            rc = silk_error(SILK_ENOMEM, "out of memory");
            break;
        }
        if (base_url) {
            rc = silk_url_join(base_url, u, &joined);
            if (rc && rc != SILK_ENOMEM) {
                /* urljoin's ValueError: Scrapy raises; the line is skipped */
                rc = 0;
                silk_free(u);
                continue;
            }
        }
        if (!rc)
            rc = silk_list_push(*out, silk_value_new_string(joined ? joined : u));
        silk_free(u);
        silk_free(joined);
    }
    if (rc) {
        silk_value_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ======================================================================== */
/* gunzip                                                                    */

int silk_gunzip(const void *data, size_t len, size_t max_size, char **out, size_t *out_len)
{
    if (!out || !out_len)
        return silk_error(SILK_EINVAL, "silk_gunzip: NULL argument");
    *out = NULL;
    *out_len = 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return silk_error(SILK_ENOMEM, "out of memory");
    silk_buf b = SILK_BUF_INIT;
    unsigned char chunk[16384];
    const unsigned char *in = data;
    size_t left = len;
    int rc = 0;
    bool bad = false;
    while (!bad) {
        if (!z.avail_in) {
            if (!left)
                break;
            size_t take = left > UINT_MAX ? UINT_MAX : left;
            z.next_in = (unsigned char *)in;
            z.avail_in = (uInt)take;
            in += take;
            left -= take;
        }
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t got = sizeof chunk - z.avail_out;
        if (got) {
            if (max_size && b.len + got > max_size) {
                rc = silk_error(SILK_ELIMIT, "gzip data inflates past %zu bytes", max_size);
                break;
            }
            silk_buf_append(&b, chunk, got);
            if (b.err) {
                rc = silk_error(SILK_ENOMEM, "out of memory");
                break;
            }
        }
        if (zr == Z_STREAM_END) {
            /* another member may follow, as GzipFile reads them */
            if (!z.avail_in && !left)
                break;
            inflateReset(&z);
            continue;
        }
        if (zr == Z_BUF_ERROR && !z.avail_in && !left)
            break; /* truncated: keep what came */
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            bad = true;
    }
    inflateEnd(&z);
    if (!rc && !b.len && (bad || len))
        rc = silk_error(SILK_EENCODING, "not gzip data%s%s", z.msg ? ": " : "", z.msg ? z.msg : "");
    if (rc) {
        silk_buf_free(&b);
        return rc;
    }
    /* GzipFile keeps the members before a bad one, and a truncated end */
    *out_len = b.len;
    *out = b.data ? silk_buf_detach(&b) : silk_strdup("");
    return *out ? 0 : silk_error(SILK_ENOMEM, "out of memory");
}

/* ======================================================================== */
/* Sitemap(xmltext)                                                          */

struct silk_sitemap {
    char *type;
    silk_value *entries; /* list of dicts */
};

void silk_sitemap_free(silk_sitemap *sm)
{
    if (!sm)
        return;
    silk_free(sm->type);
    silk_value_free(sm->entries);
    silk_free(sm);
}

const char *silk_sitemap_type(const silk_sitemap *sm) { return sm ? sm->type : NULL; }
size_t silk_sitemap_len(const silk_sitemap *sm) { return sm ? silk_list_len(sm->entries) : 0; }
const silk_value *silk_sitemap_entry(const silk_sitemap *sm, size_t i)
{
    return sm ? silk_list_get(sm->entries, i) : NULL;
}

/* lxml's el.text with comments removed: the text and CDATA before the
 * first child that is not a comment, stripped (Python str.strip). */
static int el_text(const xmlNode *el, silk_buf *out)
{
    silk_buf_reset(out);
    for (const xmlNode *c = el->children; c; c = c->next) {
        if (c->type == XML_COMMENT_NODE)
            continue;
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
            break;
        if (c->content)
            silk_buf_puts(out, (const char *)c->content);
    }
    if (out->err)
        return SILK_ENOMEM;
    if (!out->data)
        return 0;
    const char *p = out->data;
    size_t n = out->len;
    py_strip(&p, &n, true);
    memmove(out->data, p, n);
    out->len = n;
    out->data[n] = '\0';
    return 0;
}

int silk_sitemap_new(const void *body, size_t len, silk_sitemap **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_sitemap_new: out is NULL");
    *out = NULL;
    if (len > INT_MAX)
        return silk_error(SILK_ELIMIT, "sitemap of %zu bytes: 2 GiB or more", len);
    silk_sitemap *sm = silk_calloc(1, sizeof *sm);
    silk_buf text = SILK_BUF_INIT;
    xmlDocPtr doc = NULL;
    int rc = 0;
    if (!sm || !(sm->entries = silk_value_new_list())) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto err;
    }
    doc = xmlReadMemory(body ? body : "", (int)len, NULL, NULL,
                        XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOCDATA |
                            XML_PARSE_COMPACT | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        rc = silk_error(SILK_EINVAL, "not a sitemap: no XML root element");
        goto err;
    }
    if (!(sm->type = silk_strdup((const char *)root->name))) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto err;
    }
    for (xmlNodePtr e = root->children; e; e = e->next) {
        if (e->type != XML_ELEMENT_NODE)
            continue;
        silk_value *d = silk_value_new_dict();
        if (!d) {
            rc = silk_error(SILK_ENOMEM, "out of memory");
            goto err;
        }
        for (xmlNodePtr c = e->children; c && !rc; c = c->next) {
            /* Deliberate difference (docs/compat.md): Scrapy raises
             * TypeError on a processing instruction or entity here */
            if (c->type != XML_ELEMENT_NODE)
                continue;
            const char *name = (const char *)c->name;
            if (strcmp(name, "link") == 0) {
                xmlChar *href = xmlGetNoNsProp(c, BAD_CAST "href");
                if (!href)
                    continue;
                silk_value *alt = silk_dict_get(d, "alternate");
                if (!alt) {
                    rc = silk_dict_set(d, "alternate", silk_value_new_list());
                    alt = silk_dict_get(d, "alternate");
                }
                if (!rc)
                    rc = silk_list_push(alt, silk_value_new_string((const char *)href));
                xmlFree(href);
            } else if (!(rc = el_text(c, &text))) {
                rc = silk_dict_set_str(d, name, text.data ? text.data : "");
            }
        }
        if (!rc && silk_dict_get(d, "loc"))
            rc = silk_list_push(sm->entries, d);
        else
            silk_value_free(d);
        if (rc) {
            rc = silk_error(SILK_ENOMEM, "out of memory");
            goto err;
        }
    }
    xmlFreeDoc(doc);
    silk_buf_free(&text);
    *out = sm;
    return 0;
err:
    xmlFreeDoc(doc);
    silk_buf_free(&text);
    silk_sitemap_free(sm);
    return rc;
}

/* ======================================================================== */
/* the spider                                                                */

const silk_sitemap_def *silk_sitemap_get(const silk_spider *spider)
{
    if (!spider || !spider->def || spider->def->start_requests != silk_sitemap_start_requests)
        return NULL;
    return spider->def->user;
}

void *silk_sitemap_user(const silk_spider *spider)
{
    const silk_sitemap_def *d = silk_sitemap_get(spider);
    return d ? d->user : NULL;
}

/* Yields Request(url, callback) (fn registered under name); a URL Request
 * refuses is logged and skipped. 0 or SILK_ENOMEM. */
static int yield_to(silk_ctx *ctx, const char *url, silk_callback_fn fn, const char *name)
{
    silk_request *req = NULL;
    int rc = silk_request_new(url, &req);
    if (rc) {
        if (rc == SILK_ENOMEM)
            return rc;
        /* Deliberate difference (docs/compat.md): Scrapy's ValueError
         * would end the whole sitemap here */
        silk_log(SILK_LOG_WARNING, LOGGER, "spider '%s': skipping sitemap entry '%s': %s",
                 silk_ctx_spider(ctx)->name, url, silk_last_error());
        return 0;
    }
    if ((rc = silk_request_set_callback(req, fn, name))) {
        silk_unref(req);
        return rc;
    }
    return silk_ctx_yield_request(ctx, req);
}

int silk_sitemap_start_requests(silk_ctx *ctx)
{
    silk_spider *sp = ctx ? silk_ctx_spider(ctx) : NULL;
    const silk_sitemap_def *def = silk_sitemap_get(sp);
    if (!def)
        return silk_error(SILK_EINVAL, "silk_sitemap_start_requests: the spider was not defined "
                                       "with SILK_SITEMAP_SPIDER");
    const char *const *urls = def->sitemap_urls ? def->sitemap_urls : sp->def->start_urls;
    for (size_t i = 0; urls && urls[i]; i++) {
        int rc = yield_to(ctx, urls[i], silk_sitemap_parse, PARSE_SITEMAP);
        if (rc)
            return rc;
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* An integer from meta, else from the settings, else def. */
static int64_t size_setting(silk_ctx *ctx, silk_response *resp, const char *meta_key,
                            const char *setting, int64_t def)
{
    const silk_value *meta = silk_response_meta(resp);
    const silk_value *v = meta ? silk_dict_get(meta, meta_key) : NULL;
    if (v && v->kind == SILK_V_INT)
        return v->u.i;
    if (v && v->kind == SILK_V_DOUBLE)
        return (int64_t)v->u.d;
    silk_crawler *c = silk_ctx_crawler(ctx);
    return c ? silk_settings_int(silk_crawler_settings(c), setting, def) : def;
}

/* _get_sitemap_body: the XML of a sitemap response, or NULL (*body_out)
 * when it is none (or inflates past the cap). *owned is what to free. */
static int sitemap_body(silk_ctx *ctx, silk_response *resp, const char **body_out, size_t *len,
                        char **owned)
{
    *body_out = NULL;
    *owned = NULL;
    *len = 0;
    if (silk_type_is_a(resp->obj.type, &silk_type_xml_response)) {
        *body_out = resp->body ? resp->body : "";
        *len = resp->body_len;
        return 0;
    }
    if (resp->body_len >= 3 && memcmp(resp->body, "\x1f\x8b\x08", 3) == 0) {
        int64_t max = size_setting(ctx, resp, "download_maxsize", "DOWNLOAD_MAXSIZE", DEFAULT_MAXSIZE);
        int64_t warn =
            size_setting(ctx, resp, "download_warnsize", "DOWNLOAD_WARNSIZE", DEFAULT_WARNSIZE);
        char *z = NULL;
        size_t zl = 0;
        int rc = silk_gunzip(resp->body, resp->body_len, max > 0 ? (size_t)max : 0, &z, &zl);
        if (rc == SILK_ELIMIT)
            return 0;
        if (rc)
            return rc;
        if (warn > 0 && (int64_t)resp->body_len < warn && warn <= (int64_t)zl)
            silk_log(SILK_LOG_WARNING, LOGGER,
                     "<%d %s> body size after decompression (%zu B) is larger than the download "
                     "warning size (%lld B).",
                     resp->status, resp->url, zl, (long long)warn);
        *body_out = *owned = z;
        *len = zl;
        return 0;
    }
    /* already gunzipped by HttpCompression, or plain XML */
    if (ends_with(resp->url, ".xml") || ends_with(resp->url, ".xml.gz")) {
        *body_out = resp->body ? resp->body : "";
        *len = resp->body_len;
    }
    return 0;
}

typedef struct compiled {
    silk_regex **rules;
    silk_callback_fn *cbs;
    const char **names;
    size_t nrules;
    silk_regex **follow;
    size_t nfollow;
} compiled;

static void compiled_free(compiled *c)
{
    for (size_t i = 0; i < c->nrules; i++)
        silk_regex_free(c->rules[i]);
    for (size_t i = 0; i < c->nfollow; i++)
        silk_regex_free(c->follow[i]);
    silk_free(c->rules);
    silk_free(c->cbs);
    silk_free(c->names);
    silk_free(c->follow);
    memset(c, 0, sizeof *c);
}

/* SitemapSpider.__init__: regexes compiled, callback names resolved. */
static int compile(const silk_spider *sp, const silk_sitemap_def *def, compiled *c)
{
    static const silk_sitemap_rule default_rules[] = { { "", "parse" }, { NULL, NULL } };
    static const char *const default_follow[] = { "", NULL };
    const silk_sitemap_rule *rules = def->rules ? def->rules : default_rules;
    const char *const *follow = def->follow ? def->follow : default_follow;
    size_t nr = 0, nf = 0;
    while (rules[nr].regex || rules[nr].callback)
        nr++;
    while (follow[nf])
        nf++;
    memset(c, 0, sizeof *c);
    int rc = 0;
    if ((nr && (!(c->rules = silk_calloc(nr, sizeof *c->rules)) ||
                !(c->cbs = silk_calloc(nr, sizeof *c->cbs)) ||
                !(c->names = silk_calloc(nr, sizeof *c->names)))) ||
        (nf && !(c->follow = silk_calloc(nf, sizeof *c->follow)))) {
        compiled_free(c);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nr && !rc; i++) {
        const char *name = rules[i].callback ? rules[i].callback : "parse";
        if ((rc = silk_regex_new(rules[i].regex ? rules[i].regex : "", &c->rules[i]))) {
            rc = silk_error(rc, "spider '%s', sitemap rule %zu: %s", sp->name, i, silk_last_error());
            break;
        }
        c->nrules++;
        c->names[i] = name;
        c->cbs[i] = silk_spider_callback(sp, name);
        if (!c->cbs[i])
            rc = silk_error(SILK_ENOTFOUND,
                            "spider '%s', sitemap rule %zu: no callback registered as '%s'",
                            sp->name, i, name);
    }
    for (size_t i = 0; i < nf && !rc; i++) {
        if ((rc = silk_regex_new(follow[i], &c->follow[i]))) {
            rc = silk_error(rc, "spider '%s', sitemap_follow %zu: %s", sp->name, i,
                            silk_last_error());
            break;
        }
        c->nfollow++;
    }
    if (rc)
        compiled_free(c);
    return rc;
}

/* 1 when any regex searches s, 0 when none, negative on error. */
static int any_search(silk_regex *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        int rc = silk_regex_search(v[i], s, strlen(s));
        if (rc)
            return rc;
    }
    return 0;
}

/* One loc (or alternate) of a urlset or an index. */
static int handle_loc(silk_ctx *ctx, const compiled *c, bool index, const char *loc)
{
    if (index) {
        int rc = any_search(c->follow, c->nfollow, loc);
        if (rc <= 0)
            return rc;
        return yield_to(ctx, loc, silk_sitemap_parse, PARSE_SITEMAP);
    }
    for (size_t i = 0; i < c->nrules; i++) {
        int rc = silk_regex_search(c->rules[i], loc, strlen(loc));
        if (rc < 0)
            return rc;
        if (rc)
            return yield_to(ctx, loc, c->cbs[i], c->names[i]);
    }
    return 0;
}

int silk_sitemap_parse(silk_ctx *ctx, silk_response *resp)
{
    silk_spider *sp = ctx ? silk_ctx_spider(ctx) : NULL;
    const silk_sitemap_def *def = silk_sitemap_get(sp);
    if (!def)
        return silk_error(SILK_EINVAL, "silk_sitemap_parse: the spider was not defined with "
                                       "SILK_SITEMAP_SPIDER");
    if (!resp)
        return silk_error(SILK_EINVAL, "silk_sitemap_parse: no response");
    int rc = 0;

    if (ends_with(resp->url, "/robots.txt")) {
        size_t len = 0;
        const char *text = silk_response_text(resp, &len);
        if (!text) {
            text = resp->body ? resp->body : "";
            len = resp->body_len;
        }
        silk_value *urls = NULL;
        if ((rc = silk_sitemap_urls_from_robots(text, len, resp->url, &urls)))
            return rc;
        for (size_t i = 0; i < silk_list_len(urls) && !rc; i++)
            rc = yield_to(ctx, silk_value_str(silk_list_get(urls, i)), silk_sitemap_parse,
                          PARSE_SITEMAP);
        silk_value_free(urls);
        return rc;
    }

    compiled c;
    if ((rc = compile(sp, def, &c)))
        return rc;
    const char *body;
    size_t len;
    char *owned = NULL;
    silk_sitemap *sm = NULL;
    if ((rc = sitemap_body(ctx, resp, &body, &len, &owned)))
        goto out;
    if (!body) {
        silk_log(SILK_LOG_WARNING, LOGGER, "Ignoring invalid sitemap: <%d %s>", resp->status,
                 resp->url);
        goto out;
    }
    if ((rc = silk_sitemap_new(body, len, &sm))) {
        rc = silk_error(rc, "sitemap %s: %s", resp->url, silk_last_error());
        goto out;
    }
    bool index = strcmp(sm->type, "sitemapindex") == 0;
    if (!index && strcmp(sm->type, "urlset") != 0)
        goto out;
    for (size_t i = 0; i < silk_sitemap_len(sm) && !rc; i++) {
        silk_value *entry = silk_list_get(sm->entries, i);
        if (def->filter) {
            rc = def->filter(ctx, entry);
            if (rc <= 0)
                continue;
            rc = 0;
        }
        /* iterloc: the loc, then (alternate_links) the alternates */
        const silk_value *loc = silk_dict_get(entry, "loc");
        if (loc && loc->kind == SILK_V_STRING)
            rc = handle_loc(ctx, &c, index, silk_value_str(loc));
        const silk_value *alt = def->alternate_links ? silk_dict_get(entry, "alternate") : NULL;
        for (size_t k = 0; alt && alt->kind == SILK_V_LIST && k < silk_list_len(alt) && !rc; k++) {
            const silk_value *a = silk_list_get(alt, k);
            if (a->kind == SILK_V_STRING)
                rc = handle_loc(ctx, &c, index, silk_value_str(a));
        }
    }
out:
    silk_sitemap_free(sm);
    silk_free(owned);
    compiled_free(&c);
    return rc;
}
