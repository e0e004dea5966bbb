//! The compiled-module cache changes speed, never results: the same transaction run with
//! the module from the in-process map, from the artifact column family, from a fresh
//! compile, and after a corrupt artifact gives identical receipts and state writes.

mod common;
use common::chain::{call_data, ctx, wasm, FUNDS, PRICE};
use common::{key, who, CHAIN};
use keel_engine::Config;
use keel_node::chain::*;
use keel_node::runtime::cache::CacheSource;
use keel_node::runtime::Runtime;
use keel_node::state::{code_hash, contract_address, StateDb, TrieKey};
use parity_scale_codec::Encode;

fn signed(from: u8, nonce: u64, action: TxAction) -> SignedTransaction {
    Transaction { chain_id: CHAIN, sender: who(from), nonce, gas_limit: 20_000_000, gas_price: PRICE, action }.sign(&key(from))
}

type Writes = Vec<(TrieKey, Option<Vec<u8>>)>;

/// Runs one token transfer on a working state over the committed head; returns the
/// receipt and the state writes (nothing is committed).
fn transfer_once(rt: &Runtime, db: &StateDb, token: keel_node::state::Address) -> (Receipt, Writes) {
    let tx = signed(1, 1, TxAction::Call { contract: token, input: call_data("transfer", (who(2), 7u128)), value: 0 });
    let mut ws = db.working().unwrap();
    let r = apply_transaction_with(rt, &mut ws, &ctx(2), &tx).unwrap();
    let writes = ws.changes().writes().map(|(k, v)| (*k, v.map(|v| v.to_vec()))).collect();
    (r, writes)
}

#[test]
fn cache_hit_and_miss_give_identical_results() {
    let rt = Runtime::new(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let genesis = commit_genesis(&db, &ctx(0), &[(who(1), FUNDS)]).unwrap();
    let code = wasm("token");
    let deploy = signed(1, 0, TxAction::Deploy { code: code.clone(), input: ("T".to_string(), "T".to_string(), 100u128).encode(), value: 0 });
    let b = execute_block_with(&rt, &db, &ctx(1), genesis.block.header.hash(), vec![deploy]).unwrap();
    assert_eq!(b.receipts[0].status, ReceiptStatus::Success);
    let token = contract_address(&who(1), 0);
    let hash = code_hash(&code);
    let key = rt.artifact_key(&code);
    assert!(db.get_artifact(&key).unwrap().is_some(), "deploy stored the artifact");

    // 1. In-process map (warm).
    let warm = transfer_once(&rt, &db, token);
    assert_eq!(warm.0.status, ReceiptStatus::Success);
    assert_eq!(warm.0.return_data, true.encode());

    // 2. Artifact column family.
    rt.clear_memory_cache();
    assert_eq!(rt.load_module(&db.working().unwrap(), &hash).unwrap().1, CacheSource::Artifact);
    rt.clear_memory_cache();
    assert_eq!(transfer_once(&rt, &db, token), warm);

    // 3. Miss: no artifact, compile from the code store (and the artifact is stored again).
    rt.clear_memory_cache();
    db.delete_artifact(&key).unwrap();
    assert_eq!(rt.load_module(&db.working().unwrap(), &hash).unwrap().1, CacheSource::Compiled);
    rt.clear_memory_cache();
    db.delete_artifact(&key).unwrap();
    assert_eq!(transfer_once(&rt, &db, token), warm);
    assert!(db.get_artifact(&key).unwrap().is_some(), "a miss stores the artifact");

    // 4. A corrupt artifact is discarded and recompiled.
    rt.clear_memory_cache();
    let mut bytes = db.get_artifact(&key).unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    db.put_artifact(&key, &bytes).unwrap();
    assert_eq!(transfer_once(&rt, &db, token), warm);
    assert_ne!(db.get_artifact(&key).unwrap().unwrap(), bytes, "replaced by a good artifact");

    // 5. A fresh runtime (cold process) on the same database: same result.
    let cold = Runtime::new(Config::default()).unwrap();
    assert_eq!(transfer_once(&cold, &db, token), warm);
}

#[test]
fn artifact_key_depends_on_the_cost_table() {
    let code = wasm("counter");
    let a = Runtime::new(Config::default()).unwrap();
    let mut config = Config::default();
    let mut table = config.cost_table.clone();
    table.set_host_cost("storage_read", keel_metering::HostCost { base: 2_001, per_byte: 5 });
    config.cost_table = table;
    let b = Runtime::new(config).unwrap();
    let (ka, kb) = (a.artifact_key(&code), b.artifact_key(&code));
    assert_eq!(ka.code_hash, kb.code_hash);
    assert_ne!(ka.cost_table_hash, kb.cost_table_hash);
    assert_ne!(ka, kb);
}

#[test]
fn a_runtime_for_another_isa_is_refused() {
    let host = keel_engine::Isa::host().unwrap();
    let other = if host == keel_engine::Isa::X64 { keel_engine::Isa::Aarch64 } else { keel_engine::Isa::X64 };
    match Runtime::new(Config { isa: other, ..Config::default() }) {
        Err(keel_node::runtime::RuntimeError::Config(msg)) => assert!(msg.contains("cannot run on this host"), "{msg}"),
        other => panic!("{other:?}"),
    }
}
