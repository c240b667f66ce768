/* encoding.jsonl: HtmlResponse(url, body, headers={"Content-Type": ct})
 * .encoding and .text (SHA-1 of its UTF-8, length in code points, and the
 * text itself for small bodies), compared exactly. No skip rule applies. */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "silk/alloc.h"
#include "silk/encoding.h"
#include "silk/error.h"
#include "vectors.h"

vec_result vec_encoding(const silk_value *c, silk_buf *why)
{
    vec_result res = VEC_FAIL;
    size_t len = 0, text_len = 0;
    char *text = NULL;
    char name[SILK_ENCODING_NAME_MAX];
    unsigned char *body = vec_b64(c, "body_b64", &len);
    const char *ct = vec_str(c, "content_type");
    const char *want_enc = vec_str(c, "encoding");
    const char *want_sha = vec_str(c, "text_sha1");
    const char *want_text = vec_str(c, "text");
    int64_t want_len = silk_dict_get_int(c, "text_length", -1);

    if (!body && len == 0)
        body = (unsigned char *)silk_strdup("");
    if (!body) {
        silk_buf_puts(why, "cannot decode body_b64");
        goto out;
    }
    int rc = silk_encoding_to_utf8(ct, body, len, &text, &text_len, name,
                                   sizeof name);
    if (rc) {
        silk_buf_printf(why, "silk_encoding_to_utf8: %s (%s)",
                        silk_strerror(rc), silk_last_error());
        goto out;
    }
    /* detect alone must agree with the combined call */
    char name2[SILK_ENCODING_NAME_MAX];
    if (silk_encoding_detect(ct, body, len, name2, sizeof name2, NULL) ||
        strcmp(name, name2)) {
        vec_mismatch(why, "detect", name, name2);
        goto out;
    }
    int ok = 1;
    if (!want_enc || strcmp(want_enc, name)) {
        vec_mismatch(why, "encoding", want_enc ? want_enc : "(null)", name);
        ok = 0;
    }
    unsigned char md[SHA_DIGEST_LENGTH];
    char hex[2 * SHA_DIGEST_LENGTH + 1];
    SHA1((const unsigned char *)text, text_len, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (!want_sha || strcmp(want_sha, hex)) {
        vec_mismatch(why, "text_sha1", want_sha ? want_sha : "(null)", hex);
        ok = 0;
    }
    size_t n = silk_utf8_count(text, text_len);
    if (want_len < 0 || (size_t)want_len != n) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%lld", (long long)want_len);
        snprintf(b, sizeof b, "%zu", n);
        vec_mismatch(why, "text_length", a, b);
        ok = 0;
    }
    if (want_text) {
        const silk_value *tv = silk_dict_get(c, "text");
        if (silk_value_strlen(tv) != text_len ||
            memcmp(silk_value_str(tv), text, text_len)) {
            vec_mismatch(why, "text", want_text, text);
            ok = 0;
        }
    }
    if (ok)
        res = VEC_PASS;
out:
    silk_free(text);
    silk_free(body);
    return res;
}
