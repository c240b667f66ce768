/* The telnet console: the interpreter on its own, then the server over real
 * TCP against a running leaky crawl of the embedded site (the lines of the
 * leak guide, the security cases), then the leak check. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "silk_test.h"
#include "silk/engine.h"
#include "silk/telnet.h"
#include "silk/testserver.h"

/* ------------------------------------------------------------ helpers */

/* Runs one line in a fresh-or-given session; returns the output (static). */
static const char *run(silk_interp *in, const char *line)
{
    static char last[65536];
    silk_buf out = SILK_BUF_INIT;
    assert_int_equal(silk_interp_exec(in, line, &out), 0);
    snprintf(last, sizeof last, "%s", out.data ? out.data : "");
    silk_buf_free(&out);
    return last;
}

#define EXPECT(in, line, want) assert_string_equal(run((in), (line)), (want))


/* --------------------------------------------------- interpreter alone */

static void test_interp_values(void **state)
{
    (void)state;
    silk_interp *in;
    assert_int_equal(silk_interp_new(NULL, &in), 0);
    EXPECT(in, "1 + 2", "3\n");
    EXPECT(in, "7 // 2, -7 // 2, 7 % -3, 7 / 2", "(3, -4, -2, 3.5)\n");
    EXPECT(in, "0.1 + 0.2", "0.30000000000000004\n");
    EXPECT(in, "1e16, 1e15, 0.0001, 0.00001, 2.0, -0.0", "(1e+16, 1000000000000000.0, 0.0001, 1e-05, 2.0, -0.0)\n");
    EXPECT(in, "'it''s'", "'its'\n");
    EXPECT(in, "\"it's\"", "\"it's\"\n");
    EXPECT(in, "'a\\tb\\n'", "'a\\tb\\n'\n");
    EXPECT(in, "'caf\\xe9 \\u00a0'", "'café \\xa0'\n");
    EXPECT(in, "b'a\\x00\\xff'", "b'a\\x00\\xff'\n");
    EXPECT(in, "[1, 'two', None, True, (3,), ()]", "[1, 'two', None, True, (3,), ()]\n");
    EXPECT(in, "{'a': 1, 'b': [2]}", "{'a': 1, 'b': [2]}\n");
    EXPECT(in, "None", "");
    EXPECT(in, "x = [n * 2 for n in [1, 2, 3, 4] if n % 2 == 0]", "");
    EXPECT(in, "x", "[4, 8]\n");
    EXPECT(in, "len(x), len('héllo'), len({'a': 1})", "(2, 5, 1)\n");
    EXPECT(in, "x[-1], x[0:1], 'abcdef'[1:4], 'abcdef'[::-1]", "(8, [4], 'bcd', 'fedcba')\n");
    EXPECT(in, "sorted([3, 1, 2]), sum([1, 2.5]), min(3, 1), max([1, 5])", "([1, 2, 3], 3.5, 1, 5)\n");
    EXPECT(in, "'b' in 'abc', 2 not in [1, 2], None is None, not []", "(True, False, True, True)\n");
    EXPECT(in, "'x' if 1 > 2 else 'y'", "'y'\n");
    EXPECT(in, "{'a': 1}.get('b', 0), list({'a': 1, 'b': 2}.keys())", "(0, ['a', 'b'])\n");
    EXPECT(in, "'/p/1.html'.endswith('.html'), 'a,b'.split(','), '-'.join(['a', 'b'])",
           "(True, ['a', 'b'], 'a-b')\n");
    EXPECT(in, "str(1.5) + str(None), repr('x'), int('42'), float('1.5')", "('1.5None', \"'x'\", 42, 1.5)\n");
    EXPECT(in, "del x", "");
    /* errors, one line each, and the session goes on */
    EXPECT(in, "x", "NameError: name 'x' is not defined\n");
    EXPECT(in, "1 +", "SyntaxError: invalid syntax\n");
    EXPECT(in, "'abc", "SyntaxError: unterminated string literal (detected at line 1)\n");
    EXPECT(in, "(1, 2", "SyntaxError: unexpected EOF while parsing\n");
    EXPECT(in, "1 / 0", "ZeroDivisionError: division by zero\n");
    EXPECT(in, "[1][5]", "IndexError: list index out of range\n");
    EXPECT(in, "{'a': 1}['b']", "KeyError: 'b'\n");
    EXPECT(in, "len(5)", "TypeError: object of type 'int' has no len()\n");
    EXPECT(in, "'a' + 1", "TypeError: unsupported operand type(s) for +: 'str' and 'int'\n");
    EXPECT(in, "(1).foo", "AttributeError: 'int' object has no attribute 'foo'\n");
    EXPECT(in, "import os", "ImportError: silk's console binds names only with 'from scrapy... import NAME' or "
                            "'from silk... import NAME'\n");
    EXPECT(in, "from os import system", "ModuleNotFoundError: No module named 'os' (silk's console imports from "
                                        "scrapy... and silk...)\n");
    EXPECT(in, "from scrapy.utils.trackref import nothing",
           "ImportError: cannot import name 'nothing' from 'scrapy.utils.trackref' (unknown location)\n");
    EXPECT(in, "while True: pass",
           "SyntaxError: silk's console runs expressions, assignments, del and from ... import, not 'while' "
           "statements\n");
    EXPECT(in, "__import__('os').system('id')", "NameError: name '__import__' is not defined\n");
    EXPECT(in, "   1", "IndentationError: unexpected indent\n");
    EXPECT(in, "9223372036854775807 + 1", "OverflowError: integer too large for silk's console (64 bits)\n");
    EXPECT(in, "est()", "NameError: name 'est' is not defined\n");
    EXPECT(in, "", "");
    EXPECT(in, "# a comment", "");
    /* the budget and the output cap stop expensive lines */
    silk_interp_set_limits(in, 1000, 10000);
    const char *r = run(in, "[[y for y in 'abcdefghij' * 100] for x in 'abcdefghij' * 100]");
    assert_non_null(strstr(r, "RuntimeError: this line took more than 10000 evaluation steps"));
    r = run(in, "'x' * 5000");
    assert_non_null(strstr(r, "... output truncated: a command may print at most 1000 bytes"));
    silk_interp_set_limits(in, 0, 0);
    /* deep nesting is refused, not a stack overflow */
    char deep[2100];
    memset(deep, '(', 1000);
    memset(deep + 1000, ')', 1000);
    deep[2000] = 0;
    EXPECT(in, deep, "SyntaxError: too many nested parentheses\n");
    /* invalid UTF-8 and control characters */
    r = run(in, "\xff\xfe");
    assert_non_null(strstr(r, "SyntaxError"));
    EXPECT(in, "\x01", "SyntaxError: invalid non-printable character U+0001\n");
    assert_false(silk_interp_wants_exit(in));
    EXPECT(in, "exit()", "");
    assert_true(silk_interp_wants_exit(in));
    silk_interp_free(in);
    SILK_ASSERT_CLEAN();
}

static silk_type my_leaf = SILK_TYPE_INIT("MyLeaf", NULL, sizeof(silk_object), NULL, NULL);

static void test_interp_trackref(void **state)
{
    (void)state;
    silk_interp *in;
    assert_int_equal(silk_interp_new(NULL, &in), 0);
    silk_request *a, *b;
    assert_int_equal(silk_request_new("http://example.com/a", &a), 0);
    assert_int_equal(silk_request_new("http://example.com/b", &b), 0);
    silk_object *leaf = silk_object_new(&my_leaf);
    silk_response *resp;
    assert_int_equal(silk_response_new(&silk_type_html_response, "http://example.com/a", 200,
                                       "<title>T</title><a href='/x'>x</a>", 33, a, &resp),
                     0);
    silk_dict_set_object(silk_request_cb_kwargs(b), "referer", resp);
    silk_dict_set_str(silk_request_meta(b), "depth", "1");
    const char *r = run(in, "prefs()");
    assert_non_null(strstr(r, "Live References\n\n"));
    assert_non_null(strstr(r, "HtmlResponse                        1   oldest: "));
    assert_non_null(strstr(r, "Request                             2   oldest: "));
    assert_non_null(strstr(r, "MyLeaf"));
    EXPECT(in, "from scrapy.http import Request, HtmlResponse as H", "");
    r = run(in, "prefs(ignore=Request)");
    assert_null(strstr(r, "Request "));
    assert_non_null(strstr(r, "HtmlResponse"));
    r = run(in, "prefs(ignore=(Request, H))");
    assert_null(strstr(r, "HtmlResponse"));
    EXPECT(in, "r = get_oldest('HtmlResponse')", "");
    EXPECT(in, "r", "<200 http://example.com/a>\n");
    EXPECT(in, "r.url, r.status, r.request, r.meta", "('http://example.com/a', 200, <GET http://example.com/a>, {})\n");
    EXPECT(in, "len(r.body), r.body[:7]", "(33, b'<title>')\n");
    EXPECT(in, "r.css('title::text').get(), r.xpath('//a/@href').getall()", "('T', ['/x'])\n");
    EXPECT(in, "isinstance(r, Request), isinstance(r, H), type(r)", "(False, True, <class 'HtmlResponse'>)\n");
    EXPECT(in, "r.age >= 0, r.age < 60", "(True, True)\n");
    EXPECT(in, "[q.url for q in iter_all('Request')]", "['http://example.com/a', 'http://example.com/b']\n");
    EXPECT(in, "[q.cb_kwargs for q in iter_all('Request') if q.cb_kwargs]",
           "[{'referer': <200 http://example.com/a>}]\n");
    EXPECT(in, "get_oldest('Request').meta", "{}\n");
    EXPECT(in, "[q.meta['depth'] for q in iter_all('Request') if 'depth' in q.meta]", "['1']\n");
    EXPECT(in, "iter_all('NoSuchType'), get_oldest('NoSuchType')", "([], None)\n");
    EXPECT(in, "r.nope", "AttributeError: 'HtmlResponse' object has no attribute 'nope'\n");
    EXPECT(in, "get_oldest(1)", "TypeError: get_oldest() argument must be str, not int\n");
    EXPECT(in, "get_oldest()", "TypeError: get_oldest() missing 1 required positional argument: 'class_name'\n");
    EXPECT(in, "prefs(bogus=1)", "TypeError: format_live_refs() got an unexpected keyword argument 'bogus'\n");
    /* the session's variable keeps the response alive, as in Python */
    silk_unref(b);
    silk_unref(resp);
    assert_int_equal(silk_trackref_count(&silk_type_html_response), 1);
    EXPECT(in, "del r", "");
    assert_int_equal(silk_trackref_count(&silk_type_html_response), 0);
    r = run(in, "heap()");
    assert_non_null(strstr(r, "types |   # objects |   total size"));
    assert_non_null(strstr(r, "process RSS"));
    assert_non_null(strstr(r, "malloc (mallinfo2)"));
    r = run(in, "trim()");
    assert_non_null(strstr(r, "RSS before trim(): "));
    r = run(in, "help");
    assert_non_null(strstr(r, "prefs()"));
    r = run(in, "help(get_oldest)");
    assert_string_equal(r, "get_oldest(class_name): the oldest live object of that type, or None\n");
    silk_unref(leaf);
    silk_unref(a);
    silk_interp_free(in);
    SILK_ASSERT_CLEAN();
}

static void test_interp_alloc_failures(void **state)
{
    (void)state;
    silk_request *a;
    assert_int_equal(silk_request_new("http://example.com/a", &a), 0);
    silk_dict_set_str(silk_request_cb_kwargs(a), "k", "v");
    static const char *const lines[] = {
        "r = get_oldest('Request')",
        "[q.url for q in iter_all('Request') if q.cb_kwargs]",
        "prefs()",
        "x = {'a': [1, 2.5, 'three', (None,)]}; x",
        "from scrapy.http import Request",
        "heap()",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        for (uint64_t nth = 1; nth < 5000; nth++) {
            silk_interp *in;
            if (silk_interp_new(NULL, &in))
                continue;
            silk_buf out = SILK_BUF_INIT;
            silk_alloc_fail_nth(nth);
            int rc = silk_interp_exec(in, lines[i], &out);
            int fired = silk_alloc_fail_fired();
            silk_alloc_fail_nth(0);
            assert_true(rc == 0 || rc == SILK_ENOMEM);
            silk_buf_free(&out);
            silk_interp_free(in);
            if (!fired)
                break;
        }
    }
    silk_unref(a);
    SILK_ASSERT_CLEAN();
}

/* ====================================================== a telnet client */

/* A blocking client with plain libc memory (the server's side is what the
 * counters watch). IAC sequences are taken out of the text and recorded. */
typedef struct tclient {
    int fd;
    char *buf; /* text received, NUL-terminated */
    size_t len, cap;
    unsigned char cmds[4096][3]; /* IAC commands seen: (cmd, opt, 0) */
    size_t ncmds;
    int ts; /* 0 data, 1 after IAC, 2 after WILL/WONT/DO/DONT, 3 in SB, 4 SB+IAC */
    unsigned char pending;
    bool closed;
} tclient;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static tclient *tc_open_opts(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = { 0 };
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return NULL;
    }
    tclient *tc = calloc(1, sizeof *tc);
    tc->fd = fd;
    tc->cap = 1 << 16;
    tc->buf = malloc(tc->cap);
    tc->buf[0] = 0;
    return tc;
}

static tclient *tc_open(int port) { return tc_open_opts(port, 0); }

static void tc_close(tclient *tc)
{
    if (!tc)
        return;
    close(tc->fd);
    free(tc->buf);
    free(tc);
}

static void tc_putc(tclient *tc, char c)
{
    if (tc->len + 2 > tc->cap) {
        tc->cap *= 2;
        tc->buf = realloc(tc->buf, tc->cap);
    }
    tc->buf[tc->len++] = c;
    tc->buf[tc->len] = 0;
}

/* Reads what is there within timeout seconds; false on timeout or EOF. */
static bool tc_fill(tclient *tc, double timeout)
{
    struct pollfd pfd = { tc->fd, POLLIN, 0 };
    if (poll(&pfd, 1, (int)(timeout * 1000)) <= 0)
        return false;
    unsigned char b[65536];
    ssize_t n = recv(tc->fd, b, sizeof b, 0);
    if (n <= 0) {
        tc->closed = true;
        return false;
    }
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        switch (tc->ts) {
        case 0:
            if (c == 255)
                tc->ts = 1;
            else if (c != '\r')
                tc_putc(tc, (char)c);
            break;
        case 1:
            if (c == 255) {
                tc_putc(tc, (char)c);
                tc->ts = 0;
            } else if (c >= 251 && c <= 254) {
                tc->pending = c;
                tc->ts = 2;
            } else if (c == 250) {
                tc->ts = 3;
            } else {
                if (tc->ncmds < 4096)
                    memcpy(tc->cmds[tc->ncmds++], (unsigned char[3]){ c, 0, 0 }, 3);
                tc->ts = 0;
            }
            break;
        case 2:
            if (tc->ncmds < 4096)
                memcpy(tc->cmds[tc->ncmds++], (unsigned char[3]){ tc->pending, c, 0 }, 3);
            /* answer the server's ECHO offers as a real client does */
            if (c == 1 && (tc->pending == 251 || tc->pending == 252)) {
                unsigned char ans[3] = { 255, tc->pending == 251 ? 253 : 254, 1 };
                ssize_t w = send(tc->fd, ans, 3, MSG_NOSIGNAL);
                (void)w;
            }
            tc->ts = 0;
            break;
        case 3: tc->ts = c == 255 ? 4 : 3; break;
        case 4: tc->ts = c == 240 ? 0 : 3; break;
        }
    }
    return true;
}

/* Waits for needle; returns the text up to and including it (malloc'ed,
 * removed from the buffer), or NULL on timeout / EOF. */
static char *tc_wait(tclient *tc, const char *needle, double timeout)
{
    double end = now_s() + timeout;
    for (;;) {
        char *hit = strstr(tc->buf, needle);
        if (hit) {
            size_t n = (size_t)(hit - tc->buf) + strlen(needle);
            char *out = strndup(tc->buf, n);
            memmove(tc->buf, tc->buf + n, tc->len - n + 1);
            tc->len -= n;
            return out;
        }
        double left = end - now_s();
        if (left <= 0 || tc->closed || !tc_fill(tc, left)) {
            if (tc->closed || left <= 0)
                return NULL;
        }
    }
}

/* true once the server has closed the connection (within timeout). */
static bool tc_wait_eof(tclient *tc, double timeout)
{
    double end = now_s() + timeout;
    while (!tc->closed && now_s() < end)
        tc_fill(tc, end - now_s());
    return tc->closed;
}

static bool tc_saw(const tclient *tc, unsigned char cmd, unsigned char opt)
{
    for (size_t i = 0; i < tc->ncmds; i++)
        if (tc->cmds[i][0] == cmd && tc->cmds[i][1] == opt)
            return true;
    return false;
}

static void tc_send(tclient *tc, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(tc->fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void tc_sends(tclient *tc, const char *s) { tc_send(tc, s, strlen(s)); }

static bool tc_login(tclient *tc, const char *user, const char *pw)
{
    char *a = tc_wait(tc, "Username: ", 20);
    if (!a)
        return false;
    free(a);
    tc_sends(tc, user);
    tc_sends(tc, "\r\n");
    if (!(a = tc_wait(tc, "Password: ", 20)))
        return false;
    free(a);
    tc_sends(tc, pw);
    tc_sends(tc, "\r\n");
    a = tc_wait(tc, ">>> ", 20);
    free(a);
    return a != NULL;
}

/* Runs one line; returns its output (without the next prompt), malloc'ed,
 * or strdup("<timeout>"). */
static char *tc_cmd(tclient *tc, const char *line)
{
    tc_sends(tc, line);
    tc_sends(tc, "\r\n");
    char *out = tc_wait(tc, ">>> ", 60);
    if (!out)
        return strdup("<timeout>");
    out[strlen(out) - 4] = 0;
    return out;
}

/* Failures found on the client thread, asserted on the main thread. */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char failures[16384];

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            pthread_mutex_lock(&fail_mu);                                                    \
            size_t n_ = strlen(failures);                                                    \
            snprintf(failures + n_, sizeof failures - n_, "line %d: %s: ", __LINE__, #cond); \
            n_ = strlen(failures);                                                           \
            snprintf(failures + n_, sizeof failures - n_, __VA_ARGS__);                      \
            n_ = strlen(failures);                                                           \
            snprintf(failures + n_, sizeof failures - n_, "\n");                             \
            pthread_mutex_unlock(&fail_mu);                                                  \
        }                                                                                    \
    } while (0)

static void assert_no_failures(void)
{
    if (failures[0])
        fprintf(stderr, "client-side failures:\n%s", failures);
    assert_string_equal(failures, "");
}

/* The count of a type in a prefs() report, or -1. */
static long prefs_count(const char *report, const char *type)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s ", type);
    const char *p = strstr(report, pat);
    if (!p)
        return -1;
    return strtol(p + strlen(pat), NULL, 10);
}

/* ====================================================== the leaky crawl */

#include "examples/leaky.c"

typedef struct console_info {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int port;
    char password[64];
    bool ready;
} console_info;

static console_info info = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, "", false };
static silk_testserver *site;

/* spider open hook: runs on the loop once the extensions are open */
static int publish_console(silk_spider *sp)
{
    silk_telnet *t = silk_telnet_of(silk_spider_crawler(sp));
    pthread_mutex_lock(&info.mu);
    info.port = silk_telnet_port(t);
    snprintf(info.password, sizeof info.password, "%s", t ? silk_telnet_password(t) : "");
    info.ready = true;
    pthread_cond_signal(&info.cv);
    pthread_mutex_unlock(&info.mu);
    return 0;
}

static void wait_console(void)
{
    pthread_mutex_lock(&info.mu);
    while (!info.ready)
        pthread_cond_wait(&info.cv, &info.mu);
    pthread_mutex_unlock(&info.mu);
}

static long stat_count(tclient *tc)
{
    char *o = tc_cmd(tc, "stats.get_value('response_received_count')");
    long n = strtol(o, NULL, 10);
    free(o);
    return n;
}

/* Every URL in a repr'd list of URLs exists on the site. */
static size_t check_urls(const char *list, const char *base)
{
    size_t n = 0;
    for (const char *p = strstr(list, base); p; p = strstr(p + 1, base)) {
        const char *path = p + strlen(base);
        const char *end = strchr(path, '\'');
        if (!end)
            break;
        char one[256];
        snprintf(one, sizeof one, "%.*s", (int)(end - path), path);
        CHECK(silk_testserver_hits(site, one) > 0, "the site never served %s", one);
        n++;
    }
    return n;
}

static void *guide_client(void *arg)
{
    (void)arg;
    wait_console();
    char base[128];
    snprintf(base, sizeof base, "%s", silk_testserver_url(site));
    tclient *tc = tc_open(info.port);
    CHECK(tc != NULL, "cannot connect to %d", info.port);
    if (!tc)
        return NULL;
    bool in = tc_login(tc, "silk", info.password);
    CHECK(in, "login failed: %s", tc->buf);
    CHECK(tc_saw(tc, 251, 1) && tc_saw(tc, 252, 1), "no IAC WILL ECHO / WONT ECHO around the password");
    if (!in)
        goto out;
    msleep(500);

    /* the guide, line by line */
    char *o = tc_cmd(tc, "prefs()");
    CHECK(strncmp(o, "Live References\n\n", 17) == 0, "%s", o);
    long n1 = prefs_count(o, "HtmlResponse");
    CHECK(n1 > 0, "%s", o);
    CHECK(prefs_count(o, "LeakySpider") == 1, "%s", o);
    CHECK(strstr(o, "oldest: ") != NULL, "%s", o);
    free(o);
    msleep(1500);
    o = tc_cmd(tc, "prefs()");
    long n2 = prefs_count(o, "HtmlResponse");
    CHECK(n2 > n1, "HtmlResponse count did not grow: %ld then %ld", n1, n2);
    free(o);
    o = tc_cmd(tc, "from scrapy.spiders import Spider");
    CHECK(!strcmp(o, ""), "%s", o);
    free(o);
    o = tc_cmd(tc, "prefs(ignore=Spider)");
    CHECK(strstr(o, "LeakySpider") == NULL && strstr(o, "HtmlResponse") != NULL, "%s", o);
    free(o);
    o = tc_cmd(tc, "from scrapy.utils.trackref import get_oldest");
    CHECK(!strcmp(o, ""), "%s", o);
    free(o);
    o = tc_cmd(tc, "r = get_oldest(\"HtmlResponse\")");
    CHECK(!strcmp(o, ""), "%s", o);
    free(o);
    o = tc_cmd(tc, "r.url");
    CHECK(o[0] == '\'' && strncmp(o + 1, base, strlen(base)) == 0, "%s", o);
    CHECK(check_urls(o, base) == 1, "%s", o);
    free(o);
    o = tc_cmd(tc, "r");
    CHECK(strncmp(o, "<200 ", 5) == 0, "%s", o);
    free(o);
    o = tc_cmd(tc, "r.age");
    double a1 = strtod(o, NULL);
    free(o);
    msleep(300);
    o = tc_cmd(tc, "r.age");
    double a2 = strtod(o, NULL);
    free(o);
    CHECK(a1 > 0 && a2 > a1 + 0.2, "ages %f then %f", a1, a2);
    o = tc_cmd(tc, "from scrapy.utils.trackref import iter_all");
    CHECK(!strcmp(o, ""), "%s", o);
    free(o);
    o = tc_cmd(tc, "[r.url for r in iter_all(\"HtmlResponse\")]");
    CHECK(o[0] == '[', "%.200s", o);
    size_t nurls = check_urls(o, base);
    CHECK((long)nurls >= n2, "%zu URLs, fewer than %ld", nurls, n2);
    free(o);
    /* who keeps them: the requests' cb_kwargs */
    o = tc_cmd(tc, "len([q for q in iter_all(\"Request\") if \"referer\" in q.cb_kwargs]) > 0");
    CHECK(!strcmp(o, "True\n"), "%s", o);
    free(o);
    o = tc_cmd(tc, "get_oldest(\"Request\").cb_kwargs");
    CHECK(!strcmp(o, "{}\n") || strncmp(o, "{'referer': <200 ", 17) == 0, "%s", o);
    free(o);

    /* the other names */
    o = tc_cmd(tc, "est()");
    CHECK(strncmp(o, "Execution engine status\n\n", 25) == 0, "%s", o);
    CHECK(strstr(o, "\ntime()-engine.start_time                        : ") != NULL, "%s", o);
    CHECK(strstr(o, "\nengine.spider.name                              : leaky\n") != NULL, "%s", o);
    CHECK(strstr(o, "\nlen(engine.slot.scheduler.mqs)                  : ") != NULL, "%s", o);
    CHECK(strstr(o, "len(engine.downloader.slots['127.0.0.1'].active)") != NULL, "%s", o);
    free(o);
    long c1 = stat_count(tc);
    CHECK(c1 > 0, "response_received_count %ld", c1);
    o = tc_cmd(tc, "stats.get_stats()");
    CHECK(o[0] == '{' && strstr(o, "'start_time': datetime.datetime(") != NULL, "%.300s", o);
    free(o);
    o = tc_cmd(tc, "stats.get_value(\"item_scraped_count\", 0)");
    CHECK(!strcmp(o, "0\n"), "%s", o);
    free(o);
    o = tc_cmd(tc, "settings[\"CONCURRENT_REQUESTS\"]");
    CHECK(!strcmp(o, "4\n"), "%s", o);
    free(o);
    o = tc_cmd(tc, "settings.getfloat('DOWNLOAD_DELAY')");
    CHECK(!strcmp(o, "0.01\n"), "%s", o);
    free(o);
    o = tc_cmd(tc, "spider");
    CHECK(strncmp(o, "<LeakySpider 'leaky' at 0x", 26) == 0, "%s", o);
    free(o);
    o = tc_cmd(tc, "spider.name");
    CHECK(!strcmp(o, "'leaky'\n"), "%s", o);
    free(o);
    o = tc_cmd(tc, "heap()");
    CHECK(strstr(o, "types |   # objects |   total size\n") != NULL, "%s", o);
    CHECK(strstr(o, "HtmlResponse |") != NULL && strstr(o, "process RSS") != NULL, "%s", o);
    free(o);
    o = tc_cmd(tc, "trim()");
    CHECK(strstr(o, "RSS after trim() : ") != NULL, "%s", o);
    free(o);
    o = tc_cmd(tc, "help");
    CHECK(strstr(o, "get_oldest(") != NULL, "%s", o);
    free(o);

    /* pause stops the crawl (after what is in flight), unpause resumes */
    o = tc_cmd(tc, "engine.pause()");
    CHECK(!strcmp(o, ""), "%s", o);
    free(o);
    o = tc_cmd(tc, "engine.paused");
    CHECK(!strcmp(o, "True\n"), "%s", o);
    free(o);
    msleep(1000);
    long p1 = stat_count(tc);
    msleep(1000);
    long p2 = stat_count(tc);
    CHECK(p1 == p2, "the crawl went on while paused: %ld then %ld", p1, p2);
    o = tc_cmd(tc, "engine.unpause()");
    free(o);
    msleep(1000);
    long p3 = stat_count(tc);
    CHECK(p3 > p2, "the crawl did not resume: %ld then %ld", p2, p3);

    /* a slow client that never reads a large output costs the crawl nothing */
    tclient *slow = tc_open_opts(info.port, 4096);
    CHECK(slow && tc_login(slow, "silk", info.password), "slow client login");
    if (slow) {
        for (int i = 0; i < 20; i++)
            tc_sends(slow, "[r.url for r in iter_all('Request')]\r\n");
        msleep(500);
        long s1 = stat_count(tc);
        msleep(1000);
        long s2 = stat_count(tc);
        CHECK(s2 > s1, "the crawl stalled behind a slow client: %ld then %ld", s1, s2);
        o = tc_cmd(tc, "1 + 1");
        CHECK(!strcmp(o, "2\n"), "%s", o);
        free(o);
    }

    /* 100 simultaneous connections: the cap refuses the extra ones cleanly */
    tclient *many[100];
    int greeted = 0, refused = 0;
    for (int i = 0; i < 100; i++)
        many[i] = tc_open(info.port);
    for (int i = 0; i < 100; i++) {
        if (!many[i])
            continue;
        char *g = tc_wait(many[i], "Username: ", 0.5);
        if (g)
            greeted++;
        else if (strstr(many[i]->buf, "Too many connections"))
            refused++;
        else if (tc_wait_eof(many[i], 5) && strstr(many[i]->buf, "Too many connections"))
            refused++;
        free(g);
    }
    /* tc and slow hold two of the 8 */
    CHECK(greeted == 6 && refused == 94, "greeted %d, refused %d", greeted, refused);
    for (int i = 0; i < 100; i++)
        tc_close(many[i]);
    tc_close(slow);
    long m1 = stat_count(tc);
    msleep(1000);
    long m2 = stat_count(tc);
    CHECK(m2 > m1, "the crawl stalled: %ld then %ld", m1, m2);
    tclient *again = tc_open(info.port);
    CHECK(again && tc_login(again, "silk", info.password), "no login after the storm");
    if (again) {
        o = tc_cmd(again, "len(iter_all('HtmlResponse')) > 0");
        CHECK(!strcmp(o, "True\n"), "%s", o);
        free(o);
        tc_close(again);
    }

    o = tc_cmd(tc, "del r");
    free(o);
out:
    /* always end the crawl */
    o = tc_cmd(tc, "engine.stop()");
    CHECK(!strcmp(o, ""), "%s", o);
    free(o);
    CHECK(tc_wait_eof(tc, 60), "the console did not close with the crawl");
    tc_close(tc);
    return NULL;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = 0;
    fclose(f);
    return s;
}

static void test_console_guide(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.pages = 20000;
    assert_int_equal(silk_testserver_start_thread(&opt, &site), 0);
    char url[128], logpath[] = "/tmp/silk-telnet-test-XXXXXX";
    snprintf(url, sizeof url, "%s/", silk_testserver_url(site));
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    close(lfd);

    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", "INFO", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "LOG_FILE", logpath, SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "CONCURRENT_REQUESTS", "4", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "DOWNLOAD_DELAY", "0.01", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "RANDOMIZE_DOWNLOAD_DELAY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "CLOSESPIDER_TIMEOUT", "300", SILK_PRIO_CMDLINE);
    silk_spider_def def = leaky;
    def.open = publish_console;
    silk_value *args = silk_value_new_dict();
    silk_dict_set_str(args, "start_url", url);
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, &def, args, NULL, &c), 0);
    info.ready = false;
    failures[0] = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, guide_client, NULL), 0);
    assert_int_equal(silk_process_run(p), 0);
    pthread_join(th, NULL);
    assert_no_failures();
    assert_string_equal(silk_crawler_finish_reason(c), "shutdown");
    assert_null(silk_telnet_of(c));

    char *log = read_file(logpath);
    assert_non_null(log);
    char want[128];
    snprintf(want, sizeof want, "[silk.extensions.telnet] INFO: Telnet console listening on 127.0.0.1:%d\n", info.port);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof want, "[silk.extensions.telnet] INFO: Telnet Password: %s\n", info.password);
    assert_non_null(strstr(log, want));
    assert_int_equal(strlen(info.password), 16);
    assert_int_equal(strspn(info.password, "0123456789abcdef"), 16);
    assert_true(info.port >= 6023 && info.port <= 6073);
    free(log);
    unlink(logpath);
    silk_value_free(args);
    silk_process_free(p);
    silk_settings_free(s);
    silk_testserver_free(site);
    site = NULL;
    SILK_ASSERT_CLEAN();
}

/* ============================================= security, bare server */

static volatile int client_done;
static int bare_port;

static void *security_client(void *arg)
{
    (void)arg;
    char *o;
    /* wrong passwords: a growing delay, then the connection is closed */
    tclient *tc = tc_open(bare_port);
    CHECK(tc != NULL, "connect");
    if (!tc)
        goto done;
    o = tc_wait(tc, "Username: ", 5);
    CHECK(o != NULL, "no Username prompt");
    free(o);
    double last_gap = 0;
    for (int attempt = 1; attempt <= 4; attempt++) {
        tc_sends(tc, attempt == 2 ? "root\r\n" : "silk\r\n");
        o = tc_wait(tc, "Password: ", 5);
        CHECK(o != NULL, "no Password prompt");
        free(o);
        CHECK(tc_saw(tc, 251, 1), "no IAC WILL ECHO before the password");
        tc_sends(tc, attempt == 2 ? "secret\r\n" : "guess\r\n");
        double t0 = now_s();
        o = tc_wait(tc, "Authentication failed\n", 5);
        CHECK(o != NULL, "attempt %d: no failure message: %s", attempt, tc->buf);
        free(o);
        CHECK(tc_saw(tc, 252, 1), "no IAC WONT ECHO after the password");
        if (attempt < 4) {
            /* what is typed during the delay is thrown away */
            tc_sends(tc, "silk\r\nsecret\r\n");
            o = tc_wait(tc, "Username: ", 5);
            double gap = now_s() - t0;
            CHECK(o != NULL, "attempt %d: no new prompt", attempt);
            free(o);
            double want = 0.1 * (1 << (attempt - 1));
            if (want > 0.4)
                want = 0.4;
            CHECK(gap >= want * 0.9, "attempt %d: delay %.3f s, want %.3f s", attempt, gap, want);
            CHECK(gap >= last_gap * 0.9, "the delay shrank: %.3f after %.3f", gap, last_gap);
            last_gap = gap;
        }
    }
    o = tc_wait(tc, "Too many failed login attempts", 5);
    CHECK(o != NULL, "no refusal after 4 attempts: %s", tc->buf);
    free(o);
    CHECK(tc_wait_eof(tc, 5), "not closed after too many attempts");
    tc_close(tc);

    /* an owner who mistyped once gets in */
    tc = tc_open(bare_port);
    o = tc_wait(tc, "Username: ", 5);
    free(o);
    tc_sends(tc, "silk\r\noops\r\n");
    o = tc_wait(tc, "Username: ", 5);
    CHECK(o != NULL, "no second chance");
    free(o);
    tc_sends(tc, "silk\r\n");
    o = tc_wait(tc, "Password: ", 5);
    free(o);
    tc_sends(tc, "secret\r\n");
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o != NULL && strstr(o, "console") != NULL, "login failed: %s", tc->buf);
    free(o);

    /* line endings: CR LF, LF, CR NUL */
    tc_sends(tc, "1+1\n");
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && !strcmp(o, "2\n>>> "), "LF: %s", o);
    free(o);
    tc_send(tc, "2+2\r\0", 5);
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && !strcmp(o, "4\n>>> "), "CR NUL: %s", o);
    free(o);
    /* editing: backspace, Ctrl-U, Ctrl-C, IAC EC */
    tc_sends(tc, "1+2\x7f" "5\r\n");
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && !strcmp(o, "6\n>>> "), "backspace: %s", o);
    free(o);
    tc_sends(tc, "junk\x15" "3*3\r\n");
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && !strcmp(o, "9\n>>> "), "Ctrl-U: %s", o);
    free(o);
    tc_sends(tc, "junk\x03");
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && !strcmp(o, "\nKeyboardInterrupt\n>>> "), "Ctrl-C: %s", o);
    free(o);
    tc_sends(tc, "junk\xff\xf4");
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && strstr(o, "KeyboardInterrupt"), "IAC IP: %s", o);
    free(o);
    /* negotiation: everything refused, nothing looped */
    tc->ncmds = 0;
    static const char nego[] = "\xff\xfd\x18" "\xff\xfb\x1f" "\xff\xfd\x03" "\xff\xfd\x01"
                               "\xff\xfa\x18\x01\xff\xf0" "\xff\xf6";
    tc_send(tc, nego, sizeof nego - 1);
    o = tc_wait(tc, "[silk: yes]", 5);
    CHECK(o != NULL, "no AYT answer");
    free(o);
    CHECK(tc_saw(tc, 252, 24), "DO TTYPE not refused");
    CHECK(tc_saw(tc, 254, 31), "WILL NAWS not refused");
    CHECK(tc_saw(tc, 252, 3), "DO SGA not refused");
    CHECK(tc_saw(tc, 252, 1), "DO ECHO not refused");
    /* IAC IAC is a 0xFF byte: not UTF-8, a Python-style error */
    tc_send(tc, "'\xff\xff'\r\n", 6);
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o && strstr(o, "SyntaxError: (unicode error) 'utf-8' codec can't decode byte 0xff in position 1"),
          "IAC IAC: %s", o);
    free(o);

    /* garbage: 256 KB of random bytes, then a resync and a command */
    {
        unsigned seed = 7;
        size_t n = 256 * 1024;
        unsigned char *g = malloc(n);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            g[i] = (unsigned char)(seed >> 16);
            /* no Ctrl-D / IAC EOF: they would (rightly) end the session */
            if (g[i] == 0x04 || (i && g[i - 1] == 0xff && g[i] == 0xec))
                g[i] = 'x';
        }
        tc_send(tc, g, n);
        free(g);
        tc_send(tc, "\0\xff\xf0\r\n" "6*7\r\n", 11);
        o = tc_wait(tc, "42\n>>> ", 20);
        CHECK(o != NULL, "no answer after garbage: %.300s", tc->buf);
        free(o);
    }
    /* a 1 MB line is refused, the session goes on */
    {
        size_t n = 1 << 20;
        char *big = malloc(n);
        memset(big, 'a', n);
        tc_send(tc, big, n);
        free(big);
        tc_sends(tc, "\r\n7*7\r\n");
        o = tc_wait(tc, "49\n>>> ", 20);
        CHECK(o && strstr(o, "error: line too long (a line may have at most 4096 bytes); ignored"),
              "1 MB line: %.300s", o ? o : tc->buf);
        free(o);
    }
    /* a command's output is capped */
    o = tc_cmd(tc, "'x' * 2000000");
    CHECK(strstr(o, "... output truncated: a command may print at most 65536 bytes") != NULL && strlen(o) < 70000,
          "%zu bytes", strlen(o));
    free(o);
    /* no code of any kind */
    o = tc_cmd(tc, "__import__('os').system('touch /tmp/silk-pwned')");
    CHECK(!strcmp(o, "NameError: name '__import__' is not defined\n"), "%s", o);
    free(o);
    o = tc_cmd(tc, "exec('1')");
    CHECK(!strcmp(o, "NameError: name 'exec' is not defined\n"), "%s", o);
    free(o);
    /* exit() leaves */
    tc_sends(tc, "exit()\r\n");
    CHECK(tc_wait_eof(tc, 5), "exit() did not close");
    tc_close(tc);

    /* quit, Ctrl-D on an empty line, IAC EOF */
    static const char *const leave[] = { "quit\r\n", "\x04", "\xff\xec" };
    for (size_t i = 0; i < 3; i++) {
        tc = tc_open(bare_port);
        CHECK(tc_login(tc, "silk", "secret"), "login %zu", i);
        tc_sends(tc, leave[i]);
        CHECK(tc_wait_eof(tc, 5), "way %zu of leaving did not close", i);
        tc_close(tc);
    }

    /* a 1 MB username fails the login, nothing more */
    tc = tc_open(bare_port);
    {
        size_t n = 1 << 20;
        char *big = malloc(n + 2);
        memset(big, 'u', n);
        memcpy(big + n, "\r\n", 2);
        o = tc_wait(tc, "Username: ", 5);
        free(o);
        tc_send(tc, big, n + 2);
        free(big);
        o = tc_wait(tc, "Password: ", 10);
        CHECK(o != NULL, "no password prompt after a long username");
        free(o);
        tc_sends(tc, "secret\r\n");
        o = tc_wait(tc, "Authentication failed", 5);
        CHECK(o != NULL, "a 1 MB username logged in?");
        free(o);
    }
    tc_close(tc);

    /* a slow typist gets in; a silent client is dropped at the login timeout */
    tc = tc_open(bare_port);
    tclient *silent = tc_open(bare_port);
    o = tc_wait(tc, "Username: ", 5);
    free(o);
    for (const char *c = "silk\r\n"; *c; c++) {
        tc_send(tc, c, 1);
        msleep(30);
    }
    o = tc_wait(tc, "Password: ", 5);
    free(o);
    for (const char *c = "secret\r\n"; *c; c++) {
        tc_send(tc, c, 1);
        msleep(30);
    }
    o = tc_wait(tc, ">>> ", 5);
    CHECK(o != NULL, "slow typist not logged in");
    free(o);
    o = tc_wait(silent, "Login timed out", 10);
    CHECK(o != NULL, "silent client not dropped");
    free(o);
    CHECK(tc_wait_eof(silent, 5), "silent client not closed");
    tc_close(silent);
    /* a logged-in session is not subject to the login timeout */
    msleep(2500);
    o = tc_cmd(tc, "'still here'");
    CHECK(!strcmp(o, "'still here'\n"), "%s", o);
    free(o);

    /* 100 simultaneous connections */
    tclient *many[100];
    int greeted = 0, refused = 0;
    for (int i = 0; i < 100; i++)
        many[i] = tc_open(bare_port);
    for (int i = 0; i < 100; i++) {
        if (!many[i])
            continue;
        char *g = tc_wait(many[i], "Username: ", 0.5);
        if (g)
            greeted++;
        else if (tc_wait_eof(many[i], 5) && strstr(many[i]->buf, "Too many connections"))
            refused++;
        free(g);
    }
    CHECK(greeted == 7 && refused == 93, "greeted %d, refused %d", greeted, refused);
    for (int i = 0; i < 100; i++)
        tc_close(many[i]);
    o = tc_cmd(tc, "1 + 1");
    CHECK(!strcmp(o, "2\n"), "%s", o);
    free(o);
    tc_close(tc);
done:
    client_done = 1;
    return NULL;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void test_console_security(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    silk_telnet_options o = { 0 };
    o.password = "secret";
    o.fail_delay = 0.1;
    o.fail_delay_max = 0.4;
    o.max_attempts = 4;
    o.login_timeout = 2;
    o.max_line = 4096;
    o.max_output = 65536;
    silk_telnet *t;
    assert_int_equal(silk_telnet_start(base, NULL, &o, &t), 0);
    bare_port = silk_telnet_port(t);
    assert_true(bare_port > 0);
    assert_string_equal(silk_telnet_password(t), "secret");
    struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = { 0, 20000 };
    event_add(ev, &tv);
    failures[0] = 0;
    client_done = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, security_client, NULL), 0);
    while (!client_done)
        event_base_loop(base, EVLOOP_ONCE);
    pthread_join(th, NULL);
    /* let the server see the last closes */
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    assert_no_failures();
    event_free(ev);
    silk_telnet_free(t);
    event_base_free(base);
    SILK_ASSERT_CLEAN();
}

static void test_console_ports(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    silk_telnet_options o = { 0 };
    silk_telnet *a, *b, *c;
    assert_int_equal(silk_telnet_start(base, NULL, &o, &a), 0);
    int port = silk_telnet_port(a);
    /* a random password: 16 lower-case hex characters */
    assert_int_equal(strlen(silk_telnet_password(a)), 16);
    assert_int_equal(strspn(silk_telnet_password(a), "0123456789abcdef"), 16);
    /* a busy port: the next of the range */
    o.port_lo = port;
    o.port_hi = port + 5;
    assert_int_equal(silk_telnet_start(base, NULL, &o, &b), 0);
    assert_true(silk_telnet_port(b) > port && silk_telnet_port(b) <= port + 5);
    /* one busy port and no range: a clear error */
    o.port_hi = port;
    assert_int_equal(silk_telnet_start(base, NULL, &o, &c), SILK_EIO);
    assert_non_null(strstr(silk_last_error(), "cannot listen on 127.0.0.1"));
    o.port_lo = 10;
    o.port_hi = 5;
    assert_int_equal(silk_telnet_start(base, NULL, &o, &c), SILK_EINVAL);
    silk_telnet_free(a);
    silk_telnet_free(b);
    event_base_free(base);
    SILK_ASSERT_CLEAN();
}

/* ============================================================ leak check */

/* engine/extensions.c refers to the extensions weakly, which does not pull
 * their objects out of the static library: refer to them here. */
const silk_extension_def *const force_link_extensions[] = { &silk_telnet_extension, &silk_leakcheck_extension };

static silk_response *hoard[8];
static size_t nhoard;

static int hoard_parse(silk_ctx *ctx, silk_response *r)
{
    (void)ctx;
    if (nhoard < 5)
        hoard[nhoard++] = silk_ref(r); /* a real leak: kept past the spider's life */
    return 0;
}

/* Runs def against the site; returns the log text (malloc'ed). */
static char *crawl_log(silk_spider_def *def, const char *start_url, const char *const *extra, silk_stats **stats_out,
                       silk_process **proc_out)
{
    char logpath[] = "/tmp/silk-leakcheck-XXXXXX";
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    close(lfd);
    silk_settings *s = silk_settings_new();
    silk_settings_set(s, "LOG_LEVEL", "INFO", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "LOG_FILE", logpath, SILK_PRIO_CMDLINE);
    silk_settings_set(s, "ROBOTSTXT_OBEY", "False", SILK_PRIO_CMDLINE);
    silk_settings_set(s, "TELNETCONSOLE_ENABLED", "False", SILK_PRIO_CMDLINE);
    for (const char *const *kv = extra; kv && *kv; kv++)
        assert_int_equal(silk_settings_set_pair(s, *kv, SILK_PRIO_CMDLINE), 0);
    silk_value *args = silk_value_new_dict();
    if (start_url)
        silk_dict_set_str(args, "start_url", start_url);
    silk_dict_set_str(args, "fixed", "0");
    silk_process *p;
    silk_crawler *c;
    assert_int_equal(silk_process_new(s, &p), 0);
    assert_int_equal(silk_process_crawl(p, def, args, NULL, &c), 0);
    assert_int_equal(silk_process_run(p), 0);
    assert_string_equal(silk_crawler_finish_reason(c), "finished");
    *stats_out = silk_crawler_stats(c);
    *proc_out = p;
    silk_value_free(args);
    silk_settings_free(s);
    char *log = read_file(logpath);
    unlink(logpath);
    if (getenv("SILK_TEST_SHOW_LOG"))
        fprintf(stderr, "%s", log);
    return log;
}

static void test_leakcheck(void **state)
{
    (void)state;
    silk_testserver_options opt = { 0 };
    opt.pages = 40;
    assert_int_equal(silk_testserver_start_thread(&opt, &site), 0);
    const char *base = silk_testserver_url(site);
    char urls[6][128];
    const char *starts[7];
    for (int i = 0; i < 6; i++) {
        snprintf(urls[i], sizeof urls[i], "%s/p/%d.html", base, i);
        starts[i] = urls[i];
    }
    starts[6] = NULL;

    /* a spider that keeps five responses past its close */
    silk_spider_def hoarder = { .name = "hoarder", .start_urls = starts, .parse = hoard_parse };
    nhoard = 0;
    silk_stats *st;
    silk_process *p;
    char *log = crawl_log(&hoarder, NULL,
                          (const char *const[]){ "TRACKREF_REPORT_INTERVAL=0.2", "DOWNLOAD_DELAY=0.15",
                                                 "RANDOMIZE_DOWNLOAD_DELAY=False", "CONCURRENT_REQUESTS=1", NULL },
                          &st, &p);
    assert_int_equal(nhoard, 5);
    assert_non_null(strstr(log, "[silk.extensions.leakcheck] INFO: Live References\n\n"));
    assert_non_null(strstr(log, "[silk.extensions.leakcheck] WARNING: 10 objects created by spider 'hoarder' are "
                                "still alive as it closes (a leak? see docs/leaks.md):\n"));
    char want[256];
    snprintf(want, sizeof want, "\nHtmlResponse                        5   oldest: ");
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof want, "   <200 %s/p/", base);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof want, "\nRequest                             5   oldest: ");
    assert_non_null(strstr(log, want));
    assert_int_equal(silk_stats_get_int(st, "trackref/HtmlResponse/live", 0), 5);
    assert_int_equal(silk_stats_get_int(st, "trackref/Request/live", 0), 5);
    assert_int_equal(silk_stats_get_int(st, "trackref/leaked_at_close", 0), 10);
    const silk_value *age = silk_stats_get(st, "trackref/HtmlResponse/oldest_age");
    assert_non_null(age);
    assert_true(age->kind == SILK_V_DOUBLE && age->u.d > 0.3);
    assert_non_null(strstr(log, "'trackref/HtmlResponse/live': 5,"));
    free(log);
    silk_process_free(p);
    for (size_t i = 0; i < nhoard; i++)
        silk_unref(hoard[i]);
    nhoard = 0;

    /* leaky, run to its end: the queue drains, everything goes, no warning
     * (the leak is a growth while it runs, which the console shows) */
    char start[160];
    snprintf(start, sizeof start, "%s/", base);
    silk_spider_def def = leaky;
    log = crawl_log(&def, start, NULL, &st, &p);
    assert_null(strstr(log, "leakcheck"));
    assert_null(strstr(log, "trackref/"));
    /* "/" and the 40 pages (the start request is filtered like any other) */
    assert_int_equal(silk_stats_get_int(st, "response_received_count", 0), 40 + 1);
    free(log);
    silk_process_free(p);
    silk_testserver_free(site);
    site = NULL;
    SILK_ASSERT_CLEAN();
}

/* ================================================= `silk console` (the CLI) */

static char cli_output[65536];

static void *cli_client(void *arg)
{
    (void)arg;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "printf 'silk\\nsecret\\n6*7\\nfrom scrapy.utils.trackref import iter_all\\niter_all(\"Request\")\\n' | "
             "%s/silk console 127.0.0.1:%d 2>&1",
             SILK_BUILD_DIR, bare_port);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(cli_output, 1, sizeof cli_output - 1, f) : 0;
    cli_output[n] = 0;
    if (f)
        pclose(f);
    client_done = 1;
    return NULL;
}

static void test_console_cli(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/silk", SILK_BUILD_DIR);
    if (access(path, X_OK) != 0) {
        fprintf(stderr, "(skipped: %s is not built)\n", path);
        skip();
    }
    struct event_base *base = event_base_new();
    silk_telnet_options o = { 0 };
    o.password = "secret";
    silk_telnet *t;
    assert_int_equal(silk_telnet_start(base, NULL, &o, &t), 0);
    bare_port = silk_telnet_port(t);
    struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = { 0, 20000 };
    event_add(ev, &tv);
    client_done = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cli_client, NULL), 0);
    while (!client_done)
        event_base_loop(base, EVLOOP_ONCE);
    pthread_join(th, NULL);
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    event_free(ev);
    silk_telnet_free(t);
    event_base_free(base);
    /* each line goes after its prompt and shows there; the password does not */
    assert_non_null(strstr(cli_output, "Username: silk\nPassword: \nsilk "));
    assert_non_null(strstr(cli_output, "\n>>> 6*7\n42\n>>> from scrapy.utils.trackref import iter_all\n"
                                       ">>> iter_all(\"Request\")\n[]\n>>> \n"));
    assert_null(strstr(cli_output, "secret"));
    SILK_ASSERT_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interp_values),
        cmocka_unit_test(test_interp_trackref),
        cmocka_unit_test(test_interp_alloc_failures),
        cmocka_unit_test(test_console_ports),
        cmocka_unit_test(test_console_security),
        cmocka_unit_test(test_console_cli),
        cmocka_unit_test(test_console_guide),
        cmocka_unit_test(test_leakcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
