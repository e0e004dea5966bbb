//! The compile pipeline: validation + metering analysis + operator decoding
//! ([`keel_metering`]) feeding the code generator ([`ModuleCompiler`]).
//!
//! Without [`crate::Config::parallel_compilation`], or for a module whose code section is
//! smaller than [`PARALLEL_COMPILATION_MIN_CODE_BYTES`], the module is compiled in one
//! pass on the calling thread: [`keel_metering::analyze_each`] calls the code generator
//! for each function as soon as it is validated.
//!
//! Otherwise it is compiled in *parts*: [`keel_metering::parse`] validates its
//! module-level sections and collects the function bodies, which are cut into about
//! [`PARTS`] runs of consecutive functions ([`plan_parts`], from the bodies' sizes alone).
//! Each part is validated, analyzed and compiled on its own, into code of its own
//! ([`ModuleCompiler::part`]), by whichever thread takes it next: the calling thread or
//! one of the engine's kept threads ([`crate::helper`]: starting a thread per module
//! would cost as much as compiling a few kilobytes). The threads share nothing but a
//! counter of the next part, so they never wait for each other until the end. The parts
//! are then appended in order ([`ModuleCompiler::append`]): the code does not depend on
//! which thread took what. It is the one-pass code byte for byte, except that on aarch64
//! a veneer island may be placed where a part starts (in code over 1 MiB, see
//! [`crate::masm::MacroAssembler::append`]). Appending costs a copy of the code; on one
//! thread that is about 3% of the compile's instructions for nothing, which is why one
//! thread compiles in one pass.
//!
//! Errors keep the one-pass precedence: a validation error anywhere in the module wins
//! over a compile error (every part is validated to its end, or to its first invalid body),
//! the first invalid body wins over later ones and over a module-level error after the
//! bodies ([`keel_metering::ParsedModule::finish`]), and the first compile error wins over
//! later ones.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use keel_metering::{ModuleInfo, ParsedModule, ValidationError, WalkBuffers};

use crate::compiler::{CompileEnv, CompiledPart, ModuleCompiler, Scratch};
use crate::engine::{CompileBuffers, Config, PARALLEL_COMPILATION_MIN_CODE_BYTES};
use crate::error::{CompileError, Error};
use crate::helper::{lock, HelperThreads};
use crate::masm::{CompiledCode, MacroAssembler};

/// The number of parts a large module's bodies are cut into (fewer when parts would hold
/// less than [`MIN_PART_BYTES`]). Threads take parts as they finish the previous one, so
/// the last to finish waits at most about one part for the other: with 16 parts, two
/// threads are both busy for about 97% of the work even when one part is twice the
/// average, and each part costs one code buffer and one copy of its code.
pub(crate) const PARTS: u64 = 16;

/// Least wasm code in a part, bytes.
const MIN_PART_BYTES: u64 = 4 << 10;

/// Machine code bytes reserved per byte of wasm code (x86-64 and aarch64 emit 3-6).
const CODE_BYTES_PER_WASM_BYTE: u64 = 8;

/// Validates, analyzes and compiles `wasm` (whose code section holds `code_bytes` bytes)
/// with `masm`: in parts on two threads (the second one of `helpers`) when
/// `cfg.parallel_compilation` is on and the code section holds at least
/// [`PARALLEL_COMPILATION_MIN_CODE_BYTES`] (the parts on the calling thread alone if no
/// second thread can be had), else in one pass. `defined` is the
/// number of defined functions. The walk's and the code generator's buffers come from
/// `buffers` and go back there (the code buffer is `masm`'s).
///
/// Errors: [`Error::Validation`] for a module the profile rejects, taking precedence over
/// [`Error::Compile`] (the first function that fails to compile, or the ISA's limits in
/// `finish`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn compile<M: MacroAssembler + Send + 'static>(
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
    let outcome = if cfg.parallel_compilation && code_bytes >= PARALLEL_COMPILATION_MIN_CODE_BYTES {
        in_parts(&mut compiler, wasm, cfg, code_bytes, Some(helpers), buffers)
    } else {
        one_pass(&mut compiler, wasm, cfg, &mut buffers.walk)
    };
    buffers.codegen = compiler.take_scratch();
    let info = outcome?;
    Ok((info, compiler.finish()?))
}

/// Each function compiled as soon as it is validated, on the calling thread.
fn one_pass<M: MacroAssembler>(
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

/// Cuts `parsed`'s bodies into runs of consecutive functions of about `code_bytes /
/// PARTS` bytes each (at least [`MIN_PART_BYTES`]; a body is never split), with each
/// run's wasm bytes. At least one part, possibly empty.
pub(crate) fn plan_parts(parsed: &ParsedModule<'_>, code_bytes: u64) -> Vec<(Range<usize>, u64)> {
    let target = (code_bytes / PARTS).max(MIN_PART_BYTES);
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for i in 0..parsed.len() {
        bytes += parsed.body_bytes(i);
        if bytes >= target {
            parts.push((start..i + 1, bytes));
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < parsed.len() || parts.is_empty() {
        parts.push((start..parsed.len(), bytes));
    }
    parts
}

/// What became of one part: its code (or the first compile error in it), and the first
/// body in it that failed validation, if any (the part's walk stopped there).
struct PartOutcome<M> {
    index: usize,
    compiled: Result<CompiledPart<M>, CompileError>,
    invalid: Option<(usize, ValidationError)>,
}

impl<M> PartOutcome<M> {
    /// Whether the part may be appended: compiled, and every body valid.
    fn appendable(&self) -> bool {
        self.compiled.is_ok() && self.invalid.is_none()
    }
}

/// Appends finished parts to the module's compiler in order, each as soon as its turn
/// comes, on whichever thread finishes it: the copies overlap the other thread's work
/// instead of following it.
struct Committer<'c, 'a, M: MacroAssembler> {
    compiler: Mutex<&'c mut ModuleCompiler<'a, M>>,
    /// The next part to append (advanced under `compiler`'s lock).
    next: AtomicUsize,
    /// Finished parts not appended yet, by index: those waiting for their turn, and any
    /// that cannot be appended (an error), which stop the appending.
    finished: Mutex<Vec<Option<PartOutcome<M>>>>,
}

impl<M: MacroAssembler> Committer<'_, '_, M> {
    /// Records a finished part and appends what can be.
    fn offer(&self, outcome: PartOutcome<M>) {
        let index = outcome.index;
        if let Some(slot) = lock(&self.finished).get_mut(index) {
            *slot = Some(outcome);
        }
        self.drain();
    }

    /// Whether the next part is finished and appendable.
    fn next_ready(&self) -> bool {
        let next = self.next.load(Ordering::Acquire);
        lock(&self.finished).get(next).is_some_and(|s| s.as_ref().is_some_and(PartOutcome::appendable))
    }

    /// Appends the parts whose turn has come, unless another thread is appending. A part
    /// offered while this thread holds the lock is seen by the check after unlocking
    /// (its thread found the lock taken and left it to this one).
    fn drain(&self) {
        while self.next_ready() {
            let Ok(mut compiler) = self.compiler.try_lock() else { return };
            loop {
                let next = self.next.load(Ordering::Acquire);
                let ready = {
                    let mut finished = lock(&self.finished);
                    match finished.get_mut(next) {
                        Some(slot) if slot.as_ref().is_some_and(PartOutcome::appendable) => slot.take(),
                        _ => None,
                    }
                };
                let Some(PartOutcome { index, compiled: Ok(part), invalid }) = ready else { break };
                if let Err(e) = compiler.append(part) {
                    // Cannot happen (parts are appended in order); reported like a compile error.
                    lock(&self.finished)[next] = Some(PartOutcome { index, compiled: Err(e), invalid });
                    break;
                }
                self.next.store(next + 1, Ordering::Release);
            }
        }
    }
}

/// Everything [`in_parts`] hands a thread that takes parts.
struct Parts<'p, 'a> {
    parsed: &'p ParsedModule<'a>,
    plan: &'p [(Range<usize>, u64)],
    next: &'p AtomicUsize,
    wasm: &'a [u8],
    cfg: &'p Config,
}

impl Parts<'_, '_> {
    /// Takes parts until none is left, each compiled by a [`ModuleCompiler::part`] of
    /// `template`, with `walk` and `scratch` as buffers (`scratch` is returned), and
    /// offers each to `committer`.
    fn take<M: MacroAssembler>(
        &self,
        template: &ModuleCompiler<'_, M>,
        committer: &Committer<'_, '_, M>,
        walk: &mut WalkBuffers,
        mut scratch: Scratch,
    ) -> Scratch {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some((range, bytes)) = self.plan.get(index) else { break };
            let hint = bytes.saturating_mul(CODE_BYTES_PER_WASM_BYTE).saturating_add(1024);
            let mut part = template.part(range.start, usize::try_from(hint).unwrap_or(usize::MAX), scratch);
            let (compiled, invalid) = self.walk(range.clone(), &mut part, walk);
            let (code, returned) = part.into_part();
            scratch = returned;
            committer.offer(PartOutcome { index, compiled: compiled.map(|()| code), invalid });
        }
        scratch
    }

    /// Validates, analyzes and compiles the bodies `range` with `compiler` (code
    /// generation stops at its first error, validation goes on).
    fn walk<M: MacroAssembler>(
        &self,
        range: Range<usize>,
        compiler: &mut ModuleCompiler<'_, M>,
        walk: &mut WalkBuffers,
    ) -> (Result<(), CompileError>, Option<(usize, ValidationError)>) {
        let mut compiled = Ok(());
        let cfg = self.cfg;
        let walked = self.parsed.analyze_part(range, &cfg.profile, &cfg.cost_table, walk, |fa, ops| {
            if compiled.is_ok() {
                compiled = compiler.compile_analyzed(fa, ops, self.wasm);
            }
        });
        (compiled, walked.err())
    }
}

/// Compiles `wasm` in parts (see the module docs): part 0 into `compiler` on this thread,
/// the others into parts of it, taken by this thread and, when `helpers` gives one, a
/// second thread, and appended in order as they finish.
fn in_parts<M: MacroAssembler + Send + 'static>(
    compiler: &mut ModuleCompiler<'_, M>,
    wasm: &[u8],
    cfg: &Config,
    code_bytes: u64,
    helpers: Option<&HelperThreads>,
    buffers: &mut CompileBuffers,
) -> Result<ModuleInfo, Error> {
    let parsed = keel_metering::parse(wasm, &cfg.profile)?;
    let plan = plan_parts(&parsed, code_bytes);
    let next = AtomicUsize::new(1);
    let parts = Parts { parsed: &parsed, plan: &plan, next: &next, wasm, cfg };
    // Each thread makes its parts from a template of its own.
    let (template, second_template) = (compiler.part(0, 0, Scratch::default()), compiler.part(0, 0, Scratch::default()));
    let committer = Committer {
        compiler: Mutex::new(compiler),
        next: AtomicUsize::new(0),
        finished: Mutex::new((0..plan.len()).map(|_| None).collect()),
    };
    let CompileBuffers { walk, second_walk, second_codegen, .. } = buffers;
    let mut own = || {
        let (first, scratch) = {
            let mut compiler = lock(&committer.compiler);
            let first = parts.walk(plan[0].0.clone(), &mut compiler, walk);
            if first.0.is_ok() && first.1.is_none() {
                committer.next.store(1, Ordering::Release);
            }
            (first, compiler.take_scratch())
        };
        committer.drain();
        (first, parts.take(&template, &committer, walk, scratch))
    };
    let (first, scratch) = match helpers {
        Some(helpers) => {
            let scratch = std::mem::take(second_codegen);
            let (parts, committer) = (&parts, &committer);
            let theirs = move || parts.take(&second_template, committer, second_walk, scratch);
            match helpers.join(theirs, &mut own) {
                Some((theirs, mine)) => {
                    match theirs {
                        Some(Ok(scratch)) => *second_codegen = scratch,
                        // A panic in compilation is a bug; it surfaces as it would on one thread.
                        Some(Err(panic)) => std::panic::resume_unwind(panic),
                        // The second thread woke up after this one had taken every part
                        // (its buffers were dropped with its unrun work).
                        None => {}
                    }
                    mine
                }
                None => own(),
            }
        }
        None => own(),
    };
    let Committer { compiler, next: appended, finished } = committer;
    let compiler = compiler.into_inner().unwrap_or_else(PoisonError::into_inner);
    compiler.restore_scratch(scratch);
    let appended = appended.into_inner();
    let rest: Vec<PartOutcome<M>> =
        finished.into_inner().unwrap_or_else(PoisonError::into_inner).into_iter().flatten().collect();
    // The first invalid body: part 0's, else the first unappended part's that has one
    // (appended parts had none).
    let invalid = first.1.into_iter().chain(rest.iter().filter_map(|o| o.invalid.clone())).next();
    let info = parsed.finish(invalid.map(|(_, e)| e))?;
    first.0?;
    if appended + rest.len() != plan.len() {
        return Err(CompileError::Internal("a part was lost".into()).into());
    }
    for outcome in rest {
        compiler.append(outcome.compiled?)?;
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    //! Compiling in parts, on one thread and on two, against the one-pass route on small
    //! inputs (below the size from which `Module::new` would take the parts), and compile
    //! errors in the middle of the module: valid modules cannot make today's code generator
    //! fail (wasmparser's limits keep frames far below `FrameTooLarge`), so these tests
    //! give the compiler fewer defined functions than the module has, which makes
    //! `compile_function` fail with `CompileError::Internal` at the first function past
    //! that count.

    use super::*;
    use crate::isa::aarch64::masm::Aarch64Masm;
    use crate::isa::x64::masm::X64Masm;
    use crate::isa::Isa;
    use crate::module::ModuleMeta;

    /// How a test compiles.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Route {
        OnePass,
        PartsOneThread,
        PartsTwoThreads,
    }
    use Route::*;

    /// Compiles `wasm` for `cfg.isa` by `route`, telling the compiler that the module
    /// defines `defined` functions (its real count when `None`).
    fn run(cfg: &Config, wasm: &[u8], route: Route, defined: Option<usize>) -> Result<(ModuleInfo, Vec<u8>), Error> {
        let meta = ModuleMeta::parse(wasm)?;
        let env = meta.compile_env();
        let defined = defined.unwrap_or(meta.func_types.len() - meta.imported_funcs as usize);
        match cfg.isa {
            Isa::X64 => run_with(X64Masm::new(), cfg, wasm, &env, defined, route),
            Isa::Aarch64 => run_with(Aarch64Masm::new(), cfg, wasm, &env, defined, route),
        }
    }

    fn run_with<M: MacroAssembler + Send + 'static>(
        masm: M,
        cfg: &Config,
        wasm: &[u8],
        env: &CompileEnv,
        defined: usize,
        route: Route,
    ) -> Result<(ModuleInfo, Vec<u8>), Error> {
        let mut compiler = ModuleCompiler::new(masm, env, &cfg.cost_table, defined);
        let buffers = &mut CompileBuffers::default();
        let helpers = HelperThreads::default();
        // Parts of at least MIN_PART_BYTES: a tenth of it gives small modules many parts.
        let code_bytes = PARTS * MIN_PART_BYTES / 10;
        let info = match route {
            OnePass => one_pass(&mut compiler, wasm, cfg, &mut buffers.walk)?,
            PartsOneThread => in_parts(&mut compiler, wasm, cfg, code_bytes, None, buffers)?,
            PartsTwoThreads => in_parts(&mut compiler, wasm, cfg, code_bytes, Some(&helpers), buffers)?,
        };
        Ok((info, compiler.finish()?.code))
    }

    /// `n` functions; function `i` has `i % 7` adds in a loop and calls the function
    /// before it (so calls cross parts in both directions), every 50th is large, and
    /// every 13th traps on a division by zero and an out-of-bounds access (branches to the
    /// shared stubs from every part).
    fn many_functions(n: usize, broken_last: bool) -> Vec<u8> {
        let mut w = String::from("(module (memory 1)");
        for i in 0..n {
            w.push_str("(func (param i32) (result i32) (local i32) (loop $l local.get 0 i32.const 1 i32.sub local.tee 0 br_if $l)");
            let adds = if i % 50 == 49 { 2_000 } else { i % 7 };
            w.push_str(" local.get 1");
            for _ in 0..adds {
                w.push_str(" i32.const 3 i32.add");
            }
            w.push_str(&format!(" call {}", (i + n - 1) % n));
            if i % 13 == 0 {
                w.push_str(" local.get 0 i32.div_u i32.load offset=70000");
            }
            w.push_str(" (br_table 0 0 (i32.const 1))");
            if broken_last && i + 1 == n {
                w.push_str(" i64.const 1 i32.add"); // type mismatch: a validation error
            }
            w.push(')');
        }
        w.push(')');
        wat::parse_str(&w).expect("wat")
    }

    #[test]
    fn parts_emit_the_code_of_one_pass_on_any_number_of_threads() {
        for isa in Isa::ALL {
            let cfg = Config { isa, ..Config::permissive() };
            for n in [1, 2, 30, 400] {
                let wasm = many_functions(n, false);
                let one = run(&cfg, &wasm, OnePass, None).expect("compiles");
                assert!(!one.1.is_empty());
                for route in [PartsOneThread, PartsTwoThreads] {
                    let parts = run(&cfg, &wasm, route, None).expect("compiles");
                    assert_eq!(one.0, parts.0, "{isa} {n} {route:?}: module info");
                    assert!(one.1 == parts.1, "{isa} {n} {route:?}: code differs from one pass");
                }
            }
            let unmetered = cfg.clone().without_metering();
            let wasm = many_functions(120, false);
            let one = run(&unmetered, &wasm, OnePass, None).expect("compiles");
            let two = run(&unmetered, &wasm, PartsTwoThreads, None).expect("compiles");
            assert!(one.1 == two.1, "{isa} unmetered: code differs");
        }
    }

    #[test]
    fn the_plan_cuts_between_bodies_by_size() {
        let wasm = many_functions(400, false);
        let cfg = Config::permissive();
        let parsed = keel_metering::parse(&wasm, &cfg.profile).expect("valid");
        let total: u64 = (0..parsed.len()).map(|i| parsed.body_bytes(i)).sum();
        let plan = plan_parts(&parsed, PARTS * MIN_PART_BYTES);
        assert!(plan.len() > 1 && plan.len() as u64 <= total / MIN_PART_BYTES + 1, "{} parts", plan.len());
        assert_eq!(plan[0].0.start, 0);
        assert_eq!(plan.last().map(|p| p.0.end), Some(parsed.len()));
        for w in plan.windows(2) {
            assert_eq!(w[0].0.end, w[1].0.start, "parts are consecutive");
        }
        for (range, bytes) in &plan {
            assert_eq!(*bytes, range.clone().map(|i| parsed.body_bytes(i)).sum::<u64>());
            let without_last: u64 = (range.start..range.end - 1).map(|i| parsed.body_bytes(i)).sum();
            assert!(without_last < MIN_PART_BYTES, "a part ends at the body that fills it");
        }
        // A small module is one part.
        let small = many_functions(3, false);
        let parsed = keel_metering::parse(&small, &cfg.profile).expect("valid");
        assert_eq!(plan_parts(&parsed, 100), vec![(0..3, (0..3).map(|i| parsed.body_bytes(i)).sum())]);
    }

    #[test]
    fn a_compile_error_in_any_part_is_the_one_pass_error() {
        let cfg = Config::permissive();
        let wasm = many_functions(300, false);
        for defined in [0, 3, 120, 299] {
            // A call to function `defined` or a body past it, whichever comes first.
            let expected = run(&cfg, &wasm, OnePass, Some(defined)).map(|_| ());
            assert!(matches!(expected, Err(Error::Compile(CompileError::Internal(_)))), "{expected:?}");
            for route in [PartsOneThread, PartsTwoThreads] {
                assert_eq!(run(&cfg, &wasm, route, Some(defined)).map(|_| ()), expected, "{route:?}, {defined} defined");
            }
        }
    }

    #[test]
    fn a_late_validation_error_wins_over_an_earlier_compile_error_in_parts() {
        let cfg = Config::permissive();
        let wasm = many_functions(300, true);
        let expected = keel_metering::validate(&wasm, &cfg.profile).expect_err("invalid module");
        for defined in [None, Some(0), Some(5), Some(250)] {
            for route in [OnePass, PartsOneThread, PartsTwoThreads] {
                let got = run(&cfg, &wasm, route, defined).map(|_| ());
                assert_eq!(got, Err(Error::Validation(expected.clone())), "{route:?}, {defined:?}");
            }
        }
    }

    #[test]
    fn a_validation_error_in_the_first_function_ends_both_threads() {
        let cfg = Config::permissive();
        let wasm = many_functions(1, true);
        let expected = keel_metering::validate(&wasm, &cfg.profile).expect_err("invalid module");
        assert_eq!(run(&cfg, &wasm, PartsTwoThreads, None).map(|_| ()), Err(Error::Validation(expected)));
    }
}
