#!/usr/bin/python3
"""Selector benchmark: silk vs bare libxml2 vs parsel on the same pages.

    /usr/bin/python3 bench/parsel_bench.py BENCH_BINARY [--pages 3000] [--rounds 3]

Generates --pages product pages of about 10 KB (bench/site/gen_site.py, fixed
seed), then, one after the other and each pinned to one core (taskset -c 0),
times parse + extract (title, price, every href, urljoin of each href
against the page URL) over all of them:

  bare    BENCH_BINARY bare: htmlReadMemory + the three XPath queries +
          xmlBuildURI, no silk
  silk    BENCH_BINARY silk: silk_selector_new + css("title::text"),
          css("span.price::text"), css("a::attr(href)").getall() + silk_url_join
  parsel  this script, in a child process: Selector(text=page.decode()) and
          the same three css() calls + urllib.parse.urljoin (Response.urljoin)

Each mode runs one warm-up pass and --rounds timed passes; µs per page is
the median over --repeat runs. Prints the figures and the ratios
silk/bare (target <= 1.25) and silk-pages-per-second / parsel's.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parsel_child(rounds, files):
    from urllib.parse import urljoin
    from parsel import Selector
    pages = []
    for f in files:
        with open(f, "rb") as fh:
            pages.append(("http://bench.example/p/" + os.path.basename(f), fh.read()))

    def one(url, data):
        sel = Selector(text=data.decode("utf-8"))
        title = sel.css("title::text").get()
        price = sel.css("span.price::text").get()
        nb = len(title or "") + len(price or "")
        nh = 0
        for h in sel.css("a::attr(href)").getall():
            nb += len(urljoin(url, h))
            nh += 1
        return nh, nb

    for url, data in pages:  # warm-up
        one(url, data)
    hrefs = nbytes = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for url, data in pages:
            h, b = one(url, data)
            hrefs += h
            nbytes += b
    el = time.perf_counter() - t0
    done = len(pages) * rounds
    print("parsel pages=%d us_per_page=%.2f hrefs=%d bytes=%d"
          % (done, el * 1e6 / done, hrefs // rounds, nbytes // rounds))


def run(cmd):
    out = subprocess.check_output(["taskset", "-c", "0"] + cmd, text=True).strip()
    fields = dict(kv.split("=") for kv in out.split()[1:])
    return float(fields["us_per_page"]), (fields["hrefs"], fields["bytes"]), out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        parsel_child(int(sys.argv[2]), sys.argv[3:])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--pages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="silk-selbench-")
    try:
        subprocess.check_call(["/usr/bin/python3", os.path.join(HERE, "site", "gen_site.py"), tmp,
                               "--pages", str(a.pages), "--links", "20", "--seed", "7",
                               "--min-kb", "9.5", "--max-kb", "10.5"], stdout=subprocess.DEVNULL)
        pdir = os.path.join(tmp, "p")
        files = [os.path.join(pdir, "%d.html" % i) for i in range(a.pages)]
        avg = sum(os.path.getsize(f) for f in files) / len(files)
        print("%d pages, %.0f bytes on average; %d timed rounds, median of %d runs, one core each"
              % (len(files), avg, a.rounds, a.repeat))
        res = {}
        for rep in range(a.repeat):
            for mode in ("bare", "silk", "parsel"):
                if mode == "parsel":
                    cmd = ["/usr/bin/python3", os.path.abspath(__file__), "--child", str(a.rounds)] + files
                else:
                    cmd = [a.binary, mode, str(a.rounds)] + files
                us, check, line = run(cmd)
                print("  run %d: %s" % (rep + 1, line))
                res.setdefault(mode, []).append((us, check))
        checks = {m: {c for _, c in v} for m, v in res.items()}
        if len(set.union(*checks.values())) != 1:
            print("MISMATCH: the three extract different things: %r" % checks)
            return 1
        med = {m: statistics.median(u for u, _ in v) for m, v in res.items()}
        for m in ("bare", "silk", "parsel"):
            print("%-7s %8.1f us/page  %7.0f pages/s" % (m, med[m], 1e6 / med[m]))
        print("silk / bare libxml2 time:        %.2fx (target <= 1.25)" % (med["silk"] / med["bare"]))
        print("silk / parsel pages per second:  %.2fx" % (med["parsel"] / med["silk"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
