//! The calibration host: the contract host ABI v1 (`specs/abi.md` §4) over a
//! [`WorkingState`], for timing host functions and whole contract calls.
//!
//! It performs the same underlying work as the node's runtime — storage reads and writes
//! through [`WorkingState`], BLAKE3, `ed25519_dalek::VerifyingKey::verify_strict`, balance
//! updates, event records — with the charges, limits and range checks of §3.1 in the same
//! order. It is a measurement harness, not the consensus runtime:
//!
//! * `call_contract` does the §3.1 steps 1–4 and returns `NO_CONTRACT` (4): it never runs a
//!   callee, so its time covers only the host call itself;
//! * there are no frames: `revert` stops the call with a host trap and records the message,
//!   and nothing is rolled back (callers use [`WorkingState`] checkpoints if they need to);
//! * with [`HostData::recycle_events`] the event list is cleared instead of trapping at the
//!   per-transaction limit, so a benchmark loop can emit forever.

use std::sync::Arc;

use keel_engine::{Caller, Linker, Trap};
use keel_metering::{CostTable, HostCost};

use crate::state::{Address, WorkingState};

/// Storage key limit, bytes (`specs/abi.md` §2).
pub const MAX_KEY_BYTES: u64 = 1_024;
/// Storage value, input and return data limit, bytes (§2).
pub const MAX_VALUE_BYTES: u64 = 65_536;
/// Revert message limit, bytes (§2).
pub const MAX_REVERT_BYTES: u64 = 1_024;
/// Event data limit, bytes (§2).
pub const MAX_EVENT_DATA_BYTES: u64 = 16_384;
/// Events per transaction (§2).
pub const MAX_EVENTS: usize = 1_024;
/// `call_contract` status: no contract at the callee address (§4.5).
pub const NO_CONTRACT: i32 = 4;

/// The trap message of `revert` (the message itself is in [`HostData::reverted`]).
pub const REVERT_TRAP: &str = "revert";

/// One emitted event: topics (32 bytes each) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The emitting contract.
    pub contract: Address,
    /// Up to 4 topics.
    pub topics: Vec<[u8; 32]>,
    /// Event data.
    pub data: Vec<u8>,
}

/// The host side of one contract call.
pub struct HostData<'db> {
    /// The state the call reads and writes.
    pub state: WorkingState<'db>,
    /// Host-function gas (`[host.NAME]`); a function the table does not price costs 0.
    pub table: Arc<CostTable>,
    /// The running contract.
    pub contract: Address,
    /// The frame's caller.
    pub caller: Address,
    /// Call data.
    pub input: Vec<u8>,
    /// The last `return_value`.
    pub return_data: Vec<u8>,
    /// The `revert` message, once reverted.
    pub reverted: Option<Vec<u8>>,
    /// Events emitted, in order.
    pub events: Vec<Event>,
    /// Clear `events` when full instead of trapping (benchmark loops).
    pub recycle_events: bool,
    /// `block_height()`.
    pub height: u64,
    /// `block_timestamp()`, ms.
    pub timestamp: u64,
}

impl<'db> HostData<'db> {
    /// A host for `contract` called by `caller` with `input`, charging by `table`.
    pub fn new(state: WorkingState<'db>, table: Arc<CostTable>, contract: Address, caller: Address, input: Vec<u8>) -> Self {
        HostData {
            state,
            table,
            contract,
            caller,
            input,
            return_data: Vec::new(),
            reverted: None,
            events: Vec::new(),
            recycle_events: false,
            height: 1,
            timestamp: 1_700_000_000_000,
        }
    }
}

type C<'c, 'db> = Caller<'c, HostData<'db>>;

fn limit_exceeded() -> Trap {
    Trap::Host("HostLimitExceeded".into())
}

fn state_trap(e: crate::state::StateError) -> Trap {
    Trap::Host(format!("state error: {e}"))
}

fn cost(c: &C<'_, '_>, name: &str) -> HostCost {
    c.data().table.host(name).unwrap_or(HostCost { base: 0, per_byte: 0 })
}

/// §3.1 step 1.
fn charge_base(c: &mut C<'_, '_>, name: &str) -> Result<HostCost, Trap> {
    let k = cost(c, name);
    c.consume_gas(k.base)?;
    Ok(k)
}

/// §3.1 steps 4 and 6: `per_byte × bytes`.
fn charge_bytes(c: &mut C<'_, '_>, k: HostCost, bytes: u64) -> Result<(), Trap> {
    c.consume_gas(k.per_byte.saturating_mul(bytes))
}

/// §3.1 step 3: `ptr + len <= memory size`, in 64-bit.
fn check_range(c: &C<'_, '_>, ptr: i32, len: u64) -> Result<(), Trap> {
    if (ptr as u32 as u64).saturating_add(len) <= c.memory_size() {
        Ok(())
    } else {
        Err(Trap::MemoryOutOfBounds)
    }
}

fn read(c: &C<'_, '_>, ptr: i32, len: u64) -> Result<Vec<u8>, Trap> {
    let mut buf = vec![0; usize::try_from(len).map_err(|_| Trap::MemoryOutOfBounds)?];
    c.read_memory(ptr as u32 as u64, &mut buf)?;
    Ok(buf)
}

fn read32(c: &C<'_, '_>, ptr: i32) -> Result<[u8; 32], Trap> {
    let mut buf = [0; 32];
    c.read_memory(ptr as u32 as u64, &mut buf)?;
    Ok(buf)
}

fn len(l: i32) -> u64 {
    l as u32 as u64
}

/// Copies a variable-length value into `(out_ptr, out_cap)` per §3.2 (steps 6–7) and
/// returns its full length.
fn deliver(c: &mut C<'_, '_>, k: HostCost, value: &[u8], out_ptr: i32, out_cap: i32) -> Result<i32, Trap> {
    let n = value.len().min(len(out_cap) as usize);
    charge_bytes(c, k, n as u64)?;
    c.write_memory(out_ptr as u32 as u64, &value[..n])?;
    Ok(value.len() as i32)
}

/// A linker defining every function of host ABI v1 in module `"env"`.
pub fn linker<'db>() -> Linker<HostData<'db>> {
    let mut l = Linker::new();
    l.func_wrap("env", "input", |mut c: C<'_, 'db>, out_ptr: i32, out_cap: i32| -> Result<i32, Trap> {
        let k = charge_base(&mut c, "input")?;
        check_range(&c, out_ptr, len(out_cap))?;
        let input = std::mem::take(&mut c.data_mut().input);
        let r = deliver(&mut c, k, &input, out_ptr, out_cap);
        c.data_mut().input = input;
        r
    });
    l.func_wrap("env", "return_value", |mut c: C<'_, 'db>, ptr: i32, n: i32| -> Result<(), Trap> {
        let k = charge_base(&mut c, "return_value")?;
        if len(n) > MAX_VALUE_BYTES {
            return Err(limit_exceeded());
        }
        check_range(&c, ptr, len(n))?;
        charge_bytes(&mut c, k, len(n))?;
        let data = read(&c, ptr, len(n))?;
        c.data_mut().return_data = data;
        Ok(())
    });
    l.func_wrap("env", "revert", |mut c: C<'_, 'db>, ptr: i32, n: i32| -> Result<(), Trap> {
        let k = charge_base(&mut c, "revert")?;
        if len(n) > MAX_REVERT_BYTES {
            return Err(limit_exceeded());
        }
        check_range(&c, ptr, len(n))?;
        charge_bytes(&mut c, k, len(n))?;
        let msg = read(&c, ptr, len(n))?;
        c.data_mut().reverted = Some(msg);
        Err(Trap::Host(REVERT_TRAP.into()))
    });
    l.func_wrap("env", "caller", |mut c: C<'_, 'db>, out: i32| -> Result<(), Trap> {
        let k = charge_base(&mut c, "caller")?;
        check_range(&c, out, 32)?;
        charge_bytes(&mut c, k, 32)?;
        let a = c.data().caller;
        c.write_memory(out as u32 as u64, &a.0)
    });
    l.func_wrap("env", "self_address", |mut c: C<'_, 'db>, out: i32| -> Result<(), Trap> {
        let k = charge_base(&mut c, "self_address")?;
        check_range(&c, out, 32)?;
        charge_bytes(&mut c, k, 32)?;
        let a = c.data().contract;
        c.write_memory(out as u32 as u64, &a.0)
    });
    l.func_wrap("env", "block_height", |mut c: C<'_, 'db>| -> Result<i64, Trap> {
        charge_base(&mut c, "block_height")?;
        Ok(c.data().height as i64)
    });
    l.func_wrap("env", "block_timestamp", |mut c: C<'_, 'db>| -> Result<i64, Trap> {
        charge_base(&mut c, "block_timestamp")?;
        Ok(c.data().timestamp as i64)
    });
    l.func_wrap("env", "balance", |mut c: C<'_, 'db>, addr: i32, out: i32| -> Result<(), Trap> {
        let k = charge_base(&mut c, "balance")?;
        check_range(&c, addr, 32)?;
        check_range(&c, out, 16)?;
        charge_bytes(&mut c, k, 48)?;
        let a = Address(read32(&c, addr)?);
        let bal = c.data().state.account(&a).map_err(state_trap)?.balance;
        c.write_memory(out as u32 as u64, &bal.to_le_bytes())
    });
    l.func_wrap("env", "transfer", |mut c: C<'_, 'db>, to: i32, amount: i32| -> Result<i32, Trap> {
        let k = charge_base(&mut c, "transfer")?;
        check_range(&c, to, 32)?;
        check_range(&c, amount, 16)?;
        charge_bytes(&mut c, k, 48)?;
        let to = Address(read32(&c, to)?);
        let mut amt = [0u8; 16];
        c.read_memory(amount as u32 as u64, &mut amt)?;
        let amount = u128::from_le_bytes(amt);
        let me = c.data().contract;
        let state = &mut c.data_mut().state;
        let mut from = state.account(&me).map_err(state_trap)?;
        if from.balance < amount {
            return Ok(1);
        }
        if to == me || amount == 0 {
            return Ok(0);
        }
        let mut dest = state.account(&to).map_err(state_trap)?;
        from.balance -= amount;
        // The total supply bounds every balance; saturate rather than wrap on a bad state.
        dest.balance = dest.balance.saturating_add(amount);
        state.set_account(&me, &from);
        state.set_account(&to, &dest);
        Ok(0)
    });
    l.func_wrap(
        "env",
        "storage_read",
        |mut c: C<'_, 'db>, kp: i32, kl: i32, out_ptr: i32, out_cap: i32| -> Result<i32, Trap> {
            let k = charge_base(&mut c, "storage_read")?;
            if len(kl) > MAX_KEY_BYTES {
                return Err(limit_exceeded());
            }
            check_range(&c, kp, len(kl))?;
            check_range(&c, out_ptr, len(out_cap))?;
            charge_bytes(&mut c, k, len(kl))?;
            let key = read(&c, kp, len(kl))?;
            let me = c.data().contract;
            match c.data().state.storage_read(&me, &key).map_err(state_trap)? {
                None => Ok(-1),
                Some(v) => deliver(&mut c, k, &v, out_ptr, out_cap),
            }
        },
    );
    l.func_wrap(
        "env",
        "storage_write",
        |mut c: C<'_, 'db>, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32, Trap> {
            let k = charge_base(&mut c, "storage_write")?;
            if len(kl) > MAX_KEY_BYTES || len(vl) > MAX_VALUE_BYTES {
                return Err(limit_exceeded());
            }
            check_range(&c, kp, len(kl))?;
            check_range(&c, vp, len(vl))?;
            charge_bytes(&mut c, k, len(kl) + len(vl))?;
            let key = read(&c, kp, len(kl))?;
            let value = read(&c, vp, len(vl))?;
            let me = c.data().contract;
            let existed = c.data_mut().state.storage_write(&me, &key, value).map_err(state_trap)?;
            Ok(existed as i32)
        },
    );
    l.func_wrap("env", "storage_remove", |mut c: C<'_, 'db>, kp: i32, kl: i32| -> Result<i32, Trap> {
        let k = charge_base(&mut c, "storage_remove")?;
        if len(kl) > MAX_KEY_BYTES {
            return Err(limit_exceeded());
        }
        check_range(&c, kp, len(kl))?;
        charge_bytes(&mut c, k, len(kl))?;
        let key = read(&c, kp, len(kl))?;
        let me = c.data().contract;
        let existed = c.data_mut().state.storage_remove(&me, &key).map_err(state_trap)?;
        Ok(existed as i32)
    });
    l.func_wrap("env", "storage_has", |mut c: C<'_, 'db>, kp: i32, kl: i32| -> Result<i32, Trap> {
        let k = charge_base(&mut c, "storage_has")?;
        if len(kl) > MAX_KEY_BYTES {
            return Err(limit_exceeded());
        }
        check_range(&c, kp, len(kl))?;
        charge_bytes(&mut c, k, len(kl))?;
        let key = read(&c, kp, len(kl))?;
        let me = c.data().contract;
        let present = c.data().state.storage_read(&me, &key).map_err(state_trap)?.is_some();
        Ok(present as i32)
    });
    l.func_wrap(
        "env",
        "emit_event",
        |mut c: C<'_, 'db>, tp: i32, tc: i32, dp: i32, dl: i32| -> Result<(), Trap> {
            let k = charge_base(&mut c, "emit_event")?;
            let full = c.data().events.len() >= MAX_EVENTS;
            if len(tc) > 4 || len(dl) > MAX_EVENT_DATA_BYTES || (full && !c.data().recycle_events) {
                return Err(limit_exceeded());
            }
            if tc != 0 {
                check_range(&c, tp, 32 * len(tc))?;
            }
            check_range(&c, dp, len(dl))?;
            charge_bytes(&mut c, k, 32 * len(tc) + len(dl))?;
            let mut topics = Vec::with_capacity(tc as usize);
            for i in 0..len(tc) {
                topics.push(read32(&c, (tp as u32 as u64 + 32 * i) as u32 as i32)?);
            }
            let data = read(&c, dp, len(dl))?;
            let contract = c.data().contract;
            let d = c.data_mut();
            if full {
                d.events.clear();
            }
            d.events.push(Event { contract, topics, data });
            Ok(())
        },
    );
    l.func_wrap(
        "env",
        "call_contract",
        |mut c: C<'_, 'db>,
         callee: i32,
         value: i32,
         _gas: i64,
         ip: i32,
         il: i32,
         out_ptr: i32,
         out_cap: i32,
         out_len_ptr: i32|
         -> Result<i32, Trap> {
            let k = charge_base(&mut c, "call_contract")?;
            if len(il) > MAX_VALUE_BYTES {
                return Err(limit_exceeded());
            }
            for (p, n) in [(callee, 32), (value, 16), (ip, len(il)), (out_ptr, len(out_cap)), (out_len_ptr, 4)] {
                check_range(&c, p, n)?;
            }
            charge_bytes(&mut c, k, 52 + len(il))?;
            // No callee ever runs here (see the module docs): the output is empty.
            c.write_memory(out_len_ptr as u32 as u64, &0u32.to_le_bytes())?;
            Ok(NO_CONTRACT)
        },
    );
    l.func_wrap("env", "blake3", |mut c: C<'_, 'db>, dp: i32, dl: i32, out: i32| -> Result<(), Trap> {
        let k = charge_base(&mut c, "blake3")?;
        check_range(&c, dp, len(dl))?;
        check_range(&c, out, 32)?;
        charge_bytes(&mut c, k, len(dl) + 32)?;
        let data = read(&c, dp, len(dl))?;
        let h = blake3::hash(&data);
        c.write_memory(out as u32 as u64, h.as_bytes())
    });
    l.func_wrap(
        "env",
        "ed25519_verify",
        |mut c: C<'_, 'db>, sp: i32, pp: i32, mp: i32, ml: i32| -> Result<i32, Trap> {
            let k = charge_base(&mut c, "ed25519_verify")?;
            check_range(&c, sp, 64)?;
            check_range(&c, pp, 32)?;
            check_range(&c, mp, len(ml))?;
            charge_bytes(&mut c, k, 96 + len(ml))?;
            let mut sig = [0u8; 64];
            c.read_memory(sp as u32 as u64, &mut sig)?;
            let pk = read32(&c, pp)?;
            let msg = read(&c, mp, len(ml))?;
            let valid = ed25519_dalek::VerifyingKey::from_bytes(&pk)
                .map(|key| key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok())
                .unwrap_or(false);
            Ok(valid as i32)
        },
    );
    l
}
