/* silk — engine internals shared by the engine sources (not a public header). */
#ifndef SILK_ENGINE_INTERNAL_H
#define SILK_ENGINE_INTERNAL_H

#include "silk/engine.h"
#include "silk/spider.h"

struct silk_ctx {
    silk_crawler *crawler;
    silk_spider *spider;
    silk_response *response; /* NULL in start_requests */
    silk_failure *failure;   /* errbacks */
    silk_arena arena;
    silk_object **out;       /* yielded requests and items, in order (owned refs) */
    size_t nout, capout;
    char *base_url;          /* effective base for urljoin, computed once */
    silk_shared_str *referer; /* the Referer its requests share, once chosen */
};

void silk__ctx_init(silk_ctx *ctx, silk_crawler *c, silk_spider *sp, silk_response *resp,
                    silk_failure *failure);
/* Releases the arena and any outputs not taken. */
void silk__ctx_release(silk_ctx *ctx);

/* ---- parsing on worker threads (engine/parsepool.c) ---- */
typedef struct silk__parsepool silk__parsepool;
typedef void (*silk__parse_done_fn)(void *arg, silk_response *resp);
/* nthreads 0 makes no pool (*out NULL). */
int silk__parsepool_new(struct event_base *base, size_t nthreads, silk__parsepool **out);
/* Takes a reference to resp; done runs on the loop thread once the text is
 * decoded and the document parsed (or parsing failed: the callback then
 * parses again, on the loop, and reports the error). */
int silk__parsepool_submit(silk__parsepool *p, silk_response *resp, silk__parse_done_fn done, void *arg);
size_t silk__parsepool_pending(const silk__parsepool *p);
void silk__parsepool_free(silk__parsepool *p);
/* One-time initialisations of the text decoder and the parser. */
void silk__parse_warmup(void);
#define silk__response_decode silk_response_text

int silk__spider_new(const silk_spider_def *def, const silk_value *args, silk_spider **out);

#endif
