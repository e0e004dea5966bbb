//! The host functions of module `"env"` (`specs/abi.md` §4), over `keel_engine`'s
//! [`Linker`]. Every function follows the order of checks and charges of `specs/abi.md`
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

type Ctx<'c, 'a, 'db> = Caller<'c, Host<'a, 'db>>;

/// Charges the `base` gas of `f` (§3.1 step 1).
fn base(c: &mut Ctx<'_, '_, '_>, f: HostFn) -> Result<(), Trap> {
    let gas = c.data().rt.host_cost(f).base;
    c.consume_gas(gas)
}

/// Charges `per_byte × bytes` of `f` (§3.1 steps 4 and 6).
fn per_byte(c: &mut Ctx<'_, '_, '_>, f: HostFn, bytes: u64) -> Result<(), Trap> {
    let gas = c.data().rt.host_cost(f).per_byte.saturating_mul(bytes);
    c.consume_gas(gas)
}

/// §3.1 step 2: `len ≤ max`, else the frame ends with `HostLimitExceeded`.
fn limit(c: &mut Ctx<'_, '_, '_>, len: u64, max: u64) -> Result<(), Trap> {
    if len > max {
        c.data_mut().frame.end = Some(FrameEnd::HostLimit);
        return Err(Trap::Host(format!("host limit exceeded: {len} > {max}")));
    }
    Ok(())
}

/// §3.1 step 3: `ptr + len` (64-bit, unsigned `ptr`) must not pass the memory size.
fn range(c: &Ctx<'_, '_, '_>, ptr: i32, len: u64) -> Result<(), Trap> {
    let end = u64::from(ptr as u32).checked_add(len).ok_or(Trap::MemoryOutOfBounds)?;
    if end > c.memory_size() {
        return Err(Trap::MemoryOutOfBounds);
    }
    Ok(())
}

/// Reads a range already checked with [`range`] (so the allocation is bounded by the
/// memory size).
fn read(c: &Ctx<'_, '_, '_>, ptr: i32, len: u64) -> Result<Vec<u8>, Trap> {
    let mut buf = vec![0u8; len as usize];
    c.read_memory(u64::from(ptr as u32), &mut buf)?;
    Ok(buf)
}

fn read_array<const N: usize>(c: &Ctx<'_, '_, '_>, ptr: i32) -> Result<[u8; N], Trap> {
    let mut buf = [0u8; N];
    c.read_memory(u64::from(ptr as u32), &mut buf)?;
    Ok(buf)
}

fn write(c: &mut Ctx<'_, '_, '_>, ptr: i32, data: &[u8]) -> Result<(), Trap> {
    c.write_memory(u64::from(ptr as u32), data)
}

/// The transaction context. It is absent only while a nested frame runs, when no host
/// function of this frame can be called; a `Trap::Host` here would be a runtime bug.
fn tx<'c, 'a, 'db>(c: &'c mut Ctx<'_, 'a, 'db>) -> Result<&'c mut TxExec<'a, 'db>, Trap> {
    c.data_mut().tx.as_mut().ok_or_else(|| Trap::Host("internal: transaction context in use".into()))
}

/// A state-database failure: not the contract's fault. Ends the frame and marks the
/// transaction so that the block is aborted ([`crate::runtime::RuntimeError::State`]).
fn fatal(c: &mut Ctx<'_, '_, '_>, e: StateError) -> Trap {
    let host = c.data_mut();
    host.frame.end = Some(FrameEnd::Fatal);
    if let Some(tx) = host.tx.as_mut() {
        tx.fatal.get_or_insert(e);
    }
    Trap::Host("state database error".into())
}

/// Copies `value` into `(out_ptr, out_cap)` per §3.2, charging step 6 for the bytes written.
fn deliver(c: &mut Ctx<'_, '_, '_>, f: HostFn, out_ptr: i32, out_cap: i32, value: &[u8]) -> Result<(), Trap> {
    let n = value.len().min(out_cap as u32 as usize);
    per_byte(c, f, n as u64)?;
    write(c, out_ptr, &value[..n])
}

/// Adds every host function of ABI v1 to `linker`. The lifetimes are late-bound, so the
/// closures are `'static` whatever state the store's [`Host`] borrows.
pub(crate) fn add_to_linker<'a, 'db>(linker: &mut Linker<Host<'a, 'db>>) {
    linker.func_wrap("env", "input", |mut c: Ctx<'_, 'a, 'db>, out_ptr: i32, out_cap: i32| -> Result<i32, Trap> {
        base(&mut c, HostFn::Input)?;
        range(&c, out_ptr, u64::from(out_cap as u32))?;
        let input = std::mem::take(&mut c.data_mut().frame.input);
        let r = deliver(&mut c, HostFn::Input, out_ptr, out_cap, &input);
        let len = input.len() as i32;
        c.data_mut().frame.input = input;
        r.map(|()| len)
    });

    linker.func_wrap("env", "return_value", |mut c: Ctx<'_, 'a, 'db>, ptr: i32, len: i32| -> Result<(), Trap> {
        base(&mut c, HostFn::ReturnValue)?;
        let len = u64::from(len as u32);
        limit(&mut c, len, abi::MAX_RETURN_LEN)?;
        range(&c, ptr, len)?;
        per_byte(&mut c, HostFn::ReturnValue, len)?;
        let data = read(&c, ptr, len)?;
        c.data_mut().frame.return_data = data;
        Ok(())
    });

    linker.func_wrap("env", "revert", |mut c: Ctx<'_, 'a, 'db>, ptr: i32, len: i32| -> Result<(), Trap> {
        base(&mut c, HostFn::Revert)?;
        let len = u64::from(len as u32);
        limit(&mut c, len, abi::MAX_REVERT_LEN)?;
        range(&c, ptr, len)?;
        per_byte(&mut c, HostFn::Revert, len)?;
        let msg = read(&c, ptr, len)?;
        c.data_mut().frame.end = Some(FrameEnd::Revert(msg));
        Err(Trap::Host("revert".into()))
    });

    linker.func_wrap("env", "caller", |mut c: Ctx<'_, 'a, 'db>, out_ptr: i32| -> Result<(), Trap> {
        base(&mut c, HostFn::Caller)?;
        range(&c, out_ptr, 32)?;
        per_byte(&mut c, HostFn::Caller, 32)?;
        let who = c.data().frame.caller;
        write(&mut c, out_ptr, &who.0)
    });

    linker.func_wrap("env", "self_address", |mut c: Ctx<'_, 'a, 'db>, out_ptr: i32| -> Result<(), Trap> {
        base(&mut c, HostFn::SelfAddress)?;
        range(&c, out_ptr, 32)?;
        per_byte(&mut c, HostFn::SelfAddress, 32)?;
        let me = c.data().frame.address;
        write(&mut c, out_ptr, &me.0)
    });

    linker.func_wrap("env", "block_height", |mut c: Ctx<'_, 'a, 'db>| -> Result<i64, Trap> {
        base(&mut c, HostFn::BlockHeight)?;
        Ok(tx(&mut c)?.env.height as i64)
    });

    linker.func_wrap("env", "block_timestamp", |mut c: Ctx<'_, 'a, 'db>| -> Result<i64, Trap> {
        base(&mut c, HostFn::BlockTimestamp)?;
        Ok(tx(&mut c)?.env.timestamp_ms as i64)
    });

    linker.func_wrap(
        "env",
        "storage_read",
        |mut c: Ctx<'_, 'a, 'db>, key_ptr: i32, key_len: i32, out_ptr: i32, out_cap: i32| -> Result<i32, Trap> {
            base(&mut c, HostFn::StorageRead)?;
            let key_len = u64::from(key_len as u32);
            limit(&mut c, key_len, abi::MAX_KEY_LEN)?;
            range(&c, key_ptr, key_len)?;
            range(&c, out_ptr, u64::from(out_cap as u32))?;
            per_byte(&mut c, HostFn::StorageRead, key_len)?;
            let key = read(&c, key_ptr, key_len)?;
            let me = c.data().frame.address;
            let value = match tx(&mut c)?.state.storage_read(&me, &key) {
                Ok(v) => v,
                Err(e) => return Err(fatal(&mut c, e)),
            };
            match value {
                None => Ok(-1),
                Some(v) => {
                    deliver(&mut c, HostFn::StorageRead, out_ptr, out_cap, &v)?;
                    Ok(v.len() as i32)
                }
            }
        },
    );

    linker.func_wrap(
        "env",
        "storage_write",
        |mut c: Ctx<'_, 'a, 'db>, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32| -> Result<i32, Trap> {
            base(&mut c, HostFn::StorageWrite)?;
            let (key_len, val_len) = (u64::from(key_len as u32), u64::from(val_len as u32));
            limit(&mut c, key_len, abi::MAX_KEY_LEN)?;
            limit(&mut c, val_len, abi::MAX_VALUE_LEN)?;
            range(&c, key_ptr, key_len)?;
            range(&c, val_ptr, val_len)?;
            per_byte(&mut c, HostFn::StorageWrite, key_len + val_len)?;
            let key = read(&c, key_ptr, key_len)?;
            let value = read(&c, val_ptr, val_len)?;
            let me = c.data().frame.address;
            match tx(&mut c)?.state.storage_write(&me, &key, value) {
                Ok(existed) => Ok(i32::from(existed)),
                Err(e) => Err(fatal(&mut c, e)),
            }
        },
    );

    linker.func_wrap("env", "storage_remove", |mut c: Ctx<'_, 'a, 'db>, key_ptr: i32, key_len: i32| -> Result<i32, Trap> {
        base(&mut c, HostFn::StorageRemove)?;
        let key_len = u64::from(key_len as u32);
        limit(&mut c, key_len, abi::MAX_KEY_LEN)?;
        range(&c, key_ptr, key_len)?;
        per_byte(&mut c, HostFn::StorageRemove, key_len)?;
        let key = read(&c, key_ptr, key_len)?;
        let me = c.data().frame.address;
        match tx(&mut c)?.state.storage_remove(&me, &key) {
            Ok(existed) => Ok(i32::from(existed)),
            Err(e) => Err(fatal(&mut c, e)),
        }
    });

    linker.func_wrap("env", "storage_has", |mut c: Ctx<'_, 'a, 'db>, key_ptr: i32, key_len: i32| -> Result<i32, Trap> {
        base(&mut c, HostFn::StorageHas)?;
        let key_len = u64::from(key_len as u32);
        limit(&mut c, key_len, abi::MAX_KEY_LEN)?;
        range(&c, key_ptr, key_len)?;
        per_byte(&mut c, HostFn::StorageHas, key_len)?;
        let key = read(&c, key_ptr, key_len)?;
        let me = c.data().frame.address;
        match tx(&mut c)?.state.storage_read(&me, &key) {
            Ok(v) => Ok(i32::from(v.is_some())),
            Err(e) => Err(fatal(&mut c, e)),
        }
    });

    linker.func_wrap("env", "balance", |mut c: Ctx<'_, 'a, 'db>, addr_ptr: i32, out_ptr: i32| -> Result<(), Trap> {
        base(&mut c, HostFn::Balance)?;
        range(&c, addr_ptr, 32)?;
        range(&c, out_ptr, 16)?;
        per_byte(&mut c, HostFn::Balance, 48)?;
        let addr = Address(read_array::<32>(&c, addr_ptr)?);
        let balance = match tx(&mut c)?.state.account(&addr) {
            Ok(a) => a.balance,
            Err(e) => return Err(fatal(&mut c, e)),
        };
        write(&mut c, out_ptr, &balance.to_le_bytes())
    });

    linker.func_wrap("env", "transfer", |mut c: Ctx<'_, 'a, 'db>, to_ptr: i32, amount_ptr: i32| -> Result<i32, Trap> {
        base(&mut c, HostFn::Transfer)?;
        range(&c, to_ptr, 32)?;
        range(&c, amount_ptr, 16)?;
        per_byte(&mut c, HostFn::Transfer, 48)?;
        let to = Address(read_array::<32>(&c, to_ptr)?);
        let amount = u128::from_le_bytes(read_array::<16>(&c, amount_ptr)?);
        let me = c.data().frame.address;
        match move_value(tx(&mut c)?.state, &me, &to, amount) {
            Ok(true) => Ok(0),
            Ok(false) => Ok(1),
            Err(e) => Err(fatal(&mut c, e)),
        }
    });

    linker.func_wrap(
        "env",
        "emit_event",
        |mut c: Ctx<'_, 'a, 'db>, topics_ptr: i32, topic_count: i32, data_ptr: i32, data_len: i32| -> Result<(), Trap> {
            base(&mut c, HostFn::EmitEvent)?;
            let (count, data_len) = (u64::from(topic_count as u32), u64::from(data_len as u32));
            limit(&mut c, count, abi::MAX_TOPICS)?;
            limit(&mut c, data_len, abi::MAX_EVENT_DATA_LEN)?;
            let emitted = tx(&mut c)?.events.len() as u64;
            limit(&mut c, emitted + 1, abi::MAX_EVENTS_PER_TX as u64)?;
            if count > 0 {
                range(&c, topics_ptr, 32 * count)?;
            }
            range(&c, data_ptr, data_len)?;
            per_byte(&mut c, HostFn::EmitEvent, 32 * count + data_len)?;
            let topics_raw = if count > 0 { read(&c, topics_ptr, 32 * count)? } else { Vec::new() };
            let topics = topics_raw
                .chunks_exact(32)
                .map(|t| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(t);
                    h
                })
                .collect();
            let data = read(&c, data_ptr, data_len)?;
            let contract = c.data().frame.address;
            tx(&mut c)?.events.push(Event { contract, topics, data });
            Ok(())
        },
    );

    linker.func_wrap(
        "env",
        "call_contract",
        |mut c: Ctx<'_, 'a, 'db>,
         callee_ptr: i32,
         value_ptr: i32,
         gas_limit: i64,
         input_ptr: i32,
         input_len: i32,
         out_ptr: i32,
         out_cap: i32,
         out_len_ptr: i32|
         -> Result<i32, Trap> {
            base(&mut c, HostFn::CallContract)?;
            let input_len = u64::from(input_len as u32);
            limit(&mut c, input_len, abi::MAX_INPUT_LEN)?;
            range(&c, callee_ptr, 32)?;
            range(&c, value_ptr, 16)?;
            range(&c, input_ptr, input_len)?;
            range(&c, out_ptr, u64::from(out_cap as u32))?;
            range(&c, out_len_ptr, 4)?;
            per_byte(&mut c, HostFn::CallContract, 52 + input_len)?;
            let callee = Address(read_array::<32>(&c, callee_ptr)?);
            let value = u128::from_le_bytes(read_array::<16>(&c, value_ptr)?);
            let input = read(&c, input_ptr, input_len)?;
            let me = c.data().frame.address;

            // Step 1: the status before running anything.
            let pre = {
                let t = tx(&mut c)?;
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
                Err(e) => return Err(fatal(&mut c, e)),
                Ok(Err(code)) => {
                    write(&mut c, out_len_ptr, &0u32.to_le_bytes())?;
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
            deliver(&mut c, HostFn::CallContract, out_ptr, out_cap, &output)?;
            write(&mut c, out_len_ptr, &(output.len() as u32).to_le_bytes())?;
            Ok(code)
        },
    );

    linker.func_wrap("env", "blake3", |mut c: Ctx<'_, 'a, 'db>, data_ptr: i32, data_len: i32, out_ptr: i32| -> Result<(), Trap> {
        base(&mut c, HostFn::Blake3)?;
        let data_len = u64::from(data_len as u32);
        range(&c, data_ptr, data_len)?;
        range(&c, out_ptr, 32)?;
        per_byte(&mut c, HostFn::Blake3, data_len + 32)?;
        let data = read(&c, data_ptr, data_len)?;
        let hash = blake3::hash(&data);
        write(&mut c, out_ptr, hash.as_bytes())
    });

    linker.func_wrap(
        "env",
        "ed25519_verify",
        |mut c: Ctx<'_, 'a, 'db>, sig_ptr: i32, pubkey_ptr: i32, msg_ptr: i32, msg_len: i32| -> Result<i32, Trap> {
            base(&mut c, HostFn::Ed25519Verify)?;
            let msg_len = u64::from(msg_len as u32);
            range(&c, sig_ptr, 64)?;
            range(&c, pubkey_ptr, 32)?;
            range(&c, msg_ptr, msg_len)?;
            per_byte(&mut c, HostFn::Ed25519Verify, 96 + msg_len)?;
            let sig = read_array::<64>(&c, sig_ptr)?;
            let pk = read_array::<32>(&c, pubkey_ptr)?;
            let msg = read(&c, msg_ptr, msg_len)?;
            let valid = VerifyingKey::from_bytes(&pk)
                .map(|k| k.verify_strict(&msg, &Signature::from_bytes(&sig)).is_ok())
                .unwrap_or(false);
            Ok(i32::from(valid))
        },
    );
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
