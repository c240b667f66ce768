#!/usr/bin/env bash
# What trackref's bookkeeping costs a crawl: the same crawl of the embedded
# site with the bookkeeping (BUILD_ON) and with it compiled out (BUILD_OFF,
# -DSILK_TRACKREF_DISABLED), counted in instructions by callgrind (wall time
# on shared machines is too noisy for a few percent) and timed for context.
# The site is served by a separate, uninstrumented process.
#
#   bench/trackref.sh BUILD_ON BUILD_OFF [PAGES] [RUNS]
#
# `make bench-trackref` builds both libraries and runs this.
set -euo pipefail
ON=${1:?usage: bench/trackref.sh BUILD_ON BUILD_OFF [PAGES] [RUNS]}
OFF=${2:?usage: bench/trackref.sh BUILD_ON BUILD_OFF [PAGES] [RUNS]}
PAGES=${3:-1000}
RUNS=${4:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PKGS="libcurl libxml-2.0 libevent libevent_pthreads libevent_openssl sqlite3 libcrypto libssl libpcre2-8 libidn zlib"

command -v valgrind >/dev/null || { echo "bench-trackref: valgrind is needed (apt-get install valgrind)"; exit 1; }

for b in "$ON" "$OFF"; do
  cc -O2 -g -I"$HERE/include" $(pkg-config --cflags $PKGS) "$HERE/bench/trackref_bench.c" \
     "$b/libsilk.a" $(pkg-config --libs $PKGS) -lpthread -lm -ldl -o "$b/trackref_bench"
done

tmp=$(mktemp -d)
"$ON/trackref_bench" serve "$PAGES" >"$tmp/url" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/url" ] && break; sleep 0.1; done
URL=$(head -1 "$tmp/url")

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# warm up (page cache, the server's first renders), and check the crawl
for b in "$ON" "$OFF"; do "$b/trackref_bench" crawl "$URL" >"$tmp/warm"; done
echo "crawl: $(cat "$tmp/warm") against $URL ($PAGES pages)"

: >"$tmp/wall.on"; : >"$tmp/wall.off"
for side in on off; do
  b=$ON; [ $side = off ] && b=$OFF
  : >"$tmp/ir.$side"
  for i in $(seq "$RUNS"); do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$side.$i" "$b/trackref_bench" crawl "$URL" \
      >/dev/null 2>"$tmp/vg.$side.$i"
    grep -E '^summary:' "$tmp/cg.$side.$i" | awk '{print $2}' >>"$tmp/ir.$side"
  done
done
# wall time, on and off alternating so that a busy neighbour hurts both alike
for i in $(seq $((RUNS * 3))); do
  for side in on off; do
    b=$ON; [ $side = off ] && b=$OFF
    "$b/trackref_bench" crawl "$URL" | awk '{print $6}' >>"$tmp/wall.$side"
  done
done

# The totals move by a percent or so between runs (how often the loop wakes,
# curl's timers), more than the bookkeeping itself; so also count the
# instructions spent in the functions the bookkeeping lives in (object
# creation and release, and the clock), run for run, on minus off.
fn_cost() {
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null |
    awk '/\[/ && /silk_object_new|silk_object_init|silk_unref|silk_now_ns|clock_gettime/ { gsub(",", "", $1); s += $1 }
         END { print s + 0 }'
}
: >"$tmp/fn"
for i in $(seq "$RUNS"); do
  echo "$(fn_cost "$tmp/cg.on.$i") $(fn_cost "$tmp/cg.off.$i")" >>"$tmp/fn"
done
fn_delta=$(awk '{print $1 - $2}' "$tmp/fn" | median)

ir_on=$(median <"$tmp/ir.on"); ir_off=$(median <"$tmp/ir.off")
wall_on=$(median <"$tmp/wall.on"); wall_off=$(median <"$tmp/wall.off")
wmin_on=$(sort -n "$tmp/wall.on" | head -1); wmin_off=$(sort -n "$tmp/wall.off" | head -1)
echo "instructions (callgrind, median of $RUNS): on $ir_on, off $ir_off"
echo "  runs on:  $(tr '\n' ' ' <"$tmp/ir.on")"
echo "  runs off: $(tr '\n' ' ' <"$tmp/ir.off")"
echo "wall seconds (median of $((RUNS * 3))): on $wall_on, off $wall_off; fastest: on $wmin_on, off $wmin_off"
echo "instructions in object creation/release and the clock, on minus off (median): $fn_delta"
awk -v a="$ir_on" -v b="$ir_off" -v c="$wall_on" -v d="$wall_off" -v f="$fn_delta" 'BEGIN {
  printf "trackref overhead: %+.2f%% instructions in total, %+.3f%% attributable to the bookkeeping, %+.1f%% wall time\n",
         (a - b) * 100 / b, f * 100 / b, (c - d) * 100 / d
  exit ((a - b) * 100 / b < 3 && f * 100 / b < 3) ? 0 : 1 }'
