//! State layer: roots, proofs, historical views, checkpoints, artifact cache.

use keel_node::state::*;

fn addr(i: u8) -> Address {
    Address([i; 32])
}

fn commit(db: &StateDb, f: impl FnOnce(&mut WorkingState<'_>)) -> [u8; 32] {
    let mut ws = db.working().unwrap();
    f(&mut ws);
    let h = db.next_height().unwrap();
    db.commit_block(h, ws.changes(), format!("block {h}").as_bytes()).unwrap()
}

fn acct(balance: u128) -> Account {
    Account { balance, nonce: 0, code_hash: None }
}

#[test]
fn same_writes_same_root_and_roots_track_changes() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (StateDb::open(d1.path()).unwrap(), StateDb::open(d2.path()).unwrap());
    assert_eq!(a.latest().unwrap().root().unwrap(), EMPTY_ROOT);
    // Same content, written in different orders and split differently across blocks.
    let ra0 = commit(&a, |w| {
        w.set_account(&addr(1), &acct(10));
        w.set_account(&addr(2), &acct(20));
    });
    let rb0 = commit(&b, |w| {
        w.set_account(&addr(2), &acct(20));
        w.set_account(&addr(1), &acct(10));
    });
    assert_eq!(ra0, rb0);
    assert_ne!(ra0, EMPTY_ROOT);
    let ra1 = commit(&a, |w| {
        w.storage_write(&addr(1), b"k", b"v".to_vec()).unwrap();
    });
    assert_ne!(ra1, ra0, "a storage write changes the root");
    let ra2 = commit(&a, |_| {});
    assert_eq!(ra2, ra1, "an empty block keeps the root");
    let ra3 = commit(&a, |w| {
        assert!(w.storage_remove(&addr(1), b"k").unwrap());
    });
    assert_eq!(ra3, ra0, "removing the slot restores the earlier root");
    // Old heights stay readable.
    assert_eq!(a.view(1).unwrap().storage(&addr(1), b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(a.view(3).unwrap().storage(&addr(1), b"k").unwrap(), None);
    assert_eq!(a.view(0).unwrap().root().unwrap(), ra0);
    assert_eq!(a.block(2).unwrap(), Some(b"block 2".to_vec()));
    assert_eq!(a.recompute_root(3).unwrap(), ra3);
    assert_eq!(a.recompute_root(1).unwrap(), ra1);
    assert!(matches!(a.view(4), Err(StateError::UnknownHeight(4))));
    // Views by root: the latest height with that root.
    assert_eq!(a.height_of_root(&ra1).unwrap(), Some(2));
    assert_eq!(a.height_of_root(&ra0).unwrap(), Some(3));
    assert_eq!(a.view_at_root(&ra1).unwrap().unwrap().storage(&addr(1), b"k").unwrap(), Some(b"v".to_vec()));
    assert!(a.view_at_root(&[0x55; 32]).unwrap().is_none());
}

#[test]
fn empty_value_is_present_and_distinct_from_absent() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    let r0 = commit(&db, |w| w.set_account(&addr(1), &acct(1)));
    let r1 = commit(&db, |w| {
        assert!(!w.storage_write(&addr(1), b"", Vec::new()).unwrap());
        assert!(w.storage_write(&addr(1), b"", Vec::new()).unwrap());
    });
    assert_ne!(r0, r1);
    assert_eq!(db.latest().unwrap().storage(&addr(1), b"").unwrap(), Some(vec![]));
}

#[test]
fn wrong_height_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    let ch = StateChanges::new();
    assert!(matches!(db.commit_block(1, &ch, b""), Err(StateError::WrongHeight { expected: 0, got: 1 })));
    db.commit_block(0, &ch, b"").unwrap();
    assert!(matches!(db.commit_block(0, &ch, b""), Err(StateError::WrongHeight { expected: 1, got: 0 })));
}

#[test]
fn proofs_verify_for_present_and_absent_keys_and_fail_when_tampered() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    for i in 0..50u8 {
        commit(&db, |w| {
            w.set_account(&addr(i), &acct(i as u128 * 1000));
            w.storage_write(&addr(i), &[i, i], vec![i; 3]).unwrap();
        });
    }
    let view = db.latest().unwrap();
    let root = view.root().unwrap();

    // Membership.
    let key = account_key(&addr(7));
    let (value, proof) = view.prove(&key).unwrap();
    let value = value.expect("present");
    assert_eq!(value, acct(7000).encode_to_vec());
    verify_proof(&root, &key, Some(&value), &proof).unwrap();
    // Round trip through bytes.
    let bytes = proof.to_bytes();
    verify_proof_bytes(&root, &key, Some(&value), &bytes).unwrap();

    // Tampered value.
    let mut bad = value.clone();
    bad[0] ^= 1;
    assert!(matches!(verify_proof(&root, &key, Some(&bad), &proof), Err(ProofError::Invalid(_))));
    // Claiming absence of a present key.
    assert!(verify_proof(&root, &key, None, &proof).is_err());
    // Wrong root.
    let mut wrong_root = root;
    wrong_root[5] ^= 0x80;
    assert!(verify_proof(&wrong_root, &key, Some(&value), &proof).is_err());
    // An older root does not accept the newest proof.
    let old_root = db.view(10).unwrap().root().unwrap();
    assert!(verify_proof(&old_root, &key, Some(&value), &proof).is_err());
    // Another key with the same proof.
    assert!(verify_proof(&root, &account_key(&addr(8)), Some(&value), &proof).is_err());
    // Every single-bit flip of the proof bytes: rejected (malformed or invalid), never a panic.
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= bit;
            assert!(verify_proof_bytes(&root, &key, Some(&value), &t).is_err(), "flip at byte {i}");
        }
    }
    // Truncated and oversized proof bytes.
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(verify_proof_bytes(&root, &key, Some(&value), &bytes[..cut]), Err(ProofError::Malformed(_))));
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(verify_proof_bytes(&root, &key, Some(&value), &long).is_err());
    assert!(matches!(StateProof::from_bytes(&vec![0u8; MAX_PROOF_BYTES + 1]), Err(ProofError::Malformed(_))));

    // Non-membership.
    for absent in [account_key(&addr(200)), storage_key(&addr(1), b"nope")] {
        let (v, p) = view.prove(&absent).unwrap();
        assert!(v.is_none());
        verify_proof(&root, &absent, None, &p).unwrap();
        assert!(verify_proof(&root, &absent, Some(b"x"), &p).is_err());
        assert!(verify_proof(&wrong_root, &absent, None, &p).is_err());
    }

    // Proofs of historical roots.
    let v5 = db.view(5).unwrap();
    let (val5, p5) = v5.prove(&account_key(&addr(5))).unwrap();
    verify_proof(&v5.root().unwrap(), &account_key(&addr(5)), val5.as_deref(), &p5).unwrap();
    let (none, p6) = v5.prove(&account_key(&addr(6))).unwrap();
    assert!(none.is_none());
    verify_proof(&v5.root().unwrap(), &account_key(&addr(6)), None, &p6).unwrap();
}

trait EncodeVec {
    fn encode_to_vec(&self) -> Vec<u8>;
}
impl EncodeVec for Account {
    fn encode_to_vec(&self) -> Vec<u8> {
        parity_scale_codec::Encode::encode(self)
    }
}

#[test]
fn checkpoints_nest_and_roll_back() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    commit(&db, |w| w.set_account(&addr(1), &acct(100)));
    let mut w = db.working().unwrap();
    let tx = w.checkpoint();
    w.set_account(&addr(1), &acct(90));
    w.storage_write(&addr(1), b"a", b"1".to_vec()).unwrap();
    let call = w.checkpoint();
    w.storage_write(&addr(1), b"a", b"2".to_vec()).unwrap();
    w.storage_write(&addr(1), b"b", b"3".to_vec()).unwrap();
    let code_hash = w.put_code(b"code".to_vec());
    let nested = w.checkpoint();
    w.set_account(&addr(2), &acct(5));
    w.commit_checkpoint(nested).unwrap();
    // Reverting the call undoes its writes, including the committed nested checkpoint.
    w.revert_to(call).unwrap();
    assert_eq!(w.storage_read(&addr(1), b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(w.storage_read(&addr(1), b"b").unwrap(), None);
    assert_eq!(w.account_opt(&addr(2)).unwrap(), None);
    assert_eq!(w.code(&code_hash).unwrap(), None);
    assert_eq!(w.account(&addr(1)).unwrap().balance, 90);
    // Closed checkpoints are refused.
    assert!(matches!(w.revert_to(call), Err(StateError::StaleCheckpoint(_))));
    assert!(matches!(w.commit_checkpoint(nested), Err(StateError::StaleCheckpoint(_))));
    w.commit_checkpoint(tx).unwrap();
    // A whole failed transaction.
    let tx2 = w.checkpoint();
    w.set_account(&addr(1), &acct(0));
    w.revert_to(tx2).unwrap();
    assert_eq!(w.account(&addr(1)).unwrap().balance, 90);
    assert_eq!(w.changes().checkpoint_depth(), 0);
    let root = db.commit_block(1, w.changes(), b"").unwrap();
    // Same as writing the surviving changes directly.
    let d2 = tempfile::tempdir().unwrap();
    let db2 = StateDb::open(d2.path()).unwrap();
    commit(&db2, |w| w.set_account(&addr(1), &acct(100)));
    let root2 = commit(&db2, |w| {
        w.set_account(&addr(1), &acct(90));
        w.storage_write(&addr(1), b"a", b"1".to_vec()).unwrap();
    });
    assert_eq!(root, root2);
}

#[test]
fn code_store_and_artifact_cache() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    let mut hash = [0; 32];
    commit(&db, |w| hash = w.put_code(b"\0asm\x01\0\0\0".to_vec()));
    assert_eq!(hash, code_hash(b"\0asm\x01\0\0\0"));
    assert_eq!(db.latest().unwrap().code(&hash).unwrap(), Some(b"\0asm\x01\0\0\0".to_vec()));
    let key = ArtifactKey { code_hash: hash, engine_version: "e1".into(), target: "x86_64+avx2".into(), cost_table_hash: [9; 32] };
    assert_eq!(db.get_artifact(&key).unwrap(), None);
    db.put_artifact(&key, b"artifact").unwrap();
    assert_eq!(db.get_artifact(&key).unwrap(), Some(b"artifact".to_vec()));
    let other = ArtifactKey { target: "aarch64".into(), ..key.clone() };
    assert_eq!(db.get_artifact(&other).unwrap(), None);
    db.delete_artifact(&key).unwrap();
    assert_eq!(db.get_artifact(&key).unwrap(), None);
}

#[test]
fn reopen_keeps_state_and_pruning_keeps_recent_proofs() {
    let d = tempfile::tempdir().unwrap();
    let opts = StateDbOptions { sync_commits: false, keep_heights: Some(3) };
    let mut roots = vec![];
    {
        let db = StateDb::open_with(d.path(), opts.clone()).unwrap();
        for i in 0..10u8 {
            roots.push(commit(&db, |w| w.set_account(&addr(1), &acct(i as u128))));
        }
    }
    let db = StateDb::open_with(d.path(), opts).unwrap();
    assert_eq!(db.head().unwrap(), Some(CommittedHead { height: 9, state_root: roots[9] }));
    let key = account_key(&addr(1));
    for h in 6..10 {
        let v = db.view(h).unwrap();
        let (val, p) = v.prove(&key).unwrap();
        verify_proof(&roots[h as usize], &key, val.as_deref(), &p).unwrap();
    }
    // Pruned: the trie nodes of height 0 are gone, flat reads still work.
    assert!(db.view(0).unwrap().prove(&key).is_err());
    assert_eq!(db.view(0).unwrap().account(&addr(1)).unwrap().balance, 0);
    assert_eq!(db.view(4).unwrap().account(&addr(1)).unwrap().balance, 4);
}

#[test]
fn concurrent_commits_of_the_same_height_one_wins() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open(d.path()).unwrap();
    commit(&db, |w| w.set_account(&addr(1), &acct(1)));
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u8)
            .map(|i| {
                let db = &db;
                s.spawn(move || {
                    let mut w = db.working().unwrap();
                    w.set_account(&addr(10 + i), &acct(i as u128));
                    db.commit_block(1, w.changes(), &[i])
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(ok.len(), 1);
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StateError::WrongHeight { expected: 2, got: 1 }))));
    assert_eq!(db.head().unwrap().unwrap().height, 1);
    assert_eq!(db.recompute_root(1).unwrap(), db.state_root(1).unwrap());
}
