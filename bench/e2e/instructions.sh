#!/usr/bin/env bash
# Instructions the daemon executes per notification, into null and into the file sink: the
# steady figure on a shared VM, where CPU time moves by more than most changes are worth.
#
# Runs bench_e2e twice (N1 and N2 notifications, one round, no stomp.py) with `sluice run` under
# `valgrind --tool=callgrind`, and divides the difference of the two runs' totals by N2 - N1, so
# start-up, TLS handshake, logon and shutdown cancel out. Under callgrind the daemon reads slower
# than the fake writes: its batches are smaller than outside valgrind, so per-batch costs weigh a
# little more here. Callgrind files stay in OUT for callgrind_annotate (self cost per function:
# `callgrind_annotate --inclusive=no OUT/n2.null.out`).
#
#   bench/e2e/instructions.sh [BUILD_DIR (build/release)] [N1 (20000)] [N2 (60000)] [OUT]
set -euo pipefail
build=${1:-build/release}
n1=${2:-20000}
n2=${3:-60000}
out=${4:-$(mktemp -d /tmp/sluice-instructions.XXXXXX)}
mkdir -p "$out"
build=$(cd "$build" && pwd)
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }

# bench_e2e starts the daemon as `SLUICE run PIPELINE`: the wrapper puts callgrind in front and
# names each output after the pipeline's folder (null or file).
wrapper=$out/sluice-under-callgrind
cat >"$wrapper" <<WRAP
#!/bin/sh
kind=\$(basename "\$(dirname "\$2")")
exec valgrind --tool=callgrind --callgrind-out-file="$out/\$SLUICE_RUN_NAME.\$kind.out" \
  "$build/bin/sluice" "\$@"
WRAP
chmod +x "$wrapper"

total() {  # the "totals:" line of a callgrind file (instructions: Ir)
  sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$1"
}
for n in "$n1" "$n2"; do
  name=n$([[ $n == "$n1" ]] && echo 1 || echo 2)
  SLUICE_RUN_NAME=$name "$build/bench/e2e/bench_e2e" --n "$n" --rounds 1 --python "" \
    --sluice "$wrapper" >"$out/$name.log" 2>&1 || { cat "$out/$name.log"; exit 1; }
done
for kind in null file; do
  a=$(total "$out/n1.$kind.out") b=$(total "$out/n2.$kind.out")
  echo "into $kind: $(((b - a) / (n2 - n1))) instructions per notification" \
    "(callgrind totals $a for $n1, $b for $n2; files in $out)"
done
