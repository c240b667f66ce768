/* Scrapy 2.8's LxmlLinkExtractor on libxml2, and Python-syntax regexes on
 * PCRE2 for its allow/deny/restrict_text filters (and the sitemap rules).
 *
 * The order of operations is Scrapy's, step for step, because every step is
 * visible in the result: per restricted region, links are collected in
 * document order (strip, urljoin with the <base>, process_value,
 * safe_url_string with the page's encoding, urljoin with the response URL),
 * de-duplicated by canonical URL, filtered, canonicalized, de-duplicated
 * again; the regions are then concatenated and de-duplicated as Link
 * objects. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <iconv.h>
#include <stdint.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "selectors/selector_internal.h"
#include "silk/alloc.h"
#include "silk/encoding.h"
#include "silk/error.h"
#include "silk/linkextractor.h"
#include "silk/spider.h" /* silk_response_text, silk_response_selector */
#include "silk/url.h"

#define RE_MATCH_LIMIT 20000000u
#define RE_DEPTH_LIMIT 100000u
#define RE_HEAP_LIMIT_KIB (256u * 1024u)
#define RE_MAX_PATTERN (64 * 1024)

#define LE_MAGIC 0x4c4e4b58u /* "LNKX" */
#define LE_DEAD 0xdead4c4eu

#define LINKS_IN_ARENA 1u
#define LINK_TEXT_BUDGET (64u * 1024 * 1024)

#define XHTML_NS "http://www.w3.org/1999/xhtml"

/* ======================================================================== */
/* Python regexes                                                            */

struct silk_regex {
    pcre2_code *code;
    char *pattern;
};

int silk_regex_new(const char *pattern, silk_regex **out)
{
    silk_buf t = SILK_BUF_INIT;
    silk_regex *re = NULL;
    int rc;

    if (!out)
        return silk_error(SILK_EINVAL, "silk_regex_new: out is NULL");
    *out = NULL;
    if (!pattern)
        return silk_error(SILK_EINVAL, "silk_regex_new: pattern is NULL");
    if (strlen(pattern) > RE_MAX_PATTERN)
        return silk_error(SILK_ELIMIT, "regular expression longer than %d bytes", RE_MAX_PATTERN);
    if (silk__utf8_valid_prefix(pattern, strlen(pattern)) != strlen(pattern))
        return silk_error(SILK_EENCODING, "regular expression is not valid UTF-8");
    if ((rc = silk__regex_translate(pattern, &t)))
        goto err;
    re = silk_calloc(1, sizeof *re);
    if (!re || !(re->pattern = silk_strdup(pattern))) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto err;
    }
    int errcode;
    PCRE2_SIZE erroff;
    re->code = pcre2_compile((PCRE2_SPTR)(t.data ? t.data : ""), t.len, PCRE2_UTF | PCRE2_UCP,
                             &errcode, &erroff, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        rc = silk_error(errcode == PCRE2_ERROR_NOMEMORY ? SILK_ENOMEM : SILK_ESYNTAX,
                        "invalid regular expression '%s': %s at offset %zu", pattern,
                        (const char *)msg, (size_t)erroff);
        goto err;
    }
    silk_buf_free(&t);
    *out = re;
    return 0;
err:
    silk_buf_free(&t);
    silk_regex_free(re);
    return rc;
}

const char *silk_regex_pattern(const silk_regex *re) { return re ? re->pattern : NULL; }

void silk_regex_free(silk_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    silk_free(re->pattern);
    silk_free(re);
}

int silk_regex_search(const silk_regex *re, const char *s, size_t len)
{
    if (!re || !s)
        return silk_error(SILK_EINVAL, "silk_regex_search: NULL argument");
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    int rc;
    if (!md || !mc) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto out;
    }
    pcre2_set_match_limit(mc, RE_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, RE_DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, RE_HEAP_LIMIT_KIB);
    int m = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mc);
    if (m >= 0)
        rc = 1;
    else if (m == PCRE2_ERROR_NOMATCH)
        rc = 0;
    else if (m == PCRE2_ERROR_MATCHLIMIT || m == PCRE2_ERROR_DEPTHLIMIT ||
             m == PCRE2_ERROR_HEAPLIMIT)
        rc = silk_error(SILK_ELIMIT, "regular expression '%s' too costly on this text",
                        re->pattern);
    else if (m == PCRE2_ERROR_NOMEMORY)
        rc = silk_error(SILK_ENOMEM, "out of memory");
    else if (m <= PCRE2_ERROR_UTF8_ERR1 && m >= PCRE2_ERROR_UTF8_ERR21)
        rc = silk_error(SILK_EENCODING, "regular expression subject is not valid UTF-8");
    else {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(m, msg, sizeof msg);
        rc = silk_error(SILK_EINVAL, "regular expression match failed: %s", (const char *)msg);
    }
out:
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    return rc;
}

/* ======================================================================== */
/* small helpers                                                             */

typedef struct strlist {
    char **v;
    size_t len;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->len; i++)
        silk_free(l->v[i]);
    silk_free(l->v);
    l->v = NULL;
    l->len = 0;
}

static size_t list_len(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    return n;
}

/* Copies a NULL-terminated list, each string passed through prefix and, if
 * lower, Python's str.lower(). */
static int strlist_copy(strlist *dst, const char *const *src, const char *prefix, bool lower)
{
    size_t n = list_len(src);
    dst->v = NULL;
    dst->len = 0;
    if (!n)
        return 0;
    if (!(dst->v = silk_calloc(n, sizeof *dst->v)))
        return silk_error(SILK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        silk_buf b = SILK_BUF_INIT;
        silk_buf_puts(&b, prefix ? prefix : "");
        if (lower)
            silk__utf8_lower(src[i], strlen(src[i]), &b);
        else
            silk_buf_puts(&b, src[i]);
        if (b.err || !b.data) {
            silk_buf_free(&b);
            return silk_error(SILK_ENOMEM, "out of memory");
        }
        dst->v[dst->len++] = silk_buf_detach(&b);
    }
    return 0;
}

static bool strlist_has(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

typedef struct relist {
    silk_regex **v;
    size_t len;
} relist;

static void relist_free(relist *l)
{
    for (size_t i = 0; i < l->len; i++)
        silk_regex_free(l->v[i]);
    silk_free(l->v);
    l->v = NULL;
    l->len = 0;
}

static int relist_compile(relist *l, const char *const *src)
{
    size_t n = list_len(src);
    l->v = NULL;
    l->len = 0;
    if (!n)
        return 0;
    if (!(l->v = silk_calloc(n, sizeof *l->v)))
        return silk_error(SILK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = silk_regex_new(src[i], &l->v[i]);
        if (rc)
            return rc;
        l->len++;
    }
    return 0;
}

/* _matches(): any regex searches s. 1, 0 or a negative SILK_E*. */
static int relist_any(const relist *l, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < l->len; i++) {
        int rc = silk_regex_search(l->v[i], s, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* Python's str.isspace() */
static bool py_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* rel_has_nofollow: "nofollow" in rel.replace(",", " ").split() */
static bool rel_has_nofollow(const char *rel)
{
    size_t n = strlen(rel), i = 0;
    while (i < n) {
        /* skip separators */
        while (i < n) {
            uint32_t cp;
            size_t l = silk__utf8_decode(rel + i, n - i, &cp);
            if (!l || (rel[i] != ',' && !py_space(cp)))
                break;
            i += l;
        }
        size_t start = i;
        while (i < n) {
            uint32_t cp;
            size_t l = silk__utf8_decode(rel + i, n - i, &cp);
            if (!l) {
                i++;
                continue;
            }
            if (rel[i] == ',' || py_space(cp))
                break;
            i += l;
        }
        if (i - start == 8 && memcmp(rel + start, "nofollow", 8) == 0)
            return true;
    }
    return false;
}

static bool html5_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* ======================================================================== */
/* safe_url_string(url, encoding=page encoding)                              */

/* The glibc converter for a Python codec name: a few names differ, the rest
 * glibc accepts once upper-cased with '-' for '_'. */
static void iconv_name(const char *codec, char *out, size_t cap)
{
    static const char *const map[][2] = {
        { "mac-roman", "MACINTOSH" },      { "shift_jis", "SJIS" },
        { "gb2312", "EUC-CN" },            { "euc_jis_2004", "EUC-JISX0213" },
        { "euc_jisx0213", "EUC-JISX0213" }, { "shift_jis_2004", "SHIFT_JISX0213" },
        { "shift_jisx0213", "SHIFT_JISX0213" }, { "iso2022_jp", "ISO-2022-JP" },
        { "iso2022_jp_1", "ISO-2022-JP-2" }, { "iso2022_jp_2", "ISO-2022-JP-2" },
        { "iso2022_jp_2004", "ISO-2022-JP-3" }, { "iso2022_jp_3", "ISO-2022-JP-3" },
        { "iso2022_jp_ext", "ISO-2022-JP-2" }, { "iso2022_kr", "ISO-2022-KR" },
        { "big5hkscs", "BIG5-HKSCS" },     { "hp-roman8", "HP-ROMAN8" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(codec, map[i][0]) == 0) {
            snprintf(out, cap, "%s", map[i][1]);
            return;
        }
    size_t k = 0;
    for (; codec[k] && k + 1 < cap; k++) {
        char c = codec[k];
        out[k] = c == '_' ? '-' : (c >= 'a' && c <= 'z' ? (char)(c - 32) : c);
    }
    out[k] = '\0';
}

/* true when codec decodes a string to exactly run (len bytes of UTF-8). */
static int decodes_to(const char *codec, const char *bytes, size_t n, const char *run, size_t len)
{
    char *dec = NULL;
    size_t dl = 0;
    int rc = silk_encoding_decode(codec, (const unsigned char *)bytes, n, &dec, &dl);
    if (rc)
        return rc == SILK_ENOMEM ? rc : 0;
    rc = dl == len && memcmp(dec, run, len) == 0;
    silk_free(dec);
    return rc;
}

/* Python's run.encode(codec) for a run of non-ASCII characters, appended to
 * out as %XX escapes. SILK_EENCODING when the codec cannot represent it. */
static int encode_run(const char *codec, const char *run, size_t len, silk_buf *out)
{
    char name[64];
    char bytes[512];
    char *heap = NULL;
    int rc = SILK_EENCODING;

    iconv_name(codec, name, sizeof name);
    iconv_t cd = iconv_open(name, "UTF-8");
    if (cd != (iconv_t)-1) {
        size_t cap = len * 8 + 16;
        char *buf = cap <= sizeof bytes ? bytes : (heap = silk_malloc(cap));
        if (!buf) {
            iconv_close(cd);
            return silk_error(SILK_ENOMEM, "out of memory");
        }
        char *in = (char *)run, *op = buf;
        size_t inl = len, outl = cap;
        if (iconv(cd, &in, &inl, &op, &outl) != (size_t)-1 && inl == 0 &&
            iconv(cd, NULL, NULL, &op, &outl) != (size_t)-1) {
            size_t n = (size_t)(op - buf);
            int ok = decodes_to(codec, buf, n, run, len);
            if (ok < 0) {
                rc = ok;
            } else if (ok) {
                for (size_t i = 0; i < n; i++)
                    silk_buf_printf(out, "%%%02X", (unsigned char)buf[i]);
                rc = out->err ? SILK_ENOMEM : 0;
            }
        }
        iconv_close(cd);
        silk_free(heap);
        if (rc != SILK_EENCODING)
            return rc;
    }
    /* A single-byte codec glibc does not know: invert its table, one
     * character at a time. */
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t l = silk__utf8_decode(run + i, len - i, &cp);
        if (!l)
            return SILK_EENCODING;
        bool found = false;
        for (unsigned b = 0x80; b <= 0xff && !found; b++) {
            char c = (char)b;
            int ok = decodes_to(codec, &c, 1, run + i, l);
            if (ok < 0)
                return ok;
            if (ok) {
                silk_buf_printf(out, "%%%02X", b);
                found = true;
            }
        }
        if (!found)
            return SILK_EENCODING;
        i += l;
    }
    return out->err ? SILK_ENOMEM : 0;
}

/* true when the codec decodes every ASCII byte to itself and is not one of
 * the encodings whose encoder still differs from ASCII (utf-7's '+'). */
static int ascii_compatible(const char *codec)
{
    char ascii[128];
    if (strcmp(codec, "utf-7") == 0)
        return 0;
    for (int i = 0; i < 128; i++)
        ascii[i] = (char)i;
    return decodes_to(codec, ascii, sizeof ascii, ascii, sizeof ascii);
}

/* w3lib's safe_url_string(url, encoding): the query and fragment are
 * encoded with the page's encoding, the rest as UTF-8. Their non-ASCII
 * characters are percent-encoded here first (what Python's quote() of the
 * encoded bytes gives), then the UTF-8 function does the rest. */
static int safe_url(const char *url, const char *encoding, char **out)
{
    *out = NULL;
    if (!encoding || strcmp(encoding, "utf-8") == 0 || strcmp(encoding, "ascii") == 0)
        return silk_url_safe_string(url, out);

    /* w3lib's _strip and the URL standard's tab/newline removal, which
     * Python applies before it encodes */
    size_t n = strlen(url);
    size_t a = 0, b = n;
    while (a < b && (unsigned char)url[a] <= 0x20)
        a++;
    while (b > a && (unsigned char)url[b - 1] <= 0x20)
        b--;
    silk_buf clean = SILK_BUF_INIT, enc = SILK_BUF_INIT;
    for (size_t i = a; i < b; i++)
        if (url[i] != '\t' && url[i] != '\n' && url[i] != '\r')
            silk_buf_putc(&clean, url[i]);
    if (clean.err) {
        silk_buf_free(&clean);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    const char *c = clean.data ? clean.data : "";
    size_t cn = clean.len;
    const char *hash = memchr(c, '#', cn);
    const char *q = memchr(c, '?', hash ? (size_t)(hash - c) : cn);
    const char *from = q ? q : hash;
    bool nonascii = false;
    for (const char *p = from; p && p < c + cn; p++)
        if ((unsigned char)*p >= 0x80)
            nonascii = true;
    int rc;
    if (!nonascii) {
        rc = silk_url_safe_string(c, out);
        goto out;
    }
    rc = ascii_compatible(encoding);
    if (rc < 0)
        goto out;
    if (!rc) {
        /* Deliberate difference (docs/compat.md): an encoding that is not
         * ASCII-compatible (UTF-16/32, UTF-7, EBCDIC) encodes the query as
         * UTF-8, as browsers do; Python would emit a BOM and NUL bytes. */
        rc = silk_url_safe_string(c, out);
        goto out;
    }
    rc = 0;
    silk_buf_append(&enc, c, (size_t)(from - c));
    for (const char *p = from; p < c + cn && !rc;) {
        if ((unsigned char)*p < 0x80) {
            silk_buf_putc(&enc, *p++);
            continue;
        }
        const char *e = p;
        while (e < c + cn && (unsigned char)*e >= 0x80)
            e++;
        rc = encode_run(encoding, p, (size_t)(e - p), &enc);
        p = e;
    }
    if (rc == SILK_EENCODING)
        rc = silk_error(SILK_EENCODING, "'%s' cannot encode the query of %s", encoding, c);
    if (!rc)
        rc = enc.err ? silk_error(SILK_ENOMEM, "out of memory")
                     : silk_url_safe_string(enc.data ? enc.data : "", out);
out:
    silk_buf_free(&clean);
    silk_buf_free(&enc);
    return rc;
}

/* ======================================================================== */
/* the parts of a URL Scrapy's filters look at                               */

/* netloc and path of an absolute URL as urlparse gives them for the URLs
 * _link_allowed sees (scheme://... with http, https, file or ftp). */
static void parsed_parts(const char *url, const char **netloc, size_t *nl, const char **path,
                         size_t *pl)
{
    const char *sep = strstr(url, "://");
    const char *h = sep ? sep + 3 : url;
    size_t hn = strcspn(h, "/?#");
    *netloc = h;
    *nl = hn;
    const char *p = h + hn;
    size_t len = strcspn(p, "?#");
    /* urlparse() splits ;params off the last segment for http, https, ftp */
    bool params = sep && (strncmp(url, "http:", 5) == 0 || strncmp(url, "https:", 6) == 0 ||
                          strncmp(url, "ftp:", 4) == 0);
    if (params) {
        const char *slash = NULL;
        for (size_t i = 0; i < len; i++)
            if (p[i] == '/')
                slash = p + i;
        const char *from = slash ? slash : p;
        const char *semi = memchr(from, ';', len - (size_t)(from - p));
        if (semi)
            len = (size_t)(semi - p);
    }
    *path = p;
    *pl = len;
}

/* url_is_from_any_domain on a netloc: lower-cased, equal to a domain or
 * ending with "." + domain. */
static bool netloc_in_domains(const char *netloc, size_t nl, const strlist *domains)
{
    if (!nl)
        return false;
    char stackbuf[256];
    char *host = nl < sizeof stackbuf ? stackbuf : silk_malloc(nl + 1);
    if (!host)
        return false;
    for (size_t i = 0; i < nl; i++) {
        char c = netloc[i];
        host[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    host[nl] = '\0';
    bool hit = false;
    for (size_t i = 0; i < domains->len && !hit; i++) {
        const char *d = domains->v[i];
        size_t dl = strlen(d);
        if (strcmp(host, d) == 0)
            hit = true;
        else if (nl > dl && host[nl - dl - 1] == '.' && memcmp(host + nl - dl, d, dl) == 0)
            hit = true;
    }
    if (host != stackbuf)
        silk_free(host);
    return hit;
}

/* urlsplit(url).netloc for any string, as Python 3.11 computes it; SILK_EURL
 * where urlsplit raises "Invalid IPv6 URL". */
static int py_netloc(const char *url, silk_buf *out)
{
    silk_buf u = SILK_BUF_INIT;
    size_t i = 0;
    while (url[i] && (unsigned char)url[i] <= 0x20)
        i++;
    for (; url[i]; i++)
        if (url[i] != '\t' && url[i] != '\n' && url[i] != '\r')
            silk_buf_putc(&u, url[i]);
    if (u.err) {
        silk_buf_free(&u);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    const char *s = u.data ? u.data : "";
    const char *colon = strchr(s, ':');
    if (colon && colon > s && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
        const char *p = s;
        while (p < colon && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                             (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
            p++;
        if (p == colon)
            s = colon + 1;
    }
    int rc = 0;
    if (s[0] == '/' && s[1] == '/') {
        size_t n = strcspn(s + 2, "/?#");
        const char *ob = memchr(s + 2, '[', n), *cb = memchr(s + 2, ']', n);
        if ((ob && !cb) || (cb && !ob))
            rc = silk_error(SILK_EURL, "Invalid IPv6 URL");
        else
            silk_buf_append(out, s + 2, n);
    }
    silk_buf_free(&u);
    if (!rc && out->err)
        rc = silk_error(SILK_ENOMEM, "out of memory");
    return rc;
}

/* ======================================================================== */
/* the extractor                                                             */

struct silk_link_extractor {
    uint32_t magic;
    relist allow, deny, restrict_text;
    strlist allow_domains, deny_domains; /* lower-cased */
    strlist xpaths;                      /* restrict_xpaths, then restrict_css translated */
    strlist tags, attrs;
    strlist deny_ext; /* with the dot */
    bool canonicalize, unique, strip;
    char *(*process_value)(const char *value, void *arg);
    void *process_value_arg;
};

static const char *const ignored_extensions[] = {
    /* archives */
    "7z", "7zip", "bz2", "rar", "tar", "tar.gz", "xz", "zip",
    /* images */
    "mng", "pct", "bmp", "gif", "jpg", "jpeg", "png", "pst", "psp", "tif", "tiff", "ai", "drw",
    "dxf", "eps", "ps", "svg", "cdr", "ico",
    /* audio */
    "mp3", "wma", "ogg", "wav", "ra", "aac", "mid", "au", "aiff",
    /* video */
    "3gp", "asf", "asx", "avi", "mov", "mp4", "mpg", "qt", "rm", "swf", "wmv", "m4a", "m4v",
    "flv", "webm",
    /* office suites */
    "xls", "xlsx", "ppt", "pptx", "pps", "doc", "docx", "odt", "ods", "odg", "odp",
    /* other */
    "css", "pdf", "exe", "bin", "rss", "dmg", "iso", "apk", NULL
};

const char *const *silk_link_extractor_ignored_extensions(void) { return ignored_extensions; }

void silk_link_extractor_free(silk_link_extractor *le)
{
    if (!le || le->magic != LE_MAGIC)
        return;
    le->magic = LE_DEAD;
    relist_free(&le->allow);
    relist_free(&le->deny);
    relist_free(&le->restrict_text);
    strlist_free(&le->allow_domains);
    strlist_free(&le->deny_domains);
    strlist_free(&le->xpaths);
    strlist_free(&le->tags);
    strlist_free(&le->attrs);
    strlist_free(&le->deny_ext);
    silk_free(le);
}

int silk_link_extractor_new(const silk_link_extractor_opts *opts, silk_link_extractor **out)
{
    static const silk_link_extractor_opts defaults;
    static const char *const default_tags[] = { "a", "area", NULL };
    static const char *const default_attrs[] = { "href", NULL };
    int rc;

    if (!out)
        return silk_error(SILK_EINVAL, "silk_link_extractor_new: out is NULL");
    *out = NULL;
    if (!opts)
        opts = &defaults;
    silk_link_extractor *le = silk_calloc(1, sizeof *le);
    if (!le)
        return silk_error(SILK_ENOMEM, "out of memory");
    le->magic = LE_MAGIC;
    le->canonicalize = opts->canonicalize;
    le->unique = !opts->keep_duplicates;
    le->strip = !opts->no_strip;
    le->process_value = opts->process_value;
    le->process_value_arg = opts->process_value_arg;
    if ((rc = relist_compile(&le->allow, opts->allow)) ||
        (rc = relist_compile(&le->deny, opts->deny)) ||
        (rc = relist_compile(&le->restrict_text, opts->restrict_text)) ||
        (rc = strlist_copy(&le->allow_domains, opts->allow_domains, NULL, true)) ||
        (rc = strlist_copy(&le->deny_domains, opts->deny_domains, NULL, true)) ||
        (rc = strlist_copy(&le->tags, opts->tags ? opts->tags : default_tags, NULL, false)) ||
        (rc = strlist_copy(&le->attrs, opts->attrs ? opts->attrs : default_attrs, NULL, false)) ||
        (rc = strlist_copy(&le->deny_ext,
                           opts->deny_extensions ? opts->deny_extensions : ignored_extensions, ".",
                           false)))
        goto err;
    size_t nx = list_len(opts->restrict_xpaths), nc = list_len(opts->restrict_css);
    if (nx + nc) {
        if (!(le->xpaths.v = silk_calloc(nx + nc, sizeof *le->xpaths.v))) {
            rc = silk_error(SILK_ENOMEM, "out of memory");
            goto err;
        }
        for (size_t i = 0; i < nx; i++) {
            if (!(le->xpaths.v[i] = silk_strdup(opts->restrict_xpaths[i]))) {
                rc = silk_error(SILK_ENOMEM, "out of memory");
                goto err;
            }
            le->xpaths.len++;
        }
        for (size_t i = 0; i < nc; i++) {
            if ((rc = silk_css_to_xpath(opts->restrict_css[i], true, &le->xpaths.v[nx + i])))
                goto err;
            le->xpaths.len++;
        }
    }
    *out = le;
    return 0;
err:
    silk_link_extractor_free(le);
    return rc;
}

/* ---- links under construction ---- */

typedef struct lnk {
    char *url;
    char *text;
    char *key; /* de-duplication key; NULL = the url itself */
    bool nofollow;
} lnk;

typedef struct lvec {
    lnk *v;
    size_t len, cap;
} lvec;

static void lnk_free(lnk *l)
{
    silk_free(l->url);
    silk_free(l->text);
    silk_free(l->key);
    memset(l, 0, sizeof *l);
}

static void lvec_free(lvec *v)
{
    for (size_t i = 0; i < v->len; i++)
        lnk_free(&v->v[i]);
    silk_free(v->v);
    memset(v, 0, sizeof *v);
}

/* Takes l (also on failure). */
static int lvec_push(lvec *v, lnk *l)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        lnk *n = silk_realloc(v->v, cap * sizeof *n);
        if (!n) {
            lnk_free(l);
            return silk_error(SILK_ENOMEM, "out of memory");
        }
        v->v = n;
        v->cap = cap;
    }
    v->v[v->len++] = *l;
    memset(l, 0, sizeof *l);
    return 0;
}

static const char *lnk_key(const lnk *l) { return l->key ? l->key : l->url; }

/* ---- an index set: open addressing over positions in an array ---- */

typedef struct idxset {
    size_t *slot; /* index + 1, 0 = empty */
    uint64_t *hash;
    size_t cap, n;
} idxset;

static uint64_t fnv(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

typedef bool (*idx_eq_fn)(const lvec *v, size_t a, size_t b);

static bool eq_key(const lvec *v, size_t a, size_t b)
{
    return strcmp(lnk_key(&v->v[a]), lnk_key(&v->v[b])) == 0;
}

static bool eq_link(const lvec *v, size_t a, size_t b)
{
    const lnk *x = &v->v[a], *y = &v->v[b];
    return x->nofollow == y->nofollow && strcmp(x->url, y->url) == 0 &&
           strcmp(x->text, y->text) == 0;
}

static uint64_t hash_key(const lnk *l) { return fnv(lnk_key(l), 0xcbf29ce484222325ull); }

static uint64_t hash_link(const lnk *l)
{
    return fnv(l->text, fnv(l->url, 0xcbf29ce484222325ull) * 31) ^ (uint64_t)l->nofollow;
}

static void idxset_free(idxset *s)
{
    silk_free(s->slot);
    silk_free(s->hash);
    memset(s, 0, sizeof *s);
}

static int idxset_init(idxset *s, size_t want)
{
    size_t cap = 16;
    while (cap < want * 2 + 2)
        cap *= 2;
    s->slot = silk_calloc(cap, sizeof *s->slot);
    s->hash = silk_calloc(cap, sizeof *s->hash);
    s->cap = cap;
    s->n = 0;
    if (!s->slot || !s->hash) {
        idxset_free(s);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    return 0;
}

/* 1 when v[i] was new (and is now in), 0 when an equal one is in. The set
 * is sized for every element up front, so it never fills. */
static int idxset_add(idxset *s, const lvec *v, size_t i, uint64_t h, idx_eq_fn eq)
{
    size_t mask = s->cap - 1;
    for (size_t k = (size_t)h & mask;; k = (k + 1) & mask) {
        if (!s->slot[k]) {
            s->slot[k] = i + 1;
            s->hash[k] = h;
            s->n++;
            return 1;
        }
        if (s->hash[k] == h && eq(v, s->slot[k] - 1, i))
            return 0;
    }
}

/* scrapy.utils.python.unique: keeps the first of each key, in order. */
static int dedup(lvec *v, bool by_link)
{
    if (v->len < 2)
        return 0;
    idxset s;
    int rc = idxset_init(&s, v->len);
    if (rc)
        return rc;
    size_t w = 0;
    for (size_t i = 0; i < v->len; i++) {
        /* entries move down as duplicates go; the set keeps positions of
         * kept entries, which are final once written */
        if (w != i) {
            v->v[w] = v->v[i];
            memset(&v->v[i], 0, sizeof v->v[i]);
        }
        uint64_t h = by_link ? hash_link(&v->v[w]) : hash_key(&v->v[w]);
        if (idxset_add(&s, v, w, h, by_link ? eq_link : eq_key))
            w++;
        else
            lnk_free(&v->v[w]);
    }
    v->len = w;
    idxset_free(&s);
    return 0;
}

/* ---- per region ---- */

typedef struct xctx {
    const silk_link_extractor *le;
    const char *response_url;
    const char *encoding;
    const char *base_url;
} xctx;

/* _nons(el.tag) for a libxml2 element: "{uri}name" for a namespaced one,
 * except the XHTML namespace. Writes into buf or returns node->name. */
static const char *tag_name(const xmlNode *n, silk_buf *buf)
{
    if (!n->ns || !n->ns->href || strcmp((const char *)n->ns->href, XHTML_NS) == 0)
        return (const char *)n->name;
    silk_buf_reset(buf);
    silk_buf_printf(buf, "{%s}%s", (const char *)n->ns->href, (const char *)n->name);
    return buf->data ? buf->data : "";
}

static const char *attr_name(const xmlAttr *a, silk_buf *buf)
{
    if (!a->ns || !a->ns->href)
        return (const char *)a->name;
    silk_buf_reset(buf);
    silk_buf_printf(buf, "{%s}%s", (const char *)a->ns->href, (const char *)a->name);
    return buf->data ? buf->data : "";
}

/* One attribute value to a link, or to nothing for a bogus one. */
static int make_link(const xctx *x, const char *value, const char *text, bool nofollow, lvec *out)
{
    const silk_link_extractor *le = x->le;
    char *stripped = NULL, *joined = NULL, *processed = NULL, *safe = NULL, *final = NULL;
    int rc = 0;

    const char *v = value;
    size_t n = strlen(v);
    if (le->strip) {
        while (n && html5_space(*v)) {
            v++;
            n--;
        }
        while (n && html5_space(v[n - 1]))
            n--;
    }
    if (!(stripped = silk_strndup(v, n))) {
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = silk_url_join(x->base_url, stripped, &joined))) {
        /* urljoin's ValueError: Scrapy skips such a link */
        rc = rc == SILK_ENOMEM ? rc : 0;
        goto out;
    }
    const char *url = joined;
    if (le->process_value) {
        processed = le->process_value(joined, le->process_value_arg);
        if (!processed)
            goto out;
        url = processed;
    }
    if ((rc = safe_url(url, x->encoding, &safe))) {
        /* Deliberate difference (docs/compat.md): Scrapy raises here and
         * loses every link of the page; silk drops this one. */
        rc = rc == SILK_ENOMEM ? rc : 0;
        goto out;
    }
    if ((rc = silk_url_join(x->response_url, safe, &final))) {
        rc = rc == SILK_ENOMEM ? rc : 0;
        goto out;
    }
    lnk l = { final, silk_strdup(text), NULL, nofollow };
    final = NULL;
    if (!l.text) {
        lnk_free(&l);
        rc = silk_error(SILK_ENOMEM, "out of memory");
        goto out;
    }
    rc = lvec_push(out, &l);
out:
    silk_free(stripped);
    silk_free(joined);
    silk_free(processed);
    silk_free(safe);
    silk_free(final);
    return rc;
}

/* XPath string() of an element, as libxml2's xmlBufGetNodeContent builds
 * it (text and CDATA of every descendant, entity references expanded),
 * within a budget: nested link elements (tags=("div",) on deep markup) make
 * the total quadratic in the depth, and that must end in an error, not in
 * minutes of work. */
static int node_text(xmlNode *el, silk_buf *out, uint64_t *budget)
{
    xmlNode *n = el->children;
    while (n) {
        if (!*budget)
            goto limit;
        (*budget)--;
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content) {
                size_t len = strlen((const char *)n->content);
                if (len >= *budget)
                    goto limit;
                *budget -= len;
                silk_buf_append(out, n->content, len);
            }
        } else if (n->type == XML_ENTITY_REF_NODE) {
            xmlChar *c = xmlNodeGetContent(n);
            if (c)
                silk_buf_puts(out, (const char *)c);
            xmlFree(c);
        }
        if (n->children && n->children->type != XML_ENTITY_DECL) {
            n = n->children;
            continue;
        }
        while (n != el && !n->next)
            n = n->parent;
        if (n == el)
            break;
        n = n->next;
    }
    return out->err ? silk_error(SILK_ENOMEM, "out of memory") : 0;
limit:
    return silk_error(SILK_ELIMIT, "link extraction: the texts of nested link elements are "
                                   "too large (deeply nested markup?)");
}

/* LxmlParserLinkExtractor._extract_links over el.iter(): el and its
 * descendant elements in document order. */
static int collect(const xctx *x, xmlNode *root, lvec *out, uint64_t *budget)
{
    const silk_link_extractor *le = x->le;
    silk_buf nb = SILK_BUF_INIT, tb = SILK_BUF_INIT;
    int rc = 0;

    xmlNode *n = root;
    while (n && !rc) {
        if (n->type == XML_ELEMENT_NODE) {
            const char *tag = tag_name(n, &nb);
            if (nb.err) {
                rc = silk_error(SILK_ENOMEM, "out of memory");
                break;
            }
            if (strlist_has(&le->tags, tag)) {
                bool have_text = false, nofollow = false;
                for (xmlAttr *a = n->properties; a && !rc; a = a->next) {
                    const char *an = attr_name(a, &nb);
                    if (nb.err) {
                        rc = silk_error(SILK_ENOMEM, "out of memory");
                        break;
                    }
                    if (!strlist_has(&le->attrs, an))
                        continue;
                    if (!have_text) {
                        have_text = true;
                        silk_buf_reset(&tb);
                        if ((rc = node_text(n, &tb, budget)))
                            break;
                        xmlChar *rel = xmlGetNoNsProp(n, BAD_CAST "rel");
                        nofollow = rel && rel_has_nofollow((const char *)rel);
                        xmlFree(rel);
                    }
                    xmlChar *val = xmlNodeGetContent((xmlNode *)a);
                    rc = make_link(x, val ? (const char *)val : "", tb.data ? tb.data : "",
                                   nofollow, out);
                    xmlFree(val);
                }
            }
        }
        /* next in document order, staying under root */
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
    silk_buf_free(&nb);
    silk_buf_free(&tb);
    return rc;
}

/* _link_allowed: 1, 0 or a negative SILK_E*. */
static int allowed(const silk_link_extractor *le, const lnk *l)
{
    static const char *const schemes[] = { "http://", "https://", "file://", "ftp://" };
    bool valid = false;
    for (size_t i = 0; i < 4 && !valid; i++)
        valid = strncmp(l->url, schemes[i], strlen(schemes[i])) == 0;
    if (!valid)
        return 0;
    int rc;
    if (le->allow.len && (rc = relist_any(&le->allow, l->url)) <= 0)
        return rc;
    if (le->deny.len && (rc = relist_any(&le->deny, l->url)) != 0)
        return rc < 0 ? rc : 0;
    const char *netloc, *path;
    size_t nl, pl;
    parsed_parts(l->url, &netloc, &nl, &path, &pl);
    if (le->allow_domains.len && !netloc_in_domains(netloc, nl, &le->allow_domains))
        return 0;
    if (le->deny_domains.len && netloc_in_domains(netloc, nl, &le->deny_domains))
        return 0;
    if (le->deny_ext.len) {
        for (size_t i = 0; i < le->deny_ext.len; i++) {
            const char *e = le->deny_ext.v[i];
            size_t el = strlen(e);
            if (el > pl)
                continue;
            bool same = true;
            for (size_t k = 0; k < el && same; k++) {
                char c = path[pl - el + k];
                c = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
                same = c == e[k];
            }
            if (same)
                return 0;
        }
    }
    if (le->restrict_text.len && (rc = relist_any(&le->restrict_text, l->text)) <= 0)
        return rc;
    return 1;
}

/* canonicalize_url(url, keep_fragments) into *out; a URL it refuses keeps
 * itself (*out = NULL) unless memory ran out. */
static int canon(const char *url, bool keep_fragments, char **out)
{
    int rc = silk_url_canonicalize(url, true, keep_fragments, out);
    if (rc == SILK_ENOMEM)
        return rc;
    return 0;
}

/* Computes the de-duplication keys (_canonicalize_link_url unless the
 * extractor canonicalizes, then the url itself). */
static int set_keys(const silk_link_extractor *le, lvec *v)
{
    for (size_t i = 0; i < v->len; i++) {
        silk_free(v->v[i].key);
        v->v[i].key = NULL;
        if (le->canonicalize)
            continue;
        int rc = canon(v->v[i].url, true, &v->v[i].key);
        if (rc)
            return rc;
    }
    return 0;
}

/* _extract_links's de-duplication, then LxmlLinkExtractor._process_links. */
static int process_region(const silk_link_extractor *le, lvec *v)
{
    int rc;
    if (le->unique && ((rc = set_keys(le, v)) || (rc = dedup(v, false))))
        return rc;
    size_t w = 0;
    for (size_t i = 0; i < v->len; i++) {
        rc = allowed(le, &v->v[i]);
        if (rc < 0)
            return rc;
        if (!rc) {
            lnk_free(&v->v[i]);
            continue;
        }
        if (w != i) {
            v->v[w] = v->v[i];
            memset(&v->v[i], 0, sizeof v->v[i]);
        }
        w++;
    }
    v->len = w;
    if (le->canonicalize) {
        for (size_t i = 0; i < v->len; i++) {
            char *c = NULL;
            if ((rc = canon(v->v[i].url, false, &c)))
                return rc;
            if (c) {
                silk_free(v->v[i].url);
                v->v[i].url = c;
            }
        }
    }
    /* the keys still hold: canonical URLs when not canonicalizing, else
     * the (now canonical) URLs themselves */
    return le->unique ? dedup(v, false) : 0;
}

/* get_base_url(response): safe(url), joined with safe(<base href>, page
 * encoding) when the first 4096 characters have one. */
static int base_url(const char *url, const char *text, size_t len, const char *encoding, char **out)
{
    char *href = NULL, *safe_resp = NULL, *safe_href = NULL;
    int rc;
    *out = NULL;
    if ((rc = silk_url_html_base(text, len, &href)))
        goto out;
    if ((rc = silk_url_safe_string(url, &safe_resp)))
        goto out;
    if (!href) {
        *out = safe_resp;
        safe_resp = NULL;
        goto out;
    }
    if ((rc = safe_url(href, encoding, &safe_href)))
        goto out;
    rc = silk_url_join(safe_resp, safe_href, out);
out:
    silk_free(href);
    silk_free(safe_resp);
    silk_free(safe_href);
    return rc;
}

/* Moves the links into one block: the array, then the strings. */
static int pack(lvec *v, silk_arena *arena, silk_links *out)
{
    size_t bytes = v->len * sizeof(silk_link) + 1;
    for (size_t i = 0; i < v->len; i++)
        bytes += strlen(v->v[i].url) + strlen(v->v[i].text) + 2;
    char *block = silk_malloc(bytes);
    if (!block)
        return silk_error(SILK_ENOMEM, "out of memory");
    silk_link *links = (silk_link *)(void *)block;
    char *p = block + v->len * sizeof(silk_link);
    char *empty = p++;
    *empty = '\0';
    for (size_t i = 0; i < v->len; i++) {
        size_t ul = strlen(v->v[i].url) + 1, tl = strlen(v->v[i].text) + 1;
        memcpy(p, v->v[i].url, ul);
        links[i].url = p;
        p += ul;
        memcpy(p, v->v[i].text, tl);
        links[i].text = p;
        p += tl;
        links[i].fragment = empty;
        links[i].nofollow = v->v[i].nofollow;
    }
    out->v = links;
    out->len = v->len;
    out->flags = 0;
    if (arena) {
        if (silk_arena_keep_block(arena, block)) {
            out->v = NULL;
            out->len = 0;
            return silk_error(SILK_ENOMEM, "out of memory");
        }
        out->flags = LINKS_IN_ARENA;
    }
    return 0;
}

void silk_links_free(silk_links *links)
{
    if (!links)
        return;
    if (!(links->flags & LINKS_IN_ARENA))
        silk_free(links->v);
    links->v = NULL;
    links->len = 0;
    links->flags = 0;
}

int silk_link_extractor_extract(const silk_link_extractor *le, silk_response *response,
                                silk_arena *arena, silk_links *out)
{
    lvec all = { 0 }, region = { 0 };
    silk_selector_list *list = NULL;
    char *base = NULL;
    int rc;

    if (!out)
        return silk_error(SILK_EINVAL, "silk_link_extractor_extract: out is NULL");
    memset(out, 0, sizeof *out);
    if (!le || le->magic != LE_MAGIC)
        return silk_error(SILK_EDEAD, "silk_link_extractor_extract: not a live link extractor");
    if (!silk_object_alive(response))
        return silk_error(SILK_EDEAD, "silk_link_extractor_extract: not a live response");
    size_t len = 0;
    const char *text = silk_response_text(response, &len);
    if (!text)
        return silk_error(SILK_ETYPE, "link extraction needs a text response: %s", response->url);
    silk_selector *root = silk_response_selector(response, NULL);
    if (!root)
        return silk_error(SILK_EINVAL, "cannot parse %s", response->url);
    xctx x = { le, response->url, response->encoding, NULL };
    /* node visits plus text bytes that link texts may cost: linear in the
     * document with room for ordinary nesting */
    uint64_t budget = LINK_TEXT_BUDGET + 16 * (uint64_t)len;
    if ((rc = base_url(response->url, text, len, response->encoding, &base)))
        goto out;
    x.base_url = base;

    if (!le->xpaths.len) {
        if ((rc = collect(&x, silk_selector_xml_node(root), &region, &budget)) ||
            (rc = process_region(le, &region)))
            goto out;
        all = region;
        memset(&region, 0, sizeof region);
    }
    for (size_t i = 0; i < le->xpaths.len; i++) {
        if ((rc = silk_selector_xpath(root, le->xpaths.v[i], NULL, NULL, &list)))
            goto out;
        for (size_t k = 0; k < silk_selector_list_len(list); k++) {
            silk_selector *s = silk_selector_list_at(list, k);
            if (silk_selector_get_kind(s) != SILK_SEL_ELEMENT) {
                rc = silk_error(SILK_ETYPE,
                                "restrict_xpaths '%s' selects a text, attribute or value, not an "
                                "element",
                                le->xpaths.v[i]);
                goto out;
            }
            if ((rc = collect(&x, silk_selector_xml_node(s), &region, &budget)) ||
                (rc = process_region(le, &region)))
                goto out;
            for (size_t j = 0; j < region.len; j++)
                if ((rc = lvec_push(&all, &region.v[j])))
                    goto out;
            region.len = 0;
        }
        silk_unref(list);
        list = NULL;
    }
    if (le->unique && (rc = dedup(&all, true)))
        goto out;
    rc = pack(&all, arena, out);
out:
    silk_unref(list);
    lvec_free(&region);
    lvec_free(&all);
    silk_free(base);
    return rc;
}

int silk_link_extractor_matches(const silk_link_extractor *le, const char *url)
{
    if (!le || le->magic != LE_MAGIC)
        return silk_error(SILK_EDEAD, "silk_link_extractor_matches: not a live link extractor");
    if (!url)
        return silk_error(SILK_EINVAL, "silk_link_extractor_matches: url is NULL");
    int rc = 0;
    if (le->allow_domains.len || le->deny_domains.len) {
        silk_buf nl = SILK_BUF_INIT;
        if ((rc = py_netloc(url, &nl))) {
            silk_buf_free(&nl);
            return rc;
        }
        const char *h = nl.data ? nl.data : "";
        bool ok = !(le->allow_domains.len && !netloc_in_domains(h, nl.len, &le->allow_domains)) &&
                  !(le->deny_domains.len && netloc_in_domains(h, nl.len, &le->deny_domains));
        silk_buf_free(&nl);
        if (!ok)
            return 0;
    }
    if (le->allow.len && (rc = relist_any(&le->allow, url)) <= 0)
        return rc;
    if (le->deny.len && (rc = relist_any(&le->deny, url)) != 0)
        return rc < 0 ? rc : 0;
    return 1;
}
