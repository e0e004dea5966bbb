#!/usr/bin/env bash
# Builds every Keel contract reproducibly into OUT_DIR (default: contracts/wasm/):
#   Rust examples  -> NAME.wasm      (cargo, wasm32v1-none, release profile of Cargo.toml)
#   C example      -> c_counter.wasm (clang-14, MVP + mutable-globals)
#   adversarial    -> adv_*.wasm     (keel-wasmgen: WAT files + generated JIT bombs)
# and records the toolchain in OUT_DIR/TOOLCHAIN.
#
# Reproducibility: same toolchain (TOOLCHAIN) + this repository's Cargo.lock => same bytes,
# wherever the repository and the cargo home live: paths are remapped (--remap-path-prefix),
# symbols/debug info are stripped, codegen-units=1, lto, --locked, and the target directory
# is always contracts/target (inside the remapped repository path).
#
# Usage: contracts/build.sh [OUT_DIR]
set -euo pipefail

CONTRACTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$CONTRACTS/.." && pwd -P)
OUT=${1:-$CONTRACTS/wasm}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd -P)

RUST_CONTRACTS=(counter token escrow registry sha2-hasher ed25519-verifier)
TARGET=wasm32v1-none
CLANG=${CLANG:-clang-14}
WASM_LD=${WASM_LD:-wasm-ld-14}

command -v "$CLANG" >/dev/null || { echo "build.sh: $CLANG not found (apt-get install clang-14 lld-14)" >&2; exit 1; }
command -v "$WASM_LD" >/dev/null || { echo "build.sh: $WASM_LD not found (apt-get install lld-14)" >&2; exit 1; }
rustup target list --installed | grep -qx "$TARGET" || { echo "build.sh: rust target $TARGET missing (rustup target add $TARGET)" >&2; exit 1; }

# Paths that could leak into the bytes (panic locations of dependencies and of our crates).
CARGO_HOME_DIR=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
export CARGO_TARGET_DIR="$CONTRACTS/target"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTC_WORKSPACE_WRAPPER
# 64 KiB of shadow stack (in linear memory) instead of rustc's 1 MiB default.
export CARGO_TARGET_WASM32V1_NONE_RUSTFLAGS="--remap-path-prefix=$CARGO_HOME_DIR=/cargo --remap-path-prefix=$REPO=/keel -C link-arg=-zstack-size=65536"

cd "$CONTRACTS"

echo "== Rust contracts ($TARGET)"
pkgs=()
for c in "${RUST_CONTRACTS[@]}"; do pkgs+=(-p "$c"); done
cargo build --locked --release --target "$TARGET" "${pkgs[@]}"
for c in "${RUST_CONTRACTS[@]}"; do
  cp "target/$TARGET/release/${c//-/_}.wasm" "$OUT/${c//-/_}.wasm"
done

echo "== C contract ($CLANG, $WASM_LD)"
# Compiled and linked in two steps: clang's driver, when it links an optimized build, runs
# `wasm-opt` over the result if one is on PATH (binaryen), so a one-step build would give
# different bytes on machines with and without binaryen.
C_OBJ=$(mktemp --suffix=.o)
trap 'rm -f "$C_OBJ"' EXIT
"$CLANG" --target=wasm32 -mcpu=mvp -mmutable-globals -nostdlib -ffreestanding -fno-builtin -O2 \
  -Wall -Wextra -Werror -c -o "$C_OBJ" examples/c-counter/counter.c
"$WASM_LD" -m wasm32 --no-entry --allow-undefined --strip-all \
  -z stack-size=16384 --initial-memory=131072 \
  -o "$OUT/c_counter.wasm" "$C_OBJ"

echo "== adversarial modules"
(unset CARGO_TARGET_WASM32V1_NONE_RUSTFLAGS; cargo run --locked --release -q -p keel-wasmgen -- adversarial "$OUT")

{
  rustc --version
  "$CLANG" --version | head -n 1
} > "$OUT/TOOLCHAIN"

echo "== built into $OUT"
( cd "$OUT" && wc -c -- *.wasm | sort -k2 )
