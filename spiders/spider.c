/* silk — the Spider object and its callback registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/spider.h"
#include "spiders/spiders_internal.h"

static void spider_destroy(silk_object *o)
{
    silk_spider *sp = (silk_spider *)o;
    silk_value_free(sp->args);
    silk_value_free(sp->state);
}

static int spider_describe(const silk_object *o, char *buf, size_t n)
{
    const silk_spider *sp = (const silk_spider *)o;
    return snprintf(buf, n, "<%s '%s' at %p>", o->type->name, sp->name ? sp->name : "", (const void *)o);
}

silk_type silk_type_spider = SILK_TYPE_INIT("Spider", NULL, sizeof(silk_spider), spider_destroy, spider_describe);

_Static_assert(offsetof(silk_spider, obj) == 0, "the object header comes first");

/* Each spider class gets its own tracked type below Spider, so that
 * prefs(ignore=Spider) hides them all. Types stay registered for the life of
 * the process (the registry links them), so they are kept in a table here,
 * allocated outside the counted heap, and reused by name. */
typedef struct spider_type {
    silk_type type;
    char *name;
    struct spider_type *next;
} spider_type;
static spider_type *spider_types;

static silk_type *spider_type_for(const char *class_name)
{
    for (spider_type *t = spider_types; t; t = t->next)
        if (strcmp(t->name, class_name) == 0)
            return &t->type;
    spider_type *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(class_name))) {
        free(t);
        return NULL;
    }
    t->type = (silk_type)SILK_TYPE_INIT(t->name, &silk_type_spider, sizeof(silk_spider), spider_destroy,
                                        spider_describe);
    t->next = spider_types;
    spider_types = t;
    return &t->type;
}

int silk__spider_new(const silk_spider_def *def, const silk_value *args, silk_spider **out);
int silk__spider_new(const silk_spider_def *def, const silk_value *args, silk_spider **out)
{
    *out = NULL;
    if (!def || !def->name || !*def->name)
        return silk_error(SILK_EINVAL, "a spider must have a name");
    silk_type *t = spider_type_for(def->class_name ? def->class_name : def->name);
    if (!t)
        return SILK_ENOMEM;
    silk_spider *sp = silk_object_new(t);
    if (!sp)
        return SILK_ENOMEM;
    sp->def = def;
    sp->name = def->name;
    sp->args = args ? silk_value_copy(args) : silk_value_new_dict();
    sp->state = silk_value_new_dict();
    if (!sp->args || !sp->state) {
        silk_unref(sp);
        return SILK_ENOMEM;
    }
    *out = sp;
    return 0;
}

const char *silk_spider_arg(const silk_spider *sp, const char *name, const char *def)
{
    return silk_dict_get_str(sp->args, name, def);
}

silk_crawler *silk_spider_crawler(const silk_spider *sp) { return sp->crawler; }

silk_callback_fn silk_spider_callback(const silk_spider *sp, const char *name)
{
    if (!name || strcmp(name, "parse") == 0)
        if (sp->def->parse)
            return sp->def->parse;
    for (const silk_callback_def *c = sp->def->callbacks; name && c && c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->fn;
    return silk__builtin_callback(sp, name);
}

const char *silk_spider_callback_name(const silk_spider *sp, silk_callback_fn fn)
{
    if (!fn)
        return NULL;
    if (sp->def->parse == fn)
        return "parse";
    for (const silk_callback_def *c = sp->def->callbacks; c && c->name; c++)
        if (c->fn == fn)
            return c->name;
    return silk__builtin_callback_name(sp, fn);
}

silk_errback_fn silk_spider_errback(const silk_spider *sp, const char *name)
{
    for (const silk_errback_def *e = sp->def->errbacks; name && e && e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e->fn;
    return silk__builtin_errback(sp, name);
}

const char *silk_spider_errback_name(const silk_spider *sp, silk_errback_fn fn)
{
    for (const silk_errback_def *e = sp->def->errbacks; fn && e && e->name; e++)
        if (e->fn == fn)
            return e->name;
    return silk__builtin_errback_name(sp, fn);
}
