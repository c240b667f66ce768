/* silk — the dupefilter: request fingerprints as 20 raw bytes in an
 * open-addressing hash set (no per-entry allocation, no hex strings). */
#include <string.h>

#include "silk/alloc.h"
#include "silk/error.h"
#include "silk/log.h"
#include "silk/scheduler.h"

#define FP 20

struct silk_dupefilter {
    uint8_t *slots; /* cap * 20 bytes; all-zero = empty */
    size_t cap, len;
    bool has_zero;  /* the all-zero fingerprint, kept aside */
    bool debug, logged_once;
};

static const uint8_t zero[FP];

static size_t slot_of(const uint8_t fp[FP], size_t cap)
{
    uint64_t h;
    memcpy(&h, fp, sizeof h); /* SHA-1 bytes are already uniform */
    return (size_t)(h & (cap - 1));
}

silk_dupefilter *silk_dupefilter_new(bool debug)
{
    silk_dupefilter *df = silk_calloc(1, sizeof *df);
    if (!df)
        return NULL;
    df->cap = 1024;
    df->slots = silk_calloc(df->cap, FP);
    if (!df->slots) {
        silk_free(df);
        return NULL;
    }
    df->debug = debug;
    return df;
}

void silk_dupefilter_free(silk_dupefilter *df)
{
    if (!df)
        return;
    silk_free(df->slots);
    silk_free(df);
}

static void insert_raw(uint8_t *slots, size_t cap, const uint8_t fp[FP])
{
    for (size_t i = slot_of(fp, cap);; i = (i + 1) & (cap - 1)) {
        if (memcmp(slots + i * FP, zero, FP) == 0) {
            memcpy(slots + i * FP, fp, FP);
            return;
        }
    }
}

static int grow(silk_dupefilter *df)
{
    size_t cap = df->cap * 2;
    uint8_t *slots = silk_calloc(cap, FP);
    if (!slots)
        return SILK_ENOMEM;
    for (size_t i = 0; i < df->cap; i++)
        if (memcmp(df->slots + i * FP, zero, FP) != 0)
            insert_raw(slots, cap, df->slots + i * FP);
    silk_free(df->slots);
    df->slots = slots;
    df->cap = cap;
    return 0;
}

bool silk_dupefilter_contains(const silk_dupefilter *df, const uint8_t fp[FP])
{
    if (memcmp(fp, zero, FP) == 0)
        return df->has_zero;
    for (size_t i = slot_of(fp, df->cap);; i = (i + 1) & (df->cap - 1)) {
        const uint8_t *s = df->slots + i * FP;
        if (memcmp(s, fp, FP) == 0)
            return true;
        if (memcmp(s, zero, FP) == 0)
            return false;
    }
}

int silk_dupefilter_add(silk_dupefilter *df, const uint8_t fp[FP])
{
    if (memcmp(fp, zero, FP) == 0) {
        int was = df->has_zero;
        df->has_zero = true;
        df->len += !was;
        return was;
    }
    if (silk_dupefilter_contains(df, fp))
        return 1;
    if ((df->len + 1) * 4 > df->cap * 3 && grow(df))
        return SILK_ENOMEM;
    insert_raw(df->slots, df->cap, fp);
    df->len++;
    return 0;
}

size_t silk_dupefilter_len(const silk_dupefilter *df) { return df->len; }

size_t silk_dupefilter_bytes(const silk_dupefilter *df) { return df->cap * FP + sizeof *df; }

int silk_dupefilter_request_seen(silk_dupefilter *df, const silk_request *req)
{
    uint8_t fp[FP];
    int rc = silk_request_fingerprint(req, NULL, false, fp, NULL);
    if (rc)
        return rc;
    rc = silk_dupefilter_add(df, fp);
    if (rc == 1) {
        if (df->debug) {
            silk_log(SILK_LOG_DEBUG, "silk.dupefilters", "Filtered duplicate request: <%s %s>",
                     req->method, req->url);
        } else if (!df->logged_once) {
            df->logged_once = true;
            silk_log(SILK_LOG_DEBUG, "silk.dupefilters",
                     "Filtered duplicate request: <%s %s> - no more duplicates will be shown "
                     "(see DUPEFILTER_DEBUG to show all duplicates)",
                     req->method, req->url);
        }
    }
    return rc;
}
