#!/bin/sh
# Installs the built tree into a temporary prefix and builds against it out of tree with
# find_package(Sluice): sdk/examples/hello, loaded with the installed `sluice plugins --path`,
# and sdk/examples/fakes, run (the fake HMC and fake ldmd libraries in a test of one's own).
#   install_sdk.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/sluice-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -x "$tmp/prefix/bin/sluice" || { echo "FAIL: no bin/sluice installed"; exit 1; }
test -f "$tmp/prefix/include/sluice/plugin.h" || { echo "FAIL: no SDK headers installed"; exit 1; }

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
echo PASS
