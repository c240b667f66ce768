/* The golden-vector runner's contract. Each vec_*.c file implements the
 * handler for one file of tests/vectors/; the runner (vectors_runner.c)
 * decodes each JSON line with silk_json_decode and calls the handler. */
#ifndef SILK_TESTS_VECTORS_H
#define SILK_TESTS_VECTORS_H

#include "silk/buf.h"
#include "silk/value.h"

typedef enum { VEC_PASS, VEC_FAIL, VEC_SKIP } vec_result;

/* c: the decoded case (a dict). why: on VEC_FAIL, say what differed
 * (expected vs got); on VEC_SKIP, the rule of docs/compat.md that applies.
 * A handler must free everything it allocates: the runner checks that no
 * counted byte and no tracked object is alive after each file. */
typedef vec_result (*vec_handler)(const silk_value *c, silk_buf *why);

/* Handlers, defined weak in the runner so a file whose handler is not linked
 * is reported as such. */
vec_result vec_canonicalize_url(const silk_value *c, silk_buf *why);
vec_result vec_fingerprint(const silk_value *c, silk_buf *why);
vec_result vec_urljoin(const silk_value *c, silk_buf *why);
vec_result vec_trackref_format(const silk_value *c, silk_buf *why);
vec_result vec_selectors(const silk_value *c, silk_buf *why);
vec_result vec_link_extractor(const silk_value *c, silk_buf *why);
vec_result vec_encoding(const silk_value *c, silk_buf *why);
vec_result vec_robots(const silk_value *c, silk_buf *why);

/* Helpers for handlers: a case's string field (NULL when absent or null). */
const char *vec_str(const silk_value *c, const char *key);
/* Appends "field: expected <e>, got <g>" to why. */
void vec_mismatch(silk_buf *why, const char *field, const char *expected,
                  const char *got);
/* Decodes a base64 field into a new silk block; *len set. NULL if absent. */
unsigned char *vec_b64(const silk_value *c, const char *key, size_t *len);

#endif
