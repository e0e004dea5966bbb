//! Linear memories and guest stacks are recycled across the stores of one engine
//! (`engine/src/runtime/memory.rs`, `code.rs`): a store must never see anything an earlier
//! store wrote, whatever sizes the two used.

use keel_engine::{Config, Engine, Linker, Module, Store};

/// `fill(v)` writes `v` into every byte of the memory after growing it to `grow` more
/// pages; `sum()` adds up every byte; `size()` is the size in pages.
fn module(engine: &Engine, initial: u32) -> Module {
    let wat = format!(
        r#"(module
  (memory (export "memory") {initial} 64)
  (func (export "fill") (param $v i32) (param $grow i32)
    (drop (memory.grow (local.get $grow)))
    (memory.fill (i32.const 0) (local.get $v) (i32.mul (memory.size) (i32.const 65536))))
  (func (export "sum") (result i64)
    (local $p i32) (local $s i64) (local $end i32)
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $s (i64.add (local.get $s) (i64.load8_u (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "size") (result i32) (memory.size)))"#
    );
    Module::new(engine, &wat::parse_str(wat).unwrap()).unwrap()
}

#[test]
fn a_new_store_sees_only_zero_memory_of_its_own_size() {
    let engine = Engine::new(Config::default()).unwrap();
    let linker: Linker<()> = Linker::new();
    let big = module(&engine, 3);
    let small = module(&engine, 1);
    for round in 0..4 {
        // A store dirties every byte of a memory grown from 3 to 8 pages, then is dropped.
        {
            let mut store = Store::new(&engine, ());
            store.set_gas_limit(u64::MAX);
            let i = linker.instantiate(&mut store, &big).unwrap();
            let fill = i.get_typed_func::<(), (i32, i32), ()>(&mut store, "fill").unwrap();
            fill.call(&mut store, (0xFF, 5)).unwrap();
        }
        // The next stores, of either module, start from zero at their declared size, and
        // can grow into zero pages.
        for (m, pages) in [(&small, 1), (&big, 3)] {
            let mut store = Store::new(&engine, ());
            store.set_gas_limit(u64::MAX);
            let i = linker.instantiate(&mut store, m).unwrap();
            let size = i.get_typed_func::<(), (), i32>(&mut store, "size").unwrap();
            let sum = i.get_typed_func::<(), (), i64>(&mut store, "sum").unwrap();
            assert_eq!(size.call(&mut store, ()).unwrap(), pages, "round {round}");
            assert_eq!(sum.call(&mut store, ()).unwrap(), 0, "round {round}: fresh memory of {pages} pages is zero");
            let fill = i.get_typed_func::<(), (i32, i32), ()>(&mut store, "fill").unwrap();
            fill.call(&mut store, (0, 6)).unwrap();
            assert_eq!(size.call(&mut store, ()).unwrap(), pages + 6);
            assert_eq!(sum.call(&mut store, ()).unwrap(), 0, "round {round}: grown pages are zero");
        }
    }
}
