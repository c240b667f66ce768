/* trackref_format.jsonl: Scrapy's format_live_refs with a frozen clock.
 * Builds the case's type tree as real silk types, creates real tracked
 * objects whose creation time is set back by oldest_age_s, and compares
 * silk_trackref_format with the expected report byte for byte. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/object.h"
#include "vectors.h"

#define MAX_TYPES 256

/* Types outlive a case (the registry keeps them), so they are pooled by name
 * and reused; their parent is set per case. */
static silk_type pool[MAX_TYPES];
static char *pool_names[MAX_TYPES]; /* libc strdup: they live as long as the registry */
static size_t pool_len;

static silk_type *type_named(const char *name)
{
    if (strcmp(name, "object_ref") == 0)
        return &silk_type_object_ref;
    for (size_t i = 0; i < pool_len; i++)
        if (strcmp(pool_names[i], name) == 0)
            return &pool[i];
    if (pool_len == MAX_TYPES || !(pool_names[pool_len] = strdup(name)))
        return NULL;
    silk_type *t = &pool[pool_len];
    *t = (silk_type)SILK_TYPE_INIT(pool_names[pool_len], NULL, sizeof(silk_object), NULL, NULL);
    pool_len++;
    return t;
}

vec_result vec_trackref_format(const silk_value *c, silk_buf *why)
{
    const silk_value *types = silk_dict_get(c, "types");
    const silk_value *live = silk_dict_get(c, "live");
    const silk_value *ignore = silk_dict_get(c, "ignore");
    const char *expected = vec_str(c, "report");
    double now = silk_dict_get_double(c, "now", 0);
    vec_result r = VEC_FAIL;
    silk_object **objs = NULL;
    size_t nobjs = 0, cap = 0;
    silk_type *ign[MAX_TYPES + 1] = { 0 };
    char *got = NULL;

    /* Set every type's parent (a type may be reused by a later case with
     * another parent, which the registry allows since it reads parent live). */
    for (size_t i = 0; i < silk_dict_len(types); i++) {
        const silk_dict_entry *e = &types->u.dict.entries[i];
        silk_type *t = type_named(e->key);
        const char *parent = silk_value_str(e->value);
        if (!t) {
            silk_buf_puts(why, "too many types");
            goto out;
        }
        t->parent = parent ? type_named(parent) : NULL;
        silk_type_register(t);
    }
    /* The "now" of the case is mapped onto the monotonic clock: an object
     * aged A seconds is created at now_ns - A. */
    uint64_t now_ns = (uint64_t)1 << 62;
    (void)now;
    for (size_t i = 0; i < silk_list_len(live); i++) {
        const silk_value *row = silk_list_get(live, i);
        silk_type *t = type_named(silk_dict_get_str(row, "class", ""));
        int64_t count = silk_dict_get_int(row, "count", 0);
        double age = silk_dict_get_double(row, "oldest_age_s", 0);
        silk_type_register(t);
        for (int64_t k = 0; k < count; k++) {
            if (nobjs == cap) {
                cap = cap ? cap * 2 : 16;
                silk_object **n = silk_realloc(objs, cap * sizeof *n);
                if (!n)
                    goto out;
                objs = n;
            }
            silk_object *o = silk_object_new(t);
            if (!o)
                goto out;
            /* the first is the oldest; the others are younger */
            uint64_t back = (uint64_t)llround(age * 1e9);
            o->created_ns = now_ns - (k == 0 ? back : back / 2);
            objs[nobjs++] = o;
        }
    }
    for (size_t i = 0; i < silk_list_len(ignore) && i < MAX_TYPES; i++)
        ign[i] = type_named(silk_value_str(silk_list_get(ignore, i)));
    got = silk_trackref_format(ign, now_ns);
    if (got && expected && strcmp(got, expected) == 0)
        r = VEC_PASS;
    else
        vec_mismatch(why, "report", expected, got);
out:
    silk_free(got);
    for (size_t i = 0; i < nobjs; i++)
        silk_unref(objs[i]);
    silk_free(objs);
    return r;
}
