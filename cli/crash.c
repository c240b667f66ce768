/* silk — a clear last word when a spider (or silk) crashes.
 *
 * A spider is C: a NULL dereference in a callback kills the process. Rather
 * than a bare "Segmentation fault" from the shell, the handler names the
 * spider file, the signal and whether the faulting instruction is in the
 * spider's own code, then re-raises the signal so that the exit status, a
 * core dump and a debugger see the original fault. Only async-signal-safe
 * calls (write, sigaction, raise) are made in the handler. */
#define _GNU_SOURCE /* REG_RIP */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "cli/cli.h"

static char spider_file[1024];
static uintptr_t spider_lo, spider_hi;
/* Its own stack, so that a stack overflow (runaway recursion in a
 * callback) is reported too. */
static char alt_stack[64 * 1024];

void cli_crash_set_spider(const char *file, const void *lo, const void *hi)
{
    size_t n = file ? strlen(file) : 0;
    if (n >= sizeof spider_file)
        n = sizeof spider_file - 1;
    memcpy(spider_file, file ? file : "", n);
    spider_file[n] = '\0';
    spider_lo = (uintptr_t)lo;
    spider_hi = (uintptr_t)hi;
}

typedef struct msg {
    char buf[2048];
    size_t len;
} msg;

static void put(msg *m, const char *s)
{
    while (*s && m->len < sizeof m->buf - 1)
        m->buf[m->len++] = *s++;
}

static void put_hex(msg *m, uintptr_t v)
{
    char tmp[2 + 2 * sizeof v + 1];
    int i = (int)sizeof tmp - 1;
    tmp[i] = '\0';
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v && i > 2);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    put(m, tmp + i);
}

static const char *sig_name(int sig, const char **what)
{
    switch (sig) {
    case SIGSEGV: *what = "segmentation fault: an invalid memory access"; return "SIGSEGV";
    case SIGBUS: *what = "bus error: an invalid memory access"; return "SIGBUS";
    case SIGFPE: *what = "arithmetic error, e.g. an integer division by zero"; return "SIGFPE";
    case SIGILL: *what = "illegal instruction"; return "SIGILL";
    case SIGABRT: *what = "aborted, e.g. by a failed assert()"; return "SIGABRT";
    }
    *what = "fatal signal";
    return "signal";
}

static uintptr_t fault_pc(void *uctx)
{
    const ucontext_t *uc = uctx;
    if (!uc)
        return 0;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    return 0;
#endif
}

static void on_fatal(int sig, siginfo_t *si, void *uctx)
{
    msg m = { .len = 0 };
    const char *what;
    const char *name = sig_name(sig, &what);
    put(&m, "\nsilk: ");
    if (spider_file[0]) {
        put(&m, "spider ");
        put(&m, spider_file);
        put(&m, " crashed: ");
    } else {
        put(&m, "crashed: ");
    }
    put(&m, name);
    put(&m, " (");
    put(&m, what);
    put(&m, ")");
    if ((sig == SIGSEGV || sig == SIGBUS) && si) {
        put(&m, " at address ");
        put_hex(&m, (uintptr_t)si->si_addr);
    }
    put(&m, "\n");
    uintptr_t pc = fault_pc(uctx);
    if (spider_file[0] && sig != SIGABRT) {
        if (pc && pc >= spider_lo && pc < spider_hi)
            put(&m, "silk: the faulting instruction is in the spider's own code");
        else
            put(&m, "silk: the fault happened inside silk or a library, possibly called by the spider");
        if (pc) {
            put(&m, " (pc ");
            put_hex(&m, pc);
            put(&m, ")");
        }
        put(&m, "\nsilk: run it under gdb (gdb --args silk runspider ...) to see where\n");
    }
    ssize_t unused = write(STDERR_FILENO, m.buf, m.len);
    (void)unused;

    /* SA_RESETHAND restored the default action: raising again ends the
     * process with the original signal (and its core dump). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

void cli_crash_handlers_install(void)
{
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof alt_stack;
    int onstack = sigaltstack(&ss, NULL) == 0 ? SA_ONSTACK : 0;

    static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER | onstack;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}
