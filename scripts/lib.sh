# Shared steps of run.sh and test.sh: install what is missing, configure, build.
# Sourced, not run.

# Debian packages tasker needs to build, run and test.
TASKER_PACKAGES=(
  g++ cmake make pkg-config
  libcaf-dev libpqxx-dev nlohmann-json3-dev libboost-dev prometheus-cpp-dev
  libcurl4-openssl-dev libhiredis-dev redis-server
  postgresql-15 postgresql-client-15 python3 curl
  clang libclang-rt-14-dev llvm-14
  json-schema-test-suite python3-httpx python3-venv python3-pip python3-wheel
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages that are missing; quiet when everything is there.
install_deps() {
  local missing=()
  for pkg in "${TASKER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# Configures and builds into build/ (binary: build/tasker); arguments are
# targets (default: everything).
build_tasker() {
  local jobs=${TASKER_BUILD_JOBS:-2}
  if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build build -j "$jobs" "${targets[@]}"
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
