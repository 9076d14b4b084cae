#!/bin/sh
# Builds the Debian packages of this build folder with CPack (cmake/SluicePackaging.cmake) and
# checks them: their contents and dependencies (dpkg-deb), lintian, the systemd unit
# (systemd-analyze verify, and its offline security exposure), the man page and bash
# completion; then runs the daemon from the extracted sluice package: `sluice plugins` finds the
# packaged plugins relative to the executable, a generator -> file pipeline validates and runs.
#   package_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work="$build/package-test"  # cpack's staging tree is large: in the build folder, not /tmp
rm -rf "$work"
mkdir -p "$work"
tmp=$(mktemp -d /tmp/sluice-package-XXXXXX)
pid=
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$tmp" "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
start=$(date +%s)
ok() { echo "ok: $* ($(($(date +%s) - start)) s)"; }

for tool in cpack dpkg-deb dpkg-shlibdeps lintian systemd-analyze man; do
  command -v $tool > /dev/null || fail "$tool is missing (scripts/deps.sh: SLUICE_TEST_PACKAGES)"
done

# --- build the packages -----------------------------------------------------------------------
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out") > "$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
daemon="$work/out/sluice_${version}-1_amd64.deb"
dev="$work/out/sluice-dev_${version}-1_amd64.deb"
test -f "$daemon" && test -f "$dev" || { ls -l "$work/out"; fail "not the two packages expected"; }
ls -l "$daemon" "$dev"
ok "cpack built sluice and sluice-dev $version"

# --- control fields -------------------------------------------------------------------------
field() { dpkg-deb -f "$1" "$2"; }
test "$(field "$daemon" Package)" = sluice || fail "the daemon package is not named sluice"
test "$(field "$dev" Package)" = sluice-dev || fail "the SDK package is not named sluice-dev"
deps=$(field "$daemon" Depends)
echo "sluice Depends: $deps"
# dpkg-shlibdeps found these in the binaries (the executable links yaml-cpp, Boost, the plugins
# OpenSSL): none is written in cmake/SluicePackaging.cmake.
for lib in libc6 libstdc++6 libyaml-cpp libboost-program-options libssl3; do
  echo "$deps" | grep -q "$lib" || fail "sluice does not depend on $lib (dpkg-shlibdeps)"
done
devdeps=$(field "$dev" Depends)
echo "sluice-dev Depends: $devdeps"
echo "$devdeps" | grep -q "sluice (= $version-1)" || fail "sluice-dev does not depend on this sluice"
echo "$devdeps" | grep -q "libc6" || fail "sluice-dev has no computed dependencies"
ok "control fields: names, and dependencies computed from the binaries"

# --- contents -------------------------------------------------------------------------------
dpkg-deb -c "$daemon" | awk '{print $6}' | sed 's|^\./|/|' > "$tmp/daemon.list"
dpkg-deb -c "$dev" | awk '{print $6}' | sed 's|^\./|/|' > "$tmp/dev.list"
has() { grep -qx "$2" "$tmp/$1.list" || fail "$1 package lacks $2"; }
lacks() { ! grep -q "$2" "$tmp/$1.list" || fail "$1 package holds $2"; }
for f in /usr/bin/sluice /usr/lib/systemd/system/sluice.service /usr/lib/sysusers.d/sluice.conf \
         /usr/share/man/man1/sluice.1.gz /usr/share/bash-completion/completions/sluice \
         /usr/share/doc/sluice/copyright /usr/share/doc/sluice/changelog.Debian.gz \
         /usr/share/doc/sluice/README.md /usr/share/doc/sluice/operations.md \
         /usr/share/sluice/examples/generator.yaml /usr/share/sluice/examples/demo/hmc-script.jsonl; do
  has daemon "$f"
done
for p in file generator hmc_stomp kafka ldm_xml null stdout syslog webhook; do
  has daemon "/usr/lib/sluice/plugins/sluice_$p.so"
done
lacks daemon sluice-fake
lacks daemon sluice_hello
lacks daemon /usr/include/
for f in /usr/bin/sluice-fake-hmc /usr/bin/sluice-fake-ldmd /usr/include/sluice/plugin.h \
         /usr/include/sluice/sdk.hpp /usr/include/sluice/fakes/hmc.hpp \
         /usr/lib/cmake/Sluice/SluiceConfig.cmake /usr/lib/cmake/Sluice/SluicePlugin.cmake \
         /usr/lib/libsluice_fake_hmc.a /usr/lib/libsluice_fake_ldmd.a \
         /usr/lib/sluice/plugins/sluice_hello.so /usr/share/doc/sluice-dev/copyright; do
  has dev "$f"
done
lacks dev /usr/bin/sluice$
lacks dev /usr/lib/sluice/plugins/sluice_file.so
ok "contents: the daemon, plugins, unit, man page, completion, examples, docs in sluice; SDK, fakes, hello in sluice-dev"

# --- lintian --------------------------------------------------------------------------------
# Errors fail the test; warnings are printed (docs/operations.md lists the known ones). One
# lintian per package, side by side: each spends most of its time reading ELF files alone.
lintian --fail-on error --display-level ">=warning" "$daemon" > "$tmp/lintian-daemon.log" 2>&1 &
lintian_pid=$!
lint_rc=0
lintian --fail-on error --display-level ">=warning" "$dev" > "$tmp/lintian-dev.log" 2>&1 || lint_rc=1
wait $lintian_pid || lint_rc=1
grep -hv "^running with root privileges" "$tmp/lintian-daemon.log" "$tmp/lintian-dev.log" || true
test $lint_rc = 0 || fail "lintian reports errors"
ok "lintian: no errors"

# --- the extracted daemon package -----------------------------------------------------------
root="$tmp/root"
dpkg-deb -x "$daemon" "$root"
unit="$root/usr/lib/systemd/system/sluice.service"
grep -qx "ExecStart=/usr/bin/sluice run /etc/sluice/pipeline.yaml" "$unit" ||
  fail "the unit does not run /usr/bin/sluice on /etc/sluice/pipeline.yaml"
for line in Type=notify User=sluice StateDirectory=sluice LogsDirectory=sluice ProtectSystem=strict \
            NoNewPrivileges=yes CapabilityBoundingSet= 'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qx "$line" "$unit" || fail "the unit lacks $line"
done
# systemd-analyze verify needs no running systemd, but checks that ExecStart exists: verify a
# copy that names the extracted executable; man:sluice(1) is found through MANPATH. It exits 0
# even on lines it ignores, so any output fails.
sed "s|/usr/bin/sluice|$root/usr/bin/sluice|" "$unit" > "$tmp/sluice.service"
MANPATH="$root/usr/share/man" systemd-analyze verify "$tmp/sluice.service" > "$tmp/verify.log" 2>&1 ||
  { cat "$tmp/verify.log"; fail "systemd-analyze verify failed"; }
test ! -s "$tmp/verify.log" || { cat "$tmp/verify.log"; fail "systemd-analyze verify complained"; }
ok "systemd-analyze verify: the unit is clean"
systemd-analyze security --offline=true --threshold=20 "$tmp/sluice.service" > "$tmp/security.log" 2>&1 ||
  { cat "$tmp/security.log"; fail "the unit's exposure is above 2.0"; }
tail -1 "$tmp/security.log"
ok "systemd-analyze security: exposure at most 2.0"
grep -q "^u sluice " "$root/usr/lib/sysusers.d/sluice.conf" || fail "sysusers.d does not declare user sluice"
sh -n "$src/packaging/postinst" || fail "postinst does not parse"

# The man page: formats without warnings, and documents every command `sluice --help` lists.
sluice="$root/usr/bin/sluice"
man --warnings -l "$root/usr/share/man/man1/sluice.1.gz" > "$tmp/man.txt" 2> "$tmp/man.err" ||
  fail "man cannot format sluice.1"
test ! -s "$tmp/man.err" || { cat "$tmp/man.err"; fail "man warns about sluice.1"; }
for cmd in $("$sluice" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p'); do
  grep -q "sluice $cmd" "$tmp/man.txt" || fail "the man page does not document 'sluice $cmd'"
done
ok "man page: clean, every command of sluice --help"
bash -c ". '$root/usr/share/bash-completion/completions/sluice' && complete -p sluice" |
  grep -q "_sluice sluice" || fail "the bash completion does not register for sluice"
ok "bash completion registers for sluice"

# Plugins are found relative to the executable (../lib/sluice/plugins): no --path, no plugins.path.
"$sluice" --version
"$sluice" plugins > "$tmp/plugins.txt" 2>&1 || { cat "$tmp/plugins.txt"; fail "sluice plugins failed"; }
for p in file generator hmc_stomp kafka ldm_xml null stdout syslog webhook; do
  grep -q "file: $root/usr/lib/sluice/plugins/sluice_$p.so" "$tmp/plugins.txt" ||
    { cat "$tmp/plugins.txt"; fail "sluice plugins does not list the packaged $p"; }
done
ok "the extracted sluice finds the packaged plugins"

mkdir -p "$tmp/out"
chmod 700 "$tmp" "$tmp/out"
cat > "$tmp/pipeline.yaml" <<YAML
version: 1
log: {level: info, format: text}
sources:
  gen: {plugin: generator, options: {template: mixed, rate: 0, count: 200, seed: 7}}
sinks:
  archive: {plugin: file, options: {path: "$tmp/out/events.jsonl", format: json}}
routes:
  - {from: gen, to: archive}
YAML
"$sluice" validate "$tmp/pipeline.yaml" || fail "the generator -> file pipeline does not validate"
"$sluice" run "$tmp/pipeline.yaml" > "$tmp/run.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 300 ]; do
  lines=$({ wc -l < "$tmp/out/events.jsonl"; } 2>/dev/null || echo 0)
  [ "$lines" -ge 200 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
kill -TERM $pid 2>/dev/null || true
rc=0
wait $pid || rc=$?
pid=
test $rc = 0 || { cat "$tmp/run.log"; fail "sluice run exited $rc"; }
lines=$(wc -l < "$tmp/out/events.jsonl")
test "$lines" = 200 || { cat "$tmp/run.log"; fail "$lines events written, not 200"; }
grep -q '"source":"generator://gen"' "$tmp/out/events.jsonl" || fail "not the generator's events"
ok "the extracted sluice ran generator -> file: 200 events, exit 0 on SIGTERM"
echo PASS
