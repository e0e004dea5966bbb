//! An in-memory mock host, so contracts are unit-tested natively with `cargo test`.
//!
//! On native builds every host function of `specs/abi.md` is served from a thread-local
//! [`MockHost`]-like state: storage per contract, balances, events, block data, and a stack
//! of frames (caller, running contract, input, return data). Each test thread has its own
//! state; [`reset`] starts afresh.
//!
//! Two ways to test:
//!
//! * call a contract's functions directly: they run in the *ambient* frame, configured with
//!   [`set_caller`], [`set_self_address`] and [`set_input`]; a revert panics the test
//!   (use [`expect_revert`] to assert on one);
//! * go through the entry points like the node does: [`deploy`] a [`Code`] at an address,
//!   then [`call`] methods on it. Each call runs in its own frame; a revert or panic rolls
//!   back its writes, transfers and events and comes back as `Err(message)`. Deployed code
//!   can be called by other contracts with [`Call`](crate::Call).
//!
//! Not modelled: gas (limits are ignored), memory bounds, the fresh-instance rule (statics
//! of a contract persist between calls in a test; Keel contracts should not rely on them).
//! A panic reverts with its formatted message (on wasm32 without the `panic-fmt` feature
//! a formatted message becomes `panic`).
//!
//! ```
//! use keel_sdk::mock;
//! mock::reset();
//! mock::set_balance(mock::ALICE, 10);
//! assert_eq!(keel_sdk::env::balance(&mock::ALICE), 10);
//! ```

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use parity_scale_codec::{Decode, Encode};

use crate::event::Topic;
use crate::limits::*;
use crate::types::Address;

/// A test account: Alice.
pub const ALICE: Address = Address::repeat_byte(0xA1);
/// A test account: Bob.
pub const BOB: Address = Address::repeat_byte(0xB0);
/// A test account: Carol.
pub const CAROL: Address = Address::repeat_byte(0xC0);
/// The default address of the running contract in the ambient frame.
pub const CONTRACT: Address = Address::repeat_byte(0xCC);

/// An event recorded by the mock host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The emitting contract.
    pub contract: Address,
    /// Topics (each 32 bytes).
    pub topics: Vec<Topic>,
    /// Data bytes.
    pub data: Vec<u8>,
}

/// A contract's code for the mock host: its two entry points as Rust functions.
#[derive(Clone, Copy)]
pub struct Code {
    /// The `deploy` entry point.
    pub deploy: fn(),
    /// The `call` entry point.
    pub call: fn(),
}

/// Panic payload of `revert`.
struct Revert(Vec<u8>);
/// Panic payload of a host trap (a broken ABI rule, e.g. a limit exceeded).
struct Trap(String);

#[derive(Clone, Default)]
struct World {
    storage: BTreeMap<(Address, Vec<u8>), Vec<u8>>,
    balances: BTreeMap<Address, u128>,
    events: Vec<Event>,
}

struct Frame {
    caller: Address,
    this: Address,
    input: Vec<u8>,
    ret: Vec<u8>,
}

struct Host {
    world: World,
    frames: Vec<Frame>,
    height: u64,
    timestamp: u64,
    code: BTreeMap<Address, Code>,
}

impl Host {
    fn new() -> Host {
        Host {
            world: World::default(),
            frames: vec![Frame { caller: ALICE, this: CONTRACT, input: Vec::new(), ret: Vec::new() }],
            height: 1,
            timestamp: 1_700_000_000_000,
            code: BTreeMap::new(),
        }
    }

    fn top(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the ambient frame is never popped")
    }
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host::new());
}

fn with<R>(f: impl FnOnce(&mut Host) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if !(p.is::<Revert>() || p.is::<Trap>()) {
                default(info)
            }
        }));
    });
}

fn trap(msg: String) -> ! {
    quiet_panics();
    panic::panic_any(Trap(msg))
}

/// Starts a fresh host on this thread: empty storage, balances, events and code; the
/// ambient frame has caller [`ALICE`] and address [`CONTRACT`]; block height 1.
pub fn reset() {
    with(|h| *h = Host::new())
}

/// Sets the caller of the ambient frame.
pub fn set_caller(caller: Address) {
    with(|h| h.frames[0].caller = caller)
}

/// Sets the running contract's address of the ambient frame.
pub fn set_self_address(addr: Address) {
    with(|h| h.frames[0].this = addr)
}

/// Sets the call data of the ambient frame.
pub fn set_input(input: Vec<u8>) {
    with(|h| h.frames[0].input = input)
}

/// The return data set in the ambient frame.
pub fn return_data() -> Vec<u8> {
    with(|h| h.frames[0].ret.clone())
}

/// Sets the block height and timestamp (milliseconds).
pub fn set_block(height: u64, timestamp_ms: u64) {
    with(|h| {
        h.height = height;
        h.timestamp = timestamp_ms;
    })
}

/// Sets the native-token balance of `addr`.
pub fn set_balance(addr: Address, amount: u128) {
    with(|h| {
        h.world.balances.insert(addr, amount);
    })
}

/// The native-token balance of `addr`.
pub fn balance_of(addr: Address) -> u128 {
    with(|h| h.world.balances.get(&addr).copied().unwrap_or(0))
}

/// The raw storage value of `contract` at `key`.
pub fn storage(contract: Address, key: &[u8]) -> Option<Vec<u8>> {
    with(|h| h.world.storage.get(&(contract, key.to_vec())).cloned())
}

/// All events emitted so far (rolled-back frames' events are gone).
pub fn events() -> Vec<Event> {
    with(|h| h.world.events.clone())
}

/// Forgets the events emitted so far.
pub fn clear_events() {
    with(|h| h.world.events.clear())
}

/// Installs `code` at `addr` without running `deploy` (for contracts called by others).
pub fn register(addr: Address, code: Code) {
    with(|h| {
        h.code.insert(addr, code);
    })
}

/// Runs `f` in the ambient frame, expecting it to revert; returns the revert message.
/// Panics if `f` returns normally. State changes made before the revert are kept (the
/// ambient frame is not rolled back); use [`call`] for node-like rollback.
pub fn expect_revert<R>(f: impl FnOnce() -> R) -> String {
    quiet_panics();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a revert, but the function returned"),
        Err(p) => match failure_message(p) {
            Ok(msg) => msg,
            Err(trap) => panic!("expected a revert, got a trap: {trap}"),
        },
    }
}

/// Revert message of a panic payload, or Err(trap message).
fn failure_message(p: Box<dyn Any + Send>) -> Result<String, String> {
    if let Some(Revert(msg)) = p.downcast_ref::<Revert>() {
        Ok(String::from_utf8_lossy(msg).into_owned())
    } else if let Some(Trap(msg)) = p.downcast_ref::<Trap>() {
        Err(msg.clone())
    } else if let Some(s) = p.downcast_ref::<&str>() {
        Ok((*s).to_owned())
    } else if let Some(s) = p.downcast_ref::<String>() {
        Ok(s.clone())
    } else {
        Ok("panic".to_owned())
    }
}

enum Exec {
    Returned(Vec<u8>),
    Reverted(Vec<u8>),
    Trapped(String),
    InsufficientBalance,
}

/// Runs `entry` in a new frame with atomic rollback on failure.
fn execute(caller: Address, this: Address, input: Vec<u8>, value: u128, entry: fn()) -> Exec {
    quiet_panics();
    let snapshot = with(|h| {
        let snapshot = h.world.clone();
        let from = h.world.balances.get(&caller).copied().unwrap_or(0);
        if from < value {
            return None;
        }
        if value > 0 && caller != this {
            h.world.balances.insert(caller, from - value);
            *h.world.balances.entry(this).or_insert(0) += value;
        }
        h.frames.push(Frame { caller, this, input, ret: Vec::new() });
        Some(snapshot)
    });
    let Some(snapshot) = snapshot else { return Exec::InsufficientBalance };
    let result = panic::catch_unwind(AssertUnwindSafe(entry));
    let frame = with(|h| h.frames.pop().expect("frame pushed above"));
    match result {
        Ok(()) => Exec::Returned(frame.ret),
        Err(p) => {
            with(|h| h.world = snapshot);
            match failure_message(p) {
                Ok(msg) => Exec::Reverted(msg.into_bytes()),
                Err(trap) => Exec::Trapped(trap),
            }
        }
    }
}

/// Installs `code` at `contract` and runs its `deploy` with `caller` = `deployer` and the
/// SCALE-encoded constructor `args` (a tuple, or `()`). On revert nothing is installed.
pub fn deploy<A: Encode>(code: Code, contract: Address, deployer: Address, args: A) -> Result<(), String> {
    match execute(deployer, contract, args.encode(), 0, code.deploy) {
        Exec::Returned(_) => {
            register(contract, code);
            Ok(())
        }
        Exec::Reverted(msg) => Err(String::from_utf8_lossy(&msg).into_owned()),
        Exec::Trapped(msg) => Err(format!("trap: {msg}")),
        Exec::InsufficientBalance => Err("insufficient balance".to_owned()),
    }
}

/// Calls `method` with SCALE-encoded `args` (a tuple, or `()`) on the contract at
/// `contract` as `caller`, like a Call transaction, and decodes the return data as `R`.
/// `Err` carries the revert message (a trap's message is prefixed with `trap: `).
pub fn call<R: Decode, A: Encode>(caller: Address, contract: Address, method: &str, args: A) -> Result<R, String> {
    call_with_value(caller, contract, method, args, 0)
}

/// [`call`] moving `value` of the native token from `caller` to the contract first.
pub fn call_with_value<R: Decode, A: Encode>(
    caller: Address,
    contract: Address,
    method: &str,
    args: A,
    value: u128,
) -> Result<R, String> {
    let data = call_raw(caller, contract, crate::call::encode_call(method, &args), value)?;
    R::decode(&mut data.as_slice()).map_err(|e| format!("return data does not decode: {e}"))
}

/// Runs the `call` entry point of `contract` with raw call data; returns the raw return data.
pub fn call_raw(caller: Address, contract: Address, input: Vec<u8>, value: u128) -> Result<Vec<u8>, String> {
    let Some(code) = with(|h| h.code.get(&contract).copied()) else {
        return Err("no contract at address".to_owned());
    };
    match execute(caller, contract, input, value, code.call) {
        Exec::Returned(data) => Ok(data),
        Exec::Reverted(msg) => Err(String::from_utf8_lossy(&msg).into_owned()),
        Exec::Trapped(msg) => Err(format!("trap: {msg}")),
        Exec::InsufficientBalance => Err("insufficient balance".to_owned()),
    }
}

/// The raw host functions served by the mock; same signatures as the wasm32 imports.
#[allow(clippy::missing_safety_doc, missing_docs)]
pub(crate) mod abi {
    use super::*;

    /// # Safety
    /// `ptr` valid for `len` reads (or `len == 0`).
    unsafe fn bytes<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
        if len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees `ptr` is valid for `len` reads.
            unsafe { std::slice::from_raw_parts(ptr, len as usize) }
        }
    }

    /// # Safety
    /// `ptr` valid for `data.len()` writes (or empty `data`).
    unsafe fn put(ptr: *mut u8, data: &[u8]) {
        if !data.is_empty() {
            // SAFETY: the caller guarantees `ptr` is valid for `data.len()` writes.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len()) }
        }
    }

    /// # Safety
    /// `ptr` valid for 32 reads.
    unsafe fn addr(ptr: *const u8) -> Address {
        let mut a = [0u8; 32];
        // SAFETY: the caller guarantees 32 readable bytes.
        a.copy_from_slice(unsafe { bytes(ptr, 32) });
        Address(a)
    }

    /// # Safety
    /// `ptr` valid for 16 reads.
    unsafe fn amount(ptr: *const u8) -> u128 {
        let mut a = [0u8; 16];
        // SAFETY: the caller guarantees 16 readable bytes.
        a.copy_from_slice(unsafe { bytes(ptr, 16) });
        u128::from_le_bytes(a)
    }

    fn limit(what: &str, len: u32, max: usize) {
        if len as usize > max {
            trap(format!("HostLimitExceeded: {what} {len} > {max}"))
        }
    }

    pub unsafe fn input(out_ptr: *mut u8, out_cap: u32) -> i32 {
        let data = with(|h| h.top().input.clone());
        let n = data.len().min(out_cap as usize);
        // SAFETY: the SDK passes a buffer of `out_cap` bytes.
        unsafe { put(out_ptr, &data[..n]) };
        data.len() as i32
    }

    pub unsafe fn return_value(ptr: *const u8, len: u32) {
        limit("return data", len, MAX_RETURN_LEN);
        // SAFETY: the SDK passes a readable slice.
        let data = unsafe { bytes(ptr, len) }.to_vec();
        with(|h| h.top().ret = data);
    }

    pub unsafe fn revert(ptr: *const u8, len: u32) -> ! {
        limit("revert message", len, MAX_REVERT_LEN);
        // SAFETY: the SDK passes a readable slice.
        let msg = unsafe { bytes(ptr, len) }.to_vec();
        quiet_panics();
        panic::panic_any(Revert(msg))
    }

    pub unsafe fn caller(out: *mut u8) {
        let a = with(|h| h.top().caller);
        // SAFETY: 32 writable bytes.
        unsafe { put(out, &a.0) }
    }

    pub unsafe fn self_address(out: *mut u8) {
        let a = with(|h| h.top().this);
        // SAFETY: 32 writable bytes.
        unsafe { put(out, &a.0) }
    }

    pub unsafe fn block_height() -> u64 {
        with(|h| h.height)
    }

    pub unsafe fn block_timestamp() -> u64 {
        with(|h| h.timestamp)
    }

    pub unsafe fn balance(addr_ptr: *const u8, out: *mut u8) {
        // SAFETY: 32 readable bytes.
        let a = unsafe { addr(addr_ptr) };
        let b = with(|h| h.world.balances.get(&a).copied().unwrap_or(0));
        // SAFETY: 16 writable bytes.
        unsafe { put(out, &b.to_le_bytes()) }
    }

    pub unsafe fn transfer(to_ptr: *const u8, amount_ptr: *const u8) -> i32 {
        // SAFETY: 32 and 16 readable bytes.
        let (to, value) = unsafe { (addr(to_ptr), amount(amount_ptr)) };
        with(|h| {
            let this = h.top().this;
            let from = h.world.balances.get(&this).copied().unwrap_or(0);
            if from < value {
                return 1;
            }
            if this != to {
                h.world.balances.insert(this, from - value);
                *h.world.balances.entry(to).or_insert(0) += value;
            }
            0
        })
    }

    fn key_of(h: &mut Host, key: &[u8]) -> (Address, Vec<u8>) {
        (h.top().this, key.to_vec())
    }

    pub unsafe fn storage_read(key_ptr: *const u8, key_len: u32, out: *mut u8, out_cap: u32) -> i32 {
        limit("storage key", key_len, MAX_KEY_LEN);
        // SAFETY: readable key.
        let key = unsafe { bytes(key_ptr, key_len) };
        match with(|h| {
            let k = key_of(h, key);
            h.world.storage.get(&k).cloned()
        }) {
            None => -1,
            Some(v) => {
                let n = v.len().min(out_cap as usize);
                // SAFETY: `out_cap` writable bytes.
                unsafe { put(out, &v[..n]) };
                v.len() as i32
            }
        }
    }

    pub unsafe fn storage_write(key_ptr: *const u8, key_len: u32, val_ptr: *const u8, val_len: u32) -> i32 {
        limit("storage key", key_len, MAX_KEY_LEN);
        limit("storage value", val_len, MAX_VALUE_LEN);
        // SAFETY: readable slices.
        let (key, val) = unsafe { (bytes(key_ptr, key_len), bytes(val_ptr, val_len)) };
        with(|h| {
            let k = key_of(h, key);
            h.world.storage.insert(k, val.to_vec()).is_some() as i32
        })
    }

    pub unsafe fn storage_remove(key_ptr: *const u8, key_len: u32) -> i32 {
        limit("storage key", key_len, MAX_KEY_LEN);
        // SAFETY: readable key.
        let key = unsafe { bytes(key_ptr, key_len) };
        with(|h| {
            let k = key_of(h, key);
            h.world.storage.remove(&k).is_some() as i32
        })
    }

    pub unsafe fn storage_has(key_ptr: *const u8, key_len: u32) -> i32 {
        limit("storage key", key_len, MAX_KEY_LEN);
        // SAFETY: readable key.
        let key = unsafe { bytes(key_ptr, key_len) };
        with(|h| {
            let k = key_of(h, key);
            h.world.storage.contains_key(&k) as i32
        })
    }

    pub unsafe fn emit_event(topics_ptr: *const u8, topic_count: u32, data_ptr: *const u8, data_len: u32) {
        limit("event topics", topic_count, MAX_TOPICS);
        limit("event data", data_len, MAX_EVENT_DATA_LEN);
        // SAFETY: `topic_count` 32-byte topics and a readable data slice.
        let (raw, data) = unsafe { (bytes(topics_ptr, topic_count * 32), bytes(data_ptr, data_len)) };
        let topics = raw.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk")).collect();
        with(|h| {
            if h.world.events.len() >= MAX_EVENTS {
                trap(format!("HostLimitExceeded: more than {MAX_EVENTS} events"));
            }
            let contract = h.top().this;
            h.world.events.push(Event { contract, topics, data: data.to_vec() });
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub unsafe fn call_contract(
        callee_ptr: *const u8,
        value_ptr: *const u8,
        _gas_limit: u64,
        input_ptr: *const u8,
        input_len: u32,
        out_ptr: *mut u8,
        out_cap: u32,
        out_len_ptr: *mut u32,
    ) -> i32 {
        limit("call input", input_len, MAX_INPUT_LEN);
        // SAFETY: 32 + 16 readable bytes and a readable input slice.
        let (callee, value, input) = unsafe { (addr(callee_ptr), amount(value_ptr), bytes(input_ptr, input_len).to_vec()) };
        let pre = with(|h| {
            let this = h.top().this;
            let Some(code) = h.code.get(&callee).copied() else { return Err(4) };
            let active = if h.frames.len() > 1 { &h.frames[1..] } else { &h.frames[..] };
            if active.iter().any(|f| f.this == callee) {
                return Err(7);
            }
            if active.len() + 1 > MAX_CALL_DEPTH {
                return Err(6);
            }
            if h.world.balances.get(&this).copied().unwrap_or(0) < value {
                return Err(5);
            }
            Ok((this, code))
        });
        let (status, output) = match pre {
            Err(status) => (status, Vec::new()),
            Ok((this, code)) => match execute(this, callee, input, value, code.call) {
                Exec::Returned(data) => (0, data),
                Exec::Reverted(msg) => (1, msg),
                Exec::Trapped(_) => (2, Vec::new()),
                Exec::InsufficientBalance => (5, Vec::new()),
            },
        };
        let n = output.len().min(out_cap as usize);
        // SAFETY: `out_cap` writable bytes at `out_ptr`, 4 at `out_len_ptr`.
        unsafe {
            put(out_ptr, &output[..n]);
            out_len_ptr.write_unaligned(output.len() as u32);
        }
        status
    }

    pub unsafe fn blake3(data_ptr: *const u8, data_len: u32, out: *mut u8) {
        // SAFETY: readable data, 32 writable bytes.
        unsafe { put(out, ::blake3::hash(bytes(data_ptr, data_len)).as_bytes()) }
    }

    pub unsafe fn ed25519_verify(sig_ptr: *const u8, pk_ptr: *const u8, msg_ptr: *const u8, msg_len: u32) -> i32 {
        // SAFETY: 64 + 32 readable bytes and a readable message.
        let (sig, pk, msg) = unsafe { (bytes(sig_ptr, 64), bytes(pk_ptr, 32), bytes(msg_ptr, msg_len)) };
        let sig = ed25519_dalek::Signature::from_slice(sig);
        let pk = <[u8; 32]>::try_from(pk).ok().and_then(|pk| ed25519_dalek::VerifyingKey::from_bytes(&pk).ok());
        match (sig, pk) {
            (Ok(sig), Some(pk)) => pk.verify_strict(msg, &sig).is_ok() as i32,
            _ => 0,
        }
    }
}
