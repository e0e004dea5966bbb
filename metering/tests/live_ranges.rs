//! Live ranges (`FunctionAnalysis::live_ranges`): for each local, the operators from its
//! first access to its last, each end widened to the whole outermost loop around it. A
//! compiler lets locals whose ranges are disjoint share a register, so a range that ends
//! too early or starts too late would let a write to one local clobber another's value.
//! Operator indices count from 0 over the body (the final `end` included).

use keel_metering::{analyze, CostTable, LiveRange, Profile};

/// The live ranges of the one function in `body`, which has one i32 parameter and three
/// i32 locals (locals 1 to 3).
fn ranges(body: &str) -> Vec<(u32, u32)> {
    let wat = format!("(module (func (param i32) (local i32 i32 i32) {body}))");
    let wasm = wat::parse_str(&wat).unwrap_or_else(|e| panic!("{body}: {e}"));
    let (_, a) = analyze(&wasm, &Profile::permissive(), &CostTable::default()).expect("valid");
    a.functions[0].live_ranges.iter().map(|r| (r.start, r.end)).collect()
}

const UNTOUCHED: (u32, u32) = (LiveRange::UNTOUCHED.start, LiveRange::UNTOUCHED.end);

#[test]
fn straight_line_ranges_run_from_first_to_last_access() {
    // 0: i32.const, 1: local.set 1, 2: local.get 1, 3: local.set 2, 4: local.get 2,
    // 5: drop, 6: end
    let r = ranges("i32.const 7 local.set 1 local.get 1 local.set 2 local.get 2 drop");
    assert_eq!(r, vec![UNTOUCHED, (1, 2), (3, 4), UNTOUCHED]);
}

#[test]
fn accesses_in_a_loop_cover_the_whole_loop() {
    // 0: i32.const, 1: local.set 1, 2: loop, 3: local.get 1, 4: drop, 5: i32.const,
    // 6: local.set 2, 7: local.get 2, 8: drop, 9: local.get 0, 10: br_if, 11: end,
    // 12: i32.const, 13: local.set 3, 14: end
    let body = "i32.const 1 local.set 1 \
                loop local.get 1 drop i32.const 2 local.set 2 local.get 2 drop local.get 0 br_if 0 end \
                i32.const 3 local.set 3";
    let r = ranges(body);
    // Local 1 is read at the loop's top only: live to the loop's end (the back edge
    // reads it again). Local 2 is first written inside: live from the loop's start.
    assert_eq!(r[1], (1, 11));
    assert_eq!(r[2], (2, 11));
    assert_eq!(r[0], (2, 11), "the parameter, read in the loop only");
    // After the loop: not widened.
    assert_eq!(r[3], (13, 13));
}

#[test]
fn nested_loops_widen_to_the_outermost() {
    // 0: loop, 1: loop, 2: local.get 0, 3: br_if 0, 4: i32.const, 5: local.set 1, 6: end,
    // 7: local.get 0, 8: br_if 0, 9: end, 10: local.get 1, 11: drop, 12: end
    let body = "loop loop local.get 0 br_if 0 i32.const 1 local.set 1 end local.get 0 br_if 0 end \
                local.get 1 drop";
    let r = ranges(body);
    assert_eq!(r[1], (0, 10), "the outer loop's start to the read after it");
    assert_eq!(r[0], (0, 9), "the parameter: both loops");
    // Two loops one after the other widen separately.
    // 0: loop, 1: local.get 1, 2: drop, 3: local.get 0, 4: br_if, 5: end,
    // 6: loop, 7: local.get 2, 8: drop, 9: local.get 0, 10: br_if, 11: end, 12: end
    let body = "loop local.get 1 drop local.get 0 br_if 0 end loop local.get 2 drop local.get 0 br_if 0 end";
    let r = ranges(body);
    assert_eq!((r[1], r[2]), ((0, 5), (6, 11)));
}
