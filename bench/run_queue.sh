#!/bin/bash
# The scheduler queues, silk and Scrapy, in the same run: N requests with a
# small meta enqueued then dequeued through silk's SQLite job queue and
# memory queue, and through Scrapy 2.8's JOBDIR disk queue and memory queue.
# Then what next() costs at several queue sizes, and the dupefilter on
# duplicates.
#
#   bench/run_queue.sh          (or: make bench-queue)
#
# Env: N (default 1000000), SIZES (queue sizes for the pop cost, default
# "100 10000 1000000"; add 10000000 for the 10-million-row case, ~3 min),
# BUILD (build-bench), WORK (job directories, default a mktemp -d under
# /tmp), QUEUE_BENCH_SETTINGS (JOBDIR_* settings for silk, "K=V K=V").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
N=${N:-1000000}
SIZES=${SIZES:-"100 10000 1000000"}
PY=/usr/bin/python3

echo "bench: building silk (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSILK_BUILD_TESTS=OFF -DSILK_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target silk_static >/dev/null
mods=$(sed -n 's/^pkg_check_modules([A-Z0-9_]* REQUIRED IMPORTED_TARGET \([^ )]*\)).*/\1/p' "$ROOT/CMakeLists.txt" | grep -v cmocka | tr '\n' ' ')
mkdir -p "$BUILD/bench"
cc -O2 -std=gnu11 -I"$ROOT/include" -o "$BUILD/bench/queue_bench" "$ROOT/bench/queue_bench.c" "$BUILD/libsilk.a" \
    $(pkg-config --libs $mods) -lm -lpthread

WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/silk-bench-queue.XXXXXX")}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT INT TERM
OUT="$WORK/results.jsonl"
: > "$OUT"

echo "bench: $N requests each; load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
echo "bench: silk sqlite";   "$BUILD/bench/queue_bench" sqlite "$N" "$WORK/silk-job" | tee -a "$OUT"
echo "bench: silk memory";   "$BUILD/bench/queue_bench" memory "$N" | tee -a "$OUT"
echo "bench: scrapy disk";   $PY "$ROOT/bench/scrapy_queue_bench.py" disk "$N" "$WORK/scrapy-job" | tee -a "$OUT"
echo "bench: scrapy memory"; $PY "$ROOT/bench/scrapy_queue_bench.py" memory "$N" | tee -a "$OUT"
echo "bench: next() at queue sizes $SIZES"
"$BUILD/bench/queue_bench" popscale "$WORK/silk-pop" $SIZES | tee -a "$OUT"
echo "bench: the dupefilter on $N duplicates"
"$BUILD/bench/queue_bench" dups "$N" "$WORK/silk-dups" | tee -a "$OUT"

$PY - "$OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
q = {r["queue"]: r for r in rows if "queue" in r}
print()
print(f"{'queue':<15}{'enq/s':>10}{'deq/s':>11}{'pairs/s':>10}{'pairs/s CPU':>13}"
      f"{'peak RSS MB':>13}{'B/queued':>10}{'- URL':>8}")
for name in ("silk-sqlite", "silk-memory", "scrapy-disk", "scrapy-memory"):
    r = q.get(name)
    if not r:
        continue
    cpu = 1e6 / (r["cpu_enqueue_us"] - r.get("make_us", 0) + r["cpu_dequeue_us"])
    print(f"{name:<15}{r['enqueue_per_s']:>10}{r['dequeue_per_s']:>11}{r['pairs_per_s']:>10}{cpu:>13.0f}"
          f"{r['peak_rss_kb'] / 1024:>13.1f}{r['rss_per_queued_b']:>10.0f}"
          f"{r['rss_per_queued_b'] - r['url_avg_b']:>8.0f}")
print("(pairs/s: enqueue + dequeue calls only, wall clock; pairs/s CPU: from the calling thread's CPU"
      " time (silk) or the process's (Scrapy), request making left out)")
s, m, sd, sm = (q.get(k) for k in ("silk-sqlite", "silk-memory", "scrapy-disk", "scrapy-memory"))
if s and sd:
    print(f"silk sqlite / scrapy disk: {s['pairs_per_s'] / sd['pairs_per_s']:.1f}x pairs/s, "
          f"{sd['peak_rss_kb'] / s['peak_rss_kb']:.1f}x less peak RSS")
if m and sm:
    print(f"silk memory / scrapy memory: {m['pairs_per_s'] / sm['pairs_per_s']:.1f}x pairs/s, "
          f"{sm['rss_per_queued_b'] / m['rss_per_queued_b']:.1f}x less RSS per queued request")
if s:
    print(f"target sqlite >= 100000 pairs/s: {'met' if s['pairs_per_s'] >= 100000 else 'NOT met'} "
          f"({s['pairs_per_s']} wall)")
    print(f"target sqlite {s['n']} queued <= 64 MB RSS: "
          f"{'met' if s['peak_rss_kb'] <= 65536 else 'NOT met'} ({s['peak_rss_kb'] / 1024:.1f} MB peak)")
if m:
    extra = m['rss_per_queued_b'] - m['url_avg_b']
    print(f"target memory <= 256 B per queued request beyond the URL: {'met' if extra <= 256 else 'NOT met'} "
          f"({extra:.0f} B)")
for r in rows:
    if "breakdown" in r:
        print("memory queue, per request:", {k: v for k, v in r.items() if k != "breakdown"})
    if "popscale" in r:
        print(f"with {r['popscale']:>9} queued: next() {r['next_done_us'] - r['done_us']:.2f} us, done() "
              f"{r['done_us']:.2f} us, enqueue() {r['enqueue_us']:.2f} us (RSS {r['rss_kb'] / 1024:.0f} MB, "
              f"{r['rewinds']} log rewinds, {r['rewind_s']:.2f} s)")
    if "dups" in r:
        print(f"dupefilter: {r['filtered']} of {r['dups']} duplicates filtered at {r['filter_per_s']}/s; cache "
              f"{r['cache_hits']} hits of {r['cache_lookups']}, {r['cache_bytes'] / 2**20:.0f} MB; RSS "
              f"{r['rss_after_kb'] / 1024:.0f} MB")
EOF
