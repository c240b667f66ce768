/* silk — settings with Scrapy's names and precedence.
 *
 * A setting is stored as a dynamic value with the priority it was set at;
 * a set at a lower priority than the current one is ignored, as in Scrapy
 * (default < command < project < spider < cmdline). Typed getters accept
 * Scrapy's spellings ("True", "false", "1", lists as "a,b" or JSON) and give
 * a clear error naming the setting on a wrong type. Unknown names are
 * accepted (extensions and spiders read their own). */
#ifndef SILK_SETTINGS_H
#define SILK_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "silk/value.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SILK_PRIO_DEFAULT = 0,
    SILK_PRIO_COMMAND = 10,
    SILK_PRIO_PROJECT = 20,
    SILK_PRIO_SPIDER = 30,
    SILK_PRIO_CMDLINE = 40,
};

typedef struct silk_settings silk_settings;

/* A new settings object holding silk's defaults. NULL on ENOMEM. */
silk_settings *silk_settings_new(void);
void silk_settings_free(silk_settings *s);
/* A deep copy (per-spider settings start from the process's). */
silk_settings *silk_settings_copy(const silk_settings *s);

/* Sets key from its text form ("-s KEY=VALUE"): kept as a string and
 * converted by the typed getters. Returns 0, or SILK_ENOMEM. A set at a
 * lower priority than the key's current one is ignored (returns 0). */
int silk_settings_set(silk_settings *s, const char *key, const char *text, int priority);
/* Same with a value; takes ownership of v (freed on error or when ignored). */
int silk_settings_set_value(silk_settings *s, const char *key, silk_value *v, int priority);
/* Parses "KEY=VALUE" and sets it. SILK_EINVAL (message names the text) when
 * there is no '='. */
int silk_settings_set_pair(silk_settings *s, const char *pair, int priority);

/* The raw value, or NULL when unset. Borrowed. */
const silk_value *silk_settings_get(const silk_settings *s, const char *key);
/* Priority of key, or -1 when unset. */
int silk_settings_priority(const silk_settings *s, const char *key);
/* true when key is one of silk's known settings. */
bool silk_settings_is_known(const char *key);

/* Typed getters: 0 and *out, SILK_ENOTFOUND (unset: *out untouched) or
 * SILK_ETYPE with silk_last_error() like
 * "setting CONCURRENT_REQUESTS: expected an integer, got 'many'". */
int silk_settings_get_int(const silk_settings *s, const char *key, int64_t *out);
int silk_settings_get_double(const silk_settings *s, const char *key, double *out);
int silk_settings_get_bool(const silk_settings *s, const char *key, bool *out);
/* Borrowed string (a number setting is refused). */
int silk_settings_get_str(const silk_settings *s, const char *key, const char **out);
/* A new list value (caller frees): a list stays a list, "a,b" splits on
 * commas, a JSON array text is decoded. */
int silk_settings_get_list(const silk_settings *s, const char *key, silk_value **out);
/* A new dict value (caller frees): a dict, or a JSON object text. */
int silk_settings_get_dict(const silk_settings *s, const char *key, silk_value **out);

/* Convenience forms that return def when unset or malformed (malformed is
 * logged once as an ERROR naming the setting). */
int64_t silk_settings_int(const silk_settings *s, const char *key, int64_t def);
double silk_settings_double(const silk_settings *s, const char *key, double def);
bool silk_settings_bool(const silk_settings *s, const char *key, bool def);
const char *silk_settings_str(const silk_settings *s, const char *key, const char *def);

/* Calls fn for each key in insertion order. */
void silk_settings_foreach(const silk_settings *s,
                           void (*fn)(const char *key, const silk_value *v, int priority, void *arg),
                           void *arg);

#ifdef __cplusplus
}
#endif
#endif
