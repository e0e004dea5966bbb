//! Hostile transactions: malformed, oversized, truncated bytes, bad signatures, wrong
//! nonces, unaffordable gas → typed errors and no state change.

use keel_node::chain::*;
use keel_node::state::*;

mod common;
use common::*;


fn ctx(height: u64) -> BlockContext {
    BlockContext { chain_id: CHAIN, height, timestamp_ms: 0, proposer: Address([0xee; 32]), cost_table_hash: [0; 32] }
}
fn tx(nonce: u64, gas_limit: u64, gas_price: u64, amount: u128) -> Transaction {
    Transaction { chain_id: CHAIN, sender: who(1), nonce, gas_limit, gas_price, action: TxAction::Transfer { to: who(2), amount } }
}

/// A gas limit that covers a transfer.
const GAS: u64 = TRANSFER_GAS + 10_000;
/// Sender 1's balance at genesis: 50 × [`GAS`] at price 1.
const FUNDS: u128 = 50 * GAS as u128;

fn setup() -> (tempfile::TempDir, StateDb) {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    commit_genesis(&db, &ctx(0), &[(who(1), FUNDS)]).unwrap();
    (d, db)
}

/// Asserts the transaction is rejected as `check` says, by both `apply_transaction` (no
/// pending writes) and `execute_block` (nothing committed).
fn rejected(db: &StateDb, stx: SignedTransaction, check: impl Fn(&TxError) -> bool) {
    let root = db.latest().unwrap().root().unwrap();
    let mut ws = db.working().unwrap();
    let err = apply_transaction(&mut ws, &ctx(1), &stx).unwrap_err();
    assert!(check(&err), "unexpected error {err:?}");
    assert!(ws.changes().is_empty(), "a rejected transaction leaves no writes");
    match execute_block(db, &ctx(1), [0; 32], vec![stx]) {
        Err(BlockError::InvalidTransaction { index: 0, error }) => assert!(check(&error)),
        other => panic!("expected an invalid block, got {other:?}"),
    }
    assert_eq!(db.head().unwrap().unwrap().height, 0);
    assert_eq!(db.latest().unwrap().root().unwrap(), root);
}

#[test]
fn bad_signatures_are_rejected() {
    let (_d, db) = setup();
    // Signed by the wrong key.
    rejected(&db, tx(0, GAS, 1, 5).sign(&key(9)), |e| matches!(e, TxError::BadSignature));
    // Payload changed after signing.
    let mut s = tx(0, GAS, 1, 5).sign(&key(1));
    s.tx.nonce = 0;
    s.tx.action = TxAction::Transfer { to: who(3), amount: 5 };
    rejected(&db, s, |e| matches!(e, TxError::BadSignature));
    // Flipped signature bit; all-zero signature; sender that is not a valid point.
    let mut s = tx(0, GAS, 1, 5).sign(&key(1));
    s.signature[3] ^= 1;
    rejected(&db, s, |e| matches!(e, TxError::BadSignature));
    let mut s = tx(0, GAS, 1, 5).sign(&key(1));
    s.signature = [0; 64];
    rejected(&db, s, |e| matches!(e, TxError::BadSignature));
    // Non-canonical S (S + L) is refused by verify_strict.
    let mut s = tx(0, GAS, 1, 5).sign(&key(1));
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let v = s.signature[32 + i] as u16 + *l as u16 + carry;
        s.signature[32 + i] = v as u8;
        carry = v >> 8;
    }
    rejected(&db, s, |e| matches!(e, TxError::BadSignature));
    // Signature for another chain, and a transaction for another chain.
    let mut other = tx(0, GAS, 1, 5);
    other.chain_id = 8;
    let mut s = other.clone().sign(&key(1));
    s.tx.chain_id = CHAIN;
    rejected(&db, s, |e| matches!(e, TxError::BadSignature));
    rejected(&db, other.sign(&key(1)), |e| matches!(e, TxError::WrongChain { expected: 7, got: 8 }));
}

#[test]
fn wrong_nonce_and_unaffordable_gas_are_rejected() {
    let (_d, db) = setup();
    rejected(&db, tx(1, GAS, 1, 5).sign(&key(1)), |e| matches!(e, TxError::WrongNonce { expected: 0, got: 1 }));
    rejected(&db, tx(u64::MAX, GAS, 1, 5).sign(&key(1)), |e| matches!(e, TxError::WrongNonce { .. }));
    // gas_limit × gas_price alone exceeds the balance (even though the used gas would not).
    rejected(&db, tx(0, GAS, 50, 5).sign(&key(1)), |e| {
        matches!(e, TxError::InsufficientBalance { required, available: FUNDS } if *required == FUNDS + 5)
    });
    // Exactly affordable is fine (checked below); one more is not.
    let all = FUNDS - TRANSFER_GAS as u128;
    rejected(&db, tx(0, TRANSFER_GAS, 1, all + 1).sign(&key(1)), |e| matches!(e, TxError::InsufficientBalance { .. }));
    // Overflowing cost.
    rejected(&db, tx(0, u64::MAX, u64::MAX, u128::MAX).sign(&key(1)), |e| matches!(e, TxError::InsufficientBalance { .. }));
    // Below the transfer's fixed gas.
    rejected(&db, tx(0, TRANSFER_GAS - 1, 1, 5).sign(&key(1)), |e| matches!(e, TxError::GasLimitTooLow { .. }));
    // Unknown sender (no balance).
    let stranger = Transaction { sender: who(5), ..tx(0, GAS, 1, 5) }.sign(&key(5));
    rejected(&db, stranger, |e| matches!(e, TxError::InsufficientBalance { available: 0, .. }));
    // A Deploy's gas limit must cover its intrinsic gas (base + per code byte).
    let need = TX_SIGNATURE_GAS + TX_BASE_GAS + 8 * DEPLOY_CODE_GAS_PER_BYTE;
    let deploy = Transaction { action: TxAction::Deploy { code: vec![0; 8], input: vec![], value: 0 }, ..tx(0, need - 1, 1, 0) };
    rejected(&db, deploy.sign(&key(1)), |e| {
        matches!(e, TxError::GasLimitTooLow { required, got } if *required == need && *got == need - 1)
    });

    // A block whose second transaction is invalid commits nothing.
    let ok = tx(0, TRANSFER_GAS, 1, all).sign(&key(1));
    let replay = ok.clone();
    match execute_block(&db, &ctx(1), [0; 32], vec![ok.clone(), replay]) {
        Err(BlockError::InvalidTransaction { index: 1, error: TxError::WrongNonce { expected: 1, got: 0 } }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(db.head().unwrap().unwrap().height, 0);
    // The exactly-affordable transaction alone is valid and drains the account.
    execute_block(&db, &ctx(1), [0; 32], vec![ok]).unwrap();
    assert_eq!(db.latest().unwrap().account(&who(1)).unwrap().balance, 0);
}

#[test]
fn malformed_bytes_give_typed_errors() {
    let good = tx(0, GAS, 1, 5).sign(&key(1));
    let bytes = good.to_bytes();
    assert_eq!(SignedTransaction::from_bytes(&bytes).unwrap(), good);
    // Every truncation.
    for cut in 0..bytes.len() {
        assert!(matches!(SignedTransaction::from_bytes(&bytes[..cut]), Err(DecodeError::Malformed(_))), "cut {cut}");
    }
    // Trailing garbage.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(SignedTransaction::from_bytes(&long), Err(DecodeError::Malformed(_))));
    // Unknown action tag (offset: chain 8 + sender 32 + nonce 8 + gas 8 + price 8).
    let mut t = bytes.clone();
    t[64] = 9;
    assert!(matches!(SignedTransaction::from_bytes(&t), Err(DecodeError::Malformed(_))));
    // Oversized.
    assert!(matches!(SignedTransaction::from_bytes(&vec![0; MAX_TX_SIZE + 1]), Err(DecodeError::TooLarge { .. })));
    // A length prefix claiming 1 GiB of code with a few bytes behind it: no allocation bomb.
    let mut bomb = bytes[..64].to_vec();
    bomb.push(1); // Deploy
    bomb.extend_from_slice(&[0x03, 0x00, 0x00, 0x00, 0x40]); // compact big-integer mode: 2^30
    bomb.extend_from_slice(&[0; 100]);
    assert!(matches!(SignedTransaction::from_bytes(&bomb), Err(DecodeError::Malformed(_))));
    // Field limits.
    let big_code = Transaction { action: TxAction::Deploy { code: vec![0; MAX_CODE_SIZE + 1], input: vec![], value: 0 }, ..tx(0, 1, 1, 0) };
    let enc = big_code.sign(&key(1)).to_bytes();
    assert!(matches!(SignedTransaction::from_bytes(&enc), Err(DecodeError::CodeTooLarge { .. })));
    let big_input = Transaction { action: TxAction::Call { contract: who(2), input: vec![0; MAX_INPUT_SIZE + 1], value: 0 }, ..tx(0, 1, 1, 0) };
    let enc = big_input.sign(&key(1)).to_bytes();
    assert!(matches!(SignedTransaction::from_bytes(&enc), Err(DecodeError::InputTooLarge { .. })));
    // Pseudo-random garbage never panics.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for len in 0..400usize {
        let mut buf = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        let _ = SignedTransaction::from_bytes(&buf);
    }
}
