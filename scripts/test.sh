#!/usr/bin/env bash
# Builds sluice and runs every test: the sanitizer build (AddressSanitizer +
# UndefinedBehaviorSanitizer) with all unit, integration and real-peer tests, an optimised build
# for the benchmarks' smoke runs, the libFuzzer targets (clang) for a short time each, and a
# ThreadSanitizer build of the core and the sources with their tests.
# Installs what it needs with apt-get; running it again only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# Each phase says how long it took, so CI time can be kept in view.
phase_name=
phase() {
  [[ -z $phase_name ]] || echo "== $phase_name took $((SECONDS - phase_start)) s"
  phase_name=$1
  phase_start=$SECONDS
  [[ -z $phase_name ]] || echo "== $phase_name"
}

phase "packages"
ensure_packages "${SLUICE_BUILD_PACKAGES[@]}" "${SLUICE_TEST_PACKAGES[@]}"
ensure_valijson

jobs=$(nproc)
status=0
# The sanitizer and fuzz builds link with lld (package lld): about 40 test executables per
# build, each with the static core and full debug info; GNU ld took up to twice lld's CPU time
# on them (bin/sluice, the unit tests; about the same on the largest test executables). The
# optimised build, whose binaries are packaged, keeps the default linker.
lld=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld
  -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld)
# The two sanitizer builds are unity builds: the sources of one target compiled in batches of
# eight, so the headers they share (nlohmann/json, Boost.Asio: most of a source's compile time)
# are parsed once per batch. The core's 25 sources took 126-138 s of CPU that way against 247 s
# one by one (ASan). The optimised build compiles each source of what it installs alone, so a
# missing #include or a name clash between two files' anonymous namespaces still shows
# somewhere. Test files are compiled in the unity builds only: a test file's helpers must not
# share a name with another file's (an overload from another file could be picked in silence);
# CONTRIBUTING.md says so.
unity=(-DCMAKE_UNITY_BUILD=ON)

phase "sanitizer build (address,undefined)"
# Without the benchmarks (-DSLUICE_BUILD_BENCH=OFF): their smoke runs (label bench) are not run
# here but in the optimised build below, which compiles them too.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address,undefined \
  -DSLUICE_BUILD_BENCH=OFF "${lld[@]}" "${unity[@]}" >/dev/null
cmake --build build/asan -j"$jobs"
# intercept_tls_get_addr=0: GCC 12's LeakSanitizer can crash in its exit scan ("Tracer caught
# signal 11", a garbage dynamic-TLS range) after a dlopen'ed plugin touched a thread_local,
# depending on the binaries' layout; seen in file.* and ldm_xml.options. Not tracking dynamic TLS
# avoids it; it could only add false leak reports, never hide a leak.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:intercept_tls_get_addr=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan -j"$jobs" --output-on-failure -LE 'bench|fuzz|package' || status=1

phase "optimised build: benchmark smoke runs and the Debian packages"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
# Only the benchmarks (under bench/) and what is installed (programs, plugins, the fakes'
# libraries), which the package test packs; the tests are built and run in the sanitizer build.
release_targets=$(ninja -C build/release -t targets all |
  sed -n 's/^\([^:]*\): C[X]*_\(EXECUTABLE\|MODULE_LIBRARY\|STATIC_LIBRARY\)_LINKER.*/\1/p' |
  grep -E '^(bench/|bin/|lib/sluice/plugins/|sdk/fakes/[^/]+/lib)')
ninja -C build/release -j"$jobs" $release_targets
ctest --test-dir build/release --output-on-failure -L 'bench|package' || status=1
# 200 sources in one daemon: the thread limit, and idle RSS at most 80 MB (only checked without
# a sanitizer, which inflates it).
ctest --test-dir build/release --output-on-failure -R '^integration\.many_sources$' || status=1

phase "libFuzzer targets (clang)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSLUICE_BUILD_FUZZERS=ON -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF "${lld[@]}" \
  >/dev/null
# Only the fuzz executables (targets named *fuzz*) and what they link: clang 14 cannot build the
# coroutine code of some plugins against GCC's standard library, and the fuzzers need none of it.
fuzzers=$(ninja -C build/fuzz -t targets all | sed -n 's/^\([^:]*\): CXX_EXECUTABLE_LINKER__[^ ]*fuzz.*/\1/p')
ninja -C build/fuzz -j"$jobs" $fuzzers
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan-fuzz.supp \
  ctest --test-dir build/fuzz -j"$jobs" --output-on-failure -L fuzz || status=1

phase "ThreadSanitizer build: core and sources"
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=thread \
  -DSLUICE_BUILD_BENCH=OFF "${lld[@]}" "${unity[@]}" >/dev/null
# Only what the tests below run: the core's unit tests and test plugins, the `sluice` executable
# with every plugin and the fakes (integration tests), and the tests of the sources (generator,
# hmc_stomp, ldm_xml) except the ActiveMQ one, which mostly exercises a Java broker. The install,
# package and doc-snippet tests need every installed target or the example plugin, and check no
# threads of their own, nor does the refusals test (`sluice validate` and a run that stops at its
# checks, no plugin thread started): they run in the other phases only.
tsan_targets=$(ninja -C build/tsan -t targets all |
  sed -n 's/^\([^:]*\): C[X]*_\(EXECUTABLE\|MODULE_LIBRARY\|SHARED_LIBRARY\)_LINKER.*/\1/p' |
  grep -E '^(bin/|lib/sluice/plugins/|tests/|plugins/(generator|hmc_stomp|ldm_xml)/)' |
  grep -vE 'activemq|sluice_hello')
ninja -C build/tsan -j"$jobs" $tsan_targets
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp \
  ctest --test-dir build/tsan -j"$jobs" --output-on-failure \
  -R '^(unit|integration|generator|hmc_stomp|ldm_xml)\.' \
  -E '^(hmc_stomp\.activemq|integration\.(install_sdk_out_of_tree|package|doc_pipelines|refusals))$' || status=1
phase ""

exit $status
