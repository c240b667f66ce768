#!/usr/bin/env python3
"""Writes N static HTML pages of exactly SIZE bytes (default 10240) for the
downloader benchmark: OUTDIR/p/<i>.html, i = 0 .. N-1, plus OUTDIR/robots.txt.

    gen_pages.py OUTDIR [--pages 1000] [--size 10240]

Standard library only; deterministic.
"""
import argparse
import os


def page(i, n, size):
    head = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>Benchmark page {i}</title></head>\n<body>\n"
        f"<h1>Benchmark page {i}</h1>\n<span class=\"price\">${(i * 37) % 1000}.{i % 100:02d}</span>\n"
        f"<a rel=\"next\" href=\"/p/{(i + 1) % n}.html\">next</a>\n<p>"
    )
    tail = "</p>\n</body></html>\n"
    filler = "lorem ipsum dolor sit amet consectetur adipiscing elit "
    body = head
    while len(body.encode()) + len(tail) < size:
        body += filler
    body = body.encode()[: size - len(tail)] + tail.encode()
    assert len(body) == size
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--size", type=int, default=10240)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.outdir, "p"), exist_ok=True)
    for i in range(a.pages):
        with open(os.path.join(a.outdir, "p", f"{i}.html"), "wb") as f:
            f.write(page(i, a.pages, a.size))
    with open(os.path.join(a.outdir, "robots.txt"), "w") as f:
        f.write("User-agent: *\nAllow: /\n")


if __name__ == "__main__":
    main()
