/* silk console [HOST:]PORT — a small telnet client for silk's console, for
 * machines without a telnet program.
 *
 * It speaks just enough telnet (RFC 854) for the console: the server's ECHO
 * offer turns local echo off while the password is typed, every other
 * option is refused, IAC IAC is a 0xFF byte. On a terminal it edits lines
 * itself (left/right, home/end, backspace/delete, Ctrl-A/E/K/U/W, up/down
 * through a history kept in ~/.silk_console_history); otherwise it sends
 * standard input a line at a time, each once the server prompts for it, and
 * shows it after the prompt (a password as nothing), so that
 * `printf 'silk\nPASSWORD\nprefs()\n' | silk console 6023` prints the
 * session as a terminal would. Ctrl-D on an empty line, or the end of the
 * input, leaves, as in Python's console. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "silk/alloc.h"
#include "silk/buf.h"

#define HISTORY_MAX 1000

extern const cli_command cli_cmd_console;

static const cli_option options[] = {
    { 0, 0, NULL, false, NULL, NULL },
};

static void help(FILE *f)
{
    fprintf(f, "Usage\n=====\n  silk console [HOST:]PORT\n\n"
               "Connect to the telnet console of a running crawl (HOST defaults to 127.0.0.1)\n"
               "and log in with the username and password it asks for (the password is\n"
               "logged at start as \"Telnet Password: ...\"). Ctrl-D leaves.\n\n"
               "  silk console 6023\n"
               "  silk console 127.0.0.1:6023\n"
               "  printf 'silk\\nPASSWORD\\nprefs()\\n' | silk console 6023\n\n"
               "See docs/leaks.md for what to type.\n");
}

/* ---------------------------------------------------------------- state */

typedef struct console {
    int fd;
    bool tty;
    bool server_echoes; /* the server said WILL ECHO: do not show what is typed */
    /* telnet parser */
    int ts;
    unsigned char opt_cmd;
    /* the server's text after its last newline: the prompt */
    silk_buf pending;
    /* the line being edited */
    silk_buf line;
    size_t cursor; /* byte offset in line */
    /* history */
    char **hist;
    size_t nhist;
    size_t hist_pos; /* == nhist: the line being typed */
    silk_buf saved;  /* the line being typed, while browsing history */
    char *hist_path;
    /* escape sequences from the keyboard */
    char esc[8];
    size_t nesc;
    /* pipe mode: lines wait for the server's prompt, then are shown after
     * it as a terminal would show them (a password as nothing) */
    silk_buf queue; /* complete lines, each ending with \n */
    bool at_prompt;
    bool at_password;
    bool input_done; /* standard input ended: Ctrl-D once the queue is empty */
    bool eof_sent;
} console;

static struct termios saved_tio;
static bool raw_on;

static void raw_off(void)
{
    if (raw_on) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
        raw_on = false;
    }
}

static void on_fatal_signal(int sig)
{
    raw_off();
    signal(sig, SIG_DFL);
    raise(sig);
}

static bool raw_mode(void)
{
    if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
        return false;
    struct termios t = saved_tio;
    t.c_iflag &= (tcflag_t) ~(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    t.c_cflag |= CS8;
    t.c_lflag &= (tcflag_t) ~(ECHO | ICANON | IEXTEN | ISIG);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0)
        return false;
    raw_on = true;
    atexit(raw_off);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
    return true;
}

static void out(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void outs(const char *s) { out(s, strlen(s)); }

static void send_all(console *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Text to the server: 0xFF doubled, the line ended with CR LF. */
static void send_line(console *c, const char *s, size_t n)
{
    silk_buf b = SILK_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        silk_buf_putc(&b, s[i]);
        if ((unsigned char)s[i] == 0xFF)
            silk_buf_putc(&b, s[i]);
    }
    silk_buf_puts(&b, "\r\n");
    if (b.data)
        send_all(c, b.data, b.len);
    silk_buf_free(&b);
}

/* --------------------------------------------------------------- history */

static void history_add(console *c, const char *line)
{
    if (!*line || (c->nhist && strcmp(c->hist[c->nhist - 1], line) == 0))
        return;
    char *copy = silk_strdup(line);
    if (!copy)
        return;
    if (c->nhist == HISTORY_MAX) {
        silk_free(c->hist[0]);
        memmove(c->hist, c->hist + 1, (HISTORY_MAX - 1) * sizeof *c->hist);
        c->nhist--;
    }
    if (!c->hist && !(c->hist = silk_calloc(HISTORY_MAX, sizeof *c->hist))) {
        silk_free(copy);
        return;
    }
    c->hist[c->nhist++] = copy;
}

static void history_load(console *c)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return;
    c->hist_path = silk_asprintf("%s/.silk_console_history", home);
    FILE *f = c->hist_path ? fopen(c->hist_path, "r") : NULL;
    if (!f)
        return;
    char buf[4096];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        history_add(c, buf);
    }
    fclose(f);
}

static void history_save(console *c)
{
    if (!c->hist_path || !c->nhist)
        return;
    FILE *f = fopen(c->hist_path, "w");
    if (!f)
        return;
    for (size_t i = 0; i < c->nhist; i++)
        fprintf(f, "%s\n", c->hist[i]);
    fclose(f);
}

/* ---------------------------------------------------------------- editor */

static size_t columns(const char *s, size_t n)
{
    size_t cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cols;
}

/* Redraws the current terminal line: the prompt, then what is typed. */
static void redraw(console *c)
{
    if (!c->tty)
        return;
    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "\r\x1b[K");
    if (c->pending.data)
        silk_buf_append(&b, c->pending.data, c->pending.len);
    if (!c->server_echoes) {
        if (c->line.data)
            silk_buf_append(&b, c->line.data, c->line.len);
        size_t back = columns(c->line.data ? c->line.data + c->cursor : "", c->line.len - c->cursor);
        if (back)
            silk_buf_printf(&b, "\x1b[%zuD", back);
    }
    if (b.data)
        out(b.data, b.len);
    silk_buf_free(&b);
}

static void set_line(console *c, const char *s)
{
    silk_buf_reset(&c->line);
    silk_buf_puts(&c->line, s);
    c->cursor = c->line.len;
}

static void insert(console *c, const char *s, size_t n)
{
    if (silk_buf_reserve(&c->line, n))
        return;
    memmove(c->line.data + c->cursor + n, c->line.data + c->cursor, c->line.len - c->cursor + 1);
    memcpy(c->line.data + c->cursor, s, n);
    c->line.len += n;
    c->cursor += n;
}

static void delete_range(console *c, size_t from, size_t to)
{
    if (to <= from || !c->line.data)
        return;
    memmove(c->line.data + from, c->line.data + to, c->line.len - to + 1);
    c->line.len -= to - from;
    c->cursor = from;
}

static size_t prev_char(const console *c, size_t i)
{
    while (i > 0) {
        i--;
        if (((unsigned char)c->line.data[i] & 0xC0) != 0x80)
            break;
    }
    return i;
}

static size_t next_char(const console *c, size_t i)
{
    if (i < c->line.len)
        i++;
    while (i < c->line.len && ((unsigned char)c->line.data[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static void history_move(console *c, int dir)
{
    if (!c->nhist)
        return;
    if (dir < 0 && c->hist_pos == 0)
        return;
    if (dir > 0 && c->hist_pos >= c->nhist)
        return;
    if (c->hist_pos == c->nhist) {
        silk_buf_reset(&c->saved);
        silk_buf_puts(&c->saved, c->line.data ? c->line.data : "");
    }
    c->hist_pos = (size_t)((long)c->hist_pos + dir);
    set_line(c, c->hist_pos == c->nhist ? (c->saved.data ? c->saved.data : "") : c->hist[c->hist_pos]);
}

/* Enter: the line goes to the server. */
static void submit(console *c)
{
    const char *l = c->line.data ? c->line.data : "";
    if (c->tty)
        outs("\r\n");
    send_line(c, l, c->line.len);
    /* prompts and passwords do not go to the history */
    if (!c->server_echoes && c->pending.len >= 4 && !strcmp(c->pending.data + c->pending.len - 4, ">>> "))
        history_add(c, l);
    silk_buf_reset(&c->pending);
    set_line(c, "");
    c->hist_pos = c->nhist;
}

/* One key from a terminal in raw mode. Returns false to leave. */
static bool key(console *c, unsigned char ch)
{
    if (c->nesc) {
        c->esc[c->nesc++] = (char)ch;
        const char *e = c->esc;
        bool done = true;
        if (c->nesc == 2 && ch != '[' && ch != 'O')
            ; /* Alt-key: ignored */
        else if (c->nesc == 2)
            done = false;
        else if (ch >= '0' && ch <= '9' && c->nesc < sizeof c->esc - 1)
            done = false;
        else if (!strcmp(e, "\x1b[A") || !strcmp(e, "\x1bOA"))
            history_move(c, -1);
        else if (!strcmp(e, "\x1b[B") || !strcmp(e, "\x1bOB"))
            history_move(c, +1);
        else if (!strcmp(e, "\x1b[C") || !strcmp(e, "\x1bOC"))
            c->cursor = next_char(c, c->cursor);
        else if (!strcmp(e, "\x1b[D") || !strcmp(e, "\x1bOD"))
            c->cursor = prev_char(c, c->cursor);
        else if (!strcmp(e, "\x1b[H") || !strcmp(e, "\x1bOH") || !strcmp(e, "\x1b[1~"))
            c->cursor = 0;
        else if (!strcmp(e, "\x1b[F") || !strcmp(e, "\x1bOF") || !strcmp(e, "\x1b[4~"))
            c->cursor = c->line.len;
        else if (!strcmp(e, "\x1b[3~"))
            delete_range(c, c->cursor, next_char(c, c->cursor));
        if (done) {
            c->nesc = 0;
            redraw(c);
        }
        return true;
    }
    switch (ch) {
    case 0x1b: c->esc[0] = (char)ch, c->nesc = 1; return true;
    case '\r':
    case '\n': submit(c); return true;
    case 0x04: /* Ctrl-D: leave on an empty line, else delete forward */
        if (c->line.len == 0) {
            send_all(c, "\x04", 1);
            return false;
        }
        delete_range(c, c->cursor, next_char(c, c->cursor));
        break;
    case 0x03: /* Ctrl-C: the server drops the line and says so */
        set_line(c, "");
        outs("^C\r\n");
        silk_buf_reset(&c->pending);
        send_all(c, "\x03", 1);
        return true;
    case 0x7f:
    case 0x08: delete_range(c, prev_char(c, c->cursor), c->cursor); break;
    case 0x01: c->cursor = 0; break;
    case 0x05: c->cursor = c->line.len; break;
    case 0x02: c->cursor = prev_char(c, c->cursor); break;
    case 0x06: c->cursor = next_char(c, c->cursor); break;
    case 0x0b: delete_range(c, c->cursor, c->line.len); break;
    case 0x15: delete_range(c, 0, c->cursor); break;
    case 0x17: { /* Ctrl-W: the word before the cursor */
        size_t i = c->cursor;
        while (i > 0 && c->line.data[i - 1] == ' ')
            i--;
        while (i > 0 && c->line.data[i - 1] != ' ')
            i--;
        delete_range(c, i, c->cursor);
        break;
    }
    case 0x10: history_move(c, -1); break;
    case 0x0e: history_move(c, +1); break;
    case 0x0c: outs("\x1b[H\x1b[2J"); break;
    default:
        if (ch < 0x20)
            return true;
        insert(c, (const char *)&ch, 1);
    }
    redraw(c);
    return true;
}

/* ------------------------------------------------------------ from server */

static void refuse_opt(console *c, unsigned char cmd, unsigned char opt)
{
    unsigned char b[3] = { 255, cmd, opt };
    send_all(c, b, 3);
}

/* Shows server text: complete lines are printed, the rest is the prompt. */
static void show(console *c, const char *s, size_t n)
{
    if (!n)
        return;
    silk_buf_append(&c->pending, s, n);
    char *last = NULL;
    for (size_t i = 0; i < c->pending.len; i++)
        if (c->pending.data[i] == '\n')
            last = c->pending.data + i;
    if (c->tty)
        outs("\r\x1b[K");
    if (last) {
        size_t k = (size_t)(last - c->pending.data) + 1;
        /* CR LF from the server; the terminal wants CR LF in raw mode, a
         * pipe wants LF */
        silk_buf b = SILK_BUF_INIT;
        for (size_t i = 0; i < k; i++) {
            char ch = c->pending.data[i];
            if (ch == '\r')
                continue;
            if (ch == '\n' && c->tty)
                silk_buf_putc(&b, '\r');
            silk_buf_putc(&b, ch);
        }
        if (b.data)
            out(b.data, b.len);
        silk_buf_free(&b);
        memmove(c->pending.data, c->pending.data + k, c->pending.len - k + 1);
        c->pending.len -= k;
    }
    if (c->tty) {
        redraw(c);
    } else if (c->pending.len) {
        /* a prompt: shown as it is, like telnet does */
        const char *p = c->pending.data;
        size_t k = c->pending.len;
        c->at_password = k >= 10 && !memcmp(p + k - 10, "Password: ", 10);
        c->at_prompt = c->at_password || (k >= 4 && !memcmp(p + k - 4, ">>> ", 4)) ||
                       (k >= 10 && !memcmp(p + k - 10, "Username: ", 10));
        out(p, k);
        silk_buf_reset(&c->pending);
    }
}

/* Pipe mode: the next queued line goes once the server prompts for it. */
static void feed_pipe(console *c)
{
    if (!c->at_prompt || c->eof_sent)
        return;
    char *nl = c->queue.data ? memchr(c->queue.data, '\n', c->queue.len) : NULL;
    if (!nl) {
        if (c->input_done) {
            send_all(c, "\x04", 1);
            c->eof_sent = true;
            outs("\n");
        }
        return;
    }
    size_t len = (size_t)(nl - c->queue.data);
    size_t send_len = len && c->queue.data[len - 1] == '\r' ? len - 1 : len;
    /* a password is not shown; the server sends the newline after it */
    if (!c->at_password) {
        out(c->queue.data, send_len);
        outs("\n");
    }
    send_line(c, c->queue.data, send_len);
    memmove(c->queue.data, nl + 1, c->queue.len - len - 1 + 1);
    c->queue.len -= len + 1;
    c->at_prompt = false;
}

static void from_server(console *c, const unsigned char *p, size_t n)
{
    silk_buf text = SILK_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        switch (c->ts) {
        case 0:
            if (ch == 255)
                c->ts = 1;
            else if (ch != 0)
                silk_buf_putc(&text, (char)ch);
            break;
        case 1:
            c->ts = 0;
            if (ch == 255)
                silk_buf_putc(&text, (char)ch);
            else if (ch >= 251 && ch <= 254) {
                c->opt_cmd = ch;
                c->ts = 2;
            } else if (ch == 250)
                c->ts = 3;
            break;
        case 2:
            c->ts = 0;
            if (ch == 1 && c->opt_cmd == 251) { /* WILL ECHO: it hides what we type */
                if (!c->server_echoes)
                    refuse_opt(c, 253, 1);
                c->server_echoes = true;
            } else if (ch == 1 && c->opt_cmd == 252) {
                if (c->server_echoes)
                    refuse_opt(c, 254, 1);
                c->server_echoes = false;
            } else if (c->opt_cmd == 251) {
                refuse_opt(c, 254, ch);
            } else if (c->opt_cmd == 253) {
                refuse_opt(c, 252, ch);
            }
            break;
        case 3: c->ts = ch == 255 ? 4 : 3; break;
        case 4: c->ts = ch == 240 ? 0 : 3; break;
        }
    }
    if (text.data)
        show(c, text.data, text.len);
    silk_buf_free(&text);
}

/* ------------------------------------------------------------------ main */

static int parse_target(const char *arg, char **host, char **port)
{
    const char *colon = strrchr(arg, ':');
    if (arg[0] == '[') {
        const char *end = strchr(arg, ']');
        if (!end || end[1] != ':')
            return -1;
        *host = silk_strndup(arg + 1, (size_t)(end - arg - 1));
        *port = silk_strdup(end + 2);
    } else if (colon) {
        *host = silk_strndup(arg, (size_t)(colon - arg));
        *port = silk_strdup(colon + 1);
    } else {
        *host = silk_strdup("127.0.0.1");
        *port = silk_strdup(arg);
    }
    unsigned long long v;
    if (!*host || !*port || !**host || !cli_parse_uint(*port, 65535, &v) || v == 0) {
        silk_free(*host);
        silk_free(*port);
        *host = *port = NULL;
        return -1;
    }
    return 0;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "silk console: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "silk console: cannot connect to %s:%s: %s\n", host, port, strerror(err ? err : ECONNREFUSED));
    return fd;
}

static int run(int argc, char **argv)
{
    const cli_command *cmd = &cli_cmd_console;
    cli_parser p;
    const char *target = NULL;
    cli_parser_init(&p, cmd, options, argc, argv);
    for (int id; (id = cli_next(&p)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: help(stdout); return CLI_OK;
        case CLI_ERROR: return CLI_USAGE;
        case CLI_POSITIONAL:
            if (target)
                return cli_usage_error(cmd, "unexpected argument '%s'", p.arg);
            target = p.arg;
            break;
        default: return CLI_USAGE;
        }
    }
    if (!target)
        return cli_usage_error(cmd, "missing [HOST:]PORT (the port is in the crawl's log: \"Telnet console "
                                    "listening on 127.0.0.1:6023\")");
    char *host, *port;
    if (parse_target(target, &host, &port))
        return cli_usage_error(cmd, "invalid [HOST:]PORT '%s'", target);
    int fd = connect_to(host, port);
    silk_free(host);
    silk_free(port);
    if (fd < 0)
        return CLI_FAIL;

    console c = { 0 };
    c.fd = fd;
    c.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && raw_mode();
    if (c.tty)
        history_load(&c);
    c.hist_pos = c.nhist;
    bool stdin_open = true;
    int rc = CLI_OK;
    for (;;) {
        struct pollfd pf[2] = { { fd, POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
        int n = poll(pf, stdin_open ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = CLI_FAIL;
            break;
        }
        if (pf[0].revents) {
            unsigned char buf[16384];
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                /* the server closed: leave (what it said last is shown) */
                if (c.pending.len && c.tty) {
                    outs("\r\x1b[K");
                    out(c.pending.data, c.pending.len);
                }
                if (c.tty)
                    outs("\r\n");
                break;
            }
            from_server(&c, buf, (size_t)r);
            if (!c.tty)
                feed_pipe(&c);
        }
        if (stdin_open && pf[1].revents) {
            char buf[4096];
            ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                stdin_open = false;
                if (c.tty) {
                    send_all(&c, "\x04", 1);
                    continue;
                }
                /* end of input: as Ctrl-D, once every line is answered */
                if (c.queue.len && c.queue.data[c.queue.len - 1] != '\n')
                    silk_buf_putc(&c.queue, '\n');
                c.input_done = true;
                feed_pipe(&c);
                continue;
            }
            if (c.tty) {
                bool go_on = true;
                for (ssize_t i = 0; i < r && go_on; i++)
                    go_on = key(&c, (unsigned char)buf[i]);
                if (!go_on)
                    stdin_open = false; /* Ctrl-D sent: wait for the server to close */
            } else {
                silk_buf_append(&c.queue, buf, (size_t)r);
                feed_pipe(&c);
            }
        }
    }
    raw_off();
    history_save(&c);
    close(fd);
    silk_buf_free(&c.queue);
    silk_buf_free(&c.pending);
    silk_buf_free(&c.line);
    silk_buf_free(&c.saved);
    for (size_t i = 0; i < c.nhist; i++)
        silk_free(c.hist[i]);
    silk_free(c.hist);
    silk_free(c.hist_path);
    return rc;
}

const cli_command cli_cmd_console = {
    .name = "console",
    .syntax = "[HOST:]PORT",
    .summary = "Connect to the telnet console of a running crawl",
    .run = run,
    .help = help,
};
