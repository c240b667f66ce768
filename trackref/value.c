/* silk — dynamic values (meta, cb_kwargs, items). */
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/value.h"

static silk_value *value_new(silk_value_kind k)
{
    silk_value *v = silk_malloc(sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->kind = k;
    }
    return v;
}

silk_value *silk_value_new_null(void) { return value_new(SILK_V_NULL); }

silk_value *silk_value_new_bool(bool b)
{
    silk_value *v = value_new(SILK_V_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

silk_value *silk_value_new_int(int64_t i)
{
    silk_value *v = value_new(SILK_V_INT);
    if (v)
        v->u.i = i;
    return v;
}

silk_value *silk_value_new_double(double d)
{
    silk_value *v = value_new(SILK_V_DOUBLE);
    if (v)
        v->u.d = d;
    return v;
}

silk_value *silk_value_new_string_own(char *s, size_t n)
{
    if (!s)
        return NULL;
    silk_value *v = value_new(SILK_V_STRING);
    if (!v) {
        silk_free(s);
        return NULL;
    }
    v->u.s.ptr = s;
    v->u.s.len = n;
    return v;
}

silk_value *silk_value_new_stringn(const char *s, size_t n)
{
    char *d = silk_strndup(s, n);
    return d ? silk_value_new_string_own(d, n) : NULL;
}

silk_value *silk_value_new_string(const char *s)
{
    return s ? silk_value_new_stringn(s, strlen(s)) : silk_value_new_null();
}

silk_value *silk_value_new_list(void) { return value_new(SILK_V_LIST); }

silk_value *silk_value_new_dict(void) { return value_new(SILK_V_DICT); }

silk_value *silk_value_new_object(void *o)
{
    if (!silk_object_alive(o)) {
        silk_error(SILK_EDEAD, "a dead or foreign object cannot be stored in a value");
        return NULL;
    }
    silk_value *v = value_new(SILK_V_OBJECT);
    if (v)
        v->u.obj = silk_ref(o);
    return v;
}

void silk_value_free(silk_value *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case SILK_V_STRING:
        silk_free(v->u.s.ptr);
        break;
    case SILK_V_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            silk_value_free(v->u.list.items[i]);
        silk_free(v->u.list.items);
        break;
    case SILK_V_DICT:
        for (size_t i = 0; i < v->u.dict.len; i++) {
            silk_free(v->u.dict.entries[i].key);
            silk_value_free(v->u.dict.entries[i].value);
        }
        silk_free(v->u.dict.entries);
        break;
    case SILK_V_OBJECT:
        silk_unref(v->u.obj);
        break;
    default:
        break;
    }
    silk_free(v);
}

silk_value *silk_value_copy(const silk_value *v)
{
    if (!v)
        return NULL;
    silk_value *c = NULL;
    switch (v->kind) {
    case SILK_V_NULL: return silk_value_new_null();
    case SILK_V_BOOL: return silk_value_new_bool(v->u.b);
    case SILK_V_INT: return silk_value_new_int(v->u.i);
    case SILK_V_DOUBLE: return silk_value_new_double(v->u.d);
    case SILK_V_STRING: return silk_value_new_stringn(v->u.s.ptr, v->u.s.len);
    case SILK_V_OBJECT: return silk_value_new_object(v->u.obj);
    case SILK_V_LIST:
        if (!(c = silk_value_new_list()))
            return NULL;
        for (size_t i = 0; i < v->u.list.len; i++) {
            silk_value *item = silk_value_copy(v->u.list.items[i]);
            if (!item || silk_list_push(c, item))
                goto err;
        }
        return c;
    case SILK_V_DICT:
        if (!(c = silk_value_new_dict()))
            return NULL;
        for (size_t i = 0; i < v->u.dict.len; i++) {
            const silk_dict_entry *e = &v->u.dict.entries[i];
            silk_value *item = silk_value_copy(e->value);
            if (!item || silk_dict_setn(c, e->key, e->key_len, item))
                goto err;
        }
        return c;
    }
err:
    silk_value_free(c);
    return NULL;
}

bool silk_value_equal(const silk_value *a, const silk_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case SILK_V_NULL: return true;
    case SILK_V_BOOL: return a->u.b == b->u.b;
    case SILK_V_INT: return a->u.i == b->u.i;
    case SILK_V_DOUBLE: return a->u.d == b->u.d;
    case SILK_V_STRING:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case SILK_V_OBJECT: return a->u.obj == b->u.obj;
    case SILK_V_LIST:
        if (a->u.list.len != b->u.list.len)
            return false;
        for (size_t i = 0; i < a->u.list.len; i++)
            if (!silk_value_equal(a->u.list.items[i], b->u.list.items[i]))
                return false;
        return true;
    case SILK_V_DICT:
        if (a->u.dict.len != b->u.dict.len)
            return false;
        for (size_t i = 0; i < a->u.dict.len; i++) {
            const silk_dict_entry *e = &a->u.dict.entries[i];
            if (!silk_value_equal(e->value, silk_dict_get(b, e->key)))
                return false;
        }
        return true;
    }
    return false;
}

int silk_list_push(silk_value *list, silk_value *item)
{
    if (!item)
        return SILK_ENOMEM; /* the constructor that produced it failed */
    if (!list || list->kind != SILK_V_LIST) {
        silk_value_free(item);
        return silk_error(SILK_ETYPE, "silk_list_push on a value that is not a list");
    }
    if (list->u.list.len == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        silk_value **items = silk_realloc(list->u.list.items, cap * sizeof *items);
        if (!items) {
            silk_value_free(item);
            return SILK_ENOMEM;
        }
        list->u.list.items = items;
        list->u.list.cap = cap;
    }
    list->u.list.items[list->u.list.len++] = item;
    return 0;
}

size_t silk_list_len(const silk_value *list)
{
    return list && list->kind == SILK_V_LIST ? list->u.list.len : 0;
}

silk_value *silk_list_get(const silk_value *list, size_t i)
{
    return list && list->kind == SILK_V_LIST && i < list->u.list.len ? list->u.list.items[i] : NULL;
}

static silk_dict_entry *dict_find(const silk_value *d, const char *key, size_t key_len)
{
    /* Linear: meta, cb_kwargs and items hold a handful of keys. */
    for (size_t i = 0; i < d->u.dict.len; i++) {
        silk_dict_entry *e = &d->u.dict.entries[i];
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return e;
    }
    return NULL;
}

int silk_dict_setn(silk_value *dict, const char *key, size_t key_len, silk_value *value)
{
    if (!value)
        return SILK_ENOMEM;
    if (!dict || dict->kind != SILK_V_DICT || !key) {
        silk_value_free(value);
        return silk_error(SILK_ETYPE, "silk_dict_set on a value that is not a dict");
    }
    silk_dict_entry *e = dict_find(dict, key, key_len);
    if (e) {
        silk_value_free(e->value);
        e->value = value;
        return 0;
    }
    if (dict->u.dict.len == dict->u.dict.cap) {
        size_t cap = dict->u.dict.cap ? dict->u.dict.cap * 2 : 2; /* meta and cb_kwargs mostly hold one or two keys */
        silk_dict_entry *entries = silk_realloc(dict->u.dict.entries, cap * sizeof *entries);
        if (!entries) {
            silk_value_free(value);
            return SILK_ENOMEM;
        }
        dict->u.dict.entries = entries;
        dict->u.dict.cap = cap;
    }
    char *k = silk_strndup(key, key_len);
    if (!k) {
        silk_value_free(value);
        return SILK_ENOMEM;
    }
    e = &dict->u.dict.entries[dict->u.dict.len++];
    e->key = k;
    e->key_len = key_len;
    e->value = value;
    return 0;
}

int silk_dict_set(silk_value *dict, const char *key, silk_value *value)
{
    return silk_dict_setn(dict, key, key ? strlen(key) : 0, value);
}

silk_value *silk_dict_get(const silk_value *dict, const char *key)
{
    if (!dict || dict->kind != SILK_V_DICT || !key)
        return NULL;
    silk_dict_entry *e = dict_find(dict, key, strlen(key));
    return e ? e->value : NULL;
}

int silk_dict_del(silk_value *dict, const char *key)
{
    if (!dict || dict->kind != SILK_V_DICT || !key)
        return SILK_ENOTFOUND;
    silk_dict_entry *e = dict_find(dict, key, strlen(key));
    if (!e)
        return SILK_ENOTFOUND;
    silk_free(e->key);
    silk_value_free(e->value);
    size_t i = (size_t)(e - dict->u.dict.entries);
    memmove(e, e + 1, (dict->u.dict.len - i - 1) * sizeof *e);
    dict->u.dict.len--;
    return 0;
}

size_t silk_dict_len(const silk_value *dict)
{
    return dict && dict->kind == SILK_V_DICT ? dict->u.dict.len : 0;
}

int silk_dict_set_str(silk_value *dict, const char *key, const char *s)
{
    return silk_dict_set(dict, key, silk_value_new_string(s));
}
int silk_dict_set_int(silk_value *dict, const char *key, int64_t i)
{
    return silk_dict_set(dict, key, silk_value_new_int(i));
}
int silk_dict_set_bool(silk_value *dict, const char *key, bool b)
{
    return silk_dict_set(dict, key, silk_value_new_bool(b));
}
int silk_dict_set_double(silk_value *dict, const char *key, double d)
{
    return silk_dict_set(dict, key, silk_value_new_double(d));
}
int silk_dict_set_object(silk_value *dict, const char *key, void *o)
{
    silk_value *v = silk_value_new_object(o);
    return v ? silk_dict_set(dict, key, v) : silk_error(SILK_EDEAD, "%s", silk_last_error());
}

const char *silk_dict_get_str(const silk_value *dict, const char *key, const char *def)
{
    const silk_value *v = silk_dict_get(dict, key);
    return v && v->kind == SILK_V_STRING ? v->u.s.ptr : def;
}
int64_t silk_dict_get_int(const silk_value *dict, const char *key, int64_t def)
{
    const silk_value *v = silk_dict_get(dict, key);
    return v && v->kind == SILK_V_INT ? v->u.i : def;
}
bool silk_dict_get_bool(const silk_value *dict, const char *key, bool def)
{
    const silk_value *v = silk_dict_get(dict, key);
    return v && v->kind == SILK_V_BOOL ? v->u.b : def;
}
double silk_dict_get_double(const silk_value *dict, const char *key, double def)
{
    const silk_value *v = silk_dict_get(dict, key);
    if (v && v->kind == SILK_V_DOUBLE)
        return v->u.d;
    return v && v->kind == SILK_V_INT ? (double)v->u.i : def;
}

const char *silk_value_str(const silk_value *v)
{
    return v && v->kind == SILK_V_STRING ? v->u.s.ptr : NULL;
}
size_t silk_value_strlen(const silk_value *v)
{
    return v && v->kind == SILK_V_STRING ? v->u.s.len : 0;
}

const char *silk_value_kind_name(silk_value_kind k)
{
    static const char *const names[] = { "null", "bool", "int", "double",
                                         "string", "list", "dict", "object" };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

bool silk_value_has_object(const silk_value *v)
{
    if (!v)
        return false;
    switch (v->kind) {
    case SILK_V_OBJECT: return true;
    case SILK_V_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            if (silk_value_has_object(v->u.list.items[i]))
                return true;
        return false;
    case SILK_V_DICT:
        for (size_t i = 0; i < v->u.dict.len; i++)
            if (silk_value_has_object(v->u.dict.entries[i].value))
                return true;
        return false;
    default: return false;
    }
}
