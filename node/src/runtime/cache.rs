//! Compiled-module cache: an in-process map by code hash in front of the RocksDB
//! `artifacts` column family (`specs/state.md` §2). Caches change speed, never results: a
//! module loaded from an artifact runs exactly like a freshly compiled one (tested in
//! `node/tests/runtime_cache.rs`).

use std::collections::HashMap;
use std::sync::Mutex;

use keel_engine::{Engine, Module};

use crate::state::{ArtifactKey, Hash32, StateDb};

/// Most modules kept in memory; when full, the map is cleared (the artifact cache on disk
/// still holds them).
pub const MEMORY_CACHE_MODULES: usize = 256;
/// Most machine code kept in memory, bytes (`Module::code_size` summed); past it the map is
/// cleared too, so hostile large modules cannot grow the node's memory without bound.
pub const MEMORY_CACHE_CODE_BYTES: usize = 256 << 20;

/// Where a module came from (for tests and metrics; never consensus-visible).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSource {
    /// The in-process map.
    Memory,
    /// A compiled artifact from the `artifacts` column family.
    Artifact,
    /// Compiled now from the wasm bytes.
    Compiled,
}

/// The cache. Lookups by code hash are only valid for one engine (one configuration), which
/// is why the cache lives inside a [`super::Runtime`].
pub(crate) struct ModuleCache {
    /// Modules by code hash, and the sum of their code sizes.
    memory: Mutex<(HashMap<Hash32, Module>, usize)>,
    /// Fixed parts of the artifact key for this engine.
    engine_version: String,
    target_prefix: String,
    cost_table_hash: Hash32,
}

impl ModuleCache {
    pub(crate) fn new(engine: &Engine) -> ModuleCache {
        ModuleCache {
            memory: Mutex::new((HashMap::new(), 0)),
            // The node and the engine share the workspace version.
            engine_version: format!("keel-engine {}", env!("CARGO_PKG_VERSION")),
            target_prefix: engine.config().isa.name().to_string(),
            cost_table_hash: engine.config().cost_table.hash(),
        }
    }

    /// The artifact key of `code`: code hash, engine version, target (ISA name and
    /// `Module::cache_key`, which hashes the CPU feature set, the cost table and the profile
    /// along with the code: the engine does not expose its feature string) and cost-table
    /// hash.
    pub(crate) fn artifact_key(&self, engine: &Engine, code_hash: &Hash32, code: &[u8]) -> ArtifactKey {
        let key = Module::cache_key(engine, code);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        ArtifactKey {
            code_hash: *code_hash,
            engine_version: self.engine_version.clone(),
            target: format!("{} cache-key {hex}", self.target_prefix),
            cost_table_hash: self.cost_table_hash,
        }
    }

    /// The in-memory module of `code_hash`, if cached.
    pub(crate) fn get_memory(&self, code_hash: &Hash32) -> Option<Module> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner()).0.get(code_hash).cloned()
    }

    pub(crate) fn put_memory(&self, code_hash: Hash32, module: Module) {
        let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let size = module.code_size();
        if m.0.len() >= MEMORY_CACHE_MODULES || m.1.saturating_add(size) > MEMORY_CACHE_CODE_BYTES {
            *m = (HashMap::new(), 0);
        }
        if m.0.insert(code_hash, module).is_none() {
            m.1 += size;
        }
    }

    /// Empties the in-process map (the artifact column family is untouched).
    pub(crate) fn clear_memory(&self) {
        *self.memory.lock().unwrap_or_else(|e| e.into_inner()) = (HashMap::new(), 0);
    }

    /// Loads `code` (whose hash is `code_hash`) from the artifact column family or compiles
    /// it and stores the artifact. Errors: the engine's compile error (validation against
    /// the profile included). An artifact that fails to load is deleted and recompiled.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        db: Option<&StateDb>,
        code_hash: &Hash32,
        code: &[u8],
    ) -> Result<(Module, CacheSource), keel_engine::Error> {
        let key = db.map(|_| self.artifact_key(engine, code_hash, code));
        if let (Some(db), Some(key)) = (db, &key) {
            if let Ok(Some(bytes)) = db.get_artifact(key) {
                // SAFETY: artifacts in the `artifacts` column family are written only by
                // this function, from `Module::serialize` of a module this engine compiled;
                // the database directory belongs to the node. `deserialize` re-checks the
                // header (engine version, ISA, CPU features, cost table, profile) and the
                // payload hash, and we fall back to compiling on any error.
                match unsafe { Module::deserialize(engine, &bytes) } {
                    Ok(module) => return Ok((module, CacheSource::Artifact)),
                    Err(e) => {
                        tracing::warn!("discarding unusable compiled artifact: {e}");
                        let _ = db.delete_artifact(key);
                    }
                }
            }
        }
        let module = Module::new(engine, code)?;
        if let (Some(db), Some(key)) = (db, &key) {
            if let Err(e) = db.put_artifact(key, &module.serialize()) {
                // Not consensus data: a failed cache write only costs a later recompile.
                tracing::warn!("could not store compiled artifact: {e}");
            }
        }
        Ok((module, CacheSource::Compiled))
    }
}
