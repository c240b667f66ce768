/* silk — MetaRefreshMiddleware (order 580, METAREFRESH_ENABLED): an
 * HtmlResponse whose first 4096 characters hold <meta http-equiv="refresh"
 * content="N; url=..."> with N < METAREFRESH_MAXDELAY is redirected with a
 * GET, through the same rules (and REDIRECT_MAX_TIMES) as the redirect
 * middleware. The page is read as w3lib's get_meta_refresh reads it: the
 * tags of METAREFRESH_IGNORE_TAGS removed with their content, entities
 * replaced, comments removed, then w3lib's two regular expressions
 * (compiled with PCRE2, with a match limit: the input is bounded and so is
 * the work). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/encoding.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/url.h"

#define LOGGER "silk.downloadermiddlewares.redirect"
#define TEXT_CHARS 4096
#define MATCH_LIMIT 1000000

static const char RE1[] = "<meta\\s[^>]*http-equiv[^>]*refresh[^>]*content\\s*=\\s*(?P<quote>[\"'])"
                          "(?P<int>(\\d*\\.)?\\d+)\\s*;\\s*url=\\s*(?P<url>.*?)(?P=quote)";
static const char RE2[] = "<meta\\s[^>]*content\\s*=\\s*(?P<quote>[\"'])(?P<int>(\\d*\\.)?\\d+)\\s*;\\s*"
                          "url=\\s*(?P<url>.*?)(?P=quote)[^>]*?\\shttp-equiv\\s*=[^>]*refresh";
static const char RE_COMMENTS[] = "<!--.*?(?:-->|$)";
static const char RE_ENT[] = "&((?P<named>[a-z\\d]+)|#(?P<dec>\\d+)|#x(?P<hex>[a-f\\d]+))(?P<semicolon>;?)";

typedef struct mr_state {
    silk__redirect_cfg cfg;
    double maxdelay;
    pcre2_code *re1, *re2, *comments, *ent, *ignore;
    pcre2_match_context *mctx;
} mr_state;

static void mr_close(silk_downloader_mw *mw)
{
    mr_state *st = mw->state;
    if (st) {
        pcre2_code_free(st->re1);
        pcre2_code_free(st->re2);
        pcre2_code_free(st->comments);
        pcre2_code_free(st->ent);
        pcre2_code_free(st->ignore);
        pcre2_match_context_free(st->mctx);
        silk_free(st);
    }
    mw->state = NULL;
}

static pcre2_code *compile(const char *pattern, uint32_t flags)
{
    int err;
    PCRE2_SIZE off;
    return pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         flags | PCRE2_UTF | PCRE2_UCP | PCRE2_DOTALL | PCRE2_NO_UTF_CHECK, &err, &off, NULL);
}

static int mr_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk__set_bool(env, "METAREFRESH_ENABLED", true))
        return SILK_ENOTFOUND;
    mr_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    mw->state = st;
    st->cfg.max_times = silk__set_int(env, "REDIRECT_MAX_TIMES", 20);
    st->cfg.priority_adjust = silk__set_int(env, "REDIRECT_PRIORITY_ADJUST", 2);
    st->maxdelay = (double)silk__set_int(env, "METAREFRESH_MAXDELAY", 100);
    st->re1 = compile(RE1, PCRE2_CASELESS);
    st->re2 = compile(RE2, PCRE2_CASELESS);
    st->comments = compile(RE_COMMENTS, 0);
    st->ent = compile(RE_ENT, PCRE2_CASELESS);
    st->mctx = pcre2_match_context_create(NULL);
    if (!st->re1 || !st->re2 || !st->comments || !st->ent || !st->mctx)
        return silk_error(SILK_ENOMEM, "MetaRefreshMiddleware: cannot compile its expressions");
    pcre2_set_match_limit(st->mctx, MATCH_LIMIT);
    /* w3lib's remove_tags_with_content pattern for the ignored tags */
    silk_value *tags = NULL;
    int rc = env && env->settings ? silk_settings_get_list(env->settings, "METAREFRESH_IGNORE_TAGS", &tags)
                                  : SILK_ENOTFOUND;
    if (rc && rc != SILK_ENOTFOUND)
        return rc;
    silk_buf pat = SILK_BUF_INIT;
    for (size_t i = 0; tags && i < tags->u.list.len; i++) {
        const char *t = silk_value_str(tags->u.list.items[i]);
        if (!t || !*t)
            continue;
        /* tag names are letters and digits; anything else is skipped rather
         * than put in a pattern */
        bool ok = true;
        for (const char *c = t; *c; c++)
            ok &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        if (!ok)
            continue;
        silk_buf_printf(&pat, "%s<%s\\b.*?</%s>|<%s\\s*/>", pat.len ? "|" : "", t, t, t);
    }
    silk_value_free(tags);
    if (pat.err) {
        silk_buf_free(&pat);
        return SILK_ENOMEM;
    }
    if (pat.len && !(st->ignore = compile(pat.data, PCRE2_CASELESS))) {
        silk_buf_free(&pat);
        return silk_error(SILK_EINVAL, "setting METAREFRESH_IGNORE_TAGS: cannot build its pattern");
    }
    silk_buf_free(&pat);
    return 0;
}

/* re.sub(pattern, "", text) into out. */
static int remove_all(const mr_state *st, pcre2_code *re, const char *text, size_t len, silk_buf *out)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md)
        return SILK_ENOMEM;
    size_t pos = 0;
    while (pos <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, st->mctx);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        silk_buf_append(out, text + pos, ov[0] - pos);
        pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        if (ov[1] == ov[0] && ov[0] < len)
            silk_buf_append(out, text + ov[0], 1);
    }
    if (pos < len)
        silk_buf_append(out, text + pos, len - pos);
    pcre2_match_data_free(md);
    return out->err;
}

static const struct {
    const char *name;
    unsigned cp;
} named[] = {
    { "amp", '&' },    { "lt", '<' },     { "gt", '>' },     { "quot", '"' },  { "nbsp", 0xa0 },
    { "copy", 0xa9 },  { "reg", 0xae },   { "laquo", 0xab }, { "raquo", 0xbb }, { "middot", 0xb7 },
    { "ndash", 0x2013 }, { "mdash", 0x2014 }, { "hellip", 0x2026 }, { "euro", 0x20ac },
};

static void put_utf8(silk_buf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        silk_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        silk_buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        silk_buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        silk_buf_append(b, u, 4);
    }
}

/* w3lib replace_entities(text) with remove_illegal: numeric references
 * (0x80-0x9f read as cp1252) and the common named ones; an unknown entity
 * with its ';' is removed, without it kept. */
static int replace_entities(const mr_state *st, const char *text, size_t len, silk_buf *out)
{
    static const unsigned cp1252[32] = { 0x20ac, 0, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021,
                                         0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0, 0x17d, 0,
                                         0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
                                         0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0, 0x17e, 0x178 };
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(st->ent, NULL);
    if (!md)
        return SILK_ENOMEM;
    size_t pos = 0;
    while (pos < len) {
        int rc = pcre2_match(st->ent, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, st->mctx);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        silk_buf_append(out, text + pos, ov[0] - pos);
        /* groups: 2 named, 3 dec, 4 hex, 5 semicolon */
        long long number = -1;
        if (ov[6] != PCRE2_UNSET) {
            char tmp[24];
            size_t n = ov[7] - ov[6];
            if (n < sizeof tmp) {
                memcpy(tmp, text + ov[6], n);
                tmp[n] = '\0';
                number = strtoll(tmp, NULL, 10);
            } else {
                number = 0x110000;
            }
        } else if (ov[8] != PCRE2_UNSET) {
            char tmp[24];
            size_t n = ov[9] - ov[8];
            if (n < sizeof tmp) {
                memcpy(tmp, text + ov[8], n);
                tmp[n] = '\0';
                number = strtoll(tmp, NULL, 16);
            } else {
                number = 0x110000;
            }
        } else if (ov[4] != PCRE2_UNSET) {
            size_t n = ov[5] - ov[4];
            for (size_t i = 0; i < sizeof named / sizeof named[0] && number < 0; i++)
                if (strlen(named[i].name) == n && strncasecmp(named[i].name, text + ov[4], n) == 0)
                    number = named[i].cp;
        }
        bool semicolon = ov[11] > ov[10];
        if (number >= 0x80 && number <= 0x9f && cp1252[number - 0x80]) {
            put_utf8(out, cp1252[number - 0x80]);
        } else if (number >= 0 && number < 0x110000 && !(number >= 0x80 && number <= 0x9f) &&
                   !(number >= 0xd800 && number < 0xe000)) {
            put_utf8(out, (unsigned)number);
        } else if (!semicolon) {
            silk_buf_append(out, text + ov[0], ov[1] - ov[0]);
        }
        pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    if (pos < len)
        silk_buf_append(out, text + pos, len - pos);
    pcre2_match_data_free(md);
    return out->err;
}

/* A quick look for "refresh" (the word both of w3lib's expressions need)
 * in the bytes that can hold the first 4096 characters, so that the
 * decoding and the expressions run only for pages that may redirect.
 * Bodies with NULs (UTF-16/32) always take the full path. c | 0x20 folds
 * exactly the ASCII capitals onto the small letters (and nothing else onto
 * them), which strstr can then look through. */
static bool may_refresh(const char *body, size_t len)
{
    char low[4 * TEXT_CHARS + 8];
    size_t n = len < 4 * TEXT_CHARS ? len : 4 * TEXT_CHARS;
    /* UTF-16 and UTF-32 show NULs at once */
    if (memchr(body, '\0', n < 512 ? n : 512))
        return true;
    /* eight bytes at a time; an all-ASCII prefix ends at 4096 bytes (that
     * many characters), other texts may need up to four bytes each */
    uint64_t high = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, body + i, 8);
        high |= w;
        w |= 0x2020202020202020ull;
        memcpy(low + i, &w, 8);
        if (i + 8 >= TEXT_CHARS && !(high & 0x8080808080808080ull)) {
            i += 8;
            break;
        }
    }
    if (i > n) /* cannot happen: i only grows in whole words below n */
        i = n;
    for (; i < n && (i < TEXT_CHARS || (high & 0x8080808080808080ull)); i++) {
        low[i] = (char)(body[i] | 0x20);
        high |= (unsigned char)body[i];
    }
    /* | 0x20 also turned any NUL into a space: low is one C string */
    low[i] = '\0';
    return strstr(low, "refresh") != NULL;
}

/* w3lib.html.get_meta_refresh on response.text[0:4096]: 0 and *url (caller
 * frees) with *interval, or SILK_ENOTFOUND. */
static int get_meta_refresh(const mr_state *st, silk_response *resp, double *interval, char **url)
{
    *url = NULL;
    char *text = NULL;
    size_t text_len = 0;
    silk_buf a = SILK_BUF_INIT, b = SILK_BUF_INIT;
    pcre2_match_data *md = NULL;
    int rc = silk_encoding_to_utf8(silk_headers_get(&resp->headers, "Content-Type"),
                                   (const unsigned char *)resp->body, resp->body_len, &text, &text_len, NULL, 0);
    if (rc)
        goto out;
    /* the first 4096 code points */
    size_t cut = 0, chars = 0;
    while (cut < text_len && chars < TEXT_CHARS) {
        cut++;
        while (cut < text_len && ((unsigned char)text[cut] & 0xc0) == 0x80)
            cut++;
        chars++;
    }
    const char *t = text;
    size_t tl = cut;
    if (st->ignore) {
        if ((rc = remove_all(st, st->ignore, t, tl, &b)))
            goto out;
        t = b.data ? b.data : "";
        tl = b.len;
    }
    if ((rc = replace_entities(st, t, tl, &a)))
        goto out;
    silk_buf_reset(&b);
    if ((rc = remove_all(st, st->comments, a.data ? a.data : "", a.len, &b)))
        goto out;
    t = b.data ? b.data : "";
    tl = b.len;
    rc = SILK_ENOTFOUND;
    md = pcre2_match_data_create_from_pattern(st->re1, NULL);
    if (!md) {
        rc = SILK_ENOMEM;
        goto out;
    }
    int m = pcre2_match(st->re1, (PCRE2_SPTR)t, tl, 0, PCRE2_NO_UTF_CHECK, md, st->mctx);
    if (m < 0) {
        pcre2_match_data_free(md);
        md = pcre2_match_data_create_from_pattern(st->re2, NULL);
        if (!md) {
            rc = SILK_ENOMEM;
            goto out;
        }
        m = pcre2_match(st->re2, (PCRE2_SPTR)t, tl, 0, PCRE2_NO_UTF_CHECK, md, st->mctx);
    }
    if (m < 0)
        goto out;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    /* groups: 1 quote, 2 int, 3 fraction part, 4 url */
    char num[64];
    size_t nl = ov[5] - ov[4];
    if (nl >= sizeof num)
        goto out;
    memcpy(num, t + ov[4], nl);
    num[nl] = '\0';
    *interval = strtod(num, NULL);
    const char *u = t + ov[8];
    size_t ul = ov[9] - ov[8];
    while (ul && strchr(" \"'", *u)) {
        u++;
        ul--;
    }
    while (ul && strchr(" \"'", u[ul - 1]))
        ul--;
    char *raw = silk_strndup(u, ul), *safe = NULL;
    if (!raw) {
        rc = SILK_ENOMEM;
        goto out;
    }
    rc = silk_url_safe_string(raw, &safe);
    silk_free(raw);
    if (rc)
        goto out;
    rc = silk_url_join(resp->url, safe, url);
    silk_free(safe);
out:
    pcre2_match_data_free(md);
    silk_buf_free(&a);
    silk_buf_free(&b);
    silk_free(text);
    return rc;
}

static silk_mw_result mr_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                  silk_response *resp, silk_mw_out *out)
{
    (void)fetch;
    mr_state *st = mw->state;
    if (silk__meta_true(req->meta, "dont_redirect") || strcmp(req->method, "HEAD") == 0 ||
        !silk_type_is_a(resp->obj.type, &silk_type_html_response) || !resp->body_len ||
        !may_refresh(resp->body, resp->body_len))
        return SILK_MW_CONTINUE;
    double interval = 0;
    char *url = NULL;
    if (get_meta_refresh(st, resp, &interval, &url) || !url || !*url || !(interval < st->maxdelay)) {
        silk_free(url);
        return SILK_MW_CONTINUE;
    }
    silk_request *redirected = silk__redirect_request(req, url, true);
    silk_free(url);
    if (!redirected) {
        out->failure = silk_failure_new(SILK_EURL, "ValueError", silk_last_error(), req, NULL);
        return SILK_MW_FAILURE;
    }
    return silk__redirect(&st->cfg, req, redirected, 0, "meta refresh", out);
}

static const silk_downloader_mw mr_mw = {
    .name = "MetaRefreshMiddleware",
    .order = 580,
    .open = mr_open,
    .close = mr_close,
    .process_response = mr_response,
};

const silk_downloader_mw *silk_mw_metarefresh(void) { return &mr_mw; }
