/* silk — the counting allocator.
 *
 * Each block is preceded by a 16-byte header (size, type) so frees know what
 * to subtract; 16 keeps the user pointer aligned for any type malloc serves. */
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/object.h"

typedef struct block_header {
    size_t size;
    silk_type *type;
} block_header;

_Static_assert(sizeof(block_header) == 16, "header keeps 16-byte alignment");

static void *(*hook_malloc)(size_t) = malloc;
static void *(*hook_realloc)(void *, size_t) = realloc;
static void (*hook_free)(void *) = free;

static atomic_size_t live_bytes;
static atomic_size_t live_count;
static atomic_uint_fast64_t total_count;
static atomic_uint_fast64_t fail_at;   /* total_count value that fails; 0 = off */
static atomic_int fail_fired;

static void charge(silk_type *t, size_t size, int sign)
{
    if (sign > 0) {
        atomic_fetch_add_explicit(&live_bytes, size, memory_order_relaxed);
        atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
        if (t) {
            __atomic_fetch_add(&t->alloc_bytes, size, __ATOMIC_RELAXED);
            __atomic_fetch_add(&t->alloc_count, 1, __ATOMIC_RELAXED);
        }
    } else {
        atomic_fetch_sub_explicit(&live_bytes, size, memory_order_relaxed);
        atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
        if (t) {
            __atomic_fetch_sub(&t->alloc_bytes, size, __ATOMIC_RELAXED);
            __atomic_fetch_sub(&t->alloc_count, 1, __ATOMIC_RELAXED);
        }
    }
}

/* true when this allocation must fail (fault injection). */
static int should_fail(void)
{
    uint64_t n = atomic_fetch_add_explicit(&total_count, 1, memory_order_relaxed) + 1;
    uint64_t at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (at != 0 && n == at) {
        atomic_store(&fail_fired, 1);
        return 1;
    }
    return 0;
}

static void *alloc_block(silk_type *t, size_t n, int zero)
{
    if (n > SIZE_MAX - sizeof(block_header) || should_fail())
        return NULL;
    block_header *h = hook_malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    h->type = t;
    if (zero)
        memset(h + 1, 0, n);
    charge(t, n, +1);
    return h + 1;
}

void *silk_malloc(size_t n) { return alloc_block(NULL, n, 0); }

void *silk_malloc_for(silk_type *t, size_t n) { return alloc_block(t, n, 1); }

void *silk_calloc(size_t n, size_t m)
{
    if (m && n > SIZE_MAX / m)
        return NULL;
    return alloc_block(NULL, n * m, 1);
}

void *silk_realloc(void *p, size_t n)
{
    if (!p)
        return silk_malloc(n);
    if (n > SIZE_MAX - sizeof(block_header) || should_fail())
        return NULL;
    block_header *h = (block_header *)p - 1;
    size_t old = h->size;
    silk_type *t = h->type;
    block_header *nh = hook_realloc(h, sizeof *nh + n);
    if (!nh)
        return NULL;
    charge(t, old, -1);
    nh->size = n;
    charge(t, n, +1);
    return nh + 1;
}

void silk_free(void *p)
{
    if (!p)
        return;
    block_header *h = (block_header *)p - 1;
    charge(h->type, h->size, -1);
    hook_free(h);
}

void silk_alloc_retype(void *p, silk_type *t)
{
    if (!p)
        return;
    block_header *h = (block_header *)p - 1;
    charge(h->type, h->size, -1);
    h->type = t;
    charge(t, h->size, +1);
}

size_t silk_alloc_size(const void *p)
{
    return p ? ((const block_header *)p - 1)->size : 0;
}

char *silk_strndup(const char *s, size_t n)
{
    char *d = silk_malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *silk_strdup(const char *s) { return s ? silk_strndup(s, strlen(s)) : NULL; }

char *silk_asprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = NULL;
    if (n >= 0 && (s = silk_malloc((size_t)n + 1)) != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

size_t silk_alloc_live_bytes(void) { return atomic_load(&live_bytes); }
size_t silk_alloc_live_count(void) { return atomic_load(&live_count); }
uint64_t silk_alloc_total_count(void) { return atomic_load(&total_count); }

void silk_alloc_fail_nth(uint64_t n)
{
    atomic_store(&fail_fired, 0);
    atomic_store(&fail_at, n ? atomic_load(&total_count) + n : 0);
}

int silk_alloc_fail_fired(void) { return atomic_load(&fail_fired); }

int silk_alloc_set_hooks(void *(*malloc_fn)(size_t),
                         void *(*realloc_fn)(void *, size_t),
                         void (*free_fn)(void *))
{
    if (atomic_load(&live_count) != 0)
        return silk_error(SILK_EBUSY, "allocator hooks changed while %zu blocks are live",
                          atomic_load(&live_count));
    hook_malloc = malloc_fn ? malloc_fn : malloc;
    hook_realloc = realloc_fn ? realloc_fn : realloc;
    hook_free = free_fn ? free_fn : free;
    return SILK_OK;
}
