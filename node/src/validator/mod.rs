//! The node service: one task that owns the libp2p swarm and reacts to one stream of
//! events — gossip, sync requests and responses, slot ticks, local submissions — over a
//! [`Chain`] and a [`Mempool`]. A validator (a node with a key in the genesis set) also
//! proposes a block in each of its slots; a full node only follows.
//!
//! Every gossip message is validated before it is relayed (gossipsub runs with explicit
//! validation): invalid ones are rejected, which lowers the sender's gossipsub score;
//! blocks served by sync that fail validation get their server disconnected and
//! blacklisted. Nothing a peer sends can panic the node: decoding is bounded and every
//! check returns a typed error.

pub mod metrics;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use metrics::Metrics;

use crate::chain::{address_of, SignedTransaction, StoredBlock};
use crate::consensus::{Chain, ChainSpec, ImportError, OpenError, Reorg, SignedBlock};
pub use crate::consensus::DEFAULT_MAX_REORG_DEPTH;
use crate::mempool::{Mempool, MempoolError, MempoolLimits};
use crate::net::{self, Behaviour, BehaviourEvent, SyncRequest, SyncResponse, MAX_BLOCKS_PER_REQUEST, MAX_RESPONSE_BYTES};
use crate::state::{Address, Hash32};

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Data directory (`state/`, `consensus/`, `genesis.toml`).
    pub data_dir: PathBuf,
    /// The chain.
    pub spec: ChainSpec,
    /// Validator key; `None` runs a full node (follows, never proposes).
    pub key: Option<SigningKey>,
    /// Network identity; `None` uses `key`, or a fresh one for a full node.
    pub p2p_key: Option<SigningKey>,
    /// Listen multiaddrs (e.g. `/ip4/127.0.0.1/tcp/0`).
    pub listen: Vec<Multiaddr>,
    /// Bootnodes to dial (multiaddrs, with or without `/p2p/<peer id>`).
    pub bootnodes: Vec<Multiaddr>,
    /// JSON-RPC listen address; `None` for no RPC server.
    pub rpc: Option<SocketAddr>,
    /// Prometheus metrics listen address; `None` for none.
    pub metrics: Option<SocketAddr>,
    /// mDNS discovery on the local network.
    pub mdns: bool,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// Mempool limits.
    pub mempool: MempoolLimits,
    /// `fsync` every block commit (off only for scratch networks and tests).
    pub sync_commits: bool,
    /// The most committed blocks a reorganisation to a preferred competing branch may
    /// revert (`specs/protocol.md` §4; default [`DEFAULT_MAX_REORG_DEPTH`]).
    pub max_reorg_depth: u64,
}

/// A committed block, as the node announces it to local subscribers.
#[derive(Clone, Debug)]
pub struct BlockEvent {
    /// Height.
    pub height: u64,
    /// Header hash.
    pub hash: Hash32,
    /// State root after the block.
    pub state_root: Hash32,
    /// Receipts root.
    pub receipts_root: Hash32,
    /// Number of transactions.
    pub transactions: usize,
    /// Total gas used.
    pub gas_used: u64,
    /// The proposer.
    pub proposer: Address,
    /// Whether this node proposed it.
    pub proposed_here: bool,
}

impl BlockEvent {
    fn of(stored: &StoredBlock, proposed_here: bool) -> Self {
        let h = &stored.block.header;
        Self {
            height: h.height,
            hash: h.hash(),
            state_root: h.state_root,
            receipts_root: h.receipts_root,
            transactions: stored.block.transactions.len(),
            gas_used: stored.receipts.iter().map(|r| r.gas_used).sum(),
            proposer: h.proposer,
            proposed_here,
        }
    }
}

/// Network-side status, updated by the service task.
#[derive(Clone, Debug, Default)]
pub struct NetStatus {
    /// Connected peers.
    pub peers: usize,
    /// Highest head height a peer reported.
    pub best_peer_height: u64,
    /// Listen addresses (with `/p2p/<peer id>`).
    pub listen_addrs: Vec<Multiaddr>,
    /// Gossip messages rejected as invalid.
    pub gossip_rejected: u64,
    /// Peers disconnected for serving invalid blocks or a score below the graylist.
    pub banned: usize,
}

/// State shared by the service task, the RPC server and local handles.
pub struct Shared {
    /// The chain.
    pub chain: Chain,
    /// The mempool.
    pub mempool: Mutex<Mempool>,
    /// Network status.
    pub net: Mutex<NetStatus>,
    /// This node's peer id.
    pub peer_id: PeerId,
    /// This node's validator address, if it is one.
    pub validator: Option<Address>,
    /// Metrics.
    pub metrics: Metrics,
    blocks: broadcast::Sender<BlockEvent>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere; the data is still consistent (every update
    // under these locks is a single assignment or an all-or-nothing insert).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the Unix epoch, by the local clock.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

enum Command {
    PublishTx(Vec<u8>),
    Dial(Multiaddr),
    PeerScores(oneshot::Sender<Vec<(PeerId, f64)>>),
}

/// A cheap, cloneable handle to a running node: submit transactions, read status.
#[derive(Clone)]
pub struct NodeApi {
    /// Shared state.
    pub shared: Arc<Shared>,
    cmd: mpsc::UnboundedSender<Command>,
}

/// Snapshot of a node's status (what the `keel_status` RPC returns).
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeStatus {
    /// Chain id.
    pub chain_id: u64,
    /// Head height.
    pub height: u64,
    /// Head header hash, hex.
    pub head_hash: String,
    /// State root of the head, hex.
    pub state_root: String,
    /// This node's peer id.
    pub peer_id: String,
    /// Validator address (hex) if this node is one.
    pub validator: Option<String>,
    /// Connected peers.
    pub peers: usize,
    /// Whether a peer reported a higher head.
    pub syncing: bool,
    /// Pending transactions.
    pub mempool: usize,
    /// Listen addresses.
    pub listen_addrs: Vec<String>,
}

impl NodeApi {
    /// Admits a signed transaction to the mempool and gossips it. Returns its hash.
    pub fn submit(&self, stx: SignedTransaction) -> Result<Hash32, MempoolError> {
        let bytes = stx.to_bytes();
        let hash = {
            let view = self.shared.chain.db().latest()?;
            lock(&self.shared.mempool).insert(stx, &view)?
        };
        // The service may be shutting down; the transaction stays admitted locally.
        let _ = self.cmd.send(Command::PublishTx(bytes));
        Ok(hash)
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.shared.chain
    }

    /// A status snapshot.
    pub fn status(&self) -> NodeStatus {
        let head = self.shared.chain.head();
        let net = lock(&self.shared.net).clone();
        NodeStatus {
            chain_id: self.shared.chain.spec().chain_id(),
            height: head.height,
            head_hash: hex::encode(head.hash()),
            state_root: hex::encode(head.state_root),
            peer_id: self.shared.peer_id.to_string(),
            validator: self.shared.validator.map(|a| hex::encode(a.0)),
            peers: net.peers,
            syncing: net.best_peer_height > head.height,
            mempool: lock(&self.shared.mempool).len(),
            listen_addrs: net.listen_addrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Network status.
    pub fn net_status(&self) -> NetStatus {
        lock(&self.shared.net).clone()
    }

    /// Subscribes to committed blocks.
    pub fn subscribe(&self) -> broadcast::Receiver<BlockEvent> {
        self.shared.blocks.subscribe()
    }

    /// Dials a peer (e.g. to join two parts of a network). The dial runs in the
    /// background; a failure is logged.
    pub fn dial(&self, addr: Multiaddr) {
        let _ = self.cmd.send(Command::Dial(addr));
    }

    /// Gossipsub scores of the connected peers.
    pub async fn peer_scores(&self) -> Vec<(PeerId, f64)> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::PeerScores(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// Why a node failed to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or genesis.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The network.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// A listen address or the RPC / metrics port.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// A running node. Dropping it without [`shutdown`](Self::shutdown) aborts the service.
pub struct Node {
    api: NodeApi,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    rpc: Option<jsonrpsee::server::ServerHandle>,
    rpc_addr: Option<SocketAddr>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
}

impl Node {
    /// Opens the data directory, starts the network, the service task, and the RPC and
    /// metrics servers if configured. Returns once the node listens.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let mut chain = Chain::open(&config.data_dir, config.spec.clone(), config.sync_commits)?;
        chain.set_max_reorg_depth(config.max_reorg_depth);
        let p2p_key = config.p2p_key.clone().or_else(|| config.key.clone()).unwrap_or_else(|| {
            let mut seed = [0u8; 32];
            seed[..16].copy_from_slice(&SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()).to_le_bytes());
            seed[16..24].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
            SigningKey::from_bytes(blake3::hash(&seed).as_bytes())
        });
        let identity = net::identity_of(&p2p_key);
        let peer_id = identity.public().to_peer_id();
        let chain_id = config.spec.chain_id();
        let mut swarm = net::build_swarm(identity, chain_id, config.mdns)?;
        for topic in [net::tx_topic(chain_id), net::block_topic(chain_id)] {
            swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| net::NetError::Setup(e.to_string()))?;
        }
        for addr in &config.listen {
            swarm.listen_on(addr.clone()).map_err(|e| StartError::Listen { addr: addr.to_string(), reason: e.to_string() })?;
        }
        // Wait for the listeners to report their addresses (port 0 becomes a real port).
        let mut listen_addrs = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while listen_addrs.len() < config.listen.len() {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => listen_addrs.push(address.with_p2p(peer_id).unwrap_or_else(|a| a)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        for addr in &config.bootnodes {
            if let Err(e) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, "cannot dial bootnode: {e}");
            }
        }
        let (blocks, _) = broadcast::channel(1024);
        let validator = config.key.as_ref().map(|k| address_of(&k.verifying_key()));
        let shared = Arc::new(Shared {
            mempool: Mutex::new(Mempool::new(chain_id, config.mempool)),
            net: Mutex::new(NetStatus { listen_addrs, ..NetStatus::default() }),
            peer_id,
            validator,
            metrics: Metrics::default(),
            blocks,
            chain,
        });
        shared.metrics.height.set(shared.chain.head().height as i64);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let api = NodeApi { shared: shared.clone(), cmd: cmd_tx };
        let (rpc, rpc_addr) = match config.rpc {
            None => (None, None),
            Some(addr) => {
                let (h, a) = crate::rpc::serve(addr, api.clone())
                    .await
                    .map_err(|e| StartError::Listen { addr: addr.to_string(), reason: e.to_string() })?;
                (Some(h), Some(a))
            }
        };
        let (metrics_task, metrics_addr) = match config.metrics {
            None => (None, None),
            Some(addr) => {
                let (a, t) = metrics::serve(addr, shared.clone())
                    .await
                    .map_err(|e| StartError::Listen { addr: addr.to_string(), reason: e.to_string() })?;
                (Some(t), Some(a))
            }
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let service = Service {
            tx_outbox: Vec::new(),
            shared,
            swarm,
            key: config.key.filter(|k| config.spec.validators.contains(&address_of(&k.verifying_key()))),
            max_block_txs: config.max_block_txs,
            peer_heights: HashMap::new(),
            sync_in_flight: None,
            fork: None,
            declined: HashMap::new(),
            banned: HashSet::new(),
            started: Instant::now(),
            heard_status: false,
            bootnodes: config.bootnodes,
        };
        let task = tokio::spawn(service.run(cmd_rx, stop_rx));
        tracing::info!(%peer_id, validator = ?validator, ?rpc_addr, "node started");
        Ok(Node { api, stop: Some(stop_tx), task: Some(task), rpc, rpc_addr, metrics_task, metrics_addr })
    }

    /// A handle for submitting transactions and reading status.
    pub fn api(&self) -> &NodeApi {
        &self.api
    }

    /// The RPC server's bound address.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc_addr
    }

    /// The metrics server's bound address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Listen addresses with `/p2p/<peer id>` (what other nodes use as bootnodes).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        lock(&self.api.shared.net).listen_addrs.clone()
    }

    /// Stops the service, the network and the servers, and waits until the databases are
    /// closed (every handle from [`api`](Self::api) must be dropped for that).
    pub async fn shutdown(mut self) {
        self.stop_all().await;
    }

    async fn stop_all(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(rpc) = self.rpc.take() {
            let _ = rpc.stop();
            rpc.stopped().await;
        }
        if let Some(t) = self.metrics_task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(rpc) = self.rpc.take() {
            let _ = rpc.stop();
        }
        if let Some(t) = self.metrics_task.take() {
            t.abort();
        }
    }
}

/// How often locally submitted transactions are gossiped, as one batch, in ms.
const TX_FLUSH_MS: u64 = 50;

/// Fetching a peer's competing branch (`specs/protocol.md` §4): first walking back from
/// the suspected height until a block's parent is a local block (at most
/// `max_reorg_depth` back), then forward until the branch reaches `target`.
struct ForkSync {
    /// Fetch the branch up to this height.
    target: u64,
    /// The lowest height the walk back may reach (the deepest allowed fork point + 1).
    lowest: u64,
    /// The height of the last walk-back request.
    from: u64,
    /// Blocks fetched so far, consecutive, the first one's parent a local block (empty
    /// while walking back).
    blocks: Vec<SignedBlock>,
}

struct Service {
    tx_outbox: Vec<Vec<u8>>,
    shared: Arc<Shared>,
    swarm: Swarm<Behaviour>,
    key: Option<SigningKey>,
    max_block_txs: usize,
    peer_heights: HashMap<PeerId, u64>,
    sync_in_flight: Option<(OutboundRequestId, PeerId)>,
    /// The competing branch being fetched, if any (its requests use `sync_in_flight`).
    fork: Option<ForkSync>,
    /// Per peer, the head hash of the last branch it served that the fork choice declined
    /// (not preferred, too deep): not fetched again until the peer's head changes.
    declined: HashMap<PeerId, Hash32>,
    banned: HashSet<PeerId>,
    started: Instant,
    heard_status: bool,
    bootnodes: Vec<Multiaddr>,
}

impl Service {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Command>, mut stop: oneshot::Receiver<()>) {
        let spec = self.shared.chain.spec().clone();
        let mut next_slot = spec.slot_at(now_ms()) + 1;
        // A slot whose proposal waits for a late parent (see `on_slot`).
        let mut deferred: Option<u64> = None;
        let mut status_tick = tokio::time::interval(Duration::from_millis(spec.slot_ms().clamp(100, 2000)));
        let mut flush_tick = tokio::time::interval(Duration::from_millis(TX_FLUSH_MS));
        loop {
            let wake = match deferred {
                Some(d) => spec.slot_start_ms(d) + spec.slot_ms() / 2,
                None => spec.slot_start_ms(next_slot),
            };
            let wait = wake.saturating_sub(now_ms());
            tokio::select! {
                _ = &mut stop => break,
                Some(cmd) = cmds.recv() => self.on_command(cmd),
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                    let slot = spec.slot_at(now_ms());
                    if deferred == Some(slot) {
                        deferred = None;
                        self.on_slot(slot, true);
                    } else if slot >= next_slot {
                        deferred = None;
                        if self.on_slot(slot, false) {
                            deferred = Some(slot);
                        }
                        next_slot = slot + 1;
                    }
                }
                _ = status_tick.tick() => self.on_status_tick(),
                _ = flush_tick.tick() => self.flush_txs(),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        tracing::debug!("node service stopped");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(%addr, "cannot dial: {e}");
                }
            }
            Command::PublishTx(bytes) => {
                self.tx_outbox.push(bytes);
                if self.tx_outbox.len() >= net::MAX_TXS_PER_GOSSIP {
                    self.flush_txs();
                }
            }
            Command::PeerScores(reply) => {
                let gs = &self.swarm.behaviour().gossipsub;
                let scores = self.swarm.connected_peers().map(|p| (*p, gs.peer_score(p).unwrap_or(0.0))).collect();
                let _ = reply.send(scores);
            }
        }
    }

    /// Gossips the locally submitted transactions as one batch.
    fn flush_txs(&mut self) {
        if self.tx_outbox.is_empty() {
            return;
        }
        let batch = net::encode_tx_batch(&std::mem::take(&mut self.tx_outbox));
        let topic = net::tx_topic(self.shared.chain.spec().chain_id());
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, batch) {
            tracing::debug!("transactions not gossiped: {e}");
        }
    }

    fn best_peer_height(&self) -> u64 {
        self.peer_heights.values().copied().max().unwrap_or(0)
    }

    fn update_net_status(&self) {
        let mut net = lock(&self.shared.net);
        net.peers = self.swarm.connected_peers().count();
        net.best_peer_height = self.best_peer_height();
        net.banned = self.banned.len();
        self.shared.metrics.peers.set(net.peers as i64);
    }

    /// A slot started (or, with `second_chance`, half of it passed): propose if this node
    /// leads it and is in step with its peers. Returns `true` when the proposal is deferred
    /// to the middle of the slot because the previous slot's block has not arrived (it may
    /// be late rather than missing; building on its parent would fork).
    fn on_slot(&mut self, slot: u64, second_chance: bool) -> bool {
        let Some(key) = self.key.clone() else { return false };
        let chain = &self.shared.chain;
        if chain.spec().leader(slot) != address_of(&key.verifying_key()) {
            return false;
        }
        let head = chain.head();
        if self.best_peer_height() > head.height {
            tracing::debug!(slot, "leader, but behind peers: syncing instead of proposing");
            return false;
        }
        // After a (re)start with bootnodes, wait to hear a peer's head (or two slots)
        // before proposing, so as not to build on a stale head.
        if !self.heard_status && !self.bootnodes.is_empty() && self.started.elapsed() < Duration::from_millis(2 * chain.spec().slot_ms()) {
            return false;
        }
        if !second_chance && slot >= 2 && chain.slot_of(&head) < slot - 1 && head.height > 0 {
            return true;
        }
        let candidates = {
            let Ok(view) = chain.db().latest() else { return false };
            match lock(&self.shared.mempool).select(&view, self.max_block_txs) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("mempool selection: {e}");
                    return false;
                }
            }
        };
        let proposed = tokio::task::block_in_place(|| chain.propose(&key, slot, candidates));
        match proposed {
            Ok(p) => {
                let rejected: Vec<Hash32> = p.rejected.iter().map(|(t, _)| t.hash()).collect();
                for (t, e) in &p.rejected {
                    tracing::debug!(nonce = t.tx.nonce, "left out of block: {e}");
                }
                let stored = StoredBlock { block: p.block.block.clone(), receipts: p.receipts };
                self.after_commit(&stored, true, &rejected);
                let topic = net::block_topic(chain.spec().chain_id());
                if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, p.block.to_bytes()) {
                    tracing::debug!("block not gossiped: {e}");
                }
            }
            Err(e) => tracing::warn!(slot, "proposal failed: {e}"),
        }
        false
    }

    /// Starts fetching `peer`'s competing branch up to height `target` (unless a sync is
    /// in flight: the peer's next status or block starts it again).
    fn start_fork(&mut self, peer: PeerId, target: u64) {
        if self.sync_in_flight.is_some() || self.banned.contains(&peer) {
            return;
        }
        let shared = self.shared.clone();
        let chain = &shared.chain;
        let head = chain.head().height;
        if head == 0 || target == 0 {
            return; // Every chain shares the genesis: no fork below height 1.
        }
        let lowest = (head + 1).saturating_sub(chain.max_reorg_depth()).max(1);
        let from = target.min(head).max(lowest);
        self.fork = Some(ForkSync { target, lowest, from, blocks: Vec::new() });
        self.request_fork_blocks(peer, from, target);
    }

    fn request_fork_blocks(&mut self, peer: PeerId, from: u64, to: u64) {
        let count = (to.saturating_sub(from) + 1).min(MAX_BLOCKS_PER_REQUEST as u64) as u32;
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, SyncRequest::Blocks { from, count });
        self.sync_in_flight = Some((id, peer));
        tracing::debug!(%peer, from, count, "competing branch request");
    }

    /// A response to a competing-branch request: walk back further, fetch more, or, once
    /// the branch reaches its target, hand it to the fork choice.
    fn on_fork_blocks(&mut self, peer: PeerId, mut fork: ForkSync, blocks: Vec<Vec<u8>>) {
        let requested_from = if fork.blocks.is_empty() { fork.from } else { fork.blocks.len() as u64 + fork.from };
        let mut got = Vec::with_capacity(blocks.len());
        for (i, bytes) in blocks.iter().enumerate() {
            let sb = match SignedBlock::from_bytes(bytes) {
                Ok(b) => b,
                Err(e) => return self.ban(peer, &format!("served a malformed block: {e}")),
            };
            let h = &sb.block.header;
            let consecutive = h.height == requested_from + i as u64
                && got.last().is_none_or(|p: &SignedBlock| p.block.header.hash() == h.parent_hash);
            if !consecutive {
                return self.ban(peer, "served blocks that are not consecutive from the requested height");
            }
            got.push(sb);
        }
        let short = got.is_empty();
        let shared = self.shared.clone();
        let chain = &shared.chain;
        if fork.blocks.is_empty() {
            // Walking back: does the first block's parent belong to the local chain?
            match chain.fork_point(&got) {
                Ok(Some(_)) => fork.blocks = got,
                Ok(None) if short => return,
                Ok(None) => {
                    if fork.from <= fork.lowest {
                        tracing::warn!(%peer, max = chain.max_reorg_depth(), "competing branch forks deeper than the reorganisation limit: not followed");
                        if let Some(last) = got.last() {
                            self.declined.insert(peer, last.block.header.hash());
                        }
                        return;
                    }
                    let head = chain.head().height;
                    let span = (head + 1).saturating_sub(fork.from).max(1);
                    fork.from = (head + 1).saturating_sub(2 * span).max(fork.lowest);
                    let (from, target) = (fork.from, fork.target);
                    self.fork = Some(fork);
                    return self.request_fork_blocks(peer, from, target);
                }
                Err(e) => return tracing::error!("fork point: {e}"),
            }
        } else if short {
            // The peer has no more: evaluate what it served.
        } else {
            let attaches = fork.blocks.last().map(|b| b.block.header.hash()) == Some(got[0].block.header.parent_hash);
            if !attaches {
                return self.ban(peer, "served a branch whose blocks do not link");
            }
            fork.blocks.extend(got);
        }
        let top = fork.blocks.last().map_or(0, |b| b.block.header.height);
        if top < fork.target && !short {
            let target = fork.target;
            self.fork = Some(fork);
            return self.request_fork_blocks(peer, top + 1, target);
        }
        self.evaluate_branch(peer, fork.blocks);
    }

    /// Hands a fetched branch to the fork choice ([`Chain::reorg`]).
    fn evaluate_branch(&mut self, peer: PeerId, blocks: Vec<SignedBlock>) {
        let Some(last) = blocks.last().map(|b| b.block.header.hash()) else { return };
        let chain = &self.shared.chain;
        let outcome = tokio::task::block_in_place(|| -> Result<Option<Reorg>, ImportError> {
            // The local chain may have moved since the walk back: find the fork point now.
            let Some((fork_height, rest)) = chain.fork_point(&blocks)? else { return Ok(None) };
            if rest.is_empty() {
                return Ok(None); // The peer's blocks are ours: no fork.
            }
            chain.reorg(fork_height, rest, now_ms()).map(Some)
        });
        match outcome {
            Ok(Some(reorg)) => self.after_reorg(reorg),
            Ok(None) => {}
            Err(e @ (ImportError::NotPreferred { .. } | ImportError::ReorgTooDeep { .. })) => {
                tracing::info!(%peer, "competing branch declined: {e}");
                self.declined.insert(peer, last);
            }
            Err(e) if e.is_offence() => self.ban(peer, &format!("served an invalid competing branch: {e}")),
            Err(e) => tracing::warn!(%peer, "competing branch not followed: {e}"),
        }
    }

    /// After a reorganisation: reverted transactions the new chain does not hold go back
    /// to the mempool (nothing is lost), then each applied block is announced.
    fn after_reorg(&self, reorg: Reorg) {
        let shared = &self.shared;
        tracing::info!(
            fork_height = reorg.fork_height,
            reverted = reorg.reverted.len(),
            applied = reorg.applied.len(),
            head = shared.chain.head().height,
            "switched to the preferred branch"
        );
        shared.metrics.reorgs.inc();
        let included: HashSet<Hash32> =
            reorg.applied.iter().flat_map(|s| s.block.transactions.iter().map(SignedTransaction::hash)).collect();
        if let Ok(view) = shared.chain.db().latest() {
            let mut mempool = lock(&shared.mempool);
            for stx in reorg.reverted.iter().flat_map(|s| s.block.transactions.iter()) {
                if !included.contains(&stx.hash()) && !mempool.contains(&stx.hash()) {
                    // Invalid on the new chain (e.g. nonce used): dropped, as any stale tx.
                    let _ = mempool.insert(stx.clone(), &view);
                }
            }
        }
        for stored in &reorg.applied {
            self.after_commit(stored, false, &[]);
        }
    }

    fn after_commit(&self, stored: &StoredBlock, proposed_here: bool, rejected: &[Hash32]) {
        let ev = BlockEvent::of(stored, proposed_here);
        if let Ok(view) = self.shared.chain.db().latest() {
            if let Err(e) = lock(&self.shared.mempool).prune(&view, rejected) {
                tracing::error!("mempool prune: {e}");
            }
        }
        let m = &self.shared.metrics;
        m.height.set(ev.height as i64);
        m.transactions.inc_by(ev.transactions as u64);
        m.block_gas.set(ev.gas_used.min(i64::MAX as u64) as i64);
        tracing::debug!(height = ev.height, txs = ev.transactions, root = %hex::encode(&ev.state_root[..8]), "block committed");
        let _ = self.shared.blocks.send(ev);
    }

    fn on_status_tick(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in &peers {
            let score = self.swarm.behaviour().gossipsub.peer_score(p).unwrap_or(0.0);
            if score < net::GRAYLIST_THRESHOLD {
                self.ban(*p, "gossip score below the graylist threshold");
            } else {
                self.swarm.behaviour_mut().sync.send_request(p, SyncRequest::Status);
            }
        }
        // Redial bootnodes when alone (e.g. after every peer restarted).
        if peers.is_empty() {
            for addr in self.bootnodes.clone() {
                let _ = self.swarm.dial(addr);
            }
        }
        self.update_net_status();
        self.maybe_sync();
    }

    fn ban(&mut self, peer: PeerId, why: &str) {
        tracing::warn!(%peer, "disconnecting peer: {why}");
        self.banned.insert(peer);
        self.peer_heights.remove(&peer);
        self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn maybe_sync(&mut self) {
        if self.sync_in_flight.is_some() {
            return;
        }
        let height = self.shared.chain.head().height;
        let Some((peer, best)) = self.peer_heights.iter().max_by_key(|(_, h)| **h).map(|(p, h)| (*p, *h)) else { return };
        if best <= height {
            return;
        }
        let count = (best - height).min(MAX_BLOCKS_PER_REQUEST as u64) as u32;
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, SyncRequest::Blocks { from: height + 1, count });
        self.sync_in_flight = Some((id, peer));
        tracing::debug!(%peer, from = height + 1, count, "sync request");
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if self.banned.contains(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.swarm.behaviour_mut().sync.send_request(&peer_id, SyncRequest::Status);
                self.update_net_status();
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.peer_heights.remove(&peer_id);
                if self.sync_in_flight.is_some_and(|(_, p)| p == peer_id) {
                    self.sync_in_flight = None;
                    self.fork = None;
                }
                self.update_net_status();
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let a = address.with_p2p(self.shared.peer_id).unwrap_or_else(|a| a);
                let mut net = lock(&self.shared.net);
                if !net.listen_addrs.contains(&a) {
                    net.listen_addrs.push(a);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                let acceptance = self.on_gossip(propagation_source, &message);
                if matches!(acceptance, MessageAcceptance::Reject) {
                    self.shared.metrics.gossip_rejected.inc();
                    lock(&self.shared.net).gossip_rejected += 1;
                }
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&message_id, &propagation_source, acceptance);
                self.maybe_sync();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(libp2p::identify::Event::Received { peer_id, info, .. })) => {
                tracing::debug!(%peer_id, agent = %info.agent_version, "identified");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) && !self.banned.contains(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            _ => {}
        }
    }

    /// Validates one gossip message; the verdict decides relaying and scoring.
    fn on_gossip(&mut self, source: PeerId, message: &gossipsub::Message) -> MessageAcceptance {
        let chain_id = self.shared.chain.spec().chain_id();
        if message.topic == net::tx_topic(chain_id).hash() {
            let txs = match net::decode_tx_batch(&message.data) {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%source, "malformed transaction gossip: {e}");
                    return MessageAcceptance::Reject;
                }
            };
            let Ok(view) = self.shared.chain.db().latest() else { return MessageAcceptance::Ignore };
            let mut mempool = lock(&self.shared.mempool);
            let mut admitted = 0;
            for stx in txs {
                if mempool.contains(&stx.hash()) {
                    continue;
                }
                match mempool.insert(stx, &view) {
                    Ok(_) => admitted += 1,
                    Err(e) if e.is_offence() => {
                        tracing::debug!(%source, "invalid transaction gossip: {e}");
                        return MessageAcceptance::Reject;
                    }
                    Err(_) => {}
                }
            }
            if admitted > 0 {
                MessageAcceptance::Accept
            } else {
                MessageAcceptance::Ignore
            }
        } else if message.topic == net::block_topic(chain_id).hash() {
            let sb = match SignedBlock::from_bytes(&message.data) {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!(%source, "malformed block gossip: {e}");
                    return MessageAcceptance::Reject;
                }
            };
            let height = sb.block.header.height;
            match self.import(&sb) {
                Ok(()) => MessageAcceptance::Accept,
                Err(ImportError::Ahead { .. }) => {
                    // The relayer has at least the parent: sync from it.
                    let h = self.peer_heights.entry(source).or_default();
                    *h = (*h).max(height - 1);
                    MessageAcceptance::Ignore
                }
                Err(e) if e.is_offence() => {
                    tracing::warn!(%source, height, "invalid block gossip: {e}");
                    MessageAcceptance::Reject
                }
                Err(e @ ImportError::Conflicting { .. }) | Err(e @ ImportError::UnknownParent { .. }) => {
                    // A well-signed block of a competing branch (check_header verified the
                    // seal): if it reaches our head's height its branch may be preferred.
                    let head = self.shared.chain.head().height;
                    tracing::info!(%source, height, head, "competing block: {e}");
                    if height >= head && self.declined.get(&source) != Some(&sb.block.header.hash()) {
                        let h = self.peer_heights.entry(source).or_default();
                        *h = (*h).max(height);
                        self.start_fork(source, height.min(head + 1));
                    }
                    MessageAcceptance::Ignore
                }
                Err(e) => {
                    tracing::debug!(%source, height, "block gossip ignored: {e}");
                    MessageAcceptance::Ignore
                }
            }
        } else {
            MessageAcceptance::Reject
        }
    }

    fn import(&mut self, sb: &SignedBlock) -> Result<(), ImportError> {
        let chain = &self.shared.chain;
        let stored = tokio::task::block_in_place(|| chain.import(sb, now_ms()))?;
        self.after_commit(&stored, false, &[]);
        Ok(())
    }

    fn on_sync_event(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match ev {
            Event::Message { peer: _, message: Message::Request { request, channel, .. }, .. } => {
                let response = self.serve_sync(request);
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            }
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => match response {
                SyncResponse::Status { chain_id, height, head_hash } => {
                    if chain_id != self.shared.chain.spec().chain_id() {
                        self.ban(peer, "peer is on another chain");
                        return;
                    }
                    self.heard_status = true;
                    self.peer_heights.insert(peer, height);
                    // Same height, another head: a competing branch of equal length, which
                    // the tie-break may prefer. (A higher peer is synced from below; its
                    // branch is detected when its first block does not attach.)
                    let head = self.shared.chain.head();
                    if height == head.height && head_hash != head.hash() && self.declined.get(&peer) != Some(&head_hash) {
                        self.start_fork(peer, height);
                    }
                    self.update_net_status();
                    self.maybe_sync();
                }
                SyncResponse::Blocks(blocks) => {
                    let ours = self.sync_in_flight.is_some_and(|(id, _)| id == request_id);
                    if ours {
                        self.sync_in_flight = None;
                    }
                    match self.fork.take() {
                        Some(f) if ours => self.on_fork_blocks(peer, f, blocks),
                        other => {
                            self.fork = other;
                            self.on_sync_blocks(peer, blocks);
                        }
                    }
                    self.update_net_status();
                    self.maybe_sync();
                }
            },
            Event::OutboundFailure { request_id, peer, error, .. } => {
                tracing::debug!(%peer, "sync request failed: {error}");
                if self.sync_in_flight.is_some_and(|(id, _)| id == request_id) {
                    self.sync_in_flight = None;
                    self.fork = None;
                }
            }
            Event::InboundFailure { peer, error, .. } => tracing::debug!(%peer, "sync request from peer failed: {error}"),
            Event::ResponseSent { .. } => {}
        }
    }

    fn serve_sync(&self, request: SyncRequest) -> SyncResponse {
        let chain = &self.shared.chain;
        match request {
            SyncRequest::Status => {
                let head = chain.head();
                SyncResponse::Status { chain_id: chain.spec().chain_id(), height: head.height, head_hash: head.hash() }
            }
            SyncRequest::Blocks { from, count } => {
                let mut out = Vec::new();
                let mut bytes = 16usize;
                for h in from.max(1)..from.max(1).saturating_add(count.min(MAX_BLOCKS_PER_REQUEST) as u64) {
                    match chain.signed_block(h) {
                        Ok(Some(b)) => {
                            let enc = b.to_bytes();
                            if bytes + enc.len() + 8 > MAX_RESPONSE_BYTES {
                                break;
                            }
                            bytes += enc.len() + 8;
                            out.push(enc);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!(height = h, "cannot serve block: {e}");
                            break;
                        }
                    }
                }
                SyncResponse::Blocks(out)
            }
        }
    }

    fn on_sync_blocks(&mut self, peer: PeerId, blocks: Vec<Vec<u8>>) {
        let n = blocks.len();
        let mut imported = 0;
        for bytes in blocks {
            let sb = match SignedBlock::from_bytes(&bytes) {
                Ok(b) => b,
                Err(e) => {
                    self.ban(peer, &format!("served a malformed block: {e}"));
                    return;
                }
            };
            match self.import(&sb) {
                Ok(()) => imported += 1,
                Err(ImportError::Known { .. }) => {}
                Err(e) if e.is_offence() => {
                    self.ban(peer, &format!("served an invalid block: {e}"));
                    return;
                }
                Err(ImportError::UnknownParent { height }) => {
                    // The peer is on a competing branch: fetch it from the fork point.
                    tracing::info!(%peer, height, "synced block does not extend the head: competing branch");
                    if self.declined.get(&peer) != Some(&sb.block.header.hash()) {
                        let target = self.peer_heights.get(&peer).copied().unwrap_or(height).min(height);
                        self.start_fork(peer, target);
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(%peer, "synced block not imported: {e}");
                    break;
                }
            }
        }
        if imported > 0 {
            tracing::info!(%peer, imported, of = n, height = self.shared.chain.head().height, "synced blocks");
        }
    }
}
