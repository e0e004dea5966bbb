//! Blocks that can neither trap nor leave a trace (`keel_metering::BlockCharge::pure`) have
//! their gas subtracted without a check on x86-64; the next checked charge, or the check
//! before the function returns, traps `OutOfGas`. Observably nothing may change: for every
//! gas limit around the points where the gas runs out, the outcome, gas used, memory and
//! globals must be those of wasmi over the reference instrumentation, which checks every
//! block. A loop made of pure blocks still stops: the block that branches back to it is
//! checked. A `br_if` that stays in its loop (forward inside the body, or back to the
//! header) subtracts the pending gas before it branches; one that leaves the loop pays it
//! in a stub on the taken edge.

mod common;
use common::differential::{run_one, DiffLimits};

/// Pure blocks returning to a caller that stores next, to the host, and around a loop.
const WAT: &str = r#"(module
  (memory (export "memory") 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (func $pure (param i32) (result i32)
    local.get 0 i32.const 3 i32.mul i32.const 7 i32.add local.set 0
    block
      local.get 0 i32.const 100 i32.gt_u br_if 0
      local.get 0 i32.const 2 i32.shl local.set 0
    end
    local.get 0 i32.const 5 i32.xor)
  (func (export "caller") (param i32) (result i32)
    i32.const 0 local.get 0 call $pure i32.store
    i32.const 1 global.set $g
    i32.const 0 i32.load)
  (func (export "leaf") (param i32) (result i32)
    local.get 0 call $pure call $pure)
  (func (export "loop") (param i32) (result i32) (local i32)
    local.get 0 i32.const 20 i32.add local.set 0
    block loop
      local.get 0 i32.eqz br_if 1
      local.get 1 i32.const 3 i32.add local.set 1
      local.get 0 i32.const 1 i32.sub local.set 0
      br 0
    end end
    i32.const 8 local.get 1 i32.store
    local.get 1)
  ;; a branch that skips forward inside a loop's body, and one back to the loop's
  ;; header: both stay in the loop, so both edges pay the pending gas before the branch
  (func (export "skip_in_loop") (param i32) (result i32) (local i32)
    local.get 0 i32.const 10 i32.add local.set 0
    loop
      block
        local.get 1 local.get 0 i32.ne br_if 0
        local.get 1 return
      end
      i32.const 16 local.get 1 i32.store
      local.get 1 i32.const 1 i32.add local.set 1
      br 0
    end
    unreachable)
  (func (export "do_while") (param i32) (result i32) (local i32)
    local.get 0 i32.const 10 i32.add local.set 0
    loop
      local.get 1 i32.const 5 i32.add local.set 1
      local.get 0 i32.const 1 i32.sub local.tee 0
      br_if 0
    end
    i32.const 24 local.get 1 i32.store
    local.get 1)
  (func (export "spin") (param i32) (result i32)
    ;; a loop of pure blocks only: its branch back keeps a check in every iteration
    loop local.get 0 i32.const 1 i32.add local.set 0 br 0 end
    unreachable))"#;

#[test]
fn out_of_gas_in_unchecked_blocks_is_observably_the_reference() {
    let wasm = wat::parse_str(WAT).expect("wat");
    let config = keel_engine::Config::default();
    let (_, analysis) = keel_metering::analyze(&wasm, &config.profile, &config.cost_table).expect("valid");
    let pure = analysis.functions.iter().flat_map(|f| &f.charges).filter(|c| c.pure).count();
    assert!(pure >= 4, "the module must exercise unchecked charges ({pure} pure blocks)");
    for gas in 1..400u64 {
        match run_one(&wasm, false, DiffLimits { gas, stack_limit: 4_096 }) {
            Some(Ok(report)) => assert!(report.calls > 0),
            Some(Err(e)) => panic!("gas limit {gas}: Keel and the reference differ: {e}"),
            None => panic!("the profile rejected the module"),
        }
    }
    // The sweep covers running out of gas and finishing, for each export.
    let engine = keel_engine::Engine::new(config).expect("engine");
    let module = keel_engine::Module::new(&engine, &wasm).expect("compiles");
    for export in ["caller", "leaf", "loop", "skip_in_loop", "do_while", "spin"] {
        let (mut out_of_gas, mut finished) = (0, 0);
        for gas in 1..400u64 {
            let mut store = keel_engine::Store::new(&engine, ());
            store.set_gas_limit(gas);
            let inst = keel_engine::Linker::new().instantiate(&mut store, &module).expect("instantiates");
            let f = inst.get_func(&mut store, export).expect("export");
            let mut res = [keel_engine::Val::I32(0)];
            match f.call(&mut store, &[keel_engine::Val::I32(3)], &mut res) {
                Ok(()) => finished += 1,
                Err(keel_engine::Error::Trap(keel_engine::Trap::OutOfGas)) => out_of_gas += 1,
                Err(e) => panic!("{export} at gas {gas}: {e}"),
            }
        }
        if export == "spin" {
            assert_eq!(out_of_gas, 399, "spin never finishes");
        } else {
            assert!(out_of_gas > 0 && finished > 0, "{export}: {out_of_gas} out of gas, {finished} finished");
        }
    }
}
