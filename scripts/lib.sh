# Shared steps of run.sh and test.sh: install what is missing, configure, build.
# Sourced, not run.

# Debian packages tasker needs to build, run and test (dpkg-dev and file:
# cpack's Debian package, whose dependencies dpkg-shlibdeps finds).
TASKER_PACKAGES=(
  g++ cmake make pkg-config
  libcaf-dev libpqxx-dev nlohmann-json3-dev libboost-dev prometheus-cpp-dev
  libcurl4-openssl-dev libhiredis-dev redis-server
  postgresql-15 postgresql-client-15 python3 curl
  clang libclang-rt-14-dev llvm-14
  json-schema-test-suite python3-httpx python3-venv python3-pip python3-wheel
  dpkg-dev file
)

# What only the tests need: Chromium for the browser tests (tests/browser);
# systemd-analyze for package.deb (tests/package), which checks the units.
TASKER_TEST_PACKAGES=(chromium systemd)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages that are missing, and the arguments' too; quiet when
# everything is there. Then web/'s npm packages.
install_deps() {
  local missing=()
  for pkg in "${TASKER_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  install_web_deps
}

# Installs web/'s npm packages (the dashboard's build tools, Swagger UI, the
# browser tests' playwright-core, the OpenAPI linter) exactly as
# web/package-lock.json lists them, when they are missing or the lock
# changed. Needs Node.js 20 and npm.
install_web_deps() {
  if ! command -v npm >/dev/null; then
    echo "tasker needs Node.js 20 and npm to build its dashboard" >&2
    return 1
  fi
  if cmp -s web/package-lock.json web/node_modules/.tasker-lock 2>/dev/null; then
    return 0
  fi
  echo "installing web/'s npm packages"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json web/node_modules/.tasker-lock
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
