//! Definite assignment (`FunctionAnalysis::zero_observed`, `maybe_zero_reads`): a local is
//! "zero observed" unless every path from the function's entry to each reachable read of
//! it passes a write. A compiler skips zeroing the others, so a wrong "not observed"
//! would let a read see a stale value: every case below where a path skips the write
//! must stay observed.

use keel_metering::{analyze, CostTable, Profile, ASSIGNMENT_TRACKED};

/// `zero_observed` for local 1 (local 0 is the parameter) of the one function in `body`.
fn observed(body: &str) -> bool {
    let wat = format!("(module (func (param i32) (local i32 i32) {body}))");
    let wasm = wat::parse_str(&wat).unwrap_or_else(|e| panic!("{body}: {e}"));
    let (_, a) = analyze(&wasm, &Profile::permissive(), &CostTable::default()).expect("valid");
    let f = &a.functions[0];
    assert!(!f.zero_observed(0), "a parameter always has a value");
    f.zero_observed(1)
}

#[test]
fn reads_on_paths_that_skip_the_write_observe_zero() {
    let cases = [
        // Read before any write.
        "local.get 1 drop",
        "block local.get 1 drop end i32.const 1 local.set 1",
        // A branch around the write.
        "block local.get 0 br_if 0 i32.const 1 local.set 1 end local.get 1 drop",
        // An if without else.
        "local.get 0 if i32.const 1 local.set 1 end local.get 1 drop",
        // Only the else-branch writes.
        "local.get 0 if nop else i32.const 1 local.set 1 end local.get 1 drop",
        // A br_table target that skips it.
        "block block local.get 0 br_table 0 1 end i32.const 1 local.set 1 end local.get 1 drop",
        // The first iteration reads before the write later in the loop.
        "loop local.get 1 drop i32.const 1 local.set 1 local.get 0 br_if 0 end",
        // Written inside a loop the branch leaves before the write.
        "block loop local.get 0 br_if 1 i32.const 1 local.set 1 br 0 end end local.get 1 drop",
        // Another local written, not this one.
        "i32.const 1 local.set 2 local.get 1 drop",
    ];
    for body in cases {
        assert!(observed(body), "{body}: a path reads the initial zero");
    }
}

#[test]
fn reads_after_writes_on_every_path_do_not() {
    let cases = [
        // Never read.
        "i32.const 1 local.set 1",
        // Written first at the top.
        "i32.const 1 local.set 1 local.get 1 drop",
        // local.tee writes.
        "i32.const 1 local.tee 1 drop block local.get 1 drop end",
        // Written inside a block that every path runs to its end.
        "block i32.const 1 local.set 1 end local.get 1 drop",
        // Both branches of an if.
        "local.get 0 if i32.const 1 local.set 1 else i32.const 2 local.set 1 end local.get 1 drop",
        // The branch that skips the write also leaves the function.
        "block local.get 0 br_if 0 i32.const 1 local.set 1 end return",
        "local.get 0 if return end i32.const 1 local.set 1 local.get 1 drop",
        // Written before a loop, read inside it.
        "i32.const 1 local.set 1 loop local.get 1 drop local.get 0 br_if 0 end",
        // Written before the branch out of the block.
        "block i32.const 1 local.set 1 local.get 0 br_if 0 end local.get 1 drop",
        // A read in unreachable code.
        "return local.get 1 drop",
        "block br 0 local.get 1 drop end i32.const 1 local.set 1",
    ];
    for body in cases {
        assert!(!observed(body), "{body}: every path writes before reading");
    }
}

/// Locals past the tracked ones fall back to the simpler rule (first access a write
/// outside every block).
#[test]
fn untracked_locals_fall_back_to_the_first_access_rule() {
    let n = ASSIGNMENT_TRACKED + 2;
    let declared = "i32 ".repeat(n as usize);
    let last = n - 1;
    let wat = format!(
        "(module (func (local {declared})
            block i32.const 1 local.set {last} end local.get {last} drop
            i32.const 1 local.set 1 local.get 1 drop
            block i32.const 1 local.set 2 end local.get 2 drop))"
    );
    let wasm = wat::parse_str(&wat).unwrap();
    let (_, a) = analyze(&wasm, &Profile::permissive(), &CostTable::default()).expect("valid");
    let f = &a.functions[0];
    // Untracked and written in a block first: conservatively observed.
    assert!(f.zero_observed(last));
    // Tracked: both proven.
    assert!(!f.zero_observed(1));
    assert!(!f.zero_observed(2));
}
