/* silk — the generated shop of the test server. Every page is computed on
 * the fly from (seed, id) with a counter-based generator, so serving page
 * 9,999,999 costs what page 0 costs and no table grows with the site. */
#include <stdint.h>
#include <string.h>

#include "silk/alloc.h"
#include "silk/buf.h"
#include "silk/error.h"
#include "silk/testserver.h"

typedef struct site {
    uint32_t pages;
    uint32_t links;
    uint64_t seed;
} site;

/* splitmix64's finaliser: a well-mixed 64-bit value per input. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct rng {
    uint64_t s;
} rng;

/* Independent streams per (page, purpose), so the link graph can be read
 * without rendering the text. */
enum { STREAM_INFO = 1, STREAM_LINKS = 2, STREAM_TEXT = 3 };

static rng rng_for(const site *st, uint32_t id, unsigned stream)
{
    rng r = { mix64(st->seed ^ mix64(((uint64_t)id << 8) | stream)) };
    return r;
}

static uint64_t rng_next(rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return mix64(r->s);
}

static uint32_t rng_below(rng *r, uint32_t n) { return n ? (uint32_t)(rng_next(r) % n) : 0; }

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const ADJ[] = {
    "Amber",  "Brisk",  "Calm",   "Dusky", "Elegant", "Faded",  "Gentle", "Hardy",
    "Ivory",  "Jolly",  "Keen",   "Lucid", "Mellow",  "Noble",  "Olive",  "Plush",
    "Quiet",  "Rustic", "Sturdy", "Tidy",  "Urban",   "Vivid",  "Warm",   "Young",
    "Zesty",  "Bold",   "Crisp",  "Dapper", "Earthy", "Frosty", "Golden", "Humble",
};
static const char *const MATERIAL[] = {
    "Oak",    "Walnut", "Maple",  "Bamboo",  "Linen", "Cotton", "Wool",   "Leather",
    "Copper", "Brass",  "Steel",  "Ceramic", "Glass", "Marble", "Cedar",  "Birch",
};
static const char *const NOUN[] = {
    "Lamp",    "Chair",   "Table",   "Vase",    "Clock",   "Bowl",   "Mirror", "Shelf",
    "Stool",   "Bench",   "Desk",    "Basket",  "Candle",  "Kettle", "Mug",    "Rug",
    "Blanket", "Pillow",  "Frame",   "Tray",    "Jar",     "Crate",  "Lantern", "Planter",
    "Cabinet", "Dresser", "Ottoman", "Sofa",    "Teapot",  "Platter", "Coaster", "Hook",
};
static const char *const COLOR[] = {
    "natural", "charcoal", "sand", "forest green", "navy", "terracotta", "white", "black",
};
static const char *const ORIGIN[] = {
    "Portugal", "Denmark", "Japan", "Vietnam", "Mexico", "Zürich, Switzerland", "Kraków, Poland",
    "Québec, Canada",
};
static const char *const WORDS[] = {
    "solid",    "crafted",  "finish",  "daily",    "sturdy",   "light",    "warm",     "simple",
    "design",   "home",     "room",    "corner",   "shelf",    "gift",     "classic",  "modern",
    "texture",  "grain",    "hand",    "made",     "careful",  "smooth",   "edge",     "detail",
    "balance",  "weight",   "quality", "season",   "morning",  "evening",  "table",    "window",
    "natural",  "durable",  "gentle",  "soft",     "clean",    "quiet",    "bright",   "small",
    "large",    "perfect",  "size",    "color",    "shade",    "tone",     "surface",  "polish",
    "family",   "friends",  "kitchen", "garden",   "studio",   "office",   "weekend",  "travel",
    "delivery", "packaging", "value",  "price",    "return",   "service",  "comfort",  "style",
};
static const char *const AUTHOR[] = {
    "Alice", "Bob",   "Carol",   "Dave",    "Erin",  "Frank", "Grace", "Heidi", "Ivan", "Judy",
    "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoë",
};

static int site_from(const silk_testserver_options *opt, site *st)
{
    st->pages = opt && opt->pages ? opt->pages : SILK_TESTSITE_DEFAULT_PAGES;
    st->links = opt && opt->links_per_page ? opt->links_per_page : SILK_TESTSITE_DEFAULT_LINKS;
    st->seed = opt ? opt->seed : 0;
    if (st->pages > SILK_TESTSITE_MAX_PAGES)
        return silk_error(SILK_ERANGE, "test site: %u pages (at most %u)", st->pages,
                          SILK_TESTSITE_MAX_PAGES);
    if (st->links > SILK_TESTSITE_MAX_LINKS)
        return silk_error(SILK_ERANGE, "test site: %u links per page (at most %u)", st->links,
                          SILK_TESTSITE_MAX_LINKS);
    return 0;
}

static void page_info(const site *st, uint32_t id, silk_testsite_page *p)
{
    rng r = rng_for(st, id, STREAM_INFO);
    const char *adj = ADJ[rng_below(&r, COUNT(ADJ))];
    const char *mat = MATERIAL[rng_below(&r, COUNT(MATERIAL))];
    const char *noun = NOUN[rng_below(&r, COUNT(NOUN))];
    p->id = id;
    p->next = id + 1 < st->pages ? id + 1 : SILK_TESTSITE_NONE;
    p->price_cents = 100 + rng_below(&r, 99900);
    snprintf(p->path, sizeof p->path, "/p/%u.html", id);
    snprintf(p->title, sizeof p->title, "%s %s %s No. %u", adj, mat, noun, id);
    snprintf(p->price, sizeof p->price, "$%u.%02u", p->price_cents / 100, p->price_cents % 100);
}

/* The i-th related link of page id; never the page itself when the site
 * has another page. */
static uint32_t link_target(const site *st, rng *r, uint32_t id)
{
    uint32_t t = rng_below(r, st->pages);
    if (t == id && st->pages > 1)
        t = (t + 1) % st->pages;
    return t;
}

int silk_testsite_page_info(const silk_testserver_options *opt, uint32_t id,
                            silk_testsite_page *out)
{
    site st;
    int rc = site_from(opt, &st);
    if (rc)
        return rc;
    if (id >= st.pages)
        return silk_error(SILK_ERANGE, "test site: no page %u (site has %u)", id, st.pages);
    page_info(&st, id, out);
    return 0;
}

int silk_testsite_page_links(const silk_testserver_options *opt, uint32_t id, uint32_t *ids,
                             size_t max, size_t *n)
{
    site st;
    int rc = site_from(opt, &st);
    if (rc)
        return rc;
    if (id >= st.pages)
        return silk_error(SILK_ERANGE, "test site: no page %u (site has %u)", id, st.pages);
    rng r = rng_for(&st, id, STREAM_LINKS);
    for (uint32_t k = 0; k < st.links; k++) {
        uint32_t t = link_target(&st, &r, id);
        if (k < max)
            ids[k] = t;
    }
    *n = st.links;
    return 0;
}

uint32_t silk_testsite_index_links(const silk_testserver_options *opt)
{
    site st;
    if (site_from(opt, &st))
        return 0;
    return st.pages < st.links ? st.pages : st.links;
}

int silk_testsite_depths(const silk_testserver_options *opt, uint32_t *depth, size_t n)
{
    site st;
    int rc = site_from(opt, &st);
    if (rc)
        return rc;
    if (n < st.pages)
        return silk_error(SILK_EINVAL, "test site: depth array of %zu for %u pages", n, st.pages);
    uint32_t *queue = silk_malloc((size_t)st.pages * sizeof *queue);
    if (!queue)
        return silk_error(SILK_ENOMEM, "test site: no memory for %u depths", st.pages);
    for (uint32_t i = 0; i < st.pages; i++)
        depth[i] = SILK_TESTSITE_NONE;
    size_t head = 0, tail = 0;
    uint32_t first = st.pages < st.links ? st.pages : st.links;
    for (uint32_t i = 0; i < first; i++) {
        depth[i] = 1;
        queue[tail++] = i;
    }
    /* "/" also has rel=next to page 0, which is among the first already. */
    while (head < tail) {
        uint32_t id = queue[head++];
        rng r = rng_for(&st, id, STREAM_LINKS);
        for (uint32_t k = 0; k <= st.links; k++) {
            uint32_t t = k < st.links ? link_target(&st, &r, id) : id + 1;
            if (t < st.pages && depth[t] == SILK_TESTSITE_NONE) {
                depth[t] = depth[id] + 1;
                queue[tail++] = t;
            }
        }
    }
    silk_free(queue);
    return 0;
}

/* A sentence of 6..15 words from the stream, capitalised, with a full stop. */
static void sentence(silk_buf *b, rng *r)
{
    uint32_t n = 6 + rng_below(r, 10);
    for (uint32_t i = 0; i < n; i++) {
        const char *w = WORDS[rng_below(r, COUNT(WORDS))];
        if (i == 0) {
            char c = w[0];
            silk_buf_putc(b, (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
            silk_buf_puts(b, w + 1);
        } else {
            silk_buf_putc(b, ' ');
            silk_buf_puts(b, w);
        }
    }
    silk_buf_putc(b, '.');
}

static void paragraph(silk_buf *b, rng *r, uint32_t min, uint32_t spread)
{
    uint32_t n = min + rng_below(r, spread);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            silk_buf_putc(b, ' ');
        sentence(b, r);
    }
}

/* The four spellings of a link to /p/T.html from /p/X.html. */
static void put_href(silk_buf *b, uint32_t target, unsigned form)
{
    switch (form % 4) {
    case 0:
        silk_buf_printf(b, "/p/%u.html", target);
        break;
    case 1:
        silk_buf_printf(b, "%u.html", target);
        break;
    case 2:
        silk_buf_printf(b, "./%u.html", target);
        break;
    default:
        silk_buf_printf(b, "../p/%u.html", target);
        break;
    }
}

int silk_testsite_render_page(const silk_testserver_options *opt, uint32_t id, silk_buf *out)
{
    site st;
    int rc = site_from(opt, &st);
    if (rc)
        return rc;
    if (id >= st.pages)
        return silk_error(SILK_ERANGE, "test site: no page %u (site has %u)", id, st.pages);
    if (out->err)
        return out->err;
    size_t start = out->len;
    silk_testsite_page p, q;
    page_info(&st, id, &p);
    rng tr = rng_for(&st, id, STREAM_TEXT);
    /* Target size of the whole page: 5.6 .. 13.6 KB; reviews pad up to it. */
    size_t target = 5600 + rng_below(&tr, 8000);

    silk_buf_printf(out,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<title>%s</title>\n"
                    "<meta name=\"description\" content=\"%s, %s. Free delivery.\">\n"
                    "</head>\n<body>\n"
                    "<nav class=\"breadcrumb\"><a href=\"/\">Home</a> &rsaquo; "
                    "<span>%s</span></nav>\n"
                    "<div class=\"product\" id=\"product-%u\" data-id=\"%u\">\n"
                    "<h1 class=\"title\">%s</h1>\n"
                    "<p class=\"price-box\">Price: <span class=\"price\">%s</span> "
                    "<span class=\"stock\">%s</span></p>\n",
                    p.title, p.title, p.price, p.title, id, id, p.title, p.price,
                    rng_below(&tr, 5) ? "In stock" : "Out of stock");

    silk_buf_puts(out, "<div class=\"description\">\n<p>");
    paragraph(out, &tr, 3, 4);
    silk_buf_puts(out, "</p>\n<p>");
    paragraph(out, &tr, 2, 3);
    silk_buf_puts(out, "</p>\n</div>\n");

    silk_buf_printf(out,
                    "<table class=\"specs\">\n"
                    "<tr><th>SKU</th><td>SLK-%08u</td></tr>\n"
                    "<tr><th>Color</th><td>%s</td></tr>\n"
                    "<tr><th>Weight</th><td>%u.%u kg</td></tr>\n"
                    "<tr><th>Dimensions</th><td>%u &times; %u &times; %u cm</td></tr>\n"
                    "<tr><th>Origin</th><td>%s</td></tr>\n"
                    "<tr><th>Care</th><td>Wipe clean &amp; dry</td></tr>\n"
                    "<tr><th>Warranty</th><td>%u years</td></tr>\n"
                    "</table>\n",
                    id, COLOR[rng_below(&tr, COUNT(COLOR))], 1 + rng_below(&tr, 20),
                    rng_below(&tr, 10), 10 + rng_below(&tr, 90), 10 + rng_below(&tr, 90),
                    2 + rng_below(&tr, 40), ORIGIN[rng_below(&tr, COUNT(ORIGIN))],
                    1 + rng_below(&tr, 5));

    silk_buf_puts(out, "<h2>Related products</h2>\n<ul class=\"related\">\n");
    rng lr = rng_for(&st, id, STREAM_LINKS);
    for (uint32_t k = 0; k < st.links; k++) {
        uint32_t t = link_target(&st, &lr, id);
        page_info(&st, t, &q);
        silk_buf_puts(out, "<li><a href=\"");
        put_href(out, t, id + k);
        silk_buf_printf(out, "\">%s</a></li>\n", q.title);
    }
    silk_buf_puts(out, "</ul>\n<p><a href=\"#reviews\">Read the reviews</a></p>\n");

    silk_buf_puts(out, "<div class=\"reviews\" id=\"reviews\">\n<h2>Reviews</h2>\n");
    const size_t tail_room = 400;
    uint32_t nrev = 0;
    while (!out->err && (out->len - start + tail_room < target || nrev == 0)) {
        nrev++;
        silk_buf_printf(out,
                        "<div class=\"review\"><span class=\"author\">%s</span> "
                        "<span class=\"rating\">%u</span>/5 "
                        "<span class=\"date\">2024-%02u-%02u</span>\n<p>",
                        AUTHOR[rng_below(&tr, COUNT(AUTHOR))], 1 + rng_below(&tr, 5),
                        1 + rng_below(&tr, 12), 1 + rng_below(&tr, 28));
        paragraph(out, &tr, 1, 3);
        silk_buf_puts(out, "</p></div>\n");
    }
    silk_buf_puts(out, "</div>\n</div>\n<div class=\"pager\">");
    if (p.next != SILK_TESTSITE_NONE)
        silk_buf_printf(out, "<a rel=\"next\" href=\"%u.html\">Next product</a>", p.next);
    silk_buf_printf(out,
                    "</div>\n<footer><a href=\"/\">Home</a> &middot; %u reviews &middot; "
                    "silk test site</footer>\n</body>\n</html>\n",
                    nrev);
    return out->err ? silk_error(out->err, "test site: no memory for page %u", id) : 0;
}

int silk_testsite_render_index(const silk_testserver_options *opt, silk_buf *out)
{
    site st;
    int rc = site_from(opt, &st);
    if (rc)
        return rc;
    if (out->err)
        return out->err;
    silk_testsite_page q;
    silk_buf_printf(out,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<title>silk test site</title>\n</head>\n<body>\n"
                    "<h1>silk test site</h1>\n<p>%u products.</p>\n<ul class=\"products\">\n",
                    st.pages);
    uint32_t first = st.pages < st.links ? st.pages : st.links;
    for (uint32_t i = 0; i < first; i++) {
        page_info(&st, i, &q);
        silk_buf_printf(out, "<li><a href=\"%s\">%s</a></li>\n", q.path, q.title);
    }
    silk_buf_puts(out, "</ul>\n<div class=\"pager\"><a rel=\"next\" href=\"/p/0.html\">"
                       "First product</a></div>\n</body>\n</html>\n");
    return out->err ? silk_error(out->err, "test site: no memory for the index") : 0;
}
