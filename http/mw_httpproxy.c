/* silk — HttpProxyMiddleware (order 750, HTTPPROXY_ENABLED).
 *
 * meta proxy ("http://user:pass@host:port") wins; a null meta proxy means
 * none. Otherwise the http_proxy / https_proxy environment variables
 * (lower case wins over upper case, HTTP_PROXY ignored under CGI, no_proxy
 * honoured) as Python's urllib reads them. Credentials in the proxy URL
 * become a Proxy-Authorization header (the downloader sends it to the
 * proxy only, never through a CONNECT tunnel to the site) and meta
 * _auth_proxy remembers which proxy they belong to, so that they are
 * dropped when the proxy changes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/mw_internal.h"
#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/middlewares.h"
#include "silk/url.h"

extern char **environ;

typedef struct proxy_entry {
    char *scheme;
    char *url;   /* "http://host:port" */
    char *creds; /* "Basic ..." or NULL */
} proxy_entry;

typedef struct proxy_state {
    proxy_entry *items;
    size_t len;
    char *no_proxy;
} proxy_state;

/* urllib's _parse_proxy + Scrapy's _get_proxy: *url and *creds (either may
 * be NULL on return for creds). Returns 0, SILK_EINVAL or SILK_ENOMEM. */
static int parse_proxy(const char *proxy, const char *orig_type, char **url, char **creds)
{
    *url = *creds = NULL;
    char *scheme = NULL;
    const char *authority = proxy, *rest = NULL;
    size_t alen = strlen(proxy);
    const char *colon = strchr(proxy, ':');
    const char *slash = strchr(proxy, '/');
    if (colon && colon > proxy && (!slash || slash > colon)) {
        rest = colon + 1;
        if (rest[0] == '/') {
            if (rest[1] != '/')
                return silk_error(SILK_EINVAL, "proxy URL with no authority: '%s'", proxy);
            if (!(scheme = silk_strndup(proxy, (size_t)(colon - proxy))))
                return SILK_ENOMEM;
            for (char *c = scheme; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            const char *at = strchr(rest, '@');
            const char *end = strchr(at ? at : rest + 2, '/');
            authority = rest + 2;
            alen = end ? (size_t)(end - authority) : strlen(authority);
        }
    }
    /* userinfo: everything before the last '@' */
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (authority[i] == '@')
            at = authority + i;
    const char *hostport = at ? at + 1 : authority;
    size_t hlen = alen - (size_t)(hostport - authority);
    const char *type = scheme ? scheme : (orig_type && *orig_type ? orig_type : "http");
    *url = silk_asprintf("%s://%.*s", type, (int)hlen, hostport);
    int rc = *url ? 0 : SILK_ENOMEM;
    if (!rc && at) {
        size_t ulen = (size_t)(at - authority);
        const char *pc = memchr(authority, ':', ulen);
        char *user = NULL, *pass = NULL;
        size_t ul = 0, pl = 0;
        rc = silk_url_unquote(authority, pc ? (size_t)(pc - authority) : ulen, &user, &ul);
        if (!rc)
            rc = silk_url_unquote(pc ? pc + 1 : "", pc ? ulen - (size_t)(pc - authority) - 1 : 0, &pass, &pl);
        if (!rc) {
            *creds = silk__basic_auth(user, pass);
            rc = *creds ? 0 : SILK_ENOMEM;
        }
        silk_free(user);
        silk_free(pass);
    }
    silk_free(scheme);
    if (rc) {
        silk_free(*url);
        silk_free(*creds);
        *url = *creds = NULL;
    }
    return rc;
}

static void proxy_close(silk_downloader_mw *mw)
{
    proxy_state *st = mw->state;
    if (st) {
        for (size_t i = 0; i < st->len; i++) {
            silk_free(st->items[i].scheme);
            silk_free(st->items[i].url);
            silk_free(st->items[i].creds);
        }
        silk_free(st->items);
        silk_free(st->no_proxy);
        silk_free(st);
    }
    mw->state = NULL;
}

static proxy_entry *find(proxy_state *st, const char *scheme)
{
    for (size_t i = 0; i < st->len; i++)
        if (strcmp(st->items[i].scheme, scheme) == 0)
            return &st->items[i];
    return NULL;
}

/* One pass of getproxies_environment: lower_only for its second pass. */
static int env_pass(proxy_state *st, bool lower_only, bool cgi)
{
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq - *e < 6 || strncasecmp(eq - 6, "_proxy", 6) != 0)
            continue;
        if (lower_only && strncmp(eq - 6, "_proxy", 6) != 0)
            continue;
        char *name = silk_strndup(*e, (size_t)(eq - 6 - *e));
        if (!name)
            return SILK_ENOMEM;
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        const char *value = eq + 1;
        int rc = 0;
        if (!lower_only && cgi && strcmp(name, "http") == 0) {
            silk_free(name);
            continue;
        }
        if (strcmp(name, "no") == 0) {
            if (*value || lower_only) {
                silk_free(st->no_proxy);
                st->no_proxy = *value ? silk_strdup(value) : NULL;
                rc = *value && !st->no_proxy ? SILK_ENOMEM : 0;
            }
            silk_free(name);
            if (rc)
                return rc;
            continue;
        }
        proxy_entry *p = find(st, name);
        if (!*value) {
            if (lower_only && p) { /* an empty lower-case variable removes it */
                silk_free(p->url);
                silk_free(p->creds);
                p->url = p->creds = NULL;
            }
            silk_free(name);
            continue;
        }
        char *url = NULL, *creds = NULL;
        if (parse_proxy(value, name, &url, &creds)) {
            silk_free(name); /* unparsable values are skipped, as Scrapy does */
            continue;
        }
        if (!p) {
            proxy_entry *items = silk_realloc(st->items, (st->len + 1) * sizeof *items);
            if (!items) {
                silk_free(name);
                silk_free(url);
                silk_free(creds);
                return SILK_ENOMEM;
            }
            st->items = items;
            p = &st->items[st->len++];
            p->scheme = name;
            name = NULL;
        } else {
            silk_free(p->url);
            silk_free(p->creds);
        }
        p->url = url;
        p->creds = creds;
        silk_free(name);
    }
    return 0;
}

static int proxy_open(silk_downloader_mw *mw, const silk_mw_env *env)
{
    if (!silk__set_bool(env, "HTTPPROXY_ENABLED", true))
        return SILK_ENOTFOUND;
    proxy_state *st = silk_calloc(1, sizeof *st);
    if (!st)
        return SILK_ENOMEM;
    mw->state = st;
    bool cgi = getenv("REQUEST_METHOD") != NULL;
    int rc = env_pass(st, false, cgi);
    if (!rc)
        rc = env_pass(st, true, cgi);
    return rc;
}

/* urllib's proxy_bypass_environment(hostname). */
static bool bypass(const proxy_state *st, const char *host)
{
    if (!st->no_proxy)
        return false;
    if (strcmp(st->no_proxy, "*") == 0)
        return true;
    const char *p = st->no_proxy;
    size_t hl = strlen(host);
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *name = p;
        size_t nl = n;
        while (nl && isspace((unsigned char)*name)) {
            name++;
            nl--;
        }
        while (nl && isspace((unsigned char)name[nl - 1]))
            nl--;
        while (nl && *name == '.') {
            name++;
            nl--;
        }
        if (nl && ((hl == nl && strncasecmp(host, name, nl) == 0) ||
                   (hl > nl && host[hl - nl - 1] == '.' && strncasecmp(host + hl - nl, name, nl) == 0)))
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

static silk_mw_result proxy_request(silk_downloader_mw *mw, silk_fetch *fetch, silk_request *req,
                                    silk_mw_out *out)
{
    (void)fetch;
    (void)out;
    proxy_state *st = mw->state;
    char *url = NULL, *creds = NULL;
    const char *use_url = NULL, *use_creds = NULL;
    silk_value *meta = req->meta;
    const silk_value *mp = silk_dict_get(meta, "proxy");
    if (mp) {
        if (mp->kind == SILK_V_STRING && mp->u.s.len && parse_proxy(mp->u.s.ptr, "", &url, &creds) == 0) {
            use_url = url;
            use_creds = creds;
        }
    } else if (st->len) {
        char *scheme = NULL, *host = NULL;
        silk_url_scheme(req->url, &scheme);
        silk_url_host(req->url, &host);
        if (scheme) {
            const proxy_entry *p = find(st, scheme);
            bool http = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
            if (p && p->url && (!http || !bypass(st, host ? host : ""))) {
                use_url = p->url;
                use_creds = p->creds;
            }
        }
        silk_free(scheme);
        silk_free(host);
    }
    /* Scrapy's _set_proxy_and_creds */
    if (use_url) {
        meta = silk__meta(req);
        if (meta)
            silk_dict_set_str(meta, "proxy", use_url);
    } else if (mp && mp->kind != SILK_V_NULL) {
        silk_dict_set(meta, "proxy", silk_value_new_null());
    }
    const char *auth_proxy = silk_dict_get_str(req->meta, "_auth_proxy", NULL);
    if (use_creds) {
        silk_headers_set(&req->headers, "Proxy-Authorization", use_creds);
        if ((meta = silk__meta(req)))
            silk_dict_set_str(meta, "_auth_proxy", use_url);
    } else if (silk_dict_get(req->meta, "_auth_proxy")) {
        if (!use_url || !auth_proxy || strcmp(use_url, auth_proxy) != 0) {
            silk_headers_del(&req->headers, "Proxy-Authorization");
            silk_dict_del(req->meta, "_auth_proxy");
        }
    } else if (silk_headers_count(&req->headers, "Proxy-Authorization")) {
        if (use_url) {
            if ((meta = silk__meta(req)))
                silk_dict_set_str(meta, "_auth_proxy", use_url);
        } else {
            silk_headers_del(&req->headers, "Proxy-Authorization");
        }
    }
    silk_free(url);
    silk_free(creds);
    return SILK_MW_CONTINUE;
}

static const silk_downloader_mw proxy_mw = {
    .name = "HttpProxyMiddleware",
    .order = 750,
    .open = proxy_open,
    .close = proxy_close,
    .process_request = proxy_request,
};

const silk_downloader_mw *silk_mw_httpproxy(void) { return &proxy_mw; }
