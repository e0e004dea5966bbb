//! Every example contract of contracts/wasm deployed and exercised through signed
//! transactions in blocks, with results and events checked against values computed
//! independently (SCALE by hand, SHA-256 with the `sha2` crate, BLAKE3 with `blake3`,
//! signatures with `ed25519-dalek`).

mod common;
use common::chain::*;
use common::{key, who};
use ed25519_dalek::Signer;
use keel_node::chain::*;
use keel_node::state::Address;
use parity_scale_codec::{Decode, Encode};
use sha2::Digest;

fn ok(r: &Receipt) -> &[u8] {
    assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
    &r.return_data
}

fn reverted(r: &Receipt, msg: &str) {
    assert_eq!(r.status, ReceiptStatus::Revert(msg.as_bytes().to_vec()), "{r:?}");
    assert!(r.events.is_empty() && r.return_data.is_empty());
}

#[test]
fn counter() {
    let mut c = Chain::new();
    let (counter, r) = c.deploy(1, wasm("counter"), 5u64.encode());
    ok(&r);
    assert_eq!(ok(&c.call(2, counter, call_data("get", ()))), 5u64.encode());
    let r = c.call(2, counter, call_data("increment", 3u64));
    assert_eq!(ok(&r), 8u64.encode());
    assert_eq!(r.events, vec![Event { contract: counter, topics: vec![topic("Incremented"), who(2).0], data: 8u64.encode() }]);
    reverted(&c.call(2, counter, call_data("increment", u64::MAX)), "counter overflow");
    reverted(&c.call(2, counter, call_data("reset", ())), "only the owner can reset");
    ok(&c.call(1, counter, call_data("reset", ())));
    assert_eq!(ok(&c.call(2, counter, call_data("get", ()))), 0u64.encode());
    // Malformed call data: a truncated argument, trailing bytes, no method name at all.
    reverted(&c.call(2, counter, call_data("increment", 3u32)), "bad call data: argument");
    reverted(&c.call(2, counter, call_data("get", 1u8)), "bad call data: trailing bytes");
    reverted(&c.call(2, counter, vec![0xff]), "bad call data: method name");
}

#[test]
fn c_counter() {
    let mut c = Chain::new();
    // Constructor input: 8 bytes, u64 LE (== SCALE u64).
    let (counter, r) = c.deploy(1, wasm("c_counter"), 40u64.to_le_bytes().to_vec());
    ok(&r);
    let r = c.call(3, counter, call_data("increment", 2u64));
    assert_eq!(ok(&r), 42u64.to_le_bytes());
    assert_eq!(r.events, vec![Event { contract: counter, topics: vec![topic("Incremented"), who(3).0], data: 42u64.to_le_bytes().to_vec() }]);
    assert_eq!(ok(&c.call(3, counter, call_data("get", ()))), 42u64.to_le_bytes());
    reverted(&c.call(3, counter, call_data("increment", u64::MAX)), "counter overflow");
    reverted(&c.call(3, counter, call_data("decrement", 1u64)), "unknown method");
    // A constructor that reverts leaves no contract behind.
    let (addr, r) = c.deploy(1, wasm("c_counter"), vec![1, 2, 3]);
    reverted(&r, "bad call data: argument");
    let acc = c.view().account_opt(&addr).unwrap();
    assert!(acc.is_none(), "no account for a failed deployment: {acc:?}");
}

#[test]
fn token() {
    let mut c = Chain::new();
    let (token, r) = c.deploy(1, wasm("token"), ("Gold".to_string(), "GLD".to_string(), 500u128).encode());
    ok(&r);
    assert_eq!(ok(&c.call(2, token, call_data("symbol", ()))), "GLD".to_string().encode());
    assert_eq!(ok(&c.call(2, token, call_data("decimals", ()))), 18u8.encode());
    reverted(&c.call(2, token, call_data("transfer_from", (who(1), who(2), 1u128))), "insufficient allowance");
    ok(&c.call(1, token, call_data("approve", (who(2), 10u128))));
    let r = c.call(2, token, call_data("transfer_from", (who(1), who(3), 10u128)));
    assert_eq!(ok(&r), true.encode());
    assert_eq!(r.events[0].topics, vec![topic("Transfer"), who(1).0, who(3).0]);
    assert_eq!(ok(&c.call(2, token, call_data("balance_of", who(3)))), 10u128.encode());
    assert_eq!(ok(&c.call(2, token, call_data("balance_of", who(1)))), 490u128.encode());
}

/// Escrow → token cross-contract calls: approve, fund (token.transfer_from), release
/// (token.transfer); events of both contracts in emission order.
#[test]
fn escrow_with_token() {
    let mut c = Chain::new();
    let (token, r) = c.deploy(1, wasm("token"), ("T".to_string(), "T".to_string(), 1_000u128).encode());
    ok(&r);
    let (buyer, seller, arbiter) = (who(1), who(2), who(3));
    let (escrow, r) = c.deploy(2, wasm("escrow"), (token, buyer, seller, arbiter, 300u128).encode());
    ok(&r);
    assert_eq!(ok(&c.call(4, escrow, call_data("state", ()))), 0u8.encode());
    reverted(&c.call(4, escrow, call_data("fund", ())), "only the buyer can fund");
    // Without approval the token call reverts, and fund reverts with its message.
    reverted(&c.call(1, escrow, call_data("fund", ())), "callee reverted: insufficient allowance");
    ok(&c.call(1, token, call_data("approve", (escrow, 300u128))));
    let r = c.call(1, escrow, call_data("fund", ()));
    ok(&r);
    assert_eq!(
        r.events,
        vec![
            Event { contract: token, topics: vec![topic("Transfer"), buyer.0, escrow.0], data: 300u128.encode() },
            Event { contract: escrow, topics: vec![topic("StateChanged")], data: 1u8.encode() },
        ]
    );
    assert_eq!(ok(&c.call(4, token, call_data("balance_of", escrow))), 300u128.encode());
    reverted(&c.call(2, escrow, call_data("release", ())), "only the buyer or arbiter can release");
    let r = c.call(3, escrow, call_data("release", ()));
    ok(&r);
    assert_eq!(r.events[0], Event { contract: token, topics: vec![topic("Transfer"), escrow.0, seller.0], data: 300u128.encode() });
    assert_eq!(ok(&c.call(4, token, call_data("balance_of", seller))), 300u128.encode());
    assert_eq!(ok(&c.call(4, token, call_data("balance_of", escrow))), 0u128.encode());
    assert_eq!(ok(&c.call(4, escrow, call_data("state", ()))), 2u8.encode());
    reverted(&c.call(1, escrow, call_data("refund", ())), "only the seller or arbiter can refund");
}

#[test]
fn registry() {
    let mut c = Chain::new();
    let (reg, r) = c.deploy(1, wasm("registry"), vec![]);
    ok(&r);
    let name = "keel-node".to_string();
    let r = c.call(2, reg, call_data("register", &name));
    ok(&r);
    assert_eq!(r.events, vec![Event { contract: reg, topics: vec![topic("Registered"), who(2).0], data: name.encode() }]);
    assert_eq!(ok(&c.call(4, reg, call_data("owner_of", &name))), Some(who(2)).encode());
    reverted(&c.call(3, reg, call_data("register", &name)), "name taken");
    reverted(&c.call(3, reg, call_data("register", "Bad Name")), "invalid name");
    reverted(&c.call(3, reg, call_data("transfer", (&name, who(3)))), "only the owner");
    let r = c.call(2, reg, call_data("transfer", (&name, who(3))));
    ok(&r);
    assert_eq!(r.events[0].topics, vec![topic("Transferred"), who(2).0, who(3).0]);
    assert_eq!(ok(&c.call(4, reg, call_data("owner_of", &name))), Some(who(3)).encode());
    ok(&c.call(3, reg, call_data("release", &name)));
    assert_eq!(ok(&c.call(4, reg, call_data("owner_of", &name))), Option::<Address>::None.encode());
    reverted(&c.call(3, reg, call_data("release", &name)), "name not registered");
}

#[test]
fn sha2_hasher() {
    let mut c = Chain::new();
    let (h, r) = c.deploy(1, wasm("sha2_hasher"), vec![]);
    ok(&r);
    let data = b"the quick brown fox".to_vec();
    let mut expected: [u8; 32] = sha2::Sha256::digest(&data).into();
    for _ in 1..50 {
        expected = sha2::Sha256::digest(expected).into();
    }
    assert_eq!(ok(&c.call(2, h, call_data("sha256", (&data, 50u32)))), expected.encode());
    let mut expected = *blake3::hash(&data).as_bytes();
    for _ in 1..3 {
        expected = *blake3::hash(&expected).as_bytes();
    }
    assert_eq!(ok(&c.call(2, h, call_data("blake3_host", (&data, 3u32)))), expected.encode());
    // Gas grows with the work: 200 rounds cost more than 50.
    let g50 = c.call(2, h, call_data("sha256", (&data, 50u32))).gas_used;
    let g200 = c.call(2, h, call_data("sha256", (&data, 200u32))).gas_used;
    assert!(g200 > 3 * (g50 - TX_BASE_GAS) / 2, "{g50} {g200}");
}

#[test]
fn ed25519_verifier() {
    let mut c = Chain::new();
    let (v, r) = c.deploy(1, wasm("ed25519_verifier"), vec![]);
    ok(&r);
    let signer = key(9);
    let pk = signer.verifying_key().to_bytes();
    let msg = b"keel contract message".to_vec();
    let sig = signer.sign(&msg).to_bytes();
    let mut bad = msg.clone();
    bad[0] ^= 1;
    for method in ["verify", "verify_host"] {
        assert_eq!(ok(&c.call(2, v, call_data(method, (pk, &msg, sig)))), true.encode(), "{method}");
        assert_eq!(ok(&c.call(2, v, call_data(method, (pk, &bad, sig)))), false.encode(), "{method}");
        // A malformed public key is simply invalid.
        assert_eq!(ok(&c.call(2, v, call_data(method, ([0xffu8; 32], &msg, sig)))), false.encode(), "{method}");
    }
    let r = c.call(2, v, call_data("verify_many", (pk, &msg, sig, 2u32)));
    assert_eq!(u32::decode(&mut ok(&r)).unwrap(), 2);
}

/// Random call data (a fixed-seed generator) to every example contract: each call reverts
/// with a message, and nothing but the fee and the nonce changes.
#[test]
fn random_call_data_reverts_cleanly() {
    let mut c = Chain::new();
    let mut contracts = Vec::new();
    for (name, ctor) in [
        ("counter", 1u64.encode()),
        ("c_counter", 1u64.to_le_bytes().to_vec()),
        ("token", ("T".to_string(), "T".to_string(), 5u128).encode()),
        ("escrow", (Address([1; 32]), who(1), who(2), who(3), 1u128).encode()),
        ("registry", vec![]),
        ("sha2_hasher", vec![]),
        ("ed25519_verifier", vec![]),
    ] {
        let (a, r) = c.deploy(1, wasm(name), ctor);
        ok(&r);
        contracts.push((name, a));
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (name, addr) in contracts {
        for _ in 0..8 {
            let len = (next() % 200) as usize;
            let input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let tx = c.call_tx(2, addr, input.clone(), 0);
            let r = apply_checked(&mut c, tx);
            assert!(matches!(r.status, ReceiptStatus::Revert(ref m) if !m.is_empty()), "{name} {input:02x?}: {r:?}");
        }
    }
}
