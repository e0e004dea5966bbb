//! Proof-of-authority rules without a network: genesis parsing, leader schedule, and what
//! `Chain::import` accepts and rejects (`specs/protocol.md` §1–2).

use ed25519_dalek::SigningKey;
use keel_node::chain::{address_of, Block, Transaction, TxAction, TRANSFER_GAS};
use keel_node::consensus::{Chain, ChainSpec, Genesis, GenesisBalance, GenesisError, ImportError, SignedBlock};
use keel_node::state::Address;

fn vkey(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[100 + i; 32])
}
fn acct(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

const T0: u64 = 1_700_000_000_000;
const SLOT: u64 = 1000;

fn spec() -> ChainSpec {
    ChainSpec::new(Genesis {
        chain_id: 9,
        genesis_time_ms: T0,
        slot_ms: SLOT,
        validators: (0..3).map(|i| hex::encode(vkey(i).verifying_key().to_bytes())).collect(),
        balances: (0..2)
            .map(|i| GenesisBalance { address: hex::encode(acct(i).verifying_key().to_bytes()), balance: "1000000000".into() })
            .collect(),
    })
    .unwrap()
}

fn transfer(from: u8, nonce: u64, amount: u128) -> keel_node::chain::SignedTransaction {
    Transaction {
        chain_id: 9,
        sender: address_of(&acct(from).verifying_key()),
        nonce,
        gas_limit: TRANSFER_GAS,
        gas_price: 1,
        action: TxAction::Transfer { to: Address([42; 32]), amount },
    }
    .sign(&acct(from))
}

/// The time inside slot `s`.
fn at(s: u64) -> u64 {
    T0 + s * SLOT + 10
}

#[test]
fn genesis_file_errors_are_typed() {
    let good = spec().to_toml();
    assert!(ChainSpec::from_toml(&good).is_ok());
    let cases = [
        good.replace("slot_ms = 1000", "slot_ms = 0"),
        good.replace(&spec().genesis.validators[0], "abcd"),
        good.replace("\"1000000000\"", "\"-5\""),
        format!("{good}\nunknown_field = 1\n"),
        "chain_id = \"x\"".to_string(),
    ];
    for (i, text) in cases.iter().enumerate() {
        match ChainSpec::from_toml(text) {
            Err(GenesisError::Invalid(_)) | Err(GenesisError::Toml(_)) => {}
            other => panic!("case {i}: expected a genesis error, got {other:?}"),
        }
    }
    let mut g = spec().genesis;
    g.validators.clear();
    assert!(matches!(ChainSpec::new(g), Err(GenesisError::Invalid(m)) if m.contains("empty")));
}

#[test]
fn slots_and_round_robin_leaders() {
    let s = spec();
    assert_eq!(s.slot_of_timestamp(T0 + 3 * SLOT), Some(3));
    assert_eq!(s.slot_of_timestamp(T0 + 3 * SLOT + 1), None);
    assert_eq!(s.slot_of_timestamp(T0 - 1), None);
    assert_eq!(s.slot_at(T0 + 2 * SLOT + 999), 2);
    for slot in 0..9 {
        assert_eq!(s.leader(slot), address_of(&vkey((slot % 3) as u8).verifying_key()));
    }
}

#[test]
fn a_peer_imports_the_leaders_blocks_and_rejects_bad_ones() {
    let (da, db_) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Chain::open(da.path(), spec(), false).unwrap();
    let b = Chain::open(db_.path(), spec(), false).unwrap();
    assert_eq!(a.head(), b.head(), "same genesis");

    // Slot 1's leader is validator 1; validator 0 may not propose there.
    assert!(matches!(a.propose(&vkey(0), 1, vec![]), Err(ImportError::WrongLeader { .. })));
    let p1 = a.propose(&vkey(1), 1, vec![transfer(0, 0, 5), transfer(1, 0, 7), transfer(0, 5, 1)]).unwrap();
    assert_eq!(p1.block.block.transactions.len(), 2, "the nonce-5 transfer is left out");
    assert_eq!(p1.rejected.len(), 1);

    // Ahead: block 2 before block 1.
    let p2 = a.propose(&vkey(2), 2, vec![transfer(0, 1, 3)]).unwrap();
    assert!(matches!(b.import(&p2.block, at(2)), Err(ImportError::Ahead { height: 2, head: 0 })));
    // A block for slot 10 (validator 1 leads it too) seen during slot 1: too early.
    let early = SignedBlock::sign(
        Block { header: keel_node::chain::BlockHeader { timestamp_ms: T0 + 10 * SLOT, ..p1.block.block.header.clone() }, transactions: p1.block.block.transactions.clone() },
        &vkey(1),
    );
    assert!(matches!(b.import(&early, at(1)), Err(ImportError::FutureSlot { slot: 10, now: 1 })));

    // Tampered copies of block 1 are rejected with the offence named, and change nothing.
    let mut bad_sig = p1.block.clone();
    bad_sig.signature[0] ^= 1;
    assert!(matches!(b.import(&bad_sig, at(1)), Err(ImportError::BadSignature)));
    let mut bad_root = p1.block.block.clone();
    bad_root.header.state_root[0] ^= 1;
    let bad_root = SignedBlock::sign(bad_root, &vkey(1));
    match b.import(&bad_root, at(1)) {
        Err(e @ ImportError::HeaderMismatch { .. }) => {
            assert!(e.is_offence());
            assert!(e.to_string().contains("state_root"), "{e}");
        }
        other => panic!("expected a header mismatch, got {:?}", other.map(|_| ())),
    }
    let mut bad_receipts = p1.block.block.clone();
    bad_receipts.header.receipts_root[0] ^= 1;
    let bad_receipts = SignedBlock::sign(bad_receipts, &vkey(1));
    assert!(matches!(b.import(&bad_receipts, at(1)), Err(ImportError::HeaderMismatch { fields }) if fields == ["receipts_root"]));
    let mut dropped_tx = p1.block.block.clone();
    dropped_tx.transactions.pop();
    let dropped_tx = SignedBlock::sign(dropped_tx, &vkey(1));
    assert!(matches!(b.import(&dropped_tx, at(1)), Err(ImportError::TransactionsRoot)));
    let wrong_leader = SignedBlock::sign(Block { header: keel_node::chain::BlockHeader { proposer: address_of(&vkey(0).verifying_key()), ..p1.block.block.header.clone() }, transactions: p1.block.block.transactions.clone() }, &vkey(0));
    assert!(matches!(b.import(&wrong_leader, at(1)), Err(ImportError::WrongLeader { slot: 1, .. })));
    let mut off_slot = p1.block.block.clone();
    off_slot.header.timestamp_ms += 1;
    let off_slot = SignedBlock::sign(off_slot, &vkey(1));
    assert!(matches!(b.import(&off_slot, at(1)), Err(ImportError::BadSlot { .. })));
    assert_eq!(b.height().unwrap(), 0, "nothing was committed");

    // The real blocks import, in order, to the same roots.
    let s1 = b.import(&p1.block, at(1)).unwrap();
    assert_eq!(s1.receipts, p1.receipts);
    assert!(matches!(b.import(&p1.block, at(1)), Err(ImportError::Known { height: 1 })));
    b.import(&p2.block, at(2)).unwrap();
    assert_eq!(a.head(), b.head());
    assert_eq!(a.db().state_root(2).unwrap(), b.db().state_root(2).unwrap());

    // A second, different block for height 3 on b's head: the first one wins.
    let p3 = a.propose(&vkey(0), 3, vec![]).unwrap();
    b.import(&p3.block, at(3)).unwrap();
    let other = SignedBlock::sign(Block { header: keel_node::chain::BlockHeader { timestamp_ms: T0 + 6 * SLOT, ..p3.block.block.header.clone() }, transactions: vec![] }, &vkey(0));
    assert!(matches!(b.import(&other, at(6)), Err(ImportError::Conflicting { height: 3 })));
    // A slot not after the parent's.
    assert!(matches!(a.propose(&vkey(0), 3, vec![]), Err(ImportError::BadSlot { .. })));

    // Sync serves what was signed.
    assert_eq!(b.signed_block(2).unwrap().unwrap(), p2.block);
    assert!(b.signed_block(0).unwrap().is_none());
    assert!(b.signed_block(9).unwrap().is_none());
}

#[test]
fn reopening_checks_the_genesis() {
    let d = tempfile::tempdir().unwrap();
    drop(Chain::open(d.path(), spec(), false).unwrap());
    let mut other = spec().genesis;
    other.balances[0].balance = "5".into();
    match Chain::open(d.path(), ChainSpec::new(other).unwrap(), false) {
        Err(keel_node::consensus::OpenError::Genesis(GenesisError::Mismatch(_))) => {}
        other => panic!("expected a genesis mismatch, got {:?}", other.err()),
    }
    // The same genesis reopens, with the head restored.
    let c = Chain::open(d.path(), spec(), false).unwrap();
    assert_eq!(c.head().height, 0);
}
