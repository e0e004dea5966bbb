//! The compile pipeline: validation + metering analysis + operator decoding
//! ([`keel_metering`]) feeding the code generator ([`ModuleCompiler`]), on one thread or
//! on two ([`crate::Config::parallel_compilation`]).
//!
//! On one thread, [`keel_metering::analyze_each`] calls the code generator for each
//! function as soon as it is validated. On two, one of the engine's kept threads
//! ([`crate::helper`]: starting a thread per module would cost as much as compiling a few
//! kilobytes) runs [`keel_metering::analyze_each_mut`] and sends the functions' analyses and decoded
//! operators, in batches, through a bounded channel to the calling thread, which generates
//! their code in function order: the same calls on the same inputs in the same order, so
//! the code is byte-identical. Emptied batches go back to the validating thread, which
//! swaps their buffers into the walk for the next functions, so allocation stays
//! amortized O(1) per function and memory is bounded by [`BATCHES_IN_FLIGHT`] batches.
//!
//! Errors keep the one-thread precedence: a validation error anywhere in the module wins
//! over a compile error, and the first compile error wins over later ones. When code
//! generation fails, the calling thread drops its receiver: the validating thread stops
//! sending (its next send fails, never blocks) and validates the rest of the module.
//! When validation fails, the validating thread drops its sender: the calling thread's
//! receive loop ends. Neither side can wait on the other forever.

use std::sync::mpsc::{self, Receiver, SyncSender};

use keel_metering::{FunctionAnalysis, ModuleInfo, ValidationError, WalkBuffers};
use wasmparser::Operator;

use crate::compiler::{CompileEnv, ModuleCompiler};
use crate::engine::{CompileBuffers, Config, PARALLEL_COMPILATION_MIN_CODE_BYTES};
use crate::error::Error;
use crate::helper::HelperThreads;
use crate::masm::{CompiledCode, MacroAssembler};

/// One validated function on its way to the code generator: its analysis and its decoded
/// operators (the final `end` included).
type Item<'a> = (FunctionAnalysis, Vec<Operator<'a>>);

/// The first batch is sent once it holds this many operators (a function is never split),
/// so that the code generator starts early; each next batch's target doubles, up to
/// [`batch_cap`]: few handoffs on large modules (each costs tens of microseconds when a
/// thread must be woken), and a short tail (the last batch's code generation, which
/// nothing overlaps).
const FIRST_BATCH_OPERATORS: usize = 512;

/// The largest batch target, in operators, for a code section of `code_bytes` bytes:
/// about a sixteenth of its operators (wasm code averages about two bytes per operator),
/// and at least 2,048.
fn batch_cap(code_bytes: u64) -> usize {
    usize::try_from(code_bytes / 32).unwrap_or(usize::MAX).max(2048)
}

/// Batches queued between the two threads at most (the channel's bound). With the batch
/// being filled and the one being compiled, at most `BATCHES_IN_FLIGHT + 2` batches exist.
const BATCHES_IN_FLIGHT: usize = 4;

/// Validates, analyzes and compiles `wasm` (whose code section holds `code_bytes` bytes)
/// with `masm`: on two threads (the second one of `helpers`) when
/// `cfg.parallel_compilation` is on and the code section is at least
/// [`PARALLEL_COMPILATION_MIN_CODE_BYTES`], else (or when no second thread can be
/// started) on the calling thread. `defined` is the number of defined functions. The
/// walk's and the code generator's buffers come from `buffers` and go back there (the
/// code buffer is `masm`'s).
///
/// Errors: [`Error::Validation`] for a module the profile rejects, taking precedence over
/// [`Error::Compile`] (the first function that fails to compile, or the ISA's limits in
/// `finish`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn compile<M: MacroAssembler>(
    masm: M,
    wasm: &[u8],
    cfg: &Config,
    env: &CompileEnv,
    defined: usize,
    code_bytes: u64,
    helpers: &HelperThreads,
    buffers: &mut CompileBuffers,
) -> Result<(ModuleInfo, CompiledCode), Error> {
    let scratch = std::mem::take(&mut buffers.codegen);
    let mut compiler = ModuleCompiler::with_scratch(masm, env, &cfg.cost_table, defined, scratch);
    let two = cfg.parallel_compilation && code_bytes >= PARALLEL_COMPILATION_MIN_CODE_BYTES;
    let walk = &mut buffers.walk;
    let outcome = match two.then(|| two_threads(&mut compiler, wasm, cfg, code_bytes, helpers, walk)).flatten() {
        Some(outcome) => outcome,
        None => one_thread(&mut compiler, wasm, cfg, walk),
    };
    buffers.codegen = compiler.take_scratch();
    let info = outcome?;
    Ok((info, compiler.finish()?))
}

/// Each function compiled as soon as it is validated, on the calling thread.
fn one_thread<M: MacroAssembler>(
    compiler: &mut ModuleCompiler<'_, M>,
    wasm: &[u8],
    cfg: &Config,
    walk: &mut WalkBuffers,
) -> Result<ModuleInfo, Error> {
    let (info, compiled) = keel_metering::analyze_each_with(wasm, &cfg.profile, &cfg.cost_table, walk, |fa, ops| {
        compiler.compile_analyzed(fa, ops, wasm)
    })?;
    compiled?;
    Ok(info)
}

/// Validation on one of the engine's kept threads, code generation on this one. `None`
/// when no thread could be started (nothing was compiled: the caller falls back to one
/// thread).
fn two_threads<M: MacroAssembler>(
    compiler: &mut ModuleCompiler<'_, M>,
    wasm: &[u8],
    cfg: &Config,
    code_bytes: u64,
    helpers: &HelperThreads,
    walk: &mut WalkBuffers,
) -> Option<Result<ModuleInfo, Error>> {
    let (to_compiler, batches) = mpsc::sync_channel::<Vec<Item<'_>>>(BATCHES_IN_FLIGHT);
    let (to_validator, recycled) = mpsc::channel::<Vec<Item<'_>>>();
    let validate = move || validate_and_send(wasm, cfg, code_bytes, to_compiler, recycled, walk);
    let generate = move || {
        let mut compiled = Ok(());
        'receive: while let Some(batch) = receive(&batches) {
            for (fa, ops) in &batch {
                compiled = compiler.compile_analyzed(fa, ops, wasm);
                if compiled.is_err() {
                    break 'receive;
                }
            }
            // The validating thread may be done already: then the batch is just dropped.
            let _ = to_validator.send(batch);
        }
        // Returning drops `batches`: after a compile error, the validating thread's next
        // send fails, and it goes on validating without sending.
        compiled
    };
    let (validated, compiled) = helpers.join(validate, generate)?;
    let validated = match validated {
        Ok(validated) => validated,
        // A panic in validation is a bug; it surfaces as it would on one thread.
        Err(panic) => std::panic::resume_unwind(panic),
    };
    Some(match (validated, compiled) {
        (Err(e), _) => Err(e.into()),
        (Ok(_), Err(e)) => Err(e.into()),
        (Ok(info), Ok(())) => Ok(info),
    })
}

/// How long the code generator polls an empty channel before it sleeps in a blocking
/// receive. Waking a sleeping thread took 15-35 µs on the 2-core virtual machine this was
/// measured on (a channel round trip between two threads: 30-70 µs); a batch usually
/// arrives sooner than that. Each poll yields the CPU: if the validating thread shares
/// this core, it runs (busy-waiting instead made ed25519_verifier's two-thread compile
/// time swing between 0.95x and 1.16x of one thread's; yielding, 1.27-1.30x).
const POLL_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_micros(30);

/// The next batch: polled (yielding) for [`POLL_BEFORE_SLEEP`], then waited for. `None` once the
/// validating thread is done and every batch was received.
fn receive<T>(batches: &Receiver<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        match batches.try_recv() {
            Ok(batch) => return Some(batch),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if start.elapsed() < POLL_BEFORE_SLEEP => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Empty) => return batches.recv().ok(),
        }
    }
}

/// The validating thread: validates and analyzes all of `wasm`, sending the functions in
/// batches while the code generator listens, and reusing the buffers it sends back.
fn validate_and_send<'a>(
    wasm: &'a [u8],
    cfg: &Config,
    code_bytes: u64,
    to_compiler: SyncSender<Vec<Item<'a>>>,
    recycled: Receiver<Vec<Item<'a>>>,
    walk: &mut WalkBuffers,
) -> Result<ModuleInfo, ValidationError> {
    let mut to_compiler = Some(to_compiler);
    // Buffers the code generator is done with, and emptied batch vectors.
    let mut spare: Vec<Item<'a>> = Vec::new();
    let mut empty_batches: Vec<Vec<Item<'a>>> = Vec::new();
    let mut batch: Vec<Item<'a>> = Vec::new();
    let mut batch_operators = 0usize;
    let mut batch_target = FIRST_BATCH_OPERATORS;
    let cap = batch_cap(code_bytes);
    let info = keel_metering::analyze_each_mut_with(wasm, &cfg.profile, &cfg.cost_table, walk, |fa, ops| {
        let Some(sender) = &to_compiler else {
            return; // the code generator stopped: validate only
        };
        if spare.is_empty() {
            while let Ok(mut returned) = recycled.try_recv() {
                spare.append(&mut returned);
                empty_batches.push(returned);
            }
        }
        let mut item = spare.pop().unwrap_or_default();
        // The walk gets the recycled buffers back (and clears them) for the next function.
        std::mem::swap(fa, &mut item.0);
        std::mem::swap(ops, &mut item.1);
        batch_operators += item.1.len();
        batch.push(item);
        if batch_operators >= batch_target {
            let full = std::mem::replace(&mut batch, empty_batches.pop().unwrap_or_default());
            batch_operators = 0;
            batch_target = batch_target.saturating_mul(2).min(cap);
            if sender.send(full).is_err() {
                to_compiler = None;
            }
        }
    })?;
    if let Some(sender) = &to_compiler {
        if !batch.is_empty() {
            // An error means the code generator stopped; it will report why.
            let _ = sender.send(batch);
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    //! The two-thread route against the one-thread route on small inputs (below the size
    //! from which `Module::new` would take it), and compile errors in the middle of the
    //! stream: valid modules cannot make today's code generator fail (wasmparser's limits
    //! keep frames far below `FrameTooLarge`), so these tests give the compiler fewer
    //! defined functions than the module has, which makes `compile_function` fail with
    //! `CompileError::Internal` at the first function past that count.

    use super::*;
    use crate::error::CompileError;
    use crate::isa::aarch64::masm::Aarch64Masm;
    use crate::isa::x64::masm::X64Masm;
    use crate::isa::Isa;
    use crate::module::ModuleMeta;

    /// Compiles `wasm` on one or two threads for `cfg.isa`, telling the compiler that the
    /// module defines `defined` functions (its real count when `None`).
    fn run(cfg: &Config, wasm: &[u8], two: bool, defined: Option<usize>) -> Result<(ModuleInfo, Vec<u8>), Error> {
        let meta = ModuleMeta::parse(wasm)?;
        let env = meta.compile_env();
        let defined = defined.unwrap_or(meta.func_types.len() - meta.imported_funcs as usize);
        match cfg.isa {
            Isa::X64 => run_with(X64Masm::new(), cfg, wasm, &env, defined, two),
            Isa::Aarch64 => run_with(Aarch64Masm::new(), cfg, wasm, &env, defined, two),
        }
    }

    fn run_with<M: MacroAssembler>(
        masm: M,
        cfg: &Config,
        wasm: &[u8],
        env: &CompileEnv,
        defined: usize,
        two: bool,
    ) -> Result<(ModuleInfo, Vec<u8>), Error> {
        let mut compiler = ModuleCompiler::new(masm, env, &cfg.cost_table, defined);
        let info = if two {
            let walk = &mut WalkBuffers::default();
            two_threads(&mut compiler, wasm, cfg, 0, &HelperThreads::default(), walk).expect("the validating thread starts")?
        } else {
            one_thread(&mut compiler, wasm, cfg, &mut WalkBuffers::default())?
        };
        Ok((info, compiler.finish()?.code))
    }

    /// `n` functions; function `i` has `i % 7` adds in a loop (so batches hold varying
    /// numbers of functions) and every 50th is large (a batch of its own).
    fn many_functions(n: usize, broken_last: bool) -> Vec<u8> {
        let mut w = String::from("(module (memory 1)");
        for i in 0..n {
            w.push_str("(func (param i32) (result i32) (local i32) (loop $l local.get 0 i32.const 1 i32.sub local.tee 0 br_if $l)");
            let adds = if i % 50 == 49 { 2_000 } else { i % 7 };
            w.push_str(" local.get 1");
            for _ in 0..adds {
                w.push_str(" i32.const 3 i32.add");
            }
            if broken_last && i + 1 == n {
                w.push_str(" i64.const 1 i32.add"); // type mismatch: a validation error
            }
            w.push(')');
        }
        w.push(')');
        wat::parse_str(&w).expect("wat")
    }

    #[test]
    fn two_threads_emit_the_code_of_one_thread() {
        for isa in Isa::ALL {
            let cfg = Config { isa, ..Config::permissive() };
            for n in [1, 2, 30, 400] {
                let wasm = many_functions(n, false);
                let one = run(&cfg, &wasm, false, None).expect("compiles");
                let two = run(&cfg, &wasm, true, None).expect("compiles");
                assert_eq!(one.0, two.0, "{isa} {n}: module info");
                assert!(!one.1.is_empty());
                assert!(one.1 == two.1, "{isa} {n}: code differs between one and two threads");
            }
            let unmetered = cfg.clone().without_metering();
            let wasm = many_functions(120, false);
            let one = run(&unmetered, &wasm, false, None).expect("compiles");
            let two = run(&unmetered, &wasm, true, None).expect("compiles");
            assert!(one.1 == two.1, "{isa} unmetered: code differs");
        }
    }

    #[test]
    fn a_compile_error_mid_stream_is_the_same_on_two_threads() {
        let cfg = Config::permissive();
        let wasm = many_functions(300, false);
        for defined in [0, 3, 120, 299] {
            let one = run(&cfg, &wasm, false, Some(defined)).map(|_| ());
            let two = run(&cfg, &wasm, true, Some(defined)).map(|_| ());
            let expected = Err(Error::Compile(CompileError::Internal("more function bodies than functions".into())));
            assert_eq!(one, expected, "one thread, {defined} defined");
            assert_eq!(two, expected, "two threads, {defined} defined");
        }
    }

    #[test]
    fn a_late_validation_error_wins_over_an_earlier_compile_error_on_two_threads() {
        let cfg = Config::permissive();
        let wasm = many_functions(300, true);
        let expected = keel_metering::validate(&wasm, &cfg.profile).expect_err("invalid module");
        for defined in [None, Some(0), Some(5), Some(250)] {
            let one = run(&cfg, &wasm, false, defined).map(|_| ());
            let two = run(&cfg, &wasm, true, defined).map(|_| ());
            assert_eq!(one, Err(Error::Validation(expected.clone())), "one thread, {defined:?}");
            assert_eq!(two, Err(Error::Validation(expected.clone())), "two threads, {defined:?}");
        }
    }

    #[test]
    fn a_validation_error_in_the_first_function_ends_both_threads() {
        let cfg = Config::permissive();
        let wasm = many_functions(1, true);
        let expected = keel_metering::validate(&wasm, &cfg.profile).expect_err("invalid module");
        assert_eq!(run(&cfg, &wasm, true, None).map(|_| ()), Err(Error::Validation(expected)));
    }
}
