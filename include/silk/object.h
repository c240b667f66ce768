/* silk — the object header (Scrapy's object_ref) and trackref.
 *
 * Every tracked object begins with a silk_object as its first member. Creating
 * one links it at the tail of its type's live list (so the head is always the
 * oldest), the last silk_unref unlinks and destroys it. Both are O(1) and
 * allocate nothing. The live lists and refcounts belong to the loop thread. */
#ifndef SILK_OBJECT_H
#define SILK_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_list {
    struct silk_list *prev, *next;
} silk_list;

typedef struct silk_type silk_type;
typedef struct silk_object silk_object;

#define SILK_OBJECT_MAGIC 0x4b4c4953u /* "SILK": made by silk_object_new */
#define SILK_OBJECT_MAGIC_EMBEDDED 0x6b4c4953u /* "SILk": caller's memory */
#define SILK_OBJECT_DEAD 0xdead0b1eu

struct silk_object {
    silk_type *type;
    uint32_t magic;    /* SILK_OBJECT_MAGIC(_EMBEDDED) while alive, killed on free */
    uint32_t refcount;
    uint64_t created_ns; /* CLOCK_MONOTONIC */
    silk_list live;      /* link in type->live */
};

/* Writes a short repr of o ("<200 http://x/>") into buf; returns the length
 * it would have written, as snprintf. */
typedef int (*silk_describe_fn)(const silk_object *o, char *buf, size_t n);
/* Releases what o owns (not o itself). */
typedef void (*silk_destroy_fn)(silk_object *o);

struct silk_type {
    const char *name;
    silk_type *parent;       /* NULL = direct child of object_ref */
    size_t size;             /* bytes silk_object_new allocates */
    silk_destroy_fn destroy; /* may be NULL */
    silk_describe_fn describe; /* may be NULL */
    /* runtime state, zero-initialised */
    silk_list live;
    size_t live_count;
    size_t alloc_bytes;  /* live bytes charged to this type (atomic) */
    size_t alloc_count;  /* live blocks charged to this type (atomic) */
    silk_type *next_registered;
    bool registered;
};

/* Declare a tracked type. parent is a silk_type* or NULL. */
#define SILK_TYPE_INIT(NAME, PARENT, SIZE, DESTROY, DESCRIBE) \
    { (NAME), (PARENT), (SIZE), (DESTROY), (DESCRIBE), { NULL, NULL }, 0, 0, 0, NULL, false }

/* The root type: every tracked type descends from it. */
extern silk_type silk_type_object_ref;

/* Registers t (and its parents) so reports list it. Idempotent. */
void silk_type_register(silk_type *t);
/* Finds a registered type by name; NULL when unknown. */
silk_type *silk_type_find(const char *name);
/* true when t is sub or one of its descendants. */
bool silk_type_is_a(const silk_type *t, const silk_type *sub_or_self);
/* Calls fn for each registered type, in registration order. */
void silk_type_foreach(void (*fn)(silk_type *t, void *arg), void *arg);

/* Allocates t->size zeroed bytes charged to t, initialises the header
 * (refcount 1) and registers it. Returns NULL on allocation failure. The
 * caller owns the one reference. */
void *silk_object_new(silk_type *t);
/* Initialises a header on caller memory (refcount 1); the caller's memory is
 * not freed by the last unref (the type's destroy runs, then nothing). */
void silk_object_init(silk_object *o, silk_type *t);

/* Adds a reference; returns o. NULL-safe. A dead object is reported and
 * NULL returned. */
void *silk_ref(void *o);
/* Drops a reference; the last one destroys the object. NULL-safe. An unref
 * on a dead object or below zero is reported with the type name. */
void silk_unref(void *o);
/* true when o is a live silk object (magic intact). */
bool silk_object_alive(const void *o);
/* Type name of o, or "<dead>". */
const char *silk_object_type_name(const void *o);
/* Writes o's repr (the type's describe, else "<Name at 0x...>"). */
int silk_object_describe(const void *o, char *buf, size_t n);
/* Seconds since o was created. */
double silk_object_age(const void *o);

/* Monotonic clock in ns. */
uint64_t silk_now_ns(void);

/* ---- trackref reports (Scrapy's scrapy.utils.trackref) ---- */

/* Live objects of exactly this type (not subtypes). */
size_t silk_trackref_count(const silk_type *t);
/* Live tracked objects of every type. */
size_t silk_trackref_live_total(void);

/* Formats Scrapy's format_live_refs report into a new silk block (caller
 * frees with silk_free): "Live References\n\n" then one row per type with
 * live objects, sorted by name. ignore: NULL-terminated array of types whose
 * objects (and subtypes') are hidden; may be NULL. now_ns is the clock to
 * compute ages against (0 = silk_now_ns()). NULL on allocation failure. */
char *silk_trackref_format(silk_type *const *ignore, uint64_t now_ns);
/* Prints the report to f. Returns 0 or a SILK_E* code. */
int silk_trackref_print(FILE *f, silk_type *const *ignore);

/* The oldest live object whose type is exactly named type_name, or NULL.
 * Borrowed: silk_ref it to keep it. */
silk_object *silk_trackref_get_oldest(const char *type_name);

/* A snapshot of live objects of exactly that type, oldest first. Each entry
 * holds a reference, so objects released by others while the caller walks the
 * snapshot stay valid until silk_trackref_iter_free; objects created after the
 * snapshot are not in it. */
typedef struct silk_trackref_iter {
    silk_object **items;
    size_t len;
} silk_trackref_iter;
/* Fills it; returns 0, SILK_ENOTFOUND (unknown type name: it is empty) or
 * SILK_ENOMEM. */
int silk_trackref_iter_all(const char *type_name, silk_trackref_iter *it);
/* Drops the snapshot's references. */
void silk_trackref_iter_free(silk_trackref_iter *it);

/* Intrusive list helpers. */
static inline void silk_list_init(silk_list *h) { h->prev = h->next = h; }
static inline bool silk_list_empty(const silk_list *h) { return h->next == h; }
static inline void silk_list_add_tail(silk_list *h, silk_list *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
static inline void silk_list_del(silk_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = (silk_list *)(uintptr_t)0x100; /* poison: use after unlink faults */
    n->next = (silk_list *)(uintptr_t)0x122;
}
#define silk_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#ifdef __cplusplus
}
#endif
#endif
