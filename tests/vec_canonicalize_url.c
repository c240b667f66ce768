/* canonicalize_url.jsonl: w3lib canonicalize_url with its three option sets,
 * compared byte for byte. A case with an "error" field must fail cleanly. */
#include <stdbool.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/url.h"
#include "vectors.h"

static bool check(const silk_value *c, silk_buf *why, const char *field,
                  bool keep_blank, bool keep_frag)
{
    /* By length: a Python URL may hold NUL, which _strip removes. */
    const silk_value *uv = silk_dict_get(c, "url");
    const char *want = vec_str(c, field);
    char *got = NULL;
    int rc = silk_url_canonicalize_n(silk_value_str(uv), silk_value_strlen(uv),
                                     keep_blank, keep_frag, &got);
    bool ok;

    if (vec_str(c, "error")) {
        ok = rc < 0;
        if (!ok)
            vec_mismatch(why, field, "an error", got);
    } else if (rc < 0) {
        ok = false;
        vec_mismatch(why, field, want ? want : "(null)", "an error");
    } else {
        ok = want && strcmp(want, got) == 0;
        if (!ok)
            vec_mismatch(why, field, want ? want : "(null)", got);
    }
    silk_free(got);
    return ok;
}

vec_result vec_canonicalize_url(const silk_value *c, silk_buf *why)
{
    if (!vec_str(c, "url")) {
        silk_buf_puts(why, "case has no url");
        return VEC_FAIL;
    }
    bool ok = check(c, why, "canonical", true, false);
    ok = check(c, why, "canonical_keep_fragments", true, true) && ok;
    ok = check(c, why, "canonical_drop_blank", false, false) && ok;
    return ok ? VEC_PASS : VEC_FAIL;
}
