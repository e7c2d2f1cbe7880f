# Kiln: top-level wrapper around CMake. `make demo` and `make test` are the two entry points.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps demo test test-asan test-quick bench fuzz clean format

all: build

# Installs what is missing (Debian packages), nothing when all is there.
deps:
	@scripts/setup.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DKILN_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	@scripts/demo.sh $(BUILD)

# The whole suite: the release build, then the ASan+UBSan build.
test: deps build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long
	@$(MAKE) --no-print-directory test-asan

test-quick: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKILN_WERROR=ON -DKILN_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -LE "long|noasan"

bench: build
	@bench/run.sh $(BUILD)

fuzz:
	@scripts/fuzz.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
