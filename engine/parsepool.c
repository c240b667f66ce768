/* silk — parsing responses on worker threads.
 *
 * libxml2 parses separate documents safely in parallel, and parsing is most
 * of a page's cost, so the engine hands each text response to a worker
 * that decodes its text and parses it into a document; the loop thread then
 * adopts the document into a Selector and runs the callback.
 *
 * Which data each thread touches: a worker reads the response's body and
 * headers and writes only its text/encoding fields and the parsed-document
 * slot, while the response sits in this pool (the loop thread does not look
 * at it until the job comes back). Workers create no tracked object, touch
 * no live list or reference count, and do not log; they allocate through
 * the counting allocator, whose counters are atomic. The job queues are
 * guarded by one mutex; completion wakes the loop through event_active on
 * a base made thread-aware by evthread_use_pthreads(). */
#include <pthread.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "engine_internal.h"
#include "silk/alloc.h"
#include "silk/encoding.h"
#include "silk/error.h"
#include "silk/selector.h"

typedef struct job {
    silk_list link;
    silk_response *resp;
    silk__parse_done_fn done;
    void *arg;
} job;

struct silk__parsepool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    silk_list todo, finished;
    size_t queued;
    bool stopping;
    pthread_t *threads;
    size_t nthreads;
    struct event *done_ev;
};

static void parse_response(silk_response *resp)
{
    size_t len = 0;
    const char *text = silk__response_decode(resp, &len);
    if (!text)
        return;
    silk_doc_type t = silk_type_is_a(resp->obj.type, &silk_type_xml_response) ? SILK_DOC_XML : SILK_DOC_HTML;
    void *parsed = NULL;
    if (silk_selector_parse(text, len, t, &parsed) == 0) {
        resp->parsed = parsed;
        resp->parsed_free = silk_selector_parsed_free;
    }
}

static void *worker(void *arg)
{
    silk__parsepool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && silk_list_empty(&p->todo))
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stopping)
            break;
        job *j = silk_container_of(p->todo.next, job, link);
        silk_list_del(&j->link);
        pthread_mutex_unlock(&p->mu);
        parse_response(j->resp);
        pthread_mutex_lock(&p->mu);
        silk_list_add_tail(&p->finished, &j->link);
        event_active(p->done_ev, EV_WRITE, 0);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    silk__parsepool *p = arg;
    (void)fd;
    (void)what;
    silk_list batch;
    silk_list_init(&batch);
    pthread_mutex_lock(&p->mu);
    while (!silk_list_empty(&p->finished)) {
        silk_list *n = p->finished.next;
        silk_list_del(n);
        silk_list_add_tail(&batch, n);
    }
    pthread_mutex_unlock(&p->mu);
    while (!silk_list_empty(&batch)) {
        job *j = silk_container_of(batch.next, job, link);
        silk_list_del(&j->link);
        p->queued--;
        j->done(j->arg, j->resp);
        silk_unref(j->resp);
        silk_free(j);
    }
}

int silk__parsepool_new(struct event_base *base, size_t nthreads, silk__parsepool **out)
{
    *out = NULL;
    if (nthreads == 0)
        return 0;
    /* lazy one-time initialisations happen here, on the loop thread, before
     * any worker can race for them */
    silk__parse_warmup();
    silk__parsepool *p = silk_calloc(1, sizeof *p);
    if (!p)
        return SILK_ENOMEM;
    silk_list_init(&p->todo);
    silk_list_init(&p->finished);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!(p->done_ev = event_new(base, -1, 0, on_done, p)) ||
        !(p->threads = silk_calloc(nthreads, sizeof *p->threads))) {
        silk__parsepool_free(p);
        return SILK_ENOMEM;
    }
    for (size_t i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (!p->nthreads) {
        silk__parsepool_free(p);
        return silk_error(SILK_EIO, "cannot start a parser thread");
    }
    *out = p;
    return 0;
}

int silk__parsepool_submit(silk__parsepool *p, silk_response *resp, silk__parse_done_fn done, void *arg)
{
    job *j = silk_calloc(1, sizeof *j);
    if (!j)
        return SILK_ENOMEM;
    j->resp = silk_ref(resp);
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&p->mu);
    silk_list_add_tail(&p->todo, &j->link);
    p->queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

size_t silk__parsepool_pending(const silk__parsepool *p) { return p ? p->queued : 0; }

void silk__parsepool_free(silk__parsepool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* jobs not delivered are dropped without their callbacks */
    silk_list *lists[2] = { &p->todo, &p->finished };
    for (int k = 0; k < 2; k++) {
        while (!silk_list_empty(lists[k])) {
            job *j = silk_container_of(lists[k]->next, job, link);
            silk_list_del(&j->link);
            silk_unref(j->resp);
            silk_free(j);
        }
    }
    if (p->done_ev)
        event_free(p->done_ev);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    silk_free(p->threads);
    silk_free(p);
}
