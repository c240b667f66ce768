/* silk — heap() and trim(): silk's counterpart of muppy's summary.
 *
 * muppy walks Python's heap; silk does not need to: every byte silk
 * allocates is charged to a tracked type (or to none) by the counting
 * allocator, so the table is exact and costs one pass over the types. Then
 * the allocator's own view (mallinfo2) and the RSS tell apart memory held by
 * live objects from memory only kept by malloc ("leaks without leaks"). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/object.h"
#include "silk/telnet.h"
#include "telnet/interp_internal.h"

size_t silk_heap_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

typedef struct row {
    const char *name;
    size_t count, bytes;
} row;

typedef struct rows {
    row *r;
    size_t n, cap;
    int err;
    size_t typed_bytes, typed_blocks;
} rows;

static void collect(silk_type *t, void *arg)
{
    rows *rs = arg;
    size_t bytes = __atomic_load_n(&t->alloc_bytes, __ATOMIC_RELAXED);
    size_t blocks = __atomic_load_n(&t->alloc_count, __ATOMIC_RELAXED);
    rs->typed_bytes += bytes;
    rs->typed_blocks += blocks;
    if (rs->err || (t->live_count == 0 && bytes == 0))
        return;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        row *p = silk_realloc(rs->r, cap * sizeof *p);
        if (!p) {
            rs->err = SILK_ENOMEM;
            return;
        }
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n++] = (row){ t->name, t->live_count, bytes };
}

static int cmp_rows(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void mb(silk_buf *b, double n)
{
    if (n >= 1024.0 * 1024 * 1024)
        silk_buf_printf(b, "%.2f GB", n / (1024.0 * 1024 * 1024));
    else if (n >= 1024.0 * 1024)
        silk_buf_printf(b, "%.2f MB", n / (1024.0 * 1024));
    else if (n >= 1024.0)
        silk_buf_printf(b, "%.2f KB", n / 1024.0);
    else
        silk_buf_printf(b, "%.0f B", n);
}

int silk_heap_format(silk_buf *out)
{
    rows rs = { 0 };
    silk_type_foreach(collect, &rs);
    if (rs.err) {
        silk_free(rs.r);
        return SILK_ENOMEM;
    }
    qsort(rs.r, rs.n, sizeof *rs.r, cmp_rows);
    size_t live_bytes = silk_alloc_live_bytes(), live_blocks = silk_alloc_live_count();
    size_t untyped_bytes = live_bytes > rs.typed_bytes ? live_bytes - rs.typed_bytes : 0;
    size_t untyped_blocks = live_blocks > rs.typed_blocks ? live_blocks - rs.typed_blocks : 0;

    /* pympler's table: right-justified columns one space wider than their
     * longest cell on each side, " | " between them */
    const char *hdr[3] = { "types", "# objects", "total size" };
    size_t w[3] = { strlen(hdr[0]) + 2, strlen(hdr[1]) + 2, strlen(hdr[2]) + 2 };
    silk_buf cell = SILK_BUF_INIT;
    for (size_t i = 0; i <= rs.n; i++) {
        const char *name = i < rs.n ? rs.r[i].name : "(untyped silk blocks)";
        size_t count = i < rs.n ? rs.r[i].count : untyped_blocks;
        size_t bytes = i < rs.n ? rs.r[i].bytes : untyped_bytes;
        if (strlen(name) + 2 > w[0])
            w[0] = strlen(name) + 2;
        silk_buf_reset(&cell);
        silk_buf_printf(&cell, "%zu", count);
        if (cell.len + 2 > w[1])
            w[1] = cell.len + 2;
        silk_buf_reset(&cell);
        silk__human_bytes(&cell, (double)bytes);
        if (cell.len + 2 > w[2])
            w[2] = cell.len + 2;
    }
    silk_buf_printf(out, "%*s | %*s | %*s\n", (int)w[0], hdr[0], (int)w[1], hdr[1], (int)w[2], hdr[2]);
    for (size_t k = 0; k < 3; k++) {
        for (size_t j = 0; j < w[k]; j++)
            silk_buf_putc(out, '=');
        silk_buf_puts(out, k < 2 ? " | " : "\n");
    }
    size_t total_objects = 0;
    for (size_t i = 0; i <= rs.n; i++) {
        const char *name = i < rs.n ? rs.r[i].name : "(untyped silk blocks)";
        size_t count = i < rs.n ? rs.r[i].count : untyped_blocks;
        size_t bytes = i < rs.n ? rs.r[i].bytes : untyped_bytes;
        if (i < rs.n)
            total_objects += count;
        silk_buf_reset(&cell);
        silk__human_bytes(&cell, (double)bytes);
        silk_buf_printf(out, "%*s | %*zu | %*s\n", (int)w[0], name, (int)w[1], count, (int)w[2],
                        cell.data ? cell.data : "");
    }
    silk_buf_free(&cell);
    silk_free(rs.r);

    size_t rss = silk_heap_rss();
    struct mallinfo2 mi = mallinfo2();
    silk_buf_puts(out, "\nsilk allocator      : ");
    mb(out, (double)live_bytes);
    silk_buf_printf(out, " live in %zu blocks (%zu tracked objects)\n", live_blocks, total_objects);
    silk_buf_puts(out, "malloc (mallinfo2)  : arena ");
    mb(out, (double)mi.arena);
    silk_buf_puts(out, ", in use ");
    mb(out, (double)mi.uordblks);
    silk_buf_puts(out, ", free ");
    mb(out, (double)mi.fordblks);
    silk_buf_puts(out, ", mmap ");
    mb(out, (double)mi.hblkhd);
    silk_buf_puts(out, ", releasable ");
    mb(out, (double)mi.keepcost);
    silk_buf_puts(out, "\nprocess RSS         : ");
    mb(out, (double)rss);
    silk_buf_putc(out, '\n');
    /* what malloc hands out beyond silk's own blocks: the libraries'
     * memory (libxml2's documents, libcurl's and libevent's buffers) */
    size_t in_use = mi.uordblks + mi.hblkhd;
    if (in_use) {
        silk_buf_puts(out, "not silk's blocks   : ");
        mb(out, in_use > live_bytes ? (double)(in_use - live_bytes) : 0.0);
        silk_buf_puts(out, " in use by libxml2 (parsed documents), libcurl, libevent...\n");
    }
    /* the reading a user is after: is the memory in objects or only kept? */
    if (rss) {
        silk_buf_puts(out, "kept free by malloc : ");
        mb(out, (double)mi.fordblks);
        silk_buf_printf(out, " (%.0f%% of RSS)%s\n", 100.0 * (double)mi.fordblks / (double)rss,
                        mi.fordblks > rss / 4 ? ": memory freed but not given back; try trim()" : "");
    }
    return out->err ? SILK_ENOMEM : 0;
}

int silk_heap_trim(silk_buf *out)
{
    size_t before = silk_heap_rss();
    malloc_trim(0);
    size_t after = silk_heap_rss();
    silk_buf_puts(out, "RSS before trim(): ");
    mb(out, (double)before);
    silk_buf_puts(out, "\nRSS after trim() : ");
    mb(out, (double)after);
    silk_buf_puts(out, " (");
    mb(out, before > after ? (double)(before - after) : 0.0);
    silk_buf_puts(out, " given back to the system)\n");
    return out->err ? SILK_ENOMEM : 0;
}
