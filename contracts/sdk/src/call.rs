//! Call data decoding, return data, and cross-contract calls (`specs/abi.md` §1, §4.5).
//!
//! Call data of `call` is `SCALE(method name: String) ++ SCALE(arg1) ++ SCALE(arg2) ...`;
//! the call data of `deploy` is the arguments only. [`Input`] decodes it, reverting with a
//! message on anything malformed (call data is untrusted).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};

use crate::env::{self, revert};
use crate::sys;
use crate::types::{Address, Balance};

/// The frame's call data, decoded piece by piece.
///
/// ```ignore
/// let mut input = Input::read();
/// match input.method().as_str() {
///     "add" => { let (a, b): (u64, u64) = (input.arg(), input.arg()); ret(&(a + b)) }
///     _ => keel_sdk::env::revert("unknown method"),
/// }
/// ```
pub struct Input {
    data: Vec<u8>,
    pos: usize,
}

impl Input {
    /// Reads the frame's call data from the host.
    pub fn read() -> Input {
        Input::from_bytes(env::input())
    }

    /// Wraps given call data (for tests and for decoding return data).
    pub fn from_bytes(data: Vec<u8>) -> Input {
        Input { data, pos: 0 }
    }

    /// Decodes the method name (the first item of `call`'s input). Reverts with
    /// `bad call data: method name` if it is not a SCALE string.
    pub fn method(&mut self) -> String {
        self.decode().unwrap_or_else(|| revert("bad call data: method name"))
    }

    /// Decodes the next argument. Reverts with `bad call data: argument` if the remaining
    /// bytes do not start with a valid `T`.
    pub fn arg<T: Decode>(&mut self) -> T {
        self.decode().unwrap_or_else(|| revert("bad call data: argument"))
    }

    /// Reverts with `bad call data: trailing bytes` unless all call data was consumed.
    pub fn finish(&self) {
        if self.pos != self.data.len() {
            revert("bad call data: trailing bytes")
        }
    }

    /// Decodes the next item, or `None` (without reverting) if it does not decode.
    pub fn decode<T: Decode>(&mut self) -> Option<T> {
        let mut rest = self.data.get(self.pos..)?;
        let before = rest.len();
        let value = T::decode(&mut rest).ok()?;
        self.pos += before - rest.len();
        Some(value)
    }
}

/// Sets the frame's return data to the SCALE encoding of `value`.
pub fn ret<T: Encode + ?Sized>(value: &T) {
    value.using_encoded(env::return_value)
}

/// Encodes the call data of `method` with the SCALE-encoded `args` (a tuple, or `()`).
pub fn encode_call<A: Encode>(method: &str, args: &A) -> Vec<u8> {
    let mut data = method.encode();
    args.encode_to(&mut data);
    data
}

/// Why a cross-contract call did not return a value (`specs/abi.md` §4.5 status codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The callee reverted with this message (lossy UTF-8).
    Reverted(String),
    /// The callee trapped.
    Trapped,
    /// The callee ran out of gas.
    OutOfGas,
    /// No contract at the callee address.
    NoContract,
    /// The running contract cannot pay the call's value.
    InsufficientBalance,
    /// The call would exceed the maximum call depth.
    DepthExceeded,
    /// The callee is already executing in this call stack.
    Reentrant,
    /// The callee returned more bytes than the output capacity.
    Truncated {
        /// Full length of the return data.
        len: u32,
    },
    /// The return data did not decode as the expected type.
    Undecodable,
    /// A status code this SDK does not know.
    Unknown(i32),
}

impl CallError {
    /// A short description, used as the revert message by [`Call::invoke_or_revert`].
    pub fn message(&self) -> String {
        use alloc::string::ToString;
        match self {
            CallError::Reverted(m) => {
                let mut s = String::from("callee reverted: ");
                s.push_str(m);
                s
            }
            CallError::Trapped => "callee trapped".to_string(),
            CallError::OutOfGas => "callee out of gas".to_string(),
            CallError::NoContract => "no contract at callee address".to_string(),
            CallError::InsufficientBalance => "insufficient balance for call value".to_string(),
            CallError::DepthExceeded => "call depth exceeded".to_string(),
            CallError::Reentrant => "reentrant call rejected".to_string(),
            CallError::Truncated { .. } => "callee return data truncated".to_string(),
            CallError::Undecodable => "callee return data undecodable".to_string(),
            CallError::Unknown(_) => "unknown call status".to_string(),
        }
    }
}

/// Default output capacity of a [`Call`], in bytes.
pub const DEFAULT_OUTPUT_CAPACITY: u32 = 4096;

/// A cross-contract call being built: callee, method, arguments, value, gas.
///
/// ```ignore
/// let ok: bool = Call::new(token, "transfer").arg(&to).arg(&amount).invoke_or_revert();
/// ```
pub struct Call {
    callee: Address,
    input: Vec<u8>,
    value: Balance,
    gas_limit: u64,
    output_capacity: u32,
}

impl Call {
    /// A call of `method` on the contract at `callee`, with no value and all remaining gas.
    pub fn new(callee: Address, method: &str) -> Call {
        Call { callee, input: method.encode(), value: 0, gas_limit: u64::MAX, output_capacity: DEFAULT_OUTPUT_CAPACITY }
    }

    /// A call with raw call data (not built from a method name).
    pub fn raw(callee: Address, input: Vec<u8>) -> Call {
        Call { callee, input, value: 0, gas_limit: u64::MAX, output_capacity: DEFAULT_OUTPUT_CAPACITY }
    }

    /// Appends the SCALE encoding of one argument.
    pub fn arg<T: Encode + ?Sized>(mut self, arg: &T) -> Call {
        arg.encode_to(&mut self.input);
        self
    }

    /// Native-token value moved to the callee with the call (rolled back if it fails).
    pub fn value(mut self, value: Balance) -> Call {
        self.value = value;
        self
    }

    /// Gas limit of the callee (capped by the host at the caller's remaining gas).
    pub fn gas_limit(mut self, gas: u64) -> Call {
        self.gas_limit = gas;
        self
    }

    /// The most return-data bytes accepted (default 4 096); longer results are an error.
    pub fn output_capacity(mut self, cap: u32) -> Call {
        self.output_capacity = cap;
        self
    }

    /// Performs the call and returns the callee's raw return data.
    pub fn invoke_raw(self) -> Result<Vec<u8>, CallError> {
        let mut out = vec![0u8; self.output_capacity as usize];
        let mut out_len: u32 = 0;
        let value = self.value.to_le_bytes();
        // SAFETY: every pointer is valid for the length passed with it; `out_len` is 4
        // writable bytes.
        let status = unsafe {
            sys::call_contract(
                self.callee.0.as_ptr(),
                value.as_ptr(),
                self.gas_limit,
                self.input.as_ptr(),
                self.input.len() as u32,
                out.as_mut_ptr(),
                self.output_capacity,
                &mut out_len,
            )
        };
        let written = (out_len as usize).min(out.len());
        out.truncate(written);
        out.shrink_to_fit();
        match status {
            0 if out_len > self.output_capacity => Err(CallError::Truncated { len: out_len }),
            0 => Ok(out),
            1 => Err(CallError::Reverted(String::from_utf8_lossy(&out).into_owned())),
            2 => Err(CallError::Trapped),
            3 => Err(CallError::OutOfGas),
            4 => Err(CallError::NoContract),
            5 => Err(CallError::InsufficientBalance),
            6 => Err(CallError::DepthExceeded),
            7 => Err(CallError::Reentrant),
            s => Err(CallError::Unknown(s)),
        }
    }

    /// Performs the call and decodes the return data as `R` (`()` for no return data).
    pub fn invoke<R: Decode>(self) -> Result<R, CallError> {
        let data = self.invoke_raw()?;
        let mut slice = data.as_slice();
        let value = R::decode(&mut slice).map_err(|_| CallError::Undecodable)?;
        if !slice.is_empty() {
            return Err(CallError::Undecodable);
        }
        Ok(value)
    }

    /// [`invoke`](Call::invoke), reverting the caller with [`CallError::message`] on failure.
    pub fn invoke_or_revert<R: Decode>(self) -> R {
        match self.invoke() {
            Ok(v) => v,
            Err(e) => revert(&e.message()),
        }
    }
}
