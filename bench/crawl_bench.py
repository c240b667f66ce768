#!/usr/bin/python3
"""Crawl benchmark: silk's examples/followall.c against Scrapy's equivalent
spider, on the same nginx-served generated site, in the same run.

    make bench-crawl                 # or: /usr/bin/python3 bench/crawl_bench.py
    BENCH_PAGES=20000 BENCH_RUNS=3 BENCH_PORT=8391 ...

Both crawlers run with 64 concurrent requests (64 per domain), no delay,
robots.txt off, and must yield every product page exactly once
(bench/site/check_items.py). Prints pages/s, CPU seconds and peak RSS of
each (medians of BENCH_RUNS runs) and the silk/Scrapy ratios.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAGES = int(os.environ.get("BENCH_PAGES", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PORT = int(os.environ.get("BENCH_PORT", "8391"))
SILK = os.environ.get("SILK", os.path.join(ROOT, "build", "silk"))
SKIP_SCRAPY = os.environ.get("BENCH_SKIP_SCRAPY") == "1"

COMMON = {
    "CONCURRENT_REQUESTS": "64",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "64",
    "DOWNLOAD_DELAY": "0",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "INFO",
    "TELNETCONSOLE_ENABLED": "False",
}


def timed(cmd, log):
    """Runs cmd under /usr/bin/time -v; returns (wall s, cpu s, peak RSS KiB)."""
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.call(["/usr/bin/time", "-v"] + cmd, stdout=f, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    text = open(log).read()
    if rc != 0:
        sys.exit(f"command failed ({rc}): {' '.join(cmd)}\nsee {log}")
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return wall, user + sys_, rss, text


def pages_from_log(text):
    m = re.search(r"'response_received_count': (\d+)", text)
    return int(m.group(1)) if m else 0


def check(expected, items):
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "site", "check_items.py"), expected, items],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stdout.strip()


def main():
    work = tempfile.mkdtemp(prefix="silk-bench-")
    site = os.path.join(work, "site")
    subprocess.check_call(["/usr/bin/python3", os.path.join(HERE, "site", "gen_site.py"), site,
                           "--pages", str(PAGES), "--links", "10", "--seed", "1"], stdout=subprocess.DEVNULL)
    expected = os.path.join(site, "expected.json")
    exp = json.load(open(expected))
    subprocess.check_call(["sh", os.path.join(HERE, "site", "serve.sh"), site, str(PORT)],
                          stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{PORT}/index.html"
    results = {"silk": [], "scrapy": []}
    try:
        for run in range(RUNS):
            items = os.path.join(work, f"silk-{run}.jsonl")
            cmd = [SILK, "runspider", os.path.join(ROOT, "examples", "followall.c"), "-a", f"start_url={url}",
                   "-O", items]
            for k, v in COMMON.items():
                cmd += ["-s", f"{k}={v}"]
            wall, cpu, rss, text = timed(cmd, os.path.join(work, f"silk-{run}.log"))
            ok, report = check(expected, items)
            results["silk"].append((wall, cpu, rss, pages_from_log(text), ok))
            print(f"silk   run {run + 1}: {wall:.2f} s, {cpu:.2f} CPU s, {rss / 1024:.1f} MiB, "
                  f"{pages_from_log(text)} pages, items ok={ok}", flush=True)
            if SKIP_SCRAPY:
                continue
            items = os.path.join(work, f"scrapy-{run}.jsonl")
            cmd = ["/usr/bin/python3", "-m", "scrapy", "runspider", os.path.join(HERE, "scrapy_followall.py"),
                   "-a", f"start_url={url}", "-O", items]
            for k, v in COMMON.items():
                cmd += ["-s", f"{k}={v}"]
            wall, cpu, rss, text = timed(cmd, os.path.join(work, f"scrapy-{run}.log"))
            ok, report = check(expected, items)
            results["scrapy"].append((wall, cpu, rss, pages_from_log(text), ok))
            print(f"scrapy run {run + 1}: {wall:.2f} s, {cpu:.2f} CPU s, {rss / 1024:.1f} MiB, "
                  f"{pages_from_log(text)} pages, items ok={ok}", flush=True)
    finally:
        subprocess.call(["sh", os.path.join(HERE, "site", "serve.sh"), "stop", str(PORT)], stdout=subprocess.DEVNULL)

    def summary(name):
        rows = results[name]
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        rss = statistics.median(r[2] for r in rows)
        pages = statistics.median(r[3] for r in rows)
        return {"pages": pages, "wall": wall, "pages_per_s": pages / wall, "cpu": cpu,
                "cpu_ms_per_page": 1000 * cpu / max(pages, 1), "rss_mib": rss / 1024,
                "items_ok": all(r[4] for r in rows)}

    print(f"\nsite: {PAGES} pages, {exp['reachable_urls']} reachable URLs; medians of {RUNS} runs")
    s = summary("silk")
    print(f"silk:   {s['pages_per_s']:.0f} pages/s, {s['cpu']:.2f} CPU s ({s['cpu_ms_per_page']:.3f} ms/page), "
          f"peak RSS {s['rss_mib']:.1f} MiB, items exact: {s['items_ok']}")
    if not SKIP_SCRAPY:
        c = summary("scrapy")
        print(f"scrapy: {c['pages_per_s']:.0f} pages/s, {c['cpu']:.2f} CPU s ({c['cpu_ms_per_page']:.3f} ms/page), "
              f"peak RSS {c['rss_mib']:.1f} MiB, items exact: {c['items_ok']}")
        print(f"ratios silk/scrapy: pages/s x{s['pages_per_s'] / c['pages_per_s']:.1f} (target >= 30), "
              f"peak RSS x{s['rss_mib'] / c['rss_mib']:.3f} (target <= 0.2), "
              f"CPU per page x{s['cpu_ms_per_page'] / c['cpu_ms_per_page']:.3f}")


if __name__ == "__main__":
    main()
