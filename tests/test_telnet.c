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
    EXPECT(in, "get_oldest()", "TypeError: get_oldest() missing 1 required positional argument\n");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interp_values),
        cmocka_unit_test(test_interp_trackref),
        cmocka_unit_test(test_interp_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
