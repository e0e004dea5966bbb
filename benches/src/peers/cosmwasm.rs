//! Real CosmWasm contracts, the class of module issue 3's compile-throughput figures come
//! from ("real CosmWasm contracts (180-430 KB)"): the cw-plus contracts published on
//! crates.io, fetched and built at bench time the way CosmWasm's `optimizer` image builds
//! what chains deploy, into a cache outside git, never committed.
//!
//! The build, per contract:
//! 1. download `https://static.crates.io/crates/{crate}/{crate}-{version}.crate` with `curl`
//!    and check it against the SHA-256 pinned in [`COSMWASM_CONTRACTS`];
//! 2. unpack it with `tar` and run `cargo build --release --lib --locked --target
//!    wasm32-unknown-unknown` in it, with the crate's own `Cargo.lock` (shipped in the
//!    `.crate`), cw-plus's release profile (`opt-level = 3`, `lto`, one codegen unit,
//!    `panic = "abort"`, overflow checks on) and `RUSTFLAGS="-C link-arg=-s"` (no name
//!    section), as the optimizer does;
//! 3. run `wasm-opt -Os` (binaryen) over the result, as the optimizer does.
//!
//! The bytes still depend on the local rustc and binaryen versions; the report prints the
//! size of what was compiled.
//!
//! Needs `curl`, `tar`, `cargo` with the `wasm32-unknown-unknown` target
//! (`rustup target add wasm32-unknown-unknown`) and `wasm-opt` (Debian: `apt-get install
//! binaryen`). Cache: `$KEEL_PEERS_CACHE/cosmwasm`, else `$HOME/.cache/keel-benches/cosmwasm`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::workloads::hex;

/// One contract crate of cw-plus.
#[derive(Debug, Clone, Copy)]
pub struct CosmWasmContract {
    /// Short name used in the tables (the crate name).
    pub name: &'static str,
    /// Exact crate version.
    pub version: &'static str,
    /// SHA-256 of the `.crate` file, hex (the checksum crates.io's index records).
    pub sha256: &'static str,
    /// The file cargo writes under `target/wasm32-unknown-unknown/release/`.
    pub artifact: &'static str,
    /// What it is.
    pub what: &'static str,
}

/// The contracts, in table order.
pub const COSMWASM_CONTRACTS: &[CosmWasmContract] = &[
    CosmWasmContract {
        name: "cw1-whitelist",
        version: "2.0.0",
        sha256: "5c51ef0628aaedd7153015e99ed6d030b99ebe635173011eb4e1554f866be30b",
        artifact: "cw1_whitelist.wasm",
        what: "proxy contract with an admin whitelist",
    },
    CosmWasmContract {
        name: "cw4-group",
        version: "2.0.0",
        sha256: "e60083d0aec9f6d6191c797bb3605835289fd3d875fe516ae5a164c7f8a0ba4e",
        artifact: "cw4_group.wasm",
        what: "group membership with weights and hooks",
    },
    CosmWasmContract {
        name: "cw3-fixed-multisig",
        version: "2.0.0",
        sha256: "9a8233125653e61e898eaade6c6fdb3bd9c48aceb2ad97e84eada2c9bf5bff46",
        artifact: "cw3_fixed_multisig.wasm",
        what: "multisig with a fixed voter set",
    },
    CosmWasmContract {
        name: "cw20-ics20",
        version: "2.0.0",
        sha256: "80a9e377dbbd1ffb3b6a8a2dbf9128609a6458a3292f88f99e0b6840a7e9762e",
        artifact: "cw20_ics20.wasm",
        what: "IBC transfer of cw20 tokens (ICS-20)",
    },
    CosmWasmContract {
        name: "cw20-base",
        version: "2.0.0",
        sha256: "d6de8c32e100f1fca306972d86b617234a5e6b00594ea2b48716fd6804d4d95d",
        artifact: "cw20_base.wasm",
        what: "the reference fungible token",
    },
];

/// The cache directory for downloaded crates, their build and the built contracts.
pub fn cache_dir() -> PathBuf {
    super::real::cache_root().join("cosmwasm")
}

/// cw-plus's `[profile.release]`, as environment overrides for `cargo build`.
const RELEASE_PROFILE: [(&str, &str); 7] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
    ("CARGO_PROFILE_RELEASE_LTO", "true"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    ("CARGO_PROFILE_RELEASE_PANIC", "abort"),
    ("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true"),
    ("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
];

/// Runs `cmd`, turning a failure to start or a non-zero exit into a message naming `step`.
fn run(step: &str, cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("{step}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(12).collect();
        return Err(format!("{step} failed ({}): {}", out.status, tail.into_iter().rev().collect::<Vec<_>>().join(" / ")));
    }
    Ok(out.stdout)
}

/// The bytes of `contract` as the optimizer would deploy them, from the cache or built into
/// it (about 10-30 s per contract on two cores, once).
///
/// Errors: a message naming the failing step (`curl`, checksum, `tar`, `cargo build`,
/// `wasm-opt`) and its output; nothing is left half-written under the final name.
pub fn fetch(contract: &CosmWasmContract, cache: &Path) -> Result<Vec<u8>, String> {
    let wasm_path = cache.join(format!("{}-{}.wasm", contract.name, contract.version));
    if let Ok(bytes) = std::fs::read(&wasm_path) {
        return Ok(bytes);
    }
    let src = cache.join("src");
    std::fs::create_dir_all(&src).map_err(|e| format!("create {}: {e}", src.display()))?;
    let stem = format!("{}-{}", contract.name, contract.version);
    let krate = cache.join(format!("{stem}.crate"));
    if !krate.exists() {
        let url = format!("https://static.crates.io/crates/{}/{stem}.crate", contract.name);
        let part = krate.with_extension("crate.part");
        run("curl", Command::new("curl").args(["-sSfL", "-o"]).arg(&part).arg(&url))?;
        std::fs::rename(&part, &krate).map_err(|e| format!("rename {}: {e}", part.display()))?;
    }
    let bytes = std::fs::read(&krate).map_err(|e| format!("read {}: {e}", krate.display()))?;
    let digest = hex(&Sha256::digest(&bytes));
    if digest != contract.sha256 {
        let _ = std::fs::remove_file(&krate);
        return Err(format!("{stem}.crate has SHA-256 {digest}, expected {}", contract.sha256));
    }
    run("tar", Command::new("tar").arg("-xzf").arg(&krate).arg("-C").arg(&src))?;
    let target = cache.join("target");
    let mut build = Command::new("cargo");
    build
        .args(["build", "--release", "--lib", "--locked", "--target", "wasm32-unknown-unknown"])
        .current_dir(src.join(&stem))
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C link-arg=-s")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    for (k, v) in RELEASE_PROFILE {
        build.env(k, v);
    }
    run(&format!("cargo build of {stem} for wasm32-unknown-unknown"), &mut build)?;
    let built = target.join("wasm32-unknown-unknown/release").join(contract.artifact);
    let part = wasm_path.with_extension("wasm.part");
    run(
        "wasm-opt -Os (binaryen: `apt-get install binaryen`)",
        Command::new("wasm-opt")
            .arg("-Os")
            .args(WASM_OPT_FEATURES)
            .arg(&built)
            .arg("-o")
            .arg(&part),
    )?;
    std::fs::rename(&part, &wasm_path).map_err(|e| format!("rename {}: {e}", part.display()))?;
    std::fs::read(&wasm_path).map_err(|e| format!("read {}: {e}", wasm_path.display()))
}

/// The proposals rustc's `wasm32-unknown-unknown` target emits by default, which wasm-opt
/// must be told to keep (binaryen defaults to the MVP).
const WASM_OPT_FEATURES: [&str; 6] = [
    "--enable-sign-ext",
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contracts_have_unique_names_pinned_checksums_and_wasm_artifacts() {
        let mut names: Vec<_> = COSMWASM_CONTRACTS.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COSMWASM_CONTRACTS.len());
        for c in COSMWASM_CONTRACTS {
            assert_eq!(c.sha256.len(), 64, "{}", c.name);
            assert!(c.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{}", c.name);
            assert_eq!(c.artifact, format!("{}.wasm", c.name.replace('-', "_")));
        }
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
    }
}
