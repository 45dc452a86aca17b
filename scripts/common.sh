# Sourced by the other scripts: small helpers for a fresh Debian machine.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "need root (or sudo) to run: $*" >&2; return 1
  fi
}

apt_install() {
  echo "installing $* from Debian's packages…" >&2
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >&2
}

# rustup brings the Rust toolchain but not a C compiler and linker, which linking, the bundled
# SQLite and mimalloc need.
ensure_build_tools() {
  command -v cargo >/dev/null 2>&1 || { echo "Rust is needed: install it with rustup (https://rustup.rs)" >&2; return 1; }
  command -v cc >/dev/null 2>&1 || apt_install build-essential
}

# Node.js and npm, for the front-end packages and the browser tests' driver.
ensure_node() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
}

# The front-end packages pinned by web/package-lock.json (NHS.UK frontend, the common-password
# list, playwright-core, axe-core), installed with `npm ci` whenever the lockfile changed.
ensure_web_assets() {
  ensure_node
  local lock_sum stamp=web/node_modules/.tessera-lock-sha256
  lock_sum=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "installing front-end packages (npm ci in web/)…" >&2
    (cd web && npm ci --ignore-scripts --no-audit --no-fund >&2)
    echo "$lock_sum" > "$stamp"
  fi
}

# Debian's Chromium, which the browser tests drive (never a downloaded browser).
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
}

# Command-line tools some tests use as independent peers: openssl (a test certificate) and curl.
ensure_test_tools() {
  local missing=()
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}
