//! JIT bombs: shapes that make compilers superlinear must compile (in one linear pass) and
//! run correctly. No timing assertions: the benches measure speed.

use keel_engine::{Config, Engine, Linker, Module, Store, Val};

fn run_i32(wat: &str, args: &[Val]) -> i32 {
    let engine = Engine::new(Config::permissive()).unwrap();
    let wasm = wat::parse_str(wat).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(u64::MAX / 2);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = inst.get_func(&mut store, "f").unwrap();
    let mut res = [Val::I32(0)];
    f.call(&mut store, args, &mut res).unwrap();
    res[0].i32().unwrap()
}

#[test]
fn deep_nesting_10000() {
    let n = 10_000;
    let mut w = String::from(r#"(module (func (export "f") (result i32)"#);
    for _ in 0..n {
        w.push_str(" (block (result i32)");
    }
    w.push_str(" i32.const 7");
    for _ in 0..n {
        w.push_str(" i32.const 1 i32.add)");
    }
    w.push_str("))");
    assert_eq!(run_i32(&w, &[]), 7 + n);
}

#[test]
fn deep_loops_with_branches() {
    let n = 5_000;
    let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32)"#);
    for _ in 0..n {
        w.push_str(" (loop (result i32) (block (result i32)");
    }
    w.push_str(" local.get 0 local.get 0 br_if 0");
    for _ in 0..n {
        w.push_str(" i32.const 2 i32.mul))");
    }
    w.push_str("))");
    // br_if 0 leaves the innermost block with local 0 when nonzero; every level then
    // doubles it: 3 * 2^5000 wraps to 0 in i32.
    assert_eq!(run_i32(&w, &[Val::I32(3)]), 0);
    // With 0 the br_if falls through, leaving the first local.get 0 (= 0) as well.
    assert_eq!(run_i32(&w, &[Val::I32(0)]), 0);
}

#[test]
fn br_table_100000_targets() {
    let n = 100_000;
    let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32)
        (block $b (result i32) (block $a (result i32) i32.const 10 local.get 0 br_table"#);
    for i in 0..n {
        w.push_str(if i % 2 == 0 { " $a" } else { " $b" });
    }
    w.push_str(r#" $a) i32.const 1 i32.add) i32.const 100 i32.add))"#);
    assert_eq!(run_i32(&w, &[Val::I32(0)]), 111);
    assert_eq!(run_i32(&w, &[Val::I32(1)]), 110);
    assert_eq!(run_i32(&w, &[Val::I32(99_999)]), 110);
    assert_eq!(run_i32(&w, &[Val::I32(-1)]), 111); // default
}

#[test]
fn many_locals_50000() {
    let n = 49_990;
    let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32) (local"#);
    for _ in 0..n {
        w.push_str(" i64");
    }
    w.push_str(&format!(
        r#") local.get {n} i32.wrap_i64 local.get 0 i32.add
           local.get 0 i64.extend_i32_u local.set {n}
           local.get {n} i32.wrap_i64 i32.add))"#
    ));
    assert_eq!(run_i32(&w, &[Val::I32(21)]), 42);
}

#[test]
fn huge_function_and_deep_value_stack() {
    let n = 20_000;
    let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32)"#);
    for i in 0..n {
        // Alternate constants and locals so registers, constants and spills all occur.
        if i % 3 == 0 {
            w.push_str(" local.get 0");
        } else {
            w.push_str(" i32.const 1");
        }
    }
    for _ in 1..n {
        w.push_str(" i32.add");
    }
    w.push_str("))");
    let locals = (n + 2) / 3;
    let consts = n - locals;
    assert_eq!(run_i32(&w, &[Val::I32(5)]), 5 * locals + consts);
}

fn code_size(wat: &str) -> usize {
    let engine = Engine::new(Config::permissive()).unwrap();
    Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap().code_size()
}

/// Linearity without timing: machine code grows in proportion to the input (4x input,
/// at most ~4x code), for each bomb shape.
#[test]
fn code_size_is_linear_in_input() {
    let nest = |n: usize| {
        let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32)"#);
        for _ in 0..n {
            w.push_str(" (block (result i32) (loop (result i32)");
        }
        w.push_str(" local.get 0 local.get 0 br_if 1");
        for _ in 0..n {
            w.push_str(" i32.const 1 i32.add) local.get 0 br_if 0)");
        }
        w.push_str("))");
        w
    };
    let table = |n: usize| {
        let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32)
            (block $b (result i32) (block $a (result i32) i32.const 1 local.get 0 br_table"#);
        for i in 0..n {
            w.push_str(if i % 2 == 0 { " $a" } else { " $b" });
        }
        w.push_str(" $a) drop i32.const 2)))");
        w
    };
    let stack = |n: usize| {
        let mut w = String::from(r#"(module (func (export "f") (param i32) (result i32)"#);
        for _ in 0..n {
            w.push_str(" local.get 0 i32.const 3");
        }
        for _ in 0..2 * n - 1 {
            w.push_str(" i32.add");
        }
        w.push_str("))");
        w
    };
    for (name, shape) in [("nesting", &nest as &dyn Fn(usize) -> String), ("br_table", &table), ("value stack", &stack)] {
        let small = code_size(&shape(2_000));
        let big = code_size(&shape(8_000));
        let ratio = big as f64 / small as f64;
        assert!(ratio < 4.4, "{name}: code grew {ratio:.2}x for 4x input");
    }
}
