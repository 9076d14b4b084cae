# Sourced by the set-up scripts: installs Debian packages that are missing, and nothing twice.
# Usage: ensure_packages pkg...

ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "sluice: installing ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# What building sluice needs.
SLUICE_BUILD_PACKAGES=(
  ca-certificates cmake ninja-build g++ make pkg-config
  libboost-dev libboost-program-options-dev libboost-filesystem-dev
  libssl-dev openssl zlib1g-dev
  nlohmann-json3-dev libyaml-cpp-dev libpugixml-dev rapidjson-dev
  doctest-dev
  librdkafka-dev
  libre2-dev
)

# What the tests need on top: a real STOMP peer, the stomp.py baseline, clang for libFuzzer;
# for the package test (tests/integration/package_test.sh): dpkg-shlibdeps (dpkg-dev), lintian,
# systemd-analyze (systemd; it verifies a unit file without systemd running); for the admin
# server's tests (tests/integration/admin_test.py): promtool and a Prometheus server (prometheus);
# for the syslog sink's tests a real rsyslog with RELP and TLS (rsyslog, rsyslog-relp,
# rsyslog-openssl); kcat to check the Kafka sink against librdkafka's mock cluster; tmux drives
# `sluice top` in its test; lld links the sanitizer and fuzz builds (faster than GNU ld).
SLUICE_TEST_PACKAGES=(
  activemq default-jre-headless python3 python3-stomp clang-14 libclang-rt-14-dev lld procps
  dpkg-dev lintian systemd prometheus
  rsyslog rsyslog-relp rsyslog-openssl kcat tmux
)

# valijson (JSON Schema validation, header-only) without Debian's libvalijson-dev, which depends
# on Qt 5, Poco, the MariaDB client and more (about 240 packages): its .deb is downloaded and
# unpacked into build/deps/valijson, where CMake looks first (SLUICE_VALIJSON_INCLUDE_DIR).
# Does nothing when the headers are there already. Usage: ensure_valijson (from the source root)
ensure_valijson() {
  local dest=build/deps/valijson
  [ -f "$dest/usr/include/valijson/validator.hpp" ] && return 0
  echo "sluice: fetching the valijson headers (libvalijson-dev) into $dest" >&2
  local tmp
  tmp=$(mktemp -d)
  # apt downloads as user _apt where it can; let it write here (no warning, no unsandboxed fetch).
  chmod 755 "$tmp"
  if id _apt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then chown _apt "$tmp"; fi
  if ! (cd "$tmp" && apt-get download -qq libvalijson-dev 2>/dev/null); then
    # No package lists yet (a fresh machine): fetch them once, then try again.
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    (cd "$tmp" && apt-get download -qq libvalijson-dev) || { rm -rf "$tmp"; return 1; }
  fi
  # Unpacked beside its final place and renamed: an interrupted run leaves no half tree there.
  mkdir -p build/deps
  rm -rf "$dest.part"
  dpkg-deb -x "$tmp"/libvalijson-dev_*.deb "$dest.part"
  rm -rf "$dest" "$tmp"
  mv "$dest.part" "$dest"
}
