/* silk — the object header and the live registry (Scrapy's trackref).
 *
 * Each type keeps an intrusive list of its live objects in creation order:
 * registration appends at the tail and removal unlinks, both O(1) with no
 * allocation, and the head is always the oldest. All of this belongs to the
 * loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/object.h"

silk_type silk_type_object_ref = SILK_TYPE_INIT("object_ref", NULL, sizeof(silk_object), NULL, NULL);

static silk_type *registered_head;
static silk_type **registered_tail = &registered_head;
static size_t live_total;

uint64_t silk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void silk_type_register(silk_type *t)
{
    if (!t || t->registered)
        return;
    if (t->parent)
        silk_type_register(t->parent);
    silk_list_init(&t->live);
    t->live_count = 0;
    t->registered = true;
    t->next_registered = NULL;
    *registered_tail = t;
    registered_tail = &t->next_registered;
}

silk_type *silk_type_find(const char *name)
{
    for (silk_type *t = registered_head; t && name; t = t->next_registered)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

bool silk_type_is_a(const silk_type *t, const silk_type *sub_or_self)
{
    for (; t; t = t->parent)
        if (t == sub_or_self)
            return true;
    /* every type descends from object_ref */
    return sub_or_self == &silk_type_object_ref;
}

void silk_type_foreach(void (*fn)(silk_type *t, void *arg), void *arg)
{
    for (silk_type *t = registered_head; t; t = t->next_registered)
        fn(t, arg);
}

static void object_setup(silk_object *o, silk_type *t, uint32_t magic)
{
    silk_type_register(t);
    o->type = t;
    o->magic = magic;
    o->refcount = 1;
#ifndef SILK_TRACKREF_DISABLED /* -DSILK_TRACKREF_DISABLED: bookkeeping compiled out (make bench-trackref) */
    o->created_ns = silk_now_ns();
    silk_list_add_tail(&t->live, &o->live);
    t->live_count++;
    live_total++;
#endif
}

void silk_object_init(silk_object *o, silk_type *t)
{
    object_setup(o, t, SILK_OBJECT_MAGIC_EMBEDDED);
}

void *silk_object_new(silk_type *t)
{
    size_t size = t->size < sizeof(silk_object) ? sizeof(silk_object) : t->size;
    silk_object *o = silk_malloc_for(t, size);
    if (!o)
        return NULL;
    object_setup(o, t, SILK_OBJECT_MAGIC);
    return o;
}

static bool magic_ok(const silk_object *o)
{
    return o->magic == SILK_OBJECT_MAGIC || o->magic == SILK_OBJECT_MAGIC_EMBEDDED;
}

bool silk_object_alive(const void *p)
{
    const silk_object *o = p;
    return o && magic_ok(o);
}

const char *silk_object_type_name(const void *p)
{
    return silk_object_alive(p) ? ((const silk_object *)p)->type->name : "<dead>";
}

void *silk_ref(void *p)
{
    silk_object *o = p;
    if (!o)
        return NULL;
    if (!magic_ok(o)) {
        silk_log(SILK_LOG_ERROR, "silk.trackref", "silk_ref on a dead or foreign object at %p", p);
        return NULL;
    }
    o->refcount++;
    return o;
}

void silk_unref(void *p)
{
    silk_object *o = p;
    if (!o)
        return;
    if (!magic_ok(o)) {
        silk_log(SILK_LOG_ERROR, "silk.trackref", "silk_unref on a dead or foreign object at %p", p);
        return;
    }
    if (o->refcount == 0) {
        silk_log(SILK_LOG_ERROR, "silk.trackref", "silk_unref below zero on a %s object at %p",
                 o->type->name, p);
        return;
    }
    if (--o->refcount > 0)
        return;
    silk_type *t = o->type;
    bool owned = o->magic == SILK_OBJECT_MAGIC;
#ifndef SILK_TRACKREF_DISABLED
    silk_list_del(&o->live);
    t->live_count--;
    live_total--;
#endif
    /* The destructor may read the header (type, age); the object is already
     * out of the registry, so reports never show a half-destroyed object. */
    if (t->destroy)
        t->destroy(o);
    o->magic = SILK_OBJECT_DEAD;
    if (owned)
        silk_free(o);
}

double silk_object_age(const void *p)
{
    const silk_object *o = p;
    if (!silk_object_alive(o))
        return 0.0;
    return (double)(silk_now_ns() - o->created_ns) / 1e9;
}

int silk_object_describe(const void *p, char *buf, size_t n)
{
    const silk_object *o = p;
    if (!silk_object_alive(o))
        return snprintf(buf, n, "<dead object at %p>", p);
    if (o->type->describe)
        return o->type->describe(o, buf, n);
    return snprintf(buf, n, "<%s at %p>", o->type->name, p);
}

size_t silk_trackref_count(const silk_type *t) { return t && t->registered ? t->live_count : 0; }

size_t silk_trackref_live_total(void) { return live_total; }

static bool ignored(const silk_type *t, silk_type *const *ignore)
{
    for (; ignore && *ignore; ignore++)
        if (silk_type_is_a(t, *ignore))
            return true;
    return false;
}

static int cmp_type_name(const void *a, const void *b)
{
    return strcmp((*(silk_type *const *)a)->name, (*(silk_type *const *)b)->name);
}

/* Python's str.ljust counts code points, not bytes. */
static size_t utf8_codepoints(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

char *silk_trackref_format(silk_type *const *ignore, uint64_t now_ns)
{
    if (!now_ns)
        now_ns = silk_now_ns();
    size_t ntypes = 0;
    for (silk_type *t = registered_head; t; t = t->next_registered)
        ntypes++;
    silk_type **rows = silk_calloc(ntypes ? ntypes : 1, sizeof *rows);
    if (!rows)
        return NULL;
    size_t nrows = 0;
    for (silk_type *t = registered_head; t; t = t->next_registered)
        if (t->live_count > 0 && !ignored(t, ignore))
            rows[nrows++] = t;
    qsort(rows, nrows, sizeof *rows, cmp_type_name);

    silk_buf b = SILK_BUF_INIT;
    silk_buf_puts(&b, "Live References\n\n");
    for (size_t i = 0; i < nrows; i++) {
        silk_type *t = rows[i];
        silk_object *oldest = silk_container_of(t->live.next, silk_object, live);
        /* int(now - oldest) truncates toward zero, as Python's int() */
        double age = (double)(int64_t)(now_ns - oldest->created_ns) / 1e9;
        long long secs = (long long)trunc(age);
        size_t cps = utf8_codepoints(t->name);
        int pad = cps < 30 ? (int)(30 - cps) : 0;
        silk_buf_printf(&b, "%s%*s %6zu   oldest: %llds ago\n", t->name, pad, "", t->live_count,
                        secs);
    }
    silk_free(rows);
    return silk_buf_detach(&b);
}

int silk_trackref_print(FILE *f, silk_type *const *ignore)
{
    char *s = silk_trackref_format(ignore, 0);
    if (!s)
        return SILK_ENOMEM;
    int rc = fputs(s, f) < 0 ? silk_error(SILK_EIO, "cannot write the live-refs report") : 0;
    silk_free(s);
    return rc;
}

silk_object *silk_trackref_get_oldest(const char *type_name)
{
    silk_type *t = silk_type_find(type_name);
    if (!t || silk_list_empty(&t->live))
        return NULL;
    return silk_container_of(t->live.next, silk_object, live);
}

int silk_trackref_iter_all(const char *type_name, silk_trackref_iter *it)
{
    it->items = NULL;
    it->len = 0;
    silk_type *t = silk_type_find(type_name);
    if (!t)
        return silk_error(SILK_ENOTFOUND, "no tracked type named '%s'", type_name ? type_name : "");
    if (t->live_count == 0)
        return 0;
    it->items = silk_calloc(t->live_count, sizeof *it->items);
    if (!it->items)
        return SILK_ENOMEM;
    for (silk_list *n = t->live.next; n != &t->live; n = n->next)
        it->items[it->len++] = silk_ref(silk_container_of(n, silk_object, live));
    return 0;
}

void silk_trackref_iter_free(silk_trackref_iter *it)
{
    for (size_t i = 0; i < it->len; i++)
        silk_unref(it->items[i]);
    silk_free(it->items);
    it->items = NULL;
    it->len = 0;
}
