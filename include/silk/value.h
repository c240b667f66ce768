/* silk — dynamic values for meta, cb_kwargs and items.
 *
 * A value is a heap node of one kind: null, bool, int64, double, string
 * (UTF-8, length-counted, also NUL-terminated), list, ordered dict, or a
 * reference to a tracked object (which holds a silk_ref on it).
 *
 * Ownership: every silk_value_new_* returns a value the caller owns and frees
 * with silk_value_free (which frees children and drops object references).
 * Containers take ownership of what is put into them (silk_list_push,
 * silk_dict_set), also when they fail: on error the given value is freed.
 * Getters return borrowed pointers that live as long as the container entry. */
#ifndef SILK_VALUE_H
#define SILK_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silk/buf.h"
#include "silk/object.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum silk_value_kind {
    SILK_V_NULL,
    SILK_V_BOOL,
    SILK_V_INT,
    SILK_V_DOUBLE,
    SILK_V_STRING,
    SILK_V_LIST,
    SILK_V_DICT,
    SILK_V_OBJECT,
} silk_value_kind;

typedef struct silk_value silk_value;

typedef struct silk_dict_entry {
    char *key; /* UTF-8, NUL-terminated */
    size_t key_len;
    silk_value *value;
} silk_dict_entry;

struct silk_value {
    silk_value_kind kind;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            char *ptr;
            size_t len;
        } s;
        struct {
            silk_value **items;
            size_t len, cap;
        } list;
        struct {
            silk_dict_entry *entries;
            size_t len, cap;
        } dict;
        silk_object *obj;
    } u;
};

/* Constructors: NULL on allocation failure. */
silk_value *silk_value_new_null(void);
silk_value *silk_value_new_bool(bool b);
silk_value *silk_value_new_int(int64_t i);
silk_value *silk_value_new_double(double d);
/* Copies s (NUL-terminated). NULL s makes a null value. */
silk_value *silk_value_new_string(const char *s);
/* Copies n bytes of s (may contain NULs). */
silk_value *silk_value_new_stringn(const char *s, size_t n);
/* Takes ownership of a silk_malloc'ed string of length n. */
silk_value *silk_value_new_string_own(char *s, size_t n);
silk_value *silk_value_new_list(void);
silk_value *silk_value_new_dict(void);
/* Holds a new reference to o (which must be alive). */
silk_value *silk_value_new_object(void *o);

void silk_value_free(silk_value *v);
/* Deep copy (object references are shared with one more ref). NULL on
 * failure. */
silk_value *silk_value_copy(const silk_value *v);
/* Structural equality (objects compare by identity; ints and doubles never
 * equal each other, as JSON round-trips keep kinds). */
bool silk_value_equal(const silk_value *a, const silk_value *b);

/* Lists. push takes ownership of item (freed on failure). */
int silk_list_push(silk_value *list, silk_value *item);
size_t silk_list_len(const silk_value *list);
silk_value *silk_list_get(const silk_value *list, size_t i);

/* Ordered dicts: keys keep insertion order; setting an existing key replaces
 * its value in place. set takes ownership of value (freed on failure). */
int silk_dict_set(silk_value *dict, const char *key, silk_value *value);
int silk_dict_setn(silk_value *dict, const char *key, size_t key_len,
                   silk_value *value);
/* Borrowed value, or NULL when absent (or dict is not a dict). */
silk_value *silk_dict_get(const silk_value *dict, const char *key);
/* Removes key; returns 0 or SILK_ENOTFOUND. */
int silk_dict_del(silk_value *dict, const char *key);
size_t silk_dict_len(const silk_value *dict);

/* Convenience setters (copy the scalar into a new value). */
int silk_dict_set_str(silk_value *dict, const char *key, const char *s);
int silk_dict_set_int(silk_value *dict, const char *key, int64_t i);
int silk_dict_set_bool(silk_value *dict, const char *key, bool b);
int silk_dict_set_double(silk_value *dict, const char *key, double d);
int silk_dict_set_object(silk_value *dict, const char *key, void *o);

/* Typed getters: return the dict's value when present and of that kind,
 * else def. Strings are borrowed. */
const char *silk_dict_get_str(const silk_value *dict, const char *key,
                              const char *def);
int64_t silk_dict_get_int(const silk_value *dict, const char *key, int64_t def);
bool silk_dict_get_bool(const silk_value *dict, const char *key, bool def);
double silk_dict_get_double(const silk_value *dict, const char *key, double def);

/* Scalar accessors (borrowed; NULL / 0 / false for other kinds). */
const char *silk_value_str(const silk_value *v);
size_t silk_value_strlen(const silk_value *v);
const char *silk_value_kind_name(silk_value_kind k);

/* true when v (recursively) holds an object reference. */
bool silk_value_has_object(const silk_value *v);

/* ---- JSON ---- */
enum {
    SILK_JSON_ENSURE_ASCII = 1 << 0, /* non-ASCII as \uXXXX (Python default) */
    SILK_JSON_SORT_KEYS = 1 << 1,    /* dict keys sorted by code point */
    SILK_JSON_PY_SEPARATORS = 1 << 2, /* ", " and ": " like json.dumps */
};
/* Appends v as JSON to out. Returns 0, SILK_EUNSERIALIZABLE (an object
 * reference; silk_last_error names its type), SILK_ERANGE (NaN/Inf),
 * SILK_EENCODING (a string is not valid UTF-8) or SILK_ENOMEM. */
int silk_json_encode(const silk_value *v, unsigned flags, silk_buf *out);
/* Same, into a new string (caller silk_free's it); *out NULL on error. */
int silk_json_dumps(const silk_value *v, unsigned flags, char **out);
/* Parses exactly one JSON text (surrounding whitespace allowed). Integers
 * that fit int64 become SILK_V_INT, other numbers SILK_V_DOUBLE. Nesting is
 * limited to 512 levels. Returns 0 and *out (caller owns) or SILK_EJSON with
 * silk_last_error giving the byte offset and reason. */
int silk_json_decode(const char *text, size_t len, silk_value **out);

#ifdef __cplusplus
}
#endif
#endif
