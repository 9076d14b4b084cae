#!/usr/bin/env bash
# Builds sluice and runs every test: the sanitizer build (AddressSanitizer +
# UndefinedBehaviorSanitizer) with all unit, integration and real-peer tests, an optimised build
# for the benchmarks' smoke runs, and the libFuzzer targets (clang) for a short time each.
# Installs what it needs with apt-get; running it again only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages "${SLUICE_BUILD_PACKAGES[@]}" "${SLUICE_TEST_PACKAGES[@]}"

jobs=$(nproc)
status=0

echo "== sanitizer build (address,undefined)"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address,undefined >/dev/null
cmake --build build/asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan -j"$jobs" --output-on-failure -LE 'bench|fuzz' || status=1

echo "== optimised build: benchmark smoke runs"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -L bench || status=1

echo "== libFuzzer targets (clang)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSLUICE_BUILD_FUZZERS=ON -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF >/dev/null
# Only the fuzz executables (targets named *fuzz*) and what they link: clang 14 cannot build the
# coroutine code of some plugins against GCC's standard library, and the fuzzers need none of it.
fuzzers=$(ninja -C build/fuzz -t targets all | sed -n 's/^\([^:]*\): CXX_EXECUTABLE_LINKER__[^ ]*fuzz.*/\1/p')
ninja -C build/fuzz -j"$jobs" $fuzzers
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan-fuzz.supp \
  ctest --test-dir build/fuzz --output-on-failure -L fuzz || status=1

exit $status
