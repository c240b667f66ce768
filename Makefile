# silk — the two commands of the README, and the pieces they stand on.
#   make demo   install what is missing, build, run a real crawl
#   make test   install, build with ASan+UBSan, run every test
BUILD      ?= build
TEST_BUILD ?= build-test
PREFIX     ?= /usr/local
SHELL      := /bin/bash
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

DEB_PACKAGES = build-essential cmake pkg-config libcurl4-openssl-dev libxml2-dev \
               libevent-dev libsqlite3-dev libcmocka-dev libssl-dev libpcre2-dev libidn-dev \
               zlib1g-dev

.PHONY: all deps build test demo install clean vectors bench-deps bench-crawl bench-trackref bench-downloader fuzz bench-selectors bench-queue

all: build

# Installs the Debian packages silk needs, only when some are missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "silk: missing Debian packages:$$missing"; \
	    echo "silk: run 'sudo make deps' (or apt-get install them) and try again"; exit 1; \
	  fi; \
	  echo "silk: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	    { echo "silk: apt-get failed to install:$$missing"; exit 1; }; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	@echo "silk: built $(BUILD)/silk"

test: deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSILK_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j$(JOBS)
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) 2>&1 | tee ctest.out; rc=$${PIPESTATUS[0]}; \
	  echo "--- cmocka summaries and golden vectors ---"; \
	  grep -hE '^\[  (PASSED|FAILED)  \]|^[a-z_]+\.jsonl: ' Testing/Temporary/LastTest.log || true; \
	  grep -E 'tests passed, [0-9]+ tests failed' ctest.out || true; \
	  exit $$rc
	@if command -v clang >/dev/null; then $(MAKE) fuzz FUZZ_SECONDS=10; fi
	@# the closing line, after the fuzzers' output
	@grep -E 'tests passed, [0-9]+ tests failed' $(TEST_BUILD)/ctest.out

demo: build
	examples/demo.sh $(BUILD)

BENCH_PACKAGES = nginx-light wrk time python3-scrapy python3-parsel

bench-deps:
	@missing=""; for p in $(BENCH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "silk: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# silk's followall vs Scrapy on an nginx-served 20,000-page site
bench-crawl: build bench-deps
	/usr/bin/python3 bench/crawl_bench.py

# what trackref's bookkeeping costs: the same crawl with it and compiled out
# (-DSILK_TRACKREF_DISABLED), in callgrind instructions and wall time
bench-trackref: deps
	cmake -S . -B build-bench-trackref-on -DCMAKE_BUILD_TYPE=Release -DSILK_BUILD_TESTS=OFF -DSILK_WERROR=OFF >/dev/null
	cmake -S . -B build-bench-trackref-off -DCMAKE_BUILD_TYPE=Release -DSILK_BUILD_TESTS=OFF -DSILK_WERROR=OFF \
	  -DCMAKE_C_FLAGS=-DSILK_TRACKREF_DISABLED >/dev/null
	cmake --build build-bench-trackref-on -j$(JOBS) --target silk_static
	cmake --build build-bench-trackref-off -j$(JOBS) --target silk_static
	bench/trackref.sh build-bench-trackref-on build-bench-trackref-off

# the downloader alone: silk's downloader (bare and with the base
# middlewares) vs a bare libcurl multi loop vs wrk, against a private nginx
# serving 10 KB pages; medians of 3 (docs/performance.md)
bench-downloader: deps
	bench/run_downloader.sh

# selectors: parse + extract (title, price, hrefs, urljoin) over 3000
# generated 10 KB pages, silk vs bare libxml2 vs parsel, one core each
# (docs/performance.md)
SELBENCH_BUILD ?= build-bench-sel
bench-selectors: deps bench-deps
	cmake -S . -B $(SELBENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DSILK_BUILD_TESTS=OFF -DSILK_WERROR=OFF >/dev/null
	cmake --build $(SELBENCH_BUILD) -j$(JOBS) --target silk_static
	cc -O2 -std=gnu11 -Iinclude $$(pkg-config --cflags libxml-2.0) -o $(SELBENCH_BUILD)/selector_bench \
	  bench/selector_bench.c $(SELBENCH_BUILD)/libsilk.a \
	  $$(pkg-config --libs $$(sed -n 's/^pkg_check_modules([A-Z0-9_]* REQUIRED IMPORTED_TARGET \([^ )]*\)).*/\1/p' CMakeLists.txt | grep -v cmocka)) -lm -lpthread
	/usr/bin/python3 bench/parsel_bench.py $(SELBENCH_BUILD)/selector_bench

# the scheduler queues: 1,000,000 requests through silk's SQLite job queue
# and memory queue and Scrapy's JOBDIR disk queue and memory queue, in one
# run (N, SIZES: see bench/run_queue.sh; docs/performance.md)
QUEUEBENCH_BUILD ?= build-bench-queue
bench-queue: deps bench-deps
	BUILD=$(QUEUEBENCH_BUILD) bench/run_queue.sh

# libFuzzer targets (clang, ASan+UBSan): the CSS translator and the selector
# entry points, each for FUZZ_SECONDS from the seeds in tests/fuzz/corpus/
# (new inputs go to $(FUZZ_BUILD)/corpus-*, crashes to $(FUZZ_BUILD)/)
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
fuzz: deps
	tests/fuzz/build.sh $(FUZZ_BUILD)
	@for t in css selector; do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	  echo "fuzz: fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -max_len=4096 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
	    $(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus/$$t 2>$(FUZZ_BUILD)/fuzz_$$t.log || \
	    { tail -60 $(FUZZ_BUILD)/fuzz_$$t.log; echo "fuzz: fuzz_$$t FAILED"; exit 1; }; \
	  grep -E '^(stat::number_of_executed_units|Done )' $(FUZZ_BUILD)/fuzz_$$t.log; \
	done

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
