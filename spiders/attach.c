/* Per-spider attachments, freed at spider_closed (see spiders_internal.h).
 *
 * A process-wide list under a mutex: a handful of entries per running
 * spider, looked up once per callback. An entry is matched by the spider's
 * address and creation time, so a later spider that happens to reuse the
 * address of a closed one never sees its state. */
#include <pthread.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "spiders/spiders_internal.h"

typedef struct attachment {
    const silk_spider *sp;
    uint64_t created_ns;
    const void *key;
    void *p;
    silk__attach_free_fn free_fn;
    struct attachment *next;
} attachment;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static attachment *head;

void *silk__spider_attachment(const silk_spider *sp, const void *key)
{
    void *p = NULL;
    pthread_mutex_lock(&lock);
    for (attachment *a = head; a; a = a->next)
        if (a->sp == sp && a->created_ns == sp->obj.created_ns && a->key == key) {
            p = a->p;
            break;
        }
    pthread_mutex_unlock(&lock);
    return p;
}

static void on_closed(silk_crawler *c, const silk_signal_args *args, void *arg)
{
    (void)c;
    (void)arg;
    const silk_spider *sp = args->spider;
    attachment *gone = NULL;
    pthread_mutex_lock(&lock);
    for (attachment **pp = &head; *pp;) {
        attachment *a = *pp;
        if (a->sp == sp && a->created_ns == sp->obj.created_ns) {
            *pp = a->next;
            a->next = gone;
            gone = a;
        } else {
            pp = &a->next;
        }
    }
    pthread_mutex_unlock(&lock);
    while (gone) {
        attachment *a = gone;
        gone = a->next;
        if (a->free_fn)
            a->free_fn(a->p);
        silk_free(a);
    }
}

int silk__spider_attach(silk_spider *sp, const void *key, void *p, silk__attach_free_fn free_fn)
{
    if (!sp || !sp->crawler)
        return SILK_EINVAL;
    attachment *a = silk_calloc(1, sizeof *a);
    if (!a)
        return silk_error(SILK_ENOMEM, "out of memory");
    bool first = true;
    pthread_mutex_lock(&lock);
    for (attachment *o = head; o; o = o->next)
        if (o->sp == sp && o->created_ns == sp->obj.created_ns)
            first = false;
    pthread_mutex_unlock(&lock);
    /* one handler per spider frees all its attachments */
    if (first && silk_signal_connect(sp->crawler, SILK_SIG_SPIDER_CLOSED, on_closed, NULL)) {
        silk_free(a);
        return silk_error(SILK_ENOMEM, "out of memory");
    }
    *a = (attachment){ sp, sp->obj.created_ns, key, p, free_fn, NULL };
    pthread_mutex_lock(&lock);
    a->next = head;
    head = a;
    pthread_mutex_unlock(&lock);
    return 0;
}
