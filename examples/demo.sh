#!/usr/bin/env bash
# make demo: a real crawl of silk's embedded site, with the telnet console
# open while it runs. Needs no input and ends by itself.
#   examples/demo.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
SILK="$BUILD/silk"
OUT=${DEMO_OUT:-demo-items.jsonl}
PAGES=${DEMO_PAGES:-300}
DELAY=${DEMO_DELAY:-0.05}     # a small delay keeps the crawl running ~15 s
[ -x "$SILK" ] || { echo "demo: $SILK is missing (run make build)"; exit 1; }

fifo=$(mktemp -u)
mkfifo "$fifo"
"$SILK" testserver --pages "$PAGES" >"$fifo" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r url <"$fifo"
exec 3<"$fifo"  # keep the pipe open so the server never blocks on stdout
echo "demo: embedded site at $url ($PAGES products)"
echo "demo: crawling it with examples/tutorial.c; items go to $OUT"
echo "demo: while it runs, inspect it from another terminal:"
echo "        $SILK console 127.0.0.1:6023     (user 'silk', password printed below as 'Telnet Password')"
echo "        then type:  prefs()   est()   stats.get_value(\"item_scraped_count\")"
echo
"$SILK" runspider examples/tutorial.c -a "start_url=$url/" -O "$OUT" \
    -s CONCURRENT_REQUESTS_PER_DOMAIN=4 -s DOWNLOAD_DELAY="$DELAY" \
    -s RANDOMIZE_DOWNLOAD_DELAY=False -s LOGSTATS_INTERVAL=5 -L INFO
echo
echo "demo: $(wc -l <"$OUT") items in $OUT; the first one:"
head -n 1 "$OUT"
