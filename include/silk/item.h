/* silk — Items: a named, ordered dict of values (a tracked object). */
#ifndef SILK_ITEM_H
#define SILK_ITEM_H

#include "silk/object.h"
#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Item ---- */

extern silk_type silk_type_item; /* "Item" */

typedef struct silk_item {
    silk_object obj;
    char *name;          /* the item class name, e.g. "Product"; may be NULL */
    silk_value *fields;  /* ordered dict */
} silk_item;

/* A new empty item (name may be NULL). NULL on ENOMEM. Caller owns it. */
silk_item *silk_item_new(const char *name);
/* Sets a field; takes ownership of value (freed on error). */
int silk_item_set(silk_item *it, const char *field, silk_value *value);
int silk_item_set_str(silk_item *it, const char *field, const char *s);
/* Borrowed field value, or NULL. */
silk_value *silk_item_get(const silk_item *it, const char *field);

#ifdef __cplusplus
}
#endif
#endif
