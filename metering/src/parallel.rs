//! The same walk as [`crate::analyze_each`], split so that function bodies can be validated
//! and analyzed in independent parts, on any threads: [`parse`] validates the module-level
//! sections and collects the bodies; [`ParsedModule::analyze_part`] validates and analyzes
//! a range of them (each part with its own [`WalkBuffers`]); [`ParsedModule::finish`]
//! picks the error the one-pass walk would have reported.
//!
//! wasmparser validates each body independently once the module-level sections are read
//! ([`wasmparser::FuncToValidate`] is made to be sent to other threads), which is how
//! Wasmtime validates in parallel too.

use std::ops::Range;

use wasmparser::{FuncToValidate, FunctionBody, Operator, ValidatorResources};

use crate::analyze::FunctionAnalysis;
use crate::cost::CostTable;
use crate::error::{Limit, ValidationError};
use crate::profile::{explained, limit, walk_module, BodyWalker, ModuleInfo, Profile, WalkBuffers};

/// A module whose module-level sections are validated ([`parse`]) and whose function bodies
/// are still to be, in parts, by [`ParsedModule::analyze_part`].
pub struct ParsedModule<'a> {
    wasm: &'a [u8],
    bodies: Vec<(FunctionBody<'a>, FuncToValidate<ValidatorResources>)>,
    /// The module's facts, or the first module-level error, found after every body in
    /// `bodies` (so any error in those bodies comes first in the module).
    rest: Result<ModuleInfo, ValidationError>,
}

// Parts are analyzed on other threads.
const _: () = {
    const fn assert_sync<T: Sync>() {}
    assert_sync::<ParsedModule<'static>>();
};

impl std::fmt::Debug for ParsedModule<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedModule").field("bodies", &self.bodies.len()).field("rest", &self.rest).finish()
    }
}

/// Validates `wasm`'s module-level sections against `profile` (as [`crate::validate`] does,
/// in the same order, with each body's size and locals limits) and collects its function
/// bodies, in definition order, without validating them yet.
///
/// Errors: [`ValidationError`] when the module fails before its first function body (its
/// size, a section before the code section, the first body's limits). An error after
/// that is kept for [`ParsedModule::finish`], since an invalid body before it would be
/// reported first.
pub fn parse<'a>(wasm: &'a [u8], profile: &Profile) -> Result<ParsedModule<'a>, ValidationError> {
    limit(Limit::ModuleBytes, wasm.len() as u64, profile.limits.max_module_bytes, 0)?;
    let mut bodies = Vec::new();
    let rest = walk_module(wasm, profile, &mut |body, func| {
        bodies.push((body, func));
        Ok(())
    });
    match rest {
        Err(e) if bodies.is_empty() => Err(explained(wasm, e)),
        rest => Ok(ParsedModule { wasm, bodies, rest }),
    }
}

impl<'a> ParsedModule<'a> {
    /// Defined function bodies collected (all of the module's unless [`Self::finish`] has
    /// an error to report).
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Whether no body was collected.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Size of body `i` (0-based among the defined functions), bytes; 0 past the end.
    pub fn body_bytes(&self, i: usize) -> u64 {
        self.bodies.get(i).map_or(0, |(body, _)| body.range().end - body.range().start)
    }

    /// Validates and analyzes bodies `part` (indices among the defined functions, clamped
    /// to [`Self::len`]) in order, with `costs` under `profile`, handing each to
    /// `on_function` exactly as [`crate::analyze_each`] does: its [`FunctionAnalysis`] and its
    /// decoded operators. Buffers come from `buffers` and go back there.
    ///
    /// Errors: `Err((i, e))` for the first body `i` of the part that fails validation
    /// (the rest of the part is not walked).
    pub fn analyze_part(
        &self,
        part: Range<usize>,
        profile: &Profile,
        costs: &CostTable,
        buffers: &mut WalkBuffers,
        mut on_function: impl FnMut(&FunctionAnalysis, &[Operator<'a>]),
    ) -> Result<(), (usize, ValidationError)> {
        let end = part.end.min(self.bodies.len());
        let Some(bodies) = self.bodies.get(part.start.min(end)..end) else { return Ok(()) };
        let mut walker = BodyWalker::new(profile, Some(costs), buffers);
        let mut walked = Ok(());
        for (k, (body, func)) in bodies.iter().enumerate() {
            let func = FuncToValidate {
                resources: func.resources.clone(),
                index: func.index,
                ty: func.ty,
                features: func.features,
            };
            if let Err(e) = walker.walk(body, func) {
                walked = Err((part.start + k, e));
                break;
            }
            on_function(&walker.function, &walker.operators);
        }
        walker.put_back(buffers);
        walked
    }

    /// The module's [`ModuleInfo`], given `first_error`: the error of the lowest-numbered
    /// body that [`Self::analyze_part`] rejected, if any (the caller must have walked every
    /// body before it).
    ///
    /// Errors: `first_error`, else the module-level error found after the bodies (both as
    /// [`crate::validate`] would report them): the same error the one-pass walk gives.
    pub fn finish(self, first_error: Option<ValidationError>) -> Result<ModuleInfo, ValidationError> {
        match first_error {
            Some(e) => Err(explained(self.wasm, e)),
            None => self.rest.map_err(|e| explained(self.wasm, e)),
        }
    }
}
