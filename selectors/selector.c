/* parsel's Selector and SelectorList on libxml2.
 *
 * Parsing, XPath evaluation and serialisation call the same libxml2
 * functions with the same options as lxml 4.9 does under parsel 1.7, so the
 * trees and the strings are the same. The document lives in a refcounted
 * wrapper shared by every Selector made from it; it also keeps one XPath
 * context and small caches (compiled XPath, CSS translations, regexes), so
 * that the usual "for each item, item.css(...)" loop compiles each query
 * once per page. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/SAX2.h>
#include <libxml/entities.h>
#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "selectors/selector_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/selector.h"

/* XPath evaluation budget: libxml2 counts operations (nodes visited, steps
 * run); an expression past this fails with SILK_ELIMIT instead of running
 * for minutes. A full scan of a 1M-node page is a few million. */
#define XPATH_OP_LIMIT 200000000ul
#define XPATH_MAX_QUERY (256 * 1024)

/* ------------------------------------------------------------------ types */

typedef struct sel_ns {
    uint32_t refs;
    uint64_t id; /* never reused, unlike addresses */
    size_t n;
    char **prefix, **uri;
} sel_ns;

typedef struct sel_doc {
    uint32_t refs;
    xmlDocPtr doc;
    silk_doc_type type;
    xmlXPathContextPtr xctx;
    uint64_t ctx_ns;      /* id of the table registered in xctx, 0 = none */
    uint32_t gen;         /* bumped when the tree changes */
    silk__cache xpath_cache, css_cache, re_cache;
    /* set by extension functions and the error handler during one eval */
    char *fn_err;
    char xerr[256];
    int xerr_code;
    /* nodes outside the tree that Selectors may point at (attributes
     * replaced by remove_namespaces, re:match results): they die with the
     * document, linked through ->next */
    xmlNodePtr graveyard;
} sel_doc;

struct silk_selector {
    silk_object obj;
    sel_doc *doc;
    silk_selector_kind kind;
    xmlNodePtr node;     /* element/text/attribute; NULL for values */
    sel_ns *ns;          /* namespaces for queries (NULL = defaults only) */
    char *owned;         /* a computed get(), or the value (silk block) */
    const char *got;     /* what get() returns once known */
    uint32_t got_gen;    /* doc->gen when an element was serialised */
};

struct silk_selector_list {
    silk_object obj;
    silk_selector **items;
    size_t len, cap;
};

_Static_assert(offsetof(struct silk_selector, obj) == 0, "header first");
_Static_assert(offsetof(struct silk_selector_list, obj) == 0, "header first");

static void selector_destroy(silk_object *o);
static void list_destroy(silk_object *o);
static int selector_describe(const silk_object *o, char *buf, size_t n);
static int list_describe(const silk_object *o, char *buf, size_t n);

silk_type silk_type_selector =
    SILK_TYPE_INIT("Selector", NULL, sizeof(struct silk_selector), selector_destroy,
                   selector_describe);
silk_type silk_type_selector_list =
    SILK_TYPE_INIT("SelectorList", NULL, sizeof(struct silk_selector_list), list_destroy,
                   list_describe);

static const char NS_RE[] = "http://exslt.org/regular-expressions";
static const char NS_SET[] = "http://exslt.org/sets";

/* ------------------------------------------------------------------ arena */

void silk_arena_init(silk_arena *a)
{
    memset(a, 0, sizeof *a);
}

void silk_arena_release(silk_arena *a)
{
    if (!a)
        return;
    /* newest first: later results may borrow from earlier ones */
    for (size_t i = a->nobjs; i > 0; i--)
        silk_unref(a->objs[i - 1]);
    for (size_t i = a->nvalues; i > 0; i--)
        silk_value_free(a->values[i - 1]);
    for (size_t i = a->nblocks; i > 0; i--)
        silk_free(a->blocks[i - 1]);
    silk_free(a->objs);
    silk_free(a->values);
    silk_free(a->blocks);
    silk_free(a->errmsg);
    memset(a, 0, sizeof *a);
}

static int arena_push(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void **na = silk_realloc(*arr, nc * sizeof(void *));
        if (!na)
            return SILK_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = p;
    return 0;
}

int silk_arena_keep_object(silk_arena *a, void *obj)
{
    if (!a || !obj) {
        silk_unref(obj);
        return silk_error(SILK_EINVAL, "silk_arena_keep_object: NULL argument");
    }
    if (arena_push(&a->objs, &a->nobjs, &a->capobjs, obj)) {
        silk_unref(obj);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    return 0;
}

int silk_arena_keep_block(silk_arena *a, void *p)
{
    if (!p)
        return 0;
    if (!a) {
        silk_free(p);
        return silk_error(SILK_EINVAL, "silk_arena_keep_block: NULL arena");
    }
    if (arena_push(&a->blocks, &a->nblocks, &a->capblocks, p)) {
        silk_free(p);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    return 0;
}

int silk_arena_keep_value(silk_arena *a, silk_value *v)
{
    if (!v)
        return 0;
    if (!a) {
        silk_value_free(v);
        return silk_error(SILK_EINVAL, "silk_arena_keep_value: NULL arena");
    }
    if (arena_push((void ***)&a->values, &a->nvalues, &a->capvalues, v)) {
        silk_value_free(v);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    return 0;
}

char *silk_arena_strdup(silk_arena *a, const char *s)
{
    char *p = silk_strdup(s ? s : "");
    if (!p || silk_arena_keep_block(a, p))
        return NULL;
    return p;
}

void silk__arena_note_error(silk_arena *a, int rc)
{
    if (!a || a->err || rc == 0)
        return;
    a->err = rc;
    a->errmsg = silk_strdup(silk_last_error());
}

/* Hands a fresh reference to the arena, or leaves it with the caller. */
static int give(silk_arena *a, void *obj)
{
    if (!a)
        return 0;
    return silk_arena_keep_object(a, obj);
}

/* ------------------------------------------------------------------ strv */

void silk_strv_free(silk_strv *v)
{
    if (!v)
        return;
    if (!(v->flags & SILK__STRV_IN_ARENA)) {
        if (v->flags & SILK__STRV_OWNS_STRINGS)
            for (size_t i = 0; i < v->len; i++)
                silk_free((void *)v->v[i]);
        if (v->flags & SILK__STRV_OWNS_ARRAY)
            silk_free(v->v);
    }
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------------ caches */

void *silk__cache_get(silk__cache *c, const char *key)
{
    for (size_t i = 0; i < SILK__CACHE_SIZE; i++)
        if (c->e[i].key && strcmp(c->e[i].key, key) == 0)
            return c->e[i].val;
    return NULL;
}

int silk__cache_put(silk__cache *c, const char *key, void *val)
{
    char *k = silk_strdup(key);
    if (!k)
        return silk_error(SILK_ENOMEM, "out of memory");
    silk__cache_entry *e = NULL;
    for (size_t i = 0; i < SILK__CACHE_SIZE && !e; i++)
        if (!c->e[i].key)
            e = &c->e[i];
    if (!e) {
        e = &c->e[c->next];
        c->next = (c->next + 1) % SILK__CACHE_SIZE;
        silk_free(e->key);
        if (c->free_val)
            c->free_val(e->val);
    }
    e->key = k;
    e->val = val;
    return 0;
}

void silk__cache_clear(silk__cache *c)
{
    for (size_t i = 0; i < SILK__CACHE_SIZE; i++) {
        if (!c->e[i].key)
            continue;
        silk_free(c->e[i].key);
        if (c->free_val)
            c->free_val(c->e[i].val);
        c->e[i].key = NULL;
        c->e[i].val = NULL;
    }
    c->next = 0;
}

static void free_comp(void *p) { xmlXPathFreeCompExpr(p); }
static void free_block(void *p) { silk_free(p); }
void silk__regex_cache_free(void *p);

/* ------------------------------------------------------------------ docs */

static void doc_unref(sel_doc *d)
{
    if (!d || --d->refs > 0)
        return;
    silk__cache_clear(&d->xpath_cache);
    silk__cache_clear(&d->css_cache);
    silk__cache_clear(&d->re_cache);
    if (d->xctx)
        xmlXPathFreeContext(d->xctx);
    xmlNodePtr g = d->graveyard;
    while (g) {
        xmlNodePtr next = g->next;
        g->next = NULL;
        if (g->type == XML_ATTRIBUTE_NODE)
            xmlFreeProp((xmlAttrPtr)g);
        else
            xmlFreeNode(g);
        g = next;
    }
    if (d->doc)
        xmlFreeDoc(d->doc);
    silk_free(d->fn_err);
    silk_free(d);
}

static void ns_unref(sel_ns *ns)
{
    if (!ns || --ns->refs > 0)
        return;
    for (size_t i = 0; i < ns->n; i++) {
        silk_free(ns->prefix[i]);
        silk_free(ns->uri[i]);
    }
    silk_free(ns->prefix);
    silk_free(ns->uri);
    silk_free(ns);
}

static void selector_destroy(silk_object *o)
{
    silk_selector *s = (silk_selector *)o;
    silk_free(s->owned);
    ns_unref(s->ns);
    doc_unref(s->doc);
}

static void list_destroy(silk_object *o)
{
    silk_selector_list *l = (silk_selector_list *)o;
    for (size_t i = 0; i < l->len; i++)
        silk_unref(l->items[i]);
    silk_free(l->items);
}

static int selector_describe(const silk_object *o, char *buf, size_t n)
{
    const silk_selector *s = (const silk_selector *)o;
    static const char *const kinds[] = { "element", "text", "attribute", "value" };
    const char *name = "";
    if (s->node && s->kind != SILK_SEL_TEXT && s->node->name)
        name = (const char *)s->node->name;
    return snprintf(n ? buf : NULL, n, "<Selector %s %s>", kinds[s->kind], name);
}

static int list_describe(const silk_object *o, char *buf, size_t n)
{
    const silk_selector_list *l = (const silk_selector_list *)o;
    return snprintf(n ? buf : NULL, n, "<SelectorList len=%zu>", l->len);
}

static void silent_error(void *ud, xmlErrorPtr err)
{
    (void)ud;
    (void)err;
}

static void xpath_error(void *ud, xmlErrorPtr err)
{
    sel_doc *d = ud;
    if (!d || d->xerr_code || !err)
        return;
    d->xerr_code = err->code ? err->code : -1;
    const char *m = err->message ? err->message : "XPath error";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    if (n >= sizeof d->xerr)
        n = sizeof d->xerr - 1;
    memcpy(d->xerr, m, n);
    d->xerr[n] = '\0';
}

static bool py_isspace(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* parsel's create_root_node: text.strip().replace("\0", ""), UTF-8. Sets
 * *p and *n are the bytes to parse; *copy is set when they had to change. */
static int prepare_text(const char *text, size_t len, const char **p, size_t *n, char **copy)
{
    *copy = NULL;
    /* strip (Python whitespace, on code points) */
    size_t b = 0, e = len;
    while (b < e) {
        uint32_t cp;
        size_t l = silk__utf8_decode(text + b, e - b, &cp);
        if (!l || !py_isspace(cp))
            break;
        b += l;
    }
    while (e > b) {
        size_t s = e - 1;
        while (s > b && ((unsigned char)text[s] & 0xC0) == 0x80 && e - s < 4)
            s--;
        uint32_t cp;
        size_t l = silk__utf8_decode(text + s, e - s, &cp);
        if (l != e - s || !py_isspace(cp))
            break;
        e = s;
    }
    const char *t = text + b;
    size_t tn = e - b;
    bool clean = memchr(t, '\0', tn) == NULL && silk__utf8_valid_prefix(t, tn) == tn;
    if (clean) {
        *p = t;
        *n = tn;
        return 0;
    }
    silk_buf out = SILK_BUF_INIT;
    silk_buf_reserve(&out, tn);
    /* reserve does not terminate: a text of only NULs keeps no byte, and
     * strlen below must still find one (found by tests/fuzz/fuzz_selector) */
    silk_buf_append(&out, "", 0);
    size_t i = 0;
    while (i < tn) {
        unsigned char c = (unsigned char)t[i];
        if (c == 0) {
            i++;
            continue;
        }
        if (c < 0x80) {
            silk_buf_putc(&out, (char)c);
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = silk__utf8_decode(t + i, tn - i, &cp);
        if (l) {
            silk_buf_append(&out, t + i, l);
            i += l;
        } else {
            silk_buf_append(&out, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i++;
        }
    }
    if (out.err) {
        silk_buf_free(&out);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    *copy = silk_buf_detach(&out);
    if (!*copy)
        return silk_error(SILK_ENOMEM, "out of memory");
    *p = *copy;
    *n = strlen(*copy);
    return 0;
}

/* Deepest element nesting seen while parsing (ctxt->_private). */
static void count_depth(void *ud)
{
    xmlParserCtxtPtr ctxt = ud;
    int *max = ctxt->_private;
    if (max && ctxt->nodeNr > *max)
        *max = ctxt->nodeNr;
}

static void start_element_html(void *ud, const xmlChar *name, const xmlChar **atts)
{
    xmlSAX2StartElement(ud, name, atts);
    count_depth(ud);
}

static void start_element_xml(void *ud, const xmlChar *localname, const xmlChar *prefix,
                              const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                              int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlSAX2StartElementNs(ud, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
    count_depth(ud);
}

/* Makes x's descendants its children, in document order. */
static int flatten_subtree(xmlNodePtr x)
{
    size_t n = 0, cap = 64;
    xmlNodePtr *v = silk_malloc(cap * sizeof *v);
    if (!v)
        return SILK_ENOMEM;
    xmlNodePtr c = x->children;
    while (c) {
        if (n == cap) {
            xmlNodePtr *nv = silk_realloc(v, cap * 2 * sizeof *v);
            if (!nv) {
                silk_free(v);
                return SILK_ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        v[n++] = c;
        if (c->children && c->type == XML_ELEMENT_NODE) {
            c = c->children;
            continue;
        }
        while (c != x && !c->next)
            c = c->parent;
        c = c == x ? NULL : c->next;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i]->type == XML_ELEMENT_NODE)
            v[i]->children = v[i]->last = NULL;
        v[i]->parent = x;
        v[i]->prev = i ? v[i - 1] : NULL;
        v[i]->next = i + 1 < n ? v[i + 1] : NULL;
    }
    x->children = n ? v[0] : NULL;
    x->last = n ? v[n - 1] : NULL;
    silk_free(v);
    return 0;
}

/* Keeps element nesting at most SILK_SELECTOR_MAX_DEPTH + 1 deep: XPath
 * over deeper trees costs O(depth^3) and more (libxml2's node-set merges),
 * so a page of unclosed tags could stall the crawl on one query. What lies
 * deeper is made flat, in document order (docs/compat.md). */
static int limit_depth(xmlNodePtr root)
{
    xmlNodePtr n = root;
    int depth = 1;
    while (n) {
        bool down = n->children && n->type == XML_ELEMENT_NODE;
        if (down && depth == SILK_SELECTOR_MAX_DEPTH) {
            int rc = flatten_subtree(n);
            if (rc)
                return rc;
            down = false;
        }
        if (down) {
            n = n->children;
            depth++;
            continue;
        }
        while (n != root && !n->next) {
            n = n->parent;
            depth--;
        }
        if (n == root)
            break;
        n = n->next;
    }
    return 0;
}

/* Internal entities are kept as references (resolve_entities=False) and
 * expanded when a string value is read: "billion laughs" would then build
 * gigabytes inside an XPath call. The expanded size of every reference in
 * the tree is added up first, and a document past the limit is refused. */
#define MAX_ENTITY_EXPANSION ((size_t)16 * 1024 * 1024)

static size_t entity_size(xmlDocPtr doc, xmlEntityPtr e, int depth)
{
    if (!e || !e->content)
        return 0;
    if ((uintptr_t)e->_private > 1)
        return (size_t)((uintptr_t)e->_private - 2);
    if (e->_private || depth > 40)
        return MAX_ENTITY_EXPANSION + 1; /* a loop, or absurd nesting */
    e->_private = (void *)1;
    size_t total = 0;
    for (const xmlChar *p = e->content; *p && total <= MAX_ENTITY_EXPANSION; p++) {
        if (*p == '&' && p[1] != '#') {
            const xmlChar *end = (const xmlChar *)strchr((const char *)p, ';');
            if (end && end - p < 256) {
                char name[256];
                memcpy(name, p + 1, (size_t)(end - p - 1));
                name[end - p - 1] = '\0';
                total += entity_size(doc, xmlGetDocEntity(doc, (const xmlChar *)name), depth + 1);
                p = end;
                continue;
            }
        }
        total++;
    }
    if (total > MAX_ENTITY_EXPANSION)
        total = MAX_ENTITY_EXPANSION + 1;
    e->_private = (void *)(uintptr_t)(total + 2);
    return total;
}

static void entity_sizes_clear(void *payload, void *data, const xmlChar *name)
{
    (void)data;
    (void)name;
    ((xmlEntityPtr)payload)->_private = NULL;
}

static bool entities_too_big(xmlDocPtr doc)
{
    if (!doc->intSubset || !doc->intSubset->entities)
        return false;
    size_t total = 0;
    xmlNodePtr n = xmlDocGetRootElement(doc), top = n;
    while (n && total <= MAX_ENTITY_EXPANSION) {
        if (n->type == XML_ENTITY_REF_NODE) {
            total += entity_size(doc, xmlGetDocEntity(doc, n->name), 0);
        } else if (n->type == XML_ELEMENT_NODE) {
            for (xmlAttrPtr a = n->properties; a; a = a->next)
                for (xmlNodePtr c = a->children; c; c = c->next)
                    if (c->type == XML_ENTITY_REF_NODE)
                        total += entity_size(doc, xmlGetDocEntity(doc, c->name), 0);
            if (n->children) {
                n = n->children;
                continue;
            }
        }
        while (n != top && !n->next)
            n = n->parent;
        if (n == top)
            break;
        n = n->next;
    }
    xmlHashScan((xmlHashTablePtr)doc->intSubset->entities, entity_sizes_clear, NULL);
    return total > MAX_ENTITY_EXPANSION;
}

static xmlDocPtr parse_bytes(const char *p, size_t n, silk_doc_type type, int *refused)
{
    xmlDocPtr doc = NULL;
    int max_depth = 0;
    if (type == SILK_DOC_HTML) {
        /* lxml.html.HTMLParser(recover=True, huge_tree=True), encoding utf8 */
        int opts = HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_COMPACT |
                   XML_PARSE_HUGE | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING;
        htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
        if (!ctxt)
            return NULL;
        ctxt->sax->serror = silent_error;
        ctxt->sax->startElement = start_element_html;
        ctxt->_private = &max_depth;
        doc = htmlCtxtReadMemory(ctxt, p, (int)n, NULL, "utf8", opts);
        htmlFreeParserCtxt(ctxt);
    } else {
        /* etree.XMLParser(recover=True, resolve_entities=False, huge_tree=True) */
        int opts = XML_PARSE_NOCDATA | XML_PARSE_NONET | XML_PARSE_COMPACT |
                   XML_PARSE_BIG_LINES | XML_PARSE_RECOVER | XML_PARSE_HUGE |
                   XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
        xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
        if (!ctxt)
            return NULL;
        ctxt->sax->serror = silent_error;
        ctxt->sax->startElementNs = start_element_xml;
        ctxt->_private = &max_depth;
        doc = xmlCtxtReadMemory(ctxt, p, (int)n, NULL, "utf8", opts);
        xmlFreeParserCtxt(ctxt);
    }
    if (doc && type == SILK_DOC_XML && entities_too_big(doc)) {
        xmlFreeDoc(doc);
        *refused = silk_error(SILK_ELIMIT, "XML entities expand past %zu bytes",
                              MAX_ENTITY_EXPANSION);
        return NULL;
    }
    if (doc && max_depth > SILK_SELECTOR_MAX_DEPTH && xmlDocGetRootElement(doc) &&
        limit_depth(xmlDocGetRootElement(doc)) != 0) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    return doc;
}

static silk_selector *new_selector(sel_doc *d, silk_selector_kind kind, xmlNodePtr node,
                                   sel_ns *ns)
{
    silk_selector *s = silk_object_new(&silk_type_selector);
    if (!s)
        return NULL;
    s->doc = d;
    d->refs++;
    s->kind = kind;
    s->node = node;
    s->ns = ns;
    if (ns)
        ns->refs++;
    return s;
}

/* Text -> a document, with no tracked object: safe on any thread (the
 * engine parses on worker threads). */
static int doc_parse(const char *text, size_t len, silk_doc_type type, sel_doc **out)
{
    static bool xml_ready;
    char *copy = NULL;
    const char *p = NULL;
    size_t n = 0;
    sel_doc *d = NULL;
    int rc;

    *out = NULL;
    if (!text && len)
        return silk_error(SILK_EINVAL, "silk_selector_new: text is NULL");
    if (type != SILK_DOC_HTML && type != SILK_DOC_XML)
        return silk_error(SILK_EINVAL, "silk_selector_new: invalid document type %d", (int)type);
    if (len >= (size_t)INT_MAX)
        return silk_error(SILK_ELIMIT, "document of %zu bytes is too large to parse", len);
    if (!xml_ready) {
        xmlInitParser(); /* first called on the loop thread (silk__parse_warmup) */
        xml_ready = true;
    }
    rc = prepare_text(text ? text : "", len, &p, &n, &copy);
    if (rc)
        return rc;
    if (n == 0) {
        p = "<html/>";
        n = 7;
    }
    d = silk_malloc_for(&silk_type_selector, sizeof *d);
    if (!d) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto err;
    }
    d->refs = 0;
    d->type = type;
    d->xpath_cache.free_val = free_comp;
    d->css_cache.free_val = free_block;
    d->re_cache.free_val = silk__regex_cache_free;
    int refused = 0;
    d->doc = parse_bytes(p, n, type, &refused);
    if (d->doc && !xmlDocGetRootElement(d->doc)) {
        xmlFreeDoc(d->doc);
        d->doc = parse_bytes("<html/>", 7, type, &refused);
    }
    if (refused) {
        rc = refused;
        goto err;
    }
    if (!d->doc || !xmlDocGetRootElement(d->doc)) {
        rc = silk_error(SILK_ENOMEM, "libxml2 could not build a document");
        goto err;
    }
    silk_free(copy);
    *out = d;
    return 0;
err:
    silk_free(copy);
    if (d) {
        d->refs = 1;
        doc_unref(d);
    }
    return rc;
}

int silk_selector_parse(const char *text, size_t len, silk_doc_type type, void **parsed)
{
    sel_doc *d = NULL;
    if (!parsed)
        return silk_error(SILK_EINVAL, "silk_selector_parse: out is NULL");
    int rc = doc_parse(text, len, type, &d);
    *parsed = d;
    return rc;
}

void silk_selector_parsed_free(void *parsed)
{
    sel_doc *d = parsed;
    if (d) {
        d->refs = 1;
        doc_unref(d);
    }
}

int silk_selector_adopt(void *parsed, silk_arena *arena, silk_selector **out)
{
    sel_doc *d = parsed;
    if (!out || !d) {
        silk_selector_parsed_free(d);
        return silk_error(SILK_EINVAL, "silk_selector_adopt: nothing to adopt");
    }
    *out = NULL;
    silk_selector *s = new_selector(d, SILK_SEL_ELEMENT, xmlDocGetRootElement(d->doc), NULL);
    if (!s) {
        silk_selector_parsed_free(d);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    int rc = give(arena, s);
    if (rc)
        return rc; /* the selector (and so the document) is gone */
    *out = s;
    return 0;
}

int silk_selector_new(const char *text, size_t len, silk_doc_type type, silk_arena *arena,
                      silk_selector **out)
{
    sel_doc *d = NULL;
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_new: out is NULL");
    *out = NULL;
    int rc = doc_parse(text, len, type, &d);
    if (rc)
        return rc;
    return silk_selector_adopt(d, arena, out);
}

/* ------------------------------------------------------------------ lists */

static silk_selector_list *new_list(void)
{
    return silk_object_new(&silk_type_selector_list);
}

/* Takes over the reference to s; a NULL s (failed allocation) is an
 * error. */
static int list_push(silk_selector_list *l, silk_selector *s)
{
    if (!s)
        return silk_error(SILK_ENOMEM, "out of memory");
    if (l->len == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        silk_selector **ni = silk_realloc(l->items, nc * sizeof *ni);
        if (!ni) {
            silk_unref(s);
            return silk_error(SILK_ENOMEM, "out of memory");
        }
        if (!l->items)
            silk_alloc_retype(ni, &silk_type_selector_list);
        l->items = ni;
        l->cap = nc;
    }
    l->items[l->len++] = s;
    return 0;
}

size_t silk_selector_list_len(const silk_selector_list *l)
{
    return l ? l->len : 0;
}

silk_selector *silk_selector_list_at(const silk_selector_list *l, size_t i)
{
    return l && i < l->len ? l->items[i] : NULL;
}

silk_selector_kind silk_selector_get_kind(const silk_selector *s)
{
    return s->kind;
}

silk_doc_type silk_selector_doc_type(const silk_selector *s)
{
    return s->doc->type;
}

void *silk_selector_xml_node(const silk_selector *s)
{
    return s ? s->node : NULL;
}

/* ------------------------------------------------------------------ values */

/* Python's repr(float) / str(float). */
static void py_float(double x, char *out, size_t n)
{
    if (isnan(x)) {
        snprintf(out, n, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(out, n, x < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int decpt = exp + 1;
    char tmp[64];
    size_t w = 0;
    if (neg)
        tmp[w++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            tmp[w++] = '0';
            tmp[w++] = '.';
            for (int i = 0; i < -decpt; i++)
                tmp[w++] = '0';
            memcpy(tmp + w, digits, nd);
            w += nd;
        } else if ((size_t)decpt >= nd) {
            memcpy(tmp + w, digits, nd);
            w += nd;
            for (size_t i = nd; i < (size_t)decpt; i++)
                tmp[w++] = '0';
            tmp[w++] = '.';
            tmp[w++] = '0';
        } else {
            memcpy(tmp + w, digits, (size_t)decpt);
            w += (size_t)decpt;
            tmp[w++] = '.';
            memcpy(tmp + w, digits + decpt, nd - (size_t)decpt);
            w += nd - (size_t)decpt;
        }
        tmp[w] = '\0';
    } else {
        tmp[w++] = digits[0];
        if (nd > 1) {
            tmp[w++] = '.';
            memcpy(tmp + w, digits + 1, nd - 1);
            w += nd - 1;
        }
        tmp[w] = '\0';
        snprintf(tmp + w, sizeof tmp - w, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(out, n, "%s", tmp);
}

/* Python's repr(str) for the ASCII-ish strings of namespace tuples. */
static void py_repr_str(silk_buf *b, const char *s)
{
    if (!s) {
        silk_buf_puts(b, "None");
        return;
    }
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    silk_buf_putc(b, q);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q)
            silk_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            silk_buf_puts(b, "\\n");
        else if (*p == '\r')
            silk_buf_puts(b, "\\r");
        else if (*p == '\t')
            silk_buf_puts(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            silk_buf_printf(b, "\\x%02x", *p);
        else
            silk_buf_putc(b, (char)*p);
    }
    silk_buf_putc(b, q);
}

static silk_selector *value_selector(sel_doc *d, sel_ns *ns, char *owned)
{
    if (!owned)
        return NULL;
    silk_selector *s = new_selector(d, SILK_SEL_VALUE, NULL, ns);
    if (!s) {
        silk_free(owned);
        return NULL;
    }
    silk_alloc_retype(owned, &silk_type_selector);
    s->owned = owned;
    s->got = owned;
    return s;
}

/* ------------------------------------------------------------------ get() */

static bool ancestors_declare_ns(xmlNodePtr node)
{
    for (xmlNodePtr p = node->parent; p; p = p->parent) {
        if (p->type != XML_ELEMENT_NODE && p->type != XML_XINCLUDE_START &&
            p->type != XML_XINCLUDE_END && p->type != XML_DOCUMENT_NODE)
            break;
        if (p->type == XML_ELEMENT_NODE && p->nsDef)
            return true;
    }
    return false;
}

/* lxml's _tostring(..., with_tail=False) for one node. */
static char *serialize(sel_doc *d, xmlNodePtr node)
{
    xmlOutputBufferPtr buf = xmlAllocOutputBuffer(NULL);
    if (!buf)
        return NULL;
    xmlNodePtr target = node;
    if ((!node->parent || node->parent->type != XML_DOCUMENT_NODE) &&
        ancestors_declare_ns(node)) {
        /* libxml2 writes the namespaces of a node's ancestors only if the
         * node itself declares them: lxml serialises a shallow copy that
         * does. Without declarations above, the copy would change nothing. */
        target = xmlCopyNode(node, 2);
        if (!target) {
            xmlOutputBufferClose(buf);
            return NULL;
        }
        for (xmlNodePtr p = node->parent;
             p && (p->type == XML_ELEMENT_NODE || p->type == XML_XINCLUDE_START ||
                   p->type == XML_XINCLUDE_END || p->type == XML_DOCUMENT_NODE);
             p = p->parent)
            for (xmlNsPtr ns = p->type == XML_DOCUMENT_NODE ? NULL : p->nsDef; ns; ns = ns->next)
                xmlNewNs(target, ns->href, ns->prefix);
        target->parent = node->parent;
        target->children = node->children;
        target->last = node->last;
    }
    if (d->type == SILK_DOC_HTML)
        htmlNodeDumpFormatOutput(buf, d->doc, target, NULL, 0);
    else
        xmlNodeDumpOutput(buf, d->doc, target, 0, 0, NULL);
    if (target != node) {
        target->children = target->last = NULL;
        xmlFreeNode(target);
    }
    xmlOutputBufferFlush(buf);
    char *res = NULL;
    if (!buf->error) {
        xmlBufPtr content = buf->conv ? buf->conv : buf->buffer;
        res = silk_strndup((const char *)xmlBufContent(content), xmlBufUse(content));
    }
    xmlOutputBufferClose(buf);
    return res;
}

const char *silk_selector_get(silk_selector *s)
{
    if (!s)
        return NULL;
    if (s->got && (s->kind != SILK_SEL_ELEMENT || s->got_gen == s->doc->gen))
        return s->got;
    if (s->got) { /* the tree changed under a cached serialisation */
        silk_free(s->owned);
        s->owned = NULL;
        s->got = NULL;
    }
    switch (s->kind) {
    case SILK_SEL_TEXT:
        s->got = s->node->content ? (const char *)s->node->content : "";
        return s->got;
    case SILK_SEL_ATTRIBUTE: {
        xmlNodePtr c = s->node->children;
        if (!c) {
            s->got = "";
            return s->got;
        }
        if (!c->next && (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)) {
            s->got = c->content ? (const char *)c->content : "";
            return s->got;
        }
        xmlChar *v = xmlNodeGetContent(s->node);
        s->owned = silk_strdup(v ? (const char *)v : "");
        xmlFree(v);
        break;
    }
    case SILK_SEL_ELEMENT:
        s->owned = serialize(s->doc, s->node);
        break;
    case SILK_SEL_VALUE:
        break;
    }
    if (!s->owned) {
        silk_error(SILK_ENOMEM, "out of memory");
        return NULL;
    }
    silk_alloc_retype(s->owned, &silk_type_selector);
    s->got = s->owned;
    s->got_gen = s->doc->gen;
    return s->got;
}

const char *silk_selector_list_get(silk_selector_list *l, const char *def)
{
    if (!l || l->len == 0)
        return def;
    return silk_selector_get(l->items[0]);
}

int silk_selector_list_getall(silk_selector_list *l, silk_arena *arena, silk_strv *out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_list_getall: out is NULL");
    memset(out, 0, sizeof *out);
    size_t n = l ? l->len : 0;
    const char **v = silk_malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return silk_error(SILK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        v[i] = silk_selector_get(l->items[i]);
        if (!v[i]) {
            silk_free(v);
            return SILK_ENOMEM;
        }
    }
    if (arena) {
        int rc = silk_arena_keep_block(arena, v);
        if (rc)
            return rc;
        out->flags = SILK__STRV_IN_ARENA;
    } else {
        out->flags = SILK__STRV_OWNS_ARRAY;
    }
    out->v = v;
    out->len = n;
    return 0;
}

silk_value *silk_selector_list_getall_value(silk_selector_list *l, silk_arena *arena)
{
    silk_value *list = silk_value_new_list();
    if (!list)
        return NULL;
    for (size_t i = 0; l && i < l->len; i++) {
        const char *s = silk_selector_get(l->items[i]);
        if (!s || silk_list_push(list, silk_value_new_string(s))) {
            silk_value_free(list);
            return NULL;
        }
    }
    if (arena && silk_arena_keep_value(arena, list))
        return NULL;
    return list;
}

/* ------------------------------------------------------------------ attrib */

int silk_selector_attrib(silk_selector *s, silk_arena *arena, silk_value **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_attrib: out is NULL");
    *out = NULL;
    silk_value *dict = silk_value_new_dict();
    if (!dict)
        return silk_error(SILK_ENOMEM, "out of memory");
    if (s && s->kind == SILK_SEL_ELEMENT && s->node->type == XML_ELEMENT_NODE) {
        for (xmlAttrPtr a = s->node->properties; a; a = a->next) {
            if (a->type != XML_ATTRIBUTE_NODE)
                continue;
            const xmlChar *href = a->ns ? a->ns->href : NULL;
            xmlChar *v = xmlGetNsProp(s->node, a->name, href);
            char *key = href ? silk_asprintf("{%s}%s", (const char *)href, (const char *)a->name)
                             : silk_strdup((const char *)a->name);
            int rc = key ? silk_dict_set(dict, key, silk_value_new_string(v ? (char *)v : ""))
                         : SILK_ENOMEM;
            silk_free(key);
            xmlFree(v);
            if (rc) {
                silk_value_free(dict);
                return silk_error(SILK_ENOMEM, "out of memory");
            }
        }
    }
    if (s && s->kind == SILK_SEL_ELEMENT && s->node->type == XML_PI_NODE &&
        silk__pi_attrib((const char *)s->node->content, dict)) {
        silk_value_free(dict);
        return SILK_ENOMEM;
    }
    if (arena) {
        int rc = silk_arena_keep_value(arena, dict);
        if (rc)
            return rc;
    }
    *out = dict;
    return 0;
}

int silk_selector_list_attrib(silk_selector_list *l, silk_arena *arena, silk_value **out)
{
    return silk_selector_attrib(l && l->len ? l->items[0] : NULL, arena, out);
}

/* ------------------------------------------------------------------ XPath */

static const char HTML5_WS[] = " \t\n\r\f";

static void fn_error(xmlXPathParserContextPtr ctxt, const char *msg)
{
    sel_doc *d = ctxt->context->userData;
    if (d && !d->fn_err)
        d->fn_err = silk_strdup(msg);
    xmlXPathErr(ctxt, XPATH_EXPR_ERROR);
}

/* parsel's has-class(): every argument is a class of the context node. */
static void has_class_fn(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs == 0) {
        fn_error(ctxt, "XPath error: has-class must have at least 1 argument");
        return;
    }
    xmlXPathObjectPtr *args = silk_calloc((size_t)nargs, sizeof *args);
    if (!args) {
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    bool ok = true;
    for (int i = nargs - 1; i >= 0; i--) {
        args[i] = valuePop(ctxt);
        if (!args[i] || args[i]->type != XPATH_STRING)
            ok = false;
    }
    bool result = false;
    char *norm = NULL;
    xmlChar *cls = NULL;
    if (!ok) {
        fn_error(ctxt, "XPath error: has-class arguments must be strings");
        goto out;
    }
    xmlNodePtr node = ctxt->context->node;
    if (node && node->type == XML_ELEMENT_NODE)
        cls = xmlGetNsProp(node, (const xmlChar *)"class", NULL);
    if (cls) {
        /* " " + class + " ", each run of HTML5 whitespace made one space */
        size_t n = strlen((char *)cls), w = 0;
        norm = silk_malloc(n + 3);
        if (!norm) {
            xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
            goto out;
        }
        bool in_ws = true;
        norm[w++] = ' ';
        for (size_t i = 0; i < n; i++) {
            if (strchr(HTML5_WS, cls[i])) {
                if (!in_ws)
                    norm[w++] = ' ';
                in_ws = true;
            } else {
                norm[w++] = (char)cls[i];
                in_ws = false;
            }
        }
        if (!in_ws)
            norm[w++] = ' ';
        norm[w] = '\0';
        result = true;
        for (int i = 0; i < nargs && result; i++) {
            const char *c = (const char *)args[i]->stringval;
            size_t cn = strlen(c);
            /* " c " in norm */
            result = false;
            for (const char *p = strstr(norm, c); p && !result; p = strstr(p + 1, c))
                result = p > norm && p[-1] == ' ' && p[cn] == ' ';
            if (cn == 0)
                result = strstr(norm, "  ") != NULL;
        }
    }
    valuePush(ctxt, xmlXPathNewBoolean(result));
out:
    xmlFree(cls);
    silk_free(norm);
    for (int i = 0; i < nargs; i++)
        xmlXPathFreeObject(args[i]);
    silk_free(args);
}

void silk__xpath_register_regexp(xmlXPathContextPtr xctx);

static xmlXPathObjectPtr var_lookup(void *data, const xmlChar *name, const xmlChar *ns_uri)
{
    const silk_value *vars = data;
    if (!vars || ns_uri)
        return NULL;
    const silk_value *v = silk_dict_get(vars, (const char *)name);
    if (!v)
        return NULL;
    switch (v->kind) {
    case SILK_V_STRING:
        return xmlXPathNewString((const xmlChar *)v->u.s.ptr);
    case SILK_V_INT:
        return xmlXPathNewFloat((double)v->u.i);
    case SILK_V_DOUBLE:
        return xmlXPathNewFloat(v->u.d);
    case SILK_V_BOOL:
        return xmlXPathNewBoolean(v->u.b);
    default:
        return NULL;
    }
}

static int ensure_context(sel_doc *d)
{
    if (d->xctx)
        return 0;
    d->xctx = xmlXPathNewContext(d->doc);
    if (!d->xctx)
        return silk_error(SILK_ENOMEM, "out of memory");
    xmlXPathContextSetCache(d->xctx, 1, -1, 0);
    d->xctx->userData = d;
    d->xctx->error = xpath_error;
    if (xmlXPathRegisterFunc(d->xctx, (const xmlChar *)"has-class", has_class_fn) != 0)
        return silk_error(SILK_ENOMEM, "out of memory");
    silk__xpath_register_regexp(d->xctx);
    d->ctx_ns = 0;
    return 0;
}

static int register_ns(sel_doc *d, const sel_ns *ns)
{
    uint64_t id = ns ? ns->id : 1; /* 1: the defaults alone */
    if (d->ctx_ns == id)
        return 0;
    xmlXPathRegisteredNsCleanup(d->xctx);
    int bad = 0;
    bad |= xmlXPathRegisterNs(d->xctx, (const xmlChar *)"re", (const xmlChar *)NS_RE);
    bad |= xmlXPathRegisterNs(d->xctx, (const xmlChar *)"set", (const xmlChar *)NS_SET);
    for (size_t i = 0; ns && i < ns->n; i++)
        bad |= xmlXPathRegisterNs(d->xctx, (const xmlChar *)ns->prefix[i],
                                  (const xmlChar *)ns->uri[i]);
    if (bad) {
        xmlXPathRegisteredNsCleanup(d->xctx);
        d->ctx_ns = 0;
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    d->ctx_ns = id;
    return 0;
}

static int check_vars(const silk_value *vars)
{
    if (!vars)
        return 0;
    if (vars->kind != SILK_V_DICT)
        return silk_error(SILK_ETYPE, "XPath variables must be a dict");
    for (size_t i = 0; i < vars->u.dict.len; i++) {
        silk_value_kind k = vars->u.dict.entries[i].value->kind;
        if (k != SILK_V_STRING && k != SILK_V_INT && k != SILK_V_DOUBLE && k != SILK_V_BOOL)
            return silk_error(SILK_ETYPE, "XPath variable $%s: unsupported %s value",
                              vars->u.dict.entries[i].key, silk_value_kind_name(k));
    }
    return 0;
}

/* Appends the Selectors made from an XPath result to l. */
static int add_results(silk_selector *s, xmlXPathObjectPtr res, silk_selector_list *l)
{
    sel_doc *d = s->doc;
    char num[64];
    switch (res->type) {
    case XPATH_NODESET:
    case XPATH_XSLT_TREE: {
        xmlNodeSetPtr ns = res->nodesetval;
        for (int i = 0; ns && i < ns->nodeNr; i++) {
            xmlNodePtr n = ns->nodeTab[i];
            silk_selector *r = NULL;
            switch (n->type) {
            case XML_ELEMENT_NODE:
            case XML_COMMENT_NODE:
            case XML_ENTITY_REF_NODE:
            case XML_PI_NODE:
                r = new_selector(d, SILK_SEL_ELEMENT, n, s->ns);
                break;
            case XML_TEXT_NODE:
            case XML_CDATA_SECTION_NODE:
                r = new_selector(d, SILK_SEL_TEXT, n, s->ns);
                break;
            case XML_ATTRIBUTE_NODE:
                r = new_selector(d, SILK_SEL_ATTRIBUTE, n, s->ns);
                break;
            case XML_NAMESPACE_DECL: {
                /* lxml returns the tuple (prefix, uri); parsel str()s it */
                xmlNsPtr x = (xmlNsPtr)n;
                silk_buf b = SILK_BUF_INIT;
                silk_buf_putc(&b, '(');
                py_repr_str(&b, (const char *)x->prefix);
                silk_buf_puts(&b, ", ");
                py_repr_str(&b, (const char *)x->href);
                silk_buf_putc(&b, ')');
                if (b.err) {
                    silk_buf_free(&b);
                    return silk_error(SILK_ENOMEM, "out of memory");
                }
                r = value_selector(d, s->ns, silk_buf_detach(&b));
                break;
            }
            case XML_DOCUMENT_NODE:
            case XML_HTML_DOCUMENT_NODE:
            case XML_XINCLUDE_START:
            case XML_XINCLUDE_END:
                continue; /* lxml leaves these out */
            default:
                return silk_error(SILK_ETYPE, "Not yet implemented result node type: %d",
                                  (int)n->type);
            }
            if (list_push(l, r))
                return SILK_ENOMEM;
        }
        return 0;
    }
    case XPATH_BOOLEAN:
        return list_push(l, value_selector(d, s->ns, silk_strdup(res->boolval ? "1" : "0")))
                   ? SILK_ENOMEM
                   : 0;
    case XPATH_NUMBER:
        py_float(res->floatval, num, sizeof num);
        return list_push(l, value_selector(d, s->ns, silk_strdup(num))) ? SILK_ENOMEM : 0;
    case XPATH_STRING:
        return list_push(l, value_selector(d, s->ns,
                                           silk_strdup(res->stringval ? (char *)res->stringval
                                                                      : "")))
                   ? SILK_ENOMEM
                   : 0;
    default:
        return silk_error(SILK_ETYPE, "unsupported XPath result type %d", (int)res->type);
    }
}

/* A list_push of NULL (failed allocation) must not crash. */
static int xpath_into(silk_selector *s, const char *query, const silk_value *vars,
                      silk_selector_list *l)
{
    sel_doc *d = s->doc;
    if (s->kind != SILK_SEL_ELEMENT)
        return 0; /* parsel: strings have no .xpath, the result is empty */
    int rc = ensure_context(d);
    if (rc)
        return rc;
    rc = register_ns(d, s->ns);
    if (rc)
        return rc;
    d->xerr_code = 0;
    d->xerr[0] = '\0';
    silk_free(d->fn_err);
    d->fn_err = NULL;
    xmlXPathCompExprPtr comp = silk__cache_get(&d->xpath_cache, query);
    if (!comp) {
        comp = xmlXPathCtxtCompile(d->xctx, (const xmlChar *)query);
        if (!comp)
            return silk_error(SILK_ESYNTAX, "XPath error: %s in %s",
                              d->xerr[0] ? d->xerr : "Invalid expression", query);
        if (silk__cache_put(&d->xpath_cache, query, comp)) {
            xmlXPathFreeCompExpr(comp);
            return SILK_ENOMEM;
        }
    }
    d->xctx->node = s->node;
    d->xctx->doc = d->doc;
    d->xctx->opLimit = XPATH_OP_LIMIT;
    d->xctx->opCount = 0;
    d->xctx->depth = 0;
    xmlXPathRegisterVariableLookup(d->xctx, var_lookup, (void *)vars);
    xmlXPathObjectPtr res = xmlXPathCompiledEval(comp, d->xctx);
    xmlXPathRegisterVariableLookup(d->xctx, NULL, NULL);
    d->xctx->opLimit = 0;
    if (!res || d->fn_err) {
        xmlXPathFreeObject(res);
        if (d->fn_err)
            return silk_error(SILK_ESYNTAX, "%s", d->fn_err);
        if (d->xerr_code == XPATH_OP_LIMIT_EXCEEDED)
            return silk_error(SILK_ELIMIT, "XPath error: %s in %s (evaluation too costly)",
                              d->xerr, query);
        if (d->xerr_code == XPATH_MEMORY_ERROR)
            return silk_error(SILK_ENOMEM, "XPath error: %s in %s", d->xerr, query);
        if (d->xerr_code == XPATH_RECURSION_LIMIT_EXCEEDED)
            return silk_error(SILK_ELIMIT, "XPath error: %s in %s", d->xerr, query);
        return silk_error(SILK_ESYNTAX, "XPath error: %s in %s",
                          d->xerr[0] ? d->xerr : "Invalid expression", query);
    }
    rc = add_results(s, res, l);
    xmlXPathFreeObject(res);
    return rc;
}

static int check_query(const char *query, const char *what)
{
    if (!query)
        return silk_error(SILK_EINVAL, "%s: query is NULL", what);
    if (strlen(query) > XPATH_MAX_QUERY)
        return silk_error(SILK_ELIMIT, "%s: query longer than %d bytes", what, XPATH_MAX_QUERY);
    return 0;
}

static int finish_list(silk_selector_list *l, int rc, silk_arena *arena,
                       silk_selector_list **out)
{
    if (rc) {
        silk_unref(l);
        return rc;
    }
    rc = give(arena, l);
    if (rc)
        return rc;
    *out = l;
    return 0;
}

int silk_selector_xpath(silk_selector *s, const char *query, const silk_value *vars,
                        silk_arena *arena, silk_selector_list **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_xpath: out is NULL");
    *out = NULL;
    if (!silk_object_alive(s) || s->obj.type != &silk_type_selector)
        return silk_error(SILK_EDEAD, "silk_selector_xpath: not a live Selector");
    int rc = check_query(query, "silk_selector_xpath");
    if (!rc)
        rc = check_vars(vars);
    if (rc)
        return rc;
    silk_selector_list *l = new_list();
    if (!l)
        return silk_error(SILK_ENOMEM, "out of memory");
    return finish_list(l, xpath_into(s, query, vars, l), arena, out);
}

/* CSS translated once per document and query. */
static int css_xpath(sel_doc *d, const char *query, const char **xpath)
{
    const char *x = silk__cache_get(&d->css_cache, query);
    if (x) {
        *xpath = x;
        return 0;
    }
    char *t = NULL;
    int rc = silk_css_to_xpath(query, d->type == SILK_DOC_HTML, &t);
    if (rc)
        return rc;
    if (silk__cache_put(&d->css_cache, query, t)) {
        silk_free(t);
        return SILK_ENOMEM;
    }
    *xpath = t;
    return 0;
}

int silk_selector_css(silk_selector *s, const char *query, silk_arena *arena,
                      silk_selector_list **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_css: out is NULL");
    *out = NULL;
    if (!silk_object_alive(s) || s->obj.type != &silk_type_selector)
        return silk_error(SILK_EDEAD, "silk_selector_css: not a live Selector");
    int rc = check_query(query, "silk_selector_css");
    if (rc)
        return rc;
    const char *xpath;
    rc = css_xpath(s->doc, query, &xpath);
    if (rc)
        return rc;
    silk_selector_list *l = new_list();
    if (!l)
        return silk_error(SILK_ENOMEM, "out of memory");
    return finish_list(l, xpath_into(s, xpath, NULL, l), arena, out);
}

int silk_selector_list_xpath(silk_selector_list *l, const char *query, const silk_value *vars,
                             silk_arena *arena, silk_selector_list **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_list_xpath: out is NULL");
    *out = NULL;
    if (l && (!silk_object_alive(l) || l->obj.type != &silk_type_selector_list))
        return silk_error(SILK_EDEAD, "silk_selector_list_xpath: not a live SelectorList");
    int rc = check_query(query, "silk_selector_list_xpath");
    if (!rc)
        rc = check_vars(vars);
    if (rc)
        return rc;
    silk_selector_list *r = new_list();
    if (!r)
        return silk_error(SILK_ENOMEM, "out of memory");
    for (size_t i = 0; l && i < l->len && !rc; i++)
        rc = xpath_into(l->items[i], query, vars, r);
    return finish_list(r, rc, arena, out);
}

int silk_selector_list_css(silk_selector_list *l, const char *query, silk_arena *arena,
                           silk_selector_list **out)
{
    if (!out)
        return silk_error(SILK_EINVAL, "silk_selector_list_css: out is NULL");
    *out = NULL;
    if (l && (!silk_object_alive(l) || l->obj.type != &silk_type_selector_list))
        return silk_error(SILK_EDEAD, "silk_selector_list_css: not a live SelectorList");
    int rc = check_query(query, "silk_selector_list_css");
    if (rc)
        return rc;
    silk_selector_list *r = new_list();
    if (!r)
        return silk_error(SILK_ENOMEM, "out of memory");
    for (size_t i = 0; l && i < l->len && !rc; i++) {
        const char *xpath;
        rc = css_xpath(l->items[i]->doc, query, &xpath);
        if (!rc)
            rc = xpath_into(l->items[i], xpath, NULL, r);
    }
    return finish_list(r, rc, arena, out);
}

/* ------------------------------------------------------------------ namespaces */

int silk_selector_register_namespace(silk_selector *s, const char *prefix, const char *uri)
{
    if (!silk_object_alive(s) || s->obj.type != &silk_type_selector)
        return silk_error(SILK_EDEAD, "silk_selector_register_namespace: not a live Selector");
    if (!prefix || !*prefix)
        return silk_error(SILK_EINVAL, "empty namespace prefix is not supported in XPath");
    if (!uri || !*uri)
        return silk_error(SILK_EINVAL, "setting default namespace is not supported in XPath");
    /* copy on write: other Selectors keep the table they were made with */
    const sel_ns *old = s->ns;
    size_t n = old ? old->n : 0;
    sel_ns *ns = silk_malloc_for(&silk_type_selector, sizeof *ns);
    if (!ns)
        return silk_error(SILK_ENOMEM, "out of memory");
    static uint64_t next_id = 2;
    ns->refs = 1;
    ns->id = next_id++;
    ns->prefix = silk_calloc(n + 1, sizeof(char *));
    ns->uri = silk_calloc(n + 1, sizeof(char *));
    if (!ns->prefix || !ns->uri)
        goto nomem;
    bool replaced = false;
    for (size_t i = 0; i < n; i++) {
        ns->prefix[i] = silk_strdup(old->prefix[i]);
        bool same = strcmp(old->prefix[i], prefix) == 0;
        ns->uri[i] = silk_strdup(same ? uri : old->uri[i]);
        ns->n = i + 1;
        if (!ns->prefix[i] || !ns->uri[i])
            goto nomem;
        replaced |= same;
    }
    if (!replaced) {
        ns->prefix[n] = silk_strdup(prefix);
        ns->uri[n] = silk_strdup(uri);
        ns->n = n + 1;
        if (!ns->prefix[n] || !ns->uri[n])
            goto nomem;
    }
    ns_unref(s->ns);
    s->ns = ns;
    return 0;
nomem:
    ns_unref(ns);
    return silk_error(SILK_ENOMEM, "out of memory");
}

static void bury(sel_doc *d, xmlNodePtr n)
{
    n->parent = NULL;
    n->prev = NULL;
    n->next = d->graveyard;
    d->graveyard = n;
}

void silk__keep_orphan(xmlXPathContextPtr xctx, xmlNodePtr n)
{
    sel_doc *d = xctx ? xctx->userData : NULL;
    if (d)
        bury(d, n);
    else
        xmlFreeNode(n);
}

static void strip_ns_element(sel_doc *d, xmlNodePtr el)
{
    el->ns = NULL;
    /* lxml: el.attrib[local] = el.attrib.pop("{uri}local"), over a
     * snapshot of the names: the attribute moves to the end unless a plain
     * one of that name exists, whose value it then replaces in place.
     * Attribute nodes are replaced, never freed or edited: Selectors may
     * point at them. */
    size_t count = 0;
    for (xmlAttrPtr a = el->properties; a; a = a->next)
        if (a->ns)
            count++;
    if (!count)
        return;
    xmlAttrPtr *snap = silk_calloc(count, sizeof *snap);
    if (!snap)
        return;
    size_t k = 0;
    for (xmlAttrPtr a = el->properties; a; a = a->next)
        if (a->ns)
            snap[k++] = a;
    for (size_t i = 0; i < k; i++) {
        xmlAttrPtr a = snap[i];
        xmlChar *v = xmlGetNsProp(el, a->name, a->ns->href);
        xmlAttrPtr plain = xmlHasNsProp(el, a->name, NULL);
        if (plain && plain->ns)
            plain = NULL; /* xmlHasNsProp may also answer with a DTD default */
        xmlAttrPtr nw = xmlNewDocProp(d->doc, a->name, v ? v : (const xmlChar *)"");
        xmlFree(v);
        if (!nw)
            continue;
        xmlUnlinkNode((xmlNodePtr)a);
        bury(d, (xmlNodePtr)a);
        nw->parent = el;
        if (plain) {
            nw->prev = plain->prev;
            nw->next = plain->next;
            if (plain->prev)
                plain->prev->next = nw;
            else
                el->properties = nw;
            if (plain->next)
                plain->next->prev = nw;
            bury(d, (xmlNodePtr)plain);
        } else {
            xmlAttrPtr last = el->properties;
            while (last && last->next)
                last = last->next;
            nw->prev = last;
            nw->next = NULL;
            if (last)
                last->next = nw;
            else
                el->properties = nw;
        }
    }
    silk_free(snap);
}

int silk_selector_remove_namespaces(silk_selector *s)
{
    if (!silk_object_alive(s) || s->obj.type != &silk_type_selector)
        return silk_error(SILK_EDEAD, "silk_selector_remove_namespaces: not a live Selector");
    if (s->kind != SILK_SEL_ELEMENT || s->node->type != XML_ELEMENT_NODE)
        return silk_error(SILK_ETYPE, "remove_namespaces needs an element");
    xmlNodePtr top = s->node, n = top;
    /* iter("*") in document order, without recursion */
    while (n) {
        if (n->type == XML_ELEMENT_NODE)
            strip_ns_element(s->doc, n);
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            continue;
        }
        while (n && n != top && !n->next)
            n = n->parent;
        if (!n || n == top)
            break;
        n = n->next;
    }
    /* cleanup_namespaces: nothing under s uses a namespace any more, so
     * every declaration there is unused */
    n = top;
    while (n) {
        if (n->type == XML_ELEMENT_NODE && n->nsDef) {
            xmlFreeNsList(n->nsDef);
            n->nsDef = NULL;
        }
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            continue;
        }
        while (n && n != top && !n->next)
            n = n->parent;
        if (!n || n == top)
            break;
        n = n->next;
    }
    s->doc->gen++; /* serialisations made before are stale now */
    return 0;
}

silk__cache *silk__selector_regex_cache(silk_selector *s)
{
    return &s->doc->re_cache;
}

/* ------------------------------------------------------------------ convenience */

static bool is_selector(const void *x)
{
    return x && silk_object_alive(x) && ((const silk_object *)x)->type == &silk_type_selector;
}

static bool is_list(const void *x)
{
    return x && silk_object_alive(x) &&
           ((const silk_object *)x)->type == &silk_type_selector_list;
}

static silk_selector_list *query_conv(silk_arena *arena, void *from, const char *query, bool css)
{
    silk_selector_list *out = NULL;
    int rc;
    if (!arena)
        return NULL;
    if (is_selector(from))
        rc = css ? silk_selector_css(from, query, arena, &out)
                 : silk_selector_xpath(from, query, NULL, arena, &out);
    else if (!from || is_list(from))
        rc = css ? silk_selector_list_css(from, query, arena, &out)
                 : silk_selector_list_xpath(from, query, NULL, arena, &out);
    else
        rc = silk_error(SILK_ETYPE, "expected a Selector or a SelectorList, got %s",
                        silk_object_type_name(from));
    silk__arena_note_error(arena, rc);
    return rc ? NULL : out;
}

silk_selector_list *silk_css(silk_arena *arena, void *from, const char *query)
{
    return query_conv(arena, from, query, true);
}

silk_selector_list *silk_xpath(silk_arena *arena, void *from, const char *query)
{
    return query_conv(arena, from, query, false);
}

const char *silk_get(void *from)
{
    if (is_selector(from))
        return silk_selector_get(from);
    if (is_list(from))
        return silk_selector_list_get(from, NULL);
    return NULL;
}

silk_strv silk_getall(silk_arena *arena, void *from)
{
    silk_strv v = { NULL, 0, SILK__STRV_IN_ARENA };
    if (!arena)
        return v;
    int rc;
    if (is_list(from) || !from) {
        rc = silk_selector_list_getall(from, arena, &v);
    } else if (is_selector(from)) {
        const char *s = silk_selector_get(from);
        const char **arr = silk_malloc(sizeof *arr);
        rc = (!s || !arr) ? SILK_ENOMEM : silk_arena_keep_block(arena, arr);
        if (!rc) {
            arr[0] = s;
            v.v = arr;
            v.len = 1;
        } else if (arr && !s) {
            silk_free(arr);
        }
    } else {
        rc = silk_error(SILK_ETYPE, "expected a Selector or a SelectorList");
    }
    v.flags = SILK__STRV_IN_ARENA;
    silk__arena_note_error(arena, rc);
    return v;
}

silk_strv silk_re(silk_arena *arena, void *from, const char *regex)
{
    silk_strv v = { NULL, 0, SILK__STRV_IN_ARENA };
    if (!arena)
        return v;
    int rc;
    if (is_selector(from))
        rc = silk_selector_re(from, regex, 0, arena, &v);
    else if (!from || is_list(from))
        rc = silk_selector_list_re(from, regex, 0, arena, &v);
    else
        rc = silk_error(SILK_ETYPE, "expected a Selector or a SelectorList");
    silk__arena_note_error(arena, rc);
    if (rc)
        memset(&v, 0, sizeof v);
    v.flags = SILK__STRV_IN_ARENA;
    return v;
}

const char *silk_re_first(silk_arena *arena, void *from, const char *regex)
{
    char *s = NULL;
    if (!arena)
        return NULL;
    int rc;
    if (is_selector(from))
        rc = silk_selector_re_first(from, regex, 0, arena, &s);
    else if (!from || is_list(from))
        rc = silk_selector_list_re_first(from, regex, 0, arena, &s);
    else
        rc = silk_error(SILK_ETYPE, "expected a Selector or a SelectorList");
    silk__arena_note_error(arena, rc);
    return rc ? NULL : s;
}
