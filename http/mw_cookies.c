/* silk — CookiesMiddleware (order 700, COOKIES_ENABLED).
 *
 * One jar per value of meta cookiejar (absent = the default jar), kept for
 * the life of the downloader. Set-Cookie is parsed and stored by RFC 6265
 * (sections 5.2-5.4): Domain (a host-only cookie without it; a Domain the
 * request host does not domain-match is refused; so is a Domain with no dot
 * other than the host itself, silk's stand-in for Scrapy's public-suffix
 * check), Path (default: the request path's directory), Secure (sent over
 * https only), Expires / Max-Age (Max-Age wins; an expired cookie deletes
 * the stored one). The Cookie header lists matching cookies, longest path
 * first, then oldest first. request.cookies (a dict of name: value, or a
 * list of dicts with name, value, domain, path) are merged into the jar
 * first, as Scrapy does; meta dont_merge_cookies skips the jar both ways.
 * COOKIES_DEBUG logs Scrapy's "Sending cookies to:" / "Received cookies
 * from:" lines. Limits against hostile servers: 4096 bytes of name and
 * value per cookie, 180 cookies per domain, 3000 per jar (oldest go). */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/middlewares.h"
#include "silk/url.h"

#define LOGGER "silk.downloadermiddlewares.cookies"
#define MAX_COOKIE_BYTES 4096
#define MAX_PER_DOMAIN 180
#define MAX_PER_JAR 3000

typedef struct cookie {
    char *name, *value, *domain, *path;
    double expiry; /* epoch seconds; 0 = a session cookie */
    uint64_t created;
    bool host_only, secure;
} cookie;

typedef struct jar {
    char *key;
    cookie *c;
    size_t len, cap;
    struct jar *next;
} jar;

typedef struct cookies_state {
    jar *jars;
    jar *default_jar; /* meta cookiejar absent or null */
    bool debug;
    uint64_t seq;
} cookies_state;

/* ---- the jar ---- */

static void cookie_clear(cookie *c)
{
    silk_free(c->name);
    silk_free(c->value);
    silk_free(c->domain);
    silk_free(c->path);
}

static void jar_remove(jar *j, size_t i)
{
    cookie_clear(&j->c[i]);
    memmove(&j->c[i], &j->c[i + 1], (j->len - i - 1) * sizeof j->c[0]);
    j->len--;
}

static void jars_free(jar *j)
{
    while (j) {
        jar *next = j->next;
        for (size_t i = 0; i < j->len; i++)
            cookie_clear(&j->c[i]);
        silk_free(j->c);
        silk_free(j->key);
        silk_free(j);
        j = next;
    }
}

static jar *jar_for(cookies_state *st, const silk_request *req)
{
    const silk_value *k = silk_dict_get(req->meta, "cookiejar");
    char *key = NULL;
    if ((!k || k->kind == SILK_V_NULL) && st->default_jar)
        return st->default_jar;
    if (!k || k->kind == SILK_V_NULL)
        key = silk_strdup("null");
    else if (silk_json_dumps(k, SILK_JSON_SORT_KEYS, &key))
        key = silk_strdup("?"); /* an object reference: one shared jar */
    if (!key)
        return NULL;
    for (jar *j = st->jars; j; j = j->next) {
        if (strcmp(j->key, key) == 0) {
            silk_free(key);
            return j;
        }
    }
    jar *j = silk_calloc(1, sizeof *j);
    if (!j) {
        silk_free(key);
        return NULL;
    }
    j->key = key;
    j->next = st->jars;
    st->jars = j;
    if (strcmp(key, "null") == 0)
        st->default_jar = j;
    return j;
}

/* RFC 6265 5.1.3 */
static bool is_ip(const char *h)
{
    if (strchr(h, ':'))
        return true;
    for (; *h; h++)
        if (!isdigit((unsigned char)*h) && *h != '.')
            return false;
    return true;
}

static bool domain_match(const char *host, const char *domain)
{
    size_t hl = strlen(host), dl = strlen(domain);
    if (hl == dl)
        return strcasecmp(host, domain) == 0;
    return hl > dl && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, domain) == 0 && !is_ip(host);
}

/* RFC 6265 5.1.4 */
static bool path_match(const char *req_path, const char *cpath)
{
    size_t n = strlen(cpath);
    if (strncmp(req_path, cpath, n) != 0)
        return false;
    return req_path[n] == '\0' || cpath[n - 1] == '/' || req_path[n] == '/';
}

/* RFC 6265 default-path of a request path. */
static char *default_path(const char *path)
{
    const char *last = strrchr(path, '/');
    if (!last || last == path)
        return silk_strdup("/");
    return silk_strndup(path, (size_t)(last - path));
}

static char *trim_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return silk_strndup(s, n);
}

/* Stores one Set-Cookie line received for url (host, path, https).
 * Returns 0 (stored, deleted or refused) or SILK_ENOMEM. */
static int jar_set(cookies_state *st, jar *j, const char *line, const char *host, const char *path,
                   double now)
{
    cookie c = { 0 };
    int rc = 0;
    size_t first = strcspn(line, ";");
    const char *eq = memchr(line, '=', first);
    if (!eq)
        return 0; /* RFC 6265 5.2 step 2: ignored */
    if (!(c.name = trim_dup(line, (size_t)(eq - line))) ||
        !(c.value = trim_dup(eq + 1, first - (size_t)(eq + 1 - line))))
        goto nomem;
    if (!*c.name || strlen(c.name) + strlen(c.value) > MAX_COOKIE_BYTES)
        goto out;
    bool has_max_age = false;
    double max_age_expiry = 0, expires = 0;
    const char *p = line + first;
    while (*p == ';') {
        p++;
        size_t n = strcspn(p, ";");
        const char *aeq = memchr(p, '=', n);
        char *an = trim_dup(p, aeq ? (size_t)(aeq - p) : n);
        char *av = aeq ? trim_dup(aeq + 1, n - (size_t)(aeq + 1 - p)) : silk_strdup("");
        if (!an || !av) {
            silk_free(an);
            silk_free(av);
            goto nomem;
        }
        if (strcasecmp(an, "expires") == 0) {
            time_t t = curl_getdate(av, NULL);
            if (t != -1)
                expires = t <= 0 ? 1 : (double)t;
        } else if (strcasecmp(an, "max-age") == 0) {
            const char *d = av;
            if (*d == '-')
                d++;
            bool ok = *d != '\0';
            for (const char *q = d; *q; q++)
                ok &= isdigit((unsigned char)*q) != 0;
            if (ok) {
                double delta = strtod(av, NULL);
                has_max_age = true;
                max_age_expiry = delta <= 0 ? 1 : now + delta;
            }
        } else if (strcasecmp(an, "domain") == 0) {
            char *dv = av;
            while (*dv == '.')
                dv++;
            if (*dv) {
                silk_free(c.domain);
                if (!(c.domain = silk_strdup(dv))) {
                    silk_free(an);
                    silk_free(av);
                    goto nomem;
                }
                for (char *q = c.domain; *q; q++)
                    *q = (char)tolower((unsigned char)*q);
            }
        } else if (strcasecmp(an, "path") == 0) {
            if (*av == '/') {
                silk_free(c.path);
                c.path = av;
                av = NULL;
            }
        } else if (strcasecmp(an, "secure") == 0) {
            c.secure = true;
        }
        silk_free(an);
        silk_free(av);
        p += n;
    }
    c.expiry = has_max_age ? max_age_expiry : expires;
    if (c.domain) {
        /* a Domain with no dot is a public suffix (or a TLD) unless it is
         * the host itself: then the cookie is host-only */
        if (!strchr(c.domain, '.') || is_ip(c.domain)) {
            if (strcasecmp(c.domain, host) != 0)
                goto out;
            c.host_only = true;
        } else if (!domain_match(host, c.domain)) {
            goto out;
        }
    } else {
        c.host_only = true;
        if (!(c.domain = silk_strdup(host)))
            goto nomem;
    }
    if (!c.path && !(c.path = default_path(path)))
        goto nomem;
    /* replace (keeping the creation time) or delete an existing one */
    uint64_t created = ++st->seq;
    for (size_t i = 0; i < j->len; i++) {
        cookie *o = &j->c[i];
        if (strcmp(o->name, c.name) == 0 && strcasecmp(o->domain, c.domain) == 0 && strcmp(o->path, c.path) == 0) {
            created = o->created;
            jar_remove(j, i);
            break;
        }
    }
    if (c.expiry && c.expiry <= now)
        goto out; /* expired: stored no more */
    c.created = created;
    /* bounds: the oldest of the domain, then of the jar, make room */
    size_t same = 0, oldest_dom = SIZE_MAX, oldest = SIZE_MAX;
    for (size_t i = 0; i < j->len; i++) {
        if (strcasecmp(j->c[i].domain, c.domain) == 0) {
            same++;
            if (oldest_dom == SIZE_MAX || j->c[i].created < j->c[oldest_dom].created)
                oldest_dom = i;
        }
        if (oldest == SIZE_MAX || j->c[i].created < j->c[oldest].created)
            oldest = i;
    }
    if (same >= MAX_PER_DOMAIN)
        jar_remove(j, oldest_dom);
    else if (j->len >= MAX_PER_JAR)
        jar_remove(j, oldest);
    if (j->len == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 8;
        cookie *items = silk_realloc(j->c, cap * sizeof *items);
        if (!items)
            goto nomem;
        j->c = items;
        j->cap = cap;
    }
    j->c[j->len++] = c;
    return 0;
nomem:
    rc = SILK_ENOMEM;
out:
    cookie_clear(&c);
    return rc;
}

static int cmp_send(const void *a, const void *b)
{
    const cookie *x = *(const cookie *const *)a, *y = *(const cookie *const *)b;
    size_t lx = strlen(x->path), ly = strlen(y->path);
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x->created < y->created ? -1 : x->created > y->created;
}

/* The Cookie header for url, or NULL when no cookie applies (*rc says
 * whether memory ran out). */
static char *jar_header(jar *j, const char *host, const char *path, bool https, double now, int *rc)
{
    *rc = 0;
    cookie **sel = NULL;
    size_t n = 0;
    for (size_t i = 0; i < j->len;) {
        cookie *c = &j->c[i];
        if (c->expiry && c->expiry <= now) {
            jar_remove(j, i);
            continue;
        }
        i++;
    }
    if (j->len && !(sel = silk_malloc(j->len * sizeof *sel))) {
        *rc = SILK_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < j->len; i++) {
        cookie *c = &j->c[i];
        bool dm = c->host_only ? strcasecmp(host, c->domain) == 0 : domain_match(host, c->domain);
        if (dm && path_match(path, c->path) && (!c->secure || https))
            sel[n++] = c;
    }
    char *out = NULL;
    if (n) {
        qsort(sel, n, sizeof *sel, cmp_send);
        silk_buf b = SILK_BUF_INIT;
        for (size_t i = 0; i < n; i++)
            silk_buf_printf(&b, "%s%s=%s", i ? "; " : "", sel[i]->name, sel[i]->value);
        out = silk_buf_detach(&b);
        silk_buf_free(&b);
        if (!out)
            *rc = SILK_ENOMEM;
    }
    silk_free(sel);
    return out;
}

/* ---- request.cookies ---- */

/* str() of a scalar, as Scrapy's _format_cookie; NULL for other kinds. */
static char *py_str(const silk_value *v)
{
    switch (v ? v->kind : SILK_V_NULL) {
    case SILK_V_STRING: return silk_strdup(v->u.s.ptr);
    case SILK_V_BOOL: return silk_strdup(v->u.b ? "True" : "False");
    case SILK_V_INT: return silk_asprintf("%lld", (long long)v->u.i);
    case SILK_V_DOUBLE: return silk_asprintf("%.17g", v->u.d);
    default: return NULL;
    }
}

static int merge_one(cookies_state *st, jar *j, const silk_request *req, const char *name, const silk_value *value,
                     const silk_value *path, const silk_value *domain, const char *host, const char *rpath,
                     double now)
{
    char *v = py_str(value);
    char *pth = path ? py_str(path) : NULL, *dom = domain ? py_str(domain) : NULL;
    int rc = 0;
    if (!name || !v) {
        char repr[2200];
        silk__request_repr(req, repr, sizeof repr);
        silk_log(SILK_LOG_WARNING, LOGGER, "Invalid cookie found in request %s: ('%s' is missing)", repr,
                 !name ? "name" : "value");
        goto out;
    }
    char *line = silk_asprintf("%s=%s%s%s%s%s", name, v, pth ? "; Path=" : "", pth ? pth : "", dom ? "; Domain=" : "",
                               dom ? dom : "");
    if (!line) {
        rc = SILK_ENOMEM;
        goto out;
    }
    rc = jar_set(st, j, line, host, rpath, now);
    silk_free(line);
out:
    silk_free(v);
    silk_free(pth);
    silk_free(dom);
    return rc;
}

static int merge_request_cookies(cookies_state *st, jar *j, const silk_request *req, const char *host,
                                 const char *path, double now)
{
    const silk_value *c = req->cookies;
    int rc = 0;
    if (!c)
        return 0;
    if (c->kind == SILK_V_DICT) {
        for (size_t i = 0; i < c->u.dict.len && !rc; i++)
            rc = merge_one(st, j, req, c->u.dict.entries[i].key, c->u.dict.entries[i].value, NULL, NULL, host, path,
                           now);
    } else if (c->kind == SILK_V_LIST) {
        for (size_t i = 0; i < c->u.list.len && !rc; i++) {
            const silk_value *d = c->u.list.items[i];
            if (d->kind != SILK_V_DICT)
                continue;
            char *name = py_str(silk_dict_get(d, "name"));
            rc = merge_one(st, j, req, name, silk_dict_get(d, "value"), silk_dict_get(d, "path"),
                           silk_dict_get(d, "domain"), host, path, now);
            silk_free(name);
        }
    }
    return rc;
}

/* ---- the middleware ---- */

static int cookies_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk__set_bool(env, "COOKIES_ENABLED", true))
        return SILK_ENOTFOUND;
    cookies_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    st->debug = silk__set_bool(env, "COOKIES_DEBUG", false);
    mw->state = st;
    return 0;
}

static void cookies_close(silk_downloader_mw *mw)
{
    cookies_state *st = mw->state;
    if (st) {
        jars_free(st->jars);
        silk_free(st);
    }
    mw->state = NULL;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* host, path and scheme of the request, into the caller's buffers when
 * they fit (*host / *path then point at them); false when it has no host
 * or memory ran out. Free with origin_free. */
typedef struct origin_t {
    char *host, *path;
    bool https;
    char hbuf[256], pbuf[512];
} origin_t;

static void origin_free(origin_t *o)
{
    if (o->host != o->hbuf)
        silk_free(o->host);
    if (o->path != o->pbuf)
        silk_free(o->path);
    o->host = o->path = NULL;
}

static bool origin(const silk_request *req, origin_t *o)
{
    o->host = o->path = NULL;
    if (silk__url_host_fast(req->url, o->hbuf, sizeof o->hbuf))
        o->host = o->hbuf;
    else if (silk_url_host(req->url, &o->host) || !o->host)
        return false;
    const char *p = strstr(req->url, "://");
    p = p ? p + 3 + strcspn(p + 3, "/?#") : req->url;
    size_t n = strcspn(p, "?#");
    if (n == 0 || *p != '/') {
        o->path = o->pbuf;
        strcpy(o->pbuf, "/");
    } else if (n < sizeof o->pbuf) {
        memcpy(o->pbuf, p, n);
        o->pbuf[n] = '\0';
        o->path = o->pbuf;
    } else if (!(o->path = silk_strndup(p, n))) {
        origin_free(o);
        return false;
    }
    o->https = strncasecmp(req->url, "https:", 6) == 0;
    return true;
}

static silk_mw_result cookies_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                      silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    cookies_state *st = mw->state;
    if (silk__meta_true(req->meta, "dont_merge_cookies"))
        return SILK_MW_CONTINUE;
    jar *j = jar_for(st, req);
    silk_headers_del(&req->headers, "Cookie");
    if (!j || (!j->len && !req->cookies))
        return SILK_MW_CONTINUE; /* nothing to send */
    origin_t o;
    if (!origin(req, &o))
        return SILK_MW_CONTINUE;
    double now = wall_now();
    merge_request_cookies(st, j, req, o.host, o.path, now);
    int rc;
    char *h = jar_header(j, o.host, o.path, o.https, now, &rc);
    if (h) {
        silk_headers_add(&req->headers, "Cookie", h);
        if (st->debug) {
            char repr[2200];
            silk__request_repr(req, repr, sizeof repr);
            silk_log(SILK_LOG_DEBUG, LOGGER, "Sending cookies to: %s\nCookie: %s\n", repr, h);
        }
    }
    silk_free(h);
    origin_free(&o);
    return SILK_MW_CONTINUE;
}

static silk_mw_result cookies_response(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                       silk_response *resp, silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    cookies_state *st = mw->state;
    if (silk__meta_true(req->meta, "dont_merge_cookies"))
        return SILK_MW_CONTINUE;
    size_t n = silk_headers_count(&resp->headers, "Set-Cookie");
    if (!n)
        return SILK_MW_CONTINUE;
    jar *j = jar_for(st, req);
    origin_t o;
    if (j && origin(req, &o)) {
        double now = wall_now();
        silk_buf dbg = SILK_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            const char *line = silk_headers_get_nth(&resp->headers, "Set-Cookie", i);
            jar_set(st, j, line, o.host, o.path, now);
            if (st->debug)
                silk_buf_printf(&dbg, "%sSet-Cookie: %s\n", i ? "\n" : "", line);
        }
        if (st->debug && dbg.data) {
            char repr[2200];
            snprintf(repr, sizeof repr, "<%d %s>", resp->status, resp->url);
            silk_log(SILK_LOG_DEBUG, LOGGER, "Received cookies from: %s\n%s", repr, dbg.data);
        }
        silk_buf_free(&dbg);
        origin_free(&o);
    }
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw cookies_mw = {
    .name = "CookiesMiddleware",
    .order = 700,
    .open = cookies_open,
    .close = cookies_close,
    .process_request = cookies_request,
    .process_response = cookies_response,
};

const silk_downloader_mw *silk_mw_cookies(void) { return &cookies_mw; }
