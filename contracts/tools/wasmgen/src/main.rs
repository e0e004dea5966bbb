//! `keel-wasmgen ADVERSARIAL_DIR OUT_DIR` — run by `contracts/build.sh`.
//!
//! * Assembles every `ADVERSARIAL_DIR/NAME.wat` into `OUT_DIR/adv_NAME.wasm`.
//! * Generates the JIT-bomb modules (shapes that make compilers superlinear), each with
//!   the ABI entry points (`deploy`, `call`, `memory`), into `OUT_DIR/adv_jit_*.wasm`.
//!
//! Output is a pure function of the inputs and this program (no time, no paths, sorted
//! iteration), so the bytes are reproducible.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Wraps a flat-syntax function body into a module with the ABI entry points.
fn module(locals: &str, body: &str) -> String {
    format!(
        "(module\n  (memory (export \"memory\") 1)\n  (func (export \"deploy\"))\n  (func (export \"call\") {locals}\n{body}  ))\n"
    )
}

/// `depth` nested `block`s around a `nop`.
fn nested_blocks(depth: usize) -> String {
    let mut body = String::with_capacity(depth * 12);
    body.push_str(&"block\n".repeat(depth));
    body.push_str("nop\n");
    body.push_str(&"end\n".repeat(depth));
    module("", &body)
}

/// One `br_table` with `targets` labels alternating between two enclosing blocks.
fn br_table(targets: usize) -> String {
    let mut body = String::from("block\nblock\nlocal.get 0\nbr_table");
    for i in 0..targets {
        body.push_str(if i % 2 == 0 { " 0" } else { " 1" });
    }
    body.push_str(" 0\nend\nend\n");
    module("(local i32)", &body)
}

/// `depth` nested blocks; the innermost holds `tables` br_tables of `targets` labels each,
/// spread over every enclosing depth (each target is a different control frame to merge).
fn nested_br_tables(depth: usize, tables: usize, targets: usize) -> String {
    let mut body = "block\n".repeat(depth);
    for t in 0..tables {
        body.push_str("block\nlocal.get 0\nbr_table");
        for i in 0..targets {
            let _ = write!(body, " {}", (i * 7 + t) % (depth + 1));
        }
        body.push_str(" 0\nend\n");
    }
    body.push_str(&"end\n".repeat(depth));
    module("(local i32)", &body)
}

/// `count` i64 locals, each set from the previous one: a register-allocation / spill bomb.
fn many_locals(count: usize) -> String {
    let mut body = String::new();
    for i in 1..count {
        let _ = writeln!(body, "local.get {}\ni64.const 1\ni64.add\nlocal.set {i}", i - 1);
    }
    let _ = writeln!(body, "local.get {}\ndrop", count - 1);
    module(&format!("(local{})", " i64".repeat(count)), &body)
}

fn run(adversarial: &Path, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut wats: Vec<PathBuf> = std::fs::read_dir(adversarial)
        .map_err(|e| format!("{}: {e}", adversarial.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .collect();
    wats.sort();
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    for wat in &wats {
        let stem = wat.file_stem().and_then(|s| s.to_str()).ok_or("bad file name")?;
        let bytes = wat::parse_file(wat).map_err(|e| format!("{}: {e}", wat.display()))?;
        outputs.push((format!("adv_{stem}.wasm"), bytes));
    }
    let generated = [
        // Within the default profile (nesting depth 1 024): must compile in linear time.
        ("adv_jit_nested_blocks_1000.wasm", nested_blocks(1_000)),
        // Beyond the profile's nesting limit: must be rejected quickly by validation.
        ("adv_jit_nested_blocks_10000.wasm", nested_blocks(10_000)),
        // 100 000 br_table targets (about 100 KiB of body, within the 256 KiB limit).
        ("adv_jit_br_table_100k.wasm", br_table(100_000)),
        // 100 br_tables x 1 000 targets over 1 000 nested blocks.
        ("adv_jit_nested_br_tables.wasm", nested_br_tables(1_000, 100, 1_000)),
        // 9 999 locals (within the 10 000 limit) in one long dependency chain.
        ("adv_jit_many_locals.wasm", many_locals(9_999)),
    ];
    for (name, text) in generated {
        let bytes = wat::parse_str(&text).map_err(|e| format!("{name}: {e}"))?;
        outputs.push((name.to_string(), bytes));
    }
    for (name, bytes) in outputs {
        let path = out.join(&name);
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{name:40} {:>8} bytes", bytes.len());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: keel-wasmgen ADVERSARIAL_DIR OUT_DIR");
        return ExitCode::from(2);
    }
    match run(Path::new(&args[1]), Path::new(&args[2])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-wasmgen: {e}");
            ExitCode::FAILURE
        }
    }
}
