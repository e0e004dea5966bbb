//! Database contents read back are untrusted: corrupt records give typed errors, never a
//! panic. Also: a second open of a locked database is an error.

use keel_node::state::*;

fn corrupt(dir: &std::path::Path, cf: &str, key: &[u8], value: &[u8]) {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(false);
    let cfs = rocksdb::DB::list_cf(&opts, dir).unwrap();
    let db = rocksdb::DB::open_cf(&opts, dir, cfs).unwrap();
    db.put_cf(db.cf_handle(cf).unwrap(), key, value).unwrap();
}

#[test]
fn corrupt_records_are_typed_errors() {
    let d = tempfile::tempdir().unwrap();
    let a = Address([1; 32]);
    {
        let db = StateDb::open(d.path()).unwrap();
        let mut w = db.working().unwrap();
        w.set_account(&a, &Account { balance: 5, nonce: 1, code_hash: None });
        db.commit_block(0, w.changes(), b"").unwrap();
        // A second handle on the same directory is refused (RocksDB lock).
        assert!(matches!(StateDb::open(d.path()), Err(StateError::Db(_))));
    }
    // Account record that does not decode (version 0 record of the account's trie key).
    let mut k = account_key(&a).0.to_vec();
    k.extend_from_slice(&0u64.to_be_bytes());
    corrupt(d.path(), CF_TRIE_VALUES, &k, &[1, 0xff, 0xff]);
    {
        let db = StateDb::open(d.path()).unwrap();
        assert!(matches!(db.latest().unwrap().account(&a), Err(StateError::Corrupt(_))));
        assert!(matches!(db.working().unwrap().account(&a), Err(StateError::Corrupt(_))));
        // Unknown record tag.
    }
    corrupt(d.path(), CF_TRIE_VALUES, &k, &[7]);
    {
        let db = StateDb::open(d.path()).unwrap();
        assert!(matches!(db.latest().unwrap().account(&a), Err(StateError::Corrupt(_))));
        assert!(db.recompute_root(0).is_err());
    }
    // Corrupt head and root records.
    corrupt(d.path(), CF_META, b"head", &[1, 2, 3]);
    let db = StateDb::open(d.path()).unwrap();
    assert!(matches!(db.head(), Err(StateError::Corrupt(_))));
    assert!(matches!(db.latest(), Err(StateError::Corrupt(_))));
    drop(db);
    corrupt(d.path(), CF_META, b"head", &parity_scale_codec::Encode::encode(&CommittedHead { height: 0, state_root: [0; 32] }));
    let mut rk = b"root".to_vec();
    rk.extend_from_slice(&0u64.to_be_bytes());
    corrupt(d.path(), CF_META, &rk, &[9; 5]);
    let db = StateDb::open(d.path()).unwrap();
    assert!(matches!(db.state_root(0), Err(StateError::Corrupt(_))));
    // A garbage trie node makes proofs fail with a trie error, not a panic.
    drop(db);
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(false);
    let cfs = rocksdb::DB::list_cf(&opts, d.path()).unwrap();
    {
        let raw = rocksdb::DB::open_cf(&opts, d.path(), cfs).unwrap();
        let cf = raw.cf_handle(CF_TRIE_NODES).unwrap();
        let keys: Vec<Box<[u8]>> = raw.iterator_cf(cf, rocksdb::IteratorMode::Start).map(|kv| kv.unwrap().0).collect();
        assert!(!keys.is_empty());
        for key in keys {
            raw.put_cf(cf, key, [0xffu8; 7]).unwrap();
        }
    }
    let db = StateDb::open(d.path()).unwrap();
    assert!(matches!(db.view(0).unwrap().prove(&account_key(&a)), Err(StateError::Trie(_))));
}
