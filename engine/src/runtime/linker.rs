//! [`Linker`]: names host functions and other instances' exports, and instantiates modules
//! against them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::instance::{WasmParams, WasmResults, WasmTy};
use super::store::{AsContextMut, Caller, Extern, HostFn, Instance};
use crate::error::{Error, Trap};
use crate::module::Module;
use crate::values::{FuncType, Val};

enum Definition<T> {
    Extern(Extern),
    Host(FuncType, HostFn<T>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::Host(t, f) => Definition::Host(t.clone(), f.clone()),
        }
    }
}

/// Resolves imports by `(module, name)`.
///
/// ```
/// use keel_engine::{Caller, Engine, Linker, Module, Store, Trap};
/// let engine = Engine::default();
/// let wasm = wat::parse_str(r#"(module
///     (import "env" "double" (func $d (param i32) (result i32)))
///     (func (export "f") (result i32) i32.const 21 call $d))"#).unwrap();
/// let module = Module::new(&engine, &wasm).unwrap();
/// let mut linker = Linker::<u32>::new();
/// linker.func_wrap("env", "double", |mut caller: Caller<'_, u32>, x: i32| -> Result<i32, Trap> {
///     *caller.data_mut() += 1;
///     caller.consume_gas(10)?;
///     Ok(x * 2)
/// });
/// let mut store = Store::new(&engine, 0u32);
/// store.set_gas_limit(1_000);
/// let instance = linker.instantiate(&mut store, &module).unwrap();
/// let f = instance.get_typed_func::<u32, (), i32>(&mut store, "f").unwrap();
/// assert_eq!(f.call(&mut store, ()).unwrap(), 42);
/// assert_eq!(*store.data(), 1);
/// ```
pub struct Linker<T> {
    defs: BTreeMap<(String, String), Definition<T>>,
}

impl<T> std::fmt::Debug for Linker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linker").field("definitions", &self.defs.len()).finish()
    }
}

impl<T> Default for Linker<T> {
    fn default() -> Self {
        Linker { defs: BTreeMap::new() }
    }
}

impl<T> Linker<T> {
    /// An empty linker.
    pub fn new() -> Linker<T> {
        Linker::default()
    }

    /// Defines `module::name` as an existing store item (shadowing any earlier one).
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.defs.insert((module.into(), name.into()), Definition::Extern(item));
        self
    }

    /// Defines every export of `instance` under the module name `module`.
    pub fn instance(&mut self, store: &mut impl AsContextMut<T>, module: &str, instance: Instance) -> &mut Self {
        for (name, ext) in instance.exports(store) {
            self.define(module, &name, ext);
        }
        self
    }

    /// Defines a host function with an untyped closure.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.defs.insert((module.into(), name.into()), Definition::Host(ty, Arc::new(f)));
        self
    }

    /// Defines a host function from a typed closure `Fn(Caller<T>, A1, ...) -> Result<R, Trap>`
    /// with up to eight wasm-typed parameters (see [`IntoHostFunc`]).
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        f: impl IntoHostFunc<T, Params, Results>,
    ) -> &mut Self {
        let (ty, hf) = f.into_host_func();
        self.defs.insert((module.into(), name.into()), Definition::Host(ty, hf));
        self
    }

    /// Instantiates `module`: resolves each import by name, checks its type, creates the
    /// instance, applies segments and runs the start function.
    ///
    /// Errors: [`Error::Link`] for a missing or mistyped import (nothing is created),
    /// [`Error::Trap`] when a segment is out of bounds or the start function traps.
    pub fn instantiate(&self, store: &mut impl AsContextMut<T>, module: &Module) -> Result<Instance, Error> {
        let mut externs = Vec::with_capacity(module.inner.meta.imports.len());
        for imp in &module.inner.meta.imports {
            let def = self
                .defs
                .get(&(imp.module.clone(), imp.name.clone()))
                .ok_or_else(|| Error::Link(format!("unknown import {}::{}", imp.module, imp.name)))?;
            externs.push(def.clone());
        }
        let inner = store.as_inner();
        let mut resolved = Vec::with_capacity(externs.len());
        for d in externs {
            resolved.push(match d {
                Definition::Extern(e) => e,
                Definition::Host(ty, f) => Extern::Func(inner.new_host_func(ty, f)),
            });
        }
        inner.instantiate(module, &resolved)
    }
}

/// Closures usable with [`Linker::func_wrap`]: `Fn(Caller<'_, T>, A...) -> Result<R, Trap>`
/// where every `A` is a [`WasmTy`] and `R` is a [`WasmResults`].
pub trait IntoHostFunc<T, Params, Results> {
    /// The signature and the untyped body.
    fn into_host_func(self) -> (FuncType, HostFn<T>);
}

macro_rules! into_host_func {
    ($($a:ident $i:tt),*) => {
        impl<T, Func, R, $($a),*> IntoHostFunc<T, ($($a,)*), R> for Func
        where
            Func: Fn(Caller<'_, T>, $($a),*) -> Result<R, Trap> + Send + Sync + 'static,
            R: WasmResults + IntoVals,
            $($a: WasmTy + 'static,)*
        {
            fn into_host_func(self) -> (FuncType, HostFn<T>) {
                let ty = FuncType { params: vec![$($a::ty()),*], results: R::types() };
                let hf: HostFn<T> = Arc::new(move |caller: Caller<'_, T>, _args: &[Val], results: &mut [Val]| {
                    #[allow(unused_variables)] let args = _args;
                    #[allow(unused_variables)]
                    let bad = || Trap::Host("host function argument type".into());
                    let r = (self)(caller, $($a::from_val(*args.get($i).ok_or_else(bad)?).ok_or_else(bad)?),*)?;
                    for (slot, v) in results.iter_mut().zip(r.into_vals()) {
                        *slot = v;
                    }
                    Ok(())
                });
                (ty, hf)
            }
        }
    };
}
into_host_func!();
into_host_func!(A 0);
into_host_func!(A 0, B 1);
into_host_func!(A 0, B 1, C 2);
into_host_func!(A 0, B 1, C 2, D 3);
into_host_func!(A 0, B 1, C 2, D 3, E 4);
into_host_func!(A 0, B 1, C 2, D 3, E 4, F 5);
into_host_func!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
into_host_func!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Results a typed host function returns.
pub trait IntoVals {
    /// The values.
    fn into_vals(self) -> Vec<Val>;
}

impl<A: WasmTy> IntoVals for A {
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
}

impl IntoVals for () {
    fn into_vals(self) -> Vec<Val> {
        Vec::new()
    }
}

impl<A: WasmTy, B: WasmTy> IntoVals for (A, B) {
    fn into_vals(self) -> Vec<Val> {
        vec![self.0.into_val(), self.1.into_val()]
    }
}

#[allow(dead_code)]
fn _assert_params<P: WasmParams>() {}
