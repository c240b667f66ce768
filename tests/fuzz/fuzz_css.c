/* libFuzzer target: silk_css_to_xpath on arbitrary bytes, HTML and XML
 * translators. Any return code is fine; a crash, a hang, a sanitizer report
 * or memory left behind is not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/object.h"
#include "silk/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *css = silk_malloc(size + 1);
    if (!css)
        return 0;
    memcpy(css, data, size);
    css[size] = '\0';
    for (int html = 0; html <= 1; html++) {
        char *xp = NULL;
        if (silk_css_to_xpath(css, html, &xp) == 0) {
            /* a translation is a string */
            if (!xp)
                abort();
            (void)strlen(xp);
        }
        silk_free(xp);
    }
    silk_free(css);
    /* a harness may abort: that is how libFuzzer records the input */
    if (silk_alloc_live_bytes() != 0 || silk_trackref_live_total() != 0) {
        fprintf(stderr, "fuzz_css: leak: %zu bytes, %zu objects\n", silk_alloc_live_bytes(),
                silk_trackref_live_total());
        abort();
    }
    return 0;
}
