//! `keel devnet`: a local network of validators on loopback in one process, each with its
//! own data directory, fed a stream of real signed transactions. Prints every block with
//! its state root and the transaction throughput; at the end checks that all nodes agree
//! on every state root and replays one node's database.
//!
//! The devnet deploys the example contracts (token, counter, escrow, registry), hands
//! every account tokens, and the stream is token transfers (`--native` for native
//! transfers).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use parity_scale_codec::Encode;

use crate::chain::{address_of, SignedTransaction, Transaction, TxAction, TRANSFER_GAS};
use crate::consensus::{ChainSpec, Genesis, GenesisBalance};
use crate::mempool::{MempoolError, MempoolLimits};
use crate::state::{contract_address, Address};
use crate::validator::{now_ms, Node, NodeApi, NodeConfig};

/// Devnet settings.
#[derive(Clone, Debug)]
pub struct DevnetOptions {
    /// Number of validators (≥ 1).
    pub validators: usize,
    /// Slot duration, ms.
    pub slot_ms: u64,
    /// Where the nodes' data directories go; default a temporary directory removed at
    /// the end.
    pub dir: Option<PathBuf>,
    /// Stop when node 0 reaches this height.
    pub blocks: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Funded accounts sending transactions.
    pub accounts: usize,
    /// Target transactions per second of the load (0: no load).
    pub tps: u64,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// JSON-RPC port of node 0 (0: any free port).
    pub rpc_port: Option<u16>,
    /// Prometheus port of node 0.
    pub metrics_port: Option<u16>,
    /// Replay node 0's database at the end.
    pub replay: bool,
    /// Print each block.
    pub print_blocks: bool,
    /// Deploy the example contracts and stream token transfers (else native transfers).
    pub contracts: bool,
}

impl Default for DevnetOptions {
    fn default() -> Self {
        Self {
            validators: 3,
            slot_ms: 1000,
            dir: None,
            blocks: None,
            duration: None,
            accounts: 256,
            tps: 1000,
            max_block_txs: 2000,
            rpc_port: Some(0),
            metrics_port: None,
            replay: true,
            print_blocks: true,
            contracts: true,
        }
    }
}

/// The chain id of devnets.
pub const DEVNET_CHAIN_ID: u64 = 7357;
const ACCOUNT_BALANCE: u128 = 1_000_000_000_000_000;

/// The deterministic key of devnet validator `i`.
pub fn validator_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(format!("keel devnet validator {i}").as_bytes()).as_bytes())
}

/// The deterministic key of devnet account `i`.
pub fn account_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(format!("keel devnet account {i}").as_bytes()).as_bytes())
}

/// A genesis for `validators` devnet validators and `accounts` funded accounts, with slot
/// 0 starting at `genesis_time_ms` (set it a little in the future so that every node is
/// up and connected before slot 1).
pub fn devnet_spec(validators: usize, accounts: usize, slot_ms: u64, genesis_time_ms: u64) -> ChainSpec {
    let genesis = Genesis {
        chain_id: DEVNET_CHAIN_ID,
        genesis_time_ms,
        slot_ms,
        validators: (0..validators).map(|i| hex::encode(validator_key(i).verifying_key().to_bytes())).collect(),
        balances: (0..accounts)
            .map(|i| GenesisBalance { address: hex::encode(account_key(i).verifying_key().to_bytes()), balance: ACCOUNT_BALANCE.to_string() })
            .collect(),
    };
    // The genesis above is well formed by construction.
    ChainSpec::new(genesis).expect("devnet genesis is valid")
}

/// The configuration of devnet node `i` (validator `i` if `i < validators`, else a full
/// node) under `dir`, bootstrapping from `bootnodes`.
pub fn node_config(spec: &ChainSpec, dir: &std::path::Path, i: usize, bootnodes: Vec<libp2p::Multiaddr>) -> NodeConfig {
    NodeConfig {
        data_dir: dir.join(format!("node{i}")),
        spec: spec.clone(),
        key: (i < spec.validators.len()).then(|| validator_key(i)),
        p2p_key: Some(SigningKey::from_bytes(blake3::hash(format!("keel devnet p2p {i}").as_bytes()).as_bytes())),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
        bootnodes,
        rpc: None,
        metrics: None,
        mdns: false,
        max_block_txs: 10_000,
        mempool: MempoolLimits::default(),
        sync_commits: false,
        max_reorg_depth: crate::consensus::DEFAULT_MAX_REORG_DEPTH,
    }
}

/// What a devnet run produced.
#[derive(Debug, Default)]
pub struct DevnetReport {
    /// Height node 0 reached.
    pub height: u64,
    /// Transactions in node 0's canonical blocks after the first block with
    /// transactions, up to the last block of the run: the span [`Self::seconds`] measures.
    /// Read from node 0's database once the run ends, so that heights a reorganisation
    /// imported again count once, with the transactions of the branch that stayed.
    pub transactions: u64,
    /// Seconds between the first block with transactions and the last block.
    pub seconds: f64,
    /// Heights at which every node's state root was compared and agreed.
    pub agreed_heights: u64,
    /// Whether the stream was token transfers (contracts deployed).
    pub token_transfers: bool,
    /// Replay of node 0: blocks/s and tx/s, if run.
    pub replay: Option<(f64, f64)>,
}

impl DevnetReport {
    /// Transactions per second over the run.
    pub fn tps(&self) -> f64 {
        self.transactions as f64 / self.seconds.max(1e-9)
    }
}

/// The transaction stream: native transfers, or token transfers once a token is deployed.
struct Load {
    keys: Vec<SigningKey>,
    addrs: Vec<Address>,
    nonces: Vec<u64>,
    next: usize,
    token: Option<Address>,
}

impl Load {
    fn new(n: usize) -> Self {
        let keys: Vec<SigningKey> = (0..n).map(account_key).collect();
        let addrs = keys.iter().map(|k| address_of(&k.verifying_key())).collect();
        Self { nonces: vec![0; n], keys, addrs, next: 0, token: None }
    }

    fn sign(&mut self, i: usize, action: TxAction, gas_limit: u64) -> SignedTransaction {
        let tx = Transaction { chain_id: DEVNET_CHAIN_ID, sender: self.addrs[i], nonce: self.nonces[i], gas_limit, gas_price: 1, action };
        self.nonces[i] += 1;
        tx.sign(&self.keys[i])
    }

    /// The next transaction of the stream: sender round-robin, recipient the next account.
    fn next_tx(&mut self) -> SignedTransaction {
        let i = self.next;
        self.next = (self.next + 1) % self.keys.len();
        let to = self.addrs[(i + 1) % self.addrs.len()];
        match self.token {
            None => self.sign(i, TxAction::Transfer { to, amount: 1 }, TRANSFER_GAS),
            Some(token) => {
                let input = token_call("transfer", &(to, 1u128));
                self.sign(i, TxAction::Call { contract: token, input, value: 0 }, CALL_GAS)
            }
        }
    }
}

/// Gas limit of devnet contract calls.
const CALL_GAS: u64 = 2_000_000;
/// Gas limit of devnet deployments.
const DEPLOY_GAS: u64 = 200_000_000;

/// Call data of the example contracts: `SCALE(method) ‖ SCALE(args)` (`contracts/sdk`).
pub fn token_call<A: Encode>(method: &str, args: &A) -> Vec<u8> {
    let mut d = method.encode();
    args.encode_to(&mut d);
    d
}

/// Example contracts the devnet deploys from account 0 (whose next nonce is `nonce`),
/// with their constructor input: the token first (the escrow names it).
fn example_contracts(load: &Load, nonce: u64) -> Vec<(&'static str, &'static [u8], Vec<u8>)> {
    let mut token_input = "Keel Token".to_string().encode();
    "KEEL".to_string().encode_to(&mut token_input);
    (u128::MAX / 2).encode_to(&mut token_input);
    let token = contract_address(&load.addrs[0], nonce);
    let escrow_input = (token, load.addrs[1], load.addrs[2], load.addrs[0], 1000u128).encode();
    vec![
        ("token", include_bytes!("../../../contracts/wasm/token.wasm"), token_input),
        ("counter", include_bytes!("../../../contracts/wasm/counter.wasm"), 0u64.encode()),
        ("escrow", include_bytes!("../../../contracts/wasm/escrow.wasm"), escrow_input),
        ("registry", include_bytes!("../../../contracts/wasm/registry.wasm"), Vec::new()),
    ]
}

async fn wait_height(api: &NodeApi, height: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if api.chain().head().height >= height {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Submits `tx` and waits for its receipt (up to 20 slots). Returns whether it succeeded.
async fn submit_and_wait(api: &NodeApi, tx: SignedTransaction, slot_ms: u64) -> Result<bool, String> {
    let hash = api.submit(tx).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_millis(slot_ms * 20 + 2000);
    while Instant::now() < deadline {
        if let Ok(Some((h, i))) = api.chain().store().tx_position(&hash) {
            let ok = api
                .chain()
                .stored_block(h)
                .ok()
                .flatten()
                .and_then(|b| b.receipts.get(i as usize).map(|r| r.status == crate::chain::ReceiptStatus::Success));
            return Ok(ok.unwrap_or(false));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("no receipt in 20 slots".into())
}

/// Deploys the example contracts from account 0 and hands every account tokens. Returns
/// the token's address.
async fn deploy_examples(api: &NodeApi, load: &mut Load, slot_ms: u64) -> Result<Address, String> {
    let mut token = None;
    for (name, code, input) in example_contracts(load, load.nonces[0]) {
        let nonce = load.nonces[0];
        let tx = load.sign(0, TxAction::Deploy { code: code.to_vec(), input, value: 0 }, DEPLOY_GAS);
        let addr = contract_address(&load.addrs[0], nonce);
        let ok = submit_and_wait(api, tx, slot_ms).await?;
        println!("deployed {name:<9} at {}  ({})", hex::encode(addr.0), if ok { "success" } else { "FAILED" });
        if name == "token" && ok {
            token = Some(addr);
        }
    }
    let token = token.ok_or("the token deployment failed")?;
    // Fund every account with tokens (account 0 holds the supply).
    let mut last = None;
    for i in 1..load.keys.len() {
        let input = token_call("transfer", &(load.addrs[i], 1_000_000_000u128));
        let tx = load.sign(0, TxAction::Call { contract: token, input, value: 0 }, CALL_GAS);
        last = Some(api.submit(tx).map_err(|e| e.to_string())?);
    }
    if let Some(h) = last {
        let deadline = Instant::now() + Duration::from_millis(slot_ms * 40 + 5000);
        while api.chain().store().tx_position(&h).ok().flatten().is_none() {
            if Instant::now() > deadline {
                return Err("token distribution did not complete".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("distributed tokens to {} accounts", load.keys.len() - 1);
    Ok(token)
}

/// Runs a devnet until `opts.blocks`, `opts.duration` or `stop` (e.g. Ctrl-C), whichever
/// comes first, and reports.
pub async fn run(opts: DevnetOptions, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<DevnetReport> {
    anyhow::ensure!(opts.validators >= 1, "a devnet needs at least one validator");
    anyhow::ensure!(opts.accounts >= 2, "a devnet needs at least two accounts");
    let tmp;
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    // Slot 1 starts once every node is up and connected.
    let spec = devnet_spec(opts.validators, opts.accounts, opts.slot_ms, now_ms() + 1000 + 300 * opts.validators as u64);
    println!(
        "devnet: {} validators, slot {} ms, chain id {}, data in {}",
        opts.validators,
        opts.slot_ms,
        spec.chain_id(),
        dir.display()
    );
    let mut nodes: Vec<Node> = Vec::new();
    let mut bootnodes = Vec::new();
    for i in 0..opts.validators {
        let mut cfg = node_config(&spec, &dir, i, bootnodes.clone());
        cfg.max_block_txs = opts.max_block_txs;
        if i == 0 {
            cfg.rpc = opts.rpc_port.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)));
            cfg.metrics = opts.metrics_port.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)));
        }
        let node = Node::start(cfg).await?;
        bootnodes.extend(node.listen_addrs());
        println!(
            "  validator {i}: {}  peer {}",
            hex::encode(&validator_key(i).verifying_key().to_bytes()[..8]),
            node.api().shared.peer_id
        );
        nodes.push(node);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes.iter().any(|n| n.api().net_status().peers + 1 < opts.validators) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(a) = nodes[0].rpc_addr() {
        println!("  JSON-RPC of validator 0: http://{a}");
    }
    if let Some(a) = nodes[0].metrics_addr() {
        println!("  Prometheus metrics of validator 0: http://{a}/metrics");
    }
    let until = match (opts.blocks, opts.duration) {
        (Some(b), _) => format!("until height {b}"),
        (None, Some(d)) => format!("for {:.0} s", d.as_secs_f64()),
        (None, None) => "until Ctrl-C".to_string(),
    };
    println!("running {until}");

    let apis: Vec<NodeApi> = nodes.iter().map(|n| n.api().clone()).collect();
    let mut report = DevnetReport::default();
    let started = Instant::now();
    let mut load = Load::new(opts.accounts);
    tokio::pin!(stop);

    // The example contracts; the stream is token transfers once the token is deployed.
    if opts.contracts {
        wait_height(&apis[0], 1, Duration::from_millis(opts.slot_ms * 10 + 10_000)).await;
        match deploy_examples(&apis[0], &mut load, opts.slot_ms).await {
            Ok(token) => {
                load.token = Some(token);
                report.token_transfers = true;
            }
            Err(e) => println!("contract deployment failed ({e}); streaming native transfers"),
        }
    }

    // The load starts with the chain (height 1), not before genesis.
    wait_height(&apis[0], 1, Duration::from_millis(opts.slot_ms * 10 + 10_000)).await;
    let mut blocks = apis[0].subscribe();
    let tick_ms = 50u64;
    let per_tick = (opts.tps * tick_ms / 1000) as usize;
    let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
    let mut window: std::collections::VecDeque<(Instant, usize)> = Default::default();
    let mut first_tx_block: Option<(u64, Instant)> = None;
    let mut last_block_at = Instant::now();
    let mut target = 0usize;
    let mut backlog: Option<SignedTransaction> = None;
    loop {
        tokio::select! {
            _ = &mut stop => { println!("stopping (Ctrl-C)"); break; }
            _ = tick.tick() => {
                if let Some(d) = opts.duration {
                    if started.elapsed() >= d { break; }
                }
                // Feed the load round-robin over the nodes; a full mempool defers the rest.
                tokio::task::block_in_place(|| {
                    for k in 0..per_tick {
                        let tx = backlog.take().unwrap_or_else(|| load.next_tx());
                        let api = &apis[(target + k) % apis.len()];
                        match api.submit(tx.clone()) {
                            Ok(_) => {}
                            Err(MempoolError::Full(_)) | Err(MempoolError::NonceGap { .. }) => { backlog = Some(tx); break; }
                            Err(e) => { tracing::debug!("devnet transaction not admitted: {e}"); }
                        }
                    }
                });
                target = target.wrapping_add(1);
            }
            ev = blocks.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let now = Instant::now();
                last_block_at = now;
                if ev.transactions > 0 && first_tx_block.is_none() {
                    first_tx_block = Some((ev.height, now));
                }
                window.push_back((now, ev.transactions));
                while window.len() > 10 { window.pop_front(); }
                let span = window.front().map_or(0.0, |(t, _)| now.duration_since(*t).as_secs_f64());
                let recent: usize = window.iter().skip(1).map(|(_, n)| n).sum();
                let tps = if span > 0.0 { recent as f64 / span } else { 0.0 };
                if opts.print_blocks {
                    let proposer = spec.validators.iter().position(|v| *v == ev.proposer).map_or("?".into(), |i| format!("v{i}"));
                    println!(
                        "block {:>5}  {:<3} txs {:>6}  gas {:>11}  state root {}  {:>8.0} tx/s",
                        ev.height, proposer, ev.transactions, ev.gas_used, hex::encode(&ev.state_root[..12]), tps
                    );
                }
                report.height = ev.height;
                if opts.blocks.is_some_and(|b| ev.height >= b) { break; }
            }
        }
    }
    if let Some((first, t)) = first_tx_block {
        report.seconds = last_block_at.duration_since(t).as_secs_f64();
        // The block events count a height twice after a reorganisation (both branches'
        // blocks arrive); the database holds the branch that stayed.
        let chain = apis[0].chain();
        for h in first + 1..=report.height {
            if let Some(b) = chain.stored_block(h)? {
                report.transactions += b.block.transactions.len() as u64;
            }
        }
    }
    report.height = apis[0].chain().head().height;

    // Agreement: every node's state root at every height all have.
    let common = apis.iter().map(|a| a.chain().head().height).min().unwrap_or(0);
    let mut agreed = 0;
    for h in 1..=common {
        let roots: Vec<_> = apis.iter().map(|a| a.chain().db().state_root(h).ok()).collect();
        anyhow::ensure!(roots.iter().all(|r| r.is_some() && *r == roots[0]), "nodes disagree on the state root at height {h}");
        agreed += 1;
    }
    report.agreed_heights = agreed;
    println!(
        "{} blocks; all {} nodes agree on the state roots of heights 1..={common}; {} transactions in {:.1} s = {:.0} tx/s ({})",
        report.height,
        apis.len(),
        report.transactions,
        report.seconds,
        report.tps(),
        if report.token_transfers { "token transfers" } else { "native transfers" }
    );
    drop(apis);
    for n in nodes {
        n.shutdown().await;
    }
    if opts.replay {
        let ropts = crate::replay::ReplayOptions {
            db: dir.join("node0"),
            genesis: None,
            from: 1,
            to: None,
            engine: crate::consensus::Engine::Native,
            progress: false,
        };
        let r = tokio::task::spawn_blocking(move || crate::replay::replay(&ropts)).await??;
        match &r.divergence {
            None => println!(
                "replay of validator 0: {} blocks, {} transactions: identical roots and receipts ({:.0} blocks/s, {:.0} tx/s)",
                r.blocks,
                r.transactions,
                r.blocks_per_sec(),
                r.txs_per_sec()
            ),
            Some(d) => anyhow::bail!("replay of validator 0 diverged: {d}"),
        }
        report.replay = Some((r.blocks_per_sec(), r.txs_per_sec()));
    }
    Ok(report)
}
