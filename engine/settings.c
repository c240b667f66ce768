/* silk — settings. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/settings.h"
#include "silk/silk.h"

typedef struct setting {
    char *key;
    silk_value *value;
    int priority;
} setting;

struct silk_settings {
    setting *items;
    size_t len, cap;
};

/* Defaults: name and JSON text. Scrapy's values where silk has the feature. */
static const struct {
    const char *key;
    const char *json;
} defaults[] = {
    { "BOT_NAME", "\"silkbot\"" },
    { "CLOSESPIDER_ERRORCOUNT", "0" },
    { "CLOSESPIDER_ITEMCOUNT", "0" },
    { "CLOSESPIDER_PAGECOUNT", "0" },
    { "CLOSESPIDER_TIMEOUT", "0" },
    { "COMPRESSION_ENABLED", "true" },
    { "CONCURRENT_ITEMS", "100" },
    { "CONCURRENT_REQUESTS", "16" },
    { "CONCURRENT_REQUESTS_PER_DOMAIN", "8" },
    { "CONCURRENT_REQUESTS_PER_IP", "0" },
    { "COOKIES_DEBUG", "false" },
    { "COOKIES_ENABLED", "true" },
    { "DEFAULT_REQUEST_HEADERS",
      "{\"Accept\": \"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\", "
      "\"Accept-Language\": \"en\"}" },
    { "DEPTH_LIMIT", "0" },
    { "DEPTH_PRIORITY", "0" },
    { "DEPTH_STATS_VERBOSE", "false" },
    { "DNSCACHE_ENABLED", "true" },
    { "DNS_TIMEOUT", "60" },
    { "DOWNLOADER_MIDDLEWARES", "{}" },
    { "DOWNLOADER_STATS", "true" },
    { "DOWNLOAD_CA_CERTS", "null" },
    { "DOWNLOAD_DELAY", "0" },
    { "DOWNLOAD_FAIL_ON_DATALOSS", "true" },
    { "DOWNLOAD_MAXSIZE", "1073741824" },
    { "DOWNLOAD_TIMEOUT", "180" },
    { "DOWNLOAD_VERIFY_CERTIFICATES", "false" },
    { "DOWNLOAD_WARNSIZE", "33554432" },
    { "DUPEFILTER_DEBUG", "false" },
    { "FEEDS", "{}" },
    { "FEED_EXPORT_BATCH_ITEM_COUNT", "0" },
    { "FEED_EXPORT_ENCODING", "null" },
    { "FEED_EXPORT_FIELDS", "null" },
    { "FEED_EXPORT_INDENT", "0" },
    { "FEED_FORMAT", "\"jsonlines\"" },
    { "FEED_STORE_EMPTY", "false" },
    { "FEED_URI", "null" },
    { "HTTPCACHE_ENABLED", "false" },
    { "HTTPERROR_ALLOW_ALL", "false" },
    { "HTTPERROR_ALLOWED_CODES", "[]" },
    { "HTTPPROXY_ENABLED", "true" },
    { "JOBDIR", "null" },
    { "LOGSTATS_INTERVAL", "60.0" },
    { "LOG_ENABLED", "true" },
    { "LOG_FILE", "null" },
    { "LOG_LEVEL", "\"DEBUG\"" },
    { "MALLOC_TRIM_THRESHOLD_MB", "32" },
    { "MEMUSAGE_CHECK_INTERVAL_SECONDS", "60.0" },
    { "MEMUSAGE_ENABLED", "true" },
    { "MEMUSAGE_LIMIT_MB", "0" },
    { "MEMUSAGE_WARNING_MB", "0" },
    { "METAREFRESH_ENABLED", "true" },
    { "METAREFRESH_IGNORE_TAGS", "[]" },
    { "METAREFRESH_MAXDELAY", "100" },
    { "RANDOMIZE_DOWNLOAD_DELAY", "true" },
    { "REDIRECT_ENABLED", "true" },
    { "REDIRECT_MAX_TIMES", "20" },
    { "REDIRECT_PRIORITY_ADJUST", "2" },
    { "REFERER_ENABLED", "true" },
    { "RETRY_ENABLED", "true" },
    { "RETRY_HTTP_CODES", "[500, 502, 503, 504, 522, 524, 408, 429]" },
    { "RETRY_PRIORITY_ADJUST", "-1" },
    { "RETRY_TIMES", "2" },
    { "ROBOTSTXT_MAX_CRAWL_DELAY", "60" },
    { "ROBOTSTXT_OBEY", "true" },
    { "ROBOTSTXT_RETRY_DELAY", "30" },
    { "ROBOTSTXT_RETRY_TIMES", "2" },
    { "ROBOTSTXT_USER_AGENT", "null" },
    { "SCHEDULER_MEMORY_QUEUE", "\"lifo\"" },
    { "SCRAPER_PARSE_THREADS", "0" }, /* -1: the cores beyond the loop's, at most 4 */
    { "SCRAPER_SLOT_MAX_ACTIVE_SIZE", "5000000" },
    { "STATS_DUMP", "true" },
    { "TELNETCONSOLE_ENABLED", "true" },
    { "TELNETCONSOLE_HOST", "\"127.0.0.1\"" },
    { "TELNETCONSOLE_MAX_CONNECTIONS", "8" },
    { "TELNETCONSOLE_PASSWORD", "null" },
    { "TELNETCONSOLE_PORT", "[6023, 6073]" },
    { "TELNETCONSOLE_USERNAME", "\"silk\"" },
    { "TRACKREF_REPORT_INTERVAL", "0" },
    { "URLLENGTH_LIMIT", "2083" },
    { "USER_AGENT", NULL }, /* "silk/<version>", set at creation */
};

static setting *find(const silk_settings *s, const char *key)
{
    for (size_t i = 0; i < s->len; i++)
        if (strcmp(s->items[i].key, key) == 0)
            return &s->items[i];
    return NULL;
}

bool silk_settings_is_known(const char *key)
{
    for (size_t i = 0; key && i < sizeof defaults / sizeof defaults[0]; i++)
        if (strcmp(defaults[i].key, key) == 0)
            return true;
    return false;
}

int silk_settings_set_value(silk_settings *s, const char *key, silk_value *v, int priority)
{
    if (!v)
        return SILK_ENOMEM;
    if (!key || !*key) {
        silk_value_free(v);
        return silk_error(SILK_EINVAL, "a setting needs a name");
    }
    setting *e = find(s, key);
    if (e) {
        if (priority < e->priority) {
            silk_value_free(v);
            return 0;
        }
        silk_value_free(e->value);
        e->value = v;
        e->priority = priority;
        return 0;
    }
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        setting *items = silk_realloc(s->items, cap * sizeof *items);
        if (!items) {
            silk_value_free(v);
            return SILK_ENOMEM;
        }
        s->items = items;
        s->cap = cap;
    }
    char *k = silk_strdup(key);
    if (!k) {
        silk_value_free(v);
        return SILK_ENOMEM;
    }
    s->items[s->len++] = (setting){ k, v, priority };
    return 0;
}

int silk_settings_set(silk_settings *s, const char *key, const char *text, int priority)
{
    return silk_settings_set_value(s, key, silk_value_new_string(text ? text : ""), priority);
}

int silk_settings_set_pair(silk_settings *s, const char *pair, int priority)
{
    const char *eq = pair ? strchr(pair, '=') : NULL;
    if (!eq || eq == pair)
        return silk_error(SILK_EINVAL, "invalid setting '%s': expected NAME=VALUE", pair ? pair : "");
    char *key = silk_strndup(pair, (size_t)(eq - pair));
    if (!key)
        return SILK_ENOMEM;
    int rc = silk_settings_set(s, key, eq + 1, priority);
    silk_free(key);
    return rc;
}

silk_settings *silk_settings_new(void)
{
    silk_settings *s = silk_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        silk_value *v = NULL;
        if (defaults[i].json) {
            if (silk_json_decode(defaults[i].json, strlen(defaults[i].json), &v))
                goto err;
        } else {
            char ua[64];
            snprintf(ua, sizeof ua, "silk/%s", silk_version());
            v = silk_value_new_string(ua);
        }
        if (silk_settings_set_value(s, defaults[i].key, v, SILK_PRIO_DEFAULT))
            goto err;
    }
    return s;
err:
    silk_settings_free(s);
    return NULL;
}

void silk_settings_free(silk_settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->len; i++) {
        silk_free(s->items[i].key);
        silk_value_free(s->items[i].value);
    }
    silk_free(s->items);
    silk_free(s);
}

silk_settings *silk_settings_copy(const silk_settings *src)
{
    silk_settings *s = silk_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (size_t i = 0; i < src->len; i++) {
        if (silk_settings_set_value(s, src->items[i].key, silk_value_copy(src->items[i].value),
                                    src->items[i].priority)) {
            silk_settings_free(s);
            return NULL;
        }
    }
    return s;
}

const silk_value *silk_settings_get(const silk_settings *s, const char *key)
{
    setting *e = find(s, key);
    return e && e->value->kind != SILK_V_NULL ? e->value : NULL;
}

int silk_settings_priority(const silk_settings *s, const char *key)
{
    setting *e = find(s, key);
    return e ? e->priority : -1;
}

static int type_error(const char *key, const char *want, const silk_value *v)
{
    if (v->kind == SILK_V_STRING)
        return silk_error(SILK_ETYPE, "setting %s: expected %s, got '%s'", key, want, v->u.s.ptr);
    return silk_error(SILK_ETYPE, "setting %s: expected %s, got a %s", key, want,
                      silk_value_kind_name(v->kind));
}

/* The text of a string value without surrounding blanks, in buf. */
static const char *trimmed(const silk_value *v, char *buf, size_t cap)
{
    const char *p = v->u.s.ptr;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

int silk_settings_get_int(const silk_settings *s, const char *key, int64_t *out)
{
    const silk_value *v = silk_settings_get(s, key);
    char buf[64], *end;
    if (!v)
        return SILK_ENOTFOUND;
    switch (v->kind) {
    case SILK_V_INT: *out = v->u.i; return 0;
    case SILK_V_BOOL: *out = v->u.b; return 0;
    case SILK_V_DOUBLE:
        if (!isfinite(v->u.d))
            break;
        *out = (int64_t)v->u.d; /* Python int(float) truncates */
        return 0;
    case SILK_V_STRING: {
        const char *t = trimmed(v, buf, sizeof buf);
        errno = 0;
        long long n = strtoll(t, &end, 10);
        if (*t && !*end && errno == 0) {
            *out = n;
            return 0;
        }
        break;
    }
    default: break;
    }
    return type_error(key, "an integer", v);
}

int silk_settings_get_double(const silk_settings *s, const char *key, double *out)
{
    const silk_value *v = silk_settings_get(s, key);
    char buf[64], *end;
    if (!v)
        return SILK_ENOTFOUND;
    switch (v->kind) {
    case SILK_V_INT: *out = (double)v->u.i; return 0;
    case SILK_V_DOUBLE: *out = v->u.d; return 0;
    case SILK_V_BOOL: *out = v->u.b; return 0;
    case SILK_V_STRING: {
        const char *t = trimmed(v, buf, sizeof buf);
        errno = 0;
        double d = strtod(t, &end);
        if (*t && !*end && errno == 0) {
            *out = d;
            return 0;
        }
        break;
    }
    default: break;
    }
    return type_error(key, "a number", v);
}

int silk_settings_get_bool(const silk_settings *s, const char *key, bool *out)
{
    const silk_value *v = silk_settings_get(s, key);
    char buf[16];
    if (!v)
        return SILK_ENOTFOUND;
    switch (v->kind) {
    case SILK_V_BOOL: *out = v->u.b; return 0;
    case SILK_V_INT:
        if (v->u.i == 0 || v->u.i == 1) {
            *out = v->u.i;
            return 0;
        }
        break;
    case SILK_V_STRING: {
        const char *t = trimmed(v, buf, sizeof buf);
        if (!strcmp(t, "1") || !strcmp(t, "True") || !strcmp(t, "true")) {
            *out = true;
            return 0;
        }
        if (!strcmp(t, "0") || !strcmp(t, "False") || !strcmp(t, "false")) {
            *out = false;
            return 0;
        }
        break;
    }
    default: break;
    }
    return type_error(key, "a boolean (0/1, True/False or true/false)", v);
}

int silk_settings_get_str(const silk_settings *s, const char *key, const char **out)
{
    const silk_value *v = silk_settings_get(s, key);
    if (!v)
        return SILK_ENOTFOUND;
    if (v->kind != SILK_V_STRING)
        return type_error(key, "a string", v);
    *out = v->u.s.ptr;
    return 0;
}

int silk_settings_get_list(const silk_settings *s, const char *key, silk_value **out)
{
    const silk_value *v = silk_settings_get(s, key);
    *out = NULL;
    if (!v)
        return SILK_ENOTFOUND;
    if (v->kind == SILK_V_LIST) {
        *out = silk_value_copy(v);
        return *out ? 0 : SILK_ENOMEM;
    }
    if (v->kind != SILK_V_STRING)
        return type_error(key, "a list", v);
    const char *t = v->u.s.ptr;
    while (isspace((unsigned char)*t))
        t++;
    if (*t == '[') {
        silk_value *l = NULL;
        if (silk_json_decode(t, strlen(t), &l) || l->kind != SILK_V_LIST) {
            silk_value_free(l);
            return type_error(key, "a list (a,b or a JSON array)", v);
        }
        *out = l;
        return 0;
    }
    silk_value *l = silk_value_new_list();
    if (!l)
        return SILK_ENOMEM;
    /* Scrapy: value.split(",") — an empty string is [""]; silk treats it as
     * the empty list, which is what "-s X=" means (docs/compat.md). */
    const char *p = v->u.s.ptr;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (silk_list_push(l, silk_value_new_stringn(p, n))) {
            silk_value_free(l);
            return SILK_ENOMEM;
        }
        p += n + (comma != NULL);
    }
    *out = l;
    return 0;
}

int silk_settings_get_dict(const silk_settings *s, const char *key, silk_value **out)
{
    const silk_value *v = silk_settings_get(s, key);
    *out = NULL;
    if (!v)
        return SILK_ENOTFOUND;
    if (v->kind == SILK_V_DICT) {
        *out = silk_value_copy(v);
        return *out ? 0 : SILK_ENOMEM;
    }
    silk_value *d = NULL;
    if (v->kind != SILK_V_STRING || silk_json_decode(v->u.s.ptr, v->u.s.len, &d) ||
        d->kind != SILK_V_DICT) {
        silk_value_free(d);
        return type_error(key, "a dict (a JSON object)", v);
    }
    *out = d;
    return 0;
}

static void log_bad(int rc, const char *key)
{
    if (rc != SILK_ENOTFOUND)
        silk_log(SILK_LOG_ERROR, "silk.settings", "%s", silk_last_error());
    (void)key;
}

int64_t silk_settings_int(const silk_settings *s, const char *key, int64_t def)
{
    int64_t v;
    int rc = silk_settings_get_int(s, key, &v);
    if (rc)
        log_bad(rc, key);
    return rc ? def : v;
}

double silk_settings_double(const silk_settings *s, const char *key, double def)
{
    double v;
    int rc = silk_settings_get_double(s, key, &v);
    if (rc)
        log_bad(rc, key);
    return rc ? def : v;
}

bool silk_settings_bool(const silk_settings *s, const char *key, bool def)
{
    bool v;
    int rc = silk_settings_get_bool(s, key, &v);
    if (rc)
        log_bad(rc, key);
    return rc ? def : v;
}

const char *silk_settings_str(const silk_settings *s, const char *key, const char *def)
{
    const char *v;
    int rc = silk_settings_get_str(s, key, &v);
    if (rc)
        log_bad(rc, key);
    return rc ? def : v;
}

void silk_settings_foreach(const silk_settings *s,
                           void (*fn)(const char *key, const silk_value *v, int priority, void *arg),
                           void *arg)
{
    for (size_t i = 0; i < s->len; i++)
        fn(s->items[i].key, s->items[i].value, s->items[i].priority, arg);
}
