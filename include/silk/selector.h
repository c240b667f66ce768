/* silk — selectors: parsel's Selector and SelectorList on libxml2.
 *
 * A Selector wraps one result of a query: an element (or comment, or
 * processing instruction) of a parsed document, a text or attribute node, or
 * a plain value (an XPath string, number or boolean). A SelectorList is an
 * ordered list of Selectors. Both are tracked objects (trackref types
 * "Selector" and "SelectorList"). Every Selector holds a reference to its
 * document, which is freed with the last Selector that uses it.
 *
 * Ownership — two ways to hold what a query returns:
 *
 *  - With an arena (silk_arena): pass it to any call that returns something;
 *    the result is attached to the arena and stays valid until
 *    silk_arena_release(). Nothing needs freeing one by one. The engine gives
 *    every spider callback an arena and releases it when the callback
 *    returns, so ordinary extraction code never calls free() or unref().
 *  - Without (arena == NULL): the caller owns what it gets — a reference to
 *    silk_unref() for lists and selectors, silk_strv_free() for string
 *    vectors, silk_free() for single strings, silk_value_free() for values.
 *
 * To keep something past the arena's release, take a reference
 * (silk_ref(list) / silk_ref(sel)), or copy the string.
 *
 * Strings returned by get() are borrowed from the Selector: valid as long as
 * the Selector lives (so as long as the list or arena that holds it).
 *
 * Behaviour follows parsel 1.7 / cssselect 1.2 / lxml 4.9 exactly (see
 * docs/selectors.md; deliberate differences are in docs/compat.md). */
#ifndef SILK_SELECTOR_H
#define SILK_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/object.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_selector silk_selector;
typedef struct silk_selector_list silk_selector_list;

extern silk_type silk_type_selector, silk_type_selector_list;

/* ---- arena: the owner of what a callback extracts ---- */

typedef struct silk_arena {
    void **objs; /* tracked objects, one reference each */
    size_t nobjs, capobjs;
    void **blocks; /* silk blocks */
    size_t nblocks, capblocks;
    silk_value **values;
    size_t nvalues, capvalues;
    int err;        /* first error of a convenience call (silk_css, ...) */
    char *errmsg;   /* its message (silk block), NULL when none */
} silk_arena;

#define SILK_ARENA_INIT { NULL, 0, 0, NULL, 0, 0, NULL, 0, 0, 0, NULL }

/* Prepares a on caller memory (same as SILK_ARENA_INIT). */
void silk_arena_init(silk_arena *a);
/* Drops everything attached to a and its recorded error; a stays usable. */
void silk_arena_release(silk_arena *a);
/* Takes over one reference to a tracked object. 0, or SILK_ENOMEM (the
 * reference is then dropped). */
int silk_arena_keep_object(silk_arena *a, void *obj);
/* Takes over a silk block (silk_malloc...). 0, or SILK_ENOMEM (freed). */
int silk_arena_keep_block(silk_arena *a, void *p);
/* Takes over a value. 0, or SILK_ENOMEM (freed). */
int silk_arena_keep_value(silk_arena *a, silk_value *v);
/* Copies s into a block owned by a; NULL on ENOMEM. */
char *silk_arena_strdup(silk_arena *a, const char *s);

/* ---- string vectors (getall, re) ---- */

typedef struct silk_strv {
    const char **v; /* len strings (UTF-8, NUL-terminated) */
    size_t len;
    unsigned flags; /* private: who owns what */
} silk_strv;

/* Frees what the vector owns; does nothing for a vector held by an arena.
 * Leaves v empty. */
void silk_strv_free(silk_strv *v);

/* ---- documents ---- */

typedef enum silk_doc_type {
    SILK_DOC_HTML = 0, /* lxml.html.HTMLParser(recover=True, huge_tree=True) */
    SILK_DOC_XML = 1,  /* etree.XMLParser(recover=True, resolve_entities=False) */
} silk_doc_type;

/* Elements nested deeper than this under the root are made flat (their
 * descendants become their children, in document order): XPath cost grows
 * with depth cubed and worse, and a page of unclosed tags must not stall a
 * crawl. libxml2 uses the same number when huge_tree is off. */
#define SILK_SELECTOR_MAX_DEPTH 256

/* Parses text (UTF-8, len bytes; NULs are deleted, leading/trailing
 * whitespace stripped, invalid UTF-8 becomes U+FFFD, an empty text is
 * "<html/>") into a Selector on the document's root element. Returns 0 and
 * *out (attached to arena, or owned by the caller when arena is NULL),
 * SILK_ELIMIT (text of 2 GiB or more), SILK_EINVAL or SILK_ENOMEM. */
int silk_selector_new(const char *text, size_t len, silk_doc_type type, silk_arena *arena,
                      silk_selector **out);

/* The same in two steps, so the parse can run on another thread:
 * silk_selector_parse creates no tracked object and may run on any thread;
 * *parsed (opaque) is then either adopted on the loop thread by
 * silk_selector_adopt (which takes it, also on error) or freed with
 * silk_selector_parsed_free. Return codes as silk_selector_new. */
int silk_selector_parse(const char *text, size_t len, silk_doc_type type, void **parsed);
int silk_selector_adopt(void *parsed, silk_arena *arena, silk_selector **out);
void silk_selector_parsed_free(void *parsed);

/* ---- queries ---- */

/* Evaluates an XPath 1.0 expression with s as context node; vars is NULL or
 * a dict of XPath variables ($name: string, int, double or bool values).
 * Node-set results become one Selector per node (document nodes are left
 * out, as lxml does), other results one Selector holding the value. Only
 * elements can be queried further: on text, attribute and value Selectors
 * the result is empty, as in parsel. Returns 0 and *out, SILK_ESYNTAX (bad
 * expression, unknown function or prefix; silk_last_error says why),
 * SILK_ELIMIT (evaluation too costly) or SILK_ENOMEM. */
int silk_selector_xpath(silk_selector *s, const char *query, const silk_value *vars,
                        silk_arena *arena, silk_selector_list **out);
/* Same with a CSS selector (translated as parsel does, ::text and
 * ::attr(name) included). */
int silk_selector_css(silk_selector *s, const char *query, silk_arena *arena,
                      silk_selector_list **out);
/* The query applied to every Selector of l, results concatenated. */
int silk_selector_list_xpath(silk_selector_list *l, const char *query, const silk_value *vars,
                             silk_arena *arena, silk_selector_list **out);
int silk_selector_list_css(silk_selector_list *l, const char *query, silk_arena *arena,
                           silk_selector_list **out);

/* ---- results ---- */

typedef enum silk_selector_kind {
    SILK_SEL_ELEMENT,   /* element, comment, processing instruction */
    SILK_SEL_TEXT,      /* text node */
    SILK_SEL_ATTRIBUTE, /* attribute node */
    SILK_SEL_VALUE,     /* string, number or boolean XPath result */
} silk_selector_kind;

silk_selector_kind silk_selector_get_kind(const silk_selector *s);
silk_doc_type silk_selector_doc_type(const silk_selector *s);
/* The libxml2 node (xmlNodePtr) behind s, NULL for values. Borrowed: valid
 * while s lives; do not free or unlink it. */
void *silk_selector_xml_node(const silk_selector *s);

/* parsel's get(): elements serialised as lxml's tostring(method="html" or
 * "xml", with_tail=False), text and attributes as their value, numbers as
 * Python's str(float), booleans "1"/"0". Borrowed (valid while s lives);
 * NULL only on ENOMEM. */
const char *silk_selector_get(silk_selector *s);

size_t silk_selector_list_len(const silk_selector_list *l);
/* Borrowed: valid while l lives. NULL when i is out of range. */
silk_selector *silk_selector_list_at(const silk_selector_list *l, size_t i);
/* get() of the first Selector, or def when l is empty. Borrowed. */
const char *silk_selector_list_get(silk_selector_list *l, const char *def);
/* get() of every Selector. Strings are borrowed from the Selectors (valid
 * while l lives); the array belongs to arena, or to the caller
 * (silk_strv_free). Returns 0 or SILK_ENOMEM. */
int silk_selector_list_getall(silk_selector_list *l, silk_arena *arena, silk_strv *out);
/* A new list value of getall()'s strings (copies; caller owns it, or arena
 * does). NULL on ENOMEM. */
silk_value *silk_selector_list_getall_value(silk_selector_list *l, silk_arena *arena);

/* Attributes of an element as a dict value of strings, in document order
 * (namespaced names as "{uri}name"); an empty dict for other kinds. The dict
 * belongs to arena, or to the caller (silk_value_free). Returns 0 or
 * SILK_ENOMEM. The list version uses the first Selector ({} when empty). */
int silk_selector_attrib(silk_selector *s, silk_arena *arena, silk_value **out);
int silk_selector_list_attrib(silk_selector_list *l, silk_arena *arena, silk_value **out);

/* ---- regular expressions (parsel's re / re_first) ---- */

/* Python `re` syntax as far as PCRE2 goes (named groups (?P<n>...), \d \w
 * \s on Unicode, \uXXXX, \UXXXXXXXX, \Z). A group named "extract" yields
 * that group of the first match; otherwise every match yields its groups
 * (or the whole match when there is none), as re.findall. Then, unless
 * SILK_RE_KEEP_ENTITIES, character references are replaced except &lt; and
 * &amp; (w3lib.html.replace_entities). */
enum { SILK_RE_KEEP_ENTITIES = 1u << 0 };

/* Strings of *out are owned by the vector (silk_strv_free), or by arena.
 * Returns 0, SILK_ESYNTAX (bad pattern), SILK_ELIMIT (match limit hit) or
 * SILK_ENOMEM. */
int silk_selector_re(silk_selector *s, const char *regex, unsigned flags, silk_arena *arena,
                     silk_strv *out);
int silk_selector_list_re(silk_selector_list *l, const char *regex, unsigned flags,
                          silk_arena *arena, silk_strv *out);
/* First string re() would give, or *out = NULL when none. The string belongs
 * to arena, or to the caller (silk_free). Same return codes. */
int silk_selector_re_first(silk_selector *s, const char *regex, unsigned flags,
                           silk_arena *arena, char **out);
int silk_selector_list_re_first(silk_selector_list *l, const char *regex, unsigned flags,
                                silk_arena *arena, char **out);

/* w3lib.html.replace_entities(text, keep=keep, remove_illegal=True): keep is
 * NULL or a NULL-terminated list of lower-case entity names left as they
 * are. Returns a new string (caller frees) or NULL on ENOMEM. */
char *silk_replace_entities(const char *text, const char *const *keep);

/* ---- namespaces (XML) ---- */

/* Registers prefix -> uri for later queries on s (and on the Selectors its
 * queries return). "re" and "set" (EXSLT) are registered by default.
 * Returns 0, SILK_EINVAL or SILK_ENOMEM. */
int silk_selector_register_namespace(silk_selector *s, const char *prefix, const char *uri);
/* Removes namespaces from the elements and attributes under s (in place, for
 * every Selector of the document), as parsel's remove_namespaces(). Returns
 * 0 or SILK_ETYPE when s is not an element. */
int silk_selector_remove_namespaces(silk_selector *s);

/* ---- CSS translation ---- */

/* parsel's CSS -> XPath translation (HTMLTranslator when html, else
 * GenericTranslator), with ::text and ::attr(name). Returns 0 and *xpath_out
 * (caller silk_free's it), SILK_ESYNTAX (invalid or unsupported selector),
 * SILK_ELIMIT (selector too long or complex), SILK_EENCODING or
 * SILK_ENOMEM. */
int silk_css_to_xpath(const char *css, bool html, char **xpath_out);

/* ---- convenience, for spider callbacks ----
 *
 * from is a Selector or a SelectorList (or NULL, meant as an empty list).
 * Results belong to arena (required). On error they return NULL (or an
 * empty vector) and record the first error in arena->err / arena->errmsg,
 * which the engine reports when the callback returns. */
silk_selector_list *silk_css(silk_arena *arena, void *from, const char *query);
silk_selector_list *silk_xpath(silk_arena *arena, void *from, const char *query);
/* get() of from (first Selector of a list); NULL when empty. Borrowed. */
const char *silk_get(void *from);
silk_strv silk_getall(silk_arena *arena, void *from);
silk_strv silk_re(silk_arena *arena, void *from, const char *regex);
const char *silk_re_first(silk_arena *arena, void *from, const char *regex);

#ifdef __cplusplus
}
#endif
#endif
