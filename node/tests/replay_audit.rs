//! `keel replay`: a chain re-executes to identical roots and receipts; a tampered receipt
//! or header in the database is reported as the first divergence, naming the block, the
//! transaction and the fields.

use ed25519_dalek::SigningKey;
use keel_node::chain::{address_of, StoredBlock, Transaction, TxAction, TRANSFER_GAS};
use keel_node::consensus::{data_paths, Chain, ChainSpec, Engine, Genesis, GenesisBalance};
use keel_node::replay::{replay, DivergenceKind, ReplayOptions};
use keel_node::state::{Address, CF_BLOCKS};
use parity_scale_codec::Encode;

fn vkey(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[200 + i; 32])
}
fn acct(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

const BLOCKS: u64 = 12;

/// A data directory with `BLOCKS` blocks of transfers from 4 accounts, built by two
/// alternating leaders.
fn build_chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::new(Genesis {
        chain_id: 3,
        genesis_time_ms: 1_000_000,
        slot_ms: 100,
        validators: (0..2).map(|i| hex::encode(vkey(i).verifying_key().to_bytes())).collect(),
        balances: (0..4)
            .map(|i| GenesisBalance { address: hex::encode(acct(i).verifying_key().to_bytes()), balance: "1000000000000".into() })
            .collect(),
    })
    .unwrap();
    let chain = Chain::open(dir.path(), spec, false).unwrap();
    let mut nonce = [0u64; 4];
    for slot in 1..=BLOCKS {
        let txs = (0..4u8)
            .flat_map(|i| {
                let n = &mut nonce[i as usize];
                let txs: Vec<_> = (0..slot % 3 + 1)
                    .map(|k| {
                        let t = Transaction {
                            chain_id: 3,
                            sender: address_of(&acct(i).verifying_key()),
                            nonce: *n + k,
                            gas_limit: TRANSFER_GAS,
                            gas_price: 2,
                            action: TxAction::Transfer { to: Address([i + 50; 32]), amount: 10 * slot as u128 },
                        };
                        t.sign(&acct(i))
                    })
                    .collect();
                *n += slot % 3 + 1;
                txs
            })
            .collect();
        let p = chain.propose(&vkey((slot % 2) as u8), slot, txs).unwrap();
        assert!(p.rejected.is_empty());
    }
    dir
}

fn opts(dir: &std::path::Path) -> ReplayOptions {
    ReplayOptions { db: dir.to_path_buf(), genesis: None, from: 1, to: None, engine: Engine::Native, progress: false }
}

/// Rewrites the stored block at `height` with `f` applied, bypassing every check.
fn tamper(dir: &std::path::Path, height: u64, f: impl FnOnce(&mut StoredBlock)) {
    let (state, _, _) = data_paths(dir);
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &state).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), state, cfs).unwrap();
    let cf = db.cf_handle(CF_BLOCKS).unwrap();
    let mut stored = StoredBlock::from_bytes(&db.get_cf(cf, height.to_be_bytes()).unwrap().unwrap()).unwrap();
    f(&mut stored);
    db.put_cf(cf, height.to_be_bytes(), stored.encode()).unwrap();
}

#[test]
fn replay_reproduces_every_root_and_receipt() {
    let dir = build_chain();
    let r = replay(&opts(dir.path())).unwrap();
    assert!(r.divergence.is_none(), "{:?}", r.divergence);
    assert_eq!((r.from, r.to, r.blocks), (1, BLOCKS, BLOCKS));
    assert_eq!(r.transactions, (1..=BLOCKS).map(|s| 4 * (s % 3 + 1)).sum::<u64>());
    // A partial range, and the wasmi engine on a transfer-only chain, agree as well.
    let r = replay(&ReplayOptions { from: 5, to: Some(9), engine: Engine::Wasmi, ..opts(dir.path()) }).unwrap();
    assert!(r.divergence.is_none());
    assert_eq!((r.from, r.to, r.blocks), (5, 9, 9));
    // Heights the database does not have.
    assert!(replay(&ReplayOptions { to: Some(BLOCKS + 1), ..opts(dir.path()) }).is_err());
}

#[test]
fn tampered_receipt_and_header_are_the_first_divergences() {
    let dir = build_chain();
    // Height 4: the third receipt's gas; height 7: the header's state root.
    tamper(dir.path(), 7, |s| s.block.header.state_root[3] ^= 0x10);
    tamper(dir.path(), 4, |s| s.receipts[2].gas_used += 1);

    let r = replay(&opts(dir.path())).unwrap();
    let d = r.divergence.expect("tampering must be found");
    assert_eq!(d.height, 4);
    match &d.kind {
        DivergenceKind::Receipt { index, fields, stored, replayed, tx_hash } => {
            assert_eq!(*index, 2);
            assert_eq!(fields, &["gas_used"]);
            assert_eq!(stored.gas_used, replayed.gas_used + 1);
            assert_eq!(tx_hash.len(), 64);
        }
        other => panic!("expected a receipt divergence, got {other:?}"),
    }
    assert!(d.to_string().contains("transaction 2"), "{d}");

    // From height 5 on, the header of block 7 is the first divergence.
    let r = replay(&ReplayOptions { from: 5, ..opts(dir.path()) }).unwrap();
    let d = r.divergence.expect("tampered header");
    assert_eq!(d.height, 7);
    match &d.kind {
        DivergenceKind::Header { fields, .. } => assert_eq!(fields, &["state_root"]),
        other => panic!("expected a header divergence, got {other:?}"),
    }
    assert!(d.to_string().contains("state_root: stored"), "{d}");

    // A tampered transaction (amount changed): its signature no longer verifies.
    tamper(dir.path(), 2, |s| {
        if let TxAction::Transfer { amount, .. } = &mut s.block.transactions[1].tx.action {
            *amount += 1;
        }
    });
    let d = replay(&opts(dir.path())).unwrap().divergence.unwrap();
    assert_eq!(d.height, 2);
    assert!(matches!(&d.kind, DivergenceKind::InvalidTransaction { index: 1, error, .. } if error.contains("signature")), "{d}");
}
