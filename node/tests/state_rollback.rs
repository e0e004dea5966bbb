//! `StateDb::rollback_to`: un-committing heights is exact (the database equals one that
//! never had them, column family by column family), old reads and proofs stay correct, a
//! later commit on the rolled-back head gives the root a fresh database gives, the
//! rollback survives a reopen and a SIGKILL in the middle of rollback/commit cycles, and
//! the limits (above the head, pruned heights) are typed errors that change nothing.

use std::collections::BTreeMap;
use std::path::Path;

use keel_node::state::*;

mod common;

fn addr(i: u8) -> Address {
    Address([i; 32])
}

fn acct(balance: u128, nonce: u64) -> Account {
    Account { balance, nonce, code_hash: None }
}

fn no_sync(keep_heights: Option<u64>) -> StateDbOptions {
    StateDbOptions { sync_commits: false, keep_heights }
}

/// Block `h` of "history" `variant`: account, storage writes and removals, code, and a
/// marker slot holding the block bytes — so every height changes the state, some heights
/// delete keys, and two variants of one height differ.
fn write_block(ws: &mut WorkingState<'_>, h: u64, variant: u8) -> Vec<u8> {
    let marker = format!("block {h} variant {variant}").into_bytes();
    ws.set_account(&addr(1), &acct(1000 + h as u128 * 7 + variant as u128, h));
    ws.set_account(&addr(10u8.wrapping_add((h % 5) as u8).wrapping_add(variant)), &acct(h as u128, 0));
    ws.storage_write(&addr(2), format!("slot{}", h % 4).as_bytes(), marker.clone()).unwrap();
    ws.storage_write(&addr(2), b"marker", marker.clone()).unwrap();
    if h % 3 == 2 {
        ws.storage_remove(&addr(2), format!("slot{}", (h + 1) % 4).as_bytes()).unwrap();
    }
    if h % 2 == 1 {
        let code_hash = ws.put_code(format!("code of block {h} variant {variant}").into_bytes());
        ws.set_account(&addr(3), &Account { balance: 1, nonce: 0, code_hash: Some(code_hash) });
    }
    marker
}

fn commit(db: &StateDb, variant: u8) -> [u8; 32] {
    let h = db.next_height().unwrap();
    let mut ws = db.working().unwrap();
    let marker = write_block(&mut ws, h, variant);
    db.commit_block(h, ws.changes(), &marker).unwrap()
}

/// Every key and value of every column family but the artifact cache.
fn dump(path: &Path) -> BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>> {
    let cfs = [CF_TRIE_NODES, CF_TRIE_VALUES, CF_STALE, CF_CODE, CF_BLOCKS, CF_META, CF_UNDO];
    let db = rocksdb::DB::open_cf_for_read_only(&rocksdb::Options::default(), path, cfs, false).unwrap();
    let mut out = BTreeMap::new();
    for cf in cfs {
        let h = db.cf_handle(cf).unwrap();
        let kv = db
            .iterator_cf(h, rocksdb::IteratorMode::Start)
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        out.insert(cf, kv);
    }
    out
}

/// Reads and a proof of a few keys at `height`, against that height's root.
fn snapshot(db: &StateDb, height: u64) -> Vec<Option<Vec<u8>>> {
    let view = db.view(height).unwrap();
    let root = view.root().unwrap();
    let keys = [account_key(&addr(1)), account_key(&addr(3)), storage_key(&addr(2), b"marker"), storage_key(&addr(2), b"slot0"), storage_key(&addr(2), b"slot3")];
    keys.iter()
        .map(|k| {
            let (v, proof) = view.prove(k).unwrap();
            verify_proof(&root, k, v.as_deref(), &proof).unwrap();
            assert_eq!(view.get(k).unwrap(), v, "flat read agrees with the trie at height {height}");
            v
        })
        .collect()
}

#[test]
fn rollback_is_exact_and_a_later_commit_matches_a_fresh_database() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = StateDb::open_with(d1.path(), no_sync(None)).unwrap();
    let reference = StateDb::open_with(d2.path(), no_sync(None)).unwrap();
    let mut roots = vec![];
    for _ in 0..=4 {
        roots.push(commit(&a, 0));
        commit(&reference, 0);
    }
    let before: Vec<_> = (0..=4).map(|h| snapshot(&a, h)).collect();
    // Heights 5..=9 of history 0 (account and storage writes, removals, new code).
    for _ in 5..=9 {
        roots.push(commit(&a, 0));
    }
    assert_eq!(a.head().unwrap().unwrap().height, 9);
    let code_at_7 = a.latest().unwrap().account(&addr(3)).unwrap().code_hash.unwrap();

    let head = a.rollback_to(4).unwrap();
    assert_eq!(head, CommittedHead { height: 4, state_root: roots[4] });
    assert_eq!(a.head().unwrap(), Some(head));
    assert_eq!(a.next_height().unwrap(), 5);
    assert_eq!(a.latest().unwrap().root().unwrap(), roots[4]);
    for h in 5..=9 {
        assert!(matches!(a.state_root(h), Err(StateError::UnknownHeight(x)) if x == h));
        assert_eq!(a.block(h).unwrap(), None);
        assert!(a.view(h).is_err());
        assert_eq!(a.height_of_root(&roots[h as usize]).unwrap(), None, "root of removed height {h} is gone");
    }
    assert_eq!(a.latest().unwrap().code(&code_at_7).unwrap(), None, "code added by a removed height is gone");
    // Every remaining height reads and proves exactly as before.
    for h in 0..=4 {
        assert_eq!(snapshot(&a, h), before[h as usize], "height {h}");
        assert_eq!(a.state_root(h).unwrap(), roots[h as usize]);
        assert_eq!(a.height_of_root(&roots[h as usize]).unwrap(), Some(h));
        assert_eq!(a.recompute_root(h).unwrap(), roots[h as usize]);
    }
    // Rolling back to the head changes nothing; above the head is an error.
    assert_eq!(a.rollback_to(4).unwrap(), head);
    assert!(matches!(a.rollback_to(5), Err(StateError::UnknownHeight(5))));

    // Another history on top of the rolled-back head: same roots as a database that never
    // had the removed heights.
    for h in 5..=8 {
        let ra = commit(&a, 1);
        let rr = commit(&reference, 1);
        assert_eq!(ra, rr, "height {h} of the new history");
        assert_ne!(ra, roots[h as usize], "the new history differs from the removed one");
    }
    drop((a, reference));
    assert_eq!(dump(d1.path()), dump(d2.path()), "the rolled-back database equals one that never had the removed heights");
}

#[test]
fn repeated_roots_keep_their_latest_height_after_rollback() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open_with(d.path(), no_sync(None)).unwrap();
    let r0 = commit(&db, 0);
    // Heights 1..=3 change nothing: they share genesis's root.
    for h in 1..=3 {
        let ws = db.working().unwrap();
        assert_eq!(db.commit_block(h, ws.changes(), b"empty").unwrap(), r0);
    }
    assert_eq!(db.height_of_root(&r0).unwrap(), Some(3));
    db.rollback_to(1).unwrap();
    assert_eq!(db.height_of_root(&r0).unwrap(), Some(1), "back to the latest remaining height with that root");
    assert_eq!(db.view_at_root(&r0).unwrap().unwrap().height(), Some(1));
}

#[test]
fn rollback_survives_reopen_and_a_stale_prepared_block_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let roots: Vec<_>;
    {
        let db = StateDb::open_with(d.path(), no_sync(None)).unwrap();
        roots = (0..6).map(|_| commit(&db, 0)).collect();
        // A block prepared on head 5, then the head is rolled back and replaced.
        let mut ws = db.working().unwrap();
        write_block(&mut ws, 6, 0);
        let stale = db.prepare_block(6, ws.changes()).unwrap();
        db.rollback_to(2).unwrap();
        for _ in 3..=5 {
            commit(&db, 1);
        }
        assert!(matches!(db.commit_prepared(stale, b"stale"), Err(StateError::ParentChanged { height: 6 })));
        db.rollback_to(2).unwrap();
    }
    let db = StateDb::open_with(d.path(), no_sync(None)).unwrap();
    assert_eq!(db.head().unwrap(), Some(CommittedHead { height: 2, state_root: roots[2] }));
    assert_eq!(db.block(3).unwrap(), None);
    assert_eq!(db.recompute_root(2).unwrap(), roots[2]);
    snapshot(&db, 2);
    // The same history again gives the same roots.
    for h in 3..6 {
        assert_eq!(commit(&db, 0), roots[h]);
    }
}

#[test]
fn pruned_heights_cannot_be_rolled_back_and_the_error_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let db = StateDb::open_with(d.path(), no_sync(Some(3))).unwrap();
    let roots: Vec<_> = (0..10).map(|_| commit(&db, 0)).collect();
    assert!(matches!(db.rollback_to(5), Err(StateError::RollbackUnavailable { .. })));
    assert_eq!(db.head().unwrap().unwrap().height, 9, "a refused rollback writes nothing");
    // Within the window: the rolled-back head's trie is whole (its nodes made stale by the
    // removed heights were not pruned) and a new history continues on it.
    db.rollback_to(6).unwrap();
    assert_eq!(db.latest().unwrap().root().unwrap(), roots[6]);
    snapshot(&db, 6);
    for _ in 7..12 {
        commit(&db, 1);
        snapshot(&db, db.head().unwrap().unwrap().height);
    }
    assert_eq!(db.recompute_root(11).unwrap(), db.head().unwrap().unwrap().state_root);
}

#[test]
fn a_corrupt_undo_record_is_a_typed_error_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let roots: Vec<_> = {
        let db = StateDb::open_with(d.path(), no_sync(None)).unwrap();
        (0..4).map(|_| commit(&db, 0)).collect()
    };
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), d.path()).unwrap();
        let raw = rocksdb::DB::open_cf(&rocksdb::Options::default(), d.path(), cfs).unwrap();
        raw.put_cf(raw.cf_handle(CF_UNDO).unwrap(), 2u64.to_be_bytes(), b"\xff\xff garbage").unwrap();
    }
    let db = StateDb::open_with(d.path(), no_sync(None)).unwrap();
    assert!(matches!(db.rollback_to(1), Err(StateError::Corrupt(_))));
    assert_eq!(db.head().unwrap(), Some(CommittedHead { height: 3, state_root: roots[3] }), "nothing written");
    assert!(db.block(3).unwrap().is_some());
    // Height 3's record is whole: rolling back only it works.
    db.rollback_to(2).unwrap();
    assert_eq!(db.latest().unwrap().root().unwrap(), roots[2]);
}

const CYCLER_ENV: &str = "KEEL_STATE_ROLLBACK_CYCLER_DIR";

/// Cycler mode: forever, commit three blocks then roll two back (each operation one large
/// batch), printing the head after each.
fn cycler(dir: &str) -> ! {
    let db = StateDb::open_with(dir, no_sync(None)).expect("open");
    let mut round = 0u8;
    loop {
        round = round.wrapping_add(1);
        for _ in 0..3 {
            let h = db.next_height().unwrap();
            let mut ws = db.working().unwrap();
            let marker = write_block(&mut ws, h, round);
            for i in 0..400u32 {
                ws.storage_write(&addr(4), &i.to_le_bytes(), vec![round; 64]).unwrap();
            }
            db.commit_block(h, ws.changes(), &marker).unwrap();
            println!("head {h}");
        }
        let h = db.head().unwrap().unwrap().height;
        db.rollback_to(h - 2).unwrap();
        println!("head {}", h - 2);
    }
}

#[test]
fn killed_during_rollbacks_reopens_at_a_whole_head() {
    if let Ok(dir) = std::env::var(CYCLER_ENV) {
        cycler(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    for kill_after in [10usize, 23, 37] {
        let mut seen = 0;
        common::kill_self_test_when("killed_during_rollbacks_reopens_at_a_whole_head", CYCLER_ENV, dir.path(), |line| {
            if line.starts_with("head ") {
                seen += 1;
            }
            seen >= kill_after
        });

        let db = StateDb::open_with(dir.path(), no_sync(None)).unwrap();
        let head = db.head().unwrap().expect("a head");
        assert_eq!(db.block(head.height + 1).unwrap(), None, "nothing above the head");
        assert!(db.state_root(head.height + 1).is_err());
        assert_eq!(db.recompute_root(head.height).unwrap(), head.state_root, "flat state is the head's");
        // Every height's state is the one its block bytes name (the marker slot holds them),
        // whatever rollbacks happened, and proves against its root.
        for h in 0..=head.height {
            let block = db.block(h).unwrap().expect("block below the head");
            let view = db.view(h).unwrap();
            assert_eq!(view.storage(&addr(2), b"marker").unwrap(), Some(block), "height {h}");
            snapshot(&db, h);
        }
    }
}
