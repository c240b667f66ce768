/* silk — deciding a response's encoding and decoding its body to UTF-8,
 * exactly as Scrapy 2.8's TextResponse / HtmlResponse and w3lib 2.1.1's
 * w3lib.encoding do (Python 3.11 codecs, errors="replace").
 *
 * Encodings are named by their Python codec name, as codecs.lookup(x).name
 * gives it: "utf-8", "cp1252", "cp932", "gb18030", "utf-16-le",
 * "iso8859-15", "mac-roman", ... See docs/encoding.md for the decision order
 * and docs/compat.md for the few deliberate differences. */
#ifndef SILK_ENCODING_H
#define SILK_ENCODING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room enough for any codec name silk reports, with its NUL. */
#define SILK_ENCODING_NAME_MAX 32

/* w3lib.encoding.resolve_encoding: maps a label ("latin1", "Shift_JIS",
 * "x-sjis", "utf8", ...) through Python's alias table and w3lib's
 * DEFAULT_ENCODING_TRANSLATION to a canonical codec name written to out.
 * Returns 0, SILK_ENOTFOUND (unknown label, or a Python codec that is not a
 * text encoding silk can decode, e.g. "base64"), SILK_ERANGE (cap too small)
 * or SILK_EINVAL. */
int silk_encoding_resolve(const char *label, char *out, size_t cap);

/* w3lib http_content_type_encoding: the resolved charset of a Content-Type
 * header value (NULL allowed). Returns 0 with the name in out, or
 * SILK_ENOTFOUND when the header names no usable charset. */
int silk_encoding_from_content_type(const char *content_type, char *out,
                                    size_t cap);

/* w3lib read_bom: the encoding of a byte-order mark at the start of body.
 * Returns 0 with the name in out and *bom_len set (bom_len may be NULL), or
 * SILK_ENOTFOUND (then *bom_len is 0). */
int silk_encoding_read_bom(const unsigned char *body, size_t len, char *out,
                           size_t cap, size_t *bom_len);

/* w3lib html_body_declared_encoding: the resolved encoding of the first
 * <meta charset>, <meta http-equiv content> or <?xml encoding> in the first
 * 4096 bytes (a <body> tag stops the search). Returns 0 with the name in
 * out, or SILK_ENOTFOUND. */
int silk_encoding_body_declared(const unsigned char *body, size_t len,
                                char *out, size_t cap);

/* TextResponse.encoding of an HtmlResponse built with that Content-Type
 * (NULL: no header) and body: BOM, header charset, body declaration, then
 * whichever of ascii/utf-8/cp1252 decodes the body strictly, else "ascii".
 * Writes the codec name to name_out. Returns 0, SILK_ERANGE or
 * SILK_EINVAL. *bom_len (may be NULL) is the length of the BOM that the text
 * drops (0 when none). */
int silk_encoding_detect(const char *content_type, const unsigned char *body,
                         size_t len, char *name_out, size_t name_cap,
                         size_t *bom_len);

/* bytes.decode(codec, "replace"): decodes body (which may hold NULs) with
 * the codec named codec (any label silk_encoding_resolve accepts without
 * the w3lib translation, e.g. "latin-1" stays ISO-8859-1) into a new
 * NUL-terminated UTF-8 silk block *out (caller silk_free's it) of *out_len
 * bytes. Invalid input becomes U+FFFD exactly where Python puts it.
 * Returns 0, SILK_ENOTFOUND (unknown codec), SILK_ENOMEM or SILK_EINVAL. */
int silk_encoding_decode(const char *codec, const unsigned char *body,
                         size_t len, char **out, size_t *out_len);

/* Same as silk_encoding_decode, without a copy when it can: when the text is
 * byte for byte the input (valid UTF-8 decoded as UTF-8, ASCII decoded with
 * an ASCII-compatible codepage), *text points into body and *owned is NULL;
 * otherwise *owned is a new silk block (caller frees) and *text == *owned.
 * *text is NUL-terminated only when it is *owned. Returns as
 * silk_encoding_decode. */
int silk_encoding_decode_view(const char *codec, const unsigned char *body,
                              size_t len, const char **text, size_t *text_len,
                              char **owned);

/* TextResponse.text and .encoding in one call: detects the encoding as
 * silk_encoding_detect (name written to name_out; name_out may be NULL) and
 * decodes body the way TextResponse.text does (BOM dropped; "utf-16" and
 * "utf-32" read as big-endian when no BOM says otherwise). *text is a new
 * NUL-terminated silk block of *text_len bytes (caller silk_free's it).
 * Returns 0, SILK_ERANGE, SILK_ENOMEM or SILK_EINVAL. */
int silk_encoding_to_utf8(const char *content_type, const unsigned char *body,
                          size_t len, char **text, size_t *text_len,
                          char *name_out, size_t name_cap);

/* silk_encoding_to_utf8 without a copy when it can: when the text is byte
 * for byte the body (after its BOM), *text points into body and *owned is
 * NULL (body must then outlive the text; it is NUL-terminated only if body
 * is); otherwise *owned is a new silk block (caller frees) and *text ==
 * *owned. Returns as silk_encoding_to_utf8. */
int silk_encoding_to_utf8_view(const char *content_type, const unsigned char *body,
                               size_t len, const char **text, size_t *text_len,
                               char **owned, char *name_out, size_t name_cap);

/* Number of code points in UTF-8 text (continuation bytes not counted). */
size_t silk_utf8_count(const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
