//! The x86-64 code the engine generates for a module, decoded by an independent decoder
//! (yaxpeax-x86), for tests that check the shape of the code. Included by path
//! (`#[path = "common/x86_64.rs"]`) by the tests that need it.

use keel_engine::{Config, Engine, Isa, Module};
use yaxpeax_arch::LengthedInstruction;
use yaxpeax_x86::long_mode::{InstDecoder, Instruction};

/// The instructions of `wat`'s code compiled for x86-64 under `config` (its ISA replaced),
/// in order. The functions come first; decoding stops at
/// the first byte the decoder cannot read (tables or padding after them, if any), and
/// panics unless more than half of the code was decoded.
pub fn instructions(wat: &str, config: Config) -> Vec<Instruction> {
    let engine = Engine::new(Config { isa: Isa::X64, ..config }).expect("engine");
    let module = Module::new(&engine, &wat::parse_str(wat).expect("wat")).expect("compiles");
    let code = module.code();
    let decoder = InstDecoder::default();
    let (mut at, mut out) = (0, Vec::new());
    while let Ok(inst) = decoder.decode_slice(&code[at..]) {
        at += inst.len().to_const() as usize;
        out.push(inst);
        if at >= code.len() {
            break;
        }
    }
    assert!(at > code.len() / 2, "decoded only {at} of {} bytes", code.len());
    out
}
