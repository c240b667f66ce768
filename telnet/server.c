/* silk — the telnet console server, on the crawl's own libevent loop.
 *
 * Each connection is a bufferevent; nothing here blocks, and every buffer is
 * bounded: a line is cut at max_line, a command's output at max_output, and
 * a client that does not read its output stops being read from (its input
 * waits in the kernel) until it catches up. A silent client costs one idle
 * socket until its login timeout; a slow one costs at most its output.
 *
 * The protocol is NVT telnet (RFC 854) in line mode: option requests are
 * answered with the Q method of RFC 1143 (every option refused except the
 * ECHO we offer while the password is typed, so the client stops echoing
 * it), CR LF, CR NUL and a bare LF all end a line, IAC IAC is a 0xFF byte,
 * IAC IP / Ctrl-C drop the line, IAC EOF / Ctrl-D on an empty line leave. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "silk/alloc.h"
#include "silk/engine.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/silk.h"
#include "silk/telnet.h"

#define LOGGER "silk.extensions.telnet"

/* telnet commands and options */
enum {
    T_SE = 240, T_NOP = 241, T_DM = 242, T_BRK = 243, T_IP = 244, T_AO = 245, T_AYT = 246, T_EC = 247,
    T_EL = 248, T_GA = 249, T_SB = 250, T_WILL = 251, T_WONT = 252, T_DO = 253, T_DONT = 254, T_IAC = 255,
    OPT_ECHO = 1, T_EOF = 236,
};

/* RFC 1143 states of an option on our side */
enum { Q_NO, Q_YES, Q_WANTYES, Q_WANTNO };

typedef enum conn_state { ST_USER, ST_PASS, ST_DELAY, ST_SHELL, ST_CLOSING } conn_state;
typedef enum tn_state { TS_DATA, TS_IAC, TS_OPT, TS_SB, TS_SB_IAC } tn_state;

#define MAX_NEGOTIATION_REPLIES 512 /* per connection: a loop-happy client cannot make us chatter */
#define OUTPUT_HIGH (4u << 20)      /* stop reading a client whose unread output passes this */
#define OUTPUT_LOW (64u << 10)      /* ... and read again once it is down to this */

typedef struct conn conn;

/* At most one warning a second per kind, so that a flood of connections
 * cannot flood the log; what was held back is counted in the next one. */
typedef struct ratelimit {
    uint64_t last_ns;
    unsigned suppressed;
} ratelimit;

static bool ratelimit_ok(ratelimit *r, unsigned *suppressed)
{
    uint64_t now = silk_now_ns();
    if (r->last_ns && now - r->last_ns < 1000000000u) {
        r->suppressed++;
        return false;
    }
    r->last_ns = now;
    *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

struct silk_telnet {
    struct event_base *base;
    silk_crawler *crawler;
    struct evconnlistener *listener;
    struct event *relisten; /* after an accept error (EMFILE), pause accepting */
    char *host, *username, *password;
    int port;
    silk_telnet_options opt;
    conn *conns; /* doubly linked */
    size_t nconns;
    ratelimit warn_refused, warn_login;
};

struct conn {
    silk_telnet *t;
    conn *prev, *next;
    struct bufferevent *bev;
    struct event *timer; /* login timeout, then the delay after a failed login */
    conn_state state;
    tn_state ts;
    unsigned char opt_cmd;
    bool last_cr;
    uint8_t us[256]; /* Q_* per option */
    unsigned replies;
    silk_buf line;
    bool overflow;
    char *user; /* the username typed, until the password is checked */
    unsigned fails;
    silk_interp *interp;
    bool read_paused; /* waiting for the client to read its output */
    bool grace_over;  /* closing: the client had its time to read */
};

/* ---------------------------------------------------------------- output */

/* Raw bytes (telnet commands included). */
static void send_raw(conn *c, const void *p, size_t n)
{
    if (c->bev)
        bufferevent_write(c->bev, p, n);
}

/* Text: "\n" becomes CR LF (NVT), 0xFF is doubled (IAC IAC). */
static void send_text(conn *c, const char *s, size_t n)
{
    const char *start = s, *end = s + n;
    for (const char *p = s; p < end; p++) {
        if (*p == '\n' || (unsigned char)*p == 0xFF) {
            if (p > start)
                send_raw(c, start, (size_t)(p - start));
            send_raw(c, *p == '\n' ? "\r\n" : "\xff\xff", 2);
            start = p + 1;
        }
    }
    if (end > start)
        send_raw(c, start, (size_t)(end - start));
}

static void send_str(conn *c, const char *s) { send_text(c, s, strlen(s)); }

static void send_cmd(conn *c, unsigned char cmd, unsigned char opt)
{
    unsigned char b[3] = { T_IAC, cmd, opt };
    send_raw(c, b, 3);
}

/* RFC 1143: ask to enable / disable one of our options. */
static void us_request(conn *c, unsigned char opt, bool on)
{
    if (on && (c->us[opt] == Q_NO || c->us[opt] == Q_WANTNO)) {
        c->us[opt] = Q_WANTYES;
        send_cmd(c, T_WILL, opt);
    } else if (!on && (c->us[opt] == Q_YES || c->us[opt] == Q_WANTYES)) {
        c->us[opt] = Q_WANTNO;
        send_cmd(c, T_WONT, opt);
    }
}

static void prompt(conn *c)
{
    switch (c->state) {
    case ST_USER: send_str(c, "Username: "); break;
    case ST_PASS: send_str(c, "Password: "); break;
    case ST_SHELL: send_str(c, ">>> "); break;
    default: break;
    }
}

/* ------------------------------------------------------------ lifecycle */

static void conn_free(conn *c)
{
    silk_telnet *t = c->t;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    t->nconns--;
    if (c->timer)
        event_free(c->timer);
    if (c->bev)
        bufferevent_free(c->bev);
    silk_buf_free(&c->line);
    if (c->user) {
        memset(c->user, 0, strlen(c->user));
        silk_free(c->user);
    }
    silk_interp_free(c->interp);
    silk_free(c);
}

static void arm_timer(conn *c, double seconds);

/* Closes once the output is flushed (or after a grace period, for a client
 * that never reads it). Never frees c under its caller's feet: the freeing
 * happens in a later callback. */
static void conn_close_later(conn *c)
{
    if (c->state == ST_CLOSING)
        return;
    c->state = ST_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    /* the write callback fires once the output is empty */
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    event_del(c->timer);
    arm_timer(c, 0);
}

static void arm_timer(conn *c, double seconds)
{
    struct timeval tv = { (time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6) };
    event_add(c->timer, &tv);
}

/* ----------------------------------------------------------------- auth */

static void digest(const char *s, unsigned char out[32])
{
    unsigned int n = 32;
    if (!EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL))
        memset(out, 0, 32); /* cannot happen with a built-in digest; fails the compare below */
}

/* Both credentials compared in full, in time independent of where they
 * differ and of their lengths (digests of equal size are compared). */
static bool credentials_ok(const silk_telnet *t, const char *user, const char *pass)
{
    unsigned char a[32], b[32], x[32], y[32];
    digest(user, a);
    digest(t->username, b);
    digest(pass, x);
    digest(t->password, y);
    int bad = CRYPTO_memcmp(a, b, 32) | CRYPTO_memcmp(x, y, 32);
    return bad == 0;
}

static void handle_line(conn *c, const char *line)
{
    silk_telnet *t = c->t;
    switch (c->state) {
    case ST_USER:
        silk_free(c->user);
        if (!(c->user = silk_strdup(line))) {
            conn_close_later(c);
            return;
        }
        c->state = ST_PASS;
        us_request(c, OPT_ECHO, true); /* the client stops echoing */
        prompt(c);
        return;
    case ST_PASS: {
        us_request(c, OPT_ECHO, false);
        send_str(c, "\n"); /* the Enter the client did not echo */
        bool ok = !c->overflow && credentials_ok(t, c->user ? c->user : "", line);
        memset(c->user, 0, strlen(c->user));
        silk_free(c->user);
        c->user = NULL;
        if (ok && silk_interp_new(t->crawler, &c->interp) == 0) {
            silk_interp_set_limits(c->interp, t->opt.max_output, 0);
            event_del(c->timer);
            c->state = ST_SHELL;
            silk_spider *sp = t->crawler ? silk_crawler_spider(t->crawler) : NULL;
            silk_buf b = SILK_BUF_INIT;
            silk_buf_printf(&b, "silk %s console%s%s%s: type help for the commands, Ctrl-D to leave\n",
                            silk_version(), sp ? " for spider '" : "", sp ? sp->name : "", sp ? "'" : "");
            if (b.data)
                send_str(c, b.data);
            silk_buf_free(&b);
            prompt(c);
            return;
        }
        c->fails++;
        unsigned held;
        if (ratelimit_ok(&t->warn_login, &held))
            silk_log(SILK_LOG_WARNING, LOGGER, "Telnet console: failed login (%u on this connection)%s", c->fails,
                     held ? " (and more not logged)" : "");
        send_str(c, "Authentication failed\n");
        if (c->fails >= t->opt.max_attempts) {
            send_str(c, "Too many failed login attempts; closing the connection.\n");
            conn_close_later(c);
            return;
        }
        /* a growing delay, per connection, capped: slows a guesser down
         * without locking out an owner who mistyped */
        double delay = t->opt.fail_delay;
        for (unsigned i = 1; i < c->fails && delay < t->opt.fail_delay_max; i++)
            delay *= 2;
        if (delay > t->opt.fail_delay_max)
            delay = t->opt.fail_delay_max;
        c->state = ST_DELAY;
        event_del(c->timer);
        arm_timer(c, delay);
        return;
    }
    case ST_SHELL: {
        silk_buf out = SILK_BUF_INIT;
        int rc = silk_interp_exec(c->interp, line, &out);
        if (out.data)
            send_text(c, out.data, out.len);
        else if (rc)
            send_str(c, "MemoryError\n");
        silk_buf_free(&out);
        if (silk_interp_wants_exit(c->interp)) {
            conn_close_later(c);
            return;
        }
        prompt(c);
        return;
    }
    default: return;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == ST_CLOSING) {
        if (c->grace_over || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            conn_free(c);
        } else {
            c->grace_over = true;
            arm_timer(c, 10);
        }
        return;
    }
    if (c->state == ST_DELAY) {
        /* the login timeout keeps running from the first connection */
        c->state = ST_USER;
        arm_timer(c, c->t->opt.login_timeout);
        prompt(c);
        return;
    }
    if (c->state == ST_USER || c->state == ST_PASS) {
        us_request(c, OPT_ECHO, false);
        send_str(c, "\nLogin timed out; closing the connection.\n");
        conn_close_later(c);
    }
}

/* ---------------------------------------------------------------- input */

static void end_line(conn *c)
{
    if (c->state == ST_DELAY || c->state == ST_CLOSING) {
        silk_buf_reset(&c->line);
        c->overflow = false;
        return;
    }
    if (c->overflow) {
        c->overflow = false;
        silk_buf_reset(&c->line);
        if (c->state == ST_SHELL) {
            char msg[128];
            snprintf(msg, sizeof msg, "error: line too long (a line may have at most %zu bytes); ignored\n",
                     c->t->opt.max_line);
            send_str(c, msg);
            prompt(c);
            return;
        }
        /* a username or password that long fails the login */
        c->overflow = true;
        handle_line(c, "");
        c->overflow = false;
        return;
    }
    char *line = c->line.data ? c->line.data : "";
    /* handle_line may free c: copy the line out first */
    char small[256];
    char *copy = c->line.len < sizeof small ? small : silk_malloc(c->line.len + 1);
    if (!copy) {
        silk_buf_reset(&c->line);
        send_str(c, "MemoryError\n");
        prompt(c);
        return;
    }
    memcpy(copy, line, c->line.len + 1);
    silk_buf_reset(&c->line);
    handle_line(c, copy);
    if (copy != small) {
        memset(copy, 0, strlen(copy));
        silk_free(copy);
    } else {
        memset(small, 0, sizeof small);
    }
}

/* Ctrl-C / IAC IP: drop the line being typed. */
static void interrupt(conn *c)
{
    silk_buf_reset(&c->line);
    c->overflow = false;
    if (c->state == ST_SHELL) {
        send_str(c, "\nKeyboardInterrupt\n");
        prompt(c);
    }
}

/* One byte of text. */
static void data_byte(conn *c, unsigned char ch)
{
    if (c->last_cr) {
        c->last_cr = false;
        if (ch == '\n' || ch == '\0')
            return; /* CR LF, CR NUL: the CR ended the line */
    }
    switch (ch) {
    case '\r':
        c->last_cr = true;
        /* fall through */
    case '\n':
        end_line(c);
        return;
    case 0x03:
        interrupt(c);
        return;
    case 0x04:
        if (c->line.len == 0)
            conn_close_later(c);
        return;
    case 0x08:
    case 0x7f:
        while (c->line.len && ((unsigned char)c->line.data[c->line.len - 1] & 0xC0) == 0x80)
            c->line.len--;
        if (c->line.len)
            c->line.data[--c->line.len] = 0;
        return;
    case 0x15:
        silk_buf_reset(&c->line);
        return;
    default: break;
    }
    if (ch < 0x20 && ch != '\t')
        return; /* other control characters mean nothing here */
    if (c->overflow)
        return;
    if (c->line.len >= c->t->opt.max_line) {
        c->overflow = true;
        return;
    }
    if (silk_buf_putc(&c->line, (char)ch)) {
        silk_buf_free(&c->line);
        c->overflow = true;
    }
    return;
}

static void negotiate(conn *c, unsigned char cmd, unsigned char opt)
{
    if (c->replies >= MAX_NEGOTIATION_REPLIES)
        return;
    uint8_t *q = &c->us[opt];
    switch (cmd) {
    case T_DO:
        if (*q == Q_NO) {
            c->replies++;
            send_cmd(c, T_WONT, opt); /* we offer nothing else */
        } else if (*q == Q_WANTYES) {
            *q = Q_YES;
        } else if (*q == Q_WANTNO) {
            *q = Q_NO;
        }
        break;
    case T_DONT:
        if (*q == Q_YES) {
            *q = Q_NO;
            c->replies++;
            send_cmd(c, T_WONT, opt);
        } else {
            *q = Q_NO;
        }
        break;
    case T_WILL:
        /* the client's options: we want none of them */
        c->replies++;
        send_cmd(c, T_DONT, opt);
        break;
    case T_WONT: break; /* already off on our books */
    }
}

/* Feeds the input to the telnet parser, consuming only what it processes:
 * when the client must wait (its output is backed up, a failed-login
 * delay), the rest stays buffered. */
static void process_input(conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (!avail || c->read_paused)
            return;
        size_t n = avail < 4096 ? avail : 4096;
        unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
        if (!p)
            return;
        size_t i = 0;
        for (; i < n; i++) {
            unsigned char ch = p[i];
            switch (c->ts) {
            case TS_DATA:
                if (ch == T_IAC) {
                    c->ts = TS_IAC;
                    continue;
                }
                data_byte(c, ch);
                break;
            case TS_IAC:
                c->ts = TS_DATA;
                switch (ch) {
                case T_IAC: data_byte(c, ch); break;
                case T_WILL:
                case T_WONT:
                case T_DO:
                case T_DONT:
                    c->opt_cmd = ch;
                    c->ts = TS_OPT;
                    break;
                case T_SB: c->ts = TS_SB; break;
                case T_IP:
                case T_BRK: interrupt(c); break;
                case T_EOF:
                    if (c->line.len == 0)
                        conn_close_later(c);
                    break;
                case T_AYT: send_str(c, "\n[silk: yes]\n"); break;
                case T_EC: data_byte(c, 0x08); break;
                case T_EL: silk_buf_reset(&c->line); break;
                default: break; /* NOP, DM, AO, GA, SE out of place */
                }
                break;
            case TS_OPT:
                c->ts = TS_DATA;
                negotiate(c, c->opt_cmd, ch);
                break;
            case TS_SB:
                /* subnegotiation: nothing we asked for; skip to IAC SE */
                if (ch == T_IAC)
                    c->ts = TS_SB_IAC;
                break;
            case TS_SB_IAC: c->ts = ch == T_SE ? TS_DATA : TS_SB; break;
            }
            if (c->state == ST_CLOSING) {
                evbuffer_drain(in, i + 1);
                return;
            }
            /* pause once this client's unread output is large */
            if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_HIGH) {
                c->read_paused = true;
                bufferevent_disable(c->bev, EV_READ);
                evbuffer_drain(in, i + 1);
                return;
            }
        }
        evbuffer_drain(in, i);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == ST_CLOSING) {
        if (pending == 0)
            conn_free(c);
        return;
    }
    if (c->read_paused && pending <= OUTPUT_LOW) {
        c->read_paused = false;
        bufferevent_enable(c->bev, EV_READ);
        process_input(c); /* what arrived meanwhile is already buffered */
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_free(c);
}

/* -------------------------------------------------------------- accept */

static void refuse(evutil_socket_t fd, const char *msg)
{
    /* best effort, never blocks: the socket is non-blocking */
    ssize_t r = send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)r;
    evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    silk_telnet *t = arg;
    (void)l;
    (void)sa;
    (void)len;
    if (t->nconns >= t->opt.max_connections) {
        char msg[160];
        snprintf(msg, sizeof msg, "Too many connections to the telnet console (at most %zu); try again later.\r\n",
                 t->opt.max_connections);
        unsigned held;
        if (ratelimit_ok(&t->warn_refused, &held))
            silk_log(SILK_LOG_WARNING, LOGGER, "Telnet console: connection refused, %zu already open%s", t->nconns,
                     held ? " (and more refusals not logged)" : "");
        refuse(fd, msg);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = silk_calloc(1, sizeof *c);
    if (!c) {
        refuse(fd, "Out of memory; try again later.\r\n");
        return;
    }
    c->t = t;
    c->bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(t->base, on_timer, c);
    if (!c->bev || !c->timer) {
        if (c->timer)
            event_free(c->timer);
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        silk_free(c);
        return;
    }
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    t->nconns++;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_LOW, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm_timer(c, t->opt.login_timeout);
    c->state = ST_USER;
    prompt(c);
}

static void on_relisten(evutil_socket_t fd, short what, void *arg)
{
    silk_telnet *t = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(t->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    silk_telnet *t = arg;
    int err = EVUTIL_SOCKET_ERROR();
    silk_log(SILK_LOG_WARNING, LOGGER, "Telnet console: accept failed: %s; pausing for a second",
             evutil_socket_error_to_string(err));
    /* out of descriptors: the listening socket stays readable, so stop
     * watching it for a while instead of spinning the loop */
    evconnlistener_disable(l);
    struct timeval tv = { 1, 0 };
    event_add(t->relisten, &tv);
}

/* ---------------------------------------------------------------- public */

static void random_password(char out[17])
{
    unsigned char r[8];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* getrandom cannot fail on Linux >= 3.17 once seeded; be safe */
            unsigned char b2[8];
            for (size_t i = 0; i < sizeof b2; i++)
                b2[i] = (unsigned char)(rand() ^ (int)silk_now_ns());
            memcpy(r + got, b2, sizeof r - got);
            break;
        }
        got += (size_t)n;
    }
    silk_hex(r, sizeof r, out);
}

static struct evconnlistener *bind_port(silk_telnet *t, const char *host, int port)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
        return NULL;
    struct evconnlistener *l = NULL;
    for (struct addrinfo *ai = res; ai && !l; ai = ai->ai_next)
        l = evconnlistener_new_bind(t->base, on_accept, t,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
                                    ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(res);
    return l;
}

int silk_telnet_start(struct event_base *base, silk_crawler *crawler, const silk_telnet_options *opt,
                      silk_telnet **out)
{
    *out = NULL;
    silk_telnet_options o = { 0 };
    if (opt)
        o = *opt;
    if (!base)
        return silk_error(SILK_EINVAL, "telnet console: no event loop");
    if (o.port_lo < 0 || o.port_hi < 0 || o.port_lo > 65535 || o.port_hi > 65535 ||
        (o.port_hi && o.port_hi < o.port_lo))
        return silk_error(SILK_EINVAL, "telnet console: bad port range [%d, %d]", o.port_lo, o.port_hi);
    if (!o.port_hi)
        o.port_hi = o.port_lo;
    if (!o.max_connections)
        o.max_connections = 8;
    if (!o.max_line)
        o.max_line = 16384;
    if (!o.max_output)
        o.max_output = 1u << 20;
    if (!o.max_attempts)
        o.max_attempts = 5;
    if (o.fail_delay <= 0)
        o.fail_delay = 0.5;
    if (o.fail_delay_max <= 0)
        o.fail_delay_max = 4.0;
    if (o.login_timeout <= 0)
        o.login_timeout = 60.0;
    silk_telnet *t = silk_calloc(1, sizeof *t);
    if (!t)
        return SILK_ENOMEM;
    t->base = base;
    t->crawler = crawler;
    t->opt = o;
    char pw[17];
    if (!o.password || !*o.password)
        random_password(pw);
    t->host = silk_strdup(o.host ? o.host : "127.0.0.1");
    t->username = silk_strdup(o.username ? o.username : "silk");
    t->password = silk_strdup(o.password && *o.password ? o.password : pw);
    memset(pw, 0, sizeof pw);
    int rc;
    if (!t->host || !t->username || !t->password || !(t->relisten = evtimer_new(base, on_relisten, t))) {
        rc = SILK_ENOMEM;
        goto err;
    }
    t->opt.host = t->opt.username = t->opt.password = NULL; /* not kept: the copies above are */
    for (int port = o.port_lo; port <= o.port_hi && !t->listener; port++)
        t->listener = bind_port(t, t->host, port);
    if (!t->listener) {
        rc = silk_error(SILK_EIO, "telnet console: cannot listen on %s, port%s %d%s%.0d: %s", t->host,
                        o.port_lo == o.port_hi ? "" : "s", o.port_lo, o.port_lo == o.port_hi ? "" : "-",
                        o.port_lo == o.port_hi ? 0 : o.port_hi, strerror(errno));
        goto err;
    }
    evconnlistener_set_error_cb(t->listener, on_accept_error);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evconnlistener_get_fd(t->listener), (struct sockaddr *)&ss, &sl) == 0)
        t->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *out = t;
    return 0;
err:
    silk_telnet_free(t);
    return rc;
}

void silk_telnet_free(silk_telnet *t)
{
    if (!t)
        return;
    while (t->conns)
        conn_free(t->conns);
    if (t->listener)
        evconnlistener_free(t->listener);
    if (t->relisten)
        event_free(t->relisten);
    silk_free(t->host);
    silk_free(t->username);
    if (t->password) {
        memset(t->password, 0, strlen(t->password));
        silk_free(t->password);
    }
    silk_free(t);
}

int silk_telnet_port(const silk_telnet *t) { return t ? t->port : 0; }
const char *silk_telnet_host(const silk_telnet *t) { return t ? t->host : NULL; }
const char *silk_telnet_password(const silk_telnet *t) { return t ? t->password : NULL; }
size_t silk_telnet_connections(const silk_telnet *t) { return t ? t->nconns : 0; }

/* ------------------------------------------------------------ extension */

typedef struct console_ext {
    silk_crawler *crawler;
    silk_telnet *telnet;
    struct console_ext *next;
} console_ext;

static console_ext *open_consoles; /* loop thread only */

silk_telnet *silk_telnet_of(const silk_crawler *crawler)
{
    for (console_ext *e = open_consoles; e; e = e->next)
        if (e->crawler == crawler)
            return e->telnet;
    return NULL;
}

/* TELNETCONSOLE_PORT: [lo, hi], [port], "N" or "lo,hi". */
static int port_range(silk_settings *s, int *lo, int *hi)
{
    silk_value *l = NULL;
    int rc = silk_settings_get_list(s, "TELNETCONSOLE_PORT", &l);
    if (rc == SILK_ENOTFOUND) {
        *lo = 6023;
        *hi = 6073;
        return 0;
    }
    if (rc)
        return rc;
    size_t n = silk_list_len(l);
    int ports[2] = { 0, 0 };
    for (size_t i = 0; i < n && i < 2; i++) {
        const silk_value *v = silk_list_get(l, i);
        long p = -1;
        if (v->kind == SILK_V_INT)
            p = (long)v->u.i;
        else if (v->kind == SILK_V_STRING) {
            char *end;
            p = strtol(v->u.s.ptr, &end, 10);
            while (*end == ' ')
                end++;
            if (end == v->u.s.ptr || *end)
                p = -1;
        }
        if (p < 0 || p > 65535) {
            silk_value_free(l);
            return silk_error(SILK_ETYPE, "setting TELNETCONSOLE_PORT: expected a port or [first, last], got an "
                                          "entry that is not a port number");
        }
        ports[i] = (int)p;
    }
    silk_value_free(l);
    if (n == 0 || n > 2 || (n == 2 && ports[1] < ports[0]))
        return silk_error(SILK_ETYPE, "setting TELNETCONSOLE_PORT: expected a port or [first, last]");
    *lo = ports[0];
    *hi = n == 2 ? ports[1] : ports[0];
    return 0;
}

static int telnet_ext_open(void **state, silk_crawler *c)
{
    silk_settings *s = silk_crawler_settings(c);
    if (!silk_settings_bool(s, "TELNETCONSOLE_ENABLED", true))
        return 0;
    silk_telnet_options o = { 0 };
    if (port_range(s, &o.port_lo, &o.port_hi)) {
        silk_log(SILK_LOG_ERROR, LOGGER, "Telnet console disabled: %s", silk_last_error());
        return 0;
    }
    o.host = silk_settings_str(s, "TELNETCONSOLE_HOST", "127.0.0.1");
    o.username = silk_settings_str(s, "TELNETCONSOLE_USERNAME", "silk");
    /* null (the default) or "" means a random one */
    const silk_value *pv = silk_settings_get(s, "TELNETCONSOLE_PASSWORD");
    o.password = pv && pv->kind == SILK_V_STRING ? pv->u.s.ptr : NULL;
    int64_t maxc = silk_settings_int(s, "TELNETCONSOLE_MAX_CONNECTIONS", 8);
    o.max_connections = maxc > 0 ? (size_t)maxc : 8;
    bool generated = !o.password || !*o.password;
    console_ext *e = silk_calloc(1, sizeof *e);
    if (!e)
        return SILK_ENOMEM;
    int rc = silk_telnet_start(silk_crawler_base(c), c, &o, &e->telnet);
    if (rc == SILK_ENOMEM) {
        silk_free(e);
        return rc;
    }
    if (rc) {
        /* the crawl goes on without a console */
        silk_log(SILK_LOG_ERROR, LOGGER, "Telnet console disabled: %s", silk_last_error());
        silk_free(e);
        return 0;
    }
    if (generated)
        silk_log(SILK_LOG_INFO, LOGGER, "Telnet Password: %s", silk_telnet_password(e->telnet));
    silk_log(SILK_LOG_INFO, LOGGER, "Telnet console listening on %s:%d", silk_telnet_host(e->telnet),
             silk_telnet_port(e->telnet));
    e->crawler = c;
    e->next = open_consoles;
    open_consoles = e;
    *state = e;
    return 0;
}

static void telnet_ext_close(void *state)
{
    console_ext *e = state;
    if (!e)
        return;
    for (console_ext **p = &open_consoles; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    silk_telnet_free(e->telnet);
    silk_free(e);
}

/* Opened after the leak check (order 0 > -100) so that it closes before it:
 * objects a console session holds are released before the check runs. */
const silk_extension_def silk_telnet_extension = { "TelnetConsole", 0, telnet_ext_open, telnet_ext_close };
