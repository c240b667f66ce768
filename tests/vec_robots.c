/* robots.jsonl: ProtegoRobotParser(body).allowed(url, user_agent), the
 * crawl delay for the agent and the sitemaps, on the exact bytes of the
 * file (robots_txt_b64). */
#include <stdio.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/robots.h"
#include "vectors.h"

vec_result vec_robots(const silk_value *c, silk_buf *why)
{
    size_t len = 0;
    unsigned char *body = vec_b64(c, "robots_txt_b64", &len);
    const char *ua = vec_str(c, "user_agent");
    const char *url = vec_str(c, "url");
    const silk_value *want_delay = silk_dict_get(c, "crawl_delay");
    const silk_value *want_maps = silk_dict_get(c, "sitemaps");
    silk_robots *r = NULL;
    vec_result res = VEC_FAIL;
    char a[64], b[64];

    if (!body || !ua || !url || !want_maps || want_maps->kind != SILK_V_LIST) {
        silk_buf_puts(why, "malformed case");
        goto out;
    }
    if (silk_robots_parse((const char *)body, len, &r)) {
        silk_buf_printf(why, "parse failed: %s", silk_last_error());
        goto out;
    }
    res = VEC_PASS;

    bool want = silk_dict_get_bool(c, "allowed", false);
    bool got = silk_robots_allowed(r, url, ua);
    if (want != got) {
        vec_mismatch(why, "allowed", want ? "true" : "false", got ? "true" : "false");
        res = VEC_FAIL;
    }

    double d = 0;
    int rc = silk_robots_crawl_delay(r, ua, &d);
    bool want_none = !want_delay || want_delay->kind == SILK_V_NULL;
    double wd = want_none ? 0
              : want_delay->kind == SILK_V_INT ? (double)want_delay->u.i
                                               : want_delay->u.d;
    if (want_none != (rc == SILK_ENOTFOUND) || (!want_none && (rc != 0 || wd != d))) {
        if (want_none)
            snprintf(a, sizeof a, "null");
        else
            snprintf(a, sizeof a, "%.17g", wd);
        if (rc)
            snprintf(b, sizeof b, "null (%d)", rc);
        else
            snprintf(b, sizeof b, "%.17g", d);
        vec_mismatch(why, "crawl_delay", a, b);
        res = VEC_FAIL;
    }

    size_t n = silk_robots_sitemap_count(r);
    bool same = n == silk_list_len(want_maps);
    for (size_t i = 0; same && i < n; i++) {
        size_t gl;
        const char *g = silk_robots_sitemap(r, i, &gl);
        const silk_value *w = silk_list_get(want_maps, i);
        same = w && w->kind == SILK_V_STRING && w->u.s.len == gl && memcmp(w->u.s.ptr, g, gl) == 0;
    }
    if (!same) {
        snprintf(a, sizeof a, "%zu sitemaps", silk_list_len(want_maps));
        snprintf(b, sizeof b, "%zu sitemaps (or different ones)", n);
        vec_mismatch(why, "sitemaps", a, b);
        res = VEC_FAIL;
    }
out:
    silk_robots_free(r);
    silk_free(body);
    return res;
}
