/* Selector benchmark: parse + extract (title, price, every href, urljoin of
 * each href against the page URL) over HTML files already in memory, either
 * through silk's selectors or through bare libxml2 (htmlReadMemory, the same
 * three XPath queries that cssselect gives for the CSS ones, xmlBuildURI).
 *
 *   selector_bench silk|bare ROUNDS FILE...
 *
 * Prints one line: mode, pages, µs per page, and a checksum of what was
 * extracted (count of hrefs, bytes of joined URLs) so the runs can be
 * compared. Driven by bench/parsel_bench.py (make bench-selectors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/HTMLparser.h>
#include <libxml/uri.h>
#include <libxml/xpath.h>

#include "silk/alloc.h"
#include "silk/selector.h"
#include "silk/url.h"

#define Q_TITLE "descendant-or-self::title/text()"
#define Q_PRICE                                                                                  \
    "descendant-or-self::span[@class and contains(concat(' ', normalize-space(@class), ' '), "    \
    "' price ')]/text()"
#define Q_HREF "descendant-or-self::a/@href"

struct page {
    char *data;
    size_t len;
    char url[64];
};

static unsigned long long n_hrefs, n_bytes;

static int run_silk(const struct page *p)
{
    silk_arena a = SILK_ARENA_INIT;
    silk_selector *root = NULL;
    int rc = silk_selector_new(p->data, p->len, SILK_DOC_HTML, &a, &root);
    if (rc)
        goto out;
    const char *title = silk_get(silk_css(&a, root, "title::text"));
    const char *price = silk_get(silk_css(&a, root, "span.price::text"));
    silk_strv hrefs = silk_getall(&a, silk_css(&a, root, "a::attr(href)"));
    if (a.err) {
        rc = a.err;
        goto out;
    }
    n_bytes += (title ? strlen(title) : 0) + (price ? strlen(price) : 0);
    for (size_t i = 0; i < hrefs.len; i++) {
        char *u = NULL;
        if (silk_url_join(p->url, hrefs.v[i], &u) == 0) {
            n_hrefs++;
            n_bytes += strlen(u);
        }
        silk_free(u);
    }
out:
    silk_arena_release(&a);
    return rc;
}

static xmlChar *first_text(xmlXPathContextPtr ctx, const char *q)
{
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)q, ctx);
    xmlChar *s = NULL;
    if (r && r->nodesetval && r->nodesetval->nodeNr > 0)
        s = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
    xmlXPathFreeObject(r);
    return s;
}

static int run_bare(const struct page *p)
{
    htmlDocPtr doc = htmlReadMemory(p->data, (int)p->len, p->url, "utf-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                                        HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
    if (!doc)
        return -1;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    ctx->node = xmlDocGetRootElement(doc);
    xmlChar *title = first_text(ctx, Q_TITLE);
    xmlChar *price = first_text(ctx, Q_PRICE);
    n_bytes += (title ? strlen((char *)title) : 0) + (price ? strlen((char *)price) : 0);
    xmlFree(title);
    xmlFree(price);
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)Q_HREF, ctx);
    if (r && r->nodesetval) {
        for (int i = 0; i < r->nodesetval->nodeNr; i++) {
            xmlChar *href = xmlNodeGetContent(r->nodesetval->nodeTab[i]);
            xmlChar *u = xmlBuildURI(href, (const xmlChar *)p->url);
            if (u) {
                n_hrefs++;
                n_bytes += strlen((char *)u);
            }
            xmlFree(u);
            xmlFree(href);
        }
    }
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "silk") && strcmp(argv[1], "bare"))) {
        fprintf(stderr, "usage: %s silk|bare ROUNDS FILE...\n", argv[0]);
        return 2;
    }
    int silk = !strcmp(argv[1], "silk");
    int rounds = atoi(argv[2]);
    size_t n = (size_t)(argc - 3);
    struct page *pages = calloc(n, sizeof *pages);
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(argv[3 + i], "rb");
        if (!f) {
            perror(argv[3 + i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        pages[i].len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        pages[i].data = malloc(pages[i].len + 1);
        if (fread(pages[i].data, 1, pages[i].len, f) != pages[i].len)
            return 1;
        fclose(f);
        const char *base = strrchr(argv[3 + i], '/');
        snprintf(pages[i].url, sizeof pages[i].url, "http://bench.example/p/%s",
                 base ? base + 1 : argv[3 + i]);
    }
    xmlInitParser();
    if (rounds < 1)
        rounds = 1;
    /* one warm-up round, then the timed ones */
    double start = 0;
    for (int r = 0; r <= rounds; r++) {
        if (r == 1) {
            n_hrefs = n_bytes = 0;
            start = now();
        }
        for (size_t i = 0; i < n; i++) {
            if ((silk ? run_silk : run_bare)(&pages[i])) {
                fprintf(stderr, "%s: page %zu failed\n", argv[1], i);
                return 1;
            }
        }
    }
    double el = now() - start, done = (double)n * rounds;
    printf("%s pages=%.0f us_per_page=%.2f hrefs=%llu bytes=%llu\n", argv[1], done,
           el * 1e6 / done, n_hrefs / rounds, n_bytes / rounds);
    for (size_t i = 0; i < n; i++)
        free(pages[i].data);
    free(pages);
    xmlCleanupParser();
    return 0;
}
