#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) against
# the library sources they need, compiled here with the same flags.
#   tests/fuzz/build.sh [OUTDIR]     (default: build-fuzz)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-fuzz}
CC=${CC:-clang}
mkdir -p "$out/obj"
flags="-g -O1 -std=gnu11 -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=undefined -I$root/include -I$root
       -DSILK_VERSION=\"fuzz\" $(pkg-config --cflags libxml-2.0 libpcre2-8 libidn libcurl)"
libs="$(pkg-config --libs libxml-2.0 libpcre2-8 libidn libcurl) -lm -lpthread"
# the selector path: trackref (alloc, values, objects) and selectors; http for
# the URL helpers the selectors use
# newest header: an object older than it is rebuilt too
shopt -s nullglob
newest_h=$(ls -t "$root"/include/silk/*.h "$root"/trackref/*.h "$root"/selectors/*.h "$root"/http/*.h \
           2>/dev/null | head -1)
objs=()
for src in "$root"/trackref/*.c "$root"/selectors/*.c "$root"/http/url*.c; do
  [ -e "$src" ] || continue
  o="$out/obj/$(basename "$(dirname "$src")")_$(basename "${src%.c}").o"
  if [ ! -e "$o" ] || [ "$src" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
    # shellcheck disable=SC2086
    $CC $flags -fsanitize=fuzzer-no-link -c "$src" -o "$o"
  fi
  objs+=("$o")
done
# an archive, so only the objects the targets reach are linked in
rm -f "$out/libsilk_fuzz.a"
ar rcs "$out/libsilk_fuzz.a" "${objs[@]}"
for t in fuzz_css fuzz_selector; do
  # shellcheck disable=SC2086
  $CC $flags -fsanitize=fuzzer "$root/tests/fuzz/$t.c" "$out/libsilk_fuzz.a" $libs -o "$out/$t"
done
echo "fuzz: built $out/fuzz_css $out/fuzz_selector"
