/* silk — Scrapy's responsetypes: which Response subtype fits a response. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "silk/downloader.h"

static const struct {
    const char *mime;
    silk_type *type;
} classes[] = {
    { "text/html", &silk_type_html_response },
    { "application/atom+xml", &silk_type_xml_response },
    { "application/rdf+xml", &silk_type_xml_response },
    { "application/rss+xml", &silk_type_xml_response },
    { "application/xhtml+xml", &silk_type_html_response },
    { "application/vnd.wap.xhtml+xml", &silk_type_html_response },
    { "application/xml", &silk_type_xml_response },
    { "application/json", &silk_type_text_response },
    { "application/x-json", &silk_type_text_response },
    { "application/json-amazonui-streaming", &silk_type_text_response },
    { "application/javascript", &silk_type_text_response },
    { "application/x-javascript", &silk_type_text_response },
    { "text/xml", &silk_type_xml_response },
    { "text/*", &silk_type_text_response },
};

/* Python's mimetypes for the extensions a crawler meets. */
static const struct {
    const char *ext;
    const char *mime;
} extensions[] = {
    { ".html", "text/html" }, { ".htm", "text/html" },   { ".xhtml", "application/xhtml+xml" },
    { ".xml", "text/xml" },   { ".rss", "application/rss+xml" }, { ".atom", "application/atom+xml" },
    { ".txt", "text/plain" }, { ".json", "application/json" }, { ".js", "application/javascript" },
    { ".css", "text/css" },   { ".csv", "text/csv" },     { ".rdf", "application/rdf+xml" },
    { ".pdf", "application/pdf" }, { ".gz", "application/gzip" }, { ".zip", "application/zip" },
    { ".png", "image/png" },  { ".jpg", "image/jpeg" },   { ".jpeg", "image/jpeg" },
    { ".gif", "image/gif" },
};

static silk_type *from_mimetype(const char *mime, size_t n)
{
    if (!mime || !n)
        return &silk_type_response;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strlen(classes[i].mime) == n && strncasecmp(classes[i].mime, mime, n) == 0)
            return classes[i].type;
    const char *slash = memchr(mime, '/', n);
    size_t base = slash ? (size_t)(slash - mime) : n;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        const char *c = classes[i].mime;
        if (strncasecmp(c, mime, base) == 0 && strcmp(c + base, "/*") == 0)
            return classes[i].type;
    }
    return &silk_type_response;
}

static silk_type *from_content_type(const char *ct)
{
    while (isspace((unsigned char)*ct))
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && isspace((unsigned char)ct[n - 1]))
        n--;
    return from_mimetype(ct, n);
}

static silk_type *from_filename(const char *name, size_t n)
{
    /* the path's last extension, ignoring query and fragment */
    size_t end = 0;
    while (end < n && name[end] != '?' && name[end] != '#')
        end++;
    size_t dot = end;
    while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/')
        dot--;
    if (dot == 0 || name[dot - 1] != '.')
        return &silk_type_response;
    dot--;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        if (strlen(extensions[i].ext) == end - dot && strncasecmp(name + dot, extensions[i].ext, end - dot) == 0)
            return from_mimetype(extensions[i].mime, strlen(extensions[i].mime));
    return &silk_type_response;
}

static bool contains_ci(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

static silk_type *from_body(const char *body, size_t len)
{
    size_t n = len < 5000 ? len : 5000;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c < 32 && c != 0 && c != '\t' && c != '\n' && c != '\r')
            return &silk_type_response; /* application/octet-stream */
    }
    if (contains_ci(body, n, "<html>"))
        return &silk_type_html_response;
    if (contains_ci(body, n, "<?xml"))
        return &silk_type_xml_response;
    if (contains_ci(body, n, "<!doctype html>"))
        return &silk_type_html_response;
    return &silk_type_text_response;
}

silk_type *silk_response_type_for(const silk_headers *headers, const char *url, const char *body,
                                  size_t len)
{
    silk_type *t = &silk_type_response;
    if (headers) {
        const char *ct = silk_headers_get(headers, "Content-Type");
        const char *ce = silk_headers_get(headers, "Content-Encoding");
        if (ct && !ce)
            t = from_content_type(ct);
        if (t == &silk_type_response) {
            const char *cd = silk_headers_get(headers, "Content-Disposition");
            const char *fn = cd ? strstr(cd, "filename=") : NULL;
            if (fn) {
                fn += 9;
                size_t n = strlen(fn);
                while (n && (fn[n - 1] == '"' || fn[n - 1] == '\'' || isspace((unsigned char)fn[n - 1])))
                    n--;
                while (n && (*fn == '"' || *fn == '\'')) {
                    fn++;
                    n--;
                }
                t = from_filename(fn, n);
            }
        }
    }
    if (t == &silk_type_response && url)
        t = from_filename(url, strlen(url));
    if (t == &silk_type_response && body)
        t = from_body(body, len);
    return t;
}
