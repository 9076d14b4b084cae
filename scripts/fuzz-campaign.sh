#!/usr/bin/env bash
# The long libFuzzer campaign, run by hand outside CI (CI fuzzes each target for 20 s only).
#
# Builds every fuzz target in its own optimised clang build, build/fuzz-campaign-build (the same
# discovery as scripts/test.sh: executables whose target name contains `fuzz`), then fuzzes each
# one until it has executed RUNS inputs or spent MAX_TIME seconds, whichever comes first, JOBS
# targets at a time. Each target starts from its committed seed corpus (the folders its ctest
# entry names, read only) and writes new inputs to a scratch corpus,
# build/fuzz-campaign/<target>/corpus; crash, leak, timeout and out-of-memory
# inputs are kept as build/fuzz-campaign/<target>/{crash,leak,timeout,oom}-*, the full libFuzzer
# output in build/fuzz-campaign/<target>/fuzz.log. The scratch corpus survives between runs, so a
# second campaign continues where the first stopped (delete the folder to start afresh).
#
# Prints one table row per target: executions, coverage (cov: and ft: from libFuzzer's final
# stats line), corpus size (inputs libFuzzer kept in memory at the end), findings (files kept).
# Exit status 1 if any target has findings or failed to run.
#
# Usage: scripts/fuzz-campaign.sh [-r RUNS] [-t MAX_TIME] [-j JOBS] [-T TIMEOUT] [target...]
#   -r RUNS      executions per target (default 10000000)
#   -t MAX_TIME  time cap per target in seconds (default 86400)
#   -j JOBS      targets fuzzed in parallel (default 2)
#   -T TIMEOUT   seconds one input may run before it counts as a hang (default 60; CI's 10 s
#                gives spurious timeouts over a day on a machine where other work starves the
#                fuzzer for seconds at a time: inputs that then run alone in well under 1 s)
#   target...    only these fuzz targets, built and fuzzed (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10000000
max_time=86400
jobs=2
timeout=60
while getopts "r:t:j:T:h" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    t) max_time=$OPTARG ;;
    j) jobs=$OPTARG ;;
    T) timeout=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
for n in "$runs" "$max_time" "$jobs" "$timeout"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "fuzz-campaign: '$n' is not a positive integer" >&2; exit 2; }
done

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
ensure_packages "${SLUICE_BUILD_PACKAGES[@]}" clang-14 libclang-rt-14-dev python3
ensure_valijson

# Its own build, optimised (SLUICE_FUZZ_OPTIMIZE: -O1 -gline-tables-only, sanitizers and
# assertions kept), several times faster per input than CI's Debug build in build/fuzz.
build=build/fuzz-campaign-build
out=build/fuzz-campaign
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSLUICE_FUZZ_OPTIMIZE=ON -DSLUICE_BUILD_FUZZERS=ON -DSLUICE_BUILD_TESTS=OFF \
  -DSLUICE_BUILD_BENCH=OFF >/dev/null
fuzzers=$(ninja -C "$build" -t targets all | sed -n 's/^\([^:]*\): CXX_EXECUTABLE_LINKER__[^ ]*fuzz.*/\1/p')
if [ $# -gt 0 ]; then  # build only the targets asked for
  fuzzers=$(for f in $fuzzers; do for t in "$@"; do [ "${f##*/}" != "$t" ] || echo "$f"; done; done)
  [ -n "$fuzzers" ] || { echo "fuzz-campaign: no fuzz target matches $*" >&2; exit 1; }
fi
# shellcheck disable=SC2086  # one word per target
ninja -C "$build" -j"$(nproc)" $fuzzers >/dev/null

# One line per fuzz target from its ctest entry (the options and seed folders CI uses):
# <target> <executable> <options...> -- <seed folders...>; see scripts/fuzz-rate.py.
plan=$(python3 scripts/fuzz-rate.py --print-plan "$build" -- "$@")
if [ -z "$plan" ]; then
  echo "fuzz-campaign: no fuzz target matches ${*:-(none built)}" >&2
  exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan-fuzz.supp

fuzz_one() {
  local target=$1 exe=$2
  shift 2
  local opts=() seeds=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  seeds=("$@")
  local dir=$out/$target
  mkdir -p "$dir/corpus"
  local start=$SECONDS code=0
  echo "fuzz-campaign: $target: up to $runs runs or ${max_time}s" >&2
  # -timeout after the ctest entry's options: libFuzzer takes the last value of a flag.
  "$exe" "${opts[@]}" -timeout="$timeout" -runs="$runs" -max_total_time="$max_time" -print_final_stats=1 \
    -artifact_prefix="$dir/" "$dir/corpus" "${seeds[@]}" >"$dir/fuzz.log" 2>&1 || code=$?
  echo $((SECONDS - start)) >"$dir/seconds"
  echo "$code" >"$dir/exit"
  echo "fuzz-campaign: $target: done after $((SECONDS - start))s, exit $code" >&2
}

names=()
while read -r target exe rest; do
  names+=("$target")
  rm -f "$out/$target"/{crash,leak,timeout,oom,slow-unit}-* "$out/$target"/{exit,seconds}
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  # shellcheck disable=SC2086  # options and folders never contain spaces
  fuzz_one "$target" "$exe" $rest &
done <<<"$plan"
wait

status=0
printf '\n%-28s %12s %7s %7s %7s %8s %6s  %s\n' target executions cov ft corpus findings secs result
for target in "${names[@]}"; do
  dir=$out/$target
  log=$dir/fuzz.log
  # libFuzzer's last stats line ("#N DONE cov: C ft: F corp: K/..."), or the last progress line
  # before a crash.
  line=$(grep -aE '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$line")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$line")
  findings=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  code=$(cat "$dir/exit" 2>/dev/null || echo '?')
  result=ok
  if [ "$findings" -gt 0 ]; then
    result="FINDINGS in $dir"
    status=1
  elif [ "$code" != 0 ]; then
    result="exit $code, see $log"
    status=1
  fi
  printf '%-28s %12s %7s %7s %7s %8s %6s  %s\n' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$findings" "$(cat "$dir/seconds" 2>/dev/null || echo '?')" "$result"
done
exit $status
