/* silk — loading a spider for `silk runspider`: a .so as it is, or a .c
 * compiled on the fly into a cached shared object.
 *
 * The shared object is built WITHOUT libsilk: its silk_* references are
 * left undefined and bind, at dlopen, to the copy of silk linked into this
 * executable (exported with -rdynamic). One allocator, one trackref registry,
 * one log sink — the spider's objects are the engine's objects. -Bsymbolic
 * makes the spider's own global functions bind to themselves even when the
 * executable happens to export the same name.
 *
 * The cache key is SHA-256 over the source, the compiler command line (which
 * names silk's include directory), the source's directory (for #include
 * "x.h"), silk's version and the build id of this executable, so a rebuilt
 * silk never loads a spider compiled against an older one. Headers the
 * spider includes from outside the system and silk trees are listed with
 * their own hashes in a manifest next to the .so and checked at each use. */
#define _GNU_SOURCE /* dlinfo, RTLD_DI_LINKMAP, environ */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/log.h"
#include "silk/silk.h"

extern char **environ;

#define MAX_SOURCE (64u << 20)
#define DIGEST_LEN 32

/* ---- small helpers ---- */

typedef struct strv {
    char **v; /* NULL-terminated */
    size_t n, cap;
} strv;

static void strv_free(strv *a)
{
    for (size_t i = 0; i < a->n; i++)
        silk_free(a->v[i]);
    silk_free(a->v);
    memset(a, 0, sizeof *a);
}

static int strv_push(strv *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        char **v = silk_realloc(a->v, cap * sizeof *v);
        if (!v)
            return SILK_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    if (!(a->v[a->n] = silk_strdup(s)))
        return SILK_ENOMEM;
    a->v[++a->n] = NULL;
    return 0;
}

/* Pushes the whitespace-separated words of s (no quoting, as make's $(CC)). */
static int strv_push_words(strv *a, const char *s)
{
    while (s && *s) {
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        size_t n = strcspn(s, " \t\n");
        if (n) {
            char *w = silk_strndup(s, n);
            int rc = w ? strv_push(a, w) : SILK_ENOMEM;
            silk_free(w);
            if (rc)
                return rc;
        }
        s += n;
    }
    return 0;
}

/* Reads a whole file (at most max bytes) into a new silk block. */
static int read_all(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int rc = 0;
    silk_buf b = SILK_BUF_INIT;
    FILE *f = fopen(path, "rb");
    if (!f)
        return SILK_EIO;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max) {
            rc = SILK_ELIMIT;
            goto out;
        }
        if (silk_buf_append(&b, chunk, n)) {
            rc = SILK_ENOMEM;
            goto out;
        }
    }
    if (ferror(f)) {
        rc = SILK_EIO;
        goto out;
    }
    *len = b.len;
    *out = silk_buf_detach(&b);
    if (!*out)
        rc = SILK_ENOMEM;
out:
    fclose(f);
    silk_buf_free(&b);
    return rc;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = "0123456789abcdef"[d[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256_file(const char *path, char out[2 * DIGEST_LEN + 1])
{
    char *data;
    size_t len;
    int rc = read_all(path, MAX_SOURCE, &data, &len);
    if (rc)
        return rc;
    unsigned char d[DIGEST_LEN];
    unsigned int dl = 0;
    rc = EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL) == 1 ? 0 : SILK_ENOMEM;
    silk_free(data);
    if (!rc)
        hex(d, DIGEST_LEN, out);
    return rc;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has_prefix_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return n && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* ---- what identifies this silk build ---- */

typedef struct build_id_search {
    unsigned char id[64];
    size_t len;
} build_id_search;

static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
    build_id_search *s = arg;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        size_t align = ph->p_align == 8 ? 8 : 4;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
            const unsigned char *name = p + sizeof *nh;
            const unsigned char *desc = name + ((nh->n_namesz + align - 1) & ~(align - 1));
            const unsigned char *next = desc + ((nh->n_descsz + align - 1) & ~(align - 1));
            if (next > end || next <= p)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= sizeof s->id) {
                memcpy(s->id, desc, nh->n_descsz);
                s->len = nh->n_descsz;
                return 1;
            }
            p = next;
        }
    }
    return 1; /* the first object is the executable: look no further */
}

/* Feeds the identity of this executable into the digest: its GNU build id
 * when it has one, else its inode, size and modification time. */
static void digest_self(EVP_MD_CTX *md)
{
    build_id_search s = { .len = 0 };
    dl_iterate_phdr(find_build_id, &s);
    if (s.len) {
        EVP_DigestUpdate(md, "build-id", 8);
        EVP_DigestUpdate(md, s.id, s.len);
        return;
    }
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0) {
        long long v[4] = { (long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                           (long long)st.st_mtim.tv_nsec };
        EVP_DigestUpdate(md, "stat", 4);
        EVP_DigestUpdate(md, v, sizeof v);
    }
}

/* ---- where silk's headers are ---- */

/* The include flags for compiling a spider against this silk, and the
 * include directory to leave out of the dependency manifest (silk_inc,
 * silk_malloc'ed). */
static int silk_include_flags(strv *flags, char **silk_inc)
{
    *silk_inc = NULL;
    char exe[PATH_MAX], build[PATH_MAX];
    /* Run from the build tree: its own source headers. */
    if (realpath("/proc/self/exe", exe) && realpath(SILK_BUILD_DIR, build)) {
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        char *inc = silk_asprintf("%s/include", SILK_SOURCE_DIR);
        char *hdr = silk_asprintf("%s/include/silk/spider.h", SILK_SOURCE_DIR);
        bool ok = inc && hdr && strcmp(exe, build) == 0 && is_file(hdr);
        silk_free(hdr);
        if (ok) {
            char *flag = silk_asprintf("-I%s", inc);
            int rc = flag ? strv_push(flags, flag) : SILK_ENOMEM;
            silk_free(flag);
            if (rc) {
                silk_free(inc);
                return rc;
            }
            *silk_inc = inc;
            return 0;
        }
        silk_free(inc);
    }
    /* Installed: ask pkg-config, as a user building against silk would. */
    FILE *p = popen("pkg-config --cflags silk 2>/dev/null", "r");
    if (p) {
        char line[4096];
        size_t n = fread(line, 1, sizeof line - 1, p);
        line[n] = '\0';
        int st = pclose(p);
        if (st == 0 && n > 0 && n < sizeof line - 1) {
            int rc = strv_push_words(flags, line);
            if (rc)
                return rc;
            for (size_t i = 0; i < flags->n; i++)
                if (strncmp(flags->v[i], "-I", 2) == 0 && !*silk_inc)
                    *silk_inc = silk_strdup(flags->v[i] + 2);
            char *hdr = *silk_inc ? silk_asprintf("%s/silk/spider.h", *silk_inc) : NULL;
            bool found = hdr && is_file(hdr);
            silk_free(hdr);
            /* "-I/usr/include" is dropped by pkg-config: fine, cc searches it. */
            if (found || is_file("/usr/include/silk/spider.h"))
                return 0;
        }
    }
    /* The prefix this silk was configured with. */
    char *hdr = silk_asprintf("%s/silk/spider.h", SILK_INSTALL_INCLUDEDIR);
    bool found = hdr && is_file(hdr);
    silk_free(hdr);
    if (found) {
        char *flag = silk_asprintf("-I%s", SILK_INSTALL_INCLUDEDIR);
        int rc = flag ? strv_push(flags, flag) : SILK_ENOMEM;
        silk_free(flag);
        if (!rc && !*silk_inc)
            *silk_inc = silk_strdup(SILK_INSTALL_INCLUDEDIR);
        return rc;
    }
    return silk_error(SILK_ENOTFOUND,
                      "cannot find silk's headers (silk/spider.h): install silk (make install) "
                      "or run the silk of a build tree");
}

/* ---- the cache ---- */

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* A directory we may dlopen from: ours, a real directory, and writable by
 * nobody else (anyone who can write it can run code as us). */
static bool dir_is_private(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

static char *try_cache_dir(const char *base)
{
    char *dir = silk_asprintf("%s/spiders", base);
    if (!dir)
        return NULL;
    if (mkdir_p(dir, 0700) == 0 && dir_is_private(base) && dir_is_private(dir))
        return dir;
    silk_free(dir);
    return NULL;
}

char *cli_cache_dir(void)
{
    char *base = NULL, *dir = NULL;
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    /* The XDG spec: a relative XDG_CACHE_HOME is ignored. */
    if (xdg && xdg[0] == '/')
        base = silk_asprintf("%s/silk", xdg);
    else if (home && home[0] == '/')
        base = silk_asprintf("%s/.cache/silk", home);
    if (base) {
        dir = try_cache_dir(base);
        silk_free(base);
        if (dir)
            return dir;
    }
    base = silk_asprintf("/tmp/silk-cache-%lu", (unsigned long)geteuid());
    if (base) {
        dir = try_cache_dir(base);
        if (!dir)
            fprintf(stderr, "silk: warning: no private cache directory (tried %s): compiling "
                            "the spider afresh\n", base);
        silk_free(base);
    }
    return dir;
}

/* The manifest: one "<sha256> <path>" line per header outside the system
 * and silk trees. Valid when every listed file still has its hash. */
static bool manifest_valid(const char *path)
{
    char *data;
    size_t len;
    if (read_all(path, 1u << 20, &data, &len))
        return false;
    bool ok = true;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line && ok; line = strtok_r(NULL, "\n", &save)) {
        if (strlen(line) < 2 * DIGEST_LEN + 2 || line[2 * DIGEST_LEN] != ' ') {
            ok = false;
            break;
        }
        char h[2 * DIGEST_LEN + 1];
        ok = sha256_file(line + 2 * DIGEST_LEN + 1, h) == 0 && memcmp(h, line, 2 * DIGEST_LEN) == 0;
    }
    silk_free(data);
    return ok;
}

/* Parses the compiler's make-style dependency file (target "spider") into
 * a manifest. */
static int write_manifest(const char *depfile, const char *source_abs, const char *silk_inc,
                          const char *out_path)
{
    char *data = NULL;
    size_t len;
    int rc = read_all(depfile, 16u << 20, &data, &len);
    if (rc)
        return rc;
    silk_buf man = SILK_BUF_INIT, word = SILK_BUF_INIT;
    char silk_inc_abs[PATH_MAX];
    if (!silk_inc || !realpath(silk_inc, silk_inc_abs))
        silk_inc_abs[0] = '\0';
    const char *p = strstr(data, "spider:");
    p = p ? p + 7 : data + len;
    for (;;) {
        silk_buf_reset(&word);
        while (*p == ' ' || *p == '\t' || *p == '\n' || (*p == '\\' && p[1] == '\n'))
            p += *p == '\\' ? 2 : 1;
        if (!*p)
            break;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\\' && p[1] == '\n')
                break;
            if (*p == '\\' && (p[1] == ' ' || p[1] == '#' || p[1] == '\\')) {
                silk_buf_putc(&word, p[1]);
                p += 2;
            } else if (*p == '$' && p[1] == '$') {
                silk_buf_putc(&word, '$');
                p += 2;
            } else {
                silk_buf_putc(&word, *p++);
            }
        }
        if (word.err) {
            rc = SILK_ENOMEM;
            goto out;
        }
        char abs[PATH_MAX];
        if (!realpath(word.data, abs))
            continue; /* a generated or vanished file: nothing to check */
        if (strcmp(abs, source_abs) == 0 || has_prefix_dir(abs, "/usr") ||
            (silk_inc_abs[0] && has_prefix_dir(abs, silk_inc_abs)))
            continue;
        char h[2 * DIGEST_LEN + 1];
        if (sha256_file(abs, h) == 0)
            silk_buf_printf(&man, "%s %s\n", h, abs);
    }
    if (man.err) {
        rc = SILK_ENOMEM;
        goto out;
    }
    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(man.data ? man.data : "", 1, man.len, f) != man.len) {
        rc = SILK_EIO;
        if (f)
            fclose(f);
        goto out;
    }
    if (fclose(f) != 0)
        rc = SILK_EIO;
out:
    silk_free(data);
    silk_buf_free(&man);
    silk_buf_free(&word);
    return rc;
}

/* ---- compiling ---- */

/* Runs argv, the compiler's output going straight to our stderr. Returns
 * CLI_OK when it exits 0. */
static int run_compiler(char **argv, const char *display)
{
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (err) {
        cli_fail("cannot run the C compiler '%s': %s (set CC to a C compiler)", argv[0], strerror(err));
        return cli_fail("cannot compile %s", display);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return cli_fail("cannot compile %s: waitpid: %s", display, strerror(errno));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return CLI_OK;
    if (WIFSIGNALED(status))
        return cli_fail("cannot compile %s (the compiler '%s' was killed by signal %d)", display,
                        argv[0], WTERMSIG(status));
    return cli_fail("cannot compile %s", display);
}

/* ---- loading ---- */

typedef struct range_search {
    ElfW(Addr) base;
    uintptr_t lo, hi;
} range_search;

static int find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    range_search *r = arg;
    (void)size;
    if (info->dlpi_addr != r->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!r->lo || lo < r->lo)
            r->lo = lo;
        if (hi > r->hi)
            r->hi = hi;
    }
    return 1;
}

static int load_object(const char *so_path, const char *display, cli_spider *out)
{
    dlerror();
    void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return cli_fail("cannot load %s: %s", display, e ? e : "dlopen failed");
    }
    dlerror();
    const silk_spider_def *const *main_def = dlsym(h, "silk_spider_main");
    if (!main_def || !*main_def) {
        dlclose(h);
        return cli_fail("%s defines no spider (use SILK_SPIDER(name) = {...})", display);
    }
    /* A .so linked with -lsilk drags a second libsilk in; executable symbols
     * win the binding, but say so: it is not how spiders should be built. */
    void *second = dlopen("libsilk.so.0", RTLD_LAZY | RTLD_NOLOAD);
    if (second) {
        fprintf(stderr, "silk: warning: %s is linked with libsilk.so; build spiders without "
                        "-lsilk (see docs/cli.md)\n", display);
        dlclose(second);
    }
    struct link_map *lm = NULL;
    range_search r = { 0, 0, 0 };
    if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm) {
        r.base = lm->l_addr;
        dl_iterate_phdr(find_range, &r);
    }
    cli_crash_set_spider(display, (const void *)r.lo, (const void *)r.hi);
    out->def = *main_def;
    out->handle = h;
    if (!(out->so_path = silk_strdup(so_path)))
        return cli_fail("out of memory");
    return CLI_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int compile_and_load(const char *path, const char *source_abs, cli_spider *out)
{
    int rc = CLI_FAIL;
    strv base = { 0 }, argv = { 0 };
    char *src = NULL, *silk_inc = NULL, *dir = NULL, *tmpdir = NULL;
    char *so = NULL, *man = NULL, *tmp_so = NULL, *tmp_d = NULL, *tmp_man = NULL;
    EVP_MD_CTX *md = NULL;
    size_t src_len;
    int err = read_all(path, MAX_SOURCE, &src, &src_len);
    if (err) {
        rc = cli_fail("cannot read %s: %s", path,
                      err == SILK_ELIMIT ? "larger than 64 MiB" : strerror(errno));
        goto out;
    }
    const char *cc = getenv("CC");
    if (strv_push_words(&base, cc && *cc ? cc : "cc") || base.n == 0)
        goto oom;
    static const char *const fixed[] = { "-std=gnu11", "-shared", "-fPIC", "-O2", "-g", "-Wall",
                                         "-Werror=implicit-function-declaration" };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strv_push(&base, fixed[i]))
            goto oom;
    err = silk_include_flags(&base, &silk_inc);
    if (err) {
        rc = err == SILK_ENOMEM ? cli_fail("out of memory") : cli_fail("%s", silk_last_error());
        goto out;
    }
    if (strv_push_words(&base, getenv("SILK_CFLAGS")))
        goto oom;

    /* The key. */
    unsigned char d[DIGEST_LEN];
    char key[2 * DIGEST_LEN + 1];
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto oom;
    EVP_DigestUpdate(md, "silk-spider-v1", 15);
    EVP_DigestUpdate(md, silk_version(), strlen(silk_version()) + 1);
    digest_self(md);
    for (size_t i = 0; i < base.n; i++)
        EVP_DigestUpdate(md, base.v[i], strlen(base.v[i]) + 1);
    const char *ldlibs = getenv("SILK_LDLIBS");
    EVP_DigestUpdate(md, ldlibs ? ldlibs : "", ldlibs ? strlen(ldlibs) + 1 : 1);
    const char *slash = strrchr(source_abs, '/');
    EVP_DigestUpdate(md, source_abs, slash ? (size_t)(slash - source_abs) + 1 : 0);
    EVP_DigestUpdate(md, src, src_len);
    EVP_DigestFinal_ex(md, d, NULL);
    hex(d, DIGEST_LEN, key);

    dir = cli_cache_dir();
    if (!dir) {
        char tmpl[] = "/tmp/silk-spider-XXXXXX";
        if (!mkdtemp(tmpl)) {
            rc = cli_fail("cannot create a temporary directory: %s", strerror(errno));
            goto out;
        }
        if (!(tmpdir = silk_strdup(tmpl)) || !(dir = silk_strdup(tmpl)))
            goto oom;
    }
    so = silk_asprintf("%s/%s.so", dir, key);
    man = silk_asprintf("%s/%s.deps", dir, key);
    if (!so || !man)
        goto oom;
    if (!tmpdir && is_file(so) && manifest_valid(man)) {
        rc = load_object(so, path, out);
        out->from_cache = rc == CLI_OK;
        if (rc == CLI_OK)
            silk_log(SILK_LOG_DEBUG, "silk.cli", "Using %s compiled earlier (%s)", path, so);
        goto out;
    }

    long pid = (long)getpid();
    tmp_so = silk_asprintf("%s/%s.%ld.tmp.so", dir, key, pid);
    tmp_d = silk_asprintf("%s/%s.%ld.tmp.d", dir, key, pid);
    tmp_man = silk_asprintf("%s/%s.%ld.tmp.deps", dir, key, pid);
    if (!tmp_so || !tmp_d || !tmp_man)
        goto oom;
    for (size_t i = 0; i < base.n; i++)
        if (strv_push(&argv, base.v[i]))
            goto oom;
    const char *tail[] = { "-MD", "-MF", tmp_d, "-MT", "spider", "-o", tmp_so, path, "-Wl,-Bsymbolic" };
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        if (strv_push(&argv, tail[i]))
            goto oom;
    if (strv_push_words(&argv, ldlibs))
        goto oom;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = run_compiler(argv.v, path);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != CLI_OK) {
        unlink(tmp_so);
        unlink(tmp_d);
        goto out;
    }
    /* The manifest first, then the object: a .so in the cache always has
     * its manifest. */
    err = write_manifest(tmp_d, source_abs, silk_inc, tmp_man);
    unlink(tmp_d);
    if (err || rename(tmp_man, man) != 0 || rename(tmp_so, so) != 0) {
        unlink(tmp_man);
        unlink(tmp_so);
        rc = cli_fail("cannot store the compiled spider in %s: %s", dir,
                      err ? silk_strerror(err) : strerror(errno));
        goto out;
    }
    silk_log(SILK_LOG_DEBUG, "silk.cli", "Compiled %s into %s in %.2f s", path, so,
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = load_object(so, path, out);
    goto out;

oom:
    rc = cli_fail("out of memory");
out:
    if (tmpdir) {
        /* Mapped already (or failed): the files are no longer needed. */
        if (so)
            unlink(so);
        if (man)
            unlink(man);
        rmdir(tmpdir);
    }
    EVP_MD_CTX_free(md);
    strv_free(&base);
    strv_free(&argv);
    silk_free(src);
    silk_free(silk_inc);
    silk_free(dir);
    silk_free(tmpdir);
    silk_free(so);
    silk_free(man);
    silk_free(tmp_so);
    silk_free(tmp_d);
    silk_free(tmp_man);
    return rc;
}

int cli_spider_load(const char *path, cli_spider *out)
{
    memset(out, 0, sizeof *out);
    char abs[PATH_MAX];
    if (!realpath(path, abs))
        return cli_fail("cannot open %s: %s", path, strerror(errno));
    if (!is_file(abs))
        return cli_fail("%s is not a regular file", path);
    if (ends_with(path, ".c"))
        return compile_and_load(path, abs, out);
    /* dlopen needs a path with a slash, or it searches the library path. */
    return load_object(abs, path, out);
}

void cli_spider_release(cli_spider *sp)
{
    /* The handle stays open: the spider's definition, its type names and
     * its callbacks live in the object until the process ends. */
    silk_free(sp->so_path);
    sp->so_path = NULL;
    sp->def = NULL;
}

