/* The bare libcurl multi loop the downloader is measured against: N
 * requests over C concurrent easy handles (reused, keep-alive), bodies
 * counted and dropped, no silk.
 *
 *   curl_bare BASE_URL PAGES REQUESTS CONCURRENCY
 *
 * Prints one line: "bare requests=... seconds=... rps=... cpu_us_per_req=...". */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
    (void)p;
    *(size_t *)arg += s * n;
    return s * n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s BASE_URL PAGES REQUESTS CONCURRENCY\n", argv[0]);
        return 2;
    }
    const char *base = argv[1];
    long pages = atol(argv[2]), total = atol(argv[3]), conc = atol(argv[4]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conc * 2);
    size_t bytes = 0;
    long started = 0, done = 0, errors = 0;
    char url[512];
    CURL **h = calloc((size_t)conc, sizeof *h);
    double t0 = now();
    for (long i = 0; i < conc && started < total; i++, started++) {
        h[i] = curl_easy_init();
        snprintf(url, sizeof url, "%s/p/%ld.html", base, started % pages);
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &bytes);
        curl_multi_add_handle(m, h[i]);
    }
    while (done < total) {
        int running = 0, left = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            errors += msg->data.result != CURLE_OK || code != 200;
            done++;
            curl_multi_remove_handle(m, e);
            if (started < total) {
                snprintf(url, sizeof url, "%s/p/%ld.html", base, started % pages);
                started++;
                curl_easy_setopt(e, CURLOPT_URL, url);
                curl_multi_add_handle(m, e);
            }
        }
        if (done < total)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    double secs = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("bare requests=%ld errors=%ld bytes=%zu seconds=%.3f rps=%.0f cpu_us_per_req=%.1f maxrss_kb=%ld\n", done,
           errors, bytes, secs, done / secs, cpu * 1e6 / done, ru.ru_maxrss);
    for (long i = 0; i < conc; i++)
        if (h[i]) {
            curl_multi_remove_handle(m, h[i]);
            curl_easy_cleanup(h[i]);
        }
    free(h);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return errors != 0;
}
