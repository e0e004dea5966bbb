//! Fixtures shared by the node's integration tests: deterministic keys and addresses.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use keel_node::chain::address_of;
use keel_node::state::Address;

/// Chain id used by the tests.
pub const CHAIN: u64 = 7;

/// The signing key whose 32 secret bytes are all `i`.
pub fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

/// The address of [`key`]`(i)`.
pub fn who(i: u8) -> Address {
    address_of(&key(i).verifying_key())
}

/// Contract-test harness: a chain on a fresh database with funded accounts, signed
/// transactions with automatic nonces, one block per call.
pub mod chain {
    use std::collections::BTreeMap;

    use keel_node::chain::*;
    use std::collections::BTreeSet;

    use keel_node::state::{account_key, contract_address, Address, Hash32, StateDb, StateView, TrieKey};
    use parity_scale_codec::Encode;

    use super::{key, who, CHAIN};

    /// Balance of every funded account at genesis.
    pub const FUNDS: u128 = 1_000_000_000_000_000;
    /// Gas price of every transaction the harness signs.
    pub const PRICE: u64 = 1;
    /// Default gas limit.
    pub const GAS: u64 = 50_000_000;
    /// The proposer of every block.
    pub const PROPOSER: Address = Address([0xee; 32]);

    /// A committed contract binary from `contracts/wasm`.
    pub fn wasm(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm").join(format!("{name}.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Call data: SCALE(method) ++ SCALE(args) (`specs/abi.md` §1).
    pub fn call_data<A: Encode>(method: &str, args: A) -> Vec<u8> {
        let mut d = method.encode();
        args.encode_to(&mut d);
        d
    }

    /// `name` zero-padded to 32 bytes (the SDK's topic-0 convention).
    pub fn topic(name: &str) -> [u8; 32] {
        let mut t = [0u8; 32];
        t[..name.len()].copy_from_slice(name.as_bytes());
        t
    }

    pub fn ctx(height: u64) -> BlockContext {
        BlockContext { chain_id: CHAIN, height, timestamp_ms: 1_700_000_000_000 + height * 1000, proposer: PROPOSER, cost_table_hash: [0; 32] }
    }

    pub struct Chain {
        pub dir: tempfile::TempDir,
        pub db: StateDb,
        pub blocks: Vec<StoredBlock>,
        nonces: BTreeMap<u8, u64>,
    }

    impl Chain {
        /// Genesis with accounts `who(1..=4)` holding [`FUNDS`].
        pub fn new() -> Chain {
            let dir = tempfile::tempdir().unwrap();
            let db = StateDb::open(dir.path()).unwrap();
            let alloc: Vec<_> = (1..=4).map(|i| (who(i), FUNDS)).collect();
            let genesis = commit_genesis(&db, &ctx(0), &alloc).unwrap();
            Chain { dir, db, blocks: vec![genesis], nonces: BTreeMap::new() }
        }

        pub fn nonce(&self, from: u8) -> u64 {
            self.nonces.get(&from).copied().unwrap_or(0)
        }

        /// Signs `action` from `who(from)` with the next nonce.
        pub fn tx(&mut self, from: u8, action: TxAction, gas_limit: u64) -> SignedTransaction {
            let nonce = self.nonce(from);
            self.nonces.insert(from, nonce + 1);
            Transaction { chain_id: CHAIN, sender: who(from), nonce, gas_limit, gas_price: PRICE, action }.sign(&key(from))
        }

        pub fn deploy_tx(&mut self, from: u8, code: Vec<u8>, input: Vec<u8>) -> (SignedTransaction, Address) {
            let addr = contract_address(&who(from), self.nonce(from));
            (self.tx(from, TxAction::Deploy { code, input, value: 0 }, GAS), addr)
        }

        pub fn call_tx(&mut self, from: u8, contract: Address, input: Vec<u8>, value: u128) -> SignedTransaction {
            self.tx(from, TxAction::Call { contract, input, value }, GAS)
        }

        /// Executes and commits the next block.
        pub fn block(&mut self, txs: Vec<SignedTransaction>) -> StoredBlock {
            let h = self.blocks.len() as u64;
            let parent: Hash32 = self.blocks[h as usize - 1].block.header.hash();
            let b = execute_block(&self.db, &ctx(h), parent, txs).unwrap_or_else(|e| panic!("block {h}: {e}"));
            self.blocks.push(b.clone());
            b
        }

        /// Deploys `code` from `who(from)` in its own block; returns the address and receipt.
        pub fn deploy(&mut self, from: u8, code: Vec<u8>, input: Vec<u8>) -> (Address, Receipt) {
            let (tx, addr) = self.deploy_tx(from, code, input);
            let b = self.block(vec![tx]);
            (addr, b.receipts[0].clone())
        }

        /// Calls `contract` from `who(from)` in its own block; returns the receipt.
        pub fn call(&mut self, from: u8, contract: Address, input: Vec<u8>) -> Receipt {
            let tx = self.call_tx(from, contract, input, 0);
            self.block(vec![tx]).receipts[0].clone()
        }

        pub fn view(&self) -> StateView<'_> {
            self.db.latest().unwrap()
        }

        pub fn root(&self) -> Hash32 {
            self.blocks.last().unwrap().block.header.state_root
        }
    }

    /// Applies `tx` to a working state, checks that only the sender's and the proposer's
    /// accounts changed, by exactly the fee and one nonce, then commits it as a block and checks
    /// the block's receipt is the same.
    pub fn apply_checked(c: &mut Chain, tx: SignedTransaction) -> Receipt {
        let h = c.blocks.len() as u64;
        let sender = tx.tx.sender;
        let mut ws = c.db.working().unwrap();
        let (s0, p0) = (ws.account(&sender).unwrap(), ws.account(&PROPOSER).unwrap());
        let r = apply_transaction(&mut ws, &ctx(h), &tx).unwrap();
        let keys: BTreeSet<TrieKey> = ws.changes().writes().map(|(k, _)| *k).collect();
        assert_eq!(keys, BTreeSet::from([account_key(&sender), account_key(&PROPOSER)]), "{r:?}");
        assert_eq!(ws.changes().codes().count(), 0, "no code stored");
        let fee = r.gas_used as u128 * PRICE as u128;
        let s1 = ws.account(&sender).unwrap();
        assert_eq!((s1.balance, s1.nonce), (s0.balance - fee, s0.nonce + 1));
        assert_eq!(ws.account(&PROPOSER).unwrap().balance, p0.balance + fee);
        assert!(r.events.is_empty());
        let b = c.block(vec![tx]);
        assert_eq!(b.receipts[0], r);
        r
    }
}

/// Helpers for tests that run validators in-process.
pub mod nodes {
    use std::time::{Duration, Instant};

    use keel_node::validator::NodeApi;

    /// Polls `f` every 25 ms until it holds; panics naming `what` after `timeout`.
    pub async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The node's head height.
    pub fn height(api: &NodeApi) -> u64 {
        api.chain().head().height
    }
}

/// Re-runs test `test` of the running test binary as a child process with environment
/// variable `env` set to `dir` (the test's "writer" mode), hands each stdout line to
/// `stop` until it returns `true` (or the child's output ends), then SIGKILLs the child.
pub fn kill_self_test_when(test: &str, env: &str, dir: &std::path::Path, mut stop: impl FnMut(&str) -> bool) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if stop(&line.unwrap()) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}
