#!/usr/bin/env bash
# Builds sluice (optimised) and runs the demo pipeline, examples/demo.yaml: the real hmc_stomp
# and ldm_xml source plugins against the fake HMC and the fake ldmd on loopback, every event
# printed as text and written as JSON lines to out/demo-events.jsonl.
# Installs what it needs with apt-get; running it again only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages "${SLUICE_BUILD_PACKAGES[@]}"
ensure_valijson

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target sluice sluice-fake-hmc sluice-fake-ldmd \
  sluice_plugin_hmc_stomp sluice_plugin_ldm_xml sluice_plugin_stdout sluice_plugin_file

bin=build/release/bin
out=out/demo
mkdir -p "$out"
# sluice writes only into directories no other user can write to (whatever the umask was).
chmod go-w out "$out"
rm -f out/demo-events.jsonl out/demo-linux.jsonl "$out"/*.pem "$out"/*.ready "$out"/*.log

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Waits (bounded) until FILE exists; the fakes write their ready files once listening.
wait_for_file() {
  local file=$1 i
  for i in $(seq 1 200); do
    [ -s "$file" ] && return 0
    sleep 0.1
  done
  echo "demo: $file did not appear; see $out/*.log" >&2
  return 1
}

"$bin/sluice-fake-hmc" --api-port 26794 --stomp-port 26612 --ca-out "$out/fake-hmc-ca.pem" \
  --ready-file "$out/fake-hmc.ready" --script examples/demo/hmc-script.jsonl --exit-after-script \
  2>"$out/fake-hmc.log" &
hmc_pid=$!
pids+=("$hmc_pid")
"$bin/sluice-fake-ldmd" --port 26482 --password ldm-demo-pw --ca-out "$out/fake-ldmd-ca.pem" \
  --ready-file "$out/fake-ldmd.ready" 2>"$out/fake-ldmd.log" &
pids+=("$!")
wait_for_file "$out/fake-hmc.ready"
wait_for_file "$out/fake-ldmd.ready"

echo "demo: fakes listening (HMC on 26794/26612, ldmd on 26482); starting sluice" >&2
HMC_PASSWORD=hmcpassword LDM_PASSWORD=ldm-demo-pw "$bin/sluice" run examples/demo.yaml &
sluice_pid=$!
pids+=("$sluice_pid")

# The fake HMC exits once its script has run (faults included); the fake ldmd sends its 55
# documented events right after registration. Give both a bounded time.
for i in $(seq 1 600); do
  kill -0 "$hmc_pid" 2>/dev/null || break
  sleep 0.1
done
for i in $(seq 1 100); do
  [ "$(grep -c '"type":"ldm\.' out/demo-events.jsonl 2>/dev/null || true)" -ge 55 ] && break
  sleep 0.1
done
sleep 1  # let the last batch reach the file

kill -TERM "$sluice_pid"
wait "$sluice_pid" || true

echo
echo "demo: events written to out/demo-events.jsonl, by type:"
grep -o '"type":"[^"]*"' out/demo-events.jsonl | sed 's/"type":"//; s/"$//' | sort | uniq -c
echo "demo: $(wc -l <out/demo-events.jsonl) events; fake logs in $out/"
echo "demo: $(wc -l <out/demo-linux.jsonl 2>/dev/null || echo 0) event(s) of partitions LINUX* (route with filter attributes partition) in out/demo-linux.jsonl"
