//! Transfer execution end to end: fees, nonces, balances, receipts, roots, determinism.

use keel_node::chain::*;
use keel_node::state::*;

mod common;
use common::*;
use parity_scale_codec::Encode;




fn ctx(height: u64) -> BlockContext {
    BlockContext { chain_id: CHAIN, height, timestamp_ms: 1_700_000_000_000 + height, proposer: Address([0xee; 32]), cost_table_hash: [3; 32] }
}

fn transfer(from: u8, nonce: u64, to: Address, amount: u128, gas_price: u64) -> SignedTransaction {
    Transaction { chain_id: CHAIN, sender: who(from), nonce, gas_limit: TRANSFER_GAS, gas_price, action: TxAction::Transfer { to, amount } }
        .sign(&key(from))
}

/// Runs genesis + 5 blocks of transfers; returns (header, receipts) per block.
fn run_chain(db: &StateDb) -> Vec<StoredBlock> {
    let alloc: Vec<(Address, u128)> = (1..=4).map(|i| (who(i), 1_000_000_000)).collect();
    let mut out = vec![commit_genesis(db, &ctx(0), &alloc).unwrap()];
    let mut nonces = [0u64; 5];
    for h in 1..=5u64 {
        let mut txs = vec![];
        for i in 1..=4u8 {
            for _ in 0..3 {
                let to = who(((i as u64 + h) % 4 + 1) as u8);
                txs.push(transfer(i, nonces[i as usize], to, 1000 * h as u128 + i as u128, 2));
                nonces[i as usize] += 1;
            }
        }
        let parent = out.last().unwrap().block.header.hash();
        out.push(execute_block(db, &ctx(h), parent, txs).unwrap());
    }
    out
}

#[test]
fn same_transactions_give_same_roots_and_receipts() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = run_chain(&StateDb::open(d1.path()).unwrap());
    let b = run_chain(&StateDb::open(d2.path()).unwrap());
    assert_eq!(a, b);
    let roots: Vec<_> = a.iter().map(|s| s.block.header.state_root).collect();
    for w in roots.windows(2) {
        assert_ne!(w[0], w[1], "every block changes state");
    }
    for (i, s) in a.iter().enumerate().skip(1) {
        assert_eq!(s.block.header.parent_hash, a[i - 1].block.header.hash());
        assert_eq!(s.receipts.len(), 12);
        let txb: Vec<_> = s.block.transactions.iter().map(|t| t.encode()).collect();
        assert_eq!(s.block.header.transactions_root, merkle_root(&txb));
        let rb: Vec<_> = s.receipts.iter().map(|r| r.encode()).collect();
        assert_eq!(s.block.header.receipts_root, merkle_root(&rb));
    }
}

#[test]
fn transfer_moves_balance_charges_fee_bumps_nonce() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    commit_genesis(&db, &ctx(0), &[(who(1), 1_000_000)]).unwrap();
    let total_before: u128 = 1_000_000;
    let txs = vec![transfer(1, 0, who(2), 500, 3), transfer(1, 1, who(1), 7, 3), transfer(1, 2, who(2), 1, 0)];
    let blk = execute_block(&db, &ctx(1), [0; 32], txs).unwrap();
    for r in &blk.receipts {
        assert_eq!(r.status, ReceiptStatus::Success);
        assert_eq!(r.gas_used, TRANSFER_GAS);
        assert!(r.events.is_empty() && r.return_data.is_empty());
    }
    let v = db.latest().unwrap();
    let fee = TRANSFER_GAS as u128 * 3;
    let a1 = v.account(&who(1)).unwrap();
    assert_eq!(a1, Account { balance: 1_000_000 - 500 - 1 - 2 * fee, nonce: 3, code_hash: None });
    assert_eq!(v.account(&who(2)).unwrap(), Account { balance: 501, nonce: 0, code_hash: None });
    assert_eq!(v.account(&ctx(1).proposer).unwrap().balance, 2 * fee);
    let total: u128 = [who(1), who(2), ctx(1).proposer].iter().map(|a| v.account(a).unwrap().balance).sum();
    assert_eq!(total, total_before, "transfers and fees conserve the supply");
    // The stored block decodes back to what execute_block returned.
    let stored = StoredBlock::from_bytes(&db.block(1).unwrap().unwrap()).unwrap();
    assert_eq!(stored, blk);
    assert_eq!(db.state_root(1).unwrap(), blk.block.header.state_root);
    assert_eq!(db.recompute_root(1).unwrap(), blk.block.header.state_root);
}

#[test]
fn merkle_root_shape() {
    let empty: [&[u8]; 0] = [];
    assert_eq!(merkle_root(&empty), *blake3::hash(b"").as_bytes());
    let leaf = |x: &[u8]| *blake3::hash(&[&[0u8][..], x].concat()).as_bytes();
    let node = |l: [u8; 32], r: [u8; 32]| *blake3::hash(&[&[1u8][..], &l, &r].concat()).as_bytes();
    assert_eq!(merkle_root(&[b"a"]), leaf(b"a"));
    assert_eq!(merkle_root(&[b"a", b"b", b"c"]), node(node(leaf(b"a"), leaf(b"b")), leaf(b"c")));
    assert_ne!(merkle_root(&[b"a", b"b"]), merkle_root(&[b"b", b"a"]));
}

#[test]
fn proposer_mode_leaves_out_invalid_transactions_and_validators_agree() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (p, v) = (StateDb::open(d1.path()).unwrap(), StateDb::open(d2.path()).unwrap());
    let alloc = [(who(1), 1_000_000u128), (who(2), 1_000_000)];
    let g = commit_genesis(&p, &ctx(0), &alloc).unwrap();
    assert_eq!(commit_genesis(&v, &ctx(0), &alloc).unwrap(), g);
    let mut bad_sig = transfer(2, 0, who(1), 5, 1);
    bad_sig.signature[0] ^= 1;
    let candidates = vec![
        transfer(1, 0, who(2), 10, 1),
        transfer(1, 0, who(2), 10, 1), // replay: wrong nonce
        bad_sig,
        transfer(2, 0, who(1), 5, 1),
        transfer(1, 1, who(3), 2_000_000, 1), // unaffordable
        transfer(1, 1, who(3), 20, 1),
    ];
    let built = build_block(&p, &ctx(1), g.block.header.hash(), candidates).unwrap();
    let positions: Vec<usize> = built.rejected.iter().map(|(i, _)| *i).collect();
    assert_eq!(positions, vec![1, 2, 4]);
    assert!(matches!(built.rejected[0].1, TxError::WrongNonce { .. }));
    assert!(matches!(built.rejected[1].1, TxError::BadSignature));
    assert!(matches!(built.rejected[2].1, TxError::InsufficientBalance { .. }));
    assert_eq!(built.stored.block.transactions.len(), 3);
    // A validator decodes the block from the wire and re-executes it to the same result.
    let wire = Block::from_bytes(&built.stored.block.to_bytes()).unwrap();
    assert_eq!(wire.compute_transactions_root(), wire.header.transactions_root);
    let replay = execute_block(&v, &ctx(1), wire.header.parent_hash, wire.transactions).unwrap();
    assert_eq!(replay, built.stored);
    // Account proofs against the header's root.
    let view = v.latest().unwrap();
    let (acc, proof) = view.prove_account(&who(3)).unwrap();
    assert_eq!(acc.map(|a| a.balance), Some(20));
    verify_account_proof(&replay.block.header.state_root, &who(3), acc.as_ref(), &proof).unwrap();
    let wrong = Account { balance: 21, ..acc.unwrap() };
    assert!(verify_account_proof(&replay.block.header.state_root, &who(3), Some(&wrong), &proof).is_err());
    let (none, proof) = view.prove_account(&who(9)).unwrap();
    assert!(none.is_none());
    verify_account_proof(&replay.block.header.state_root, &who(9), None, &proof).unwrap();
}

#[test]
fn block_decoding_rejects_hostile_bytes() {
    let blk = Block {
        header: BlockHeader {
            chain_id: CHAIN, height: 1, parent_hash: [0; 32], timestamp_ms: 0, proposer: Address([1; 32]),
            state_root: [0; 32], transactions_root: [0; 32], receipts_root: [0; 32], cost_table_hash: [0; 32],
        },
        transactions: vec![transfer(1, 0, who(2), 1, 1)],
    };
    let bytes = blk.to_bytes();
    assert_eq!(Block::from_bytes(&bytes).unwrap(), blk);
    for cut in [0, 10, bytes.len() - 1] {
        assert!(matches!(Block::from_bytes(&bytes[..cut]), Err(DecodeError::Malformed(_))));
    }
    assert!(matches!(Block::from_bytes(&vec![0; MAX_BLOCK_SIZE + 1]), Err(DecodeError::TooLarge { .. })));
    // A transaction count prefix far beyond the bytes present.
    let mut lying = bytes[..bytes.len() - blk.transactions[0].encode().len() - 1].to_vec();
    lying.extend_from_slice(&[0x03, 0xff, 0xff, 0xff, 0x7f]);
    assert!(matches!(Block::from_bytes(&lying), Err(DecodeError::Malformed(_))));
}

#[test]
fn limits_and_addresses() {
    assert_eq!(MAX_CODE_SIZE as u64, keel_metering::profile::Limits::default().max_module_bytes);
    const { assert!(MAX_TX_SIZE > MAX_CODE_SIZE + MAX_INPUT_SIZE) };
    let (a, b) = (contract_address(&who(1), 0), contract_address(&who(1), 1));
    assert_ne!(a, b);
    assert_ne!(a, contract_address(&who(2), 0));
    assert_eq!(a, contract_address(&who(1), 0));
}

#[test]
fn trap_codes_are_stable_and_match_the_engine() {
    for k in TrapKind::ALL {
        assert_eq!(k.encode(), vec![k.code()]);
        assert_eq!(TrapKind::from_code(k.code()), Some(k));
    }
    assert_eq!(TrapKind::from_code(1), None);
    assert_eq!(TrapKind::from_code(13), None);
    use keel_engine::Trap;
    assert_eq!(TrapKind::from_code(Trap::Unreachable.stable_code()), Some(TrapKind::Unreachable));
    assert_eq!(TrapKind::from_code(Trap::MemoryOutOfBounds.stable_code()), Some(TrapKind::MemoryOutOfBounds));
    assert_eq!(TrapKind::from_code(Trap::StackExhausted.stable_code()), Some(TrapKind::StackExhausted));
    assert_eq!(TrapKind::from_code(Trap::BadSignature.stable_code()), Some(TrapKind::BadSignature));
    assert_eq!(TrapKind::from_code(Trap::OutOfGas.stable_code()), None);
}
