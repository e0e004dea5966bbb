//! The host functions of module `"env"` (`specs/abi.md` §4), written once over
//! [`HostCtx`] and linked into either backend: `keel_engine`'s [`Linker`]
//! ([`add_to_linker`]) or wasmi's (`super::reference`). Every function follows the order of checks and charges of `specs/abi.md`
//! §3.1: base gas, length limits, memory ranges, per-byte gas for the bytes known before
//! the operation, the operation, per-byte gas for variable-length outputs, then the writes.
//! A bad pointer or length traps the contract (`MemoryOutOfBounds`, `HostLimitExceeded`);
//! nothing a contract passes can fail the node.

use ed25519_dalek::{Signature, VerifyingKey};
use keel_engine::{Caller, Linker, Trap};

use super::abi::{self, status, HostFn};
use super::exec::{run_frame, Entry, FrameEnd, FrameSpec, Host, TxExec};
use crate::chain::{Event, ReceiptStatus};
use crate::state::{Address, StateError};

/// What a host function sees of the frame that called it, whichever backend runs the
/// frame: the store's [`Host`] data, the frame's gas counter and its linear memory.
/// Memory offsets and sizes are bytes; gas is in gas units.
pub(crate) trait HostCtx<'a, 'db: 'a> {
    /// The store's data.
    fn data(&self) -> &Host<'a, 'db>;
    /// The store's data, mutably.
    fn data_mut(&mut self) -> &mut Host<'a, 'db>;
    /// Charges `gas`; if less remains, sets the remaining gas to 0 and fails with
    /// [`Trap::OutOfGas`] (the rule of `keel_engine`'s counter and of the instrumentation).
    fn consume_gas(&mut self, gas: u64) -> Result<(), Trap>;
    /// Gas remaining in the frame.
    fn gas_remaining(&self) -> u64;
    /// Size of the frame's memory, bytes.
    fn memory_size(&self) -> u64;
    /// Reads `buf.len()` bytes at `offset`. Errors: [`Trap::MemoryOutOfBounds`].
    fn read_memory(&self, offset: u64, buf: &mut [u8]) -> Result<(), Trap>;
    /// Writes `data` at `offset`. Errors: [`Trap::MemoryOutOfBounds`].
    fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<(), Trap>;
}

impl<'a, 'db> HostCtx<'a, 'db> for Caller<'_, Host<'a, 'db>> {
    fn data(&self) -> &Host<'a, 'db> {
        Caller::data(self)
    }
    fn data_mut(&mut self) -> &mut Host<'a, 'db> {
        Caller::data_mut(self)
    }
    fn consume_gas(&mut self, gas: u64) -> Result<(), Trap> {
        Caller::consume_gas(self, gas)
    }
    fn gas_remaining(&self) -> u64 {
        Caller::gas_remaining(self)
    }
    fn memory_size(&self) -> u64 {
        Caller::memory_size(self)
    }
    fn read_memory(&self, offset: u64, buf: &mut [u8]) -> Result<(), Trap> {
        Caller::read_memory(self, offset, buf)
    }
    fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<(), Trap> {
        Caller::write_memory(self, offset, data)
    }
}

/// Charges the `base` gas of `f` (§3.1 step 1).
fn base<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, f: HostFn) -> Result<(), Trap> {
    let gas = c.data().rt.host_cost(f).base;
    c.consume_gas(gas)
}

/// Charges `per_byte × bytes` of `f` (§3.1 steps 4 and 6).
fn per_byte<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, f: HostFn, bytes: u64) -> Result<(), Trap> {
    let gas = c.data().rt.host_cost(f).per_byte.saturating_mul(bytes);
    c.consume_gas(gas)
}

/// §3.1 step 2: `len ≤ max`, else the frame ends with `HostLimitExceeded`.
fn limit<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, len: u64, max: u64) -> Result<(), Trap> {
    if len > max {
        c.data_mut().frame.end = Some(FrameEnd::HostLimit);
        return Err(Trap::Host(format!("host limit exceeded: {len} > {max}")));
    }
    Ok(())
}

/// §3.1 step 3: `ptr + len` (64-bit, unsigned `ptr`) must not pass the memory size.
fn range<'a, 'db: 'a>(c: &impl HostCtx<'a, 'db>, ptr: i32, len: u64) -> Result<(), Trap> {
    let end = u64::from(ptr as u32).checked_add(len).ok_or(Trap::MemoryOutOfBounds)?;
    if end > c.memory_size() {
        return Err(Trap::MemoryOutOfBounds);
    }
    Ok(())
}

/// Reads a range already checked with [`range`] (so the allocation is bounded by the
/// memory size).
fn read<'a, 'db: 'a>(c: &impl HostCtx<'a, 'db>, ptr: i32, len: u64) -> Result<Vec<u8>, Trap> {
    let mut buf = vec![0u8; len as usize];
    c.read_memory(u64::from(ptr as u32), &mut buf)?;
    Ok(buf)
}

fn read_array<'a, 'db: 'a, const N: usize>(c: &impl HostCtx<'a, 'db>, ptr: i32) -> Result<[u8; N], Trap> {
    let mut buf = [0u8; N];
    c.read_memory(u64::from(ptr as u32), &mut buf)?;
    Ok(buf)
}

fn write<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, ptr: i32, data: &[u8]) -> Result<(), Trap> {
    c.write_memory(u64::from(ptr as u32), data)
}

/// The transaction context. It is absent only while a nested frame runs, when no host
/// function of this frame can be called; a `Trap::Host` here would be a runtime bug.
fn tx<'c, 'a: 'c, 'db: 'a>(c: &'c mut impl HostCtx<'a, 'db>) -> Result<&'c mut TxExec<'a, 'db>, Trap> {
    c.data_mut().tx.as_mut().ok_or_else(|| Trap::Host("internal: transaction context in use".into()))
}

/// A state-database failure: not the contract's fault. Ends the frame and marks the
/// transaction so that the block is aborted ([`crate::runtime::RuntimeError::State`]).
fn fatal<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, e: StateError) -> Trap {
    let host = c.data_mut();
    host.frame.end = Some(FrameEnd::Fatal);
    if let Some(tx) = host.tx.as_mut() {
        tx.fatal.get_or_insert(e);
    }
    Trap::Host("state database error".into())
}

/// Copies `value` into `(out_ptr, out_cap)` per §3.2, charging step 6 for the bytes written.
fn deliver<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, f: HostFn, out_ptr: i32, out_cap: i32, value: &[u8]) -> Result<(), Trap> {
    let n = value.len().min(out_cap as u32 as usize);
    per_byte(c, f, n as u64)?;
    write(c, out_ptr, &value[..n])
}

/// Calls `$m!` once per host function of ABI v1 with its name, parameters and result
/// type: what both backends' linkers are built from.
macro_rules! for_each_host_fn {
    ($m:ident) => {
        $m! {
            input(out_ptr: i32, out_cap: i32) -> i32;
            return_value(ptr: i32, len: i32) -> ();
            revert(ptr: i32, len: i32) -> ();
            caller(out_ptr: i32) -> ();
            self_address(out_ptr: i32) -> ();
            block_height() -> i64;
            block_timestamp() -> i64;
            storage_read(key_ptr: i32, key_len: i32, out_ptr: i32, out_cap: i32) -> i32;
            storage_write(key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32) -> i32;
            storage_remove(key_ptr: i32, key_len: i32) -> i32;
            storage_has(key_ptr: i32, key_len: i32) -> i32;
            balance(addr_ptr: i32, out_ptr: i32) -> ();
            transfer(to_ptr: i32, amount_ptr: i32) -> i32;
            emit_event(topics_ptr: i32, topic_count: i32, data_ptr: i32, data_len: i32) -> ();
            call_contract(callee_ptr: i32, value_ptr: i32, gas_limit: i64, input_ptr: i32, input_len: i32, out_ptr: i32, out_cap: i32, out_len_ptr: i32) -> i32;
            blake3(data_ptr: i32, data_len: i32, out_ptr: i32) -> ();
            ed25519_verify(sig_ptr: i32, pubkey_ptr: i32, msg_ptr: i32, msg_len: i32) -> i32;
        }
    };
}
pub(crate) use for_each_host_fn;

/// Adds every host function of ABI v1 to a `keel_engine` linker. The lifetimes are
/// late-bound, so the closures are `'static` whatever state the store's [`Host`] borrows.
pub(crate) fn add_to_linker<'a, 'db>(linker: &mut Linker<Host<'a, 'db>>) {
    macro_rules! wrap {
        ($($name:ident($($p:ident: $t:ty),*) -> $r:ty;)*) => {$(
            linker.func_wrap("env", stringify!($name), |mut c: Caller<'_, Host<'a, 'db>>, $($p: $t),*| -> Result<$r, Trap> {
                $name(&mut c, $($p),*)
            });
        )*};
    }
    for_each_host_fn!(wrap);
}

/// `env.input` (`specs/abi.md` §4).
pub(crate) fn input<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, out_ptr: i32, out_cap: i32) -> Result<i32, Trap> {
    base(c, HostFn::Input)?;
    range(c, out_ptr, u64::from(out_cap as u32))?;
    let input = std::mem::take(&mut c.data_mut().frame.input);
    let r = deliver(c, HostFn::Input, out_ptr, out_cap, &input);
    let len = input.len() as i32;
    c.data_mut().frame.input = input;
    r.map(|()| len)
}

/// `env.return_value` (`specs/abi.md` §4).
pub(crate) fn return_value<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, ptr: i32, len: i32) -> Result<(), Trap> {
    base(c, HostFn::ReturnValue)?;
    let len = u64::from(len as u32);
    limit(c, len, abi::MAX_RETURN_LEN)?;
    range(c, ptr, len)?;
    per_byte(c, HostFn::ReturnValue, len)?;
    let data = read(c, ptr, len)?;
    c.data_mut().frame.return_data = data;
    Ok(())
}

/// `env.revert` (`specs/abi.md` §4).
pub(crate) fn revert<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, ptr: i32, len: i32) -> Result<(), Trap> {
    base(c, HostFn::Revert)?;
    let len = u64::from(len as u32);
    limit(c, len, abi::MAX_REVERT_LEN)?;
    range(c, ptr, len)?;
    per_byte(c, HostFn::Revert, len)?;
    let msg = read(c, ptr, len)?;
    c.data_mut().frame.end = Some(FrameEnd::Revert(msg));
    Err(Trap::Host("revert".into()))
}

/// `env.caller` (`specs/abi.md` §4).
pub(crate) fn caller<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, out_ptr: i32) -> Result<(), Trap> {
    base(c, HostFn::Caller)?;
    range(c, out_ptr, 32)?;
    per_byte(c, HostFn::Caller, 32)?;
    let who = c.data().frame.caller;
    write(c, out_ptr, &who.0)
}

/// `env.self_address` (`specs/abi.md` §4).
pub(crate) fn self_address<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, out_ptr: i32) -> Result<(), Trap> {
    base(c, HostFn::SelfAddress)?;
    range(c, out_ptr, 32)?;
    per_byte(c, HostFn::SelfAddress, 32)?;
    let me = c.data().frame.address;
    write(c, out_ptr, &me.0)
}

/// `env.block_height` (`specs/abi.md` §4).
pub(crate) fn block_height<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>) -> Result<i64, Trap> {
    base(c, HostFn::BlockHeight)?;
    Ok(tx(c)?.env.height as i64)
}

/// `env.block_timestamp` (`specs/abi.md` §4).
pub(crate) fn block_timestamp<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>) -> Result<i64, Trap> {
    base(c, HostFn::BlockTimestamp)?;
    Ok(tx(c)?.env.timestamp_ms as i64)
}

/// `env.storage_read` (`specs/abi.md` §4).
pub(crate) fn storage_read<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, key_ptr: i32, key_len: i32, out_ptr: i32, out_cap: i32) -> Result<i32, Trap> {
        base(c, HostFn::StorageRead)?;
        let key_len = u64::from(key_len as u32);
        limit(c, key_len, abi::MAX_KEY_LEN)?;
        range(c, key_ptr, key_len)?;
        range(c, out_ptr, u64::from(out_cap as u32))?;
        per_byte(c, HostFn::StorageRead, key_len)?;
        let key = read(c, key_ptr, key_len)?;
        let me = c.data().frame.address;
        let value = match tx(c)?.state.storage_read(&me, &key) {
            Ok(v) => v,
            Err(e) => return Err(fatal(c, e)),
        };
        match value {
            None => Ok(-1),
            Some(v) => {
                deliver(c, HostFn::StorageRead, out_ptr, out_cap, &v)?;
                Ok(v.len() as i32)
            }
        }
}

/// `env.storage_write` (`specs/abi.md` §4).
pub(crate) fn storage_write<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32) -> Result<i32, Trap> {
        base(c, HostFn::StorageWrite)?;
        let (key_len, val_len) = (u64::from(key_len as u32), u64::from(val_len as u32));
        limit(c, key_len, abi::MAX_KEY_LEN)?;
        limit(c, val_len, abi::MAX_VALUE_LEN)?;
        range(c, key_ptr, key_len)?;
        range(c, val_ptr, val_len)?;
        per_byte(c, HostFn::StorageWrite, key_len + val_len)?;
        let key = read(c, key_ptr, key_len)?;
        let value = read(c, val_ptr, val_len)?;
        let me = c.data().frame.address;
        match tx(c)?.state.storage_write(&me, &key, value) {
            Ok(existed) => Ok(i32::from(existed)),
            Err(e) => Err(fatal(c, e)),
        }
}

/// The checks and charges of a host function whose only operand is a storage key, in
/// their consensus order (base cost, key length limit, key range, per-byte cost), then
/// the key.
fn key_only<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, f: HostFn, key_ptr: i32, key_len: i32) -> Result<Vec<u8>, Trap> {
    base(c, f)?;
    let key_len = u64::from(key_len as u32);
    limit(c, key_len, abi::MAX_KEY_LEN)?;
    range(c, key_ptr, key_len)?;
    per_byte(c, f, key_len)?;
    read(c, key_ptr, key_len)
}

/// `env.storage_remove` (`specs/abi.md` §4).
pub(crate) fn storage_remove<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, key_ptr: i32, key_len: i32) -> Result<i32, Trap> {
    let key = key_only(c, HostFn::StorageRemove, key_ptr, key_len)?;
    let me = c.data().frame.address;
    match tx(c)?.state.storage_remove(&me, &key) {
        Ok(existed) => Ok(i32::from(existed)),
        Err(e) => Err(fatal(c, e)),
    }
}

/// `env.storage_has` (`specs/abi.md` §4).
pub(crate) fn storage_has<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, key_ptr: i32, key_len: i32) -> Result<i32, Trap> {
    let key = key_only(c, HostFn::StorageHas, key_ptr, key_len)?;
    let me = c.data().frame.address;
    match tx(c)?.state.storage_read(&me, &key) {
        Ok(v) => Ok(i32::from(v.is_some())),
        Err(e) => Err(fatal(c, e)),
    }
}

/// `env.balance` (`specs/abi.md` §4).
pub(crate) fn balance<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, addr_ptr: i32, out_ptr: i32) -> Result<(), Trap> {
    base(c, HostFn::Balance)?;
    range(c, addr_ptr, 32)?;
    range(c, out_ptr, 16)?;
    per_byte(c, HostFn::Balance, 48)?;
    let addr = Address(read_array::<32>(c, addr_ptr)?);
    let balance = match tx(c)?.state.account(&addr) {
        Ok(a) => a.balance,
        Err(e) => return Err(fatal(c, e)),
    };
    write(c, out_ptr, &balance.to_le_bytes())
}

/// `env.transfer` (`specs/abi.md` §4).
pub(crate) fn transfer<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, to_ptr: i32, amount_ptr: i32) -> Result<i32, Trap> {
    base(c, HostFn::Transfer)?;
    range(c, to_ptr, 32)?;
    range(c, amount_ptr, 16)?;
    per_byte(c, HostFn::Transfer, 48)?;
    let to = Address(read_array::<32>(c, to_ptr)?);
    let amount = u128::from_le_bytes(read_array::<16>(c, amount_ptr)?);
    let me = c.data().frame.address;
    match move_value(tx(c)?.state, &me, &to, amount) {
        Ok(true) => Ok(0),
        Ok(false) => Ok(1),
        Err(e) => Err(fatal(c, e)),
    }
}

/// `env.emit_event` (`specs/abi.md` §4).
pub(crate) fn emit_event<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, topics_ptr: i32, topic_count: i32, data_ptr: i32, data_len: i32) -> Result<(), Trap> {
        base(c, HostFn::EmitEvent)?;
        let (count, data_len) = (u64::from(topic_count as u32), u64::from(data_len as u32));
        limit(c, count, abi::MAX_TOPICS)?;
        limit(c, data_len, abi::MAX_EVENT_DATA_LEN)?;
        let emitted = tx(c)?.events.len() as u64;
        limit(c, emitted + 1, abi::MAX_EVENTS_PER_TX as u64)?;
        if count > 0 {
            range(c, topics_ptr, 32 * count)?;
        }
        range(c, data_ptr, data_len)?;
        per_byte(c, HostFn::EmitEvent, 32 * count + data_len)?;
        let topics_raw = if count > 0 { read(c, topics_ptr, 32 * count)? } else { Vec::new() };
        let topics = topics_raw
            .chunks_exact(32)
            .map(|t| {
                let mut h = [0u8; 32];
                h.copy_from_slice(t);
                h
            })
            .collect();
        let data = read(c, data_ptr, data_len)?;
        let contract = c.data().frame.address;
        tx(c)?.events.push(Event { contract, topics, data });
        Ok(())
}

/// `env.call_contract` (`specs/abi.md` §4).
pub(crate) fn call_contract<'a, 'db: 'a>(
    c: &mut impl HostCtx<'a, 'db>,
    callee_ptr: i32,
    value_ptr: i32,
    gas_limit: i64,
    input_ptr: i32,
    input_len: i32,
    out_ptr: i32,
    out_cap: i32,
    out_len_ptr: i32,
) -> Result<i32, Trap> {
        base(c, HostFn::CallContract)?;
        let input_len = u64::from(input_len as u32);
        limit(c, input_len, abi::MAX_INPUT_LEN)?;
        range(c, callee_ptr, 32)?;
        range(c, value_ptr, 16)?;
        range(c, input_ptr, input_len)?;
        range(c, out_ptr, u64::from(out_cap as u32))?;
        range(c, out_len_ptr, 4)?;
        per_byte(c, HostFn::CallContract, 52 + input_len)?;
        let callee = Address(read_array::<32>(c, callee_ptr)?);
        let value = u128::from_le_bytes(read_array::<16>(c, value_ptr)?);
        let input = read(c, input_ptr, input_len)?;
        let me = c.data().frame.address;

        // Step 1: the status before running anything.
        let pre = {
            let t = tx(c)?;
            let accounts = t.state.account(&callee).and_then(|a| Ok((a, t.state.account(&me)?)));
            match accounts {
                Err(e) => Err(e),
                Ok((callee_acc, my_acc)) => Ok(match callee_acc.code_hash {
                    None => Err(status::NO_CONTRACT),
                    Some(_) if t.stack.contains(&callee) => Err(status::REENTRANT),
                    Some(_) if t.stack.len() >= abi::MAX_CALL_DEPTH => Err(status::DEPTH_EXCEEDED),
                    Some(_) if my_acc.balance < value => Err(status::INSUFFICIENT_BALANCE),
                    Some(hash) => Ok(hash),
                }),
            }
        };
        let code_hash = match pre {
            Err(e) => return Err(fatal(c, e)),
            Ok(Err(code)) => {
                write(c, out_len_ptr, &0u32.to_le_bytes())?;
                return Ok(code);
            }
            Ok(Ok(hash)) => hash,
        };

        // Steps 2–3: the callee runs in its own store with min(gas_limit, gas left).
        let callee_gas = (gas_limit as u64).min(c.gas_remaining());
        let rt = c.data().rt;
        let Some(t) = c.data_mut().tx.take() else {
            return Err(Trap::Host("internal: transaction context in use".into()));
        };
        let spec = FrameSpec { code_hash, address: callee, caller: me, value, input, entry: Entry::Call, gas_limit: callee_gas };
        let (t, result) = run_frame(rt, t, spec);
        let failed = t.fatal.is_some();
        c.data_mut().tx = Some(t);
        if failed {
            c.data_mut().frame.end = Some(FrameEnd::Fatal);
            return Err(Trap::Host("state database error".into()));
        }
        // Gas the callee used is consumed whatever the outcome (≤ callee_gas ≤ gas left).
        c.consume_gas(result.gas_used)?;

        // Step 4: the output.
        let (code, output) = match result.status {
            ReceiptStatus::Success => (status::OK, result.return_data),
            ReceiptStatus::Revert(msg) => (status::REVERTED, msg),
            ReceiptStatus::OutOfGas => (status::OUT_OF_GAS, Vec::new()),
            ReceiptStatus::Trap(_) | ReceiptStatus::InvalidCode(_) => (status::TRAPPED, Vec::new()),
        };
        deliver(c, HostFn::CallContract, out_ptr, out_cap, &output)?;
        write(c, out_len_ptr, &(output.len() as u32).to_le_bytes())?;
        Ok(code)
}

/// `env.blake3` (`specs/abi.md` §4).
pub(crate) fn blake3<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, data_ptr: i32, data_len: i32, out_ptr: i32) -> Result<(), Trap> {
    base(c, HostFn::Blake3)?;
    let data_len = u64::from(data_len as u32);
    range(c, data_ptr, data_len)?;
    range(c, out_ptr, 32)?;
    per_byte(c, HostFn::Blake3, data_len + 32)?;
    let data = read(c, data_ptr, data_len)?;
    let hash = blake3::hash(&data);
    write(c, out_ptr, hash.as_bytes())
}

/// `env.ed25519_verify` (`specs/abi.md` §4).
pub(crate) fn ed25519_verify<'a, 'db: 'a>(c: &mut impl HostCtx<'a, 'db>, sig_ptr: i32, pubkey_ptr: i32, msg_ptr: i32, msg_len: i32) -> Result<i32, Trap> {
        base(c, HostFn::Ed25519Verify)?;
        let msg_len = u64::from(msg_len as u32);
        range(c, sig_ptr, 64)?;
        range(c, pubkey_ptr, 32)?;
        range(c, msg_ptr, msg_len)?;
        per_byte(c, HostFn::Ed25519Verify, 96 + msg_len)?;
        let sig = read_array::<64>(c, sig_ptr)?;
        let pk = read_array::<32>(c, pubkey_ptr)?;
        let msg = read(c, msg_ptr, msg_len)?;
        let valid = VerifyingKey::from_bytes(&pk)
            .map(|k| k.verify_strict(&msg, &Signature::from_bytes(&sig)).is_ok())
            .unwrap_or(false);
        Ok(i32::from(valid))
}

/// Moves `amount` from `from` to `to`. `Ok(false)` (nothing moves) if `from` cannot pay or
/// `to`'s balance would overflow u128; a move to oneself or of 0 is a successful no-op.
pub(crate) fn move_value(
    state: &mut crate::state::WorkingState<'_>,
    from: &Address,
    to: &Address,
    amount: u128,
) -> Result<bool, StateError> {
    let mut src = state.account(from)?;
    if src.balance < amount {
        return Ok(false);
    }
    if amount == 0 || from == to {
        return Ok(true);
    }
    let mut dst = state.account(to)?;
    let Some(new_dst) = dst.balance.checked_add(amount) else {
        return Ok(false);
    };
    src.balance -= amount;
    dst.balance = new_dst;
    state.set_account(from, &src);
    state.set_account(to, &dst);
    Ok(true)
}
