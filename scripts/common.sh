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
