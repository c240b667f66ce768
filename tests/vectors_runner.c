/* Golden-vector runner: reads every known *.jsonl file in SILK_VECTORS_DIR
 * (else the source tree's tests/vectors), runs each case through its
 * handler, prints failing cases, and one summary line per file:
 *   canonicalize_url.jsonl: 114 passed, 0 failed, 0 skipped
 * Exit status is non-zero when any case failed, a file leaked, or a handler
 * for a present file is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/object.h"
#include "vectors.h"

#define WEAK __attribute__((weak))
WEAK vec_result vec_canonicalize_url(const silk_value *c, silk_buf *why);
WEAK vec_result vec_fingerprint(const silk_value *c, silk_buf *why);
WEAK vec_result vec_urljoin(const silk_value *c, silk_buf *why);
WEAK vec_result vec_trackref_format(const silk_value *c, silk_buf *why);
WEAK vec_result vec_selectors(const silk_value *c, silk_buf *why);
WEAK vec_result vec_link_extractor(const silk_value *c, silk_buf *why);
WEAK vec_result vec_encoding(const silk_value *c, silk_buf *why);
WEAK vec_result vec_robots(const silk_value *c, silk_buf *why);

static const struct {
    const char *file;
    vec_handler handler;
} files[] = {
    { "canonicalize_url.jsonl", vec_canonicalize_url },
    { "fingerprint.jsonl", vec_fingerprint },
    { "urljoin.jsonl", vec_urljoin },
    { "trackref_format.jsonl", vec_trackref_format },
    { "selectors.jsonl", vec_selectors },
    { "link_extractor.jsonl", vec_link_extractor },
    { "encoding.jsonl", vec_encoding },
    { "robots.jsonl", vec_robots },
};

const char *vec_str(const silk_value *c, const char *key)
{
    return silk_dict_get_str(c, key, NULL);
}

void vec_mismatch(silk_buf *why, const char *field, const char *expected, const char *got)
{
    silk_buf_printf(why, "%s%s: expected \"%s\", got \"%s\"", why->len ? "; " : "", field,
                    expected ? expected : "(null)", got ? got : "(null)");
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

unsigned char *vec_b64(const silk_value *c, const char *key, size_t *len)
{
    const char *s = vec_str(c, key);
    *len = 0;
    if (!s)
        return NULL;
    size_t n = strlen(s);
    unsigned char *out = silk_malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue; /* padding */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[(*len)++] = (unsigned char)(acc >> bits);
        }
    }
    return out;
}

static int run_file(const char *dir, const char *name, vec_handler handler, int *missing)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* not present: nothing to run */
    if (!handler) {
        printf("%s: no handler in this build\n", name);
        fclose(f);
        (*missing)++;
        return 1;
    }
    size_t pass = 0, fail = 0, skip = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    silk_buf why = SILK_BUF_INIT;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        silk_value *c = NULL;
        if (silk_json_decode(line, (size_t)n, &c)) {
            printf("  %s:%zu: FAIL cannot decode case: %s\n", name, lineno, silk_last_error());
            fail++;
            continue;
        }
        silk_buf_reset(&why);
        vec_result r = handler(c, &why);
        const char *label = silk_dict_get_str(c, "name", NULL);
        if (r == VEC_PASS) {
            pass++;
        } else if (r == VEC_SKIP) {
            skip++;
            printf("  %s:%zu%s%s: skipped (%s)\n", name, lineno, label ? " " : "", label ? label : "",
                   why.data ? why.data : "");
        } else {
            fail++;
            printf("  %s:%zu%s%s: FAIL %s\n", name, lineno, label ? " " : "", label ? label : "",
                   why.data ? why.data : "");
        }
        silk_value_free(c);
    }
    silk_buf_free(&why);
    free(line);
    fclose(f);
    int leaked = silk_alloc_live_bytes() != 0 || silk_trackref_live_total() != 0;
    if (leaked) {
        printf("  %s: LEAK after the file: %zu bytes in %zu blocks, %zu tracked objects\n", name,
               silk_alloc_live_bytes(), silk_alloc_live_count(), silk_trackref_live_total());
    }
    printf("%s: %zu passed, %zu failed, %zu skipped\n", name, pass, fail, skip);
    return fail > 0 || leaked;
}

int main(void)
{
    const char *dir = getenv("SILK_VECTORS_DIR");
    if (!dir || !*dir)
        dir = SILK_DEFAULT_VECTORS_DIR;
    printf("vectors from %s\n", dir);
    int bad = 0, missing = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        bad |= run_file(dir, files[i].file, files[i].handler, &missing);
    fflush(stdout);
    return bad ? 1 : 0;
}
