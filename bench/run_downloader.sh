#!/bin/bash
# silk's downloader against a bare libcurl multi loop and wrk, all against
# the same private nginx serving 10 KB pages, in the same run.
#
#   bench/run_downloader.sh        (or: make bench-downloader)
#
# Env: REQUESTS (per client run, default 200000), CONC (64), RUNS (3),
# PAGES (1000), WRK_SECONDS (5), WORKERS (nginx workers, 1), BUILD
# (build-bench). Installs nginx-light and wrk with apt-get when missing
# (as root). nginx gets its own config, pid and temp dir under a mktemp -d
# directory, listens on 127.0.0.1 only, and is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
REQUESTS=${REQUESTS:-200000}
CONC=${CONC:-64}
RUNS=${RUNS:-3}
PAGES=${PAGES:-1000}
WRK_SECONDS=${WRK_SECONDS:-5}
WORKERS=${WORKERS:-1}

need=""
command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
command -v wrk >/dev/null 2>&1 || need="$need wrk"
if [ -n "$need" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench: missing Debian packages:$need (run as root, or apt-get install them)" >&2
        exit 1
    fi
    echo "bench: installing$need"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
NGINX=$(command -v nginx)

# ---- build: libsilk (Release) and the two clients ----
echo "bench: building silk (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSILK_BUILD_TESTS=OFF -DSILK_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target silk_static >/dev/null
# the libraries libsilk needs, as the root CMakeLists lists them
mods=$(sed -n 's/^pkg_check_modules([A-Z0-9_]* REQUIRED IMPORTED_TARGET \([^ )]*\)).*/\1/p' "$ROOT/CMakeLists.txt" | grep -v cmocka | tr '\n' ' ')
mkdir -p "$BUILD/bench"
cc -O2 -o "$BUILD/bench/curl_bare" "$ROOT/bench/curl_bare.c" $(pkg-config --cflags --libs libcurl)
cc -O2 -std=gnu11 -I"$ROOT/include" -o "$BUILD/bench/dl_bench" "$ROOT/bench/dl_bench.c" "$BUILD/libsilk.a" \
    $(pkg-config --libs $mods) -lm -lpthread

# ---- the site and nginx ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/silk-bench-dl.XXXXXX")
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

/usr/bin/python3 "$ROOT/bench/gen_pages.py" "$WORK/site" --pages "$PAGES" --size 10240
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/tmp"
if [ "$(id -u)" = 0 ]; then USER_LINE="user $(id -un) $(id -gn);"; else USER_LINE=""; fi
TP="    client_body_temp_path $WORK/tmp/body;"
V=$("$NGINX" -V 2>&1)
for m in proxy fastcgi uwsgi scgi; do
    case "$V" in *"--without-http_${m}_module"*) ;; *) TP="$TP
    ${m}_temp_path $WORK/tmp/$m;" ;; esac
done
printf '%s\n' "$TP" > "$WORK/temp_paths.inc"
sed -e "s|@PREFIX@|$WORK|g" -e "s|@ROOT@|$WORK/site|g" -e "s|@PORT@|$PORT|g" \
    -e "s|@WORKERS@|$WORKERS|g" -e "s|@USER_LINE@|$USER_LINE|g" \
    -e "/@TEMP_PATHS@/{r $WORK/temp_paths.inc
d}" "$ROOT/bench/nginx.conf.in" > "$WORK/nginx.conf"
"$NGINX" -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf"
for _ in $(seq 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
NGINX_PID=$(cat "$WORK/nginx.pid")
URL="http://127.0.0.1:$PORT"
curl -sf -o /dev/null "$URL/p/0.html" || { echo "bench: nginx does not answer" >&2; cat "$WORK/error.log" >&2; exit 1; }

echo "bench: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "bench: nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) ($WORKERS worker) on $URL, $PAGES pages of 10240 B"
echo "bench: $REQUESTS requests per client run, $CONC concurrent, $RUNS runs; wrk -t2 -c$CONC -d${WRK_SECONDS}s"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

: > "$WORK/results"
for run in $(seq "$RUNS"); do
    echo "--- run $run"
    out=$("$BUILD/bench/curl_bare" "$URL" "$PAGES" "$REQUESTS" "$CONC"); echo "$out"
    echo "bare $(echo "$out" | field rps) $(echo "$out" | field cpu_us_per_req)" >> "$WORK/results"
    for mode in core stack; do
        out=$("$BUILD/bench/dl_bench" "$URL" "$PAGES" "$REQUESTS" "$CONC" "$mode"); echo "$out"
        last=$(echo "$out" | grep "^silk-$mode ")
        echo "silk-$mode $(echo "$last" | field rps) $(echo "$last" | field cpu_us_per_req)" >> "$WORK/results"
    done
    out=$(wrk -t2 -c"$CONC" -d"${WRK_SECONDS}s" "$URL/p/0.html")
    rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
    echo "wrk rps=$rps"
    echo "wrk $rps 0" >> "$WORK/results"
done

echo "=== medians of $RUNS runs (requests/s, CPU us per request)"
for c in bare silk-core silk-stack wrk; do
    rps=$(awk -v c=$c '$1==c {print $2}' "$WORK/results" | median)
    cpu=$(awk -v c=$c '$1==c {print $3}' "$WORK/results" | median)
    printf '%-11s %9.0f req/s  %6.1f us/req\n' "$c" "$rps" "$cpu"
    eval "M_${c//-/_}=$rps"
done
awk -v core="$M_silk_core" -v stack="$M_silk_stack" -v bare="$M_bare" 'BEGIN {
    printf "silk-core / bare  = %.0f%%\nsilk-stack / bare = %.0f%%  (target: >= 85%%)\n", 100*core/bare, 100*stack/bare }'
