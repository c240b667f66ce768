/* fingerprint.jsonl: Scrapy 2.7+ request fingerprints. */
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/http.h"
#include "vectors.h"

vec_result vec_fingerprint(const silk_value *c, silk_buf *why)
{
    const char *method = vec_str(c, "method");
    const char *url = vec_str(c, "url");
    const char *body = vec_str(c, "body");
    const silk_value *headers = silk_dict_get(c, "headers");
    const silk_value *include = silk_dict_get(c, "include_headers");
    bool keep = silk_dict_get_bool(c, "keep_fragments", false);
    bool want_error = silk_dict_get(c, "error") != NULL;
    const char *inc[64] = { 0 };
    silk_request *r = NULL;
    char *json = NULL;
    uint8_t fp[20];
    char hex[41];
    vec_result res = VEC_FAIL;

    int rc = silk_request_new_full(url, method, body, body ? strlen(body) : 0, &r);
    if (rc) {
        if (want_error)
            return VEC_PASS;
        silk_buf_printf(why, "request refused: %s", silk_last_error());
        return VEC_FAIL;
    }
    for (size_t i = 0; i < silk_dict_len(headers); i++) {
        const silk_dict_entry *e = &headers->u.dict.entries[i];
        for (size_t k = 0; k < silk_list_len(e->value); k++)
            silk_headers_add(&r->headers, e->key, silk_value_str(silk_list_get(e->value, k)));
    }
    for (size_t i = 0; i < silk_list_len(include) && i < 63; i++)
        inc[i] = silk_value_str(silk_list_get(include, i));
    rc = silk_request_fingerprint(r, include ? inc : NULL, keep, fp, &json);
    if (rc) {
        res = want_error ? VEC_PASS : VEC_FAIL;
        if (!want_error)
            silk_buf_printf(why, "fingerprint failed: %s", silk_last_error());
        goto out;
    }
    if (want_error) {
        silk_buf_printf(why, "expected error %s, got a fingerprint", vec_str(c, "error"));
        goto out;
    }
    silk_hex(fp, 20, hex);
    res = VEC_PASS;
    if (strcmp(r->url, vec_str(c, "request_url")) != 0) {
        vec_mismatch(why, "request_url", vec_str(c, "request_url"), r->url);
        res = VEC_FAIL;
    }
    if (strcmp(r->method, vec_str(c, "request_method")) != 0) {
        vec_mismatch(why, "request_method", vec_str(c, "request_method"), r->method);
        res = VEC_FAIL;
    }
    if (strcmp(json, vec_str(c, "fingerprint_json")) != 0) {
        vec_mismatch(why, "fingerprint_json", vec_str(c, "fingerprint_json"), json);
        res = VEC_FAIL;
    }
    if (strcmp(hex, vec_str(c, "fingerprint_hex")) != 0) {
        vec_mismatch(why, "fingerprint_hex", vec_str(c, "fingerprint_hex"), hex);
        res = VEC_FAIL;
    }
out:
    silk_free(json);
    silk_unref(r);
    return res;
}
