/* silk — link extraction: Scrapy 2.8's LinkExtractor (LxmlLinkExtractor)
 * with every option, and the Python-syntax regular expressions it filters
 * with.
 *
 *   static const silk_link_extractor_opts opts = {
 *       .allow = SILK_LIST("/p/\\d+\\.html$"),
 *       .restrict_css = SILK_LIST("#content"),
 *   };
 *   silk_link_extractor *le;
 *   silk_link_extractor_new(&opts, &le);
 *   silk_links links;
 *   silk_link_extractor_extract(le, response, arena, &links);
 *   for (size_t i = 0; i < links.len; i++)
 *       printf("%s %s\n", links.v[i].url, links.v[i].text);
 *   silk_link_extractor_free(le);
 *
 * The answers are Scrapy's, link for link (tests/vectors/link_extractor.jsonl);
 * the few deliberate differences are in docs/compat.md and the guide is
 * docs/linkextractor.md. */
#ifndef SILK_LINKEXTRACTOR_H
#define SILK_LINKEXTRACTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "silk/http.h"
#include "silk/selector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- regular expressions, Python `re` syntax (re.compile(p).search) ---- */

typedef struct silk_regex silk_regex;

/* Compiles pattern (Python `re` syntax as far as PCRE2 goes; Unicode-aware
 * like a str pattern). Returns 0 and *out (caller frees with
 * silk_regex_free), SILK_ESYNTAX (silk_last_error says why), SILK_ELIMIT
 * (pattern over 64 KiB) or SILK_ENOMEM. */
int silk_regex_new(const char *pattern, silk_regex **out);
/* The pattern as given. Borrowed. */
const char *silk_regex_pattern(const silk_regex *re);
/* re.search(s): 1 when s (UTF-8, len bytes) has a match, 0 when not,
 * SILK_ELIMIT when the match is too costly (backtracking bomb),
 * SILK_EENCODING when s is not valid UTF-8, SILK_ENOMEM. */
int silk_regex_search(const silk_regex *re, const char *s, size_t len);
void silk_regex_free(silk_regex *re);

/* ---- links ---- */

typedef struct silk_link {
    const char *url;      /* absolute and safe (w3lib safe_url_string) */
    const char *text;     /* string() of the element; "" when none */
    const char *fragment; /* always "", as Scrapy 2.8 leaves it (the URL keeps its #part) */
    bool nofollow;        /* the rel attribute holds "nofollow" */
} silk_link;

/* An array of links. Its strings live in one block with the array: the
 * links belong to the arena given to the call that made them, or to the
 * caller (silk_links_free). Entries may be removed or reordered in place
 * (process_links); a url or text you replace must outlive the array (an
 * arena string, a literal). */
typedef struct silk_links {
    silk_link *v;
    size_t len;
    unsigned flags; /* private */
} silk_links;

/* Frees what the array owns (nothing when an arena holds it); leaves it
 * empty. */
void silk_links_free(silk_links *links);

/* ---- the extractor ---- */

/* Every field zero means Scrapy's default. Lists are NULL-terminated
 * (SILK_LIST("a", "b") from silk/spider.h, or your own array); NULL means
 * "not given". Strings are copied by silk_link_extractor_new. */
typedef struct silk_link_extractor_opts {
    const char *const *allow;   /* regexes an absolute URL must match (any) */
    const char *const *deny;    /* regexes that exclude a URL (any) */
    const char *const *allow_domains; /* the host (netloc) is one of these or a subdomain */
    const char *const *deny_domains;
    const char *const *restrict_xpaths; /* only links inside what these select */
    const char *const *restrict_css;    /* same, CSS (translated as parsel does) */
    const char *const *restrict_text;   /* regexes the link text must match (any) */
    const char *const *tags;    /* NULL = ("a", "area") */
    const char *const *attrs;   /* NULL = ("href",) */
    /* NULL = Scrapy's IGNORED_EXTENSIONS (silk_link_extractor_ignored_extensions);
     * SILK_NO_EXTENSIONS (an empty list) filters none. Without the dot. */
    const char *const *deny_extensions;
    bool canonicalize;    /* canonicalize_url() every URL (fragments dropped) */
    bool keep_duplicates; /* Scrapy's unique=False */
    bool no_strip;        /* Scrapy's strip=False: keep whitespace around attribute values */
    /* Scrapy's process_value: called with each absolute URL; returns the URL
     * to use (a new silk_malloc'ed string, which the extractor takes), or
     * NULL to drop the link. */
    char *(*process_value)(const char *value, void *arg);
    void *process_value_arg;
} silk_link_extractor_opts;

/* An empty list literal (SILK_LIST needs at least one element). */
#ifndef SILK_LIST_EMPTY
#define SILK_LIST_EMPTY ((const char *const[]){ NULL })
#endif
/* .deny_extensions = SILK_NO_EXTENSIONS filters no extension. */
#define SILK_NO_EXTENSIONS SILK_LIST_EMPTY

typedef struct silk_link_extractor silk_link_extractor;

/* Scrapy's IGNORED_EXTENSIONS (no dots), NULL-terminated. Static. */
const char *const *silk_link_extractor_ignored_extensions(void);

/* Builds an extractor (opts NULL = all defaults). The regexes are compiled
 * and restrict_css translated now, as Scrapy does in __init__. Returns 0 and
 * *out (caller frees with silk_link_extractor_free), SILK_ESYNTAX (a bad
 * regex or CSS selector; silk_last_error names it), SILK_ELIMIT or
 * SILK_ENOMEM. */
int silk_link_extractor_new(const silk_link_extractor_opts *opts, silk_link_extractor **out);
void silk_link_extractor_free(silk_link_extractor *le);

/* extract_links(response): the links of a text response (HTML or XML), in
 * document order, filtered and de-duplicated as Scrapy does. The response's
 * document is parsed once and kept on the response. *out belongs to arena,
 * or to the caller when arena is NULL (silk_links_free). Returns 0,
 * SILK_ETYPE (not a text response, or a restrict_xpaths result that is not
 * an element, where Scrapy raises AttributeError), SILK_ESYNTAX (a bad
 * restrict_xpaths expression), SILK_ELIMIT (a regex too costly on some URL
 * or text), SILK_EINVAL or SILK_ENOMEM. A link whose URL cannot be made
 * safe is skipped (docs/compat.md). */
int silk_link_extractor_extract(const silk_link_extractor *le, silk_response *response,
                                silk_arena *arena, silk_links *out);

/* LinkExtractor.matches(url): the domain and allow/deny tests alone. 1 or 0,
 * or a negative SILK_E* (SILK_EURL for a URL Python's urlparse refuses). */
int silk_link_extractor_matches(const silk_link_extractor *le, const char *url);

#ifdef __cplusplus
}
#endif
#endif
