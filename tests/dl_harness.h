/* Shared by test_downloader.c and test_middlewares.c: the embedded test
 * server and a downloader on ONE event_base, a fetch collector, a "mini
 * engine" that reschedules the requests middlewares hand back (retries,
 * redirects), and a log capture. Header-only: each test file includes it
 * once. */
#ifndef DL_HARNESS_H
#define DL_HARNESS_H

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "silk_test.h"
#include "silk/downloader.h"
#include "silk/http.h"
#include "silk/middlewares.h"
#include "silk/settings.h"
#include "silk/stats.h"
#include "silk/testserver.h"

#define DL_MAX_OUT 512
#define DL_FN static __attribute__((unused))

typedef struct dl_outcome {
    struct dl_h *h;
    silk_request *first;  /* the request as fetched first (a reference) */
    silk_request *req;    /* the request the final result belongs to (a ref) */
    silk_fetch_kind kind;
    silk_response *resp;  /* a reference, or NULL */
    silk_request *next;   /* a reference: REQUEST result not followed */
    char type[160];
    char msg[1024];
    int code;
    int hops;             /* requests followed (retries + redirects) */
    double done_at;       /* seconds since the harness started */
    bool done;
} dl_outcome;

typedef struct dl_h {
    struct event_base *base;
    silk_testserver *srv;
    silk_testserver *srv2; /* a second server when a test needs one */
    silk_settings *settings;
    silk_stats *stats;
    silk_downloader *d;
    silk_mw_env env;
    dl_outcome out[DL_MAX_OUT];
    size_t nout;
    size_t outstanding;
    bool follow;          /* refetch what middlewares hand back */
    size_t max_transferring;
    struct event *watchdog;
    struct event *sampler;
    bool timed_out;
    uint64_t t0;
    /* called when a fetch finishes (feeding loops) */
    void (*on_done)(struct dl_h *h, dl_outcome *o);
    void *user;
} dl_h;

/* ---- log capture ---- */

static char dl_log[1 << 16];
static size_t dl_log_len;

DL_FN void dl_log_sink(silk_log_level level, const char *logger, const char *msg, void *arg)
{
    (void)arg;
    int n = snprintf(dl_log + dl_log_len, sizeof dl_log - dl_log_len, "[%s] %s: %s\n", logger,
                     silk_log_level_name(level), msg);
    if (n > 0 && dl_log_len + (size_t)n < sizeof dl_log)
        dl_log_len += (size_t)n;
    if (getenv("DL_VERBOSE"))
        fprintf(stderr, "[%s] %s: %s\n", logger, silk_log_level_name(level), msg);
}

DL_FN void dl_log_reset(void)
{
    dl_log_len = 0;
    dl_log[0] = '\0';
}

DL_FN bool dl_log_has(const char *s) { return strstr(dl_log, s) != NULL; }

DL_FN size_t dl_log_count(const char *s)
{
    size_t n = 0;
    for (const char *p = dl_log; (p = strstr(p, s)); p += strlen(s))
        n++;
    return n;
}

/* ---- time ---- */

DL_FN double dl_now(const dl_h *h) { return (double)(silk_now_ns() - h->t0) / 1e9; }

/* ---- setup ---- */

DL_FN void dl_sample(evutil_socket_t fd, short what, void *arg)
{
    dl_h *h = arg;
    (void)fd;
    (void)what;
    if (h->d) {
        size_t t = silk_downloader_transferring(h->d);
        if (t > h->max_transferring)
            h->max_transferring = t;
    }
}

DL_FN void dl_watchdog(evutil_socket_t fd, short what, void *arg)
{
    dl_h *h = arg;
    (void)fd;
    (void)what;
    h->timed_out = true;
    event_base_loopbreak(h->base);
}

/* Server (opt may be NULL), settings ("KEY=VALUE", NULL-terminated; may be
 * NULL), stats, downloader. No middleware is added. */
DL_FN void dl_setup_opts(dl_h *h, const silk_testserver_options *opt, const char *const *settings)
{
    memset(h, 0, sizeof *h);
    /* the server shares the process: a client that hangs up mid-body must
     * not kill it with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    dl_log_reset();
    silk_log_set_sink(dl_log_sink, NULL);
    silk_log_set_level(SILK_LOG_DEBUG);
    h->t0 = silk_now_ns();
    h->base = event_base_new();
    assert_non_null(h->base);
    assert_int_equal(silk_testserver_start(h->base, opt, &h->srv), 0);
    h->settings = silk_settings_new();
    assert_non_null(h->settings);
    for (size_t i = 0; settings && settings[i]; i++)
        assert_int_equal(silk_settings_set_pair(h->settings, settings[i], SILK_PRIO_CMDLINE), 0);
    h->stats = silk_stats_new();
    assert_non_null(h->stats);
    int rc = silk_downloader_new(h->base, h->settings, h->stats, &h->d);
    if (rc)
        fprintf(stderr, "silk_downloader_new: %s\n", silk_last_error());
    assert_int_equal(rc, 0);
    h->env = (silk_mw_env){ h->settings, h->stats, h->base, h->d, "test", NULL };
    h->watchdog = evtimer_new(h->base, dl_watchdog, h);
    h->sampler = event_new(h->base, -1, EV_PERSIST, dl_sample, h);
    struct timeval tv = { 0, 2000 };
    event_add(h->sampler, &tv);
}

DL_FN void dl_setup(dl_h *h, const char *const *settings) { dl_setup_opts(h, NULL, settings); }

DL_FN void dl_add(dl_h *h, const silk_downloader_mw *tmpl)
{
    int rc = silk_downloader_add_middleware_copy(h->d, tmpl, &h->env);
    if (rc)
        fprintf(stderr, "add middleware %s: %s\n", tmpl->name, silk_last_error());
    assert_int_equal(rc, 0);
}

DL_FN void dl_outcome_clear(dl_outcome *o)
{
    silk_unref(o->first);
    silk_unref(o->req);
    silk_unref(o->resp);
    silk_unref(o->next);
    memset(o, 0, sizeof *o);
}

DL_FN void dl_teardown(dl_h *h)
{
    for (size_t i = 0; i < h->nout; i++)
        dl_outcome_clear(&h->out[i]);
    silk_downloader_free(h->d);
    silk_testserver_free(h->srv);
    silk_testserver_free(h->srv2);
    silk_settings_free(h->settings);
    silk_stats_free(h->stats);
    event_free(h->watchdog);
    event_free(h->sampler);
    event_base_free(h->base);
    silk_log_set_sink(NULL, NULL);
    silk_log_set_level(SILK_LOG_INFO);
}

/* ---- fetching ---- */

DL_FN void dl_done(void *arg, silk_request *req, const silk_fetch_result *res)
{
    dl_outcome *o = arg;
    dl_h *h = o->h;
    if (res->kind == SILK_FETCH_REQUEST && h->follow && res->request) {
        o->hops++;
        assert_int_equal(silk_downloader_fetch(h->d, res->request, dl_done, o), 0);
        return;
    }
    silk_unref(o->req);
    o->req = silk_ref(req);
    o->kind = res->kind;
    o->resp = silk_ref(res->response);
    o->next = silk_ref(res->request);
    if (res->failure) {
        snprintf(o->type, sizeof o->type, "%s", res->failure->type);
        snprintf(o->msg, sizeof o->msg, "%s", res->failure->message);
        o->code = res->failure->code;
    }
    o->done_at = dl_now(h);
    o->done = true;
    h->outstanding--;
    if (h->on_done)
        h->on_done(h, o);
    if (h->outstanding == 0)
        event_base_loopbreak(h->base);
}

/* Starts fetching req (the harness takes the caller's reference). */
DL_FN dl_outcome *dl_fetch_req(dl_h *h, silk_request *req)
{
    assert_true(h->nout < DL_MAX_OUT);
    dl_outcome *o = &h->out[h->nout++];
    memset(o, 0, sizeof *o);
    o->h = h;
    o->first = req;
    h->outstanding++;
    int rc = silk_downloader_fetch(h->d, req, dl_done, o);
    assert_int_equal(rc, 0);
    assert_false(o->done); /* never called back inside the fetch call */
    size_t t = silk_downloader_transferring(h->d);
    if (t > h->max_transferring)
        h->max_transferring = t;
    return o;
}

DL_FN silk_request *dl_req(const char *url)
{
    silk_request *r = NULL;
    int rc = silk_request_new(url, &r);
    if (rc)
        fprintf(stderr, "silk_request_new(%s): %s\n", url, silk_last_error());
    assert_int_equal(rc, 0);
    return r;
}

/* url may be a path ("/p/1.html"): it is joined to the server's URL. */
DL_FN silk_request *dl_req_path(dl_h *h, const char *path)
{
    char url[2048];
    if (path[0] != '/')
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "%s%s", silk_testserver_url(h->srv), path);
    return dl_req(url);
}

DL_FN dl_outcome *dl_fetch(dl_h *h, const char *path) { return dl_fetch_req(h, dl_req_path(h, path)); }

/* Runs the loop until every fetch is done; fails after timeout seconds. */
DL_FN void dl_run(dl_h *h, double timeout)
{
    if (h->outstanding == 0)
        return;
    struct timeval tv = { (time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6) };
    h->timed_out = false;
    evtimer_add(h->watchdog, &tv);
    while (h->outstanding > 0 && !h->timed_out)
        event_base_loop(h->base, EVLOOP_ONCE);
    evtimer_del(h->watchdog);
    if (h->timed_out)
        fprintf(stderr, "dl_run: %zu fetches still outstanding after %.1f s\n", h->outstanding, timeout);
    assert_false(h->timed_out);
}

/* Runs the loop for about seconds (lets background work happen). */
DL_FN void dl_spin(dl_h *h, double seconds)
{
    struct timeval tv = { (time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6) };
    h->timed_out = false;
    evtimer_add(h->watchdog, &tv);
    while (!h->timed_out)
        event_base_loop(h->base, EVLOOP_ONCE);
}

DL_FN int64_t dl_stat(const dl_h *h, const char *key) { return silk_stats_get_int(h->stats, key, 0); }

/* When the transfer started, about: the response came download_latency
 * (time to the first byte) after it. Measures delays without the noise of
 * how long each response took. */
DL_FN double dl_started(const dl_outcome *o)
{
    double lat = o->req ? silk_dict_get_double(o->req->meta, "download_latency", 0) : 0;
    return o->done_at - lat;
}

/* The body as a C string (responses are NUL-terminated). */
DL_FN const char *dl_body(const dl_outcome *o)
{
    assert_non_null(o->resp);
    return o->resp->body;
}

/* A port nothing listens on (bound then closed). */
DL_FN int dl_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

DL_FN void dl_print_failure(const dl_outcome *o)
{
    if (o->kind == SILK_FETCH_FAILURE)
        fprintf(stderr, "failure %s: %s\n", o->type, o->msg);
}

#endif
