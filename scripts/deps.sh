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
  nlohmann-json3-dev libyaml-cpp-dev libpugixml-dev libvalijson-dev rapidjson-dev
  doctest-dev
)

# What the tests need on top: a real STOMP peer, the stomp.py baseline, clang for libFuzzer.
SLUICE_TEST_PACKAGES=(
  activemq default-jre-headless python3 python3-stomp clang-14 libclang-rt-14-dev procps
)
