/* silk selectors — what the files of selectors/ share and nobody else uses. */
#ifndef SILK_SELECTOR_INTERNAL_H
#define SILK_SELECTOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "silk/buf.h"

/* Decodes one UTF-8 code point (strict: no overlongs, no surrogates);
 * returns its length in bytes, 0 when s does not start with one. */
size_t silk__utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes cp (surrogates and values past U+10FFFF become U+FFFD); returns
 * the number of bytes written. */
size_t silk__utf8_encode(uint32_t cp, char out[4]);
/* Length of the longest valid UTF-8 prefix of s. */
size_t silk__utf8_valid_prefix(const char *s, size_t n);
/* Code points in valid UTF-8 text. */
size_t silk__utf8_count(const char *s, size_t n);
/* Appends Python's s.lower() (final sigma aside) to out; returns out->err. */
int silk__utf8_lower(const char *s, size_t n, silk_buf *out);

/* ---- shared between selector.c and regex.c ---- */

#include <stdbool.h>

#include "silk/selector.h"

/* Per-document caches: a query string maps to what was made from it. */
#define SILK__CACHE_SIZE 32

typedef struct silk__cache_entry {
    char *key;
    void *val;
} silk__cache_entry;

typedef struct silk__cache {
    silk__cache_entry e[SILK__CACHE_SIZE];
    unsigned next; /* round-robin victim */
    void (*free_val)(void *val);
} silk__cache;

/* The cached value for key, or NULL. */
void *silk__cache_get(silk__cache *c, const char *key);
/* Stores val under a copy of key (evicting one entry when full). On
 * failure val is kept by nobody: the caller still owns it and gets
 * SILK_ENOMEM. */
int silk__cache_put(silk__cache *c, const char *key, void *val);
void silk__cache_clear(silk__cache *c);

/* The regex cache of the document s belongs to (compiled PCRE2 patterns). */
silk__cache *silk__selector_regex_cache(silk_selector *s);

/* Attaches strv storage to an arena or marks it caller-owned. */
#define SILK__STRV_OWNS_ARRAY 1u
#define SILK__STRV_OWNS_STRINGS 2u
#define SILK__STRV_IN_ARENA 4u

/* Keeps a node made during an XPath evaluation (re:match) until the
 * document of that XPath context goes. */
struct _xmlXPathContext;
struct _xmlNode;
void silk__keep_orphan(struct _xmlXPathContext *xctx, struct _xmlNode *n);

/* Adds the pseudo-attributes of a processing instruction's text to dict
 * (lxml's _ProcessingInstruction.attrib). 0 or a SILK_E* code. */
int silk__pi_attrib(const char *text, silk_value *dict);

/* Python `re` syntax -> PCRE2 (\\Z, \\uXXXX, \\UXXXXXXXX, {,n}, a ']' first in a
 * class), appended to out. 0 or a SILK_E* code. */
int silk__regex_translate(const char *pat, silk_buf *out);

/* Records an error on a convenience call's arena (first one wins). */
void silk__arena_note_error(silk_arena *a, int rc);

#endif
