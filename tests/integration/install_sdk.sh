#!/bin/sh
# Installs the built tree into a temporary prefix and builds against it out of tree with
# find_package(Sluice): sdk/examples/hello, loaded with the installed `sluice plugins --path`,
# and sdk/examples/fakes, run (the fake HMC and fake ldmd libraries in a test of one's own).
# Then plugins built out of tree against an installed 1.0-era header (the frozen copy in
# tests/plugins/abi_v1_0) load and run on the installed sluice.
#   install_sdk.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/sluice-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -x "$tmp/prefix/bin/sluice" || { echo "FAIL: no bin/sluice installed"; exit 1; }
test -f "$tmp/prefix/include/sluice/plugin.h" || { echo "FAIL: no SDK headers installed"; exit 1; }
# The SDK, fakes included, uses no plugin's code: the package holds no plugin library (such as
# the internal_stomp_frame and internal_ldm_xml_protocol the fakes once linked).
leaked=$(find "$tmp/prefix" -path '*cmake/Sluice*' -name '*.cmake' -exec grep -l 'Sluice::internal_' {} + || true)
test -z "$leaked" || { echo "FAIL: plugin code in the installed SDK package: $leaked"; exit 1; }
for lib in libhmc_stomp_frame.a libsluice_ldm_xml_protocol.a; do
  test -z "$(find "$tmp/prefix" -name "$lib")" || { echo "FAIL: $lib installed"; exit 1; }
done

generator=
command -v ninja > /dev/null && generator="-G Ninja"
cmake -S "$src/sdk/examples/hello" -B "$tmp/hello" $generator -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/hello" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
test -f "$tmp/hello/sluice_hello.so" || { echo "FAIL: no sluice_hello.so built"; ls "$tmp/hello"; exit 1; }
echo "ok: hello built out of tree against the installed SDK"

out=$("$tmp/prefix/bin/sluice" plugins --path "$tmp/hello") || true
echo "$out"
# The installed tree has its own hello in lib/sluice/plugins (first on the path); the one built
# here must load too, so ask for it by file as well.
echo "$out" | grep -q "^hello 1.0.0 (source, plugin API 1.1)" || { echo "FAIL: hello not listed"; exit 1; }
out2=$("$tmp/prefix/bin/sluice" plugins --path "$tmp/hello" 2>&1 | grep -c REFUSED || true)
test "$out2" = 0 || { echo "FAIL: a plugin was refused"; exit 1; }
mkdir "$tmp/only" && cp "$tmp/hello/sluice_hello.so" "$tmp/only/"
rm -f "$tmp/prefix/lib/sluice/plugins/sluice_hello.so" "$tmp"/prefix/lib*/sluice/plugins/sluice_hello.so
out3=$("$tmp/prefix/bin/sluice" plugins --path "$tmp/only")
echo "$out3" | grep -q "file: $tmp/only/sluice_hello.so" || { echo "FAIL: out-of-tree hello not loaded"; echo "$out3"; exit 1; }
echo "ok: the out-of-tree hello loads with sluice plugins --path"

test -f "$tmp/prefix/include/sluice/fakes/hmc.hpp" || { echo "FAIL: no fake HMC header installed"; exit 1; }
cmake -S "$src/sdk/examples/fakes" -B "$tmp/fakes" $generator -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure-fakes.log" || { cat "$tmp/configure-fakes.log"; exit 1; }
cmake --build "$tmp/fakes" > "$tmp/build-fakes.log" || { cat "$tmp/build-fakes.log"; exit 1; }
"$tmp/fakes/sluice_fakes_example" || { echo "FAIL: the out-of-tree fakes example failed"; exit 1; }
echo "ok: the fakes example built out of tree against the installed libraries and passed"

# A source and a sink somebody built against the header of an installed 1.0-era sluice and never
# rebuilt: the frozen 1.0 header stands for that installation; the C compiler alone builds them,
# out of tree, with no CMake package and no SDK.
old="$tmp/sluice-1.0"
mkdir -p "$old/include/sluice" "$old/plugins" "$old/out"
cp "$src/tests/plugins/abi_v1_0/include/sluice/plugin.h" "$old/include/sluice/plugin.h"
for kind in source sink; do
  cc -std=c99 -O2 -shared -fPIC -fvisibility=hidden -I"$old/include" \
     -o "$old/plugins/sluice_abi10_$kind.so" "$src/tests/plugins/abi_v1_0/$kind.c" -lpthread ||
    { echo "FAIL: the 1.0-era $kind plugin did not build against the 1.0 header"; exit 1; }
done
out4=$("$tmp/prefix/bin/sluice" plugins --path "$old/plugins" 2>&1)
for kind in source sink; do
  echo "$out4" | grep -q "^abi10_$kind .*($kind, plugin API 1.0)" ||
    { echo "FAIL: the 1.0-era $kind is not listed as API 1.0"; echo "$out4"; exit 1; }
done
echo "ok: plugins built against the installed 1.0-era header are listed by the 1.1 sluice"

# Run them: the 1.0 source's 100 events into the file sink and into the 1.0 sink (which steps
# each batch by the 1.0 event size and answers with a 1.0 delivery result).
cat > "$old/pipeline.yaml" <<YAML
version: 1
log: {level: info, format: text}
metrics: {interval: 1s}
plugins: {path: ["$old/plugins"]}
sources:
  old_source: {plugin: abi10_source}
sinks:
  archive: {plugin: file, options: {path: "$old/out/events.jsonl", format: json}}
  old_sink: {plugin: abi10_sink}
routes:
  - {from: old_source, to: [archive, old_sink]}
YAML
chmod 700 "$old" "$old/out" "$old/plugins"
"$tmp/prefix/bin/sluice" validate "$old/pipeline.yaml" ||
  { echo "FAIL: the pipeline with 1.0-era plugins does not validate"; exit 1; }
"$tmp/prefix/bin/sluice" run "$old/pipeline.yaml" > "$old/run.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ]; do
  lines=$({ wc -l < "$old/out/events.jsonl"; } 2>/dev/null || echo 0)
  grep -q "sink old_sink received=100 .*delivered=100" "$old/run.log" && [ "$lines" -ge 100 ] && break
  sleep 0.2
  i=$((i + 1))
done
kill -TERM $pid
wait $pid || { echo "FAIL: sluice run with 1.0-era plugins exited $?"; cat "$old/run.log"; exit 1; }
lines=$(wc -l < "$old/out/events.jsonl")
test "$lines" = 100 || { echo "FAIL: the 1.0-era source gave $lines events, not 100"; cat "$old/run.log"; exit 1; }
grep -q '"source":"test://abi_v1_0"' "$old/out/events.jsonl" || { echo "FAIL: not the 1.0 source's events"; exit 1; }
grep -q "sink old_sink received=100 .*delivered=100" "$old/run.log" ||
  { echo "FAIL: the 1.0-era sink did not deliver the 100 events"; cat "$old/run.log"; exit 1; }
echo "ok: the installed 1.1 sluice runs a 1.0-era source and sink built out of tree"
echo PASS
