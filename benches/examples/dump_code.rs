//! Writes the machine code Keel generates for a WAT or wasm file to `OUT` (raw bytes, for
//! `objdump -D -b binary -mi386:x86-64 OUT`): reads it out of the module's artifact.
//!
//! `cargo run --release -p keel-benches --example dump_code -- FILE OUT [unmetered|metered] [ISA]`
//! (ISA: x86_64 or aarch64, default the host's; `metered` is the default and lets an ISA
//! follow). A `.wasm` FILE compiles under `Config::default()`, a WAT one under
//! `Config::permissive()`, as the peers harness does, so that the code's offsets match a
//! profile of it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        return Err("usage: dump_code FILE OUT [unmetered|metered] [ISA]".into());
    };
    let wasm = wat::parse_file(input)?;
    // As the peers harness compiles them: contracts (.wasm) under the default profile,
    // kernels and shapes (.wat) under the permissive one.
    let mut config =
        if input.ends_with(".wasm") { keel_engine::Config::default() } else { keel_engine::Config::permissive() };
    if args.get(3).is_some_and(|a| a == "unmetered") {
        config = config.without_metering();
    }
    if let Some(isa) = args.get(4) {
        config.isa = keel_engine::Isa::from_name(isa).ok_or_else(|| format!("unknown ISA {isa}"))?;
    }
    let engine = keel_engine::Engine::new(config)?;
    let module = keel_engine::Module::new(&engine, &wasm)?;
    let art = module.serialize();
    // The payload holds the wasm (length-prefixed) right before the code (length-prefixed).
    let at = art.windows(wasm.len()).position(|w| w == &wasm[..]).ok_or("wasm not found in the artifact")?;
    let code_len_at = at + wasm.len();
    let len = u64::from_le_bytes(art[code_len_at..code_len_at + 8].try_into()?) as usize;
    std::fs::write(out, &art[code_len_at + 8..code_len_at + 8 + len])?;
    println!("{len} bytes of code");
    Ok(())
}
