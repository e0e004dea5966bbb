//! The fork choice (`specs/protocol.md` §4): of two valid branches from one fork point,
//! the longer wins; between branches of equal length, the one whose first block (the
//! block right after the fork point) has the lower slot, then the lower header hash.
//!
//! Over whole chains this is a total order: the preferred chain is the longest, and among
//! the longest the lexicographically smallest sequence of `(slot, header hash)`. Every node
//! that knows the same blocks therefore picks the same head.

use std::cmp::Ordering;

use crate::chain::BlockHeader;

use super::ChainSpec;

/// The deepest reorganisation a node performs by default, in blocks (how many committed
/// blocks it may revert). Also the most blocks one sync request returns, so a whole
/// competing window fits in one response of small blocks.
pub const DEFAULT_MAX_REORG_DEPTH: u64 = 64;

/// The fork-choice key of one branch: `(height of its last block, slot of its first
/// block, header hash of its first block)`. A branch is a non-empty run of consecutive
/// headers starting right after the fork point.
fn key(spec: &ChainSpec, fork_height: u64, branch: &[BlockHeader]) -> Option<(u64, u64, [u8; 32])> {
    let first = branch.first()?;
    let slot = spec.slot_of_timestamp(first.timestamp_ms).unwrap_or(u64::MAX);
    Some((fork_height + branch.len() as u64, slot, first.hash()))
}

/// Compares two branches from the same fork point (`ours` and `theirs`: the headers
/// after `fork_height`, in height order, each possibly empty): `Ordering::Greater` if the
/// fork choice prefers `theirs`, `Less` if it prefers `ours`, `Equal` only if their first
/// blocks are the same block (then they are no fork at that point) or both are empty.
///
/// Rule (`specs/protocol.md` §4): higher last height wins; at equal height, the lower slot
/// of the first block wins; at equal slot (an equivocating leader), the lower header hash
/// of the first block wins. An empty branch (the fork point is that chain's head) loses
/// to any non-empty one.
pub fn compare_branches(spec: &ChainSpec, fork_height: u64, ours: &[BlockHeader], theirs: &[BlockHeader]) -> Ordering {
    match (key(spec, fork_height, ours), key(spec, fork_height, theirs)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some((ho, so, xo)), Some((ht, st, xt))) => {
            ht.cmp(&ho).then(so.cmp(&st)).then(xo.cmp(&xt))
        }
    }
}

/// Whether the fork choice prefers `theirs` over `ours` (see [`compare_branches`]).
pub fn prefers_theirs(spec: &ChainSpec, fork_height: u64, ours: &[BlockHeader], theirs: &[BlockHeader]) -> bool {
    compare_branches(spec, fork_height, ours, theirs) == Ordering::Greater
}
