//! Runs `keel_metering::analyze` (or, with argument `validate`, plain wasmparser validation
//! as the baseline) on the large generated module, or on a `.wasm` file, a few times, for
//! profiling under `valgrind --tool=callgrind` (instruction counts, repeatable on a noisy
//! machine).
//!
//! `cargo build --release -p keel-benches --example profile_analyze &&
//!  valgrind --tool=callgrind target/release/examples/profile_analyze [validate] [FILE.wasm]`

fn main() {
    let file = std::env::args().skip(1).find(|a| a.ends_with(".wasm"));
    let wasm = match file {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")),
        None => keel_benches::large_module(2_000),
    };
    let costs = keel_metering::CostTable::default();
    let profile = keel_metering::Profile::permissive();
    let mut blocks = 0usize;
    if std::env::args().nth(1).as_deref() == Some("validate") {
        for _ in 0..3 {
            wasmparser::Validator::new_with_features(keel_metering::allowed_features())
                .validate_all(&wasm)
                .expect("valid module");
        }
        println!("{} bytes validated", wasm.len());
        return;
    }
    for _ in 0..3 {
        let (_, a) = keel_metering::analyze(&wasm, &profile, &costs).expect("valid module");
        blocks += a.functions.iter().map(|f| f.charges.len()).sum::<usize>();
    }
    println!("{} bytes, {blocks} charges", wasm.len());
}
