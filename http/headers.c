/* silk — HTTP headers: multi-valued, case-insensitive, insertion order. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/http.h"

void silk_headers_init(silk_headers *h) { memset(h, 0, sizeof *h); }

void silk_headers_clear(silk_headers *h)
{
    for (size_t i = 0; i < h->len; i++) {
        silk_free(h->items[i].name);
        silk_free(h->items[i].value);
    }
    silk_free(h->items);
    memset(h, 0, sizeof *h);
}

/* Scrapy's Headers.normkey: str.title() — upper-case after any non-letter. */
static char *normalise_name(const char *name)
{
    char *n = silk_strdup(name);
    if (!n)
        return NULL;
    bool up = true;
    for (char *p = n; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalpha(c)) {
            *p = (char)(up ? toupper(c) : tolower(c));
            up = false;
        } else {
            up = true;
        }
    }
    return n;
}

static bool has_bad_chars(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int silk_headers_add(silk_headers *h, const char *name, const char *value)
{
    if (!name || !*name || !value)
        return silk_error(SILK_EINVAL, "a header needs a name and a value");
    if (has_bad_chars(name) || has_bad_chars(value) || strchr(name, ':'))
        return silk_error(SILK_EINVAL, "header '%.64s' contains CR, LF or ':' in its name or value", name);
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 2;
        silk_header *items = silk_realloc(h->items, cap * sizeof *items);
        if (!items)
            return SILK_ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    char *n = normalise_name(name);
    char *v = silk_strdup(value);
    if (!n || !v) {
        silk_free(n);
        silk_free(v);
        return SILK_ENOMEM;
    }
    h->items[h->len].name = n;
    h->items[h->len].value = v;
    h->len++;
    return 0;
}

size_t silk_headers_del(silk_headers *h, const char *name)
{
    size_t j = 0, removed = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (strcasecmp(h->items[i].name, name) == 0) {
            silk_free(h->items[i].name);
            silk_free(h->items[i].value);
            removed++;
        } else {
            h->items[j++] = h->items[i];
        }
    }
    h->len = j;
    return removed;
}

int silk_headers_set(silk_headers *h, const char *name, const char *value)
{
    if (!name || !value)
        return silk_error(SILK_EINVAL, "a header needs a name and a value");
    silk_headers_del(h, name);
    return silk_headers_add(h, name, value);
}

const char *silk_headers_get(const silk_headers *h, const char *name)
{
    for (size_t i = h->len; i-- > 0;)
        if (strcasecmp(h->items[i].name, name) == 0)
            return h->items[i].value;
    return NULL;
}

size_t silk_headers_count(const silk_headers *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->len; i++)
        n += strcasecmp(h->items[i].name, name) == 0;
    return n;
}

const char *silk_headers_get_nth(const silk_headers *h, const char *name, size_t nth)
{
    for (size_t i = 0; i < h->len; i++)
        if (strcasecmp(h->items[i].name, name) == 0 && nth-- == 0)
            return h->items[i].value;
    return NULL;
}

int silk_headers_copy(silk_headers *dst, const silk_headers *src)
{
    silk_headers_init(dst);
    for (size_t i = 0; i < src->len; i++) {
        int rc = silk_headers_add(dst, src->items[i].name, src->items[i].value);
        if (rc) {
            silk_headers_clear(dst);
            return rc;
        }
    }
    return 0;
}
