/* urljoin.jsonl: urllib's urljoin ("joined", kind plain) and Scrapy's
 * TextResponse.urljoin ("joined_html_response"; for kind html_base also
 * "html_base" and "effective_base"), compared byte for byte.
 *
 * Skip rule (docs/compat.md, "IPv6 literal host"): w3lib's safe_url_string
 * drops the brackets of an IPv6 host; silk keeps them, so a TextResponse
 * field whose response URL has a bracketed host is not compared. */
#include <stdbool.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/url.h"
#include "vectors.h"

static bool same(silk_buf *why, const char *field, const char *want,
                 int rc, const char *got)
{
    if (rc < 0) {
        vec_mismatch(why, field, want ? want : "(null)", "an error");
        return false;
    }
    if (!want || !got || strcmp(want, got) != 0) {
        vec_mismatch(why, field, want ? want : "(null)", got ? got : "(null)");
        return false;
    }
    return true;
}

/* True when the URL's authority is an IPv6 literal ("[...]"). */
static bool ipv6_literal_host(const char *url)
{
    const char *a = strstr(url, "://");
    if (!a)
        return false;
    a += 3;
    size_t n = strcspn(a, "/?#");
    const char *at = memchr(a, '@', n);
    while (at) {
        n -= (size_t)(at + 1 - a);
        a = at + 1;
        at = memchr(a, '@', n);
    }
    return n > 0 && a[0] == '[';
}

vec_result vec_urljoin(const silk_value *c, silk_buf *why)
{
    const char *kind = vec_str(c, "kind");
    const char *base = vec_str(c, "base");
    const char *ref = vec_str(c, "ref");
    const char *html = vec_str(c, "html");
    char *got = NULL;
    bool ok = true, skipped = false;
    int rc;

    if (!kind || !base || !ref) {
        silk_buf_puts(why, "case lacks kind, base or ref");
        return VEC_FAIL;
    }
    if (strcmp(kind, "plain") == 0) {
        /* By length: Python strings may hold NUL, and urljoin keeps it. */
        const silk_value *bv = silk_dict_get(c, "base");
        const silk_value *rv = silk_dict_get(c, "ref");
        const silk_value *jv = silk_dict_get(c, "joined");
        size_t got_len = 0;
        rc = silk_url_join_n(base, silk_value_strlen(bv), ref,
                             silk_value_strlen(rv), &got, &got_len);
        if (vec_str(c, "error")) {
            ok = rc < 0;
        } else if (rc == 0 && jv && silk_value_strlen(jv) == got_len &&
                   memcmp(silk_value_str(jv), got, got_len) == 0) {
            ok = true;
        } else {
            ok = same(why, "joined", vec_str(c, "joined"), rc, got);
            if (ok) { /* equal as C strings, different past a NUL */
                vec_mismatch(why, "joined", "(differs after a NUL)", got);
                ok = false;
            }
        }
        silk_free(got);
        got = NULL;
        if (ipv6_literal_host(base)) {
            skipped = true;
        } else {
            rc = silk_url_response_join(base, NULL, 0, ref, &got);
            ok = same(why, "joined_html_response",
                      vec_str(c, "joined_html_response"), rc, got) && ok;
            silk_free(got);
        }
    } else if (strcmp(kind, "html_base") == 0) {
        size_t len = html ? strlen(html) : 0;
        rc = silk_url_html_base(html, len, &got);
        const char *want_href = vec_str(c, "html_base");
        if (rc < 0 || (want_href == NULL) != (got == NULL) ||
            (got && strcmp(want_href, got) != 0)) {
            vec_mismatch(why, "html_base", want_href ? want_href : "(null)",
                         rc < 0 ? "an error" : got ? got : "(null)");
            ok = false;
        }
        silk_free(got);
        got = NULL;
        if (ipv6_literal_host(base)) {
            skipped = true;
        } else {
            rc = silk_url_effective_base(base, html, len, &got);
            ok = same(why, "effective_base", vec_str(c, "effective_base"), rc,
                      got) && ok;
            silk_free(got);
            got = NULL;
            rc = silk_url_response_join(base, html, len, ref, &got);
            ok = same(why, "joined", vec_str(c, "joined"), rc, got) && ok;
            silk_free(got);
        }
    } else {
        silk_buf_printf(why, "unknown kind %s", kind);
        return VEC_FAIL;
    }
    if (!ok)
        return VEC_FAIL;
    if (skipped) {
        silk_buf_puts(why, "docs/compat.md: IPv6 literal host in the "
                           "response URL (silk keeps the brackets)");
        return VEC_SKIP;
    }
    return VEC_PASS;
}
