//! Compile-only fuzzing: `Module::new` on untrusted bytes returns a module or a typed error
//! and never panics or crashes. Half the inputs are raw bytes; half become a wasm-smith
//! module with every proposal wasm-smith knows enabled (most of which Keel's profile must
//! reject cleanly), compiled under both the chain profile and the permissive one. A module
//! that compiles is also serialized and loaded back.
#![no_main]

use arbitrary::Unstructured;
use keel_engine::{Config, Engine, Module};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let wasm = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut u = Unstructured::new(rest);
        let mut config = match u.arbitrary::<wasm_smith::Config>() {
            Ok(c) => c,
            Err(_) => return,
        };
        config.max_imports = config.max_imports.min(4);
        match wasm_smith::Module::new(config, &mut u) {
            Ok(m) => m.to_bytes(),
            Err(_) => return,
        }
    };
    for config in [Config::default(), Config::permissive(), Config::permissive().without_metering()] {
        let Ok(engine) = Engine::new(config) else { return };
        if let Ok(module) = Module::new(&engine, &wasm) {
            let bytes = module.serialize();
            // SAFETY: the artifact was produced by this engine a moment ago, in process.
            let back = unsafe { Module::deserialize(&engine, &bytes) };
            assert!(back.is_ok(), "a fresh artifact loads back: {:?}", back.err());
        }
    }
});
