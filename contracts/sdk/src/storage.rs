//! Contract storage: raw byte access and typed, SCALE-encoded helpers
//! (`specs/abi.md` §4.2).
//!
//! Key layout used by the typed helpers (so that different helpers never collide):
//! a [`StorageValue`] with name `n` lives at `SCALE(n)` (compact length, then the bytes);
//! an entry `k` of a [`StorageMap`] with prefix `p` lives at `SCALE(p) ++ SCALE(k)`.
//! Give every value and map of a contract a distinct name.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use parity_scale_codec::{Decode, Encode};

use crate::env::revert;
use crate::sys;

/// Size of the stack buffer a read tries first; larger values are read a second time.
const STACK_READ: usize = 256;

/// Reads `key`, passing the value's bytes to `f` without a heap allocation when they fit
/// in a small stack buffer.
fn with_value<R>(key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut buf = [0u8; STACK_READ];
    // SAFETY: `key` is readable; `buf` is valid for STACK_READ bytes of writes.
    let len = unsafe { sys::storage_read(key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), STACK_READ as u32) };
    if len < 0 {
        return None;
    }
    let len = len as usize;
    if len <= STACK_READ {
        return Some(f(&buf[..len]));
    }
    let mut big = vec![0u8; len];
    // SAFETY: `big` is valid for `len` bytes of writes.
    unsafe { sys::storage_read(key.as_ptr(), key.len() as u32, big.as_mut_ptr(), len as u32) };
    Some(f(&big))
}

/// The raw value stored at `key`, if any.
pub fn read(key: &[u8]) -> Option<Vec<u8>> {
    with_value(key, |v| v.to_vec())
}

/// Stores `value` at `key`; returns whether the key had a value before.
pub fn write(key: &[u8], value: &[u8]) -> bool {
    // SAFETY: both slices are readable.
    unsafe { sys::storage_write(key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) == 1 }
}

/// Removes `key`; returns whether it had a value.
pub fn remove(key: &[u8]) -> bool {
    // SAFETY: `key` is readable.
    unsafe { sys::storage_remove(key.as_ptr(), key.len() as u32) == 1 }
}

/// Whether `key` has a value.
pub fn has(key: &[u8]) -> bool {
    // SAFETY: `key` is readable.
    unsafe { sys::storage_has(key.as_ptr(), key.len() as u32) == 1 }
}

/// Decodes the value at `key`; a value that does not decode as `T` reverts with
/// `storage: undecodable value` (storage written by this contract always decodes).
pub fn get<T: Decode>(key: &[u8]) -> Option<T> {
    with_value(key, |mut bytes| match T::decode(&mut bytes) {
        Ok(v) => v,
        Err(_) => revert("storage: undecodable value"),
    })
}

/// SCALE-encodes `value` and stores it at `key`.
pub fn set<T: Encode + ?Sized>(key: &[u8], value: &T) {
    value.using_encoded(|bytes| write(key, bytes));
}

/// One typed value in storage, at key `SCALE(name)`.
///
/// ```ignore
/// static OWNER: StorageValue<Address> = StorageValue::new(b"owner");
/// OWNER.set(&keel_sdk::env::caller());
/// ```
pub struct StorageValue<T> {
    name: &'static [u8],
    _type: PhantomData<fn() -> T>,
}

impl<T: Encode + Decode> StorageValue<T> {
    /// A value stored under `name`.
    pub const fn new(name: &'static [u8]) -> Self {
        StorageValue { name, _type: PhantomData }
    }

    /// The storage key: `SCALE(name)`.
    pub fn key(&self) -> Vec<u8> {
        self.name.encode()
    }

    /// The value, if set.
    pub fn get(&self) -> Option<T> {
        get(&self.key())
    }

    /// The value, or `T::default()` if unset.
    pub fn get_or_default(&self) -> T
    where
        T: Default,
    {
        self.get().unwrap_or_default()
    }

    /// Sets the value.
    pub fn set(&self, value: &T) {
        set(&self.key(), value)
    }

    /// Removes the value; returns whether it was set.
    pub fn remove(&self) -> bool {
        remove(&self.key())
    }

    /// Whether the value is set.
    pub fn exists(&self) -> bool {
        has(&self.key())
    }
}

/// A typed map in storage: entry `k` at key `SCALE(prefix) ++ SCALE(k)`.
///
/// ```ignore
/// static BALANCES: StorageMap<Address, u128> = StorageMap::new(b"balances");
/// let b = BALANCES.get_or_default(&who);
/// BALANCES.insert(&who, &(b + 1));
/// ```
pub struct StorageMap<K, V> {
    prefix: &'static [u8],
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Encode, V: Encode + Decode> StorageMap<K, V> {
    /// A map stored under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        StorageMap { prefix, _types: PhantomData }
    }

    /// The storage key of entry `k`: `SCALE(prefix) ++ SCALE(k)`.
    pub fn key(&self, k: &K) -> Vec<u8> {
        let mut key = self.prefix.encode();
        k.encode_to(&mut key);
        key
    }

    /// The value of entry `k`, if any.
    pub fn get(&self, k: &K) -> Option<V> {
        get(&self.key(k))
    }

    /// The value of entry `k`, or `V::default()`.
    pub fn get_or_default(&self, k: &K) -> V
    where
        V: Default,
    {
        self.get(k).unwrap_or_default()
    }

    /// Sets entry `k` to `v`; returns whether it had a value before.
    pub fn insert(&self, k: &K, v: &V) -> bool {
        let key = self.key(k);
        v.using_encoded(|bytes| write(&key, bytes))
    }

    /// Removes entry `k`; returns whether it had a value.
    pub fn remove(&self, k: &K) -> bool {
        remove(&self.key(k))
    }

    /// Whether entry `k` has a value.
    pub fn contains(&self, k: &K) -> bool {
        has(&self.key(k))
    }
}
