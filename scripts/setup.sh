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

# Rust targets: contracts build for wasm32v1-none.
if have rustup; then
  installed=$(rustup target list --installed)
  for t in wasm32v1-none; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
  done
fi
echo "setup: ok"
