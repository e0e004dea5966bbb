//! Three validators as real `keel node --config node.toml` child processes on loopback:
//! blocks are produced and every node agrees on every state root (read over JSON-RPC); one
//! validator is SIGKILLed in the middle of block production (under a transaction load),
//! its database reopens to a whole committed block that loses nothing it had reported, and
//! once restarted on the same data directory it catches up and agrees again.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use keel_node::chain::{address_of, StoredBlock, Transaction, TxAction, TRANSFER_GAS};
use keel_node::devnet::{account_key, devnet_spec, validator_key, DEVNET_CHAIN_ID};
use keel_node::state::{Address, StateDb};
use serde_json::Value;

const SLOT_MS: u64 = 400;
const VALIDATORS: usize = 3;

/// One `keel node` child process.
struct NodeProc {
    child: Child,
    rpc: HttpClient,
    /// Its libp2p listen address with `/p2p/<peer id>`.
    p2p: String,
}

/// The test's processes; killed (SIGKILL) on drop, so a failing assertion leaves no
/// orphan node behind.
struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Option<NodeProc>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().flatten() {
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
        if std::thread::panicking() {
            // Show the end of each node's log to explain the failure.
            for i in 0..VALIDATORS {
                let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(25).collect();
                eprintln!("--- node {i} log (last lines) ---");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Cluster {
    fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}.log"))
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}"))
    }

    /// Writes `node{i}.toml` (listen and RPC on port 0 of loopback: the node prints the
    /// ports it got) and starts `keel node` on it; returns once it serves JSON-RPC.
    fn start(&mut self, i: usize, bootnodes: &[String]) -> NodeProc {
        let dir = self.dir.path();
        let boot: Vec<String> = bootnodes.iter().map(|b| format!("\"{b}\"")).collect();
        let config = format!(
            "data_dir = \"node{i}\"\ngenesis = \"genesis.toml\"\nkey_file = \"v{i}.key\"\n\
             listen = [\"/ip4/127.0.0.1/tcp/0\"]\nbootnodes = [{}]\nrpc = \"127.0.0.1:0\"\n",
            boot.join(", ")
        );
        let config_path = dir.join(format!("node{i}.toml"));
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log(i)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["node", "--config", config_path.to_str().unwrap()])
            .env("RUST_LOG", "info,libp2p_gossipsub=error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawns keel node");
        // Read stdout on a thread that keeps draining it, so the child never blocks on a
        // full pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut p2p, mut rpc) = (None, None);
        while rpc.is_none() || p2p.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("node {i} did not print its addresses (see {})", self.log(i).display());
                }
            };
            if let Some(a) = line.strip_prefix("listening on ") {
                p2p = Some(a.trim().to_string());
            } else if let Some(a) = line.strip_prefix("JSON-RPC on ") {
                rpc = Some(a.trim().to_string());
            }
        }
        let rpc = HttpClientBuilder::default().request_timeout(Duration::from_secs(10)).build(rpc.unwrap()).unwrap();
        NodeProc { child, rpc, p2p: p2p.unwrap() }
    }

    fn node(&self, i: usize) -> &NodeProc {
        self.nodes[i].as_ref().expect("node is running")
    }
}

async fn status(n: &NodeProc) -> Value {
    n.rpc.request("keel_status", rpc_params![]).await.expect("keel_status")
}

async fn height(n: &NodeProc) -> u64 {
    status(n).await["height"].as_u64().expect("height is a number")
}

/// `(header hash, state root)` of block `h` on `n`, `None` above its head.
async fn block_id(n: &NodeProc, h: u64) -> Option<(String, String)> {
    let b: Value = n.rpc.request("keel_getBlock", rpc_params![h]).await.expect("keel_getBlock");
    if b.is_null() {
        return None;
    }
    Some((b["hash"].as_str().unwrap().to_string(), b["state_root"].as_str().unwrap().to_string()))
}

async fn wait_height(c: &Cluster, nodes: &[usize], target: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let mut all = true;
        for &i in nodes {
            all &= height(c.node(i)).await >= target;
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what} (height {target} on nodes {nodes:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every running node has the same block hash and state root at every height 0..=the
/// lowest head; returns that height.
async fn assert_agree(c: &Cluster, nodes: &[usize]) -> u64 {
    let mut common = u64::MAX;
    for &i in nodes {
        common = common.min(height(c.node(i)).await);
    }
    for h in 0..=common {
        let first = block_id(c.node(nodes[0]), h).await.expect("block below the common head");
        for &i in &nodes[1..] {
            let other = block_id(c.node(i), h).await.expect("block below the common head");
            assert_eq!(first, other, "nodes {} and {i} differ at height {h}", nodes[0]);
        }
    }
    common
}

async fn balance(n: &NodeProc, addr: [u8; 32]) -> u128 {
    let acct: Value = n.rpc.request("keel_getAccount", rpc_params![hex::encode(addr)]).await.expect("keel_getAccount");
    acct["balance"].as_str().expect("balance is a decimal string").parse().expect("balance parses")
}

async fn send_transfers(n: &NodeProc, sender: usize, nonces: std::ops::Range<u64>) {
    let k = account_key(sender);
    for nonce in nonces {
        let tx = Transaction {
            chain_id: DEVNET_CHAIN_ID,
            sender: address_of(&k.verifying_key()),
            nonce,
            gas_limit: TRANSFER_GAS,
            gas_price: 1,
            action: TxAction::Transfer { to: Address([9; 32]), amount: 1 },
        };
        let hex_tx = hex::encode(tx.sign(&k).to_bytes());
        let _: String = n.rpc.request("keel_sendTransaction", rpc_params![hex_tx]).await.expect("transaction admitted");
    }
}

/// Opens the killed node's state database directly (RocksDB's lock died with the process)
/// and checks it holds a whole committed block: head record, root record, block bytes and
/// flat state all agree. Returns the head height.
fn check_reopened_db(data_dir: &Path) -> u64 {
    let db = StateDb::open(data_dir.join("state")).expect("killed node's database reopens");
    let head = db.head().unwrap().expect("a head is recorded");
    assert_eq!(db.state_root(head.height).unwrap(), head.state_root);
    let stored = StoredBlock::from_bytes(&db.block(head.height).unwrap().expect("head block stored")).unwrap();
    assert_eq!(stored.block.header.height, head.height);
    assert_eq!(stored.block.header.state_root, head.state_root, "the head block is the committed one");
    assert_eq!(db.recompute_root(head.height).unwrap(), head.state_root, "flat state matches the root");
    assert!(db.block(head.height + 1).unwrap().is_none(), "nothing above the head");
    head.height
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_validator_process_restarts_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    // Genesis a little in the future, so every process is up before slot 1.
    let spec = devnet_spec(VALIDATORS, 4, SLOT_MS, keel_node::validator::now_ms() + 2500);
    std::fs::write(dir.path().join("genesis.toml"), spec.to_toml()).unwrap();
    for i in 0..VALIDATORS {
        std::fs::write(dir.path().join(format!("v{i}.key")), hex::encode(validator_key(i).to_bytes())).unwrap();
    }
    let mut c = Cluster { dir, nodes: (0..VALIDATORS).map(|_| None).collect() };
    let n0 = c.start(0, &[]);
    let boot0 = vec![n0.p2p.clone()];
    c.nodes[0] = Some(n0);
    let n1 = c.start(1, &boot0);
    let boot01 = vec![boot0[0].clone(), n1.p2p.clone()];
    c.nodes[1] = Some(n1);
    c.nodes[2] = Some(c.start(2, &boot01));
    let all = [0, 1, 2];

    // Blocks are produced by all three leaders and reach everyone.
    wait_height(&c, &all, 4, "the first blocks").await;
    let mut proposers = std::collections::HashSet::new();
    for h in 1..=4 {
        let b: Value = c.node(0).rpc.request("keel_getBlock", rpc_params![h]).await.unwrap();
        proposers.insert(b["proposer"].as_str().unwrap().to_string());
    }
    assert!(proposers.len() >= 2, "several leaders proposed: {proposers:?}");
    assert_agree(&c, &all).await;

    // Load: transfers at every node, so blocks carry transactions when the kill comes.
    send_transfers(c.node(0), 0, 0..30).await;
    send_transfers(c.node(1), 1, 0..30).await;
    send_transfers(c.node(2), 2, 0..30).await;
    let h2 = height(c.node(2)).await;
    wait_height(&c, &[2], h2 + 1, "node 2 to commit the next block").await;
    // SIGKILL in the middle of a slot, while the others keep producing.
    tokio::time::sleep(Duration::from_millis(SLOT_MS / 3)).await;
    let reported = height(c.node(2)).await;
    let mut killed = c.nodes[2].take().unwrap();
    killed.child.kill().expect("SIGKILL node 2");
    let exit = killed.child.wait().unwrap();
    assert!(!exit.success(), "node 2 died of the signal: {exit:?}");

    // Its database reopens to a whole committed block, not below what it had reported.
    let reopened = check_reopened_db(&c.data_dir(2));
    assert!(reopened >= reported, "reopened at {reopened}, but it had reported {reported}");

    // The others go on without it.
    let h0 = height(c.node(0)).await;
    wait_height(&c, &[0, 1], h0 + 3, "blocks without node 2").await;
    assert_agree(&c, &[0, 1]).await;

    // Restart on the same data directory: it catches up by sync and follows.
    c.nodes[2] = Some(c.start(2, &boot01));
    let at_restart = height(c.node(2)).await;
    assert!(at_restart >= reopened, "restarted at {at_restart}, below its database's {reopened}");
    let target = height(c.node(0)).await + 3;
    wait_height(&c, &all, target, "node 2 to catch up and follow").await;
    let common = assert_agree(&c, &all).await;
    assert!(common >= target);
    // Every transfer made it into the chain, on every node (those in flight at the kill
    // were gossiped before it and are included by the others).
    for i in all {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let b = balance(c.node(i), [9; 32]).await;
            if b == 90 {
                break;
            }
            assert!(Instant::now() < deadline, "node {i}: recipient balance {b}, expected 90");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_agree(&c, &all).await;
}
