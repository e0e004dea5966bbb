//! Real-world inputs nobody in this project wrote: compiled `.wasm` files shipped inside
//! npm packages, fetched at bench time with the ordinary client (`npm pack`, which checks
//! the tarball against the registry's integrity hash) into a cache outside git, never
//! committed. Pinned versions, so every run compiles the same bytes.
//!
//! Cache: `$KEEL_PEERS_CACHE`, else `$HOME/.cache/keel-benches/npm`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `.wasm` file inside one npm package.
#[derive(Debug, Clone, Copy)]
pub struct RealInput {
    /// Short name used in the tables.
    pub name: &'static str,
    /// npm package name.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// Path of the `.wasm` inside the package tarball.
    pub path: &'static str,
    /// What it is (source language, toolchain, purpose).
    pub what: &'static str,
}

/// The real-world inputs, smallest first.
pub const REAL_INPUTS: &[RealInput] = &[
    RealInput {
        name: "argon2",
        package: "argon2-browser",
        version: "1.18.0",
        path: "package/dist/argon2.wasm",
        what: "C (Emscripten): Argon2 password hashing",
    },
    RealInput {
        name: "argon2-simd",
        package: "argon2-browser",
        version: "1.18.0",
        path: "package/dist/argon2-simd.wasm",
        what: "C (Emscripten): the same with 128-bit SIMD",
    },
    RealInput {
        name: "source-map",
        package: "source-map",
        version: "0.7.6",
        path: "package/lib/mappings.wasm",
        what: "Rust: Mozilla source-map mappings parser",
    },
    RealInput {
        name: "zstd",
        package: "@bokuweb/zstd-wasm",
        version: "0.0.27",
        path: "package/dist/common/zstd.wasm",
        what: "C (Emscripten): Zstandard compression",
    },
    RealInput {
        name: "oniguruma",
        package: "vscode-oniguruma",
        version: "2.0.1",
        path: "package/release/onig.wasm",
        what: "C (Emscripten): Oniguruma regular expressions (VS Code)",
    },
    RealInput {
        name: "sqlite",
        package: "sql.js",
        version: "1.13.0",
        path: "package/dist/sql-wasm.wasm",
        what: "C (Emscripten): SQLite",
    },
    RealInput {
        name: "brotli",
        package: "brotli-wasm",
        version: "3.0.1",
        path: "package/pkg.node/brotli_wasm_bg.wasm",
        what: "Rust (wasm-bindgen): Brotli compression",
    },
    RealInput {
        name: "resvg",
        package: "@resvg/resvg-wasm",
        version: "2.6.2",
        path: "package/index_bg.wasm",
        what: "Rust (wasm-bindgen): resvg SVG renderer",
    },
];

/// The cache directory for fetched packages: `$KEEL_PEERS_CACHE`, else
/// `$HOME/.cache/keel-benches/npm`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("KEEL_PEERS_CACHE").map_or_else(|| cache_root().join("npm"), PathBuf::from)
}

/// `$HOME/.cache/keel-benches` (or `$KEEL_PEERS_CACHE` when set): where the inputs fetched
/// at bench time are kept.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("KEEL_PEERS_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache/keel-benches")
}

/// The tarball name `npm pack` writes for `package@version` (`@scope/name` becomes
/// `scope-name`).
pub fn tarball_name(package: &str, version: &str) -> String {
    format!("{}-{version}.tgz", package.trim_start_matches('@').replace('/', "-"))
}

/// The bytes of `input`, from the cache or fetched into it.
///
/// Errors: a message naming the failing step (`npm pack`, `tar`) and its output; nothing
/// is left half-written in the cache (files are written under a temporary name first).
pub fn fetch(input: &RealInput, cache: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(cache).map_err(|e| format!("create {}: {e}", cache.display()))?;
    let wasm_path = cache.join(format!("{}-{}-{}.wasm", input.package.replace('/', "_"), input.version, input.name));
    if let Ok(bytes) = std::fs::read(&wasm_path) {
        return Ok(bytes);
    }
    let tgz = cache.join(tarball_name(input.package, input.version));
    if !tgz.exists() {
        let out = Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(cache)
            .arg(format!("{}@{}", input.package, input.version))
            .output()
            .map_err(|e| format!("npm pack: {e}"))?;
        if !out.status.success() || !tgz.exists() {
            return Err(format!(
                "npm pack {}@{} failed: {}",
                input.package,
                input.version,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let out = Command::new("tar")
        .arg("-xzOf")
        .arg(&tgz)
        .arg(input.path)
        .output()
        .map_err(|e| format!("tar: {e}"))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!("{} not in {}: {}", input.path, tgz.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    let tmp = wasm_path.with_extension("wasm.part");
    std::fs::write(&tmp, &out.stdout).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &wasm_path).map_err(|e| format!("rename {}: {e}", tmp.display()))?;
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarball_names_follow_npm_pack() {
        assert_eq!(tarball_name("sql.js", "1.13.0"), "sql.js-1.13.0.tgz");
        assert_eq!(tarball_name("@resvg/resvg-wasm", "2.6.2"), "resvg-resvg-wasm-2.6.2.tgz");
    }

    #[test]
    fn real_inputs_have_unique_names_and_wasm_paths() {
        let mut names: Vec<_> = REAL_INPUTS.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), REAL_INPUTS.len());
        assert!(REAL_INPUTS.iter().all(|r| r.path.starts_with("package/") && r.path.ends_with(".wasm")));
    }
}
