//! Not a benchmark (those live in benches/): an ignored probe that prints rough Keel vs
//! wasmi timings for a couple of shapes, for a quick sanity check during development.

use keel_engine::{Config, Engine, Linker, Module, Store};

const WAT: &str = r#"(module
  (memory 1)
  (func $fib (export "fib") (param i64) (result i64)
    local.get 0 i64.const 2 i64.lt_u
    if (result i64) local.get 0
    else local.get 0 i64.const 1 i64.sub call $fib local.get 0 i64.const 2 i64.sub call $fib i64.add end)
  (func (export "loop") (param i32) (result i32) (local i32 i32)
    block loop
      local.get 1 local.get 0 i32.ge_u br_if 1
      local.get 1 i32.const 4 i32.mul i32.const 4095 i32.and
      local.get 1 local.get 2 i32.xor i32.store
      local.get 2 local.get 1 i32.const 4 i32.mul i32.const 4095 i32.and i32.load i32.add local.set 2
      local.get 1 i32.const 1 i32.add local.set 1
      br 0
    end end
    local.get 2))"#;

#[test]
#[ignore]
fn perf_probe() {
    let wasm = wat::parse_str(WAT).unwrap();
    let engine = Engine::new(Config::default()).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_gas_limit(u64::MAX / 2);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    let fib = inst.get_typed_func::<(), i64, i64>(&mut store, "fib").unwrap();
    let lp = inst.get_typed_func::<(), i32, i32>(&mut store, "loop").unwrap();
    let t = std::time::Instant::now();
    let a = fib.call(&mut store, 30).unwrap();
    println!("keel fib(30) = {a} in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let b = lp.call(&mut store, 10_000_000).unwrap();
    println!("keel loop = {b} in {:?}", t.elapsed());

    let we = wasmi::Engine::default();
    let wm = wasmi::Module::new(&we, &wasm[..]).unwrap();
    let mut ws = wasmi::Store::new(&we, ());
    let wi = wasmi::Linker::<()>::new(&we).instantiate_and_start(&mut ws, &wm).unwrap();
    let wfib = wi.get_typed_func::<i64, i64>(&ws, "fib").unwrap();
    let wlp = wi.get_typed_func::<i32, i32>(&ws, "loop").unwrap();
    let t = std::time::Instant::now();
    let a = wfib.call(&mut ws, 30).unwrap();
    println!("wasmi fib(30) = {a} in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let b = wlp.call(&mut ws, 10_000_000).unwrap();
    println!("wasmi loop = {b} in {:?}", t.elapsed());
}
