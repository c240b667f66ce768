/* selectors.jsonl: parsel 1.7 Selector / SelectorList results and
 * css2xpath translations, compared string for string.
 *
 * Every kind of case is run: css_to_xpath (the exact XPath, or an error),
 * css / xpath / chain (getall and get; for css also translated_xpath), and
 * the regex fields (re_result, re_first, re_result_raw_entities). No case
 * is skipped. */
#include <stdbool.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/selector.h"
#include "vectors.h"

static bool str_eq(silk_buf *why, const char *field, const char *want, const char *got)
{
    if (want && got && strcmp(want, got) == 0)
        return true;
    if (!want && !got)
        return true;
    vec_mismatch(why, field, want ? want : "(null)", got ? got : "(null)");
    return false;
}

/* Compares a JSON list of strings with a string vector. */
static bool list_eq(silk_buf *why, const char *field, const silk_value *want,
                    const silk_strv *got)
{
    if (!want || want->kind != SILK_V_LIST) {
        silk_buf_printf(why, "%s: missing in the case; ", field);
        return false;
    }
    bool ok = silk_list_len(want) == got->len;
    for (size_t i = 0; ok && i < got->len; i++) {
        const char *w = silk_value_str(silk_list_get(want, i));
        ok = w && strcmp(w, got->v[i]) == 0;
    }
    if (ok)
        return true;
    silk_buf e = SILK_BUF_INIT, g = SILK_BUF_INIT;
    silk_json_encode(want, 0, &e);
    silk_buf_putc(&g, '[');
    for (size_t i = 0; i < got->len; i++) {
        silk_value *s = silk_value_new_string(got->v[i]);
        if (i)
            silk_buf_putc(&g, ',');
        if (s)
            silk_json_encode(s, 0, &g);
        silk_value_free(s);
    }
    silk_buf_putc(&g, ']');
    vec_mismatch(why, field, e.data ? e.data : "?", g.data ? g.data : "?");
    silk_buf_free(&e);
    silk_buf_free(&g);
    return false;
}

static vec_result css_to_xpath_case(const silk_value *c, silk_buf *why)
{
    const char *query = vec_str(c, "query");
    const char *want = vec_str(c, "xpath");
    char *got = NULL;
    int rc = silk_css_to_xpath(query ? query : "", true, &got);
    vec_result r = VEC_PASS;
    if (vec_str(c, "error")) {
        if (rc == 0) {
            vec_mismatch(why, "xpath", "an error", got);
            r = VEC_FAIL;
        }
    } else if (rc != 0) {
        vec_mismatch(why, "xpath", want ? want : "(null)", silk_last_error());
        r = VEC_FAIL;
    } else if (!str_eq(why, "xpath", want, got)) {
        r = VEC_FAIL;
    }
    silk_free(got);
    return r;
}

/* Runs one step; on error records it in why. */
static int step(silk_arena *a, silk_selector *root, silk_selector_list *cur, bool css,
                const char *q, silk_selector_list **out, silk_buf *why)
{
    int rc;
    if (cur)
        rc = css ? silk_selector_list_css(cur, q, a, out)
                 : silk_selector_list_xpath(cur, q, NULL, a, out);
    else
        rc = css ? silk_selector_css(root, q, a, out)
                 : silk_selector_xpath(root, q, NULL, a, out);
    if (rc)
        silk_buf_printf(why, "query %s failed: %s (%s); ", q, silk_strerror(rc),
                        silk_last_error());
    return rc;
}

vec_result vec_selectors(const silk_value *c, silk_buf *why)
{
    const char *kind = vec_str(c, "query_kind");
    if (!kind) {
        silk_buf_puts(why, "case lacks query_kind");
        return VEC_FAIL;
    }
    if (strcmp(kind, "css_to_xpath") == 0)
        return css_to_xpath_case(c, why);

    const char *type = vec_str(c, "type");
    const silk_value *html = silk_dict_get(c, "html");
    if (!html || html->kind != SILK_V_STRING) {
        silk_buf_puts(why, "case lacks html");
        return VEC_FAIL;
    }
    silk_doc_type dt = type && strcmp(type, "xml") == 0 ? SILK_DOC_XML : SILK_DOC_HTML;
    silk_arena a = SILK_ARENA_INIT;
    vec_result r = VEC_PASS;
    silk_selector *root = NULL;
    silk_selector_list *res = NULL;
    int rc = silk_selector_new(silk_value_str(html), silk_value_strlen(html), dt, &a, &root);
    if (rc) {
        silk_buf_printf(why, "parse failed: %s; ", silk_last_error());
        r = VEC_FAIL;
        goto out;
    }
    if (strcmp(kind, "chain") == 0) {
        const silk_value *steps = silk_dict_get(c, "query");
        for (size_t i = 0; steps && i < silk_list_len(steps); i++) {
            const silk_value *s = silk_list_get(steps, i);
            const char *k = vec_str(s, "kind");
            const char *q = vec_str(s, "query");
            if (!k || !q || step(&a, root, res, strcmp(k, "css") == 0, q, &res, why)) {
                r = VEC_FAIL;
                goto out;
            }
        }
    } else {
        bool css = strcmp(kind, "css") == 0;
        const char *q = vec_str(c, "query");
        if (!q || step(&a, root, NULL, css, q, &res, why)) {
            r = VEC_FAIL;
            goto out;
        }
        const char *tx = vec_str(c, "translated_xpath");
        if (css && tx) {
            char *got = NULL;
            if (silk_css_to_xpath(q, dt == SILK_DOC_HTML, &got) != 0 ||
                !str_eq(why, "translated_xpath", tx, got))
                r = VEC_FAIL;
            silk_free(got);
        }
    }
    silk_strv all;
    if (silk_selector_list_getall(res, &a, &all) != 0 ||
        !list_eq(why, "getall", silk_dict_get(c, "getall"), &all))
        r = VEC_FAIL;
    if (!str_eq(why, "get", vec_str(c, "get"), silk_selector_list_get(res, NULL)))
        r = VEC_FAIL;

    const char *re = vec_str(c, "re");
    if (re) {
        silk_strv v;
        char *first = NULL;
        rc = silk_selector_list_re(res, re, 0, &a, &v);
        if (rc || !list_eq(why, "re_result", silk_dict_get(c, "re_result"), &v))
            r = VEC_FAIL;
        rc = silk_selector_list_re(res, re, SILK_RE_KEEP_ENTITIES, &a, &v);
        if (rc ||
            !list_eq(why, "re_result_raw_entities", silk_dict_get(c, "re_result_raw_entities"), &v))
            r = VEC_FAIL;
        rc = silk_selector_list_re_first(res, re, 0, &a, &first);
        if (rc || !str_eq(why, "re_first", vec_str(c, "re_first"), first))
            r = VEC_FAIL;
        if (rc)
            silk_buf_printf(why, "re failed: %s; ", silk_last_error());
    }
out:
    silk_arena_release(&a);
    return r;
}
