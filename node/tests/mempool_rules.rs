//! Mempool admission and selection (`specs/protocol.md` §5).

use ed25519_dalek::SigningKey;
use keel_node::chain::{address_of, commit_genesis, BlockContext, SignedTransaction, Transaction, TxAction, TxError, TRANSFER_GAS};
use keel_node::mempool::{Mempool, MempoolError, MempoolLimits};
use keel_node::state::{Address, StateDb};

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

fn tx(from: u8, nonce: u64, amount: u128) -> SignedTransaction {
    Transaction {
        chain_id: 1,
        sender: address_of(&key(from).verifying_key()),
        nonce,
        gas_limit: TRANSFER_GAS,
        gas_price: 1,
        action: TxAction::Transfer { to: Address([9; 32]), amount },
    }
    .sign(&key(from))
}

fn db_with(balances: &[(u8, u128)]) -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let ctx = BlockContext { chain_id: 1, height: 0, timestamp_ms: 0, proposer: Address([0; 32]), cost_table_hash: [0; 32] };
    let alloc: Vec<_> = balances.iter().map(|(k, b)| (address_of(&key(*k).verifying_key()), *b)).collect();
    commit_genesis(&db, &ctx, &alloc).unwrap();
    (dir, db)
}

#[test]
fn admission_rejects_what_cannot_execute_or_pay() {
    // Each transfer costs TRANSFER_GAS (at price 1) + amount; sender 1 can pay for 9.
    let per_tx = TRANSFER_GAS as u128 + 1000;
    let funds = 9 * per_tx + 1000;
    let (_d, db) = db_with(&[(1, funds), (2, 1_000_000)]);
    let view = db.latest().unwrap();
    let mut mp = Mempool::new(1, MempoolLimits::default());

    for n in 0..9 {
        mp.insert(tx(1, n, 1000), &view).unwrap();
    }
    let e = mp.insert(tx(1, 9, 1000), &view).unwrap_err();
    assert!(
        matches!(e, MempoolError::CannotPay { required, available } if required == 10 * per_tx && available == funds),
        "{e}"
    );
    assert!(!e.is_offence());

    assert!(matches!(mp.insert(tx(1, 3, 1000), &view), Err(MempoolError::Known)));
    let mut wrong_chain = tx(2, 0, 1).tx;
    wrong_chain.chain_id = 2;
    assert!(matches!(mp.insert(wrong_chain.sign(&key(2)), &view), Err(MempoolError::Invalid(TxError::WrongChain { expected: 1, got: 2 }))));
    let mut bad_sig = tx(2, 0, 1);
    bad_sig.signature[5] ^= 1;
    let e = mp.insert(bad_sig, &view).unwrap_err();
    assert!(matches!(e, MempoolError::Invalid(TxError::BadSignature)) && e.is_offence());
    let mut low_gas = tx(2, 0, 1).tx;
    low_gas.gas_limit = TRANSFER_GAS - 1;
    assert!(matches!(mp.insert(low_gas.sign(&key(2)), &view), Err(MempoolError::Invalid(TxError::GasLimitTooLow { .. }))));
    // An unfunded sender cannot pay anything.
    assert!(matches!(mp.insert(tx(3, 0, 0), &view), Err(MempoolError::CannotPay { available: 0, .. })));
    assert_eq!(mp.len(), 9);
}

#[test]
fn limits_and_nonce_window() {
    let (_d, db) = db_with(&[(1, u64::MAX as u128), (2, u64::MAX as u128)]);
    let view = db.latest().unwrap();
    let mut mp = Mempool::new(1, MempoolLimits { max_transactions: 5, max_per_sender: 3, max_bytes: 1 << 20 });
    assert!(matches!(mp.insert(tx(1, 3, 1), &view), Err(MempoolError::NonceGap { expected: 0, got: 3, .. })));
    for n in 0..3 {
        mp.insert(tx(1, n, 1), &view).unwrap();
    }
    mp.insert(tx(2, 0, 1), &view).unwrap();
    mp.insert(tx(2, 1, 1), &view).unwrap();
    assert!(matches!(mp.insert(tx(2, 2, 1), &view), Err(MempoolError::Full("pool"))));
    assert_eq!(mp.len(), 5);
}

#[test]
fn selection_follows_nonces_interleaves_senders_and_prunes() {
    let (_d, db) = db_with(&[(1, 10_000_000), (2, 10_000_000)]);
    let view = db.latest().unwrap();
    let mut mp = Mempool::new(1, MempoolLimits::default());
    // Out of order, with a gap at sender 2's nonce 2.
    for (f, n) in [(1, 2), (2, 0), (1, 0), (2, 3), (1, 1), (2, 1)] {
        mp.insert(tx(f, n, 1), &view).unwrap();
    }
    let sel = mp.select(&view, 100).unwrap();
    let got: Vec<(Address, u64)> = sel.iter().map(|t| (t.tx.sender, t.tx.nonce)).collect();
    let (a1, a2) = (address_of(&key(1).verifying_key()), address_of(&key(2).verifying_key()));
    let (first, second) = if a1 < a2 { (a1, a2) } else { (a2, a1) };
    let n = |a: Address, k: u64| (a, k);
    // Round-robin by address order; sender 2 stops at its gap.
    let mut expected = Vec::new();
    for round in 0..3u64 {
        for who in [first, second] {
            let max = if who == a1 { 3 } else { 2 };
            if round < max {
                expected.push(n(who, round));
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(mp.select(&view, 2).unwrap().len(), 2);

    // After a block executes sender 1's first two, those are pruned.
    let ctx = |h| BlockContext { chain_id: 1, height: h, timestamp_ms: 0, proposer: Address([0; 32]), cost_table_hash: [0; 32] };
    let parent = keel_node::chain::StoredBlock::from_bytes(&db.block(0).unwrap().unwrap()).unwrap().block.header.hash();
    keel_node::chain::execute_block(&db, &ctx(1), parent, vec![tx(1, 0, 1), tx(1, 1, 1)]).unwrap();
    let view = db.latest().unwrap();
    mp.prune(&view, &[]).unwrap();
    assert_eq!(mp.len(), 4);
    assert!(!mp.contains(&tx(1, 0, 1).hash()));
    assert!(mp.contains(&tx(1, 2, 1).hash()));
}
