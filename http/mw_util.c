/* silk — helpers shared by the downloader middlewares. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/url.h"

/* twisted.web.http.RESPONSES, phrases as Twisted spells them. */
static const struct {
    int status;
    const char *phrase;
} reasons[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 203, "Non-Authoritative Information" },
    { 204, "No Content" },
    { 205, "Reset Content." },
    { 206, "Partial Content" },
    { 207, "Multi-Status" },
    { 300, "Multiple Choices" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 305, "Use Proxy" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 402, "Payment Required" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" },
    { 407, "Proxy Authentication Required" },
    { 408, "Request Time-out" },
    { 409, "Conflict" },
    { 410, "Gone" },
    { 411, "Length Required" },
    { 412, "Precondition Failed" },
    { 413, "Request Entity Too Large" },
    { 414, "Request-URI Too Long" },
    { 415, "Unsupported Media Type" },
    { 416, "Requested Range not satisfiable" },
    { 417, "Expectation Failed" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Time-out" },
    { 505, "HTTP Version not supported" },
    { 507, "Insufficient Storage Space" },
    { 510, "Not Extended" },
};

const char *silk__http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].phrase;
    return NULL;
}

void silk__status_message(int status, char *out, size_t n)
{
    const char *p = silk__http_reason(status);
    snprintf(out, n, "%d %s", status, p ? p : "Unknown Status");
}

void silk__request_repr(const silk_request *r, char *out, size_t n)
{
    snprintf(out, n, "<%s %s>", r->method ? r->method : "GET", r->url ? r->url : "");
}

silk_value *silk__meta(silk_request *r) { return silk_request_meta(r); }

bool silk__meta_true(const silk_value *meta, const char *key)
{
    const silk_value *v = silk_dict_get(meta, key);
    switch (v ? v->kind : SILK_V_NULL) {
    case SILK_V_NULL: return false;
    case SILK_V_BOOL: return v->u.b;
    case SILK_V_INT: return v->u.i != 0;
    case SILK_V_DOUBLE: return v->u.d != 0;
    case SILK_V_STRING: return v->u.s.len > 0;
    case SILK_V_LIST: return v->u.list.len > 0;
    case SILK_V_DICT: return v->u.dict.len > 0;
    case SILK_V_OBJECT: return true;
    }
    return false;
}

bool silk__list_has_int(const silk_value *v, int64_t i)
{
    if (!v || v->kind != SILK_V_LIST)
        return false;
    for (size_t k = 0; k < v->u.list.len; k++) {
        const silk_value *e = v->u.list.items[k];
        if ((e->kind == SILK_V_INT && e->u.i == i) || (e->kind == SILK_V_DOUBLE && e->u.d == (double)i))
            return true;
    }
    return false;
}

/* A setting that is unset or null (JSON null, Python's None) takes the
 * default without a complaint; a malformed one is logged by settings. */
static bool unset(const silk_mw_env *env, const char *key)
{
    const silk_value *v = env && env->settings ? silk_settings_get(env->settings, key) : NULL;
    return !v || v->kind == SILK_V_NULL;
}

bool silk__set_bool(const silk_mw_env *env, const char *key, bool def)
{
    return unset(env, key) ? def : silk_settings_bool(env->settings, key, def);
}

int64_t silk__set_int(const silk_mw_env *env, const char *key, int64_t def)
{
    return unset(env, key) ? def : silk_settings_int(env->settings, key, def);
}

double silk__set_double(const silk_mw_env *env, const char *key, double def)
{
    return unset(env, key) ? def : silk_settings_double(env->settings, key, def);
}

const char *silk__set_str(const silk_mw_env *env, const char *key, const char *def)
{
    return unset(env, key) ? def : silk_settings_str(env->settings, key, def);
}

void silk__stat_inc(const silk_mw_env *env, const char *key, int64_t by)
{
    if (env && env->stats)
        silk_stats_inc(env->stats, key, by);
}

void silk__stat_incf(const silk_mw_env *env, int64_t by, const char *fmt, ...)
{
    if (!env || !env->stats)
        return;
    char key[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    silk_stats_inc(env->stats, key, by);
}

char *silk__base64(const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = silk_malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

char *silk__basic_auth(const char *user, const char *pass)
{
    char *up = silk_asprintf("%s:%s", user ? user : "", pass ? pass : "");
    if (!up)
        return NULL;
    char *b = silk__base64(up, strlen(up));
    silk_free(up);
    if (!b)
        return NULL;
    char *h = silk_asprintf("Basic %s", b);
    silk_free(b);
    return h;
}

bool silk__url_in_domain(const char *url, const char *domain)
{
    char *host = NULL;
    if (!domain || silk_url_host(url, &host) || !host)
        return false;
    size_t hl = strlen(host), dl = strlen(domain);
    bool ok = (hl == dl && strcasecmp(host, domain) == 0) ||
              (hl > dl && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, domain) == 0);
    silk_free(host);
    return ok;
}

bool silk__url_host_fast(const char *url, char *out, size_t n)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p || n == 0)
        return false;
    for (const char *c = url; c < p; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
            return false;
    p += 3;
    size_t len = strcspn(p, "/?#");
    const char *end = p + len;
    for (const char *c = p; c < end; c++) {
        if ((unsigned char)*c >= 0x80 || *c == '%' || *c == '\\')
            return false;
        if (*c == '@')
            p = c + 1;
    }
    const char *hs = p, *he;
    if (*hs == '[') {
        hs++;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return false;
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (!he)
            he = end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= n)
        return false;
    for (size_t i = 0; i < hl; i++)
        out[i] = (char)tolower((unsigned char)hs[i]);
    out[hl] = '\0';
    return true;
}

char *silk__url_netloc(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return silk_strdup("");
    p += 3;
    size_t n = strcspn(p, "/?#");
    /* userinfo stays: urlparse's netloc keeps it */
    char *out = silk_strndup(p, n);
    if (out)
        for (char *c = out; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    return out;
}

char *silk__url_netloc_buf(const char *url, char *buf, size_t n)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p) {
        buf[0] = '\0';
        return buf;
    }
    p += 3;
    size_t len = strcspn(p, "/?#");
    if (len >= n)
        return silk__url_netloc(url);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)p[i]);
    buf[len] = '\0';
    return buf;
}
