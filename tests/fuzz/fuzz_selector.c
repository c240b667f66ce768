/* libFuzzer target: silk_selector_new on arbitrary bytes as HTML and as XML,
 * then a few fixed CSS/XPath queries, getall and re on the result. Any
 * return code is fine; a crash, a hang, a sanitizer report or memory left
 * behind is not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "silk/alloc.h"
#include "silk/object.h"
#include "silk/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const css_queries[] = {
    "title::text", "a::attr(href)", "div > p:nth-child(2n+1)", "*:not(script) *::text",
    "[class~=price]", "li:first-child a", "p + p, ul ~ ol",
};
static const char *const xpath_queries[] = {
    "//title/text()", "//a/@href", "//*[contains(@class, 'price')]//text()",
    "count(//*)", "string(/)", "//comment() | //processing-instruction()",
    "//*[re:test(name(), '^[a-z]+$')]",
};

static void query_all(silk_selector *root)
{
    silk_selector_list *l = NULL;
    silk_strv v = {0};
    char *first = NULL;

    for (size_t i = 0; i < sizeof css_queries / sizeof *css_queries; i++) {
        if (silk_selector_css(root, css_queries[i], NULL, &l) == 0) {
            if (silk_selector_list_getall(l, NULL, &v) == 0)
                silk_strv_free(&v);
            if (silk_selector_list_re(l, "\\w+(\\d*)", 0, NULL, &v) == 0)
                silk_strv_free(&v);
            silk_unref(l);
        }
        l = NULL;
    }
    for (size_t i = 0; i < sizeof xpath_queries / sizeof *xpath_queries; i++) {
        if (silk_selector_xpath(root, xpath_queries[i], NULL, NULL, &l) == 0) {
            if (silk_selector_list_getall(l, NULL, &v) == 0)
                silk_strv_free(&v);
            if (silk_selector_list_re_first(l, "(?P<extract>[0-9.,]+)", 0, NULL, &first) == 0)
                silk_free(first);
            first = NULL;
            silk_selector_list *sub = NULL;
            if (silk_selector_list_css(l, "*::text", NULL, &sub) == 0)
                silk_unref(sub);
            silk_unref(l);
        }
        l = NULL;
    }
    if (silk_selector_re(root, "(a|aa)+$", 0, NULL, &v) == 0)
        silk_strv_free(&v);
    silk_value *attrs = NULL;
    if (silk_selector_attrib(root, NULL, &attrs) == 0)
        silk_value_free(attrs);
    (void)silk_selector_get(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int t = 0; t <= 1; t++) {
        silk_selector *root = NULL;
        if (silk_selector_new((const char *)data, size, t ? SILK_DOC_XML : SILK_DOC_HTML, NULL,
                              &root) == 0) {
            query_all(root);
            if (t == SILK_DOC_XML && silk_selector_remove_namespaces(root) == 0)
                query_all(root);
            silk_unref(root);
        }
    }
    /* a harness may abort: that is how libFuzzer records the input */
    if (silk_alloc_live_bytes() != 0 || silk_trackref_live_total() != 0) {
        fprintf(stderr, "fuzz_selector: leak: %zu bytes, %zu objects\n", silk_alloc_live_bytes(),
                silk_trackref_live_total());
        abort();
    }
    return 0;
}
