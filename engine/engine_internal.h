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
};

void silk__ctx_init(silk_ctx *ctx, silk_crawler *c, silk_spider *sp, silk_response *resp,
                    silk_failure *failure);
/* Releases the arena and any outputs not taken. */
void silk__ctx_release(silk_ctx *ctx);

int silk__spider_new(const silk_spider_def *def, const silk_value *args, silk_spider **out);

#endif
