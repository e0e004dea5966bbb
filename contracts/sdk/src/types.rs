//! Addresses and balances.

use parity_scale_codec::{Decode, Encode};

/// A 32-byte account or contract address. SCALE-encoded as its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The all-zero address (never a real account; used as "nobody", e.g. in mint events).
    pub const ZERO: Address = Address([0; 32]);

    /// An address with every byte equal to `b` (handy in tests).
    pub const fn repeat_byte(b: u8) -> Address {
        Address([b; 32])
    }

    /// The address bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An amount of the native token: `u128`, 16 bytes little-endian in memory.
pub type Balance = u128;
