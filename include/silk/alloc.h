/* silk — the one allocation wrapper every module uses.
 *
 * Every block carries a small header with its size and the tracked type it is
 * charged to, so live bytes are exact in total and per type. Tests replace
 * the underlying allocator or make the Nth allocation fail to prove every
 * error path frees what it took. Counters are atomic, so worker threads may
 * allocate; everything else in trackref stays on the loop thread. */
#ifndef SILK_ALLOC_H
#define SILK_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct silk_type;

/* Allocate n bytes charged to no type. Returns NULL on failure; free with
 * silk_free. */
void *silk_malloc(size_t n);
/* Zeroed allocation of n*m bytes (overflow-checked). NULL on failure. */
void *silk_calloc(size_t n, size_t m);
/* Resize a block from silk_*alloc; keeps the block's type. NULL on failure
 * (the old block is then untouched). silk_realloc(NULL, n) = silk_malloc. */
void *silk_realloc(void *p, size_t n);
/* Free a block from silk_*alloc. NULL is fine. */
void silk_free(void *p);
/* Allocate n bytes (zeroed) charged to type t (NULL = untyped). */
void *silk_malloc_for(struct silk_type *t, size_t n);
/* Re-charge an existing block to type t (used when ownership moves). */
void silk_alloc_retype(void *p, struct silk_type *t);
/* Size the caller asked for when p was allocated. */
size_t silk_alloc_size(const void *p);

/* Copy a NUL-terminated string into a new silk block; NULL on failure. */
char *silk_strdup(const char *s);
/* Copy n bytes and add a NUL; NULL on failure. */
char *silk_strndup(const char *s, size_t n);
/* printf into a new silk block; NULL on failure. */
char *silk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Live bytes (as requested by callers) and live blocks, in total. */
size_t silk_alloc_live_bytes(void);
size_t silk_alloc_live_count(void);
/* Total number of allocations made since start (for fail-injection loops). */
uint64_t silk_alloc_total_count(void);

/* Make the nth allocation from now fail (1 = the very next); 0 disables. */
void silk_alloc_fail_nth(uint64_t n);
/* 1 when an injected failure has fired since the last silk_alloc_fail_nth. */
int silk_alloc_fail_fired(void);

/* Replace the underlying allocator (NULL restores libc). Must be called
 * while no silk block is live. Returns 0 or SILK_EBUSY. */
int silk_alloc_set_hooks(void *(*malloc_fn)(size_t),
                         void *(*realloc_fn)(void *, size_t),
                         void (*free_fn)(void *));

#ifdef __cplusplus
}
#endif
#endif
