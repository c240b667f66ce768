/* link_extractor.jsonl: LinkExtractor(**options).extract_links(response) of
 * Scrapy 2.8 on an HtmlResponse built from url, html and encoding. */
#include <iconv.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/http.h"
#include "silk/linkextractor.h"
#include "vectors.h"

/* A NULL-terminated array of the strings of an option (a string is a
 * one-element list); NULL when absent. The array is a silk block, its
 * strings borrowed from the case. */
static const char **opt_list(const silk_value *opts, const char *key, bool *present)
{
    const silk_value *v = silk_dict_get(opts, key);
    *present = v && v->kind != SILK_V_NULL;
    if (!*present)
        return NULL;
    size_t n = v->kind == SILK_V_LIST ? silk_list_len(v) : 1;
    const char **a = silk_calloc(n + 1, sizeof *a);
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++)
        a[i] = silk_value_str(v->kind == SILK_V_LIST ? silk_list_get(v, i) : v);
    return a;
}

/* html (UTF-8) in the case's encoding, as Python's str.encode does. */
static char *encode(const char *html, const char *encoding, size_t *len)
{
    size_t n = strlen(html);
    if (strcmp(encoding, "utf-8") == 0) {
        *len = n;
        return silk_strdup(html);
    }
    iconv_t cd = iconv_open(encoding, "UTF-8");
    if (cd == (iconv_t)-1)
        return NULL;
    size_t cap = n * 4 + 16;
    char *out = silk_malloc(cap);
    char *in = (char *)html, *op = out;
    size_t inl = n, outl = cap;
    if (!out || iconv(cd, &in, &inl, &op, &outl) == (size_t)-1) {
        silk_free(out);
        out = NULL;
    } else {
        *len = (size_t)(op - out);
    }
    iconv_close(cd);
    return out;
}

vec_result vec_link_extractor(const silk_value *c, silk_buf *why)
{
    static const char *const keys[] = { "allow",        "deny",         "allow_domains",
                                        "deny_domains", "restrict_css", "restrict_xpaths",
                                        "tags",         "attrs",        "deny_extensions",
                                        "restrict_text" };
    enum { NKEYS = sizeof keys / sizeof keys[0] };
    const char **lists[NKEYS] = { 0 };
    const silk_value *opts = silk_dict_get(c, "options");
    silk_link_extractor_opts o = { 0 };
    silk_link_extractor *le = NULL;
    silk_response *resp = NULL;
    silk_links links = { 0 };
    char *body = NULL;
    vec_result res = VEC_FAIL;

    for (size_t i = 0; i < NKEYS; i++) {
        bool present;
        lists[i] = opt_list(opts, keys[i], &present);
        if (present && !lists[i]) {
            silk_buf_puts(why, "out of memory");
            goto out;
        }
    }
    o.allow = lists[0];
    o.deny = lists[1];
    o.allow_domains = lists[2];
    o.deny_domains = lists[3];
    o.restrict_css = lists[4];
    o.restrict_xpaths = lists[5];
    o.tags = lists[6];
    o.attrs = lists[7];
    o.deny_extensions = lists[8];
    o.restrict_text = lists[9];
    o.canonicalize = silk_dict_get_bool(opts, "canonicalize", false);
    o.keep_duplicates = !silk_dict_get_bool(opts, "unique", true);
    o.no_strip = !silk_dict_get_bool(opts, "strip", true);

    const char *encoding = vec_str(c, "encoding");
    size_t blen = 0;
    if (!(body = encode(vec_str(c, "html"), encoding, &blen))) {
        silk_buf_printf(why, "cannot encode the html as %s", encoding);
        goto out;
    }
    char ct[96];
    snprintf(ct, sizeof ct, "text/html; charset=%s", encoding);
    if (silk_response_new(&silk_type_html_response, vec_str(c, "url"), 200, body, blen, NULL,
                          &resp) ||
        silk_headers_add(&resp->headers, "Content-Type", ct)) {
        silk_buf_printf(why, "response: %s", silk_last_error());
        goto out;
    }
    const silk_value *want = silk_dict_get(c, "links");
    int rc = silk_link_extractor_new(&o, &le);
    if (!rc)
        rc = silk_link_extractor_extract(le, resp, NULL, &links);
    if (!want || want->kind == SILK_V_NULL) {
        if (rc)
            res = VEC_PASS;
        else
            silk_buf_printf(why, "expected %s, got %zu links", vec_str(c, "error"), links.len);
        goto out;
    }
    if (rc) {
        silk_buf_printf(why, "error %s: %s", silk_strerror(rc), silk_last_error());
        goto out;
    }
    size_t n = silk_list_len(want);
    bool ok = n == links.len;
    for (size_t i = 0; i < n || i < links.len; i++) {
        const silk_value *w = i < n ? silk_list_get(want, i) : NULL;
        const silk_link *g = i < links.len ? &links.v[i] : NULL;
        bool same = w && g && strcmp(silk_dict_get_str(w, "url", ""), g->url) == 0 &&
                    strcmp(silk_dict_get_str(w, "text", ""), g->text) == 0 &&
                    silk_dict_get_bool(w, "nofollow", false) == g->nofollow;
        if (same)
            continue;
        ok = false;
        silk_buf_printf(why, "\n  [%zu] expected %s %s|%s| got %s %s|%s|", i,
                        w ? silk_dict_get_str(w, "url", "") : "-",
                        w && silk_dict_get_bool(w, "nofollow", false) ? "nofollow " : "",
                        w ? silk_dict_get_str(w, "text", "") : "", g ? g->url : "-",
                        g && g->nofollow ? "nofollow " : "", g ? g->text : "");
    }
    if (ok)
        res = VEC_PASS;
out:
    silk_links_free(&links);
    silk_link_extractor_free(le);
    silk_unref(resp);
    silk_free(body);
    for (size_t i = 0; i < NKEYS; i++)
        silk_free(lists[i]);
    return res;
}
