#!/usr/bin/env bash
# Installs what a fresh machine of the project's kind (Debian + rustup) lacks for building,
# testing and running Keel. Idempotent: each step is skipped when already satisfied.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
# Debian packages: name of a probe command -> package.
for pair in "clang-14:clang-14" "wasm-ld-14:lld-14" "cmake:cmake"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  have "$cmd" || need_apt+=("$pkg")
done
[ -e /usr/lib/llvm-14/lib/libclang.so ] || need_apt+=("libclang-dev")  # rocksdb (bindgen)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# aarch64 backend tests (scripts/test-aarch64.sh): cross linker, aarch64 C library and
# user-mode QEMU. Optional: a failure here only makes the aarch64 tests skip loudly.
need_a64=()
have aarch64-linux-gnu-gcc || need_a64+=("gcc-aarch64-linux-gnu")
[ -e /usr/aarch64-linux-gnu/lib/crt1.o ] || need_a64+=("libc6-dev-arm64-cross")
have qemu-aarch64 || need_a64+=("qemu-user")
if [ ${#need_a64[@]} -gt 0 ]; then
  echo "setup: installing Debian packages for the aarch64 tests: ${need_a64[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_a64[@]}" >/dev/null; } \
    || echo "setup: WARNING: could not install ${need_a64[*]}; the aarch64 tests will be skipped"
fi

# Rust targets: contracts build for wasm32v1-none; the engine's tests also run as aarch64.
if have rustup; then
  installed=$(rustup target list --installed)
  for t in wasm32v1-none; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
  done
  for t in aarch64-unknown-linux-gnu; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t" \
      || echo "setup: WARNING: could not add Rust target $t; the aarch64 tests will be skipped"
  done
fi
echo "setup: ok"
