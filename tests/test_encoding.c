/* Encoding detection and decoding (selectors/encoding.c), against what
 * Scrapy 2.8 / w3lib 2.1.1 on Python 3.11 give. */
#include <stdlib.h>
#include <time.h>

#include "silk_test.h"
#include "silk/encoding.h"

static void expect_resolve(const char *label, const char *want)
{
    char out[SILK_ENCODING_NAME_MAX];
    int rc = silk_encoding_resolve(label, out, sizeof out);
    if (!want) {
        if (rc != SILK_ENOTFOUND)
            fail_msg("resolve(%s): expected not found, got %s", label, out);
        return;
    }
    if (rc != 0)
        fail_msg("resolve(%s): %s", label, silk_strerror(rc));
    if (strcmp(out, want))
        fail_msg("resolve(%s): expected %s, got %s", label, want, out);
}

static void test_resolve(void **state)
{
    (void)state;
    expect_resolve("latin1", "cp1252");
    expect_resolve("ISO-8859-1", "cp1252");
    expect_resolve("l1", "cp1252");
    expect_resolve("ascii", "cp1252");
    expect_resolve("US-ASCII", "cp1252");
    expect_resolve("gb_2312-80", "gb18030");
    expect_resolve("GBK", "gb18030");
    expect_resolve("Shift_JIS", "cp932");
    expect_resolve("x-sjis", "cp932");
    expect_resolve("windows-31j", "cp932");
    expect_resolve("euc-kr", "cp949");
    expect_resolve("big5", "big5hkscs");
    expect_resolve("tis-620", "cp874");
    expect_resolve("iso-8859-9", "cp1254");
    expect_resolve("macintosh", "mac-roman");
    expect_resolve("UTF8", "utf-8");
    expect_resolve("utf_16le", "utf-16-le");
    expect_resolve("utf-32", "utf-32");
    expect_resolve("ISO-8859-15", "iso8859-15");
    expect_resolve("koi8-r", "koi8-r");
    expect_resolve("euc-jp", "euc_jp");
    expect_resolve("  utf--8  ", "utf-8");
    expect_resolve("cp65001", "utf-8");
    expect_resolve("", NULL);
    expect_resolve("bogus", NULL);
    expect_resolve("aliases", NULL);
    expect_resolve("base64", NULL); /* not a text encoding: docs/compat.md */
    expect_resolve("\xff\xfe", NULL);
    char small[4];
    assert_int_equal(silk_encoding_resolve("utf-8", small, sizeof small), SILK_ERANGE);
    assert_int_equal(silk_encoding_resolve(NULL, small, sizeof small), SILK_EINVAL);
    SILK_ASSERT_CLEAN();
}

static void expect_ct(const char *ct, const char *want)
{
    char out[SILK_ENCODING_NAME_MAX];
    int rc = silk_encoding_from_content_type(ct, out, sizeof out);
    const char *shown = ct ? ct : "(null)";
    if (!want) {
        if (rc != SILK_ENOTFOUND)
            fail_msg("content type '%s': expected none, got %s", shown, out);
        return;
    }
    if (rc || strcmp(out, want))
        fail_msg("content type '%s': expected %s, got %s", shown, want, rc ? "none" : out);
}

static void test_content_type(void **state)
{
    (void)state;
    expect_ct("text/html; charset=ISO-8859-4", "iso8859-4");
    expect_ct("text/html;CHARSET=utf-8", "utf-8");
    expect_ct("text/html; charset=\"utf-8\"", NULL);  /* the quote stops the regex */
    expect_ct("text/html; charset = utf-8", NULL);
    expect_ct("text/html; charset=", NULL);
    expect_ct("text/html; charset=; charset=koi8-r", "koi8-r");
    expect_ct("text/html; charset=bogus; charset=utf-8", NULL);
    expect_ct("text/html; char\xc5\xbf" "et=utf-8", "utf-8"); /* long s folds to s */
    expect_ct("text/html; charset=utf-8\xe2\x82\xac", "utf-8");
    expect_ct(NULL, NULL);
    expect_ct("", NULL);
    SILK_ASSERT_CLEAN();
}

static void test_bom_and_declared(void **state)
{
    (void)state;
    char out[SILK_ENCODING_NAME_MAX];
    size_t n;
    assert_int_equal(silk_encoding_read_bom((const unsigned char *)"\xff\xfe\0\0x", 5, out, sizeof out, &n), 0);
    assert_string_equal(out, "utf-32-le");
    assert_int_equal(n, 4);
    assert_int_equal(silk_encoding_read_bom((const unsigned char *)"\xfe\xff", 2, out, sizeof out, &n), 0);
    assert_string_equal(out, "utf-16-be");
    assert_int_equal(silk_encoding_read_bom((const unsigned char *)"\xef\xbb", 2, out, sizeof out, &n), SILK_ENOTFOUND);
    assert_int_equal(n, 0);

    struct { const char *html, *want; } cases[] = {
        { "<meta charset=\"utf-8\">", "utf-8" },
        { "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=koi8-r\">", "koi8-r" },
        { "<meta content=\"text/html; charset=gb2312\" http-equiv=\"Content-Type\">", "gb18030" },
        { "<meta name=x data-y='1' charset=iso-8859-1>", "cp1252" },
        { "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>", "cp932" },
        { "<body><meta charset=utf-8>", NULL },
        { "<meta charset=\"no-such\"><meta charset=utf-8>", NULL },
        { "<meta charset=koi8-r><meta charset=utf-8>", "koi8-r" },
        { "<meta http-equiv=Content-Type>", NULL },
        { "", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = silk_encoding_body_declared((const unsigned char *)cases[i].html,
                                             strlen(cases[i].html), out, sizeof out);
        if (!cases[i].want) {
            if (rc != SILK_ENOTFOUND)
                fail_msg("declared(%s): expected none, got %s", cases[i].html, out);
        } else if (rc || strcmp(out, cases[i].want)) {
            fail_msg("declared(%s): expected %s, got %s", cases[i].html, cases[i].want,
                     rc ? "none" : out);
        }
    }
    SILK_ASSERT_CLEAN();
}

static void expect_decoden(const char *codec, const char *in, size_t len, const char *want,
                           size_t want_len)
{
    char *out = NULL;
    size_t n = 0;
    int rc = silk_encoding_decode(codec, (const unsigned char *)in, len, &out, &n);
    if (rc)
        fail_msg("decode(%s): %s", codec, silk_strerror(rc));
    int same = n == want_len && !memcmp(out, want, n);
    assert_int_equal(out[n], '\0');
    silk_free(out);
    if (!same)
        fail_msg("decode(%s) of '%s': wrong text", codec, in);
}

static void expect_decode(const char *codec, const char *in, size_t len, const char *want)
{
    expect_decoden(codec, in, len, want, strlen(want));
}

#define FFFD "\xef\xbf\xbd"

static void test_decode_python_replace(void **state)
{
    (void)state;
    /* UTF-8: one U+FFFD per maximal invalid subpart, as CPython */
    expect_decode("utf-8", "a\xff" "b", 3, "a" FFFD "b");
    expect_decode("utf-8", "\xe2\x82", 2, FFFD);
    expect_decode("utf-8", "\xe2\x82" "a", 3, FFFD "a");
    expect_decode("utf-8", "\xed\xa0\x80", 3, FFFD FFFD FFFD);
    expect_decode("utf-8", "\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    expect_decode("utf-8", "\xf0\x9f\x98", 3, FFFD);
    expect_decode("utf-8", "\xc0\xaf", 2, FFFD FFFD);
    expect_decoden("utf-8", "a\0b", 3, "a\0b", 3); /* NUL kept */
    /* cp1252 has five undefined bytes */
    expect_decode("cp1252", "\x81\x80\x8d", 3, FFFD "\xe2\x82\xac" FFFD);
    expect_decode("latin-1", "\x80\xe9", 2, "\xc2\x80\xc3\xa9");
    expect_decode("ascii", "a\xe9", 2, "a" FFFD);
    /* UTF-16 / UTF-32 */
    expect_decode("utf-16-le", "a\0\0\xd8" "b\0", 6, "a" FFFD "b");
    expect_decode("utf-16-le", "a\0\0\xdc", 4, "a" FFFD);
    expect_decode("utf-16-le", "a\0\0\xd8\0", 5, "a" FFFD);
    expect_decode("utf-16-le", "a\0b", 3, "a" FFFD);
    expect_decode("utf-16", "\xfe\xff\0a", 4, "a");
    expect_decode("utf-16", "a\0", 2, "a");
    expect_decode("utf-32-le", "a\0\0\0\0\0\x11\0b\0", 10, "a" FFFD FFFD);
    expect_decode("utf-8-sig", "\xef\xbb\xbf" "a", 4, "a");
    /* CJK: CPython's own tables and error lengths */
    expect_decode("cp932", "\xa0\xfd\x80\x81 ", 5, "\xef\xa3\xb0\xef\xa3\xb1\xc2\x80" FFFD " ");
    expect_decode("cp932", "\x87\x40", 2, "\xe2\x91\xa0");
    expect_decode("cp932", "\x82", 1, FFFD);
    expect_decode("gb18030", "\x95\x32\x82\x36", 4, "\xf0\xa0\x80\x80");
    expect_decode("gb18030", "\x90\x30\x81\x30", 4, "\xf0\x90\x80\x80");
    expect_decode("gb18030", "\x81\x30\x81\x30", 4, "\xc2\x80");
    expect_decode("gb18030", "\x81\x30\x81", 3, FFFD);
    expect_decode("gb18030", "\x80\x41", 2, FFFD "A");
    expect_decode("euc_jp", "\xa4\xa2", 2, "\xe3\x81\x82");
    expect_decode("shift_jis", "\\~", 2, "\\~");
    expect_decode("mac-roman", "\x8e", 1, "\xc3\xa9");
    char *out = (char *)1;
    size_t n = 1;
    assert_int_equal(silk_encoding_decode("base64", (const unsigned char *)"", 0, &out, &n),
                     SILK_ENOTFOUND);
    assert_null(out);
    assert_int_equal(silk_encoding_decode("nope", (const unsigned char *)"", 0, &out, &n),
                     SILK_ENOTFOUND);
    SILK_ASSERT_CLEAN();
}

static void test_decode_view(void **state)
{
    (void)state;
    static const unsigned char utf8[] = "caf\xc3\xa9";
    const char *text;
    size_t n;
    char *owned;
    assert_int_equal(silk_encoding_decode_view("utf-8", utf8, 5, &text, &n, &owned), 0);
    assert_ptr_equal(text, (const char *)utf8);
    assert_null(owned);
    assert_int_equal(n, 5);
    assert_int_equal(silk_encoding_decode_view("cp1252", utf8, 3, &text, &n, &owned), 0);
    assert_ptr_equal(text, (const char *)utf8);
    assert_null(owned);
    assert_int_equal(silk_encoding_decode_view("cp1252", utf8, 5, &text, &n, &owned), 0);
    assert_non_null(owned);
    assert_ptr_equal(text, owned);
    assert_string_equal(text, "caf\xc3\x83\xc2\xa9");
    silk_free(owned);
    /* shift_jis maps every ASCII byte to itself in Python (not to yen) */
    assert_int_equal(silk_encoding_decode_view("shift_jis", (const unsigned char *)"a\\", 2,
                                               &text, &n, &owned), 0);
    assert_null(owned);
    SILK_ASSERT_CLEAN();
}

static void expect_text(const char *ct, const char *body, size_t len, const char *enc,
                        const char *want)
{
    char *text = NULL;
    size_t n = 0;
    char name[SILK_ENCODING_NAME_MAX];
    int rc = silk_encoding_to_utf8(ct, (const unsigned char *)body, len, &text, &n, name,
                                   sizeof name);
    if (rc)
        fail_msg("to_utf8: %s", silk_strerror(rc));
    if (strcmp(name, enc)) {
        silk_free(text);
        fail_msg("to_utf8(%s): encoding %s, expected %s", body, name, enc);
    }
    int same = n == strlen(want) && !memcmp(text, want, n);
    silk_free(text);
    if (!same)
        fail_msg("to_utf8(%s): wrong text, expected '%s'", body, want);
}

static void test_to_utf8(void **state)
{
    (void)state;
    expect_text(NULL, "plain", 5, "cp1252", "plain");
    expect_text(NULL, "caf\xc3\xa9", 5, "utf-8", "caf\xc3\xa9");
    expect_text(NULL, "caf\xe9", 4, "cp1252", "caf\xc3\xa9");
    /* undecodable by ascii, utf-8 and cp1252: the unresolved default */
    expect_text(NULL, "\x81\xff", 2, "ascii", FFFD FFFD);
    expect_text("text/html; charset=utf-16", "\0a", 2, "utf-16", "a");
    expect_text("text/html; charset=utf-8", "\xff\xfe" "a\0", 4, "utf-16-le", "a");
    expect_text("text/html", "", 0, "cp1252", "");
    expect_text(NULL, "\xef\xbb\xbf\xef\xbb\xbfx", 7, "utf-8", "\xef\xbb\xbfx");
    char *text;
    size_t n;
    assert_int_equal(silk_encoding_to_utf8(NULL, NULL, 0, &text, &n, NULL, 0), 0);
    assert_int_equal(n, 0);
    silk_free(text);
    assert_int_equal(silk_encoding_to_utf8(NULL, NULL, 3, &text, &n, NULL, 0), SILK_EINVAL);
    SILK_ASSERT_CLEAN();
}

static int alloc_case(void)
{
    char *text = NULL;
    size_t n;
    static const char body[] = "<meta charset=shift_jis><p>\x82\xa0 \x81</p>";
    int rc = silk_encoding_to_utf8("text/html", (const unsigned char *)body, sizeof body - 1,
                                   &text, &n, NULL, 0);
    silk_free(text);
    return rc;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    SILK_FOR_EACH_ALLOC_FAILURE(alloc_case());
}

static const char *CODECS[] = {
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
    "utf-32-be", "cp1252", "latin-1", "koi8-r", "cp037", "cp932", "shift_jis", "euc_jp",
    "gb18030", "gbk", "gb2312", "cp949", "big5", "big5hkscs", "cp950", "johab",
    "euc_jis_2004", "shift_jisx0213", "iso2022_jp", "utf-7", "euc_kr",
};

static const char META_BYTES[] = "<meta charset=\"x\0\x81> content=;?xml encoding";

static void test_hostile(void **state)
{
    (void)state;
    srand(12345);
    unsigned char buf[777];
    for (int round = 0; round < 300; round++) {
        size_t len = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (unsigned char)(round % 3 ? rand() : META_BYTES[rand() % (sizeof META_BYTES - 1)]);
        for (size_t c = 0; c < sizeof CODECS / sizeof CODECS[0]; c++) {
            char *out = NULL;
            size_t n;
            assert_int_equal(silk_encoding_decode(CODECS[c], buf, len, &out, &n), 0);
            assert_int_equal(out[n], '\0');
            silk_free(out);
        }
        char *text = NULL;
        size_t n;
        char name[SILK_ENCODING_NAME_MAX];
        assert_int_equal(silk_encoding_to_utf8((const char *)buf + (len > 40 ? len - 40 : 0),
                                               buf, len, &text, &n, name, sizeof name), 0);
        silk_free(text);
    }
    /* a big body full of half declarations finishes quickly */
    size_t big = 4u << 20;
    unsigned char *b = silk_malloc(big);
    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (unsigned char)"<meta content=x a=b "[i % 20];
    clock_t t0 = clock();
    char *text = NULL;
    size_t n;
    char name[SILK_ENCODING_NAME_MAX];
    assert_int_equal(silk_encoding_to_utf8(NULL, b, big, &text, &n, name, sizeof name), 0);
    assert_int_equal(n, big);
    assert_string_equal(name, "cp1252");
    silk_free(text);
    silk_free(b);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 20.0);
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_bom_and_declared),
        cmocka_unit_test(test_decode_python_replace),
        cmocka_unit_test(test_decode_view),
        cmocka_unit_test(test_to_utf8),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
