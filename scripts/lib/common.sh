# Shared set-up for scripts/run, scripts/test and scripts/bench. Sourced, not run.
# Each function is idempotent: it checks first and installs or builds only what
# is missing, so a re-run is fast and a fresh Debian 12 machine gets everything.

set -euo pipefail

INLOOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export INLOOP_ROOT

log() { printf '\033[1m[inloop]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages the build and the tests need.
INLOOP_APT_PACKAGES=(build-essential cmake pkg-config libpoco-dev rapidjson-dev catch2
                     libssl-dev libsqlite3-dev sqlite3 openssl curl ca-certificates
                     libpq-dev postgresql-15)

ensure_apt_packages() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# Node.js for the test peers (real FHIR server, third-party validators). A
# machine that already has node (e.g. from NodeSource) keeps it; otherwise
# Debian's nodejs and npm are installed.
ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    ensure_apt_packages nodejs npm
  fi
}

# npm packages of the test peers, from the committed lock file.
ensure_test_peers() {
  ensure_node
  local dir="$INLOOP_ROOT/tests/peers"
  [ -f "$dir/package-lock.json" ] || return 0
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing test peers (npm ci in tests/peers)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# ensure_build BUILD_DIR BUILD_TYPE [extra cmake args...]: configure once, then
# build incrementally.
ensure_build() {
  local dir="$1" type="$2"
  shift 2
  ensure_apt_packages "${INLOOP_APT_PACKAGES[@]}"
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    log "configuring $dir ($type)"
    cmake -S "$INLOOP_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  fi
  log "building in $dir"
  cmake --build "$dir" -j "$(nproc)" -- --no-print-directory >/dev/null
}
