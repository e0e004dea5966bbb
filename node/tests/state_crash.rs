//! Crash consistency: a child process (this test binary, re-run in "writer" mode) commits
//! blocks of transfers in a loop and is killed with SIGKILL mid-run; the reopened database
//! is at a committed block, whole.


use keel_node::chain::*;
use keel_node::state::*;

mod common;
use common::*;

const WRITER_ENV: &str = "KEEL_STATE_CRASH_WRITER_DIR";
const ACCOUNTS: u8 = 8;
const SUPPLY_EACH: u128 = 1 << 60;

fn ctx(height: u64) -> BlockContext {
    BlockContext { chain_id: 1, height, timestamp_ms: height, proposer: Address([0xee; 32]), cost_table_hash: [0; 32] }
}

/// Writer mode: commit blocks forever (each with many transfers and storage writes, so a
/// commit is a large batch), printing each committed height.
fn writer(dir: &str) -> ! {
    let db = StateDb::open_with(dir, StateDbOptions { sync_commits: false, keep_heights: None }).expect("open");
    if db.head().expect("head").is_none() {
        let alloc: Vec<_> = (1..=ACCOUNTS).map(|i| (who(i), SUPPLY_EACH)).collect();
        commit_genesis(&db, &ctx(0), &alloc).expect("genesis");
        println!("committed 0");
    }
    loop {
        let h = db.next_height().expect("height");
        let mut txs = vec![];
        for i in 1..=ACCOUNTS {
            let nonce = db.latest().unwrap().account(&who(i)).unwrap().nonce;
            for n in 0..16u64 {
                let to = who((i + n as u8) % ACCOUNTS + 1);
                txs.push(
                    Transaction { chain_id: 1, sender: who(i), nonce: nonce + n, gas_limit: TRANSFER_GAS, gas_price: 1, action: TxAction::Transfer { to, amount: (h as u128 % 97) + n as u128 } }
                        .sign(&key(i)),
                );
            }
        }
        let parent = [0; 32];
        execute_block(&db, &ctx(h), parent, txs).expect("block");
        println!("committed {h}");
    }
}

#[test]
fn killed_writer_leaves_a_whole_last_block() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        writer(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut last_seen = 0u64;
    // Kill the writer three times at different points; each restart continues the chain.
    for (round, kill_after) in [(0, 15u64), (1, 7), (2, 11)] {
        let mut seen = 0;
        kill_self_test_when("killed_writer_leaves_a_whole_last_block", WRITER_ENV, dir.path(), |line| {
            if let Some(h) = line.strip_prefix("committed ") {
                last_seen = h.parse().unwrap();
                seen += 1;
            }
            seen >= kill_after
        });

        let db = StateDb::open(dir.path()).unwrap();
        let head = db.head().unwrap().expect("a committed head");
        // The writer may have committed more after its last line was read, never less.
        assert!(head.height >= last_seen, "round {round}: head {} < printed {last_seen}", head.height);
        // No trace of a next block.
        assert_eq!(db.block(head.height + 1).unwrap(), None);
        assert!(db.state_root(head.height + 1).is_err());
        // The head block is whole: stored, decodable, consistent with the trie.
        let stored = StoredBlock::from_bytes(&db.block(head.height).unwrap().unwrap()).unwrap();
        assert_eq!(stored.block.header.height, head.height);
        assert_eq!(stored.block.header.state_root, head.state_root);
        assert_eq!(db.state_root(head.height).unwrap(), head.state_root);
        assert_eq!(db.recompute_root(head.height).unwrap(), head.state_root);
        let view = db.latest().unwrap();
        let (v, proof) = view.prove(&account_key(&who(1))).unwrap();
        verify_proof(&head.state_root, &account_key(&who(1)), v.as_deref(), &proof).unwrap();
        // Supply is conserved (fees go to the proposer), so no half-applied transfer.
        let mut total: u128 = (1..=ACCOUNTS).map(|i| view.account(&who(i)).unwrap().balance).sum();
        total += view.account(&Address([0xee; 32])).unwrap().balance;
        assert_eq!(total, SUPPLY_EACH * ACCOUNTS as u128);
        // Nonces match the number of committed blocks (16 transfers per account per block).
        assert_eq!(view.account(&who(1)).unwrap().nonce, 16 * head.height);
        last_seen = head.height;
    }
}
