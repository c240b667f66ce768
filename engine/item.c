/* silk — Items. */
#include <stdio.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/item.h"

static void item_destroy(silk_object *o)
{
    silk_item *it = (silk_item *)o;
    silk_free(it->name);
    silk_value_free(it->fields);
}

static int item_describe(const silk_object *o, char *buf, size_t n)
{
    const silk_item *it = (const silk_item *)o;
    char *json = NULL;
    int len;
    if (silk_json_dumps(it->fields, SILK_JSON_PY_SEPARATORS, &json) == 0)
        len = snprintf(buf, n, "%s", json);
    else
        len = snprintf(buf, n, "<%s with %zu fields>", it->name ? it->name : "Item",
                       silk_dict_len(it->fields));
    silk_free(json);
    return len;
}

silk_type silk_type_item = SILK_TYPE_INIT("Item", NULL, sizeof(silk_item), item_destroy, item_describe);

_Static_assert(offsetof(silk_item, obj) == 0, "the object header comes first");

silk_item *silk_item_new(const char *name)
{
    silk_item *it = silk_object_new(&silk_type_item);
    if (!it)
        return NULL;
    it->fields = silk_value_new_dict();
    if (!it->fields || (name && !(it->name = silk_strdup(name)))) {
        silk_unref(it);
        return NULL;
    }
    return it;
}

int silk_item_set(silk_item *it, const char *field, silk_value *value)
{
    return silk_dict_set(it->fields, field, value);
}

int silk_item_set_str(silk_item *it, const char *field, const char *s)
{
    return silk_dict_set_str(it->fields, field, s);
}

silk_value *silk_item_get(const silk_item *it, const char *field)
{
    return silk_dict_get(it->fields, field);
}
