"""Scrapy 2.8's scheduler under the load of bench/queue_bench.c: N requests
with the same small meta made and enqueued, then all dequeued, through the
JOBDIR disk queue (PickleLifoDiskQueue + the RFPDupeFilter that writes
requests.seen) or the memory queue (LifoMemoryQueue). One mode per process.

    /usr/bin/python3 bench/scrapy_queue_bench.py disk|memory N [DIR]

Prints one line of JSON with the keys queue_bench prints.
"""
import json
import os
import resource
import shutil
import sys
import time

from scrapy import Request, Spider
from scrapy.core.scheduler import Scheduler
from scrapy.utils.test import get_crawler


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def make_request(i):
    # the same URL shape and meta as queue_bench.c's make_request
    return Request(f"http://shop.example.com/p/{i}.html?cat={i % 97}",
                   meta={"depth": i % 7, "source": "listing"})


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    jobdir = sys.argv[3] if len(sys.argv) > 3 else "/tmp/scrapy-queue-bench"
    settings = {"LOG_ENABLED": False}
    if mode == "disk":
        shutil.rmtree(jobdir, ignore_errors=True)
        settings["JOBDIR"] = jobdir
    crawler = get_crawler(Spider, settings)
    spider = Spider("bench")
    crawler.spider = spider
    rss0 = rss_kb()
    sched = Scheduler.from_crawler(crawler)
    sched.open(spider)
    rss_open = rss_kb()
    url_bytes = 0
    make = enq = 0.0
    t0, c0 = time.monotonic(), cpu_s()
    for i in range(n):
        a = time.monotonic()
        r = make_request(i)
        b = time.monotonic()
        url_bytes += len(r.url)
        if not sched.enqueue_request(r):
            raise SystemExit("filtered?")
        enq += time.monotonic() - b
        make += b - a
    t1, c1 = time.monotonic(), cpu_s()
    rss_full = rss_kb()
    queued = len(sched)
    got = 0
    while sched.next_request() is not None:
        got += 1
    t2, c2 = time.monotonic(), cpu_s()
    sched.close("finished")
    if got != n or queued != n:
        raise SystemExit(f"queued {queued}, dequeued {got} of {n}")
    deq = t2 - t1
    print(json.dumps({
        "queue": f"scrapy-{mode}", "n": n,
        "enqueue_per_s": round(n / enq), "dequeue_per_s": round(n / deq),
        "pairs_per_s": round(n / (enq + deq)),
        "pairs_per_s_with_making": round(n / (make + enq + deq)),
        "make_us": round(make / n * 1e6, 2),
        "rss_start_kb": rss0, "rss_open_kb": rss_open, "rss_queued_kb": rss_full,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_per_queued_b": round((rss_full - rss_open) * 1024 / n, 1),
        "url_avg_b": round(url_bytes / n, 1),
        "cpu_enqueue_us": round((c1 - c0) / n * 1e6, 2),
        "cpu_dequeue_us": round((c2 - c1) / n * 1e6, 2),
        "wall_s": round(t2 - t0, 1),
    }))
    if mode == "disk":
        shutil.rmtree(jobdir, ignore_errors=True)


if __name__ == "__main__":
    main()
